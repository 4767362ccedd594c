"""Perception beyond the world's renders (issue #21, Deliver 3): a vision tower trained on varied renders, and what a
Flamingo on it captions.

Two steps, each writing JSON:

    # a candidate tower: the tiny CLIP of `pretrain_vision` on a pool of varied renders (tasks.RANGES['broad']: zero to
    # three objects, backgrounds of any grey and tinted, lighting, radii 3-14) and digits in several styles
    # (tasks.DIGIT_RANGES['broad']); the shipped LM and tokenizer are kept
    python tools/perception.py tower --out /tmp/tower7 --steps 6000 --renders 30000

    # the demo's recipe plus captions of varied renders and digits of every style, on the shipped tower or a candidate,
    # measured on held-out renders inside and outside the centre ranges, empty, three-object and never-seen-pair scenes,
    # and digits of each style
    python tools/perception.py flamingo --vision shipped --steps 1500 --report /tmp/v6.json
    python tools/perception.py flamingo --vision /tmp/tower7/vision --steps 1500 --report /tmp/v7.json

A run on `--vision shipped` records the world version it used. Two more steps try the candidate under the demo: `recipe`
trains the demo's whole mixture (`demo.training_sources`, varied renders included) with other loss weights and batch
sizes and measures it as the demo does, `gather-recipe` puts such runs into reports/experiments/perception_recipe.json;
`demo` measures the shipped demo layers on the perception sets and adds them to the committed demo report:

    python tools/perception.py recipe --vision /tmp/tower7b/vision --steps 1400 --episode-weight 2 --report /tmp/xB.json
    python tools/perception.py demo

`render` gathers the step files into reports/experiments/perception.json, which the experiments page renders.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path
import torch

def build_tower(out:str, steps:int, renders:int, threads:int, seed:int=0, log_every:int=500) -> dict:
    "Train the candidate tower into `out`/vision (with its image processor); return its settings, seconds and probes."
    from flamingo_mini.pretrain import _build_vision
    vision_kwargs = dict(steps=steps, ranges='broad', renders=renders)
    report = _build_vision(str(Path(out)/'vision'), {}, vision_kwargs, seed, threads, log_every)
    return dict(settings=vision_kwargs, seed=seed, threads=threads, **report)

# the held-out sets of this experiment (the demo reports `demo.PERCEPTION_SCENES` and `PERCEPTION_DIGITS`, a subset):
# (what, objects, ranges, split) and (what, digit ranges), measured by `demo.evaluate_perception`
SCENE_SETS = dict(
    world_single=('the world\'s own single-shape test scenes (world.scenes_dataset)', 1, None, 'test'),
    single_centre=('one object, tasks.RANGES["centre"]', 1, 'centre', 'test'),
    single_outside=('one object, tasks.RANGES["outside"]', 1, 'outside', 'test'),
    empty_centre=('no object ("nothing"), centre', 0, 'centre', 'test'),
    empty_outside=('no object ("nothing"), outside', 0, 'outside', 'test'),
    three_centre=('three objects, centre', 3, 'centre', 'test'),
    two_comp_centre=('two objects of never-trained colour-shape pairs (world.COMP_PAIRS), centre', 2, 'centre', 'comp'),
)
DIGIT_SETS = dict(
    sklearn=('scikit-learn\'s 8x8 digits at the world\'s scale (the demo\'s digits, test split)', 'centre'),
    printed=('printed digits (PIL\'s font), full scale, white on black', 'printed'),
    outside=('tasks.DIGIT_RANGES["outside"]: both styles at 0.4-0.7 scale, half inverted, half in coloured ink', 'outside'),
)

def train_flamingo(vision:str, steps:int, threads:int, n_varied:int=3000, seed:int=0, log=print):
    "The demo's sources and episodes plus captions of `n_varied` broad renders and as many digits of every style; `steps` steps."
    from flamingo_mini.demo import DEMO_FLAMINGO, _demo_config, training_sources
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
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
        # the demo's mixture (`demo.training_sources`): its scenes, digits, episodes and long episodes, with
        # `n_varied` varied renders and as many styled digits
        sources, weights = training_sources(model, processor, seed, varied=n_varied, log=lambda *a: None)
        data_seconds = time.time() - start
        learn = Learner(model, sources, _demo_config(steps, seed, 25), weights=weights)
        while learn.step < steps:
            learn.fit(steps=min(100, steps - learn.step), progress=False)
            log(f"step {learn.step}: loss {learn.history[-1]['loss']:.3f} ({time.time() - start:.0f} s)")
    return model.eval(), processor, dict(data=round(data_seconds), train=round(time.time() - start - data_seconds))

@torch.no_grad()
def measure(model, processor, n:int, seed:int=0, threads:int=2) -> dict:
    from flamingo_mini.demo import evaluate_perception
    from flamingo_mini.core import torch_threads
    from flamingo_mini.tasks import DigitRanges
    digits = {k: (what, DigitRanges(styles=('printed',)) if r == 'printed' else r) for k, (what, r) in DIGIT_SETS.items()}
    with torch_threads(threads): return evaluate_perception(model, processor, n, seed, scenes=SCENE_SETS, digits=digits)

TOWERS = dict(v6='the version-6 tower (shipped)', candidate='the candidate tower: 12,000 steps on 60,000 varied renders '
                                                              '(`tower --steps 12000 --renders 60000 --threads 1`)')

def recipe(vision:str, steps:int, threads:int, episode_weight:float=1., scene_weight:float=1., varied_batch:int=32,
           mid:int=0, seed:int=0, log=print) -> dict:
    "The demo's whole mixture (`demo.training_sources`, varied renders included) with other loss weights and batch sizes, on `vision`; `steps` steps, measured as the demo measures (at `mid` steps too)."
    from flamingo_mini.demo import (DEMO_FLAMINGO, _demo_config, training_sources, evaluate_binding, evaluate_captions,
                                    evaluate_icl, evaluate_perception)
    from flamingo_mini.core import torch_threads
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    from flamingo_mini.train import Learner
    from flamingo_mini.world import shipped_world_dir
    lm = str(shipped_world_dir()/'lm')
    vision = str(shipped_world_dir()/'vision') if vision == 'shipped' else vision
    processor = FlamingoProcessor.from_pretrained_parts(lm, vision)
    torch.manual_seed(seed)
    model = FlamingoModel.from_pretrained_parts(lm, vision, **DEMO_FLAMINGO)
    start, report = time.time(), dict(steps=steps, threads=threads, episode_weight=episode_weight, scene_weight=scene_weight,
                                      varied_batch=varied_batch)
    def quick():  # captions of the world's own renders and in-context accuracy, 100 held-out each
        return dict(captions={k: v['exact'] for k, v in evaluate_captions(model, processor, 100).items()},
                    icl={k: v['accuracy'] for k, v in evaluate_icl(model, processor, n=100).items()})
    with torch_threads(threads):
        sources, weights = training_sources(model, processor, seed, varied=3000, log=lambda *a: None,
                                            weights=dict(episodes=episode_weight, long=episode_weight, scenes=scene_weight))
        for name, batch in (('varied', varied_batch), ('styled_digits', varied_batch // 2)):
            sources[name] = sources[name][:2] + (batch,)
        learn = Learner(model, sources, _demo_config(steps, seed, 25), weights=weights)
        while learn.step < steps:
            learn.fit(steps=min(100, steps - learn.step), progress=False)
            log(f"step {learn.step}: loss {learn.history[-1]['loss']:.3f} ({time.time() - start:.0f} s)")
            if mid and learn.step == mid:
                model.eval()
                with torch.no_grad(): report['at_mid'] = dict(steps=mid, **quick())
        model.eval()
        with torch.no_grad():
            report.update(quick(), held_out_words={k: v['accuracy'] for k, v in evaluate_binding(
                              model, processor, keys=('colour',), words='world_held_out', n=25)['colour'].items()},
                          perception={k: v.get('exact', v.get('accuracy')) for k, v in evaluate_perception(model, processor, 50).items()})
    report['seconds'] = round(time.time() - start)
    return report

def demo_perception(report_path:str, n:int=100, seed:int=0, threads:int=2) -> dict:
    "Measure the shipped demo's model (`world.demo_model`, the committed run's layers) on the perception sets, as `run_demo` now does, and add the result to that run's report."
    from flamingo_mini.demo import evaluate_perception
    from flamingo_mini.core import torch_threads
    from flamingo_mini.world import demo_model, demo_processor
    report, model = json.loads(Path(report_path).read_text()), demo_model()
    if report['steps'] != model.training_steps:
        raise SystemExit(f"{report_path} is not the run of the shipped demo layers (other training steps)")
    with torch_threads(threads), torch.no_grad(): report['perception'] = evaluate_perception(model, demo_processor(), n, seed)
    report['perception_measured'] = 'after the run, on the shipped demo layers, by tools/perception.py demo'
    Path(report_path).write_text(json.dumps(report, indent=1))
    return report['perception']

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='step', required=True)
    t = sub.add_parser('tower'); t.add_argument('--out', required=True); t.add_argument('--steps', type=int, default=6000)
    t.add_argument('--renders', type=int, default=30000); t.add_argument('--threads', type=int, default=2)
    f = sub.add_parser('flamingo'); f.add_argument('--vision', default='shipped'); f.add_argument('--steps', type=int, default=1500)
    f.add_argument('--threads', type=int, default=2); f.add_argument('--n', type=int, default=100)
    f.add_argument('--report', required=True)
    q = sub.add_parser('recipe'); q.add_argument('--vision', default='shipped'); q.add_argument('--steps', type=int, default=1400)
    q.add_argument('--threads', type=int, default=1); q.add_argument('--episode-weight', type=float, default=1.)
    q.add_argument('--scene-weight', type=float, default=1.); q.add_argument('--varied-batch', type=int, default=32)
    q.add_argument('--mid', type=int, default=0); q.add_argument('--report', required=True)
    g = sub.add_parser('gather-recipe', help='recipe runs into one JSON: NAME=TOWER=PATH, TOWER a key of TOWERS')
    g.add_argument('--runs', nargs='+', required=True); g.add_argument('--out', default='reports/experiments/perception_recipe.json')
    d = sub.add_parser('demo', help="the committed demo run's perception, added to its report")
    d.add_argument('--report', default='reports/demo/report.json')
    r = sub.add_parser('render'); r.add_argument('--tower', nargs='+', required=True); r.add_argument('--runs', nargs='+', required=True)
    r.add_argument('--out', default='reports/experiments/perception.json')
    args = ap.parse_args(argv)
    if args.step == 'tower':
        report = build_tower(args.out, args.steps, args.renders, args.threads)
        (Path(args.out)/'tower.json').write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
    elif args.step == 'flamingo':
        from flamingo_mini.world import shipped_world_dir
        model, processor, seconds = train_flamingo(args.vision, args.steps, args.threads)
        start = time.time()
        results = measure(model, processor, args.n, threads=args.threads)
        seconds['eval'] = round(time.time() - start)
        report = dict(vision=args.vision, steps=args.steps, threads=args.threads, seconds=seconds, results=results)
        stamp = Path(args.vision).parent/'tower.json'  # a candidate from the `tower` step: its settings
        if args.vision != 'shipped' and stamp.exists(): report['tower_steps'] = json.loads(stamp.read_text())['settings']['steps']
        if args.vision == 'shipped': report['world_version'] = json.loads((shipped_world_dir()/'build.json').read_text())['settings']['version']
        Path(args.report).write_text(json.dumps(report, indent=1))
        print(json.dumps({k: v.get('exact', v.get('accuracy')) for k, v in results.items()}, indent=1))
    elif args.step == 'recipe':
        report = recipe(args.vision, args.steps, args.threads, args.episode_weight, args.scene_weight, args.varied_batch, args.mid)
        Path(args.report).write_text(json.dumps(dict(vision=args.vision, **report), indent=1))
        print(json.dumps(report))
    elif args.step == 'demo':
        print(json.dumps({k: v.get('exact', v.get('accuracy')) for k, v in demo_perception(args.report).items()}, indent=1))
    elif args.step == 'gather-recipe':
        runs = []
        for spec in args.runs:
            name, tower, path = spec.split('=', 2)
            run = json.loads(Path(path).read_text())
            if 'cfg' in run:  # a run of the scratch twin of `recipe` (the same code): its settings in one JSON string
                cfg = json.loads(run.pop('cfg')); bs = cfg.get('batch_sizes', {}); w = cfg.get('weights', {})
                run = dict(steps=cfg.get('steps', 1400), threads=1, episode_weight=w.get('episodes', 1.), scene_weight=w.get('scenes', 1.),
                           varied_batch=bs.get('varied', 32), held_out_words=run.pop('held'), **run)
            if 'figure_captions' in run:  # a whole `run_demo` (time budget, two threads): the same measures, more held-out samples
                run = dict(steps=run['steps'], threads=run['budget']['threads'], episode_weight=1., scene_weight=1., varied_batch=32,
                           run_demo=True, captions={k: v['exact'] for k, v in run['captions'].items()},
                           icl={k: v['accuracy'] for k, v in run['icl'].items()},
                           held_out_words={k: v['accuracy'] for k, v in run['binding']['held_out_words']['colour'].items()},
                           perception={k: v.get('exact', v.get('accuracy')) for k, v in run['perception'].items()},
                           seconds=run['seconds']['total'])
            runs.append(dict(name=name, tower=tower, **run))
        out = dict(what='the demo\'s mixture with varied captions and styled digits, on the version-6 tower and on the candidate '
                        'trained 12,000 steps on 60,000 varied renders, with other loss weights and batch sizes',
                   script='tools/perception.py recipe', towers=TOWERS, runs=runs)
        Path(args.out).write_text(json.dumps(out, indent=1))
    else:
        from flamingo_mini.world import shipped_world_dir
        runs = [json.loads(Path(p).read_text()) for p in args.runs]
        shipped = json.loads((shipped_world_dir()/'build.json').read_text())
        out = dict(machine='the shared 2-core machine, each Flamingo run and each tower on one thread, most of them with another training job beside it',
                   shipped_retrieval=shipped['clip_retrieval'], shipped_version=shipped['settings']['version'], what=__doc__.split('\n\n')[0], script='tools/perception.py', towers=[json.loads(Path(t).read_text()) for t in args.tower],
                   ranges={name: repr(r) for name, r in __import__('flamingo_mini.tasks', fromlist=['RANGES']).RANGES.items()},
                   runs=runs)
        Path(args.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
