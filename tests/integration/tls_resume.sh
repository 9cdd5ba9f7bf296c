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
as_tenant1
api GET /metrics
RESUMED=$(sed -n 's/^portseal_tls_resumed_total{worker="[0-9]*"} \([0-9]*\)$/\1/p' "$TMP/body")
check "the answering worker counts its resumed handshakes in /metrics ($RESUMED of the 15)" \
    test "${RESUMED:-0}" -ge 1 -a "${RESUMED:-0}" -le 15

# (s_client with TLS 1.2, whose ticket comes within the handshake: a saved session always has
# one, however slowly a loaded machine sends a TLS 1.3 ticket after it)
has_ticket() { openssl sess_id -in "$1" -text -noout 2>/dev/null | grep -q 'TLS session ticket:'; }
sclient -tls1_2 -sess_out "$TMP/s-c1" -cert "$CLIENT_CERT" -key "$CLIENT_KEY" >/dev/null
check "(s_client, tenant 1: its saved session resumes)" \
    test "$(has_ticket "$TMP/s-c1" && sclient -tls1_2 -sess_in "$TMP/s-c1" -cert "$CLIENT_CERT" -key "$CLIENT_KEY")" = Reused
sclient -tls1_2 -sess_out "$TMP/s-none" >/dev/null
check "a session without a client certificate does not resume" \
    test "$(has_ticket "$TMP/s-none" && sclient -tls1_2 -sess_in "$TMP/s-none")" = New
for who in rogue expired revoked; do
    sclient -tls1_2 -sess_out "$TMP/s-$who" -cert "$PKI/$who.pem" -key "$PKI/$who.key" >/dev/null
    check "nor one whose certificate failed verification ($who; it has a ticket)" \
        test "$(has_ticket "$TMP/s-$who" && sclient -tls1_2 -sess_in "$TMP/s-$who" -cert "$PKI/$who.pem" -key "$PKI/$who.key")" = New
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
    test "$(sclient -tls1_2 -sess_in "$TMP/s-c1" -cert "$CLIENT_CERT" -key "$CLIENT_KEY")" = New
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

# The parent makes a new key every lifetime and hands it to each worker: a ticket of the
# previous key still resumes, and comes back under the new key from every worker
sed -i '/^tls_ticket_lifetime /d' "$TMP/r/portseald.conf"
echo 'tls_ticket_lifetime 60' >>"$TMP/r/portseald.conf"
check "tls_ticket_lifetime 60: reloaded" reload
keyname() { openssl sess_id -in "$1" -text -noout 2>/dev/null | grep -A1 'TLS session ticket:' | tail -n 1 | cut -c12-58; }
boot() { cut -d. -f1 /proc/uptime; } # CLOCK_BOOTTIME, as the parent's key epochs
while (($(boot) % 60 < 5 || $(boot) % 60 > 50)); do sleep 1; done
sclient -tls1_2 -sess_out "$TMP/k-a" -cert "$CLIENT_CERT" -key "$CLIENT_KEY" >/dev/null
KA=$(keyname "$TMP/k-a")
check "(a TLS 1.2 session with a ticket: key name $KA)" test -n "$KA"
E0=$(($(boot) / 60))
check "(the next key is due within a minute)" wait_until 70 sh -c "test \$((\$(cut -d. -f1 /proc/uptime) / 60)) -gt $E0"
sleep 1
# resumed_under SESSION: "Reused KEYNAME" (the ticket the server renewed it with) or "New ..."
resumed_under() {
    (sleep 0.3; echo) | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -alpn h2 -tls1_2 \
        -CAfile "$CA_FILE" -cert "$CLIENT_CERT" -key "$CLIENT_KEY" -sess_in "$1" 2>/dev/null |
        awk '/^(New|Reused),/ { split($0, a, ","); r = a[1] } /TLS session ticket:/ { t = 1; next }
             t == 1 { print r, substr($0, 12, 47); exit }'
}
out=""
for i in 1 2 3 4 5 6; do out+="$(resumed_under "$TMP/k-a")|"; done
KB=$(cut -d'|' -f1 <<<"$out" | cut -d' ' -f2-)
check "after the next key, the ticket of the previous one still resumes, renewed under the new key ($KB)" \
    test -n "$KB" -a "$KB" != "$KA" -a "$(cut -d'|' -f1 <<<"$out" | cut -d' ' -f1)" = Reused
check "6 connections (either worker) all resume and renew under that same key" \
    test "$(tr '|' '\n' <<<"$out" | grep -c "^Reused $KB\$")" = 6
