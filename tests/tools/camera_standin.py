#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""camera_standin.py: a Hikvision or Dahua camera's event stream on loopback,
for tests. Python 3 standard library only.

What it speaks, byte for byte as the vendors document it:
- Hikvision: GET /ISAPI/Event/notification/alertStream (HIKVISION ISAPI 2.0,
  "Notification alertStream": HTTP server push, multipart/mixed, RFC 2046),
  parts of EventNotificationAlert XML with Content-Type application/xml and
  Content-Length; the keep-alive is eventType videoloss, eventState inactive
  (Device Network SDK "Person Arming" guide: every 10 s on firmware >= 5.5.0).
  Framing as in the capture in Moonfire NVR's multipart.rs test.
- Dahua: GET /cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=N
  (Dahua HTTP API, eventManager "attach"): multipart/x-mixed-replace;
  boundary=myboundary, text/plain parts "Code=...;action=...;index=N" and the
  keep-alive "Heartbeat" every N seconds; the response headers are the
  document's (Cache-Control, Pragma, Expires 2099, Connection: close).
- Digest access authentication, RFC 7616 with MD5 and qop="auth", as both
  brands use it (pyHik and python-amcrest use requests' HTTPDigestAuth); or
  Basic; or a camera that refuses every credential (401 forever).

Each authorized stream request takes the next script pushed with push()
(the last one is repeated when none is left). A script is a list of steps:
  ("event", a, b, c)    Hikvision: eventType, eventState, channel;
                        Dahua: Code, action, index
  ("keepalive",)        the brand's keep-alive part
  ("part", bytes, ct)   a part with this body (and Content-Type, or None)
  ("raw", bytes)        bytes as they are (garbage, half parts)
  ("sleep", seconds)
  ("big", nbytes, with_length)  one part of nbytes (binary, as a snapshot)
  ("close",)            end the response and the connection
  ("stall",)            send nothing more, keep the connection
  ("trickle", seconds)  one byte of a never-ending part each `seconds`
  ("keepalives", seconds) a keep-alive each `seconds`, until the client leaves
  ("every", seconds, step)  that step each `seconds`, until the client leaves
  ("wait", name)        nothing until the test calls go(name) (a keep-alive
                        each keepalive_s meanwhile): scripted time in steps
A script that ends without one of the last four closes the connection.

Run alone (for trying the daemon by hand):
  camera_standin.py --brand dahua --port 8080 --user ntm --password secret
serves keep-alives every 10 s and a motion event every 30 s.
"""

import argparse
import base64
import hashlib
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HIK_PATH = "/ISAPI/Event/notification/alertStream"
DAHUA_PATH = "/cgi-bin/eventManager.cgi"
HIK_NS = "http://www.hikvision.com/ver20/XMLSchema"


def hik_alert(etype, state, channel, count=1):
    """One EventNotificationAlert document, as ISAPI writes it (CRLF lines)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<EventNotificationAlert version="2.0" xmlns="{HIK_NS}">',
        "<ipAddress>192.168.10.31</ipAddress>",
        "<portNo>80</portNo>",
        "<protocol>HTTP</protocol>",
        "<macAddress>44:19:b6:6d:24:85</macAddress>",
        f"<channelID>{channel}</channelID>",
        "<dateTime>2025-11-22T08:15:02+07:00</dateTime>",
        f"<activePostCount>{count}</activePostCount>",
        f"<eventType>{etype}</eventType>",
        f"<eventState>{state}</eventState>",
        f"<eventDescription>{etype} alarm</eventDescription>",
        "</EventNotificationAlert>",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


class Camera:
    """One camera (or NVR) on 127.0.0.1; start(), push(script), stop()."""

    def __init__(self, brand, user="ntm", password="secret", auth="digest", port=0,
                 keepalive_s=10):
        assert brand in ("hikvision", "dahua")
        assert auth in ("digest", "basic", "refuse", "none")
        self.brand = brand
        self.user = user
        self.password = password
        self.auth = auth
        self.port = port
        self.keepalive_s = keepalive_s
        self.realm = "IP Camera(C1234)" if brand == "hikvision" else "Login to 4L01234PAZ"
        self.scripts = []
        self.last_script = [("keepalives", keepalive_s)]
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.nonces = set()
        self.log = []            # (monotonic time, path, status) per request answered
        self.streams = 0         # authorized stream responses begun
        self.heartbeat_asked = []  # Dahua: the heartbeat= of each stream request
        self.server = None
        self.ssl_context = None
        self.signals = {}  # name -> threading.Event, for ("wait", name)

    # ---- control

    def push(self, script):
        with self.lock:
            self.scripts.append(list(script))

    def signal(self, name):
        with self.lock:
            return self.signals.setdefault(name, threading.Event())

    def go(self, name):
        """Lets every stream waiting at ("wait", name) go on."""
        self.signal(name).set()

    def next_script(self):
        with self.lock:
            if self.scripts:
                self.last_script = self.scripts.pop(0)
            return list(self.last_script)

    def start(self):
        cam = self

        class Handler(StandinHandler):
            camera = cam

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.ssl_context is not None:
            self.server.socket = self.ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.port

    def stop(self):
        self.stopping.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def record(self, path, status):
        with self.lock:
            self.log.append((time.monotonic(), path, status))

    def statuses(self):
        with self.lock:
            return [s for _, _, s in self.log]

    # ---- the brand's parts

    def part(self, body, ctype):
        if self.brand == "hikvision":
            head = b"--boundary\r\n"
            if ctype:
                head += f"Content-Type: {ctype}\r\n".encode()
            head += f"Content-Length: {len(body)}\r\n\r\n".encode()
            return head + body
        head = b"--myboundary\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n".encode()
        return head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body + b"\r\n\r\n"

    def event(self, a, b, c):
        if self.brand == "hikvision":
            return self.part(hik_alert(a, b, c), 'application/xml; charset="UTF-8"')
        return self.part(f"Code={a};action={b};index={c}".encode(), "text/plain")

    def keepalive(self):
        if self.brand == "hikvision":
            return self.part(hik_alert("videoloss", "inactive", 1, 0),
                             'application/xml; charset="UTF-8"')
        return self.part(b"Heartbeat", "text/plain")


class StandinHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the digest round stays on one connection
    camera = None

    def log_message(self, fmt, *args):
        pass

    # ---- authentication (RFC 7616, MD5, qop=auth; or Basic)

    def challenge(self):
        cam = self.camera
        if cam.auth == "basic":
            value = f'Basic realm="{cam.realm}"'
        else:
            nonce = secrets.token_hex(16)
            with cam.lock:
                cam.nonces.add(nonce)
            value = (f'Digest realm="{cam.realm}", qop="auth", nonce="{nonce}", '
                     f'opaque="{secrets.token_hex(8)}", algorithm=MD5, stale="FALSE"')
        body = b"<html><body>401 Unauthorized</body></html>"
        self.send_response(401, "Unauthorized")
        self.send_header("WWW-Authenticate", value)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def authorized(self):
        cam = self.camera
        if cam.auth == "none":
            return True
        if cam.auth == "refuse":
            return False
        h = self.headers.get("Authorization", "")
        if cam.auth == "basic":
            want = base64.b64encode(f"{cam.user}:{cam.password}".encode()).decode()
            return h == f"Basic {want}"
        if not h.startswith("Digest "):
            return False
        f = {}
        for item in _parse_list(h[7:]):
            k, _, v = item.partition("=")
            f[k.strip()] = v.strip().strip('"')
        with cam.lock:
            known = f.get("nonce") in cam.nonces
        if not known or f.get("username") != cam.user or f.get("realm") != cam.realm:
            return False
        if f.get("uri") != self.path:
            return False
        ha1 = md5(f"{cam.user}:{cam.realm}:{cam.password}")
        ha2 = md5(f"GET:{f['uri']}")
        if f.get("qop") != "auth":
            return False
        want = md5(f"{ha1}:{f['nonce']}:{f.get('nc', '')}:{f.get('cnonce', '')}:auth:{ha2}")
        return f.get("response") == want

    # ---- requests

    def do_GET(self):
        cam = self.camera
        url = urllib.parse.urlsplit(self.path)
        want = HIK_PATH if cam.brand == "hikvision" else DAHUA_PATH
        if url.path != want:
            cam.record(self.path, 404)
            body = b"not found"
            self.send_response(404, "Not Found")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.authorized():
            cam.record(self.path, 401)
            self.challenge()
            return
        if cam.brand == "dahua":
            q = urllib.parse.parse_qs(url.query)
            with cam.lock:
                cam.heartbeat_asked.append(q.get("heartbeat", [""])[0])
        cam.record(self.path, 200)
        with cam.lock:
            cam.streams += 1
        self.close_connection = True
        if cam.brand == "hikvision":
            head = (b"HTTP/1.1 200 OK\r\nMIME-Version: 1.0\r\nConnection: close\r\n"
                    b"Content-Type: multipart/mixed; boundary=boundary\r\n\r\n")
        else:
            head = (b"HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n"
                    b"Expires: Thu, 01 Dec 2099 16:00:00 GMT\r\nConnection: close\r\n"
                    b"Content-Type: multipart/x-mixed-replace; boundary=myboundary\r\n\r\n")
        try:
            self.wfile.write(head)
            self.wfile.flush()
            self.play(cam.next_script())
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            pass

    def send(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def wait(self, seconds):
        """Sleeps; False when the stand-in is stopping."""
        return not self.camera.stopping.wait(seconds)

    def play(self, script):
        cam = self.camera
        for step in script:
            kind = step[0]
            if kind == "event":
                self.send(cam.event(*step[1:4]))
            elif kind == "keepalive":
                self.send(cam.keepalive())
            elif kind == "part":
                self.send(cam.part(step[1], step[2]))
            elif kind == "raw":
                self.send(step[1])
            elif kind == "sleep":
                if not self.wait(step[1]):
                    return
            elif kind == "big":
                self.big(step[1], step[2])
            elif kind == "wait":
                ev = cam.signal(step[1])
                while not ev.wait(cam.keepalive_s):
                    if cam.stopping.is_set():
                        return
                    self.send(cam.keepalive())
                if cam.stopping.is_set():
                    return
            elif kind == "close":
                return
            elif kind == "stall":
                while self.wait(0.5):
                    pass
                return
            elif kind == "trickle":
                self.send(b"--boundary\r\n\r\n" if cam.brand == "hikvision" else
                          b"--myboundary\r\n\r\n")
                while self.wait(step[1]):
                    self.send(b"x")
                return
            elif kind == "keepalives":
                while True:
                    self.send(cam.keepalive())
                    if not self.wait(step[1]):
                        return
            elif kind == "every":
                while True:
                    self.play([step[2]])
                    if not self.wait(step[1]):
                        return
            else:
                raise ValueError(f"unknown step {kind}")

    def big(self, n, with_length):
        """A part of n bytes, like an attached snapshot, sent in 64 KiB blocks."""
        cam = self.camera
        b = b"--boundary\r\n" if cam.brand == "hikvision" else b"--myboundary\r\n"
        b += b"Content-Type: image/jpeg\r\n"
        if with_length:
            b += f"Content-Length: {n}\r\n".encode()
        self.send(b + b"\r\n")
        block = bytes((i * 7919 >> 3) & 0xFF for i in range(65536))
        sent = 0
        while sent < n:
            k = min(len(block), n - sent)
            self.wfile.write(block[:k])
            sent += k
        self.send(b"\r\n")


def _parse_list(s):
    """Splits a Digest header's comma-separated list, minding quoted commas."""
    out, cur, q = [], [], False
    for ch in s:
        if ch == '"':
            q = not q
        if ch == "," and not q:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur).strip())
    return out



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brand", choices=["hikvision", "dahua"], required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--user", default="ntm")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--auth", choices=["digest", "basic", "refuse", "none"], default="digest")
    a = ap.parse_args()
    cam = Camera(a.brand, a.user, a.password, a.auth, a.port)
    motion = ("event", "VMD", "active", 1) if a.brand == "hikvision" else \
        ("event", "VideoMotion", "Start", 0)
    cam.last_script = [("keepalive",), ("sleep", 10), ("keepalive",), ("sleep", 10),
                       ("keepalive",), ("sleep", 10), motion] * 1000
    print(f"camera_standin: {a.brand} on 127.0.0.1:{cam.start()}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cam.stop()


if __name__ == "__main__":
    main()
