#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""sources_bench.py [SECONDS] [N_DEVICES] [MSG_PER_S]: the cost of the ping and
mapping sources (issue 11). Runs in a network namespace of its own (re-executed
under `ip netns exec`, root needed) where it allows unprivileged ICMP sockets;
the devices are 127.0.x.y addresses (loopback answers all of 127/8).

  idle    the daemon with N_DEVICES (default 1000) declared devices, no `ip`, no traffic
  active  the same devices with `ip`, ping.interval_s 10, and MSG_PER_S (default 200)
          messages a second on a mapped topic (acme/<device>/status, JSON, a
          heartbeat mapping with `when` and a scaled field)

For each: the daemon's CPU over SECONDS (default 60) after a 10 s warm-up, as % of
one core and per minute, and its resident memory (VmRSS) at the end. Then the
ingest ratio: the same number of messages at full speed on own-contract topics
and on the mapped topic, each measured as the daemon's CPU seconds per message;
the ratio is own CPU per message / mapped CPU per message (>= 0.8 is the aim).
Figures are of this machine and this run only."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
RATE = int(sys.argv[3]) if len(sys.argv) > 3 else 200
BURST = 20000

MAPPING = """mappings:
  - name: acme
    topic: "acme/{device}/status"
    channel: heartbeat
    when: {kind: beat}
    fields:
      uptime_s: {from: "stat.up_min", scale: 60}
"""


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dev(i):
    return f"spk-{i:04d}", f"127.0.{i // 250}.{i % 250 + 1}"


def config(h, name, ip):
    cfg = h.write_config(["va"], [], name=name,
                         storage={"path": os.path.join(h.tmp, name + ".db")})
    lines = "".join(f"  - {{id: {d}, kind: speaker, village: va{', ip: ' + a if ip else ''}}}\n"
                    for d, a in map(dev, range(N)))
    text = open(cfg).read().replace("devices: []\n", "devices:\n" + lines)
    text += "ping:\n  interval_s: 10\n" + MAPPING
    open(cfg, "w").write(text)
    return cfg


class Publisher:
    def __init__(self, h, rate):
        self.p = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port),
                                   "-q", "1", "-t", "acme/spk-0000/status", "-l"],
                                  stdin=subprocess.PIPE)
        self.rate = rate

    def run_for(self, seconds):
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < seconds:
            due = int((time.monotonic() - t0) * self.rate)
            while n < due:
                self.p.stdin.write(b'{"kind": "beat", "stat": {"up_min": %d}}\n' % n)
                n += 1
            self.p.stdin.flush()
            time.sleep(0.01)
        return n

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


def measure(h, cfg, traffic):
    d = h.start_daemon(cfg)
    pid = d.proc.pid
    pub = Publisher(h, RATE) if traffic else None
    if pub:
        pub.run_for(10)
    else:
        time.sleep(10)
    c0, t0 = cpu_s(pid), time.monotonic()
    if pub:
        pub.run_for(SECONDS)
        pub.close()
    else:
        time.sleep(SECONDS)
    c1, t1 = cpu_s(pid), time.monotonic()
    rss = rss_kib(pid)
    d.terminate()
    return (c1 - c0) / (t1 - t0) * 100, rss


def burst(h, cfg, topic_payload):
    d = h.start_daemon(cfg)
    pid = d.proc.pid
    c0 = cpu_s(pid)
    lines = b"".join(topic_payload(i) for i in range(BURST))
    topic, _ = topic_payload(None)
    p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1",
                        "-t", topic, "-l"], input=lines, timeout=300)
    assert p.returncode == 0
    d.wait_counts(accepted=BURST, timeout=300)
    c1 = cpu_s(pid)
    d.terminate()
    return (c1 - c0) / BURST


def main(h, t):
    h.start_broker()
    print(f"{N} devices, ping.interval_s 10, {RATE} mapped msg/s, {SECONDS} s per phase")
    idle_cpu, idle_rss = measure(h, config(h, "idle.yaml", False), False)
    act_cpu, act_rss = measure(h, config(h, "active.yaml", True), True)
    print(f"idle:   CPU {idle_cpu:.2f} % of one core ({idle_cpu * 0.6:.2f} s/min), "
          f"RSS {idle_rss / 1024:.1f} MiB")
    print(f"active: CPU {act_cpu:.2f} % of one core ({act_cpu * 0.6:.2f} s/min), "
          f"RSS {act_rss / 1024:.1f} MiB")
    print(f"active - idle: CPU {act_cpu - idle_cpu:+.2f} % of one core, "
          f"RSS {(act_rss - idle_rss) / 1024:+.2f} MiB")

    def own(i):
        if i is None:
            return "ntm/v1/va/speaker/spk-0001/heartbeat", None
        return b'{"interval_s": 60, "uptime_s": %d}\n' % (i * 60)

    def mapped(i):
        if i is None:
            return "acme/spk-0001/status", None
        return b'{"kind": "beat", "stat": {"up_min": %d}}\n' % i

    c_own = burst(h, config(h, "own.yaml", False), own)
    c_map = burst(h, config(h, "map.yaml", False), mapped)
    print(f"ingest of {BURST} messages: own contract {c_own * 1e6:.1f} us CPU/msg, mapped "
          f"{c_map * 1e6:.1f} us CPU/msg; mapped vs own throughput ratio {c_own / c_map:.2f}")
    t.ok(True, "measured")


if __name__ == "__main__":
    ns = f"ntm-bench-{os.getpid()}"
    if os.environ.get("NTM_BENCH_IN_NS") is None:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                           check=True)
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                            "net.ipv4.ping_group_range=0 2147483647"], check=True)
            rc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, *sys.argv],
                                env=dict(os.environ, NTM_BENCH_IN_NS="1")).returncode
        finally:
            subprocess.run(["ip", "netns", "del", ns])
        sys.exit(rc)
    harness.run(main)
