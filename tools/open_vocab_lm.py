"""Open-vocabulary LM experiment (issue #21, deliverable 1), measured in text.

Continues the shipped tiny-world LM with `pretrain_lm`'s open-vocabulary option (open-vocabulary text episodes,
repeated random sequences and doubled tokens, with the held-out answer tokens of `open_vocab_split` never drawn),
saves the candidate into a scratch folder (never the shipped one), and measures the shipped LM and the candidate
with `open_vocab_report` and `text_icl_report`. Writes reports/experiments/open_vocab_lm.json.

    python tools/open_vocab_lm.py --steps 4000 --out /tmp/open_vocab_lm      # one thread, 15-30 min on a shared core
    python tools/open_vocab_lm.py --steps 4000 --out /tmp/open_vocab_lm_copies --copies-see-held-out \
        --report reports/experiments/open_vocab_lm_copies.json
"""
from __future__ import annotations
import argparse, json, subprocess, time
from pathlib import Path
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from flamingo_mini.world import WORDS, shipped_world_dir, world_text
from flamingo_mini.pretrain_lm import (lm_perplexity, open_vocab_report, open_vocab_split, pretrain_lm,
                                       text_icl_report)

CONDITIONS = dict(  # answer set, tokens per answer
    held_out_single=('held_out', (1,)), held_out_multi=('held_out', (2, 3)),
    trained_single=('trained', (1,)), trained_multi=('trained', (2, 3)), world_words=('world_words', (1,)))

def measure(model, tok, sets, n:int) -> dict:
    out = {name: open_vocab_report(model, tok, sets[answers], ks=(0, 4, 8), n=n, lengths=lengths)
           for name, (answers, lengths) in CONDITIONS.items()}
    out['world_text_episodes'] = text_icl_report(model, tok, ks=(2, 4, 8), n=n)
    out['caption_perplexity'] = lm_perplexity(model, tok, world_text(300, seed=99, p_episode=0.0))
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--out', default='/tmp/open_vocab_lm', help='scratch folder for the candidate LM')
    ap.add_argument('--report', default='reports/experiments/open_vocab_lm.json')
    ap.add_argument('--n', type=int, default=200, help='episodes per condition and k')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--copies-see-held-out', action='store_true',
                    help='the held-out tokens are still drawn by copy and repeat batches (never as an episode answer)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lm_dir = shipped_world_dir()/'lm'
    if Path(args.out).resolve() == lm_dir.resolve(): raise SystemExit('--out must not be the shipped LM')
    tok, shipped = AutoTokenizer.from_pretrained(lm_dir), AutoModelForCausalLM.from_pretrained(lm_dir).eval()
    trained, held_out = open_vocab_split(tok)
    sets = dict(trained=trained, held_out=held_out, world_words=[tok(f' {w}')['input_ids'][0] for w in WORDS])
    mix = dict(caption_steps=0, episode_steps=args.steps, p_copy=0.2, p_repeat=0.2, p_open_vocab=0.4, lr=args.lr,
               decay_share=0.3, threads=args.threads, seed=0)
    t0 = time.time()
    excluded = [] if args.copies_see_held_out else held_out
    candidate = pretrain_lm(tok, open_vocab=trained, held_out=excluded, init=shipped, log_every=250, **mix)
    train_seconds = time.time() - t0
    candidate.save_pretrained(args.out); tok.save_pretrained(args.out)
    with torch.no_grad(): results = dict(shipped=measure(shipped, tok, sets, args.n), candidate=measure(candidate, tok, sets, args.n))
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    report = dict(
        what=("in-context accuracy in text of the shipped tiny-world LM and of a candidate continued from it with "
              "pretrain_lm's open-vocabulary option; greedy continuation scored exactly; 3-way episodes keyed by a "
              "colour or a shape word; answers from the condition's token set"),
        conditions={name: dict(answers=a, tokens_per_answer=list(l)) for name, (a, l) in CONDITIONS.items()},
        answer_sets={name: len(ids) for name, ids in sets.items()},
        held_out_never_trained=(("the held-out tokens are never an episode answer in the candidate's continuation, but its "
                                 "copy and repeat batches draw them with every other ordinary token")
                                if args.copies_see_held_out else
                                ("the held-out tokens are never an answer, and never drawn by a copy or repeat batch, in the "
                                 "candidate's continuation"))
                               + "; the shipped LM saw every ordinary token in its doubled-token batches but answered "
                                 "only with the 16 world words",
        copies_see_held_out=args.copies_see_held_out,
        training=dict(init='shipped tiny-world LM (flamingo_mini/tiny_world/lm)', steps=args.steps, batch_size=32,
                      seconds=round(train_seconds, 1), **mix),
        n_per_k=args.n, commit=commit, candidate_folder=args.out, results=results)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=1) + '\n')
    for model in ('shipped', 'candidate'):
        for name in CONDITIONS:
            r = results[model][name]
            print(model, name, ' '.join(f"k={k}: {r[k]['accuracy']:.2f} (copied {r[k]['copied']:.2f})" for k in r))

if __name__ == '__main__': main()
