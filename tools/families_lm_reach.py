"""How many demonstrations does a families LM still read? (issue #21). VQA falls at thirty-two demonstrations in every
task-family run, and it falls with text-only demonstrations too, so the frozen LM is the suspect: its documents held
at most `lm_ks` demonstrations, and a prompt with images is longer than its text by one `<image>` token a
demonstration, so at thirty-two the query sits at positions the LM rarely trained.

This pretrains the LM of each named recipe exactly as `run_families` does (or loads it from `--lm-dir/NAME` when a
run left it there) and, on `--documents` VQA documents per number of demonstrations (text only, as the LM was trained),
asks whether its most likely next token after the query's `answer:` is an answer of the question's kind (a colour for
"what colour", yes or no for "is there", a place for "where"): what the Flamingo layers need the LM to carry. Token
counts are of the text; the model's prompt adds one token a demonstration and one for the query.

    python tools/families_lm_reach.py --out reports/experiments/families_lm_reach.json   # ~12 min on 2 threads (two LMs)
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path


def recipe_lm(recipe:dict, seed:int=0):
    "The tokenizer and LM `run_families` pretrains for `recipe` (a whole recipe: `FAMILIES_RECIPE | changes`)."
    from flamingo_mini.families import family_pools, recipe_lm as library_recipe_lm
    return library_recipe_lm(recipe, family_pools(recipe['pool'], 'train', seed), seed)


def right_kind(lm, tokenizer, ks, n:int, seed:int=0) -> dict:
    "Per number of demonstrations: the share of `n` text-only VQA prompts whose next token is an answer of the query's kind, and the longest prompt in tokens."
    import numpy as np, torch
    from flamingo_mini.families import family_pools
    from flamingo_mini.tasks import COLOURS, POSITIONS, task_prompt
    kinds = dict(colour=set(COLOURS), exists={'yes', 'no'}, where=set(POSITIONS))
    pool = family_pools({'vqa': 3000}, 'test', seed)['vqa']  # test scenes: no document the LM trained on
    rng, out = np.random.default_rng([seed, 61]), {}
    for k in ks:
        right, longest = 0, 0
        for _ in range(n):
            picks = rng.choice(len(pool), k + 1, replace=False)
            text = ''.join(x for x in task_prompt('vqa', [pool[j] for j in picks[:-1]], pool[picks[-1]]) if isinstance(x, str))
            ids = tokenizer(text, return_tensors='pt')['input_ids']
            longest = max(longest, ids.shape[1])
            with torch.no_grad(): word = tokenizer.decode([int(lm(ids).logits[0, -1].argmax())]).strip()
            right += word in kinds[pool[picks[-1]]['kind']]
        out[k] = dict(right_kind=round(right / n, 3), longest_tokens=longest)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--recipes', nargs='+', default=['tutorial', 'long_lm'], help="'tutorial' (FAMILIES_RECIPE) or names of OTHER_RECIPES")
    p.add_argument('--lm-dir', default='families-lms', help='LMs are loaded from (or saved to) here, one folder per recipe')
    p.add_argument('--documents', type=int, default=100)
    p.add_argument('--ks', type=int, nargs='+', default=[0, 8, 16, 24, 28, 32, 36, 40, 44])
    p.add_argument('--out', default='reports/experiments/families_lm_reach.json')
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from flamingo_mini.families import FAMILIES_RECIPE, OTHER_RECIPES, recipe_json
    torch.set_num_threads(args.threads)
    start, lms = time.time(), {}
    for name in args.recipes:
        recipe = FAMILIES_RECIPE | ({} if name == 'tutorial' else OTHER_RECIPES[name])
        folder, pretrained = Path(args.lm_dir)/name, None
        if (folder/'config.json').exists(): lm, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
        else:
            began = time.time()
            tokenizer, lm = recipe_lm(recipe)
            pretrained = round(time.time() - began)  # the tokenizer and the LM, as `run_families` makes them
            lm.save_pretrained(folder); tokenizer.save_pretrained(folder)
        lms[name] = dict(lm_ks=recipe_json(recipe)['lm_ks'], positions=lm.config.n_positions, lm_steps=recipe['lm_steps'],
                         pretrained_here_seconds=pretrained, # None: loaded from --lm-dir (a run's LM)
                         by_demonstrations=right_kind(lm, tokenizer, args.ks, args.documents))
        print(name, json.dumps({k: v['right_kind'] for k, v in lms[name]['by_demonstrations'].items()}), flush=True)
    result = dict(what=__doc__.split('\n\n')[0].replace('\n', ' '), script='tools/families_lm_reach.py', threads=args.threads,
                  documents=args.documents, seconds=round(time.time() - start), lms=lms)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == '__main__': main()
