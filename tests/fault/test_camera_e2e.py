#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_camera_e2e: a scripted hour of 20 cameras' own event streams, through
the real daemon, camera stand-ins (tests/tools/camera_standin.py, Hikvision
and Dahua with digest authentication) and the provincial receiver
(tests/tools/receiver.py): the indicator rows and alerts the province gets are
compared with values computed BY HAND from the script below.

Time: a camera event's time is the gateway's receive time (sources.md 3), so
the daemon runs under tests/fault/clockshim.c (LD_PRELOAD), its wall clock set
to 2026-11-20 08:59:50 (+07:00), synchronized. The streams open then (each
open stream is a heartbeat with interval_s = keepalive_s = 3600, so every
camera that connects is online the whole of hour 09); the clock is moved to
09:00:10 and the cameras send their events; then to 10:01:30, where one more
event moves the watermark past 10:00 + grace_s (60 s) and hour 09 closes.

The 20 cameras: 9 Hikvision and 8 Dahua cameras on their own, and 3 channels
of one Hikvision NVR (one stream for the three). One Dahua camera refuses the
account (401 forever): it is never online.
"""

import datetime
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import harness  # noqa: E402
import sync_support as S  # noqa: E402
from camera_standin import Camera  # noqa: E402

DAY = "2026-11-20"
TOKEN = "cam-e2e-Token_0123456789"
GRACE_S = 60
KEEPALIVE_S = 3600


def T(hh, mm=0, ss=0):
    return S.ts(DAY, hh, mm, ss)


VILLAGES = ["thon-dong", "thon-tay", "thon-bac"]

# id -> (village, brand, stand-in, channel); "nvr" is one stand-in for three devices
CAMERAS = {}
for i in range(1, 6):
    CAMERAS[f"h0{i}"] = ("thon-dong", "hikvision", f"h0{i}", 1)
for i in range(6, 10):
    CAMERAS[f"h0{i}"] = ("thon-tay", "hikvision", f"h0{i}", 1)
for i in (1, 2):
    CAMERAS[f"d0{i}"] = ("thon-dong", "dahua", f"d0{i}", 1)
for i in (3, 4, 5):
    CAMERAS[f"d0{i}"] = ("thon-tay", "dahua", f"d0{i}", 1)
for i in (6, 7, 8):
    CAMERAS[f"d0{i}"] = ("thon-bac", "dahua", f"d0{i}", 1)
for ch in (1, 2, 3):
    CAMERAS[f"nvr-{ch}"] = ("thon-bac", "hikvision", "nvr", ch)
assert len(CAMERAS) == 20
REFUSED = "d08"

# What each stand-in sends in hour 09, in the brands' own words.
# Hikvision: (eventType, eventState, channelID); Dahua: (Code, action, index 0-based)
HOUR9 = {
    "h01": [("VMD", "active", 1)] * 3 + [("VMD", "inactive", 1)],   # repeats: 1 motion
    "h02": [("tamperdetection", "active", 1)],                        # 1 tamper
    "h03": [("videoloss", "active", 1), ("videoloss", "inactive", 1)],  # 1 video_loss
    "h04": [("shelteralarm", "active", 1), ("linedetection", "active", 1)],  # 1 tamper, ignored
    "h05": [("diskfull", "active", 1)],                               # storage_error
    "h06": [("VMD", "active", 1), ("VMD", "inactive", 1), ("VMD", "active", 1)],  # 2 motion
    "h07": [],
    "h08": ["garbage", ("VMD", "active", 1)],                         # malformed, 1 motion
    "h09": [("videoloss", "active", 1)],                              # 1 video_loss
    "d01": [("VideoMotion", "Start", 0), ("VideoMotion", "Stop", 0)],  # 1 motion
    "d02": [("VideoBlind", "Start", 0)],                              # 1 tamper
    "d03": [("VideoLoss", "Start", 0), ("VideoLoss", "Stop", 0)],     # 1 video_loss
    "d04": [("StorageFailure", "Start", 0)],                          # storage_error
    "d05": [("VideoMotion", "Start", 0), ("VideoMotion", "Stop", 0),
            ("VideoMotion", "Start", 0)],                             # 2 motion
    "d06": [],
    "d07": [("VideoMotion", "Start", 0), ("AlarmLocal", "Start", 0)],  # 1 motion, ignored
    "d08": [],
    # the NVR: motion on channel 2, tamper on 3, video loss on 1, a disk error
    # (the recorder's: every channel's), motion on channel 5 (no device there)
    "nvr": [("VMD", "active", 2), ("tamperdetection", "active", 3), ("videoloss", "active", 1),
            ("diskerror", "active", 1), ("VMD", "active", 5)],
}

# By hand, from HOUR9: the hour 09 rows per village (cameras)
WANT_ROWS = {
    # motion h01 1 + d01 1; tamper h02, h04, d02; video loss h03; all 7 online
    "thon-dong": {"uptime_pct": 100.0, "motion_events": 2, "tamper_events": 3,
                  "video_loss_events": 1},
    # motion h06 2 + h08 1 + d05 2; video loss h09, d03; all 7 online
    "thon-tay": {"uptime_pct": 100.0, "motion_events": 5, "tamper_events": 0,
                 "video_loss_events": 2},
    # motion d07 + nvr-2; tamper nvr-3; video loss nvr-1; d08 never online: 5/6
    "thon-bac": {"uptime_pct": 83.33, "motion_events": 2, "tamper_events": 1,
                 "video_loss_events": 1},
}
WANT_DEVICES = {"thon-dong": 7, "thon-tay": 7, "thon-bac": 6}
# By hand: the alerts of hour 09, (device, type)
WANT_ALERTS = sorted([
    ("h02", "tamper"), ("h04", "tamper"), ("d02", "tamper"), ("nvr-3", "tamper"),
    ("h03", "video_loss"), ("h09", "video_loss"), ("d03", "video_loss"), ("nvr-1", "video_loss"),
    ("h05", "storage_error"), ("d04", "storage_error"),
    ("nvr-1", "storage_error"), ("nvr-2", "storage_error"), ("nvr-3", "storage_error"),
])
N_HEARTBEATS = 19             # one per device at its stream's opening; d08 never opens
N_EVENTS_HOUR9 = 9 + 4 + 4 + 5  # motion + tamper + video_loss + storage_error messages


def ts_of(iso):
    return int(datetime.datetime.fromisoformat(iso).timestamp())


def step(brand, e):
    if e == "garbage":
        return ("part", b"<EventNotificationAlert><eventType>VMD", "application/xml")
    return ("event",) + e


def shim_path():
    p = os.environ.get("NTM_CLOCKSHIM_SO")
    return p or os.path.join(S.build_dir(), "tests", "fault", "ntm-clockshim.so")


def preload_for(binary, shim):
    """LD_PRELOAD for the daemon: the shim, after libasan when the daemon is built
    with ASan (its runtime must come first)."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    m = re.search(r"^\s*libasan\.so\S*\s+=>\s+(\S+)", out, re.M)
    return f"{m.group(1)}:{shim}" if m else shim


class Clock:
    """The shim's control file: the daemon's wall clock = machine + offset, synchronized."""

    def __init__(self, h):
        self.path = os.path.join(h.tmp, "clockshim.ctl")

    def set_to(self, unix_s):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{unix_s - time.time():.3f} 1\n")
        os.replace(tmp, self.path)
        time.sleep(0.2)  # the shim reads the file at most every 50 ms
        print(f"-- gateway clock set to {S.iso(int(unix_s))}", flush=True)


def camera_yaml(cams, pwfile):
    """The inventory: events.host, not ip (ip would add the ping source's heartbeats)."""
    lines = ["devices:"]
    for dev, (village, brand, standin, ch) in CAMERAS.items():
        cam = cams[standin]
        lines.append(f"  - {{id: {dev}, kind: camera, village: {village},")
        lines.append(f"     events: {{api: {brand}, host: 127.0.0.1, port: {cam.port}, user: ntm, "
                     f"password_file: {pwfile}, channel: {ch}, keepalive_s: {KEEPALIVE_S}}}}}")
    return "\n".join(lines) + "\n"


def main(h, t):
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    cams = {}
    try:
        for dev, (village, brand, standin, ch) in CAMERAS.items():
            if standin in cams:
                continue
            cam = Camera(brand, auth="refuse" if dev == REFUSED else "digest", keepalive_s=5)
            cam.push([("keepalive",), ("wait", "hour9")] +
                     [step(brand, e) for e in HOUR9[standin]] +
                     [("wait", "hour10")] +
                     ([("event", "VideoMotion", "Start", 0)] if standin == "d06" else []) +
                     [("keepalives", 5)])
            cam.start()
            cams[standin] = cam
        run(h, t, port, rx, cams)
    finally:
        for cam in cams.values():
            cam.stop()
        rx.stop()


def run(h, t, port, rx, cams):
    tok = S.token_file(h, TOKEN)
    pw = h.write_file("cameras.pass", "ntm:secret\n")
    os.chmod(pw, 0o600)
    cfg = S.write_config(h, VILLAGES, (), uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": GRACE_S}, plugin_dir_=S.plugin_dir())
    with open(cfg, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("devices: []\n", camera_yaml(cams, pw))
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(text)

    clock = Clock(h)
    clock.set_to(T(8, 59, 50))
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "NTM_CLOCKSHIM")}
    os.environ["LD_PRELOAD"] = preload_for(harness.gatewayd_path(), shim_path())
    os.environ["NTM_CLOCKSHIM"] = clock.path
    try:
        d = h.start_daemon(cfg)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    # every stream but the refused one opens: one heartbeat per device, at 08:59:5x
    d.wait_counts(N_HEARTBEATS, 0, timeout=30)
    t.eq(sorted(k for k, c in cams.items() if c.streams == 1),
         sorted(k for k in cams if k != REFUSED), "one stream per camera, one for the NVR's three")
    t.ok(cams[REFUSED].streams == 0 and 401 in cams[REFUSED].statuses(),
         "the camera that refuses the account answered 401 and gave no stream")

    clock.set_to(T(9, 0, 10))
    for c in cams.values():
        c.go("hour9")
    d.wait_counts(N_HEARTBEATS + N_EVENTS_HOUR9, 0, timeout=30)

    clock.set_to(T(10, 1, 30))
    for c in cams.values():
        c.go("hour10")

    def hour9_done(r):
        return any(x["period"] == "hour" and x["start"] == S.iso(T(9)) for x in r.rows()) and \
            len([a for a in r.alerts() if T(9) <= ts_of(a["ts"]) < T(10)]) >= len(WANT_ALERTS)
    rx.wait(hour9_done, 30, "hour 09's rows and alerts at the receiver")

    t.eq(rx.errors, [], "every request was well-formed and every body valid against the schema")
    t.eq(rx.duplicates, 0, "no batch was sent twice")
    rows = [r for r in rx.rows() if r["period"] == "hour" and r["start"] == S.iso(T(9))]
    got = {}
    for r in rows:
        t.eq(r["kind"], "camera", f"hour 09 has only camera rows ({r['village']} {r['name']})")
        got.setdefault(r["village"], {})[r["name"]] = (r["value"], r["devices"])
    for v in VILLAGES:
        want = {n: (x, WANT_DEVICES[v]) for n, x in WANT_ROWS[v].items()}
        have = {n: got.get(v, {}).get(n) for n in want}
        t.eq(have, want, f"{v}: hour 09's camera rows (value, devices) as computed by hand")
    alerts = [a for a in rx.alerts() if T(9) <= ts_of(a["ts"]) < T(10)]
    t.eq(sorted((a["device"], a["type"]) for a in alerts), WANT_ALERTS,
         "hour 09's alerts: tamper, video_loss and storage_error, one per event and device "
         "(the NVR's disk error on each of its three channels)")
    t.eq(sorted({(a["village"], a["kind"]) for a in alerts}),
         sorted({(CAMERAS[dev][0], "camera") for dev, _ in WANT_ALERTS}),
         "each alert names the camera's village and kind from the inventory")
    others = [a for a in rx.alerts() if a["type"] not in ("tamper", "video_loss", "storage_error")]
    t.eq(others, [], "no other alert (no camera went offline; d08 was never online)")

    # nothing went another way: every camera message passed the gate and was accepted
    st = d.status
    t.eq(st["rejected"], 0, "no camera message was rejected")
    log = d.stderr_text()
    t.eq(log.count("credentials refused (HTTP 401)"), 1,
         "the refusing camera is logged once (slow retry, one line per state change)")
    t.ok("secret" not in log, "the password never appears in the log")
    t.eq(d.terminate(), 0, "the daemon stops cleanly (under ASan: no leak, no error)")


if __name__ == "__main__":
    harness.run(main)
