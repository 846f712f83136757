# SPDX-License-Identifier: GPL-3.0-or-later
"""test_web_auth: ntm-gateway-web off the loopback address and against bad
requests. A LAN listen without web.password_file, or with a file others can
read, is refused at start with a message for a person. With a password: no
credentials get 401 at once, a wrong password is answered only after the
delay and logged with the client's address (rate-limited), the right one gets
the page. Path traversal, other methods, huge headers, a slow client
(slowloris) and too many connections are refused, bounded and logged, and the
page is still served afterwards."""
import os
import socket
import time

from harness import _source_root, free_port, run
from web_support import Web, write_gateway


def raw(port, data, timeout=15):
    """Sends raw bytes, returns everything read until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def main(h, t):
    root = _source_root()

    # ---- a LAN listen without a password file: refused at start
    cfg = write_gateway(h, root, name="lan.yaml", web="web:\n  listen: 0.0.0.0:8080")
    w = Web(h, cfg, listen=f"0.0.0.0:{free_port()}")
    rc = w.p.wait(10)
    t.eq(rc, 1, "no password file on a LAN listen: ntm-gateway-web does not start")
    t.ok("not a loopback address" in w.log() and "web.password_file is not set" in w.log(),
         "the refusal says why", w.log())

    # ---- a password file others can read: refused
    pw = h.write_file("web.pass", "s3cret-mật-khẩu\n")
    os.chmod(pw, 0o644)
    cfg = write_gateway(h, root, name="lan2.yaml",
                        web=f"web:\n  listen: 0.0.0.0:8080\n  password_file: {pw}")
    w = Web(h, cfg, listen=f"0.0.0.0:{free_port()}")
    t.eq(w.p.wait(10), 1, "a password file readable by others: refused")
    t.ok("chmod 600" in w.log(), "the refusal says what to do", w.log())

    # ---- with the password
    os.chmod(pw, 0o600)
    w = Web(h, cfg, listen=f"0.0.0.0:{free_port()}")
    port = w.port
    t.require(w.wait_accepting(), "ntm-gateway-web serves 0.0.0.0 with a password", w.log())
    st, hd, _ = w.get("/")
    t.eq(st, 401, "no credentials: 401")
    t.ok("Basic" in hd.get("WWW-Authenticate", ""), "the 401 asks for basic authentication")
    t0 = time.monotonic()
    st, _, body = w.get("/", auth=("ntm", "wrong"))
    slow = time.monotonic() - t0
    t.eq(st, 401, "a wrong password: 401")
    t.ok(slow >= 0.9, f"a wrong password is answered only after the delay ({slow:.2f} s)")
    st, _, _ = w.get("/metrics", auth=("admin", "s3cret-mật-khẩu"))
    t.eq(st, 401, "the right password for another user: 401")
    st, _, body = w.get("/", auth=("ntm", "s3cret-mật-khẩu"))
    t.ok(st == 200 and b"Ho\xe1\xba\xb1ng Giang" in body, "the right password: the page")
    st, _, body = w.get("/metrics", auth=("ntm", "s3cret-mật-khẩu"))
    t.ok(st == 200 and b"ntm_messages_accepted_total" in body, "the right password: /metrics")
    log = w.log()
    t.ok("a wrong user or password from 127.0.0.1" in log,
         "the wrong password is logged with the client's address", log)
    t.ok("s3cret" not in log and "wrong" not in log.replace("a wrong user", ""),
         "no password in the log")
    # a burst of wrong passwords: each delayed, the log rate-limited
    lines0 = log.count("wrong user or password")
    for _ in range(5):
        w.get("/", auth=("ntm", "guess"))
    t.eq(w.log().count("wrong user or password"), lines0,
         "five more wrong passwords within 10 s add no log line (rate-limited)")
    auth = "Authorization: Basic bnRtOnMzY3JldC1t4bqtdC1raOG6qXU=\r\n"  # ntm:s3cret-mật-khẩu

    # ---- bad requests (authenticated, so they reach the router)
    for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/metrics/../../../etc/shadow",
                 "//etc/passwd", "/index.html", "/state.json"):
        out = raw(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
                  .encode())
        t.ok(out.startswith(b"HTTP/1.1 404") and b"root:" not in out,
             f"GET {path}: 404, no file", out[:200])
    t.ok("a path that is not served" in w.log(), "refused paths are logged")
    out = raw(port, f"POST / HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 3\r\n"
              "Connection: close\r\n\r\nabc".encode())
    t.ok(out.startswith(b"HTTP/1.1 405"), "POST: 405 (read-only)", out[:200])
    huge = "X-Big: " + "a" * 200000 + "\r\n"
    out = raw(port, f"GET / HTTP/1.1\r\nHost: x\r\n{huge}\r\n".encode())
    t.ok(out.startswith(b"HTTP/1.1 431") or out.startswith(b"HTTP/1.1 413") or out == b"",
         "200 KB of headers: refused and closed", out[:200])
    time.sleep(0.2)
    t.ok("431" in w.log(), "the refused headers are logged")

    # ---- slowloris and connection limits: bounded, logged, the page still served
    slow = []
    for _ in range(20):
        try:
            s = socket.create_connection(("127.0.0.1", port), 5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
            slow.append(s)
        except OSError:
            break
    t0 = time.monotonic()
    closed = 0
    for s in slow:
        s.settimeout(30)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        closed += 1
        s.close()
    took = time.monotonic() - t0
    t.eq(closed, len(slow), f"all {len(slow)} slow connections were closed by the server "
         f"(after {took:.1f} s)")
    t.ok(took < 25, "within the connection timeout (10 s), not left open")
    time.sleep(0.2)
    t.ok("no complete request in 10 s" in w.log(), "slow clients are logged", w.log()[-800:])
    st, _, body = w.get("/", auth=("ntm", "s3cret-mật-khẩu"))
    t.eq(st, 200, "after all that, the page is served")
    t.eq(w.stop(), 0, "SIGTERM: ntm-gateway-web stops cleanly")

    # ---- socket activation (systemd-socket-activate stands in for the .socket unit)
    import subprocess
    from web_support import web_path
    lo = write_gateway(h, root, name="lo.yaml")
    for addr, conf, want in ((f"127.0.0.1:{free_port()}", lo, 200),
                             (f"0.0.0.0:{free_port()}", lo, None)):
        logp = os.path.join(h.tmp, f"activated-{addr.split(':')[1]}.log")
        a = subprocess.Popen(["systemd-socket-activate", "-l", addr, web_path(), "--config",
                              conf, "--idle-exit", "1"], stdout=open(logp, "wb"),
                             stderr=subprocess.STDOUT)
        h._procs.append(a)
        port = int(addr.split(":")[1])
        time.sleep(0.3)
        try:
            out = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        except OSError:
            out = b""
        if want:
            t.ok(out.startswith(b"HTTP/1.1 200"), f"socket-activated on {addr}: the page",
                 out[:200])
            t.eq(a.wait(15), 0, "idle for 1 s: it exits (systemd starts it again)")
            t.ok("no connection for 1 s" in open(logp).read(), "the idle exit is logged")
        else:
            t.eq(a.wait(15), 1, f"socket-activated on {addr} without a password file: refused")
            text = open(logp).read()
            t.ok("the socket systemd passed, which is not a loopback address" in text,
                 "the refusal names the socket", text)


run(main)
