"""Does `run_demo(minutes=)` keep to its budget on a slower machine? (the time it keeps for evaluation, `EVAL_STEPS`; before
the fixed steps `make demo` ran it in a 7.5-minute budget; it now trains `demo.DEMO_STEPS`)

`run_demo` keeps, for the evaluation and the saving, the time of `EVAL_STEPS` training steps at the run's mean speed
(at least `eval_reserve` seconds), set again every hundred steps until the cool-down starts. This tool runs the demo as
`make demo` does, on two threads, or on one as a stand-in for a machine at about half the speed, and records for each
run its steps, the time it kept and the time the evaluation took, and the whole job's time against the budget:

    python tools/demo_eval_reserve.py run two ../runs/reserve-two --threads 2     # 7.5 min each, alone on the machine
    python tools/demo_eval_reserve.py run one ../runs/reserve-one --threads 1
    python tools/demo_eval_reserve.py gather --out reports/experiments/demo_eval_reserve.json two=../runs/reserve-two one=../runs/reserve-one
"""
from __future__ import annotations
import argparse, json, os, platform
from pathlib import Path

def record(report:dict) -> dict:
    "A run's timing and its headline scores, from its report."
    s, steps = report['seconds'], report['steps']
    step_s = s['training'] / steps
    return dict(threads=report['budget']['threads'], budget=round(report['budget']['minutes'] * 60), steps=steps,
                seconds=s, reserve=report['budget']['reserve'], step_s=round(step_s, 3),
                evaluation_in_steps=round(s['evaluation'] / step_s), within_budget=s['total'] <= report['budget']['minutes'] * 60,
                held_out_words={k: r['accuracy'] for k, r in report['binding']['held_out_words']['colour'].items()},
                single_captions=report['captions']['single']['exact'])

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run'); r.add_argument('name'); r.add_argument('folder'); r.add_argument('--threads', type=int, default=2)
    g = sub.add_parser('gather'); g.add_argument('runs', nargs='+', help='name=folder'); g.add_argument('--out', required=True)
    args = ap.parse_args(argv)
    if args.cmd == 'run':
        from flamingo_mini.demo import run_demo
        report = run_demo(args.folder, threads=args.threads, minutes=7.5)  # the wall-clock budget (`make demo`'s before the fixed steps)
        print(json.dumps(record(report)))
        return
    runs = {}
    for item in args.runs:
        name, folder = item.split('=', 1)
        runs[name] = record(json.loads((Path(folder)/'report.json').read_text()))
    Path(args.out).write_text(json.dumps(dict(what=__doc__.split('\n\n')[0], machine=f'{platform.machine()}, {os.cpu_count()} cores',
                                              runs=runs), indent=1))

if __name__ == '__main__': main()
