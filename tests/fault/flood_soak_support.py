# SPDX-License-Identifier: GPL-3.0-or-later
"""flood_soak_support.py: what test_flood and test_soak_short share beyond
tests/integration/harness.py (imported from there, unchanged): the harness on
sys.path, RSS sampling of a process from /proc, the flat-memory criterion,
whether a binary is an ASan build, and a gateway YAML with uplinks. Python
standard library only."""
import os
import subprocess
import sys
import threading
import time

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, "..", "integration"))

import harness  # noqa: E402  (after the path is set)

MiB = 1024 * 1024


def vm_rss(pid):
    """VmRSS of a process in bytes, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Samples a process's VmRSS every `period` s in a thread, as (monotonic time, bytes)."""

    def __init__(self, pid, period=0.05):
        self.pid = pid
        self.period = period
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            r = vm_rss(self.pid)
            if r is not None:
                self.samples.append((time.monotonic(), r))
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.samples

    def between(self, t0, t1):
        return [(t, r) for t, r in self.samples if t0 <= t <= t1]


def flat_rss(samples, t0, t1, slack=2 * MiB):
    """The flat-memory criterion. Over the run [t0, t1], split by time: the
    largest RSS of the last half may exceed the largest of the first quarter by
    at most `slack`. Largest values (not averages, not the last sample) because
    RSS only grows in steps and a leak or an unbounded queue shows as a higher
    ceiling; the first quarter, not the start, is the reference, because the
    daemon's working set (SQLite page cache, MQTT buffers, malloc arenas)
    reaches its size during the first moments of the load and must then stay
    there; the second quarter is left out as the margin where a slow warm-up
    may still end. A leak of 30 bytes or more a message fails it (the last half
    ends at least 3/4 of the messages after the first quarter: with 100,000
    messages, 75,000 x 30 B = 2.2 MB), while SQLite's page cache (capped at
    1 MiB by the store) filling as the buffer grows fits within the slack.

    Returns (ok, first_quarter_max, last_half_max, n_first, n_last)."""
    span = t1 - t0
    first = [r for t, r in samples if t0 <= t <= t0 + span / 4]
    last = [r for t, r in samples if t0 + span / 2 <= t <= t1]
    if not first or not last:
        return False, None, None, len(first), len(last)
    a, b = max(first), max(last)
    return b <= a + slack, a, b, len(first), len(last)


def rss_timeline(samples, t0, t1, parts=10):
    """'13.1 13.2 ...': the largest RSS (MiB) in each tenth of [t0, t1]."""
    out = []
    for k in range(parts):
        a, b = t0 + (t1 - t0) * k / parts, t0 + (t1 - t0) * (k + 1) / parts
        xs = [r for t, r in samples if a <= t <= b]
        out.append(f"{max(xs) / MiB:.1f}" if xs else "-")
    return " ".join(out)


def is_asan(path):
    """True when the binary is linked with AddressSanitizer."""
    try:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    if "libasan" in out:
        return True
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def asan_env_for_rss():
    """ASAN_OPTIONS for a daemon whose RSS is measured. ASan keeps freed blocks
    in a quarantine (256 MiB by default) to catch use-after-free, which by itself
    grows RSS for as long as it is filling: a 4 MiB one fills in the first
    second and keeps the detection; and its allocator never gives freed memory
    back to the system unless told to. Leak detection and full allocation stacks
    (for LeakSanitizer's reports) stay as they are."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    drop = ("quarantine_size_mb", "allocator_release_to_os_interval_ms")
    keep = [o for o in opts.split(":") if o and not o.startswith(drop)]
    return ":".join(keep + ["quarantine_size_mb=4", "allocator_release_to_os_interval_ms=100"])


# Under ASan, RSS is not the daemon's memory: ASan records the stack of every
# allocation and free in a depot that grows with each new distinct stack (each
# code path the first time it runs: a window closing, a day released, a batch
# formed), adds shadow memory, and keeps its own size classes. Measured: the
# flood grows 1.5 MiB more than the plain build; the 36,000-message soak (5 s)
# 5 to 11 MiB during its first seconds, then nothing (a 216,000-message run is
# flat within 0.5 MiB after its first day closes). So under ASan the RSS check
# only catches gross growth (slack 2 + 14 MiB); the strict 2 MiB check is the
# plain build's (CI runs both), and leaks are LeakSanitizer's.
ASAN_EXTRA_SLACK = 14 * MiB



def prepare_asan(gatewayd):
    """True when the daemon is an ASan build; then ASAN_OPTIONS is set for an RSS
    measurement (asan_env_for_rss) and said on stdout."""
    if not is_asan(gatewayd):
        return False
    os.environ["ASAN_OPTIONS"] = asan_env_for_rss()
    print(f"(ASan build: ASAN_OPTIONS={os.environ['ASAN_OPTIONS']})")
    return True

def write_config(h, villages, devices, storage=None, sync=None, plugin_dir=None, uplinks=""):
    """harness.write_config (unchanged) with a sync section, plugin_dir and
    uplinks (raw YAML of the section's entries) put in place of its 'uplinks: []'."""
    path = h.write_config(villages, devices, storage=storage)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "uplinks: []\n" not in text:
        raise harness.TestFailure("harness.write_config no longer writes 'uplinks: []'")
    text = text.replace("uplinks: []\n", ("uplinks:\n" + uplinks.rstrip("\n") + "\n")
                        if uplinks else "uplinks: []\n")
    if sync:
        text += "sync:\n" + "".join(f"  {k}: {v}\n" for k, v in sync.items())
    if plugin_dir:
        text += f"plugin_dir: {harness._yaml_scalar(plugin_dir)}\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def build_plugin_dir(name):
    """The directory of a plugin built next to the daemon under test:
    $NTM_PLUGIN_BUILD_DIR/<name> when set (a wrapper such as valgrind stands
    for the daemon), else <build>/plugins/<name> of NTM_GATEWAYD's build."""
    base = os.environ.get("NTM_PLUGIN_BUILD_DIR")
    if not base:
        build = os.path.dirname(os.path.dirname(os.path.abspath(harness.gatewayd_path())))
        base = os.path.join(build, "plugins")
    return os.path.join(base, name)


def fmt_mib(b):
    return "?" if b is None else f"{b / MiB:.1f} MiB"
