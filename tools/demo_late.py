"""When renders beyond the world's own join the demo's mixture (issue #21): the demo (`demo.run_demo`, its whole
budget) with the render sources of `demo.DEMO_LATE` (empty scenes, digits of every style) joining at different times,
or not at all. Each run writes the demo's `report.json`; `save` copies one into reports/experiments/ as
`demo_late_<variant>.json` with a `source` line, which the experiments page renders.

    python tools/demo_late.py run binding --out /tmp/late-binding      # about 7.5 min, as `make demo`
    python tools/demo_late.py save binding /tmp/late-binding --source "this session's machine, quiet"

Variants (`VARIANTS`): `none` (no render sources: the demo before them); with the first runs' sources (`FIRST_LATE`:
the digits at 8 rows a step and weight 0.5), `from_start` (in the mixture from the first step), `from_start_light` (the
same at weight 0.2), `half` (joining half-way through the training time), `cooldown` (joining at the cool-down's start)
and `binding_first` (once `binding_probe` says in-context binding has formed, at the cool-down at the latest);
`binding` and `binding_again`, `DEMO_LATE`'s sources joining as `binding_first`, run twice; and `binding_seen`, the
same with the episodes' loss only on the words an earlier image predicts (`SeenWordLoss`).
A ninth run, `binding_seen` before its episode weights were scaled (`seen_share`), no variant runs any more.
"""
from __future__ import annotations
import argparse, json
from pathlib import Path

from flamingo_mini.demo import DEMO_LATE
# the render sources of the first runs: as `DEMO_LATE`, with the digits at 8 rows a step and weight 0.5
FIRST_LATE = dict(empty=dict(rows=1000, batch=4, weight=0.5), styled_digits=dict(rows=2000, batch=8, weight=0.5))
def _weighted(late:dict, weight:float) -> dict: return {k: dict(v, weight=weight) for k, v in late.items()}

# variant -> run_demo arguments
VARIANTS = dict(none=lambda: dict(late=None), from_start=lambda: dict(late=FIRST_LATE, late_join=0.),
                from_start_light=lambda: dict(late=_weighted(FIRST_LATE, 0.2), late_join=0.),
                half=lambda: dict(late=FIRST_LATE, late_join=0.5), cooldown=lambda: dict(late=FIRST_LATE, late_join=0.75),
                binding_first=lambda: dict(late=FIRST_LATE), binding=lambda: dict(late=DEMO_LATE), binding_again=lambda: dict(late=DEMO_LATE),
                binding_seen=lambda: dict(late=DEMO_LATE, seen_loss=True))

def run(variant:str, out:str) -> dict:
    from flamingo_mini.demo import run_demo, format_report
    report = run_demo(out, **VARIANTS[variant]())
    print(format_report(report))
    return report

def save(variant:str, folder:str, source:str, experiments:str='reports/experiments') -> Path:
    "Copy a run's report into the experiments folder, with the variant and how the run was made."
    report = json.loads((Path(folder)/'report.json').read_text())
    path = Path(experiments)/f'demo_late_{variant}.json'
    path.write_text(json.dumps(dict(variant=variant, source=source, **report), indent=1) + '\n')
    return path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='command', required=True)
    r = sub.add_parser('run'); r.add_argument('variant', choices=VARIANTS); r.add_argument('--out', required=True)
    s = sub.add_parser('save'); s.add_argument('variant', choices=VARIANTS); s.add_argument('folder'); s.add_argument('--source', required=True)
    args = ap.parse_args(argv)
    if args.command == 'run': run(args.variant, args.out)
    else: print(save(args.variant, args.folder, args.source))

if __name__ == '__main__': main()
