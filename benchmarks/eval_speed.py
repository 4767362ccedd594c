"""Few-shot evaluation speed at 0-32 shots: the harness (`flamingo_mini.evaluate`) as it runs now, each image through
the tower and the resampler once (`media='latents'`) and, with one draw of demonstrations per trial
(`shared_demos=True`), their prefix (text and images) prefilled once for all queries; against our pixel path on the
same prompts (`media='pixels'`: every prompt re-encodes its images, whole), against OpenFlamingo 2.0.1's evaluation
loop on those very prompts and images (`eval_openflamingo.py`, in the peers' venv), and, for classification by
ranking 10 multi-token class names, against the harness as the issue found it (pixels, whole prompts, a deep copy of
the prompt's cache per class: `rank_classes(share_cache=False)`). Queries per second; the sides of each shots value
run one after the other in one process (OpenFlamingo's in a child process), the new path first.

    .venv/bin/python benchmarks/eval_speed.py --size tiny                               # minutes
    .venv/bin/python benchmarks/eval_speed.py --size small --slow-queries 4 --memory-budget 2000000000

The slow sides (the pixel path, OpenFlamingo's loop, the old harness) may run a seeded subset of the queries
(`--slow-queries`, the harness's own `num_samples`): their rate is measured on fewer queries, their answers compared
with the new path's on those queries. Every side generates exactly `--max-new-tokens` tokens per query (the end tokens
are made unreachable for the benchmark), so the work per query is the same. Writes results/<device>-<size>-eval.json
(rendered by nbs/22_benchmarks.ipynb). The models have random weights with their gates opened; `small` has GPT-2
small's and CLIP ViT-B/32's shapes except the LM's vocabulary, which is the offline tokenizer's (322 ids instead of
50,257: the LM head is then a smaller part of each token's cost).
"""
from __future__ import annotations
import argparse, functools, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from sizes import SIZES

PEERS_PYTHON = Path(__file__).parent/'.venv-peers'/'bin'/'python'


def build(size:str, seed:int=0):
    "A Flamingo of `size` with random weights (gates open) and its processor, from the offline tokenizer."
    from transformers import CLIPVisionConfig, CLIPVisionModel, GPT2Config, GPT2LMHeadModel
    from flamingo_mini.lm import open_gates_
    from flamingo_mini.model import FlamingoConfig, FlamingoModel
    from flamingo_mini.processor import FlamingoProcessor, clip_image_processor
    from flamingo_mini.testing import save_tiny_parts
    parts = save_tiny_parts(tempfile.mkdtemp(), 'gpt2')
    tiny = FlamingoProcessor.from_pretrained_parts(parts['lm'], parts['vision'])
    s = SIZES[size]
    torch.manual_seed(seed)
    text_vocab = tiny.media_token_id  # the ids below <image>
    eos = tiny.tokenizer.eos_token_id
    lm = GPT2LMHeadModel(GPT2Config(**(s['lm'] | dict(vocab_size=text_vocab)), resid_pdrop=0., embd_pdrop=0., attn_pdrop=0.,
                                    bos_token_id=eos, eos_token_id=eos))
    vision = CLIPVisionModel(CLIPVisionConfig(**s['vision']))
    f = s['flamingo']
    config = FlamingoConfig(text_config=lm.config, vision_config=vision.config, xattn_dim_head=f['dim_head'],
                            xattn_heads=f['heads'], xattn_ff_mult=f['ff_mult'], resampler_depth=f['resampler_depth'],
                            resampler_num_latents=f['num_latents'], media_token_id=tiny.media_token_id,
                            eoc_token_id=tiny.eoc_token_id)
    model = open_gates_(FlamingoModel(config, lm=lm, vision_encoder=vision, text_vocab=text_vocab), 1.0).eval()
    processor = FlamingoProcessor(clip_image_processor(s['vision']['image_size']), tiny.tokenizer)
    return model, processor


def timed(fn):
    load = os.getloadavg()[0]
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start, [load, os.getloadavg()[0]]


def subset(n:int, size:int, seed:int=0) -> list[int]:
    "The rows the harness's `num_samples=size` evaluates (its own rule)."
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False)).tolist() if size < n else list(range(n))


def openflamingo(size:str, batches:list, processor, max_new_tokens:int, threads:int) -> dict:
    "Our pixel path's batches through OpenFlamingo's loop in the peers' venv (see `eval_openflamingo.py`)."
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp)/'job.safetensors', Path(tmp)/'out.json'
        tensors = {}  # safetensors, not a pickle: nothing the peers' process loads can run code
        for i, b in enumerate(batches):
            tensors |= {f'{i}.input_ids': b['input_ids'], f'{i}.attention_mask': b['attention_mask'],
                        f'{i}.images': torch.as_tensor(np.stack([np.stack([np.asarray(im.convert('RGB') if hasattr(im, 'convert') else im) for im in images])
                                                                 for images in b['images']]))}  # (b, t, h, w, 3) uint8
        save_file(tensors, job, metadata=dict(job=json.dumps(dict(
            size=size, batches=len(batches), max_new_tokens=max_new_tokens, threads=threads,
            media_token_id=processor.media_token_id, eoc_token_id=processor.eoc_token_id))))
        subprocess.run([str(PEERS_PYTHON), str(Path(__file__).parent/'eval_openflamingo.py'), str(job), str(out)], check=True,
                       env=os.environ | dict(OMP_NUM_THREADS=str(threads)))
        return json.loads(out.read_text())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', default='tiny', choices=('tiny', 'small'))
    p.add_argument('--shots', type=int, nargs='+', default=[0, 4, 8, 16, 32])
    p.add_argument('--queries', type=int, default=128, help='evaluation rows (the new path)')
    p.add_argument('--slow-queries', type=int, default=None, help='rows the slow sides evaluate (default: all)')
    p.add_argument('--support', type=int, default=64, help='support-set rows')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--memory-budget', type=int, default=None, help="the new path's batch size from this many bytes")
    p.add_argument('--max-new-tokens', type=int, default=8)
    p.add_argument('--classes', type=int, default=10, help='multi-token class names to rank')
    p.add_argument('--tasks', nargs='+', default=['captioning', 'classification'], choices=('captioning', 'classification'))
    p.add_argument('--demos', default='shared', choices=('shared', 'per-query'),
                   help="random demonstrations: one draw per trial shared by all queries (prefix prefilled once), or a draw per query (OpenFlamingo's protocol)")
    p.add_argument('--no-openflamingo', action='store_true', help="skip OpenFlamingo's loop (no peers' venv)")
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from datasets import disable_progress_bars
    from flamingo_mini import evaluate as ev
    from flamingo_mini.ranking import rank_classes
    from flamingo_mini.world import COLOURS, SHAPES, scenes_dataset
    disable_progress_bars()
    model, processor = build(args.size)
    model.generation_config.eos_token_id = [model.config.media_token_id]  # never generated: every answer has full length
    queries, support = scenes_dataset(args.queries, 'test'), scenes_dataset(args.support, 'train')
    slow = args.slow_queries or args.queries
    rows_slow = subset(args.queries, slow)
    names = [f'{c} {s}' for c in COLOURS for s in SHAPES][:args.classes]
    assert all(len(processor.tokenizer(f' {n}<EOC>', add_special_tokens=False)['input_ids']) > 1 for n in names)
    label = lambda ds: ds.map(lambda r, i: dict(label=i % len(names)), with_indices=True)
    cls_queries, cls_support = label(queries), label(support)
    shared = args.demos == 'shared'
    new = dict(batch_size=args.batch_size, memory_budget=args.memory_budget, media='latents', shared_demos=shared,
               keep_predictions=True)
    old = dict(batch_size=args.batch_size, media='pixels', shared_demos=shared, keep_predictions=True,
               num_samples=slow if slow < args.queries else None)
    rows = []
    for k in args.shots:
        row = dict(shots=k, queries=args.queries, slow_queries=slow)
        if 'captioning' in args.tasks:
            caption = lambda **kw: ev.evaluate_captioning(model, processor, queries, support=support, shots=k,
                                                          max_new_tokens=args.max_new_tokens, **kw)[0]['predictions']
            fast, t_new, load_new = timed(lambda: caption(**new))
            batches, real = [], ev._prompt_inputs
            def spy(processor, samples):
                inputs = real(processor, samples)
                batches.append(dict(input_ids=inputs['input_ids'], attention_mask=inputs['attention_mask'],
                                    images=[[x for x in s if not isinstance(x, str)] for s in samples]))
                return inputs
            ev._prompt_inputs = spy
            try: pixels, t_pix, load_pix = timed(lambda: caption(**old))
            finally: ev._prompt_inputs = real
            same = sum(a == fast[q] for a, q in zip(pixels, rows_slow))
            row['captioning'] = dict(qps_new=args.queries / t_new, qps_pixels=slow / t_pix, same_answers=f'{same}/{slow}',
                                     load=dict(new=load_new, pixels=load_pix))
            if not args.no_openflamingo:
                of = openflamingo(args.size, batches, processor, args.max_new_tokens, args.threads)
                assert of['queries'] == slow and set(of['new_tokens']) == {args.max_new_tokens}, of
                row['captioning'] |= dict(qps_openflamingo=of['qps'])
                row['captioning']['load']['openflamingo'] = of['load']
            c = row['captioning']
            c['ratio_pixels'] = c['qps_new'] / c['qps_pixels']
            if 'qps_openflamingo' in c: c['ratio_openflamingo'] = c['qps_new'] / c['qps_openflamingo']
        if 'classification' in args.tasks:
            classify = lambda **kw: ev.evaluate_classification(model, processor, cls_queries, names, support=cls_support,
                                                               shots=k, **kw)[0]['predictions']
            fast, t_new, load_new = timed(lambda: classify(**new))
            ev.rank_classes, real = functools.partial(rank_classes, share_cache=False), ev.rank_classes
            try: before, t_old, load_old = timed(lambda: classify(**old))
            finally: ev.rank_classes = real
            same = sum(a == fast[q] for a, q in zip(before, rows_slow))
            row['classification'] = dict(qps_new=args.queries / t_new, qps_old=slow / t_old, same_predictions=f'{same}/{slow}',
                                         load=dict(new=load_new, old=load_old))
            row['classification']['ratio'] = row['classification']['qps_new'] / row['classification']['qps_old']
        rows.append(row)
        print(json.dumps(row, default=lambda x: round(x, 3)), flush=True)
    device = 'cpu'
    out = Path(args.out or Path(__file__).parent/'results'/f"{device}-{args.size}{'' if shared else '-per-query'}-eval.json")
    settings = vars(args) | dict(device=device, torch=torch.__version__, python=platform.python_version(),
                                 class_names=names, processor=platform.processor() or platform.machine(),
                                 cpus=os.cpu_count(),
                                 command='python benchmarks/eval_speed.py ' + ' '.join(sys.argv[1:] if argv is None else argv))
    out.write_text(json.dumps(dict(settings=settings, rows=rows), indent=1))
    print(f'wrote {out}')


if __name__ == '__main__': main()
