"""What a task-family recipe costs per step on this machine (issue #21): the seconds of an LM pretraining step and of
a Flamingo training step of each named recipe, measured in short runs one after the other in one process, so that a
run on another machine can be set beside the committed tutorial's (whose report holds its own machine's seconds).

Each recipe runs `families.run_families` with its own sources, batch sizes and prompt lengths, but `--lm-steps` LM
steps, `--steps` training steps, pools of `--pool` examples a family and four test queries at eight shots: a step
costs what it costs in the whole run (its prompts are as long), while the pools, the encoding and the evaluation are
small. The first steps of a phase include its warm-up, as in the whole run.

    python tools/families_cost.py --recipes tutorial,four --out reports/experiments/families_cost.json   # ~10 min on 2 threads
"""
from __future__ import annotations
import argparse, json, tempfile, time
from pathlib import Path


def step_costs(name:str, lm_steps:int, steps:int, pool:int, seed:int=0) -> dict:
    "Seconds per LM step and per training step of recipe `name` ('tutorial' or a key of `OTHER_RECIPES`)."
    from flamingo_mini.families import FAMILIES_RECIPE, OTHER_RECIPES, run_families
    changes = {} if name == 'tutorial' else OTHER_RECIPES[name]
    families = (FAMILIES_RECIPE | changes)['pool']
    with tempfile.TemporaryDirectory() as tmp:
        report = run_families(tmp, seed=seed, log=lambda *a: None, **(changes | dict(
            pool={f: pool for f in families}, lm_steps=lm_steps, steps=steps, queries=4, shots={f: (8,) for f in families})))
    s = report['seconds']
    return dict(families=list(families), lm_steps=lm_steps, steps=steps, pool=pool, seconds=s,
                lm_per_step=round(s['lm'] / lm_steps, 4), training_per_step=round(s['training'] / steps, 4))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--recipes', default='tutorial,four', help="comma-separated: 'tutorial' (FAMILIES_RECIPE) or keys of OTHER_RECIPES")
    p.add_argument('--lm-steps', type=int, default=300)
    p.add_argument('--steps', type=int, default=200)
    p.add_argument('--pool', type=int, default=2000, help='examples a family (the recipes\' prompts are at most 33 examples long)')
    p.add_argument('--out', default='reports/experiments/families_cost.json')
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    start, costs = time.time(), {}
    for name in args.recipes.split(','):
        costs[name] = step_costs(name, args.lm_steps, args.steps, args.pool)
        print(name, json.dumps(costs[name]), flush=True)
    result = dict(what=__doc__.split('\n\n')[0].replace('\n', ' '), script='tools/families_cost.py', threads=args.threads,
                  seconds=round(time.time() - start), recipes=costs)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == '__main__': main()
