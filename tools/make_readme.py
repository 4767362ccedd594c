"""Write README.md from nbs/index.ipynb and its stored outputs (nbdev_readme needs quarto, which is not available here)."""
import sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parent.parent

def is_hidden(lines): return any(l.strip().replace(' ', '') in ('#|hide', '#|export', '#|exporti') for l in lines)

def echo_off(lines): return any(l.strip().replace(' ', '') == '#|echo:false' for l in lines)  # outputs only, as quarto

def from_root(markdown: str) -> str: return markdown.replace('](../', '](')  # notebook links are relative to nbs/

def cell_markdown(cell) -> list:
    lines = cell.source.splitlines()
    if cell.cell_type == 'markdown': return [cell.source.strip(), '']
    if cell.cell_type != 'code' or is_hidden(lines): return []
    code = '\n'.join(l for l in lines if not l.strip().startswith('#|')).strip()
    parts = [f'```python\n{code}\n```', ''] if code and not echo_off(lines) else []
    for out in cell.get('outputs', []):
        if out.get('name') == 'stderr': continue  # progress bars and warnings
        markdown = out.get('data', {}).get('text/markdown')  # rendered from a file, e.g. the demo's report
        if markdown:
            parts += [from_root(''.join(markdown) if isinstance(markdown, list) else markdown).rstrip('\n'), '']
            continue
        text = out.get('text') or out.get('data', {}).get('text/plain')
        if text:
            text = ''.join(text) if isinstance(text, list) else text
            parts += ['```', text.rstrip('\n'), '```', '']
    return parts

def main(check: bool = False):
    nb = nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4)
    lines = ['<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->', '']
    for cell in nb.cells: lines += cell_markdown(cell)
    text = '\n'.join(lines).rstrip() + '\n'
    readme = ROOT/'README.md'
    if check:
        if readme.read_text() != text: sys.exit('README.md is out of date: run `make readme` and commit it')
        return
    readme.write_text(text)

if __name__ == '__main__': main(check='--check' in sys.argv)
