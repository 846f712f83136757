# SPDX-License-Identifier: GPL-3.0-or-later
"""test_config_errors: `ntm-gatewayd --check-config --config FILE` rejects bad
files with FILE:LINE:COL: messages pointing at the offending line, accepts a
good one, and the daemon proper refuses to start on a bad file; --version,
--help and --print-config-keys exit 0."""
import os
import re

from harness import gatewayd_path, run, _source_root

GOOD = """\
gateway:
  id: gw-test-01
commune:
  code: "16279"
  province_code: "38"
  name: "Xã thử nghiệm"
villages:
  - {id: thon-1, name: "Thôn 1"}
  - {id: thon-2, name: "Thôn 2"}
devices:
  - {id: ap-1, kind: wifi, village: thon-1}
  - {id: loa-1, kind: speaker, village: thon-2}
mqtt:
  host: 127.0.0.1
  port: 1883
  client_id: ntm-gateway
storage:
  path: @DB@
  max_mb: 64
sync:
  interval_s: 10
log:
  level: info
uplinks: []
"""


def edit(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def main(h, t):
    g = gatewayd_path()
    db = os.path.join(h.tmp, "never-created.db")
    good = GOOD.replace("@DB@", db)

    # (name, text, line the error must point at (None: any), words the message must hold)
    cases = [
        ("unknown-key", edit(good, "  port: 1883\n", "  port: 1883\n  hots: broker\n"),
         "hots: broker", ["hots"]),
        ("unknown-top-key", edit(good, "log:\n", "logging:\n  level: info\nlog:\n"),
         "logging:", ["logging"]),
        ("wrong-type-port", edit(good, "port: 1883", "port: abc"), "port: abc", ["port"]),
        ("wrong-type-villages", edit(good, "villages:\n  - {id: thon-1, name: \"Thôn 1\"}\n"
                                     "  - {id: thon-2, name: \"Thôn 2\"}\n",
                                     "villages: thon-1\n"), "villages: thon-1", ["villages"]),
        ("port-out-of-range", edit(good, "port: 1883", "port: 70000"), "port: 70000", ["port"]),
        ("missing-gateway-id", edit(good, "gateway:\n  id: gw-test-01\n", "gateway: {}\n"),
         "gateway: {}", ["'id'"]),
        ("missing-gateway-section", edit(good, "gateway:\n  id: gw-test-01\n", ""), None,
         ["gateway"]),
        ("bad-village-id", edit(good, "{id: thon-2,", "{id: Thon_2,"), "Thon_2", ["Thon_2"]),
        ("device-unknown-village", edit(good, "village: thon-2}", "village: thon-9}"),
         "thon-9", ["thon-9"]),
        ("device-unknown-kind", edit(good, "kind: speaker", "kind: radio"), "kind: radio",
         ["radio"]),
        ("duplicate-device", edit(good, "{id: loa-1,", "{id: ap-1,"), "id: ap-1, kind: speaker",
         ["ap-1"]),
        # cameras' event streams (sources: events on an inventory camera)
        ("events-unknown-api", edit(good, "  - {id: ap-1, kind: wifi, village: thon-1}\n",
                                    "  - {id: ap-1, kind: wifi, village: thon-1}\n"
                                    "  - {id: cam-1, kind: camera, village: thon-1, ip: 10.0.0.9,\n"
                                    "     events: {api: axis, user: ntm, password_file: /p}}\n"),
         "api: axis", ["events.api", "hikvision, dahua", "axis"]),
        ("events-not-a-camera", edit(good, "{id: loa-1, kind: speaker, village: thon-2}",
                                     "{id: loa-1, kind: speaker, village: thon-2, ip: 10.0.0.8,\n"
                                     "     events: {api: dahua, user: ntm, password_file: /p}}"),
         "events: {api: dahua", ["only cameras"]),
        ("events-no-address", edit(good, "  - {id: ap-1, kind: wifi, village: thon-1}\n",
                                   "  - {id: ap-1, kind: wifi, village: thon-1}\n"
                                   "  - {id: cam-1, kind: camera, village: thon-1,\n"
                                   "     events: {api: dahua, user: ntm, password_file: /p}}\n"),
         "events: {api: dahua", ["events.host", "ip"]),
        ("events-nvr-same-channel", edit(good, "  - {id: ap-1, kind: wifi, village: thon-1}\n",
                                         "  - {id: ap-1, kind: wifi, village: thon-1}\n"
                                         "  - {id: nvr-1, kind: camera, village: thon-1,\n"
                                         "     events: {api: hikvision, host: 10.0.0.7, user: ntm,"
                                         " password_file: /p, channel: 2}}\n"
                                         "  - {id: nvr-2, kind: camera, village: thon-1,\n"
                                         "     events: {channel: 2, api: hikvision, user: ntm,"
                                         " host: 10.0.0.7, password_file: /p}}\n"),
         "events: {channel: 2", ["nvr-1 and nvr-2 are both on channel 2"]),
        ("yaml-syntax", edit(good, "  - {id: thon-2, name: \"Thôn 2\"}",
                             "  - {id: thon-2, name: \"Thôn 2\""), None, []),
        ("empty-file", "", None, []),
    ]

    for name, text, needle, words in cases:
        path = h.write_file(f"bad-{name}.yaml", text)
        p = h.run([g, "--check-config", "--config", path])
        out = p.stdout_text + p.stderr_text
        t.ok(p.returncode != 0, f"{name}: --check-config exits non-zero", f"exit {p.returncode}")
        m = re.search(re.escape(path) + r":(\d+):(\d+): (.+)", out)
        if not t.ok(m is not None, f"{name}: prints FILE:LINE:COL: message", repr(out[:300])):
            continue
        line, col, msg = int(m.group(1)), int(m.group(2)), m.group(3)
        t.ok(line >= 1 and col >= 1, f"{name}: line and column are positive", m.group(0))
        if needle is not None:
            t.eq(line, line_of(text, needle), f"{name}: points at the offending line ({msg})")
        for w in words:
            t.ok(w in msg, f"{name}: message names '{w}'", msg)

    # the daemon proper does not start on a bad file, and creates nothing
    path = os.path.join(h.tmp, "bad-unknown-key.yaml")
    p = h.run([g, "--config", path], timeout=30)
    t.ok(p.returncode != 0, "ntm-gatewayd --config BAD exits non-zero", f"exit {p.returncode}")
    t.ok(re.search(re.escape(path) + r":\d+:\d+: ", p.stderr_text) is not None,
         "ntm-gatewayd --config BAD prints FILE:LINE:COL:", p.stderr_text[:300])
    t.ok(not os.path.exists(db), "no database is created for a bad configuration")

    missing = os.path.join(h.tmp, "no-such-file.yaml")
    p = h.run([g, "--check-config", "--config", missing])
    t.ok(p.returncode != 0 and "no-such-file.yaml" in p.stdout_text + p.stderr_text,
         "a missing file: non-zero exit naming the file", p.stderr_text[:200])

    # good files
    path = h.write_file("good.yaml", good)
    p = h.run([g, "--check-config", "--config", path])
    t.eq(p.returncode, 0, "a good file: --check-config exits 0")
    t.ok(not os.path.exists(db), "--check-config does not create the database")
    demo = os.path.join(_source_root(), "config", "demo.yaml")
    if os.path.exists(demo):
        p = h.run([g, "--check-config", "--config", demo])
        t.eq(p.returncode, 0, "config/demo.yaml: --check-config exits 0")

    # --version, --help
    p = h.run([g, "--version"])
    t.eq(p.returncode, 0, "--version exits 0")
    version = None
    try:
        with open(os.path.join(_source_root(), "meson.build")) as f:
            m = re.search(r"version\s*:\s*'([^']+)'", f.read())
            version = m.group(1) if m else None
    except OSError:
        pass
    if version:
        t.ok(version in p.stdout_text, f"--version prints {version}", p.stdout_text.strip())
    p = h.run([g, "--help"])
    t.eq(p.returncode, 0, "--help exits 0")
    t.ok("--config" in p.stdout_text and "--check-config" in p.stdout_text,
         "--help documents --config and --check-config")
    t.ok("--print-config-keys" in p.stdout_text, "--help documents --print-config-keys")
    p = h.run([g, "--print-config-keys"])
    t.eq(p.returncode, 0, "--print-config-keys exits 0")
    rows = p.stdout_text.splitlines()
    t.ok(rows[:1] == ["| key | default | values | on SIGHUP | meaning |"],
         "--print-config-keys prints a Markdown table", p.stdout_text[:200])
    t.ok(any(r.startswith("| `mqtt.port` | 1883; 8883 with tls | 1 to 65535 | restart |")
             for r in rows), "--print-config-keys: a row per key", p.stdout_text[:600])
    p = h.run([g, "--no-such-option"])
    t.ok(p.returncode != 0, "an unknown option exits non-zero", f"exit {p.returncode}")


run(main)
