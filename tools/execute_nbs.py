"""Execute notebooks in place so their stored outputs (plots, tables) are fresh; drop stderr noise (progress bars,
warnings). The docs render stored outputs, so run this after changing a notebook's plots, then `nbdev_clean`."""
import os, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient

WIDGET = 'application/vnd.jupyter.widget-view+json'

def strip_widgets(nb):
    "Drop progress-bar widgets (their state bloats the notebook and the docs cannot show them)."
    nb.metadata.pop('widgets', None)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get('data', {})]

def execute(path: Path, timeout: int = 1200):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    strip_widgets(nb)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.outputs = [o for o in cell.outputs if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
    nbformat.write(nb, path)

if __name__ == '__main__':
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
    if sys.argv[1:2] == ['--strip-only']:  # clean notebooks that were executed elsewhere
        for p in sys.argv[2:]:
            nb = nbformat.read(p, as_version=4); strip_widgets(nb); nbformat.write(nb, p)
        sys.exit()
    for p in sys.argv[1:]:
        print('executing', p, flush=True)
        execute(Path(p))
