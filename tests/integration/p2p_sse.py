#!/usr/bin/python3
"""p2p_sse.py - test helper for tests/integration/p2p_stream.sh: HTTP/2 clients of
GET /v1/p2p/stream that curl cannot play (several streams on one connection, so on one worker;
a reader that never opens its flow-control window; streams opened and abandoned in bulk).
Uses python3-h2, hence /usr/bin/python3.

  p2p_sse.py URL CA CERT KEY cap N
      one connection, N streams opened at once; prints their statuses in order
      ("200 200 200 503:too_many_streams"), then resets the first stream, opens another one on the same
      connection and prints "again STATUS"
  p2p_sse.py URL CA CERT KEY stall SECONDS
      one connection with stream windows of 0 bytes: the stream's first bytes cannot be sent;
      prints "reset CODE AFTER_S" when the server resets the stream (or "no reset" after
      SECONDS), then "healthz STATUS" for a request on the same connection
  p2p_sse.py URL CA CERT KEY abandon ROUNDS PER
      ROUNDS connections, each opening PER streams (?after=0: every stored message is queued
      for it) and reading nothing but their headers, then abandoned: even rounds close the
      socket, odd ones reset every stream (RST_STREAM CANCEL) first; prints "200:A 503:B"
"""
import json
import socket
import ssl
import sys
import time
from urllib.parse import urlparse

import h2.config
import h2.connection
import h2.events
import h2.settings
from h2.settings import SettingCodes


class Client:
    def __init__(self, url, ca, cert, key, window=None):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((self.host, self.port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname=self.host)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        if window is not None:
            self.conn.local_settings = h2.settings.Settings(
                client=True, initial_values={SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.conn.initiate_connection()
        self.flush()
        self.status = {}   # stream id -> :status
        self.reset = {}    # stream id -> error code of a RST_STREAM from the server
        self.closed = False
        self.body = {}     # stream id -> bytes received

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                     (":authority", "%s:%d" % (self.host, self.port)),
                                     (":path", path)], end_stream=True)
        return sid

    def pump(self, until, seconds):
        """Read events until until() is true or seconds pass; True if until() became true."""
        end = time.monotonic() + seconds
        while not until():
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                return until()
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionError, ssl.SSLError):
                self.closed = True
                continue
            if not data:
                self.closed = True
                continue
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.status[ev.stream_id] = dict(ev.headers).get(b":status", b"?").decode()
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset[ev.stream_id] = int(ev.error_code)
                elif isinstance(ev, h2.events.DataReceived):
                    self.body[ev.stream_id] = self.body.get(ev.stream_id, b"") + ev.data
                    # hand the window back for what other streams receive (healthz); the
                    # stalled stream's own window stays at 0
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.closed = True
            self.flush()
        return True

    def rst(self, sid):
        self.conn.reset_stream(sid, error_code=8)  # CANCEL
        self.flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def cmd_cap(c, n):
    sids = [c.get("/v1/p2p/stream") for _ in range(n)]
    c.flush()
    c.pump(lambda: all(s in c.status for s in sids), 10)
    c.pump(lambda: all(c.body.get(s, b"").endswith(b"\n") for s in sids), 5)
    out = []
    for s in sids:
        st = c.status.get(s, "none")
        if st not in ("200", "none"):
            try:
                st += ":" + json.loads(c.body[s])["error"]["code"]
            except (KeyError, ValueError):
                st += ":?"
        out.append(st)
    print(" ".join(out))
    c.rst(sids[0])
    time.sleep(0.5)
    s = c.get("/v1/p2p/stream")
    c.flush()
    c.pump(lambda: s in c.status, 10)
    print("again", c.status.get(s, "none"))


def cmd_stall(c, seconds):
    s = c.get("/v1/p2p/stream?after=0")
    c.flush()
    t0 = time.monotonic()
    if c.pump(lambda: s in c.reset, seconds):
        print("reset %d %.1f" % (c.reset[s], time.monotonic() - t0))
    else:
        print("no reset")
    h = c.get("/healthz")
    c.conn.increment_flow_control_window(65535, stream_id=h)
    c.flush()
    c.pump(lambda: h in c.status, 5)
    print("healthz", c.status.get(h, "none"))


def cmd_abandon(args, rounds, per):
    count = {}
    for i in range(rounds):
        c = Client(*args, window=0)
        sids = [c.get("/v1/p2p/stream?after=0") for _ in range(per)]
        c.flush()
        c.pump(lambda: all(s in c.status for s in sids), 10)
        for s in sids:
            st = c.status.get(s, "none")
            count[st] = count.get(st, 0) + 1
        if i % 2:
            for s in sids:
                c.conn.reset_stream(s, error_code=8)
            c.flush()
            time.sleep(0.05)
        c.close()
    print(" ".join("%s:%d" % kv for kv in sorted(count.items())))


def main():
    url, ca, cert, key, cmd = sys.argv[1:6]
    rest = sys.argv[6:]
    if cmd == "cap":
        cmd_cap(Client(url, ca, cert, key), int(rest[0]))
    elif cmd == "stall":
        cmd_stall(Client(url, ca, cert, key, window=0), float(rest[0]))
    elif cmd == "abandon":
        cmd_abandon((url, ca, cert, key), int(rest[0]), int(rest[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
