#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_server.py: the provincial-http uplink against a broken or hostile
provincial server: one that echoes the bearer token or the LGSP secret, one that
answers an error with an endless body, one that redirects every batch. Uses the
server and driver of test_http_uplink.py. Ends "N passed, M failed"."""

import json
import os
import socket
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_http_uplink as u  # noqa: E402


def test_token_echo(tmp):
    """A 503 (and a 422) whose body repeats the Authorization header: the token is
    in no reason and no log line, not even cut short at the end of the snippet."""
    tok = "s3cret-token-ABC"

    def echo(st):
        return (503, {}, f'{{"error":"busy","you_sent":"Authorization: Bearer {tok}"}}')

    # the echo starts 190 bytes in: the 200-byte snippet would cut it in two
    cut = (422, {}, "x" * 190 + f"Bearer {tok}")
    st = u.State({1: echo, 2: cut, 3: (500, {}, f"\u009b\u202e{tok}\x00{tok}")}, token=tok)
    srv = u.Server(st)
    try:
        out, err = u.run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                               "token_file": u.token_file(tmp, tok)},
                         {1: u.make_batch(1), 2: u.make_batch(2), 3: u.make_batch(3)},
                         state=st)
    finally:
        srv.close()
    u.expect(out, 1, "retry", reason="HTTP 503")
    u.expect(out, 2, "reject", reason="HTTP 422")
    u.expect(out, 3, "retry", reason="HTTP 500")
    for seq, o in out.items():
        u.check(tok not in o[2] and tok[:6] not in o[2], f"seq {seq}: the token in {o[2]!r}")
        u.check("***" in o[2], f"seq {seq}: no mask in {o[2]!r}")
    u.check(tok not in err and tok[:6] not in err, "the token appears in the log")
    u.check("\u009b" not in err and "\u202e" not in err and "\x00" not in err,
            "a C1 or bidi control reached the log")


def test_secret_echo(tmp):
    """LGSP: a batch answer that repeats the secret_key sent to the token URL."""
    secret_path, secret = u.lgsp(tmp)

    def issue(st, req):
        st.token = "lgsp-tok-Q7"
        return (200, {}, json.dumps({"access_token": st.token, "expires_in": 3600}))

    st = u.State({1: (503, {}, f"secret_key={secret} token=lgsp-tok-Q7")})
    st.token_answer = issue
    srv = u.Server(st)
    try:
        out, err = u.run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                               "token_url": f"http://127.0.0.1:{srv.port}/auth/token",
                               "access_key": "ak", "secret_file": secret_path},
                         {1: u.make_batch(1)}, state=st)
    finally:
        srv.close()
    u.expect(out, 1, "retry", reason="HTTP 503")
    for s in (secret, "lgsp-tok-Q7"):
        u.check(all(s not in o[2] for o in out.values()), f"{s} appears in a reason")
        u.check(s not in err, f"{s} appears in the log")


class Endless:
    """Answers every request with a 503 and then an endless body; counts the bytes
    it managed to send before the client hung up."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            while len(rest) < n:
                rest += c.recv(65536)
            c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                      b"Connection: close\r\n\r\n")
            chunk = b"overloaded " * 6000
            while True:
                c.sendall(chunk)
                with self.lock:
                    self.sent += len(chunk)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def test_endless_error_body(tmp):
    """A 503 with an endless body: the transfer stops at the 64 KiB kept, instead of
    reading until the timeout (10 s here)."""
    srv = Endless()
    try:
        out, err = u.run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                               "token_file": u.token_file(tmp, "tok"), "timeout_s": 10},
                         {1: u.make_batch(1), 2: u.make_batch(2)})
    finally:
        srv.close()
    u.expect(out, 1, "retry", reason="HTTP 503: overloaded")
    u.expect(out, 2, "retry", reason="HTTP 503")
    # socket buffers hold a few MiB; reading for 10 s moves gigabytes
    u.check(srv.sent < 64 * 1024 * 1024, f"the server sent {srv.sent} bytes before the hang-up")


def test_redirect_logged_once(tmp):
    """Every batch answered 307: one warning, not one per attempt."""
    script = {i: (307, {"Location": "http://127.0.0.1:9/elsewhere"}, "moved") for i in range(1, 7)}
    st = u.State(script, token="tok")
    srv = u.Server(st)
    try:
        out, err = u.run(tmp, {"base_url": f"http://127.0.0.1:{srv.port}/ntm",
                               "token_file": u.token_file(tmp, "tok")},
                         {i: u.make_batch(i) for i in range(1, 7)}, args=("--serial",), state=st)
    finally:
        srv.close()
    for i in range(1, 7):
        u.expect(out, i, "retry", reason="HTTP 307")
    n = err.count("unexpected answer")
    u.check(n == 1, f"{n} log lines about the unexpected answer, want 1:\n{err[-1500:]}")


def main():
    tests = [test_token_echo, test_secret_echo, test_endless_error_body,
             test_redirect_logged_once]
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        before = u.failed
        with tempfile.TemporaryDirectory(prefix="ntm-hostile-server-") as tmp:
            try:
                t(tmp)
            except Exception as e:  # a broken test is a failure, not a crash
                u.check(False, f"{t.__name__} raised {e!r}")
        print(f"{t.__name__}: {'ok' if u.failed == before else 'FAILED'}", file=sys.stderr)
    print(f"{u.passed} passed, {u.failed} failed")
    return 0 if u.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
