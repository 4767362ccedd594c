"""Load and abuse battery for the web chat (issue 17's web targets), against 127.0.0.1 only. Not part of the default
test run: it takes a minute or two and its timings depend on the machine. The chapter `21_web` has a fast test of each
rule; this measures them under load, with `serve`'s defaults, in a server process of its own.

    python tools/web_battery.py [--out report.json]

1. 50 clients at once, each: new conversation -> a turn with an image -> a text turn, three rounds; counts connection
   errors (resets, refused connections) and conversations the server lost while in use (410).
2. A client that sends its body slowly: when the server cuts it off, against the documented `body_seconds`.
3. A 1 KB PNG of 100000x1 pixels: how long until it is refused, and how much the server's peak memory grows.
4. A normal turn's answer time while an abusive client is active (slow bodies, oversized images, a flood of new
   conversations and oversized Content-Lengths at once).
"""
import argparse, base64, io, json, os, re, socket, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
for k in ('HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE'): os.environ.setdefault(k, '1')
from PIL import Image
sys.path.insert(0, str(Path(__file__).parent))
from test_web import checkpoint
from flamingo_mini.web import ChatServer

def png(width:int, height:int, colour=0) -> str:
    buf = io.BytesIO(); Image.new('L', (width, height), colour).save(buf, 'PNG', optimize=True)
    return base64.b64encode(buf.getvalue()).decode()

class Client:
    "JSON requests to the server under test."
    def __init__(self, base): self.base = base
    def post(self, path, body, timeout=120) -> tuple:
        req = urllib.request.Request(self.base + path, json.dumps(body).encode(), {'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, json.load(r)
        except urllib.error.HTTPError as e: return e.code, json.load(e)

def peak_kb(pid:int) -> int:
    "A process's peak resident memory (VmHWM), in KB."
    return int(re.search(r'VmHWM:\s+(\d+) kB', Path(f'/proc/{pid}/status').read_text())[1])

def reset_peak(pid:int):
    "Start measuring the peak afresh (Linux: writing 5 to clear_refs resets VmHWM)."
    Path(f'/proc/{pid}/clear_refs').write_text('5')

def clients(base:str, n:int=50, rounds:int=3) -> dict:
    "`n` clients at once, each: new -> image turn -> text turn, `rounds` times."
    image, start = 'data:image/png;base64,' + png(64, 64, 128), threading.Barrier(n)
    opened = []
    def one(i):
        c, errors, lost, turns, slowest = Client(base), 0, 0, 0, 0.
        start.wait()  # every client connects at the same moment
        for r in range(rounds):
            try:
                status, out = c.post('/api/new', {})
                if status != 200: errors += 1; continue
                sid = out['session']; opened.append(sid)
                for body in (dict(session=sid, text=f'client {i} round {r}: what is this?', images=[dict(name='a.png', data=image)]),
                             dict(session=sid, text='and then?')):
                    t = time.perf_counter(); status, out = c.post('/api/say', body); slowest = max(slowest, time.perf_counter() - t)
                    lost += status == 410; turns += status == 200; errors += status not in (200, 410)
            except (ConnectionError, urllib.error.URLError, OSError): errors += 1
        return errors, lost, turns, slowest
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as ex: results = list(ex.map(one, range(n)))
    seconds = time.perf_counter() - t0
    with ThreadPoolExecutor(8) as ex:  # every conversation opened is still there (none was pushed out by the others)
        later = list(ex.map(lambda sid: Client(base).post('/api/say', dict(session=sid, text='still there?'))[0], opened))
    return dict(clients=n, rounds=rounds, conversations=len(opened), turns_answered=sum(r[2] for r in results),
                turns_expected=n * rounds * 2, connection_errors=sum(r[0] for r in results),
                lost_live_conversations=sum(r[1] for r in results) + sum(s == 410 for s in later),
                revisited_ok=later.count(200), slowest_turn_s=round(max(r[3] for r in results), 2), seconds=round(seconds, 1))

def slow_body(port:int, every:float=1.) -> float:
    "Send a body a byte every `every` seconds; the seconds until the server closes the connection."
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(b'POST /api/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n')
    t0 = time.perf_counter()
    try:
        for _ in range(600):
            s.sendall(b' '); time.sleep(every)
    except (BrokenPipeError, ConnectionResetError): pass
    finally: s.close()
    return time.perf_counter() - t0

def slow_head(port:int) -> float:
    "Open a connection and send half a request line; the seconds until the server closes it."
    s = socket.create_connection(('127.0.0.1', port), timeout=120)
    s.sendall(b'POST /api/new HT'); t0 = time.perf_counter()
    try: s.recv(1)
    except (socket.timeout, ConnectionResetError): pass
    s.close()
    return time.perf_counter() - t0

def bomb(base:str, pid:int, repeat:int=5) -> dict:
    "A 1 KB PNG of 100000x1 pixels, sent `repeat` times: the slowest refusal and the server's peak-memory growth."
    data, c = png(100_000, 1), Client(base)
    sid = c.post('/api/new', {})[1]['session']
    c.post('/api/say', dict(session=sid, text='warm up'))
    reset_peak(pid); before, times = peak_kb(pid), []
    for _ in range(repeat):
        t = time.perf_counter(); status, out = c.post('/api/say', dict(session=sid, text='hi', images=[dict(name='thin.png', data=data)]))
        times.append(time.perf_counter() - t)
        assert status == 400 and '100000x1' in out['error'], (status, out)
    return dict(png_bytes=len(base64.b64decode(data)), slowest_refusal_ms=round(max(times) * 1000, 1),
                peak_memory_growth_mb=round((peak_kb(pid) - before) / 1024, 1))

def under_abuse(base:str, port:int, seconds:float=20.) -> dict:
    "Normal turns (each: new, an image turn) while an abusive client hammers the server; their answer times."
    stop, c, abuse = threading.Event(), Client(base), dict(requests=0)
    thin, huge = png(100_000, 1), png(6000, 6000)
    def abuser(kind):
        while not stop.is_set():
            try:
                if kind == 'slow':  # hold connections with bodies that never finish
                    s = socket.create_connection(('127.0.0.1', port))
                    s.sendall(b'POST /api/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 9999\r\n\r\n{')
                    stop.wait(2); s.close()
                elif kind == 'big':  # a Content-Length over the limit
                    s = socket.create_connection(('127.0.0.1', port))
                    s.sendall(b'POST /api/say HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n')
                    s.recv(1 << 12); s.close()
                elif kind == 'flood':  # new conversations until the server is full
                    c.post('/api/new', {}, timeout=30)
                else:  # oversized images
                    sid = c.post('/api/new', {}, timeout=30)[1].get('session')
                    c.post('/api/say', dict(session=sid, text='x', images=[thin, huge]), timeout=30)
                abuse['requests'] += 1
            except (OSError, urllib.error.URLError, ValueError): pass
    held = c.post('/api/new', {})  # a user who opened the page before the abuse began
    kinds = ['slow'] * 8 + ['big', 'flood', 'images', 'images']
    threads = [threading.Thread(target=abuser, args=(k,), daemon=True) for k in kinds]
    for t in threads: t.start()
    time.sleep(2)
    times, statuses, image = [], [], 'data:image/png;base64,' + png(64, 64, 200)
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        status, out = c.post('/api/say', dict(session=held[1].get('session'), text='what is this?', images=[dict(name='a.png', data=image)]))
        times.append(time.perf_counter() - t); statuses.append(status)
        time.sleep(0.5)
    flood_status = c.post('/api/new', {})[0]
    stop.set()
    for t in threads: t.join(10)
    return dict(abusive_connections=len(kinds), abusive_requests=abuse['requests'], normal_turns=len(times),
                normal_turns_ok=statuses.count(200), slowest_normal_turn_s=round(max(times), 2),
                median_normal_turn_s=round(sorted(times)[len(times) // 2], 2),
                new_conversation_during_flood=flood_status)  # 503: the flood filled the server, and dropped nobody's conversation

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', help='also write the report (JSON) here')
    args = ap.parse_args()
    report, tmp = {}, Path(tempfile.mkdtemp())
    ckpt = checkpoint(tmp)
    code = 'import sys; from flamingo_mini.web import serve; serve(sys.argv[1], port=0, max_new_tokens=8)'
    server = subprocess.Popen([sys.executable, '-c', code, str(ckpt)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r'http://127\.0\.0\.1:(\d+)/', server.stdout.readline())
        base, port = url[0].rstrip('/'), int(url[1])
        defaults = {k: v.default for k, v in __import__('inspect').signature(ChatServer).parameters.items() if k.endswith('_seconds')}
        report['deadlines'] = defaults
        report['clients'] = clients(base)
        print('clients:', report['clients'], flush=True)
        with ThreadPoolExecutor(2) as ex:
            body, head = ex.submit(slow_body, port), ex.submit(slow_head, port)
            report['slow'] = dict(body_cut_off_s=round(body.result(), 1), head_cut_off_s=round(head.result(), 1))
        print('slow clients:', report['slow'], flush=True)
        report['bomb'] = bomb(base, server.pid)
        print('pathological PNG:', report['bomb'], flush=True)
        report['under_abuse'] = under_abuse(base, port)
        print('under abuse:', report['under_abuse'], flush=True)
    finally:
        server.terminate(); server.wait(30)
    checks = {'0 connection errors': report['clients']['connection_errors'] == 0,
              '0 lost live conversations': report['clients']['lost_live_conversations'] == 0,
              'every turn answered': report['clients']['turns_answered'] == report['clients']['turns_expected'],
              'slow body cut off by body_seconds (+2 s)': report['slow']['body_cut_off_s'] <= defaults['body_seconds'] + 2,
              'slow headers cut off by header_seconds (+2 s)': report['slow']['head_cut_off_s'] <= defaults['header_seconds'] + 2,
              'pathological PNG refused in < 100 ms': report['bomb']['slowest_refusal_ms'] < 100,
              'memory growth < 50 MB': report['bomb']['peak_memory_growth_mb'] < 50,
              'normal turn < 2 s under abuse': report['under_abuse']['slowest_normal_turn_s'] < 2,
              'every normal turn answered under abuse': report['under_abuse']['normal_turns_ok'] == report['under_abuse']['normal_turns']}
    report['checks'] = checks
    if args.out: Path(args.out).write_text(json.dumps(report, indent=1))
    for name, ok in checks.items(): print(f"{'ok  ' if ok else 'FAIL'} {name}")
    sys.exit(0 if all(checks.values()) else 1)

if __name__ == '__main__': main()
