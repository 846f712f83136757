#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""receiver.py: a provincial receiver of the sync API v1, for tests and by hand.

It implements the server side of the provincial sync API (README, "Indicators,
alerts and batches"):
POST {base_url}/v1/batches with a bearer token, an Idempotency-Key equal to the
body's batch_id, a User-Agent, JSON (gzip'd when Content-Encoding: gzip) that
must validate against config/ntm.sync.v1.schema.json. It deduplicates on the
Idempotency-Key (a repeat of an accepted batch answers 409 and is counted) and
keeps every accepted batch in order of arrival.

Anything the gateway got wrong (a missing or wrong header, a body that is not
gzip or JSON, a schema failure, a batch_id re-sent with different content, a
batch over 256 KiB) is recorded in `errors`: for a test, a non-empty `errors`
is a failure. The answer to such a request is the one a strict server would
give (401, 415, 400, 413 or 422 with the reason in the body).

An answer script makes it misbehave on purpose: "503 for the next N
requests", "429 with Retry-After: S", "422 for batch_id X", and it can "go
away" (the listening socket and every open connection are closed, so
connections are refused) and "come back" (listen again on the same port).

As a module (standard library plus jsonschema):

    rx = Receiver(token="s3cret", schema=".../ntm.sync.v1.schema.json")
    port = rx.start()                        # a free port unless port= given
    rx.answer(503, n=3)                      # the next 3 requests get 503
    rx.answer(429, n=1, retry_after=1)
    rx.reject("gw-16279-01:7", reason="...")  # 422 for that batch until removed
    rx.go_away(); rx.come_back()
    rx.wait(lambda r: len(r.accepted_ids) >= 5, timeout=30, what="5 batches")
    rx.batches, rx.accepted_ids, rx.duplicates, rx.errors, rx.requests
    rx.stop()

By hand:

    python3 tests/tools/receiver.py --port 8080 --schema config/ntm.sync.v1.schema.json \\
        [--token TOKEN | --token-file FILE] [--out DIR]

prints one line per request; commands on stdin change the script while it runs
(type `help`).
"""

import argparse
import gzip
import http.server
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import zlib

try:
    import jsonschema
except ImportError:  # the receiver still runs; every body is then an error
    jsonschema = None

MAX_BATCH_BYTES = 256 * 1024  # provincial-sync.md: at most 256 KiB of JSON before compression
PATH = "/v1/batches"


def _default_schema():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "config", "ntm.sync.v1.schema.json"))


class Rule:
    """One entry of the answer script. Matches a request (any, or one batch_id),
    answers `status` with optional Retry-After, headers and body; `n` is how
    many requests it answers (None: until removed)."""

    def __init__(self, status, n=1, batch_id=None, retry_after=None, body=None, headers=None,
                 close=False, delay=0.0):
        self.status = None if status is None else int(status)  # None: answer as usual
        self.n = n
        self.batch_id = batch_id
        self.retry_after = retry_after
        self.body = body
        self.headers = dict(headers or {})
        self.close = close  # close the connection without any answer
        self.delay = delay  # seconds to hold the request before answering
        self.hits = 0

    def matches(self, batch_id):
        if self.n is not None and self.hits >= self.n:
            return False
        return self.batch_id is None or self.batch_id == batch_id

    def __repr__(self):
        what = f"batch {self.batch_id}" if self.batch_id else "any batch"
        left = "until removed" if self.n is None else f"{self.n - self.hits} left"
        ra = f", Retry-After: {self.retry_after}" if self.retry_after is not None else ""
        dl = f" after {self.delay} s" if self.delay else ""
        st = "close" if self.close else "the usual answer" if self.status is None else self.status
        return f"<{st}{ra}{dl} for {what}, {left}>"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, receiver):
        self.receiver = receiver
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request, client_address):
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # a client that resets or a connection closed by go_away(): not worth a traceback
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self):
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and Expect: 100-continue, like a real server
    server_version = "ntm-test-receiver/1"

    def log_message(self, fmt, *args):  # the receiver logs its own way
        pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("connection closed inside a chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(3)
        n = self.headers.get("Content-Length")
        if n is None:
            raise ValueError("neither Content-Length nor Transfer-Encoding: chunked")
        body = self.rfile.read(int(n))
        if len(body) < int(n):
            # the connection ended inside the body (a cut or lossy link): the
            # client is gone; a real server drops it, it is no malformed request
            raise ConnectionAbortedError(f"connection closed after {len(body)} of {n} bytes")
        return body

    def do_POST(self):
        rx = self.server.receiver
        rx._ua.value = self.headers.get("User-Agent")
        try:
            body = self._read_body()
        except ConnectionAbortedError:
            self.close_connection = True
            return
        except (ValueError, OSError) as e:
            rx._record(None, None, 400, f"unreadable request body: {e}", error=True)
            self._answer(400, {"error": f"unreadable request body: {e}"}, close=True)
            return
        rx._enter()
        try:
            status, payload, headers, close = rx._handle(self.command, self.path, self.headers,
                                                         body)
        finally:
            rx._leave()
        if status is None:  # a scripted hang-up
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._answer(status, payload, headers, close)

    def do_GET(self):
        rx = self.server.receiver
        rx._ua.value = self.headers.get("User-Agent")
        if self.path in ("/healthz", "/"):
            self._answer(200, {"ok": True, "accepted": len(rx.accepted_ids)})
            return
        rx._record(None, None, 405, f"GET {self.path}: the API has only POST {PATH}", error=True)
        self._answer(405, {"error": "only POST /v1/batches"}, {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _answer(self, status, payload, headers=None, close=False):
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            ctype = "application/json"
        else:
            data = (payload or "").encode("utf-8")
            ctype = "text/plain; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class Receiver:
    """A provincial receiver running in a thread. Every public attribute is
    safe to read from the test thread; lists are snapshots (copies)."""

    def __init__(self, port=0, token="test-token", schema=None, host="127.0.0.1",
                 accept_status=202, expect_gzip=None, log=None, out_dir=None):
        self.host = host
        self.port = port
        self.token = token
        self.accept_status = accept_status
        self.expect_gzip = expect_gzip  # True/False: Content-Encoding must (not) be gzip
        self.log = log                  # callable(str) for a line per request, or None
        self.out_dir = out_dir          # where accepted batches are written, or None
        self.schema_path = schema or _default_schema()
        with open(self.schema_path, encoding="utf-8") as f:
            self.schema = json.load(f)
        self.validator = None
        if jsonschema is not None:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            self.validator = cls(self.schema)
        self._lock = threading.Condition()
        self._batches = []        # accepted bodies (dicts), in order of arrival
        self._accepted = {}       # batch_id -> index in _batches
        self._first = {}          # batch_id -> canonical JSON of its first attempt
        self._duplicates = 0
        self._dup_ids = []
        self._errors = []
        self._requests = []       # dicts: t, batch_id, seq, status, why, scripted
        self._script = []         # Rules, in order
        self._in_flight = 0       # requests being handled now
        self._max_in_flight = 0   # the most at once
        self._ua = threading.local()
        self._server = None
        self._thread = None
        self.away = False

    # ---- life cycle

    def start(self):
        """Starts listening (a free port unless one was given); returns the port."""
        self._listen()
        return self.port

    def _listen(self):
        last = None
        for _ in range(50):  # the port may linger briefly after go_away()
            try:
                srv = _Server((self.host, self.port), self)
                break
            except OSError as e:
                last = e
                if self.port == 0:
                    raise
                time.sleep(0.1)
        else:
            raise OSError(f"receiver: cannot listen on {self.host}:{self.port}: {last}")
        self.port = srv.server_address[1]
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"receiver-{self.port}", daemon=True)
        self._thread.start()
        self.away = False

    def _close(self):
        srv, self._server = self._server, None
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()       # the listening socket: new connections are refused
        srv.drop_connections()   # kept-alive ones are closed too
        if self._thread:
            self._thread.join(5)
        self._thread = None

    def go_away(self):
        """Stops listening and closes every connection: connections are refused."""
        self._close()
        self.away = True
        self._note("(receiver gone away: connections to port %d are refused)" % self.port)

    def come_back(self):
        """Listens again on the same port."""
        if self._server is None:
            self._listen()
            self._note("(receiver back on port %d)" % self.port)

    def stop(self):
        self._close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    # ---- the answer script

    def answer(self, status, n=1, batch_id=None, retry_after=None, body=None, headers=None):
        """Answers `status` to the next n requests (n=None: until removed), or
        only to those of batch_id. Rules are tried in the order they were added."""
        if body is None:
            body = {"error": f"scripted answer {status}"}
        r = Rule(status, n, batch_id, retry_after, body, headers)
        with self._lock:
            self._script.append(r)
        return r

    def fail_next(self, n, status=503, retry_after=None):
        return self.answer(status, n=n, retry_after=retry_after)

    def reject(self, batch_id, status=422, reason="rejected on purpose by the test receiver",
               n=None):
        """Answers 422 (or status) with `reason` to every request of batch_id."""
        return self.answer(status, n=n, batch_id=batch_id, body={"error": reason})

    def slow(self, delay, n=1, batch_id=None):
        """Holds the next n requests (or those of batch_id) for `delay` seconds, then
        answers them as usual. `rule.hits` tells when one has arrived."""
        r = Rule(None, n, batch_id, delay=delay)
        with self._lock:
            self._script.append(r)
        return r

    def hang_up(self, n=1):
        """Closes the connection without an answer for the next n requests."""
        r = Rule(0, n)
        r.close = True
        with self._lock:
            self._script.append(r)
        return r

    def remove(self, rule):
        with self._lock:
            if rule in self._script:
                self._script.remove(rule)

    def clear_script(self):
        with self._lock:
            self._script.clear()

    @property
    def script(self):
        with self._lock:
            return [r for r in self._script if r.n is None or r.hits < r.n]

    # ---- what was received

    @property
    def batches(self):
        with self._lock:
            return list(self._batches)

    @property
    def accepted_ids(self):
        with self._lock:
            return list(self._accepted)

    @property
    def accepted_seqs(self):
        with self._lock:
            return sorted(b["seq"] for b in self._batches)

    @property
    def duplicates(self):
        with self._lock:
            return self._duplicates

    @property
    def duplicate_ids(self):
        with self._lock:
            return list(self._dup_ids)

    @property
    def errors(self):
        with self._lock:
            return list(self._errors)

    @property
    def requests(self):
        with self._lock:
            return [dict(r) for r in self._requests]

    def rows(self):
        """Every indicator row of every accepted batch, each with the seq it came in."""
        out = []
        for b in self.batches:
            for r in b["indicators"]:
                out.append(dict(r, _seq=b["seq"]))
        return out

    def alerts(self):
        out = []
        for b in self.batches:
            for a in b["alerts"]:
                out.append(dict(a, _seq=b["seq"]))
        return out

    def wait(self, pred, timeout=30.0, what="the receiver's condition"):
        """Waits until pred(self) is true; returns its value, or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            r = pred(self)
            if r:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            with self._lock:
                self._lock.wait(min(left, 0.2))

    # ---- the request itself

    def _note(self, line):
        if self.log:
            self.log(line)

    def _enter(self):
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self):
        with self._lock:
            self._in_flight -= 1

    @property
    def max_in_flight(self):
        """The most requests the receiver was handling at the same time."""
        with self._lock:
            return self._max_in_flight

    def _record(self, batch_id, seq, status, why, error=False, scripted=False):
        with self._lock:
            self._requests.append({"t": time.monotonic(), "batch_id": batch_id, "seq": seq,
                                   "status": status, "why": why, "scripted": scripted,
                                   "user_agent": getattr(self._ua, "value", None)})
            if error:
                self._errors.append(f"{batch_id or '(no batch id)'}: {why}")
            self._lock.notify_all()
        if self.log:
            self.log(f"{time.strftime('%H:%M:%S')} {status} {batch_id or '-'}"
                     + (f"  {why}" if why else "") + ("  [ERROR]" if error else ""))

    def _handle(self, method, path, headers, raw):
        """Returns (status, payload, headers, close); status None = hang up."""
        if path.split("?")[0] != PATH:
            why = f"{method} {path}: the API has only POST {PATH}"
            self._record(None, None, 404, why, error=True)
            return 404, {"error": why}, None, False
        key = headers.get("Idempotency-Key")
        auth = headers.get("Authorization")
        if self.token is None:  # any bearer token will do
            good = auth is not None and auth.startswith("Bearer ") and auth[7:].strip() != ""
        else:
            good = auth == f"Bearer {self.token}"
        if not good:
            why = ("no Authorization header" if auth is None else
                   "Authorization is not 'Bearer <the expected token>'")
            self._record(key, None, 401, why, error=True)
            return 401, {"error": why}, {"WWW-Authenticate": "Bearer"}, False
        problems = []
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self._record(key, None, 415, f"Content-Type is {headers.get('Content-Type')!r}, "
                         "not application/json", error=True)
            return 415, {"error": "Content-Type must be application/json"}, None, False
        if not headers.get("User-Agent"):
            problems.append("no User-Agent header")
        enc = (headers.get("Content-Encoding") or "identity").strip().lower()
        if self.expect_gzip is True and enc != "gzip":
            problems.append(f"Content-Encoding is {enc!r}, but the uplink was configured with "
                            "gzip: true")
        if self.expect_gzip is False and enc == "gzip":
            problems.append("Content-Encoding is gzip, but the uplink was configured with "
                            "gzip: false")
        if enc == "gzip":
            try:
                data = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as e:
                why = f"Content-Encoding: gzip, but the body does not gunzip: {e}"
                self._record(key, None, 400, why, error=True)
                return 400, {"error": why}, None, False
        elif enc == "identity":
            data = raw
            if raw[:2] == b"\x1f\x8b":
                problems.append("the body is gzip data without Content-Encoding: gzip")
        else:
            why = f"unsupported Content-Encoding {enc!r}"
            self._record(key, None, 415, why, error=True)
            return 415, {"error": why}, None, False
        if len(data) > MAX_BATCH_BYTES:
            why = f"the batch is {len(data)} bytes of JSON, over the {MAX_BATCH_BYTES} limit"
            self._record(key, None, 413, why, error=True)
            return 413, {"error": why}, None, False
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            why = f"the body is not UTF-8 JSON: {e}"
            self._record(key, None, 400, why, error=True)
            return 400, {"error": why}, None, False
        batch_id = body.get("batch_id") if isinstance(body, dict) else None
        seq = body.get("seq") if isinstance(body, dict) else None
        if key is None:
            problems.append("no Idempotency-Key header")
        elif key != batch_id:
            problems.append(f"Idempotency-Key {key!r} is not the body's batch_id {batch_id!r}")
        # the schema: every body, whatever the script answers
        if self.validator is None:
            why = "python3-jsonschema is not installed: the body cannot be validated"
            self._record(batch_id, seq, 422, why, error=True)
            return 422, {"error": why}, None, False
        err = jsonschema.exceptions.best_match(self.validator.iter_errors(body))
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(the body)"
            why = f"schema: at {where}: {err.message}"
            self._record(batch_id, seq, 422, why, error=True)
            return 422, {"error": why}, None, False
        gw = body["gateway"]["id"]
        if batch_id != f"{gw}:{seq}":
            problems.append(f"batch_id {batch_id!r} is not '{{gateway id}}:{{seq}}' ({gw}:{seq})")
        if problems:
            why = "; ".join(problems)
            self._record(batch_id, seq, 400, why, error=True)
            return 400, {"error": why}, None, False

        canon = json.dumps(body, sort_keys=True, ensure_ascii=False)
        with self._lock:
            first = self._first.setdefault(batch_id, canon)
            changed = first != canon
            rule = next((r for r in self._script if r.matches(batch_id)), None)
            if rule is not None:
                rule.hits += 1
        if changed:
            # immutability: a retry carries the same content (or a seq was reused)
            with self._lock:
                self._errors.append(f"{batch_id}: re-sent with a different content than its "
                                    "first attempt (a formed batch is immutable; a reused seq?)")
        if rule is not None and rule.delay:
            time.sleep(rule.delay)
        if rule is not None and rule.status is None and not rule.close:
            rule = None  # held, then answered as usual
        if rule is not None:
            if rule.close:
                self._record(batch_id, seq, None, "scripted: hung up", scripted=True)
                return None, None, None, True
            h = dict(rule.headers)
            if rule.retry_after is not None:
                h["Retry-After"] = str(rule.retry_after)
            self._record(batch_id, seq, rule.status, "scripted", scripted=True)
            return rule.status, rule.body, h, False
        with self._lock:
            dup = batch_id in self._accepted
            if dup:
                self._duplicates += 1
                self._dup_ids.append(batch_id)
            else:
                self._accepted[batch_id] = len(self._batches)
                self._batches.append(body)
        if dup:
            self._record(batch_id, seq, 409, "duplicate: already accepted")
            return 409, {"error": "already accepted", "batch_id": batch_id}, None, False
        if self.out_dir:
            p = os.path.join(self.out_dir, f"batch-{seq:06d}.json")
            with open(p, "w", encoding="utf-8") as f:
                json.dump(body, f, ensure_ascii=False, indent=1)
        self._record(batch_id, seq, self.accept_status,
                     f"accepted: {len(body['indicators'])} rows, {len(body['alerts'])} alerts")
        return self.accept_status, {"batch_id": batch_id, "accepted": True}, None, False


# ---------------------------------------------------------------------- by hand

HELP = """commands (one a line):
  503 N            answer 503 to the next N requests (any status works: 500, 502, 429, 422...)
  429 N S          answer 429 with Retry-After: S to the next N requests
  422 BATCH_ID     answer 422 to every request of that batch until `clear`
  hangup N         close the connection without an answer for the next N requests
  slow S N         hold the next N requests S seconds, then answer as usual
  away | back      stop listening (connections refused) | listen again on the same port
  clear            forget the script
  stats            accepted, duplicates, errors, script
  quit"""


def _stdin_commands(rx):
    for line in sys.stdin:
        w = line.split()
        try:
            if not w:
                continue
            if w[0] in ("help", "?"):
                print(HELP)
            elif w[0] == "away":
                rx.go_away()
            elif w[0] == "back":
                rx.come_back()
            elif w[0] == "clear":
                rx.clear_script()
            elif w[0] == "slow":
                rx.slow(float(w[1]), int(w[2]) if len(w) > 2 else 1)
            elif w[0] == "hangup":
                rx.hang_up(int(w[1]) if len(w) > 1 else 1)
            elif w[0] == "stats":
                print(f"accepted {len(rx.accepted_ids)} (seqs {rx.accepted_seqs}), duplicates "
                      f"{rx.duplicates}, errors {len(rx.errors)}, script {rx.script}")
                for e in rx.errors:
                    print(f"  error: {e}")
            elif w[0] == "quit":
                break
            elif w[0].isdigit():
                status = int(w[0])
                if len(w) > 1 and not w[1].isdigit():
                    rx.reject(w[1], status=status)
                else:
                    rx.answer(status, n=int(w[1]) if len(w) > 1 else 1,
                              retry_after=w[2] if len(w) > 2 else None)
            else:
                print(f"? {line.strip()} (type help)")
        except (ValueError, IndexError, OSError) as e:
            print(f"? {e}")
        sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description="A provincial receiver of the NTM sync API v1 "
                                 "(POST /v1/batches), for tests.")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--schema", default=_default_schema(), help="the batch JSON Schema")
    ap.add_argument("--token", default=None, help="the expected bearer token (default: any)")
    ap.add_argument("--token-file", default=None, help="a file whose first line is the token")
    ap.add_argument("--status", type=int, default=202, help="the answer to an accepted batch")
    ap.add_argument("--out", default=None, help="write each accepted batch to DIR/batch-SEQ.json")
    ap.add_argument("--gzip", choices=("any", "required", "forbidden"), default="any")
    a = ap.parse_args(argv)
    token = a.token
    if a.token_file:
        with open(a.token_file, encoding="utf-8") as f:
            token = f.readline().strip()
    if not token:
        token = None
        print("no --token or --token-file: any bearer token is accepted", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    rx = Receiver(port=a.port, token=token, schema=a.schema, host=a.host,
                  accept_status=a.status, out_dir=a.out,
                  expect_gzip={"any": None, "required": True, "forbidden": False}[a.gzip],
                  log=lambda s: print(s, flush=True))
    rx.start()
    print(f"receiving on {rx.url}{PATH} (schema {a.schema}); type help for commands",
          flush=True)
    try:
        if sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty():
            _stdin_commands(rx)
        else:
            t = threading.Thread(target=_stdin_commands, args=(rx,), daemon=True)
            t.start()
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        rx.stop()
        print(f"accepted {len(rx.accepted_ids)}, duplicates {rx.duplicates}, "
              f"errors {len(rx.errors)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
