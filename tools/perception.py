"""Perception beyond the world's renders (issue #21, Deliver 3): a vision tower trained on varied renders, and what a
Flamingo on it captions.

Two steps, each writing JSON:

    # a candidate tower: the tiny CLIP of `pretrain_vision` on a pool of varied renders (tasks.RANGES['broad']: zero to
    # three objects, backgrounds of any grey and tinted, lighting, radii 3-14) and digits in several styles
    # (tasks.DIGIT_RANGES['broad']); the shipped version-6 LM and tokenizer are kept
    python tools/perception.py tower --out /tmp/tower7 --steps 6000 --renders 30000

    # the demo's recipe plus captions of varied renders and digits of every style, on the shipped tower or a candidate,
    # measured on held-out renders inside and outside the centre ranges, empty, three-object and never-seen-pair scenes,
    # and digits of each style
    python tools/perception.py flamingo --vision shipped --steps 1500 --report /tmp/v6.json
    python tools/perception.py flamingo --vision /tmp/tower7/vision --steps 1500 --report /tmp/v7.json

`render` gathers the step files into reports/experiments/perception.json, which the experiments page renders.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path
import numpy as np
import torch

def build_tower(out:str, steps:int, renders:int, threads:int, seed:int=0, log_every:int=500) -> dict:
    "Train the candidate tower into `out`/vision (with its image processor); return its settings, seconds and probes."
    from flamingo_mini.pretrain import _build_vision
    vision_kwargs = dict(steps=steps, ranges='broad', renders=renders)
    report = _build_vision(str(Path(out)/'vision'), {}, vision_kwargs, seed, threads, log_every)
    return dict(settings=vision_kwargs, seed=seed, threads=threads, **report)

# the held-out sets: (what, objects, ranges, split)
SCENE_SETS = dict(
    world_single=('the world\'s own single-shape test scenes (world.scenes_dataset)', None, None, 'test'),
    single_centre=('one object, tasks.RANGES["centre"]', 1, 'centre', 'test'),
    single_outside=('one object, tasks.RANGES["outside"]', 1, 'outside', 'test'),
    empty_centre=('no object ("nothing"), centre', 0, 'centre', 'test'),
    empty_outside=('no object ("nothing"), outside', 0, 'outside', 'test'),
    three_centre=('three objects, centre', 3, 'centre', 'test'),
    two_comp_centre=('two objects of never-trained colour-shape pairs (world.COMP_PAIRS), centre', 2, 'centre', 'comp'),
)
DIGIT_SETS = dict(
    sklearn=('scikit-learn\'s 8x8 digits at the world\'s scale (the demo\'s digits, test split)', 'centre'),
    printed=('printed digits (PIL\'s font), full scale, white on black', dict(styles=('printed',))),
    outside=('tasks.DIGIT_RANGES["outside"]: both styles at 0.4-0.7 scale, half inverted, half in coloured ink', 'outside'),
)

def scene_sets(n:int, seed:int) -> dict:
    from flamingo_mini.tasks import make_varied_scene
    from flamingo_mini.world import scenes_dataset
    out = {}
    for name, (what, objects, ranges, split) in SCENE_SETS.items():
        if ranges is None:
            ds = scenes_dataset(n, split, shapes=1, seed=seed)
            out[name] = (ds['image'], list(ds['caption']))
        else:
            scenes = [make_varied_scene(i, objects, ranges, split, seed + 100) for i in range(n)]
            out[name] = ([s.image for s in scenes], [s.caption for s in scenes])
    return out

def digit_sets(n:int, seed:int) -> dict:
    from flamingo_mini.tasks import DigitRanges, make_digit
    out = {}
    for name, (what, ranges) in DIGIT_SETS.items():
        ranges = DigitRanges(**ranges) if isinstance(ranges, dict) else ranges
        digits = [make_digit(i, ranges, 'test', seed + 200, label=i % 10) for i in range(n)]
        out[name] = ([d.image for d in digits], [d.label for d in digits])
    return out

def exact_scene(prediction:str, caption:str) -> bool:
    from flamingo_mini.tasks import parse_scene_caption
    try: return parse_scene_caption(prediction) == parse_scene_caption(caption)
    except ValueError: return False

def named_digit(text:str):
    return next((int(w) for w in text.split() if w.isdigit()), None)

def train_flamingo(vision:str, steps:int, threads:int, n_varied:int=3000, seed:int=0, log=print):
    "The demo's sources and episodes plus captions of `n_varied` broad renders and as many digits of every style; `steps` steps."
    from datasets import Dataset
    from flamingo_mini.demo import (DEMO_EPISODES, DEMO_FLAMINGO, DEMO_LONG_EPISODES, _demo_config, _episode_source,
                                    demo_sources)
    from flamingo_mini.data import FlamingoCollator, prepare_dataset
    from flamingo_mini.features import FeatureCollator, cache_vision_features
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    from flamingo_mini.tasks import WORD_POOLS, make_digit, task_dataset
    from flamingo_mini.train import Learner
    from flamingo_mini.core import torch_threads
    from flamingo_mini.world import shipped_world_dir
    lm = str(shipped_world_dir()/'lm')
    vision = str(shipped_world_dir()/'vision') if vision == 'shipped' else vision
    processor = FlamingoProcessor.from_pretrained_parts(lm, vision)
    torch.manual_seed(seed)
    model = FlamingoModel.from_pretrained_parts(lm, vision, **DEMO_FLAMINGO)
    start = time.time()
    with torch_threads(threads):
        sources = demo_sources(processor, seed=seed)
        varied = prepare_dataset(task_dataset('caption', n_varied, ranges='broad', seed=seed), ['image'])
        digits = [make_digit(i, 'broad', 'train', seed) for i in range(n_varied)]
        styled = prepare_dataset(Dataset.from_dict(dict(image=[d.image for d in digits],
                                                        caption=[f'the digit {d.label}' for d in digits])), ['image'])
        sources['varied'] = (varied, FlamingoCollator(processor), 32)
        sources['styled_digits'] = (styled, FlamingoCollator(processor), 16)
        for name, (ds, c, bs) in list(sources.items()):
            sources[name] = (cache_vision_features(ds, model, processor, image_column=c.image_column),
                             FeatureCollator.from_collator(c), bs)
        episodes = dict(DEMO_EPISODES)
        pool = dict(words=WORD_POOLS[episodes.pop('words')], digits=None)
        sources['episodes'] = _episode_source(sources['scenes'][0], processor, 16, seed, **pool, **episodes)
        sources['long'] = _episode_source(sources['scenes'][0], processor, 4, seed + 1, **pool, **(episodes | DEMO_LONG_EPISODES))
        data_seconds = time.time() - start
        learn = Learner(model, sources, _demo_config(steps, seed, 25),
                        weights=dict(scenes=1., digits=0.5, varied=1., styled_digits=0.5, episodes=1., long=1.))
        while learn.step < steps:
            learn.fit(steps=min(100, steps - learn.step), progress=False)
            log(f"step {learn.step}: loss {learn.history[-1]['loss']:.3f} ({time.time() - start:.0f} s)")
    return model.eval(), processor, dict(data=round(data_seconds), train=round(time.time() - start - data_seconds))

@torch.no_grad()
def measure(model, processor, n:int, seed:int=0, threads:int=2) -> dict:
    from flamingo_mini.demo import caption_images
    from flamingo_mini.core import torch_threads
    results = {}
    with torch_threads(threads):
        for name, (images, captions) in scene_sets(n, seed).items():
            preds = [p.strip() for p in caption_images(model, processor, images, max_new_tokens=40)]
            results[name] = dict(what=SCENE_SETS[name][0], exact=float(np.mean([exact_scene(p, c) for p, c in zip(preds, captions)])),
                                 n=n, examples=[list(pair) for pair in zip(captions[:3], preds[:3])])
        for name, (images, labels) in digit_sets(n, seed).items():
            preds = caption_images(model, processor, images, max_new_tokens=6)
            results[f'digits_{name}'] = dict(what=DIGIT_SETS[name][0], accuracy=float(np.mean([named_digit(p) == l for p, l in zip(preds, labels)])),
                                             n=n, chance=0.1)
    return results

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='step', required=True)
    t = sub.add_parser('tower'); t.add_argument('--out', required=True); t.add_argument('--steps', type=int, default=6000)
    t.add_argument('--renders', type=int, default=30000); t.add_argument('--threads', type=int, default=2)
    f = sub.add_parser('flamingo'); f.add_argument('--vision', default='shipped'); f.add_argument('--steps', type=int, default=1500)
    f.add_argument('--threads', type=int, default=2); f.add_argument('--n', type=int, default=100)
    f.add_argument('--report', required=True)
    r = sub.add_parser('render'); r.add_argument('--tower', nargs='+', required=True); r.add_argument('--runs', nargs='+', required=True)
    r.add_argument('--out', default='reports/experiments/perception.json')
    args = ap.parse_args(argv)
    if args.step == 'tower':
        report = build_tower(args.out, args.steps, args.renders, args.threads)
        (Path(args.out)/'tower.json').write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
    elif args.step == 'flamingo':
        model, processor, seconds = train_flamingo(args.vision, args.steps, args.threads)
        start = time.time()
        results = measure(model, processor, args.n, threads=args.threads)
        seconds['eval'] = round(time.time() - start)
        report = dict(vision=args.vision, steps=args.steps, threads=args.threads, seconds=seconds, results=results)
        stamp = Path(args.vision).parent/'tower.json'  # a candidate from the `tower` step: its settings
        if args.vision != 'shipped' and stamp.exists(): report['tower_steps'] = json.loads(stamp.read_text())['settings']['steps']
        Path(args.report).write_text(json.dumps(report, indent=1))
        print(json.dumps({k: v.get('exact', v.get('accuracy')) for k, v in results.items()}, indent=1))
    else:
        from flamingo_mini.world import shipped_world_dir
        runs = [json.loads(Path(p).read_text()) for p in args.runs]
        shipped = json.loads((shipped_world_dir()/'build.json').read_text())
        out = dict(machine='the shared 2-core machine, each Flamingo run and each tower on one thread, most of them with another training job beside it',
                   shipped_retrieval=shipped['clip_retrieval'], what=__doc__.split('\n\n')[0], script='tools/perception.py', towers=[json.loads(Path(t).read_text()) for t in args.tower],
                   ranges={name: repr(r) for name, r in __import__('flamingo_mini.tasks', fromlist=['RANGES']).RANGES.items()},
                   runs=runs)
        Path(args.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
