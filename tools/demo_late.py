"""When renders beyond the world's own join the demo's mixture (issue #21): the demo (`demo.run_demo`, its whole
budget) with the render sources of `demo.DEMO_LATE` (empty scenes, digits of every style) joining at different times,
or not at all. Each run writes the demo's `report.json`; `save` copies one into reports/experiments/ as
`demo_late_<variant>.json` with a `source` line, which the experiments page renders.

    python tools/demo_late.py run binding --out /tmp/late-binding      # about 7.5 min, as `make demo`
    python tools/demo_late.py save binding /tmp/late-binding --source "this session's machine, quiet"
    python tools/demo_late.py maps binding /tmp/late-binding     # add the word maps to a file saved without them

Variants (`VARIANTS`): `none` (no render sources: the demo before them); with the first runs' sources (`FIRST_LATE`:
the digits at 8 rows a step and weight 0.5), `from_start` (in the mixture from the first step), `from_start_light` (the
same at weight 0.2), `half` (joining half-way through the training time), `cooldown` (joining at the cool-down's start)
and `binding_first` (once `binding_probe` says in-context binding has formed, at the cool-down at the latest);
`binding` and `binding_again`, the digits at twice the rows and weight (`SECOND_LATE`) joining as `binding_first`, run twice; `binding_seen`, the
same with the episodes' loss only on the words an earlier image predicts (`SeenWordLoss`); `binding_seen_first`,
the same with the loss dropped on the first image's word only (`seen_loss='first'`); and `binding_late_first`, the
sources joining as `binding`, the episodes' loss leaving the first image's word at the same step (`late_loss='first'`);
and `default` and `default_again`, `run_demo`'s defaults, run twice: that with the empty scenes at weight 1
(`DEMO_LATE`). A further run,
`binding_seen_unweighted` (`binding_seen` before its episode weights were scaled by `seen_share`), no variant runs any
more. Each file also holds its checkpoint's word maps (`inspect.word_maps`: 15_inspect's measure of whether caption
words read their own object), which `save` takes and `maps` adds to a file saved before.
"""
from __future__ import annotations
import argparse, json
from pathlib import Path

# the render sources of the first runs: empty scenes at weight 0.5, the digits at 8 rows a step and weight 0.5
FIRST_LATE = dict(empty=dict(rows=1000, batch=4, weight=0.5), styled_digits=dict(rows=2000, batch=8, weight=0.5))
# the next runs': the digits at 16 rows a step and weight 1 (`demo.DEMO_LATE` until the empty scenes' weight became 1)
SECOND_LATE = dict(empty=dict(rows=1000, batch=4, weight=0.5), styled_digits=dict(rows=2000, batch=16, weight=1.))
def _weighted(late:dict, weight:float) -> dict: return {k: dict(v, weight=weight) for k, v in late.items()}

def _defaults() -> dict:  # `run_demo`'s own (imported here: `--help` does not load torch)
    from flamingo_mini.demo import DEMO_LATE
    return dict(late=DEMO_LATE, late_loss='first')
def _second() -> dict: return dict(late=SECOND_LATE, late_loss=False)

# variant -> run_demo arguments (the runs before `late_loss` had the loss on every episode word throughout: False)
VARIANTS = dict(none=lambda: dict(late=None, late_loss=False), from_start=lambda: dict(late=FIRST_LATE, late_join=0., late_loss=False),
                from_start_light=lambda: dict(late=_weighted(FIRST_LATE, 0.2), late_join=0., late_loss=False),
                half=lambda: dict(late=FIRST_LATE, late_join=0.5, late_loss=False),
                cooldown=lambda: dict(late=FIRST_LATE, late_join=0.75, late_loss=False),
                binding_first=lambda: dict(late=FIRST_LATE, late_loss=False), binding=_second, binding_again=_second,
                binding_seen=lambda: dict(late=SECOND_LATE, seen_loss=True),
                binding_seen_first=lambda: dict(late=SECOND_LATE, seen_loss='first'),
                binding_late_first=lambda: dict(late=SECOND_LATE, late_loss='first'),
                default=_defaults, default_again=_defaults)

def run(variant:str, out:str) -> dict:
    from flamingo_mini.demo import run_demo, format_report
    report = run_demo(out, **VARIANTS[variant]())
    print(format_report(report))
    return report

def maps(folder:str) -> dict:
    "`inspect.word_maps` of the checkpoint a run saved: how many caption words' maps weigh their own object over the other."
    from flamingo_mini.inspect import word_maps
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    r = word_maps(FlamingoModel.from_pretrained(folder).eval(), FlamingoProcessor.from_pretrained(folder))
    return dict(right=r['right'], words=r['words'], own=round(r['own'], 3), other=round(r['other'], 3),
                resampler_ratio=round(float((r['resampler'] / r['objects_share']).mean()), 2))

def save(variant:str, folder:str, source:str, experiments:str='reports/experiments') -> Path:
    "Copy a run's report into the experiments folder, with the variant, how the run was made and its checkpoint's word maps."
    report = json.loads((Path(folder)/'report.json').read_text())
    path = Path(experiments)/f'demo_late_{variant}.json'
    path.write_text(json.dumps(dict(variant=variant, source=source, **report, word_maps=maps(folder)), indent=1) + '\n')
    return path

def add_maps(variant:str, folder:str, experiments:str='reports/experiments') -> Path:
    "Add the word maps of a saved run's checkpoint (`folder`) to its experiment file, checking the folder's report is the file's."
    path = Path(experiments)/f'demo_late_{variant}.json'
    if not path.is_file(): raise SystemExit(f"no experiment file {path}")
    saved, report = json.loads(path.read_text()), json.loads((Path(folder)/'report.json').read_text())
    if any(saved.get(k) != report[k] for k in ('steps', 'captions', 'icl')): raise ValueError(f"{folder}'s report is not the run in {path}")
    path.write_text(json.dumps(saved | dict(word_maps=maps(folder)), indent=1) + '\n')
    return path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='command', required=True)
    r = sub.add_parser('run'); r.add_argument('variant', choices=VARIANTS); r.add_argument('--out', required=True)
    s = sub.add_parser('save'); s.add_argument('variant', choices=VARIANTS); s.add_argument('folder'); s.add_argument('--source', required=True)
    m = sub.add_parser('maps'); m.add_argument('variant', help='the name in demo_late_<variant>.json'); m.add_argument('folder')
    args = ap.parse_args(argv)
    if args.command == 'run': run(args.variant, args.out)
    elif args.command == 'maps': print(add_maps(args.variant, args.folder))
    else: print(save(args.variant, args.folder, args.source))

if __name__ == '__main__': main()
