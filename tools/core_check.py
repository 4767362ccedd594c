#!/usr/bin/env python3
"""`make core-check` (and a step of `.ci/run`): flamingo_mini installed with its core requirements only, no extra, as a
user who only runs a model installs it (`pip install flamingo_mini`). In that venv: `import flamingo_mini` and
`flamingo_mini.model` work, a Flamingo built from the shipped tiny parts generates, saves and loads back to the same
text, none of the extras' packages is installed, and what needs an extra (the `train` module, `flamingo-mini train`,
the tiny world, the web chat) fails with one line naming the extra to install.

The venv is kept under $FLAMINGO_MINI_VENVS (default ~/.cache/flamingo-mini-venvs) as core-<key>, the key a hash of the
interpreter, constraints.txt and settings.ini's core `requirements`; it is rebuilt when the key changes, otherwise only
this checkout is installed into it again (no dependencies: a few seconds). Python 3.11, whose CPU torch wheel
(torch==2.13.0, pinned by constraints.txt) is on the project machines. Standard library only."""
import configparser, hashlib, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from compat import ROOT, interpreter, run, log

EXTRA_PACKAGES = ['accelerate', 'datasets', 'peft', 'sklearn', 'matplotlib', 'tornado']  # import names

CHECK = r'''
import importlib.util, json, subprocess, sys, tempfile, time
from pathlib import Path
start = time.time()
installed = [p for p in EXTRAS if importlib.util.find_spec(p) is not None]
assert not installed, f"the core install has {installed}: a core requirement pulls an extra's package"
import flamingo_mini, flamingo_mini.model
from flamingo_mini import FlamingoModel, FlamingoProcessor
from PIL import Image
parts = Path(flamingo_mini.__file__).parent/'tiny_world'
model = FlamingoModel.from_pretrained_parts(str(parts/'lm'), str(parts/'vision'), xattn_every=1, resampler_depth=1,
                                            resampler_num_latents=4).eval()
processor = FlamingoProcessor.from_pretrained_parts(str(parts/'lm'), str(parts/'vision'))
images = [Image.new('RGB', (32, 32), colour) for colour in ('red', 'blue')]
captions = model.generate_captions(processor, images, prompt='<image>a', max_new_tokens=4)
assert len(captions) == 2 and all(isinstance(c, str) for c in captions), captions
folder = tempfile.mkdtemp()
model.save_pretrained(folder); processor.save_pretrained(folder)
again = FlamingoModel.from_pretrained(folder).eval()
assert again.generate_captions(FlamingoProcessor.from_pretrained(folder), images, prompt='<image>a', max_new_tokens=4) == captions
messages = {}
for module, extra in (('flamingo_mini.train', 'train'), ('flamingo_mini.evaluate', 'train'), ('flamingo_mini.world', 'world'),
                      ('flamingo_mini.web', 'web')):
    try: __import__(module); raise AssertionError(f'{module} imported without its extra')
    except ModuleNotFoundError as e:
        assert type(e).__name__ == 'MissingExtra' and f'pip install "flamingo_mini[{extra}]"' in str(e), (module, str(e))
        messages[module] = str(e)
cli = subprocess.run([str(Path(sys.executable).parent/'flamingo-mini'), 'train', '--dataset', 'tiny-world', '--out',
                      tempfile.mkdtemp() + '/run'], capture_output=True, text=True)
assert cli.returncode == 1 and cli.stderr.count('\n') == 1 and 'pip install "flamingo_mini[train]"' in cli.stderr, cli
messages['flamingo-mini train'] = cli.stderr.strip()
print(json.dumps(dict(captions=captions, messages=messages, seconds=round(time.time() - start, 1)), indent=1))
'''


def core_requirements() -> str:
    config = configparser.ConfigParser(delimiters=['='])
    config.read(ROOT/'settings.ini', encoding='utf-8')
    return config['DEFAULT']['requirements']

def build(cache:Path) -> tuple[Path, bool]:
    "The core venv (built, or reused when its key matches) with this checkout installed into it."
    python = interpreter('3.11')
    full = subprocess.run([python, '-c', 'import platform; print(platform.python_version())'], check=True,
                          capture_output=True, text=True).stdout.strip()
    constraints = ROOT/'constraints.txt'
    key = hashlib.sha256(json.dumps([full, constraints.read_text(), core_requirements()]).encode()).hexdigest()[:12]
    venv = cache/f'core-{key}'
    py = venv/'bin'/'python'
    if (venv/'.complete').exists():
        log(f'core: reusing {venv}')
        run([py, '-m', 'pip', 'install', '-q', '--no-deps', '-e', ROOT])  # this checkout, wherever it is
        return venv, False
    for old in cache.glob('core-*'): shutil.rmtree(old, ignore_errors=True)
    run([python, '-m', 'venv', venv])
    run([py, '-m', 'pip', 'install', '-q', '--upgrade', 'pip'])
    run([py, '-m', 'pip', 'install', '-q', '-c', constraints, 'torch'])  # the pinned (CPU) wheel first, as `make install`
    run([py, '-m', 'pip', 'install', '-q', '-c', constraints, '-e', ROOT])  # no extra
    (venv/'.complete').write_text(json.dumps(dict(python=full)))
    return venv, True

def main():
    t = time.time()
    cache = Path(os.environ.get('FLAMINGO_MINI_VENVS', Path.home()/'.cache'/'flamingo-mini-venvs'))
    cache.mkdir(parents=True, exist_ok=True)
    venv, built = build(cache)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'} | dict(HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false')
    code = f'EXTRAS = {EXTRA_PACKAGES!r}\n' + CHECK
    out = subprocess.run([venv/'bin'/'python', '-c', code], env=env, cwd=tempfile.mkdtemp(), capture_output=True, text=True)
    if out.returncode: sys.exit(f'core check failed:\n{out.stdout}{out.stderr[-3000:]}')
    print(out.stdout, end='')
    log(f'core check passed in {time.time() - t:.0f} s ({"built" if built else "reused"} {venv.name})')

if __name__ == '__main__': main()
