"""The GPU measurements of issue 19, in one process and under ten minutes on one H200; writes one JSON file.

    bash benchmarks/gpu.sh                              # on a machine with a CUDA GPU: results/gpu.json
    python benchmarks/gpu.py --dry-run                  # on a CPU: the tiny size, few steps, no compile (a check of the script)

Each section is measured on its own and records an `error` instead of stopping the run, so one missing piece (no
bitsandbytes, a compile failure) does not lose the others:
- `train`: a bf16 training step (`--precision amp`: fp32 weights, matmuls in bf16 under autocast; `bf16`: every
  weight in bf16; AdamW on the trainable part) of the `small` and `large` sizes (`sizes.py`), eager and `torch.compile`d: tokens/s, and the model FLOPs utilisation, the
  FLOPs counted by torch's `FlopCounterMode` on the same step as the CPU benchmark counts them (`common.train_flops`).
- `decode`: tokens/s of single-token decode steps with the cache, ours against the bare LM, at 1, 16 and 32 images.
- `sdpa`: which `scaled_dot_product_attention` kernels a prefill with images ran (flash, efficient, cudnn, math),
  read from the profiler's operator names.
- `quantized`: the LM loaded in 8-bit and 4-bit by bitsandbytes (if installed), generate with an image, peak memory.
- `fsdp`: `shard_flamingo` with a real NCCL process group of one process (bf16 policy): a few training steps.
"""
from __future__ import annotations
import argparse, contextlib, datetime, json, math, os, platform, statistics, sys, tempfile, time, traceback
from pathlib import Path
import torch
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE)); sys.path.insert(0, str(HERE.parent))
import common, impl_ours


def section(results:dict, name:str, fn, *args):
    "Run one measurement; its result or its error (with the traceback's tail) goes under `name`."
    t0 = time.perf_counter()
    try: results[name] = fn(*args)
    except Exception as e: results[name] = dict(error=f'{type(e).__name__}: {e}', traceback=traceback.format_exc()[-2000:])
    results[name]['section_s'] = round(time.perf_counter() - t0, 1)
    common.collect()


def timed_steps(step, device, warmup:int, steps:int) -> list[float]:
    for _ in range(warmup): step()
    times = []
    for _ in range(steps):
        t0 = common.clock(device); step(); times.append(common.clock(device) - t0)
    return times


def train_batch(media_id:int, vocab:int, size:str, batch:int, tokens:int, images:int, device) -> dict:
    "`batch` rows of `tokens` tokens with `images` <image> tokens spread over each, random text between."
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, vocab - 10, (batch, tokens), generator=g)
    ids[:, ::tokens // images] = media_id
    return dict(input_ids=ids.to(device), attention_mask=torch.ones_like(ids).to(device), labels=ids.clone().to(device),
                pixel_values=common.pixels(batch, images, size).to(device, torch.bfloat16))


def train(args, device, size:str, compiled:bool) -> dict:
    "Tokens/s and MFU of a bf16 training step of `size`, eager or compiled."
    # 'amp': fp32 weights, matmuls in bf16 under autocast (fp32 master weights for AdamW); 'bf16': every weight bf16
    amp = args.precision == 'amp'
    impl = impl_ours.build(size, device, torch.float32 if amp else torch.bfloat16, which=('ours',))['ours']
    model = impl.model.train()
    batch = train_batch(impl.media_id, impl.vocab, size, args.batch, args.tokens, args.images, device)
    if amp: batch['pixel_values'] = batch['pixel_values'].float()
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device.type == 'cuda')
    def step():
        with autocast(): loss = forward(**batch).loss
        loss.backward(); optimizer.step(); optimizer.zero_grad(set_to_none=True)
    t0 = time.perf_counter(); step(); common.sync(device); first = time.perf_counter() - t0  # the compile cost, if any
    times = timed_steps(step, device, args.warmup, args.steps)
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:  # counted eagerly: the same model work either way
        with autocast(): model(**batch).loss.backward()
    optimizer.zero_grad(set_to_none=True)
    flops, seconds = counter.get_total_flops(), statistics.median(times)
    name, peak = common.peak_flops(device)
    out = dict(size=size, compiled=compiled, precision=args.precision, batch=args.batch, tokens=args.tokens, images_per_row=args.images,
               step_s=seconds, first_step_s=first, tokens_per_s=args.batch * args.tokens / seconds,
               model_flops=flops, flops_per_s=flops / seconds, peak_flops=peak, mfu=flops / seconds / peak if peak else None,
               peak_memory_gb=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else None)
    del model, forward, optimizer, impl
    return out


def decode(args, device, size:str) -> dict:
    "Decode tokens/s (one token a step, with the cache) of ours and of the bare LM, at 1, 16 and 32 images."
    impls = impl_ours.build(size, device, torch.bfloat16)
    rows = []
    for n in args.decode_images:
        pair = common.measure_decode_pair([impls['ours'], impls['bare']], n, args.decode_steps)
        row = dict(images=n)
        for name, r in pair.items():
            row[name] = dict(tokens_per_s=1 / statistics.median(r['decode_s']), prefill_s=r['prefill_s'],
                             prompt_tokens=r['prompt_tokens'])
        row['ratio'] = row['ours']['tokens_per_s'] / row['bare']['tokens_per_s']
        rows.append(row)
    return dict(size=size, steps=args.decode_steps, rows=rows)


SDPA_KERNELS = {'flash': 'flash_attention', 'efficient': 'efficient_attention', 'cudnn': 'cudnn_attention',
                'math': 'attention_math'}

def sdpa(args, device, size:str) -> dict:
    "Calls of each SDPA kernel in one prefill with 4 images, for the whole model and for the image path alone."
    from torch.profiler import profile, ProfilerActivity
    impl = impl_ours.build(size, device, torch.bfloat16, which=('ours',))['ours']
    ids, images = impl.prompt(4), impl.images(4)
    def kernels(fn):
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof: fn()
        names = [e.key for e in prof.key_averages() if 'scaled_dot_product' in e.key]
        counts = {k: sum(e.count for e in prof.key_averages() if v in e.key) for k, v in SDPA_KERNELS.items()}
        return dict(counts=counts, operators=sorted(set(names)))
    model = impl.model
    whole = kernels(lambda: impl.prefill(ids, images))
    media = kernels(lambda: model.encode_images(images.flatten(0, 1)))  # the vision tower's (b t) images
    return dict(size=size, prefill=whole, image_path=media, default_backends=dict(
        flash=torch.backends.cuda.flash_sdp_enabled(), efficient=torch.backends.cuda.mem_efficient_sdp_enabled(),
        math=torch.backends.cuda.math_sdp_enabled()))


def quantized(args, device, size:str) -> dict:
    "The LM loaded in 8 and 4 bits (bitsandbytes) inside a Flamingo: peak memory and a generate call with an image."
    import bitsandbytes  # noqa: F401  (not installed: the section records the ImportError)
    from transformers import BitsAndBytesConfig, GPT2LMHeadModel, CLIPVisionModel
    from flamingo_mini.model import FlamingoConfig, FlamingoModel
    f, out = common.SIZES[size]['flamingo'], {}
    with tempfile.TemporaryDirectory() as tmp:
        GPT2LMHeadModel(common.gpt2_config(size)).save_pretrained(tmp)
        for bits in (8, 4):
            common.collect(); torch.cuda.reset_peak_memory_stats(device)
            q = (BitsAndBytesConfig(load_in_8bit=True) if bits == 8 else
                 BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type='nf4'))
            lm = GPT2LMHeadModel.from_pretrained(tmp, quantization_config=q, device_map={'': device.index or 0})
            vision = CLIPVisionModel(common.clip_vision_config(size)).to(device, torch.bfloat16)
            vocab = lm.config.vocab_size
            config = FlamingoConfig(text_config=lm.config, vision_config=vision.config, media_token_id=vocab,
                                    eoc_token_id=vocab + 1, xattn_every=1, xattn_dim_head=f['dim_head'],
                                    xattn_heads=f['heads'], resampler_depth=f['resampler_depth'],
                                    resampler_num_latents=f['num_latents'])
            model = FlamingoModel(config, lm=lm, vision_encoder=vision)
            for p in model.parameters():  # the new parts (built on the CPU) in bf16 on the GPU beside the quantized LM
                if p.dtype == torch.float32: p.data = p.data.to(device, torch.bfloat16)
            for module in model.modules():
                for key, buffer in module.named_buffers(recurse=False):
                    if buffer.device != device: setattr(module, key, buffer.to(device))
            impl = impl_ours.Ours(model.eval(), size, device, torch.bfloat16, vocab, vocab + 1, vocab)
            ids, images = impl.prompt(1), impl.images(1)
            t0 = time.perf_counter()
            with torch.no_grad():
                gen = model.generate(input_ids=ids, pixel_values=images, max_new_tokens=16, min_new_tokens=16,
                                     do_sample=False, pad_token_id=0)
            common.sync(device)
            out[f'{bits}bit'] = dict(new_tokens=gen.shape[1] - ids.shape[1], generate_s=time.perf_counter() - t0,
                                     lm_memory_gb=lm.get_memory_footprint() / 2**30,
                                     peak_memory_gb=torch.cuda.max_memory_allocated(device) / 2**30)
            del model, lm, vision, impl
    return out


def fsdp(args, device, size:str) -> dict:
    "`shard_flamingo` under a one-process process group (NCCL on a GPU, gloo on a CPU): a few training steps."
    import torch.distributed as dist
    from flamingo_mini.sharding import fsdp_options, is_sharded, shard_flamingo
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1'); os.environ.setdefault('MASTER_PORT', str(29500 + os.getpid() % 1000))
    backend = 'nccl' if device.type == 'cuda' else 'gloo'
    dist.init_process_group(backend, rank=0, world_size=1, device_id=device if device.type == 'cuda' else None)
    try:
        from torch.distributed.device_mesh import init_device_mesh
        impl = impl_ours.build(size, device, torch.float32, which=('ours',))['ours']
        model = impl.model.train()
        mesh = init_device_mesh(device.type, (1,))
        shard_flamingo(model, activation_checkpointing=True, **fsdp_options('bf16' if device.type == 'cuda' else 'no', mesh=mesh))
        batch = train_batch(impl.media_id, impl.vocab, size, args.batch, args.tokens, args.images, device)
        batch['pixel_values'] = batch['pixel_values'].float()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        losses = []
        def step():
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step(); optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss))
        times = timed_steps(step, device, 1, max(2, args.steps // 2))
        return dict(size=size, backend=backend, sharded=is_sharded(model), world_size=dist.get_world_size(),
                    losses=losses, step_s=statistics.median(times),
                    tokens_per_s=args.batch * args.tokens / statistics.median(times))
    finally: dist.destroy_process_group()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dry-run', action='store_true', help='on the CPU: the tiny size, few steps, no compile')
    parser.add_argument('--sizes', default='small,large')
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--tokens', type=int, default=512)
    parser.add_argument('--images', type=int, default=4, help='<image> tokens per training row')
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--decode-images', default='1,16,32')
    parser.add_argument('--decode-steps', type=int, default=64)
    parser.add_argument('--no-compile', action='store_true')
    parser.add_argument('--precision', choices=('amp', 'bf16'), default='amp', help="training: 'amp' (fp32 weights, bf16 autocast) or 'bf16' weights")
    parser.add_argument('--out', default=str(HERE/'results'/'gpu.json'))
    args = parser.parse_args(argv)
    if args.dry_run:
        args.sizes, args.batch, args.tokens, args.steps, args.warmup, args.decode_steps = 'tiny', 2, 32, 2, 1, 4
        args.no_compile = True
        device = torch.device('cpu')
    else:
        if not torch.cuda.is_available(): parser.error('no CUDA device: use --dry-run on a CPU')
        device = torch.device('cuda', 0)
    args.decode_images = [int(n) for n in args.decode_images.split(',')]
    sizes = args.sizes.split(',')
    name, peak = common.peak_flops(device)
    results = dict(when=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), device=name,
                   peak_bf16_flops=peak, dry_run=args.dry_run, torch=torch.__version__, python=platform.python_version(),
                   cuda=torch.version.cuda, args={k: v for k, v in vars(args).items() if k != 'out'})
    out = Path(args.out)
    def save():  # after every section, so a run stopped by its time limit keeps what it measured
        out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(results, indent=1))
    for size in sizes:
        for compiled in ((False,) if args.no_compile else (False, True)):
            section(results.setdefault('train', {}), f'{size}{"-compiled" if compiled else ""}', train, args, device, size, compiled)
            save()
    section(results, 'decode', decode, args, device, sizes[0]); save()
    section(results, 'sdpa', sdpa, args, device, sizes[-1]); save()
    if device.type == 'cuda': section(results, 'quantized', quantized, args, device, sizes[0]); save()
    section(results, 'fsdp', fsdp, args, device, sizes[0]); save()
    print(json.dumps({k: v for k, v in results.items() if k != 'args'}, indent=1, default=str)[:6000])
    print(f'wrote {out}')
    return results


if __name__ == '__main__': main()
