# SPDX-License-Identifier: GPL-3.0-or-later
"""test_rejections_visible: after a mix of valid and invalid messages,
`ntmctl --config FILE status` shows every rejection reason with its count and,
per village and kind, the devices known (declared or seen) and seen; both while
the daemon runs (read-only next to its writes) and after it stopped. The
simulator takes its villages and declared devices from a gateway YAML."""
import json
import re

from harness import KINDS, run, sim_path

VILLAGES = ["xom-dong", "xom-tay"]
# declared in both the daemon's and the simulator's YAML
DECLARED = [("loa-dong-1", "speaker", "xom-dong"), ("loa-dong-2", "speaker", "xom-dong"),
            ("cam-dong-1", "camera", "xom-dong"), ("ap-tay-1", "wifi", "xom-tay")]
# declared for the daemon only: never seen
IDLE = [("cam-tay-idle", "camera", "xom-tay")]
ODD_TOPIC = 'ntm/v1/xóm "đông"\\1/speaker/loa-dong-1/state'
N_VALID = 600


def expected_table(exp):
    """{(village, kind): (devices known, devices seen)}"""
    kinds = {d: (v["village"], v["kind"]) for d, v in exp["devices"].items()}
    for d, k, v in DECLARED + IDLE:
        kinds[d] = (v, k)
    declared = {d for d, _, _ in DECLARED + IDLE}
    seen = {d for d, n in exp["valid"].items() if n > 0}
    table = {}
    for d, vk in kinds.items():
        if d in declared or d in seen:
            known, s = table.get(vk, (0, 0))
            table[vk] = (known + 1, s + (d in seen))
    return table


def parse_human(text):
    rows, reasons, total = {}, {}, None
    names = {f"Thôn {v}": v for v in VILLAGES}
    row_re = re.compile(r"^(.*?)\s+(" + "|".join(KINDS) + r")\s+(\d+)\s+(\d+)\s")
    in_rej = False
    for line in text.splitlines():
        m = row_re.match(line)
        if m and not in_rej:
            v = names.get(m.group(1).strip(), m.group(1).strip())
            rows[(v, m.group(2))] = (int(m.group(3)), int(m.group(4)))
            continue
        m = re.match(r"^rejected:\s+(\d+)", line)
        if m:
            total = int(m.group(1))
            in_rej = True
            continue
        m = re.match(r"^\s+([a-z_]+)\s+(\d+)\s*$", line)
        if m and in_rej:
            reasons[m.group(1)] = int(m.group(2))
    return rows, reasons, total


def check_status(h, t, cfg, exp, when):
    want_rej = {r: n for r, n in exp["invalid"].items() if n}
    want_table = expected_table(exp)

    p = h.ctl("--config", cfg, "status")
    t.eq(p.returncode, 0, f"{when}: ntmctl status exit code")
    rows, reasons, total = parse_human(p.stdout_text)
    t.eq(reasons, want_rej, f"{when}: ntmctl status lists each reason with its count")
    t.eq(total, exp["invalid_total"], f"{when}: ntmctl status total rejected")
    t.eq(rows, want_table, f"{when}: ntmctl status per village/kind (devices, seen)")
    if t.failed:
        print(p.stdout_text + p.stderr_text)

    j = ctl_json(h, t, cfg, "status", f"{when}: ")
    if j is None:
        return
    t.eq({k: v for k, v in j.get("rejected", {}).items() if v}, want_rej,
         f"{when}: --json rejected per reason")
    jt = {(r["village"], r["kind"]): (r["devices"], r["seen"]) for r in j.get("villages", [])
          if r.get("devices") or r.get("seen")}
    t.eq(jt, want_table, f"{when}: --json per village/kind (devices, seen)")


def ctl_json(h, t, cfg, command, when=""):
    """`ntmctl --json COMMAND`, parsed; None (a failure counted) when it is not JSON."""
    p = h.ctl("--config", cfg, "--json", command)
    t.eq(p.returncode, 0, f"{when}ntmctl --json {command} exit code")
    try:
        return json.loads(p.stdout_text)
    except ValueError as e:
        t.ok(False, f"{when}ntmctl --json {command} is JSON", f"{e}: {p.stdout_text[:400]!r}")
        return None


def check_json_lists(h, t, cfg, exp):
    """`--json quarantine` and `--json devices`: JSON (topics, details and
    names with quotes, backslashes and non-ASCII text escaped or kept right),
    with what the tables show."""
    jq = ctl_json(h, t, cfg, "quarantine")
    if jq is None:
        return
    msgs = jq.get("messages", [])
    want = min(exp["invalid_total"], 200)
    t.eq(len(msgs), want, "--json quarantine: one entry per rejected message (200 at most)")
    shapes = {tuple(sorted(m)) for m in msgs}
    t.eq(shapes, {("detail", "reason", "received_ms", "size", "topic")},
         "--json quarantine: every message has received_ms, reason, topic, detail, size")
    t.eq({m["reason"] for m in msgs}, {r for r, n in exp["invalid"].items() if n},
         "--json quarantine: every reason, and no other")
    t.eq(jq.get("batches"), [], "--json quarantine: no quarantined batch")
    t.eq(sum(m["topic"] == ODD_TOPIC for m in msgs), 1,
         f"--json quarantine: the topic {ODD_TOPIC!r} read back as it was sent")

    jd = ctl_json(h, t, cfg, "devices")
    if jd is None:
        return
    by_name = {x["device"]: x for x in jd}
    for name, kind, village in DECLARED + IDLE:
        x = by_name.get(name, {})
        t.ok(x.get("kind") == kind and x.get("village") == village and x.get("declared") is True,
             f"--json devices: {name} ({kind} in {village}) declared", repr(x))
    idle = by_name.get(IDLE[0][0], {})
    t.ok(idle.get("online") is None and idle.get("uptime_today_pct") is None
         and idle.get("messages") == 0, "--json devices: the idle device has null state and "
         "uptime and 0 messages", repr(idle))
    seen = [x for x in jd if x.get("messages", 0) > 0]
    t.eq(sum(x["messages"] for x in seen), sum(n for n in exp["valid"].values()),
         "--json devices: messages per device add up to the valid messages sent")


def main(h, t):
    h.start_broker()
    sim_cfg = h.write_config(VILLAGES, DECLARED, name="sim.yaml")
    cfg = h.write_config(VILLAGES, DECLARED + IDLE)
    d = h.start_daemon(cfg)
    cases = [l.split()[0] for l in h.run([sim_path(), "--list-invalid"], check=True)
             .stdout_text.splitlines() if l.strip()]
    n_invalid = 2 * len(cases)  # twice round every case, device_conflict included
    p, exp = h.sim("--config", sim_cfg, "--devices", 6, "--count", N_VALID,
                   "--invalid", n_invalid, "--conflicts", "--seed", 3)
    t.eq(exp["invalid_cases"], {c: 2 for c in cases},
         "the simulator sent every invalid case twice (device_conflict included)")
    # one more, whose topic ntmctl --json must escape: a quote, a backslash, Vietnamese
    h.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1", "-t", ODD_TOPIC,
           "-m", "{}"], check=True)
    exp["invalid"]["bad_topic"] = exp["invalid"].get("bad_topic", 0) + 1
    exp["invalid_total"] += 1
    n_invalid += 1
    d.wait_counts(N_VALID, n_invalid, timeout=60)
    check_status(h, t, cfg, exp, "daemon running")

    q = h.ctl("--config", cfg, "quarantine")
    t.eq(q.returncode, 0, "ntmctl quarantine exit code")
    missing = [r for r, n in exp["invalid"].items() if n and r not in q.stdout_text]
    t.eq(missing, [], "ntmctl quarantine shows every reason")
    check_json_lists(h, t, cfg, exp)

    t.eq(d.terminate(), 0, "exit code after SIGTERM")
    check_status(h, t, cfg, exp, "daemon stopped")


run(main)
