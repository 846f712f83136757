#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_redelivery: a QoS 1 message the broker delivers again (DUP flag, same
packet id, same topic and payload: what mosquitto does after a reconnection for
the messages whose PUBACK it did not see, and, in 2.0.11, for some it did see
when the subscriber left in the middle of its backlog) is stored once, whether
the daemon stayed up or was killed with SIGKILL in between; a new message under
a packet id seen before, a device sending the same payload twice under two
packet ids, and a message of a new session (the broker lost ours: packet ids
start again) are stored as the new messages they are.

The broker is tests/integration/mqtt_script.py, which sends exactly the
packets the test names: deterministic, unlike a real broker's redelivery (the
cause of test_full_disk's occasional 10,002..10,031 stored of 10,000)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from mqtt_script import ScriptedBroker, publish_packet  # noqa: E402

TOPIC = "ntm/v1/a/speaker/loa-1/heartbeat"


def hb(n):
    return ('{"interval_s": 60, "uptime_s": %d}' % n).encode()


def pub(mid, n, dup=False):
    return publish_packet(TOPIC, hb(n), mid, dup)


def stored(h):
    return sorted(r[0] for r in h.query("SELECT uptime_s FROM messages"))


def main(h, t):
    port = harness.free_port()
    b = ScriptedBroker(port)
    cfg = h.write_config(["a"], mqtt={"port": port}, storage={"commit_ms": 20})
    d = h.start_daemon(cfg)
    b.wait_subscribed()

    # 1. ten messages, acknowledged
    b.send([pub(m, 100 + m) for m in range(1, 11)])
    t.ok(b.wait_acked(range(1, 11)), "the daemon acknowledged packets 1..10")
    d.wait_counts(10, timeout=30)

    # 2. the connection drops; the broker sends 6..10 again (DUP), then a new
    # message under packet id 5 (a different payload), a new packet 11, and
    # packet 12 with the payload of packet 1 (a device repeating itself)
    b.drop()
    b.wait_subscribed()
    b.send([pub(m, 100 + m, dup=True) for m in range(6, 11)] +
           [pub(5, 205), pub(11, 111), pub(12, 101)])
    t.ok(b.wait_acked([11, 12]), "the daemon acknowledged the packets after the reconnection")
    d.wait_counts(13, timeout=30)
    t.eq(stored(h), sorted([100 + m for m in range(1, 12)] + [205, 101]),
         "after a reconnection: packets sent again stored once, new ones stored")
    t.ok("delivered again a message already stored" in d.stderr_text(),
         "the log says a message delivered again was skipped", d.stderr_text()[-1500:])

    # 3. eight more, acknowledged, then kill -9 (they are in the tail journal,
    # maybe committed); the broker sends all eight again to the next run
    b.send([pub(m, 100 + m) for m in range(13, 21)])
    t.ok(b.wait_acked(range(13, 21)), "the daemon acknowledged packets 13..20")
    d.wait_counts(21, timeout=30)
    d.kill()
    d2 = h.start_daemon(cfg)
    b.wait_subscribed()
    b.send([pub(m, 100 + m, dup=True) for m in range(13, 21)] + [pub(21, 121)])
    t.ok(b.wait_acked([21]), "the restarted daemon acknowledged packet 21")
    d2.wait_counts(22, timeout=30)

    # 4. the broker lost our session (CONNACK: session not present): its packet
    # ids start again, and packet 21 with the same payload is a new message
    b.session_present = False
    b.drop()
    b.wait_subscribed()
    b.send([pub(21, 121)])
    t.ok(b.wait_acked([21]), "packet 21 of the new session acknowledged")
    d2.wait_counts(23, timeout=30)
    t.eq(d2.terminate(), 0, "SIGTERM exits 0")
    want = sorted([100 + m for m in range(1, 12)] + [205, 101] + [100 + m for m in range(13, 22)] +
                  [121])
    t.eq(stored(h), want, "after a kill -9: packets sent again stored once; a new session's "
         "packet stored (23 messages)")
    t.eq(h.query("SELECT value FROM counters WHERE name = 'accepted'"), [(len(want),)],
         "the accepted counter counts each message once")
    b.close()


harness.run(main)
