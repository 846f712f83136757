#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_ping.py: availability by ping, for a scripted hour (issue 11).

The whole test runs in a network namespace of its own (it re-executes itself
under `ip netns exec`), where it sets net.ipv4.ping_group_range itself so that
the daemon's unprivileged ICMP sockets work; the machine's own setting is not
touched. Each device is an address in a namespace of its own, reached over a
veth pair that the test takes down and up:

    dev-a  10.231.1.2      up all hour
    dev-b  10.231.2.2      down from minute 20 to minute 40 (steps 20..39)
    dev-c  10.231.3.2      never up (its link stays down)
    dev-d  fd31:4::2       (IPv6) down for steps 50..54

each in a village of its own (va, vb, vc, vd), so that a village's uptime_pct
row is its device's. The daemon runs under tests/fault/clockshim.c with its wall
clock standing still ("frozen") at the world time, which the test steps one
minute at a time from T0 (an hour boundary) to T0 + 60 min; ping.interval_s is
60 (a reply keeps a device available for 180 s), and NTM_TEST_PING_ROUND_MS=300
makes the real time between two probes of a device 300 ms. At each step the
links that go down go down before the clock moves, those that come up come up
after, and the test waits until every device that is up has a heartbeat at that
minute in the buffer. So each reply is a heartbeat at exactly T0 + 60 k, and the
rows are computed by hand:

    dev-a: [T0, T0+3600)                               100 %
    dev-b: [T0, T0+19 min+180 s) + [T0+40 min, T0+60)   (1320 + 1200)/3600 = 70 %
    dev-c: never                                        0 %
    dev-d: [T0, T0+49 min+180 s) + [T0+55 min, T0+60)   (3120 + 300)/3600 = 95 %

and the alerts: dev-b offline at T0+1320 and online at T0+2400, dev-d offline at
T0+3120 and online at T0+3300, nothing else after the first replies.

Without permission for namespaces (not root, no `ip`), the test falls back to
loopback only (127.0.0.1 and ::1 up all hour, 100 %), and says so.
Also checked: the one start-up line when ping_group_range forbids the sockets, and
that SIGHUP applies a changed `ip` (dev-c is given dev-a's address and answers).
"""

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

T0 = 1795420800  # an hour boundary (2026-11-23 ...:00 UTC, also local +07:00)
NS_GW = f"ntmp-gw-{os.getpid()}"
ROUND_MS = 300
DEVICES = [  # id, village, family, address in its namespace, steps it is down
    ("dev-a", "va", 4, "10.231.1.2", set()),
    ("dev-b", "vb", 4, "10.231.2.2", set(range(20, 40))),
    ("dev-c", "vc", 4, "10.231.3.2", set(range(0, 61))),
    ("dev-d", "vd", 6, "fd31:4::2", set(range(50, 55))),
]


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def can_netns():
    return os.geteuid() == 0 and shutil.which("ip") is not None and \
        sh("ip", "netns", "add", NS_GW + "-probe", check=False).returncode == 0 and \
        sh("ip", "netns", "del", NS_GW + "-probe", check=False).returncode == 0


def shim_path():
    p = os.environ.get("NTM_CLOCKSHIM_SO")
    if p:
        return p
    return os.path.join(os.path.dirname(os.path.dirname(harness.gatewayd_path())), "tests",
                        "fault", "ntm-clockshim.so")


def preload_for(binary, shim):
    out = sh("ldd", binary, check=False).stdout
    for line in out.splitlines():
        if "libasan.so" in line and "=>" in line:
            return f"{line.split('=>')[1].split()[0]}:{shim}"
    return shim


class Net:
    """The devices' namespaces and veth pairs (the test itself runs in NS_GW)."""

    def __init__(self):
        self.made = []

    def make(self, i, fam, addr):
        ns, host, peer = f"ntmp-d{i}-{os.getpid()}", f"ntmp{i}h", f"ntmp{i}p"
        sh("ip", "netns", "add", ns)
        self.made.append(ns)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", ns)
        if fam == 4:
            net = addr.rsplit(".", 1)[0]
            sh("ip", "addr", "add", f"{net}.1/24", "dev", host)
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", peer)
        else:
            net = addr.rsplit(":", 1)[0]
            sh("ip", "addr", "add", f"{net}:1/64", "dev", host, "nodad")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/64", "dev", peer, "nodad")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
        return host

    def cleanup(self):
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)


def link(host, up):
    sh("ip", "link", "set", host, "up" if up else "down")


class Clock:
    def __init__(self, h):
        self.path = os.path.join(h.tmp, "clockshim.ctl")

    def set(self, unix_s):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{unix_s} 1 frozen\n")
        os.rename(tmp, self.path)
        time.sleep(0.12)  # the shim looks at the file every 50 ms


def heartbeats_at(h, ts):
    return {r[0] for r in h.query(
        "SELECT d.name FROM messages m JOIN devices d ON d.id = m.device WHERE m.ts = ?", (ts,))}


def wait_for(t, what, pred, timeout=20, quiet=False):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            if not quiet:
                t.ok(True, what)
            return True
        time.sleep(0.05)
    t.ok(False, what)
    return False


def start(h, cfg, clock, extra_env):
    saved = {k: os.environ.get(k) for k in ["LD_PRELOAD", "NTM_CLOCKSHIM", *extra_env]}
    os.environ["LD_PRELOAD"] = preload_for(harness.gatewayd_path(), shim_path())
    os.environ["NTM_CLOCKSHIM"] = clock.path
    os.environ.update(extra_env)
    try:
        return h.start_daemon(cfg)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def forbidden_message(h, t):
    """ping_group_range "1 0": one clear line at start, and the daemon runs on."""
    sh("sysctl", "-q", "-w", "net.ipv4.ping_group_range=1 0")
    h.start_broker()
    cfg = h.write_config(["va"], [], name="forbidden.yaml",
                         storage={"path": os.path.join(h.tmp, "forbidden.db")})
    text = open(cfg).read().replace(
        "devices: []\n", "devices:\n  - {id: x, kind: speaker, village: va, ip: 127.0.0.1}\n")
    open(cfg, "w").write(text)
    d = h.start_daemon(cfg)
    time.sleep(0.3)
    err = d.stderr_text()
    lines = [ln for ln in err.splitlines() if "unprivileged ICMP" in ln]
    t.eq(len(lines), 1, "one start-up line says ping is not allowed")
    t.ok(lines and "ping_group_range" in lines[0] and "runs without ping" in lines[0],
         "it says what to change and that the daemon runs without ping", lines)
    t.ok(d.alive(), "the daemon keeps running without ping")
    d.terminate()
    h.broker.stop()
    h.broker = None


def main(h, t):
    netns = os.environ.get("NTM_PING_IN_NS") == "1"
    if not netns:
        print("LOOPBACK-ONLY FALLBACK: network namespaces are not available here "
              "(needs root and iproute2); dev-a is 127.0.0.1 and dev-d ::1, both up all hour")
    sh("sysctl", "-q", "-w", "net.ipv4.ping_group_range=1 0", check=False)
    if netns:
        forbidden_message(h, t)
    sh("sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647", check=netns)

    net = Net()
    hosts = {}
    outdir = os.path.join(h.tmp, "outbox")
    os.mkdir(outdir)
    devs = DEVICES if netns else [("dev-a", "va", 4, "127.0.0.1", set()),
                                  ("dev-d", "vd", 6, "::1", set())]
    try:
        if netns:
            for i, (dev, _v, fam, addr, _down) in enumerate(devs):
                hosts[dev] = net.make(i, fam, addr)
                link(hosts[dev], False)
        port = h.start_broker()
        cfg = h.write_config([d[1] for d in devs], [], storage={"commit_ms": 10})
        text = open(cfg).read().replace("devices: []\n", "devices:\n" + "".join(
            f"  - {{id: {dev}, kind: speaker, village: {v}, ip: \"{addr}\"}}\n"
            for dev, v, _f, addr, _d in devs))
        pdir = os.path.join(os.path.dirname(os.path.dirname(harness.gatewayd_path())),
                            "plugins", "file")
        text = text.replace("uplinks: []\n", f"plugin_dir: {pdir}\nuplinks:\n  - plugin: file\n"
                            f"    dir: {outdir}\n")
        text += "ping:\n  interval_s: 60\n  timeout_ms: 1000\nsync:\n  interval_s: 1\n  grace_s: 0\n"
        open(cfg, "w").write(text)
        clock = Clock(h)
        clock.set(T0 - 30)
        d = start(h, cfg, clock, {"NTM_TEST_PING_ROUND_MS": str(ROUND_MS)})
        print(f"broker on {port}; daemon up; stepping the world one minute at a time")
        for k in range(0, 61):
            up = [dev for dev, _v, _f, _a, down in devs if k not in down]
            cut = [dev for dev, _v, _f, _a, down in devs
                   if netns and k in down and k > 0 and (k - 1) not in down]
            for dev in cut:
                link(hosts[dev], False)
            if cut:
                time.sleep(ROUND_MS * 2 / 1000)  # a probe sent before the cut is answered now
            clock.set(T0 + 60 * k)
            for dev, _v, _f, _a, down in devs:
                if netns and k not in down and (k == 0 or (k - 1) in down):
                    link(hosts[dev], True)
            if not wait_for(t, f"step {k}: a heartbeat at T0+{k} min from each of {up}",
                            lambda: set(up) <= heartbeats_at(h, T0 + 60 * k), quiet=True):
                break
        try:
            with open(os.path.join(h.tmp, "buffer.db.state.json")) as f:
                ping_live = json.load(f)["sources"]["ping"]
        except (OSError, ValueError, KeyError):
            ping_live = {}
        t.eq({k: v.get("state") for k, v in ping_live.items()},
             {dev: ("no_reply" if dev == "dev-c" else "replying") for dev, *_ in devs}
             if netns else {dev: "replying" for dev, *_ in devs},
             "live state: ping's view of each device at the end of the hour")
        clock.set(T0 + 3600 + 60)
        wait_for(t, "the hour's rows", lambda: h.query(
            "SELECT COUNT(*) FROM latest_rows WHERE period = 'hour' AND name = 'uptime_pct' "
            "AND start = ?", (T0,))[0][0] >= len(devs))
        time.sleep(2.5)  # two sync ticks: the last batch is written
        if netns:
            # SIGHUP applies a changed ip: dev-c now names dev-a's address, which answers
            with open(cfg, "w") as f:
                f.write(text.replace('ip: "10.231.3.2"', 'ip: "10.231.1.2"'))
            d.signal(signal.SIGHUP)
            wait_for(t, "SIGHUP: the ip change is applied live",
                     lambda: "devices[2].ip" in d.stderr_text())
            clock.set(T0 + 3600 + 120)
            wait_for(t, "after SIGHUP dev-c (its new ip) answers: a heartbeat at T0+62 min",
                     lambda: "dev-c" in heartbeats_at(h, T0 + 3600 + 120))
        d.terminate()
    finally:
        net.cleanup()

    rows = dict(h.query("SELECT village, value FROM latest_rows WHERE period = 'hour' AND "
                        "name = 'uptime_pct' AND start = ?", (T0,)))
    want = {"va": 100.0, "vb": 70.0, "vc": 0.0, "vd": 95.0} if netns else \
        {"va": 100.0, "vd": 100.0}
    t.eq(rows, want, "uptime_pct of the hour, per village (= its one device)")
    # the alerts as they went upstream: the batches the `file` uplink wrote
    alerts = []
    for name in sorted(os.listdir(outdir)):
        if name.endswith(".json"):
            with open(os.path.join(outdir, name)) as f:
                for a in json.load(f).get("alerts", []):
                    at = int(datetime.datetime.fromisoformat(a["ts"]).timestamp()) - T0
                    if a["type"] in ("offline", "online") and at > 0:
                        alerts.append((a["device"], a["type"], at))
    alerts.sort(key=lambda a: (a[2], a[0]))
    want_alerts = [("dev-b", "offline", 1320), ("dev-b", "online", 2400),
                   ("dev-d", "offline", 3120), ("dev-d", "online", 3300)] if netns else []
    t.eq([tuple(a) for a in alerts], want_alerts, "offline/online alerts after T0 (s after T0)")
    rej = h.query("SELECT COUNT(*) FROM quarantine")[0][0]
    t.eq(rej, 0, "nothing rejected")
    fb = h.query("SELECT COUNT(*) FROM messages WHERE flags & 1")[0][0]
    t.eq(fb, 0, "no heartbeat counted as clock_fallback (the receive time is ping's rule)")


if __name__ == "__main__":
    if os.environ.get("NTM_PING_IN_NS") is None and can_netns():
        sh("ip", "netns", "add", NS_GW)
        try:
            sh("ip", "netns", "exec", NS_GW, "ip", "link", "set", "lo", "up")
            # IPv6 addresses stay on a link taken down (dev-d comes back with its address)
            for k in ("all", "default"):
                sh("ip", "netns", "exec", NS_GW, "sysctl", "-q", "-w",
                   f"net.ipv6.conf.{k}.keep_addr_on_down=1")
            env = dict(os.environ, NTM_PING_IN_NS="1")
            rc = subprocess.run(["ip", "netns", "exec", NS_GW, sys.executable, *sys.argv],
                                env=env).returncode
        finally:
            sh("ip", "netns", "del", NS_GW, check=False)
        sys.exit(rc)
    harness.run(main)
