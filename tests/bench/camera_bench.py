#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""camera_bench.py [--daemon] [N] [SECONDS]: the camera source's cost. Runs
camera-driver (the source on a loop with the daemon's HTTP client) against N
Dahua stand-ins (tests/tools/camera_standin.py, default 100), each sending one
event a second on its own stream, and the same driver with no camera; prints
the driver's CPU (% of one core) and resident memory for both, and the
differences. With --daemon, the real ntm-gatewayd instead (a mosquitto of its
own, the N cameras in the inventory with events:, every message through the
gate into the buffer), next to the same daemon whose inventory has the N
cameras without events:. Figures are of this machine and this run only."""

import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tools"))
from camera_standin import Camera  # noqa: E402


def driver_path():
    p = os.environ.get("NTM_CAMERA_DRIVER")
    if p:
        return p
    root = os.path.abspath(os.path.join(here, "..", ".."))
    return os.path.join(root, "build", "tests", "integration", "camera-driver")


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


def measure(devices, seconds, warmup=5.0):
    args = [driver_path()]
    for d in devices:
        args += ["--device", d]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    count = [0]

    def read():
        for _ in p.stdout:
            count[0] += 1

    import threading
    threading.Thread(target=read, daemon=True).start()
    time.sleep(warmup)
    c0, n0, t0 = cpu_s(p.pid), count[0], time.monotonic()
    time.sleep(seconds)
    c1, n1, t1 = cpu_s(p.pid), count[0], time.monotonic()
    rss = rss_kib(p.pid)
    p.terminate()
    p.wait(20)
    return 100.0 * (c1 - c0) / (t1 - t0), rss, (n1 - n0) / (t1 - t0)


def sample(pid, seconds, warmup=5.0):
    time.sleep(warmup)
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_s(pid), time.monotonic()
    return 100.0 * (c1 - c0) / (t1 - t0), rss_kib(pid)


def measure_daemon(h, cams, pw, with_events, seconds):
    """The daemon's CPU and RSS with the cameras in its inventory, with or without events:."""
    cfg = h.write_config(["thon-1"], (), name=f"bench-{with_events}.yaml",
                         storage={"path": os.path.join(h.tmp, f"bench-{with_events}.db")})
    lines = ["devices:"]
    for i, c in enumerate(cams):
        ev = (f", events: {{api: dahua, host: 127.0.0.1, port: {c.port}, user: ntm, "
              f"password_file: {pw}}}" if with_events else "")
        lines.append(f"  - {{id: cam-{i:03d}, kind: camera, village: thon-1{ev}}}")
    with open(cfg, encoding="utf-8") as f:
        text = f.read().replace("devices: []\n", "\n".join(lines) + "\n")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(text)
    d = h.start_daemon(cfg)
    cpu, rss = sample(d.proc.pid, seconds)
    st = d.status
    d.terminate()
    return cpu, rss, st["accepted"] if st else None


def main_daemon(n, seconds):
    sys.path.insert(0, os.path.join(here, "..", "integration"))
    import harness
    h = harness.Harness("camera_bench")
    h.start_broker()
    pw = h.write_file("cameras.pass", "ntm:secret\n")
    cams = []
    for _ in range(n):
        c = Camera("dahua")
        c.last_script = [("every", 1.0, ("event", "VideoMotion", "Start", 0))]
        c.start()
        cams.append(c)
    try:
        base_cpu, base_rss, _ = measure_daemon(h, cams, pw, False, seconds)
        cpu, rss, accepted = measure_daemon(h, cams, pw, True, seconds)
    finally:
        for c in cams:
            c.stop()
        h.cleanup()
    print(f"daemon, {n} cameras without events: CPU {base_cpu:5.2f} % of one core, "
          f"RSS {base_rss / 1024:6.2f} MiB")
    print(f"daemon, {n} camera streams:         CPU {cpu:5.2f} % of one core, "
          f"RSS {rss / 1024:6.2f} MiB ({accepted} messages accepted in all)")
    print(f"difference:  CPU {cpu - base_cpu:+5.2f} % of one core, "
          f"RSS {(rss - base_rss) / 1024:+6.2f} MiB, ratio CPU x{cpu / max(base_cpu, 0.01):.1f}, "
          f"RSS x{rss / max(base_rss, 1):.2f}")


def main():
    args = [a for a in sys.argv[1:] if a != "--daemon"]
    n = int(args[0]) if len(args) > 0 else 100
    seconds = float(args[1]) if len(args) > 1 else 30.0
    if "--daemon" in sys.argv[1:]:
        main_daemon(n, seconds)
        return
    pw = f"/tmp/camera-bench-{os.getpid()}.pass"
    with open(pw, "w") as f:
        f.write("ntm:secret\n")
    cams = []
    for i in range(n):
        c = Camera("dahua")
        c.last_script = [("every", 1.0, ("event", "VideoMotion", "Start", 0))]
        c.start()
        cams.append(c)
    devs = [f"cam-{i:03d},thon-1,dahua,127.0.0.1,{c.port},ntm,{pw},1,30"
            for i, c in enumerate(cams)]
    base_cpu, base_rss, _ = measure([], seconds)
    cpu, rss, rate = measure(devs, seconds)
    for c in cams:
        c.stop()
    os.unlink(pw)
    print(f"no camera:   CPU {base_cpu:5.2f} % of one core, RSS {base_rss / 1024:6.2f} MiB")
    print(f"{n} cameras: CPU {cpu:5.2f} % of one core, RSS {rss / 1024:6.2f} MiB, "
          f"{rate:.0f} messages/s emitted")
    print(f"difference:  CPU {cpu - base_cpu:+5.2f} % of one core, RSS {(rss - base_rss) / 1024:+6.2f} MiB")


if __name__ == "__main__":
    main()
