"""lucidrains' flamingo-pytorch 0.1.2 in the peers' venv: its `PerceiverResampler` and `GatedCrossAttentionBlock` put
in front of each block of the same GPT-2, the way its README tells users to wire them into a pretrained LM.

The library ships blocks and a toy PaLM, not a model around a Hugging Face LM: no generation, no cache, no special
tokens. So this file adds only the wiring (a layer wrapper and a hook that finds `media_locations` in the input ids)
and decodes with `generate(use_cache=False)`: each step re-runs the whole sequence, since its cross-attention can only
place a token after its image by seeing the whole sequence (there is no way to pass a text time). The images are
encoded once per call, the most any user of the library can save.
"""
from __future__ import annotations
import torch
from torch import nn
from common import Impl, SIZES, gpt2_config, clip_vision_config


class _Layer(nn.Module):
    def __init__(self, xattn, block):
        super().__init__()
        self.xattn, self.block = xattn, block
        self.media = self.media_locations = None

    def forward(self, hidden_states, *args, **kwargs):
        if self.media is not None:
            hidden_states = self.xattn(hidden_states, self.media, media_locations=self.media_locations)
        return self.block(hidden_states, *args, **kwargs)


class LucidrainsFlamingo(nn.Module):
    def __init__(self, lm, vision, media_id:int, max_media:int, f:dict):
        super().__init__()
        from flamingo_pytorch import PerceiverResampler, GatedCrossAttentionBlock
        self.lm, self.vision, self.media_id = lm, vision, media_id
        dim = lm.config.n_embd
        assert vision.config.hidden_size == dim, "flamingo-pytorch's blocks need media as wide as the LM"
        self.perceiver = PerceiverResampler(dim=dim, depth=f['resampler_depth'], dim_head=f['dim_head'],
                                            heads=f['heads'], num_latents=f['num_latents'], num_media_embeds=max_media)
        self.layers = [_Layer(GatedCrossAttentionBlock(dim=dim, dim_head=f['dim_head'], heads=f['heads'],
                                                       ff_mult=f['ff_mult']), block) for block in lm.transformer.h]
        lm.transformer.h = nn.ModuleList(self.layers)
        lm.register_forward_pre_hook(self._condition, with_kwargs=True)
        self.media = None

    def _condition(self, module, args, kwargs):
        ids = kwargs['input_ids'] if 'input_ids' in kwargs else args[0]
        media = self.media
        if media is not None and media.shape[0] != ids.shape[0]: media = media.repeat_interleave(ids.shape[0] // media.shape[0], 0)
        for layer in self.layers: layer.media, layer.media_locations = media, ids == self.media_id

    def encode(self, images):
        "(b, t, c, h, w) pixels -> (b, t, n, d) resampled media, kept for the next LM calls."
        if images is None: self.media = None; return
        b = images.shape[0]
        with torch.no_grad():  # the vision encoder is frozen, as in FlamingoPaLM
            feats = self.vision(pixel_values=images.flatten(0, 1)).last_hidden_state
        self.media = self.perceiver(feats.unflatten(0, (b, -1)))  # (b, t, v, d) -> (b, t, n, d)


class Lucidrains(Impl):
    name = 'lucidrains'
    def generate(self, ids, images, num_beams, new_tokens, logits_processor):
        self.model.encode(images)
        try:
            return self.model.lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=num_beams,
                                          do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                          use_cache=False, pad_token_id=0, logits_processor=logits_processor)
        finally: self.model.media = None

    def loss(self, batch):
        self.model.encode(batch['pixel_values'])
        try: return self.model.lm(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'],
                                  labels=batch['labels']).loss
        finally: self.model.media = None


def imports():
    "Import what `build` needs, so that a memory baseline taken after this counts the libraries, not the model."
    from transformers import GPT2Config, GPT2LMHeadModel, CLIPVisionConfig, CLIPVisionModel  # noqa: F401
    import flamingo_pytorch  # noqa: F401


def build(size:str, device, dtype, which=('lucidrains',), seed:int=0, max_media:int=32) -> dict:
    from transformers import GPT2LMHeadModel, CLIPVisionModel
    torch.manual_seed(seed)
    lm = GPT2LMHeadModel(gpt2_config(size))
    lm.config._attn_implementation = 'sdpa'
    vocab = lm.config.vocab_size
    vision = CLIPVisionModel(clip_vision_config(size))
    torch.manual_seed(seed + 1)
    # the library has no tokenizer side: the media token is an id the user reserves, here the LM's last one
    model = LucidrainsFlamingo(lm, vision, media_id=vocab - 1, max_media=max_media, f=SIZES[size]['flamingo'])
    # FlamingoPaLM's freezing: only the resampler and the cross-attention blocks train
    model.requires_grad_(False)
    model.perceiver.requires_grad_(True)
    for layer in model.layers: layer.xattn.requires_grad_(True)
    model = model.to(device, dtype).eval()
    impl = Lucidrains(model, size, device, dtype, vocab - 1, vocab - 2, vocab)
    return {'lucidrains': impl}
