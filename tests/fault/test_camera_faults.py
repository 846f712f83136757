#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_camera_faults: cameras that misbehave, under the real daemon, while a
good camera sends 40 events and ntm-sim publishes 2,000 valid and 200 invalid
MQTT messages (tests/tools/camera_standin.py speaks the cameras):

- a camera that refuses the account (401 forever): asked once (the digest
  round: two requests) in the whole test, since the retry after a refusal
  waits 5 minutes; logged in one line;
- a camera that trickles one byte of a never-ending part every 0.2 s: the
  stream is silent (nothing readable) past 1.5 x keepalive_s, closed and
  reopened, logged once however often it happens;
- a camera that sends one 100 MB part without Content-Length, then an event:
  passed over with bounded memory (the daemon's peak RSS grows by less than
  16 MiB), counted, logged once, and the event after it is read;
- the good camera's 40 events and every valid MQTT message are in the buffer,
  every invalid one in the quarantine: nothing of another source was lost;
- SIGHUP moves the refusing camera to a stand-in that accepts (events.port,
  live): its stream opens without a restart.
"""

import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import harness  # noqa: E402
from camera_standin import Camera  # noqa: E402

VILLAGES = ["thon-1"]
N_VALID, N_INVALID = 2000, 200
N_GOOD_EVENTS = 40
BIG = 100 * 1000 * 1000


def vm(pid, key):
    """VmRSS / VmHWM of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def lines_of(log, dev, words):
    return [l for l in log.splitlines() if dev in l and words in l]


def cam_yaml(dev, brand, port, pw, keepalive_s):
    return (f"  - {{id: {dev}, kind: camera, village: thon-1,\n"
            f"     events: {{api: {brand}, host: 127.0.0.1, port: {port}, user: ntm, password_file: {pw}, "
            f"keepalive_s: {keepalive_s}}}}}\n")


def main(h, t):
    h.start_broker()
    cams = {
        "good": Camera("dahua", keepalive_s=1),
        "refuse": Camera("hikvision", auth="refuse"),
        "trickle": Camera("hikvision"),
        "big": Camera("dahua", keepalive_s=1),
        "later": Camera("hikvision", keepalive_s=1),  # where SIGHUP moves "refuse"
    }
    cams["good"].push([("keepalive",), ("wait", "go")] +
                      [("event", "VideoMotion", "Start", 0), ("sleep", 0.05)] * N_GOOD_EVENTS +
                      [("keepalives", 1)])
    cams["trickle"].push([("trickle", 0.2)])
    cams["big"].push([("keepalive",), ("wait", "go"), ("big", BIG, False),
                      ("event", "VideoLoss", "Start", 0), ("keepalives", 1)])
    cams["big"].push([("keepalives", 1)])
    cams["later"].push([("keepalives", 1)])
    try:
        for c in cams.values():
            c.start()
        run(h, t, cams)
    finally:
        for c in cams.values():
            c.stop()


def run(h, t, cams):
    pw = h.write_file("cameras.pass", "secret\n")
    os.chmod(pw, 0o600)
    sim_devs = h.sim_devices(VILLAGES, 3)
    devices = "devices:\n" + "".join(
        f"  - {{id: {d[0]}, kind: {d[1]}, village: {d[2]}}}\n" for d in sim_devs)
    cams_yaml = (cam_yaml("cam-good", "dahua", cams["good"].port, pw, 2) +
                 cam_yaml("cam-trickle", "hikvision", cams["trickle"].port, pw, 2) +
                 cam_yaml("cam-big", "dahua", cams["big"].port, pw, 5))
    refuse = cam_yaml("cam-refuse", "hikvision", cams["refuse"].port, pw, 30)
    cfg = h.write_config(VILLAGES, ())
    with open(cfg, encoding="utf-8") as f:
        base = f.read()
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(base.replace("devices: []\n", devices + cams_yaml + refuse))
    d = h.start_daemon(cfg)
    pid = d.proc.pid

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (cams["good"].streams and cams["big"].streams):
        time.sleep(0.05)
    t.require(cams["good"].streams == 1 and cams["big"].streams == 1,
              "the good and the big camera's streams are open")
    rss0 = vm(pid, "VmRSS")

    for c in cams.values():
        c.go("go")
    p, exp = h.sim("--villages", ",".join(VILLAGES), "--devices", len(sim_devs), "--count",
                   N_VALID, "--invalid", N_INVALID, "--qos", 1, "--seed", 7)
    t.eq(exp["valid_total"], N_VALID, "ntm-sim sent its valid messages")
    d.wait_status(lambda s: s["rejected"] == N_INVALID, 60, f"rejected {N_INVALID}")
    # the trickling camera goes silent (3 s) and is reopened twice; the big part goes by
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            cams["trickle"].streams < 3 or "a part larger than" not in d.stderr_text()):
        time.sleep(0.1)
    time.sleep(1.5)  # the event after the big part
    hwm = vm(pid, "VmHWM")
    print(f"daemon RSS before the faults {rss0} KiB, peak {hwm} KiB")
    t.ok(hwm - rss0 < 16 * 1024,
         f"a 100 MB part costs bounded memory: peak RSS {hwm} KiB, {hwm - rss0} KiB over "
         f"the {rss0} KiB before it")

    # ntmctl devices: per camera, its stream connected or not, since when, the last error
    time.sleep(1.2)  # the live state is written once a second
    # (the detail view of one device names each source that hears it, its state,
    # since when, and its last error: the same line `devices` prints under the row)
    good = h.ctl("--config", cfg, "devices", "cam-good").stdout_text
    refused = h.ctl("--config", cfg, "devices", "cam-refuse").stdout_text
    print(good + refused)
    t.ok(re.search(r"cameras connected since \S", good) is not None,
         "ntmctl devices: the good camera's stream is connected, and since when", good)
    t.ok(re.search(r"cameras failing since \S.*credentials refused \(HTTP 401\)", refused)
         is not None, "ntmctl devices: the refusing camera is failing, with its last error",
         refused)
    out = h.ctl("--config", cfg, "devices").stdout_text
    t.ok("cameras connected since" in out and "credentials refused" in out,
         "ntmctl devices (the table, cut at 80 columns) says the same under each camera's row", out)
    js = json.loads(h.ctl("--config", cfg, "--json", "devices").stdout_text)
    st = {x["device"]: x.get("sources", {}).get("cameras") for x in js}
    t.eq((st["cam-good"]["state"], st["cam-good"]["last_error"]), ("connected", None),
         "ntmctl --json devices: the good camera's stream")
    t.ok(st["cam-refuse"]["state"] == "failing" and st["cam-refuse"]["since_ms"] > 0 and
         "401" in st["cam-refuse"]["last_error"], "ntmctl --json devices: the refusing camera's",
         str(st["cam-refuse"]))
    t.ok(all(st[x[0]] is None for x in sim_devs), "MQTT devices have no stream")

    # SIGHUP: the refusing camera's stream moves to a stand-in that accepts (live)
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(base.replace("devices: []\n", devices + cams_yaml +
                             refuse.replace(f"port: {cams['refuse'].port}",
                                            f"port: {cams['later'].port}")))
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and cams["later"].streams == 0:
        time.sleep(0.05)
    t.eq(cams["later"].streams, 1, "SIGHUP: the camera's new port is used without a restart")
    time.sleep(0.5)
    log = d.stderr_text()
    t.ok(any("SIGHUP: applied" in l and "devices[" in l and "events.port" in l
             for l in log.splitlines()), "SIGHUP logs events.port as applied live")
    t.eq(len(lines_of(d.stderr_text(), "cam-refuse", "closed: the configuration no longer")), 1,
         "SIGHUP: the old stream's closing is logged once")
    rc = d.terminate()
    t.eq(rc, 0, "the daemon stops cleanly")
    log = d.stderr_text()

    def lines(dev, words):
        return [l for l in log.splitlines() if dev in l and words in l]

    # 401 forever: slow retry, one line
    t.eq(cams["refuse"].statuses(), [401, 401],
         "the refusing camera was asked once in the whole test (challenge and refusal)")
    t.eq(len(lines("cam-refuse", "credentials refused (HTTP 401)")), 1,
         "the refusal is logged in one line, naming the device")
    t.ok(all("DEVICE=cam-refuse" in l and "VILLAGE=thon-1" in l
             for l in lines("cam-refuse", "credentials refused")),
         "the line has DEVICE= and VILLAGE=")
    # trickle: closed and reopened, logged once
    t.ok(cams["trickle"].streams >= 3, f"the trickling stream was reopened "
                                       f"({cams['trickle'].streams} streams)")
    t.eq(len(lines("cam-trickle", "nothing readable")), 1,
         "its silence is logged once however often it recurs")
    # the big part
    t.eq(len(lines("cam-big", "a part larger than 16384 bytes")), 1,
         "the 100 MB part is passed over and logged once")
    t.ok("secret" not in log, "the password never appears in the log")

    rows = h.query("SELECT d.name, m.channel, COUNT(*) FROM messages m JOIN devices d "
                   "ON d.id = m.device GROUP BY d.name, m.channel")
    events = {n: c for n, ch, c in rows if ch == 2}
    t.eq(events.get("cam-good"), N_GOOD_EVENTS, "every event of the good camera is in the buffer")
    t.eq(events.get("cam-big"), 1, "the event after the 100 MB part is read")
    per_dev = {}
    for n, ch, c in rows:
        per_dev[n] = per_dev.get(n, 0) + c
    t.eq({n: per_dev.get(n, 0) for n in exp["valid"]}, exp["valid"],
         "every valid MQTT message is in the buffer under its device (none lost)")
    q = h.query("SELECT COUNT(*) FROM quarantine")[0][0]
    t.eq(q, N_INVALID, "every invalid MQTT message is in the quarantine, and nothing else")


if __name__ == "__main__":
    harness.run(main)
