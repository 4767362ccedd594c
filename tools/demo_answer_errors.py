"""What the demo's checkpoint answers when it misses a never-trained word (issue #21): the world's last four words
(one token each for the world's tokenizer) against the never-trained made words (mostly spelled out letter by letter),
colour-keyed episodes at 4 and 8 demonstrations on test renders, each wrong answer put in one class:

- `shown`: another demonstration's word (the binding picked the wrong image);
- `nothing`: 'nothing' or a beginning of it ('not', 'noti', ...): the empty scenes' caption, a late render source;
- `frequent`: one of the 20 most frequent answers of the run's training draw (its Zipfian head);
- `other`: anything else (a syllable, a spelled fragment).

Variants of `run_demo` (each in its own 7.5-minute budget, so their steps differ with the machine):

- `default`: `run_demo()` as `make demo` runs it;
- `empty_half`: the late empty-scene source at half its batch (2 rows a step instead of 4);
- `one_token_spread`: the open pool's one-token answers (the world's twelve trained words, ranks 1-12 of the
  Zipfian draw, about 30% of all draws) moved to ranks 20-2000, with 25 more one-token words of the world's text
  (shape, size and place words, 'the', 'and', ...; no colour, not 'a') among them.

    python tools/demo_answer_errors.py train one_token_spread ../runs/one_token_spread
    python tools/demo_answer_errors.py probe --out reports/experiments/demo_answer_errors.json default=flamingo-demo ...
"""
from __future__ import annotations
import argparse, json
from pathlib import Path
import numpy as np

VARIANTS = ('default', 'empty_half', 'one_token_spread')
ONE_TOKEN_TERMS = ('circle', 'square', 'triangle', 'star', 'cross', 'diamond', 'small', 'big', 'left', 'right', 'top', 'bottom',
                   'middle', 'the', 'and', 'at', 'in', 'on', 'to', 'digit', 'b', 'd', 's', 't', 'z')


def variant_pool(variant:str) -> tuple[str, ...]:
    "The open answer pool a variant trains on, in its Zipfian order."
    from flamingo_mini.tasks import OPEN_WORDS, WORDS
    if variant != 'one_token_spread': return tuple(OPEN_WORDS)
    one_token = [w for w in OPEN_WORDS if w in WORDS] + list(ONE_TOKEN_TERMS)
    rest = [w for w in OPEN_WORDS if w not in one_token]
    ranks = sorted(set(np.geomspace(20, 2000, len(one_token)).astype(int)))
    for word, at in zip(np.random.default_rng(5).permutation(one_token), ranks): rest.insert(at, str(word))
    return tuple(rest)


def train(variant:str, out:str):
    "Run the demo's job with a variant's change into `out`."
    from flamingo_mini import tasks
    from flamingo_mini.demo import DEMO_LATE, run_demo
    if variant not in VARIANTS: raise SystemExit(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    late = DEMO_LATE | (dict(empty=dict(rows=1000, batch=2, weight=1.)) if variant == 'empty_half' else {})
    tasks.WORD_POOLS['open'] = variant_pool(variant)  # the episodes read the pool by name when the run starts
    run_demo(out, late=late)


def classify(prediction:str, answer:str, shown:set[str], head:set[str]) -> str:
    if prediction == answer: return 'right'
    if prediction in shown: return 'shown'
    if len(prediction) >= 3 and 'nothing'.startswith(prediction): return 'nothing'
    if prediction in head: return 'frequent'
    return 'other'


def probe(runs:dict[str, str], n:int, out:str):
    "Classify each run's answers to `n` episodes per pool and number of demonstrations; write the JSON."
    import torch
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    from flamingo_mini.demo import _episode_rows
    from flamingo_mini.evaluate import evaluate_episodes
    from flamingo_mini.tasks import binding_episode
    torch.set_num_threads(2)
    report = dict(what=__doc__.split('\n\n')[0].replace('\n', ' '), script='tools/demo_answer_errors.py', n=n,
                  classes=['right', 'shown', 'nothing', 'frequent', 'other'], runs={},
                  runs_made_by=('`python tools/demo_answer_errors.py train VARIANT FOLDER` (`default` is `flamingo-mini demo`), '
                                'one run each, on one 2-core machine with nothing else running'))
    for name, folder in runs.items():
        variant = name.split(':')[0]
        head = set(variant_pool(variant)[:20])
        model, processor = FlamingoModel.from_pretrained(folder).eval(), FlamingoProcessor.from_pretrained(folder)
        saved = json.loads((Path(folder)/'report.json').read_text())
        run = dict(variant=variant, steps=saved['steps'], seconds=saved['seconds'], head=sorted(head), pools={})
        for words in ('world_held_out', 'held_out'):
            for k in (4, 8):
                episodes = [binding_episode(i, k, 'colour', mode='eval', words=words, split='test', seed=2000) for i in range(n)]
                rows = evaluate_episodes(model, processor, _episode_rows(episodes), batch_size=32, verbose=False,
                                         max_new_tokens=8, keep_predictions=True)
                predictions = rows[0]['predictions']
                classes = [classify(p, e['answer'].strip(), set(e['words']) - {e['answer'].strip()}, head)
                           for p, e in zip(predictions, episodes)]
                wrong = [(p, e['answer'].strip()) for p, e, c in zip(predictions, episodes, classes) if c != 'right']
                run['pools'][f'{words}@{k}'] = dict({c: classes.count(c) / n for c in report['classes']}, wrong_examples=wrong[:8])
                print(name, words, k, {c: classes.count(c) / n for c in report['classes']}, flush=True)
        report['runs'][name] = run
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    t = sub.add_parser('train'); t.add_argument('variant', choices=VARIANTS); t.add_argument('out')
    p = sub.add_parser('probe'); p.add_argument('runs', nargs='+', help='name=folder; a name is a variant, optionally name:tag')
    p.add_argument('--n', type=int, default=200); p.add_argument('--out', required=True)
    args = parser.parse_args()
    if args.command == 'train': train(args.variant, args.out)
    else: probe(dict(r.split('=', 1) for r in args.runs), args.n, args.out)
