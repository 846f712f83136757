# SPDX-License-Identifier: GPL-3.0-or-later
"""wbc_support.py: what the WAN outage, broker restart and crash-cycle fault tests
(tests/fault/test_wan_outage, test_broker_restart, test_crash_cycles) add to
tests/integration/harness.py and sync_support.py, without changing them: a
child process whose output lines are collected with their time (the receiver
and the flaky proxy run as processes, possibly inside a network namespace), a
network namespace with a veth pair made and removed by the test, a mosquitto
with persistence, and the ntm-sim message sequence read back (--dry-run).
Python standard library only."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402


def source_root():
    return harness._source_root()


def receiver_py():
    return os.path.join(source_root(), "tests", "tools", "receiver.py")


def proxy_py():
    return os.path.join(HERE, "flaky_proxy.py")


# ---------------------------------------------------------------------- processes

class Proc:
    """A child process; its stdout+stderr lines are kept as (monotonic time, line)."""

    def __init__(self, h, argv, name, stdin=True):
        self.h = h
        self.name = name
        self.argv = argv = [str(a) for a in argv]
        self.lines = []
        self.cond = threading.Condition()
        self.log_path = os.path.join(h.tmp, f"{name}.log")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     cwd=h.tmp, preexec_fn=harness._die_with_parent)
        h._procs.append(self.proc)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self.cond:
                    self.lines.append((time.monotonic(), line))
                    self.cond.notify_all()

    def wait_line(self, rx, timeout=10.0, start=0):
        """The first line (from index `start`) matching regex rx; raises on timeout."""
        rx = re.compile(rx)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, ln in self.lines[start:]:
                    m = rx.search(ln)
                    if m:
                        return m
                if self.proc.poll() is not None and not self.thread.is_alive():
                    raise harness.TestFailure(f"{self.name} exited ({self.proc.returncode}); "
                                              f"output:\n" + self.text()[-3000:])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise harness.TestFailure(f"{self.name}: no line matching {rx.pattern!r} "
                                              f"within {timeout:.0f} s; output:\n"
                                              + self.text()[-3000:])
                self.cond.wait(min(left, 0.2))

    def send(self, line):
        if self.proc.poll() is None:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()

    def snapshot(self):
        with self.cond:
            return list(self.lines)

    def text(self):
        return "\n".join(ln for _, ln in self.snapshot())

    def stop(self, sig=signal.SIGINT, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(5)
        return self.proc.returncode


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def diagnose_stuck(d):
    """For a daemon that stopped making progress: its CPU use over a second and,
    when gdb is installed, a few samples of its main thread's stack."""
    if not d.alive():
        return f"(the daemon exited with {d.proc.returncode})"
    pid = d.proc.pid
    c0 = cpu_seconds(pid)
    time.sleep(1)
    out = [f"daemon pid {pid}: {100 * (cpu_seconds(pid) - c0):.0f}% CPU over 1 s; last STATUS "
           f"{d.status['text'] if d.status else None!r}"]
    if subprocess.run(["sh", "-c", "command -v gdb"], capture_output=True).returncode == 0:
        for i in range(3):
            p = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "bt 12"],
                               capture_output=True, text=True, timeout=60)
            frames = [ln for ln in p.stdout.splitlines() if ln.startswith("#")]
            out.append(f"main thread stack, sample {i + 1}:\n  " + "\n  ".join(frames))
            time.sleep(0.3)
    return "\n".join(out)


def sh(argv, check=True):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise harness.TestFailure(f"{' '.join(argv)} exited with {p.returncode}: "
                                  f"{p.stderr.strip()}")
    return p


# ---------------------------------------------------------------------- network namespace

def _sweep_stale_namespaces():
    """Removes ntmtest-<pid> namespaces (and their veths) left by a test process that
    no longer exists (e.g. one killed with SIGKILL). Only ours: the ntmtest- prefix."""
    p = sh(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"ntmtest-(\d+)", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            sh(["ip", "link", "del", f"ntmh{m.group(1)}"], check=False)
            sh(["ip", "netns", "del", name], check=False)


class NetNS:
    """A network namespace ntmtest-<pid> joined to the root namespace by a veth
    pair with link-local /30 addresses: host end ntmh<pid> (.1), far end
    ntmn<pid> (.2) inside the namespace. usable is False (with `why`) when this
    machine does not let us make one; the test then falls back to loopback."""

    def __init__(self):
        pid = os.getpid()
        self.name = f"ntmtest-{pid}"
        self.host_if = f"ntmh{pid}"
        self.far_if = f"ntmn{pid}"
        self.usable = False
        self.why = ""
        self.made_ns = False
        self.made_link = False
        # a /30 of 169.254.0.0/16 chosen from the pid, skipping any in use
        self.host_addr = self.far_addr = None
        used = sh(["ip", "-o", "-4", "addr"], check=False).stdout
        for k in range(64):
            n = (pid + k * 7919) % (200 * 64)
            a, b = 20 + n // 64, (n % 64) * 4
            if f"169.254.{a}." not in used:
                self.host_addr, self.far_addr = f"169.254.{a}.{b + 1}", f"169.254.{a}.{b + 2}"
                break

    def setup(self):
        if os.geteuid() != 0:
            self.why = "not root"
            return False
        _sweep_stale_namespaces()
        p = sh(["ip", "netns", "add", self.name], check=False)
        if p.returncode != 0:
            self.why = f"`ip netns add` failed: {p.stderr.strip()}"
            return False
        self.made_ns = True
        try:
            sh(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.far_if])
            self.made_link = True
            sh(["ip", "link", "set", self.far_if, "netns", self.name])
            sh(["ip", "addr", "add", f"{self.host_addr}/30", "dev", self.host_if])
            sh(["ip", "link", "set", self.host_if, "up"])
            sh(["ip", "-n", self.name, "addr", "add", f"{self.far_addr}/30", "dev", self.far_if])
            sh(["ip", "-n", self.name, "link", "set", self.far_if, "up"])
            sh(["ip", "-n", self.name, "link", "set", "lo", "up"])
        except harness.TestFailure as e:
            self.why = str(e)
            self.cleanup()
            return False
        self.usable = True
        return True

    def argv(self, argv):
        return ["ip", "netns", "exec", self.name, *argv] if self.usable else list(argv)

    def link(self, up):
        """The far end up or down: while it is down, packets sent to the far address
        vanish (the host end has no carrier), as on a dead WAN: connections time out."""
        sh(["ip", "-n", self.name, "link", "set", self.far_if, "up" if up else "down"])

    def tbf(self, rate, burst="2kb", latency="400ms"):
        """Both directions rate-limited (tc tbf); packets waiting longer than `latency`
        are dropped."""
        sh(["tc", "qdisc", "replace", "dev", self.host_if, "root", "tbf", "rate", rate, "burst",
            burst, "latency", latency])
        sh(["ip", "netns", "exec", self.name, "tc", "qdisc", "replace", "dev", self.far_if,
            "root", "tbf", "rate", rate, "burst", burst, "latency", latency])

    def tbf_stats(self):
        a = sh(["tc", "-s", "qdisc", "show", "dev", self.host_if], check=False).stdout
        b = sh(["ip", "netns", "exec", self.name, "tc", "-s", "qdisc", "show", "dev",
                self.far_if], check=False).stdout
        return a.strip().replace("\n", " ") + " | " + b.strip().replace("\n", " ")

    def no_tbf(self):
        sh(["tc", "qdisc", "del", "dev", self.host_if, "root"], check=False)
        sh(["ip", "netns", "exec", self.name, "tc", "qdisc", "del", "dev", self.far_if, "root"],
           check=False)

    def cleanup(self):
        if self.made_link:
            sh(["ip", "link", "del", self.host_if], check=False)  # takes its peer with it
            self.made_link = False
        if self.made_ns:
            sh(["ip", "netns", "del", self.name], check=False)
            self.made_ns = False
        self.usable = False

    def leftovers(self):
        """What of ours is still on the machine (should be nothing after cleanup())."""
        out = []
        if self.name in sh(["ip", "netns", "list"], check=False).stdout.split():
            out.append(self.name)
        if sh(["ip", "link", "show", self.host_if], check=False).returncode == 0:
            out.append(self.host_if)
        return out


# ---------------------------------------------------------------------- broker with persistence

class PersistentBroker(harness.Broker):
    """harness.Broker's mosquitto, with persistence on: its queues and sessions are
    saved to `persistence_location` every `autosave` seconds and on a clean exit
    (SIGTERM), and restored at start."""

    def __init__(self, h, port=None, autosave=1):
        super().__init__(h, port)
        self.autosave = autosave
        self.dir = os.path.join(h.tmp, "mosquitto-db")
        os.makedirs(self.dir, exist_ok=True)
        self.starts = 0

    def start(self, timeout=10.0):
        import pwd
        for attempt in range(5):
            port = self.port or harness.free_port()
            self.conf = os.path.join(self.h.tmp, f"mosquitto-{port}.conf")
            self.log = os.path.join(self.h.tmp, f"mosquitto-{port}.log")
            with open(self.conf, "w") as f:
                f.write(
                    "# written by tests/fault/fault_support.py\n"
                    f"listener {port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                    "max_queued_messages 0\nmax_queued_bytes 0\n"
                    "max_inflight_messages 100\n"
                    "persistence true\n"
                    f"persistence_location {self.dir}/\n"
                    f"autosave_interval {self.autosave}\n"
                    "set_tcp_nodelay true\n"
                    "log_dest stderr\n"
                    "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
                    "connection_messages true\n")
            logf = open(self.log, "ab")
            logf.write(f"---- start {self.starts + 1}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(["mosquitto", "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         preexec_fn=harness._die_with_parent)
            logf.close()
            self.h._procs.append(self.proc)
            self.port = port
            if self._wait_accepting(timeout):
                self.starts += 1
                return port
            self.stop()
            if self.h.ports_fixed:
                break
            self.port = None
        raise harness.TestFailure(f"mosquitto did not start; its log:\n{harness._tail(self.log)}")

    def kill(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait(10)


# ---------------------------------------------------------------------- ntm-sim

def sim_sequence(h, args):
    """The devices, in order, of the messages ntm-sim sends with these arguments
    (the same run with --dry-run): a list of device ids, one per message."""
    p = h.run([harness.sim_path(), "--dry-run", "-q", *map(str, args)], timeout=120, check=True)
    out = []
    for line in p.stdout_text.splitlines():
        topic = line.split(" ", 1)[0]
        parts = topic.split("/")
        out.append(parts[4] if len(parts) == 6 else None)
    return out


def counts(seq):
    c = {}
    for d in seq:
        c[d] = c.get(d, 0) + 1
    return c


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
