"""Execute notebooks in place so their stored outputs (plots, tables) are fresh; drop stderr noise (progress bars,
warnings). The docs render stored outputs, so run this after changing a notebook's plots, then `nbdev_clean`."""
import os, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient

def execute(path: Path, timeout: int = 1200):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.outputs = [o for o in cell.outputs if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
    nbformat.write(nb, path)

if __name__ == '__main__':
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
    for p in sys.argv[1:]:
        print('executing', p, flush=True)
        execute(Path(p))
