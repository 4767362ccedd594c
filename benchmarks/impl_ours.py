"""flamingo_mini's `FlamingoModel`, and the bare GPT-2 it wraps (same weights), in the project's venv (transformers 5.x)."""
from __future__ import annotations
import copy
import torch
from common import Impl, SIZES, gpt2_config, clip_vision_config


def _cache(out): return out.cache


class Ours(Impl):
    name = 'ours'
    def media(self, images) -> dict: return dict(pixel_values=images)

    def prefill(self, ids, images):
        out = self.model(input_ids=ids, **self.media(images), use_cache=True, logits_to_keep=1)
        return out.logits, _cache(out)

    def decode_step(self, next_id, cache):
        out = self.model(input_ids=next_id, cache=cache, use_cache=True)
        return out.logits, _cache(out)

    def generate(self, ids, images, num_beams, new_tokens, logits_processor):
        return self.model.generate(input_ids=ids, **self.media(images), num_beams=num_beams, do_sample=False,
                                   max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0,
                                   logits_processor=logits_processor)

    def loss(self, batch):
        return self.model(**batch).loss


class Bare(Ours):
    "The LM alone: the same prompt with each <image> and <EOC> token replaced by an ordinary token, and no pixels."
    name = 'bare'
    def media(self, images) -> dict: return {}

    def prompt(self, n_images, seed=0):
        ids = super().prompt(n_images, seed)
        return ids.masked_fill(ids >= self.vocab, 11)


def imports():
    "Import what `build` needs, so that a memory baseline taken after this counts the libraries, not the model."
    from transformers import GPT2Config, GPT2LMHeadModel, CLIPVisionConfig, CLIPVisionModel  # noqa: F401
    import flamingo_mini.model  # noqa: F401


def build(size:str, device, dtype, which=('ours', 'bare'), seed:int=0) -> dict:
    from transformers import GPT2LMHeadModel, CLIPVisionModel
    from flamingo_mini.model import FlamingoConfig, FlamingoModel
    torch.manual_seed(seed)
    lm = GPT2LMHeadModel(gpt2_config(size))
    vocab = lm.config.vocab_size
    impls = {}
    if 'bare' in which:
        impls['bare'] = Bare(copy.deepcopy(lm).to(device, dtype).eval(), size, device, dtype, vocab, vocab + 1, vocab)
    if 'ours' in which:
        vision = CLIPVisionModel(clip_vision_config(size))
        f = SIZES[size]['flamingo']
        config = FlamingoConfig(
            text_config=lm.config, vision_config=vision.config, media_token_id=vocab, eoc_token_id=vocab + 1,
            xattn_every=1, xattn_dim_head=f['dim_head'], xattn_heads=f['heads'], xattn_ff_mult=f['ff_mult'],
            resampler_depth=f['resampler_depth'], resampler_dim_head=f['dim_head'], resampler_heads=f['heads'],
            resampler_num_latents=f['num_latents'])
        torch.manual_seed(seed + 1)
        model = FlamingoModel(config, lm=lm, vision_encoder=vision).to(device, dtype).eval()
        impls['ours'] = Ours(model, size, device, dtype, vocab, vocab + 1, vocab)
    return impls


def check_same_lm(impls:dict) -> float:
    "With its gates closed (as built) and no images, our model's logits equal the bare LM's: the largest difference."
    ours, bare = impls['ours'], impls['bare']
    ids = bare.prompt(0)
    with torch.no_grad():
        return float((ours.model(input_ids=ids).logits[..., :bare.vocab] - bare.model(input_ids=ids).logits).abs().max())
