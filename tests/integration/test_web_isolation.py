# SPDX-License-Identifier: GPL-3.0-or-later
"""test_web_isolation: whatever happens to ntm-gateway-web cannot stop or slow
ingest. The gateway ingests at a steady rate (ntm-sim, QoS 1) twice for the
same time: once with no page open (the baseline), once while the page's side
is flooded (16 clients asking for / and /metrics without pause), killed with
SIGKILL and started again, then hung (SIGSTOP) under the flood. Every message
acknowledged by the broker is accepted in both phases; the ingest rate of the
second against the first is printed (no timing assertion)."""
import os
import signal
import threading
import time
import urllib.request

from harness import _source_root, run
from web_support import Web, fill_history, write_gateway

RATE = 400
SECONDS = 6


def flood(url, stop, counts):
    while not stop.is_set():
        for path in ("/", "/metrics"):
            try:
                with urllib.request.urlopen(url + path, timeout=2) as r:
                    r.read()
                counts["ok"] += 1
            except Exception:
                counts["failed"] += 1


def phase(h, d, root, name, expect_before):
    t0 = time.monotonic()
    p, exp = h.sim("--config", os.path.join(h.tmp, "sim.yaml"), "--rate", RATE,
                   "--duration", SECONDS, "--count", 1000, "--seed", 11, "--qos", 1, "-q",
                   check=False)
    acked = exp["acked"] if exp else 0
    d.wait_counts(expect_before + acked, timeout=60)
    elapsed = time.monotonic() - t0
    return p.returncode, acked, elapsed


def main(h, t):
    root = _source_root()
    h.start_broker()
    cfg = write_gateway(h, root)
    d = h.start_daemon(cfg)
    p, exp = fill_history(h, root, days=1, count=2000, invalid=0)
    base = exp["acked"]
    d.wait_counts(base)

    rc, acked1, el1 = phase(h, d, root, "baseline", base)
    t.eq(rc, 0, "baseline: ntm-sim sent every message at a steady rate")
    rate1 = acked1 / el1

    w = Web(h, cfg)
    t.require(w.wait_accepting(), "ntm-gateway-web accepts connections", w.log())
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    state = {"web": w}
    threads = [threading.Thread(target=flood, args=(w.url(""), stop, counts), daemon=True)
               for _ in range(16)]
    for th in threads:
        th.start()

    def trouble():
        time.sleep(1.5)
        state["web"].p.send_signal(signal.SIGKILL)
        state["web"].p.wait()
        time.sleep(0.5)
        w2 = Web(h, cfg, listen=f"127.0.0.1:{w.port}")
        w2.wait_accepting()
        state["web"] = w2
        time.sleep(1.5)
        w2.p.send_signal(signal.SIGSTOP)
    tr = threading.Thread(target=trouble, daemon=True)
    tr.start()
    rc, acked2, el2 = phase(h, d, root, "flooded", base + acked1)
    tr.join()
    stop.set()
    state["web"].p.send_signal(signal.SIGCONT)
    for th in threads:
        th.join(10)
    t.eq(rc, 0, "flooded, killed and hung page: ntm-sim sent every message")
    t.ok(d.alive(), "the daemon is still running")
    got = h.query("SELECT value FROM counters WHERE name = 'accepted'")[0][0]
    t.eq(got, base + acked1 + acked2, "no message lost: accepted = every acknowledged message")
    rate2 = acked2 / el2
    print(f"ingest rate with the page flooded, killed and hung / with no page: "
          f"{rate2:.1f} / {rate1:.1f} msg/s = {rate2 / rate1:.3f} "
          f"(page answers {counts['ok']}, failed {counts['failed']})")
    t.ok(counts["ok"] > 0, f"the page's side did serve during the flood ({counts['ok']})")
    t.ok(counts["failed"] > 0, "and failed while killed and hung")


run(main)
