#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_sources_crash.py: kill -9 in the middle of pings and mapped messages (issue 11).

Runs in a network namespace of its own (re-executed under `ip netns exec`; root)
where unprivileged ICMP is allowed; 20 devices are pinged at 127.0.0.x (loopback
answers them all) with a short round (NTM_TEST_PING_ROUND_MS=200), while 2,000
messages of a made-up vendor format, each with its own sequence number, are
published (QoS 1) on a mapped topic. The daemon is killed with SIGKILL half way
through, restarted on the same buffer and broker session, and the rest is sent.

Checked: every mapped message is in the buffer exactly once (the sequence numbers
0..1999, none missing, none twice: the broker's persistent session redelivers what
the killed daemon had not acknowledged, and the buffer's recovery keeps what it
had); pings go on after the restart (heartbeats from every device after it); nothing
is rejected; the restarted daemon exits 0 on SIGTERM.
Without namespaces (not root), the test says so and checks the mappings only.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

N_DEV = 20
N_MSG = 2000
MAPPING = """mappings:
  - name: acme
    topic: "acme/{device}/status"
    channel: heartbeat
    fields:
      uptime_s: {from: seq}
"""


def main(h, t):
    netns = os.environ.get("NTM_CRASH_IN_NS") == "1"
    if not netns:
        print("NO NAMESPACE: not root or no iproute2; the mappings are checked, ping is not")
    h.start_broker()
    cfg = h.write_config(["va"], [], storage={"commit_ms": 20})
    devs = "".join(f"  - {{id: spk-{i:02d}, kind: speaker, village: va"
                   f"{', ip: 127.0.0.' + str(i + 2) if netns else ''}}}\n" for i in range(N_DEV))
    text = open(cfg).read().replace("devices: []\n", "devices:\n" + devs)
    open(cfg, "w").write(text + "ping:\n  interval_s: 10\n" + MAPPING)
    os.environ["NTM_TEST_PING_ROUND_MS"] = "200"
    d = h.start_daemon(cfg)

    def seqs():
        return [r[0] for r in h.query(
            "SELECT m.uptime_s FROM messages m JOIN devices d ON d.id = m.device "
            "WHERE d.name = 'spk-00' AND m.uptime_s IS NOT NULL ORDER BY m.uptime_s")]
    lines = b"".join(b'{"seq": %d}\n' % i for i in range(N_MSG))
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1",
                            "-t", "acme/spk-00/status", "-l"], stdin=subprocess.PIPE)
    pub.stdin.write(lines[: len(lines) // 2])
    pub.stdin.flush()
    end = time.monotonic() + 30
    while time.monotonic() < end and len(seqs()) < N_MSG // 5:
        time.sleep(0.01)
    d.kill()
    at = len(seqs())
    print(f"killed with SIGKILL with {at} mapped messages in the buffer, the publisher running")
    pub.stdin.write(lines[len(lines) // 2:])
    pub.stdin.close()
    d2 = h.start_daemon(cfg)
    t_restart = int(time.time())
    pub.wait(120)
    end = time.monotonic() + 60
    while time.monotonic() < end and len(seqs()) < N_MSG:
        time.sleep(0.2)
    time.sleep(1.5)  # a duplicate would come now
    got = seqs()
    t.eq(len(got), N_MSG, "as many mapped messages stored as published")
    t.eq(got, list(range(N_MSG)), "each sequence number exactly once")
    if netns:
        after = {r[0] for r in h.query(
            "SELECT d.name FROM messages m JOIN devices d ON d.id = m.device "
            "WHERE m.uptime_s IS NULL AND m.ts >= ?", (t_restart,))}
        t.eq(len(after), N_DEV, "every pinged device heard again after the restart")
    t.eq(h.query("SELECT COUNT(*) FROM quarantine")[0][0], 0, "nothing rejected")
    d2.terminate()
    t.eq(d2.returncode, 0, "the restarted daemon exits 0")


if __name__ == "__main__":
    if os.environ.get("NTM_CRASH_IN_NS") is None and os.geteuid() == 0 and shutil.which("ip"):
        ns = f"ntm-crash-{os.getpid()}"
        if subprocess.run(["ip", "netns", "add", ns]).returncode == 0:
            try:
                subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                               check=True)
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                                "net.ipv4.ping_group_range=0 2147483647"], check=True)
                rc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, *sys.argv],
                                    env=dict(os.environ, NTM_CRASH_IN_NS="1")).returncode
            finally:
                subprocess.run(["ip", "netns", "del", ns])
            sys.exit(rc)
    harness.run(main)
