"""The once-shown demonstration measured three ways on one checkpoint (issue #21: "a demonstration shown once among 16,
at any position: >= 0.90 recall"): the shipped demo's trained layers (`world.demo_model`), colour-keyed episodes of
never-trained words on test renders, the query's colour shown once among 16 demonstrations.

- `fresh_10`: the design before 2c1582a, as the committed report measured it: ten fresh episodes drawn for each position;
- `fresh_100`: the same design, a hundred fresh episodes for each position;
- `paired_100`: `evaluate_once` today: a hundred episodes, each asked with its once-shown demonstration at every position.

    python tools/demo_once.py reports/experiments/demo_once.json
"""
from __future__ import annotations
import json, sys, time
from pathlib import Path


def fresh(model, processor, n:int, k:int=16, seed:int=0) -> dict:
    "Recall by position with `n` episodes drawn afresh for each position (`evaluate_once` before its paired design)."
    from flamingo_mini.demo import _episode_rows
    from flamingo_mini.evaluate import evaluate_episodes
    from flamingo_mini.tasks import binding_episode
    by_position = {}
    for at in range(k):
        episodes = [binding_episode(i, k, 'colour', mode='eval', words='held_out', split='test', seed=seed + 3000, once_at=at) for i in range(n)]
        row, = evaluate_episodes(model, processor, _episode_rows(episodes), batch_size=32, verbose=False, max_new_tokens=8)
        by_position[at + 1] = row['accuracy']
    return dict(k=k, n_per_position=n, design='fresh', by_position=by_position,
                mean=sum(by_position.values()) / k, worst=min(by_position.values()))


def main(out:str):
    import torch
    from flamingo_mini.demo import evaluate_once, once_worst_chance
    from flamingo_mini.world import demo_model, demo_processor
    torch.set_num_threads(2)
    model, processor = demo_model(), demo_processor()
    runs = {}
    for name, measure in (('fresh_10', lambda: fresh(model, processor, 10)), ('fresh_100', lambda: fresh(model, processor, 100)),
                          ('paired_100', lambda: evaluate_once(model, processor, n=100))):
        start = time.time()
        with torch.no_grad(): runs[name] = measure()
        runs[name] |= dict(seconds=round(time.time() - start), worst_chance=once_worst_chance(runs[name]))
        print(name, {k: runs[name][k] for k in ('mean', 'worst', 'seconds')}, flush=True)
    report = dict(what=__doc__.split('\n\n')[0].replace('\n', ' '), script='tools/demo_once.py', checkpoint='the shipped demo (world.demo_model)',
                  threads=2, runs=runs)
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == '__main__': main(sys.argv[1])
