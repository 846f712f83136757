#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench.py: every figure of issue 6 (performance) in one run, each next to its
target, as one Markdown table (printed, and written to tests/bench/RESULTS.md
by run.sh). Figures are ratios against a baseline measured in the same run, or
counts that do not depend on the machine's speed (instructions, bytes, fsyncs).

Sections (each one's failure is reported in the table, the others still run):
  ingest    durable ingest rate, live and backlog, vs a raw `mosquitto_sub` on
            the same load and method (ingest_bench.py's backlog method, extended)
  nodered   Node-RED (npm, installed under tests/bench/work/) on the same load:
            rate, peak RSS, messages kept across a SIGTERM restart
  callgrind instructions per message: tests/bench/replay.c (ntm-replay) over a
            fixed replay, twice; and the daemon itself consuming a backlog
            (what the MQTT read path adds)
  steady    1,000 msg/s: write_bytes per message vs the stored record size,
            fsyncs per second (strace), peak RSS and private dirty memory
  idle      CPU time with devices connected but silent
  week      7 days of event time for 10 villages replayed while the receiver is
            away (batches pile up), the buffer grown to 5 million messages, then:
            READY=1 time, ingest rate and memory on it, and the drain time once
            the receiver comes back (issue 3's figure too)

Usage: bench.py --build DIR [--quick] [--only SECTION,...] [--out FILE]
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
WORK = os.path.join(HERE, "work")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

TOKEN = "bench-Token_0123456789"
VILLAGES = [f"thon-{i:02d}" for i in range(1, 11)]  # 10 villages
N_DEVICES = 100
MIB = 1048576.0


# ---------------------------------------------------------------------- /proc

def _kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":"):
                    try:
                        out[parts[0][:-1]] = int(parts[1])
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def proc_io(pid):
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k.strip()] = int(v)
    return out


def status(pid):
    return _kv(f"/proc/{pid}/status")


def smaps_rollup(pid):
    return _kv(f"/proc/{pid}/smaps_rollup")


def cpu_ns(pid):
    """(utime+stime in ns from /proc/PID/stat, run time in ns summed over the
    threads' schedstat, voluntary + involuntary context switches)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    ticks_ns = (int(fields[11]) + int(fields[12])) * 1e9 / hz
    sched = 0
    ctx = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                sched += int(f.read().split()[0])
            st = _kv(f"/proc/{pid}/task/{tid}/status")
            ctx += st.get("voluntary_ctxt_switches", 0) + st.get("nonvoluntary_ctxt_switches", 0)
        except OSError:
            pass
    return ticks_ns, sched, ctx


def rss_by_mapping(pid, top=14):
    """The largest Rss contributors of a process, by backing file, in KiB."""
    agg = {}
    cur = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    cur = parts[5] if len(parts) >= 6 else "[anon]"
                    cur = os.path.basename(cur) if cur.startswith("/") else cur
                elif parts and parts[0] in ("Rss:", "Private_Dirty:"):
                    a = agg.setdefault(cur, [0, 0])
                    a[0 if parts[0] == "Rss:" else 1] += int(parts[1])
    except OSError:
        return []
    return sorted(agg.items(), key=lambda kv: -kv[1][0])[:top]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------- results

class Table:
    def __init__(self):
        self.rows = []   # (figure, value, target, met)
        self.notes = []  # free text after the table
        self.profile = []

    def add(self, figure, value, target="", met=None):
        self.rows.append((figure, value, target, met))
        mark = {True: "met", False: "NOT met", None: ""}[met]
        print(f"  | {figure} | {value} | {target} | {mark}", flush=True)

    def note(self, text):
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def markdown(self):
        out = ["| figure | measured | target | met? |", "| --- | --- | --- | --- |"]
        for fig, val, tgt, met in self.rows:
            m = {True: "met", False: "**not met**", None: ""}[met]
            out.append(f"| {fig} | {val} | {tgt} | {m} |")
        return "\n".join(out)


def fmt_rate(n, s):
    return f"{n / s:,.0f} msg/s ({s:.2f} s)" if s > 0 else "n/a"


# ---------------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.build = os.path.abspath(args.build)
        os.environ["NTM_GATEWAYD"] = (os.path.abspath(args.daemon) if args.daemon else
                                      os.path.join(self.build, "daemon", "ntm-gatewayd"))
        os.environ["NTM_CTL"] = os.path.join(self.build, "daemon", "ctl", "ntmctl")
        os.environ["NTM_SIM"] = os.path.join(self.build, "tests", "tools", "ntm-sim")
        self.sim_bin = os.environ["NTM_SIM"]
        self.replay_bin = os.path.join(self.build, "tests", "bench", "ntm-replay")
        global harness, S
        import harness  # noqa: E402
        import sync_support as S  # noqa: E402
        self.t = Table()
        self.h = harness.Harness("bench")
        # As under systemd (RuntimeDirectory=ntm-gateway): the tail journal of
        # uncommitted messages goes to a tmpfs, as it does in production.
        self.run_dir = tempfile.mkdtemp(prefix="ntm-bench-run-", dir="/dev/shm"
                                        if os.path.isdir("/dev/shm") else None)
        os.environ["RUNTIME_DIRECTORY"] = self.run_dir
        self.port = self.h.start_broker()
        self.devices = self.h.sim_devices(VILLAGES, N_DEVICES)
        self.dev_args = ["--villages", ",".join(VILLAGES), "--devices", str(N_DEVICES)]
        self.tok = S.token_file(self.h, TOKEN)
        self.rx = S.start_receiver(TOKEN)
        self.n = 20000 if self.quick else 100000
        self.base = {}  # baselines measured in this run, for later comparisons
        self.timings = []
        self._cfg_n = 0

    # ---- helpers

    def config(self, db, client_id, uplink_rx=None, storage=None):
        self._cfg_n += 1
        st = {"path": db}
        st.update(storage or {})
        rx = uplink_rx or self.rx
        return S.write_config(self.h, VILLAGES, self.devices, uplinks=[S.http_uplink(rx, self.tok)],
                              plugin_dir_=S.plugin_dir(), name=f"gw-{self._cfg_n}.yaml",
                              mqtt={"client_id": client_id}, storage=st)

    def db_path(self, name):
        return os.path.join(self.h.tmp, name)

    def sim_argv(self, *args):
        return [self.sim_bin, "--port", str(self.port), *self.dev_args, *map(str, args)]

    def publish(self, n, start_ts, step_ms=10, rate=0, seed=7):
        """Publishes n QoS 1 messages, blocking; returns seconds."""
        t0 = time.monotonic()
        p = subprocess.run(self.sim_argv("--count", n, "--qos", 1, "--rate", rate, "--start-ts",
                                         start_ts, "--step-ms", step_ms, "--seed", seed, "-q"),
                           capture_output=True, timeout=1800)
        if p.returncode != 0:
            raise RuntimeError(f"ntm-sim exited {p.returncode}: {p.stderr.decode()[-500:]}")
        return time.monotonic() - t0

    def accepted(self, db):
        try:
            con = self.h.db(db)
            try:
                r = con.execute("SELECT value FROM counters WHERE name='accepted'").fetchone()
                return r[0] if r else 0
            finally:
                con.close()
        except Exception:
            return 0

    def wait_accepted(self, db, n, d, timeout=600, poll=0.01):
        """Seconds from now until the database holds n accepted (committed)."""
        t0 = time.monotonic()
        con = None
        while time.monotonic() - t0 < timeout:
            try:
                if con is None:
                    con = self.h.db(db)
                r = con.execute("SELECT value FROM counters WHERE name='accepted'").fetchone()
                if r and r[0] >= n:
                    break
            except Exception:
                if con is not None:
                    con.close()
                con = None
            if d is not None and not d.alive():
                raise RuntimeError("the daemon exited")
            time.sleep(poll)
        else:
            raise RuntimeError(f"timed out waiting for {n} accepted")
        if con is not None:
            con.close()
        return time.monotonic() - t0

    def count_messages(self, db):
        return self.h.query("SELECT count(*) FROM messages", path=db)[0][0]

    def timed(self, name, fn):
        t0 = time.monotonic()
        print(f"== {name} (load {loadavg()})", flush=True)
        try:
            fn()
        except Exception as e:
            traceback.print_exc()
            self.t.add(f"{name}: error", f"{type(e).__name__}: {str(e)[:200]}", "", False)
        dt = time.monotonic() - t0
        self.timings.append((name, dt))
        print(f"   ({name}: {dt:.0f} s)", flush=True)

    # ---- ingest: live and backlog, daemon vs raw mosquitto_sub

    def raw_backlog(self, n, start_ts):
        sub = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-c", "-i",
               "bench-raw", "-t", "ntm/v1/#"]
        subprocess.run(sub + ["-E"], check=True, timeout=30)
        self.publish(n, start_ts)
        t0 = time.monotonic()
        subprocess.run(sub + ["-C", str(n)], check=True, timeout=900, stdout=subprocess.DEVNULL)
        dt = time.monotonic() - t0
        self.drop_session("bench-raw")
        return dt

    def raw_live(self, n, start_ts):
        sub = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-c", "-i",
               "bench-raw-live", "-t", "ntm/v1/#"]
        subprocess.run(sub + ["-E"], check=True, timeout=30)
        p = subprocess.Popen(sub + ["-C", str(n)], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.3)  # connected and subscribed (the session exists, so nothing is lost)
            t0 = time.monotonic()
            self.publish(n, start_ts)
            p.wait(900)
            dt = time.monotonic() - t0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.drop_session("bench-raw-live")
        return dt

    def drop_session(self, cid):
        subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-i", cid,
                        "-t", "ntm/v1/#", "-E"], check=True, timeout=30)

    def gw_backlog(self, n, start_ts, db, cid, check_count=True, rx=None):
        """Daemon stopped, n published into its session, daemon started: seconds
        until all n are committed; also its peak RSS and memory at the end."""
        cfg = self.config(db, cid, uplink_rx=rx)
        if not os.path.exists(db):
            d = self.h.start_daemon(cfg)
            d.terminate()
        before = self.accepted(db)
        self.publish(n, start_ts)
        d = self.h.start_daemon(cfg, ready=False)
        t0 = time.monotonic()
        dt = self.wait_accepted(db, before + n, d) + (t0 - d.started_at)
        st = status(d.proc.pid)
        roll = smaps_rollup(d.proc.pid)
        rc = d.terminate()
        if rc != 0:
            raise RuntimeError(f"the daemon exited {rc}")
        if check_count:
            got = self.accepted(db) - before
            if got != n:
                raise RuntimeError(f"{got} of {n} accepted after the SIGTERM flush")
        return dt, st.get("VmHWM", 0), roll

    def gw_live(self, n, start_ts, db, cid):
        cfg = self.config(db, cid)
        d = self.h.start_daemon(cfg)
        before = self.accepted(db)
        t0 = time.monotonic()
        th = threading.Thread(target=self.publish, args=(n, start_ts), daemon=True)
        th.start()
        self.wait_accepted(db, before + n, d)
        dt = time.monotonic() - t0
        th.join(60)
        hwm = status(d.proc.pid).get("VmHWM", 0)
        rc = d.terminate()
        if rc != 0:
            raise RuntimeError(f"the daemon exited {rc}")
        got = self.count_messages(db)
        return dt, hwm, got

    def sec_ingest(self):
        n = self.n
        reps = 1 if self.quick else 2
        start_ts = int(time.time()) - 1200
        raw_b, gw_b, raw_l, gw_l, hwm = [], [], [], [], []
        for r in range(reps):
            raw_b.append(self.raw_backlog(n, start_ts))
            db = self.db_path(f"ingest-backlog-{r}.db")
            dt, h, _ = self.gw_backlog(n, start_ts, db, f"bench-gw-b{r}")
            gw_b.append(dt)
            hwm.append(h)
            raw_l.append(self.raw_live(n, start_ts))
            db = self.db_path(f"ingest-live-{r}.db")
            dt, h, got = self.gw_live(n, start_ts, db, f"bench-gw-l{r}")
            if got != n:
                raise RuntimeError(f"live: {got} of {n} stored")
            gw_l.append(dt)
            hwm.append(h)
        # best of the repetitions: the least disturbed by the other work on the machine
        rb, gb, rl, gl = min(raw_b), min(gw_b), min(raw_l), min(gw_l)
        self.base.update(gw_backlog_s=gb, gw_live_s=gl, ingest_hwm=max(hwm), raw_backlog_s=rb,
                         raw_live_s=rl)
        desc = f"{n:,} msgs, 100 devices, 10 villages, QoS 1; best of {reps}"
        self.t.add(f"ingest, backlog: raw mosquitto_sub ({desc})", fmt_rate(n, rb))
        self.t.add("ingest, backlog: ntm-gatewayd durable (committed, counted after SIGTERM)",
                   fmt_rate(n, gb))
        self.t.add("ingest, backlog: daemon / raw", f"{rb / gb:.2f}", ">= 0.9", rb / gb >= 0.9)
        self.t.add("ingest, live: raw mosquitto_sub (publisher running alongside)",
                   fmt_rate(n, rl))
        self.t.add("ingest, live: ntm-gatewayd durable", fmt_rate(n, gl))
        self.t.add("ingest, live: daemon / raw", f"{rl / gl:.2f}", ">= 0.9", rl / gl >= 0.9)
        self.base["gw_rate_backlog"] = n / gb
        self.base["gw_rate_live"] = n / gl
        self.t.note(f"ingest runs (s): raw backlog {['%.2f' % x for x in raw_b]}, daemon backlog "
                    f"{['%.2f' % x for x in gw_b]}, raw live {['%.2f' % x for x in raw_l]}, "
                    f"daemon live {['%.2f' % x for x in gw_l]}")

    # ---- Node-RED

    def nodered_install(self):
        nr_dir = os.path.join(WORK, "node-red")
        red = os.path.join(nr_dir, "node_modules", "node-red", "red.js")
        if os.path.exists(red):
            return red
        if not shutil.which("npm") or not shutil.which("node"):
            raise FileNotFoundError("npm/node are not installed (apt-get install npm)")
        os.makedirs(nr_dir, exist_ok=True)
        print("   npm install node-red (into tests/bench/work/node-red)", flush=True)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                            "--prefix", nr_dir, "node-red@4"], capture_output=True, timeout=600)
        if p.returncode != 0 or not os.path.exists(red):
            raise RuntimeError("npm could not install node-red: " +
                               p.stderr.decode("utf-8", "replace")[-300:])
        return red

    def nodered_flow(self, user_dir, out_file, client_id):
        os.makedirs(user_dir, exist_ok=True)
        flow = [
            {"id": "b1a7c0de00000001", "type": "tab", "label": "bench"},
            {"id": "b1a7c0de00000002", "type": "mqtt-broker", "name": "local",
             "broker": "127.0.0.1", "port": str(self.port), "clientid": client_id,
             "autoConnect": True, "usetls": False, "protocolVersion": "4", "keepalive": "60",
             "cleansession": False, "autoUnsubscribe": False, "birthTopic": "",
             "closeTopic": "", "willTopic": ""},
            {"id": "b1a7c0de00000003", "type": "mqtt in", "z": "b1a7c0de00000001",
             "name": "devices", "topic": "ntm/v1/#", "qos": "1", "datatype": "utf8",
             "broker": "b1a7c0de00000002", "nl": False, "rap": True, "rh": 0, "inputs": 0,
             "x": 100, "y": 100, "wires": [["b1a7c0de00000004"]]},
            {"id": "b1a7c0de00000004", "type": "template", "z": "b1a7c0de00000001",
             "name": "topic payload", "field": "payload", "fieldType": "msg", "format": "text",
             "syntax": "mustache", "template": "{{{topic}}} {{{payload}}}", "output": "str",
             "x": 300, "y": 100, "wires": [["b1a7c0de00000005"]]},
            {"id": "b1a7c0de00000005", "type": "file", "z": "b1a7c0de00000001",
             "name": "append", "filename": out_file, "filenameType": "str",
             "appendNewline": True, "createDir": True, "overwriteFile": "false",
             "encoding": "none", "x": 500, "y": 100, "wires": [[]]},
        ]
        path = os.path.join(user_dir, "flows.json")
        with open(path, "w") as f:
            json.dump(flow, f, indent=1)
        settings = os.path.join(user_dir, "settings.js")
        with open(settings, "w") as f:
            f.write("module.exports = { flowFile: 'flows.json', credentialSecret: false,\n"
                    "  logging: { console: { level: 'warn' } } };\n")
        return path, settings

    def nodered_start(self, red, user_dir, settings):
        port = harness.free_port()
        log = open(os.path.join(user_dir, "node-red.log"), "ab")
        p = subprocess.Popen(["node", red, "--userDir", user_dir, "--settings", settings,
                              "--port", str(port)], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, preexec_fn=harness._die_with_parent)
        log.close()
        self.h._procs.append(p)
        return p

    def wait_client(self, cid, since, timeout=60, proc=None):
        """Until the broker logs the client's connection after byte offset `since` of its log."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            with open(self.h.broker.log, "rb") as f:
                f.seek(since)
                if f" as {cid} ".encode() in f.read():
                    return time.monotonic()
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{cid} exited with {proc.returncode}")
            time.sleep(0.01)
        raise RuntimeError(f"{cid} did not connect within {timeout} s")

    def broker_log_size(self):
        return os.path.getsize(self.h.broker.log)

    @staticmethod
    def count_lines(path):
        try:
            with open(path, "rb") as f:
                return f.read().count(b"\n")
        except OSError:
            return 0

    def wait_lines(self, path, n, timeout, proc=None, stall=None):
        t0 = time.monotonic()
        last, last_change = -1, t0
        while time.monotonic() - t0 < timeout:
            c = self.count_lines(path)
            if c >= n:
                return time.monotonic(), c
            if c != last:
                last, last_change = c, time.monotonic()
            elif stall and time.monotonic() - last_change > stall:
                return None, c
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"node-red exited with {proc.returncode}")
            time.sleep(0.02)
        return None, self.count_lines(path)

    def stop_proc(self, p, timeout=20):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def sec_nodered(self):
        try:
            red = self.nodered_install()
        except Exception as e:
            self.t.add("Node-RED", f"not measured: {e}", ">= 10x its rate, <= 1/10 its RSS",
                       None)
            return
        ver = "?"
        try:
            with open(os.path.join(os.path.dirname(red), "package.json")) as f:
                ver = json.load(f)["version"]
        except Exception:
            pass
        n = self.n
        start_ts = int(time.time()) - 1200
        nr_root = os.path.join(self.h.tmp, "node-red")
        # -- live: Node-RED connected, the load published at full speed
        user = os.path.join(nr_root, "live")
        out = os.path.join(user, "out.txt")
        _, settings = self.nodered_flow(user, out, "nr-bench-live")
        mark = self.broker_log_size()
        p = self.nodered_start(red, user, settings)
        self.wait_client("nr-bench-live", mark, proc=p)
        time.sleep(1.0)  # subscribed
        t0 = time.monotonic()
        th = threading.Thread(target=self.publish, args=(n, start_ts), daemon=True)
        th.start()
        t_end, got = self.wait_lines(out, n, 900, proc=p, stall=30)
        th.join(120)
        hwm_live = status(p.pid).get("VmHWM", 0)
        self.stop_proc(p)
        if t_end is None:
            raise RuntimeError(f"Node-RED live: only {got} of {n} lines")
        nr_live = t_end - t0
        # -- backlog: published while Node-RED is stopped (its persistent session)
        user = os.path.join(nr_root, "backlog")
        out = os.path.join(user, "out.txt")
        _, settings = self.nodered_flow(user, out, "nr-bench-backlog")
        mark = self.broker_log_size()
        p = self.nodered_start(red, user, settings)
        self.wait_client("nr-bench-backlog", mark, proc=p)
        time.sleep(1.0)
        self.stop_proc(p)
        self.publish(n, start_ts)
        mark = self.broker_log_size()
        p = self.nodered_start(red, user, settings)
        t_conn = self.wait_client("nr-bench-backlog", mark, timeout=120, proc=p)
        t_end, got = self.wait_lines(out, n, 900, proc=p, stall=30)
        hwm_backlog = status(p.pid).get("VmHWM", 0)
        self.stop_proc(p)
        if t_end is None:
            raise RuntimeError(f"Node-RED backlog: only {got} of {n} lines")
        nr_backlog = t_end - t_conn
        # -- restart: SIGTERM in the middle of a paced load, started again
        kept, total, dups = self.nodered_restart(red, nr_root)
        nr_hwm = max(hwm_live, hwm_backlog)
        self.base["nr_hwm"] = nr_hwm
        self.t.add(f"Node-RED {ver} (node {self.node_version()}), live: rate",
                   fmt_rate(n, nr_live))
        self.t.add("Node-RED, backlog: rate (from its reconnection, start-up excluded)",
                   fmt_rate(n, nr_backlog))
        gl, gb = self.base.get("gw_live_s"), self.base.get("gw_backlog_s")
        if gl:
            self.t.add("ntm-gatewayd / Node-RED rate, live", f"{nr_live / gl:.1f}x", ">= 10x",
                       nr_live / gl >= 10)
        if gb:
            self.t.add("ntm-gatewayd / Node-RED rate, backlog", f"{nr_backlog / gb:.1f}x",
                       ">= 10x", nr_backlog / gb >= 10)
        rl, rb = self.base.get("raw_live_s"), self.base.get("raw_backlog_s")
        if rl and rb:
            self.t.add("  the ceiling: raw mosquitto_sub / Node-RED rate (no subscriber can be "
                       "faster than the broker delivers)",
                       f"live {nr_live / rl:.1f}x, backlog {nr_backlog / rb:.1f}x")
        self.t.add("Node-RED peak RSS (VmHWM of node)", f"{nr_hwm / 1024:.1f} MiB")
        gh = self.base.get("ingest_hwm")
        if gh:
            self.t.add("ntm-gatewayd peak RSS / Node-RED peak RSS (same loads)",
                       f"{gh / 1024:.1f} / {nr_hwm / 1024:.1f} MiB = 1/{nr_hwm / gh:.1f}",
                       "<= 1/10", nr_hwm / gh >= 10)
        self.t.add("Node-RED across a SIGTERM restart mid-load (persistent session)",
                   f"kept {kept:,} of {total:,} distinct messages ({total - kept:,} lost, "
                   f"{dups:,} duplicate lines)", "all kept", kept == total)
        gk = self.base.get("gw_restart")
        if gk:
            self.t.add("ntm-gatewayd, the same restart test",
                       f"kept {gk[0]:,} of {gk[1]:,} ({gk[1] - gk[0]:,} lost, {gk[2]:,} duplicate)",
                       "all kept", gk[0] == gk[1] and gk[2] == 0)

    def node_version(self):
        try:
            return subprocess.run(["node", "--version"], capture_output=True,
                                  timeout=10).stdout.decode().strip()
        except Exception:
            return "?"

    def paced_load(self, n, rate, start_ts):
        """A paced publish in the background; returns the thread."""
        th = threading.Thread(target=self.publish, args=(n, start_ts),
                              kwargs={"rate": rate, "seed": 11}, daemon=True)
        th.start()
        return th

    def expected_lines(self, n, start_ts):
        p = subprocess.run([self.sim_bin, "--dry-run", "-q", *self.dev_args, "--count", str(n),
                            "--start-ts", str(start_ts), "--step-ms", "10", "--seed", "11"],
                           capture_output=True, timeout=120, check=True)
        return set(p.stdout.decode().splitlines())

    def nodered_restart(self, red, nr_root):
        n = 20000 if not self.quick else 8000
        rate = 2000
        start_ts = int(time.time()) - 600
        user = os.path.join(nr_root, "restart")
        out = os.path.join(user, "out.txt")
        _, settings = self.nodered_flow(user, out, "nr-bench-restart")
        mark = self.broker_log_size()
        p = self.nodered_start(red, user, settings)
        self.wait_client("nr-bench-restart", mark, proc=p)
        time.sleep(1.0)
        th = self.paced_load(n, rate, start_ts)
        time.sleep(n / rate * 0.4)
        self.stop_proc(p)
        time.sleep(0.5)
        p = self.nodered_start(red, user, settings)
        th.join(300)
        self.wait_lines(out, n, 60, proc=p, stall=5)
        time.sleep(1.0)
        self.stop_proc(p)
        want = self.expected_lines(n, start_ts)
        with open(out, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        got = set(lines) & want
        # the daemon on the same test
        db = self.db_path("restart.db")
        cfg = self.config(db, "bench-gw-restart")
        d = self.h.start_daemon(cfg)
        th = self.paced_load(n, rate, start_ts)
        time.sleep(n / rate * 0.4)
        d.terminate()
        time.sleep(0.5)
        d = self.h.start_daemon(cfg)
        th.join(300)
        try:
            self.wait_accepted(db, n, d, timeout=60)
        except Exception:
            pass
        d.terminate()
        stored = self.count_messages(db)
        self.base["gw_restart"] = (min(stored, n), n, stored - min(stored, n))
        return len(got), len(want), len(lines) - len(set(lines))

    # ---- instructions per message (callgrind)

    def replay_files(self, n):
        cfg = S.write_config(self.h, VILLAGES, self.devices, name="replay.yaml",
                             storage={"path": self.db_path("replay.db")},
                             extra="")
        msgs = os.path.join(self.h.tmp, f"replay-{n}.txt")
        with open(msgs, "wb") as f:
            subprocess.run([self.sim_bin, "--dry-run", "-q", *self.dev_args, "--count", str(n),
                            "--start-ts", "1763571600", "--step-ms", "50", "--seed", "7"],
                           stdout=f, check=True, timeout=300)
        return cfg, msgs

    def callgrind(self, argv, out, toggle=None):
        for p in (self.db_path("replay.db"), self.db_path("replay.db") + "-wal",
                  self.db_path("replay.db") + "-shm", self.db_path("replay.db") + "-reserve"):
            if os.path.exists(p):
                os.unlink(p)
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        if toggle:
            cmd.append(f"--toggle-collect={toggle}")
        p = subprocess.run(cmd + argv, capture_output=True, timeout=1800)
        if p.returncode != 0:
            raise RuntimeError(f"callgrind: {p.stderr.decode()[-400:]}")
        return p.stdout.decode(), cg_total(out)

    def sec_callgrind(self):
        if not shutil.which("valgrind"):
            self.t.add("instructions per message", "not measured: valgrind missing "
                       "(tests/tools/deps.sh installs it)", "<= 15,000", None)
            return
        n = 20000 if self.quick else 100000
        cfg, msgs = self.replay_files(n)
        totals = []
        out = None
        for i in range(2):
            out = os.path.join(self.h.tmp, f"replay-{i}.cg")
            stdout, total = self.callgrind([self.replay_bin, "--config", cfg, "--messages", msgs],
                                           out, toggle="replay_loop")
            if f"accepted {n} " not in stdout:
                raise RuntimeError(f"ntm-replay: {stdout.strip()}")
            totals.append(total)
        per = [t / n for t in totals]
        spread = (max(per) - min(per)) / min(per) * 100
        self.t.add(f"instructions per message, ingest end to end (callgrind, ntm-replay, "
                   f"{n:,} msgs; runs: {', '.join(f'{p:,.0f}' for p in per)}, spread "
                   f"{spread:.2f} %)", f"{statistics.mean(per):,.0f}", "<= 15,000",
                   statistics.mean(per) <= 15000)
        self.base["ir_per_msg"] = statistics.mean(per)
        self.t.note("ntm-replay: " + stdout.strip())
        self.replay_profile(out, n)
        keep = os.path.join(WORK, "replay.callgrind.out")
        os.makedirs(WORK, exist_ok=True)
        shutil.copy(out, keep)
        self.daemon_callgrind()

    def replay_profile(self, out, n):
        inc = cg_functions(out, inclusive=True)
        self_ = cg_functions(out, inclusive=False)

        def pick(d, file_part, func):
            v = 0
            for (f, fn), c in d.items():
                if fn == func and (file_part is None or file_part in f):
                    v = max(v, c)
            return v
        parts = [
            ("ntm_topic_parse", "ingest.c", "ntm_topic_parse"),
            ("ntm_payload_parse (all of it)", "ingest.c", "ntm_payload_parse"),
            ("  of which cJSON_ParseWithLengthOpts", None, "cJSON_ParseWithLengthOpts"),
            ("  of which cJSON_Delete", None, "cJSON_Delete"),
            ("  of which strtod", None, "strtod"),
            ("ntm_store_device_conflict", "store_devices.c", "ntm_store_device_conflict"),
            ("ntm_agg_add (all of it)", "aggregate.c", "ntm_agg_add"),
            ("  of which ntm_outbox_add_alert (alerts into the alerts table)", "outbox.c",
             "ntm_outbox_add_alert"),
            ("  of which ntm_outbox_add_row (indicator rows)", "outbox.c", "ntm_outbox_add_row"),
            ("ntm_store_append (all of it)", "store_append.c", "ntm_store_append"),
            ("  of which sqlite3_step (all statements in it)", None, "sqlite3_step"),
            ("  of which ntm_store_commit (every storage.commit_max records)", "store_append.c",
             "ntm_store_commit"),
            ("  of which sqlite3_clear_bindings", None, "sqlite3_clear_bindings"),
            ("save_snapshot (aggregation state)", "replay.c", "save_snapshot"),
        ]
        lines = [f"Callgrind, ntm-replay, {n:,} messages (inclusive instructions per message):",
                 "", "| function | Ir / message |", "| --- | --- |"]
        for label, f, fn in parts:
            v = pick(inc, f, fn)
            lines.append(f"| {label} | {v / n:,.0f} |")
        # the INSERT statement's step inside ntm_store_append
        calls = cg_callees(out, "store_append.c", "ntm_store_append")
        step = calls.get("sqlite3_step", 0)
        if step:
            lines.append(f"| sqlite3_step called from ntm_store_append (the INSERT) | "
                         f"{step / n:,.0f} |")
        lines += ["", "Top functions by self cost (Ir / message):", "",
                  "| function | Ir / message |", "| --- | --- |"]
        top = sorted(self_.items(), key=lambda kv: -kv[1])[:15]
        for (f, fn), c in top:
            where = (f"{f[3:]}, no symbols" if f.startswith("???") else os.path.basename(f))
            lines.append(f"| {fn} ({where}) | {c / n:,.0f} |")
        self.t.profile.append("\n".join(lines))
        print("\n".join(lines), flush=True)

    @contextlib.contextmanager
    def under_callgrind(self, out, *options):
        """Daemons started inside run under callgrind, writing to `out`."""
        wrapper = out + ".sh"
        real = os.environ["NTM_GATEWAYD"]
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind {' '.join(options)} "
                    f"--callgrind-out-file={out} {real} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        os.environ["NTM_GATEWAYD"] = wrapper
        try:
            yield
        finally:
            os.environ["NTM_GATEWAYD"] = real

    def daemon_callgrind(self):
        """The daemon itself under callgrind consuming a backlog: what on_message
        costs there, and what the MQTT read path (libmosquitto) adds."""
        n = 5000 if self.quick else 20000
        db = self.db_path("cg-daemon.db")
        cfg = self.config(db, "bench-gw-cg")
        d = self.h.start_daemon(cfg)
        d.terminate()
        self.publish(n, int(time.time()) - 1200)
        out = os.path.join(self.h.tmp, "daemon.cg")
        with self.under_callgrind(out):
            d = self.h.start_daemon(cfg, ready=False)
        self.wait_accepted(db, n, d, timeout=900, poll=0.2)
        d.terminate(timeout=120)
        inc = cg_functions(out, inclusive=True)

        def get(file_part, fn):
            return max([c for (f, f2), c in inc.items() if f2 == fn and file_part in f] or [0])
        total = cg_total(out)
        onmsg = get("daemon.c", "on_message")
        read = get("", "mosquitto_loop_read")
        poll = get("mqtt.c", "on_poll")
        self.t.add(f"instructions per message in the daemon itself (callgrind, {n:,}-message "
                   "backlog): daemon.c on_message", f"{onmsg / n:,.0f}", "<= 15,000",
                   onmsg / n <= 15000)
        self.t.add("  MQTT read path added (mosquitto_loop_read minus on_message: packet "
                   "read, PUBACK, dispatch)", f"{(read - onmsg) / n:,.0f}")
        self.t.add("  whole process, start-up and shutdown included, / messages",
                   f"{total / n:,.0f} (on_poll {poll / n:,.0f})")
        shutil.copy(out, os.path.join(WORK, "daemon.callgrind.out"))

    # ---- steady load: disk writes, fsyncs, memory

    def steady(self, db, cid, seconds, label, strace=True, rx=None):
        """The daemon under a steady 1,000 msg/s (ntm-sim live mode). Returns a dict."""
        cfg = self.config(db, cid, uplink_rx=rx)
        d = self.h.start_daemon(cfg)
        pid = d.proc.pid
        warm = 3.0
        sim = subprocess.Popen(self.sim_argv("--rate", 1000, "--count", 1000, "--duration",
                                             seconds + warm + 2, "--qos", 1, "--seed", 3, "-q"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.h._procs.append(sim)
        time.sleep(warm)
        acc0 = self.accepted(db)
        io0 = proc_io(pid)
        tr = None
        tr_out = os.path.join(self.h.tmp, f"strace-{cid}.txt")
        if strace and shutil.which("strace"):
            tr = subprocess.Popen(["strace", "-c", "-f", "-e", "trace=fsync,fdatasync", "-o",
                                   tr_out, "-p", str(pid)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            self.h._procs.append(tr)
        wal = db + "-wal"
        wal0 = os.path.getsize(wal) if os.path.exists(wal) else 0
        db0 = os.path.getsize(db)
        t0 = time.monotonic()
        peak_pd = 0
        while time.monotonic() - t0 < seconds:
            time.sleep(0.5)
            peak_pd = max(peak_pd, smaps_rollup(pid).get("Private_Dirty", 0))
        wal1 = os.path.getsize(wal) if os.path.exists(wal) else 0
        db1 = os.path.getsize(db)
        snap = os.path.join(self.h.tmp, f"snap-{cid}")
        os.makedirs(snap, exist_ok=True)
        shutil.copy(db, os.path.join(snap, "s.db"))
        if os.path.exists(wal):
            shutil.copy(wal, os.path.join(snap, "s.db-wal"))
        if tr is not None:
            tr.send_signal(signal.SIGINT)
            tr.wait(30)
        dt = time.monotonic() - t0
        io1 = proc_io(pid)
        acc1 = self.accepted(db)
        st = status(pid)
        roll = smaps_rollup(pid)
        top = rss_by_mapping(pid)
        sim.wait(seconds + 30)
        d.terminate()
        fsyncs = None
        if tr is not None:
            fsyncs = 0
            with open(tr_out) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync"):
                        fsyncs += int(parts[3])
        msgs = acc1 - acc0
        return {"dt": dt, "msgs": msgs, "write_bytes": io1["write_bytes"] - io0["write_bytes"],
                "wchar": io1["wchar"] - io0["wchar"], "fsyncs": fsyncs,
                "hwm": st.get("VmHWM", 0), "rss": st.get("VmRSS", 0),
                "pd": max(peak_pd, roll.get("Private_Dirty", 0)), "pss": roll.get("Pss", 0),
                "top": top, "wal0": wal0, "wal1": wal1, "db0": db0, "db1": db1,
                "snap": os.path.join(snap, "s.db")}

    def record_size(self, db):
        r = self.h.query("SELECT sum(pgsize), (SELECT count(*) FROM messages) FROM dbstat"
                         " WHERE name = 'messages'", path=db)[0]
        return r[0] / r[1]

    def sec_steady(self):
        secs = 10 if self.quick else 30
        db = self.db_path("steady.db")
        r = self.steady(db, "bench-gw-steady", secs, "fresh")
        self.base["steady"] = r
        rec = self.record_size(db)
        rate = r["msgs"] / r["dt"]
        wb = r["write_bytes"] / max(r["msgs"], 1)
        self.t.add(f"steady load: messages stored per second (ntm-sim --rate 1000, {secs} s)",
                   f"{rate:,.0f} msg/s")
        self.t.add("disk writes per message (/proc/PID/io write_bytes; the tail journal on a "
                   "tmpfs, as under systemd) / stored record size "
                   "(dbstat, messages)", f"{wb:,.1f} B / {rec:.1f} B = {wb / rec:.2f}x",
                   "<= 3x", wb / rec <= 3)
        self.t.add("  write() bytes per message (wchar)", f"{r['wchar'] / max(r['msgs'], 1):,.1f} B")
        if r["fsyncs"] is not None:
            fs = r["fsyncs"] / r["dt"]
            low = fs < 0.5
            self.t.add("fsync + fdatasync per second at 1,000 msg/s (strace -c -f)",
                       f"{fs:.2f} ({r['fsyncs']} in {r['dt']:.0f} s)" +
                       (": fewer than the README's one a second, so a power cut can lose more "
                        "than 1 s (see the WAL row)" if low else ""),
                       "<= 1 (README: 1 a second)", fs <= 1.0 and not low)
        else:
            self.t.add("fsyncs per second", "not measured: strace missing", "<= 1", None)
        self.t.add("peak RSS (VmHWM) at steady load", f"{r['hwm'] / 1024:.1f} MiB", "<= 12 MiB",
                   r["hwm"] <= 12 * 1024)
        self.t.add("private dirty memory (smaps_rollup, peak of samples) at steady load",
                   f"{r['pd'] / 1024:.2f} MiB (PSS {r['pss'] / 1024:.1f} MiB)", "<= 4 MiB",
                   r["pd"] <= 4 * 1024)
        self.t.add("WAL bounded while running (README: checkpointed once past 4 MiB; "
                   "journal_size_limit 8 MiB)",
                   f"WAL file {r['wal0'] / MIB:.1f} -> {r['wal1'] / MIB:.1f} MiB during the "
                   f"{r['dt']:.0f} s, database file {r['db0'] / 1024:.0f} -> "
                   f"{r['db1'] / 1024:.0f} KiB (grows only by checkpoints)",
                   "<= 9 MiB", r["wal1"] <= 9 * MIB)
        try:
            prof = wal_profile(r["snap"])
            if prof:
                prof = prof.replace("RPC", "50 records of 53 bytes (1,000 msg/s, a commit "
                                    "50 ms after the first uncommitted record)")
                self.t.profile.append(prof)
                print(prof, flush=True)
        except Exception as e:
            self.t.note(f"WAL frame profile failed: {e}")
        self.t.note("RSS at steady load by mapping (KiB Rss / Private_Dirty): " +
                    ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in r["top"]))

    # ---- idle

    def sec_idle(self):
        secs = 30 if self.quick else 60
        db = self.db_path("idle.db")
        cfg = self.config(db, "bench-gw-idle")
        d = self.h.start_daemon(cfg)
        # some history, so that the idle daemon has windows, devices and a WAL: 200 s
        # from the start of an hour two days ago, so that what it closes (the hours
        # before, the devices' availability) is closed and sent before the window,
        # and the next hour closes only ~an hour later
        self.publish(2000, self.quiet_ts(), step_ms=100)
        self.wait_accepted(db, 2000, d)
        # devices connected but silent: 100 MQTT connections that publish nothing
        silent = []
        for i in range(N_DEVICES):
            silent.append(S.Publisher(self.port, client_id=f"silent-{i:03d}"))
        time.sleep(13)  # the next sync tick forms and sends the batch; commit, sync pass
        pid = d.proc.pid
        c0 = cpu_ns(pid)
        t0 = time.monotonic()
        time.sleep(secs)
        c1 = cpu_ns(pid)
        dt = time.monotonic() - t0
        for p in silent:
            try:
                p.close()
            except Exception:
                pass
        d.terminate()
        ticks_ms = (c1[0] - c0[0]) / 1e6
        sched_ms = (c1[1] - c0[1]) / 1e6
        per_min = sched_ms * 60 / dt
        self.t.add(f"idle CPU, {N_DEVICES} devices connected and silent, {dt:.0f} s "
                   "(utime+stime; schedstat ns)",
                   f"{ticks_ms:.0f} ms (stat) / {sched_ms:.1f} ms (schedstat) = "
                   f"{per_min:.1f} ms per minute = {per_min / 600:.3f} %", "<= 60 ms/min (0.1 %)",
                   per_min <= 60)
        self.t.add("  wake-ups (context switches, all threads) per second",
                   f"{(c1[2] - c0[2]) / dt:.1f}")
        if not self.quick and shutil.which("valgrind"):
            self.idle_callgrind(30)

    @staticmethod
    def quiet_ts():
        return (int(time.time()) - 2 * 86400) // 3600 * 3600

    def idle_callgrind(self, secs):
        """The idle daemon under callgrind, instrumentation switched on only for the
        idle window: instructions per second and which callbacks spend them."""
        db = self.db_path("idle-cg.db")
        cfg = self.config(db, "bench-gw-idle-cg")
        out = os.path.join(self.h.tmp, "idle.cg")
        with self.under_callgrind(out, "--instr-atstart=no"):
            d = self.h.start_daemon(cfg, timeout=120)
        self.publish(2000, self.quiet_ts(), step_ms=100)
        self.wait_accepted(db, 2000, d, timeout=300, poll=0.2)
        silent = [S.Publisher(self.port, client_id=f"silent-cg-{i:03d}") for i in range(N_DEVICES)]
        time.sleep(13)
        subprocess.run(["callgrind_control", "-i", "on", str(d.proc.pid)], capture_output=True,
                       timeout=60)
        t0 = time.monotonic()
        time.sleep(secs)
        subprocess.run(["callgrind_control", "-i", "off", str(d.proc.pid)], capture_output=True,
                       timeout=60)
        dt = time.monotonic() - t0
        for p in silent:
            try:
                p.close()
            except Exception:
                pass
        d.terminate(timeout=120)
        total = cg_total(out)
        inc = cg_functions(out, inclusive=True)
        own = [(f"{os.path.basename(f)}:{fn}", c) for (f, fn), c in inc.items()
               if ("/daemon/" in f or "/plugins/" in f) and fn not in ("main",)]
        own.sort(key=lambda kv: -kv[1])
        self.t.add("  idle, instructions per second (callgrind, instrumentation on for the idle "
                   f"{dt:.0f} s only)", f"{total / dt:,.0f}")
        lines = [f"Idle daemon, callgrind over {dt:.0f} s ({total / dt:,.0f} instructions/s); "
                 "the daemon's functions by inclusive cost:", "",
                 "| function | Ir per second |", "| --- | --- |"]
        for name, c in own[:14]:
            lines.append(f"| {name} | {c / dt:,.0f} |")
        self.t.profile.append("\n".join(lines))
        print("\n".join(lines), flush=True)

    # ---- a week of batches, a 5-million-message buffer, the drain

    def file_config(self, db, client_id):
        """A gateway YAML whose uplink is the `file` plugin: used for the runs on the
        week's database, so that its provincial-http deliveries are not sent (see
        the livelock note) and the same runs on a fresh database compare like with like."""
        self._cfg_n += 1
        out = os.path.join(self.h.tmp, f"file-uplink-{self._cfg_n}")
        os.makedirs(out, exist_ok=True)
        return S.write_config(self.h, VILLAGES, self.devices,
                              uplinks=[{"plugin": "file", "dir": out}],
                              plugin_dir_=S.plugin_dir("file"), name=f"gw-{self._cfg_n}.yaml",
                              mqtt={"client_id": client_id}, storage={"path": db})

    def stop_or_kill(self, d, timeout=15):
        """SIGTERM; when the daemon does not exit, its state is sampled (CPU, stack)
        and it is killed. Returns None when it exited, else a description."""
        d.signal(signal.SIGTERM)
        try:
            d.proc.wait(timeout)
            d._close()
            return None
        except subprocess.TimeoutExpired:
            pass
        c0 = cpu_ns(d.proc.pid)
        time.sleep(1.0)
        c1 = cpu_ns(d.proc.pid)
        busy = (c1[1] - c0[1]) / 1e9 * 100
        stack = ""
        if shutil.which("gdb"):
            g = subprocess.run(["gdb", "-p", str(d.proc.pid), "-batch", "-ex", "bt 8"],
                               capture_output=True, text=True, timeout=60)
            fr = [re.sub(r"^#\d+\s+(0x[0-9a-f]+ in )?", "", ln).split(" (")[0]
                  for ln in g.stdout.splitlines() if ln.startswith("#")]
            stack = " <- ".join(fr[:6])
        d.kill()
        return f"no exit {timeout} s after SIGTERM, {busy:.0f} % CPU; stack: {stack or '?'}"

    def sec_week(self):
        quick = self.quick
        target_rows = 1000000 if quick else 5000000
        n_week = 100000 if quick else 1000000
        rx = S.start_receiver(TOKEN)
        rx.go_away()
        db = self.db_path("week.db")
        cfg = self.config(db, "bench-gw-week", uplink_rx=rx)
        # the replay runs with the sync tick an hour away, so that no batch is formed
        # (nor sent) while it runs: with more than 4 batches due the daemon livelocks
        # at its sync tick (see the table); the batches are formed by the restart below
        self._cfg_n += 1
        cfg_replay = S.write_config(self.h, VILLAGES, self.devices,
                                    uplinks=[S.http_uplink(rx, self.tok)],
                                    plugin_dir_=S.plugin_dir(), name=f"gw-{self._cfg_n}.yaml",
                                    mqtt={"client_id": "bench-gw-week"}, storage={"path": db},
                                    sync={"interval_s": 3600})
        d = self.h.start_daemon(cfg_replay)
        # local midnight 7 days ago .. 30 min ago
        now = int(time.time())
        midnight = (now + 7 * 3600) // 86400 * 86400 - 7 * 3600
        start = midnight - 7 * 86400
        end = now - 1800
        step_ms = (end - start) * 1000 // n_week
        t0 = time.monotonic()
        th = threading.Thread(target=self.publish, args=(n_week, start),
                              kwargs={"step_ms": step_ms, "seed": 5}, daemon=True)
        th.start()
        self.wait_accepted(db, n_week, d, timeout=60 + n_week / 1000, poll=0.2)
        th.join(60)
        t_ingest = time.monotonic() - t0
        d.terminate()
        d = self.h.start_daemon(cfg)

        # the first sync tick forms the batches; wait until nothing waits for one
        def formed():
            con = self.h.db(db)
            try:
                return con.execute("SELECT (SELECT count(*) FROM pending_rows) + (SELECT count(*)"
                                   " FROM alerts)").fetchone()[0] == 0
            finally:
                con.close()
        S.wait_for(formed, 180, "the week's batches formed", poll=0.5)
        time.sleep(1.0)
        stuck = self.stop_or_kill(d)
        nb, nbytes, nrows, nalerts = self.h.query(
            "SELECT count(*), sum(length(body)), sum(n_rows), sum(n_alerts) FROM batches",
            path=db)[0]
        self.t.add(f"week: 7 days of event time, 10 villages, {N_DEVICES} devices, {n_week:,} "
                   f"messages (one every {step_ms / 1000:.2f} s of event time) replayed with "
                   "the receiver away",
                   f"{nb} batches, {nrows:,} indicator rows, {nalerts:,} alerts, "
                   f"{(nbytes or 0) / MIB:.1f} MiB JSON (ingested in {t_ingest:.0f} s)")
        if stuck:
            self.t.add("week: the daemon with that backlog of batches (uplink configured, "
                       "receiver away), SIGTERM after the batches formed", stuck,
                       "exits on SIGTERM", False)
        # grow the buffer to target_rows messages
        t0 = time.monotonic()
        grow_buffer(db, n_week, target_rows - n_week)
        t_fill = time.monotonic() - t0
        total, size = self.h.query("SELECT count(*), (SELECT page_count * page_size FROM "
                                   "pragma_page_count, pragma_page_size) FROM messages",
                                   path=db)[0]
        mm = f"{total / 1e6:.0f} M"
        self.t.add("week: buffer grown by SQL (copies of the replayed rows, interleaved in "
                   "time, ids before the replayed ones)",
                   f"{total:,} messages, database {size / MIB:.0f} MiB (in {t_fill:.0f} s)")
        # READY=1: empty database vs this one (3 starts each, median)
        empty_db = self.db_path("ready-empty.db")
        ready_empty = self.ready_times(self.config(empty_db, "bench-gw-ready", uplink_rx=rx))
        ready_full = self.ready_times(cfg)
        self.t.add(f"start to READY=1, empty database (3 starts: "
                   f"{', '.join('%.0f' % (x * 1000) for x in ready_empty)} ms)",
                   f"{statistics.median(ready_empty) * 1000:.0f} ms", "<= 300 ms",
                   statistics.median(ready_empty) <= 0.3)
        self.t.add(f"start to READY=1 with {mm} messages and the week's batches "
                   f"(3 starts: {', '.join('%.0f' % (x * 1000) for x in ready_full)} ms)",
                   f"{statistics.median(ready_full) * 1000:.0f} ms", "<= 300 ms",
                   statistics.median(ready_full) <= 0.3)
        # ingest rate and memory: a fresh database vs the week's, same method and uplink
        n = self.n
        secs = 10 if quick else 20
        fresh = self.db_path("week-fresh.db")
        res = {"fresh": [None, None], "week": [None, None]}
        reps = 1 if quick else 2
        for rep in range(reps):
            for label, path in (("fresh", fresh), ("week", db)):
                fcfg = self.file_config(path, f"bench-gw-{label}-file")
                dd = self.h.start_daemon(fcfg)  # its persistent session, before the load
                dd.terminate()
                before = self.accepted(path)
                self.publish(n, int(time.time()) - 1200)
                dd = self.h.start_daemon(fcfg, ready=False)
                t1 = time.monotonic()
                dt = self.wait_accepted(path, before + n, dd, timeout=60 + n / 500) + \
                    (t1 - dd.started_at)
                dd.terminate()
                res[label][0] = dt if res[label][0] is None else min(res[label][0], dt)
                if rep == reps - 1:
                    res[label][1] = self.steady_cfg(path, fcfg, secs)
        (dt0, r0), (dt1, r1) = res["fresh"], res["week"]
        self.t.add(f"ingest, backlog, {mm} buffer vs fresh (file uplink both, {n:,} msgs, best "
                   f"of {reps})",
                   f"{fmt_rate(n, dt1)} vs {fmt_rate(n, dt0)} = {dt0 / dt1:.2f}x",
                   ">= 0.9x (no loss of rate)", dt0 / dt1 >= 0.9)
        self.t.add(f"peak RSS at steady load, {mm} buffer vs fresh",
                   f"{r1['hwm'] / 1024:.1f} vs {r0['hwm'] / 1024:.1f} MiB",
                   "<= 12 MiB, no growth (<= 1.1x)",
                   r1["hwm"] <= 12 * 1024 and r1["hwm"] <= r0["hwm"] * 1.1)
        self.t.add(f"private dirty at steady load, {mm} buffer vs fresh",
                   f"{r1['pd'] / 1024:.2f} vs {r0['pd'] / 1024:.2f} MiB",
                   "<= 4 MiB, no growth (<= 1.1x + 256 KiB)",
                   r1["pd"] <= 4 * 1024 and r1["pd"] <= r0["pd"] * 1.1 + 256)
        # the drain: the daemon running with its uplink, the receiver comes back;
        # then the same backlog (a copy) to a receiver that skips the JSON Schema
        # validation, to tell the receiver's share from the daemon's
        db2 = self.db_path("week-copy.db")
        for suffix in ("", "-wal"):
            if os.path.exists(db + suffix):
                shutil.copy(db + suffix, db2 + suffix)
        # The target is the daemon's: the schema-validating receiver (Python
        # jsonschema, about 50 ms of CPU a batch) is slower than the daemon, so the
        # second run, where the receiver still gunzips, parses and deduplicates
        # every body but skips the schema, carries the <= 10 s target.
        self.drain(db, cfg, rx, target=False)
        rx.stop()
        rx2 = S.start_receiver(TOKEN)
        rx2.validator = _NoSchema()
        rx2.go_away()
        cfg2 = self.config(db2, "bench-gw-week-copy", uplink_rx=rx2)
        self.drain(db2, cfg2, rx2, label="the same backlog (a copy) to the same receiver with "
                   "its JSON Schema validation switched off (gunzip, JSON, deduplication "
                   "still done)")
        rx2.stop()

    def steady_cfg(self, db, cfg, seconds):
        d = self.h.start_daemon(cfg)
        pid = d.proc.pid
        sim = subprocess.Popen(self.sim_argv("--rate", 1000, "--count", 1000, "--duration",
                                             seconds + 3, "--qos", 1, "--seed", 3, "-q"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.h._procs.append(sim)
        peak_pd = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds + 2:
            time.sleep(0.5)
            peak_pd = max(peak_pd, smaps_rollup(pid).get("Private_Dirty", 0))
        hwm = status(pid).get("VmHWM", 0)
        sim.wait(60)
        d.terminate()
        return {"hwm": hwm, "pd": peak_pd}

    def ready_times(self, cfg):
        out = []
        for _ in range(3):
            d = self.h.start_daemon(cfg, ready=False)
            out.append(d.wait_ready(60))
            stuck = self.stop_or_kill(d)
            if stuck:
                self.t.note(f"after a READY=1 measurement: {stuck}")
        return out

    def drain(self, db, cfg, rx, label=None, target=True):
        limit = 60 if self.quick else 120
        d = self.h.start_daemon(cfg)
        # running with its uplink failing (first sync tick after 10 s: the first
        # attempts fail, their retries are scheduled), as it would be after a week
        time.sleep(13.0)
        # the batches owed to the provincial-http uplink (those formed while the runs
        # above had the file uplink are that uplink's only)
        seqs = {r[0] for r in self.h.query("SELECT seq FROM deliveries WHERE uplink = "
                                           "'provincial-http'", path=db)}
        nbytes = self.h.query("SELECT sum(length(body)) FROM batches WHERE seq IN (SELECT seq "
                              "FROM deliveries WHERE uplink = 'provincial-http')",
                              path=db)[0][0] or 0
        now_ms = time.time() * 1000
        pend = self.h.query("SELECT count(*), sum(next_ms <= ?), max(next_ms), max(attempts) "
                            "FROM deliveries WHERE state = 'pending' AND uplink = "
                            "'provincial-http'", (now_ms,), path=db)[0]
        t0 = time.monotonic()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        dc0 = cpu_ns(d.proc.pid)
        rx.come_back()
        done = False
        last_n, last_change = -1, t0
        cpu_prev = cpu_ns(d.proc.pid)
        while time.monotonic() - t0 < limit:
            time.sleep(0.2)
            acc = set(rx.accepted_seqs)
            if seqs <= acc:
                done = True
                break
            if len(acc) != last_n:
                last_n, last_change = len(acc), time.monotonic()
            cpu = cpu_ns(d.proc.pid)
            busy = (cpu[1] - cpu_prev[1]) / 1e9
            cpu_prev = cpu
            # stalled for 30 s with the daemon spinning: it will not drain
            if time.monotonic() - last_change > 30 and busy > 0.8 * 0.2:
                break
        t_all = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        dc1 = cpu_ns(d.proc.pid)
        rx_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        d_cpu = (dc1[1] - dc0[1]) / 1e9
        got = len(seqs & set(rx.accepted_seqs))
        reqs = [q for q in rx.requests if q["t"] >= t0]
        first_ok = min((q["t"] for q in reqs if q["status"] in (200, 201, 202)), default=None)
        stuck = self.stop_or_kill(d)
        what = (f"drain: {len(seqs)} batches ({nbytes / MIB:.1f} MiB JSON) of the week to a local "
                "receiver (tests/tools/receiver.py, schema-validating), from its return until "
                "it holds every batch (issue 3's figure)")
        if label:
            what = f"drain: {label}"
        if done:
            if target:
                self.t.add(what, f"{t_all:.1f} s", "<= 10 s", t_all <= 10)
            else:
                self.t.add(what + " (bounded by the receiver's validation: see its CPU below)",
                           f"{t_all:.1f} s")
            if first_ok is not None:
                self.t.add("  of which before the first batch was accepted (retry back-off)",
                           f"{first_ok - t0:.1f} s; then {t_all - (first_ok - t0):.1f} s "
                           f"sending ({len(reqs)} requests)")
            self.t.add("  CPU during the drain: the daemon; the receiver (Python: gunzip, JSON, "
                       "jsonschema, in the benchmark's process)",
                       f"{d_cpu:.1f} s; {rx_cpu:.1f} s (of {t_all:.1f} s, 2 cores)")
        else:
            self.t.add(what, f"not drained ({t_all:.0f} s): {got} of {len(seqs)} received, "
                       f"{len(reqs)} requests" + (f"; {stuck}" if stuck else ""),
                       "<= 10 s" if target else "", False if target else None)
        if pend[0]:
            self.t.note(f"drain: at the receiver's return {pend[0]} deliveries were pending, "
                        f"{pend[1]} of them due already, the last due in "
                        f"{max(0, (pend[2] - now_ms) / 1000):.0f} s (retry back-off after up to "
                        f"{pend[3]} failed attempts each)")

    # ---- all

    def run(self, only):
        secs = [("ingest", self.sec_ingest), ("nodered", self.sec_nodered),
                ("callgrind", self.sec_callgrind), ("steady", self.sec_steady),
                ("idle", self.sec_idle), ("week", self.sec_week)]
        for name, fn in secs:
            if only and name not in only:
                continue
            self.timed(name, fn)

    def close(self):
        try:
            self.rx.stop()
        except Exception:
            pass
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.h.cleanup()


class _NoSchema:
    """A stand-in for the receiver's jsonschema validator that finds nothing wrong."""

    def iter_errors(self, body):
        return iter(())


# ---------------------------------------------------------------------- callgrind output

_CG_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?):(\S+?)(?:'\d+)?\s+\[(.*)\]\s*$")


def cg_total(path):
    best = None
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                v = int(line.split()[1])
                best = v if best is None else max(best, v)
    if not best:  # --instr-atstart=no leaves summary at 0: ask callgrind_annotate
        p = subprocess.run(["callgrind_annotate", path], capture_output=True, timeout=300)
        m = re.search(r"^\s*([\d,]+)\s.*PROGRAM TOTALS", p.stdout.decode("utf-8", "replace"),
                      re.M)
        if m:
            best = int(m.group(1).replace(",", ""))
    if best is None:
        raise RuntimeError(f"no totals in {path}")
    return best


def cg_functions(path, inclusive):
    """{(file, function): Ir} from callgrind_annotate."""
    p = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                        "--threshold=100", path], capture_output=True, timeout=300)
    out = {}
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        m = _CG_LINE.match(line)
        if m:
            f = m.group(2)
            if f == "???":  # no symbols: name the library instead
                f = "???" + os.path.basename(m.group(4))
            key = (f, m.group(3))
            out[key] = max(out.get(key, 0), int(m.group(1).replace(",", "")))
    return out


def cg_callees(path, file_part, func):
    """{callee function: inclusive Ir} of the calls made by one function."""
    p = subprocess.run(["callgrind_annotate", "--tree=calling", "--inclusive=yes",
                        "--threshold=100", path], capture_output=True, timeout=300)
    out = {}
    inside = False
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if "*  " in line:
            inside = file_part in line and f":{func} [" in line
            continue
        if inside and ">   " in line:
            m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+>\s+(\S.*?):(\S+?)\s", line)
            if m:
                out[m.group(3)] = out.get(m.group(3), 0) + int(m.group(1).replace(",", ""))
        elif inside and not line.strip():
            inside = False
    return out


# ---------------------------------------------------------------------- what the WAL holds

def wal_profile(db_copy):
    """Which tables the pages of each commit belong to: the WAL frames of the
    current WAL generation (those with the header's salt, i.e. written since
    the WAL last started over) of a copy taken under steady load. db_copy has
    its -wal copy beside it."""
    import struct
    wal = db_copy + "-wal"
    if not os.path.exists(wal):
        return ""
    with open(wal, "rb") as f:
        data = f.read()
    if len(data) < 32:
        return ""
    ps = struct.unpack(">I", data[8:12])[0]
    salt = data[16:24]
    fsz = 24 + ps
    pages, commits, nframes = {}, 0, 0
    off = 32
    while off + fsz <= len(data) and data[off + 8:off + 16] == salt:
        pgno, commit = struct.unpack(">II", data[off:off + 8])
        pages[pgno] = pages.get(pgno, 0) + 1
        if commit:
            commits += 1
        nframes += 1
        off += fsz
    if not commits:
        return ""
    con = sqlite3.connect(db_copy)
    try:
        owner = {pg: name for name, pg in con.execute("SELECT name, pageno FROM dbstat")}
    finally:
        con.close()
    by = {}
    for pg, c in pages.items():
        name = owner.get(pg, "free or new page")
        by[name] = by.get(name, 0) + c
    lines = [f"The pages each commit writes under the steady 1,000 msg/s load (the last "
             f"{commits:,} commits in the WAL, {nframes:,} frames of {fsz:,} bytes): "
             f"{nframes / commits:.1f} pages = {nframes * fsz / commits / 1024:.1f} KiB per "
             f"commit, for about RPC:", "",
             "| table or index | frames | per commit |", "| --- | --- | --- |"]
    for name, c in sorted(by.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {c:,} | {c / commits:.2f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- growing the buffer

def grow_buffer(db, n_real, fill):
    """Adds `fill` messages before the `n_real` replayed ones: the replayed rows
    move up by `fill` ids (and with them batches.msg_hi, agg_state.msg_id and the
    id floor), then ids 1..fill get copies of replayed rows, spread
    so that their ts follow the week in id order. The daemon must be stopped."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=OFF")
        cols = [r[1] for r in con.execute("PRAGMA table_info(messages)") if r[1] != "id"]
        lo, hi = con.execute("SELECT min(id), max(id) FROM messages").fetchone()
        if fill < hi:
            raise RuntimeError("fill must exceed the replayed ids")
        con.execute("BEGIN")
        con.execute("UPDATE messages SET id = id + ? ", (fill,))
        con.execute("UPDATE batches SET msg_hi = msg_hi + ?", (fill,))
        con.execute("UPDATE agg_state SET msg_id = msg_id + ?", (fill,))
        con.execute("UPDATE meta SET value = value + ? WHERE key = 'msg_id_floor'", (fill,))
        span = hi - lo + 1
        c = ", ".join(cols)
        mc = ", ".join(f"m.{x}" for x in cols)
        chunk = 250000
        for base in range(0, fill, chunk):
            last = min(fill, base + chunk)
            con.execute(f"WITH RECURSIVE k(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM k"
                        f" WHERE x < ?) INSERT INTO messages(id, {c}) SELECT k.x, {mc} FROM k"
                        f" JOIN messages m ON m.id = ? + ? + ((k.x - 1) * ?) / ?",
                        (base + 1, last, fill, lo, span, fill))
        con.execute("UPDATE counters SET value = value + ? WHERE name IN ('accepted', 'buffered')",
                    (fill,))
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


# ---------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--daemon", default=None, help="another ntm-gatewayd binary to measure")
    ap.add_argument("--only", default="", help="comma-separated sections")
    ap.add_argument("--out", default=None, help="write the Markdown report here")
    ap.add_argument("--command", default=None, help="the command line, for the report")
    ap.add_argument("--json", default=None, help="write the rows here too, for compare.py")
    args = ap.parse_args()
    only = [s for s in args.only.split(",") if s]
    signal.signal(signal.SIGTERM, lambda sig, frame: (_ for _ in ()).throw(KeyboardInterrupt()))
    t_start = time.monotonic()
    load0 = loadavg()
    src = source_state()
    started = datetime.datetime.now().astimezone()
    b = Bench(args)
    try:
        b.run(only)
    finally:
        b.close()
    total = time.monotonic() - t_start
    load1 = loadavg()
    table = b.t.markdown()
    met = sum(1 for r in b.t.rows if r[3] is True)
    notmet = sum(1 for r in b.t.rows if r[3] is False)
    print()
    print(table)
    print()
    print(f"targets: {met} met, {notmet} not met; run time {total:.0f} s "
          f"({', '.join(f'{n} {s:.0f} s' for n, s in b.timings)}); load average {load0} -> "
          f"{load1}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([{"figure": r[0], "measured": r[1], "target": r[2], "met": r[3]}
                       for r in b.t.rows], f, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("# ntm-gateway benchmark results (issue 6)\n\n")
            f.write(f"- date: {started.strftime('%Y-%m-%d %H:%M %z')}\n")
            f.write(f"- machine: `{platform.machine()}`, {cpu_model()}, {os.cpu_count()} cores, "
                    f"{platform.system()} {platform.release()}\n")
            f.write(f"- command: `{args.command or ' '.join(sys.argv)}`"
                    f"{' (quick: smaller loads)' if args.quick else ''}\n")
            f.write(f"- build: `{os.path.relpath(b.build, ROOT)}`, meson buildtype "
                    f"{buildtype(b.build)}; daemon measured: "
                    f"`{os.path.relpath(os.environ['NTM_GATEWAYD'], ROOT)}`\n")
            f.write(f"- source (at the start of the run): {src}\n")
            f.write(f"- run time: {total:.0f} s ({', '.join(f'{n} {s:.0f} s' for n, s in b.timings)})"
                    f"; load average at start {load0}, at end {load1} (the machine is shared)\n")
            f.write(f"- targets: {met} met, {notmet} not met\n\n")
            f.write(table + "\n")
            if b.t.notes:
                f.write("\nNotes:\n\n" + "".join(f"- {n}\n" for n in b.t.notes))
            if b.t.profile:
                f.write("\n## Profile\n\n" + "\n\n".join(b.t.profile) + "\n")
            f.write("\nHow each figure is measured: see the header of tests/bench/bench.py.\n")
    sys.exit(0)


def source_state():
    """The commit measured, and the files that differed from it (a shared checkout)."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
        st = subprocess.run(["git", "-C", ROOT, "status", "--short", "--", "daemon", "plugins",
                             "meson.build"], capture_output=True, text=True,
                            timeout=30).stdout.split("\n")
        mod = [ln[3:] for ln in st if ln.strip()]
        return f"`{head[:90]}`" + (f", with uncommitted changes to {', '.join(mod)}" if mod
                                   else ", no uncommitted change to daemon/ or plugins/")
    except Exception:
        return "unknown"


def buildtype(build):
    try:
        p = subprocess.run(["meson", "introspect", "--buildoptions", build], capture_output=True,
                           timeout=60)
        for o in json.loads(p.stdout):
            if o["name"] == "buildtype":
                return o["value"]
    except Exception:
        pass
    return "?"


if __name__ == "__main__":
    main()
