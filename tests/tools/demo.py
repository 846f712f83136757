#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""demo.py: the whole product in under two minutes, on this machine.

A local mosquitto on a free loopback port, the daemon with config/demo.yaml
(the Hoang Giang commune: 5 villages, 33 devices), a local provincial receiver
(tests/tools/receiver.py) as its uplink, and the device simulator replaying
yesterday (a commune day) at speed: message times advance by --step-ms, so
every hourly window and the daily one close. At the end: the day's
indicators per village as the receiver got them, what was delivered, and
`ntmctl status`, `ntmctl batches`. Exit status 0 only when indicator rows of
the day reached the receiver for every village (the CI test relies on it).

Usage: demo.py [--build DIR] [--messages N] [--keep]
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import receiver  # noqa: E402

TZ = datetime.timezone(datetime.timedelta(hours=7))
TOKEN = "demo-token-0123456789"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pred()
        if r:
            return r
        time.sleep(0.2)
    raise TimeoutError(f"demo: timed out after {timeout:.0f} s waiting for {what}")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("NTM_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--messages", type=int, default=30000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--five", action="store_true",
                    help="also print the answers to the technician's five questions")
    ap.add_argument("--lang", default=None, help="LANG for ntmctl (e.g. vi_VN.UTF-8)")
    ap.add_argument("--wait", action="store_true",
                    help="keep the status page open until Enter is pressed (on a terminal)")
    a = ap.parse_args()
    b = os.path.abspath(a.build)
    gatewayd = os.path.join(b, "daemon", "ntm-gatewayd")
    ntmctl = os.path.join(b, "daemon", "ctl", "ntmctl")
    sim = os.path.join(b, "tests", "tools", "ntm-sim")
    plugins = os.path.join(b, "plugins", "provincial-http")
    work = tempfile.mkdtemp(prefix="ntm-demo.")
    procs = []
    t0 = time.monotonic()
    rx = None
    try:
        # ---- the broker
        port = free_port()
        with open(os.path.join(work, "mosquitto.conf"), "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
        mq = subprocess.Popen(["mosquitto", "-c", os.path.join(work, "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(mq)
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 10, "mosquitto")

        # ---- the province
        rx = receiver.Receiver(token=TOKEN, schema=os.path.join(ROOT, "config",
                                                                 "ntm.sync.v1.schema.json"))
        rx.start()
        tok = os.path.join(work, "token")
        fd = os.open(tok, os.O_WRONLY | os.O_CREAT, 0o640)
        os.write(fd, (TOKEN + "\n").encode())
        os.close(fd)

        # ---- the gateway: the Hoang Giang inventory, this broker, this receiver
        with open(os.path.join(ROOT, "config", "demo.yaml"), encoding="utf-8") as f:
            text = f.read()
        db = os.path.join(work, "buffer.db")
        text = text.replace("  port: 1883", f"  port: {port}")
        text = text.replace("path: demo-buffer.db", f"path: {db}")
        text = text.replace("uplinks: []", (
            f"plugin_dir: {plugins}\n"
            "sync:\n  interval_s: 1\n  grace_s: 60\n"
            "uplinks:\n  - plugin: provincial-http\n"
            f"    base_url: {rx.url}\n    token_file: {tok}\n"))
        cfg = os.path.join(work, "gateway.yaml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"demo: broker 127.0.0.1:{port}, province {rx.url}, work dir {work}")
        env = dict(os.environ)
        env.pop("RUNTIME_DIRECTORY", None)
        env.pop("NOTIFY_SOCKET", None)
        log = open(os.path.join(work, "gateway.log"), "w")
        gw = subprocess.Popen([gatewayd, "--config", cfg], stdout=log, stderr=log, env=env)
        procs.append(gw)
        state = db + ".state.json"
        wait_for(lambda: (s := read_json(state)) and s["broker"]["state"] == "connected", 20,
                 "the gateway connected to the broker")

        # ---- a commune day, yesterday, replayed at speed
        today = datetime.datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
        day = today - datetime.timedelta(days=1)
        span_s = 86400 + 15 * 60  # past midnight and the grace: the day closes
        step = span_s * 1000 // a.messages
        print(f"demo: replaying {day:%Y-%m-%d} for the 33 devices: {a.messages} messages, "
              f"{step / 1000:.1f} s of device time apart")
        subprocess.run([sim, "--config", cfg, "--port", str(port), "--start-ts",
                        str(int(day.timestamp())), "--step-ms", str(step), "--count",
                        str(a.messages), "--invalid", "3", "-q"], check=True, env=env)
        villages = [v for v in ("trung-tam", "thon-1", "thon-2", "thon-3", "thon-4")]
        village_names = ["Trung tâm xã", "Thôn 1", "Thôn 2", "Thôn 3", "Thôn 4"]

        def day_rows():
            got = {}
            for r in rx.rows():
                if r.get("period") == "day":
                    got.setdefault(r["village"], []).append(r)
            return got if all(v in got for v in villages) else None
        print("demo: waiting for the day's indicators to reach the province ...")
        try:
            wait_for(day_rows, 60, "the day's indicators of every village at the receiver")
        except TimeoutError as e:
            print(e)
        # and everything formed delivered (the live state says what waits)
        since = time.time() * 1000 + 1500

        def drained():
            s = read_json(state)
            return s and s["written_ms"] > since and all(
                u["waiting_batches"] == 0 and u["last_ok_ms"] for u in s["uplinks"])
        try:
            wait_for(drained, 60, "every batch delivered")
        except TimeoutError as e:
            print(e)
        got = day_rows() or {}
        for r in rx.rows():
            if r.get("period") == "day":
                got.setdefault(r["village"], []).append(r)

        # ---- what the province got
        print(f"\nIndicators of {day:%Y-%m-%d} received by the province, per village:")
        print(f"{'VILLAGE':<11} {'UPTIME':>7} {'BROADCASTS':>10} {'MIN':>6} {'CAM EVENTS':>10} "
              f"{'WIFI USERS':>10} {'TRAFFIC MB':>10}")
        for v in villages:
            rows = {}
            for r in got.get(v, []):
                rows[(r["kind"], r["name"])] = r["value"]
            ups = [val for (k, n), val in rows.items() if n == "uptime_pct"]
            up = f"{sum(ups) / len(ups):.0f}%" if ups else "-"
            cam = sum(val for (k, n), val in rows.items() if k == "camera" and n.endswith("_events"))

            def g(k, n):
                x = rows.get((k, n))
                return "-" if x is None else f"{x:g}"
            print(f"{v:<11} {up:>7} {g('speaker', 'broadcasts'):>10} "
                  f"{g('speaker', 'broadcast_minutes'):>6} {cam:>10g} "
                  f"{g('wifi', 'unique_clients'):>10} {g('wifi', 'traffic_mb'):>10}")
        hours = {(r["village"], r["start"]) for r in rx.rows() if r.get("period") == "hour"}
        print(f"\nDelivered: {len(rx.accepted_ids)} batches, {len(rx.rows())} indicator rows "
              f"({len(hours)} village-hours), {len(rx.alerts())} alerts; "
              f"{rx.duplicates} duplicates, {len(rx.errors)} errors at the receiver")
        ok = all(v in got for v in villages) and not rx.errors
        if a.lang:
            env["LANG"] = a.lang
            env["LC_ALL"] = ""
            mo = os.path.join(b, "po")
            if os.path.isdir(mo):
                env["NTM_LOCALEDIR"] = mo
        five = [["status"], ["devices", "--offline"], ["batches"], ["quarantine"],
                ["today", "--day", f"{day:%Y-%m-%d}"]]
        for cmd in (five if a.five else [["status"], ["batches"]]):
            print(f"\n$ ntmctl {' '.join(cmd)}")
            sys.stdout.flush()
            subprocess.run([ntmctl, "--config", cfg, *cmd], env=env)
        # ---- the commune's page, over the same buffer and live state
        page_ok = True
        web = os.path.join(b, "daemon", "web", "ntm-gateway-web")
        if os.path.exists(web):
            wport = free_port()
            wenv = dict(env)
            if os.path.isdir(os.path.join(b, "po")):
                wenv["NTM_LOCALEDIR"] = os.path.join(b, "po")
            wp = subprocess.Popen([web, "--config", cfg, "--listen", f"127.0.0.1:{wport}"],
                                  stdout=log, stderr=log, env=wenv)
            procs.append(wp)
            url = f"http://127.0.0.1:{wport}/"
            try:
                wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", wport)) == 0, 10,
                         "the status page")
                with urllib.request.urlopen(url, timeout=10) as r:
                    page = r.read().decode("utf-8", "replace")
                page_ok = r.status == 200 and all(v in page for v in village_names)
            except Exception as e:  # noqa: BLE001 - said, and the demo fails
                print(f"demo: the status page did not answer: {e}")
                page_ok = False
            print(f"\nThe commune's status page: {url} (Vietnamese; {url}?lang=en in English), "
                  f"{'showing every village' if page_ok else 'NOT showing every village'}")
            if a.wait and sys.stdin.isatty():
                input("Press Enter to stop the page and the gateway. ")
        ok = ok and page_ok
        gw.send_signal(signal.SIGTERM)
        gw.wait(60)
        missing = [v for v in villages if v not in got]
        print(f"\ndemo: {'OK' if ok else 'FAILED'}: the day's indicators of "
              f"{len(villages) - len(missing)} of {len(villages)} villages reached the province"
              f"{' (missing: ' + ', '.join(missing) + ')' if missing else ''}, "
              f"in {time.monotonic() - t0:.0f} s")
        if not ok:
            print("---- gateway log (last lines):")
            with open(os.path.join(work, "gateway.log"), encoding="utf-8", errors="replace") as f:
                print("".join(f.readlines()[-30:]))
        return 0 if ok else 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if rx:
            rx.stop()
        if a.keep:
            print(f"demo: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
