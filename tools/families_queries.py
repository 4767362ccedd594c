"""More test queries for a finished task-family run (issue #21): each family's score at eight random demonstrations on
`--queries` test examples instead of the run's hundred, so a verdict against a target is not left to sampling noise.

The run's checkpoint and recipe are read from its folder (`make families` leaves `families-run/`); the support pools
are rebuilt from the recipe, the media encoded by the checkpoint's tower, and every prompt scored by
`families.evaluate_family`, as `run_families` does. The run's own test examples are the first rows here (the
demonstrations drawn for them may differ).

    python tools/families_queries.py --run families-run --queries 500 --out reports/experiments/families_queries.json   # ~2 min on 2 threads
"""
from __future__ import annotations
import argparse, json, math, time
from pathlib import Path


def score_queries(run:Path, n:int, shots:int=8, seed:int=0) -> dict:
    "Each family's metric at `shots` random demonstrations on the first `n` test examples, with its binomial standard error."
    from flamingo_mini.families import _metric, encode_family, evaluate_family, family_pools
    report, model, processor = load_run(run)
    media = run_media(report)
    pools = family_pools(report['recipe']['pool'], 'train', report['seed'], media)  # the run's families
    tests = family_pools({f: n for f in pools}, 'test', report['seed'], media)
    out = {}
    for f in pools:  # encoding and scoring run without gradients (both are no_grad)
        pool, queries = pools[f], tests[f]
        res = evaluate_family(model, processor, f, queries, encode_family(model, processor, f, queries), pool,
                              encode_family(model, processor, f, pool), (shots,), 'random', seed)[shots]
        p = res[_metric(f)]
        out[f] = dict(metric=_metric(f), score=round(p, 4), stderr=round(math.sqrt(p * (1 - p) / n), 4), queries=n,
                      report_score=report['results'][f]['random'][shots][_metric(f)], report_queries=report['recipe']['queries'])
    return out


def run_media(report:dict) -> str:
    "How the run showed a two-image pair: 'clip' (one media item of two frames) or 'images' (two media items; runs before the recipe recorded it)."
    return report['recipe'].get('compare_media', 'images')


def load_run(run:Path):
    "A finished `run_families` folder's report (shots as integers), its checkpoint's model (in eval mode) and processor."
    from flamingo_mini.families import read_families_report
    from flamingo_mini.model import FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor
    return (read_families_report(run/'report.json'), FlamingoModel.from_pretrained(run/'checkpoint').eval(),
            FlamingoProcessor.from_pretrained(run/'checkpoint'))


def tool_main(argv, doc:str, script:str, measure, default_run:str, default_out:str, **fields):
    "The command line of a tool that measures a finished run: `measure(run, queries)` (a dict) written to --out with what ran it."
    p = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    p.add_argument('--run', default=default_run, help='a finished `run_families` folder (its checkpoint/ and report.json)')
    p.add_argument('--queries', type=int, default=500)
    p.add_argument('--out', default=default_out)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    start = time.time()
    measured = measure(Path(args.run), args.queries)
    result = dict(what=doc.split('\n\n')[0].replace('\n', ' '), script=script, run=args.run, threads=args.threads,
                  seconds=round(time.time() - start), **fields, **measured)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return measured


def main(argv=None):
    scores = tool_main(argv, __doc__, 'tools/families_queries.py', lambda run, n: dict(families=score_queries(run, n)),
                       'families-run', 'reports/experiments/families_queries.json', shots=8, selection='random')
    print(json.dumps(scores['families'], indent=1))


if __name__ == '__main__': main()
