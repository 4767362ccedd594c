"""Build the docs site into `_docs/` offline, without quarto.

nbdev processes each notebook as `nbdev_proc_nbs` does (it renders `show_doc`), then mkdocs with mkdocs-jupyter and
mkdocs-material renders every page from the notebooks' stored outputs; nothing is executed but the cells nbdev runs
for `show_doc` (exports and imports). nbdev's processing runs unpatched, so a notebook that would break
`nbdev_docs` where quarto is installed (a `show_doc` that raises, a cell mixing imports with code that fails outside
the test run) breaks this build too, and CI's `make docs-test` catches it.

    python tools/build_docs.py [--force]
"""
import argparse, ast, hashlib, html, json, os, re, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT/'.cache'/'docs'          # processed notebooks and the generated mkdocs.yml (gitignored)
STAMP = 'docs-build.json'            # written into the site: what it was built from (see tools/test_docs.py)
# quarto cell options that nbdev leaves in the processed notebooks, as the nbconvert tags mkdocs-jupyter honours
OPTION_TAGS = {('echo', 'false'): 'remove_input', ('output', 'false'): 'remove_output',
               ('include', 'false'): 'remove_cell'}
CELL_KEYS = {'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'}  # nbformat 4's


def _cfg():
    os.chdir(ROOT)
    from nbdev.config import get_config
    return get_config()

def sources(cfg=None) -> list:
    "The documented notebooks in page order: the home page, then by notebook number (`_` names are scratch)."
    nbs = [p for p in (cfg or _cfg()).nbs_path.glob('*.ipynb') if not p.name.startswith(('_', '.'))]
    return sorted(nbs, key=lambda p: (p.name != 'index.ipynb', p.name))

def page_name(nb:Path) -> str: return re.sub(r'^\d+[a-z]?_', '', nb.stem)  # 15_inspect -> inspect, as nbdev_docs

def sha(*paths) -> str: return hashlib.sha256(b''.join(Path(p).read_bytes() for p in paths)).hexdigest()

def builder_sha() -> str: return sha(__file__, ROOT/'settings.ini')  # a changed builder makes every page stale


# Runs in the worker process
def _process(src:Path, dst:Path, key:str, site_url:str) -> None:
    "nbdev's docs processing of notebook `src`, unpatched, as `nbdev_proc_nbs` does it; written to `dst` for nbconvert."
    # (not the CLI itself: without quarto it runs `pip install -e .`, and it writes yml files into nbs/)
    import nbformat
    from execnb.nbio import read_nb, write_nb
    from nbdev.processors import FilterDefaults
    os.chdir(src.parent)  # where nbdev_test runs it
    os.environ['IN_TEST'] = '1'  # as nbdev's serve_drv
    main = sys.modules['__main__']  # IPython's shell replaces it, and the pool finds `_process` there
    try:
        nb = read_nb(src)
        FilterDefaults()(nb)
        write_nb(nb, dst)
    finally: sys.modules['__main__'] = main
    mds = [''.join(c['source']) for c in json.loads(src.read_text())['cells'] if c['cell_type'] == 'markdown']
    heading = next((md for md in mds if md.startswith('# ')), f'# {dst.stem}')
    nb = _for_nbconvert(json.loads(dst.read_text()), heading, site_url)
    nb['metadata'].setdefault('docs_title', heading.splitlines()[0][2:])
    nb['metadata']['docs_key'] = key
    nbformat.validate(nbformat.from_dict(nb))  # nbconvert would only log a warning
    dst.write_text(json.dumps(nb, indent=1))


# Runs in the main process
def _directives(source:str):
    "Split quarto's `#| key: value` lines off the top of a cell."
    lines = source.splitlines()
    n = next((i for i, l in enumerate(lines) if not l.startswith('#|')), len(lines))
    opts = dict(tuple(s.strip().lower() for s in l[2:].split(':', 1)) for l in lines[:n] if ':' in l)
    return opts, '\n'.join(lines[n:])

def _plain(markdown:str) -> str:
    "Markdown as plain text, for alt text: links, code marks, emphasis and headings undone, on one line."
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', markdown)
    text = re.sub(r'[`*_#>]|<[^>]+>', '', text)
    return ' '.join(text.split())

def alt_text(source:str, before:str, page:str) -> str:
    "A figure's alt text: the cell's `#| fig-alt:` option (quarto's), else the prose just before the cell, else the page's name."
    alt = re.search(r'^#\|\s*fig-alt:\s*(.+)$', source, re.M)
    if alt: return alt[1].strip()
    lines = before.splitlines()
    body = [l for l in lines if not l.startswith('#')] or lines  # a heading alone is better than nothing
    sentences = re.split(r'(?<=[.:!?])\s+', _plain('\n'.join(body)))
    text = ' '.join(sentences[-2:]).rstrip(':').strip()  # the lines that lead into the figure
    return (text[:297] + '...' if len(text) > 300 else text) or f'a figure on the {page} page'

def _with_alt(out:dict, alt:str) -> None:
    "Show an image output as an <img> with alt text (nbconvert's templates give every plot the same placeholder)."
    for mime in ('image/png', 'image/jpeg'):
        if mime in out.get('data', {}) and 'text/html' not in out['data']:
            data = ''.join(out['data'][mime]).replace('\n', '')
            out['data']['text/html'] = f'<img alt="{html.escape(alt, quote=True)}" src="data:{mime};base64,{data}">'
            return

def _for_nbconvert(nb:dict, heading:str, site_url:str) -> dict:
    "Turn nbdev's output (made for quarto) into a plain notebook that nbconvert renders the same way."
    import yaml
    prose, page = '', heading.splitlines()[0].lstrip('# ')
    for cell in nb['cells']:
        cell['source'] = ''.join(cell['source'])
        for k in set(cell) - CELL_KEYS: del cell[k]  # nbdev's `has_sd` and friends fail nbformat's validation
        cell['metadata'].pop('execution', None)
        if cell['cell_type'] == 'raw' and cell['source'].startswith('---'):  # the frontmatter: back to the title cell
            nb['metadata']['docs_title'] = yaml.safe_load(cell['source'].strip().strip('-'))['title']
            cell.update(cell_type='markdown', source=heading)  # as written: nbdev keeps one line of the description
        if cell['cell_type'] == 'markdown':  # nbdev links names to the published docs: link to this build instead
            cell['source'] = cell['source'].replace(site_url, '')
        if cell['cell_type'] == 'markdown': prose = cell['source']
        if cell['cell_type'] != 'code': continue
        for out in cell['outputs']: _with_alt(out, alt_text(cell['source'], prose, page))
        opts, cell['source'] = _directives(cell['source'])
        cell['metadata']['tags'] = [t for o, t in OPTION_TAGS.items() if o in opts.items()]
        for out in cell['outputs']:
            md = ''.join(out.get('data', {}).get('text/markdown', ''))
            if md:  # show_doc's `[source](url){target="_blank" style=...}` is pandoc's syntax: make it an <a>
                md = re.sub(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}', r'<a href="\2" \3>\1</a>', md)
                out['data']['text/markdown'] = md.replace(site_url, '')
    return nb

def _unexecuted(nb:Path) -> str:
    "Code cells that end in an expression yet have no stored output: the notebook was not run, or not since."
    cells, n = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code'], 0
    for cell in cells:
        if cell['outputs']: continue
        try: body = ast.parse(_directives(''.join(cell['source']))[1]).body
        except SyntaxError: continue
        last = body[-1].value if body and isinstance(body[-1], ast.Expr) else None
        # a call displays its result unless it returns None, as fastcore's test_*, torch's set_* and the disable_progress_bar()s do
        func = ast.unparse(last.func) if isinstance(last, ast.Call) else ''
        n += last is not None and not re.match(r'(.*\.)?(test_|set_|disable_)', func)
    none = ' (no stored outputs at all)' if not any(c['outputs'] for c in cells) else ''
    return f'{n} cells{none}' if n else ''

# The search index is fetched by a web worker, which browsers refuse to pages opened from file://: such a page says
# how to get search instead (`make serve-docs` serves the site on 127.0.0.1)
OFFLINE_JS = 'offline-search.js'
OFFLINE_SCRIPT = """if (location.protocol === 'file:') addEventListener('DOMContentLoaded', () => {
  const q = document.querySelector('input[data-md-component=search-query]');
  if (!q) return;
  q.placeholder = 'Search: run make serve-docs';
  q.title = 'Browsers do not let pages opened from file:// load the search index. Run `make serve-docs` and open '
          + 'http://127.0.0.1:8000/index.html to search.';
});
"""

def site_url(cfg) -> str: return f'{cfg.doc_host}{cfg.doc_baseurl}/'

def mkdocs_config(cfg, nav:list) -> dict:
    return dict(
        site_name=cfg.title, site_description=cfg.description, site_url=site_url(cfg),
        repo_url=cfg.git_url, edit_uri='', docs_dir='pages', site_dir=str(ROOT/cfg.doc_path),
        use_directory_urls=False,  # inspect.html, as nbdev_docs names it; also browsable from file://
        theme=dict(name='material', font=False,  # font: False, else the theme loads Google Fonts
                   features=['navigation.footer', 'search.highlight', 'content.code.copy']),
        extra_javascript=[OFFLINE_JS],
        plugins=['search', {'mkdocs-jupyter': dict(
            execute=False, include_source=False, no_prompt=True, toc_depth=3, cache_dir=str(WORK/'mkdocs-jupyter'),
            remove_tag_config=dict(remove_input_tags=['remove_input'], remove_all_outputs_tags=['remove_output'],
                                   remove_cell_tags=['remove_cell']))}],
        nav=nav)

def main(force=False):
    t0 = time.time()
    cfg = _cfg()
    for k, v in dict(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', NO_MKDOCS_2_WARNING='1').items():
        os.environ.setdefault(k, v)
    pages = WORK/'pages'  # one processed notebook per page, named as the page
    pages.mkdir(parents=True, exist_ok=True)
    srcs = {page_name(nb): nb for nb in sources(cfg)}
    if len(srcs) < len(sources(cfg)): sys.exit(f'two notebooks make the same page: {[nb.name for nb in sources(cfg)]}')
    for old in set(pages.glob('*.ipynb')) - {pages/f'{p}.ipynb' for p in srcs}: old.unlink()
    shas = {p: sha(nb) for p, nb in srcs.items()}  # taken now: a notebook saved during the build makes the site stale
    key = {p: shas[p] + builder_sha() for p in srcs}
    def cached(p):
        page = pages/f'{p}.ipynb'
        return page.exists() and json.loads(page.read_text())['metadata'].get('docs_key') == key[p]
    todo = [p for p in srcs if force or not cached(p)]
    print(f'processing {len(todo)} of {len(srcs)} notebooks with nbdev')
    failed = []
    # one worker: it imports torch and transformers once for all notebooks; a second would import them again
    with ProcessPoolExecutor(max_workers=1) as pool:
        jobs = {p: pool.submit(_process, srcs[p], pages/f'{p}.ipynb', key[p], site_url(cfg)) for p in todo}
        for p, job in jobs.items():
            try: job.result()
            except Exception as e:  # nbdev's message names the cell; the worker's traceback ends in the first error
                cause = str(getattr(e.__cause__, 'tb', '')).split('The above exception')[0].strip().splitlines()[-1:]
                failed.append(f'{srcs[p].name}: {str(e).splitlines()[0]} {"".join(cause)}')
                (pages/f'{p}.ipynb').unlink(missing_ok=True)
                continue
    if failed: sys.exit('nbdev could not process:\n  ' + '\n  '.join(failed))
    t1 = time.time()

    nav = [{json.loads((pages/f'{p}.ipynb').read_text())['metadata']['docs_title']: f'{p}.ipynb'} for p in srcs]
    (pages/OFFLINE_JS).write_text(OFFLINE_SCRIPT)
    (WORK/'mkdocs.yml').write_text(json.dumps(mkdocs_config(cfg, nav), indent=1))  # JSON is YAML
    mkdocs = [sys.executable, '-m', 'mkdocs', 'build', '--quiet', '--strict', '--clean']
    subprocess.run([*mkdocs, '-f', WORK/'mkdocs.yml'], check=True)
    stamp = dict(builder=builder_sha(), pages={f'{p}.html': dict(source=str(nb.relative_to(ROOT)), sha256=shas[p])
                                               for p, nb in srcs.items()})
    (cfg.doc_path/STAMP).write_text(json.dumps(stamp, indent=1))

    unrun = {nb: n for nb in srcs.values() if (n := _unexecuted(nb))}
    if unrun: print('warning: code cells that end in an expression but have no stored output (re-execute these):\n  '
                    + '\n  '.join(f'{nb.relative_to(ROOT)}: {n}' for nb, n in unrun.items()))
    print(f'built {len(srcs)} pages into {cfg.doc_path.relative_to(ROOT)}/ in {time.time() - t0:.0f} s '
          f'(nbdev {t1 - t0:.0f} s, mkdocs {time.time() - t1:.0f} s)')

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--force', action='store_true', help='reprocess every notebook, ignoring the cache')
    main(**vars(ap.parse_args()))
