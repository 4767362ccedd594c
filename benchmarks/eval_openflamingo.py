"""OpenFlamingo 2.0.1's evaluation loop on prompts our harness made, in the peers' venv (`eval_speed.py` starts it).

    benchmarks/.venv-peers/bin/python benchmarks/eval_openflamingo.py JOB.safetensors OUT.json

The job holds the batches our pixel path ran (each prompt's token ids, attention mask and images, in our order and
batch sizes), the model size and the answer length. Each batch goes through OpenFlamingo's loop as its
`eval/evaluate.py` and `eval/models/open_flamingo.py` run it: every image of every prompt preprocessed (here with
transformers' CLIP image processor at the tower's size, as ours), stacked to `vision_x` (b, t, 1, c, h, w), and
`Flamingo.generate` (the vision tower and the resampler on every image, then the LM), greedy. Our token ids are
mapped to OpenFlamingo's: text ids stay, `<image>` and `<EOC>` take its ids, padding its pad id. Every prompt
generates exactly `max_new_tokens` tokens (min_new_tokens = max_new_tokens), as ours do in the benchmark.
"""
from __future__ import annotations
import json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch


def main(job_path:str, out_path:str):
    from PIL import Image
    from safetensors import safe_open
    with safe_open(job_path, 'pt') as f:  # tensors and a JSON header: loading it runs no code
        job, tensors = json.loads(f.metadata()['job']), {k: f.get_tensor(k) for k in f.keys()}
    job['batches'] = [dict(input_ids=tensors[f'{i}.input_ids'], attention_mask=tensors[f'{i}.attention_mask'],
                           images=[[Image.fromarray(im.numpy()) for im in prompt] for prompt in tensors[f'{i}.images']])
                      for i in range(job['batches'])]
    torch.set_num_threads(job['threads'])
    from transformers import CLIPImageProcessor
    from impl_openflamingo import build
    from sizes import SIZES
    impl = build(job['size'], torch.device('cpu'), torch.float32)['openflamingo']
    side = SIZES[job['size']]['vision']['image_size']
    image_processor = CLIPImageProcessor(size={'shortest_edge': side}, crop_size={'height': side, 'width': side})
    ours = {job['media_token_id']: impl.media_id, job['eoc_token_id']: impl.eoc_id}
    n, new_tokens, queries = job['max_new_tokens'], [], 0
    load = os.getloadavg()[0]
    start = time.perf_counter()
    for batch in job['batches']:
        vision_x = torch.stack([torch.as_tensor(image_processor(images=images, return_tensors='np')['pixel_values'])
                                for images in batch['images']])[:, :, None]  # (b, t, 1, c, h, w)
        mask = batch['attention_mask']
        ids = batch['input_ids'].clone()
        for mine, theirs in ours.items(): ids[ids == mine] = theirs
        ids[mask == 0] = impl.pad_id
        with torch.inference_mode():
            out = impl.model.generate(vision_x=vision_x, lang_x=ids, attention_mask=mask, max_new_tokens=n,
                                      min_new_tokens=n, num_beams=1, do_sample=False, pad_token_id=impl.pad_id)
        new_tokens.append(out.shape[1] - ids.shape[1])
        queries += ids.shape[0]
    seconds = time.perf_counter() - start
    json.dump(dict(seconds=seconds, queries=queries, qps=queries / seconds, new_tokens=new_tokens,
                   load=[load, os.getloadavg()[0]], torch=torch.__version__,
                   transformers=__import__('transformers').__version__), open(out_path, 'w'))


if __name__ == '__main__': main(*sys.argv[1:3])
