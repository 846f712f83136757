#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_tls_script: tools/ntm-gateway-tls makes a CA, the gateway's server
certificate and a device's client certificate; a real mosquitto with the
listener lines of `ntm-gateway-tls snippet` on a loopback port takes a device
that trusts the CA (password over TLS), and refuses one without the CA, one
trusting another CA and one without TLS. Then, with require_certificate, a
device with its client certificate connects and one without is refused."""
import os
import shutil
import subprocess
import sys
import time
import socket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

SCRIPT = os.path.join(os.environ.get("NTM_SOURCE_ROOT", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tools", "ntm-gateway-tls")


def tls(h, d, *args):
    return h.run(["sh", SCRIPT, "-d", d, *args], timeout=120)


def start_broker(h, name, lines):
    port = harness.free_port()
    conf = h.write_file(name + ".conf", f"listener {port} 127.0.0.1\n" + lines +
                        "log_dest stderr\nlog_type all\nuser root\n")
    log = open(os.path.join(h.tmp, name + ".log"), "ab")
    p = subprocess.Popen(["mosquitto", "-c", conf], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL)
    log.close()
    h._procs.append(p)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            time.sleep(0.1)
    raise harness.TestFailure(f"mosquitto did not start:\n{open(log.name).read()[-2000:]}")


def pub(h, port, *args):
    return h.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "ntm/v1/t",
                  "-m", "x", "-q", "1", *args], timeout=30)


def main(h, t):
    if not shutil.which("openssl") or not shutil.which("mosquitto"):
        print("SKIP - openssl or mosquitto is not installed")
        sys.exit(77)
    d = os.path.join(h.tmp, "tls")
    other = os.path.join(h.tmp, "other")
    for args in (["ca"], ["server", "127.0.0.1", "localhost"], ["device", "spk-01"]):
        p = tls(h, d, *args)
        t.require(p.returncode == 0, "ntm-gateway-tls " + " ".join(args),
                  p.stdout_text + p.stderr_text)
    t.require(tls(h, other, "ca").returncode == 0, "a second, unrelated CA")
    p = tls(h, d, "ca")
    t.eq(p.returncode, 1, "an existing CA is not overwritten")
    t.ok("exists already" in p.stderr_text, "and it says so", p.stderr_text)
    t.eq(os.stat(os.path.join(d, "ca.key")).st_mode & 0o777, 0o600, "the CA key is 0600")
    p = tls(h, d, "device", "bad/id")
    t.eq(p.returncode, 1, "a bad device id is refused")

    snippet = tls(h, d, "snippet").stdout_text
    lines = [ln for ln in snippet.splitlines()
             if ln.split(" ", 1)[0] in ("cafile", "certfile", "keyfile", "tls_version")]
    t.eq(len(lines), 4, "the snippet's TLS lines")
    pwf = os.path.join(h.tmp, "passwd")
    subprocess.run(["mosquitto_passwd", "-c", "-b", pwf, "spk-01", "pw-1"], check=True,
                   capture_output=True)
    b, port = start_broker(h, "pw", "\n".join(lines) + f"\npassword_file {pwf}\n"
                           "allow_anonymous false\n")
    ca = os.path.join(d, "ca.crt")
    cred = ["-u", "spk-01", "-P", "pw-1"]
    p = pub(h, port, "--cafile", ca, *cred)
    t.eq(p.returncode, 0, "a device trusting the CA publishes over TLS " + p.stderr_text)
    p = pub(h, port, "--cafile", ca, "-u", "spk-01", "-P", "wrong")
    t.ok(p.returncode != 0, "a wrong password over TLS is refused")
    p = pub(h, port, "--cafile", os.path.join(other, "ca.crt"), *cred)
    t.ok(p.returncode != 0, "a device trusting another CA is refused", p.stderr_text)
    p = pub(h, port, "--capath", os.path.join(h.tmp, "empty-capath"), *cred)
    t.ok(p.returncode != 0, "a device without the CA is refused", p.stderr_text)
    p = pub(h, port, *cred)
    t.ok(p.returncode != 0, "plain MQTT on the TLS port is refused", p.stderr_text)

    b2, port2 = start_broker(h, "cert", "\n".join(lines) + "\nrequire_certificate true\n"
                             "use_identity_as_username true\nallow_anonymous false\n")
    dev = os.path.join(d, "devices", "spk-01")
    p = pub(h, port2, "--cafile", ca, "--cert", dev + ".crt", "--key", dev + ".key")
    t.eq(p.returncode, 0, "a device with its client certificate connects " + p.stderr_text)
    p = pub(h, port2, "--cafile", ca)
    t.ok(p.returncode != 0, "one without a client certificate is refused")


harness.run(main)
