"""Does the two-image family read both images? (issue #21). A text token of a Flamingo prompt attends to the latest
image before it only (Alayrac et al. 2022; `xattn.media_attention_mask`'s 'latest' policy, `03_xattn`), so the question after
two images sees the second; the first reaches the answer only through the LM's self-attention, over the tokens from
its `<image>` token to the second's (the `<image>` token itself attends to its image). A reader of one image can still do well: knowing the second count alone, 'first' is the better guess when
it is small, and with distinct counts of 0 to 5 drawn uniformly that rule is right four times in five.

This scores a finished run's checkpoint on `--queries` test pairs at eight random demonstrations and sets its answers
beside the best rule that reads one image's count only (per count, the commonest answer among these very queries: an
upper bound for such a reader). The telling share is of the queries where that rule is wrong: a model that reads the
second image only gets none of them right, one that compares both gets them as right as the rest.

    python tools/families_compare.py --run families-four --out reports/experiments/families_compare.json   # ~2 min on 2 threads
"""
from __future__ import annotations
import json
from collections import Counter
from pathlib import Path
from families_queries import load_run, run_media, tool_main  # beside this file


def one_image_rule(queries:list[dict], which:int) -> list[str]:
    "Per query, the commonest answer among these queries with the same count in image `which` (0 or 1): the best one-image reader."
    by = {}
    for q in queries: by.setdefault(q['counts'][which], []).append(q['answers'][0])
    best = {c: min(Counter(a).items(), key=lambda kv: (-kv[1], kv[0]))[0] for c, a in by.items()}  # ties: alphabetical
    return [best[q['counts'][which]] for q in queries]


def compare_reads(run:Path, n:int, shots:int=8, seed:int=0) -> dict:
    "The run's compare answers on `n` test pairs, against the one-image rules: overall and where each rule is wrong."
    report, model, processor = load_run(run)
    if 'compare' not in report['recipe']['pool']: raise ValueError(f"{run} did not train the two-image family")
    return reads_of(model, processor, report, n, shots, seed)


def support_of(model, processor, report:dict, media:str|None=None) -> tuple[list, tuple]:
    "The run's two-image support pool in `media`'s format (default: the run's own) and its `encode_family` features (the frozen tower's: training leaves them as they are)."
    from flamingo_mini.families import encode_family, family_pools
    pool = family_pools({'compare': report['recipe']['pool']['compare']}, 'train', report['seed'], media or run_media(report))['compare']
    return pool, encode_family(model, processor, 'compare', pool)


def reads_of(model, processor, report:dict, n:int, shots:int=8, seed:int=0, rewrite=None,
             support:tuple|None=None, # `support_of`'s (pool, features), if already encoded
             media:str|None=None) -> dict: # the pairs' format, 'clip' or 'images' (default: the run's own), as `support`'s
    "`model`'s compare answers on `n` test pairs of `report`'s seed (its support pool), prompts rewritten by `rewrite`, against the one-image rules."
    from flamingo_mini.families import encode_family, evaluate_family, family_pools
    from flamingo_mini.metrics import vqa_normalize
    media = media or run_media(report)
    pool, features = support or support_of(model, processor, report, media)
    queries = family_pools({'compare': n}, 'test', report['seed'], media)['compare']
    res = evaluate_family(model, processor, 'compare', queries, encode_family(model, processor, 'compare', queries), pool,
                          features, (shots,), 'random', seed, keep=None, rewrite=rewrite)[shots]
    answers = [vqa_normalize(p) for p in res['predictions']]  # as `score_task` reads them
    truth = [q['answers'][0] for q in queries]
    right = [a == t for a, t in zip(answers, truth)]
    out = dict(queries=n, shots=shots, accuracy=round(sum(right) / n, 4), vqa_accuracy=res['vqa_accuracy'],
               answers=dict(Counter(answers)))
    for name, which in (('second_image_rule', 1), ('first_image_rule', 0)):
        rule = one_image_rule(queries, which)
        wrong = [i for i in range(n) if rule[i] != truth[i]]
        out[name] = dict(accuracy=round(sum(r == t for r, t in zip(rule, truth)) / n, 4), wrong=len(wrong),
                         model_right_where_rule_wrong=round(sum(right[i] for i in wrong) / max(len(wrong), 1), 4),
                         model_right_where_rule_right=round(sum(right[i] for i in range(n) if i not in set(wrong)) / max(n - len(wrong), 1), 4),
                         model_agrees_with_rule=round(sum(a == r for a, r in zip(answers, rule)) / n, 4))
    cells = {}
    for q, ok in zip(queries, right): cells.setdefault(f"{q['counts'][0]}-{q['counts'][1]}", []).append(ok)
    out['by_counts'] = {k: dict(queries=len(v), accuracy=round(sum(v) / len(v), 3)) for k, v in sorted(cells.items())}
    return out


def main(argv=None):
    reads = tool_main(argv, __doc__, 'tools/families_compare.py', compare_reads, 'families-four', 'reports/experiments/families_compare.json')
    print(json.dumps({k: v for k, v in reads.items() if k != 'by_counts'}, indent=1))


if __name__ == '__main__': main()
