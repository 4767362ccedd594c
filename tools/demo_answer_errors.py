"""What the demo's checkpoint answers when it misses a never-trained word (issue #21): the world's last four words
(one token each for the world's tokenizer) against the never-trained made words (mostly spelled out letter by letter),
colour-keyed episodes at 4 and 8 demonstrations on test renders, each wrong answer put in one class:

- `shown`: another demonstration's word (the binding picked the wrong image);
- `nothing`: 'nothing' or a beginning of it ('not', 'noti', ...): the empty scenes' caption, a late render source;
- `frequent`: one of the 20 most frequent answers of the run's training draw (its Zipfian head);
- `other`: anything else (a syllable, a spelled fragment).

Variants of `run_demo` (each in its own 7.5-minute budget, so their steps differ with the machine):

- `default`: `run_demo()` as `make demo` ran it before the mixed pool (on `tasks.OPEN_WORDS`);
- `empty_half`: the late empty-scene source at half its batch (2 rows a step instead of 4);
- `one_token_spread`: the open pool's one-token answers (the world's twelve trained words, ranks 1-12 of the
  Zipfian draw, about 30% of all draws) moved to ranks 20-2000, with 25 more one-token words of the world's text
  (shape, size and place words, 'the', 'and', ...; no colour, not 'a') among them.
- `attribute_head`: the world's twelve trained words stay at ranks 1-12, and the world's fourteen one-token
  attribute words (its six shapes, two sizes and five places, and 'digit'; no colour, the key) follow them at ranks
  13-26, so that one-token answers other than the twelve are drawn often;
- `attribute_head_closed`: `attribute_head`, and the 20,000 fresh words of the tail may end in a consonant (58%
  of them do), as three of the world's last four do, where the made words all end in a vowel: the library's
  `tasks.MIXED_WORDS`, the demo's pool after this experiment;
- `any_pool`: the mixed pool's head, and a tail of words of several kinds (made words of one to four syllables, random
  letters, numbers, a tenth capitalised): `tasks.ANY_WORDS`, from the first step;
- `any_late`: the mixed pool until in-context binding forms, the any pool from the join on (`run_demo(late_words='any')`,
  `demo.DEMO_LATE_WORDS`), with four sixteen-demonstration episodes a step (`long_batch=4`): the demo's defaults from
  this experiment until `long_8`;
- `once_all`: `any_late` with every sixteen-demonstration episode showing the query's value once (`p_once=1` in
  `demo.DEMO_LONG_EPISODES`, where the demo has 0.5);
- `long_8`: `any_late` with eight sixteen-demonstration episodes a step (`run_demo(long_batch=8)`): the demo's defaults
  from this experiment until `near_half_w2`.
- `once_near`: `long_8` with half of the once-shown sixteen-demonstration episodes showing it in the last four places,
  next to the query (`once_near=0.5` in `demo.DEMO_LONG_EPISODES`, where the demo has 0);
- `near_quarter`: `once_near` with a quarter instead of half (`once_near=0.25`);
- `long_w2`: `long_8` with the sixteen-demonstration source's loss weight doubled (`run_demo(weights=dict(long=2.))`):
  the same steps and batches, the same time;
- `near_quarter_w2`: both, `once_near=0.25` and the long source's weight doubled;
- `near_half_w2`: `once_near=0.5` and the long source's weight doubled: the demo's defaults since this experiment;
- `near_3q_w2` and `near_all_w2`: `near_half_w2` with three quarters and with all of the once-shown demonstrations drawn
  from the last four places (`once_near` 0.75 and 1);
- `near_half_w2_kin`: `near_half_w2` with a quarter of the episodes of both sources drawing their words so that all begin
  with the query's word's first character (`FeatureEpisodes(p_kin=0.25)`): first tokens that agree, as the numbers'
  often do in `once_kinds`, where the right first digit was followed by another number's next one;
- `near_far_w2_kin`: `near_half_w2_kin` with half of the once-shown sixteen-demonstration episodes not drawn near the
  query drawing it from the first four places instead (`once_far=0.5` in `demo.DEMO_LONG_EPISODES`): `near_half_w2_kin`
  missed most at the first places.

Every variant pins its sixteen-demonstration episodes and the long source's weight, so that the demo's later changes to
those two leave its run as it was.

`kinds` measures never-trained answer words of other kinds than the made ones (`tasks.WORD_KINDS`: English nouns,
capitalised names, numbers, random letters, made words of five or six syllables) per run, and the frozen LM alone on
them in text.
`once_text` adds the frozen LM alone, in text, on a key shown once among 16 demonstrations at each position.
`once_kinds` asks the once-shown demonstration with each kind's words, of the shipped demo's layers (or any
checkpoint), and the frozen LM alone the same in text.

The variants from `attribute_head` on run with fixed steps (`run_demo`'s default since c1fe5ff) and take `--seed`.

    python tools/demo_answer_errors.py train one_token_spread ../runs/one_token_spread
    python tools/demo_answer_errors.py train attribute_head ../runs/attribute_head --seed 1
    python tools/demo_answer_errors.py probe --out reports/experiments/demo_answer_errors.json default=flamingo-demo ...
    python tools/demo_answer_errors.py probe --add --out reports/experiments/demo_one_token.json attribute_head:seed1=../runs/... ...
    python tools/demo_answer_errors.py text --out reports/experiments/demo_one_token.json
    python tools/demo_answer_errors.py kinds --out reports/experiments/demo_word_kinds.json mixed=../runs/... any_pool:seed1=../runs/...
    python tools/demo_answer_errors.py train long_8 ../runs/long_8 --seed 1
    python tools/demo_answer_errors.py kinds --out reports/experiments/demo_long_batch.json long_8=../runs/... once_all=../runs/...
    python tools/demo_answer_errors.py once_text --out reports/experiments/demo_long_batch.json
    python tools/demo_answer_errors.py once_kinds --out reports/experiments/demo_once_kinds.json shipped=flamingo_mini/tiny_world/demo before=FOLDER
    python tools/demo_answer_errors.py once_kinds --out reports/experiments/demo_once_near.json once_near=../runs/once_near
    python tools/demo_answer_errors.py train near_half_w2 ../runs/near_half_w2 --seed 1
    python tools/demo_answer_errors.py once_kinds --out reports/experiments/demo_once_recipes.json long_8=../runs/long_8 ...
    python tools/demo_answer_errors.py train near_3q_w2 ../runs/near_3q_w2 --seed 1
    python tools/demo_answer_errors.py once_kinds --out reports/experiments/demo_once_near_more.json near_3q_w2=../runs/... near_3q_w2:seed1=../runs/... ...
    python tools/demo_answer_errors.py train near_half_w2_kin ../runs/near_half_w2_kin --seed 1
    python tools/demo_answer_errors.py once_kinds --out reports/experiments/demo_once_kin.json near_half_w2_kin=../runs/... ...
    python tools/demo_answer_errors.py train near_far_w2_kin ../runs/near_far_w2_kin --seed 1
"""
from __future__ import annotations
import argparse, json
from pathlib import Path
import numpy as np

# the variants on the any pool from the join with eight sixteen-demonstration episodes a step: (`once_near`, the long
# source's loss weight) of each
LONG_8_VARIANTS = dict(long_8=(0., 1.), once_near=(0.5, 1.), long_w2=(0., 2.), near_quarter=(0.25, 1.), near_quarter_w2=(0.25, 2.),
                       near_half_w2=(0.5, 2.), near_3q_w2=(0.75, 2.), near_all_w2=(1., 2.))
# variants that add episodes whose words all begin alike (`FeatureEpisodes(p_kin=)`, to both episode sources) to one of those: (that variant,
# p_kin, the long source's `once_far`)
KIN_VARIANTS = dict(near_half_w2_kin=('near_half_w2', 0.25, 0.), near_far_w2_kin=('near_half_w2', 0.25, 0.5))
VARIANTS = ('default', 'empty_half', 'one_token_spread', 'attribute_head', 'attribute_head_closed', 'any_pool', 'any_late', 'once_all', *LONG_8_VARIANTS, *KIN_VARIANTS)
ONE_TOKEN_TERMS = ('circle', 'square', 'triangle', 'star', 'cross', 'diamond', 'small', 'big', 'left', 'right', 'top', 'bottom',
                   'middle', 'the', 'and', 'at', 'in', 'on', 'to', 'digit', 'b', 'd', 's', 't', 'z')


def variant_pool(variant:str) -> tuple[str, ...]:
    "The open answer pool a variant trains on, in its Zipfian order."
    from flamingo_mini.tasks import OPEN_WORDS, WORDS, MIXED_WORDS, ATTRIBUTE_ANSWERS, ANY_WORDS
    if variant in ('any_pool', 'any_late', 'once_all', *LONG_8_VARIANTS, *KIN_VARIANTS): return tuple(ANY_WORDS)  # any_late's (and those after it) from the join on
    if variant == 'attribute_head': return tuple(OPEN_WORDS)[:12] + ATTRIBUTE_ANSWERS + tuple(OPEN_WORDS)[12:]
    if variant == 'attribute_head_closed': return tuple(MIXED_WORDS)  # the library's pool since this experiment
    if variant != 'one_token_spread': return tuple(OPEN_WORDS)
    one_token = [w for w in OPEN_WORDS if w in WORDS] + list(ONE_TOKEN_TERMS)
    rest = [w for w in OPEN_WORDS if w not in one_token]
    ranks = sorted(set(np.geomspace(20, 2000, len(one_token)).astype(int)))
    for word, at in zip(np.random.default_rng(5).permutation(one_token), ranks): rest.insert(at, str(word))
    return tuple(rest)


def train(variant:str, out:str, seed:int=0):
    "Run the demo's job with a variant's change into `out`."
    from flamingo_mini import demo, tasks
    from flamingo_mini.demo import DEMO_LATE, run_demo
    if variant not in VARIANTS: raise SystemExit(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    late = DEMO_LATE | (dict(empty=dict(rows=1000, batch=2, weight=1.)) if variant == 'empty_half' else {})
    # each variant's sixteen-demonstration episodes and the long source's loss weight, pinned, so that the demo's later
    # changes to those two leave its run as it was (`training_sources` reads `DEMO_LONG_EPISODES` when the run starts)
    base, p_kin, once_far = KIN_VARIANTS.get(variant, (variant, 0., 0.))
    once_near, weight = LONG_8_VARIANTS.get(base, (0., 1.))
    demo.DEMO_LONG_EPISODES = dict(ks=(16,), p_once=1. if variant == 'once_all' else 0.5, once_near=once_near) | (dict(once_far=once_far) if once_far else {})
    pinned = dict(late=late, seed=seed, weights=dict(long=weight))
    # p_kin pinned as well (the demo's default since `near_far_w2_kin`)
    if variant in (*KIN_VARIANTS, *LONG_8_VARIANTS): return run_demo(out, long_batch=8, episodes=dict(p_kin=p_kin), **pinned)
    # the variants before long_8 trained four sixteen-demonstration episodes a step, the demo's default until then
    if variant in ('any_late', 'once_all'): return run_demo(out, long_batch=4, episodes=dict(p_kin=0.), **pinned)
    # the others keep one pool for the whole run (`late_words=None`), as every run did before `DEMO_LATE_WORDS`
    if variant == 'any_pool': return run_demo(out, episodes=dict(words='any', p_kin=0.), late_words=None, long_batch=4, **pinned)
    tasks.WORD_POOLS['open'] = variant_pool(variant)  # the episodes read the pool by name when the run starts
    run_demo(out, episodes=dict(words='open', p_kin=0.), late_words=None, long_batch=4, **pinned)  # the variant's pool under the name 'open' (the demo's own is 'mixed' now)


def classify(prediction:str, answer:str, shown:set[str], head:set[str]) -> str:
    if prediction == answer: return 'right'
    if prediction in shown: return 'shown'
    if len(prediction) >= 3 and 'nothing'.startswith(prediction): return 'nothing'
    if prediction in head: return 'frequent'
    return 'other'


def measures(saved:dict) -> dict:
    "A run's own report, in short: what the variants change beside the never-trained words."
    c, p, b = saved['captions'], saved['perception'], saved['binding']
    return dict(captions={name: c[name]['exact'] for name in ('single', 'double', 'compositional')}, digits=saved['digits']['accuracy'],
                perception={name: r.get('exact', r.get('accuracy')) for name, r in p.items()},
                icl={k: r['accuracy'] for k, r in saved['icl'].items()},
                held_out_words={k: r['accuracy'] for k, r in b['held_out_words']['colour'].items()},
                held_out_world_words={k: r['accuracy'] for k, r in b['held_out_world_words']['colour'].items()},
                once={k: saved['once'][k] for k in ('mean', 'worst', 'n_per_position', 'by_position') if k in saved['once']} | dict(design=saved['once'].get('design', 'fresh')),
                join=saved['late']['step'], join_by=saved['late']['by']) | ({} if 'word_kinds' not in saved else
                dict(word_kinds={kind: {k: r['accuracy'] for k, r in by_k.items()} for kind, by_k in saved['word_kinds'].items()}))


def shipped_lm() -> tuple:
    "The shipped tiny world's LM (in eval mode), its tokenizer, and its answer sets (`world_answer_sets`)."
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from flamingo_mini.pretrain_lm import world_answer_sets
    from flamingo_mini.world import shipped_world_dir
    folder = shipped_world_dir()/'lm'
    lm, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    return lm, tokenizer, world_answer_sets(tokenizer)


def lm_copies(pools:dict, n:int) -> dict:
    "The shipped LM alone on its own text episodes (`open_vocab_report`, colour words as keys) with each pool's words as the answers: {name: by k}."
    from flamingo_mini.pretrain_lm import _word_ids, open_vocab_report
    lm, tokenizer, sets = shipped_lm()
    return {name: open_vocab_report(lm, tokenizer, sets['train'], ks=(4, 8), n=n, keys=[sets['keys']['colour']],
                                    words=[_word_ids(tokenizer, w) for w in words]) for name, words in pools.items()}


def lm_once(words, n:int, loaded:tuple|None=None) -> dict:
    "The shipped LM alone on its own text episodes (colour words as keys), the query's key shown once among 16 demonstrations at each position, the answers `words`: {position: `open_vocab_report`'s row}."
    from flamingo_mini.pretrain_lm import _word_ids, open_vocab_report
    lm, tokenizer, sets = loaded or shipped_lm()  # `shipped_lm()`'s triple, loaded once by a caller that asks several pools
    ids = [_word_ids(tokenizer, w) for w in words]
    return {at + 1: open_vocab_report(lm, tokenizer, sets['train'], ks=(16,), n=n, keys=[sets['keys']['colour']], words=ids, once_at=at)[16]
            for at in range(16)}


def load_run(folder:str) -> tuple:
    "A run's model (in eval mode) and processor: a `make demo` checkpoint folder, or a folder of trained layers as `world.ship_demo` writes them (on the shipped tiny world)."
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    from flamingo_mini.world import demo_model, demo_processor
    if (Path(folder)/'demo.json').is_file(): return demo_model(folder), demo_processor()
    return FlamingoModel.from_pretrained(folder).eval(), FlamingoProcessor.from_pretrained(folder)


def answers(model, processor, words:str, k:int, n:int, max_new_tokens:int) -> tuple[list[dict], list[str]]:
    "`n` colour-keyed evaluation episodes of `k` demonstrations with answers from the pool `words` (test renders, the probes' seed) and the model's first word for each."
    from flamingo_mini.demo import _episode_rows
    from flamingo_mini.evaluate import evaluate_episodes
    from flamingo_mini.tasks import binding_episode
    episodes = [binding_episode(i, k, 'colour', mode='eval', words=words, split='test', seed=2000) for i in range(n)]
    rows = evaluate_episodes(model, processor, _episode_rows(episodes), batch_size=32, verbose=False, max_new_tokens=max_new_tokens, keep_predictions=True)
    return episodes, rows[0]['predictions']


def kinds(runs:dict[str, str], n:int, out:str, add:bool=False):
    "Each run's in-context accuracy with never-trained answer words of other kinds (`tasks.WORD_KINDS`), and with the demo's own never-trained words (the world's last four, the 56 `HELD_OUT_WORDS`), at 4 and 8 demonstrations, with wrong answers; write the JSON."
    import torch
    from flamingo_mini.demo import WORD_KIND_TITLES
    from flamingo_mini.tasks import WORD_KINDS
    torch.set_num_threads(2)
    report = dict(what=('in-context binding (colour key, test renders) with never-trained answer words of other kinds than the made ones '
                        '(tasks.WORD_KINDS), at 4 and 8 demonstrations'), script='tools/demo_answer_errors.py kinds', n=n,
                  kinds={kind: dict(title=WORD_KIND_TITLES[kind], examples=list(WORD_KINDS[kind][:6])) for kind in WORD_KINDS}, runs={})
    if add and Path(out).exists():
        kept = json.loads(Path(out).read_text())
        if kept['n'] != n: raise SystemExit(f"{out} probed {kept['n']} episodes a cell, not {n}")
        report['runs'] = kept['runs']
    report['text'] = dict(what="the shipped LM alone on its own text episodes (colour words as keys, open_vocab_report), the answers one kind's words",
                          n=n, kinds=lm_copies(WORD_KINDS, n))
    for name, folder in runs.items():
        model, processor = load_run(folder)
        saved = json.loads((Path(folder)/'report.json').read_text())
        run = dict(variant=name.split(':')[0], words=saved.get('episodes', {}).get('words'), steps=saved['steps'], seconds=saved['seconds'],
                   long_batch=saved.get('episodes', {}).get('long', {}).get('batch'), measures=measures(saved), kinds={})  # None: a report from before the long source
        pools = {kind: f'kind_{kind}' for kind in WORD_KINDS} | dict(world_last_four='world_held_out', made='held_out')  # and the demo's own never-trained words
        for kind, pool in pools.items():
            for k in (4, 8):
                episodes, predictions = answers(model, processor, pool, k, n, max_new_tokens=16)
                right = [p == e['answer'] for p, e in zip(predictions, episodes)]
                run['kinds'][f'{kind}@{k}'] = dict(accuracy=float(np.mean(right)),
                                                   wrong_examples=[(p, e['answer']) for p, e, r in zip(predictions, episodes, right) if not r][:8])
                print(name, kind, k, run['kinds'][f'{kind}@{k}']['accuracy'], flush=True)
        report['runs'][name] = run
    Path(out).write_text(json.dumps(report, indent=1))


def probe(runs:dict[str, str], n:int, out:str, add:bool=False):
    "Classify each run's answers to `n` episodes per pool and number of demonstrations; write the JSON."
    import torch
    torch.set_num_threads(2)
    report = dict(what=__doc__.split('\n\n')[0].replace('\n', ' '), script='tools/demo_answer_errors.py', n=n,
                  classes=['right', 'shown', 'nothing', 'frequent', 'other'], runs={},
                  runs_made_by=('`python tools/demo_answer_errors.py train VARIANT FOLDER` (`default` is `flamingo-mini demo`), '
                                'one run each, on one 2-core machine with nothing else running'))
    if add and Path(out).exists():  # keep the runs already probed into this file
        kept = json.loads(Path(out).read_text())
        if kept['n'] != n: raise SystemExit(f"{out} probed {kept['n']} episodes a pool, not {n}")
        report = kept | {k: v for k, v in report.items() if k != 'runs'}  # its runs and the rest it holds (the `text` measures)
    for name, folder in runs.items():
        variant = name.split(':')[0]
        head = set(variant_pool(variant)[:20])
        model, processor = load_run(folder)
        saved = json.loads((Path(folder)/'report.json').read_text())
        run = dict(variant=variant, steps=saved['steps'], seconds=saved['seconds'], head=sorted(head), pools={},
                   measures=measures(saved))
        for words in ('world_held_out', 'held_out'):
            for k in (4, 8):
                episodes, predictions = answers(model, processor, words, k, n, max_new_tokens=8)
                classes = [classify(p, e['answer'].strip(), set(e['words']) - {e['answer'].strip()}, head)
                           for p, e in zip(predictions, episodes)]
                wrong = [(p, e['answer'].strip()) for p, e, c in zip(predictions, episodes, classes) if c != 'right']
                run['pools'][f'{words}@{k}'] = dict({c: classes.count(c) / n for c in report['classes']}, wrong_examples=wrong[:8])
                print(name, words, k, {c: classes.count(c) / n for c in report['classes']}, flush=True)
        report['runs'][name] = run
    Path(out).write_text(json.dumps(report, indent=1))


def text(out:str, n:int):
    "The frozen LM alone, in text: how often it copies the world's last four and the held-out made words as answers (`open_vocab_report`); added to `out`."
    import torch
    from flamingo_mini.tasks import HELD_OUT_WORDS, WORDS
    torch.set_num_threads(2)
    report = json.loads(Path(out).read_text())
    report['text'] = dict(what="the shipped LM alone on its own text episodes (colour words as keys, open_vocab_report), the answers one pool's words",
                          n=n, pools=lm_copies(dict(world_held_out=WORDS[-4:], held_out_made=HELD_OUT_WORDS[4:]), n))
    print(report['text'], flush=True)
    Path(out).write_text(json.dumps(report, indent=1))


def once_text(out:str, n:int):
    "The frozen LM alone, in text: a key shown once among 16 demonstrations, at each position, the answers the demo's never-trained made words (`open_vocab_report(once_at=)`); added to `out`."
    import torch
    from flamingo_mini.tasks import HELD_OUT_WORDS
    torch.set_num_threads(2)
    by_position = lm_once(HELD_OUT_WORDS, n)
    report = json.loads(Path(out).read_text())
    report['text_once'] = dict(what=("the shipped LM alone on its own text episodes (colour words as keys, open_vocab_report): the query's key shown "
                                     "once among 16 demonstrations at each position, the others repeating other keys, the answers HELD_OUT_WORDS"),
                               n=n, by_position=by_position)
    print({p: r['accuracy'] for p, r in by_position.items()}, flush=True)
    Path(out).write_text(json.dumps(report, indent=1))


def once_kinds(runs:dict[str, str], n:int, out:str):
    "The once-shown demonstration among 16 (`evaluate_once`, `n` paired episodes a position) with each kind of never-trained answer word, for each run (a `make demo` checkpoint folder, or a folder of shipped layers as `world.ship_demo` writes them), and the frozen LM alone on the same words in text; write the JSON."
    import torch
    from flamingo_mini.demo import WORD_KIND_TITLES, evaluate_once, evaluate_once_kinds
    from flamingo_mini.pretrain_lm import _word_ids
    from flamingo_mini.tasks import WORD_KINDS, WORD_POOLS
    torch.set_num_threads(2)
    pools = dict(made='held_out', world_last_four='world_held_out') | {kind: f'kind_{kind}' for kind in WORD_KINDS}
    report = dict(what=('a demonstration shown once among 16 (colour key, test renders; the others repeat two other colours), recall at each '
                        'position, with the never-trained words of each kind as the answers'), script='tools/demo_answer_errors.py once_kinds',
                  n=n, kinds={kind: dict(pool=pool, title=WORD_KIND_TITLES.get(kind, kind), examples=list(WORD_POOLS[pool][:6])) for kind, pool in pools.items()},
                  runs={})
    for name, folder in runs.items():
        model, processor = load_run(folder)
        report['runs'][name] = {}
        if (Path(folder)/'report.json').is_file():  # a training run's own report: what else it measures (shipped layers have none beside them)
            saved = json.loads((Path(folder)/'report.json').read_text())
            report['runs'][name]['run'] = dict(steps=saved['steps'], seconds=saved['seconds'], measures=measures(saved),
                                               long=saved.get('episodes', {}).get('long'), weights=saved.get('weights'),
                                               p_kin=saved.get('episodes', {}).get('p_kin', 0.))
        with torch.no_grad():  # the demo's own never-trained words, then every kind (`evaluate_once_kinds`, the long made words too)
            results = {kind: evaluate_once(model, processor, words=pools[kind], n=n) for kind in ('made', 'world_last_four')}
            results |= evaluate_once_kinds(model, processor, kinds=tuple(WORD_KINDS), n=n)
        for kind, r in results.items():
            report['runs'][name][kind] = {k: r[k] for k in ('by_position', 'mean', 'worst', 'chance')}
            print(name, kind, round(r['mean'], 3), r['worst'], flush=True)
    loaded = shipped_lm()
    tokenizer = loaded[1]
    report['text'] = dict(what="the shipped LM alone on its own text episodes (colour words as keys, open_vocab_report(once_at=)), the same kinds", n=n, kinds={})
    for kind, pool in pools.items():
        by_position = {at: r['accuracy'] for at, r in lm_once(WORD_POOLS[pool], n, loaded).items()}
        report['text']['kinds'][kind] = dict(by_position=by_position, tokens=max(len(_word_ids(tokenizer, w)) for w in WORD_POOLS[pool]))
        print('text', kind, by_position, flush=True)
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    t = sub.add_parser('train'); t.add_argument('variant', choices=VARIANTS); t.add_argument('out'); t.add_argument('--seed', type=int, default=0)
    p = sub.add_parser('probe'); p.add_argument('runs', nargs='+', help='name=folder; a name is a variant, optionally name:tag')
    p.add_argument('--n', type=int, default=200); p.add_argument('--out', required=True)
    p.add_argument('--add', action='store_true', help='add the runs to those already in --out')
    q = sub.add_parser('kinds'); q.add_argument('runs', nargs='+', help='name=folder')
    q.add_argument('--n', type=int, default=100); q.add_argument('--out', required=True); q.add_argument('--add', action='store_true')
    x = sub.add_parser('text'); x.add_argument('--n', type=int, default=200); x.add_argument('--out', required=True)
    o = sub.add_parser('once_text'); o.add_argument('--n', type=int, default=200); o.add_argument('--out', required=True)
    w = sub.add_parser('once_kinds'); w.add_argument('runs', nargs='+', help='name=folder'); w.add_argument('--n', type=int, default=100); w.add_argument('--out', required=True)
    args = parser.parse_args()
    if args.command == 'train': train(args.variant, args.out, args.seed)
    elif args.command == 'text': text(args.out, args.n)
    elif args.command == 'once_text': once_text(args.out, args.n)
    elif args.command == 'once_kinds': once_kinds(dict(r.split('=', 1) for r in args.runs), args.n, args.out)
    elif args.command == 'kinds': kinds(dict(r.split('=', 1) for r in args.runs), args.n, args.out, args.add)
    else: probe(dict(r.split('=', 1) for r in args.runs), args.n, args.out, args.add)
