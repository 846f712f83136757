#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""web_bench.py [MESSAGES]: the status page's cost, on the Hoằng Giang inventory
(5 villages, 33 devices) with 7 days of history sent through a real broker.
Prints: the time to first byte and the bytes of GET / (median of 20) and of
GET /metrics; ntm-gateway-web's peak resident memory while serving; and the
daemon's ingest rate for MESSAGES live messages (default 20000, as fast as
ntm-sim sends them, QoS 1) with the page refreshed every second against the
page closed, alternated twice each in the same run (ratio of medians).
Figures are of this machine and this run only. Needs a build: NTM_GATEWAYD,
NTM_SIM, NTM_GATEWAY_WEB (else build/...)."""
import os
import socket
import statistics
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", ".."))
sys.path.insert(0, os.path.join(root, "tests", "integration"))
for var, rel in (("NTM_GATEWAYD", "daemon/ntm-gatewayd"), ("NTM_SIM", "tests/tools/ntm-sim"),
                 ("NTM_GATEWAY_WEB", "daemon/web/ntm-gateway-web"), ("NTM_CTL", "daemon/ctl/ntmctl")):
    os.environ.setdefault(var, os.path.join(root, "build", rel))
os.environ.setdefault("NTM_LOCALEDIR", os.path.join(os.path.dirname(os.path.dirname(
    os.environ["NTM_GATEWAYD"])), "po"))

from harness import Harness  # noqa: E402
from web_support import SILENT, Web, demo_devices, fill_history, write_gateway  # noqa: E402


def ttfb(port, path):
    """(seconds to the first byte, bytes of the body) of one GET."""
    s = socket.create_connection(("127.0.0.1", port), 10)
    t0 = time.monotonic()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    first = s.recv(65536)
    t1 = time.monotonic()
    data = first
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    return t1 - t0, len(data.split(b"\r\n\r\n", 1)[1])


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def accepted(h):
    r = h.query("SELECT value FROM counters WHERE name = 'accepted'")
    return r[0][0] if r else 0


def ingest(h, d, cfg_sim, n, refresh_port):
    stop = threading.Event()
    loads = [0]

    def refresher():
        while not stop.is_set():
            try:
                ttfb(refresh_port, "/")
                loads[0] += 1
            except OSError:
                pass
            stop.wait(1.0)
    th = None
    if refresh_port:
        th = threading.Thread(target=refresher, daemon=True)
        th.start()
    before = accepted(h)
    t0 = time.monotonic()
    p, exp = h.sim("--config", cfg_sim, "--count", n, "--seed", int(t0) % 1000, "--qos", 1, "-q")
    want = before + exp["acked"]
    while accepted(h) < want and time.monotonic() - t0 < 300:
        time.sleep(0.02)
    el = time.monotonic() - t0
    stop.set()
    if th:
        th.join()
    return exp["acked"] / el, loads[0]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    h = Harness("web_bench")
    try:
        h.start_broker()
        cfg = write_gateway(h, root)
        d = h.start_daemon(cfg)
        fill_history(h, root, days=7, count=20000, invalid=200)
        talkers = [x for x in demo_devices(root) if x[0] not in SILENT]
        cfg_sim = write_gateway(h, root, name="live.yaml", devices=talkers)
        w = Web(h, cfg, nice=10)  # as ntm-gateway-web.service runs it (Nice=10)
        w.wait_accepting()
        rows = h.query("SELECT count(*) FROM history_rows")[0][0]
        page = [ttfb(w.port, "/") for _ in range(20)]
        metrics = [ttfb(w.port, "/metrics") for _ in range(20)]
        print(f"history: {rows} indicator rows over 7 days, 5 villages, 33 devices")
        print(f"GET /        TTFB median {statistics.median(x for x, _ in page) * 1000:.1f} ms, "
              f"max {max(x for x, _ in page) * 1000:.1f} ms, {page[0][1]} bytes")
        print(f"GET /metrics TTFB median {statistics.median(x for x, _ in metrics) * 1000:.1f} ms,"
              f" {metrics[0][1]} bytes")
        print(f"ntm-gateway-web peak RSS while serving: {peak_rss_kib(w.p.pid) / 1024:.1f} MiB")
        closed, opened, loads = [], [], 0
        for _ in range(2):
            closed.append(ingest(h, d, cfg_sim, n, None)[0])
            r, l = ingest(h, d, cfg_sim, n, w.port)
            opened.append(r)
            loads += l
        c, o = statistics.median(closed), statistics.median(opened)
        print(f"ingest of {n} messages: page refreshed every second {o:.0f} msg/s "
              f"({loads} page loads) vs page closed {c:.0f} msg/s: ratio {o / c:.3f}")
    finally:
        h.cleanup()


main()
