"""Which format lets the two-image family compare? (issue #21). A run that showed a pair as two media items
(`OTHER_RECIPES['four_two_media']`) has the question attend to the second image only, and `tools/families_compare.py`
found it answering from that image alone. Three arms train its layers on, each in one format: as it trained; with a
text token after the first image of every pair (' and', closed by `<EOC>` as the processor closes every text before an
image: both tokens attend to the first image, and the frozen LM reads on from them to the question, as it reads a
scene written as text in its quizzes); and with the pair as one media item, a clip of two frames (the question then
attends to the resampler's latents of both, the frames told apart by its time embeddings, Flamingo's video path).

Each arm trains the run's layers on for `--steps` steps on two-image prompts alone and is then scored as
`tools/families_compare.py` scores the run (`--queries` test pairs at eight random demonstrations, against the best
one-image rules). The arms differ only in the format.

    python tools/families_compare_format.py --run families-four --steps 1000 --out reports/experiments/families_compare_format.json   # ~9 min on 2 threads
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path
from families_compare import reads_of, run_media, support_of  # beside this file
from families_queries import load_run


def word_after_first(items:list, word:str=' and', is_media=lambda x: not isinstance(x, str)) -> list:
    "A two-image prompt's items with `word` after the first image of every pair (images come in pairs, a pair's two together)."
    out, seen = [], 0
    for x in items:
        out.append(x)
        if is_media(x):
            if seen % 2 == 0: out.append(word)
            seen += 1
    if seen % 2: raise ValueError(f"a two-image prompt holds {seen} images, not pairs")
    return out


class WordAfterFirst:
    "`FamilyEpisodes` of the two-image family with `word` after the first image of every pair (its rows as `FeatureCollator` reads them)."
    column_names = ['texts', 'image_features']
    def __init__(self, episodes, word:str=' and'): self.episodes, self.word, self.ks, self.seed = episodes, word, episodes.ks, episodes.seed
    def __len__(self): return len(self.episodes)
    def __getitem__(self, i:int) -> dict: return self.episode(i)
    def episode(self, i:int, k:int|None=None) -> dict:
        row = self.episodes.episode(i, k)
        pairs = list(zip(row['texts'], row['image_features']))
        pairs = word_after_first(pairs, (self.word, None), is_media=lambda p: p[1] is not None)
        # the collator closes a text before an image with <EOC> (the interleaved format's rule), so the word is one of
        # the answers `AnswerLoss` finds before each <EOC>: its loss is on the word too, a token it learns at once
        return dict(row, texts=[t for t, _ in pairs], image_features=[f for _, f in pairs],
                    answers=[x for a in row['answers'] for x in (self.word.strip(), a)])


# name -> `arm`'s format: as the run trained, 'and' after each first image (two media items), both images one clip
ARMS = dict(trained_format=dict(), word_after_first=dict(word=' and', media='images'), one_clip=dict(media='clip'))


def arm(run:Path, steps:int, n:int, seed:int=0, word:str|None=None,
        media:str|None=None) -> dict: # 'images' (two media items), 'clip' (one clip of two frames: the question attends to both); default the run's own
    "The run's layers trained on for `steps` steps on two-image prompts (with `word` after each first image, or in `media`'s format), then scored."
    from flamingo_mini.demo import _demo_config
    from flamingo_mini.families import AnswerLoss, FamilyEpisodes, SameLengthBatches
    from flamingo_mini.features import FeatureCollator
    from flamingo_mini.train import Learner
    report, model, processor = load_run(run)
    r = report['recipe']
    media = media or run_media(report)
    if word is not None and media != 'images': raise ValueError("a word goes after the first of two media items: media='images'")
    pool, features = support_of(model, processor, report, media)  # encoded once: for training, then as the demonstrations' pool
    episodes = FamilyEpisodes('compare', pool, features[0], r['ks'], seed=seed + 7)
    if word is not None: episodes = WordAfterFirst(episodes, word)
    collate = AnswerLoss(FeatureCollator(processor, texts_column='texts', images_column='image_features'), processor.tokenizer)
    learn = Learner(model.train(), dict(compare=SameLengthBatches(episodes, collate, r['batch']['compare'])), _demo_config(steps, seed, 25))
    learn.fit(progress=False)
    model.eval()
    rewrite = None if word is None else (lambda prompt: word_after_first(prompt, word))
    return dict(word=word, media=media, steps=steps, loss=[round(h['loss'], 4) for h in learn.history][-4:],
                **reads_of(model, processor, report, n, rewrite=rewrite, support=(pool, features), media=media))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--run', default='families-four', help="a finished four-family run: `run_families('families-four', **OTHER_RECIPES['four'])`")
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--queries', type=int, default=500)
    p.add_argument('--out', default='reports/experiments/families_compare_format.json')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--arms', nargs='+', default=list(ARMS), choices=list(ARMS))
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    start, arms = time.time(), {}
    for name in args.arms:
        arms[name] = arm(Path(args.run), args.steps, args.queries, **ARMS[name])
        print(name, json.dumps({k: v for k, v in arms[name].items() if k != 'by_counts'}), flush=True)
    result = dict(what=__doc__.split('\n\n')[0].replace('\n', ' '), script='tools/families_compare_format.py', run=args.run,
                  threads=args.threads, seconds=round(time.time() - start), arms=arms)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == '__main__': main()
