"""The durability battery for `flamingo_mini.train` checkpoints (issue 17's target), written to tools/durability.json:

- SIGKILL before every step of the save sequence (every file write, half-way through every file, every fsync of a
  folder, every rename, every removal), over a run whose saves include the final step, and SIGKILL at random moments;
  after each kill the run is resumed (from the newest intact checkpoint, or from scratch when none was complete) and
  must end with trainable weights and losses bitwise equal to an uninterrupted run;
- a disk that fills up during a save, a folder that becomes read-only during a run, and a folder that is read-only
  or full before the run, on a small tmpfs in a private mount namespace (needs root; skipped with a note otherwise):
  the error says what happened and where, the partial checkpoint is gone, the previous one is intact, and the run
  resumes to the same end once the disk is writable again.

Each trial is a child forked from one parent that has imported everything, so a trial costs its training steps only.
Run: `python tools/durability.py [--random-kills 15] [--seed 0]` (a few minutes on two cores).
"""
import argparse, ctypes, itertools, json, os, random, shutil, signal, subprocess, sys, tempfile, time, traceback
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false'); os.environ.setdefault('OMP_NUM_THREADS', '1')
import warnings; warnings.filterwarnings('ignore')
import torch
torch.set_num_threads(1)  # no worker threads in the parent: every trial is a fork of it
from datasets import Dataset, Image as ImageFeature
from safetensors.torch import load_file, save_file
import flamingo_mini.train as train
from flamingo_mini.data import FlamingoCollator, prepare_dataset
from flamingo_mini.model import FlamingoModel
from flamingo_mini.processor import FlamingoProcessor
from flamingo_mini.testing import save_tiny_parts, synthetic_images

STEPS, SAVE_EVERY, KEEP = 6, 2, 2  # saves at 2, 4 and 6 (the final step), and one removal of an old checkpoint

def setup(tmp:Path):
    parts = save_tiny_parts(tmp/'parts', 'gpt2')
    processor = FlamingoProcessor.from_pretrained_parts(parts['lm'], parts['vision'])
    colours = ['red', 'green', 'blue', 'yellow', 'purple', 'white']
    captions = Dataset.from_dict({'image': synthetic_images(24), 'caption': [f'a {colours[i % 6]} thing' for i in range(24)]})
    return parts, processor, prepare_dataset(captions.cast_column('image', ImageFeature()), ['image'])

def make_learner(world, output_dir, eval_fn=None, eval_every=0):
    parts, processor, captions = world
    torch.manual_seed(0)
    model = FlamingoModel.from_pretrained_parts(parts['lm'], parts['vision'], xattn_dim_head=8, xattn_heads=2,
                                                resampler_depth=1, resampler_num_latents=4)
    config = train.TrainConfig(steps=STEPS, lr=3e-3, warmup_steps=3, log_every=1, seed=0, save_every=SAVE_EVERY,
                               keep_checkpoints=KEEP, eval_every=eval_every, output_dir=str(output_dir))
    return train.Learner(model, {'captions': (captions, FlamingoCollator(processor), 4)}, config, eval_fn=eval_fn)

def finish(learner, result:Path):
    "Train to the end and write the trainable weights and the losses where the parent compares them."
    learner.fit(progress=False)
    save_file({k: v.contiguous() for k, v in learner.raw_model.state_dict_trainable().items()}, result/'weights.safetensors')
    (result/'losses.json').write_text(json.dumps([h['loss'] for h in learner.history if 'loss' in h]))

def resume(world, run:Path, result:Path):
    "A fresh process's resume: from the newest intact checkpoint, or from scratch when no checkpoint was completed."
    learner = make_learner(world, run)
    try:
        with warnings.catch_warnings(): warnings.simplefilter('ignore'); learner.load_checkpoint()
    except (ValueError, FileNotFoundError) as e:
        if 'no intact checkpoint' not in str(e) and 'no output folder' not in str(e): raise
        if any(p.name.startswith('checkpoint-') for p in run.glob('*')): raise  # a completed one exists: never restart
    finish(learner, result)

def instrument(kill_at:int|None, counter:list):
    "Count every step of the save sequence; SIGKILL this process at step `kill_at`."
    def point():
        counter[0] += 1
        if counter[0] == kill_at: os.kill(os.getpid(), signal.SIGKILL)
    def write_file(path, data):
        point()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2]); f.flush()
            point()  # a torn file
            f.write(data[len(data) // 2:]); f.flush(); os.fsync(f.fileno())
    real_fsync_dir, real_replace, real_rmtree = train.fsync_dir, os.replace, shutil.rmtree
    train.write_file = write_file
    train.fsync_dir = lambda path: (point(), real_fsync_dir(path))
    os.replace = lambda *args, **kwargs: (point(), real_replace(*args, **kwargs))
    shutil.rmtree = lambda *args, **kwargs: (point(), real_rmtree(*args, **kwargs))

def child(fn, *args) -> int:
    "Run `fn(*args)` in a forked child; its exit status (negative: the signal that ended it)."
    pid = os.fork()
    if pid == 0:
        code = 0
        try: fn(*args)
        except BaseException: traceback.print_exc(); code = 1
        finally: os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

def same(result:Path, reference:Path) -> bool:
    a, b = load_file(result/'weights.safetensors'), load_file(reference/'weights.safetensors')
    return (a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
            and json.loads((result/'losses.json').read_text()) == json.loads((reference/'losses.json').read_text()))

def kill_trial(world, tmp:Path, name:str, kill) -> dict:
    "One run killed (at a save step, or by the parent after a delay), then resumed in a fresh child until it ends."
    run, result = tmp/name/'run', tmp/name/'result'
    result.mkdir(parents=True)
    if isinstance(kill, int):
        status = child(lambda: (instrument(kill, [0]), finish(make_learner(world, run), result)))
    else:  # a delay in seconds after training starts (when `fit` has made the run folder)
        pid = os.fork()
        if pid == 0:
            try: finish(make_learner(world, run), result)
            finally: os._exit(0)
        while not run.exists() and os.waitpid(pid, os.WNOHANG) == (0, 0): time.sleep(0.005)
        time.sleep(kill); os.kill(pid, signal.SIGKILL)
        _, s = os.waitpid(pid, 0)
        status = -os.WTERMSIG(s) if os.WIFSIGNALED(s) else os.WEXITSTATUS(s)
    killed = status == -signal.SIGKILL
    state = sorted(p.name for p in run.iterdir()) if run.exists() else []
    resumed = child(resume, world, run, result) if killed else status
    ok = resumed == 0 and same(result, tmp/'reference')
    shutil.rmtree(tmp/name)
    return dict(kill=kill, killed=killed, left=state, resumed=resumed == 0, bitwise_equal=ok)

# private mount namespaces: a small tmpfs per trial (Linux, root)
CLONE_NEWNS = 0x00020000

def private_tmpfs(mount_point:Path, size:str):
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNS) != 0: raise OSError(ctypes.get_errno(), 'unshare failed')
    subprocess.run(['mount', '--make-rprivate', '/'], check=True)
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(mount_point)], check=True)

def remount(mount_point:Path, mode:str): subprocess.run(['mount', '-o', f'remount,{mode}', str(mount_point)], check=True)

def fill(folder:Path, leave:int):
    "Fill the disk holding `folder` until `leave` bytes are free."
    with open(folder/'filler', 'wb') as f:
        while (free := shutil.disk_usage(folder).free) > leave: f.write(b'\0' * min(free - leave, 1 << 20)); f.flush()

def fault_trial(world, tmp:Path, fault:str, report:Path):
    "In a private mount namespace: the disk fills up or turns read-only at step 4's save; then the run resumes."
    mnt, result = tmp/f'mnt-{fault}', tmp/f'result-{fault}'
    result.mkdir()
    private_tmpfs(mnt, '64m')
    run, out = mnt/'run', {}
    def at_step_4(model):
        if fault == 'full': fill(mnt, 100_000)  # a checkpoint of this model takes about 1 MB
        else: remount(mnt, 'ro')
        return {}
    learner = make_learner(world, run, eval_fn=at_step_4, eval_every=4)
    try: learner.fit(progress=False); out['error'] = None
    except OSError as e: out['error'] = str(e)
    out['step_at_error'] = learner.step
    out['left'] = sorted(p.name for p in run.iterdir())
    out['latest'] = (run/'latest').read_text()
    out['intact'] = train.checkpoint_problem(run/out['latest']) is None
    if fault == 'full': (mnt/'filler').unlink()
    else: remount(mnt, 'rw')
    resume(world, run, result)
    out['resumed_bitwise_equal'] = same(result, tmp/'reference')
    report.write_text(json.dumps(out))

def preflight_trial(world, tmp:Path, fault:str, report:Path):
    "A folder that is read-only or too small before the run: `fit` fails before its first step."
    mnt = tmp/f'mnt-pre-{fault}'
    private_tmpfs(mnt, '64m' if fault == 'ro' else '1m')
    (mnt/'run').mkdir()
    if fault == 'ro': remount(mnt, 'ro')
    learner = make_learner(world, mnt/'run')
    try: learner.fit(progress=False); error = None
    except OSError as e: error = str(e)
    report.write_text(json.dumps(dict(error=error, step=learner.step)))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--random-kills', type=int, default=15)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--report', default=str(Path(__file__).with_name('durability.json')))
    args = p.parse_args()
    start, rng = time.time(), random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix='durability-'))
    world = setup(tmp)
    (tmp/'reference').mkdir()
    def reference():
        counter, learner = [0], make_learner(world, tmp/'reference-run')
        instrument(None, counter)
        start = time.time()
        finish(learner, tmp/'reference')
        (tmp/'events').write_text(json.dumps([counter[0], time.time() - start]))
    assert child(reference) == 0
    events, training_seconds = json.loads((tmp/'events').read_text())
    print(f'reference run: {training_seconds:.1f} s of training, {events} steps in its save sequences', flush=True)
    trials = []
    for k in range(1, events + 1):
        trials.append(kill_trial(world, tmp, f'at-{k}', k))
        print(f"kill at save step {k}/{events}: {trials[-1]}", flush=True)
    upper = 1.5 * training_seconds
    while sum(t['killed'] for t in trials if not isinstance(t['kill'], int)) < args.random_kills:
        trials.append(kill_trial(world, tmp, f'random-{len(trials)}', round(rng.uniform(0, upper), 3)))
        if not trials[-1]['killed']: upper = trials[-1]['kill']  # the run ended sooner: aim within its length
        print(f"kill after {trials[-1]['kill']} s: {trials[-1]}", flush=True)
    faults = {}
    if os.geteuid() == 0 and sys.platform == 'linux':
        for fault in ('full', 'ro'):
            status = child(fault_trial, world, tmp, fault, tmp/f'{fault}.json')
            faults[f'during_run_{fault}'] = json.loads((tmp/f'{fault}.json').read_text()) if status == 0 else dict(failed=status)
            status = child(preflight_trial, world, tmp, fault, tmp/f'pre-{fault}.json')
            faults[f'before_run_{fault}'] = json.loads((tmp/f'pre-{fault}.json').read_text()) if status == 0 else dict(failed=status)
            print(fault, faults[f'during_run_{fault}'], faults[f'before_run_{fault}'], flush=True)
    else: faults['skipped'] = 'needs root on Linux (a tmpfs in a private mount namespace)'
    at_save = [t for t in trials if isinstance(t['kill'], int)]
    killed = [t for t in trials if t['killed']]
    report = dict(
        steps=STEPS, save_every=SAVE_EVERY, keep_checkpoints=KEEP, save_sequence_steps=events,
        training_seconds=round(training_seconds, 2),
        kills=len(killed), kills_at_save_steps=sum(t['killed'] for t in at_save),
        kills_at_random_times=sum(t['killed'] for t in trials if not isinstance(t['kill'], int)),
        resumes_succeeded=sum(t['resumed'] for t in killed), bitwise_equal=sum(t['bitwise_equal'] for t in killed),
        faults=faults, seconds=round(time.time() - start, 1), trials=trials)
    Path(args.report).write_text(json.dumps(report, indent=1) + '\n')
    shutil.rmtree(tmp, ignore_errors=True)
    print({k: v for k, v in report.items() if k != 'trials'})
    ok = report['resumes_succeeded'] == report['bitwise_equal'] == report['kills'] >= 30
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main()
