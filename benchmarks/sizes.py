"""The model sizes the benchmarks build, and their FLOPs counted on paper (no torch needed: the docs notebook reads it)."""
from __future__ import annotations

# One GPT-2-sized LM and one CLIP-ViT-sized vision tower per size; the Flamingo hyperparameters are the paper's and
# OpenFlamingo's defaults (xattn before every LM layer, 6 x 64 resampler, 8 heads of 64, feed-forward x4).
SIZES = {
    # a smoke test of the harness itself, seconds on a laptop
    'tiny': dict(lm=dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=2048),
                 vision=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                             image_size=32, patch_size=8),
                 flamingo=dict(dim_head=16, heads=2, ff_mult=4, resampler_depth=2, num_latents=8)),
    # the documented sizes: GPT-2 small (124 M) and CLIP ViT-B/32 at 224 px (88 M)
    'small': dict(lm=dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=2048),
                  vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                              image_size=224, patch_size=32),
                  flamingo=dict(dim_head=64, heads=8, ff_mult=4, resampler_depth=6, num_latents=64)),
    # for a GPU: GPT-2 medium (355 M) and CLIP ViT-L/14 at 224 px (304 M), the scale of the original flamingo-mini
    'large': dict(lm=dict(n_layer=24, n_embd=1024, n_head=16, vocab_size=50257, n_positions=2048),
                  vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=224, patch_size=14),
                  flamingo=dict(dim_head=64, heads=8, ff_mult=4, resampler_depth=6, num_latents=64)),
}
TEXT_PER_IMAGE = 8  # text tokens after each <image> in a generation prompt (then an <EOC>)
QUERY_TOKENS = 8  # text tokens of the question after the last image


def prompt_length(n_images:int) -> int:
    return n_images * (TEXT_PER_IMAGE + 2) + QUERY_TOKENS


def analytic_flops(size:str, n_images:int, prompt_tokens:int|None=None, decode_keys:int|None=None) -> dict:
    """FLOPs (2 per multiply-add, the convention of torch's FlopCounterMode) of the prefill (logits of the last
    token only) and of a decode step attending to `decode_keys` positions (default: the first step after the
    prompt), for the bare LM and for our Flamingo; `images` breaks down the prefill's work on the images."""
    s = SIZES[size]
    d, L, V = s['lm']['n_embd'], s['lm']['n_layer'], s['lm']['vocab_size']
    v = s['vision']
    dv, Lv, ffv = v['hidden_size'], v['num_hidden_layers'], v['intermediate_size']
    patches = (v['image_size'] // v['patch_size']) ** 2
    T = patches + 1  # CLS token too
    f = s['flamingo']
    I, F, N, depth = f['heads'] * f['dim_head'], f['ff_mult'] * d, f['num_latents'], f['resampler_depth']
    P = prompt_length(n_images) if prompt_tokens is None else prompt_tokens
    k = n_images
    K = P + 1 if decode_keys is None else decode_keys

    def lm_layers(tokens, keys):  # GPT-2 blocks: qkv, out, 4x MLP, attention scores and values
        return L * (24 * d * d * tokens + 4 * tokens * keys * d)
    bare_prefill = lm_layers(P, P) + 2 * d * V
    bare_decode = lm_layers(1, K) + 2 * d * V

    vision = k * (2 * patches * 3 * v['patch_size'] ** 2 * dv
                  + Lv * ((8 * dv * dv + 4 * dv * ffv) * T + 4 * T * T * dv))
    resampler = k * depth * (2 * N * dv * I + 2 * (T + N) * dv * 2 * I + 4 * N * (T + N) * I + 2 * N * I * dv
                             + 4 * N * dv * f['ff_mult'] * dv)
    xattn_kv = L * 2 * (k * N) * dv * 2 * I
    def xattn(tokens, keys):  # to_q, to_out and the gated feed-forward; attention only where there are images
        return L * (4 * d * I * tokens * (keys > 0) + 4 * F * d * tokens + 4 * tokens * keys * I)
    head = 2 * d * (V + 4)  # the LM head grows by the two new rows, and the decoupled head adds two more
    ours_prefill = lm_layers(P, P) + vision + resampler + xattn_kv + xattn(P, k * N) + head
    ours_decode = lm_layers(1, K) + xattn(1, N if k else 0) + head
    return dict(bare=dict(prefill=bare_prefill, decode=bare_decode),
                ours=dict(prefill=ours_prefill, decode=ours_decode),
                images=dict(vision=vision, resampler=resampler, xattn_kv=xattn_kv))
