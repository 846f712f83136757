#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_sources_e2e.py: issue 11's "done when", end to end. A commune inventory
with `ip:` on every device and the shipped Frigate profile enabled gives, with
no device reprogrammed, uptime rows for every device's village and kind and
Frigate's camera indicators at the province (tests/tools/receiver.py).

The set-up is test_ping's (whose helpers this file imports): the test re-executes
itself in a network namespace of its own, each device is an address in a
namespace behind a veth pair taken down and up, and the daemon's wall clock
stands still ("frozen", tests/fault/clockshim.c) at the world time, which the
test steps by STEP_S = 120 s from T0 (an hour boundary) to T0 + 3600.
ping.interval_s is 60: a reply keeps a device online for 180 s, so a device up
at every step is online all hour. Frigate's messages (the payloads of
tests/fixtures/frigate/, Frigate's documented shapes) go to the real mosquitto
on Frigate's own topics; mapped messages without `ts` take the receive time.

    device  village  kind    address      link down at steps
    spk-a1  thon-a   speaker 10.232.1.2   -
    cam-a1  thon-a   camera  10.232.2.2   -
    cam-a2  thon-a   camera  10.232.3.2   15..17  (Frigate: detect offline at T0+1830)
    spk-b1  thon-b   speaker 10.232.4.2   10..19
    cam-b1  thon-b   camera  10.232.5.2   all     (Frigate: detect offline at step 1)
    ap-b1   thon-b   wifi    fd32:6::2    25..27

By hand (online seconds of [T0, T0+3600)):
    spk-a1, cam-a1: 3600                                       100 %
    cam-a2: last reply T0+1680, explicit offline at T0+1830, back at T0+2160:
            1830 + 1440 = 3270
    spk-b1: last reply T0+1080 (lapses T0+1260), back T0+2400: 1260 + 1200 = 2460
    cam-b1: never (its only record is an explicit offline)      0 %
    ap-b1:  last reply T0+2880 (lapses T0+3060), back T0+3360: 3060 + 240 = 3300
  rows: thon-a speaker 100, thon-a camera (3600+3270)/7200 = 95.42,
        thon-b speaker 2460/3600 = 68.33, thon-b camera 0, thon-b wifi 3300/3600 = 91.67
  Frigate: motion_events thon-a 3 (cam-a1 new at steps 3 and 12, cam-a2 at step 22;
  the `update` and `end` messages are not events), thon-b 0; recording_pct thon-a
  4 ON of 5 reports = 80 %, thon-b absent (no report); tamper and video loss 0;
  the live state counts per mapping: detect 5, recording 5, events 3 mapped and
  6 unmapped (Frigate's `update` and `end`), none rejected.
  alerts: spk-b1 offline 1260 / online 2400, cam-a2 offline 1830 / online 2160,
  ap-b1 offline 3060 / online 3360 (s after T0).

Without network namespaces (not root, no `ip`) the test is skipped (77), and says so.
"""

import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import sync_support as S  # noqa: E402
import test_ping as P  # noqa: E402

T0 = P.T0
STEP_S = 120
N_STEPS = 30  # steps 0..30: T0 .. T0 + 3600
ROUND_MS = 300
TOKEN = "sources-e2e-Token_0123456789"
FIX = os.path.join(HERE, "..", "fixtures", "frigate")
PROFILES = os.path.join(HERE, "..", "..", "config", "mappings")
DEVICES = [  # id, village, kind, family, address, steps its link is down
    ("spk-a1", "thon-a", "speaker", 4, "10.232.1.2", set()),
    ("cam-a1", "thon-a", "camera", 4, "10.232.2.2", set()),
    ("cam-a2", "thon-a", "camera", 4, "10.232.3.2", set(range(15, 18))),
    ("spk-b1", "thon-b", "speaker", 4, "10.232.4.2", set(range(10, 20))),
    ("cam-b1", "thon-b", "camera", 4, "10.232.5.2", set(range(0, N_STEPS + 1))),
    ("ap-b1", "thon-b", "wifi", 6, "fd32:6::2", set(range(25, 28))),
]
CAM_A2_OFFLINE = T0 + 1830  # Frigate says cam-a2's detect stream is offline

WANT = {  # (village, kind) -> {indicator: (value, devices)}
    ("thon-a", "speaker"): {"uptime_pct": (100.0, 1)},
    ("thon-a", "camera"): {"uptime_pct": (95.42, 2), "motion_events": (3, 2),
                           "tamper_events": (0, 2), "video_loss_events": (0, 2),
                           "recording_pct": (80.0, 2)},
    ("thon-b", "speaker"): {"uptime_pct": (68.33, 1)},
    ("thon-b", "camera"): {"uptime_pct": (0.0, 1), "motion_events": (0, 1),
                           "tamper_events": (0, 1), "video_loss_events": (0, 1),
                           "recording_pct": None},
    ("thon-b", "wifi"): {"uptime_pct": (91.67, 1)},
}
WANT_ALERTS = [("spk-b1", "offline", 1260), ("cam-a2", "offline", 1830),
               ("cam-a2", "online", 2160), ("spk-b1", "online", 2400),
               ("ap-b1", "offline", 3060), ("ap-b1", "online", 3360)]


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def event(typ, cam, start):
    """A frigate/events message: the documented example with the camera and time changed."""
    ev = json.loads(fixture(f"events.{typ}.json"))
    for side in ("before", "after"):
        ev[side]["camera"] = cam
        ev[side]["start_time"] = start
    return json.dumps(ev).encode()


def detect(cam, state):
    return (f"frigate/{cam}/status/detect", fixture(f"status__detect.{state}.txt"))


def recording(cam, state):
    return (f"frigate/{cam}/recordings/state", fixture(f"recordings__state.{state}.txt"))


def motion(cam, now):
    """A new tracked object 2.5 s ago, then Frigate's `update` and `end` of it (unmapped)."""
    return [("frigate/events", event("new", cam, now - 2.5)),
            ("frigate/events", event("update", cam, now - 2.5)),
            ("frigate/events", event("end", cam, now - 2.5))]


# What Frigate publishes at each step (after the step's pings are in), and how
# many of those messages are mapped (detect, recordings, events of type new).
FRIGATE = {
    0: [detect("cam-a1", "online"), detect("cam-a2", "online"),
        recording("cam-a1", "on"), recording("cam-a2", "on")],
    1: [detect("cam-b1", "offline")],
    3: motion("cam-a1", T0 + 3 * STEP_S),
    5: [recording("cam-a1", "off")],
    8: [recording("cam-a1", "on")],
    12: motion("cam-a1", T0 + 12 * STEP_S),
    18: [detect("cam-a2", "online")],
    20: [recording("cam-a2", "on")],
    22: motion("cam-a2", T0 + 22 * STEP_S),
}


def n_mapped(msgs):
    return sum(1 for topic, payload in msgs
               if topic != "frigate/events" or json.loads(payload)["type"] == "new")


def mapped_in_buffer(h):
    """Messages on other channels than heartbeat (ping gives only heartbeats)."""
    return h.query("SELECT COUNT(*) FROM messages WHERE channel != 1")[0][0]


def mapping_counts(h):
    try:
        with open(h.db_path + ".state.json") as f:
            live = json.load(f)["sources"]["mappings"]["(mappings)"]
        return {k: (v["mapped"], v["unmapped"], v["rejected"]) for k, v in live.items()}
    except (OSError, ValueError, KeyError):
        return None


def ts_of(iso):
    return int(datetime.datetime.fromisoformat(iso).timestamp())


def main(h, t):
    P.sh("sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647")
    net = P.Net()
    hosts = {}
    rx = None
    pub = None
    try:
        for i, (dev, _v, _k, fam, addr, _down) in enumerate(DEVICES):
            hosts[dev] = net.make(i, fam, addr)
            P.link(hosts[dev], False)
        port = h.start_broker()
        rx = S.start_receiver(TOKEN)
        tok = S.token_file(h, TOKEN)
        inventory = "devices:\n" + "".join(
            f"  - {{id: {dev}, kind: {kind}, village: {v}, ip: \"{addr}\"}}\n"
            for dev, v, kind, _f, addr, _d in DEVICES)
        cfg = S.write_config(
            h, sorted({d[1] for d in DEVICES}), (), uplinks=[S.http_uplink(rx, tok)],
            sync={"interval_s": 1, "grace_s": 0}, plugin_dir_=S.plugin_dir(),
            storage={"commit_ms": 10},
            extra="ping:\n  interval_s: 60\n  timeout_ms: 1000\n"
                  f"mapping_dir: {os.path.abspath(PROFILES)}\n"
                  "mappings:\n  - include: frigate\n")
        with open(cfg, encoding="utf-8") as f:
            text = f.read()
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(text.replace("devices: []\n", inventory))
        clock = P.Clock(h)
        clock.set(T0 - 30)
        d = P.start(h, cfg, clock, {"NTM_TEST_PING_ROUND_MS": str(ROUND_MS)})
        pub = S.Publisher(port, client_id="frigate")
        mapped = 0
        began = time.monotonic()
        print(f"broker on {port}; daemon up; stepping the world {STEP_S} s at a time")

        def send(msgs, what):
            nonlocal mapped
            for topic, payload in msgs:
                pub.publish(topic, payload)
            pub.flush()
            mapped += n_mapped(msgs)
            return P.wait_for(t, what, lambda: mapped_in_buffer(h) >= mapped, quiet=True)

        for k in range(0, N_STEPS + 1):
            now = T0 + STEP_S * k
            up = [dev for dev, *_r, down in DEVICES if k not in down]
            cut = [dev for dev, *_r, down in DEVICES if k in down and k > 0 and (k - 1) not in down]
            for dev in cut:
                P.link(hosts[dev], False)
            if cut:
                time.sleep(ROUND_MS * 2 / 1000)  # a probe sent before the cut is answered now
            clock.set(now)
            for dev, *_r, down in DEVICES:
                if k not in down and (k == 0 or (k - 1) in down):
                    P.link(hosts[dev], True)
            if not P.wait_for(t, f"step {k}: a heartbeat at T0+{k * STEP_S} s from each of {up}",
                              lambda: set(up) <= P.heartbeats_at(h, now), quiet=True):
                break
            if k in FRIGATE and not send(FRIGATE[k], f"step {k}: Frigate's messages mapped"):
                break
            if k == 15:  # cam-a2's link is down: Frigate sees its detect stream stop
                clock.set(CAM_A2_OFFLINE)
                if not send([detect("cam-a2", "offline")], "cam-a2 offline from Frigate"):
                    break
        clock.set(T0 + 3600 + 60)  # the watermark passes the hour's end (grace_s 0)
        print(f"the hour scripted in {time.monotonic() - began:.1f} s")

        def hour_done(r):
            rows = [x for x in r.rows() if x["period"] == "hour" and x["start"] == S.iso(T0)]
            return len({(x["village"], x["kind"]) for x in rows}) >= len(WANT) and \
                len([a for a in r.alerts() if a["type"] in ("offline", "online")]) >= \
                len(WANT_ALERTS)
        try:
            rx.wait(hour_done, 30, "the hour's rows and alerts at the receiver")
        except TimeoutError as e:
            t.ok(False, str(e))
        t.eq(d.status["rejected"], 0, "no message rejected (ping or Frigate)")
        want_counts = {"frigate-detect": (5, 0, 0), "frigate-recording": (5, 0, 0),
                       "frigate-events": (3, 6, 0)}
        P.wait_for(t, "live state: per Frigate mapping (mapped, unmapped, rejected): "
                   f"{want_counts} (update and end counted as unmapped)",
                   lambda: mapping_counts(h) == want_counts, timeout=5)
        print(f"live state's mapping counts: {mapping_counts(h)}")
        t.eq(d.terminate(), 0, "the daemon stops cleanly")
    finally:
        if pub is not None:
            pub.close()
        if rx is not None:
            rx.stop()
        net.cleanup()

    t.eq(rx.errors, [], "every request well-formed and every body valid against the schema")
    got = {}
    for r in rx.rows():
        if r["period"] == "hour" and r["start"] == S.iso(T0):
            got.setdefault((r["village"], r["kind"]), {})[r["name"]] = (r["value"], r["devices"])
    t.eq(sorted(got), sorted(WANT), "one set of hour rows per village and kind of the inventory")
    for key, want in WANT.items():
        have = {n: got.get(key, {}).get(n) for n in want}
        t.eq(have, want, f"{key[0]} {key[1]}: the hour's rows (value, devices) computed by hand")
    alerts = sorted(((a["device"], a["type"], ts_of(a["ts"]) - T0) for a in rx.alerts()
                     if a["type"] in ("offline", "online") and ts_of(a["ts"]) > T0),
                    key=lambda a: (a[2], a[0]))
    t.eq(alerts, WANT_ALERTS, "offline/online alerts at the province (s after T0)")
    t.eq(h.query("SELECT COUNT(*) FROM quarantine")[0][0], 0, "nothing quarantined")
    t.eq(mapped_in_buffer(h), sum(n_mapped(m) for m in FRIGATE.values()) + 1,
         "every mapped Frigate message stored once")


if __name__ == "__main__":
    if os.environ.get("NTM_E2E_IN_NS") is None and P.can_netns():
        P.sh("ip", "netns", "add", P.NS_GW)
        try:
            P.sh("ip", "netns", "exec", P.NS_GW, "ip", "link", "set", "lo", "up")
            for k in ("all", "default"):  # ap-b1 comes back up with its IPv6 address
                P.sh("ip", "netns", "exec", P.NS_GW, "sysctl", "-q", "-w",
                     f"net.ipv6.conf.{k}.keep_addr_on_down=1")
            env = dict(os.environ, NTM_E2E_IN_NS="1")
            rc = subprocess.run(["ip", "netns", "exec", P.NS_GW, sys.executable, *sys.argv],
                                env=env).returncode
        finally:
            P.sh("ip", "netns", "del", P.NS_GW, check=False)
        sys.exit(rc)
    if os.environ.get("NTM_E2E_IN_NS") != "1":
        print("SKIP: network namespaces are not available here (needs root and iproute2)")
        sys.exit(77)
    harness.run(main)
