#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_acl: `ntmctl broker-files DIR` makes mosquitto's password and
ACL files from the inventory (issue 12, finding 6, first part). A real
mosquitto runs the shipped snippet with its LAN section opened on those
files: each device publishes under its own topics and is refused under
another device's (the daemon never sees it); a laptop without credentials is
refused; a second run keeps the passwords already given."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402
from test_hostile_broker import SnippetBroker  # noqa: E402

DEVICES = [("spk-01", "speaker", "xom-a"), ("ap-01", "wifi", "xom-b")]


def pub(h, port, user, pw, topic, payload):
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic,
            "-m", payload]
    if user:
        argv += ["-u", user, "-P", pw]
    return h.run(argv, timeout=30)


def main(h, t):
    cfg = h.write_config(["xom-a", "xom-b"], DEVICES, name="pre.yaml")
    out = os.path.join(h.tmp, "broker")
    os.mkdir(out)
    p = h.ctl("--config", cfg, "broker-files", out)
    t.eq(p.returncode, 0, "ntmctl broker-files exit status " + p.stderr_text)
    creds = dict(line.split(" ", 1) for line in p.stdout_text.splitlines())
    t.eq(sorted(creds), sorted(["spk-01", "ap-01", "ntm-gateway"]), "a password per user")
    acl = open(os.path.join(out, "ntm-acl")).read()
    t.ok("user spk-01\ntopic write ntm/v1/xom-a/speaker/spk-01/#" in acl, "spk-01's ACL", acl)

    b = SnippetBroker(h, pw=os.path.join(out, "ntm-passwd"), acl=os.path.join(out, "ntm-acl"))
    b.start()
    pwf = S.token_file(h, creds["ntm-gateway"], name="gw.pw")
    cfg = h.write_config(["xom-a", "xom-b"], DEVICES,
                         mqtt={"port": b.lo, "client_id": "ntm-gateway",
                               "username": "ntm-gateway", "password_file": pwf})
    d = h.start_daemon(cfg)
    now = int(time.time())
    hb = '{"ts":%d,"interval_s":60}' % now
    own_spk = S.topic("xom-a", "speaker", "spk-01", "heartbeat")
    own_ap = S.topic("xom-b", "wifi", "ap-01", "heartbeat")
    pub(h, b.lan, "spk-01", creds["spk-01"], own_spk, hb)
    pub(h, b.lan, "spk-01", creds["spk-01"], own_ap, hb)  # as another device: refused
    p = pub(h, b.lan, None, None, own_ap, hb)              # no credentials: refused
    t.ok(p.returncode != 0, "a client without credentials is refused", p.stderr_text)
    pub(h, b.lan, "ap-01", creds["ap-01"], own_ap, hb)
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 2, 20, "2 messages",
               daemon=d)
    time.sleep(1)
    d.terminate()
    t.eq(h.query("SELECT count(*) FROM messages")[0][0], 2,
         "only each device's own messages reached the daemon")

    p = h.ctl("--config", cfg, "broker-files", out)
    t.eq(p.stdout_text, "", "a second run adds no user and keeps the passwords")


harness.run(main)
