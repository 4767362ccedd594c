"""Why the first task-family recipe's VQA stayed near 0.55 (issue #21): what the tower's tokens hold, what the frozen LM
carries to the answer, and what Flamingo layers learn from VQA prompts alone with one change at a time.

'The tutorial' in this file is the first recipe (`families.OTHER_RECIPES['first']`), the tutorial's when these
measurements were taken; its run folder is made by `run_families('families-first', **OTHER_RECIPES['first'])`.

Every measurement uses a finished run of it (`families-first/`: its LM, and the shipped tower it
used) and the tutorial's own pieces (`family_example`, `encode_family`, `FamilyEpisodes`, `evaluate_family`,
`DEMO_FLAMINGO`, the demo's optimiser). Parts:

- `tower`: probes on the tower's tokens of VQA scenes (1-3 objects, distinct shapes) for which shapes are present:
  a linear map of each token then the maximum over tokens, and a two-layer MLP of each token then the maximum;
- `lm`: a linear probe on the frozen LM's hidden state at the answer position (`answer:`) of a VQA question, per
  layer, for which shape the question names (on standardised features, so it finds weak directions too); and the
  share of that state's variance, layer-normed as a cross-attention layer's query sees it, that the named shape
  explains, at `answer:` and at the shape word itself;
- `flamingo`: Flamingo layers trained on VQA prompts only (0-4 demonstrations, batch 24) for `--steps` steps, scored at
  4 shots (random demonstrations) on test scenes by kind of question, and on 300 training scenes: `all` (the three
  kinds, as the tutorial), `circle` (only "is there a circle?"), `patches` (all kinds, no resampler: the cross-attention
  reads the tower's tokens, normalised, with the resampler's patch position embeddings), `unfrozen` (all kinds, the LM
  trained too), `near` (all kinds with the answer right after the shape word: '? answer:' left out of every prompt,
  trained and scored so), `mixed` (all kinds, every step a batch of each format, scored on the tutorial's), `oracle`
  (all kinds, the tutorial's format, but the LM's input at `answer:`'s ':' has the named shape's embedding added, so the
  shape is there from the embeddings on: what the layers learn if the LM carried it);
- `facts`: a families LM pretrained (1,800 steps, into `--lm-dir`/facts) on the tutorial's documents of which half are
  VQA prompts whose every question follows its scene written as text (" star red middle. circle blue top. question:
  what colour is the star? answer: red"), a lookup keyed by the named shape in text: its answers to such text
  questions, `lm` on it, and `all` on it;
- `quiz`, `quiz_fast`: the same with `quiz_documents` instead: one to four scenes as facts, each followed by two to six
  distinct questions about it of every kind ("is there" as often about an absent shape as a present one); `quiz_fast`
  with 80% of the documents such and twice the learning rate;
- `deep`, `deep_facts`: a four-layer families LM (the tutorial's documents, 600 steps; and half fact documents, 1,200
  steps), to tell depth from what the LM is taught (`LM_VARIANTS` has each LM's settings);
- `quiz_600_mixed`, `quiz_1200_mixed`: quiz LMs of 600 and 1,200 steps (80% quizzes, twice the rate), each with
  `mixed` for 2,000 steps: how few LM steps the carry needs;
- `long:oracle`, `long:quiz`, `long:quiz_6000`, `long:quiz_mixed`: `oracle` on the tutorial's LM, and `all` (4,000 and
  6,000 steps) and `mixed` (2,000 steps) on the `quiz` part's LM (`LONG`): whether the plateau the 1,600-step runs sit
  on ends, and whether prompts in the `near` format, trained beside the tutorial's, end it sooner on an LM that
  carries the shape.
- `quiz_grouped`, `quiz_cue`, `long:cue_all`, `plain_cue`: the LM recipe the tutorial's `families.FAMILIES_RECIPE` took from these parts
  (half quizzes, 1,800 steps, batches regrouped by length), without and with the one-token cue
  (`families.ANSWER_CUE`), each with `mixed` for 2,000 steps, and `all` for 2,000 steps on the cued LM (`long:cue_all`, after `quiz_cue`); and the cue
  on the tutorial's documents alone (600 steps, no quizzes), with `all`.

    python tools/families_lookup.py --run families-first --out reports/experiments/families_vqa_lookup.json   # every part: hours; each LM part ~15-45 min

The report is rendered on the families page (nbs/26_families).
"""
from __future__ import annotations
import argparse, json, time
from contextlib import contextmanager
from pathlib import Path

VARIANTS = ('all', 'circle', 'patches', 'unfrozen', 'near', 'mixed', 'oracle')

def _scenes(n:int, split:str, only:str|None=None, seed:int=0) -> list[dict]:
    "`n` VQA examples of `split` (those whose question contains `only`, when given)."
    from flamingo_mini.tasks import vqa_example
    if only is None: return [vqa_example(i, split=split, seed=seed) for i in range(n)]
    out, i = [], 0
    while len(out) < n:
        e = vqa_example(i, split=split, seed=seed); i += 1
        if only in e['question']: out.append(e)
    return out

def _model(run:Path, **config):
    from flamingo_mini.demo import DEMO_FLAMINGO
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    from flamingo_mini.world import shipped_world_dir
    vision = str(shipped_world_dir()/'vision')
    return (FlamingoModel.from_pretrained_parts(str(run/'lm'), vision, **(DEMO_FLAMINGO | config)),
            FlamingoProcessor.from_pretrained_parts(str(run/'lm'), vision))

def _fit_probe(probe, x, y, steps:int, loss_fn, lr:float=1e-3, batch:int|None=128):
    "Adam on `loss_fn(probe(x), y)`: minibatches of `batch` rows (None: the whole set each step)."
    import torch
    opt, g = torch.optim.Adam(probe.parameters(), lr), torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(len(x), (batch,), generator=g) if batch else slice(None)
        loss = loss_fn(probe(x[idx]), y[idx]); opt.zero_grad(); loss.backward(); opt.step()
    return probe

def tower_probe(run:Path, n_train:int=6000, n_test:int=1000) -> dict:
    "Per-shape presence from the tower's tokens: accuracy per (scene, shape) and scenes with all six right."
    import torch
    from torch import nn
    from flamingo_mini.families import encode_family
    from flamingo_mini.tasks import SHAPES
    torch.manual_seed(0)
    model, processor = _model(run)
    def data(split, n):
        ex = _scenes(n, split)
        x = torch.stack(encode_family(model, processor, 'vqa', ex)[0])
        y = torch.tensor([[float(any(o == s for o in e['caption'].replace(',', ' ').split())) for s in SHAPES] for e in ex])
        return x, y
    (xtr, ytr), (xte, yte) = data('train', n_train), data('test', n_test)
    d, k = xtr.shape[-1], len(SHAPES)
    class MaxOverTokens(nn.Module):  # a score per shape from each token, then the largest over the image's tokens
        def __init__(self, body): super().__init__(); self.body = body
        def forward(self, x): return self.body(x).max(1).values
    probes = dict(linear_max=nn.Sequential(nn.LayerNorm(d), nn.Linear(d, k)),
                  mlp_max=nn.Sequential(nn.Linear(d, 256), nn.GELU(), nn.Linear(256, k)))
    out = dict(present_share=round(ytr.mean().item(), 3), train=n_train, test=n_test)
    for name, body in probes.items():
        probe = _fit_probe(MaxOverTokens(body), xtr, ytr, 1500, nn.functional.binary_cross_entropy_with_logits)
        with torch.no_grad(): right = (probe(xte) > 0).float() == yte
        out[name] = dict(per_shape=round(right.float().mean().item(), 3), all_six=round(right.all(1).float().mean().item(), 3))
    return out

def lm_probe(run:Path, n:int=1500, n_train:int=1000) -> dict:
    "Which shape a question names, read linearly from the LM's hidden state at `answer:`, per layer (0: embeddings)."
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel
    from flamingo_mini.tasks import SHAPES, VQA_TEMPLATE
    torch.manual_seed(0)
    lm, tok = GPT2LMHeadModel.from_pretrained(run/'lm').eval(), AutoTokenizer.from_pretrained(run/'lm')
    states, at_word, labels = None, None, []
    for e in _scenes(n, 'train'):
        shape = e['question'].rstrip('?').split()[-1]
        ids = tok(VQA_TEMPLATE.format(question=e['question']), return_tensors='pt').input_ids
        word = (ids[0] == tok.convert_tokens_to_ids(tok.tokenize(' ' + shape))[0]).nonzero()[-1, 0]  # the shape word's token
        with torch.no_grad(): hs = lm(ids, output_hidden_states=True).hidden_states
        states = [[] for _ in hs] if states is None else states
        at_word = [[] for _ in hs] if at_word is None else at_word
        for layer, h in enumerate(hs): states[layer].append(h[0, -1]); at_word[layer].append(h[0, word])
        labels.append(SHAPES.index(shape))
    y, out = torch.tensor(labels), {}
    for layer, rows in enumerate(states):
        x = torch.stack(rows); x = (x - x.mean(0)) / x.std(0).clamp(min=1e-6)
        probe = _fit_probe(torch.nn.Linear(x.shape[1], len(SHAPES)), x[:n_train], y[:n_train], 300,
                           torch.nn.functional.cross_entropy, lr=1e-2, batch=None)
        with torch.no_grad(): out[layer] = round((probe(x[n_train:]).argmax(1) == y[n_train:]).float().mean().item(), 3)
    share = lambda rows: {layer: _shape_share(torch.stack(r), y) for layer, r in enumerate(rows)}
    return dict(accuracy_by_layer=out, chance=round(1 / len(SHAPES), 3), train=n_train, test=n - n_train,
                shape_share_by_layer=share(states), shape_share_at_word=share(at_word))

def _shape_share(x, y) -> float:
    "The share of the rows' variance, after the layer norm a cross-attention layer applies, that the named shape explains."
    import torch
    x = torch.nn.functional.layer_norm(x, x.shape[-1:])
    classes = y.unique()
    means = torch.stack([x[y == c].mean(0) for c in classes]) - x.mean(0)
    weights = torch.stack([(y == c).float().mean() for c in classes])
    return round(float((weights[:, None] * means ** 2).sum() / x.var(0, unbiased=False).sum()), 4)

NEAR_TEMPLATE = ' question: {question}'  # `near`: the answer follows the question's last word, the shape

@contextmanager
def _vqa_template(template:str|None):
    "`tasks.VQA_TEMPLATE` set to `template` inside (None: left alone), which `task_prompt` reads when it writes a prompt."
    import flamingo_mini.tasks as tasks
    kept = tasks.VQA_TEMPLATE
    if template is not None: tasks.VQA_TEMPLATE = template
    try: yield
    finally: tasks.VQA_TEMPLATE = kept

def flamingo_run(run:Path, variant:str, steps:int, seed:int=0, pool_size:int=20000, n_eval:int=300) -> dict:
    "Flamingo layers trained on VQA prompts only with one change (`VARIANTS`); scores at 4 shots every quarter of the steps."
    import torch
    from einops import rearrange
    from flamingo_mini.demo import _demo_config
    from flamingo_mini.families import FamilyEpisodes, encode_family, evaluate_family
    from flamingo_mini.features import FeatureCollator
    from flamingo_mini.train import Learner
    if variant not in VARIANTS: raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    only = 'is there a circle' if variant == 'circle' else None
    pool = _scenes(pool_size if only is None else pool_size // 6, 'train', only)
    queries = _scenes(n_eval, 'test', only)
    torch.manual_seed(seed)
    config = dict(resampler_num_latents=65) if variant == 'patches' else {}
    config |= dict(freeze_language_model=False) if variant == 'unfrozen' else {}
    model, processor = _model(run, **config)
    if variant == 'patches':  # no resampler: its output is the tower's tokens with patch position embeddings, normalised
        resampler = model.resampler
        def tokens(x, return_attn=False):
            if x.ndim == 4: x = rearrange(x, 'b t v d -> b t 1 v d')
            out = resampler.norm(rearrange(x + resampler.patch_pos_emb[:x.shape[3]], 'b t f v d -> b t (f v) d'))
            return (out, []) if return_attn else out
        resampler.forward = tokens
    if variant == 'oracle': _shape_at_answer(model, processor.tokenizer)
    features, query_features = encode_family(model, processor, 'vqa', pool), encode_family(model, processor, 'vqa', queries)
    train_queries, train_features = pool[:n_eval], (features[0][:n_eval], features[1][:n_eval])
    if variant == 'near':  # the questions lose their '?' and the template its 'answer:' (`families.near_text`'s format)
        pool, queries, train_queries = ([dict(e, question=e['question'].rstrip('?')) for e in x] for x in (pool, queries, train_queries))
    collate = FeatureCollator(processor, texts_column='texts', images_column='image_features')
    sources = {'vqa': (FamilyEpisodes('vqa', pool, features[0], range(0, 5), seed=seed), collate, 24)}
    if variant == 'mixed': sources['near'] = (FamilyEpisodes('vqa', pool, features[0], range(0, 5), seed=seed + 1, near=True), collate, 24)
    learn = Learner(model, sources, _demo_config(steps, seed, 100))
    curve, start = [], time.time()
    with _vqa_template(NEAR_TEMPLATE if variant == 'near' else None):
        for stop in range(steps // 4, steps + 1, steps // 4):
            learn.fit(steps=stop - learn.step, progress=False)
            model.eval()
            point = dict(step=stop, loss=round(learn.history[-1]['loss'], 4))
            for split, q, f in (('test', queries, query_features), ('train', train_queries, train_features)):
                r = evaluate_family(model, processor, 'vqa', q, f, pool, features, (4,), seed=seed)[4]
                point[split] = dict(vqa_accuracy=round(r['vqa_accuracy'], 3), by_kind={k: round(v, 3) for k, v in r['by_kind'].items()})
            curve.append(point)
            model.train()
    return dict(variant=variant, steps=steps, pool=len(pool), queries=len(queries), seconds=round(time.time() - start),
                trainable=sum(p.numel() for p in model.parameters() if p.requires_grad), curve=curve)

def _shape_at_answer(model, tokenizer):
    "`oracle`: the LM's input at the ':' of every `answer:` gets the named shape's token embedding added (the shape is three tokens before it: 'star ? answer :'), so every layer there sees the shape."
    answer, colon = (tokenizer.convert_tokens_to_ids(tokenizer.tokenize(t))[0] for t in (' answer', ':'))
    def hook(module, inputs, out):
        ids = inputs[0]
        rows, at = ((ids[:, 2:-1] == answer) & (ids[:, 3:] == colon)).nonzero(as_tuple=True)  # `at`: the shape's position
        if len(rows) == 0: return out
        out = out.clone(); out[rows, at + 3] = out[rows, at + 3] + out[rows, at]
        return out
    model.get_input_embeddings().register_forward_hook(hook)

def _with_share(share:float, stream:int, write):
    "A `family_documents` whose documents are, in `share` of them, `write(rng, pools)` instead (`rng` seeded by `stream`)."
    import numpy as np
    from flamingo_mini.families import family_documents
    def documents(pools, n, ks=range(0, 37), seed=0):
        rng = np.random.default_rng([seed, stream])
        for d in family_documents(pools, n, ks, seed): yield d if rng.random() >= share else write(rng, pools)
    return documents

def fact_documents(share:float):
    "A `family_documents` that writes, in `share` of its documents, VQA prompts whose every question follows its scene as facts."
    from flamingo_mini.families import EOC_TOKEN, scene_facts
    def write(rng, pools):
        vqa = pools['vqa']
        return ''.join(f"{scene_facts(vqa[j])} question: {vqa[j]['question']} answer: {vqa[j]['answers'][0]}{EOC_TOKEN}"
                       for j in rng.choice(len(vqa), int(rng.integers(0, 9)) + 1, replace=False))
    return _with_share(share, 11, write)

def quiz_documents(share:float):
    "The library's `family_documents` with `share` of its documents quizzes (`families.quiz_text`: one to four VQA scenes as facts, each followed by two to six questions about it)."
    from functools import partial
    from flamingo_mini.families import family_documents
    return partial(family_documents, quiz_share=share)

LM_VARIANTS = dict(  # the LMs the `facts`, `quiz` and `deep*` parts pretrain: documents, their share, steps, layers, rate
    facts=dict(documents='facts', share=0.5, lm_steps=1800, n_layer=2, lr=1e-3),
    quiz=dict(documents='quiz', share=0.5, lm_steps=1800, n_layer=2, lr=1e-3),
    quiz_fast=dict(documents='quiz', share=0.8, lm_steps=1800, n_layer=2, lr=2e-3),
    deep=dict(documents='plain', share=0., lm_steps=600, n_layer=4, lr=1e-3),
    deep_facts=dict(documents='facts', share=0.5, lm_steps=1200, n_layer=4, lr=1e-3),
    # shorter quiz LMs, and on each the `mixed` variant for 2,000 steps: how few LM steps the carry needs
    quiz_600_mixed=dict(documents='quiz', share=0.8, lm_steps=600, n_layer=2, lr=2e-3, variant='mixed', steps=2000),
    quiz_1200_mixed=dict(documents='quiz', share=0.8, lm_steps=1200, n_layer=2, lr=2e-3, variant='mixed', steps=2000),
    # the tutorial's LM recipe (batches grouped by length, twice the steps a second), without and with the one-token cue
    # ('? answer:'), each with `mixed` for 2,000 steps; and the cue on the plain documents
    quiz_grouped=dict(documents='quiz', share=0.5, lm_steps=1800, n_layer=2, lr=1e-3, group=8, variant='mixed', steps=2000),
    quiz_cue=dict(documents='quiz', share=0.5, lm_steps=1800, n_layer=2, lr=1e-3, group=8, cue=True, variant='mixed', steps=2000),
    plain_cue=dict(documents='plain', share=0., lm_steps=600, n_layer=2, lr=1e-3, group=8, cue=True))

LONG = dict(oracle=('oracle', None, 4000), quiz=('all', 'quiz', 4000), quiz_6000=('all', 'quiz', 6000),  # `long`'s runs:
            quiz_mixed=('mixed', 'quiz', 2000), cue_all=('all', 'quiz_cue', 2000))  # (variant, LM part or None for the tutorial's LM, steps)

def lm_variant_run(run:Path, out:Path, documents:str='facts', share:float=0.5, lm_steps:int=1800, n_layer:int=2,
                   lr:float=1e-3, steps:int=1600, variant:str='all', seed:int=0,
                   group:int=1, # LM batches regrouped by length (1: as drawn, as the first parts' LMs were trained)
                   cue:bool=False) -> dict: # the tokenizer makes '? answer:' one token (`families.ANSWER_CUE`)
    "A families LM pretrained on the tutorial's documents (`plain`) or with `share` of them `facts` or `quiz` documents, into `out`/lm: its text lookup (and `run`'s LM's), `lm_probe`, and `flamingo_run`'s `variant` on it."
    from flamingo_mini.families import (ANSWER_CUE, FAMILIES_RECIPE, OTHER_RECIPES, family_documents, family_pools,
                                        family_tokenizer, pretrain_family_lm)
    started, r = time.time(), FAMILIES_RECIPE | OTHER_RECIPES['first']  # its three families' pools (the LM fields are the parts')
    pools = family_pools(r['pool'], 'train', seed)
    writer = dict(plain=lambda share: family_documents, facts=fact_documents, quiz=quiz_documents)[documents](share)
    tokenizer = family_tokenizer(pools, seed=seed, documents=writer, cue=ANSWER_CUE if cue else None)
    lm = pretrain_family_lm(tokenizer, pools, lm_steps, ks=r['lm_ks'], lr=lr, seed=seed, threads=None, log_every=300,
                            documents=writer, group=group, n_layer=n_layer)
    (out/'lm').mkdir(parents=True, exist_ok=True); lm.save_pretrained(out/'lm'); tokenizer.save_pretrained(out/'lm')
    lm_seconds = round(time.time() - started)
    return dict(documents=documents, share=share, lm_steps=lm_steps, n_layer=n_layer, lr=lr, group=group, cue=cue, lm_seconds=lm_seconds,
                text_lookup=_text_lookup(out/'lm'), tutorial_text_lookup=_text_lookup(run/'lm'), lm=lm_probe(out),
                flamingo=flamingo_run(out, variant, steps, seed))

def _text_lookup(folder:Path, n:int=300) -> dict:
    "How often the LM in `folder` answers a test VQA question asked after its scene written as facts, by kind."
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel
    from flamingo_mini.families import scene_facts
    lm, tokenizer, by_kind = GPT2LMHeadModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder), {}
    for q in _scenes(n, 'test'):  # the scene as facts, then the question; the LM's next word
        ids = tokenizer(scene_facts(q) + f" question: {q['question']} answer:", return_tensors='pt').input_ids
        with torch.no_grad(): word = tokenizer.decode([lm(ids).logits[0, -1].argmax().item()]).strip()
        by_kind.setdefault(q['kind'], []).append(word == q['answers'][0])
    return {k: round(sum(v) / len(v), 3) for k, v in by_kind.items()}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--run', default='families-first', help="a finished run of the first recipe (its lm/): `run_families('families-first', **OTHER_RECIPES['first'])`")
    p.add_argument('--out', default='reports/experiments/families_vqa_lookup.json')
    p.add_argument('--parts', default='tower,lm,' + ','.join(VARIANTS + tuple(LM_VARIANTS)) + ''.join(f',long:{name}' for name in LONG),
                   help='which parts to run, comma-separated (`long:NAME`: a `LONG` run)')
    p.add_argument('--steps', type=int, default=1600)
    p.add_argument('--lm-dir', default='families-lms', help="where the LM parts (`facts`, `quiz`, ...) write their LMs, each in a folder of its name")
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    run, out = Path(args.run), Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update(what=__doc__.split('\n\n')[0].replace('\n', ' '), script='tools/families_lookup.py', run=str(run),
                  threads=args.threads)
    report.setdefault('flamingo', {})
    for part in args.parts.split(','):
        started = time.time()
        if part == 'tower': report['tower'] = tower_probe(run)
        elif part == 'lm': report['lm'] = lm_probe(run)
        elif part in LM_VARIANTS: report[part] = lm_variant_run(run, Path(args.lm_dir)/part, **(dict(steps=args.steps) | LM_VARIANTS[part]))
        elif part.startswith('long:') and part[5:] in LONG:  # a longer run of a variant, on the tutorial's LM or on an LM part's (run that part first)
            variant, lm_part, steps = LONG[part[5:]]
            report.setdefault('long', {})[part[5:]] = flamingo_run(Path(args.lm_dir)/lm_part if lm_part else run, variant, steps)
        else: report['flamingo'][part] = flamingo_run(run, part, args.steps)
        done = report['long'][part[5:]] if part.startswith('long:') else report.get(part) or report['flamingo'][part]
        print(part, round(time.time() - started), 's', json.dumps(done)[:400], flush=True)
        out.write_text(json.dumps(report, indent=1))

if __name__ == '__main__': main()
