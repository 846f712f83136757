#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_wan_outage: the WAN to the provincial receiver cut, slow and lossy while
devices keep publishing; nothing is lost and every batch arrives once.

The receiver (tests/tools/receiver.py, as a process) runs inside a network
namespace of its own, ntmtest-<pid>, joined to the root namespace by a veth pair
with link-local /30 addresses the test assigns; in front of it, in the same
namespace, the flaky proxy (tests/fault/flaky_proxy.py), which forwards untouched
until told otherwise. The daemon, in the root namespace, has
base_url http://<far address>:<proxy port>. ntm-sim publishes a steady 200 msg/s
(QoS 1) whose ts advances 10 s per message, so event time runs 2000x and an hour
closes (and a batch forms, sync.interval_s 1) every ~1.8 s.

  0. warm-up: batches are delivered
  1. outage: the far end of the veth is set down for 12 s (packets vanish,
     connections time out). The daemon keeps ingesting (the database and STATUS
     grow), batches wait; when the link is back the backlog drains (its time is
     measured)
  2. slow: tc tbf at 16 kbit/s both ways, packets over 300 ms in the queue
     dropped, for 12 s
  3. lossy: the proxy delays every chunk up to 1.5 s, resets 12 % of them (also
     answers: the receiver has the batch, the daemon does not know) and turns
     5 % of the connections into black holes, for 15 s
  4. the load stops, the link is clean: everything is delivered, SIGTERM.

Checked at the end: the daemon's batches are seqs 1..N and the receiver accepted
each exactly once after deduplication (repeats answered 409 are counted), no
request was malformed, no indicator row arrived twice, the messages per device
in the database (devices.messages: message rows of delivered days are released)
equal ntm-sim's --expect, and the namespace and veths are gone.

Where network namespaces cannot be made (not root, no CAP_SYS_ADMIN), the test
says so and runs on loopback instead: the outage is the receiver going away
(connection refused), the slow link is the proxy's pacing.
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wbc_support as F  # noqa: E402  (puts tests/integration on sys.path)
import harness  # noqa: E402
import sync_support as S  # noqa: E402

TOKEN = "wan-outage-Token.7"
VILLAGES = ["thon-a", "thon-b", "thon-c"]
RATE = 200           # msg/s
STEP_MS = 10000      # ts advance per message: 2000 s of event time per second
OUTAGE_S = 12
SLOW_S = 12
LOSSY_S = 15
START_TS = int(time.time()) - 6 * 86400
RX_PORT, PROXY_PORT = 18080, 18081

# one request, as receiver.py prints it; two threads of the receiver may print at
# once, so a line can hold two requests: matched anywhere, not per line
REQ = re.compile(r"\d\d:\d\d:\d\d (\d{3}|None) (gw-test-01:\d+|-)(?=\s)")


class Receiver:
    """receiver.py as a process; its request lines parsed."""

    def __init__(self, h, net, host, port):
        self.out = os.path.join(h.tmp, "received")
        os.makedirs(self.out, exist_ok=True)
        argv = net.argv(["python3", F.receiver_py(), "--host", host, "--port", str(port),
                         "--token", TOKEN, "--out", self.out, "--gzip", "required"])
        self.p = F.Proc(h, argv, "receiver")
        self.p.wait_line(r"^receiving on ", 15)

    def requests(self):
        """[(t, status, batch_id)] of every request the receiver answered."""
        return [(t, m.group(1), m.group(2)) for t, ln in self.p.snapshot()
                for m in REQ.finditer(ln)]

    def errors(self):
        """The receiver's lines about requests the gateway got wrong. A body cut short
        by a reset (the flaky proxy's doing, not the gateway's) is not one of them."""
        return [ln for _, ln in self.p.snapshot()
                if "[ERROR]" in ln and "unreadable request body" not in ln]

    def cut_short(self):
        return [ln for _, ln in self.p.snapshot() if "unreadable request body" in ln]

    def accepted(self):
        """batch ids answered 2xx, in order (one each: a repeat is answered 409)."""
        return [b for _, st, b in self.requests() if st.startswith("2")]

    def accepted_seqs(self):
        """seqs of the batches the receiver kept (it writes each accepted one once)."""
        return sorted(int(f[6:-5]) for f in os.listdir(self.out)
                      if f.startswith("batch-") and f.endswith(".json"))


def main(h, t):
    net = F.NetNS()
    try:
        scenario(h, t, net)
    finally:
        net.cleanup()
        left = net.leftovers()
        t.eq(left, [], "the namespace and the veth pair are removed")


def scenario(h, t, net):
    port = h.start_broker()
    if os.environ.get("NTM_FAULT_NO_NETNS"):
        net.why = "NTM_FAULT_NO_NETNS is set"
    if not os.environ.get("NTM_FAULT_NO_NETNS") and net.setup():
        print(f"network namespace {net.name}: {net.host_if} {net.host_addr}/30 <-> "
              f"{net.far_if} {net.far_addr}/30 (inside the namespace)")
        host = net.far_addr
        rx_port, px_port = RX_PORT, PROXY_PORT
    else:
        print(f"NOTE: network namespaces are not available here ({net.why}); falling back "
              "to loopback: the outage is the receiver going away, the slow link the "
              "proxy's pacing")
        host = "127.0.0.1"
        rx_port, px_port = harness.free_port(), harness.free_port()
    rx = Receiver(h, net, host, rx_port)
    proxy = F.Proc(h, net.argv(["python3", F.proxy_py(), "--listen", f"{host}:{px_port}",
                                "--target", f"{host}:{rx_port}", "--seed", "5"]), "proxy")
    proxy.wait_line(r"^listening on ", 15)

    devices = h.sim_devices(VILLAGES, 9)
    tok = S.token_file(h, TOKEN)
    up = {"plugin": "provincial-http", "base_url": f"http://{host}:{px_port}",
          "token_file": tok, "gzip": True, "timeout_s": 4}
    cfg = S.write_config(h, VILLAGES, devices, uplinks=[up],
                         sync={"interval_s": 1, "grace_s": 60}, plugin_dir_=S.plugin_dir())
    d = h.start_daemon(cfg)

    def in_db():
        return h.query("SELECT coalesce(sum(messages), 0) FROM devices")[0][0]

    def formed():
        return [s for (s,) in h.query("SELECT seq FROM batches ORDER BY seq")]

    def pending():
        return [s for (s,) in h.query("SELECT seq FROM deliveries WHERE state = 'pending' "
                                      "ORDER BY seq")]

    expect_path = os.path.join(h.tmp, "expect-load.json")
    count = RATE * 120  # more than the run needs: the load is stopped with SIGINT
    sim = F.Proc(h, [harness.sim_path(), "--port", str(port), "--qos", "1", "--rate", RATE,
                     "--count", count, "--villages", ",".join(VILLAGES), "--devices", 9,
                     "--seed", 11, "--start-ts", START_TS, "--step-ms", STEP_MS,
                     "--expect", expect_path], "ntm-sim", stdin=False)
    t0 = time.monotonic()

    # ---- 0. warm-up
    rx.p.wait_line(r" 20\d gw-test-01:2 ", 30)
    t.ok(True, f"warm-up: batches 1 and 2 delivered after {time.monotonic() - t0:.1f} s")

    # ---- 1. outage
    n0, st0 = in_db(), d.status
    f0 = len(formed())
    reqs0 = len(rx.requests())
    cut_at = time.monotonic()
    if net.usable:
        net.link(False)
    else:
        rx.p.send("away")
    samples = []
    while time.monotonic() - cut_at < OUTAGE_S:
        time.sleep(1)
        samples.append(in_db())
    n1, st1 = in_db(), d.status
    formed_at_cut_end = formed()
    waiting = pending()
    reqs_during = [r for r in rx.requests()[reqs0:] if r[0] < time.monotonic()]
    if net.usable:
        net.link(True)
    else:
        rx.p.send("back")
    back_at = time.monotonic()
    print(f"outage: {OUTAGE_S} s; database {n0} -> {n1} messages (samples {samples}); STATUS "
          f"{st0['text'] if st0 else None!r} -> {st1['text'] if st1 else None!r}; batches "
          f"formed {f0} -> {len(formed_at_cut_end)}, pending at the end {waiting}")
    if not t.ok(n1 - n0 >= RATE * OUTAGE_S * 0.7
                and all(b > a for a, b in zip(samples, samples[1:])),
                "outage: the daemon kept ingesting (messages in the database grew every second)",
                f"{n0} -> {n1}, samples {samples}"):
        print(F.diagnose_stuck(d))
        raise harness.TestFailure("the daemon stopped ingesting while the uplink was failing; "
                                  "the rest of the test cannot run")
    t.ok(st0 and st1 and st1["accepted"] > st0["accepted"] and st1["connected"],
         "outage: STATUS shows accepted rising and the broker connected",
         f"{st0} -> {st1}")
    t.ok(len(formed_at_cut_end) - f0 >= 3 and len(waiting) >= 3,
         "outage: batches kept forming and waited", f"formed {f0} -> {formed_at_cut_end}, "
         f"pending {waiting}")
    if net.usable:
        t.eq([r for r in reqs_during if r[0] > cut_at + 0.5 and r[0] < back_at], [],
             "outage: no request reached the receiver while the link was down")
    # the backlog drains
    target = set(formed_at_cut_end)
    try:
        S.wait_for(lambda: target <= set(rx.accepted_seqs()), 90,
                   "the batches formed during the outage delivered", poll=0.1, daemon=d)
        drain = time.monotonic() - back_at
        t.ok(True, f"outage: the backlog of {len(waiting)} batches drained {drain:.1f} s after "
             "the link came back")
    except harness.TestFailure as e:
        drain = None
        t.ok(False, "outage: the backlog drains after the link returns", str(e))
    errs = [ln for ln in d.stderr_text().splitlines() if "not delivered" in ln]
    print(f"daemon log lines 'not delivered' so far: {len(errs)}"
          + (f"; first: {errs[0]}" if errs else ""))
    t.ok(len(errs) <= 3, "outage: the failing uplink is logged a bounded number of times "
         "(not once per attempt)", f"{len(errs)} lines")

    # ---- 2. slow: tbf
    n2 = len(rx.accepted())
    slow_at = time.monotonic()
    if net.usable:
        net.tbf("16kbit", burst="2kb", latency="300ms")
    else:
        proxy.send("flaky 0 0 0 2000")
    time.sleep(SLOW_S)
    if net.usable:
        slow_stats = net.tbf_stats()
    else:
        n_lines = len(proxy.snapshot())
        proxy.send("stats")
        slow_stats = proxy.wait_line(r"^stats ", 5, start=n_lines).string
    if net.usable:
        net.no_tbf()
    else:
        proxy.send("pass")
    n3 = len(rx.accepted())
    print(f"slow link {SLOW_S} s: {n3 - n2} batches accepted meanwhile; {slow_stats}")
    if net.usable:
        m = re.search(r"overlimits (\d+)", slow_stats)
        t.ok(m and int(m.group(1)) > 0, f"slow: tc tbf held packets back ({n3 - n2} batches "
             f"accepted in {SLOW_S} s at 16 kbit/s)", slow_stats)
    else:
        m = re.search(r"delayed_s=([\d.]+)", slow_stats)
        t.ok(m and float(m.group(1)) > 0, f"slow: the proxy paced the link ({n3 - n2} batches "
             f"accepted in {SLOW_S} s at 2000 bytes/s)", slow_stats)

    # ---- 3. lossy: the proxy
    lossy_at = time.monotonic()
    proxy.send("flaky 1.5 0.12 0.05")
    time.sleep(LOSSY_S)
    proxy.send("pass")
    n_lines = len(proxy.snapshot())
    proxy.send("stats")
    pstats = proxy.wait_line(r"^stats ", 5, start=n_lines).string
    n4 = len(rx.accepted())
    print(f"lossy link {LOSSY_S} s: {n4 - n3} batches accepted meanwhile; proxy {pstats}")
    m = re.search(r"resets=(\d+) stalls=(\d+)", pstats)
    t.ok(m and int(m.group(1)) + int(m.group(2)) > 0,
         "lossy: the proxy reset or stalled some connections", pstats)

    # ---- 4. stop the load; everything is delivered
    sim.stop(signal.SIGINT, timeout=60)
    exp = F.load_json(expect_path)
    print(f"ntm-sim: {exp['valid_total']} messages published, {exp['acked']} acknowledged; "
          f"event time {exp['first_ts']} .. {exp['last_ts']}")
    t.eq(exp["acked"], exp["published"], "the broker acknowledged every message published")
    S.wait_for(lambda: in_db() == exp["valid_total"], 60,
               f"{exp['valid_total']} messages in the database", daemon=d)
    end_at = time.monotonic()
    try:
        S.wait_for(lambda: formed() and not pending()
                   and set(formed()) <= set(rx.accepted_seqs()), 150,
                   "every formed batch delivered", poll=0.2, daemon=d)
        t.ok(True, f"after the faults every formed batch was delivered "
             f"({time.monotonic() - end_at:.1f} s after the load stopped)")
    except harness.TestFailure as e:
        left = h.query("SELECT seq, state, attempts, last_error FROM deliveries "
                       "WHERE state != 'delivered'")
        t.ok(False, "every formed batch delivered", f"{e}; {left[:10]}")
    time.sleep(1.5)  # a tick with nothing new: no batch forms meanwhile
    rc = d.terminate()
    t.eq(rc, 0, "the daemon exits 0 on SIGTERM")

    # ---- the whole run
    seqs = formed()
    n = len(seqs)
    t.eq(seqs, list(range(1, n + 1)), f"the daemon formed batches 1..{n}, none skipped")
    t.eq(rx.accepted_seqs(), seqs, f"the receiver has each of the {n} formed batches")
    acc = rx.accepted()
    t.eq(sorted(acc, key=lambda b: int(b.rsplit(":", 1)[1])),
         [f"{S.GATEWAY_ID}:{s}" for s in seqs],
         f"the receiver accepted each of the {n} batches exactly once after deduplication "
         "(answered 2xx once; every repeat answered 409)")
    states = dict(h.query("SELECT seq, state FROM deliveries"))
    t.eq(set(states.values()), {"delivered"}, "every delivery is recorded as delivered")
    reqs = rx.requests()
    dups = [b for _, st, b in reqs if st == "409"]
    t.eq(rx.errors(), [], "every request well-formed, every body valid, a retry always with "
         "the same content")
    rows = []
    for fn in sorted(os.listdir(rx.out)):
        body = F.load_json(os.path.join(rx.out, fn))
        rows += [S.row_key(r) for r in body["indicators"]]
    t.ok(len(rows) > 0 and len(rows) == len(set(rows)),
         f"no indicator row arrived twice ({len(rows)} rows)")
    per_dev = dict(h.query("SELECT name, messages FROM devices WHERE messages > 0"))
    t.eq(per_dev, exp["valid"], "messages per device in the database equal ntm-sim's expect")
    acc_total = h.query("SELECT value FROM counters WHERE name = 'accepted'")[0][0]
    t.eq(acc_total, exp["valid_total"], "counter accepted equals the messages published")
    total = time.monotonic() - t0
    print(f"SUMMARY wan_outage: {'netns+veth' if net.usable else 'loopback fallback'}; "
          f"{exp['valid_total']} messages, {n} batches, {len(reqs)} requests, "
          f"{len(dups)} repeats answered 409 (deduplicated), {len(rx.cut_short())} request "
          f"bodies cut short by a reset; drain after a {OUTAGE_S} s "
          f"outage: {drain if drain is None else round(drain, 1)} s; proxy {pstats}; "
          f"load+faults {total:.0f} s")


if __name__ == "__main__":
    harness.run(main)
