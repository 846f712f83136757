#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_device_cmd: `ntmctl device add|remove|passwd` (issue 12, finding 6)
against a real mosquitto running the shipped snippet on the files it writes.
add keeps every byte of the configuration around the new line, passes the
daemon's --check-config, prints credentials that publish under the device's
own topics (its mappings' too) and not as another device, and SIGHUPs the
running daemon; passwd refuses the old password; remove stops the
credentials; bad inputs leave the file untouched with one clear sentence."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402
from test_hostile_broker import SnippetBroker  # noqa: E402

MAPPING = """mappings:
  # a vendor's own topic, naming the device
  - name: vendor-hb
    topic: "vendor/{village}/{device}/hb"
    channel: heartbeat
    fields:
      interval_s: {value: 60}
"""


def creds_of(out):
    lines = dict(line.split(":", 1) for line in out.splitlines() if line.startswith("MQTT "))
    return lines["MQTT user"].strip(), lines["MQTT password"].strip()


class Watcher:
    """mosquitto_sub as the `watcher` user of ntm-acl.local: was a message
    published on a topic let through by the broker?"""

    def __init__(self, h, port, pw):
        self.h, self.port, self.pw = h, port, pw

    def delivered(self, topic, user, pw):
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port),
                                "-u", "watcher", "-P", self.pw, "-t", topic, "-C", "1",
                                "-W", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.7)
        p = self.h.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1",
                        "-u", user, "-P", pw, "-t", topic, "-m", "x"], timeout=30)
        out, _ = sub.communicate(timeout=30)
        return p.returncode == 0 and out.strip() == b"x", p.returncode


def hup(b):
    b.proc.send_signal(signal.SIGHUP)  # mosquitto re-reads its password and ACL files
    time.sleep(1.0)


def main(h, t):
    out = os.path.join(h.tmp, "broker")
    os.mkdir(out)
    with open(os.path.join(out, "ntm-acl.local"), "w") as f:
        f.write("user watcher\ntopic read #\n")
    subprocess.run(["mosquitto_passwd", "-c", "-b", os.path.join(out, "ntm-passwd"), "watcher",
                    "watch-pw"], check=True, capture_output=True)
    mapdir = os.path.join(h.tmp, "maps")
    os.mkdir(mapdir)
    extra = f"mapping_dir: {mapdir}\n" + MAPPING
    cfg = h.write_config(["xom-a", "xom-b"], [("spk-01", "speaker", "xom-a")], name="pre.yaml",
                         extra=extra)
    p = h.ctl("--config", cfg, "broker-files", out)
    t.require(p.returncode == 0, "broker-files", p.stderr_text)
    first = dict(line.split(" ", 1) for line in p.stdout_text.splitlines())
    b = SnippetBroker(h, pw=os.path.join(out, "ntm-passwd"), acl=os.path.join(out, "ntm-acl"))
    b.start()
    w = Watcher(h, b.lan, "watch-pw")

    pwf = S.token_file(h, first["ntm-gateway"], name="gw.pw")
    cfg = h.write_config(["xom-a", "xom-b"], [("spk-01", "speaker", "xom-a")],
                         mqtt={"port": b.lo, "client_id": "ntm-gateway",
                               "username": "ntm-gateway", "password_file": pwf}, extra=extra)
    with open(cfg, "a") as f:
        f.write("# a comment at the end, kept\n")
    before = open(cfg, "rb").read()
    os.chmod(cfg, 0o640)
    d = h.start_daemon(cfg)
    S.wait_for(lambda: "subscribed to ntm/v1/#" in d.stderr_text(), 30,
               "the daemon's subscription", daemon=d)

    # ---- bad inputs: one sentence, exit status, the file untouched
    for args, code, words in [
            (["add", "spk-02", "--kind", "speaker", "--village", "xom-z"], 1, "no village"),
            (["add", "spk-01", "--kind", "speaker", "--village", "xom-a"], 1, "already"),
            (["add", "spk 02", "--kind", "speaker", "--village", "xom-a"], 2, "not a device id"),
            (["add", "spk-02", "--kind", "radio", "--village", "xom-a"], 2, "--kind"),
            (["remove", "spk-09"], 1, "no device"),
            (["passwd", "spk-09"], 1, "no device")]:
        p = h.ctl("--config", cfg, "device", *args, "--broker-dir", out)
        t.eq(p.returncode, code, f"device {' '.join(args)}: exit status")
        t.ok(words in p.stderr_text, f"device {' '.join(args)} says why", p.stderr_text)
        t.eq(open(cfg, "rb").read(), before, f"device {' '.join(args)} leaves the file as it was")

    # ---- add
    p = h.ctl("--config", cfg, "device", "add", "spk-02", "--kind", "speaker", "--village",
              "xom-b", "--ip", "192.168.1.22", "--broker-dir", out)
    t.require(p.returncode == 0, "device add", p.stdout_text + p.stderr_text)
    user, pw = creds_of(p.stdout_text)
    t.eq(user, "spk-02", "the printed user")
    t.ok("ntm/v1/xom-b/speaker/spk-02/" in p.stdout_text, "the printed topic", p.stdout_text)
    t.ok("Asked the daemon (pid %d)" % d.proc.pid in p.stdout_text, "the daemon is signalled",
         p.stdout_text)
    after = open(cfg, "rb").read()
    line = b"  - {id: spk-02, kind: speaker, village: xom-b, ip: \"192.168.1.22\"}\n"
    t.eq(after.replace(line, b"", 1), before, "only the device's line is new (comments kept)")
    t.eq(os.stat(cfg).st_mode & 0o777, 0o640, "the file keeps its mode")
    p = h.run([harness.gatewayd_path(), "--check-config", "--config", cfg])
    t.eq(p.returncode, 0, "ntm-gatewayd --check-config passes " + p.stderr_text)
    S.wait_for(lambda: "SIGHUP" in d.stderr_text(), 20, "the daemon's reload line", daemon=d)
    acl = open(os.path.join(out, "ntm-acl")).read()
    t.ok("user spk-02\ntopic write ntm/v1/xom-b/speaker/spk-02/#\n"
         "topic write vendor/xom-b/spk-02/hb\n" in acl, "spk-02's ACL with its mapping", acl)
    t.ok("topic read vendor/+/+/hb" in acl, "the gateway reads the mapping's topic", acl)
    t.ok("user watcher\ntopic read #" in acl, "ntm-acl.local copied", acl)

    hup(b)
    own = "ntm/v1/xom-b/speaker/spk-02/heartbeat"
    t.ok(w.delivered(own, user, pw)[0], "spk-02 publishes on its own topic")
    t.ok(w.delivered("vendor/xom-b/spk-02/hb", user, pw)[0], "and on its mapping's topic")
    t.ok(not w.delivered("ntm/v1/xom-a/speaker/spk-01/heartbeat", user, pw)[0],
         "but not as spk-01")
    t.ok(not w.delivered("vendor/xom-a/spk-01/hb", user, pw)[0],
         "nor as spk-01 on the mapping's topic")

    # ---- passwd
    p = h.ctl("--config", cfg, "device", "passwd", "spk-02", "--broker-dir", out)
    t.require(p.returncode == 0, "device passwd", p.stdout_text + p.stderr_text)
    _, pw2 = creds_of(p.stdout_text)
    t.ok(pw2 != pw, "a new password")
    hup(b)
    ok, rc = w.delivered(own, user, pw)
    t.ok(not ok and rc != 0, "the old password is refused", rc)
    t.ok(w.delivered(own, user, pw2)[0], "the new one is accepted")

    # ---- remove
    p = h.ctl("--config", cfg, "device", "remove", "spk-02", "--broker-dir", out)
    t.require(p.returncode == 0, "device remove", p.stdout_text + p.stderr_text)
    t.eq(open(cfg, "rb").read(), before, "remove gives back the file as it was")
    hup(b)
    ok, rc = w.delivered(own, user, pw2)
    t.ok(not ok and rc != 0, "a removed device's credentials stop working", rc)
    t.ok("spk-02" not in open(os.path.join(out, "ntm-acl")).read(), "and it leaves the ACL")

    # ---- a device written on several lines is not edited
    multi = cfg.replace(".yaml", "-multi.yaml")
    text = before.decode().replace("  - {id: spk-01, kind: speaker, village: xom-a}\n",
                                   "  - id: spk-01\n    kind: speaker\n    village: xom-a\n")
    with open(multi, "w") as f:
        f.write(text)
    p = h.ctl("--config", multi, "device", "remove", "spk-01", "--broker-dir", out)
    t.eq(p.returncode, 1, "remove of a multi-line device: exit status")
    t.ok("by hand" in p.stderr_text, "it says to remove it by hand", p.stderr_text)
    t.eq(open(multi).read(), text, "and leaves the file as it was")
    d.terminate()


harness.run(main)
