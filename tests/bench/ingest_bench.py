#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""ingest_bench.py: the durable ingest rate of ntm-gatewayd next to a raw
`mosquitto_sub` reading the same load from the same broker, in the same run.

Method ("backlog"): N QoS 1 messages from 100 simulated devices in 3 villages
are published into a persistent session while its subscriber is away; then the
subscriber starts and the time until it holds all N is measured. For the raw
baseline the subscriber is `mosquitto_sub -c -q 1 -C N`; for the daemon, the
time from its start until all N are committed in its database. This isolates
how fast each consumes, since the broker's delivery rate is the same for both.

Also printed: the daemon's peak RSS (VmHWM), the bytes it wrote to disk per
message (/proc/PID/io write_bytes, page cache writes included) and the stored
size of one normalized record (SQLite's dbstat), and their ratio.

Usage: tests/bench/ingest_bench.py [--messages N] [--build DIR]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402


def proc_io(pid):
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k.strip()] = int(v)
    return out


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def smaps_rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out


def publish(h, n, devices_args, start_ts):
    p, exp = h.sim(*devices_args, "--count", n, "--qos", 1, "--rate", 0, "--start-ts",
                   start_ts, "--step-ms", 10, "--seed", 7, "-q")
    assert exp["acked"] == n, f"only {exp['acked']} of {n} acknowledged"
    return p.elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--build", default=None, help="build dir (default: build)")
    args = ap.parse_args()
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    build = os.path.abspath(args.build or os.path.join(root, "build"))
    os.environ.setdefault("NTM_GATEWAYD", os.path.join(build, "daemon", "ntm-gatewayd"))
    os.environ.setdefault("NTM_CTL", os.path.join(build, "daemon", "ctl", "ntmctl"))
    os.environ.setdefault("NTM_SIM", os.path.join(build, "tests", "tools", "ntm-sim"))
    n = args.messages
    villages = ["thon-1", "thon-2", "thon-3"]
    h = harness.Harness("ingest-bench")
    try:
        port = h.start_broker()
        devices = h.sim_devices(villages, 100)
        dev_args = ["--villages", ",".join(villages), "--devices", 100]
        start_ts = int(time.time()) - 3600

        # raw baseline: a persistent mosquitto_sub session, filled while away
        sub = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-c", "-i",
               "bench-raw", "-t", "ntm/v1/#"]
        subprocess.run(sub + ["-E"], check=True, timeout=30)
        publish(h, n, dev_args, start_ts)
        t0 = time.monotonic()
        subprocess.run(sub + ["-C", str(n)], check=True, timeout=600, stdout=subprocess.DEVNULL)
        raw_s = time.monotonic() - t0
        subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-i", "bench-raw",
                        "-t", "ntm/v1/#", "-E"], check=True, timeout=30)  # clean session: drop it

        # the daemon: its session made, then filled while it is stopped
        cfg = h.write_config(villages, devices, mqtt={"client_id": "bench-gw"})
        d = h.start_daemon(cfg)
        d.terminate()
        publish(h, n, dev_args, start_ts)
        d = h.start_daemon(cfg, ready=False)
        t0 = time.monotonic()
        pid = d.proc.pid
        db = None
        count = 0
        peak = 0
        deadline = t0 + 600
        while time.monotonic() < deadline:
            peak = max(peak, vm_hwm_kib(pid))
            try:
                if db is None:
                    db = h.db()
                count = db.execute("SELECT value FROM counters WHERE name='accepted'").fetchone()
                count = count[0] if count else 0
            except Exception:
                count = 0
            if count >= n:
                break
            time.sleep(0.005)
        gw_s = time.monotonic() - t0
        io_before = proc_io(pid)
        peak = max(peak, vm_hwm_kib(pid))
        rollup = smaps_rollup(pid)
        d.terminate()
        db.close()
        assert count >= n, f"the daemon stored {count} of {n}"
        import re
        m = re.search(r"(\d+) commits this run, ([\d.]+) ms on average, the longest ([\d.]+) ms",
                      d.stderr_text())
        commits = m.groups() if m else ("?", "?", "?")
        rec = h.query("SELECT sum(pgsize), (SELECT count(*) FROM messages) FROM dbstat"
                      " WHERE name = 'messages'")[0]
        record_bytes = rec[0] / rec[1]
        wb = io_before["write_bytes"] / n
        wc = io_before["wchar"] / n

        print()
        print("| figure | value |")
        print("| --- | --- |")
        print(f"| messages | {n} from 100 devices in 3 villages, QoS 1, backlog method |")
        print(f"| raw mosquitto_sub | {n / raw_s:,.0f} msg/s ({raw_s:.2f} s) |")
        print(f"| ntm-gatewayd, durable (committed) | {n / gw_s:,.0f} msg/s ({gw_s:.2f} s) |")
        print(f"| ratio daemon / raw | {raw_s / gw_s:.2f} (aim >= 0.8) |")
        print(f"| daemon peak RSS (VmHWM) | {peak / 1024:.1f} MiB (aim <= 12) |")
        print(f"| of which private dirty / PSS (smaps_rollup) | "
              f"{rollup.get('Private_Dirty', 0) / 1024:.1f} MiB / {rollup.get('Pss', 0) / 1024:.1f}"
              " MiB (the rest: shared library pages) |")
        print(f"| stored record size (dbstat, messages table) | {record_bytes:.1f} bytes |")
        print(f"| disk writes per message (write_bytes) | {wb:.1f} bytes = "
              f"{wb / record_bytes:.2f} x record (aim <= 3) |")
        print(f"| write() bytes per message (wchar) | {wc:.1f} bytes |")
        print(f"| commits (the loop is not reading meanwhile) | {commits[0]}, "
              f"{commits[1]} ms on average, the longest {commits[2]} ms |")
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
