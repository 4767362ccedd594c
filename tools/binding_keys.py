"""Binding by several keys at once (issue #21, Deliver 2): Flamingo layers trained on episodes keyed by one or more
attributes, measured per key, on a demonstration shown once among 16, on the original colour episodes and on captions.

The demo's recipe (its scene and digit sources, DEMO_FLAMINGO, the shipped tiny world, `_demo_config`) with one episode
source, `FeatureEpisodes(keys=..., ks=1..kmax, p_once=..., words=...)`, for `--steps` steps; one run a call, its JSON
written to `--out`. `--gather` puts runs together into reports/experiments/binding_keys.json (rendered on the
experiments page):

    python tools/binding_keys.py --name e2 --keys colour --kmax 16 --p-once 0.25 --out /tmp/e2.json   # about 17 min, 1 thread
    python tools/binding_keys.py --gather /tmp/e5.json --report reports/experiments/binding_keys.json

`--cue` starts every episode, in training and in the measurements, with a text naming its key ('shape:',
`tasks.key_cue`); `--long-batch 4` adds the demo's second episode source (sixteen demonstrations, `DEMO_LONG_EPISODES`).
Runs e6-e7 are the demo's episode sources (`--kmax 8 --p-once 0.25 --long-batch 4 --words open --held-out held_out`)
keyed by colour, shape and size, with and without the cue, for 1,000 steps; e8 is e6 for 2,000.

The committed file's first four runs (e1-e4) were made with a scratch script of the same settings before this one was
written down; this script records the same arguments and measures with the same functions, and the runs it added
say so (their `script`); e2r is e2 made again with it. All of them ran on the version-6 world; since version 7 the
shipped tower differs, so a run now records the world version it used (`world_version`).
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path

def run(args) -> dict:
    import torch
    from flamingo_mini.core import torch_threads
    from flamingo_mini.demo import (DEMO_FLAMINGO, _demo_config, training_sources, evaluate_binding, evaluate_captions,
                                    evaluate_digits, evaluate_icl, evaluate_once)
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    from flamingo_mini.train import Learner
    from flamingo_mini.world import shipped_world_dir
    lm, vision = str(shipped_world_dir()/'lm'), str(shipped_world_dir()/'vision')
    processor = FlamingoProcessor.from_pretrained_parts(lm, vision)
    torch.manual_seed(args.seed)
    model = FlamingoModel.from_pretrained_parts(lm, vision, **DEMO_FLAMINGO)
    keys = tuple(args.keys.split(','))
    start = time.time()
    with torch_threads(args.threads):
        # the demo's scenes and digits (`demo.training_sources`) and one episode source, none of the varied renders
        episodes = dict(keys=keys, words=args.words, ks=range(1, args.kmax + 1), p_once=args.p_once, cue=args.cue)
        sources, weights = training_sources(model, processor, args.seed, episodes, args.episode_batch, long_batch=args.long_batch,
                                            varied=0, weights=dict(episodes=args.ep_weight), log=lambda *a: None)
        data = time.time() - start
        learn = Learner(model, sources, _demo_config(args.steps, args.seed, 25), weights=weights)
        while learn.step < args.steps:
            learn.fit(steps=min(100, args.steps - learn.step), progress=False)
            print(f"step {learn.step}: loss {learn.history[-1]['loss']:.3f} ({time.time() - start:.0f} s)", flush=True)
        train = time.time() - start - data
        model.eval()
        with torch.no_grad():
            n = args.eval_n
            report = dict(binding=evaluate_binding(model, processor, words=args.words, n=n, seed=args.seed, cue=args.cue),
                          once=evaluate_once(model, processor, key=keys[0], words=args.words, n=max(1, n // 10), seed=args.seed, cue=args.cue),
                          icl=evaluate_icl(model, processor, n=n, seed=args.seed),
                          captions={k: {m: v[m] for m in ('exact', 'shape')} for k, v in evaluate_captions(model, processor, n, args.seed).items()},
                          digits=evaluate_digits(model, processor, n))
            if args.held_out:  # answer words never used in training: the generalisation test (with --cue on every key, position too)
                report['binding_held_out'] = evaluate_binding(model, processor, keys=keys + (('position',) if args.cue else ()),
                                                              words=args.held_out, n=n, seed=args.seed, cue=args.cue)
                report['once_held_out'] = evaluate_once(model, processor, key=keys[0], words=args.held_out, n=max(1, n // 10), seed=args.seed, cue=args.cue)
    version = json.loads((shipped_world_dir()/'build.json').read_text())['settings']['version']
    return dict(what=args.what, world_version=version, args={k: v for k, v in vars(args).items() if k not in ('gather', 'report')}, steps=args.steps,
                seconds=dict(data=round(data), train=round(train), eval=round(time.time() - start - data - train)), **report)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--name', default='run'); ap.add_argument('--what', default='')
    ap.add_argument('--keys', default='colour'); ap.add_argument('--kmax', type=int, default=8)
    ap.add_argument('--p-once', type=float, default=0.); ap.add_argument('--words', default='world')
    ap.add_argument('--cue', action='store_true', help="start every episode with a text naming its key ('shape:')")
    ap.add_argument('--long-batch', type=int, default=0, help="sixteen-demonstration episodes a step in a source of their own (the demo's 4)")
    ap.add_argument('--held-out', default='', help="a tasks.WORD_POOLS name of never-trained words to measure too, e.g. world_held_out")
    ap.add_argument('--steps', type=int, default=1500); ap.add_argument('--episode-batch', type=int, default=16)
    ap.add_argument('--ep-weight', type=float, default=1.); ap.add_argument('--eval-n', type=int, default=60)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out'); ap.add_argument('--gather', nargs='*', help='run files to add to --report')
    ap.add_argument('--report', help='the gathered runs, e.g. reports/experiments/binding_keys.json')
    args = ap.parse_args(argv)
    if args.gather:  # added to the report's runs (a report that exists keeps its runs), each marked with this script
        path = Path(args.report)
        report = json.loads(path.read_text()) if path.exists() else dict(what=__doc__.split('\n\n')[0], runs={})
        for p in args.gather:
            made = json.loads(Path(p).read_text())
            report['runs'][made['args']['name']] = dict(made, script='tools/binding_keys.py')
        path.write_text(json.dumps(report, indent=1))
        return
    report = run(args)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(dict(binding={k: v[8]['accuracy'] for k, v in report['binding'].items()}, once=report['once']['mean'])))

if __name__ == '__main__': main()
