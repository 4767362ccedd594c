"""One training step of a Flamingo at real sizes on the CPU (random weights, nothing downloaded), its peak memory against
the memory plan's analytic model (`flamingo_mini.memory`), its step time and its parameter counts.

The sizes are `memory.MEASURED_SIZES`: GPT-2 small + ViT-B/32, OPT-350m + ViT-L/14 and a Llama-3.2-1B-shaped LM + a
SigLIP-so400m-shaped tower. As the plan assumes, the frozen LM and tower are bf16 and the trainable parts (resampler,
gated cross-attention, new token rows) fp32 with AdamW, the matrix products in bf16 under autocast; each size runs with
and without activation checkpointing, each in a fresh process, one after the other.

Memory is measured three ways:
- the peak resident set of the training steps (the kernel's peak counter, reset after the model is built) less the
  resident set of the interpreter with its libraries imported, before the model was built: what the process needed;
- torch's own tensors: the bytes of the weights (by dtype), of the gradients and of AdamW's state, summed over distinct
  storages, which is what the analytic model's `states` term counts;
- the tensors autograd saved for the backward pass (`torch.autograd.graph.saved_tensors_hooks`, distinct storages,
  weights left out), which is what its `activations` term counts. Under activation checkpointing the recomputed blocks
  save nothing through these hooks; the block inputs the checkpoint holds are not counted (2 bytes per token and width
  per block, under a per cent here).

    python benchmarks/real_size.py                   # every size, both variants: about 10 minutes on one core
    python benchmarks/real_size.py --sizes gpt2-small --no-checkpointing-variant
Writes `results/cpu-real-size.json`, which the benchmarks and memory plan pages render.
"""
from __future__ import annotations
import argparse, contextlib, datetime, json, os, platform, re, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH, TOKENS, IMAGES = 1, 128, 2  # one sample of 128 tokens with 2 images: the 1B size stays near 8 GB on a CPU
GiB = 2 ** 30


def rss() -> int:
    return int(re.search(r'VmRSS:\s+(\d+)', open('/proc/self/status').read()).group(1)) * 1024

def hwm() -> int:
    "Peak resident set since the process started or since `reset_hwm`, in bytes."
    return int(re.search(r'VmHWM:\s+(\d+)', open('/proc/self/status').read()).group(1)) * 1024

def reset_hwm() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False

def available() -> int:
    "The memory the kernel says new processes can still have, in bytes."
    return int(re.search(r'MemAvailable:\s+(\d+)', open('/proc/meminfo').read()).group(1)) * 1024


def storages_bytes(tensors) -> int:
    "Bytes of the distinct storages behind `tensors` (a tied weight or a view counts once)."
    seen = {}
    for t in tensors:
        if t is None: continue
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
    return sum(seen.values())


VIEWS = {'TBackward0', 'ViewBackward0', 'TransposeBackward0', 'PermuteBackward0', 'ExpandBackward0',
         'UnsqueezeBackward0', 'SqueezeBackward0', 'UnsafeViewBackward0', 'SliceBackward0'}

def is_weight_copy(t) -> bool:
    "Whether `t` is (a view of) autocast's bf16 copy of a trainable weight: a cast of a leaf that requires grad."
    fn = t.grad_fn
    for _ in range(4):
        if fn is None: return False
        name = type(fn).__name__
        if name == 'ToCopyBackward0': return type(fn.next_functions[0][0]).__name__ == 'AccumulateGrad'
        if name not in VIEWS: return False
        fn = fn.next_functions[0][0]
    return False


def worker(size:str, checkpointing:bool, threads:int) -> dict:
    "Build `size`, take two training steps, and measure them (runs in a fresh process)."
    import gc
    import torch
    import transformers
    from flamingo_mini import memory
    from flamingo_mini.lm import find_decoder_layers
    torch.set_num_threads(threads)
    counts = memory.count_parameters(size)  # on the meta device: no weights
    gc.collect()
    baseline = rss()  # the interpreter with torch, transformers and flamingo_mini imported
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = memory.build_flamingo(size, frozen_dtype=torch.bfloat16).train()
    if checkpointing: model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
    build_s = time.perf_counter() - t0
    gc.collect()
    built = rss()
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    weights = {str(dt).removeprefix('torch.'): storages_bytes([p for p in params if p.dtype == dt])
               for dt in sorted({p.dtype for p in params}, key=str)}
    buffers = storages_bytes(model.buffers())

    config = model.config
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, config.text_config.vocab_size - 10, (BATCH, TOKENS), generator=g)
    ids[ids >= min(config.media_token_id, config.eoc_token_id)] = 11
    ids[:, ::TOKENS // IMAGES] = config.media_token_id  # an <image> every TOKENS/IMAGES tokens
    side = config.vision_config.image_size
    batch = dict(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids.clone(),
                 pixel_values=torch.randn(BATCH, IMAGES, 3, side, side, generator=g))
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)

    param_storages = {p.untyped_storage().data_ptr() for p in params}
    region = ['other']  # the innermost part running now: saved tensors are counted per part
    def enter(name): return lambda *_: region.append(name)
    def leave(*_): region.pop()
    parts = [(model.resampler, 'resampler'), (model.lm.get_output_embeddings(), 'head')]
    for layer in model._xattn_layers: parts.append((layer.xattn_block, 'xattn'))
    lm_blocks = [getattr(l, 'lm_block', l) for l in find_decoder_layers(model.lm, model.config.decoder_layers_path)[1]]
    parts += [(b, 'lm') for b in lm_blocks]
    for module, name in parts:
        module.register_forward_pre_hook(enter(name)); module.register_forward_hook(leave)
    saved, casts = {}, {}
    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in param_storages:
            if is_weight_copy(t): casts[s.data_ptr()] = s.nbytes()
            else: saved.setdefault(s.data_ptr(), (region[-1], s.nbytes()))
        return t

    steps = []
    # the first step also creates AdamW's state; the second is the steady one, timed; the third counts torch's tensors
    for step in range(3):
        tracked = step == 2
        saved.clear(); casts.clear()
        gc.collect()
        reset_ok = reset_hwm()
        before = rss()
        t = time.perf_counter()
        held = storages_bytes(params) + buffers + storages_bytes(
            [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)])
        with memory.peak_tensor_bytes() if tracked else contextlib.nullcontext(dict(peak=0)) as made:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                with torch.autocast('cpu', dtype=torch.bfloat16):
                    loss = model(**batch).loss
            after_forward = hwm()
            loss.backward()
            after_backward = hwm()
            grads = storages_bytes([p.grad for p in trainable])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        step_s = time.perf_counter() - t
        steps.append(dict(step_s=step_s, loss=float(loss), peak_rss=hwm(), rss_before=before,
                          peak_forward=after_forward, peak_backward=after_backward, hwm_reset=reset_ok,
                          tensor_peak=held + made['peak'] if tracked else None, tensors_held=held,
                          saved_bytes=sum(n for _, n in saved.values()),
                          saved_by_part={k: sum(n for r, n in saved.values() if r == k) for k in ('lm', 'xattn', 'resampler', 'head', 'other')}, autocast_weight_copies=sum(casts.values()), grad_bytes=grads))
        del loss
    adam = storages_bytes([v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim()])
    last = steps[1]
    return dict(size=size, checkpointing=checkpointing, spec=memory.size_spec(size), batch=BATCH, tokens=TOKENS,
                images=IMAGES, threads=threads, malloc_mmap_threshold=os.environ.get('MALLOC_MMAP_THRESHOLD_'),
                load=os.getloadavg()[0], torch=torch.__version__, transformers=transformers.__version__,
                params=dict(total=sum(p.numel() for p in {id(p): p for p in params}.values()),
                            trainable=sum(p.numel() for p in trainable)),
                counts=vars(counts), build_s=build_s, baseline=baseline, built_rss=built - baseline,
                tensors=dict(weights=weights, buffers=buffers, grads=last['grad_bytes'], adam=adam,
                             saved=last['saved_bytes'], saved_by_part=last['saved_by_part'], autocast_weight_copies=last['autocast_weight_copies']),
                steps=steps, peak=last['peak_rss'] - baseline, step_s=last['step_s'], tensor_peak=steps[2]['tensor_peak'],
                adam_foreach=optimizer.defaults.get('foreach'))


def main():
    from flamingo_mini import memory  # the sizes and the analytic model (this process builds no model)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', default=','.join(memory.MEASURED_SIZES), help='comma-separated keys of MEASURED_SIZES')
    parser.add_argument('--no-checkpointing-variant', action='store_true', help='only the run without checkpointing')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run (1 on a shared machine)')
    parser.add_argument('--out', default=str(HERE/'results'/'cpu-real-size.json'))
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        size, ck, out = args.worker.split(':', 2)
        Path(out).write_text(json.dumps(worker(size, ck == '1', args.threads)))
        return
    t0, rows = time.perf_counter(), []
    for size in args.sizes.split(','):
        for ck in ([False] if args.no_checkpointing_variant else [False, True]):
            need = memory.memory_per_gpu(memory.count_parameters(size), 1, 'ddp', BATCH, seq_len=TOKENS)['total']
            for _ in range(60):  # the machine is shared: never push it into swapping or the OOM killer
                if available() > 1.25 * need + GiB: break
                print(f"{size}: about {need / GiB:.1f} GiB needed, {available() / GiB:.1f} GiB available: waiting", flush=True)
                time.sleep(20)
            else: sys.exit(f"{size}: not enough memory for 20 minutes, stopped")
            with tempfile.TemporaryDirectory() as d:
                out = Path(d)/'row.json'
                r = subprocess.run([sys.executable, __file__, '--worker', f"{size}:{int(ck)}:{out}",
                                    '--threads', str(args.threads)], capture_output=True, text=True)
                if r.returncode != 0: sys.exit(f"{size} (checkpointing {ck}) failed:\n{r.stderr[-3000:]}")
                row = json.loads(out.read_text())
            rows.append(row)
            # the pages compute the prediction from the code as it is now; this line is for the one who runs it
            predicted = memory.predicted_step(row)['total']
            print(f"{size:11} ckpt={ck!s:5} peak {row['peak'] / GiB:5.2f} GiB, predicted {predicted / GiB:5.2f}"
                  f" ({row['peak'] / predicted:.2f}x), step {row['step_s']:.1f} s, "
                  f"{row['params']['total'] / 1e6:.0f} M params, {row['params']['trainable'] / 1e6:.0f} M trainable", flush=True)
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                wall_s=time.perf_counter() - t0, python=platform.python_version(), cpu=platform.processor() or 'cpu',
                cores=os.cpu_count(), command='python benchmarks/real_size.py ' + ' '.join(sys.argv[1:]),
                batch=BATCH, tokens=TOKENS, images=IMAGES)
    Path(args.out).write_text(json.dumps(dict(meta=meta, rows=rows), indent=1) + '\n')
    print('wrote', args.out)


if __name__ == '__main__':
    sys.path.insert(0, str(HERE.parent))  # this tree's flamingo_mini, as the other benchmarks do with PYTHONPATH
    main()
