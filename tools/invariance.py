"""A vision tower distilled to the world's renders (`pretrain_vision.distil_invariance`; issue #21, Deliver 3): the
version-6 tower, copied and trained so that its tokens of a varied render (any grey or tinted background, lighting,
radii 3-14 px, zero to three objects; digits scaled, inverted, in coloured ink) match the version-6 tower's tokens of
the same content drawn as the world draws it. Measured two ways: the committed demo's layers with the tower swapped
in, nothing retrained (`swap`), and whole demo runs on the LM version 8 with the distilled tower (`demo`, `run_demo`'s
defaults). The experiments page renders reports/experiments/invariance.json:

    python tools/invariance.py tower --steps 3000 --renders 30000 --out ../runs/inv/t5     # one thread, as the build's vision job
    python tools/invariance.py tower --steps 6000 --renders 60000 --out ../runs/inv/t4
    python tools/invariance.py tower --p-digit 0.5 --threads 2 --teacher V6_TOWER --out ../runs/inv/d5   # half of the pairs digits
    python tools/invariance.py swap shipped ../runs/inv/t5 ../runs/inv/t4 --out ../runs/inv/swap.json
    python tools/invariance.py demo --lm ../runs/w8/world/lm --vision ../runs/inv/t5 --out ../runs/inv/demo_t5
    python tools/invariance.py demo --lm ../runs/w8/world/lm --vision ../runs/inv/t4 --out ../runs/inv/demo_t4
    python tools/invariance.py gather ../runs/inv --out reports/experiments/invariance.json

`--lm` is the LM version 8 that `tools/lm_v8.py build` wrote (`pretrain_lm.LM_V8`); the version-6 tower the `tower`
step starts from is the one shipped up to tiny world version 7 (`git show 6b6702c:flamingo_mini/tiny_world/vision/...`),
which `--teacher` names when the package ships another.
"""
from __future__ import annotations
import argparse, json, shutil, time
from pathlib import Path
import torch

def tower(out:str, steps:int, renders:int, teacher:str|None=None, threads:int=1, log_every:int=500, p_digit:float=0.2) -> dict:
    "`distil_invariance` of the version-6 tower (default: the package's) into `out`, with the world's image processor; `p_digit` the share of digits among its pairs (`canonical_pair`)."
    from transformers import CLIPVisionModel
    from flamingo_mini.pretrain_vision import distil_invariance, world_image_processor
    from flamingo_mini.world import shipped_world_dir
    start = time.time()
    source = CLIPVisionModel.from_pretrained(teacher or str(shipped_world_dir()/'vision'))
    distilled = distil_invariance(source, steps=steps, renders=renders, seed=0, threads=threads, log_every=log_every, p_digit=p_digit)
    distilled.save_pretrained(out); world_image_processor().save_pretrained(out)
    record = dict(steps=steps, renders=renders, threads=threads, p_digit=p_digit, seconds=round(time.time() - start, 1))
    (Path(out)/'distil.json').write_text(json.dumps(record))
    return record

def swap(towers:list[str], n:int=100, threads:int=2) -> dict:
    "The committed demo's layers (`world.demo_model`) on each tower ('shipped': the package's), nothing retrained: perception sets, captions, digits, in-context accuracy."
    from transformers import CLIPVisionModel
    from flamingo_mini.demo import evaluate_captions, evaluate_digits, evaluate_icl, evaluate_perception
    from flamingo_mini.world import demo_model, demo_processor
    torch.set_num_threads(threads)
    processor, out = demo_processor(), {}
    for name in towers:
        model = demo_model()
        if name != 'shipped': model.vision_encoder.load_state_dict(CLIPVisionModel.from_pretrained(name).state_dict())
        model.eval()
        captions = evaluate_captions(model, processor, n=200)
        out[Path(name).name] = dict(
            perception={k: v.get('exact', v.get('accuracy')) for k, v in evaluate_perception(model, processor, n=n).items()},
            captions={k: v['exact'] for k, v in captions.items() if isinstance(v, dict) and 'exact' in v},
            digits=evaluate_digits(model, processor)['accuracy'],
            icl={k: v['accuracy'] for k, v in evaluate_icl(model, processor, n=n).items()})
    return out

def demo(lm:str, vision:str, out:str, seed:int=0) -> dict:
    "`run_demo` (its defaults: 7.5 minutes, two threads) on this LM and tower, copied into `out`/world."
    import flamingo_mini.pretrain as pretrain
    from flamingo_mini.demo import run_demo
    world = Path(out)/'world'
    for part, source in (('lm', lm), ('vision', vision)):
        if not (world/part).exists(): shutil.copytree(source, world/part)
    parts = dict(lm=str(world/'lm'), vision=str(world/'vision'))
    pretrain.build_tiny_world = lambda *a, **k: parts  # run_demo loads its parts through this
    return run_demo(out, seed=seed, minutes=7.5, late_weights=None)  # the demo's settings when these runs were made (a wall-clock budget, no late weights)

def _run(folder:Path) -> dict:
    "What the experiments page shows of the `run_demo` report in `folder`."
    return run_summary(json.loads((folder/'report.json').read_text()), folder.name)

def run_summary(r:dict, name:str) -> dict:
    "What the experiments page shows of one `run_demo` report."
    exact = lambda d: {k: v.get('exact', v.get('accuracy')) for k, v in d.items()}
    binding = r['binding']
    return dict(name=name, steps=r['steps'], seconds=r['seconds'],
                captions={k: v['exact'] for k, v in r['captions'].items()}, digits=r['digits']['accuracy'],
                perception=exact(r['perception']),
                perception_examples={k: v['examples'] for k, v in r['perception'].items() if 'examples' in v},
                icl={k: v['accuracy'] for k, v in r['icl'].items()},
                never_trained={k: v['accuracy'] for k, v in binding['held_out_words']['colour'].items()},
                world_last_four={k: v['accuracy'] for k, v in binding['held_out_world_words']['colour'].items()},
                once=dict(mean=r['once']['mean'], worst=r['once']['worst']))

def write_experiment(out:str, doc:str, machine:str, **fields) -> dict:
    "An experiment file: what it is (the first paragraph of the tool's docstring), its fields, and the machine it ran on."
    report = dict(what=' '.join(doc.split('\n\n')[0].split()), **fields, machine=machine)
    Path(out).write_text(json.dumps(report, indent=1))
    return report

def gather(folder:str, out:str, runs:list[str]):
    "reports/experiments/invariance.json from this tool's step files in `folder`."
    folder = Path(folder)
    towers = {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob('*/distil.json'))}
    return write_experiment(out, __doc__, "the shared 2-core machine; towers one thread each, two side by side; each demo run alone, two threads",
                            towers=towers, swap=json.loads((folder/'swap.json').read_text()), runs=[_run(folder/name) for name in runs])

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('tower'); t.add_argument('--out', required=True); t.add_argument('--steps', type=int, default=3000)
    t.add_argument('--renders', type=int, default=30000); t.add_argument('--teacher'); t.add_argument('--threads', type=int, default=1)
    t.add_argument('--p-digit', type=float, default=0.2, help="share of digits among the distillation's pairs (canonical_pair's default 0.2)")
    s = sub.add_parser('swap'); s.add_argument('towers', nargs='+'); s.add_argument('--out', required=True)
    s.add_argument('--n', type=int, default=100)
    d = sub.add_parser('demo'); d.add_argument('--lm', required=True); d.add_argument('--vision', required=True)
    d.add_argument('--out', required=True); d.add_argument('--seed', type=int, default=0)
    g = sub.add_parser('gather'); g.add_argument('folder'); g.add_argument('--runs', nargs='+', required=True)
    g.add_argument('--out', default='reports/experiments/invariance.json')
    a = ap.parse_args(argv)
    if a.cmd == 'tower': print(tower(a.out, a.steps, a.renders, a.teacher, a.threads, p_digit=a.p_digit))
    elif a.cmd == 'swap': Path(a.out).write_text(json.dumps(swap(a.towers, a.n), indent=1))
    elif a.cmd == 'demo': demo(a.lm, a.vision, a.out, a.seed)
    else: gather(a.folder, a.out, a.runs)

if __name__ == '__main__': main()
