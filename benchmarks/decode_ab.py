"""Decode speed of this tree against a baseline git revision, measured in one run (an A/B test of the decode path).

    .venv/bin/python benchmarks/decode_ab.py                       # baseline e01d117, size small, 5 rounds
    .venv/bin/python benchmarks/decode_ab.py --baseline main~3 --size tiny --rounds 3

The baseline is checked out into a temporary `git worktree add --detach` (removed at the end). Two workers
(`worker.py`, the same harness code of this tree, `impl_ours`) run with the same python, one thread each, and with
`PYTHONPATH` set to the baseline tree for one and to this tree for the other, so each imports its own `flamingo_mini`.
Both build the same random-weight Flamingo and bare LM (same seed). Each measurement is one greedy `generate` of
`--new-tokens` tokens (`min_new_tokens` fixed, so both generate the same count) after a prompt with 1, 16 or 32
images; the per-token decode time is the median of the steps after the first token. The driver asks one worker at a
time and swaps the order every round, so background load hits both alike; it reports medians over rounds, the ratio
current/baseline per image count (with the spread of the per-round ratios) and each tree's ratio to its bare LM, and
writes `results/<device>-<size>-decode-ab.json`.
"""
from __future__ import annotations
import argparse, datetime, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # the driver's worker client (JSON lines) and cpu_model

TREE = HERE.parent


class TreeWorker(run.Worker):
    "`worker.py --module impl_ours` of this tree, importing `flamingo_mini` from `tree`."
    def __init__(self, name, tree:Path, args, log):
        self.name, self.tree = name, tree
        cmd = [sys.executable, str(HERE / 'worker.py'), '--module', 'impl_ours', '--size', args.size,
               '--device', 'cpu', '--threads', '1']
        self.env = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false',
                        PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                     env=self.env, cwd=HERE)

    def source(self) -> str:
        "Where this worker's `flamingo_mini.model` comes from (a check that PYTHONPATH wins over the editable install)."
        return subprocess.run([sys.executable, '-c', 'import flamingo_mini.model as m; print(m.__file__)'],
                              env=self.env, cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()


def git(*a, cwd=TREE) -> str:
    return subprocess.run(['git', *a], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def spread(xs) -> dict:
    return dict(median=statistics.median(xs), min=min(xs), max=max(xs), n=len(xs))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--baseline', default='e01d117', help='git revision to compare against (default: main of 4 Dec)')
    ap.add_argument('--size', default='small', choices=['tiny', 'small'])
    ap.add_argument('--images', default='1,16,32')
    ap.add_argument('--new-tokens', type=int, default=16)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--out', default=None, help='default: results/cpu-<size>-decode-ab.json')
    args = ap.parse_args(argv)
    images = [int(x) for x in args.images.split(',')]
    out_path = Path(args.out) if args.out else HERE / 'results' / f'cpu-{args.size}-decode-ab.json'

    base_rev = git('rev-parse', args.baseline)
    cur_rev = git('rev-parse', 'HEAD')
    dirty = bool(git('status', '--porcelain', '--', 'flamingo_mini'))
    tmp = Path(tempfile.mkdtemp(prefix='decode-ab-'))
    base_tree = tmp / 'baseline'
    git('worktree', 'add', '--detach', str(base_tree), base_rev)
    load = dict(start=os.getloadavg())
    t_start = time.time()
    log = open(tmp / 'workers.log', 'w')
    workers = {}
    try:
        workers = dict(baseline=TreeWorker('baseline', base_tree, args, log), current=TreeWorker('current', TREE, args, log))
        ready = {k: w.read() for k, w in workers.items()}
        sources = {k: w.source() for k, w in workers.items()}
        assert sources['baseline'].startswith(str(base_tree)), sources
        assert sources['current'].startswith(str(TREE)), sources
        for k, r in ready.items():
            print(f"{k}: built in {r['build_s']:.1f}s, {r['params']['ours']['total'] / 1e6:.1f} M parameters, "
                  f"flamingo_mini from {sources[k]}", flush=True)
        # one untimed generate each to warm up the allocator and the lazy imports
        for w in workers.values():
            for impl in ('ours', 'bare'): w.ask(op='generate', impl=impl, images=images[0], beams=1, new_tokens=4)
        raw = {k: {impl: {n: [] for n in images} for impl in ('ours', 'bare')} for k in workers}
        load['rounds'] = []
        for r in range(args.rounds):
            order = ['baseline', 'current'] if r % 2 == 0 else ['current', 'baseline']
            for n in images:
                for impl in ('ours', 'bare'):
                    for k in order:
                        res = workers[k].ask(op='generate', impl=impl, images=n, beams=1, new_tokens=args.new_tokens)
                        assert res['new_tokens'] == args.new_tokens, res
                        raw[k][impl][n].append(dict(step_s=statistics.median(res['steps_s']), step_min_s=min(res['steps_s']),
                                                    ttft_s=res['ttft_s'],
                                                    prompt_tokens=res['prompt_tokens']))
            load['rounds'].append(os.getloadavg())
            cur = [raw['current']['ours'][n][-1]['step_s'] / raw['baseline']['ours'][n][-1]['step_s'] for n in images]
            print(f'round {r + 1}/{args.rounds}: current/baseline ' +
                  ', '.join(f'{n} img {c:.3f}' for n, c in zip(images, cur)) + f'  load {os.getloadavg()[0]:.2f}',
                  flush=True)
    finally:
        for w in workers.values():
            try: w.close()
            except Exception: w.proc.kill()
        log.close()
        git('worktree', 'remove', '--force', str(base_tree))
        load['end'] = os.getloadavg()

    summary = {}
    for n in images:
        step = lambda k, impl: [m['step_s'] for m in raw[k][impl][n]]
        ab = [c / b for c, b in zip(step('current', 'ours'), step('baseline', 'ours'))]  # per round, same order slot
        summary[str(n)] = dict(
            prompt_tokens=raw['current']['ours'][n][0]['prompt_tokens'],
            decode_s_per_token={k: {impl: statistics.median(step(k, impl)) for impl in ('ours', 'bare')} for k in workers},
            ratio_current_over_baseline=statistics.median(step('current', 'ours')) / statistics.median(step('baseline', 'ours')),
            ratio_current_over_baseline_per_round=spread(ab),
            # the floor: the fastest step of all rounds, which background load can only raise
            ratio_current_over_baseline_fastest_step=min(m['step_min_s'] for m in raw['current']['ours'][n])
                / min(m['step_min_s'] for m in raw['baseline']['ours'][n]),
            ratio_to_bare={k: statistics.median(step(k, 'ours')) / statistics.median(step(k, 'bare')) for k in workers},
            ttft_s={k: statistics.median([m['ttft_s'] for m in raw[k]['ours'][n]]) for k in workers})
    result = dict(
        what='per-token decode time (greedy generate, median of the steps after the first token) of this tree against '
             'a baseline revision, workers alternated every measurement, order swapped every round',
        date=datetime.datetime.now().isoformat(timespec='seconds'), size=args.size, device='cpu', threads=1,
        cpu=run.cpu_model(), cpus=os.cpu_count(), new_tokens=args.new_tokens, rounds=args.rounds,
        baseline=dict(rev=base_rev, asked=args.baseline), current=dict(rev=cur_rev, flamingo_mini_uncommitted=dirty),
        versions=ready['current']['versions'], wall_s=round(time.time() - t_start, 1),
        load_average=load, summary=summary, raw=raw)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + '\n')
    print(f'\n{args.size}, {args.rounds} rounds, {args.new_tokens} new tokens, load average '
          f"{load['start'][0]:.2f} -> {load['end'][0]:.2f}; baseline {base_rev[:7]}, current {cur_rev[:7]}")
    print('images | ms/token baseline | current | bare | current/baseline (per-round min..max) | fastest steps | '
          'to bare: base / cur')
    for n, s in summary.items():
        d, pr = s['decode_s_per_token'], s['ratio_current_over_baseline_per_round']
        print(f"{n:>6} | {d['baseline']['ours'] * 1e3:8.2f} | {d['current']['ours'] * 1e3:8.2f} | "
              f"{d['current']['bare'] * 1e3:6.2f} | {s['ratio_current_over_baseline']:.3f} "
              f"({pr['min']:.3f}..{pr['max']:.3f}) | {s['ratio_current_over_baseline_fastest_step']:.3f} | {s['ratio_to_bare']['baseline']:.2f} / {s['ratio_to_bare']['current']:.2f}")
    print(f'wrote {out_path}')
    os.remove(tmp / 'workers.log')
    os.rmdir(tmp)


if __name__ == '__main__':
    main()
