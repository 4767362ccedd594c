"""What every implementation's worker shares: the sizes, the inputs, the clocks, the memory meters and the measurements.

This file imports only torch, transformers and the standard library, so it runs in the project's venv (transformers
5.x) and in the peers' venv (transformers 4.52.4) alike. Each `impl_*.py` builds one implementation and hands back
`Impl` objects; the measurements below are written once and run on all of them, so no implementation is timed by
different code than another.
"""
from __future__ import annotations
import gc, math, os, re, resource, statistics, time
import torch

from sizes import SIZES, TEXT_PER_IMAGE, QUERY_TOKENS, prompt_length, analytic_flops


def gpt2_config(size:str):
    "A GPT2Config of `size`, dropout off (the frozen LM's dropout would only add noise to the timings)."
    from transformers import GPT2Config
    lm = SIZES[size]['lm']
    return GPT2Config(**lm, resid_pdrop=0., embd_pdrop=0., attn_pdrop=0., bos_token_id=0, eos_token_id=0)


def clip_vision_config(size:str):
    from transformers import CLIPVisionConfig
    return CLIPVisionConfig(**SIZES[size]['vision'])


def pick_device(name:str='auto') -> tuple[torch.device, torch.dtype]:
    "cuda with bf16 when a GPU is there, else the CPU with fp32."
    if name == 'auto': name = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(name)
    return device, (torch.bfloat16 if device.type == 'cuda' else torch.float32)


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def clock(device) -> float:
    "Wall time in seconds, after the device has finished its queued work."
    sync(device)
    return time.perf_counter()


# ---------------------------------------------------------------- memory
def rss_mb() -> float:
    return int(re.search(r'VmRSS:\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1024

def hwm_mb() -> float:
    "Peak resident memory since the process started or since `reset_hwm`."
    return int(re.search(r'VmHWM:\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1024

def reset_hwm() -> bool:
    "Reset the kernel's peak-RSS counter (Linux `clear_refs` 5); False where that is not allowed."
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False

def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- inputs
def prompt_ids(n_images:int, media_id:int, vocab:int, seed:int=0, eoc_id:int|None=None) -> list[int]:
    "`n_images` x (<image>, 8 text tokens[, <EOC>]) then an 8-token question: the few-shot prompt layout."
    g = torch.Generator().manual_seed(seed)
    text = lambda n: torch.randint(10, vocab - 10, (n,), generator=g).tolist()
    ids = []
    for _ in range(n_images): ids += [media_id] + text(TEXT_PER_IMAGE) + ([eoc_id] if eoc_id is not None else [])
    return ids + text(QUERY_TOKENS)


def pixels(batch:int, n_images:int, size:str, seed:int=0) -> torch.Tensor:
    "(b, t, 3, h, w) normalised-looking pixels."
    s = SIZES[size]['vision']['image_size']
    return torch.randn(batch, n_images, 3, s, s, generator=torch.Generator().manual_seed(seed))


TRAIN_BATCH, TRAIN_IMAGES, TRAIN_TOKENS = 4, 4, 64

def train_batch(media_id:int, vocab:int, size:str, seed:int=0) -> dict:
    "Batch 4, 4 images per sample, 64 tokens: an <image> token every 16 tokens, random text between."
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, vocab - 10, (TRAIN_BATCH, TRAIN_TOKENS), generator=g)
    ids[:, ::TRAIN_TOKENS // TRAIN_IMAGES] = media_id
    return dict(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids.clone(),
                pixel_values=pixels(TRAIN_BATCH, TRAIN_IMAGES, size, seed))


# ---------------------------------------------------------------- one implementation
class Impl:
    """One model under test. Subclasses fill in `prefill`/`decode_step` (a forward with the cache, for the decode
    comparison with the bare LM), `generate` (the implementation's own generation entry point) and `loss`."""
    name = '?'
    def __init__(self, model, size:str, device, dtype, media_id:int, eoc_id:int|None, vocab:int):
        self.model, self.size, self.device, self.dtype = model, size, device, dtype
        self.media_id, self.eoc_id, self.vocab = media_id, eoc_id, vocab
        self.optimizer = None

    def prompt(self, n_images:int, seed:int=0) -> torch.Tensor:
        return torch.tensor([prompt_ids(n_images, self.media_id, self.vocab, seed, self.eoc_id)], device=self.device)

    def images(self, n_images:int, batch:int=1, seed:int=0):
        if n_images == 0: return None
        return pixels(batch, n_images, self.size, seed).to(self.device, self.dtype)

    # to be filled in
    def prefill(self, ids, images): raise NotImplementedError  # -> (logits, cache)
    def decode_step(self, next_id, cache): raise NotImplementedError  # -> (logits, cache)
    def generate(self, ids, images, num_beams, new_tokens, logits_processor): raise NotImplementedError
    def loss(self, batch): raise NotImplementedError
    def trainable_parameters(self): return [p for p in self.model.parameters() if p.requires_grad]
    def after_backward(self): pass


def stamp_processor():
    "A logits processor that notes the time at each generation step (it runs right after each forward)."
    from transformers import LogitsProcessor, LogitsProcessorList
    class Stamp(LogitsProcessor):
        def __init__(self, device): self.device, self.times = device, []
        def __call__(self, input_ids, scores):
            self.times.append(clock(self.device))
            return scores
    return Stamp, LogitsProcessorList


def counted_flops(model, fn) -> tuple:
    "FLOPs of `fn()` by torch's FlopCounterMode, and its result. (On the CPU it has no formula for SDPA's kernel.)"
    from torch.utils.flop_counter import FlopCounterMode
    # its module tracker fails on parameters that require grad under no_grad, so the flags are dropped meanwhile
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable: p.requires_grad_(False)
    try:
        with FlopCounterMode(display=False) as counter: out = fn()
    finally:
        for p in trainable: p.requires_grad_(True)
    return counter.get_total_flops(), out


@torch.no_grad()
def measure_decode(impl:Impl, n_images:int, steps:int, count_flops:bool=False, count_prefill:bool=False) -> dict:
    "Prefill time and the time of each single-token forward after it (greedy, with the cache); FLOPs if asked."
    ids, images = impl.prompt(n_images), impl.images(n_images)
    t0 = clock(impl.device)
    logits, cache = impl.prefill(ids, images)
    t1 = clock(impl.device)
    step_times = []
    for _ in range(steps):
        next_id = logits[:, -1:].argmax(-1)
        ta = clock(impl.device)
        logits, cache = impl.decode_step(next_id, cache)
        step_times.append(clock(impl.device) - ta)
    out = dict(prefill_s=t1 - t0, decode_s=step_times, prompt_tokens=ids.shape[1])
    if count_flops:
        # the step after `steps` decoded tokens; its attention sees a few more keys than the first one would
        flops = dict(decode=counted_flops(impl.model, lambda: impl.decode_step(logits[:, -1:].argmax(-1), cache))[0],
                     decode_keys=ids.shape[1] + steps + 1)
        if count_prefill: flops['prefill'] = counted_flops(impl.model, lambda: impl.prefill(ids, images))[0]
        out['flops'] = flops
    return out


@torch.no_grad()
def measure_decode_pair(impls:list, n_images:int, steps:int, count_flops:bool=False, count_prefill:bool=False) -> dict:
    """`measure_decode` for two models in one process, step by step in turn (the order swaps every step), so that both
    see the same background load: a ratio of their times is then much steadier than one of separate runs."""
    state = {}
    for impl in impls:
        ids, images = impl.prompt(n_images), impl.images(n_images)
        t0 = clock(impl.device)
        logits, cache = impl.prefill(ids, images)
        state[impl.name] = dict(ids=ids, images=images, logits=logits, cache=cache, times=[],
                                prefill_s=clock(impl.device) - t0)
    for step in range(steps):
        for impl in (impls if step % 2 == 0 else impls[::-1]):
            st = state[impl.name]
            next_id = st['logits'][:, -1:].argmax(-1)
            ta = clock(impl.device)
            st['logits'], st['cache'] = impl.decode_step(next_id, st['cache'])
            st['times'].append(clock(impl.device) - ta)
    out = {}
    for impl in impls:
        st = state[impl.name]
        out[impl.name] = dict(prefill_s=st['prefill_s'], decode_s=st['times'], prompt_tokens=st['ids'].shape[1])
        if count_flops:
            flops = dict(decode=counted_flops(impl.model, lambda: impl.decode_step(st['logits'][:, -1:].argmax(-1),
                                                                                     st['cache']))[0],
                         decode_keys=st['ids'].shape[1] + steps + 1)
            if count_prefill: flops['prefill'] = counted_flops(impl.model, lambda: impl.prefill(st['ids'], st['images']))[0]
            out[impl.name]['flops'] = flops
    return out


@torch.no_grad()
def measure_generate(impl:Impl, n_images:int, num_beams:int, new_tokens:int) -> dict:
    "One call of the implementation's generate: time to first token, each later step, and the whole call."
    Stamp, LogitsProcessorList = stamp_processor()
    stamp = Stamp(impl.device)
    ids, images = impl.prompt(n_images), impl.images(n_images)
    t0 = clock(impl.device)
    out = impl.generate(ids, images, num_beams, new_tokens, LogitsProcessorList([stamp]))
    t1 = clock(impl.device)
    times = [t0] + stamp.times
    return dict(ttft_s=stamp.times[0] - t0, total_s=t1 - t0, steps_s=[b - a for a, b in zip(times[1:], times[2:])],
                new_tokens=out.shape[1] - ids.shape[1], prompt_tokens=ids.shape[1])


def train_step(impl:Impl, batch:dict) -> float:
    "One optimiser step (forward with labels, backward, AdamW); returns its seconds."
    if impl.optimizer is None:
        impl.optimizer = torch.optim.AdamW(impl.trainable_parameters(), lr=1e-4)
    t0 = clock(impl.device)
    loss = impl.loss(batch)
    loss.backward()
    impl.after_backward()
    impl.optimizer.step()
    impl.optimizer.zero_grad(set_to_none=True)
    return clock(impl.device) - t0


def train_flops(impl:Impl, batch:dict) -> float:
    """Model FLOPs of one training step, forward and backward, by torch's FlopCounterMode (the optimiser's update is not
    model work and is left out). On a CPU the counter has no formula for SDPA's fused kernel, so attention is missing."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        impl.loss(batch).backward()
    for p in impl.trainable_parameters(): p.grad = None
    return counter.get_total_flops()


# dense bf16 tensor-core peaks from the vendors' data sheets (FLOP/s), for model FLOPs utilisation
PEAK_BF16 = {'H200': 989e12, 'H100 PCIe': 756e12, 'H100': 989e12, 'A100': 312e12, 'L40S': 362e12, 'L4': 121e12}

def peak_flops(device) -> tuple:
    "(name, bf16 peak FLOP/s) of a CUDA device we know; (name, None) otherwise (a CPU has no such figure here)."
    if torch.device(device).type != 'cuda': return 'cpu', None
    name = torch.cuda.get_device_name(device)
    return name, next((v for k, v in PEAK_BF16.items() if k in name), None)


def device_batch(batch:dict, impl:Impl) -> dict:
    return {k: v.to(impl.device, impl.dtype if v.is_floating_point() else v.dtype) for k, v in batch.items()}


def median(xs): return statistics.median(xs) if xs else math.nan


def collect():
    gc.collect()
    if torch.cuda.is_available(): torch.cuda.empty_cache()
