"""Does `torch.compile` pay for flamingo_mini? Eager against compiled, for the parts that run once per image.

    python benchmarks/compile.py                 # small sizes, 16 images, on the CPU (one thread) or a GPU
    python benchmarks/compile.py --images 4,16,32

The vision tower and the Perceiver resampler are most of the time to first token once a prompt holds a few images,
and both have static shapes for a given number of images, which is what a compiler likes. Each is compiled in place
(`nn.Module.compile`, so state-dict keys do not change; a fresh model per image count, so each count pays its own
compile), its first call timed as the compile cost, then eager (`forward`) and compiled calls are taken in turn and
the medians compared. The outputs must agree (the script stops otherwise).
Writes `results/<device>-<size>-compile.json` and prints a table.
"""
from __future__ import annotations
import argparse, datetime, json, statistics, sys, time
from pathlib import Path
import torch
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common, impl_ours
from run import cpu_model


def timed(fn, device) -> float:
    t0 = common.clock(device); fn(); return common.clock(device) - t0


@torch.no_grad()
def measure(part, inputs:dict, device, reps:int) -> dict:
    "Eager and compiled seconds per call (medians of calls taken in turn), the compile cost, and the largest difference."
    eager = lambda: part.forward(**inputs)  # after `compile()`, calling the module runs the compiled code, `forward` not
    expected = eager()
    part.compile()
    first = timed(lambda: part(**inputs), device)
    got = part(**inputs)
    a, b = (getattr(x, 'last_hidden_state', x).float() for x in (expected, got))
    diff, scale = float((a - b).abs().max()), float(a.abs().max())
    if diff > 1e-3 * max(scale, 1.): raise SystemExit(f'{type(part).__name__}: compiled output differs by {diff:.3g}')
    times = dict(eager=[], compiled=[])
    for rep in range(reps):
        pair = (('eager', eager), ('compiled', lambda: part(**inputs)))
        for name, f in (pair if rep % 2 == 0 else pair[::-1]): times[name].append(timed(f, device))
    e, c = statistics.median(times['eager']), statistics.median(times['compiled'])
    return dict(eager_s=e, compiled_s=c, speedup=e / c, compile_s=first, max_abs_diff=diff, reps=reps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', default='small', choices=list(common.SIZES))
    ap.add_argument('--device', default='auto')
    ap.add_argument('--threads', type=int, default=None, help='torch threads; default 1 on the CPU')
    ap.add_argument('--images', default='16', help='numbers of images per call, comma-separated')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--out', default=None)
    args = ap.parse_args()
    device, dtype = common.pick_device(args.device)
    threads = args.threads if args.threads is not None else (1 if device.type == 'cpu' else 0)
    if threads: torch.set_num_threads(threads)
    rows = []
    for n in [int(x) for x in args.images.split(',')]:
        model = impl_ours.build(args.size, device, dtype, which=('ours',))['ours'].model  # fresh: nothing compiled yet
        pixels = common.pixels(1, n, args.size).to(device, dtype)[0]  # (n, c, h, w)
        with torch.no_grad(): feats = model.vision_encoder(pixel_values=pixels).last_hidden_state
        for name, part, inputs in (('vision tower', model.vision_encoder, dict(pixel_values=pixels)),
                                   ('resampler', model.resampler, dict(x=feats[:, None, None]))):
            r = dict(part=name, images=n, **measure(part, inputs, device, args.reps))
            rows.append(r)
            print(f"{name:13} {n:3} images: eager {r['eager_s']*1e3:8.1f} ms, compiled {r['compiled_s']*1e3:8.1f} ms, "
                  f"speed-up {r['speedup']:.2f}x, compile {r['compile_s']:.0f} s, max |diff| {r['max_abs_diff']:.1e}",
                  flush=True)
    meta = dict(size=args.size, device=device.type, dtype=str(dtype), threads=torch.get_num_threads(),
                torch=torch.__version__, cpu=cpu_model(),
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                command='python benchmarks/compile.py ' + ' '.join(sys.argv[1:]))
    out = Path(args.out or HERE / 'results' / f'{device.type}-{args.size}-compile.json')
    out.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    print('wrote', out)


if __name__ == '__main__':
    main()
