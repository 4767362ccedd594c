"""What the browser tests (`test_docs.py`, `test_web.py`) share: Debian's headless Chromium, run once per page load,
and a check that a screenshot is not blank."""
import shutil, subprocess, sys, tempfile
from pathlib import Path

# headless and offline; virtual time lets the page's own timers (a test probe's, a search's) run to their end
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--hide-scrollbars',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']

def fail(msg): sys.exit(f'FAIL: {msg}')

def chromium(*args, width:int=1280, height:int=1600, virtual_ms:int=8000, timeout:int=90) -> str:
    "Run Chromium headless with a fresh profile on `args` (e.g. `--dump-dom URL`); return what it prints."
    exe = shutil.which('chromium') or shutil.which('chromium-browser') or fail('no chromium (the make target installs it)')
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([exe, *FLAGS, f'--virtual-time-budget={virtual_ms}', f'--user-data-dir={profile}',
                            f'--window-size={width},{height}', *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode: fail(f'chromium exited {r.returncode}: {r.stderr[-2000:]}')
    return r.stdout

def colours(png:Path) -> int:
    "How many distinct colours a screenshot has (a blank page has one or two)."
    from PIL import Image
    return len(Image.open(png).convert('RGB').getcolors(1 << 20))
