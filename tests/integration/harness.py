# SPDX-License-Identifier: GPL-3.0-or-later
"""harness.py: the pieces the integration tests share.

A real mosquitto on a free loopback port, a gateway YAML in a temporary
directory, the daemon started with NOTIFY_SOCKET pointing at a datagram socket
we own (so READY=1 and STATUS= lines can be waited for), the simulator, ntmctl,
and a read-only view of the daemon's SQLite database.

Every process is killed and every temporary file removed when the test ends,
whether its checks passed, failed or raised. Python standard library only.

A test is a function taking (h: Harness, t: Checks), given to run():

    def main(h, t):
        port = h.start_broker()
        cfg = h.write_config(villages=["a"], devices=[])
        d = h.start_daemon(cfg)
        ...
        t.eq(got, want, "what is being checked")

    run(main)

run() prints "N passed, M failed" as the last line and exits non-zero unless
every check passed. Set NTM_KEEP_TMP=1 to keep the temporary directory.
"""

import atexit
import ctypes
import json
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

REASONS = [
    "bad_topic", "unknown_village", "bad_channel", "too_large", "not_json",
    "not_object", "missing_field", "wrong_type", "bad_value", "device_conflict",
]
KINDS = ["speaker", "camera", "wifi"]


def _source_root():
    root = os.environ.get("NTM_SOURCE_ROOT")
    if root:
        return root
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _tool(env, *rel):
    """A path from the environment (meson test), else from a build directory
    of the source tree (running a test by hand)."""
    p = os.environ.get(env)
    if p:
        return p
    root = _source_root()
    for b in ("build-int", "build"):
        cand = os.path.join(root, b, *rel)
        if os.path.exists(cand):
            return cand
    raise RuntimeError(f"{env} is not set and no built {'/'.join(rel)} was found")


def gatewayd_path():
    return _tool("NTM_GATEWAYD", "daemon", "ntm-gatewayd")


def ctl_path():
    return _tool("NTM_CTL", "daemon", "ctl", "ntmctl")


def sim_path():
    return _tool("NTM_SIM", "tests", "tools", "ntm-sim")


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test process dies, so that
    not even a `kill -9` of the test leaves a broker or daemon behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return f"({path}: {e})"
    text = data.decode("utf-8", "replace").splitlines()
    cut = text[-lines:]
    more = f"... ({len(text) - len(cut)} earlier lines)\n" if len(text) > len(cut) else ""
    return more + "\n".join(cut)


class TestFailure(Exception):
    pass


# ---------------------------------------------------------------------- checks

class Checks:
    """Counts checks; a failed check is reported and the test goes on."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok - {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {what}" + (f": {detail}" if detail else ""), flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        if got == want:
            return self.ok(True, what)
        return self.ok(False, what, f"got {_short(got)}, want {_short(want)}" +
                       _diff(got, want))

    def require(self, cond, what, detail=""):
        """Like ok(), but stops the test when it fails."""
        if not self.ok(cond, what, detail):
            raise TestFailure(what)


TAIL_MAGIC = 0x544d544e  # daemon/tail.c
TAIL_ENTRIES_OFF = 4096 + 65536 * 8  # daemon/tail.h NTM_TAIL_ENTRIES_OFF
TAIL_HEAD = 32  # magic, length, check, id, delivery key


def tail_journal_entries(path):
    """Entries in a tail journal file (daemon/tail.h: a header page, the table of
    deliveries, then the entries), up to their end marker (0 when there is no
    file)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    n, off = 0, TAIL_ENTRIES_OFF
    while off + TAIL_HEAD <= len(data):
        magic, length = struct.unpack_from("<II", data, off)
        if magic != TAIL_MAGIC:
            break
        n += 1
        off += TAIL_HEAD + length
    return n


def _short(v, n=600):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def _diff(got, want):
    if not isinstance(got, dict) or not isinstance(want, dict):
        return ""
    keys = sorted(set(got) | set(want), key=str)
    d = [f"{k}: got {got.get(k)}, want {want.get(k)}" for k in keys if got.get(k) != want.get(k)]
    if not d:
        return ""
    return "\n    differs at " + "; ".join(d[:20]) + (f" (+{len(d) - 20} more)" if len(d) > 20 else "")


# ---------------------------------------------------------------------- broker

class Broker:
    def __init__(self, h, port=None):
        self.h = h
        self.port = port
        self.proc = None
        self.log = None
        self.conf = None

    def start(self, timeout=10.0):
        for attempt in range(5):
            port = self.port or free_port()
            d = self.h.tmp
            self.conf = os.path.join(d, f"mosquitto-{port}.conf")
            self.log = os.path.join(d, f"mosquitto-{port}.log")
            with open(self.conf, "w") as f:
                f.write(
                    f"# written by tests/integration/harness.py\n"
                    f"listener {port} 127.0.0.1\n"
                    f"allow_anonymous true\n"
                    # stay who we are: dropping root to `mosquitto` would also clear the
                    # parent-death signal that kills the broker with the test
                    f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                    # queue without limit for the daemon's persistent session while it
                    # is down (the default, 1000, silently drops the rest)
                    f"max_queued_messages 0\n"
                    f"max_queued_bytes 0\n"
                    # in flight towards a subscriber: only a pace, never a drop
                    f"max_inflight_messages 100\n"
                    f"persistence false\n"
                    f"set_tcp_nodelay true\n"
                    f"log_dest stderr\n"
                    f"log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
                    f"connection_messages true\n")
            logf = open(self.log, "ab")
            self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, preexec_fn=_die_with_parent)
            logf.close()
            self.h._procs.append(self.proc)
            self.port = port
            if self._wait_accepting(timeout):
                return port
            self.stop()
            if self.h.ports_fixed:
                break
            self.port = None  # taken meanwhile: another port
        raise TestFailure(f"mosquitto did not start; its log:\n{_tail(self.log)}")

    def _wait_accepting(self, timeout):
        """Until an MQTT CONNECT gets its CONNACK, or mosquitto exits."""
        deadline = time.monotonic() + timeout
        connect = (b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05probe")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(connect)
                    if s.recv(4) == b"\x20\x02\x00\x00":
                        s.sendall(b"\xe0\x00")
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------- daemon

STATUS_RE = {
    "accepted": re.compile(r"accepted (\d+)"),
    "rejected": re.compile(r"rejected (\d+)"),
    "buffered": re.compile(r"buffered (\d+)"),
}


def parse_status(line):
    """'broker connected; accepted 5, rejected 1, buffered 5; 3 msg/s' -> dict"""
    st = {"text": line, "connected": "broker connected" in line}
    for k, rx in STATUS_RE.items():
        m = rx.search(line)
        st[k] = int(m.group(1)) if m else None
    return st


class Daemon:
    """One run of ntm-gatewayd, with its sd_notify messages and its stderr."""

    def __init__(self, h, config, n):
        self.h = h
        self.config = config
        self.n = n
        self.proc = None
        self.stderr_path = os.path.join(h.tmp, f"gatewayd-{n}.stderr")
        self.sock_path = os.path.join(h.tmp, f"notify-{n}.sock")
        self.sock = None
        self.thread = None
        self.cond = threading.Condition()
        self.ready = False
        self.stopping = False
        self.statuses = []  # (monotonic time, dict)
        self.notify_lines = []
        self.started_at = None
        self.returncode = None
        self.sigterm_sent = False

    def start(self, args=()):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._read_notify, daemon=True)
        self.thread.start()
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.sock_path
        errf = open(self.stderr_path, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([gatewayd_path(), "--config", self.config, *args],
                                     stdin=subprocess.DEVNULL, stdout=errf, stderr=errf, env=env,
                                     cwd=self.h.tmp, preexec_fn=_die_with_parent)
        errf.close()
        self.h._procs.append(self.proc)
        return self

    def _read_notify(self):
        sock = self.sock
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                if sock.fileno() < 0:
                    return
                continue
            except OSError:
                return
            now = time.monotonic()
            with self.cond:
                for line in data.decode("utf-8", "replace").splitlines():
                    self.notify_lines.append((now, line))
                    if line == "READY=1":
                        self.ready = True
                    elif line == "STOPPING=1":
                        self.stopping = True
                    elif line.startswith("STATUS="):
                        self.statuses.append((now, parse_status(line[7:])))
                self.cond.notify_all()

    @property
    def status(self):
        """The latest STATUS as a dict (accepted, rejected, buffered, connected, text)."""
        with self.cond:
            return self.statuses[-1][1] if self.statuses else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                r = pred()
                if r:
                    return r
                if self.proc.poll() is not None:
                    # one last look: the datagram may come just before the exit
                    r = pred()
                    if r:
                        return r
                    raise TestFailure(f"ntm-gatewayd exited with {self.proc.returncode} while "
                                      f"waiting for {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    last = self.statuses[-1][1]["text"] if self.statuses else "(no STATUS yet)"
                    raise TestFailure(f"timed out after {timeout:.0f} s waiting for {what}; "
                                      f"last STATUS: {last}")
                self.cond.wait(min(left, 0.2))

    def wait_ready(self, timeout=30):
        self._wait(lambda: self.ready, timeout, "READY=1")
        return time.monotonic() - self.started_at

    def wait_status(self, pred, timeout=60, what="a STATUS"):
        """Until pred(status dict) is true for a STATUS line; returns that dict."""
        seen = [0]

        def check():
            while seen[0] < len(self.statuses):
                st = self.statuses[seen[0]][1]
                seen[0] += 1
                if pred(st):
                    return st
            return None
        return self._wait(check, timeout, what)

    def wait_counts(self, accepted, rejected=None, timeout=60):
        def pred(st):
            return st["accepted"] == accepted and (rejected is None or st["rejected"] == rejected)
        want = f"accepted {accepted}" + (f", rejected {rejected}" if rejected is not None else "")
        return self.wait_status(pred, timeout, want)

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)
            if sig == signal.SIGTERM:
                self.sigterm_sent = True

    def terminate(self, timeout=30):
        """SIGTERM (unless signal() already sent one: a second SIGTERM is not what
        systemd does), then the exit code; SIGKILL and a failure after `timeout` s."""
        if self.proc.poll() is None:
            if not self.sigterm_sent:
                self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close()
                raise TestFailure(f"ntm-gatewayd did not exit within {timeout} s of SIGTERM")
        self._close()
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()
        return self.proc.returncode if self.proc else None

    def _close(self):
        if self.sock is not None:
            # let the reader drain what is queued, then close
            time.sleep(0.05)
            try:
                self.sock.close()
            except OSError:
                pass
            if self.thread:
                self.thread.join(2)
            self.sock = None
            try:
                os.unlink(self.sock_path)
            except OSError:
                pass

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------- harness

class Harness:
    def __init__(self, name=None):
        self.name = name or os.path.splitext(os.path.basename(sys.argv[0]))[0]
        self.tmp = tempfile.mkdtemp(prefix=f"ntm-{self.name}-")
        self._procs = []
        self.broker = None
        self.daemons = []
        self.ports_fixed = False
        self._sim_n = 0
        self.db_path = os.path.join(self.tmp, "buffer.db")
        self._cleaned = False
        atexit.register(self.cleanup)

    # ---- broker

    def start_broker(self, port=None):
        self.broker = Broker(self, port)
        self.ports_fixed = port is not None
        return self.broker.start()

    @property
    def port(self):
        return self.broker.port

    # ---- configuration

    def write_config(self, villages, devices=(), name="gateway.yaml", mqtt=None, storage=None,
                     extra=""):
        """A gateway YAML for this test. villages: ids; devices: (id, kind, village)
        tuples or dicts; mqtt/storage: keys added to (or replacing) those sections;
        extra: raw YAML appended. Returns the path."""
        m = {"host": "127.0.0.1", "port": self.broker.port if self.broker else 1883,
             "client_id": "ntm-gateway-test"}
        m.update(mqtt or {})
        s = {"path": self.db_path, "quarantine_max": 100000}
        s.update(storage or {})
        lines = [
            f"# written by tests/integration/harness.py for {self.name}",
            "gateway:",
            "  id: gw-test-01",
            "commune:",
            '  code: "16279"',
            '  province_code: "38"',
            '  name: "Xã thử nghiệm"',
            "villages:",
        ]
        lines += [f'  - {{id: {v}, name: "Thôn {v}"}}' for v in villages]
        if devices:
            lines.append("devices:")
            for d in devices:
                if isinstance(d, dict):
                    d = (d["id"], d["kind"], d["village"])
                lines.append(f"  - {{id: {d[0]}, kind: {d[1]}, village: {d[2]}}}")
        else:
            lines.append("devices: []")
        lines.append("mqtt:")
        lines += [f"  {k}: {_yaml_scalar(v)}" for k, v in m.items()]
        lines.append("storage:")
        lines += [f"  {k}: {_yaml_scalar(v)}" for k, v in s.items()]
        lines += ["log:", "  level: info", "uplinks: []"]
        text = "\n".join(lines) + "\n" + extra
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def write_file(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    # ---- daemon

    def start_daemon(self, config, args=(), ready=True, timeout=30, connected=None):
        """Starts the daemon; with ready, waits for READY=1 and then (when our
        broker runs, or connected=True) for a STATUS saying the broker is
        connected: READY=1 no longer waits for the broker, and a message
        published before the first subscription would not be queued for us."""
        d = Daemon(self, config, len(self.daemons) + 1)
        self.daemons.append(d)
        d.start(args)
        if ready:
            d.wait_ready(timeout)
            if connected is None:
                connected = bool(self.broker and self.broker.proc and
                                 self.broker.proc.poll() is None)
            if connected:
                d.wait_status(lambda st: st["connected"], timeout, "the broker connected")
        return d

    # ---- tools

    def run(self, argv, timeout=120, check=False, input=None):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL if input is None else None,
                           input=input, capture_output=True, timeout=timeout, cwd=self.tmp,
                           preexec_fn=_die_with_parent)
        p.stdout_text = p.stdout.decode("utf-8", "replace")
        p.stderr_text = p.stderr.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise TestFailure(f"{' '.join(argv)} exited with {p.returncode}:\n"
                              f"{p.stdout_text}{p.stderr_text}")
        return p

    def sim(self, *args, timeout=300, check=True):
        """Runs ntm-sim against the broker with --expect; returns (process, expect dict)."""
        self._sim_n += 1
        expect = os.path.join(self.tmp, f"expect-{self._sim_n}.json")
        argv = [sim_path(), "--port", str(self.broker.port), "--expect", expect, *map(str, args)]
        t0 = time.monotonic()
        p = self.run(argv, timeout=timeout, check=check)
        p.elapsed = time.monotonic() - t0
        sys.stdout.write(p.stderr_text)
        exp = None
        if os.path.exists(expect):
            with open(expect) as f:
                exp = json.load(f)
        return p, exp

    def sim_devices(self, villages, n):
        """The devices ntm-sim generates for --villages/--devices, as
        [(id, kind, village)], without a broker."""
        expect = os.path.join(self.tmp, "devices.json")
        self.run([sim_path(), "--dry-run", "-q", "--villages", ",".join(villages),
                  "--devices", str(n), "--count", "1", "--expect", expect], check=True)
        with open(expect) as f:
            devs = json.load(f)["devices"]
        return [(k, v["kind"], v["village"]) for k, v in devs.items()]

    def ctl(self, *args, timeout=60, check=False):
        return self.run([ctl_path(), *map(str, args)], timeout=timeout, check=check)

    # ---- database

    def db(self, path=None):
        """The daemon's database, opened read-only."""
        path = path or self.db_path
        if not os.path.exists(path):
            raise TestFailure(f"no database at {path}")
        uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=10)

    def query(self, sql, params=(), path=None):
        con = self.db(path)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def db_files(self, path=None):
        path = path or self.db_path
        return [p for p in (path, path + "-wal", path + "-shm", path + "-journal")
                if os.path.exists(p)]

    # ---- end

    def dump_logs(self):
        for d in self.daemons:
            print(f"---- ntm-gatewayd run {d.n} stderr ({d.stderr_path}):")
            print(_tail(d.stderr_path, 80))
            if d.statuses:
                print(f"---- last STATUS: {d.statuses[-1][1]['text']}")
        if self.broker and self.broker.log:
            print(f"---- mosquitto log ({self.broker.log}):")
            print(_tail(self.broker.log, 30))
        sys.stdout.flush()

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for d in self.daemons:
            try:
                d.kill()
            except Exception:
                pass
        if self.broker:
            self.broker.stop()
        for p in self._procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except Exception:
                    pass
        if os.environ.get("NTM_KEEP_TMP"):
            print(f"(kept {self.tmp})")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v), ensure_ascii=False)  # a JSON string is a YAML string


def _on_sigterm(sig, frame):
    raise KeyboardInterrupt(f"signal {sig}")


def run(main, name=None):
    """Runs main(h, t) and exits: 0 only when every check passed."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    t = Checks()
    h = Harness(name)
    t0 = time.monotonic()
    try:
        main(h, t)
    except TestFailure as e:
        t.failed += 1
        print(f"FAIL - {e}", flush=True)
    except BaseException:
        t.failed += 1
        print("FAIL - the test raised:", flush=True)
        traceback.print_exc(file=sys.stdout)
    finally:
        if t.failed:
            h.dump_logs()
        h.cleanup()
    print(f"({h.name}: {time.monotonic() - t0:.1f} s)")
    if t.passed == 0 and t.failed == 0:
        t.failed = 1
        print("FAIL - no check was made")
    print(f"{t.passed} passed, {t.failed} failed", flush=True)
    sys.exit(0 if t.failed == 0 else 1)
