#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_epoch: one old first message does not make years of rows
(issue 12, finding 2). On a fresh buffer a speaker sends a heartbeat stamped
2024-01-01 (its firmware's epoch), then its genuine stored backlog from 5 days
ago, then one at now. Quiet windows closing more than 7 days before the
watermark get no rows; the 5 days of backlog get every hour's rows."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

EPOCH = 1704067200  # 2024-01-01T00:00:00Z
SPEAKER_ROWS = 7    # uptime_pct and the six speaker counts


def main(h, t):
    port = h.start_broker()
    cfg = h.write_config(["xom-a"], [("spk-1", "speaker", "xom-a")],
                         extra="sync:\n  interval_s: 1\n")
    d = h.start_daemon(cfg)
    now = int(time.time())
    topic = S.topic("xom-a", "speaker", "spk-1", "heartbeat")
    S.publish_script(port, [(EPOCH, topic, {"interval_s": 60}),
                            (now - 5 * 86400, topic, {"interval_s": 60}),
                            (now, topic, {"interval_s": 60})], client_id="hostile-epoch")
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 3, 20, "3 messages",
               daemon=d)
    time.sleep(2.5)  # two sync ticks form the batches
    d.terminate()
    rows = h.query("SELECT coalesce(sum(n_rows), 0), count(*) FROM batches")[0]
    print(f"formed: {rows[0]} indicator rows in {rows[1]} batches")
    backlog_hours = 5 * 24 - 2
    t.ok(rows[0] >= backlog_hours * SPEAKER_ROWS,
         "every hour of the 5-day backlog gets its rows", rows)
    # at most: 7 quiet days before the backlog's first message (the bound is
    # taken from the watermark when the windows close), the 5 days, the epoch
    # hour and day, and the days' rows
    t.ok(rows[0] <= (13 * 24 + 14 + 2) * SPEAKER_ROWS,
         "no rows for the quiet years between 2024 and a week ago", rows)
    t.ok(rows[1] <= 5, "a handful of batches, not hundreds", rows)


harness.run(main)
