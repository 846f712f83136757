#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_notify.py: ntm-gatewayd's sd_notify protocol, read from a real
NOTIFY_SOCKET datagram socket (the harness owns it), the way systemd reads it
for a Type=notify unit with WatchdogSec= and ExecReload=.

- READY=1 comes once the database is open and the loop runs, without
  waiting for the broker: a proxy between the daemon and mosquitto holds the
  SUBACK back for a second, and READY=1 comes before the proxy lets it
  through; a STATUS= saying "broker connected" follows promptly after it.
- WATCHDOG=1 comes at half of WATCHDOG_USEC (200 ms here: about every
  100 ms), from the start, also while the daemon waits for its SUBACK; never
  when WATCHDOG_USEC is unset or WATCHDOG_PID names another process.
- STATUS= lines come, and follow the counts.
- SIGHUP gives RELOADING=1 with MONOTONIC_USEC= in the same datagram, then
  READY=1 (what Type=notify-reload expects; with Type=notify systemd takes
  them as the state of the reload).
- SIGTERM gives STOPPING=1 and exit status 0.

Python standard library only; the broker and the daemon are started by
tests/integration/harness.py.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import TestFailure, free_port, run  # noqa: E402

SUBACK_HOLD_S = 1.0


class SubackDelayProxy:
    """A TCP proxy in front of mosquitto that forwards everything at once except
    SUBACK packets (broker to client), which it holds for SUBACK_HOLD_S."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.suback_forwarded = []  # monotonic times
        self.suback_seen = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.broker_port))
            except OSError:
                c.close()
                continue
            threading.Thread(target=self._pump_raw, args=(c, b), daemon=True).start()
            threading.Thread(target=self._pump_packets, args=(b, c), daemon=True).start()

    @staticmethod
    def _pump_raw(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pump_packets(self, src, dst):
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    pkt, buf = _split_packet(buf)
                    if pkt is None:
                        break
                    if pkt[0] >> 4 == 9:  # SUBACK
                        self.suback_seen.append(time.monotonic())
                        time.sleep(SUBACK_HOLD_S)
                        self.suback_forwarded.append(time.monotonic())
                    dst.sendall(pkt)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.lsock.close()


def _split_packet(buf):
    """(one whole MQTT control packet, the rest), or (None, buf) when incomplete."""
    if len(buf) < 2:
        return None, buf
    mult, length, i = 1, 0, 1
    while True:
        if i >= len(buf):
            return None, buf
        byte = buf[i]
        length += (byte & 0x7F) * mult
        mult *= 128
        i += 1
        if not byte & 0x80:
            break
        if i > 4:
            raise OSError("malformed remaining length")
    end = i + length
    if len(buf) < end:
        return None, buf
    return buf[:end], buf[end:]


def publish(port, topic, payload):
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-m", payload],
                   check=True, timeout=10, stdin=subprocess.DEVNULL)


def lines(d):
    """A copy of the (time, line) pairs received so far."""
    with d.cond:
        return list(d.notify_lines)


def count(d, line, t0, t1):
    return sum(1 for t, l in lines(d) if l == line and t0 <= t < t1)


def set_env(**kv):
    for k, v in kv.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def main(h, t):
    port = h.start_broker()
    proxy = SubackDelayProxy(port)
    devices = [("spk-01", "speaker", "thon-a")]
    cfg = h.write_config(villages=["thon-a"], devices=devices, mqtt={"port": proxy.port},
                         name="via-proxy.yaml")

    # ---- run 1: the watchdog on (WATCHDOG_USEC=200000), through the proxy
    set_env(WATCHDOG_USEC="200000", WATCHDOG_PID=None)
    d = h.start_daemon(cfg, ready=False)
    set_env(WATCHDOG_USEC=None)
    d.wait_ready(30)
    t_ready = next(tt for tt, l in lines(d) if l == "READY=1")
    d.wait_status(lambda st: st["connected"], 30, "STATUS= broker connected")
    t_conn = next(tt for tt, l in lines(d) if l.startswith("STATUS=broker connected"))
    t.require(proxy.suback_seen, "the daemon subscribed (the proxy saw a SUBACK)")
    t.ok(t_ready < proxy.suback_forwarded[0],
         "READY=1 does not wait for the broker's SUBACK",
         f"READY=1 {t_ready - proxy.suback_forwarded[0]:.3f} s after the SUBACK was let through")
    t.ok(t_conn >= proxy.suback_forwarded[0] and t_conn - proxy.suback_forwarded[0] < 2.0,
         "STATUS= says the broker is connected promptly after the SUBACK",
         f"{t_conn - proxy.suback_forwarded[0]:.3f} s")
    t.ok(os.path.exists(h.db_path), "the database exists at READY=1")
    first = [l for _, l in lines(d)]
    i = first.index("READY=1")
    t.ok(i + 1 < len(first) and first[i + 1].startswith("STATUS="),
         "READY=1 carries a STATUS= line", repr(first[i:i + 2]))
    # the loop ran while the SUBACK was held: the watchdog pinged meanwhile
    held = count(d, "WATCHDOG=1", proxy.suback_seen[0], proxy.suback_forwarded[0])
    t.ok(5 <= held <= 16, f"WATCHDOG=1 while waiting for the SUBACK: {held} in {SUBACK_HOLD_S:.0f} s",
         "want 5 to 16")

    # the pace, over 2 s of normal running
    t0 = time.monotonic()
    time.sleep(2.0)
    n = count(d, "WATCHDOG=1", t0, t0 + 2.0)
    t.ok(12 <= n <= 30, f"WATCHDOG=1 with WATCHDOG_USEC=200000: {n} in 2 s (about every 100 ms)",
         "want 12 to 30")
    pings = [tt for tt, l in lines(d) if l == "WATCHDOG=1"]
    gaps = sorted(b - a for a, b in zip(pings, pings[1:]))
    if gaps:
        median = gaps[len(gaps) // 2]
        t.ok(0.05 <= median <= 0.15, f"median gap between pings {median * 1000:.0f} ms",
             "want 50 to 150 ms")
        # a loose bound (a loaded CI machine, sanitizers): no stall of the loop
        t.ok(gaps[-1] < 0.5, f"longest gap between pings {gaps[-1] * 1000:.0f} ms",
             "the event loop stalled")

    # STATUS= lines, following the counts
    publish(port, "ntm/v1/thon-a/speaker/spk-01/heartbeat",
            '{"ts": %d, "interval_s": 60, "uptime_s": 10}' % int(time.time()))
    st = d.wait_counts(accepted=1, rejected=0, timeout=20)
    t.ok(st["connected"], "STATUS: broker connected, accepted 1", st["text"])
    n_status = sum(1 for _, l in lines(d) if l.startswith("STATUS="))
    t.ok(n_status >= 2, f"STATUS= lines received: {n_status}")

    # SIGHUP: RELOADING=1 + MONOTONIC_USEC= in one datagram, then READY=1
    before = len(lines(d))
    now_us = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    reloading = ready_again = None
    while time.monotonic() < deadline and ready_again is None:
        got = lines(d)[before:]
        for k, (tt, l) in enumerate(got):
            if l == "RELOADING=1" and reloading is None:
                reloading = (k, tt)
            elif l == "READY=1" and reloading is not None and k > reloading[0]:
                ready_again = (k, tt)
                break
        time.sleep(0.05)
    got = lines(d)[before:]
    t.ok(reloading is not None, "SIGHUP: RELOADING=1",
         "not sent (the reload is being implemented); got: " +
         repr([l for _, l in got if l != "WATCHDOG=1"][:6]))
    if reloading is not None:
        k, tt = reloading
        mono = [l for (t2, l) in got if t2 == tt and l.startswith("MONOTONIC_USEC=")]
        t.ok(len(mono) == 1, "RELOADING=1 comes with MONOTONIC_USEC= in the same datagram",
             repr([l for (t2, l) in got if t2 == tt]))
        if mono:
            v = int(mono[0].split("=", 1)[1])
            t.ok(abs(v - now_us) < 5e6, "MONOTONIC_USEC= is CLOCK_MONOTONIC now",
                 f"off by {(v - now_us) / 1e6:.3f} s")
        t.ok(ready_again is not None, "READY=1 after RELOADING=1")
    t.ok(d.alive(), "the daemon runs on after SIGHUP")
    n = count(d, "WATCHDOG=1", time.monotonic() - 1.0, time.monotonic())
    t.ok(n >= 5, f"the watchdog goes on after the reload ({n} in the last second)")

    # SIGTERM: STOPPING=1, exit 0
    rc = d.terminate()
    t.eq(rc, 0, "SIGTERM: exit status 0")
    t.ok(d.stopping, "SIGTERM: STOPPING=1")
    proxy.close()

    # ---- runs 2 and 3: no watchdog unless it is ours
    direct = h.write_config(villages=["thon-a"], devices=devices, name="direct.yaml")
    for env, what in (({"WATCHDOG_USEC": None, "WATCHDOG_PID": None}, "WATCHDOG_USEC unset"),
                      ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"},
                       "WATCHDOG_PID names another process")):
        set_env(**env)
        d = h.start_daemon(direct)
        set_env(WATCHDOG_USEC=None, WATCHDOG_PID=None)
        time.sleep(1.0)
        n = sum(1 for _, l in lines(d) if l == "WATCHDOG=1")
        t.eq(n, 0, f"no WATCHDOG=1 when {what}")
        t.eq(d.terminate(), 0, f"({what}) SIGTERM: exit status 0")
        t.ok(d.stopping, f"({what}) STOPPING=1")


if __name__ == "__main__":
    run(main)
