"""Captions of held-out colour-shape pairs (`world.COMP_PAIRS`, in no training image; issue #21, Deliver 3): where the
demo loses their shape, and two changes tried alone and together.

Where: a linear probe on the shipped tower's tokens (`probe`), and on the tower's tokens and the resampler's latents of
each demo checkpoint, with its captions of two held-out pairs in one scene (`latents`). The changes: the LM version 8
(`pretrain_lm.LM_V8`: the shipped recipe, with captions in its text that name every pair and up to three objects; the
shipped LM's text named only the pairs the images show, so it all but rules a held-out pair out), measured in text
beside the shipped LM (`measure`); and `run_demo(swap_colours=)`, captions whose colour word is replaced in the text
without loss (`demo.SwappedColours`). The experiments page renders reports/experiments/lm_v8.json:

    python tools/lm_v8.py build --out ../runs/w8/world        # build_tiny_world's LM step on LM_V8 (two threads), the shipped tower copied
    python tools/lm_v8.py probe --out ../runs/w8/probe.json --threads 1
    python tools/lm_v8.py measure --world ../runs/w8/world --out ../runs/w8/text.json
    python tools/lm_v8.py demo --world shipped --out ../runs/w8/demo7                  # run_demo's defaults: 7.5 min, two threads
    python tools/lm_v8.py demo --world ../runs/w8/world --out ../runs/w8/demo
    python tools/lm_v8.py demo --world shipped --out ../runs/w8/demo7s --swap 0.3
    python tools/lm_v8.py demo --world ../runs/w8/world --out ../runs/w8/demos --swap 0.3
    python tools/lm_v8.py demo --world ../runs/w8/world --out ../runs/w8/demos1 --swap 0.3 --seed 1
    python tools/lm_v8.py demo --world ../runs/w8/world --out ../runs/w8/demo1 --seed 1
    python tools/lm_v8.py demo --world ../runs/w8/world --out ../runs/w8/demo3 --three 2000     # three-object scenes join late
    python tools/lm_v8.py demo --world ../runs/w8/world --out ../runs/w8/demo2 --seed 2
    python tools/lm_v8.py demo --world ../runs/w8/world --out ../runs/w8/demos2 --swap 0.3 --seed 2
    python tools/lm_v8.py latents ../runs/w8/demo7 ../runs/w8/demo ../runs/w8/demo7s ../runs/w8/demos ../runs/w8/demos1 ../runs/w8/demo1 ../runs/w8/demo3 ../runs/w8/demo2 ../runs/w8/demos2 --out ../runs/w8/latents.json
    python tools/lm_v8.py gather ../runs/w8 --out reports/experiments/lm_v8.json

These runs were made on tiny world version 7, so `--world shipped` meant the version-7 LM and the version-6 tower; since
version 8 the package ships LM_V8 and a distilled tower (`tools/invariance.py`), and `shipped` names those.
"""
from __future__ import annotations
import argparse, json, shutil, time
from pathlib import Path
import numpy as np
import torch

def build(out:str, threads:int=2, log_every:int=500) -> dict:
    "`build_tiny_world`'s LM step with `LM_V8` into `out`/lm, the shipped vision tower copied beside it, and its stamp."
    from flamingo_mini.pretrain_lm import LM_V8, pretrain_lm, train_world_tokenizer
    from flamingo_mini.world import shipped_world_dir
    out, shipped = Path(out), shipped_world_dir()
    start = time.time()
    tokenizer = train_world_tokenizer(seed=0)
    lm = pretrain_lm(tokenizer, seed=0, threads=threads, log_every=log_every, **LM_V8)
    lm.save_pretrained(out/'lm'); tokenizer.save_pretrained(out/'lm')
    shutil.copytree(shipped/'vision', out/'vision', dirs_exist_ok=True)
    before = json.loads((shipped/'build.json').read_text())
    settings = json.loads(json.dumps(dict(version=8, seed=0, tokenizer={}, lm=LM_V8, vision={})))  # the LM of version 8, the tower of 6
    stamp = dict(settings=settings, seconds=before['seconds'], lm_seconds=round(time.time() - start, 1),
                 vision_seconds=before['vision_seconds'], clip_retrieval=before['clip_retrieval'], threads=threads)
    (out/'build.json').write_text(json.dumps(stamp, indent=1))
    return stamp

def _parts(world:str) -> dict:
    from flamingo_mini.pretrain import _parts
    from flamingo_mini.world import shipped_world_dir
    return _parts(shipped_world_dir() if world == 'shipped' else Path(world))

@torch.no_grad()
def pair_prior(lm, tok) -> dict:
    "The LM's probability of each shape word after 'a SIZE COLOUR' (and after a first object, 'a ... and a SIZE COLOUR'), renormalised over the six shapes: the held-out pair's share beside the mean of the others."
    from flamingo_mini.world import COLOURS, COMP_PAIRS, SHAPES, SIZES
    first = 'a big red cross on the left and '
    held, other = {'first': [], 'second': []}, {'first': [], 'second': []}
    for place, prefix in (('first', ''), ('second', first)):
        for size in SIZES:
            for colour in COLOURS:
                context = tok(f'{prefix}a {size} {colour}')['input_ids']
                scores = []
                for shape in SHAPES:
                    ids = tok(f'{prefix}a {size} {colour} {shape}')['input_ids']
                    logp = lm(torch.tensor([ids])).logits[0].log_softmax(-1)
                    scores.append(sum(logp[j - 1, ids[j]].item() for j in range(len(context), len(ids))))
                p = torch.tensor(scores).softmax(0)
                comp = SHAPES.index(dict(COMP_PAIRS)[colour])
                held[place].append(p[comp].item()); other[place] += [p[j].item() for j in range(len(SHAPES)) if j != comp]
    return {place: dict(held_out_pair=float(np.mean(held[place])), other_pairs=float(np.mean(other[place])),
                        uniform=1 / len(SHAPES)) for place in held}

@torch.no_grad()
def third_object(lm, tok, n:int=200) -> dict:
    "After a two-object caption of the world's test split, the LM's probability of going on (' and') against ending (<EOC>); and the same after one object."
    from flamingo_mini.core import EOC_TOKEN
    from flamingo_mini.world import make_caption, make_scene
    eoc, conj = tok.convert_tokens_to_ids(EOC_TOKEN), tok(' and')['input_ids']
    out = {}
    for objects in (1, 2):
        go_on = []
        for i in range(n):
            ids = tok(make_caption(make_scene(i, 'test', objects, seed=5).objects))['input_ids']
            p = lm(torch.tensor([ids])).logits[0, -1].softmax(-1)
            go_on.append((p[conj[0]] / (p[conj[0]] + p[eoc])).item())
        out[f'after_{objects}'] = float(np.mean(go_on))
    return out

@torch.no_grad()
def tower_probe(n_train:int=3000, n_test:int=300, ridge:float=1.0, seed:int=11) -> dict:
    "Where the information is: a linear (ridge) probe on all output tokens of the shipped tower, one per place and attribute, fitted on `tasks` renders of 1-3 objects in the centre ranges (training pairs), scored per object and per whole scene on held-out renders of one, two and three objects and of two held-out pairs."
    from transformers import CLIPVisionModel
    from flamingo_mini.pretrain_vision import Ridge, encoder_tokens
    from flamingo_mini.tasks import make_varied_scene
    from flamingo_mini.world import COLOURS, POSITIONS, SHAPES, SIZES, shipped_world_dir
    tower = CLIPVisionModel.from_pretrained(shipped_world_dir()/'vision').eval()
    values = dict(colour=COLOURS, shape=SHAPES, size=SIZES)
    def scenes(n, counts, split, seed): return [make_varied_scene(i, counts[i % len(counts)], 'centre', split, seed) for i in range(n)]
    def target(scene, place, attribute):  # 0: nothing at that place; occupancy 1; else 1 + the value's index
        at = [o for o in scene.objects if o.position == place]
        return 0 if not at else 1 if attribute == 'occupied' else 1 + values[attribute].index(getattr(at[0], attribute))
    train = scenes(n_train, (1, 2, 3), 'train', seed)
    fitted = Ridge(encoder_tokens(tower, [s.image for s in train]).flatten(1).double(), ridge)
    attributes = ('occupied', 'colour', 'shape', 'size')
    duals = {(p, a): fitted.dual(torch.tensor([target(s, p, a) for s in train]), 2 if a == 'occupied' else 1 + len(values[a]))
             for p in POSITIONS for a in attributes}
    out = {}
    for name, (counts, split) in dict(one=((1,), 'test'), two=((2,), 'test'), three=((3,), 'test'), novel_pairs=((2,), 'comp')).items():
        test = scenes(n_test, counts, split, seed + 1 + len(out))
        kernel = fitted.kernel(encoder_tokens(tower, [s.image for s in test]).flatten(1).double())
        right, whole = {a: [] for a in attributes}, np.ones(len(test), bool)
        for p in POSITIONS:
            for a in attributes:
                truth = torch.tensor([target(s, p, a) for s in test])
                ok = ((kernel @ duals[p, a]).argmax(-1) == truth).numpy()
                present = np.ones(len(test), bool) if a == 'occupied' else (truth > 0).numpy()
                right[a] += list(ok[present]); whole &= ok | ~present
        out[name] = dict(per_object={a: float(np.mean(v)) for a, v in right.items()}, whole_scene=float(whole.mean()), n=n_test)
    return dict(n_train=n_train, ridge=ridge, sets=out)

@torch.no_grad()
def latent_probe(checkpoint:str, n_train:int=2000, n_test:int=400, n_captions:int=200, seed:int=21) -> dict:
    "Where a trained demo loses a held-out pair's shape: ridge probes for shape and colour on the tower's tokens and on the resampler's latents of a `run_demo` checkpoint, fitted on the world's single-object training scenes and scored on its test scenes (training pairs) and its held-out pairs (the 'comp' split); and the checkpoint's captions of two-object scenes of held-out pairs in the world's own renders."
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.pretrain_vision import Ridge, _normalised_pixels, world_image_processor
    from flamingo_mini.world import COLOURS, SHAPES, make_scene
    model, image_processor = FlamingoModel.from_pretrained(checkpoint).eval(), world_image_processor()
    def features(scenes):  # (n, v*d) tower tokens and (n, latents*d) resampled
        x = _normalised_pixels([s.image for s in scenes], image_processor)
        return (model.encode_images(x).last_hidden_state.flatten(1).double(),
                model.get_image_features(pixel_values=x[:, None, None])[:, 0].flatten(1).double())
    train = [make_scene(i, 'train', 1, seed=seed) for i in range(n_train)]
    tests = dict(training_pairs=[make_scene(i, 'test', 1, seed=seed + 1) for i in range(n_test)],
                 held_out_pairs=[make_scene(i, 'comp', 1, seed=seed + 2) for i in range(n_test)])
    fitted, scored = features(train), {k: features(v) for k, v in tests.items()}
    out = {}
    for j, stage in enumerate(('tower_tokens', 'resampler_latents')):
        ridge = Ridge(fitted[j])
        kernels = {name: ridge.kernel(scored[name][j]) for name in tests}
        for attribute, values in (('shape', SHAPES), ('colour', COLOURS)):
            truth = lambda scenes: torch.tensor([values.index(getattr(s.objects[0], attribute)) for s in scenes])
            dual = ridge.dual(truth(train), len(values))
            for name, scenes in tests.items():
                predicted = (kernels[name] @ dual).argmax(-1)
                out.setdefault(stage, {}).setdefault(attribute, {})[name] = float((predicted == truth(scenes)).double().mean())
    from flamingo_mini.demo import caption_accuracy, caption_images
    from flamingo_mini.processor import FlamingoProcessor
    from flamingo_mini.world import scenes_dataset
    two = scenes_dataset(n_captions, 'comp', shapes=2, seed=seed + 3)  # the world's renders: held-out pairs without the centre ranges' render shift
    said = caption_images(model, FlamingoProcessor.from_pretrained(checkpoint), two['image'])
    captions = {k: v for k, v in caption_accuracy(said, two['caption']).items() if k in ('exact', 'colour', 'shape')}
    return dict(checkpoint=Path(checkpoint).name, n_train=n_train, n_test=n_test, **out,
                world_two_held_out_pairs=dict(captions, n=n_captions, examples=list(zip(two['caption'][:3], said[:3]))))

def measure(world:str, n:int) -> dict:
    "Both measures above, the world's text episodes (colour and shape keyed) and never-trained answer words at 0/4/8 shots, caption perplexity."
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from flamingo_mini.core import torch_threads
    from flamingo_mini.pretrain_lm import lm_perplexity, open_vocab_report, text_icl_report, world_answer_sets
    from flamingo_mini.world import world_text
    parts = _parts(world)
    tok, lm = AutoTokenizer.from_pretrained(parts['lm']), AutoModelForCausalLM.from_pretrained(parts['lm']).eval()
    sets = world_answer_sets(tok)
    with torch_threads(2):
        return dict(world=world, pair_prior=pair_prior(lm, tok), third_object=third_object(lm, tok),
                    text_icl_colour=text_icl_report(lm, tok, ks=(0, 4, 8), n=n, key='colour'),
                    text_icl_shape=text_icl_report(lm, tok, ks=(0, 4, 8), n=n, key='shape'),
                    held_out_words=open_vocab_report(lm, tok, sets['train'], ks=(0, 4, 8), n=n, words=sets['held_out_words']),
                    caption_perplexity=dict(
                        train_pairs=lm_perplexity(lm, tok, world_text(300, seed=99, p_episode=0.0, split='test')),
                        held_out_pairs=lm_perplexity(lm, tok, world_text(300, seed=99, p_episode=0.0, split='comp'))))

def demo(world:str, out:str, swap_colours:float=0., seed:int=0, three:int=0) -> dict:
    "`run_demo` (its defaults: 7.5 minutes, two threads) on the world's parts in `world` ('shipped': the package's), its captions' colour words swapped in the text with this chance (`SwappedColours`)."
    import flamingo_mini.pretrain as pretrain
    from flamingo_mini.demo import run_demo
    parts = _parts(world)
    pretrain.build_tiny_world = lambda *a, **k: parts  # run_demo loads its parts through this
    from flamingo_mini.demo import DEMO_LATE
    late = DEMO_LATE | (dict(three=dict(rows=three, batch=8, weight=1.)) if three else {})  # joins with the other late sources
    return run_demo(out, seed=seed, swap_colours=swap_colours, late=late, minutes=7.5, late_weights=None)  # the demo's settings when these runs were made

# the step folders `gather` reads: run -> the LM and the captions' colour swap (`demo --swap`)
RUNS = dict(demo7='version 7 LM (shipped), seed 0', demo7s='version 7 LM, colours swapped (0.3), seed 0',
            demo='version 8 LM, seed 0', demos='version 8 LM, colours swapped (0.3), seed 0',
            demo1='version 8 LM, seed 1', demos1='version 8 LM, colours swapped (0.3), seed 1',
            demo2='version 8 LM, seed 2', demos2='version 8 LM, colours swapped (0.3), seed 2',
            demo3='version 8 LM, three-object scenes (late), seed 0')

def _run(folder:Path, name:str, world:str) -> dict:
    "What the experiments page shows of one `run_demo` report."
    r = json.loads((folder/'report.json').read_text())
    exact = lambda d: {k: v.get('exact', v.get('accuracy')) for k, v in d.items()}
    return dict(name=name, world=world, swap_colours=r.get('swap_colours', 0.), steps=r['steps'], seconds=r['seconds'], captions={k: dict(exact=v['exact'], shape=v['shape'])
                for k, v in r['captions'].items()}, perception=exact(r['perception']),
                perception_examples={k: v['examples'] for k, v in r['perception'].items() if 'examples' in v},
                compositional_examples=r['captions']['compositional']['examples'], digits=r['digits']['accuracy'],
                icl={k: v['accuracy'] for k, v in r['icl'].items()},
                never_trained={k: v['accuracy'] for k, v in r['binding']['held_out_words']['colour'].items()},
                once=dict(mean=r['once']['mean'], worst=r['once']['worst']))

def gather(folder:str, out:str):
    "reports/experiments/lm_v8.json from a folder of this tool's step files."
    folder = Path(folder)
    build = json.loads((folder/'world'/'build.json').read_text())
    runs = [_run(folder/name, name, world) for name, world in RUNS.items() if (folder/name/'report.json').exists()]
    report = dict(what=' '.join(__doc__.split('\n\n')[0].split()), lm_v8=dict(settings_changed=dict(caption_pairs='all', caption_objects=[1, 2, 3]),
                  lm_seconds=build['lm_seconds'], threads=build.get('threads')),
                  tower_probe=json.loads((folder/'probe.json').read_text()), text=json.loads((folder/'text.json').read_text()),
                  latent_probe=json.loads((folder/'latents.json').read_text()),
                  runs=runs, machine='the shared 2-core machine; each demo run alone, two threads (the demo\'s default)')
    Path(out).write_text(json.dumps(report, indent=1))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('cmd', choices=('build', 'probe', 'measure', 'demo', 'latents', 'gather')); ap.add_argument('runs', nargs='*')
    ap.add_argument('--out'); ap.add_argument('--world'); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--n', type=int, default=100)
    ap.add_argument('--swap', type=float, default=0., help='demo: run_demo(swap_colours=)')
    ap.add_argument('--seed', type=int, default=0, help='demo: run_demo(seed=)')
    ap.add_argument('--three', type=int, default=0, help='demo: a late source of this many three-object scenes (centre ranges), 8 a step')
    args = ap.parse_args(argv)
    if args.cmd == 'build': print(json.dumps(build(args.out, args.threads), indent=1))
    elif args.cmd == 'measure':
        Path(args.out).write_text(json.dumps(dict(shipped=measure('shipped', args.n), candidate=measure(args.world, args.n)), indent=1))
    elif args.cmd == 'demo': demo(args.world, args.out, args.swap, args.seed, args.three)
    elif args.cmd == 'gather': gather(args.runs[0], args.out)
    elif args.cmd == 'latents':
        from flamingo_mini.core import torch_threads
        with torch_threads(args.threads): Path(args.out).write_text(json.dumps([latent_probe(r) for r in args.runs], indent=1))
    elif args.cmd == 'probe':
        from flamingo_mini.core import torch_threads
        with torch_threads(args.threads): Path(args.out).write_text(json.dumps(tower_probe(), indent=1))

if __name__ == '__main__': main()
