"""Browser test of the built docs site (`make docs-test`).

Checks that `_docs/` was built from the current notebooks, then loads pages in headless Chromium from a local
server and checks that they render: the title, the search box, search results, API docs, and every plot the
notebook stores, loaded as an image. Screenshots go to `_docs_screenshots/` and must not be blank.

    python tools/test_docs.py
"""
import json, re, sys, threading, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import build_docs
from browser import chromium, colours, fail

ROOT = build_docs.ROOT
SITE, SHOTS = ROOT/'_docs', ROOT/'_docs_screenshots'
# The pages to open: the home page, an API page, pages with plots (masks, attention maps). Each must show its
# heading (the H1, or show_doc's H3 of an API); its screenshot reaches down to that heading's docs and the first plot.
PAGES = {'index.html': 'h1#flamingo_mini', 'model.html': 'h3#flamingomodel', 'xattn.html': 'h3#media_attention_mask',
         'inspect.html': 'h1#inspecting-attention'}
# Added to every page the test server sends (the built site is unchanged). After the load event it records in the
# DOM, which `--dump-dom` prints, how many of the page's images decoded; it types a query into the search box and
# counts the results; and it records where the #heading (a CSS selector) and the first plot end, for the screenshot.
PROBE = """<script>
addEventListener('load', async () => {
  const b = document.body, imgs = [...document.querySelectorAll('article img')];
  b.dataset.imgs = imgs.length;
  b.dataset.loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const shown = [document.querySelector(decodeURIComponent(location.hash.slice(1))), imgs[0]].filter(e => e);
  b.dataset.below = Math.round(Math.max(0, ...shown.map(e => e.getBoundingClientRect().bottom + scrollY)));
  if (location.search == '?shot') return;  // the screenshot shows the page as it loads
  // virtual time stands still while a request is pending: /__wait answers after 0.25 s of real time
  const wait = async ok => { for (let i = 0; i < 60 && !ok(); i++) await fetch('/__wait'); };
  const q = document.querySelector('input[data-md-component=search-query]');
  const meta = document.querySelector('.md-search-result__meta');
  if (!q || !meta) return;
  await wait(() => !/Initializing/.test(meta.textContent));  // the search worker has built its index
  q.value = 'FlamingoModel'; q.dispatchEvent(new Event('focus')); q.dispatchEvent(new KeyboardEvent('keyup'));
  await wait(() => document.querySelector('.md-search-result__item'));
  b.dataset.hits = document.querySelectorAll('.md-search-result__item').length;
});
</script>"""

class Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        if self.path == '/__wait':
            time.sleep(0.25); self.send_response(204); self.end_headers(); return
        path = Path(self.translate_path(self.path))
        if path.suffix != '.html' or not path.exists(): return super().do_GET()
        body = path.read_text().replace('</body>', PROBE + '</body>').encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8'); self.send_header('Content-Length', str(len(body)))
        self.end_headers(); self.wfile.write(body)


def check_fresh():
    "The site must exist and come from the current notebooks and builder, one page per notebook."
    stamp = SITE/build_docs.STAMP
    if not stamp.exists(): fail(f'{stamp.relative_to(ROOT)} missing: build the docs first (make docs)')
    built = json.loads(stamp.read_text())
    if built['builder'] != build_docs.builder_sha(): fail('stale build: builder or settings.ini changed (make docs)')
    now = {f'{build_docs.page_name(nb)}.html': nb for nb in build_docs.sources()}
    for page in set(now) - set(built['pages']): fail(f'{now[page].name} has no page {page}: stale build (make docs)')
    for page in set(built['pages']) - set(now): fail(f'{page} is from a notebook that is gone: stale build (make docs)')
    for page, nb in now.items():
        if built['pages'][page]['sha256'] != build_docs.sha(nb): fail(f'{nb.name} changed since the build (make docs)')
        if not (SITE/page).exists(): fail(f'{page} missing from {SITE.name}/')
    return now

def title(nb:Path) -> str:
    "The notebook's `# Title`."
    mds = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown']
    return next(md.splitlines()[0][2:] for md in mds if md.startswith('# '))

def plots(nb:Path) -> int:
    "How many images the notebook stores in cells the docs show."
    cells = json.loads(nb.read_text())['cells']
    shown = lambda c: not re.search(r'^#\|\s*(hide|include:\s*false|output:\s*false)\s*$', ''.join(c['source']), re.M)
    return sum(any(k.startswith('image/') for k in o.get('data', {}))
               for c in cells if c['cell_type'] == 'code' and shown(c) for o in c['outputs'])

def check_text(page:str, html:str):
    "No replacement characters (bytes decoded as text: progress bars, partial UTF-8) and alt text on every image."
    if '\ufffd' in html:
        at = html.index('\ufffd')
        fail(f'{page}: U+FFFD (undecodable bytes) in the page, near {re.sub("<[^>]+>", "", html[at - 120:at + 20])!r}')
    for img in re.findall(r'<img\s[^>]*>', html):
        alt = re.search(r'\salt="([^"]*)"', img)
        if not alt or not alt[1].strip() or 'No description has been provided' in alt[1]:
            fail(f'{page}: an image without alt text ({img[:80]}...)')

def main():
    t0 = time.time()
    pages = check_fresh()
    for page, nb in pages.items():  # each page has an <img> for each plot its notebook stores (the browser checks follow)
        html = (SITE/page).read_text()
        n = len(re.findall(r'<img\s[^>]*src="data:image/(png|jpeg);base64,[A-Za-z0-9+/]{100}', html))
        if n < plots(nb): fail(f'{page} has {n} images, {nb.name} stores {plots(nb)} plots')
        check_text(page, html)
    # opened from file:// (no server) the page shows, and its search box points to `make serve-docs`
    dom = chromium('--dump-dom', (SITE/'index.html').as_uri())
    box = re.search(r'<input[^>]*data-md-component="search-query"[^>]*>', dom)
    if not box or 'make serve-docs' not in box[0]: fail(f'index.html from file://: the search box does not say how to search')
    SHOTS.mkdir(exist_ok=True)
    server = ThreadingHTTPServer(('127.0.0.1', 0), partial(Handler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()  # lives as long as this test
    base = f'http://127.0.0.1:{server.server_address[1]}'
    report = []
    try:
        for page, heading in PAGES.items():
            dom = chromium('--dump-dom', f'{base}/{page}#{heading.replace("#", "%23")}')
            body = dict(re.findall(r'data-(imgs|loaded|hits|below)="(\d+)"', re.search(r'<body[^>]*>', dom)[0]))
            shown = re.search(r'<title>(.*?)</title>', dom)[1]
            if not shown.startswith(title(pages[page])): fail(f'{page}: title {shown!r}, not the notebook\'s')
            if 'data-md-component="search-query"' not in dom: fail(f'{page}: no search box')
            nav = [p for p in dict.fromkeys(re.findall(r'<a href="([\w-]+\.html)" class="md-nav__link', dom)) if p != page]
            if nav != [p for p in pages if p != page]: fail(f'{page}: navigation {nav}, not the notebooks\' order')
            tag, id_ = heading.split('#')
            if not re.search(f'<{tag} id="{id_}"', dom): fail(f'{page}: no heading {heading}')
            expected = plots(pages[page])
            imgs, loaded = int(body.get('imgs', -1)), int(body.get('loaded', -1))
            if imgs < expected or loaded != imgs: fail(f'{page}: {loaded} of {imgs} images loaded, {expected} plots')
            if int(body.get('hits', 0)) < 1: fail(f'{page}: searching for FlamingoModel found nothing')
            shot = SHOTS/page.replace('.html', '.png')
            height = min(max(int(body.get('below', 0)) + 500, 1600), 8000)  # down to the heading's docs and the plot
            chromium(f'--screenshot={shot}', f'{base}/{page}?shot', height=height)
            if colours(shot) < 32: fail(f'{shot.relative_to(ROOT)} is blank ({colours(shot)} colours)')
            report.append(f'{page:14} {shown!r:40} images {loaded}/{imgs}  search hits {body["hits"]:>2}  '
                          f'screenshot {colours(shot)} colours')
    finally: server.shutdown()
    print(f'docs site OK: {len(pages)} pages built from the current notebooks, each with its plots; in the browser:')
    print('\n'.join(report))
    print(f'screenshots in {SHOTS.relative_to(ROOT)}/; {time.time() - t0:.0f} s')

if __name__ == '__main__': main()
