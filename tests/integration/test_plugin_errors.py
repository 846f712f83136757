#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_plugin_errors: uplink plugin problems stop the daemon at start-up, each
with a clear message naming the problem, and a non-zero exit code:

  - a plugin that does not exist (`plugin: nosuch`)
  - an unknown plugin option (`base_ur:`): file:line:col and the option's name
  - an option of the wrong type (`timeout_s: soon`): file:line:col and the option
  - a plugin built for another plugin ABI (tests/plugins/bad_abi.c, abi_version 1)

The daemon must not report READY=1 in any of these cases.
"""

import glob
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

VILLAGES = ["thon-a"]
DEVICES = [("spk-a", "speaker", "thon-a")]


def start_fails(h, t, name, cfg, timeout=20):
    """Starts the daemon on cfg; checks that it exits non-zero without READY=1.
    Returns its stderr."""
    d = h.start_daemon(cfg, ready=False)
    try:
        rc = d.proc.wait(timeout)
    except Exception:
        d.kill()
        t.ok(False, f"{name}: the daemon exits at start-up", f"still running after {timeout} s")
        return d.stderr_text()
    d.terminate()
    err = d.stderr_text()
    print(f"---- {name}: exit {rc}, stderr:\n{err.rstrip()}")
    t.ok(rc not in (0, None), f"{name}: exit code non-zero ({rc})")
    t.ok(not d.ready, f"{name}: no READY=1 was sent")
    return err


def line_col(path, needle):
    """(line, key column, value column), 1-based, of the first line containing needle."""
    with open(path, encoding="utf-8") as f:
        for i, ln in enumerate(f, 1):
            k = ln.find(needle)
            if k >= 0:
                v = ln.index(":", k) + 1
                while ln[v] == " ":
                    v += 1
                return i, k + 1, v + 1
    raise harness.TestFailure(f"{needle!r} is not in {path}")


def has_pos(err, cfg, line, cols):
    return any(f"{cfg}:{line}:{c}" in err for c in cols)


def main(h, t):
    h.start_broker()
    tok = S.token_file(h, "tok")
    pdir = S.plugin_dir()
    t.ok(os.path.exists(S.plugin_so()), f"the provincial-http plugin is built ({S.plugin_so()})")

    # ---- a plugin that does not exist
    cfg = S.write_config(h, VILLAGES, DEVICES, name="nosuch.yaml", plugin_dir_=pdir,
                         uplinks="  - plugin: nosuch\n    base_url: http://127.0.0.1:9\n")
    err = start_fails(h, t, "plugin: nosuch", cfg)
    t.ok("nosuch" in err and "not found" in err and os.path.join(pdir, "nosuch.so") in err,
         "plugin: nosuch: the message says the plugin is not found and where it was looked for",
         repr(err[-400:]))

    # ---- an unknown option
    cfg = S.write_config(h, VILLAGES, DEVICES, name="base_ur.yaml", plugin_dir_=pdir,
                         uplinks=("  - plugin: provincial-http\n"
                                  "    base_ur: http://127.0.0.1:9\n"
                                  f"    token_file: {tok}\n"))
    line, kcol, vcol = line_col(cfg, "base_ur:")
    err = start_fails(h, t, "base_ur", cfg)
    t.ok(has_pos(err, cfg, line, (kcol, vcol)),
         f"base_ur: the message has file:line:col ({cfg}:{line}:{kcol} or :{vcol})",
         repr(err[-600:]))
    t.ok("'base_ur'" in err or "base_ur " in err or "base_ur:" in err.replace(cfg, ""),
         "base_ur: the message names the unknown option", repr(err[-600:]))
    t.ok("base_url" in err, "base_ur: the message points to base_url (a suggestion or the "
         "missing required option)", repr(err[-600:]))

    # ---- an option of the wrong type
    cfg = S.write_config(h, VILLAGES, DEVICES, name="timeout.yaml", plugin_dir_=pdir,
                         uplinks=("  - plugin: provincial-http\n"
                                  "    base_url: http://127.0.0.1:9\n"
                                  f"    token_file: {tok}\n"
                                  "    timeout_s: soon\n"))
    line, kcol, vcol = line_col(cfg, "timeout_s:")
    err = start_fails(h, t, "timeout_s: soon", cfg)
    t.ok(has_pos(err, cfg, line, (kcol, vcol)) and "timeout_s" in err,
         f"timeout_s: soon: the message has {cfg}:{line}:col and the option's name",
         repr(err[-600:]))

    # ---- a plugin built for another ABI
    header = os.path.join(os.environ["NTM_SOURCE_ROOT"], "include", "ntm", "plugin.h")
    abi = next(ln.split()[2].rstrip("u") for ln in open(header)
               if ln.startswith("#define NTM_PLUGIN_ABI_VERSION "))
    cands = sorted(glob.glob(os.path.join(S.build_dir(), "tests", "plugins", "*abi*.so")))
    if not cands:
        print(f"SKIP - bad ABI: no plugin built from tests/plugins/bad_abi.c in "
              f"{os.path.join(S.build_dir(), 'tests', 'plugins')} (expected a *abi*.so "
              f"with abi_version 1); not checked")
    else:
        so = cands[0]
        own = os.path.join(h.tmp, "plugins")
        os.makedirs(own, exist_ok=True)
        # only this plugin in the dir; the file name is the name the config asks for
        shutil.copy(so, os.path.join(own, "oldabi.so"))
        cfg = S.write_config(h, VILLAGES, DEVICES, name="abi.yaml", plugin_dir_=own,
                             uplinks="  - plugin: oldabi\n    base_url: http://127.0.0.1:9\n")
        err = start_fails(h, t, f"ABI 1 ({os.path.basename(so)})", cfg)
        want = (f"uplink 1 (oldabi): plugin oldabi was built for plugin ABI 1, this daemon "
                f"speaks {abi}: install a matching plugin ({own}/oldabi.so)")
        t.ok(want in err, "bad ABI: the message names the plugin, the ABI it was built for (1), "
             f"the daemon's ({abi}) and the file", f"want {want!r} in {err[-600:]!r}")

    # ---- and the same configuration with a good plugin starts
    rx = S.start_receiver("tok")
    try:
        cfg = S.write_config(h, VILLAGES, DEVICES, name="good.yaml", plugin_dir_=pdir,
                             uplinks=[S.http_uplink(rx, tok)])
        d = h.start_daemon(cfg)
        t.ok(d.ready, "with the right plugin and options the daemon starts (READY=1)")
        t.eq(d.terminate(), 0, "and stops with exit code 0")
    finally:
        rx.stop()


if __name__ == "__main__":
    harness.run(main)
