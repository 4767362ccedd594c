"""What the demonstrations carry for a family the Flamingo layers never trained on (issue #21): a run with `held_out`
families (`OTHER_RECIPES['count_held_out']`) is scored on each held-out family at every number of random
demonstrations in three arms, on the same queries and the same demonstrations:

- `images`: the few-shot prompt as the run evaluates it (the demonstrations with their images);
- `text_only`: the demonstrations without their images (the zero-shot convention, at every number of shots): what
  their answers alone tell, the format and how often each answer comes;
- `shuffled`: the demonstrations with their images, their texts (question and answer) shuffled among them: what the
  pairing of an image with its answer adds beyond the answers' distribution.

Beside each score, `answer_form`: the share of answers that are one of the support pool's answers (for counting, a
digit 0-5), whether right or wrong: whether the model answers in the family's form at all.

    python tools/families_held_out.py --run families-count-held-out --queries 300 --out reports/experiments/families_held_out_arms.json
"""
from __future__ import annotations
import numpy as np
from families_queries import load_run, run_media, tool_main

ARMS = ('images', 'text_only', 'shuffled')


def rewrite_arm(arm:str, seed:int=0):
    "The `evaluate_family(rewrite=)` of an arm: a function of a prompt (media still stand-ins), or None for 'images'."
    from flamingo_mini.core import EOC_TOKEN
    from flamingo_mini.families import text_only_demonstrations
    if arm == 'images': return None
    if arm == 'text_only': return text_only_demonstrations
    if arm != 'shuffled': raise ValueError(f"unknown arm {arm!r}; choose one of {ARMS}")
    rng = np.random.default_rng([seed, 61])
    def shuffle(prompt):  # each demonstration's text (its question and answer, or caption) moved to another's image
        texts = [i for i, x in enumerate(prompt) if isinstance(x, str) and x.endswith(EOC_TOKEN)]
        out = list(prompt)
        for i, j in zip(texts, rng.permutation(texts)): out[i] = prompt[j]
        return out
    return shuffle


def score_arms(run, n:int, shots=(0, 4, 8, 16, 32), seed:int=0) -> dict:
    "Each held-out family's metric in every arm at every number of shots, on the first `n` test examples."
    from flamingo_mini.families import _metric, blind_baseline, encode_family, evaluate_family, family_answer, family_pools
    report, model, processor = load_run(run)
    held = report['recipe'].get('held_out', [])
    if not held: raise ValueError(f"{run} held no family out of training (its recipe's held_out is empty)")
    media = run_media(report)
    pools = family_pools({f: report['recipe']['pool'][f] for f in held}, 'train', report['seed'], media)
    tests = family_pools({f: n for f in held}, 'test', report['seed'], media)
    out = {}
    for f in held:
        pool, queries = pools[f], tests[f]
        q_feats, s_feats = encode_family(model, processor, f, queries), encode_family(model, processor, f, pool)
        arms = {arm: evaluate_family(model, processor, f, queries, q_feats, pool, s_feats, shots, 'random', seed,
                                     rewrite=rewrite_arm(arm, seed), keep=None) for arm in ARMS}
        answers = {family_answer(f, e) for e in pool}  # what a demonstration can show: an answer of the family's form
        out[f] = dict(metric=_metric(f), queries=n, baseline=blind_baseline(f, pool, queries)[_metric(f)], answers=sorted(answers),
                      arms={arm: {k: dict(score=round(r[_metric(f)], 4), predictions=r['predictions'][:8],
                                          answer_form=round(float(np.mean([p.strip() in answers for p in r['predictions']])), 4),
                                          **{key: v for key, v in r.items() if key.startswith('by_')}) for k, r in res.items()}
                            for arm, res in arms.items()})
        print(f, {arm: {k: (v['score'], v['answer_form']) for k, v in res.items()} for arm, res in out[f]['arms'].items()}, flush=True)
    return out


def main(argv=None):
    tool_main(argv, __doc__, 'tools/families_held_out.py', lambda run, n: dict(families=score_arms(run, n)),
              'families-count-held-out', 'reports/experiments/families_held_out_arms.json', selection='random')


if __name__ == '__main__': main()
