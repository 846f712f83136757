"""test_kept_conflict: a message read back from the tail journal after a crash,
whose device the configuration has since put in another village, is rejected
as device_conflict (counted, quarantined, logged), never dropped in silence.

A burst of N heartbeats of the undeclared device loa-9 in village a is
accepted and sits in the tail journal, not yet committed (storage.commit_ms
300, sync_ms 60000, commit_max 100000: the commit comes 300 ms after the
burst), when the daemon is killed. It is restarted with a configuration that
declares loa-9 in village b. The N messages come back from the journal, and
each is rejected as device_conflict on its topic; none is stored. Before
ntm_store_append's result was handled, they were folded and then lost: the
counters said nothing of them."""
import time

from harness import run, tail_journal_entries

N = 40
TOPIC = "ntm/v1/a/speaker/loa-9/heartbeat"


def main(h, t):
    h.start_broker()
    storage = {"commit_ms": 300, "commit_max": 100000, "sync_ms": 60000}
    cfg = h.write_config(["a", "b"], storage=storage)
    d = h.start_daemon(cfg)
    tail = h.db_path + "-tail"
    lines = "".join('{"interval_s": 60, "uptime_s": %d}\n' % (100 + i) for i in range(N))
    h.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1", "-t", TOPIC, "-l"],
          input=lines.encode(), check=True)
    deadline = time.monotonic() + 30
    in_journal = committed = 0
    while time.monotonic() < deadline:
        in_journal = tail_journal_entries(tail)
        committed = h.query("SELECT count(*) FROM messages")[0][0]
        if in_journal + committed >= N:
            break
        time.sleep(0.005)
    d.kill()
    t.eq(in_journal, N, "at the kill the whole burst was in the tail journal")
    t.require(committed == 0, "at the kill nothing of the burst was committed",
              f"{committed} committed: the kill came too late to test anything")

    cfg2 = h.write_config(["a", "b"], devices=[("loa-9", "speaker", "b")], storage=storage,
                          name="gateway-moved.yaml")
    d2 = h.start_daemon(cfg2)
    d2.wait_counts(0, rejected=N, timeout=30)
    t.eq(d2.terminate(), 0, "SIGTERM exits 0")
    t.eq(h.query("SELECT value FROM counters WHERE name = 'rejected.device_conflict'"), [(N,)],
         "every message of the journal is counted as device_conflict")
    t.eq(h.query("SELECT count(*), min(size), max(size) FROM quarantine"
                 " WHERE reason = 'device_conflict' AND topic = ?", (TOPIC,)), [(N, 0, 0)],
         "and quarantined on the topic it came on (no payload kept)")
    t.eq(h.query("SELECT count(*) FROM messages"), [(0,)], "none of them is stored")
    t.eq(h.query("SELECT village, declared FROM devices WHERE name = 'loa-9'"), [("b", 1)],
         "loa-9 is the configuration's, in village b")
    log = d2.stderr_text()
    t.ok(f"rejected a message on {TOPIC}: device_conflict" in log,
         "the log says which message was rejected and why", log[-1500:])


run(main)
