# SPDX-License-Identifier: GPL-3.0-or-later
"""test_flood: 100,000 malformed messages at full speed, interleaved with 2,000
valid ones, from two simulators at once (one QoS 1, one QoS 0), each cycling
through every rule break of the device contract (ntm-sim --invalid, with
--conflicts). The daemon must stay up, store every valid message (exact count
per device), count every rejection under the reason sent, log a bounded number
of lines (rejections are logged at most once a minute per reason), keep at most
storage.quarantine_max (1000) quarantined rows, and keep its memory flat: RSS
sampled every 50 ms, the largest over the last half of the flood at most 2 MiB
above the largest over its first quarter (flood_soak_support.flat_rss says why).

Under an ASan build of the daemon, ASan's quarantine of freed blocks is set to
4 MiB (it fills in the first second) so that RSS measures the daemon, the
slack is 14 MiB wider for ASan's own bookkeeping
(flood_soak_support.ASAN_EXTRA_SLACK), and LeakSanitizer runs at exit: the
exit code after SIGTERM must be 0.
Env: NTM_GATEWAYD, NTM_CTL, NTM_SIM as for the integration tests."""
import json
import os
import threading
import time

from flood_soak_support import (ASAN_EXTRA_SLACK, MiB, RssSampler, prepare_asan,
                                flat_rss, fmt_mib, harness, rss_timeline)

VILLAGES = ["a", "b"]
N_DEVICES = 6
QUARANTINE_MAX = 1000
MAX_LOG_LINES = 200
RSS_SLACK = 2 * MiB
# (qos, valid, invalid, seed): 100,000 invalid and 2,000 valid in all
SIMS = [(1, 1000, 50000, 11), (0, 1000, 50000, 12)]


def run_sims(h, t):
    """Runs the simulators at once; returns their expect dicts, or None."""
    results = [None] * len(SIMS)

    def one(i, qos, valid, invalid, seed):
        expect = os.path.join(h.tmp, f"flood-expect-{i}.json")
        argv = [harness.sim_path(), "--port", str(h.port), "--expect", expect, "-q",
                "--client-id", f"ntm-flood-{i}", "--qos", str(qos),
                "--villages", ",".join(VILLAGES), "--devices", str(N_DEVICES),
                "--count", str(valid), "--invalid", str(invalid), "--conflicts",
                "--seed", str(seed), "--inflight", "1000"]
        t0 = time.monotonic()
        p = h.run(argv, timeout=600)
        results[i] = (p, expect, time.monotonic() - t0)

    threads = [threading.Thread(target=one, args=(i, *s)) for i, s in enumerate(SIMS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    exps = []
    for i, (p, expect, secs) in enumerate(results):
        qos, valid, invalid, _ = SIMS[i]
        t.eq(p.returncode, 0, f"ntm-sim #{i} (QoS {qos}) exit code")
        if p.returncode != 0:
            print(p.stdout_text + p.stderr_text)
            return None
        with open(expect) as f:
            e = json.load(f)
        print(f"(ntm-sim #{i}: QoS {qos}, {valid} valid + {invalid} invalid in {secs:.1f} s, "
              f"{(valid + invalid) / secs:.0f} msg/s)")
        t.eq((e["valid_total"], e["invalid_total"], e["acked"]),
             (valid, invalid, valid + invalid), f"ntm-sim #{i}: sent and acknowledged")
        exps.append(e)
    return exps


def add(dicts):
    out = {}
    for d in dicts:
        for k, v in d.items():
            if v:
                out[k] = out.get(k, 0) + v
    return out


def main(h, t):
    gatewayd = harness.gatewayd_path()
    asan = prepare_asan(gatewayd)
    h.start_broker()
    devices = h.sim_devices(VILLAGES, N_DEVICES)
    t.require(len(devices) == N_DEVICES, f"the simulator gives {N_DEVICES} devices")
    cfg = h.write_config(VILLAGES, devices, storage={"quarantine_max": QUARANTINE_MAX})
    d = h.start_daemon(cfg)
    sampler = RssSampler(d.proc.pid, 0.05).start()
    time.sleep(0.5)  # an idle baseline before the flood
    idle_rss = max(r for _, r in sampler.samples)

    t0 = time.monotonic()
    exps = run_sims(h, t)
    t.require(exps is not None, "the simulators ran")
    want_valid = add(e["valid"] for e in exps)
    want_rej = add(e["invalid"] for e in exps)
    n_valid, n_invalid = sum(want_valid.values()), sum(want_rej.values())
    t.eq((n_valid, n_invalid), (2000, 100000), "2,000 valid and 100,000 invalid messages sent")
    t.eq(sorted(want_rej), sorted(harness.REASONS),
         "every reject reason was sent (device_conflict included)")
    t_pub = time.monotonic()

    st = d.wait_counts(n_valid, n_invalid, timeout=300)
    t1 = time.monotonic()
    samples = sampler.stop()
    print(f"(flood: published in {t_pub - t0:.1f} s, all processed after {t1 - t0:.1f} s: "
          f"{(n_valid + n_invalid) / (t1 - t0):.0f} msg/s; {len(samples)} RSS samples)")
    t.ok(True, f"STATUS reached: {st['text']}")
    t.ok(d.alive(), "the daemon is still running after the flood")

    # memory
    slack = RSS_SLACK + (ASAN_EXTRA_SLACK if asan else 0)
    ok, first, last, nf, nl = flat_rss(samples, t0, t1, slack)
    peak = max(r for _, r in samples)
    print(f"(RSS: idle {fmt_mib(idle_rss)}, first-quarter max {fmt_mib(first)} ({nf} samples), "
          f"last-half max {fmt_mib(last)} ({nl} samples), peak {fmt_mib(peak)})")
    print(f"(RSS by tenth of the run, MiB: {rss_timeline(samples, t0, t1)})")
    t.ok(nf >= 5 and nl >= 5, "enough RSS samples in the first quarter and the last half",
         f"{nf} and {nl}")
    t.ok(ok, f"RSS flat: last-half max {fmt_mib(last)} <= first-quarter max {fmt_mib(first)} "
         f"+ {fmt_mib(slack)}")

    # the valid ones, while still running (read-only next to the daemon)
    time.sleep(0.3)  # the last commit (storage.commit_ms 50)
    got = dict(h.query("SELECT d.name, COUNT(*) FROM messages m JOIN devices d ON d.id = m.device "
                       "GROUP BY d.name"))
    t.eq(got, want_valid, "every valid message stored: count per device")

    rc = d.terminate()
    t.eq(rc, 0, "exit code after SIGTERM" + (" (LeakSanitizer ran)" if asan else ""))

    got = dict(h.query("SELECT d.name, COUNT(*) FROM messages m JOIN devices d ON d.id = m.device "
                       "GROUP BY d.name"))
    t.eq(got, want_valid, "after SIGTERM: count per device")
    t.eq(h.query("SELECT COUNT(*) FROM messages")[0][0], n_valid, "no invalid message stored")
    counters = dict(h.query("SELECT name, value FROM counters"))
    got_rej = {k[len("rejected."):]: v for k, v in counters.items()
               if k.startswith("rejected.") and v}
    t.eq(got_rej, want_rej, "rejected counts per reason equal what was sent")
    t.eq(counters.get("accepted"), n_valid, "counter accepted")
    q = h.query("SELECT COUNT(*) FROM quarantine")[0][0]
    t.ok(0 < q <= QUARANTINE_MAX, f"quarantine holds {q} rows, at most {QUARANTINE_MAX}")
    qr = dict(h.query("SELECT reason, COUNT(*) FROM quarantine GROUP BY reason"))
    print(f"(quarantine by reason: {qr})")

    # the log
    text = d.stderr_text()
    lines = text.splitlines()
    print(f"(daemon stderr: {len(lines)} lines, {len(text)} bytes)")
    t.ok(len(lines) < MAX_LOG_LINES, f"{len(lines)} log lines for 102,000 messages, fewer than "
         f"{MAX_LOG_LINES}")
    logged = {r for r in harness.REASONS
              if any("rejected a message" in ln and f": {r} (" in ln for ln in lines)}
    t.eq(sorted(logged), sorted(harness.REASONS), "each reason is logged (once, at first)")
    t.ok("LeakSanitizer" not in text and "runtime error" not in text
         and "AddressSanitizer" not in text, "no sanitizer report in the daemon's stderr")
    if t.failed:
        print("---- first log lines:\n" + "\n".join(lines[:40]))


if __name__ == "__main__":
    harness.run(main)
