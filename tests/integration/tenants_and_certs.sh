#!/usr/bin/env bash
# Tenant isolation (a tenant sees and uses only its own keys) and client authentication
# (missing, revoked, expired, untrusted, wrong-purpose and tenant-less certificates; HTTP/1.1,
# plain TCP and old TLS versions are refused).
. "$(dirname "$0")/lib.sh"
start_instance "$TMP/cn"
INST=$TMP/cn
PKI=$INST/pki
PORT=${URL##*:}
H=$(b64_sha256 'tenant two')
audit0=$(audit_count "$INST")

# ---- tenant isolation
as_tenant2
api GET /v1/keys
expect_status "tenant 2 lists its keys" 200
check "tenant 2 is platform-b" test "$(jget "j['tenant']")" = platform-b
check "tenant 2 sees t2-ec only" test "$(jget "','.join(sorted(k['id'] for k in j['keys']))")" = t2-ec
api GET /v1/keys/t2-ec
expect_status "tenant 2 reads its key t2-ec" 200
api GET /v1/keys/t1-ec
expect_error "tenant 2 asks for tenant 1's key t1-ec" 404 key_not_found
msg_other=$(jget "j['error']['message']")
api GET /v1/keys/t1-zz
expect_error "tenant 2 asks for a key nobody has" 404 key_not_found
msg_none=$(jget "j['error']['message']")
check "another tenant's key looks exactly like a missing one" test "${msg_other//t1-ec/ID}" = "${msg_none//t1-zz/ID}"
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "tenant 2 signs with t1-ec" 404 key_not_found
post_json /v1/sign/hash "{\"key\":\"t1-rsa\",\"alg\":\"rsa-pkcs1-sha256\",\"hashes\":[\"$H\"]}"
expect_error "tenant 2 signs with t1-rsa" 404 key_not_found
api POST "/v1/sign/cms?key=t1-ec" --data-binary 'doc'
expect_error "tenant 2 signs CMS with t1-ec" 404 key_not_found

as_tenant1
api GET /v1/keys
expect_status "tenant 1 lists its keys" 200
check "tenant 1 does not see t2-ec" test "$(jget "'t2-ec' in [k['id'] for k in j['keys']]")" = False
api GET /v1/keys/t2-ec
expect_error "tenant 1 asks for t2-ec" 404 key_not_found
post_json /v1/sign/hash "{\"key\":\"t2-ec\",\"hashes\":[\"$H\"]}"
expect_error "tenant 1 signs with t2-ec" 404 key_not_found
api POST "/v1/sign/cms?key=t2-ec" --data-binary 'doc'
expect_error "tenant 1 signs CMS with t2-ec" 404 key_not_found
check "no audit record for the refused cross-tenant requests" test "$(audit_count "$INST")" = "$audit0"

as_tenant2
post_json /v1/sign/hash "{\"key\":\"t2-ec\",\"hashes\":[\"$H\"]}"
expect_status "tenant 2 signs with t2-ec" 200
jget "j['signatures'][0]" | base64 -d >"$TMP/sig.bin"
seq2=$(jget "j['audit_seq']")
printf '%s' 'tenant two' >"$TMP/msg"
openssl x509 -in "$INST/keys/t2-ec.pem" -pubkey -noout >"$TMP/pub2.pem"
openssl x509 -in "$INST/keys/t1-ec.pem" -pubkey -noout >"$TMP/pub1.pem"
check "openssl verifies the t2-ec signature" \
    openssl dgst -sha256 -verify "$TMP/pub2.pem" -signature "$TMP/sig.bin" "$TMP/msg"
check "the t2-ec signature does not verify with t1-ec's key" \
    sh -c "! openssl dgst -sha256 -verify '$TMP/pub1.pem' -signature '$TMP/sig.bin' '$TMP/msg' >/dev/null 2>&1"
check "certNo is t2-ec's certificate serial" test "$(jget "j['certNo']")" = \
    "$(openssl x509 -in "$INST/keys/t2-ec.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')"
check "its audit record names tenant platform-b and key t2-ec" \
    test "$(sqlite3 "$INST/state/audit.db" "select tenant||' '||key from audit where seq=${seq2:-x}")" = "platform-b t2-ec"
printf 'tenant two document\n' >"$TMP/doc2"
api POST "/v1/sign/cms?key=t2-ec" --data-binary "@$TMP/doc2"
expect_status "tenant 2 signs CMS with t2-ec" 200
cp "$TMP/body" "$TMP/doc2.p7s"
check "openssl cms -verify accepts tenant 2's CMS signature" \
    openssl cms -verify -binary -inform DER -in "$TMP/doc2.p7s" -content "$TMP/doc2" \
    -CAfile "$CA_FILE" -purpose any -out /dev/null
audit1=$(audit_count "$INST")

# ---- client certificates
as_nobody
api GET /v1/keys
expect_error "no client certificate: /v1/keys" 401 client_certificate_required
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "no client certificate: /v1/sign/hash" 401 client_certificate_required
api GET /readyz
expect_error "no client certificate: /readyz" 401 client_certificate_required
api GET /healthz
expect_status "no client certificate: /healthz still answers" 200

as_cert "$PKI/revoked.pem" "$PKI/revoked.key"
api GET /v1/keys
expect_error "revoked certificate" 403 client_certificate_rejected
check "the message says revoked" sh -c "grep -qi revoked '$TMP/body'"
as_cert "$PKI/expired.pem" "$PKI/expired.key"
api GET /v1/keys
expect_error "expired certificate" 403 client_certificate_rejected
check "the message says expired" sh -c "grep -qi expired '$TMP/body'"
as_cert "$PKI/rogue.pem" "$PKI/rogue.key"
api GET /v1/keys
expect_error "certificate from a rogue CA (CN of platform-a)" 403 client_certificate_rejected
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "rogue-CA certificate cannot sign with t1-ec" 403 client_certificate_rejected
openssl x509 -in "$PKI/rogue.pem" -out "$TMP/rogue-leaf.pem"
as_cert "$TMP/rogue-leaf.pem" "$PKI/rogue.key"
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "rogue leaf without its CA cannot sign with t1-ec" 403 client_certificate_rejected
# a certificate of the trusted CA, but for TLS servers (no clientAuth EKU)
as_cert "$PKI/server-chain.pem" "$PKI/server.key"
api GET /v1/keys
expect_error "server certificate used as a client certificate" 403 client_certificate_rejected
for who in partner officer; do
    as_cert "$PKI/$who.pem" "$PKI/$who.key"
    api GET /v1/keys
    expect_error "$who certificate (valid, no tenant) on /v1/keys" 403 not_a_tenant
    post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
    expect_error "$who certificate on /v1/sign/hash" 403 not_a_tenant
    api GET /healthz
    expect_status "$who certificate on /healthz" 200
done
as_cert "$PKI/revoked.pem" "$PKI/revoked.key"
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "revoked certificate cannot sign" 403 client_certificate_rejected
check "no audit record for requests with refused certificates" test "$(audit_count "$INST")" = "$audit1"

# ---- HTTP/1.1: one JSON 505 response, then the connection closes
STATUS=$(curl -sS --http1.1 --cacert "$CA_FILE" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
    -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$URL/v1/keys" 2>"$TMP/curl.err") || STATUS=000
check "HTTP/1.1 gets status 505 (got $STATUS)" test "$STATUS" = 505
check "HTTP/1.1 gets JSON error code http2_required" test "$(jget "j['error']['code']")" = http2_required
check "HTTP/1.1 response is application/json" grep -qi '^content-type: application/json' "$TMP/headers"
check "HTTP/1.1 response carries x-request-id (like every response)" grep -qi '^x-request-id: ' "$TMP/headers"
STATUS=$(curl -sS --http1.1 --cacert "$CA_FILE" -o "$TMP/body" -w '%{http_code}' \
    "$URL/healthz" 2>"$TMP/curl.err") || STATUS=000
check "HTTP/1.1 without a client certificate, /healthz: 505 too (got $STATUS)" test "$STATUS" = 505

# ---- plain TCP (no TLS): no HTTP response, and the server keeps serving
check "plain-TCP HTTP request gets no HTTP response" python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
data = b""
try:
    while len(data) < 65536:
        d = s.recv(4096)
        if not d:
            break
        data += d
except OSError:
    pass  # reset or timeout: no answer either way
sys.exit(1 if b"HTTP/" in data else 0)
PY
as_tenant1
api GET /v1/keys
expect_status "the server still serves after the plain-TCP request" 200

# ---- TLS versions: 1.0 and 1.1 refused, 1.2 and 1.3 accepted
# control: this openssl can speak TLS 1.1 (to an openssl s_server that allows it)
ctl_port=$(free_port)
openssl s_server -accept "127.0.0.1:$ctl_port" -cert "$PKI/server.pem" -key "$PKI/server.key" \
    -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -naccept 1 -quiet </dev/null >"$TMP/s_server.out" 2>&1 &
ss_pid=$!
wait_until 5 sh -c "ss -Htln 'sport = :$ctl_port' | grep -q ." >/dev/null 2>&1
openssl s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -connect "127.0.0.1:$ctl_port" \
    </dev/null >"$TMP/ctl.out" 2>&1
kill "$ss_pid" 2>/dev/null
wait "$ss_pid" 2>/dev/null
check "control: openssl s_client completes a TLS 1.1 handshake with a TLS 1.1 server" \
    grep -q 'Protocol *: TLSv1.1' "$TMP/ctl.out"
for v in 1_1 1; do
    timeout 10 openssl s_client -tls$v -cipher 'DEFAULT:@SECLEVEL=0' -connect "127.0.0.1:$PORT" \
        -cert "$CLIENT_CERT" -key "$CLIENT_KEY" </dev/null >"$TMP/tls$v.out" 2>&1
    check "TLS ${v/_/.} is refused (no cipher negotiated)" grep -q 'Cipher is (NONE)' "$TMP/tls$v.out"
    check "TLS ${v/_/.}: the server answers with a protocol_version alert" \
        grep -qi 'alert protocol version' "$TMP/tls$v.out"
done
rc=0
curl -sS --http2 --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0' --cacert "$CA_FILE" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY" -o /dev/null "$URL/healthz" 2>"$TMP/curl.err" || rc=$?
check "curl --tlsv1.1 --tls-max 1.1 fails (exit $rc)" test "$rc" -ne 0
for v in 1.2 1.3; do
    STATUS=$(curl -sS --http2 --tlsv$v --tls-max $v --cacert "$CA_FILE" --cert "$CLIENT_CERT" \
        --key "$CLIENT_KEY" -o "$TMP/body" -w '%{http_code}' "$URL/v1/keys" 2>"$TMP/curl.err") || STATUS=000
    check "TLS $v is accepted (status $STATUS)" test "$STATUS" = 200
done
api GET /healthz
expect_status "the server still serves at the end" 200
