# SPDX-License-Identifier: GPL-3.0-or-later
"""mqtt_script.py: a scripted MQTT 3.1.1 broker for one subscriber, for tests
that need a delivery a real broker gives only by chance: the same QoS 1 message
sent again with the DUP flag and its packet id, as mosquitto does after a
reconnection. It answers CONNECT (session present), SUBSCRIBE (QoS 1) and
PINGREQ, sends the PUBLISH packets the test asks for, and records the PUBACKs.
It is not a broker: one connection at a time, no routing, no persistence."""
import socket
import struct
import threading
import time


def _remaining(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def publish_packet(topic, payload, mid, dup=False):
    body = _utf8(topic) + struct.pack(">H", mid) + payload
    return bytes([0x32 | (0x08 if dup else 0)]) + _remaining(len(body)) + body


class ScriptedBroker:
    def __init__(self, port):
        self.port = port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(4)
        self.conn = None
        self.subscribed = threading.Event()
        self.acked = []  # packet ids of the PUBACKs received, in order
        self.connects = 0
        self.session_present = True  # what CONNACK says
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _read_packet(self, c):
        head = c.recv(1)
        if not head:
            return None, None
        n, mult = 0, 1
        while True:
            b = c.recv(1)
            if not b:
                return None, None
            n += (b[0] & 0x7F) * mult
            mult *= 128
            if not b[0] & 0x80:
                break
        body = b""
        while len(body) < n:
            more = c.recv(n - len(body))
            if not more:
                return None, None
            body += more
        return head[0], body

    def _serve(self, c):
        with self.lock:
            self.conn = c
            self.connects += 1
            self.subscribed.clear()
        try:
            while True:
                kind, body = self._read_packet(c)
                if kind is None:
                    break
                t = kind >> 4
                if t == 1:  # CONNECT: the session is "present" (persistent) or new
                    c.sendall(b"\x20\x02" + (b"\x01" if self.session_present else b"\x00") +
                              b"\x00")
                elif t == 8:  # SUBSCRIBE: granted QoS 1
                    mid = body[:2]
                    c.sendall(b"\x90\x03" + mid + b"\x01")
                    self.subscribed.set()
                elif t == 4:  # PUBACK
                    with self.lock:
                        self.acked.append(struct.unpack(">H", body[:2])[0])
                elif t == 12:  # PINGREQ
                    c.sendall(b"\xd0\x00")
                elif t == 14:  # DISCONNECT
                    break
        except OSError:
            pass
        finally:
            with self.lock:
                if self.conn is c:
                    self.conn = None
                    self.subscribed.clear()
            c.close()

    def wait_subscribed(self, timeout=30):
        if not self.subscribed.wait(timeout):
            raise TimeoutError("the daemon did not subscribe")

    def send(self, packets):
        with self.lock:
            c = self.conn
        c.sendall(b"".join(packets))

    def wait_acked(self, mids, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if set(mids) <= set(self.acked):
                    return True
            time.sleep(0.01)
        return False

    def drop(self):
        """Closes the connection, as a broker restart or a network cut does."""
        with self.lock:
            c = self.conn
            self.conn = None
            self.subscribed.clear()
        if c:
            c.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.lsock.close()
        self.drop()
