#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_camera_streams: the camera source (daemon/sources/camera.c, the HTTP
stream client and the parsers) against camera stand-ins on loopback
(tests/tools/camera_standin.py) speaking Hikvision's and Dahua's streams with
digest authentication. Runs the source in camera-driver (its emitted messages
on stdout), since the daemon's gate and configuration come later.

Checked: the exact device-contract messages for scripted events of both
brands, an NVR whose channels are three devices, a storage fault reaching
every channel, Hikvision's repeated "active" counted once; the 401 camera
retried on the slow schedule with one log line per state change; backoff
bounded by its doubling cap; a silent stream closed and reopened; a camera
trickling bytes forever and one sending a 100 MB part cost bounded memory and
leave the other cameras' messages on time; https verified against ca_file."""

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from harness import _die_with_parent, _source_root, run  # noqa: E402
from camera_standin import Camera  # noqa: E402


def driver_path():
    p = os.environ.get("NTM_CAMERA_DRIVER")
    if p:
        return p
    for b in ("build", "build-cam"):
        cand = os.path.join(_source_root(), b, "tests", "integration", "camera-driver")
        if os.path.exists(cand):
            return cand
    raise RuntimeError("NTM_CAMERA_DRIVER is not set and no built camera-driver was found")


class Driver:
    """camera-driver with its stdout lines collected as they come."""

    def __init__(self, h, devices, *opts):
        self.h = h
        args = [driver_path()] + list(opts)
        for d in devices:
            args += ["--device", d]
        self.err_path = os.path.join(h.tmp, f"driver-{time.monotonic_ns()}.log")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        h._procs.append(self.proc)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda: "READY" in self.texts(), 20, "the driver starts")

    def _read(self):
        for raw in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    def texts(self):
        with self.lock:
            return [t for _, t in self.lines]

    def wait_for(self, cond, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.05)
        return cond()

    def emits(self, device=None, channel=None):
        """[(device, channel, flags, payload dict)] in order."""
        out = []
        for t in self.texts():
            if not t.startswith("EMIT "):
                continue
            _, _, dev, ch, flags, payload = t.split(" ", 5)
            if (device is None or dev == device) and (channel is None or ch == channel):
                out.append((dev, ch, int(flags), json.loads(payload)))
        return out

    def events(self, device):
        return [p["type"] for _, _, _, p in self.emits(device, "event")]

    def states(self):
        n = len(self.texts())
        self.proc.send_signal(signal.SIGUSR1)
        self.wait_for(lambda: "STATES-END" in self.texts()[n:], 10, "states")
        st = {}
        for t in self.texts()[n:]:
            m = re.match(r"STATE (\S+) (.*?) stream=(.*?) error=(.*)$", t)
            if m:
                d = dict(kv.split("=", 1) for kv in m.group(2).split())
                d = {k: int(v) for k, v in d.items()}
                d["stream"], d["error"] = m.group(3), m.group(4)
                st[m.group(1)] = d
        return st

    def log(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace").splitlines()

    def log_lines(self, device, reason=None):
        return [l for l in self.log() if f"DEVICE={device}" in l and
                (reason is None or f"REASON={reason}" in l)]

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.err.close()
        return self.proc.returncode


def dev(id_, village, brand, port, pw, channel=1, keepalive=2):
    return f"{id_},{village},{brand},127.0.0.1,{port},ntm,{pw},{channel},{keepalive}"


def test_events(h, t, pw):
    """Both brands' events as the contract maps them, exactly."""
    hik = Camera("hikvision")
    nvr = Camera("dahua")
    hik.start()
    nvr.start()
    hik.push([("keepalive",),
              ("event", "VMD", "active", 1), ("event", "VMD", "active", 1),
              ("event", "VMD", "active", 1),                 # one motion, posted three times
              ("event", "VMD", "inactive", 1), ("event", "VMD", "active", 1),  # a second one
              ("event", "tamperdetection", "active", 1),
              ("event", "shelteralarm", "active", 1),      # the same tamper, older name: not again
              ("event", "linedetection", "active", 1),      # not mapped: ignored, counted
              ("event", "diskfull", "active", 1), ("event", "videoloss", "active", 1),
              ("event", "VMD", "active", 2),                # channel 2: no device on it
              ("raw", b"\r\nsome garbage between parts\r\n"),
              ("part", b"<EventNotificationAlert><eventType>VMD</eventType>", "application/xml"),
              ("keepalives", 1)])
    nvr.push([("event", "VideoMotion", "Start", 0), ("event", "VideoBlind", "Start", 1),
              ("event", "VideoLoss", "Start", 2), ("event", "StorageFailure", "Start", 0),
              ("event", "VideoMotion", "Stop", 0), ("event", "CrossLineDetection", "Start", 0),
              ("event", "VideoMotion", "Start", 5), ("keepalive",),
              ("event", "VideoMotion", "Start", 0), ("event", "StorageLowSpace", "Stop", 0),
              ("keepalives", 1)])
    d = Driver(h, [dev("cam-h1", "thon-1", "hikvision", hik.port, pw),
                   dev("cam-d1", "thon-2", "dahua", nvr.port, pw, 1),
                   dev("cam-d2", "thon-2", "dahua", nvr.port, pw, 2),
                   dev("cam-d3", "thon-3", "dahua", nvr.port, pw, 3)])
    want = {"cam-h1": ["motion", "motion", "tamper", "storage_error", "video_loss"],
            "cam-d1": ["motion", "storage_error", "motion"],
            "cam-d2": ["tamper", "storage_error"],
            "cam-d3": ["video_loss", "storage_error"]}
    d.wait_for(lambda: all(len(d.events(k)) >= len(v) for k, v in want.items()), 20, "events")
    time.sleep(1.5)  # anything more would show now
    for k, v in want.items():
        t.eq(d.events(k), v, f"{k}: the exact events")
    emits = d.emits()
    t.ok(all(f == 1 for _, _, f, _ in emits), "every message carries the receive-time flag")
    t.ok(all(set(p) == {"type"} for _, ch, _, p in emits if ch == "event"),
         "an event payload is only its type (no ts, no camera data)")
    hbs = d.emits(channel="heartbeat")
    t.ok(all(p == {"interval_s": 2} for _, _, _, p in hbs), "heartbeats carry interval_s = keepalive_s")
    for k in want:
        t.ok(any(dv == k for dv, _, _, _ in hbs), f"{k}: heard from (a heartbeat)")
    t.eq(nvr.heartbeat_asked[:1], ["2"], "Dahua is asked for heartbeat=keepalive_s")
    t.eq(nvr.streams, 1, "the NVR's three devices share one stream")
    st = d.states()
    t.eq((st["cam-h1"]["connected"], st["cam-h1"]["ignored"], st["cam-h1"]["malformed"]),
         (1, 1, 1), "cam-h1: connected, one ignored type, one malformed part")
    t.ok(st["cam-h1"]["keepalives"] >= 1, "cam-h1: keep-alives counted")
    t.eq((st["cam-d2"]["connected"], st["cam-d2"]["ignored"], st["cam-d2"]["events"]), (1, 1, 2),
         "cam-d2: connected, CrossLineDetection ignored, its own two events")
    t.eq(len(d.log_lines("cam-d3", "connected")), 1, "one 'connected' line for the NVR")
    bad = d.log_lines("cam-h1", "bad_part")
    t.eq(len(bad), 1, "one line for the unreadable part")
    t.ok(bad and "not well-formed XML" in bad[0], "it says why", bad)
    t.eq(d.stop(), 0, "the driver stops cleanly (every handle closed)")
    hik.stop()
    nvr.stop()


def test_refused(h, t, pw):
    """401 forever: the slow retry, one log line per state change, then recovery."""
    cam = Camera("hikvision", auth="refuse")
    cam.start()
    d = Driver(h, [dev("cam-r", "thon-1", "hikvision", cam.port, pw)],
               "--backoff-min-ms", "100", "--refused-ms", "1500")
    time.sleep(4.0)
    tries = [tm for tm, _, s in cam.log if s == 401]
    # each attempt is two requests: without credentials, then with the digest
    t.ok(4 <= len(tries) <= 8, "401 attempts on the slow schedule, not the 100 ms backoff",
         f"{len(tries)} requests in 4 s")
    t.eq(len(d.log_lines("cam-r", "refused")), 1, "one log line for refused credentials")
    line = d.log_lines("cam-r", "refused")
    t.ok(line and "HTTP 401" in line[0] and "secret" not in line[0], "it names the status, not the password", line)
    t.eq(d.emits("cam-r"), [], "nothing is heard from a camera that refuses us")
    st = d.states()["cam-r"]
    t.eq((st["connected"], "credentials refused (HTTP 401)" in st["error"]), (0, True),
         "state: not connected, last error")
    cam.auth = "digest"
    t.ok(d.wait_for(lambda: d.emits("cam-r", "heartbeat"), 5, ""), "the account fixed: heard again")
    d.wait_for(lambda: d.log_lines("cam-r", "connected"), 5, "")
    t.eq(len(d.log_lines("cam-r")), 2, "two state changes, two log lines")
    t.eq(d.stop(), 0, "the driver stops cleanly")
    cam.stop()


def test_backoff_and_silence(h, t, pw):
    """A camera that hangs up at once: retries within the doubling cap, one line;
    a stream gone silent is closed after 1.5 x keepalive_s and reopened."""
    cam = Camera("dahua")
    quiet = Camera("dahua")
    cam.start()
    quiet.start()
    cam.push([("close",)])
    quiet.push([("keepalive",), ("stall",)])
    quiet.push([("keepalives", 1)])
    d = Driver(h, [dev("cam-b", "thon-1", "dahua", cam.port, pw, keepalive=1),
                   dev("cam-q", "thon-1", "dahua", quiet.port, pw, keepalive=1)],
               "--backoff-min-ms", "200", "--backoff-max-ms", "800")
    time.sleep(5.0)
    times = [tm for tm, _, s in cam.log if s == 200]
    gaps = [b - a for a, b in zip(times, times[1:])]
    caps = [min(0.8, 0.2 * 2 ** (k + 1)) for k in range(len(gaps))]
    t.ok(len(times) >= 5, "it keeps retrying", f"{len(times)} attempts")
    t.ok(all(g <= c + 0.5 for g, c in zip(gaps, caps)), "each wait within its doubling cap",
         f"gaps {[round(g, 2) for g in gaps]} caps {caps}")
    t.eq(len(d.log_lines("cam-b")), 1, "one log line however many attempts fail alike")
    # the silent one: closed and reopened, its silence logged once
    t.ok(quiet.streams >= 2, "a silent stream is reopened", f"{quiet.streams} streams")
    silent = d.log_lines("cam-q", "silent")
    t.eq(len(silent), 1, "its silence is logged once")
    t.ok(silent and "nothing readable for 1 s" in silent[0], "saying how long", silent)
    t.eq(d.stop(), 0, "the driver stops cleanly")
    cam.stop()
    quiet.stop()


def test_trickle_and_huge(h, t, pw):
    """One camera trickles a part forever, one sends a 100 MB part: memory stays
    bounded, and a third camera's messages keep coming on time."""
    trickle = Camera("hikvision")
    huge = Camera("dahua")
    good = Camera("dahua")
    for c in (trickle, huge, good):
        c.start()
    trickle.push([("trickle", 0.002)])
    huge.push([("keepalive",), ("sleep", 1.0), ("big", 100 * 1024 * 1024, False), ("keepalive",),
               ("event", "VideoBlind", "Start", 0), ("keepalives", 1)])
    good.push([("keepalives", 0.5)])
    d = Driver(h, [dev("cam-t", "thon-1", "hikvision", trickle.port, pw, keepalive=1),
                   dev("cam-x", "thon-1", "dahua", huge.port, pw, keepalive=2),
                   dev("cam-g", "thon-2", "dahua", good.port, pw, keepalive=1)])
    d.wait_for(lambda: d.emits("cam-x", "heartbeat"), 10, "")
    base = d.peak_rss_kib()
    got = d.wait_for(lambda: d.events("cam-x") == ["tamper"], 90, "")
    t.ok(got, "the event after the 100 MB part arrives")
    grow = d.peak_rss_kib() - base
    t.ok(grow < 16 * 1024, "peak memory grew by less than 16 MiB over a 100 MB part",
         f"{grow} KiB")
    st = d.states()
    t.eq(st["cam-x"]["oversized"], 1, "the part is passed over and counted")
    t.eq(st["cam-t"]["connected"], 0, "a trickling camera never counts as connected")
    d.wait_for(lambda: len(good.log) and time.monotonic() - good.log[0][0] > 5, 10, "")
    d.wait_for(lambda: d.log_lines("cam-t", "silent"), 10, "")
    t.eq(len(d.log_lines("cam-t")), 1, "the trickling camera: one log line, its silence")
    t.ok(trickle.streams >= 2, "and it is reopened", f"{trickle.streams} streams")
    # the good camera: a heartbeat at least every keepalive_s the whole time
    hb = [tm for tm, line in d.lines if line.startswith("EMIT") and " cam-g heartbeat " in line]
    gaps = [b - a for a, b in zip(hb, hb[1:])]
    t.ok(len(hb) >= 3 and max(gaps) < 3.0, "the other camera is heard throughout",
         f"{len(hb)} heartbeats, longest gap {max(gaps) if gaps else None}")
    t.eq(d.stop(), 0, "the driver stops cleanly")
    for c in (trickle, huge, good):
        c.stop()


def make_cert(h, name):
    """A self-signed certificate for 127.0.0.1, as a camera's own CA would issue."""
    cert, key = os.path.join(h.tmp, f"{name}.pem"), os.path.join(h.tmp, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_https(h, t, pw):
    """https with the camera's own CA in ca_file; a certificate it does not
    vouch for is refused (verification is always on)."""
    cert, key = make_cert(h, "camera-ca")
    other, _ = make_cert(h, "other-ca")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    good, bad = Camera("hikvision"), Camera("hikvision")
    for c in (good, bad):
        c.ssl_context = ctx
        c.start()
    d = Driver(h, [dev("cam-s", "thon-1", "hikvision", good.port, pw) + f",{cert}",
                   dev("cam-w", "thon-1", "hikvision", bad.port, pw) + f",{other}"],
               "--backoff-min-ms", "300")
    t.ok(d.wait_for(lambda: d.emits("cam-s", "heartbeat"), 15, ""), "https with ca_file: heard")
    time.sleep(1.0)
    t.eq(d.emits("cam-w"), [], "a certificate not from ca_file: nothing heard")
    st = d.states()
    t.ok("certificate" in st["cam-w"]["error"] or "SSL" in st["cam-w"]["error"],
         "the reason names the certificate", st["cam-w"]["error"])
    t.eq(bad.streams, 0, "no request ever reached the camera we could not verify")
    t.eq(d.stop(), 0, "the driver stops cleanly")
    good.stop()
    bad.stop()


def main(h, t):
    pw = os.path.join(h.tmp, "cameras.pass")
    with open(pw, "w") as f:
        f.write("other:nothing\nntm:secret\n")
    os.chmod(pw, 0o600)
    test_events(h, t, pw)
    test_refused(h, t, pw)
    test_backoff_and_silence(h, t, pw)
    test_trickle_and_huge(h, t, pw)
    test_https(h, t, pw)


if __name__ == "__main__":
    run(main)
