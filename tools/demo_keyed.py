"""The demo with a second episode source keyed by colour, shape or size, each episode naming its key first (issue #21,
Deliver 2): `run_demo(keyed_batch=8)` beside its colour-keyed episodes, which name no key, so that the world's colour
prompts stay as they are. Measured from the saved checkpoint on never-trained words (`HELD_OUT_WORDS`) with the key
named, every key, and a once-shown demonstration among sixteen keyed by shape and by colour, key named; the run's own
report gives the rest (captions, the colour episodes, the never-trained words without a key named):

    python tools/demo_keyed.py run ../runs/keyed8            # the demo's 7.5-minute budget, two threads
    python tools/demo_keyed.py probe ../runs/keyed8 --out reports/experiments/demo_keyed.json
"""
from __future__ import annotations
import argparse, json
from pathlib import Path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('cmd', choices=('run', 'probe')); ap.add_argument('folder')
    ap.add_argument('--keyed-batch', type=int, default=8); ap.add_argument('--n', type=int, default=60)
    ap.add_argument('--out')
    args = ap.parse_args(argv)
    if args.cmd == 'run':
        from flamingo_mini.demo import run_demo
        run_demo(args.folder, keyed_batch=args.keyed_batch)
        return
    import torch
    from flamingo_mini.core import torch_threads
    from flamingo_mini.demo import evaluate_binding, evaluate_once
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    report = json.loads((Path(args.folder)/'report.json').read_text())
    model, processor = FlamingoModel.from_pretrained(args.folder).eval(), FlamingoProcessor.from_pretrained(args.folder)
    with torch.no_grad(), torch_threads(2):
        named = evaluate_binding(model, processor, words='held_out', n=args.n, cue=True)
        once = {key: evaluate_once(model, processor, key=key, words='held_out', n=max(1, args.n // 12), cue=True) for key in ('colour', 'shape')}
    out = dict(what=__doc__.split('\n\n')[0], steps=report['steps'], keyed_batch=report['episodes'].get('keyed_batch', args.keyed_batch),  # runs before the report's field: as given
               seconds=report['seconds'], key_named=named, once_key_named=once,
               report={k: report[k] for k in ('captions', 'icl', 'binding', 'once')})
    Path(args.out).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
