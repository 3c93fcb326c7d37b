#!/usr/bin/env python3
"""Hostile client for `podbench serve`'s control protocol.

Written only from docs/control-protocol.md, docs/security.md and docs/http.md. Every attack opens its own
connection(s); after each one the server is probed to be still serving (see alive()).

Run it against a server you started yourself, e.g.
    podbench serve --control unix:/tmp/pb/pb.sock --shared-dir /tmp/pb --timeout 5 &
    mkdir -p /tmp/victim && echo precious > /tmp/victim/file
    python3 scripts/hostile-client.py --control unix:/tmp/pb/pb.sock --victim /tmp/victim \
        [--token-file /tmp/pb/podbench.token] [--server-timeout 5] [--out /tmp/hostile]
--control: unix:PATH | unix:@NAME | tcp:HOST:PORT.  --token-file: a stolen valid token (optional).
--victim: a directory outside the server's folders; a sha256 manifest of it is written to --out
before and after (manifest-before.txt, manifest-after.txt) and compared.
--server-timeout: the server's --timeout (>= 3 s); held-open and slow-loris attacks wait that long.
Output: one line per attack, `name | what the server answered | PASS/WARN/FAIL/SKIP`
(WARN: safe, but not the exact failure code or text the docs name). Exit 1 on any FAIL.
"""
import argparse, hashlib, json, os, select, socket, stat, struct, sys, threading, time

MAGIC, VERSION, MAX_BODY = b"PBCT", 9, 1 << 20
HDR = struct.Struct("<4sHHI")      # magic "PBCT", version u16 LE, reserved u16 = 0, body length u32 LE
A, TOKEN, FAILED = None, None, []

def frame(msg, version=VERSION, magic=MAGIC, length=None):
    body = msg if isinstance(msg, bytes) else json.dumps(msg).encode()
    return HDR.pack(magic, version, 0, len(body) if length is None else length) + body

def hello(token=None, omit=False):  # {"hello":{"_0":{"podbenchVersion":…,"serverCPU":…,"token":…}}}
    h = {"podbenchVersion": A.podbench_version, "serverCPU": A.server_cpu}
    if not omit:
        h["token"] = token
    return {"hello": {"_0": h}}

def prepare(transport, options):    # case spec shape guessed from results.schema.json's case key
    return {"prepareCase": {"_0": {"transport": transport, "workload": "pingpong",
                                   "messageSize": 64, "options": options, "verifyEvery": 1, "seed": 1}}}

class Raw(str):
    """A string sent as it is, not as a hop endpoint's JSON."""

def hop(ep):
    """A hop endpoint as the docs write it in a case: {"socket":"unix:PATH"}, {"file":"DIR"}, ...
    Anything that is not a str is sent as it is (a raw JSON attack)."""
    if type(ep) is not str:
        return str(ep) if isinstance(ep, Raw) else ep
    for prefix, key in (("file:", "file"), ("shm:", "shm"), ("fifo:", "fifo")):
        if ep.startswith(prefix):
            return {key: ep[len(prefix):]}
    return {"socket": ep}

def connect(timeout=5.0):
    kind, _, rest = A.control.partition(":")
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect("\0" + rest[1:] if rest.startswith("@") else rest)
        return s
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    sys.exit("bad --control " + A.control)

def send(s, data):                  # the server may close while we send: that is an answer, not an error
    try:
        s.sendall(data)
    except OSError:
        pass

def recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(n - len(buf))
        except socket.timeout:
            return buf, "timeout"
        except OSError:
            chunk = b""
        if not chunk:
            return buf, "closed"
        buf += chunk
    return buf, None

def read_msg(s, wait=5.0):
    """-> ("msg", version, obj) | ("closed",) | ("timeout",) | ("garbage", detail)"""
    deadline = time.monotonic() + wait
    hdr, err = recv_exact(s, HDR.size, deadline)
    if err:
        return ("closed",) if hdr else (err,)
    magic, ver, _, n = HDR.unpack(hdr)
    if magic != MAGIC or n > MAX_BODY:
        return ("garbage", "header " + hdr.hex())
    body, err = recv_exact(s, n, deadline)
    try:
        return ("garbage", "truncated reply") if err else ("msg", ver, json.loads(body))
    except ValueError:
        return ("garbage", repr(body[:60]))

def kind(r):
    return next(iter(r[2]), "?") if r[0] == "msg" and isinstance(r[2], dict) else r[0]

def fcode(r):                       # {"failure":{"code":"unauthorized","message":"…"}}
    f = r[2]["failure"] if kind(r) == "failure" else None
    c = f.get("code") if isinstance(f, dict) else None
    return next(iter(c), None) if isinstance(c, dict) else c

def describe(r):
    if kind(r) == "failure":
        f = r[2]["failure"]
        return f"failure(v{r[1]}) {fcode(r)}: {str(f.get('message') if isinstance(f, dict) else f)[:90]!r}"
    return f"{kind(r)}(v{r[1]})" if r[0] == "msg" else " ".join(map(str, r))

def probe(data, wait=5.0):
    """One connection: send data, read replies until the server closes or `wait` passes."""
    t0, s, replies = time.monotonic(), connect(), []
    with s:
        send(s, data)
        while True:
            r = read_msg(s, max(0.05, t0 + wait - time.monotonic()))
            if r[0] != "msg":
                return replies, r[0], time.monotonic() - t0
            replies.append(r)

def a_probe(data, codes=None, need_reply=True, wait=None):
    """Docs: at most one `failure` frame (code in `codes`), then the connection is closed."""
    replies, end, t = probe(data, wait or A.wait)
    text = ("; ".join(map(describe, replies)) or "no reply") + f"; {end} after {t:.1f}s"
    ok = end == "closed" and len(replies) <= 1 and all(kind(r) == "failure" for r in replies)
    if not ok or (need_reply and not replies):
        return text, "FAIL"
    if codes and replies and fcode(replies[0]) not in codes:
        return text + f" (docs say {'/'.join(codes)})", "WARN"
    return text, "PASS"

def welcomed():
    """A connection that said hello with the token and got welcome, or (None, answer)."""
    s = connect()
    send(s, frame(hello(TOKEN)))
    r = read_msg(s, 10)
    if kind(r) == "welcome":
        return s, describe(r)
    s.close()
    return None, describe(r)

def alive():
    """Still serving? With the token: hello -> welcome, then bye. Without: a wrong token -> unauthorized."""
    try:
        if TOKEN is None:
            rep, end, _ = probe(frame(hello("0" * 64)))
            return bool(rep) and fcode(rep[0]) == "unauthorized", "; ".join(map(describe, rep)) or end
        s, how = welcomed()
        if s:
            with s:
                send(s, frame({"bye": {}}))
        return s is not None, how
    except OSError as e:
        return False, repr(e)

def report(name, text, verdict):
    if verdict == "FAIL":
        FAILED.append(name)
    print(f"{name:<44} | {text} | {verdict}", flush=True)

def run(name, fn, *args):
    try:
        text, verdict = fn(*args)
    except Exception as e:                                # refused connection, reset, or a reply we choke on
        text, verdict = f"error {e!r}", "FAIL"
    if verdict != "SKIP":
        up, how = alive()
        if not up:
            text, verdict = text + f"; server NOT serving afterwards ({how})", "FAIL"
    report(name, text, verdict)

# ---------------------------------------------------------------- attacks needing more than a_probe
def a_token(tok, omit=False):
    if tok is None and not omit:
        return "needs --token-file", "SKIP"
    return a_probe(frame(hello(tok, omit)), ["unauthorized"] + (["protocolViolation"] if omit else []))

def a_prepare(mode, transport, ep, codes=("invalidConfiguration",)):
    msg = prepare(transport, {"via": hop(ep), "listen": hop(ep)})
    if mode == "first":                                   # prepareCase as the very first message
        text, v = a_probe(frame(msg), ["protocolViolation"])
    elif mode == "badtoken":                              # wrong token, prepareCase pipelined behind it
        text, v = a_probe(frame(hello("f" * 64)) + frame(msg), ["unauthorized"])
    elif TOKEN is None:
        return "needs --token-file", "SKIP"
    else:                                                 # authenticated: must be invalidConfiguration
        s, how = welcomed()
        if not s:
            return "hello with token: " + how, "FAIL"
        with s:
            send(s, frame(msg))
            r = read_msg(s, 10)
            text = describe(r)
            v = "PASS" if fcode(r) in codes else "WARN" if kind(r) == "failure" else "FAIL"
            if kind(r) == "caseReady":
                text += " " + json.dumps(r[2])[:120]
                send(s, frame({"endCase": {}}))
                read_msg(s, 5)
            send(s, frame({"bye": {}}))
    if isinstance(ep, str) and ep.startswith("unix:@"):                           # did anyone bind the abstract name?
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            if c.connect_ex("\0" + ep[6:]) == 0:
                text, v = text + "; abstract name IS bound", "FAIL"
    return text, v

def a_http(payload):
    """http1 (docs/http.md): with the token, a case's data connection fed hostile HTTP. The
    server's phase must end in a protocolViolation (or peerClosed: a request cut short) reported in
    its phaseReport, the case must end, and serve keep serving."""
    if TOKEN is None:
        return "needs --token-file", "SKIP"
    s, how = welcomed()
    if not s:
        return "hello with token: " + how, "FAIL"
    with s:
        spec = prepare("tcp", {})
        spec["prepareCase"]["_0"]["workload"] = "http1"
        send(s, frame(spec))
        r = read_msg(s, 10)
        if kind(r) != "caseReady":
            return "prepareCase http1: " + describe(r), "FAIL"
        address = r[2]["caseReady"]["endpoint"]["socket"]["address"]
        host, _, port = address[len("tcp:"):].rpartition(":")
        answer = b""
        # The data connection first (the server accepts it before the phases), then the phase.
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as d:
            send(s, frame({"startPhase": {"index": 0, "warmup": False}}))
            r = read_msg(s, 10)
            if kind(r) != "phaseReady":
                return "startPhase: " + describe(r), "FAIL"
            send(d, payload)
            try:
                d.shutdown(socket.SHUT_WR)
                while len(answer) < 1 << 16:
                    chunk = d.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
            except OSError:
                pass
        r = read_msg(s, A.server_timeout + 5)
        report = r[2].get("phaseReport", {}).get("_0", {}) if kind(r) == "phaseReport" else {}
        code = report.get("errorCode")
        code = next(iter(code), None) if isinstance(code, dict) else code
        text = f"data answered {answer[:40]!r}; phaseReport {code}: {str(report.get('error'))[:100]!r}"
        send(s, frame({"endCase": {}}))
        ended = kind(read_msg(s, 10))
        send(s, frame({"bye": {}}))
    ok = code in ("protocolViolation", "peerClosed") and ended == "caseEnded" and b"200 OK" not in answer
    return text + f"; then {ended}", "PASS" if ok else "FAIL"

def a_version(ver):
    replies, end, t = probe(frame(hello(TOKEN or "0" * 64), version=ver), A.wait)
    text = ("; ".join(map(describe, replies)) or "no reply") + f"; {end} after {t:.1f}s"
    if end != "closed" or len(replies) != 1 or kind(replies[0]) != "failure" or replies[0][1] != VERSION:
        return text + f" (docs: one failure in version {VERSION}, then close)", "FAIL"
    words = json.dumps(replies[0][2])
    return (text, "PASS") if str(VERSION) in words and str(ver) in words else \
        (text + " (should name both versions)", "WARN")

def a_slowloris():
    data = frame(hello("z" * 4000))                       # ~4 KB at 2 B/s: far past any --timeout
    s, st, stop = connect(), {"sent": 0, "end": None}, threading.Event()
    def trickle():
        t0 = time.monotonic()
        while st["sent"] < len(data) and not stop.is_set():
            try:
                s.send(data[st["sent"]:st["sent"] + 1])
                st["sent"] += 1
                if select.select([s], [], [], 0.5)[0]:    # the server spoke or closed
                    st["end"] = (time.monotonic() - t0, describe(read_msg(s, 1)))
                    return
            except OSError as e:
                st["end"] = (time.monotonic() - t0, repr(e))
                return
    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    time.sleep(1.5)
    t1, c = time.monotonic(), connect()                   # a real client meanwhile
    with c:
        send(c, frame(hello(TOKEN or "0" * 64)))
        r = read_msg(c, 10)
        served = time.monotonic() - t1
        if kind(r) == "welcome":
            send(c, frame({"bye": {}}))
    th.join(A.server_timeout + 10)
    stop.set()
    th.join()
    s.close()
    text = f"meanwhile: {describe(r)} in {served:.1f}s; trickler ({st['sent']} B sent) "
    text += f"dropped after {st['end'][0]:.1f}s ({st['end'][1]})" if st["end"] else "NOT dropped"
    ok = kind(r) == ("welcome" if TOKEN else "failure") and served < 5 and st["end"] \
        and st["end"][0] <= A.server_timeout + 3
    return text, "PASS" if ok else "FAIL"

def a_idle():
    """Idle connections without the token must not keep a real client out: at most 8 wait, and a
    new connection takes the place of the oldest one that has not said hello (docs/security.md)."""
    conns = []
    try:
        for _ in range(A.idle):
            conns.append(connect())
        time.sleep(0.2)
        t1, c = time.monotonic(), connect()
        with c:
            send(c, frame(hello(TOKEN or "0" * 64)))
            r = read_msg(c, A.wait)
            took = time.monotonic() - t1
            if kind(r) == "welcome":
                send(c, frame({"bye": {}}))
        evicted = sum(1 for s in conns[:A.idle - 8] if select.select([s], [], [], 0)[0])
        text = f"{A.idle} idle connections; then a hello got {describe(r)} in {took:.1f}s; {evicted} oldest closed"
        ok = kind(r) == ("welcome" if TOKEN else "failure") and took < A.server_timeout
        return text, "PASS" if ok else "FAIL"
    finally:
        for s in conns:
            s.close()
        time.sleep(1)

def manifest(root, path):
    """sha256 of regular files, link targets, modes, owners, and directory mtimes (a made-and-removed file shows)."""
    lines = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for p in ([d] if d == root else []) + [os.path.join(d, n) for n in sorted(dirs + files)]:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                h = "link->" + os.readlink(p)
            else:
                h = f"mtime={st.st_mtime_ns}" if stat.S_ISDIR(st.st_mode) else "special"
            lines.append(f"{h}  {st.st_mode:o}  {st.st_uid}  {os.path.relpath(p, root)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines

def main():
    global A, TOKEN
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--control", required=True)
    p.add_argument("--token-file")
    p.add_argument("--victim", required=True)
    p.add_argument("--server-timeout", type=float, default=10, help="the server's --timeout, seconds")
    p.add_argument("--wait", type=float, default=5, help="seconds to wait for an answer")
    p.add_argument("--idle", type=int, default=12, help="idle connections to open (docs: 8 may wait)")
    p.add_argument("--podbench-version", default="hostile", help="hello's podbenchVersion (undocumented)")
    p.add_argument("--server-cpu", type=int, default=0, help="hello's serverCPU (undocumented)")
    p.add_argument("--out", default="/tmp/hostile")
    A = p.parse_args()
    if A.token_file:
        with open(A.token_file) as f:
            TOKEN = f.read().strip()
    V, T = os.path.abspath(A.victim), A.server_timeout + 5
    os.makedirs(A.out, exist_ok=True)
    before = manifest(V, os.path.join(A.out, "manifest-before.txt"))

    for name, body in [("prepareCase", prepare("uds", {})), ("endCase", {"endCase": {}}), ("bye", {"bye": {}}),
                       ("startPhase", {"startPhase": {"_0": {"index": 0, "warmup": True}}}),
                       ("welcome", {"welcome": {"_0": {}}})]:
        run(f"before-hello:{name}", a_probe, frame(body), ["protocolViolation"])
    last = TOKEN and TOKEN[:-1] + ("0" if TOKEN[-1] != "0" else "1")
    run("hello:no-token-field", a_token, None, True)
    for name, tok in [("empty-token", ""), ("wrong-token", "0123456789abcdef" * 4), ("right-length-last-char", last),
                      ("token-prefix", TOKEN and TOKEN[:-1]), ("token-plus-char", TOKEN and TOKEN + "0")]:
        run(f"hello:{name}", a_token, tok)
    run("shutdown:first-message", a_probe, frame({"shutdown": {}}), ["protocolViolation"])
    run("shutdown:after-wrong-token", a_probe, frame(hello("0" * 64)) + frame({"shutdown": {}}), ["unauthorized"])

    eps = [("uds", f"unix:{V}/evil.sock"), ("uds", f"unix:{V}/../{os.path.basename(V)}/evil2.sock"),
           ("uds-abstract", f"unix:@podbench-hostile-{os.getpid()}"), ("file", f"file:{V}"),
           ("file", f"file:{V}/newdir"), ("shm", f"shm:{V}"), ("fifo", f"fifo:{V}"),
           ("tcp", "tcp:0.0.0.0:0"), ("tcp6", "tcp:[::]:0"),
           ("udp", "tcp:0.0.0.0:0"), ("uds-dgram", f"unix:{V}/evil5.sock")]
    for mode in ["first", "badtoken", "token"]:
        for transport, ep in eps:
            run(f"prepareCase[{mode}] {ep}", a_prepare, mode, transport, ep)
    # Endpoints as raw JSON, past any parser of the command line's syntax: a relative or empty
    # directory, two kinds at once, the old string form, a NUL in a path, an unknown kind.
    raw = [("file", {"file": "relative/dir"}), ("file", {"file": ""}), ("shm", {"shm": V, "file": V}),
           ("file", {}), ("file", Raw(f"file:{V}")), ("fifo", {"fifo": V + "\u0000x"}),
           ("file", {"door": V}), ("uds", {"socket": {"unix": V + "/evil4.sock"}})]
    raw.append(("file", [f"file:{V}"]))
    for transport, ep in raw:
        run(f"prepareCase[token] raw {json.dumps(ep)[:60]}", a_prepare, "token", transport, ep,
            ("invalidConfiguration", "protocolViolation"))

    good = hello(TOKEN or "0" * 64)
    run("frame:bad-magic", a_probe, frame(good, magic=b"XXXX"), None, False)
    run("frame:http-garbage", a_probe, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None, False)
    for ver in [1, 2, 3, 0xFFFF]:
        run(f"frame:version-{ver}", a_version, ver)
    run("frame:length-1MiB+1(no body)", a_probe, frame(b"", length=MAX_BODY + 1), None, False)
    run("frame:length-4GiB(no body)", a_probe, frame(b"", length=0xFFFFFFFF), None, False)
    run("frame:length-0", a_probe, frame(b""), ["protocolViolation"], False)
    run("frame:truncated-body(held open)", a_probe, frame(b'{"hello":{"_0":', length=200), None, False, T)
    run("frame:truncated-header(held open)", a_probe, b"PBCT\x02", None, False, T)
    run("frame:nothing-sent(held open)", a_probe, b"", None, False, T)
    for name, body in [("not-json", b"not json"), ("array", b"[]"), ("empty-object", b"{}"),
                       ("string", b'"hello"'), ("unknown-case", b'{"launchMissiles":{}}'),
                       ("hello-without-_0", b'{"hello":{}}'), ("bad-utf8", b"\xff\xfe\xfd"),
                       ("hello-wrong-types", b'{"hello":{"_0":{"podbenchVersion":1,"serverCPU":"x","token":[]}}}'),
                       ("two-messages", b'{"bye":{}}{"bye":{}}'),
                       ("nested-arrays-400k", b'{"hello":{"_0":' + b"[" * 400_000 + b"]" * 400_000 + b"}}"),
                       ("nested-objects-150k", b'{"a":' * 150_000 + b"1" + b"}" * 150_000)]:
        run(f"json:{name}", a_probe, frame(body), ["protocolViolation"], False)

    endless = b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * 40000
    for name, payload in [
            ("garbage", b"\xff" * 100 + b"\r\n\r\n"),
            ("endless-head", endless),
            ("content-length-1GiB", b"POST /podbench/echo HTTP/1.1\r\nContent-Length: 1073741824\r\n"
                                     b"X-Podbench-Request: 0000000000000000\r\n\r\n"),
            ("content-length-overflow", b"POST /podbench/echo HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            ("chunked-smuggle", b"POST /podbench/echo HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("escape-in-target", b"GET /\x1b]0;owned\x07 HTTP/1.1\r\n\r\n"),
            ("cut-short", b"POST /podbench/echo HTTP/1.1\r\nContent-Length: 64\r\nX-Podbench-Request: 0000000000000000\r\n\r\nabc")]:
        run(f"http1:{name}", a_http, payload)
    run("slow-loris-hello", a_slowloris)
    run("idle-connections-busy", a_idle)
    if TOKEN:
        up, how = alive()                                 # valid hello -> welcome, then bye
        report("final:valid-hello-welcome-bye", how, "PASS" if up else "FAIL")
    after = manifest(V, os.path.join(A.out, "manifest-after.txt"))
    changed = sorted(set(before) ^ set(after))
    report("victim-unchanged", f"{len(before)} entries; " + (f"CHANGED: {changed[:6]}" if changed else "identical"),
           "FAIL" if changed else "PASS")
    print(f"\n{len(FAILED)} FAIL: {FAILED}" if FAILED else "\nno FAIL")
    sys.exit(1 if FAILED else 0)

if __name__ == "__main__":
    main()
