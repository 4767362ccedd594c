"""Browser test of the web chat (`make web-test`).

Saves a tiny offline checkpoint, serves it with `flamingo_mini.web` on a free port, and drives the page in headless
Chromium. The page must show the model's summary (name, context, what it was trained for, what it cannot do). A probe
script added to the page (with the page's CSP nonce: no other script runs) draws a PNG on a canvas and attaches it
through the page's own file input, and holds a three-turn conversation: an image, a question, a second image; between
them it attaches a file that is not an image, sends an empty and an over-long message, and resets. The DOM that
Chromium dumps must show each reply and each error message where the page puts them, the replies must be those the
server's `Chat` gave, and the vision encoder must have seen each picture once, in its own turn. `serve` itself is
checked in a subprocess. A screenshot of the conversation goes to `_web_screenshots/` and must not be blank.

    python tools/test_web.py
"""
import asyncio, html.parser, json, os, re, shutil, subprocess, sys, tempfile, threading, time, urllib.request
from pathlib import Path
for k in ('HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE'): os.environ.setdefault(k, '1')
from flamingo_mini import web
from flamingo_mini.chat import Chat
from flamingo_mini.model import FlamingoModel, open_gates_
from flamingo_mini.processor import FlamingoProcessor
from flamingo_mini.testing import save_tiny_parts
from browser import colours, fail, chromium as _chromium

def chromium(*args) -> str:
    "Chromium on the chat page: the probe's awaits keep a request pending, so virtual time must outlast all its steps."
    return _chromium(*args, width=900, height=1000, virtual_ms=10000, timeout=180)

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT/'_web_screenshots'
# Added to the page the test server sends. `?chat` (the default) runs a conversation with bad input in it; `?reset`
# sends a message, resets and sends another. It records in the DOM, which `--dump-dom` prints, whether each step saw
# what it waited for; the messages themselves are read from the page's own log.
PROBE = """<script nonce="__NONCE__">
addEventListener('load', async () => {
  const b = document.body, $ = s => document.querySelector(s), n = sel => document.querySelectorAll('#log ' + sel).length;
  await ready;  // the page's conversation, opened by a POST
  // virtual time stands still while a request is pending: /__wait answers after 0.25 s of real time
  const wait = async ok => { for (let i = 0; i < 240 && !ok(); i++) await fetch('/__wait'); return ok(); };
  const attach = file => {  // what choosing a file in the dialog does: the input's files change, then 'change'
    const dt = new DataTransfer(); dt.items.add(file);
    $('#images').files = dt.files; $('#images').dispatchEvent(new Event('change', {bubbles: true}));
  };
  const send = (text, ok) => { $('#text').value = text; $('#send').click(); return wait(ok); };
  const canvas = Object.assign(document.createElement('canvas'), {width: 64, height: 64}), g = canvas.getContext('2d');
  const fill = g.createLinearGradient(0, 0, 64, 64);
  fill.addColorStop(0, '#f43f5e'); fill.addColorStop(1, '#3b82f6'); g.fillStyle = fill; g.fillRect(0, 0, 64, 64);
  const png = Uint8Array.from(atob(canvas.toDataURL('image/png').split(',')[1]), c => c.charCodeAt(0));
  const picture = () => new File([png], 'gradient.png', {type: 'image/png'});
  const replies = () => n('.assistant:not(.pending)'), errors = () => n('.error'), steps = [];
  attach(picture());
  b.dataset.attached = $('#attached').textContent;
  steps.push(await send('what is in this picture?', () => replies() == 1));
  if (location.search == '?reset') {
    $('#reset').click();
    steps.push(await wait(() => n('.note') == 1 && replies() == 0));
    attach(picture());
    steps.push(await send('and in this one?', () => replies() == 1));
  } else {
    steps.push(await send('what colour is it?', () => replies() == 2));  // a question, no image
    attach(new File(['this is not an image'], 'broken.png', {type: 'image/png'}));
    steps.push(await send('and this one?', () => errors() == 1));
    attach(picture());
    steps.push(await send('and this one?', () => replies() == 3));  // a second image, at the third turn
    steps.push(await send('', () => errors() == 2));
    steps.push(await send('word '.repeat(300), () => errors() == 3));  // alone over the 256 tokens of context
  }
  b.dataset.steps = steps.map(Number).join('');
});
</script>"""

class Probed(web.PageHandler):
    def page(self): return super().page().replace('</body>', PROBE.replace('__NONCE__', self.nonce) + '</body>')

class Wait(web.PageHandler):
    async def get(self): await asyncio.sleep(0.25); self.set_status(204); self.finish()

class Messages(html.parser.HTMLParser):
    "The messages in the page's log, from a dumped DOM: dicts of kind (the classes after `msg`), text, images."
    def __init__(self, dom:str):
        super().__init__(); self.msgs, self.open = [], False
        self.feed(dom)
    def handle_starttag(self, tag, attrs):
        cls = (dict(attrs).get('class') or '').split()
        if tag == 'div' and 'msg' in cls: self.msgs.append(dict(kind=' '.join(cls[1:]), text='', images=0)); self.open = True
        elif tag == 'img' and self.open: self.msgs[-1]['images'] += 1
    def handle_endtag(self, tag):
        if tag == 'div': self.open = False
    def handle_data(self, data):
        if self.open: self.msgs[-1]['text'] += data


def checkpoint(folder:Path) -> Path:
    "A tiny untrained Flamingo and its processor, saved as `serve` expects them."
    parts = save_tiny_parts(folder, 'gpt2')
    open_gates_(FlamingoModel.from_pretrained_parts(parts['lm'], parts['vision'], xattn_dim_head=8, xattn_heads=2,
                resampler_depth=1, resampler_num_latents=4), 0.8).save_pretrained(folder/'ckpt')
    FlamingoProcessor.from_pretrained_parts(parts['lm'], parts['vision']).save_pretrained(folder/'ckpt')
    return folder/'ckpt'

def open_page(base:str, scenario:str, sessions, ended:dict) -> tuple:
    "Load the page with the probe; return its messages and its conversation's `Chat` on the server."
    dom = chromium('--dump-dom', f'{base}/?{scenario}')
    body = re.search(r'<body[^>]*>', dom)
    if not body: fail(f'?{scenario}: no page: {dom[:500]!r}')
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body[0]))
    if 'steps' not in attrs: fail(f'?{scenario}: the probe did not finish ({attrs})')
    if set(attrs['steps']) != {'1'}: fail(f'?{scenario}: the page did not show what a step waited for: {attrs["steps"]}')
    if attrs.get('attached') != 'attached: gradient.png': fail(f'?{scenario}: file input shows {attrs.get("attached")!r}')
    about = re.search(r'<p id="about">(.*?)</p>', dom, re.S)
    if not about or not all(w in about[1] for w in ('model: ckpt', 'context: 256 tokens', 'trained for: unknown',
                                                      'not trained to answer questions')):
        fail(f'?{scenario}: the page does not say what the model is: {about and about[1]!r}')
    sid = attrs['session']  # the page ends its conversation when Chromium closes it: `ended` keeps it for the checks
    return Messages(dom).msgs, ended[sid] if sid in ended else sessions.chats[sid]

def check_chat(msgs, chat):
    "The conversation with bad input in it: each message and error where the page puts them."
    kinds = [(m['kind'], m['images']) for m in msgs]
    want = [('user', 1), ('assistant', 0), ('user', 0), ('assistant', 0), ('user rejected', 1), ('error', 0), ('user', 1),
            ('assistant', 0), ('error', 0), ('user rejected', 0), ('error', 0)]
    if kinds != want: fail(f'?chat: the log has {kinds}, not {want}')
    texts = [m['text'] for m in msgs]
    if [texts[0], texts[2], texts[6]] != ['what is in this picture?', 'what colour is it?', 'and this one?']:
        fail(f'?chat: user messages {texts}')
    if not texts[5].startswith("cannot read 'broken.png'"): fail(f'?chat: corrupt upload shows {texts[5]!r}')
    if 'empty' not in texts[8]: fail(f'?chat: empty message shows {texts[8]!r}')
    if 'context' not in texts[10] or 'shorten' not in texts[10]: fail(f'?chat: over-long message shows {texts[10]!r}')
    replies = [texts[1], texts[3], texts[7]]
    if replies != [r for _, r in chat.turns]: fail(f'?chat: page shows {replies}, server: {chat.turns}')

def check_serve(ckpt:Path):
    "`serve` in a process of its own: it loads the checkpoint, prints its address, and chats."
    code = 'import sys; from flamingo_mini.web import serve; serve(sys.argv[1], port=0, max_new_tokens=4)'
    proc = subprocess.Popen([sys.executable, '-c', code, str(ckpt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(180, proc.kill); timer.start()  # a hung server fails the test instead of hanging it
    try:
        line = proc.stdout.readline()
        url = re.search(r'http://127\.0\.0\.1:\d+/', line) or fail(f'serve printed {line!r}; {proc.stderr.read()[-2000:]}')
        page = urllib.request.urlopen(url[0], timeout=60).read().decode()
        if 'model: ckpt' not in page: fail(f'serve: the page does not name the model: {page[:300]!r}')
        def post(path, body):
            req = urllib.request.Request(url[0] + path, json.dumps(body).encode(), {'Content-Type': 'application/json'})
            return json.load(urllib.request.urlopen(req, timeout=60))
        out = post('api/say', dict(session=post('api/new', {})['session'], text='hello'))
        if out.get('turns') != 1 or not isinstance(out.get('reply'), str): fail(f'serve answered {out}')
    finally:
        timer.cancel(); proc.terminate(); proc.wait(30)
    return url[0]

def main():
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp())
    try:
        ckpt = checkpoint(tmp)
        served = check_serve(ckpt)
        model, processor = FlamingoModel.from_pretrained(ckpt).eval(), FlamingoProcessor.from_pretrained(ckpt)
        seen = []
        model.vision_encoder.register_forward_pre_hook(lambda m, a, k: seen.append(k['pixel_values'].shape[0]),
                                                       with_kwargs=True)
        server = web.make_server(lambda: Chat(model, processor, max_new_tokens=8), port=0,
                                 handlers=[(r'/', Probed), (r'/__wait', Wait)])
        ended, end = {}, server.sessions.end
        def keep(sid): ended[sid] = server.sessions.chats.get(sid); end(sid)
        server.sessions.end = keep
        threading.Thread(target=server.serve_forever, daemon=True).start()  # lives as long as this test
        base = f'http://127.0.0.1:{server.server_address[1]}'
        try:
            msgs, chat = open_page(base, 'chat', server.sessions, ended)
            check_chat(msgs, chat)
            if seen != [1, 1]: fail(f'?chat: the vision encoder saw {seen}, not each turn\'s picture once')
            msgs, chat = open_page(base, 'reset', server.sessions, ended)
            kinds = [(m['kind'], m['images']) for m in msgs]
            if kinds != [('note', 0), ('user', 1), ('assistant', 0)]: fail(f'?reset: the log has {kinds}')
            if len(chat.turns) != 1 or msgs[2]['text'] != chat.turns[0][1]: fail(f'?reset: server has {chat.turns}')
            SHOTS.mkdir(exist_ok=True)
            shot = SHOTS/'chat.png'
            chromium(f'--screenshot={shot}', f'{base}/?chat')
            if colours(shot) < 32: fail(f'{shot.relative_to(ROOT)} is blank ({colours(shot)} colours)')
        finally: server.shutdown()
    finally: shutil.rmtree(tmp, ignore_errors=True)
    print(f'serve: {served} loaded the checkpoint and answered')
    print('page: the model summary shown; a three-turn conversation (a picture attached through the file input, a '
          'question, a second picture), replies as the server gave them; a corrupt upload, an empty and an over-long '
          'message shown as errors, the conversation going on; reset starts over')
    print(f'screenshot {shot.relative_to(ROOT)} ({colours(shot)} colours); {time.time() - t0:.0f} s')

if __name__ == '__main__': main()
