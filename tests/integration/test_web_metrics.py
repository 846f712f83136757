# SPDX-License-Identifier: GPL-3.0-or-later
"""test_web_metrics: a real Prometheus (Debian's prometheus) scrapes /metrics
of ntm-gateway-web on a running gateway with two days of history, accepted
and rejected messages and a file uplink that delivers. Its HTTP API returns
every series the web contract names, with the values the buffer holds (read
here with sqlite3, after the daemon stopped so that nothing moves);
`promtool check metrics` finds nothing to say; the counters do not go back
when the daemon restarts."""
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request

from harness import _die_with_parent, _source_root, free_port, run
from web_support import Web, file_uplink, fill_history, write_gateway

CONTRACT = {
    "ntm_messages_accepted_total": "counter", "ntm_messages_rejected_total": "counter",
    "ntm_messages_late_total": "counter", "ntm_messages_buffered": "gauge",
    "ntm_messages_dropped_total": "counter", "ntm_broker_connected": "gauge",
    "ntm_batches_pending": "gauge", "ntm_batches_quarantined": "gauge",
    "ntm_uplink_last_delivery_timestamp_seconds": "gauge", "ntm_device_online": "gauge",
    "ntm_village_uptime_ratio": "gauge",
}


class Prometheus:
    def __init__(self, h, target):
        self.port = free_port()
        d = os.path.join(h.tmp, "prom")
        os.makedirs(d, exist_ok=True)
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: ntm\n    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        self.log = open(os.path.join(d, "log"), "wb")
        self.p = subprocess.Popen(
            ["/usr/bin/prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={d}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        h._procs.append(self.p)

    def query(self, q):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                doc = json.load(r)
        except OSError:
            return None
        if doc.get("status") != "success":
            return None
        return {tuple(sorted((k, v) for k, v in x["metric"].items()
                             if k not in ("job", "instance", "__name__"))): float(x["value"][1])
                for x in doc["data"]["result"]}

    def wait(self, q, pred, timeout=30):
        end = time.monotonic() + timeout
        got = None
        while time.monotonic() < end:
            got = self.query(q)
            if got is not None and pred(got):
                return got
            time.sleep(0.3)
        return got


def one(res):
    return list(res.values())[0] if res else None


def main(h, t):
    root = _source_root()
    h.start_broker()
    cfg = write_gateway(h, root, uplinks=file_uplink(h))
    d = h.start_daemon(cfg)
    p, exp = fill_history(h, root, days=2, count=4000, invalid=100)
    t.eq(p.returncode, 0, "ntm-sim sent two days of history and 100 invalid messages")
    w = Web(h, cfg)
    t.require(w.wait_accepting(), "ntm-gateway-web accepts connections", w.log())

    st, hd, body = w.get("/metrics")
    t.eq(st, 200, "GET /metrics")
    t.eq(hd.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8", "content type")
    text = body.decode()
    mfile = h.write_file("metrics.txt", text)
    pc = subprocess.run(["promtool", "check", "metrics"], stdin=open(mfile, "rb"),
                        capture_output=True)
    t.ok(pc.returncode == 0 and pc.stdout.strip() == b"" and pc.stderr.strip() == b"",
         "promtool check metrics: clean", (pc.stdout + pc.stderr).decode())
    for name, typ in CONTRACT.items():
        t.ok(f"# TYPE {name} {typ}\n" in text, f"/metrics declares {name} as a {typ}")

    prom = Prometheus(h, f"127.0.0.1:{w.port}")
    got = prom.wait("ntm_broker_connected", lambda r: one(r) == 1.0)
    t.eq(one(got), 1.0, "Prometheus: ntm_broker_connected 1 while the daemon runs")

    d.terminate()
    got = prom.wait("ntm_broker_connected", lambda r: one(r) == 0.0)
    t.eq(one(got), 0.0, "Prometheus: ntm_broker_connected 0 once the daemon stopped")
    # the buffer does not move any more: Prometheus's values against it
    time.sleep(1.5)  # one more scrape, after the daemon's last commit

    def counter(name):
        r = h.query("SELECT value FROM counters WHERE name = ?", (name,))
        return float(r[0][0]) if r else 0.0

    for name, key in (("ntm_messages_accepted_total", "accepted"),
                      ("ntm_messages_late_total", "late"),
                      ("ntm_messages_buffered", "buffered"),
                      ("ntm_messages_dropped_total", "dropped")):
        t.eq(one(prom.query(name)), counter(key), f"Prometheus: {name} = the buffer's {key}")
    t.eq(one(prom.query("ntm_messages_accepted_total")), float(exp["valid_total"]),
         "accepted = what ntm-sim sent")
    rej = prom.query("ntm_messages_rejected_total")
    want = {(("reason", r),): counter("rejected." + r) for r in
            ["bad_topic", "unknown_village", "bad_channel", "too_large", "not_json",
             "not_object", "missing_field", "wrong_type", "bad_value", "device_conflict",
             "too_many_devices"]}
    t.eq(rej, want, "Prometheus: ntm_messages_rejected_total by reason")
    t.eq(sum(rej.values()), float(exp["invalid_total"]), "rejected in all = ntm-sim's invalid")

    dl = h.query("SELECT state, count(*), max(done_ms) FROM deliveries GROUP BY state")
    by = {s: (n, m) for s, n, m in dl}
    t.ok(by.get("delivered", (0, 0))[0] > 0, "the file uplink delivered batches", str(dl))
    t.eq(prom.query("ntm_batches_pending"), {(("uplink", "file"),):
                                             float(by.get("pending", (0, 0))[0])},
         "Prometheus: ntm_batches_pending{uplink=file}")
    t.eq(prom.query("ntm_batches_quarantined"), {(("uplink", "file"),):
                                                 float(by.get("quarantined", (0, 0))[0])},
         "Prometheus: ntm_batches_quarantined{uplink=file}")
    last = prom.query("ntm_uplink_last_delivery_timestamp_seconds")
    t.ok(last and abs(one(last) - by["delivered"][1] / 1000) < 0.01,
         "Prometheus: the last delivery's time", f"{last} vs {by.get('delivered')}")

    devs = h.query("SELECT village, kind, name, coalesce(online, 0) FROM devices")
    want = {(("device", n), ("kind", k), ("village", v)): float(o == 1) for v, k, n, o in devs}
    got = prom.query("ntm_device_online")
    t.eq(got, want, f"Prometheus: ntm_device_online of all {len(devs)} devices")
    t.ok(0 < sum(got.values()) < len(got) if got else False,
         "some devices online, some not (three never report)")
    up = h.query("SELECT village, kind, value FROM latest_rows WHERE period = 'hour'"
                 " AND name = 'uptime_pct'")
    want = {(("kind", k), ("village", v)): round(x / 100, 4) for v, k, x in up}
    got = prom.query("ntm_village_uptime_ratio")
    t.eq({k: round(x, 4) for k, x in (got or {}).items()}, want,
         f"Prometheus: ntm_village_uptime_ratio of the last closed hour ({len(up)} series)")

    # counters come from the buffer: a restart does not take them back
    before = one(prom.query("ntm_messages_accepted_total"))
    d2 = h.start_daemon(cfg)
    _, _, body = w.get("/metrics")
    m = re.search(rb"^ntm_messages_accepted_total (\d+)$", body, re.M)
    t.ok(m and float(m.group(1)) == before, "after a restart, accepted_total is where it was")
    d2.terminate()


run(main)
