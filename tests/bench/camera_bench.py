#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""camera_bench.py [N] [SECONDS]: the camera source's cost. Runs camera-driver
(the source on a loop with the daemon's HTTP client) against N Dahua
stand-ins (tests/tools/camera_standin.py, default 100), each sending one
event a second on its own stream, and the same driver with no camera; prints
the driver's CPU (% of one core) and resident memory for both, and the
differences. Figures are of this machine and this run only."""

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


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
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
