#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""powercut.py: power cuts under load, simulated (tests/fault/pcshim.c and
powercut_support.py; test_power_cut.py runs a few, powercut.sh runs 100).

ntm-sim publishes a steady load (QoS 1, message i has ts BASE + i, so event
time runs fast and hours close) to a broker; the daemon runs with its buffer in
a directory of its own, provincial-http sending to
tests/tools/receiver.py as the province, and pcshim preloaded. Each cut:

  1. the daemon runs 0.4..2.2 s on the directory the last cut left, then is
     SIGKILLed; the shim's log says what reached the page cache and what was synced;
  2. three images are rebuilt: "min" (only what was synced), "max" (everything
     the process wrote: what a kill -9 leaves) and "random" (synced, plus any
     subset of the rest, torn at 512-byte sectors, in any order: the disk after
     the cut);
  3. checks on "random" before anything opens it: PRAGMA integrity_check on a
     copy (a damaged file must be moved aside and reported by the daemon, never
     silently lost); then the daemon starts on "max" and on "random" (without
     the shim, a second broker with no traffic), is stopped with SIGTERM, and:
       - every message of "min" is in "random" (nothing synced is lost),
       - the messages of "max" missing from "random" were all received less than
         storage.sync_ms + MARGIN_MS before the cut (the loss: printed per cut);
  4. "random", as the daemon left it, is the next cut's directory.

At the end the receiver must have no error (a batch seq re-sent with a different
content is one), no indicator row or alert in two batches, and the database
must agree with itself: the aggregation state's message id is a stored message
or older, devices' message counters equal their messages.
"""

import os
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
import powercut_support as P  # noqa: E402
import sync_support as S  # noqa: E402
import wbc_support as F  # noqa: E402

VILLAGES = ["a", "b"]
NDEV = 6
RATE = 200
SYNC_MS = 1000
# fdatasync and checkpoint time on a busy 2-core machine, and the tick's own jitter
MARGIN_MS = int(os.environ.get("NTM_POWERCUT_MARGIN_MS", "1000"))


def shim_path():
    p = os.environ.get("NTM_PCSHIM_SO")
    if p:
        return p
    return os.path.join(S.build_dir(), "tests", "fault", "ntm-pcshim.so")


def shim_env(dir_, log):
    """The environment that preloads pcshim for a daemon whose buffer is in dir_.
    Under ASan the shim comes before the sanitizer's runtime: allowed, it
    intercepts no allocation."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": shim_path(), "NTM_PCSHIM_DIR": os.path.realpath(dir_),
            "NTM_PCSHIM_LOG": log,
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


def copy_dir(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    if os.path.isdir(src):
        for n in os.listdir(src):
            p = os.path.join(src, n)
            if os.path.isfile(p):
                shutil.copyfile(p, os.path.join(dst, n))


def db_in(d):
    return os.path.join(d, "buffer.db")


def msg_ts(d, with_recv=False):
    """{ts: recv_ms} of the messages of the database in d, read from a copy
    (opening a WAL database recovers it: never on the image itself)."""
    if not os.path.exists(db_in(d)):
        return {}
    c = d.rstrip("/") + ".read"
    copy_dir(d, c)
    con = sqlite3.connect(db_in(c), timeout=10)
    try:
        return dict(con.execute("SELECT ts, recv_ms FROM messages").fetchall())
    finally:
        con.close()
        shutil.rmtree(c, ignore_errors=True)


def read_batches(d):
    """{seq: body as JSON} of the batches of the database in d (read from a copy)."""
    import json
    if not os.path.exists(db_in(d)):
        return {}
    c = d.rstrip("/") + ".read"
    copy_dir(d, c)
    con = sqlite3.connect(db_in(c), timeout=10)
    try:
        return {seq: json.loads(body) for seq, body in
                con.execute("SELECT seq, body FROM batches WHERE body IS NOT NULL").fetchall()}
    except sqlite3.Error:
        return {}  # not even the schema was synced
    finally:
        con.close()
        shutil.rmtree(c, ignore_errors=True)


def integrity(d):
    """'ok', 'no database', or what PRAGMA integrity_check (or the open) said."""
    if not os.path.exists(db_in(d)):
        return "no database"
    c = d.rstrip("/") + ".check"
    copy_dir(d, c)
    try:
        con = sqlite3.connect(db_in(c), timeout=10)
        try:
            res = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        finally:
            con.close()
    except sqlite3.Error as e:
        res = [str(e)]
    shutil.rmtree(c, ignore_errors=True)
    return "ok" if res == ["ok"] else "; ".join(res[:3])


class Run:
    def __init__(self, h, t, cuts, seed):
        self.h, self.t, self.cuts = h, t, cuts
        self.rng = random.Random(seed)
        self.seed = seed
        self.dir = os.path.join(h.tmp, "buf")       # where the daemon runs
        self.state = os.path.join(h.tmp, "state")   # the disk after the last cut
        os.makedirs(self.state)
        self.losses, self.notes, self.failures = [], [], []
        self.damaged = 0

    def configs(self):
        h = self.h
        load_port = h.start_broker()
        self.quiet = harness.Broker(h)
        quiet_port = self.quiet.start()
        self.devices = h.sim_devices(VILLAGES, NDEV)
        self.rx = S.start_receiver("pc-token")
        tok = S.token_file(h, "pc-token")
        storage = {"path": db_in(self.dir), "sync_ms": SYNC_MS, "commit_ms": 50}
        up = [S.http_uplink(self.rx, tok)]
        sync = {"interval_s": 1, "grace_s": 30}
        self.cfg_load = S.write_config(h, VILLAGES, self.devices, uplinks=up, sync=sync,
                                       plugin_dir_=S.plugin_dir(), name="load.yaml",
                                       storage=storage)
        self.cfg_rec = S.write_config(h, VILLAGES, self.devices, uplinks=up, sync=sync,
                                      plugin_dir_=S.plugin_dir(), name="recover.yaml",
                                      storage=storage,
                                      mqtt={"port": quiet_port, "client_id": "pc-recover"})
        self.cfg_max = S.write_config(h, VILLAGES, self.devices, sync=sync, name="max.yaml",
                                      storage=storage,
                                      mqtt={"port": quiet_port, "client_id": "pc-recover"})
        return load_port

    def start_sim(self, port):
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * 86400 + 7 * 3600))
        base = S.ts(day, 0, 30)
        count = min(22 * 3600, RATE * (self.cuts * 6 + 20))
        self.sim = F.Proc(self.h, [harness.sim_path(), "--port", port, "--qos", 1,
                                   "--expect", os.path.join(self.h.tmp, "expect.json"),
                                   "--villages", ",".join(VILLAGES), "--devices", NDEV,
                                   "--rate", RATE, "--count", count, "--seed", self.seed % 1000,
                                   "--start-ts", base, "--step-ms", 1000], "sim", stdin=False)

    def daemon_on(self, d, cfg, shim_log=None):
        copy_dir(d, self.dir)
        saved = dict(os.environ)
        os.environ.pop("RUNTIME_DIRECTORY", None)
        if shim_log:
            os.environ.update(shim_env(self.dir, shim_log))
        try:
            return self.h.start_daemon(cfg, timeout=60)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def recover(self, img, cfg):
        """Starts the daemon on an image, stops it with SIGTERM; the image becomes
        what it left. Returns {ts: recv_ms}."""
        d = self.daemon_on(img, cfg)
        rc = d.terminate(timeout=60)
        if rc != 0:
            self.failures.append(f"the daemon exited {rc} after starting on {img}")
        copy_dir(self.dir, img)
        return msg_ts(img)

    def cut(self, i):
        log = os.path.join(self.h.tmp, f"shim-{i}.log")
        d = self.daemon_on(self.state, self.cfg_load, shim_log=log)
        base = P.base_of(self.dir)
        time.sleep(self.rng.uniform(0.4, 2.2))
        kill_ms = int(time.time() * 1000)
        if os.environ.get("NTM_POWERCUT_DEBUG"):
            tasks = f"/proc/{d.proc.pid}/task"
            for tid in os.listdir(tasks):
                with open(f"{tasks}/{tid}/stat") as f, open(f"{tasks}/{tid}/wchan") as g:
                    print(f"cut {i}: thread {tid}: {f.read().split()[2]} {g.read()}")
        d.kill()
        disk = P.Disk(base)
        recs = P.read_log(log)
        disk.replay(recs)
        disk.killed(self.dir)
        imgs = {m: os.path.join(self.h.tmp, f"img-{m}") for m in ("min", "max", "random")}
        for m, p in imgs.items():
            shutil.rmtree(p, ignore_errors=True)
            how = disk.materialize(p, self.rng, m)
        ok = integrity(imgs["random"])
        if ok != "ok" and ok != "no database":
            keep = os.path.join(self.h.tmp, f"bad-cut-{i}")
            copy_dir(imgs["random"], keep)
        synced = msg_ts(imgs["min"])
        got_max = self.recover(imgs["max"], self.cfg_max)
        got = self.recover(imgs["random"], self.cfg_rec)
        bad = sorted(n for n in os.listdir(imgs["random"]) if ".bad-" in n)
        if ok not in ("ok", "no database") and not bad:
            self.failures.append(f"cut {i}: the database fails integrity_check ({ok}) and the "
                                 "daemon did not move it aside")
        if bad:  # allowed (moved aside and reported), but SQLite should never need it
            self.damaged += 1
            self.notes.append(f"cut {i}: the database was damaged ({ok}) and moved aside: {bad}")
        missing_synced = sorted(set(synced) - set(got))
        if missing_synced:
            self.failures.append(f"cut {i}: {len(missing_synced)} messages synced before the "
                                 f"cut are missing, e.g. ts {missing_synced[:3]}")
        lost = sorted(set(got_max) - set(got))
        early = [ts for ts in lost if got_max[ts] < kill_ms - SYNC_MS - MARGIN_MS]
        oldest = max((kill_ms - got_max[ts] for ts in lost), default=0)
        self.losses.append((len(lost), oldest))
        if early:
            self.failures.append(f"cut {i}: {len(early)} lost messages were received more than "
                                 f"{SYNC_MS} + {MARGIN_MS} ms before the cut (oldest "
                                 f"{oldest} ms)")
        self.notes.append(f"cut {i}: {len(recs)} records, {how}; {len(lost)} lost (oldest "
                          f"received {oldest} ms before the cut), {len(synced)} synced kept")
        copy_dir(imgs["random"], self.state)

    def final_checks(self, load_port):
        h, t = self.h, self.t
        # a last clean run on the load broker: what is queued, batches sent
        d = self.daemon_on(self.state, self.cfg_load)
        time.sleep(4)
        t.eq(d.terminate(timeout=60), 0, "the last run exits 0 on SIGTERM")
        copy_dir(self.dir, self.state)
        con = sqlite3.connect(db_in(self.state), timeout=10)
        try:
            agg = con.execute("SELECT msg_id FROM agg_state").fetchall()
            top = con.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
            floor = con.execute("SELECT value FROM meta WHERE key = 'msg_id_floor'").fetchall()
            per_dev = dict(con.execute("SELECT d.name, d.messages FROM devices d "
                                       "WHERE d.messages > 0").fetchall())
            counted = dict(con.execute("SELECT d.name, count(*) FROM messages m JOIN devices d"
                                       " ON d.id = m.device GROUP BY d.name").fetchall())
        finally:
            con.close()
        t.ok(not agg or agg[0][0] <= max(top, floor[0][0] if floor else 0),
             "the aggregation state is not ahead of the stored messages",
             f"agg_state.msg_id {agg}, last message {top}")
        t.eq(per_dev, counted, "each device's message counter equals its stored messages")
        errs = self.rx.errors
        t.eq(errs[:5], [], "the receiver saw no error (no seq re-sent with another content)")
        keys = [S.row_key(r) for r in self.rx.rows()]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        t.eq(twice[:5], [], f"no indicator row in two batches ({len(keys)} rows received)")
        al = [(a["ts"], a["village"], a["device"], a["type"]) for a in self.rx.alerts()]
        t.eq(sorted({a for a in al if al.count(a) > 1})[:5], [],
             f"no alert in two batches ({len(al)} alerts received)")
        return len(self.rx.accepted_seqs), len(keys)

    def run(self):
        t0 = time.monotonic()
        port = self.configs()
        # the load session exists before the first message
        self.daemon_on(self.state, self.cfg_load).terminate()
        copy_dir(self.dir, self.state)
        self.start_sim(port)
        for i in range(1, self.cuts + 1):
            self.cut(i)
            print(self.notes[-1], flush=True)
        self.sim.stop(signal.SIGINT, timeout=30)
        batches, rows = self.final_checks(port)
        exp = F.load_json(os.path.join(self.h.tmp, "expect.json"))
        stored = len(msg_ts(self.state))
        print(f"end to end: {exp['published']} messages published, {exp['acked']} acknowledged by"
              f" the broker, {stored} stored at the end: {exp['acked'] - stored} missing in all"
              f" (the cuts' losses above, plus what libmosquitto acknowledged but the killed"
              f" process had not yet journalled: a kill -9's window)")
        n = [x[0] for x in self.losses]
        worst = max(x[1] for x in self.losses)
        print(f"SUMMARY power_cut: {self.cuts} cuts at {RATE} msg/s, storage.sync_ms {SYNC_MS} "
              f"(seed {self.seed}): messages lost per cut: median {statistics.median(n):g}, mean "
              f"{statistics.mean(n):.1f}, max {max(n)} (one sync_ms is {RATE * SYNC_MS // 1000});"
              f" oldest lost message received {worst} ms before its cut; {batches} batches, "
              f"{rows} indicator rows received; databases damaged and moved aside: "
              f"{self.damaged}; {time.monotonic() - t0:.0f} s")
        self.t.eq(self.failures, [], f"every one of the {self.cuts} cuts passes its checks")


def main(h, t, cuts=None, seed=None):
    cuts = cuts or int(os.environ.get("NTM_POWERCUT_CUTS", "10"))
    seed = seed if seed is not None else int(os.environ.get("NTM_POWERCUT_SEED",
                                                             str(int(time.time()))))
    Run(h, t, cuts, seed).run()


if __name__ == "__main__":
    harness.run(main)
