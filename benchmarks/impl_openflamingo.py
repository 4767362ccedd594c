"""OpenFlamingo 2.0.1's `Flamingo`, built from local parts the way its factory builds it, in the peers' venv
(transformers 4.52.4, the newest on which its GPT-2 path works).

Its factory needs open_clip (and hub weights); only the `Flamingo` class is used here, so an empty module stands in for
open_clip at import time. The vision tower is the same random-weight `CLIPVisionModel` as ours, behind the
`.visual(x)[1]` interface OpenFlamingo reads patch tokens from (all 50 tokens, CLS included, as ours sees them).
"""
from __future__ import annotations
import sys, types
import torch
from torch import nn
from common import Impl, SIZES, gpt2_config, clip_vision_config

sys.modules.setdefault('open_clip', types.ModuleType('open_clip'))


class _Visual(nn.Module):
    def __init__(self, clip): super().__init__(); self.clip = clip
    def forward(self, x): return None, self.clip(pixel_values=x).last_hidden_state  # (pooled, tokens) as open_clip


class _VisionEncoder(nn.Module):
    def __init__(self, clip): super().__init__(); self.visual = _Visual(clip)


def _vision_x(images):
    return images[:, :, None]  # (b, t, c, h, w) -> (b, t, f=1, c, h, w)


class OpenFlamingo(Impl):
    name = 'openflamingo'
    def generate(self, ids, images, num_beams, new_tokens, logits_processor):
        if images is None:
            # OpenFlamingo needs at least one image per sample: a text-only prompt gets one blank image that no
            # token refers to (its cross-attention rows are then all masked), as its evaluation code does
            images = torch.zeros(1, 1, 3, *self.images(1).shape[-2:], device=self.device, dtype=self.dtype)
        return self.model.generate(vision_x=_vision_x(images), lang_x=ids, attention_mask=torch.ones_like(ids),
                                   num_beams=num_beams, do_sample=False, max_new_tokens=new_tokens,
                                   min_new_tokens=new_tokens, pad_token_id=self.pad_id, logits_processor=logits_processor)

    def loss(self, batch):
        return self.model(vision_x=_vision_x(batch['pixel_values']), lang_x=batch['input_ids'],
                          attention_mask=batch['attention_mask'], labels=batch['labels']).loss

    def after_backward(self):
        # open_flamingo/train/train_utils.py: with trainable LM embeddings (the default, --freeze_lm_embeddings off)
        # every gradient row but those of <image> and <|endofchunk|> is zeroed before the optimiser step
        grad = self.model.lang_encoder.get_input_embeddings().weight.grad
        if grad is not None:
            mask = torch.zeros_like(grad)
            mask[self.media_id] = mask[self.eoc_id] = 1
            grad.mul_(mask)


def imports():
    "Import what `build` needs, so that a memory baseline taken after this counts the libraries, not the model."
    from transformers import GPT2Config, GPT2LMHeadModel, CLIPVisionConfig, CLIPVisionModel  # noqa: F401
    import open_flamingo.src.flamingo  # noqa: F401


def build(size:str, device, dtype, which=('openflamingo',), seed:int=0) -> dict:
    from transformers import GPT2LMHeadModel, CLIPVisionModel
    from open_flamingo.src.flamingo import Flamingo
    from open_flamingo.src.flamingo_lm import FlamingoLMMixin
    from open_flamingo.src.utils import extend_instance
    torch.manual_seed(seed)
    lm = GPT2LMHeadModel(gpt2_config(size))
    lm.config._attn_implementation = 'sdpa'
    vocab = lm.config.vocab_size
    vision = CLIPVisionModel(clip_vision_config(size))
    # as open_flamingo.src.factory.create_model_and_transforms: <|endofchunk|>, <image> and <PAD> join the tokenizer
    eoc_id, media_id, pad_id = vocab, vocab + 1, vocab + 2
    extend_instance(lm, FlamingoLMMixin)
    lm.set_decoder_layers_attr_name('transformer.h')
    lm.resize_token_embeddings(vocab + 3)
    f = SIZES[size]['flamingo']
    torch.manual_seed(seed + 1)
    model = Flamingo(_VisionEncoder(vision), lm, eoc_token_id=eoc_id, media_token_id=media_id,
                     vis_dim=vision.config.hidden_size, cross_attn_every_n_layers=1)
    if size == 'tiny':  # OpenFlamingo's Flamingo hard-codes the resampler and xattn sizes; the tiny size shrinks them
        from open_flamingo.src.helpers import PerceiverResampler, GatedCrossAttentionBlock
        d, dv = lm.config.n_embd, vision.config.hidden_size
        model.perceiver = PerceiverResampler(dim=dv, depth=f['resampler_depth'], dim_head=f['dim_head'],
                                             heads=f['heads'], num_latents=f['num_latents'])
        lm.gated_cross_attn_layers = nn.ModuleList([GatedCrossAttentionBlock(
            dim=d, dim_visual=dv, dim_head=f['dim_head'], heads=f['heads']) for _ in lm.old_decoder_blocks])
        lm.init_flamingo_layers(False)
    else:
        assert (f['dim_head'], f['heads'], f['resampler_depth'], f['num_latents']) == (64, 8, 6, 64)
    # the factory's freezing: everything, then the resampler, the xattn layers and the LM's input embeddings train
    model.requires_grad_(False)
    model.perceiver.requires_grad_(True)
    model.lang_encoder.gated_cross_attn_layers.requires_grad_(True)
    model.lang_encoder.get_input_embeddings().requires_grad_(True)
    model = model.to(device, dtype).eval()
    impl = OpenFlamingo(model, size, device, dtype, media_id, eoc_id, vocab)
    impl.pad_id = pad_id
    return {'openflamingo': impl}
