"""The demo's loss weights and its late render sources (issue #21). With every source at weight 1, two-shape captions
followed the step count: 0.42 exact in the committed version-8 run (850 steps), 0.2-0.9 in runs of 700-975 steps
(reports/experiments/invariance.json, lm_v8.json). Each run below is `run_demo` with its defaults but for what its
settings name, on the shipped tiny world (version 8), run alone on the shared 2-core machine with two threads; the
experiments page renders reports/experiments/demo_weights.json:

    python tools/demo_weights.py run ../runs/s9/e1_varied_three --late varied=3000:8 three=1000:4
    python tools/demo_weights.py run ../runs/s9/e2_scenes2 --weights scenes=2
    python tools/demo_weights.py run ../runs/s9/e3_scenes2_ep15 --weights scenes=2 episodes=1.5
    python tools/demo_weights.py run ../runs/s9/e4_scenes2_seed1 --weights scenes=2 --seed 1
    python tools/demo_weights.py run ../runs/s9/e5_late_scenes2 --late-weights scenes=2
    python tools/demo_weights.py run ../runs/s9/e6_late_scenes2_seed1 --late-weights scenes=2 --seed 1
    python tools/demo_weights.py run ../runs/s9/e7_late_scenes4_short --late-weights scenes=4 --minutes 6.5
    python tools/demo_weights.py run ../runs/s9/e8_scenes15_late2_short --weights scenes=1.5 --late-weights scenes=2 --minutes 6.5
    python tools/demo_weights.py run ../runs/s9/e9_scenes15_late2_short_seed1 --weights scenes=1.5 --late-weights scenes=2 --minutes 6.5 --seed 1
    # make_demo_slow: report.json of `make demo` in a fresh clone of 7f8c11c (its defaults: the scenes doubled from the
    # join) in a slow hour, with a settings.json that says so
    python tools/demo_weights.py gather ../runs/s9 --runs e1_varied_three e2_scenes2 e3_scenes2_ep15 e4_scenes2_seed1 \\
        e5_late_scenes2 e6_late_scenes2_seed1 e7_late_scenes4_short make_demo_slow e8_scenes15_late2_short \\
        e9_scenes15_late2_short_seed1 \\
        --baseline reports/experiments/demo_committed_v8.json --out reports/experiments/demo_weights.json

Then a fixed number of steps (`run_demo(steps=)`, the demo's default since c1fe5ff), beside the run e5 that was committed
before them (kept as reports/experiments/demo_committed_e5.json), and single objects of the broad ranges (backgrounds,
lighting, sizes) joining with the late sources:

    # d1: `flamingo-mini demo --out ../runs/s10/d1` (what `make demo` runs), a settings.json written beside it after
    python tools/demo_weights.py run ../runs/s10/x1_single --late single=2000:8 --late-weights scenes=2 --steps 900
    python tools/demo_weights.py run ../runs/s10/x3_single_seed1 --late single=2000:8 --late-weights scenes=2 --steps 900 --seed 1
    python tools/demo_weights.py gather ../runs/s10 --runs d1 x1_single x3_single_seed1 \\
        --baseline reports/experiments/demo_committed_e5.json --out reports/experiments/demo_steps.json

x1's first 200 steps ran beside another run (its seconds are longer; its steps, and so its numbers, are not).

`--weights name=w` are `run_demo(weights=)`, over `demo.DEMO_WEIGHTS` as it was when the run started (the settings
file beside each report records every source's weight); `--late-weights name=w` are `run_demo(late_weights=)`, the
scenes' or digits' weight from the join on (none when not
given, as before `demo.DEMO_LATE_WEIGHTS`); `--late name=rows:batch` adds a render source to `demo.DEMO_LATE` at
weight 1, joining with the others once in-context binding has formed. The first three runs went through an earlier
form of this tool that set `demo.DEMO_WEIGHTS` before the run (the same weights; their settings files written after).
`--baseline` is a committed demo report (`reports/demo/report.json` when it was made with the weights before these runs).
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from invariance import run_summary, write_experiment  # what the experiments page shows of one `run_demo` report; the file's frame

def _pairs(items:list[str], parse) -> dict:
    "name=value arguments as a dict."
    out = {}
    for item in items or []:
        name, sep, value = item.partition('=')
        if not sep: raise SystemExit(f"expected name=value, got {item!r}")
        out[name] = parse(value)
    return out

def _late(value:str) -> dict:
    "`rows:batch` (batch 8 when left out) as a late source at weight 1."
    rows, _, batch = value.partition(':')
    return dict(rows=int(rows), batch=int(batch or 8), weight=1.)

def run(out:str, weights:dict, late:dict, late_weights:dict, seed:int=0, minutes:float|None=None, steps:int|None=None) -> dict:
    "`run_demo` on the shipped world with these loss weights and extra late sources; its settings written beside its report."
    from flamingo_mini import demo
    minutes = 7.5 if minutes is None and steps is None else minutes  # the runs above: the wall-clock budget of their day
    report = demo.run_demo(out=out, weights=weights, late=demo.DEMO_LATE | late, late_weights=late_weights, seed=seed, minutes=minutes, steps=steps)
    settings = dict(weights=report['weights'], late=report['late']['sources'], late_weights=report['late']['weights'], seed=seed,  # each source's loss weight, the late ones'
                    **(dict(minutes=minutes) if minutes else dict(steps=steps)))
    (Path(out)/'settings.json').write_text(json.dumps(settings, indent=1))
    return report

BASELINE_WEIGHTS = dict(scenes=1., digits=0.5, episodes=1., long=1.)  # `demo.DEMO_WEIGHTS` of the sources the committed version-8 run had

def gather(folder:str, names:list[str], baseline:str, out:str) -> dict:
    "reports/experiments/demo_weights.json: the baseline report's summary and each run's, with its settings."
    folder, base = Path(folder), json.loads(Path(baseline).read_text())
    late = base['late']['sources']
    late_weights, budget = base['late'].get('weights') or {}, base['budget']
    runs = [('committed', base, dict(weights=base.get('weights') or (BASELINE_WEIGHTS | {k: v['weight'] for k, v in late.items()}),  # recorded since the weights were an option
                                      late={k: {f: v[f] for f in ('rows', 'batch', 'weight')} for k, v in late.items()}, late_weights=late_weights, seed=0,
                                      **({'steps': budget['steps']} if budget.get('steps') else {})))]
    runs += [(name, json.loads((folder/name/'report.json').read_text()), json.loads((folder/name/'settings.json').read_text())) for name in names]
    rows = [dict(run_summary(report, name), settings=settings,
                 joined={k: report['late'][k] for k in ('step', 'by', 'probes')})  # when the late sources joined, and why
            for name, report, settings in runs]
    return write_experiment(out, __doc__, 'the shared 2-core machine; each demo run alone, two threads (the demo\'s default)', baseline=baseline, runs=rows)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run'); r.add_argument('out'); r.add_argument('--weights', nargs='*'); r.add_argument('--late', nargs='*'); r.add_argument('--late-weights', nargs='*')
    r.add_argument('--seed', type=int, default=0)
    length = r.add_mutually_exclusive_group()
    length.add_argument('--minutes', type=float, help='a wall-clock budget (7.5 when neither is given: the runs above); fewer minutes stand in for a slower machine')
    length.add_argument('--steps', type=int, help='a fixed number of steps (`run_demo(steps=)`, the demo\'s default since the runs above)')
    g = sub.add_parser('gather'); g.add_argument('folder'); g.add_argument('--runs', nargs='+', required=True)
    g.add_argument('--baseline', required=True); g.add_argument('--out', default='reports/experiments/demo_weights.json')
    a = ap.parse_args(argv)
    if a.cmd == 'run': run(a.out, _pairs(a.weights, float), _pairs(a.late, _late), _pairs(a.late_weights, float), a.seed, a.minutes, a.steps)
    else: gather(a.folder, a.runs, a.baseline, a.out)

if __name__ == '__main__': main()
