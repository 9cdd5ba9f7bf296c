#!/usr/bin/env bash
# Bad requests to /v1/sign/hash and /v1/sign/cms: each gets its 4xx status and error code,
# none of them signs anything (the audit table does not grow), no worker dies, and the
# server then still serves good requests.
. "$(dirname "$0")/lib.sh"
start_instance "$TMP/cn"
as_tenant1
INST=$TMP/cn

H=$(b64_sha256 'bad input')
workers_before=$(pgrep -P "$PID" | sort | tr '\n' ' ')
audit0=$(audit_count "$INST")
check "audit table readable ($audit0 records)" test -n "$audit0"

# sign_err DESC STATUS CODE JSON: POST JSON to /v1/sign/hash, expect an error
sign_err() { post_json /v1/sign/hash "$4"; expect_error "sign/hash: $1" "$2" "$3"; }

# ---- malformed or mistyped JSON
sign_err "malformed JSON" 400 invalid_json '{"key":'
sign_err "empty body" 400 invalid_json ''
sign_err "JSON array instead of an object" 400 invalid_json "[\"$H\"]"
sign_err "JSON string instead of an object" 400 invalid_json '"t1-ec"'
sign_err "trailing garbage after the object" 400 invalid_json "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]} x"
sign_err "two objects" 400 invalid_json "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}{}"
sign_err "duplicate JSON key (key given twice)" 400 invalid_json \
    "{\"key\":\"t1-ec\",\"key\":\"t1-rsa\",\"hashes\":[\"$H\"]}"
sign_err "duplicate JSON key (hashes given twice)" 400 invalid_json \
    "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"],\"hashes\":[\"$H\"]}"
printf '{"key":"t1-\xff\xfe","hashes":["%s"]}' "$H" >"$TMP/badutf8.json"
post_json /v1/sign/hash "@$TMP/badutf8.json"
expect_error "sign/hash: invalid UTF-8 in a string" 400 invalid_json
python3 -c "print('[' * 100000 + ']' * 100000)" >"$TMP/deep.json"
post_json /v1/sign/hash "@$TMP/deep.json"
expect_error "sign/hash: 100000 nested arrays" 400 invalid_json

# ---- missing or mistyped members
sign_err "missing key" 400 invalid_request "{\"hashes\":[\"$H\"]}"
sign_err "missing hashes" 400 invalid_request '{"key":"t1-ec"}'
sign_err "empty object" 400 invalid_request '{}'
sign_err "key is a number" 400 invalid_request "{\"key\":1,\"hashes\":[\"$H\"]}"
sign_err "alg is a number" 400 invalid_request "{\"key\":\"t1-ec\",\"alg\":256,\"hashes\":[\"$H\"]}"
sign_err "hashes is a string, not an array" 400 invalid_request "{\"key\":\"t1-ec\",\"hashes\":\"$H\"}"
sign_err "hashes is an object" 400 invalid_request "{\"key\":\"t1-ec\",\"hashes\":{\"a\":\"$H\"}}"
sign_err "hashes is an empty array" 400 invalid_request '{"key":"t1-ec","hashes":[]}'
sign_err "a hash is a number" 400 invalid_request "{\"key\":\"t1-ec\",\"hashes\":[\"$H\",7]}"
sign_err "a hash is null" 400 invalid_request '{"key":"t1-ec","hashes":[null]}'

# ---- hashes that are not base64, or of the wrong length
sign_err "hash is not base64" 400 invalid_base64 '{"key":"t1-ec","hashes":["!!!not base64!!!"]}'
sign_err "hash in URL-safe base64" 400 invalid_base64 \
    "{\"key\":\"t1-ec\",\"hashes\":[\"$(printf '%s' "$H" | tr '+/' '-_' | sed 's/^./-/')\"]}"
sign_err "hash without its base64 padding" 400 invalid_base64 \
    "{\"key\":\"t1-ec\",\"hashes\":[\"${H%=}\"]}"
sign_err "hash with a newline inside" 400 invalid_base64 \
    "{\"key\":\"t1-ec\",\"hashes\":[\"${H:0:20}\\n${H:20}\"]}"
sign_err "second hash not base64 (first one fine)" 400 invalid_base64 \
    "{\"key\":\"t1-ec\",\"hashes\":[\"$H\",\"%%%%\"]}"
# libsodium 1.0.18 decoded bytes >= 0x80 as digits: this one used to be signed as garbage
sign_err "non-ASCII characters inside a hash" 400 invalid_base64 \
    "{\"key\":\"t1-ec\",\"hashes\":[\"${H:0:20}\u00e9${H:21}\"]}"
sign_err "raw UTF-8 inside a hash, same length" 400 invalid_base64 \
    "{\"key\":\"t1-ec\",\"hashes\":[\"${H:0:20}é${H:22}\"]}"
sign_err "20-byte hash for ecdsa-sha256" 400 bad_hash_length \
    "{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha256\",\"hashes\":[\"$(b64_rand 20)\"]}"
sign_err "32-byte hash for ecdsa-sha384" 400 bad_hash_length \
    "{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha384\",\"hashes\":[\"$H\"]}"
sign_err "32-byte hash for rsa-pkcs1-sha512" 400 bad_hash_length \
    "{\"key\":\"t1-rsa\",\"alg\":\"rsa-pkcs1-sha512\",\"hashes\":[\"$H\"]}"
sign_err "48-byte hash for ed25519" 400 bad_hash_length \
    "{\"key\":\"t1-ed\",\"alg\":\"ed25519\",\"hashes\":[\"$(b64_rand 48)\"]}"
sign_err "empty hash" 400 bad_hash_length '{"key":"t1-ec","hashes":[""]}'
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$(b64_rand 96)\"]}"
check "sign/hash: 96-byte hash is refused with 400 ($(jget "j['error']['code']"))" \
    test "$STATUS" = 400 -a "$(jget "j['error']['code'] in ('bad_hash_length','invalid_base64')")" = True
# a batch of 1000 where only the last hash is bad: nothing of it may be signed
python3 -c "
import json,base64,hashlib
h=[base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode() for i in range(999)]
h.append(base64.b64encode(b'x'*31).decode())
print(json.dumps({'key':'t1-ec','alg':'ecdsa-sha256','hashes':h}))" >"$TMP/lastbad.json"
post_json /v1/sign/hash "@$TMP/lastbad.json"
expect_error "sign/hash: batch of 1000 whose last hash is 31 bytes" 400 bad_hash_length
check "the error names hashes[999]" sh -c "grep -q 'hashes\[999\]' '$TMP/body'"

# ---- keys and algorithms
sign_err "unknown key" 404 key_not_found "{\"key\":\"no-such-key\",\"hashes\":[\"$H\"]}"
sign_err "empty key id" 404 key_not_found "{\"key\":\"\",\"hashes\":[\"$H\"]}"
sign_err "500-character key id" 404 key_not_found \
    "{\"key\":\"$(printf 'k%.0s' $(seq 500))\",\"hashes\":[\"$H\"]}"
sign_err "unknown algorithm" 400 unsupported_algorithm \
    "{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha999\",\"hashes\":[\"$H\"]}"
sign_err "rsa-pss-sha256 on the EC key t1-ec" 400 unsupported_algorithm \
    "{\"key\":\"t1-ec\",\"alg\":\"rsa-pss-sha256\",\"hashes\":[\"$H\"]}"
sign_err "ecdsa-sha256 on the RSA key t1-rsa" 400 unsupported_algorithm \
    "{\"key\":\"t1-rsa\",\"alg\":\"ecdsa-sha256\",\"hashes\":[\"$H\"]}"
sign_err "rsa-pkcs1-sha256 on the Ed25519 key t1-ed" 400 unsupported_algorithm \
    "{\"key\":\"t1-ed\",\"alg\":\"rsa-pkcs1-sha256\",\"hashes\":[\"$H\"]}"
sign_err "rsa-pkcs1-sha1 on t1-rsa (not allowed by default)" 403 algorithm_not_allowed \
    "{\"key\":\"t1-rsa\",\"alg\":\"rsa-pkcs1-sha1\",\"hashes\":[\"$(b64_rand 20)\"]}"
sign_err "format \"xyz\"" 400 invalid_request "{\"key\":\"t1-ec\",\"format\":\"xyz\",\"hashes\":[\"$H\"]}"
sign_err "format is a number" 400 invalid_request "{\"key\":\"t1-ec\",\"format\":1,\"hashes\":[\"$H\"]}"

# ---- sizes
python3 -c "
import json,base64,hashlib
print(json.dumps({'key':'t1-ec','alg':'ecdsa-sha256','hashes':[base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode() for i in range(1001)]}))" >"$TMP/b1001.json"
post_json /v1/sign/hash "@$TMP/b1001.json"
expect_error "sign/hash: batch of 1001" 413 batch_too_large
# valid JSON, padded with blanks to max_body + 1 bytes
python3 -c "
import sys
s='{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}'
sys.stdout.write(s + ' ' * (1048577 - len(s)))" >"$TMP/over.json"
post_json /v1/sign/hash "@$TMP/over.json"
expect_error "sign/hash: body of 1 MiB + 1 byte" 413 payload_too_large
head -c 8000000 /dev/zero | tr '\0' ' ' >"$TMP/8m.json"
post_json /v1/sign/hash "@$TMP/8m.json" --max-time 20
expect_error "sign/hash: body of 8 MB" 413 payload_too_large

# ---- HTTP level
api POST /v1/sign/hash -H 'content-type: text/plain' --data-binary "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "sign/hash: content-type text/plain" 415 unsupported_media_type
api POST /v1/sign/hash -H 'content-type: application/xml' --data-binary "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "sign/hash: content-type application/xml" 415 unsupported_media_type
api GET /v1/sign/hash
expect_error "GET /v1/sign/hash" 405 method_not_allowed
api DELETE /v1/sign/hash
expect_error "DELETE /v1/sign/hash" 405 method_not_allowed
api PUT /v1/sign/hash -H 'content-type: application/json' --data-binary "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "PUT /v1/sign/hash with a JSON body" 405 method_not_allowed
api GET /v1/sign/cms
expect_error "GET /v1/sign/cms" 405 method_not_allowed
api PUT "/v1/sign/cms?key=t1-ec" --data-binary 'a document'
expect_error "PUT /v1/sign/cms with a body" 405 method_not_allowed
api GET /v1/sign/nope
expect_error "unknown path /v1/sign/nope" 404 not_found
post_json /v1/sign/nope "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "POST with a body to an unknown path" 404 not_found
post_json /v1/sign/hash/extra "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_error "POST /v1/sign/hash/extra" 404 not_found
api GET /v2/keys
expect_error "unknown path /v2/keys" 404 not_found

# ---- /v1/sign/cms
printf 'a document to sign\n' >"$TMP/doc"
api POST /v1/sign/cms --data-binary "@$TMP/doc"
expect_error "sign/cms without key=" 400 invalid_request
api POST "/v1/sign/cms?profile=x" --data-binary "@$TMP/doc"
expect_error "sign/cms with other parameters but no key=" 400 invalid_request
api POST "/v1/sign/cms?key=t1-ed" --data-binary "@$TMP/doc"
expect_error "sign/cms with the Ed25519 key t1-ed" 400 unsupported_algorithm
api POST "/v1/sign/cms?key=no-such-key" --data-binary "@$TMP/doc"
expect_error "sign/cms with an unknown key" 404 key_not_found
api POST "/v1/sign/cms?key=t1-ec%00" --data-binary "@$TMP/doc"
check "sign/cms with a NUL in key= is refused (status $STATUS)" test "$STATUS" = 400 -o "$STATUS" = 404
api POST "/v1/sign/cms?key=t1-ec" --data-binary "@$TMP/over.json"
expect_error "sign/cms: body of 1 MiB + 1 byte" 413 payload_too_large

# ---- over-long request fields: a 4xx JSON error, not a stream reset without an answer
# expect_4xx DESC: the last request got some 4xx with a JSON error code and x-request-id
expect_4xx() {
    case $STATUS in
    4??) ;;
    *) nok "$1: status $STATUS, want a 4xx error ($(tail -n 1 "$TMP/curl.err" 2>/dev/null))"; return 1 ;;
    esac
    expect_error "$1" "$STATUS" "$(jget "j['error']['code']")"
}
long() { printf "$1%.0s" $(seq "$2"); }
api GET "/v1/keys/$(long k 600)"
expect_4xx "GET /v1/keys/ with a 600-character key id"
post_json "/v1/sign/hash/$(long p 600)" "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_4xx "POST to a 600-character path"
api POST "/v1/sign/cms?key=t1-ec&pad=$(long q 1100)" --data-binary "@$TMP/doc"
expect_4xx "sign/cms with a 1100-character query"
api POST /v1/sign/hash -H "content-type: application/json; x=$(long x 200)" \
    --data-binary "{\"key\":\"no-such-key\",\"hashes\":[\"$H\"]}"
expect_4xx "sign/hash with a 220-character content-type"

# ---- nothing was signed, no worker died
check "no audit record for any rejected request (had $audit0, now $(audit_count "$INST"))" \
    test "$(audit_count "$INST")" = "$audit0"
check "no worker or keyholder was restarted" test "$(pgrep -P "$PID" | sort | tr '\n' ' ')" = "$workers_before"
check "the log reports no crash" sh -c "! grep -E 'killed by signal|exited with status|restarting' '$LOG'"

# ---- and good requests still work
api GET /healthz
expect_status "healthz after the bad requests" 200
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_status "a good sign/hash request after the bad ones" 200
jget "j['signatures'][0]" | base64 -d >"$TMP/sig.bin"
printf '%s' 'bad input' >"$TMP/msg"
openssl x509 -in "$INST/keys/t1-ec.pem" -pubkey -noout >"$TMP/pub.pem"
check "its signature verifies" openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/sig.bin" "$TMP/msg"
check "exactly one audit record added by it" test "$(audit_count "$INST")" = $((audit0 + 1))
# the largest body allowed (exactly max_body) is accepted
python3 -c "
import sys
s='{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}'
sys.stdout.write(s + ' ' * (1048576 - len(s)))" >"$TMP/exact.json"
post_json /v1/sign/hash "@$TMP/exact.json"
expect_status "sign/hash: body of exactly 1 MiB is accepted" 200
api POST /v1/sign/hash -H 'content-type: application/json; charset=utf-8' \
    --data-binary "{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
expect_status "sign/hash: content-type application/json; charset=utf-8 is accepted" 200
api POST "/v1/sign/cms?key=t1-ec" --data-binary "@$TMP/doc"
expect_status "a good sign/cms request after the bad ones" 200
check "audit grew by exactly the 4 good signatures" test "$(audit_count "$INST")" = $((audit0 + 4))
