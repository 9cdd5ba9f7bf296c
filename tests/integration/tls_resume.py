#!/usr/bin/python3
"""tls_resume.py - test helper for tests/integration/tls_resume.sh and partners.sh: HTTP/2
requests over TLS connections that resume the first connection's session, which curl cannot
do across its runs. Uses python3-h2, hence /usr/bin/python3.

  tls_resume.py URL CA CERT KEY N [tls1.2]
      one connection with a full handshake, then N more offering its session (each time the
      newest ticket); on each, GET /v1/whoami. Prints one line per connection:
      "new|reused STATUS TENANT PARTNER" (TENANT and PARTNER from the answer, "-" when none),
      then "reused R of N".
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


def whoami(ctx, host, port, session):
    raw = socket.create_connection((host, port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname=host, session=session)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                            (":authority", "%s:%d" % (host, port)),
                            (":path", "/v1/whoami")], end_stream=True)
    sock.sendall(conn.data_to_send())
    status, body, done = "000", b"", False
    end = time.monotonic() + 10
    while not done and time.monotonic() < end:
        data = sock.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status", b"000").decode()
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    reused = sock.session_reused
    # TLS 1.3 tickets come after the handshake: they have been read with the response
    session = sock.session
    try:
        j = json.loads(body or b"{}")
    except ValueError:
        j = {}
    conn.close_connection()
    try:
        sock.sendall(conn.data_to_send())
        sock.close()
    except OSError:
        pass
    return reused, status, j.get("tenant") or "-", j.get("partner") or "-", session


def main():
    url, ca, cert, key, n = sys.argv[1:6]
    u = urlparse(url)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    if len(sys.argv) > 6 and sys.argv[6] == "tls1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    session, reused_n = None, 0
    for i in range(int(n) + 1):
        reused, status, tenant, partner, s = whoami(ctx, u.hostname, u.port, session)
        print("%s %s %s %s" % ("reused" if reused else "new", status, tenant, partner))
        reused_n += i > 0 and reused
        session = s or session
    print("reused %d of %s" % (reused_n, n))


main()
