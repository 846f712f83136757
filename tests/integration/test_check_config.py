#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_check_config: `ntm-gatewayd --check-config` and `ntmctl check-config`
say what a start says (issue 13, findings 1, 2 and 8).

For each wrong uplink (an unknown `base-url:`, an unknown `token:`, a plugin
name that does not exist, a URL without a scheme, a token file that does not
exist, a token file the daemon cannot read), both checks exit 1 with the
message a start prints, and a start exits 1 without READY=1. The shipped
config/gateway.yaml is refused, naming every key left to set. A good file
passes both checks and starts.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

VILLAGES = ["thon-a"]


def check(h, cfg):
    return h.run([harness.gatewayd_path(), "--check-config", "--config", cfg])


def ctl_check(h, cfg):
    env_cmd = [harness.ctl_path(), "--config", cfg, "check-config"]
    return h.run(env_cmd)


def start(h, t, name, cfg):
    d = h.start_daemon(cfg, ready=False)
    try:
        rc = d.proc.wait(20)
    except Exception:
        d.kill()
        t.ok(False, f"{name}: a start fails", "still running after 20 s")
        return None, ""
    d.terminate()
    return rc, d.stderr_text()


def main(h, t):
    os.environ["NTM_GATEWAYD"] = harness.gatewayd_path()
    h.start_broker()
    tok = S.token_file(h, "tok")
    pdir = S.plugin_dir()
    unreadable = os.path.join(h.tmp, "tok-unreadable")
    with open(unreadable, "w") as f:
        f.write("x\n")
    os.chmod(unreadable, 0)
    root = os.geteuid() == 0

    cases = [
        ("base-url", f"  - plugin: provincial-http\n    base-url: https://p.example/ntm\n"
                     f"    token_file: {tok}\n", ["base-url"]),
        ("token", "  - plugin: provincial-http\n    base_url: https://p.example/ntm\n"
                  "    token: abc\n", ["token"]),
        ("provincial_http", f"  - plugin: provincial_http\n    base_url: https://p.example/ntm\n"
                            f"    token_file: {tok}\n", ["provincial_http", "not found"]),
        ("no scheme", f"  - plugin: provincial-http\n    base_url: p.example/ntm\n"
                      f"    token_file: {tok}\n", ["base_url", "http"]),
        ("missing token file", "  - plugin: provincial-http\n    base_url: https://p.example/ntm\n"
                               f"    token_file: {h.tmp}/no-such-token\n",
         ["no-such-token", "No such file"]),
    ]
    if not root:  # root reads a mode-0 file; as root the check judges by the daemon's user
        cases.append(("unreadable token file",
                      "  - plugin: provincial-http\n    base_url: https://p.example/ntm\n"
                      f"    token_file: {unreadable}\n", ["tok-unreadable", "cannot be read"]))
    for name, uplinks, words in cases:
        cfg = S.write_config(h, VILLAGES, uplinks=uplinks, plugin_dir_=pdir,
                             name=name.replace(" ", "-") + ".yaml")
        c = check(h, cfg)
        print(f"---- {name}: --check-config exit {c.returncode}\n{c.stderr_text.rstrip()}")
        t.eq(c.returncode, 1, f"{name}: --check-config exits 1")
        t.ok(all(w in c.stderr_text for w in words), f"{name}: the check names {words}",
             c.stderr_text)
        k = ctl_check(h, cfg)
        t.eq(k.returncode, 1, f"{name}: ntmctl check-config exits 1")
        t.eq(k.stderr_text, c.stderr_text, f"{name}: ntmctl check-config says the same")
        rc, err = start(h, t, name, cfg)
        t.ok(rc not in (0, None), f"{name}: a start exits non-zero ({rc})")
        first = c.stderr_text.splitlines()[0]
        # the start prints the same message (the daemon's log may prefix it)
        t.ok(first.split(": ", 1)[-1][:60] in err, f"{name}: the start says what the check said",
             f"check: {first!r}\nstart: {err[-500:]!r}")

    # the shipped configuration: refused, naming each key to set
    shipped = os.path.join(harness._source_root(), "config", "gateway.yaml")
    c = check(h, shipped)
    t.eq(c.returncode, 1, "the shipped gateway.yaml is refused by --check-config")
    for key in ("gateway.id", "commune.code", "commune.province_code", "villages",
                "uplinks[1].base_url"):
        t.ok(key in c.stderr_text, f"the refusal names {key}", c.stderr_text)
    rc, err = start(h, t, "shipped", shipped)
    t.ok(rc not in (0, None) and "as shipped" in err, "and a start on it is refused", err[-400:])

    # a good one passes both and starts
    rx = S.start_receiver("tok")
    try:
        cfg = S.write_config(h, VILLAGES, uplinks=[S.http_uplink(rx, tok)], plugin_dir_=pdir,
                             name="good.yaml")
        c = check(h, cfg)
        t.eq(c.returncode, 0, "a good file passes --check-config")
        t.ok("would start" in c.stdout_text, "and says so", c.stdout_text + c.stderr_text)
        k = ctl_check(h, cfg)
        t.eq(k.returncode, 0, "ntmctl check-config agrees")
        d = h.start_daemon(cfg)
        t.ok(d.ready, "and it starts")
        t.eq(d.terminate(), 0, "clean stop")
    finally:
        rx.stop()


harness.run(main)
