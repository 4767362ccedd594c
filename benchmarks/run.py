"""Benchmark flamingo_mini against the bare LM, OpenFlamingo 2.0.1 and lucidrains' flamingo-pytorch 0.1.2.

    python benchmarks/run.py --quick          # the short run (minutes on two CPU cores)
    python benchmarks/run.py                  # the documented run
    python benchmarks/run.py --size large     # on a GPU (picked when there is one; bf16)

Each implementation runs in its own worker process and venv (ours needs transformers 5.x, OpenFlamingo 4.52.4); this
driver asks the workers for one measurement at a time, in turn, so the implementations are measured side by side
under the same background load, then writes one JSON file under results/ and prints the tables and the targets.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, subprocess, sys, time
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import report

PEERS_PYTHON = HERE / '.venv-peers' / 'bin' / 'python'
MODULES = dict(ours='impl_ours', openflamingo='impl_openflamingo', lucidrains='impl_lucidrains')


def cpu_model() -> str:
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


class Worker:
    "A worker process of one implementation (see worker.py), spoken to in JSON lines."
    def __init__(self, name, python, args, log, extra=()):
        self.name = name
        cmd = [str(python), str(HERE / 'worker.py'), '--module', MODULES[name], '--size', args.size,
               '--device', args.device, '--threads', str(args.threads), *extra]
        env = dict(os.environ, HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false', PYTHONWARNINGS='ignore')
        if args.threads: env['OMP_NUM_THREADS'] = str(args.threads)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                     env=env, cwd=HERE)

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line: raise RuntimeError(f'{self.name} worker died (see the log)')
        msg = json.loads(line)
        if msg.get('ok') is False: raise RuntimeError(f"{self.name} worker: {msg['error']}\n{msg.get('trace', '')}")
        return msg

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + '\n'); self.proc.stdin.flush()
        return self.read()['result']

    def close(self):
        if self.proc.poll() is None:
            try: self.proc.stdin.write('{"op": "quit"}\n'); self.proc.stdin.flush()
            except BrokenPipeError: pass
            self.proc.wait(timeout=60)


def python_for(name, args):
    if name == 'ours': return sys.executable
    if not Path(args.peers_python).exists():
        sys.exit(f'{args.peers_python} is missing: `make bench` sets the peers venv up (or pass --impls ours)')
    return args.peers_python


def rotated(xs, r): return xs[r % len(xs):] + xs[:r % len(xs)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', '--sizes', default='small', choices=['tiny', 'small', 'large'])
    ap.add_argument('--device', default='auto', help="'auto' (cuda when there is one), 'cpu' or 'cuda'")
    ap.add_argument('--threads', type=int, default=None,
                    help='torch threads per worker; default 1 on the CPU (on a shared machine two threads that wait '
                         'on each other are several times slower than one), all on a GPU')
    ap.add_argument('--quick', action='store_true', help='one repetition, 8 new tokens, beam search at 16 images only')
    ap.add_argument('--reps', type=int, help='repetitions of every generation measurement')
    ap.add_argument('--decode-reps', type=int, help='repetitions of the decode comparison with the bare LM (default --reps)')
    ap.add_argument('--new-tokens', type=int)
    ap.add_argument('--gen-images', type=str)
    ap.add_argument('--beam-images', type=str)
    ap.add_argument('--decode-images', type=str)
    ap.add_argument('--decode-steps', type=int)
    ap.add_argument('--train-steps', type=int, help='training steps per implementation (the first is a warm-up; 0: no training)')
    ap.add_argument('--train-reps', type=int, help='rounds of fresh training processes')
    ap.add_argument('--lucidrains-gen-images', type=str,
                    help='image counts at which to time flamingo-pytorch, which has no cache and re-runs the sequence')
    ap.add_argument('--lucidrains-new-tokens', type=int)
    ap.add_argument('--impls', default='ours,openflamingo,lucidrains')
    ap.add_argument('--peers-python', default=str(PEERS_PYTHON))
    ap.add_argument('--out', help='results JSON (default results/<device>-<size>[-quick].json)')
    args = ap.parse_args(argv)

    full = dict(reps=3, new_tokens=16, gen_images='0,4,16,32', beam_images='0,4,16,32', decode_images='1,4,16,32',
                decode_steps=16, train_steps=3, train_reps=1, lucidrains_gen_images='0,4,16', lucidrains_new_tokens=8)
    quick = dict(full, reps=1, new_tokens=8, beam_images='16', decode_steps=8, train_steps=2,
                 lucidrains_gen_images='0,4', lucidrains_new_tokens=4)
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None: setattr(args, k, v)
    if args.decode_reps is None: args.decode_reps = args.reps
    ints = lambda s: [int(x) for x in s.split(',') if x != '']
    gen_images, beam_images, decode_images = ints(args.gen_images), ints(args.beam_images), ints(args.decode_images)
    lucid_images = ints(args.lucidrains_gen_images)
    import torch
    if args.device == 'auto': args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.threads is None: args.threads = 1 if args.device == 'cpu' else 0
    impls = args.impls.split(',')
    tag = f"{args.device}-{args.size}{'-quick' if args.quick else ''}"
    out = Path(args.out) if args.out else HERE / 'results' / f'{tag}.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.with_suffix('.log')
    log = open(log_path, 'w')
    t_start = time.perf_counter()
    say = lambda *a: print(f'[{time.perf_counter() - t_start:6.0f}s]', *a, flush=True)
    say(f'workers starting ({", ".join(impls)}); their output goes to {log_path}')

    workers = {name: Worker(name, python_for(name, args), args, log) for name in impls}
    ready = {name: w.read() for name, w in workers.items()}
    for name, r in ready.items(): say(f"{name} ready in {r['build_s']:.0f}s: {r['params']}")
    impl_worker = {impl: workers[name] for name, r in ready.items() for impl in r['impls']}
    res = dict(meta=dict(
        size=args.size, device=args.device, dtype=ready[impls[0]]['dtype'], threads=args.threads or ready[impls[0]]['threads'],
        cpu=cpu_model(), cores=os.cpu_count(), torch=ready[impls[0]]['versions']['torch'], quick=args.quick,
        reps=args.reps, decode_reps=args.decode_reps, new_tokens=args.new_tokens, gen_images=gen_images, beam_images=beam_images,
        decode_images=decode_images, decode_steps=args.decode_steps, train_steps=args.train_steps,
        train_batch=4, train_images=4, train_tokens=64, lucidrains_gen_images=lucid_images,
        lucidrains_new_tokens=args.lucidrains_new_tokens,
        versions={name: r['versions'] for name, r in ready.items()},
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        command='python benchmarks/run.py ' + ' '.join(sys.argv[1:] if argv is None else argv)),
        params={impl: p for r in ready.values() for impl, p in r['params'].items()},
        checks=dict(ours_vs_bare_logits_maxdiff=ready.get('ours', {}).get('ours_vs_bare_logits_maxdiff')),
        decode=[], flops={}, generate=[], train=[])

    say('warm-up')
    for impl, w in impl_worker.items():
        if impl in ('ours', 'bare'): w.ask(op='decode', impl=impl, images=1, steps=2)
        w.ask(op='generate', impl=impl, images=1, beams=1, new_tokens=2)

    if 'ours' in impl_worker:
        say('(a) decode and prefill, ours vs the bare LM, step by step in turn')
        for rep in range(args.decode_reps):
            for n in decode_images:
                pair = rotated(['ours', 'bare'], rep + n)
                r = impl_worker['ours'].ask(op='decode_pair', impls=pair, images=n, steps=args.decode_steps,
                                            count_flops=rep == 0, count_prefill=n <= 4)
                for impl in pair:
                    flops = r[impl].pop('flops', None)
                    if flops is not None: res['flops'].setdefault(str(n), {})[impl] = flops
                    res['decode'].append(dict(impl=impl, images=n, rep=rep, **r[impl]))
                say(f"  {n:2} images: prefill {r['ours']['prefill_s']*1e3:6.0f} / {r['bare']['prefill_s']*1e3:5.0f} ms, "
                    f"decode {report.med(r['ours']['decode_s'])*1e3:6.1f} / {report.med(r['bare']['decode_s'])*1e3:5.1f} "
                    "ms/token (ours / bare)")

    say('(b) generation')
    gen_impls = [i for i in ('ours', 'openflamingo', 'lucidrains', 'bare') if i in impl_worker]
    for rep in range(args.reps):
        for n in gen_images:
            for beams in [1, 3] if n in beam_images else [1]:
                for impl in rotated(gen_impls, rep):
                    if impl == 'lucidrains' and (n not in lucid_images or beams > 1): continue
                    tokens = args.lucidrains_new_tokens if impl == 'lucidrains' else args.new_tokens
                    r = impl_worker[impl].ask(op='generate', impl=impl, images=n, beams=beams, new_tokens=tokens)
                    res['generate'].append(dict(impl=impl, images=n, beams=beams, rep=rep, **r))
                    say(f"  {impl:12} {n:2} images, beams {beams}: first token {r['ttft_s']*1e3:7.0f} ms, "
                        f"{r['new_tokens'] / r['total_s']:6.2f} tokens/s")
    for w in workers.values(): w.close()

    say('(b) training: a fresh process per implementation, steps taken in turn')
    train_impls = [i for i in ('ours', 'openflamingo', 'lucidrains') if i in impls]
    for rep in range(args.train_reps if args.train_steps else 0):
        trainers = {impl: Worker(impl, python_for(impl, args), args, log, extra=('--only', impl, '--train'))
                    for impl in train_impls}
        for impl, w in trainers.items(): res['params'].setdefault(impl, w.read()['params'][impl])
        steps = {impl: [] for impl in train_impls}
        for step in range(args.train_steps):
            for impl in rotated(train_impls, step):
                steps[impl] += trainers[impl].ask(op='train', impl=impl, steps=1)['step_s']
        for impl in train_impls:
            r = trainers[impl].ask(op='memory')  # before counting FLOPs: that pass must not set the peak
            if rep == 0: r.update(trainers[impl].ask(op='train_flops', impl=impl))
            trainers[impl].close()
            res['train'].append(dict(impl=impl, rep=rep, step_s=steps[impl], **r))
            say(f"  {impl:12} steps {[round(s, 2) for s in steps[impl]]} s, peak {r['peak_mb'] - r['baseline_mb']:.0f} MB "
                f"above the interpreter and libraries ({r['peak_from']})")

    res['meta']['wall_s'] = time.perf_counter() - t_start
    out.write_text(json.dumps(res, indent=1))
    png = out.with_name(out.stem + '-decode.png')
    report.plot(res, png)
    print()
    print(report.report(res))
    print(f'\nresults: {out}\nplot: {png}')


if __name__ == '__main__':
    main()
