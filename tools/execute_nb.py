"""Execute notebooks in place, as `nbdev_test` runs them but keeping the outputs, and skipping `#| slow` cells.

    python tools/execute_nb.py nbs/18_demo.ipynb [more notebooks]

For pages whose stored outputs render committed files (the demo's report): `jupyter nbconvert --execute` would also
run their slow cells, which take many minutes each.
"""
import os, re, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

def is_slow(cell) -> bool: return bool(re.search(r'^#\|\s*slow\b', cell.source, re.M))

def execute(path:Path):
    "Run every code cell of `path` but the slow ones, from its folder, and write the outputs back."
    here = Path.cwd()
    os.chdir(path.parent)
    try:
        nb = read_nb(path)
        CaptureShell(path).run_all(nb, exc_stop=True, preproc=lambda c: c.cell_type != 'code' or is_slow(c))
        write_nb(nb, path)
    finally: os.chdir(here)

if __name__ == '__main__':
    for p in sys.argv[1:]: execute(Path(p).resolve()); print('executed', p)
