#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_power_cut_order: the orderings a power cut showed wrong, one fast check
each (tests/fault/powercut.py found them; pcshim and powercut_support.py rebuild
what the disk holds at a given moment).

  1. a batch goes upstream only once the commit that formed it is on the disk:
     the daemon runs under pcshim; the moment the receiver gets the first batch
     the daemon is stopped (SIGSTOP) and the disk is rebuilt with only what was
     synced: the batch must be there with the body that was sent. (With
     synchronous=NORMAL a commit is in the page cache until the next sync; sent
     before, a cut re-forms the same seq with other content.)
  2. the reserve file is judged by its size: one left with 0 bytes (its name on
     the disk, its size not, after a cut) is made full again at start.
"""

import os
import signal
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
import powercut  # noqa: E402
import powercut_support as P  # noqa: E402
import sync_support as S  # noqa: E402

VILLAGES = ["a"]


def batch_after_durable(h, t, port, devices):
    buf = os.path.join(h.tmp, "buf1")
    os.makedirs(buf)
    rx = S.start_receiver("tok")
    tok = S.token_file(h, "tok")
    cfg = S.write_config(h, VILLAGES, devices, uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": 0}, plugin_dir_=S.plugin_dir(),
                         name="order1.yaml",
                         storage={"path": os.path.join(buf, "buffer.db"), "sync_ms": 2000})
    log = os.path.join(h.tmp, "shim1.log")
    stopped = {"pid": None, "at": None}
    enter = rx._enter

    def enter_and_stop():
        if stopped["pid"] and stopped["at"] is None:
            os.kill(stopped["pid"], signal.SIGSTOP)
            stopped["at"] = time.monotonic()
        enter()
    rx._enter = enter_and_stop
    saved = dict(os.environ)
    os.environ.update(powercut.shim_env(buf, log))
    try:
        d = h.start_daemon(cfg)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    stopped["pid"] = d.proc.pid
    # an hour closes: messages from 07:59:00 to 08:00:59 local, as fast as they go
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400 + 7 * 3600))
    h.sim("--villages", ",".join(VILLAGES), "--devices", 3, "--count", 120, "--qos", 1,
          "--start-ts", S.ts(day, 7, 59), "--step-ms", 1000)
    S.wait_for(lambda: stopped["at"] is not None, 30, "the first batch reaches the receiver")
    S.wait_for(lambda: rx.requests, 10, "the receiver recorded the request")
    req = rx.requests[0]
    disk = P.Disk({})
    disk.replay(P.read_log(log))
    img = os.path.join(h.tmp, "img1")
    disk.materialize(img, None, "min")
    on_disk = powercut.read_batches(img)
    sent = rx.batches[0] if rx.batches else None
    os.kill(d.proc.pid, signal.SIGCONT)
    t.eq(d.terminate(), 0, "the daemon exits 0 on SIGTERM")
    t.ok(sent is not None, "the receiver accepted the first batch", repr(req))
    seq = sent["seq"] if sent else None
    t.ok(seq in on_disk, f"batch {seq} was on the disk (synced) when it reached the receiver",
         f"synced batches: {sorted(on_disk)}")
    t.ok(seq in on_disk and on_disk[seq]["created_at"] == sent["created_at"],
         "the batch on the disk is the one sent (same created_at)")
    rx.stop()


def reserve_by_size(h, t, port, devices):
    buf = os.path.join(h.tmp, "buf2")
    os.makedirs(buf)
    db = os.path.join(buf, "buffer.db")
    open(db + "-reserve", "wb").close()  # what a cut can leave: the name, 0 bytes
    cfg = h.write_config(VILLAGES, devices, name="order2.yaml", storage={"path": db})
    d = h.start_daemon(cfg)
    size = os.path.getsize(db + "-reserve")
    t.eq(d.terminate(), 0, "the daemon exits 0 on SIGTERM")
    t.ok(size >= 256 << 10, f"a reserve file of 0 bytes is made full again at start ({size} "
         "bytes; at least 256 KiB)")


def main(h, t):
    port = h.start_broker()
    devices = h.sim_devices(VILLAGES, 3)
    batch_after_durable(h, t, port, devices)
    reserve_by_size(h, t, port, devices)


if __name__ == "__main__":
    harness.run(main)
