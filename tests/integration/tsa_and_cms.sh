#!/usr/bin/env bash
# RFC 3161 time-stamping (POST /v1/tsa), checked with openssl ts -query / -reply / -verify, and
# POST /v1/verify/cms over CMS signatures made by /v1/sign/cms (and by openssl cms).
. "$(dirname "$0")/lib.sh"
start_instance "$TMP/cn"
INST=$TMP/cn
ROOT=$INST/pki/root.pem
CHAIN=$INST/keys/tsa-ec-chain.pem
as_tenant1

printf 'customs declaration 4711\n' >"$TMP/doc"
printf 'customs declaration 4712\n' >"$TMP/doc2"

# tsa QUERYFILE: POST it to /v1/tsa; the reply is in $TMP/body
tsa() { api POST /v1/tsa -H 'content-type: application/timestamp-query' --data-binary "@$1"; }
# reply_text REPLY: openssl's reading of a TimeStampResp (numeric OIDs)
reply_text() { openssl ts -reply -in "$1" -text -config /dev/null 2>/dev/null; }
# field REPLY NAME: the value of "NAME: value" in reply_text
field() { reply_text "$1" | sed -n "s/^$2: //p" | head -n1; }
# ts_verify REPLY QUERY [more openssl args]: openssl ts -verify against the instance root
ts_verify() {
    local reply=$1 query=$2
    shift 2
    openssl ts -verify -in "$reply" -queryfile "$query" -CAfile "$ROOT" "$@" >"$TMP/verify.out" 2>&1
}
audit_tsa() { sqlite3 "$INST/state/audit.db" "select count(*) from audit where key='tsa-ec' and tenant='@tsa'"; }
content_type_is() { grep -qi "^content-type: $1" "$TMP/headers"; }

# ---- a time-stamp with a nonce and the certificate, sha256 --------------------------------
audit0=$(audit_tsa)
openssl ts -query -data "$TMP/doc" -sha256 -cert -out "$TMP/q1.tsq" 2>/dev/null
tsa "$TMP/q1.tsq"
expect_status "POST /v1/tsa with a sha256 query (nonce, certReq)" 200
cp "$TMP/body" "$TMP/r1.tsr"
check "the answer is application/timestamp-reply" content_type_is application/timestamp-reply
check "status granted" test "$(field "$TMP/r1.tsr" Status)" = "Granted."
check "openssl ts -verify accepts it (-CAfile root -untrusted chain)" ts_verify "$TMP/r1.tsr" "$TMP/q1.tsq" -untrusted "$CHAIN"
check "with certReq the token carries the chain: -CAfile root alone is enough" ts_verify "$TMP/r1.tsr" "$TMP/q1.tsq"
check "openssl ts -verify -data over the document accepts it" \
    openssl ts -verify -in "$TMP/r1.tsr" -data "$TMP/doc" -CAfile "$ROOT" -untrusted "$CHAIN"
qnonce=$(openssl ts -query -in "$TMP/q1.tsq" -text -config /dev/null 2>/dev/null | sed -n 's/^Nonce: //p')
check "the reply carries the query's nonce ($qnonce)" test -n "$qnonce" -a "$(field "$TMP/r1.tsr" Nonce)" = "$qnonce"
check "the policy is the configured tsa_policy 1.2.3.4.1" test "$(field "$TMP/r1.tsr" 'Policy OID')" = 1.2.3.4.1
check "accuracy 1 second (tsa_accuracy_ms 1000)" sh -c "openssl ts -reply -in '$TMP/r1.tsr' -text 2>/dev/null | grep -q '^Accuracy: 0x01 seconds'"
check "the TSA name is the TSA certificate's subject" sh -c "openssl ts -reply -in '$TMP/r1.tsr' -text 2>/dev/null | grep -q '^TSA: DirName:.*CN=tsa-ec'"
gentime=$(field "$TMP/r1.tsr" 'Time stamp')
check "genTime ($gentime) is within 60 s of now" python3 - "$gentime" <<'PY'
import calendar, sys, time
mon, day, hms, year = sys.argv[1].split()[:4]  # "Nov 28 15:08:06.018 2026 GMT"
t = calendar.timegm(time.strptime(f"{mon} {day} {hms.split('.')[0]} {year}", "%b %d %H:%M:%S %Y"))
sys.exit(0 if abs(time.time() - t) < 60 else 1)
PY
check "the audit table has one row (@tsa, tsa-ec) for it" test "$(audit_tsa)" = $((audit0 + 1))

# ---- without nonce, without certReq; sha384 and sha512 ---------------------------------------
openssl ts -query -data "$TMP/doc" -sha256 -no_nonce -out "$TMP/q2.tsq" 2>/dev/null
tsa "$TMP/q2.tsq"
expect_status "POST /v1/tsa without nonce and without certReq" 200
cp "$TMP/body" "$TMP/r2.tsr"
check "verifies with -untrusted chain" ts_verify "$TMP/r2.tsr" "$TMP/q2.tsq" -untrusted "$CHAIN"
check "without certReq the token has no certificate: -CAfile root alone fails" not ts_verify "$TMP/r2.tsr" "$TMP/q2.tsq"
check "no nonce in the reply either" test "$(field "$TMP/r2.tsr" Nonce)" = unspecified
for h in sha384 sha512; do
    openssl ts -query -data "$TMP/doc" -$h -cert -out "$TMP/q-$h.tsq" 2>/dev/null
    tsa "$TMP/q-$h.tsq"
    expect_status "POST /v1/tsa with a $h query" 200
    cp "$TMP/body" "$TMP/r-$h.tsr"
    check "the $h time-stamp verifies" ts_verify "$TMP/r-$h.tsr" "$TMP/q-$h.tsq" -untrusted "$CHAIN"
done
check "the audit table has a row per time-stamp (4 so far)" test "$(audit_tsa)" = $((audit0 + 4))

# ---- serial numbers never repeat, across a restart too ------------------------------------
serials="$(field "$TMP/r1.tsr" 'Serial number') $(field "$TMP/r2.tsr" 'Serial number')"
for i in 1 2 3 4 5 6; do
    openssl ts -query -data "$TMP/doc" -sha256 -out "$TMP/qs.tsq" 2>/dev/null
    tsa "$TMP/qs.tsq"
    serials="$serials $(field "$TMP/body" 'Serial number')"
done
check "serial numbers are 0x + 32 hex digits (128-bit)" sh -c "for s in $serials; do echo \$s | grep -qE '^0x[0-9A-F]{32}\$' || exit 1; done"
check "8 time-stamps, 8 different serial numbers" test "$(printf '%s\n' $serials | sort -u | wc -l)" = 8
"$DEMO" stop "$INST" >/dev/null 2>&1
start_instance "$INST"
as_tenant1
openssl ts -query -data "$TMP/doc" -sha256 -cert -out "$TMP/q3.tsq" 2>/dev/null
tsa "$TMP/q3.tsq"
expect_status "POST /v1/tsa after a restart" 200
cp "$TMP/body" "$TMP/r3.tsr"
s3=$(field "$TMP/r3.tsr" 'Serial number')
check "after the restart the serial ($s3) is new" sh -c "echo '$serials' | tr ' ' '\n' | grep -qx -- '$s3' && exit 1; test -n '$s3'"
check "and the token verifies" ts_verify "$TMP/r3.tsr" "$TMP/q3.tsq"
check "the audit rows survive the restart: one per granted time-stamp (11 so far)" test "$(audit_tsa)" = $((audit0 + 11))

# ---- tampering -------------------------------------------------------------------------------
openssl ts -query -data "$TMP/doc2" -sha256 -cert -out "$TMP/q-other.tsq" 2>/dev/null
check "the reply does not verify against another query (other document)" not ts_verify "$TMP/r1.tsr" "$TMP/q-other.tsq"
check "openssl ts -verify -data with a changed document fails" \
    not openssl ts -verify -in "$TMP/r1.tsr" -data "$TMP/doc2" -CAfile "$ROOT" -untrusted "$CHAIN"
# a query whose imprint has one changed byte; the reply must not match it
python3 - "$TMP/q1.tsq" "$TMP/q1-tampered.tsq" "$(openssl dgst -sha256 -binary "$TMP/doc" | xxd -p -c 64)" <<'PY'
import sys
q = bytearray(open(sys.argv[1], 'rb').read()); d = bytes.fromhex(sys.argv[3])
i = q.index(d); q[i] ^= 1
open(sys.argv[2], 'wb').write(q)
PY
check "the reply does not verify against a tampered query (one imprint bit)" not ts_verify "$TMP/r1.tsr" "$TMP/q1-tampered.tsq"
# a reply with one bit changed in the signature (the last bytes), and one in the TSTInfo imprint
python3 - "$TMP/r1.tsr" "$TMP/r1-badsig.tsr" "$TMP/r1-badtst.tsr" "$(openssl dgst -sha256 -binary "$TMP/doc" | xxd -p -c 64)" <<'PY'
import sys
r = bytearray(open(sys.argv[1], 'rb').read()); d = bytes.fromhex(sys.argv[4])
a = bytearray(r); a[-3] ^= 1
open(sys.argv[2], 'wb').write(a)
b = bytearray(r); i = b.index(d); b[i + 5] ^= 1
open(sys.argv[3], 'wb').write(b)
PY
check "a reply with a changed signature byte fails openssl ts -verify" not ts_verify "$TMP/r1-badsig.tsr" "$TMP/q1.tsq"
check "a reply with a changed TSTInfo byte fails openssl ts -verify" not ts_verify "$TMP/r1-badtst.tsr" "$TMP/q1.tsq"
check "(the untouched reply still verifies)" ts_verify "$TMP/r1.tsr" "$TMP/q1.tsq"

# ---- requests the TSA declines get a TimeStampResp with status rejection (RFC 3161 2.4.2) ----
audit1=$(audit_tsa)
openssl ts -query -data "$TMP/doc" -sha1 -out "$TMP/q-sha1.tsq" 2>/dev/null
tsa "$TMP/q-sha1.tsq"
expect_status "a sha1 query is answered with a TimeStampResp" 200
cp "$TMP/body" "$TMP/r-sha1.tsr"
check "... of type application/timestamp-reply" content_type_is application/timestamp-reply
check "... status rejection" test "$(field "$TMP/r-sha1.tsr" Status)" = "Rejected."
check "... failInfo badAlg" test "$(field "$TMP/r-sha1.tsr" 'Failure info')" = "unrecognized or unsupported algorithm identifier"
check "... and no token" test "$(reply_text "$TMP/r-sha1.tsr" | sed -n '/^TST info:/{n;p}')" = "Not included."
openssl ts -query -data "$TMP/doc" -sha256 -tspolicy 1.2.3.4.9 -out "$TMP/q-pol.tsq" 2>/dev/null
tsa "$TMP/q-pol.tsq"
expect_status "a query for another policy is answered with a TimeStampResp" 200
check "... status rejection, failInfo unacceptedPolicy" sh -c \
    "openssl ts -reply -in '$TMP/body' -text 2>/dev/null | grep -q 'Failure info: the requested TSA policy is not supported'"
openssl ts -query -data "$TMP/doc" -sha256 -tspolicy 1.2.3.4.1 -cert -out "$TMP/q-pol1.tsq" 2>/dev/null
tsa "$TMP/q-pol1.tsq"
check "a query naming the configured policy is granted and verifies" ts_verify "$TMP/body" "$TMP/q-pol1.tsq"
check "rejections are not signed: no audit row for them (one for the granted one)" test "$(audit_tsa)" = $((audit1 + 1))

# ---- malformed requests: 4xx JSON --------------------------------------------------------
api POST /v1/tsa -H 'content-type: application/timestamp-query' --data-binary 'this is not DER'
expect_error "a body that is not DER is 400" 400 invalid_timestamp_query
api POST /v1/tsa -H 'content-type: application/timestamp-query' --data-binary ''
expect_error "an empty body is 400" 400 invalid_timestamp_query
cat "$TMP/q1.tsq" >"$TMP/q-trail.tsq"
printf 'X' >>"$TMP/q-trail.tsq"
tsa "$TMP/q-trail.tsq"
expect_error "a TimeStampReq followed by a trailing byte is 400" 400 invalid_timestamp_query
head -c 20 "$TMP/q1.tsq" >"$TMP/q-cut.tsq"
tsa "$TMP/q-cut.tsq"
expect_error "a truncated TimeStampReq is 400" 400 invalid_timestamp_query
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=x -outform DER -out "$TMP/csr.der" 2>/dev/null
tsa "$TMP/csr.der"
expect_error "other DER (a CSR) is 400" 400 invalid_timestamp_query
api POST /v1/tsa -H 'content-type: application/json' --data-binary "@$TMP/q1.tsq"
expect_error "the wrong content type is 415" 415 unsupported_media_type
head -c 20000 /dev/zero >"$TMP/big"
tsa "$TMP/big"
expect_error "a body over 16 KiB is 413" 413 payload_too_large
api GET /v1/tsa
expect_error "GET /v1/tsa is 405" 405 method_not_allowed
check "malformed requests left no audit rows" test "$(audit_tsa)" = $((audit1 + 1))

# ---- who may ask: any valid client certificate ---------------------------------------------
as_cert "$INST/pki/partner.pem" "$INST/pki/partner.key"
tsa "$TMP/q1.tsq"
expect_status "a partner (no tenant) gets a time-stamp" 200
as_tenant2
tsa "$TMP/q1.tsq"
expect_status "tenant 2 gets a time-stamp" 200
as_nobody
tsa "$TMP/q1.tsq"
expect_error "without a client certificate: 401" 401 client_certificate_required
as_cert "$INST/pki/revoked.pem" "$INST/pki/revoked.key"
tsa "$TMP/q1.tsq"
expect_error "with a revoked client certificate: 403" 403 client_certificate_rejected
# the TSA key is the appliance's: no tenant lists or uses it
as_tenant1
api GET /v1/keys
check "tenant 1 does not see tsa-ec in /v1/keys" sh -c "! grep -q tsa-ec '$TMP/body' && grep -q t1-ec '$TMP/body'"
post_json /v1/sign/hash '{"key":"tsa-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 x)"'"]}'
expect_error "tenant 1 cannot sign a hash with tsa-ec" 404 key_not_found
api POST "/v1/sign/cms?key=tsa-ec" --data-binary "@$TMP/doc"
expect_error "tenant 1 cannot make a CMS with tsa-ec" 404 key_not_found

# ---- POST /v1/verify/cms ------------------------------------------------------------------
# verify_req SIG CONTENT [wrap]: the JSON request body in $TMP/vreq.json
verify_req() {
    python3 - "$1" "$2" "${3:-}" >"$TMP/vreq.json" <<'PY'
import base64, json, sys
enc = base64.encodebytes if sys.argv[3] else base64.b64encode
print(json.dumps({"signature": enc(open(sys.argv[1], 'rb').read()).decode(),
                  "content": enc(open(sys.argv[2], 'rb').read()).decode()}))
PY
}
verify_cms() { verify_req "$@" && post_json /v1/verify/cms "@$TMP/vreq.json"; }
for key in t1-ec t1-rsa; do
    api POST "/v1/sign/cms?key=$key" --data-binary "@$TMP/doc"
    expect_status "sign the document with $key (/v1/sign/cms)" 200 || continue
    cp "$TMP/body" "$TMP/doc-$key.p7s"
    verify_cms "$TMP/doc-$key.p7s" "$TMP/doc"
    expect_status "verify the $key CMS" 200
    check "$key: valid true, no reason" test "$(jget "(j['valid'], 'reason' in j)")" = "(True, False)"
    check "$key: signer certNo is the certificate serial" test "$(jget "j['signer']['certNo']")" = \
        "$(openssl x509 -in "$INST/keys/$key.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')"
    check "$key: signer subject and issuer" test "$(jget "('CN=$key.' in j['signer']['subject'], 'Issuing CA' in j['signer']['issuer'])")" = "(True, True)"
    verify_cms "$TMP/doc-$key.p7s" "$TMP/doc2"
    expect_status "verify the $key CMS over a changed content" 200
    check "$key: changed content: valid false" test "$(jget "j['valid']")" = False
    check "$key: the reason names the content" sh -c "python3 -c \"import json; r=json.load(open('$TMP/body'))['reason']; exit(0 if 'content' in r else 1)\""
done
verify_cms "$TMP/doc-t1-ec.p7s" "$TMP/doc" wrap
check "base64 with line breaks is accepted" test "$(jget "j['valid']")" = True
python3 - "$TMP/doc-t1-ec.p7s" "$TMP/badsig.p7s" <<'PY'
import sys
s = bytearray(open(sys.argv[1], 'rb').read()); s[-3] ^= 1
open(sys.argv[2], 'wb').write(s)
PY
verify_cms "$TMP/badsig.p7s" "$TMP/doc"
check "a changed signature byte: valid false, the reason names the signature" test \
    "$(jget "(j['valid'], 'signature' in j['reason'])")" = "(False, True)"
openssl cms -sign -binary -in "$TMP/doc" -signer "$INST/pki/rogue.pem" -inkey "$INST/pki/rogue.key" \
    -outform DER -out "$TMP/rogue.p7s" 2>/dev/null
verify_cms "$TMP/rogue.p7s" "$TMP/doc"
check "a CMS from an untrusted CA: valid false, not trusted" test \
    "$(jget "(j['valid'], 'not trusted' in j['reason'], 'Rogue CA' in j['signer']['issuer'])")" = "(False, True, True)"
as_cert "$INST/pki/partner.pem" "$INST/pki/partner.key"
verify_cms "$TMP/doc-t1-rsa.p7s" "$TMP/doc"
check "a partner (no tenant) may verify" test "$STATUS $(jget "j['valid']")" = "200 True"
as_tenant1
head -c 300 /dev/urandom >"$TMP/garbage"
verify_cms "$TMP/garbage" "$TMP/doc"
expect_error "garbage as the signature is 400" 400 invalid_cms
openssl cms -sign -binary -nodetach -in "$TMP/doc" -signer "$INST/pki/client1.pem" -inkey "$INST/pki/client1.key" \
    -outform DER -out "$TMP/attached.p7s" 2>/dev/null
verify_cms "$TMP/attached.p7s" "$TMP/doc"
expect_error "a CMS with embedded content is 400 (send a detached one)" 400 invalid_cms
verify_cms "$TMP/r1.tsr" "$TMP/doc"
expect_error "a TimeStampResp is not a CMS: 400" 400 invalid_cms
post_json /v1/verify/cms 'not json'
expect_error "a body that is not JSON is 400" 400 invalid_json
post_json /v1/verify/cms '{"signature":"'"$(base64 -w0 "$TMP/doc-t1-ec.p7s")"'"}'
expect_error "without content: 400" 400 invalid_request
post_json /v1/verify/cms '{"signature":"%%%","content":""}'
expect_error "signature that is not base64: 400" 400 invalid_base64
api POST /v1/verify/cms -H 'content-type: application/pkcs7-signature' --data-binary "@$TMP/doc-t1-ec.p7s"
expect_error "a bare DER body is 415 (the request is JSON)" 415 unsupported_media_type
as_nobody
verify_cms "$TMP/doc-t1-ec.p7s" "$TMP/doc"
expect_error "verify without a client certificate: 401" 401 client_certificate_required
