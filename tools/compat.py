#!/usr/bin/env python3
"""The compatibility job (`make compat`, and a step of `.ci/run`): the core chapters on the oldest versions
flamingo_mini supports (constraints-floor.txt) and on the newest transformers and torch the registry serves
(constraints-newest.txt pins only the test tools), each in a venv of its own.

A venv is kept under $FLAMINGO_MINI_VENVS (default ~/.cache/flamingo-mini-venvs) as <job>-<key>, the key a hash of
the interpreter, the constraints file and, for the newest job, the versions the registry
resolves today; it is rebuilt when the key changes. The tests run with FLAMINGO_MINI_STRICT_DEPRECATIONS=1, so a
deprecation transformers reports about one of our calls fails them (`flamingo_mini.compat.error_on_deprecations`).
The newest job also checks that installing the package keeps the newest transformers and torch (no downgrade).
Writes nbs/compat_report.json (what ran, the exact versions, the times); the Installing page renders it.
Standard library only: it runs before any venv exists."""
import argparse, glob, hashlib, json, os, platform, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ['00a_compat', '01_attention', '02_perceiver', '03_xattn', '05_lm', '06_model', '07_processor',
        '07a_generation', '13_hub']
JOBS = {  # python: the interpreter's minor version; resolve: packages left free, recorded in the venv's key
    'floor': dict(python='3.10', constraints='constraints-floor.txt', resolve=[],
                  what='the oldest supported Python, transformers and torch'),
    'newest': dict(python='3.13', constraints='constraints-newest.txt', resolve=['torch', 'transformers'],
                   what='the newest transformers and torch the registry serves, on the newest supported Python'),
}
TOOLS = ['nbdev', 'execnb', 'fastcore', 'ghapi', 'peft']  # the test runner (pinned by each constraints file), and
# PEFT, which the hub chapter's tests use (left free: pip picks the newest that accepts the job's transformers)
REPORTED = ['torch', 'transformers', 'tokenizers', 'huggingface-hub', 'safetensors', 'accelerate', 'datasets', 'numpy',
            'pillow', 'einops', 'fastcore', 'peft']


def log(*a): print('[compat]', *a, flush=True)

def run(cmd, **kw):
    log('$', ' '.join(map(str, cmd)))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)

def interpreter(minor:str) -> str:
    "An interpreter of `minor` (e.g. '3.10'): on PATH, else pyenv's."
    for cand in [shutil.which(f'python{minor}')] + sorted(glob.glob(os.path.expanduser(f'~/.pyenv/versions/{minor}.*/bin/python{minor}'))):
        if cand and subprocess.run([cand, '-c', 'pass'], capture_output=True).returncode == 0: return cand
    sys.exit(f'no Python {minor} found (on PATH or under ~/.pyenv/versions)')

def resolve(python:str, constraints:Path, packages:list) -> dict:
    "The versions pip would install today for `packages` (newest allowed by the constraints and the machine's pip config)."
    if not packages: return {}
    out = subprocess.run([python, '-m', 'pip', 'install', '--dry-run', '--quiet', '--ignore-installed', '--no-deps',
                          '--report', '-', '-c', constraints, *packages], check=True, capture_output=True, text=True).stdout
    return {i['metadata']['name'].lower(): i['metadata']['version'] for i in json.loads(out)['install']}

def versions(py:Path) -> dict:
    code = ("import importlib.metadata as m, json, platform; d = {'python': platform.python_version()}\n"
            f"for p in {REPORTED!r}:\n    try: d[p] = m.version(p)\n    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(d))")
    return json.loads(subprocess.run([py, '-c', code], check=True, capture_output=True, text=True).stdout)

def build(name:str, job:dict, cache:Path) -> tuple:
    "The job's venv (built, or reused when its key matches) and what building it took."
    python = interpreter(job['python'])
    constraints = ROOT/job['constraints']
    full = subprocess.run([python, '-c', 'import platform; print(platform.python_version())'], check=True,
                          capture_output=True, text=True).stdout.strip()
    resolved = resolve(python, constraints, job['resolve'])
    key = hashlib.sha256(json.dumps([full, constraints.read_text(), resolved]).encode()).hexdigest()[:12]
    venv = cache/f'{name}-{key}'
    py = venv/'bin'/'python'
    if (venv/'.complete').exists():
        log(f'{name}: reusing {venv}')
        run([py, '-m', 'pip', 'install', '-q', '-c', constraints, *TOOLS, *[f'{p}=={v}' for p, v in resolved.items()]])
        return venv, dict(built=False, build_s=json.loads((venv/'.complete').read_text()).get('build_s'), resolved=resolved)
    for old in cache.glob(f'{name}-*'): shutil.rmtree(old, ignore_errors=True)  # one venv per job: they are GBs
    t = time.time()
    run([python, '-m', 'venv', venv])
    run([py, '-m', 'pip', 'install', '-q', '--upgrade', 'pip'])
    pins = [f'{p}=={v}' for p, v in resolved.items()]
    run([py, '-m', 'pip', 'install', '-q', '-c', constraints, 'torch', *pins])  # torch alone first, as `make install`
    run([py, '-m', 'pip', 'install', '-q', '-c', constraints, *TOOLS, *pins])
    build_s = round(time.time() - t, 1)
    (venv/'.complete').write_text(json.dumps(dict(python=full, resolved=resolved, build_s=build_s)))
    return venv, dict(built=True, build_s=build_s, resolved=resolved)

def install_package(venv:Path, constraints:Path, check_kept:bool) -> dict:
    "Install this checkout (editable) with its requirements and every extra (the chapters' fixtures use the tiny world); with `check_kept`, fail if pip changed torch or transformers."
    py = venv/'bin'/'python'
    before = versions(py)
    t = time.time()
    # with `check_kept` (the newest job) the requirements are unconstrained, as in a user's `pip install flamingo_mini`
    run([py, '-m', 'pip', 'install', '-q', *([] if check_kept else ['-c', constraints]), '-e', f'{ROOT}[all]'])
    after = versions(py)
    changed = {p: [before.get(p), after.get(p)] for p in ('torch', 'transformers') if before.get(p) != after.get(p)}
    if check_kept and changed: raise SystemExit(f'installing flamingo_mini changed {changed}: the requirements downgrade '
                                                 'what the user has')
    return dict(install_s=round(time.time() - t, 1), kept=None if not check_kept else {p: after[p] for p in ('torch', 'transformers')})

def test(venv:Path, notebooks:list) -> tuple:
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false',
           'OMP_NUM_THREADS': '1', 'FLAMINGO_MINI_STRICT_DEPRECATIONS': '1', 'PYTHONWARNINGS': 'ignore::DeprecationWarning'}
    env.pop('PYTHONPATH', None)  # the venv's own install of this checkout, not another tree
    t = time.time()
    rc = subprocess.run([venv/'bin'/'nbdev_test', '--n_workers', '2', '--path', ROOT/'nbs',
                         '--file_re', '^(' + '|'.join(notebooks) + r')\.ipynb$'], cwd=ROOT, env=env).returncode
    return rc == 0, round(time.time() - t, 1)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--jobs', nargs='+', default=list(JOBS), choices=list(JOBS))
    ap.add_argument('--report', default=str(ROOT/'nbs'/'compat_report.json'), help="'' to write none")
    ap.add_argument('--cache', default=os.environ.get('FLAMINGO_MINI_VENVS', '~/.cache/flamingo-mini-venvs'))
    args = ap.parse_args()
    cache = Path(args.cache).expanduser(); cache.mkdir(parents=True, exist_ok=True)
    results, ok = [], True
    for name in args.jobs:
        job, t = JOBS[name], time.time()
        venv, built = build(name, job, cache)
        installed = install_package(venv, ROOT/job['constraints'], check_kept=bool(job['resolve']))
        passed, test_s = test(venv, CORE)
        ok &= passed
        results.append(dict(job=name, what=job['what'], constraints=job['constraints'], passed=passed,
                            versions=versions(venv/'bin'/'python'), notebooks=CORE, venv_built=built['built'],
                            build_s=built['build_s'],  # what building the venv took, also when it was reused
                            install_s=installed['install_s'], test_s=test_s,
                            total_s=round(time.time() - t, 1), install_keeps=installed['kept']))
        log(f"{name}: {'passed' if passed else 'FAILED'} in {results[-1]['total_s']} s", results[-1]['versions'])
    if args.report:
        report = dict(date=time.strftime('%Y-%m-%d'), machine=f'{platform.machine()}, {os.cpu_count()} cores',
                      strict_deprecations=True, jobs=results)
        Path(args.report).write_text(json.dumps(report, indent=1) + '\n')
        log('wrote', args.report)
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main()
