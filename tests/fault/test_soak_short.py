# SPDX-License-Identifier: GPL-3.0-or-later
"""test_soak_short: a 1-hour-equivalent soak at steady load, compressed by
speed: 100 devices in 5 villages each reporting every 10 s for an hour of
device time (36,000 messages, QoS 1), published as fast as the broker takes
them, with ts advancing 100 ms a message (ntm-sim --start-ts/--step-ms). The
hour is placed across a local midnight (23:30 to 00:30), so that during the run
the 23:00 hour and the whole previous day close, their rows form batches and
the `file` uplink (the build's plugins/file) delivers them into a temporary
directory, and the closed day's messages are released from the buffer.

Checked: every message accepted and counted under its device; the rows of both
closed windows delivered exactly once, one per village, kind and indicator,
with the values computed independently from the simulator's own message list
(ntm-sim --dry-run with the same seed), and every batch file valid against
config/ntm.sync.v1.schema.json when python3-jsonschema is there; RSS flat
(flood_soak_support.flat_rss, the flood test's criterion) over the run; a clean
exit (0) after SIGTERM with no sanitizer report: under an ASan build
(NTM_GATEWAYD) LeakSanitizer runs at exit, so a leak fails the test; under
tests/fault/soak.sh, valgrind does (--error-exitcode).

Env: NTM_GATEWAYD, NTM_CTL, NTM_SIM as for the integration tests; for longer
soaks (tests/fault/soak.sh) NTM_SOAK_HOURS (1), NTM_SOAK_DEVICES (100),
NTM_SOAK_INTERVAL_S (10), NTM_SOAK_RSS_SLACK_MIB, NTM_PLUGIN_BUILD_DIR."""
import datetime
import json
import os
import time

from flood_soak_support import (ASAN_EXTRA_SLACK, MiB, RssSampler, prepare_asan,
                                build_plugin_dir, flat_rss, fmt_mib, harness,
                                rss_timeline, write_config)

HOURS = int(os.environ.get("NTM_SOAK_HOURS", "1"))
N_DEVICES = int(os.environ.get("NTM_SOAK_DEVICES", "100"))
INTERVAL_S = int(os.environ.get("NTM_SOAK_INTERVAL_S", "10"))
VILLAGES = ["thon-1", "thon-2", "thon-3", "thon-4", "thon-5"]
GRACE_S = 60
SEED = 7
TZ = datetime.timezone(datetime.timedelta(hours=7))
DAY = 86400
SPEAKER = ["broadcasts", "broadcasts_played", "broadcasts_failed", "broadcast_minutes",
           "emergency_broadcasts", "faults"]
CAMERA = ["motion_events", "tamper_events", "video_loss_events", "recording_pct"]
WIFI = ["unique_clients", "sessions", "peak_clients", "traffic_mb"]
NAMES = {"speaker": ["uptime_pct"] + SPEAKER, "camera": ["uptime_pct"] + CAMERA,
         "wifi": ["uptime_pct"] + WIFI}


def iso(t):
    return datetime.datetime.fromtimestamp(t, TZ).strftime("%Y-%m-%dT%H:%M:%S+07:00")


def local_midnight_at_or_before(t):
    return (t + 7 * 3600) // DAY * DAY - 7 * 3600


def plan(t):
    """(start ts, step ms, messages, midnight M): HOURS of device time across a
    local midnight M, ending at least a minute before now. One or two hours are
    centred on M, so that the hour and the day close mid-run; a longer run
    starts a tenth of its span (whole hours) before M, so that the day's close
    and release, which happen once, fall in the warm-up (the first quarter, the
    RSS reference) and hours keep closing until the end."""
    span = HOURS * 3600
    lead = span // 2 if HOURS <= 2 else max(3600, span // 10 // 3600 * 3600)
    now = int(time.time())
    m = local_midnight_at_or_before(now - 60 - (span - lead))
    n = N_DEVICES * span // INTERVAL_S
    step_ms = INTERVAL_S * 1000 // N_DEVICES
    t.require(step_ms * N_DEVICES == INTERVAL_S * 1000, "step is a whole number of ms")
    return m - lead, step_ms, n, m


def expected_rows(msgs, devices, windows):
    """{(village, kind, period, start iso, name): value} for the closed windows,
    from the messages as ntm-sim generates them (provincial-sync.md, Indicators);
    uptime_pct and unique_clients (hour) are left out (checked for range only)."""
    kind_of = {d: (k, v) for d, k, v in devices}
    counts = {}
    for v in VILLAGES:
        for k in ("speaker", "camera", "wifi"):
            if any(dk == k and dv == v for _, dk, dv in devices):
                for (period, start, end) in windows:
                    acc = {n: 0 for n in NAMES[k] if n != "uptime_pct"}
                    acc["_rec"] = [0, 0]
                    counts[(v, k, period, start)] = acc
    for topic, p in msgs:
        lv = topic.split("/")
        dev, ch = lv[4], lv[5]
        k, v = kind_of[dev]
        ts = p["ts"]
        for a in (counts.get((v, k, "hour", ts // 3600 * 3600)),
                  counts.get((v, k, "day", local_midnight_at_or_before(ts)))):
            if a is None:
                continue  # a window that does not close during the run
            if k == "speaker" and ch == "event":
                if p["type"] == "broadcast":
                    a["broadcasts"] += 1
                    a["broadcasts_played"] += p["result"] == "played"
                    a["broadcasts_failed"] += p["result"] == "failed"
                    if p["result"] in ("played", "interrupted"):
                        a["broadcast_minutes"] += p["duration_s"] / 60
                    a["emergency_broadcasts"] += p.get("priority") == "emergency"
                elif p["type"] == "fault":
                    a["faults"] += 1
            elif k == "camera" and ch == "event":
                key = {"motion": "motion_events", "tamper": "tamper_events",
                       "video_loss": "video_loss_events"}.get(p["type"])
                if key:
                    a[key] += 1
            elif k == "camera" and ch == "stats":
                a["_rec"][0] += 1
                a["_rec"][1] += bool(p["recording"])
            elif k == "wifi" and ch == "stats":
                a["sessions"] += p["new_sessions"]
                a["peak_clients"] = max(a["peak_clients"], p["clients"])
                a["traffic_mb"] += (p["rx_bytes"] + p["tx_bytes"]) / 1e6
    out = {}
    for (v, k, period, start), a in counts.items():
        rec = a.pop("_rec")
        if k == "camera":
            if rec[0]:
                a["recording_pct"] = round(100 * rec[1] / rec[0], 2)
            else:
                del a["recording_pct"]  # absent when no report came
        if k == "wifi":
            del a["unique_clients"]
        for n, val in a.items():
            if n in ("traffic_mb", "broadcast_minutes"):
                val = round(val, 2)
            out[(v, k, period, iso(start), n)] = val
    return out


def dry_run_messages(h, args):
    p = h.run([harness.sim_path(), "--dry-run", "-q", *args], timeout=300, check=True)
    msgs = []
    for line in p.stdout.split(b"\n"):
        if line:
            topic, _, payload = line.partition(b" ")
            msgs.append((topic.decode(), json.loads(payload)))
    return msgs


def read_batches(outdir):
    files = sorted(f for f in os.listdir(outdir) if f.endswith(".json") and not f.startswith("."))
    batches = []
    for f in files:
        with open(os.path.join(outdir, f), encoding="utf-8") as fh:
            batches.append((f, json.load(fh)))
    return batches


def delivered_rows(batches):
    rows = {}
    dup = []
    for _, b in batches:
        for r in b["indicators"]:
            key = (r["village"], r["kind"], r["period"], r["start"], r["name"])
            if key in rows:
                dup.append(key)
            rows[key] = r
    return rows, dup


def main(h, t):
    gatewayd = harness.gatewayd_path()
    asan = prepare_asan(gatewayd)
    start, step_ms, n, midnight = plan(t)
    span = HOURS * 3600
    # closed during the run: every hour ending (plus grace) before the last ts,
    # and the day that ends at the midnight
    windows = [("hour", s, s + 3600) for s in range((start // 3600) * 3600, start + span, 3600)
               if s + 3600 + GRACE_S <= start + span - 1]
    windows.append(("day", midnight - DAY, midnight))
    print(f"(soak: {N_DEVICES} devices x every {INTERVAL_S} s x {HOURS} h = {n} messages, "
          f"ts {iso(start)} .. {iso(start + span)}, {step_ms} ms a message; windows that close: "
          + ", ".join(f"{p} {iso(s)}" for p, s, _ in windows) + ")")

    h.start_broker()
    devices = h.sim_devices(VILLAGES, N_DEVICES)
    t.require(len(devices) == N_DEVICES, f"the simulator gives {N_DEVICES} devices")
    outdir = os.path.join(h.tmp, "outbox")
    os.mkdir(outdir)
    pdir = build_plugin_dir("file")
    t.require(os.path.exists(os.path.join(pdir, "file.so")), f"the file plugin is built in {pdir}")
    cfg = write_config(h, VILLAGES, devices, sync={"interval_s": 1, "grace_s": GRACE_S},
                       plugin_dir=pdir, uplinks=f"  - plugin: file\n    dir: {outdir}\n")
    sim_args = ["--villages", ",".join(VILLAGES), "--devices", str(N_DEVICES), "--count", str(n),
                "--start-ts", str(start), "--step-ms", str(step_ms), "--seed", str(SEED)]
    msgs = dry_run_messages(h, sim_args)
    t.eq(len(msgs), n, "the simulator's message list (--dry-run) has every message")
    want_rows = expected_rows(msgs, devices, windows)
    del msgs

    d = h.start_daemon(cfg, timeout=120)
    sampler = RssSampler(d.proc.pid, 0.05).start()
    time.sleep(0.5)
    idle = max(r for _, r in sampler.samples)
    t0 = time.monotonic()
    p, exp = h.sim(*sim_args, "--qos", 1, timeout=3600)
    t.eq(p.returncode, 0, "ntm-sim exit code")
    t.eq((exp["valid_total"], exp["acked"]), (n, n), "every message published and acknowledged")
    print(f"(published in {p.elapsed:.1f} s: {n / p.elapsed:.0f} msg/s)")
    st = d.wait_counts(n, 0, timeout=3600)
    t_acc = time.monotonic()
    t.ok(True, f"STATUS reached: {st['text']}")

    # the closed windows' rows, delivered as files
    want_keys = set()
    for v in VILLAGES:
        for k in ("speaker", "camera", "wifi"):
            if any(dk == k and dv == v for _, dk, dv in devices):
                for period, s, _ in windows:
                    for name in NAMES[k]:
                        if name == "recording_pct" and \
                                (v, k, period, iso(s), name) not in want_rows:
                            continue
                        want_keys.add((v, k, period, iso(s), name))
    deadline = time.monotonic() + 120
    while True:
        rows, dup = delivered_rows(read_batches(outdir))
        if want_keys <= set(rows) or time.monotonic() > deadline or not d.alive():
            break
        time.sleep(0.2)
    t1 = time.monotonic()
    samples = sampler.stop()
    print(f"(all accepted {t_acc - t0:.1f} s after the first publish, rows delivered after "
          f"{t1 - t0:.1f} s)")

    slack = float(os.environ.get("NTM_SOAK_RSS_SLACK_MIB", "2")) * MiB + \
        (ASAN_EXTRA_SLACK if asan else 0)
    ok, first, last, nf, nl = flat_rss(samples, t0, t1, slack)
    print(f"(RSS: idle {fmt_mib(idle)}, first-quarter max {fmt_mib(first)} ({nf} samples), "
          f"last-half max {fmt_mib(last)} ({nl} samples), peak "
          f"{fmt_mib(max(r for _, r in samples))})")
    print(f"(RSS by tenth of the run, MiB: {rss_timeline(samples, t0, t1)})")
    t.ok(nf >= 5 and nl >= 5, "enough RSS samples", f"{nf} and {nl}")
    t.ok(ok, f"RSS flat: last-half max {fmt_mib(last)} <= first-quarter max {fmt_mib(first)} + "
         f"{fmt_mib(slack)}")

    # stopped, so that the files and the database no longer change
    rc = d.terminate(timeout=300)
    text = d.stderr_text()
    t.eq(rc, 0, "exit code after SIGTERM" + (" (LeakSanitizer ran at exit)" if asan else ""))
    t.ok("LeakSanitizer" not in text and "AddressSanitizer" not in text
         and "runtime error" not in text, "no sanitizer report in the daemon's stderr")

    batches = read_batches(outdir)
    rows, dup = delivered_rows(batches)
    t.eq(sorted(want_keys - set(rows)), [], "every row of the closed windows was delivered")
    t.eq(dup, [], "no row delivered twice")
    closed = {(p_, iso(s)) for p_, s, _ in windows}
    extra = sorted({(r[2], r[3]) for r in rows} - closed)
    t.eq(extra, [], "no row of a window still open")
    got_vals = {k: rows[k]["value"] for k in want_rows if k in rows}
    bad = {k: (got_vals.get(k), w) for k, w in want_rows.items()
           if k in got_vals and abs(got_vals[k] - w) > 0.0051}
    t.eq(bad, {}, f"the {len(want_rows)} counted indicator values equal those computed from "
         "the simulator's messages")
    ndev = {}
    for _, k, v in devices:
        ndev[(v, k)] = ndev.get((v, k), 0) + 1
    t.eq(sorted(k for k, r in rows.items() if r["devices"] != ndev[(k[0], k[1])]), [],
         "each row's devices = the village's devices of that kind")
    t.eq([k for k, r in rows.items() if k[4] == "uptime_pct" and not 0 < r["value"] <= 100], [],
         "uptime_pct in (0, 100] for every row")
    uc = {(k[0], k[3][:10]): r["value"] for k, r in rows.items()
          if k[4] == "unique_clients" and k[2] == "day"}
    day = iso(midnight - DAY)[:10]
    want_uc = {(v, day): exp["unique_clients"].get(v, {}).get(day, 0)
               for v in VILLAGES if ndev.get((v, "wifi"))}
    t.eq(uc, want_uc, "the day's unique_clients per village equal the simulator's distinct MACs")
    seqs = sorted(b["seq"] for _, b in batches)
    t.eq(seqs, list(range(1, len(seqs) + 1)), f"{len(seqs)} batch files, seq 1..{len(seqs)}, "
         "each once")
    t.eq([f for f, b in batches if not f.startswith(b["batch_id"].replace(":", "_"))], [],
         "each file is named after its batch_id")
    alert_ids = [a["id"] for _, b in batches for a in b["alerts"]]
    t.eq(len(alert_ids), len(set(alert_ids)), f"{len(alert_ids)} alerts, none delivered twice")
    try:
        import jsonschema
        schema_path = os.path.join(harness._source_root(), "config", "ntm.sync.v1.schema.json")
        with open(schema_path) as f:
            schema = json.load(f)
        errs = []
        for fn, b in batches:
            for e in jsonschema.Draft202012Validator(schema).iter_errors(b):
                errs.append(f"{fn}: {e.message}")
        t.eq(errs[:5], [], "every batch file is valid against ntm.sync.v1.schema.json")
    except ImportError:
        print("(python3-jsonschema absent: batch files not validated against the schema)")

    per_dev = {name: m for name, m in h.query("SELECT name, messages FROM devices") if m}
    t.eq(per_dev, exp["valid"], "messages counted per device (devices.messages) equal the "
         "simulator's")
    counters = dict(h.query("SELECT name, value FROM counters"))
    t.eq(counters.get("accepted"), n, "counter accepted")
    left = h.query("SELECT COUNT(*), MIN(ts) FROM messages")[0]
    print(f"(buffer after the run: {left[0]} messages, earliest ts "
          f"{iso(left[1]) if left[1] else '-'})")
    t.ok(left[1] is None or left[1] >= midnight,
         "the closed day's messages were released once its batches were delivered")
    delivered = {seq for (seq,) in h.query(
        "SELECT seq FROM deliveries WHERE uplink = 'file' AND state = 'delivered'")}
    t.eq(sorted(delivered), seqs, "the batches delivered to `file` are the files written")
    in_db = {seq: (nr, na) for seq, nr, na in h.query("SELECT seq, n_rows, n_alerts FROM batches")}
    in_files = {b["seq"]: (len(b["indicators"]), len(b["alerts"])) for _, b in batches}
    t.eq({q: in_db.get(q) for q in in_files}, in_files,
         "rows and alerts per batch: the batches table equals the files")


if __name__ == "__main__":
    harness.run(main)
