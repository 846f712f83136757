#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_broker: a real mosquitto configured with the package's shipped
snippet (debian/mosquitto/ntm-gateway.conf), its LAN section opened as its
comments say (password file, ACL, no anonymous client), on loopback ports.
Issue 12, findings 5, 7 and 8:
- a device's credentials cannot take the daemon's client id: a clean-session
  connection as "ntm-gateway" with spk-01's password leaves the daemon's
  queued messages in place (use_username_as_clientid on the LAN listener);
- a publish larger than mqtt.max_payload (plus headers) never reaches the
  daemon (max_packet_size); later messages do;
- the queue bound fits a Raspberry Pi, and the postrm's purge function drops
  the daemon's persistent session;
- a broker that closes every connection before the subscription is confirmed
  makes the daemon say so (a reconnect loop is logged)."""
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

ROOT = harness._source_root()
SNIPPET = os.path.join(ROOT, "debian", "mosquitto", "ntm-gateway.conf")
POSTRM = os.path.join(ROOT, "debian", "ntm-gateway.postrm")
PASSWORDS = {"ntm-gateway": "gw-pass-1", "spk-01": "spk-pass-2", "ap-01": "ap-pass-3"}


def broker_conf(h, lo, lan, pw=None, acl=None):
    """The shipped snippet with its LAN section opened; the password and ACL
    files given, or made here for PASSWORDS."""
    text = open(SNIPPET, encoding="utf-8").read()

    def once(a, b):
        nonlocal text
        if a not in text:
            raise harness.TestFailure(f"the snippet no longer has {a!r}")
        text = text.replace(a, b, 1)

    if pw is None:
        pw = os.path.join(h.tmp, "ntm-passwd")
        for i, (u, p) in enumerate(PASSWORDS.items()):
            subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [pw, u, p],
                           check=True, capture_output=True)
    if acl is None:
        acl = h.write_file("ntm-acl", "user ntm-gateway\ntopic read ntm/v1/#\n\n"
                           "user spk-01\ntopic write ntm/v1/xom-a/+/spk-01/#\n\n"
                           "user ap-01\ntopic write ntm/v1/xom-a/+/ap-01/#\n")
    once("\nlistener 1883 127.0.0.1\n", f"\nlistener {lo} 127.0.0.1\n")
    once("\nallow_anonymous true\n", "\nallow_anonymous false\n")
    once("\n#listener 1883 192.168.1.10\n", f"\nlistener {lan} 127.0.0.1\n")
    once("\n#password_file /etc/mosquitto/ntm-passwd\n", f"\npassword_file {pw}\n")
    once("\n#acl_file /etc/mosquitto/ntm-acl\n", f"\nacl_file {acl}\n")
    once("\n#use_username_as_clientid true\n", "\nuse_username_as_clientid true\n")
    # what Debian's mosquitto.conf says, here in the test's directory
    text += (f"\npersistence_location {h.tmp}/\nuser root\nlog_dest stderr\n"
             "log_type all\nconnection_messages true\n")
    return h.write_file("mosquitto.conf", text)


class SnippetBroker:
    def __init__(self, h, pw=None, acl=None):
        self.h = h
        self.lo, self.lan = harness.free_port(), harness.free_port()
        self.conf = broker_conf(h, self.lo, self.lan, pw, acl)
        self.log = os.path.join(h.tmp, "mosquitto.log")
        self.proc = None

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        self.h._procs.append(self.proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.lan), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.lo), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise harness.TestFailure("mosquitto did not start:\n" + open(self.log).read()[-2000:])


def pub(h, port, user, topic, payload, check=True):
    p = h.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", user, "-P",
               PASSWORDS[user], "-q", "1", "-t", topic, "-s"], input=payload.encode()
              if isinstance(payload, str) else payload, timeout=30)
    if check and p.returncode != 0:
        raise harness.TestFailure(f"mosquitto_pub as {user}: {p.stderr_text}")
    return p


def hb(ts):
    return '{"ts":%d,"interval_s":60}' % ts


def accepted(h):
    return h.query("SELECT count(*) FROM messages")[0][0]


def purge_function():
    text = open(POSTRM, encoding="utf-8").read()
    m = re.search(r"# >>> forget_broker_session.*?# <<< forget_broker_session", text, re.S)
    return m.group(0) if m else None


def test_takeover_and_size(h, t):
    b = SnippetBroker(h)
    b.start()
    pwf = S.token_file(h, PASSWORDS["ntm-gateway"], name="gw.pw")
    cfg = h.write_config(["xom-a"], [("spk-01", "speaker", "xom-a"), ("ap-01", "wifi", "xom-a")],
                         mqtt={"port": b.lo, "client_id": "ntm-gateway",
                               "username": "ntm-gateway", "password_file": pwf})
    d = h.start_daemon(cfg)
    d.terminate()
    ap = "ntm/v1/xom-a/wifi/ap-01/heartbeat"
    now = int(time.time())
    for i in range(5):
        pub(h, b.lan, "ap-01", ap, hb(now - 60 + i))
    # spk-01's credentials, the daemon's client id, a clean session
    h.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(b.lan), "-u", "spk-01", "-P",
           PASSWORDS["spk-01"], "-i", "ntm-gateway", "-t", "ntm/#", "-W", "2"], timeout=30)
    d = h.start_daemon(cfg)
    try:
        S.wait_for(lambda: accepted(h) >= 5, 20, "the 5 messages queued while the daemon was "
                   "stopped", daemon=d)
    except harness.TestFailure as e:
        t.ok(False, "a device cannot take the daemon's client id", str(e))
    t.eq(accepted(h), 5, "messages queued for the daemon, after a device connected as it")

    # 7: a publish far over mqtt.max_payload never reaches the daemon
    big = '{"ts":%d,"interval_s":60,"pad":"%s"}' % (now, "x" * 200000)
    pub(h, b.lan, "ap-01", ap, big, check=False)
    pub(h, b.lan, "ap-01", ap, hb(now))
    S.wait_for(lambda: accepted(h) >= 6, 20, "the message after the large one", daemon=d)
    too_large = h.query("SELECT count(*) FROM quarantine WHERE reason = 'too_large'")[0][0]
    t.eq(too_large, 0, "a 200 kB publish stopped at the broker (max_packet_size)")
    d.terminate()

    # 8: the queue bound fits a Raspberry Pi, and the purge drops the session
    text = open(SNIPPET).read()
    msgs = int(re.search(r"^max_queued_messages (\d+)", text, re.M).group(1))
    qbytes = int(re.search(r"^max_queued_bytes (\d+)", text, re.M).group(1))
    t.ok(0 < msgs and msgs * 470 + qbytes <= 256 * 2**20,
         "one session's queue bound fits in 256 MiB", f"{msgs} messages, {qbytes} bytes")
    for i in range(3):
        pub(h, b.lan, "ap-01", ap, hb(now + 1 + i))
    fn = purge_function()
    t.ok(fn is not None, "the postrm has forget_broker_session")
    if fn:
        p = h.run(["sh", "-c", fn + '\nforget_broker_session "$1"', "sh", cfg], timeout=30)
        t.eq(p.returncode, 0, "forget_broker_session exit status " + p.stderr_text)
    d = h.start_daemon(cfg)
    time.sleep(2)  # what the broker still held would arrive at once
    t.eq(accepted(h), 6, "after the purge's function, nothing queued for the daemon arrives")
    d.terminate()


def test_reconnect_loop_logged(h, t):
    """A broker that accepts the connection and closes it before the SUBACK."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    n = [0]

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            try:
                c.recv(4096)
                c.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
                time.sleep(0.05)
            except OSError:
                pass
            c.close()
            n[0] += 1

    threading.Thread(target=serve, daemon=True).start()
    cfg = h.write_config(["xom-a"], [], name="loop.yaml", mqtt={"port": port},
                         storage={"path": os.path.join(h.tmp, "loop.db")})
    d = h.start_daemon(cfg, ready=False)
    S.wait_for(lambda: n[0] >= 3, 30, "three connections to the closing broker", daemon=d)
    d.terminate()
    srv.close()
    log = d.stderr_text()
    t.ok("before our subscription was confirmed" in log, "the reconnect loop is logged",
         log[-1500:])


def main(h, t):
    test_takeover_and_size(h, t)
    test_reconnect_loop_logged(h, t)


if __name__ == "__main__":
    harness.run(main)
