"""Write README.md from nbs/index.ipynb and its stored outputs (nbdev_readme needs quarto, which is not available here).

With --check, write nothing and fail when README.md is out of date, or when a page disagrees with the committed demo
report (reports/demo/): a stored output that renders it is not what rendering the file gives now, or the prose of
the README, the home page or the demo page's report section types a score of its own.
"""
import re, sys
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

DEMO_REPORT = ROOT/'reports'/'demo'
RENDERERS = dict(report_summary='text/markdown', report_tables='text/markdown', samples_alt='text/plain', binding_alt='text/plain',
                 few_shot_alt='text/plain')  # what renders the demo's report, and the output it shows
SCORE = re.compile(r'(?<![\d.])[01]\.\d\d(?!\d)')  # 0.96, 1.00: how the demo's scores are written

def demo_report_problems(readme: str) -> list:
    "Where the README, nbs/index.ipynb or nbs/18_demo.ipynb disagree with the committed demo report."
    from flamingo_mini import demo
    report, problems = demo.read_report(DEMO_REPORT), []
    for name in ('index', '18_demo'):
        cells = nbformat.read(ROOT/'nbs'/f'{name}.ipynb', as_version=4).cells
        for cell in cells:  # the cells that show the report: outputs only (quarto's echo: false), calling a renderer
            for fn, mime in RENDERERS.items():
                if cell.cell_type != 'code' or not echo_off(cell.source.splitlines()) or f'{fn}(' not in cell.source: continue
                data = cell.outputs[-1].get('data', {}) if cell.outputs else {}
                if ''.join(data.get(mime, '')) != getattr(demo, fn)(report):
                    problems.append(f'nbs/{name}.ipynb: the stored output of {fn}() is not what {DEMO_REPORT.relative_to(ROOT)} '
                                    'renders now: re-execute the notebook (make demo-report does it)')
        start = 0 if name == 'index' else next(i for i, c in enumerate(cells) if c.source.startswith('## The whole job'))
        for cell in cells[start:]:
            if cell.cell_type == 'markdown' and SCORE.search(cell.source):
                problems.append(f'nbs/{name}.ipynb: prose types scores by hand ({", ".join(SCORE.findall(cell.source))}): '
                                'render them from the report')
    summary = demo.report_summary(report)
    if summary not in readme: problems.append("README.md does not show the report's summary")
    rest = readme.replace(summary, '').replace(demo.samples_alt(report), '')
    if SCORE.search(rest): problems.append(f'README.md types scores by hand: {", ".join(SCORE.findall(rest))}')
    return problems

def main(check: bool = False):
    nb = nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4)
    lines = ['<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->', '']
    for cell in nb.cells: lines += cell_markdown(cell)
    text = '\n'.join(lines).rstrip() + '\n'
    readme = ROOT/'README.md'
    if check:
        if readme.read_text() != text: sys.exit('README.md is out of date: run `make readme` and commit it')
        problems = demo_report_problems(text)
        if problems: sys.exit('the pages disagree with the committed demo report:\n  ' + '\n  '.join(problems))
        return
    readme.write_text(text)

if __name__ == '__main__': main(check='--check' in sys.argv)
