#!/usr/bin/env bash
# TLS session resumption (tls_ticket_lifetime, certs/tls.c): a client that reconnects with its
# ticket resumes on whichever worker it reaches and is still the same tenant; only sessions
# with a verified client certificate resume; a reload ends every ticket; 0 turns it off.
# python3-h2 asks /v1/whoami over each resumed connection; openssl s_client checks the rest.
. "$(dirname "$0")/lib.sh"

start_instance "$TMP/r" --workers 2
PKI=$TMP/r/pki
PORT=${URL##*:}
resume() { /usr/bin/python3 "$(dirname "$0")/tls_resume.py" "$URL" "$CA_FILE" "$@"; }
# sclient FILE_OPTION FILE [openssl args]: "New" or "Reused"
sclient() {
    (sleep 0.3; echo) | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -alpn h2 \
        -CAfile "$CA_FILE" "$@" 2>/dev/null | grep -a -E '^(New|Reused),' | cut -d, -f1
}

resume "$CLIENT_CERT" "$CLIENT_KEY" 8 >"$TMP/t13" 2>&1
check "TLS 1.3: 8 reconnections of tenant 1 all resume (the 2 workers share the keys)" \
    grep -qx 'reused 8 of 8' "$TMP/t13"
check "and every one is platform-a to /v1/whoami (200)" \
    test "$(grep -c '^\(new\|reused\) 200 platform-a -$' "$TMP/t13")" = 9
resume "$CLIENT2_CERT" "$CLIENT2_KEY" 3 >"$TMP/t2" 2>&1
check "tenant 2's resumed connections are platform-b's" \
    test "$(grep -c '^reused 200 platform-b -$' "$TMP/t2")" = 3
resume "$CLIENT_CERT" "$CLIENT_KEY" 4 tls1.2 >"$TMP/t12" 2>&1
check "TLS 1.2: 4 of 4 resume too" grep -qx 'reused 4 of 4' "$TMP/t12"

sclient -sess_out "$TMP/s-c1" -cert "$CLIENT_CERT" -key "$CLIENT_KEY" >/dev/null
check "(s_client, tenant 1: its saved session resumes)" \
    test "$(sclient -sess_in "$TMP/s-c1" -cert "$CLIENT_CERT" -key "$CLIENT_KEY")" = Reused
sclient -sess_out "$TMP/s-none" >/dev/null
check "a session without a client certificate does not resume" \
    test "$(sclient -sess_in "$TMP/s-none")" = New
for who in rogue expired revoked; do
    sclient -sess_out "$TMP/s-$who" -cert "$PKI/$who.pem" -key "$PKI/$who.key" >/dev/null
    check "nor one whose certificate failed verification ($who)" \
        test "$(sclient -sess_in "$TMP/s-$who" -cert "$PKI/$who.pem" -key "$PKI/$who.key")" = New
done
as_cert "$PKI/rogue.pem" "$PKI/rogue.key"
api GET /v1/whoami
expect_error "(and the rogue certificate is still refused)" 403 client_certificate_rejected

reloads() { grep -c 'reload: configuration read again' "$TMP/r/portseald.log"; }
ready() { curl -sf --cacert "$CA_FILE" "$URL/healthz" -o /dev/null; }
reload() {
    local n
    n=$(reloads)
    kill -HUP "$(cat "$TMP/r/portseald.pid")"
    wait_until 15 sh -c "test \$(grep -c 'reload: configuration read again' '$TMP/r/portseald.log') -gt $n" &&
        sleep 1 && wait_until 15 ready
}
check "the appliance reloads" reload
check "after a reload (it may bring a new CRL), the old session does not resume" \
    test "$(sclient -sess_in "$TMP/s-c1" -cert "$CLIENT_CERT" -key "$CLIENT_KEY")" = New
resume "$CLIENT_CERT" "$CLIENT_KEY" 3 >"$TMP/t-after" 2>&1
check "new sessions resume again" grep -qx 'reused 3 of 3' "$TMP/t-after"

echo 'tls_ticket_lifetime 0' >>"$TMP/r/portseald.conf"
check "tls_ticket_lifetime 0 is accepted (portseald -t)" "$PORTSEALD" -t -c "$TMP/r/portseald.conf"
check "and reloaded" reload
resume "$CLIENT_CERT" "$CLIENT_KEY" 3 >"$TMP/t-off" 2>&1
check "tls_ticket_lifetime 0: nothing resumes" grep -qx 'reused 0 of 3' "$TMP/t-off"
check "and every connection still works" test "$(grep -c '^new 200 platform-a -$' "$TMP/t-off")" = 4
echo 'tls_ticket_lifetime 90000' >>"$TMP/r/portseald.conf"
check "a lifetime over a day is refused (portseald -t)" not "$PORTSEALD" -t -c "$TMP/r/portseald.conf"
