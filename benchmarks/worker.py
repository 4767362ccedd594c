"""One implementation's process. The driver (`run.py`) starts one per implementation, each in the venv that
implementation needs, and talks to it in JSON lines.

    python worker.py --module impl_ours --size small          # serve: build, then answer requests on stdin
    python worker.py --module impl_ours --only ours --train   # a fresh process that serves training steps of one model

Serving keeps the models loaded, so the driver can interleave the implementations measurement by measurement. Training
runs in a fresh process per implementation, because the peak resident memory of a process that has already generated
says little about training; the driver still takes its steps in turn with the other implementations'.
"""
from __future__ import annotations
import argparse, importlib, json, os, platform, sys, time, traceback
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the protocol owns the real stdout; anything the libraries print goes to stderr
_proto = os.fdopen(os.dup(1), 'w', buffering=1)
os.dup2(2, 1)
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
import common


def send(obj): _proto.write(json.dumps(obj) + '\n')


def versions() -> dict:
    import transformers
    return dict(python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__)


def params(impls) -> dict:
    return {name: dict(total=sum(p.numel() for p in i.model.parameters()),
                       trainable=sum(p.numel() for p in i.trainable_parameters())) for name, i in impls.items()}


def handle(impls, req) -> dict:
    op = req['op']
    if op == 'decode_pair':
        return common.measure_decode_pair([impls[name] for name in req['impls']], req['images'], req['steps'],
                                          req.get('count_flops', False), req.get('count_prefill', False))
    if op == 'memory': return memory(impls)
    impl = impls[req['impl']]
    if op == 'decode':
        return common.measure_decode(impl, req['images'], req['steps'], req.get('count_flops', False),
                                     req.get('count_prefill', False))
    if op == 'generate': return common.measure_generate(impl, req['images'], req['beams'], req['new_tokens'])
    if op in ('train', 'train_flops'):
        batch = common.device_batch(common.train_batch(impl.media_id, impl.vocab, impl.size), impl)
    if op == 'train':
        return dict(step_s=[common.train_step(impl, batch) for _ in range(req.get('steps', 1))])
    if op == 'train_flops':
        name, peak = common.peak_flops(device)
        return dict(train_flops=common.train_flops(impl, batch), device_name=name, peak_flops=peak)
    raise ValueError(f'unknown op {op!r}')


def serve(args):
    t0 = time.perf_counter()
    impls = impl_module.build(args.size, device, dtype, **({'which': args.only.split(',')} if args.only else {}))
    ready = dict(ready=True, build_s=time.perf_counter() - t0, impls=list(impls), params=params(impls),
                 versions=versions(), threads=torch.get_num_threads(), device=str(device), dtype=str(dtype))
    if hasattr(impl_module, 'check_same_lm') and {'ours', 'bare'} <= set(impls):
        ready['ours_vs_bare_logits_maxdiff'] = impl_module.check_same_lm(impls)
    send(ready)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get('op') == 'quit': break
        try: send(dict(ok=True, result=handle(impls, req)))
        except Exception as e: send(dict(ok=False, error=f'{type(e).__name__}: {e}', trace=traceback.format_exc()))


_memory = {}

def serve_training(args):
    """A fresh process that builds one model for training and then serves `train` steps, so that its peak memory
    (`memory`) is that of training alone: the kernel's peak counter is reset once the model is built."""
    impl_module.imports()
    common.collect()
    _memory['baseline'] = common.rss_mb()  # the interpreter and the libraries, before any model
    impls = impl_module.build(args.size, device, dtype, which=(args.only,))
    common.collect()
    _memory['weights'] = common.rss_mb()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        _memory['baseline'], _memory['weights'] = 0., torch.cuda.memory_allocated(device) / 2**20
    _memory['hwm_reset'] = common.reset_hwm()
    send(dict(ready=True, impls=list(impls), params=params(impls), versions=versions(), threads=torch.get_num_threads(),
              device=str(device), dtype=str(dtype)))
    for line in sys.stdin:
        req = json.loads(line)
        if req.get('op') == 'quit': break
        try: send(dict(ok=True, result=handle(impls, req)))
        except Exception as e: send(dict(ok=False, error=f'{type(e).__name__}: {e}', trace=traceback.format_exc()))


def memory(impls) -> dict:
    "Peak memory of this process since its model was built, and the memory before and after building it (MB)."
    if device.type == 'cuda': peak, source = torch.cuda.max_memory_allocated(device) / 2**20, 'cuda max_memory_allocated'
    elif _memory.get('hwm_reset'): peak, source = common.hwm_mb(), 'VmHWM reset after building'
    else: peak, source = common.maxrss_mb(), 'ru_maxrss'
    return dict(baseline_mb=_memory['baseline'], weights_mb=_memory['weights'], peak_mb=peak, peak_from=source)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', required=True)
    ap.add_argument('--size', default='small')
    ap.add_argument('--device', default='auto')
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--only', default='')
    ap.add_argument('--train', action='store_true', help='serve training steps of `--only` in this fresh process')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    device, dtype = common.pick_device(args.device)
    impl_module = importlib.import_module(args.module)
    try:
        serve_training(args) if args.train else serve(args)
    except Exception as e:
        send(dict(ok=False, error=f'{type(e).__name__}: {e}', trace=traceback.format_exc()))
        raise
