"""Turn a results JSON into medians, ratios against the targets, tables and the decode plot.

Standard library only (matplotlib for the plot), so the docs notebook can import it and check every number it shows.
"""
from __future__ import annotations
import json, math, statistics
from pathlib import Path
from sizes import analytic_flops

PEERS = ('openflamingo', 'lucidrains')
NAMES = dict(ours='flamingo_mini', bare='bare GPT-2', openflamingo='OpenFlamingo 2.0.1', lucidrains='flamingo-pytorch 0.1.2')


def load(path) -> dict: return json.loads(Path(path).read_text())


def med(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else math.nan


# ---------------------------------------------------------------- medians
def decode_summary(res) -> dict:
    "(impl, images) -> prefill seconds and seconds per decoded token (median of steps, then of repetitions)."
    out = {}
    for r in res['decode']:
        out.setdefault((r['impl'], r['images']), []).append(r)
    return {key: dict(prefill_s=med([r['prefill_s'] for r in rs]), token_s=med([med(r['decode_s']) for r in rs]),
                      prompt_tokens=rs[0]['prompt_tokens'], reps=len(rs)) for key, rs in out.items()}


def decode_ratios(res) -> dict:
    """images -> decode time ours / bare: the two take their steps in turn in one run, so the ratio is taken within each
    run (of the median steps) and then the median over runs."""
    runs = {}
    for r in res['decode']: runs.setdefault((r['images'], r['rep']), {})[r['impl']] = med(r['decode_s'])
    ratios = {}
    for (n, rep), t in runs.items():
        if {'ours', 'bare'} <= set(t): ratios.setdefault(n, []).append(t['ours'] / t['bare'])
    return {n: med(rs) for n, rs in ratios.items()}


def generate_summary(res) -> dict:
    """(impl, images, beams) -> time to first token; seconds per token after the first (median step) and its inverse,
    the decode tokens/s; and the tokens/s of the whole call (new tokens over its wall time, first token included)."""
    out = {}
    for r in res['generate']:
        out.setdefault((r['impl'], r['images'], r['beams']), []).append(r)
    summary = {}
    for key, rs in out.items():
        step = med([med(r['steps_s']) for r in rs])
        summary[key] = dict(ttft_s=med([r['ttft_s'] for r in rs]), step_s=step, decode_tokens_per_s=1 / step,
                            tokens_per_s=med([r['new_tokens'] / r['total_s'] for r in rs]),
                            new_tokens=rs[0]['new_tokens'], reps=len(rs))
    return summary


def train_summary(res) -> dict:
    """impl -> seconds per step (the first step of each process is a warm-up), samples/s, peak memory above the baseline,
    the step's model FLOPs (counted), the FLOP/s they were done at, and on a GPU with a known peak the model FLOPs
    utilisation (MFU)."""
    out = {}
    for r in res['train']:
        out.setdefault(r['impl'], []).append(r)
    summary = {}
    for impl, rs in out.items():
        steps = [s for r in rs for s in (r['step_s'][1:] or r['step_s'])]
        step = med(steps)
        flops = next((r['train_flops'] for r in rs if r.get('train_flops')), None)
        peak = next((r['peak_flops'] for r in rs if r.get('peak_flops')), None)
        summary[impl] = dict(step_s=step, samples_per_s=res['meta']['train_batch'] / step,
                             peak_mb=med([r['peak_mb'] - r['baseline_mb'] for r in rs]),
                             weights_mb=med([r['weights_mb'] - r['baseline_mb'] for r in rs]), steps=len(steps),
                             train_flops=flops, flops_per_s=flops / step if flops else None,
                             mfu=flops / step / peak if flops and peak else None)
    return summary


def flop_ratio(res, images:int) -> float:
    "Decode FLOPs ours / bare LM at `images` images in context (on paper; see `flops_table` for the counted ones)."
    a = analytic_flops(res['meta']['size'], images)
    return a['ours']['decode'] / a['bare']['decode']


# ---------------------------------------------------------------- targets
def _row(name, value, op, target, images=None):
    ok = None if value is None or math.isnan(value) else (value <= target if op == '<=' else value >= target)
    margin = None if ok is None else (target / value - 1 if op == '<=' else value / target - 1)
    return dict(target=name, value=value, op=op, limit=target, passed=ok, margin=margin, images=images)


def targets(res) -> list[dict]:
    "Every target of issue #6 with its measured value, pass/fail and margin (positive: room left; negative: missed by)."
    dec, gen, tr, paired = decode_summary(res), generate_summary(res), train_summary(res), decode_ratios(res)
    rows = []
    nan = math.nan
    for n in res['meta']['decode_images']:
        if n == 0: continue
        time_ratio = paired.get(n, nan)
        rows.append(_row(f'decode time ours/bare over FLOP ratio ({flop_ratio(res, n):.2f}x), {n} image(s)',
                         time_ratio / flop_ratio(res, n), '<=', 1.10, n))
    lo, hi = min(n for n in res['meta']['decode_images'] if n), max(res['meta']['decode_images'])
    o_lo, o_hi = dec.get(('ours', lo)), dec.get(('ours', hi))
    rows.append(_row(f'ours decode at {hi} images / at {lo}', o_hi['token_s'] / o_lo['token_s'] if o_lo and o_hi else nan,
                     '<=', 1.15, hi))
    def ratio(n, beams, key):
        o, p = gen.get(('ours', n, beams)), gen.get(('openflamingo', n, beams))
        return o[key] / p[key] if o and p else nan
    # tokens/s after the first token (time to first token is a target of its own), then of the whole call
    for key, what in (('decode_tokens_per_s', 'decode tokens/s'), ('tokens_per_s', 'whole-call tokens/s')):
        rows.append(_row(f'{what} ours/OpenFlamingo, greedy, 16 images', ratio(16, 1, key), '>=', 2.5, 16))
        rows.append(_row(f'{what} ours/OpenFlamingo, greedy, 32 images', ratio(32, 1, key), '>=', 3.5, 32))
        rows.append(_row(f'{what} ours/OpenFlamingo, beam 3, 16 images', ratio(16, 3, key), '>=', 3.0, 16))
    rows.append(_row('time to first token ours/OpenFlamingo, greedy, 16 images', ratio(16, 1, 'ttft_s'), '<=', 0.6, 16))
    rows.append(_row('time to first token ours/OpenFlamingo, beam 3, 16 images', ratio(16, 3, 'ttft_s'), '<=', 0.6, 16))
    o, p = tr.get('ours'), tr.get('openflamingo')
    rows.append(_row('training throughput ours/OpenFlamingo', o['samples_per_s'] / p['samples_per_s'] if o and p else nan,
                     '>=', 1.3))
    rows.append(_row('peak training memory ours/OpenFlamingo', o['peak_mb'] / p['peak_mb'] if o and p else nan,
                     '<=', 0.8))
    if str(res['meta']['device']).startswith('cuda'):  # the MFU target is for a GPU (bf16); a CPU has no peak figure here
        rows.append(_row('training-step model FLOPs utilisation, ours (bf16)', (o.get('mfu') or nan) if o else nan,
                         '>=', 0.40))
    return rows


def format_targets(rows) -> str:
    lines = []
    for r in rows:
        if r['passed'] is None: verdict = 'not measured'
        elif r['passed']: verdict = f"PASS (room {r['margin']:.1%})"
        else: verdict = f"MISS (by {-r['margin']:.1%})"
        value = 'n/a' if r['passed'] is None else f"{r['value']:.2f}"
        lines.append(f"{r['target']:<66} {value:>6} {r['op']} {r['limit']:<5} {verdict}")
    return '\n'.join(lines)


# ---------------------------------------------------------------- tables
def _md(header, rows) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows])


def decode_table(res) -> str:
    dec, paired = decode_summary(res), decode_ratios(res)
    rows = []
    for n in res['meta']['decode_images']:
        o, b = dec.get(('ours', n)), dec.get(('bare', n))
        if not (o and b): continue
        rows.append([n, o['prompt_tokens'], f"{b['prefill_s']*1e3:.0f}", f"{o['prefill_s']*1e3:.0f}",
                     f"{b['token_s']*1e3:.1f}", f"{o['token_s']*1e3:.1f}", f"{paired[n]:.2f}",
                     f"{flop_ratio(res, n):.2f}", f"{paired[n] / flop_ratio(res, n):.2f}"])
    return _md(['images', 'prompt tokens', 'prefill bare (ms)', 'prefill ours (ms)', 'decode bare (ms/token)',
                'decode ours (ms/token)', 'time ratio (paired)', 'FLOP ratio', 'time / FLOP ratio'], rows)


def flops_table(res) -> str:
    rows = []
    for n, f in sorted(res.get('flops', {}).items(), key=lambda kv: int(kv[0])):
        keys = next((c['decode_keys'] for c in f.values() if 'decode_keys' in c), None)
        a = analytic_flops(res['meta']['size'], int(n), decode_keys=keys)
        cells = [n]
        for impl in ('bare', 'ours'):
            c = f.get(impl, {})
            cells += [f"{a[impl]['decode']/1e6:.1f}", f"{c['decode']/1e6:.1f}" if 'decode' in c else '-',
                      f"{a[impl]['prefill']/1e9:.2f}", f"{c['prefill']/1e9:.2f}" if 'prefill' in c else '-']
        cells.append(f"{a['ours']['decode']/a['bare']['decode']:.3f}")
        rows.append(cells)
    return _md(['images', 'bare decode MFLOP (paper)', '(counted)', 'bare prefill GFLOP (paper)', '(counted)',
                'ours decode MFLOP (paper)', '(counted)', 'ours prefill GFLOP (paper)', '(counted)',
                'decode ratio'], rows)


def generate_table(res) -> str:
    gen = generate_summary(res)
    rows = []
    for (impl, n, beams), g in sorted(gen.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
        o = gen.get(('ours', n, beams))
        rows.append([NAMES[impl], n, beams, g['new_tokens'], f"{g['ttft_s']*1e3:.0f}", f"{g['step_s']*1e3:.0f}",
                     f"{g['decode_tokens_per_s']:.2f}", f"{g['tokens_per_s']:.2f}",
                     f"{o['decode_tokens_per_s']/g['decode_tokens_per_s']:.2f}" if o else '-',
                     f"{o['tokens_per_s']/g['tokens_per_s']:.2f}" if o else '-'])
    return _md(['implementation', 'images', 'beams', 'new tokens', 'first token (ms)', 'ms per later token',
                'decode tokens/s', 'whole-call tokens/s', 'ours/it, decode', 'ours/it, whole call'], rows)


def train_table(res) -> str:
    tr = train_summary(res)
    rows = []
    for impl in ('ours', *PEERS):
        t = tr.get(impl)
        if not t: continue
        p = res['params'].get(impl, {})
        rows.append([NAMES[impl], f"{p.get('trainable', 0)/1e6:.1f}", f"{t['step_s']:.2f}", f"{t['samples_per_s']:.2f}",
                     f"{t['weights_mb']:.0f}", f"{t['peak_mb']:.0f}",
                     f"{tr['ours']['samples_per_s']/t['samples_per_s']:.2f}", f"{tr['ours']['peak_mb']/t['peak_mb']:.2f}",
                     f"{t['train_flops']/1e12:.2f}" if t['train_flops'] else '-',
                     f"{t['flops_per_s']/1e9:.0f}" if t['flops_per_s'] else '-',
                     f"{t['mfu']:.1%}" if t['mfu'] else '-'])
    return _md(['implementation', 'trainable M params', 's per step', 'samples/s', 'model MB', 'peak MB',
                'ours throughput ratio', 'ours memory ratio', 'TFLOP per step (counted)', 'GFLOP/s', 'MFU'], rows)


# ---------------------------------------------------------------- plot
def plot(res, path=None):
    "Milliseconds per decoded token against images in context: greedy `generate` of each implementation."
    import matplotlib, matplotlib.ticker
    if path: matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    gen = generate_summary(res)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for impl, style in (('bare', 'k--'), ('ours', 'C0o-'), ('openflamingo', 'C3s-'), ('lucidrains', 'C2^-')):
        pts = sorted((n, g['step_s'] * 1e3) for (i, n, b), g in gen.items() if i == impl and b == 1)
        if pts: ax.plot(*zip(*pts), style, label=NAMES[impl] + (' (no cache)' if impl == 'lucidrains' else ''))
    ax.set_xlabel('images in context'); ax.set_ylabel('ms per decoded token (greedy)')
    ax.set_yscale('log')
    lo, hi = ax.get_ylim()
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if lo <= t <= hi]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    m = res['meta']
    ax.set_title(f"decode cost vs images ({m['size']} sizes, {m['device']}, {m['threads']} thread(s))", fontsize=10)
    ax.grid(alpha=.3, which='both'); ax.legend()
    fig.tight_layout()
    if path: fig.savefig(path, dpi=110); plt.close(fig)
    return fig


def report(res) -> str:
    m = res['meta']
    return '\n\n'.join([
        f"{m['size']} sizes on {m['device']} ({m['cpu']}, {m['threads']} thread(s)), torch {m['torch']}; "
        f"{'quick run' if m['quick'] else 'run'}: {m.get('decode_reps', m['reps'])} repetition(s) of (a), "
        f"{m['reps']} of the rest, wall {m['wall_s']/60:.1f} min\ncommand: {m['command']}",
        '## (a) decode vs the bare LM\n' + decode_table(res), '### FLOPs\n' + flops_table(res),
        '## (b) generation\n' + generate_table(res), '## (b) training step\n' + train_table(res),
        '## targets\n' + format_targets(targets(res))])
