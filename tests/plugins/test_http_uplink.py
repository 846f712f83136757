#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_http_uplink.py: the provincial-http uplink (run by http_driver) against a real
HTTP server that checks each request of the sync contract and answers by a script
keyed by batch seq. Needs NTM_HTTP_DRIVER, NTM_PROVINCIAL_HTTP; ends "N passed, M failed"."""

import email.utils
import gzip
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

DRIVER = os.environ["NTM_HTTP_DRIVER"]
PLUGIN = os.environ["NTM_PROVINCIAL_HTTP"]
GATEWAY = "gw-test"

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}", file=sys.stderr)


def make_batch(seq, rows=1):
    """A batch body shaped like the contract's, rows indicator rows long."""
    ind = [{"village": "thon-dong", "kind": "wifi", "period": "hour",
            "start": "2026-11-22T14:00:00+07:00", "end": "2026-11-22T15:00:00+07:00",
            "name": f"uptime_pct_{i}", "value": 99.4, "unit": "%", "devices": 3}
           for i in range(rows)]
    body = {"schema": "ntm.sync.v1", "batch_id": f"{GATEWAY}:{seq}", "seq": seq,
            "gateway": {"id": GATEWAY, "version": "1.0.0", "clock_synced": True},
            "commune": {"code": "16279", "province_code": "38", "name": "Hoằng Giang"},
            "created_at": "2026-11-22T15:00:07+07:00", "indicators": ind, "alerts": [],
            "health": {"uptime_s": 86400}}
    return json.dumps(body, ensure_ascii=False).encode()


class State:
    """What the server expects and what it saw; shared with its threads."""

    def __init__(self, script, token=None, gzip_on=True, delay=0.0):
        self.script = script      # seq -> (status, headers, body) or callable(state) -> that
        self.token = token        # the bearer token currently valid
        self.gzip_on = gzip_on
        self.delay = delay
        self.batches = {}         # seq -> bytes expected
        self.problems = []
        self.seen = []            # seqs, in arrival order
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        # token endpoint
        self.token_requests = 0
        self.token_answer = None  # callable(state, request json) -> (status, headers, body)
        self.token_file = None

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


def make_handler(st):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self, status, headers, body):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            st.problem(f"GET {self.path}")
            self.answer(405, {}, "{}")

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/auth/token":
                return self.token(raw)
            if self.path != "/ntm/v1/batches":
                st.problem(f"POST to {self.path}")
                return self.answer(404, {}, "{}")
            with st.lock:
                st.inflight += 1
                st.max_inflight = max(st.max_inflight, st.inflight)
            try:
                self.batch(raw)
            finally:
                with st.lock:
                    st.inflight -= 1

        def token(self, raw):
            with st.lock:
                st.token_requests += 1
            if self.headers.get("Content-Type") != "application/json":
                st.problem(f"token request Content-Type {self.headers.get('Content-Type')}")
            try:
                req = json.loads(raw)
            except ValueError:
                st.problem(f"token request body is not JSON: {raw!r}")
                return self.answer(400, {}, "{}")
            self.answer(*st.token_answer(st, req))

        def batch(self, raw):
            h = self.headers
            key = h.get("Idempotency-Key", "")
            try:
                seq = int(key.split(":")[1])
            except (IndexError, ValueError):
                st.problem(f"bad Idempotency-Key {key!r}")
                return self.answer(400, {}, "{}")
            with st.lock:
                st.seen.append(seq)
            want_auth = f"Bearer {st.token}"
            if h.get("Authorization") != want_auth:
                st.problem(f"seq {seq}: Authorization {h.get('Authorization')!r}, want {want_auth!r}")
            if h.get("Content-Type") != "application/json":
                st.problem(f"seq {seq}: Content-Type {h.get('Content-Type')!r}")
            if not (h.get("User-Agent") or "").startswith("ntm-gateway/"):
                st.problem(f"seq {seq}: User-Agent {h.get('User-Agent')!r}")
            if h.get("Expect") is not None:
                st.problem(f"seq {seq}: Expect {h.get('Expect')!r}")
            body = raw
            if st.gzip_on:
                if h.get("Content-Encoding") != "gzip":
                    st.problem(f"seq {seq}: Content-Encoding {h.get('Content-Encoding')!r}")
                try:
                    body = gzip.decompress(raw)
                except OSError as e:
                    st.problem(f"seq {seq}: body does not gunzip: {e}")
            elif h.get("Content-Encoding") is not None:
                st.problem(f"seq {seq}: Content-Encoding {h.get('Content-Encoding')!r} with gzip off")
            if body != st.batches.get(seq):
                st.problem(f"seq {seq}: body differs from the batch ({len(body)} bytes)")
            elif json.loads(body)["batch_id"] != key:
                st.problem(f"seq {seq}: batch_id in the body differs from {key}")
            if st.delay:
                time.sleep(st.delay)
            a = st.script.get(seq, (200, {}, '{"accepted":true}'))
            if callable(a):
                a = a(st)
            self.answer(*a)

    return Handler


class Server:
    def __init__(self, state):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(tmp, uplink, batches, args=(), state=None):
    """Runs the driver on these uplink options; returns ({seq: (result, ms, reason)}, stderr)."""
    plugdir = os.path.join(tmp, "plugins")
    os.makedirs(plugdir, exist_ok=True)
    link = os.path.join(plugdir, "provincial-http.so")
    if not os.path.exists(link):
        os.symlink(os.path.abspath(PLUGIN), link)
    cfg = os.path.join(tmp, "gateway.yaml")
    with open(cfg, "w") as f:
        f.write(f"gateway:\n  id: {GATEWAY}\ncommune:\n  code: \"16279\"\n"
                f"  province_code: \"38\"\nvillages:\n  - id: thon-dong\n"
                f"log:\n  level: debug\nplugin_dir: {plugdir}\nuplinks:\n"
                f"  - plugin: provincial-http\n")
        for k, v in uplink.items():
            f.write(f"    {k}: {v}\n")
    files = []
    for seq, body in batches.items():
        p = os.path.join(tmp, f"batch-{seq}.json")
        with open(p, "wb") as f:
            f.write(body)
        files.append(f"{seq}:{p}")
        if state is not None:
            state.batches[seq] = body
    p = subprocess.run([DRIVER, cfg, *args, *files], capture_output=True, text=True, timeout=120)
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[0].isdigit():
            out[int(parts[0])] = (parts[1], int(parts[2]), parts[3])
        else:
            print(f"driver said: {line}", file=sys.stderr)
    check(p.returncode == 0, f"driver exit status {p.returncode}: {p.stderr[-2000:]}")
    return out, p.stderr


def token_file(tmp, token, name="token"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return path


def expect(out, seq, result, ms=None, reason=None):
    got = out.get(seq)
    check(got is not None and got[0] == result, f"seq {seq}: {got}, want {result}")
    if got is None:
        return
    if ms is not None:
        check(got[1] == ms, f"seq {seq}: retry_after_ms {got[1]}, want {ms}")
    if reason is not None:
        check(reason in got[2], f"seq {seq}: reason {got[2]!r} lacks {reason!r}")


def test_answers(tmp):
    """Every row of the contract's answers table, 4 in flight, gzip on."""
    tok = "tok-Xy9_secret.value"
    long_reason = ("Lô dữ liệu không hợp lệ: trường 'indicators[0].value' phải là số; " * 6)
    expected_reason = "HTTP 422: " + long_reason.encode()[:200].decode("utf-8", "ignore").rstrip()
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    # the two obsolete HTTP-date forms a recipient must read too (RFC 9110 5.6.7)
    later = time.gmtime(time.time() + 30)
    asctime = time.strftime("%a %b %e %H:%M:%S %Y", later)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", later)
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    script = {
        1: (200, {}, "{}"), 2: (201, {}, "{}"), 3: (202, {}, "{}"), 4: (409, {}, "{}"),
        5: (422, {}, long_reason), 6: (400, {}, '{"error":"bad schema"}'), 7: (413, {}, ""),
        8: (401, {}, '{"error":"token expired"}'), 9: (403, {}, "{}"),
        10: (503, {"Retry-After": "7"}, "busy"), 11: (429, {"Retry-After": "7"}, "slow down"),
        12: (503, {"Retry-After": date}, ""), 13: (500, {}, "oops"), 14: (404, {}, "no such"),
        16: (503, {"Retry-After": "soon"}, ""), 17: (503, {"Retry-After": asctime}, ""),
        18: (429, {"Retry-After": rfc850}, ""), 19: (503, {"Retry-After": past}, ""),
        20: (503, {"Retry-After": "99999999999999999999"}, ""),
    }
    st = State(script, token=tok, delay=0.15)
    srv = Server(st)
    try:
        batches = {seq: make_batch(seq) for seq in range(1, 21)}
        batches[15] = make_batch(15, rows=1200)  # about 250 KiB of JSON
        out, err = run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm/",
                             "token_file": token_file(tmp, tok)}, batches, state=st)
    finally:
        srv.close()
    check(len(batches[15]) > 200000, f"big batch is {len(batches[15])} bytes")
    check(st.problems == [], f"server saw problems: {st.problems}")
    check(len(out) == 20, f"{len(out)} outcomes of 20")
    for seq in (1, 2, 3, 4, 15):
        expect(out, seq, "delivered", 0)
    expect(out, 5, "reject", 0)
    check(out.get(5, ("", 0, ""))[2] == expected_reason,
          f"seq 5 reason {out.get(5)!r}, want {expected_reason!r}")
    expect(out, 6, "reject", 0, 'HTTP 400: {"error":"bad schema"}')
    expect(out, 7, "reject", 0, "HTTP 413")
    expect(out, 8, "retry_slow", 0, "HTTP 401")
    expect(out, 9, "retry_slow", 0, "HTTP 403")
    expect(out, 10, "retry", 7000, "HTTP 503: busy")
    expect(out, 11, "retry", 7000, "HTTP 429: slow down")
    expect(out, 12, "retry")
    ms = out.get(12, ("", 0, ""))[1]
    check(27000 <= ms <= 31000, f"seq 12: Retry-After as a date gave {ms} ms, want about 30000")
    for seq, form in ((17, "asctime"), (18, "RFC 850")):
        expect(out, seq, "retry")
        ms = out.get(seq, ("", 0, ""))[1]
        check(27000 <= ms <= 31000, f"seq {seq}: Retry-After as an {form} date gave {ms} ms, "
              "want about 30000")
    expect(out, 16, "retry", 0, "HTTP 503")  # not a Retry-After: no minimum wait
    expect(out, 19, "retry", 0, "HTTP 503")  # a date past: no minimum wait
    expect(out, 20, "retry", 86400000, "HTTP 503")  # a day at most
    expect(out, 13, "retry", 0, "HTTP 500: oops")
    expect(out, 14, "retry", 0, "HTTP 404")
    check("unexpected answer" in err, "a 404 is logged as unexpected")
    check(2 <= st.max_inflight <= 4, f"{st.max_inflight} requests in flight at most, want 2..4")
    check(tok not in err, "the token appears in the log")
    # (the plugin's warnings are limited to one a minute: which batch's is logged varies)
    check("BATCH_ID=gw-test:" in err and "PLUGIN=provincial-http" in err,
          "log lines carry PLUGIN= and BATCH_ID=")


def test_no_gzip(tmp):
    st = State({}, token="t0k", gzip_on=False)
    srv = Server(st)
    try:
        out, _ = run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                           "token_file": token_file(tmp, "t0k"), "gzip": "false",
                           "timeout_s": 5},
                     {1: make_batch(1), 2: make_batch(2)}, state=st)
    finally:
        srv.close()
    check(st.problems == [], f"server saw problems: {st.problems}")
    expect(out, 1, "delivered")
    expect(out, 2, "delivered")


def test_connection_refused(tmp):
    out, err = run(tmp, {"base_url": f"http://127.0.0.1:{closed_port()}/ntm",
                         "token_file": token_file(tmp, "t0k")}, {1: make_batch(1)})
    expect(out, 1, "retry", 0, "Couldn't connect to server")
    check("onnection refused" in out.get(1, ("", 0, ""))[2] or "onnect" in err,
          f"connection refused is named: {out.get(1)}")


def test_token_file_rotation(tmp):
    """A 401 makes the uplink read the token file again."""
    path = token_file(tmp, "old-token")

    def refuse_and_rotate(st):
        with open(path, "w") as f:
            f.write("new-token\n")
        st.token = "new-token"
        return (401, {}, '{"error":"revoked"}')

    st = State({1: refuse_and_rotate}, token="old-token")
    srv = Server(st)
    try:
        out, err = run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                             "token_file": path}, {1: make_batch(1), 2: make_batch(2)},
                       args=("--serial",), state=st)
    finally:
        srv.close()
    expect(out, 1, "retry_slow", 0, "HTTP 401")
    expect(out, 2, "delivered")
    check(st.problems == [], f"server saw problems: {st.problems}")
    check("old-token" not in err and "new-token" not in err, "a token appears in the log")


def lgsp(tmp, secret="s3cr3t-XYZ.42"):
    path = token_file(tmp, secret, name="secret")
    return path, secret


def test_token_url(tmp):
    """LGSP: a token from token_url, used as Bearer, renewed after a 401."""
    secret_path, secret = lgsp(tmp)

    def issue(st, req):
        if req != {"access_key": "ak-16279", "secret_key": secret}:
            st.problem(f"token request {req!r}")
            return (401, {}, '{"error":"invalid_client"}')
        st.token = f"lgsp-tok-{st.token_requests}"
        return (200, {}, json.dumps({"access_token": st.token, "token_type": "Bearer",
                                     "expires_in": 3600, "scope": ["sync"]}))

    def revoke(st):
        st.token = "revoked"
        return (401, {}, "{}")

    st = State({2: revoke})
    st.token_answer = issue
    srv = Server(st)
    try:
        out, err = run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                             "token_url": f"http://127.0.0.1:{srv.port}/auth/token",
                             "access_key": "ak-16279", "secret_file": secret_path},
                       {1: make_batch(1), 2: make_batch(2), 3: make_batch(3)},
                       args=("--serial",), state=st)
    finally:
        srv.close()
    expect(out, 1, "delivered")
    expect(out, 2, "retry_slow", 0, "HTTP 401")
    expect(out, 3, "delivered")
    check(st.token_requests == 2, f"{st.token_requests} token requests, want 2")
    check(st.problems == [], f"server saw problems: {st.problems}")
    for s in (secret, "lgsp-tok-1", "lgsp-tok-2"):
        check(s not in err, f"{s} appears in the log")


def test_token_expiry(tmp):
    """A token that expires is renewed before it is used again."""
    secret_path, secret = lgsp(tmp)

    def issue(st, req):
        st.token = f"short-{st.token_requests}"
        return (200, {}, json.dumps({"access_token": st.token, "expires_in": "1"}))

    st = State({})
    st.token_answer = issue
    srv = Server(st)
    try:
        out, _ = run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                           "token_url": f"http://127.0.0.1:{srv.port}/auth/token",
                           "access_key": "ak", "secret_file": secret_path},
                     {1: make_batch(1), 2: make_batch(2)},
                     args=("--serial", "--gap-ms", "1200"), state=st)
    finally:
        srv.close()
    expect(out, 1, "delivered")
    expect(out, 2, "delivered")
    check(st.token_requests == 2, f"{st.token_requests} token requests, want 2")
    check(st.problems == [], f"server saw problems: {st.problems}")


def test_token_refused(tmp):
    """The token endpoint refuses: retry slowly; its answer is quoted, the secret masked."""
    secret_path, secret = lgsp(tmp)
    st = State({})
    st.token_answer = lambda st, req: (401, {}, f'{{"error":"invalid secret {secret}"}}')
    srv = Server(st)
    try:
        out, err = run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                             "token_url": f"http://127.0.0.1:{srv.port}/auth/token",
                             "access_key": "ak", "secret_file": secret_path},
                       {1: make_batch(1), 2: make_batch(2)}, state=st)
    finally:
        srv.close()
    expect(out, 1, "retry_slow", 0, "token request to")
    expect(out, 2, "retry_slow", 0, "HTTP 401")
    check(st.token_requests == 1, f"{st.token_requests} token requests, want 1 for both")
    check(st.seen == [], "no batch is sent without a token")
    check(secret not in err and all(secret not in o[2] for o in out.values()),
          "the secret appears in the log or a reason")

    out, _ = run(tmp, {"base_url": "http://127.0.0.1:9/ntm",
                       "token_url": f"http://127.0.0.1:{closed_port()}/auth/token",
                       "access_key": "ak", "secret_file": secret_path}, {1: make_batch(1)})
    expect(out, 1, "retry", 0, "token request to")


def main():
    tests = [test_answers, test_no_gzip, test_connection_refused, test_token_file_rotation,
             test_token_url, test_token_expiry, test_token_refused]
    for t in tests:
        before = failed
        with tempfile.TemporaryDirectory(prefix="ntm-http-uplink-") as tmp:
            try:
                t(tmp)
            except Exception as e:  # a broken test is a failure, not a crash
                check(False, f"{t.__name__} raised {e!r}")
        print(f"{t.__name__}: {'ok' if failed == before else 'FAILED'}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
