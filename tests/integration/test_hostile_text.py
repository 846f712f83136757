#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_text: what we keep and print of outside text is valid UTF-8 with
control and bidi characters escaped (issue 12, finding 12). A topic of
Vietnamese letters long enough to be cut at 256 bytes inside a character, and
one with U+202E (right-to-left override), are quarantined; a provincial server
answers every batch 503 with C1 controls (U+009B, CSI on the Linux console),
U+202E, an ESC sequence and the bearer token. `ntmctl quarantine`, `ntmctl
batches` (text and --json) and the daemon's log must be valid UTF-8, hold none
of these characters raw, and not hold the token."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

TOKEN = "hostile-Token_9f8e7d"
BAD = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def clean(t, data, what):
    try:
        data.decode("utf-8", "strict")
    except UnicodeDecodeError as e:
        t.ok(False, f"{what} is valid UTF-8", str(e))
        return
    t.ok(BAD.search(data) is None, f"{what} holds no raw control or bidi character",
         repr(BAD.search(data)))
    t.ok(TOKEN.encode() not in data, f"{what} does not hold the bearer token")


def main(h, t):
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    rx.answer(503, n=None, body=f"\u009b2J\u202eevil\x1b[31m Bearer {TOKEN} \u009b")
    tok = S.token_file(h, TOKEN)
    cfg = S.write_config(h, ["xom-a"], [("cam-1", "camera", "xom-a")],
                         uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1}, plugin_dir_=S.plugin_dir())
    d = h.start_daemon(cfg)
    long_topic = "ntm/v1/" + "đ" * 200 + "/speaker/loa-1/state"  # 7 + 2k: cut mid-character
    rtl_topic = "ntm/v1/xom-a/speaker/\u202egnp.1-aol/state"
    now = int(time.time())
    S.publish_script(port, [
        (now, S.topic("xom-a", "camera", "cam-1", "event"), {"type": "tamper"}),
        (now, long_topic, {"online": True}),
        (now, rtl_topic, {"online": True}),
    ], client_id="hostile-text-pub")
    S.wait_for(lambda: h.query("SELECT count(*) FROM quarantine")[0][0] >= 2, 30,
               "two quarantined messages", daemon=d)
    S.wait_for(lambda: h.query("SELECT count(*) FROM deliveries WHERE last_error IS NOT NULL"
                               )[0][0] >= 1, 60, "a failed delivery", daemon=d)

    for args in (("quarantine",), ("--json", "quarantine"), ("batches",), ("--json", "batches")):
        p = h.ctl("--config", cfg, *args)
        t.eq(p.returncode, 0, f"ntmctl {' '.join(args)} exit code")
        clean(t, p.stdout, f"ntmctl {' '.join(args)}")
        if args[0] == "--json":
            try:
                json.loads(p.stdout.decode("utf-8"))
            except ValueError as e:
                t.ok(False, f"ntmctl {' '.join(args)} is JSON", str(e))
    q = h.ctl("--config", cfg, "--json", "quarantine")
    topics = [m["topic"] for m in json.loads(q.stdout.decode("utf-8", "replace"))["messages"]]
    t.ok(any(x.startswith("ntm/v1/đđđ") for x in topics), "the long topic is kept, cut", topics)
    t.ok(any("\\u202egnp" in x for x in topics), "U+202E is shown escaped", topics)
    b = h.ctl("--config", cfg, "batches").stdout.decode("utf-8", "replace")
    t.ok("\\u009b2J" in b and "***" in b, "the server's answer is shown escaped and scrubbed", b)
    d.terminate()
    with open(d.stderr_path, "rb") as f:
        clean(t, f.read(), "the daemon's log")
    rx.stop()


harness.run(main)
