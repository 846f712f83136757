#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""flaky_proxy.py: a TCP proxy that makes a link slow, lossy and unreliable, for
fault tests on a kernel without netem.

It accepts connections on --listen and forwards each one to --target. In `pass`
mode every byte goes through untouched. In `flaky` mode each chunk read from
either side (an HTTP request or answer is one or a few chunks) is:

  - reset, with probability --reset: both connections are closed with an RST
    (SO_LINGER 0). A reset on the way back loses an answer the server has
    already given: the client retries something the server has;
  - stalled, with probability --stall (client to server only): from then on
    nothing more is forwarded either way on that connection, and it stays open
    (a black hole: the client only learns of it from its own timeout);
  - otherwise delayed by a random 0..--delay seconds, and paced to --rate
    bytes per second (0: no limit) before it is forwarded, in order.

Commands on stdin, one a line, change the mode while it runs:

    pass
    flaky [DELAY RESET STALL [RATE]]    (defaults: those of the command line)
    stats
    quit

It prints `listening on HOST:PORT` once it accepts connections, one line per
command, and `stats ...` on `stats`, `quit`, SIGINT or SIGTERM (then exits).
Python standard library only.
"""

import argparse
import asyncio
import random
import signal
import socket
import struct
import sys
import threading
import time


class Proxy:
    def __init__(self, a):
        self.target = _hostport(a.target)
        self.listen = _hostport(a.listen)
        self.rng = random.Random(a.seed)
        self.flaky = a.mode == "flaky"
        self.delay = a.delay
        self.reset_p = a.reset
        self.stall_p = a.stall
        self.rate = a.rate
        self.st = {"connections": 0, "chunks": 0, "resets": 0, "stalls": 0,
                   "connect_failures": 0, "bytes_up": 0, "bytes_down": 0, "delayed_s": 0.0}
        self.live = set()
        self.server = None
        self.loop = None
        self.done = None

    def stats_line(self):
        s = dict(self.st)
        s["delayed_s"] = round(s["delayed_s"], 1)
        mode = (f"flaky(delay {self.delay}, reset {self.reset_p}, stall {self.stall_p}, "
                f"rate {self.rate})" if self.flaky else "pass")
        return "stats " + " ".join(f"{k}={v}" for k, v in s.items()) + f" mode={mode}"

    def command(self, line):
        w = line.split()
        if not w:
            return
        try:
            if w[0] == "pass":
                self.flaky = False
            elif w[0] == "flaky":
                self.flaky = True
                if len(w) > 1:
                    self.delay, self.reset_p, self.stall_p = float(w[1]), float(w[2]), float(w[3])
                if len(w) > 4:
                    self.rate = float(w[4])
            elif w[0] == "stats":
                pass
            elif w[0] == "quit":
                self.done.set()
            else:
                print(f"? {line.strip()}", flush=True)
                return
            print(self.stats_line(), flush=True)
        except (ValueError, IndexError) as e:
            print(f"? {line.strip()}: {e}", flush=True)

    async def main(self):
        self.loop = asyncio.get_running_loop()
        self.done = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, self.done.set)
        self.server = await asyncio.start_server(self.handle, self.listen[0], self.listen[1],
                                                 reuse_address=True)
        port = self.server.sockets[0].getsockname()[1]
        print(f"listening on {self.listen[0]}:{port}", flush=True)
        threading.Thread(target=self._stdin, daemon=True).start()
        await self.done.wait()
        self.server.close()
        for w in list(self.live):
            _reset(w)
        print(self.stats_line(), flush=True)

    def _stdin(self):
        for line in sys.stdin:
            self.loop.call_soon_threadsafe(self.command, line)
        # stdin closed: keep running until a signal

    async def handle(self, cr, cw):
        self.st["connections"] += 1
        try:
            sr, sw = await asyncio.open_connection(*self.target)
        except OSError:
            self.st["connect_failures"] += 1
            _reset(cw)
            return
        conn = {"stalled": False, "closed": False, "writers": (cw, sw)}
        self.live.update((cw, sw))
        tasks = [asyncio.ensure_future(self.pump(cr, sw, conn, True)),
                 asyncio.ensure_future(self.pump(sr, cw, conn, False))]
        try:
            _, rest = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if rest and (conn["stalled"] or conn["closed"]):
                # a black hole the client gave up on, or a reset: nothing more to carry
                for t in rest:
                    t.cancel()
            elif rest:
                await asyncio.wait(rest, timeout=60)
                for t in rest:
                    t.cancel()
        finally:
            for w in (cw, sw):
                self.live.discard(w)
                if not w.is_closing():
                    w.close()

    async def pump(self, r, w, conn, up):
        try:
            while True:
                data = await r.read(16384)
                if not data or conn["closed"]:
                    break
                self.st["chunks"] += 1
                if conn["stalled"]:
                    continue  # a black hole: read and forget
                if self.flaky:
                    x = self.rng.random()
                    if x < self.reset_p:
                        self.st["resets"] += 1
                        conn["closed"] = True
                        for cw in conn["writers"]:
                            _reset(cw)
                        return
                    if up and x < self.reset_p + self.stall_p:
                        self.st["stalls"] += 1
                        conn["stalled"] = True
                        continue
                    d = self.rng.uniform(0, self.delay)
                    if self.rate > 0:
                        d += len(data) / self.rate
                    if d > 0:
                        self.st["delayed_s"] += d
                        await asyncio.sleep(d)
                    if conn["closed"]:
                        return
                self.st["bytes_up" if up else "bytes_down"] += len(data)
                w.write(data)
                await w.drain()
            if not conn["closed"] and not conn["stalled"] and w.can_write_eof():
                w.write_eof()
        except (OSError, asyncio.IncompleteReadError):
            conn["closed"] = True
            for cw in conn["writers"]:
                _reset(cw)


def _reset(w):
    """Closes with an RST (SO_LINGER 0) instead of a FIN."""
    try:
        s = w.get_extra_info("socket")
        if s is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        w.transport.abort()
    except Exception:
        pass


def _hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A TCP proxy that delays, resets and stalls "
                                 "connections at random (netem without netem).")
    ap.add_argument("--listen", required=True, help="HOST:PORT to accept on (port 0: any)")
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--mode", choices=("pass", "flaky"), default="pass")
    ap.add_argument("--delay", type=float, default=1.0, help="largest delay per chunk, s")
    ap.add_argument("--reset", type=float, default=0.1, help="probability of an RST per chunk")
    ap.add_argument("--stall", type=float, default=0.05,
                    help="probability that a connection becomes a black hole, per request chunk")
    ap.add_argument("--rate", type=float, default=0, help="bytes per second (0: no limit)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args(argv)
    asyncio.run(Proxy(a).main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
