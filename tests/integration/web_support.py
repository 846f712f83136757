# SPDX-License-Identifier: GPL-3.0-or-later
"""web_support.py: what the tests of ntm-gateway-web share: a gateway on the
Hoằng Giang inventory (villages with Vietnamese names, 33 devices, 3 of them
never reporting), seven days of history sent through the broker by ntm-sim,
a live state file, the web program on a free loopback port, and HTTP GETs.
Python standard library only."""
import base64
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from harness import _die_with_parent, free_port

VILLAGES = [("trung-tam", "Trung tâm xã"), ("thon-1", "Thôn Đồng Quý"),
            ("thon-2", "Thôn Phú Khê"), ("thon-3", "Xóm Bãi Ngự"), ("thon-4", "Thôn Đông Hải")]
# declared but silent: the page and the metrics must show them offline
SILENT = ["cam-t4-3", "loa-t3-2", "ap-thcs"]


def web_path():
    return os.environ.get("NTM_GATEWAY_WEB") or os.path.join(
        os.path.dirname(os.environ["NTM_GATEWAYD"]), "web", "ntm-gateway-web")


def demo_devices(root):
    """The devices of config/demo.yaml (the Hoằng Giang inventory)."""
    with open(os.path.join(root, "config", "demo.yaml"), encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"\{id: ([\w.-]+), +kind: (\w+), village: ([\w-]+)\}", text)


def build_dir():
    return os.path.dirname(os.path.dirname(os.path.abspath(os.environ["NTM_GATEWAYD"])))


def file_uplink(h):
    """The file uplink (plugins/file) into a directory of the test: batches are delivered."""
    out = os.path.join(h.tmp, "out")
    os.makedirs(out, exist_ok=True)
    return (f"uplinks:\n  - plugin: file\n    dir: {out}\n"
            f"plugin_dir: {os.path.join(build_dir(), 'plugins', 'file')}")


def write_gateway(h, root, web="", name="gateway.yaml", devices=None, uplinks="uplinks: []"):
    devices = devices if devices is not None else demo_devices(root)
    lines = ["gateway:", "  id: gw-hoang-giang-01", "commune:", '  code: "16279"',
             '  province_code: "38"', '  name: "Hoằng Giang"', "villages:"]
    lines += [f'  - {{id: {i}, name: "{n}"}}' for i, n in VILLAGES]
    lines.append("devices:")
    lines += [f"  - {{id: {d}, kind: {k}, village: {v}}}" for d, k, v in devices]
    lines += ["mqtt:", "  host: 127.0.0.1", f"  port: {h.broker.port if h.broker else 1883}",
              "  client_id: ntm-gateway-test", "storage:", f"  path: {h.db_path}",
              "sync:", "  interval_s: 1", "  grace_s: 0", "log:", "  level: info", uplinks]
    if web:
        lines.append(web)
    return h.write_file(name, "\n".join(lines) + "\n")


def live_burst(h, root, seconds=2, rate=200):
    """Messages with ts = now from every device but SILENT, so they are online now."""
    talkers = [d for d in demo_devices(root) if d[0] not in SILENT]
    sim_cfg = write_gateway(h, root, name="sim-live.yaml", devices=talkers)
    return h.sim("--config", sim_cfg, "--duration", seconds, "--rate", rate, "--count", 100,
                 "--seed", 8, "-q", check=False)


def fill_history(h, root, days=7, count=20000, invalid=200, rate=0):
    """Sends `count` valid messages (and `invalid` bad ones) whose ts run evenly
    from `days` days ago to now, from every device but SILENT."""
    talkers = [d for d in demo_devices(root) if d[0] not in SILENT]
    sim_cfg = write_gateway(h, root, name="sim.yaml", devices=talkers)
    start = int(time.time()) - days * 86400
    step_ms = days * 86400 * 1000 // (count + invalid)
    args = ["--config", sim_cfg, "--count", count, "--invalid", invalid, "--seed", 7,
            "--start-ts", start, "--step-ms", step_ms, "--qos", 1, "-q"]
    if rate:
        args += ["--rate", rate]
    return h.sim(*args)


def write_state(h, broker="connected", uplinks=(), pid=None, rate=12.5):
    """A live state file as the daemon writes it (schema 1)."""
    now = int(time.time() * 1000)
    doc = {"schema": 1, "pid": pid or os.getpid(), "written_ms": now, "started_ms": now - 60000,
           "ready": True, "gateway_id": "gw-hoang-giang-01", "version": "test",
           "clock_synced": True,
           "broker": {"state": broker, "since_ms": now - 3600000, "last_error": None,
                      "host": "127.0.0.1", "port": 1883},
           "ingest": {"rate_per_s": rate, "accepted_total": 0, "rejected_total": 0},
           "uplinks": list(uplinks), "sources": {}}
    path = os.path.join(h.tmp, "state.json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)
    return path


class Web:
    """ntm-gateway-web run by hand on a free loopback port (or `listen`)."""

    def __init__(self, h, config, listen=None, args=(), nice=0):
        self.h = h
        self.port = int(listen.rsplit(":", 1)[1]) if listen else free_port()
        self.listen = listen or f"127.0.0.1:{self.port}"
        self.stderr_path = os.path.join(h.tmp, f"web-{self.port}.log")
        self.err = open(self.stderr_path, "wb")
        argv = [web_path(), "--config", config, "--listen", self.listen, *map(str, args)]
        if nice:  # as its unit runs it (Nice=10)
            argv = ["nice", "-n", str(nice), *argv]
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.err,
                                  stderr=self.err, preexec_fn=_die_with_parent)
        h._procs.append(self.p)

    def wait_accepting(self, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.p.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path="/", headers=None, auth=None, timeout=30):
        """(status, headers, body bytes)."""
        req = urllib.request.Request(self.url(path), headers=headers or {})
        if auth:
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(10)
        return self.p.returncode
