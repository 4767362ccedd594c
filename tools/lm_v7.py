"""The tiny world's LM version 7, trained from scratch to copy any token sequence from its context (issue #21, Deliver 1).

Trains `pretrain_lm(tok, **LM_V7)` on one thread (the shipped tokenizer, unchanged), saves the candidate as a complete
Hugging Face folder, and measures it and the shipped LM in text with `open_vocab_report`, `text_icl_report` and
`lm_perplexity`; writes reports/experiments/lm_v7.json.

    python tools/lm_v7.py --out /work/wt/lm7-scratch/lm          # one thread, about half an hour
    python tools/lm_v7.py --steps 300 --n 20 --report /tmp/lm_v7.json --out /tmp/lm_v7   # a quick look
"""
from __future__ import annotations
import argparse, json, subprocess, time
from pathlib import Path
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from flamingo_mini.world import shipped_world_dir, world_text
from flamingo_mini.pretrain_lm import (LM_V7, lm_perplexity, open_vocab_episodes, open_vocab_report, pretrain_lm,
                                       repeat_accuracy, text_icl_report, world_answer_sets)

KS = (0, 4, 8, 16)
REPEAT_LENGTHS = (8, 24, 60)  # the shipped LM's 128 positions hold the longest twice
ALPHABET = 6  # the second induction probe: sequences of 6 distinct tokens, where the token before is not enough

def conditions(sets:dict) -> dict:
    "Each measured condition: `open_vocab_report` arguments and what it measures."
    out = dict(
        held_out_single=dict(answers='held_out', lengths=(1,), what='one held-out token (never an episode answer in training)'),
        held_out_multi=dict(answers='held_out', lengths=tuple(range(2, 8)), what='2-7 held-out tokens'),
        held_out_words=dict(words='held_out_words', what="a word of tasks.HELD_OUT_WORDS, written ' word'"),
        train_words=dict(words='train_words', what="a word of tasks.TRAIN_WORDS (answers in training)"),
        world_words=dict(words='world_words', what='one of the 16 nonsense WORDS (4 are in HELD_OUT_WORDS)'))
    for name in ('colour', 'shape', 'size', 'position', 'digit'):
        out[f'key_{name}'] = dict(words='held_out_words', keys=name, what=f'keyed by a {name} word, HELD_OUT_WORDS answers')
    return out

@torch.no_grad()
def by_answer_token(model, tok, answers, k:int, n:int, lengths=(1,), words=None, ways:int=3, once_at=None) -> dict:
    "Teacher-forced accuracy of each answer token by its place in the answer, and exact accuracy by how often the query's key was shown: where a copy breaks."
    places, shown = {}, {}
    for e in open_vocab_episodes(tok, answers, k, n, ways, lengths, words=words, once_at=once_at):  # `open_vocab_report`'s
        ids = torch.tensor([e['input_ids'] + e['answer']], device=model.device)
        predicted = model(input_ids=ids).logits[0, len(e['input_ids']) - 1:-1].argmax(-1).tolist()
        right = [p == a for p, a in zip(predicted, e['answer'])]
        for j, r in enumerate(right): places.setdefault(j + 1, []).append(r)
        shown.setdefault(sum(a == e['answer'] for a in e['demo_answers']), []).append(all(right))
    return dict(by_place={j: float(np.mean(v)) for j, v in places.items()},
                by_times_shown={t: dict(all_right=float(np.mean(v)), n=len(v)) for t, v in sorted(shown.items())})

def measure(model, tok, sets:dict, n:int) -> dict:
    out = {}
    for name, c in conditions(sets).items():
        kwargs = dict(ks=KS, n=n, ways=3 if c.get('keys') != 'size' else 2, lengths=c.get('lengths', (1,)),
                      words=sets[c['words']] if 'words' in c else None,
                      keys=[sets['keys'][c['keys']]] if 'keys' in c else None)
        out[name] = open_vocab_report(model, tok, sets[c.get('answers', 'train')], **kwargs)
    out['once_among_16'] = {p: open_vocab_report(model, tok, sets['train'], ks=(16,), n=n, ways=4, words=sets['held_out_words'],
                                                 once_at=p - 1)[16] for p in range(1, 17)}
    out['text_icl_colour'] = text_icl_report(model, tok, ks=KS, n=max(n, 300), key='colour')
    out['text_icl_shape'] = text_icl_report(model, tok, ks=KS, n=max(n, 300), key='shape')
    out['repeat_accuracy'] = {L: repeat_accuracy(model, tok, L, n=64) for L in REPEAT_LENGTHS}
    out[f'repeat_accuracy_alphabet_{ALPHABET}'] = {L: repeat_accuracy(model, tok, L, n=64, alphabet=ALPHABET) for L in REPEAT_LENGTHS}
    out['by_answer_token'] = dict(held_out_multi=by_answer_token(model, tok, sets['held_out'], 8, n, lengths=tuple(range(2, 8))),
                                  held_out_words=by_answer_token(model, tok, sets['train'], 8, n, words=sets['held_out_words']),
                                  held_out_words_once_14=by_answer_token(model, tok, sets['train'], 16, n, words=sets['held_out_words'], ways=4, once_at=13))
    out['caption_perplexity'] = lm_perplexity(model, tok, world_text(300, seed=99, p_episode=0.0, split='test'))
    return out

def summary(results:dict) -> str:
    lines = []
    for name, r in results.items():
        if name == 'caption_perplexity': lines.append(f'  {name}: {r:.3f}'); continue
        if name == 'by_answer_token':
            for c, r2 in r.items():
                lines.append(f'  {name} {c}: ' + ' '.join(f'{j}: {v:.2f}' for j, v in r2['by_place'].items()) + ' | shown '
                             + ' '.join(f"{t}x: {v['all_right']:.2f} ({v['n']})" for t, v in r2['by_times_shown'].items()))
            continue
        if name.startswith('repeat_accuracy'): lines.append(f'  {name}: ' + ' '.join(f'{k}: {v:.2f}' for k, v in r.items())); continue
        cells = []
        for k, v in r.items():
            cells.append(f"{k}: {v['accuracy']:.2f}/{v.get('copied', 0):.2f}" if 'accuracy' in v else f'{k}: -')
        lines.append(f'  {name}: ' + ' '.join(cells))
    return '\n'.join(lines)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--steps', type=int, default=None, help='episode steps (default: LM_V7\'s)')
    ap.add_argument('--out', default='/tmp/lm_v7', help='folder for the candidate LM (never the shipped one)')
    ap.add_argument('--report', default='reports/experiments/lm_v7.json')
    ap.add_argument('--n', type=int, default=200, help='episodes per condition and k')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--set', action='append', default=[], help='override an LM_V7 setting: name=python-literal')
    ap.add_argument('--skip-shipped', action='store_true')
    ap.add_argument('--label', default="the tiny world's LM version 7 (trained from scratch with LM_V7)",
                    help="what the candidate is, for the report's `what` (its settings are recorded beside)")
    ap.add_argument('--candidate', help='measure this trained LM folder instead of training one; its training record '
                    'comes from --training-report')
    ap.add_argument('--training-report', help='a report of this tool whose training section (and commit) to keep')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lm_dir = shipped_world_dir()/'lm'
    if Path(args.out).resolve() == lm_dir.resolve(): raise SystemExit('--out must not be the shipped LM')
    tok, shipped = AutoTokenizer.from_pretrained(lm_dir), AutoModelForCausalLM.from_pretrained(lm_dir).eval()
    settings = dict(LM_V7)
    if args.steps is not None: settings['episode_steps'] = args.steps
    for s in args.set:
        name, value = s.split('=', 1); settings[name] = eval(value)
    if args.candidate:
        out, candidate = Path(args.candidate), AutoModelForCausalLM.from_pretrained(args.candidate).eval()
        trained = json.loads(Path(args.training_report).read_text())
        settings, train_seconds = trained['training']['settings'], trained['training']['seconds']
    else:
        t0 = time.time()
        candidate = pretrain_lm(tok, threads=args.threads, log_every=250, **settings)
        train_seconds = time.time() - t0
        out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
        candidate.save_pretrained(out)
        tok.save_pretrained(out)  # as `build_tiny_world` saves it: the shipped vocabulary, the candidate's own context
    sets = world_answer_sets(tok)
    t1 = time.time()
    with torch.no_grad():
        results = dict(candidate=measure(candidate, tok, sets, args.n))
        print('candidate\n' + summary(results['candidate']), flush=True)
        if not args.skip_shipped:
            results['shipped'] = measure(shipped, tok, sets, args.n)
            print('shipped\n' + summary(results['shipped']))
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    if args.candidate: commit = f"{trained['commit']} (trained), {commit} (measured)"
    report = dict(
        what=(f"text-only in-context recall of {args.label}" + ('' if args.skip_shipped else f" and of the shipped LM (tiny world version {json.loads((lm_dir.parent/'build.json').read_text())['settings']['version']})")
              + ": episodes `key answer<EOC> ... key`, the greedy continuation scored exactly "
              "(every answer token right); `copied` is the share of continuations that are some demonstration's answer"),
        conditions={name: {k: v for k, v in c.items()} for name, c in conditions(sets).items()},
        once_among_16="16 demonstrations, 4 keys (colour or shape words); the query's key is shown exactly once, as demonstration p; HELD_OUT_WORDS answers",
        text_icl="text_icl_report: the world's text episodes (3 ways, colour or shape keys, the 16 WORDS), test split, n=300",
        caption_perplexity="lm_perplexity on 300 test-split captions of world_text(300, seed=99, p_episode=0)",
        repeat_accuracy=("repeat_accuracy: greedy next-token accuracy on the second copy of 64 random sequences of each "
                         "length written twice (the induction-head probe); chance about 1/420"),
        by_answer_token=("teacher-forced: each answer token predicted with the right ones before it, by its place in the "
                         "answer (k = 8; 2-7 held-out tokens or HELD_OUT_WORDS, 3 ways; and a HELD_OUT_WORDS answer whose key is "
                         "shown once, as the 14th of 16 demonstrations, 4 ways), and exact accuracy by how often the query's key was shown"),
        repeat_accuracy_alphabet=(f"the same on sequences drawn from {ALPHABET} random tokens each (repeat_batches' alphabet): "
                                  "the token before recurs, so copying has to match further back"),
        answer_sets={name: len(v) for name, v in sets.items() if name != 'keys'},
        held_out=("answer tokens: a random 12.5% of the ordinary tokens that are no key word's and no answer word's "
                  "(world_answer_sets), and tasks.HELD_OUT_WORDS: never an episode answer in training (world text "
                  "episodes showing one of them are skipped); copy and repeat batches draw every ordinary token"),
        ways="3 ways (2 for size keys) unless said", ks=list(KS), n_per_cell=args.n,
        training=dict(settings={k: (list(v) if isinstance(v, range) else v) for k, v in settings.items()},
                      seconds=round(train_seconds, 1), threads=args.threads, batch_size=settings.get('batch_size', 32)),
        eval_seconds=round(time.time() - t1, 1), commit=commit, candidate_folder=str(out), results=results)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=1, default=lambda o: list(o) if isinstance(o, (range, tuple)) else str(o)) + '\n')

if __name__ == '__main__': main()
