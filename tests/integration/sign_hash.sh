#!/usr/bin/env bash
# Signs hashes with every key type through a running appliance and verifies each signature
# with the openssl command line against the key's certificate.
. "$(dirname "$0")/lib.sh"
start_instance "$TMP/cn"
as_tenant1
INST=$TMP/cn

api GET /healthz
expect_status "healthz answers" 200
api GET /readyz
expect_status "readyz: keyholder, HSM and storage ready" 200
check "readyz reports hsm true" test "$(jget "j['checks']['hsm']")" = True

api GET /v1/keys
expect_status "tenant 1 lists its keys" 200
check "tenant 1 sees t1-ec, t1-rsa, t1-ed, t1-sm2 only" \
    test "$(jget "','.join(sorted(k['id'] for k in j['keys']))")" = "t1-ec,t1-ed,t1-rsa,t1-sm2"
api GET /v1/keys/t1-ec
expect_status "key detail" 200
check "key detail has the certificate chain (leaf, issuing CA, root)" test "$(jget "len(j['chain'])")" = 3
check "certNo is the certificate serial in lowercase hex" test "$(jget "j['certNo']")" = \
    "$(openssl x509 -in "$INST/keys/t1-ec.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')"

# sign_verify KEY ALG OPENSSL-VERIFY-ARGS...: sign two messages, verify both
sign_verify() {
    local key=$1 alg=$2 dg=$3
    shift 3
    local h1 h2
    h1=$(printf 'message one' | openssl dgst -"$dg" -binary | base64 -w0)
    h2=$(printf 'message two' | openssl dgst -"$dg" -binary | base64 -w0)
    post_json /v1/sign/hash "{\"key\":\"$key\",\"alg\":\"$alg\",\"hashes\":[\"$h1\",\"$h2\"]}"
    expect_status "sign/hash $key $alg" 200 || return
    openssl x509 -in "$INST/keys/$key.pem" -pubkey -noout >"$TMP/pub.pem"
    local i=0 msg
    for msg in 'message one' 'message two'; do
        jget "j['signatures'][$i]" | base64 -d >"$TMP/sig.bin"
        printf '%s' "$msg" >"$TMP/msg"
        if [ "$key" = t1-ed ]; then
            openssl dgst -"$dg" -binary "$TMP/msg" >"$TMP/dg"
            check "openssl verifies $key $alg signature $i" \
                openssl pkeyutl -verify -pubin -inkey "$TMP/pub.pem" -rawin -in "$TMP/dg" -sigfile "$TMP/sig.bin"
        else
            check "openssl verifies $key $alg signature $i" \
                openssl dgst -"$dg" "$@" -verify "$TMP/pub.pem" -signature "$TMP/sig.bin" "$TMP/msg"
        fi
        i=$((i + 1))
    done
}
sign_verify t1-ec ecdsa-sha256 sha256
sign_verify t1-ec ecdsa-sha384 sha384
sign_verify t1-rsa rsa-pkcs1-sha256 sha256
sign_verify t1-rsa rsa-pkcs1-sha512 sha512
sign_verify t1-rsa rsa-pss-sha256 sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32
sign_verify t1-rsa rsa-pss-sha384 sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48
sign_verify t1-ed ed25519 sha256
sign_verify t1-ed ed25519 sha512

# raw ECDSA format: 64 bytes r||s
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"hashes\":[\"$(b64_sha256 x)\"],\"format\":\"raw\"}"
expect_status "ECDSA raw format" 200
check "raw ECDSA signature is 64 bytes" test "$(jget "len(__import__('base64').b64decode(j['signatures'][0]))")" = 64

# a batch of 1000 (the limit)
python3 -c "
import json,base64,hashlib
print(json.dumps({'key':'t1-ec','alg':'ecdsa-sha256','hashes':[base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode() for i in range(1000)]}))" >"$TMP/batch.json"
post_json /v1/sign/hash "@$TMP/batch.json"
expect_status "a batch of 1000 hashes" 200
check "1000 signatures returned" test "$(jget "len(j['signatures'])")" = 1000
jget "j['signatures'][999]" | base64 -d >"$TMP/sig.bin"
printf 999 >"$TMP/msg"
openssl x509 -in "$INST/keys/t1-ec.pem" -pubkey -noout >"$TMP/pub.pem"
check "the 1000th signature verifies" openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/sig.bin" "$TMP/msg"

# CMS over a document, checked with openssl cms -verify against the instance root
printf 'CEB311 order, 2026-11-28\n' >"$TMP/doc"
for key in t1-ec t1-rsa; do
    api POST "/v1/sign/cms?key=$key" --data-binary "@$TMP/doc"
    expect_status "sign/cms with $key" 200
    cp "$TMP/body" "$TMP/doc.p7s"
    check "content type is application/pkcs7-signature" grep -qi '^content-type: application/pkcs7-signature' "$TMP/headers"
    check "openssl cms -verify accepts the $key CMS signature with its chain" \
        openssl cms -verify -binary -inform DER -in "$TMP/doc.p7s" -content "$TMP/doc" \
        -CAfile "$CA_FILE" -purpose any -out /dev/null
    check "the CMS signature is CAdES (signing-certificate-v2 attribute)" \
        sh -c "openssl cms -cmsout -print -inform DER -in '$TMP/doc.p7s' | grep -q 'id-smime-aa-signingCertificateV2'"
    printf 'CEB311 order, 2026-11-29\n' >"$TMP/doc2"
    check "the $key CMS signature fails for a changed document" \
        sh -c "! openssl cms -verify -binary -inform DER -in '$TMP/doc.p7s' -content '$TMP/doc2' -CAfile '$CA_FILE' -purpose any -out /dev/null 2>/dev/null"
done

# audit: one record per signature, written by the keyholder
n=$(sqlite3 "$INST/state/audit.db" "select count(*) from audit")
check "audit has a record per signature ($n)" test "$n" -eq $((8 * 2 + 1 + 1000 + 2))
check "audit record holds tenant, key, algorithm and digest" \
    test "$(sqlite3 "$INST/state/audit.db" "select tenant||' '||key||' '||alg||' '||hex(digest) from audit where seq=0")" = \
    "platform-a t1-ec ecdsa-sha256 $(printf 'message one' | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"

api GET /metrics
expect_status "metrics" 200
check "metrics count signatures" grep -q '^portseal_signatures_total 1019' "$TMP/body"
check "metrics count signatures by tenant, key and algorithm" \
    grep -q '^portseal_signatures_by_key_total{tenant="platform-a",key="t1-ec",alg="ecdsa-sha256"} [1-9]' "$TMP/body"
check "and the per-key counts add up to the total" \
    test "$(awk '/^portseal_signatures_by_key_total/ { n += $2 } END { print n }' "$TMP/body")" = 1019

# The demo's single signer thread opens the module without its own locking (hsm/p11.h:
# serialize): signing under load while the main thread answers status (/metrics, /readyz) and
# the committer signs checkpoints and writes the ledger head in the token, all at once.
python3 -c "
import json,base64,hashlib
print(json.dumps({'key':'t1-ec','hashes':[base64.b64encode(hashlib.sha256(b'c%d' % i).digest()).decode() for i in range(100)]}))" >"$TMP/batch100.json"
"$REPO/$BUILD/bench/h2sign-load" --url "$URL/v1/sign/hash" --cacert "$CA_FILE" --cert "$CLIENT_CERT" \
    --key "$CLIENT_KEY" -c 2 -m 4 -d 4 --data-file "$TMP/batch100.json" >"$TMP/load.out" 2>&1 &
LOAD=$!
busy_ok=0 busy_n=0
while kill -0 "$LOAD" 2>/dev/null; do
    for path in /metrics /readyz; do
        api GET $path
        busy_n=$((busy_n + 1))
        [ "$STATUS" = 200 ] && busy_ok=$((busy_ok + 1))
    done
    api POST /v1/ledger/checkpoint
    busy_n=$((busy_n + 1))
    [ "$STATUS" = 200 ] && busy_ok=$((busy_ok + 1))
done
wait "$LOAD"
check "signing under load while status and checkpoints use the token: no failed request" \
    grep -q ' failed=0 ' "$TMP/load.out"
check "and some were made" grep -Eq ' ok=[1-9]' "$TMP/load.out"
check "status and checkpoint requests meanwhile all answered 200 ($busy_ok of $busy_n)" \
    test "$busy_ok" -eq "$busy_n" -a "$busy_n" -ge 3
api GET /metrics
check "no HSM errors" grep -q '^portseal_hsm_errors_total 0$' "$TMP/body"
check "the ledger with those checkpoints verifies from leaf 0" "$KEYTOOL" ledger-verify \
    "$INST/state/audit.db"
