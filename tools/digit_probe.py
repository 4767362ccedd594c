"""What the shipped vision tower carries of digits drawn in other styles: ridge probes on its output tokens (issue #21).

For each way of drawing (`conditions()`), `pretrain_vision.digit_probe` scores two linear probes on held-out digits: one
fitted on the world's own digits (does the tower give these digits the world's features, so that layers trained on the
world's digits read them?) and one fitted on digits drawn the same way (is the identity there at all, for a linear
read-out?). The demo's styled set (`demo.PERCEPTION_DIGITS['styled']`, `tasks.DIGIT_RANGES['outside']`) is one of them.

    python tools/digit_probe.py --out reports/experiments/digit_probe.json
    python tools/digit_probe.py --vision ../runs/inv/d5 --out reports/experiments/digit_probe_d5.json   # a candidate tower

With `--vision` the tower is another (`tools/invariance.py tower` writes one, its `distil.json` beside it, kept in the
file); every run also scores `vision_probe` on single objects outside the centre ranges, so that a tower that reads
digits better is seen not to read the world's objects worse.
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path

def conditions() -> dict:
    "Name -> (what, `tasks.DigitRanges` or a `DIGIT_RANGES` name)."
    from flamingo_mini.tasks import DigitRanges
    return dict(
        world=("the world's digits: handwritten (scikit-learn), full scale, light on dark", 'centre'),
        small=('handwritten at 0.4-0.7 scale, placed anywhere', DigitRanges(scale=((0.4, 0.7),))),
        inverted=('handwritten at full scale, dark ink on light', DigitRanges(p_inverted=1.)),
        coloured=('handwritten at full scale, in coloured ink', DigitRanges(p_coloured=1.)),
        printed=('printed at 0.8-1.0 scale (the demo\'s printed set)', DigitRanges(styles=('printed',), scale=((0.8, 1.),))),
        printed_small=('printed at 0.4-0.7 scale', DigitRanges(styles=('printed',), scale=((0.4, 0.7),))),
        styled=("the demo's styled set: handwritten or printed at 0.4-0.7 scale, half inverted, half in coloured ink", 'outside'))

def main(out:str, n_train:int, n_test:int, tower:str|None=None):
    import torch
    from transformers import CLIPVisionModel
    from flamingo_mini.pretrain_vision import digit_probe, vision_probe
    from flamingo_mini.world import shipped_world_dir
    torch.set_num_threads(2)
    world = shipped_world_dir()
    vision = CLIPVisionModel.from_pretrained(tower or str(world/'vision')).eval()
    stamp = json.loads((world/'build.json').read_text())
    report = dict(what=f"ridge probes on all output tokens of {'the vision tower in ' + tower if tower else 'the shipped vision tower'}: fitted on the world's digits, and on digits drawn as the test ones",
                  script='tools/digit_probe.py', world_version=stamp['settings']['version'], n_train=n_train, n_test=n_test, conditions={})
    if tower and (Path(tower)/'distil.json').is_file(): report['tower'] = json.loads((Path(tower)/'distil.json').read_text())
    start = time.time()
    report['objects_outside'] = vision_probe(vision, ranges='outside')  # fitted on the world's single shapes, scored on varied renders
    report['objects_world'] = vision_probe(vision)
    print('objects', report['objects_world'], report['objects_outside'], f'{time.time() - start:.0f} s', flush=True)
    for name, (what, ranges) in conditions().items():
        report['conditions'][name] = dict(what=what, **digit_probe(vision, ranges, n_train=n_train, n_test=n_test))
        print(name, report['conditions'][name], f'{time.time() - start:.0f} s', flush=True)
    Path(out).write_text(json.dumps(report, indent=1))

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', required=True); parser.add_argument('--n-train', type=int, default=1000); parser.add_argument('--n-test', type=int, default=300)
    parser.add_argument('--vision', help='a vision tower folder to probe instead of the shipped one')
    a = parser.parse_args()
    main(a.out, a.n_train, a.n_test, a.vision)
