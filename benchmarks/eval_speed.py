"""Few-shot evaluation speed: the harness (`flamingo_mini.evaluate`) with each image encoded once (`media='features'`)
against the pixel path (`media='pixels'`, every prompt re-encoding its images, as OpenFlamingo's loop does), and
classification by ranking with the class names sharing the prompt's cache against a deep copy per class (the harness
as it was). Same prompts, same answers (checked); queries per second, and their ratio, in one run.

    .venv/bin/python benchmarks/eval_speed.py --size tiny          # seconds
    .venv/bin/python benchmarks/eval_speed.py --size small --queries 8 --support 48   # minutes on one CPU thread

Writes results/<device>-<size>-eval.json (rendered by nbs/22_benchmarks.ipynb). The models have random weights with
their gates opened; `small` has GPT-2 small's and CLIP ViT-B/32's shapes except the LM's vocabulary, which is the
offline tokenizer's (322 ids instead of 50,257: the LM head is then a smaller part of each token's cost).
"""
from __future__ import annotations
import argparse, functools, json, platform, sys, tempfile, time
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).parent))
from sizes import SIZES


def build(size:str, seed:int=0):
    "A Flamingo of `size` with random weights (gates open) and its processor, from the offline tokenizer."
    from transformers import CLIPVisionConfig, CLIPVisionModel, GPT2Config, GPT2LMHeadModel
    from flamingo_mini.lm import open_gates_
    from flamingo_mini.model import FlamingoConfig, FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor, clip_image_processor
    from flamingo_mini.testing import save_tiny_parts
    parts = save_tiny_parts(tempfile.mkdtemp(), 'gpt2')
    tiny = FlamingoProcessor.from_pretrained_parts(parts['lm'], parts['vision'])
    s = SIZES[size]
    torch.manual_seed(seed)
    text_vocab = tiny.media_token_id  # the ids below <image>
    eos = tiny.tokenizer.eos_token_id
    lm = GPT2LMHeadModel(GPT2Config(**(s['lm'] | dict(vocab_size=text_vocab)), resid_pdrop=0., embd_pdrop=0., attn_pdrop=0.,
                                    bos_token_id=eos, eos_token_id=eos))
    vision = CLIPVisionModel(CLIPVisionConfig(**s['vision']))
    f = s['flamingo']
    config = FlamingoConfig(text_config=lm.config, vision_config=vision.config, xattn_dim_head=f['dim_head'],
                            xattn_heads=f['heads'], xattn_ff_mult=f['ff_mult'], resampler_depth=f['resampler_depth'],
                            resampler_num_latents=f['num_latents'], media_token_id=tiny.media_token_id,
                            eoc_token_id=tiny.eoc_token_id)
    model = open_gates_(FlamingoModel(config, lm=lm, vision_encoder=vision, text_vocab=text_vocab), 1.0).eval()
    processor = FlamingoProcessor(clip_image_processor(s['vision']['image_size']), tiny.tokenizer)
    return model, processor


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', default='tiny', choices=('tiny', 'small'))
    p.add_argument('--shots', type=int, nargs='+', default=[0, 4, 8, 16, 32])
    p.add_argument('--queries', type=int, default=32, help='evaluation rows')
    p.add_argument('--support', type=int, default=64, help='support-set rows')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--max-new-tokens', type=int, default=8)
    p.add_argument('--classes', type=int, default=10, help='multi-token class names to rank')
    p.add_argument('--tasks', nargs='+', default=['captioning', 'classification'], choices=('captioning', 'classification'))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from datasets import disable_progress_bars
    from flamingo_mini import evaluate as ev
    from flamingo_mini.ranking import rank_classes
    from flamingo_mini.world import COLOURS, SHAPES, scenes_dataset
    disable_progress_bars()
    model, processor = build(args.size)
    queries, support = scenes_dataset(args.queries, 'test'), scenes_dataset(args.support, 'train')
    names = [f'{c} {s}' for c in COLOURS for s in SHAPES][:args.classes]
    assert all(len(processor.tokenizer(f' {n}<EOC>', add_special_tokens=False)['input_ids']) > 1 for n in names)
    label = lambda ds: ds.map(lambda r, i: dict(label=i % len(names)), with_indices=True)
    cls_queries, cls_support = label(queries), label(support)
    common = dict(support=support, batch_size=args.batch_size, keep_predictions=True)
    rows = []
    for k in args.shots:
        cap, cls, row = {}, {}, dict(shots=k, queries=args.queries)
        for media in (('features', 'pixels') if 'captioning' in args.tasks else ()):
            cap[media] = timed(lambda: ev.evaluate_captioning(model, processor, queries, shots=k, media=media,
                                                              max_new_tokens=args.max_new_tokens, **common))
        for name, media, share in ((('features, shared cache', 'features', True), ('pixels, copied cache', 'pixels', False))
                                   if 'classification' in args.tasks else ()):
            ranker = functools.partial(rank_classes, share_cache=share)
            ev.rank_classes, real = ranker, ev.rank_classes
            try:
                cls[name] = timed(lambda: ev.evaluate_classification(
                    model, processor, cls_queries, names, support=cls_support, shots=k, media=media,
                    batch_size=args.batch_size, keep_predictions=True))
            finally: ev.rank_classes = real
        if cap:
            row |= dict(captioning_qps_features=args.queries / cap['features'][1],
                        captioning_qps_pixels=args.queries / cap['pixels'][1],
                        captioning_same_answers=cap['features'][0] == cap['pixels'][0])
            row['captioning_ratio'] = row['captioning_qps_features'] / row['captioning_qps_pixels']
        if cls:
            row |= dict(classification_qps_new=args.queries / cls['features, shared cache'][1],
                        classification_qps_old=args.queries / cls['pixels, copied cache'][1],
                        classification_same_predictions=cls['features, shared cache'][0] == cls['pixels, copied cache'][0])
            row['classification_ratio'] = row['classification_qps_new'] / row['classification_qps_old']
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    device = 'cpu'
    out = Path(args.out or Path(__file__).parent/'results'/f'{device}-{args.size}-eval.json')
    settings = vars(args) | dict(device=device, torch=torch.__version__, python=platform.python_version(),
                                 class_names=names, processor=platform.processor() or platform.machine(),
                                 command='python benchmarks/eval_speed.py ' + ' '.join(sys.argv[1:] if argv is None else argv))
    out.write_text(json.dumps(dict(settings=settings, rows=rows), indent=1))
    print(f'wrote {out}')


if __name__ == '__main__': main()
