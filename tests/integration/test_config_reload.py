"""test_config_reload: SIGHUP re-reads the configuration. A key the tables mark live
(mqtt.max_payload) applies at once: a 500-byte message rejected as too large before
the reload is accepted after it. A key that needs a restart (a village added) does not:
a message for the new village is still rejected. The log says each in one line, with
the keys in KEYS=. A file with errors changes nothing; an unchanged file says so."""
import re
import signal
import subprocess
import time

from harness import run

VILLAGES = ["thon-1"]


def publish(h, village, n_macs=24):
    """One wifi stats message of about 150 + 20 * n_macs bytes."""
    macs = ",".join(f'"02:00:00:00:{i // 256:02x}:{i % 256:02x}"' for i in range(n_macs))
    payload = (f'{{"ts":{int(time.time())},"clients":{n_macs},"new_sessions":0,'
               f'"rx_bytes":1,"tx_bytes":1,"client_macs":[{macs}]}}')
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1",
                    "-t", f"ntm/v1/{village}/wifi/ap-1/stats", "-m", payload], check=True,
                   timeout=30)
    return len(payload)


def wait_line(d, pattern, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, d.stderr_text())
        if m:
            return m
        time.sleep(0.1)
    return None


def main(h, t):
    h.start_broker()
    cfg = h.write_config(VILLAGES, mqtt={"max_payload": 256})
    d = h.start_daemon(cfg)

    size = publish(h, "thon-1")
    t.ok(size > 256, f"the test message is over the first limit ({size} bytes)")
    d.wait_counts(0, rejected=1)

    # live: the payload limit and the commit pacing; restart: a new village
    h.write_config(VILLAGES + ["thon-2"], mqtt={"max_payload": 16384},
                   storage={"sync_ms": 500})
    d.signal(signal.SIGHUP)
    m = wait_line(d, r"notice: SIGHUP: applied (\d+) changed settings? of (\S+) live: "
                     r"mqtt.max_payload, storage.sync_ms \[KEYS=([^\]]*)\]", "the live line")
    if t.ok(m is not None, "SIGHUP: one line says what was applied live", d.stderr_text()[-600:]):
        t.eq(int(m.group(1)), 2, "two live changes")
        t.eq(m.group(2), cfg, "the line names the file")
        t.eq(m.group(3), "mqtt.max_payload, storage.sync_ms", "KEYS= names them")
    m = wait_line(d, r"warning: SIGHUP: (\d+) changed settings? of \S+ takes? effect only "
                     r"after a restart[^\[]*\[KEYS=([^\]]*)\]", "the restart line")
    if t.ok(m is not None, "SIGHUP: one line says what waits for a restart",
            d.stderr_text()[-600:]):
        t.eq(int(m.group(1)), 1, "one change needs a restart")
        t.eq(m.group(2), "villages", "KEYS= names it")

    publish(h, "thon-1")
    d.wait_counts(1, rejected=1)
    t.ok(True, "after the reload the larger message is accepted (the limit applied live)")
    publish(h, "thon-2", n_macs=1)
    d.wait_counts(1, rejected=2)
    t.ok(True, "a message for the village added is still rejected (it needs a restart)")

    # a file with errors changes nothing
    h.write_file("gateway.yaml", open(cfg, encoding="utf-8").read().replace(
        "max_payload: 16384", "max_payload: 10"))
    d.signal(signal.SIGHUP)
    m = wait_line(d, r"error: SIGHUP: the configuration has errors, keeping the running one: "
                     + re.escape(cfg) + r":(\d+):(\d+): mqtt.max_payload must be", "the error")
    t.ok(m is not None, "a file with errors: logged with FILE:LINE:COLUMN",
         d.stderr_text()[-600:])
    publish(h, "thon-1")
    d.wait_counts(2, rejected=2)
    t.ok(True, "after the failed reload the running limit stays")

    # the running configuration is what the live changes made of the first file: the
    # same file again (with only thon-1) is nothing new
    n_before = d.stderr_text().count("SIGHUP:")
    h.write_config(VILLAGES, mqtt={"max_payload": 16384}, storage={"sync_ms": 500})
    d.signal(signal.SIGHUP)
    m = wait_line(d, r"notice: SIGHUP: configuration \S+ re-read; nothing changed",
                  "nothing changed")
    t.ok(m is not None, "the running file again: one line says nothing changed",
         d.stderr_text()[-600:])
    t.eq(d.stderr_text().count("SIGHUP:"), n_before + 1, "and no other line")
    t.ok(d.alive(), "the daemon runs on after three reloads")
    t.eq(d.terminate(), 0, "exit code after SIGTERM")


run(main)
