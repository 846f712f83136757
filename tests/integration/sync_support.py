# SPDX-License-Identifier: GPL-3.0-or-later
"""sync_support.py: what the sync tests (test_sync_e2e, test_sync_faults,
test_sync_drain, test_plugin_errors) add to harness.py, without changing it: a
gateway YAML with uplinks and a sync section, the build directory's plugins, the
test receiver (tests/tools/receiver.py), a tiny MQTT 3.1.1 publisher that sends a scripted
list of messages in order with QoS 1, local-time helpers, and HourlyRun (a daemon fed
one scripted hour per step).
Python standard library (plus jsonschema, through the receiver)."""

import datetime
import json
import os
import socket
import struct
import sys
import time

import harness

TZ = datetime.timezone(datetime.timedelta(hours=7))
GATEWAY_ID = "gw-test-01"  # harness.write_config's gateway id


def _root():
    return harness._source_root()


sys.path.insert(0, os.path.join(_root(), "tests", "tools"))
import receiver  # noqa: E402  (tests/tools/receiver.py)

SCHEMA = os.path.join(_root(), "config", "ntm.sync.v1.schema.json")


# ---------------------------------------------------------------------- time

def ts(day, hh=0, mm=0, ss=0):
    """Unix seconds of local (+07:00) time `day` ('2026-11-20') hh:mm:ss; hh may be 24+."""
    d = datetime.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=TZ)
    return int(d.timestamp()) + hh * 3600 + mm * 60 + ss


def iso(unix_s):
    """'2026-11-20T08:00:00+07:00'"""
    return datetime.datetime.fromtimestamp(unix_s, TZ).strftime("%Y-%m-%dT%H:%M:%S+07:00")


# ---------------------------------------------------------------------- build

def build_dir():
    """The build directory that holds the daemon under test."""
    return os.path.dirname(os.path.dirname(os.path.abspath(harness.gatewayd_path())))


def plugin_dir(name="provincial-http"):
    return os.path.join(build_dir(), "plugins", name)


def plugin_so(name="provincial-http"):
    return os.path.join(plugin_dir(name), f"{name}.so")


# ---------------------------------------------------------------------- config

def write_config(h, villages, devices=(), uplinks=(), sync=None, plugin_dir_=None, name=None,
                 extra="", **kw):
    """harness.write_config, with `uplinks` (a list of dicts, or raw YAML text for
    the section's entries), a sync section and plugin_dir. Returns the path."""
    path = h.write_config(villages, devices, **({"name": name} if name else {}), **kw)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if isinstance(uplinks, str):
        up = "uplinks:\n" + uplinks.rstrip("\n") + "\n"
    elif uplinks:
        up = "uplinks:\n"
        for u in uplinks:
            items = list(u.items())
            k, v = items[0]
            up += f"  - {k}: {harness._yaml_scalar(v)}\n"
            for k, v in items[1:]:
                up += f"    {k}: {harness._yaml_scalar(v)}\n"
    else:
        up = "uplinks: []\n"
    if "uplinks: []\n" not in text:
        raise harness.TestFailure("harness.write_config no longer ends with 'uplinks: []'")
    text = text.replace("uplinks: []\n", up)
    if sync:
        text += "sync:\n" + "".join(f"  {k}: {v}\n" for k, v in sync.items())
    if plugin_dir_:
        text += f"plugin_dir: {harness._yaml_scalar(plugin_dir_)}\n"
    text += extra
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def token_file(h, token, name="token"):
    p = os.path.join(h.tmp, name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return p


def http_uplink(rx, tokfile, gzip=True):
    return {"plugin": "provincial-http", "base_url": rx.url, "token_file": tokfile,
            "gzip": gzip}


def start_receiver(token, **kw):
    rx = receiver.Receiver(token=token, schema=SCHEMA, expect_gzip=kw.pop("expect_gzip", True),
                           **kw)
    rx.start()
    return rx


# ---------------------------------------------------------------------- MQTT

class MqttError(Exception):
    pass


def _varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("!H", len(b)) + b


class Publisher:
    """A minimal MQTT 3.1.1 client that publishes with QoS 1, up to `window`
    messages in flight, in order, and waits for every PUBACK."""

    def __init__(self, port, host="127.0.0.1", client_id="ntm-e2e-pub", window=50):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.window = window
        self.buf = b""
        self.pid = 0
        self.unacked = set()
        self.published = 0
        vh = _str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)  # clean session, 60 s
        body = vh + _str(client_id)
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        t, data = self._packet()
        if t != 0x20 or data[1:2] != b"\x00":
            raise MqttError(f"CONNACK refused: {data!r}")

    def _packet(self):
        while True:
            if len(self.buf) >= 2:
                mult, n, i = 1, 0, 1
                while i < len(self.buf):
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        break
                else:
                    i = None
                if i is not None and len(self.buf) >= i + n:
                    t = self.buf[0] & 0xF0
                    data = self.buf[i:i + n]
                    self.buf = self.buf[i + n:]
                    return t, data
            chunk = self.sock.recv(65536)
            if not chunk:
                raise MqttError("the broker closed the connection")
            self.buf += chunk

    def _ack_one(self):
        t, data = self._packet()
        if t == 0x40:
            self.unacked.discard(struct.unpack("!H", data[:2])[0])

    def publish(self, topic, payload):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload, separators=(",", ":"))
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        while len(self.unacked) >= self.window:
            self._ack_one()
        self.pid = self.pid % 65535 + 1
        body = _str(topic) + struct.pack("!H", self.pid) + payload
        self.sock.sendall(b"\x32" + _varint(len(body)) + body)
        self.unacked.add(self.pid)
        self.published += 1

    def flush(self):
        while self.unacked:
            self._ack_one()

    def close(self):
        try:
            self.flush()
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


def publish_script(port, script, client_id="ntm-e2e-pub"):
    """script: [(ts, topic, payload dict)] in the order to send; ts goes into the
    payload (unless the payload already has one, or ts is None). Returns the count."""
    p = Publisher(port, client_id=client_id)
    try:
        for t, topic, payload in script:
            pl = dict(payload)
            if t is not None and "ts" not in pl:
                pl["ts"] = t
            p.publish(topic, pl)
        p.flush()
        return p.published
    finally:
        p.close()


def topic(village, kind, device, channel):
    return f"ntm/v1/{village}/{kind}/{device}/{channel}"


# ---------------------------------------------------------------------- checks

def wait_for(pred, timeout, what, poll=0.1, daemon=None):
    """Polls pred() until true; returns its value or raises harness.TestFailure.
    When a daemon is given, its exit ends the wait early."""
    deadline = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if daemon is not None and not daemon.alive():
            raise harness.TestFailure(f"ntm-gatewayd exited ({daemon.proc.returncode}) while "
                                      f"waiting for {what}")
        if time.monotonic() > deadline:
            raise harness.TestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def row_key(r):
    return (r["village"], r["kind"], r["period"], r["start"], r["name"])


class HourlyRun:
    """A daemon fed one scripted hour per step, for the sync tests (sync ticks
    every second, so a step gap over 1 s gives a batch per step).
    hour_step(hh) returns the script of hour hh (publish_script's format)."""

    def __init__(self, h, port, rx, cfg, hour_step, client_prefix, gap=1.3):
        self.h, self.port, self.rx, self.cfg = h, port, rx, cfg
        self.hour_step, self.client_prefix, self.gap = hour_step, client_prefix, gap
        self.next_hour = 0
        self.d = None
        self.published = 0

    def start(self):
        self.d = self.h.start_daemon(self.cfg)
        return self.d

    def step(self, n=1):
        for _ in range(n):
            hh = self.next_hour
            self.published += publish_script(self.port, self.hour_step(hh),
                                              client_id=f"{self.client_prefix}-{hh}")
            self.next_hour += 1
            time.sleep(self.gap)

    def formed(self):
        """seqs in the daemon's batches table (read-only)."""
        return [s for (s,) in self.h.query("SELECT seq FROM batches ORDER BY seq")]
