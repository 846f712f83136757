#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_ntmctl: what a technician reads (issue 13, findings 3, 4, 5, 9, 10, 12).

A commune with a village whose name is written decomposed (NFD, as Unikey
types it) and one in NFC; a day replayed so that hours and the day close.
- unknown commands, options and extra arguments exit 2 with a message;
- `status` says NOT RUNNING before the daemon runs (and --check exits 1),
  shows the broker connected while it runs (--check exits 0: no uplink,
  nothing needs a person);
- `indicators` has one header per village, kind and window, hour and day
  apart, every row under a header;
- `today --day D` shows every village and kind;
- `devices --offline`, `--village`, `--kind`, `devices ID` filter; a declared
  device never heard is explained, with the similar undeclared id seen;
- every table fits 80 columns, in English and in Vietnamese, and rows align
  by display width whether the name is NFC or NFD.
"""

import json
import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

DAY = "2026-11-20"
NFD = unicodedata.normalize("NFD", "Thôn Đông Hưng Thịnh")
VILLAGES = ["thon-dong", "thon-tay"]
DEVICES = [("loa-dong", "speaker", "thon-dong"), ("cam-t2-2", "camera", "thon-dong"),
           ("ap-tay", "wifi", "thon-tay"), ("cam-tay", "camera", "thon-tay")]


def width(line):
    """Terminal columns of a line (Vietnamese: every base character is 1 wide)."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF"
               else 1 for ch in line)


def script():
    m = []
    for hh in range(3):
        t = S.ts(DAY, hh)
        m.append((t, S.topic("thon-dong", "speaker", "loa-dong", "heartbeat"), {"interval_s": 3600}))
        m.append((t, S.topic("thon-tay", "wifi", "ap-tay", "heartbeat"), {"interval_s": 3600}))
        m.append((t + 60, S.topic("thon-tay", "wifi", "ap-tay", "stats"),
                  {"clients": 3, "new_sessions": 2, "rx_bytes": 1000, "tx_bytes": 500}))
        m.append((t + 120, S.topic("thon-dong", "speaker", "loa-dong", "event"),
                  {"type": "broadcast", "start": t + 100, "duration_s": 300, "result": "played"}))
    # the typo: cam-t2-02 instead of the declared cam-t2-2
    m.append((S.ts(DAY, 0, 29), S.topic("thon-dong", "camera", "cam-t2-02", "heartbeat"),
              {"interval_s": 60}))
    # the next day, past the grace: every hour and the day close
    m.append((S.ts("2026-11-21", 0, 10), S.topic("thon-tay", "wifi", "ap-tay", "heartbeat"),
              {"interval_s": 60}))
    return m


def main(h, t):
    os.environ.pop("RUNTIME_DIRECTORY", None)
    port = h.start_broker()
    cfg = h.write_config(VILLAGES, DEVICES)
    with open(cfg, encoding="utf-8") as f:
        text = f.read().replace('"Thôn thon-dong"', json.dumps(NFD, ensure_ascii=False))
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(text + "sync:\n  interval_s: 1\n  grace_s: 60\n")
    ctl = lambda *a, **kw: h.ctl("--config", cfg, *a, **kw)  # noqa: E731

    # ---- usage errors: exit 2 with a message
    for args in (["devices", "--offline", "--bogus"], ["status", "--bogus"], ["devices", "a", "b"],
                 ["frobnicate"], ["indicators", "--period", "week"], ["requeue"],
                 ["today", "--day", "yesterday"], ["batches", "extra"]):
        p = ctl(*args)
        t.eq(p.returncode, 2, f"`ntmctl {' '.join(args)}` exits 2")
        t.ok(p.stderr_text.strip() != "" and p.stdout_text == "",
             f"`ntmctl {' '.join(args)}` says why on stderr", p.stderr_text + p.stdout_text)

    # ---- not running yet: there is no buffer at all
    p = ctl("status")
    t.eq(p.returncode, 1, "status before the first start: the buffer cannot be read (exit 1)")

    d = h.start_daemon(cfg)
    S.publish_script(port, script(), client_id="ntmctl-test")
    S.wait_for(lambda: h.query("SELECT count(*) FROM latest_rows WHERE period = 'day'")[0][0] > 0,
               30, "the day's rows", daemon=d)
    def live_has_all():
        j = json.loads(ctl("--json", "status").stdout_text or "{}")
        return j.get("running") and j["live"]["ingest"]["accepted_total"] == len(script())
    S.wait_for(live_has_all, 10, "the live state with every message counted")

    p = ctl("status")
    print(p.stdout_text)
    t.eq(p.returncode, 0, "status exit 0")
    t.ok("Broker:   connected since" in p.stdout_text, "status: the broker connected",
         p.stdout_text)
    t.ok("Nothing needs a person." in p.stdout_text, "status: nothing needs a person")
    t.eq(ctl("status", "--check").returncode, 0, "status --check exits 0")
    rows = [ln for ln in p.stdout_text.splitlines() if " speaker " in ln or " camera " in ln
            or " wifi " in ln]
    t.ok(len(rows) >= 3 and len({width(r) for r in rows}) == 1,
         "status: the village rows align by display width (NFD and NFC names)",
         "\n".join(f"{width(r)}: {r}" for r in rows))

    # ---- indicators: grouped, hour and day apart
    p = ctl("indicators")
    print(p.stdout_text)
    lines = [ln for ln in p.stdout_text.splitlines() if ln.strip()]
    headers = [ln for ln in lines if not ln.startswith("  ")]
    t.ok(all(not ln.startswith("  ") or headers for ln in lines), "every row under a header")
    t.eq(len(headers), len(set(headers)), "each header once")
    t.ok(any(", hour " in x for x in headers) and any(", day " in x for x in headers),
         "hour and day headers apart", "\n".join(headers))
    js = json.loads(ctl("--json", "indicators").stdout_text)
    groups = {(r["village"], r["kind"], r["period"], r["start"]) for r in js}
    t.eq(len(headers), len(groups), "one header per village, kind and window (as --json groups)")
    p = ctl("indicators", "--period", "day", "--village", "thon-tay")
    t.ok(p.returncode == 0 and "hour" not in p.stdout_text and "Thôn thon-tay" in p.stdout_text
         and NFD not in p.stdout_text, "indicators filters by period and village", p.stdout_text)

    # ---- today
    p = ctl("today", "--day", DAY)
    print(p.stdout_text)
    t.eq(p.returncode, 0, "today --day exit 0")
    t.ok("3 broadcasts, 15 min" in p.stdout_text, "today: the speaker's broadcasts and minutes",
         p.stdout_text)
    t.ok("6 sessions, peak 3 users" in p.stdout_text, "today: the Wi-Fi sessions and peak")

    # ---- devices: filters and explanations
    p = ctl("devices")
    print(p.stdout_text)
    t.ok("declared, never heard; a similar undeclared id cam-t2-02 was seen at" in p.stdout_text,
         "devices: cam-t2-2 explained with the typo cam-t2-02", p.stdout_text)
    t.ok("not in the inventory; did you mean cam-t2-2?" in p.stdout_text,
         "devices: cam-t2-02 points to the declared id")
    off = ctl("--json", "devices", "--offline")
    names = {x["device"] for x in json.loads(off.stdout_text)}
    t.ok("cam-tay" in names and "cam-t2-2" in names, "devices --offline lists the silent ones",
         str(names))
    allv = {x["device"] for x in json.loads(ctl("--json", "devices").stdout_text)}
    online = {x["device"] for x in json.loads(ctl("--json", "devices").stdout_text)
              if x["online"]}
    t.eq(names, allv - online, "devices --offline = every device not online")
    vt = {x["device"] for x in json.loads(ctl("--json", "devices", "--village", "thon-tay")
                                          .stdout_text)}
    t.eq(vt, {"ap-tay", "cam-tay"}, "devices --village")
    kc = {x["device"] for x in json.loads(ctl("--json", "devices", "--kind", "camera").stdout_text)}
    t.eq(kc, {"cam-t2-2", "cam-t2-02", "cam-tay"}, "devices --kind")
    p = ctl("devices", "cam-t2-2")
    t.ok(p.returncode == 0 and "Device:     cam-t2-2" in p.stdout_text and "Note:" in p.stdout_text,
         "devices ID: the detail with its note", p.stdout_text)
    t.eq(ctl("devices", "no-such").returncode, 1, "devices ID unknown: exit 1")

    # ---- 80 columns, English and Vietnamese
    vi = dict(os.environ, LANG="vi_VN.UTF-8", LC_ALL="", LANGUAGE="",
              NTM_LOCALEDIR=os.path.join(S.build_dir(), "po"))
    for lang, env in (("en", None), ("vi", vi)):
        for cmd in (["status"], ["devices"], ["batches"], ["quarantine"], ["indicators"],
                    ["today", "--day", DAY], ["--help"]):
            argv = [harness.ctl_path(), "--config", cfg, *cmd]
            import subprocess
            out = subprocess.run(argv, capture_output=True, env=env).stdout.decode()
            wide = [ln for ln in out.splitlines() if width(ln) > 80]
            t.ok(out and not wide, f"{lang}: `ntmctl {' '.join(cmd)}` fits 80 columns",
                 "\n".join(f"{width(x)}: {x}" for x in wide[:5]))
            if lang == "vi" and cmd == ["status"]:
                print(out)
                t.ok("Dịch vụ:  chạy từ" in out, "vi: status in Vietnamese", out[:300])

    t.eq(d.terminate(), 0, "clean stop")
    p = ctl("status")
    t.ok("NOT RUNNING" in p.stdout_text, "status after the stop: NOT RUNNING", p.stdout_text)
    t.eq(ctl("status", "--check").returncode, 1, "status --check exits 1 when not running")


harness.run(main)
