#!/usr/bin/env bash
# The ledger: every signature becomes a leaf; checkpoints are C2SP signed notes by the HSM's
# Ed25519 key (checked with openssl); inclusion and consistency proofs are checked by an
# independent implementation (ledger_check.py); bad queries get 400; and after kill -9 of the
# whole daemon during heavy signing, every acknowledged signature is in the audit table and
# the ledger, the ledger verifies from leaf 0, and the new checkpoints are consistent with
# every checkpoint published before the crash.
. "$(dirname "$0")/lib.sh"
CHECK=$REPO/tests/integration/ledger_check.py

start_instance "$TMP/cn"
INST=$TMP/cn
DB=$INST/state/audit.db
ORIGIN=portseal.cn/ledger
as_tenant1

# the ledger key's raw Ed25519 public key, from its certificate
openssl x509 -in "$INST/keys/ledger-ed-chain.pem" -pubkey -noout >"$TMP/ledger-pub.pem"
PUBHEX=$(openssl pkey -pubin -in "$TMP/ledger-pub.pem" -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')

# note FILE: check a checkpoint note (key ID, origin, Ed25519 signature by openssl); prints SIZE
note_ok() {
    local out
    out=$(python3 "$CHECK" note "$1" "$PUBHEX" "$ORIGIN") || return 1
    openssl pkeyutl -verify -pubin -inkey "$TMP/ledger-pub.pem" -rawin -in "$1.text" \
        -sigfile "$1.sig" >/dev/null 2>&1 || { echo "openssl: signature does not verify" >&2; return 1; }
    echo "${out%% *}"
}

# ---- the first checkpoint exists at start
api GET /v1/ledger/checkpoint
expect_status "GET /v1/ledger/checkpoint" 200
cp "$TMP/body" "$TMP/cp0"
check "it is text/plain" grep -qi '^content-type: text/plain' "$TMP/headers"
size0=$(note_ok "$TMP/cp0")
check "checkpoint 0 is a C2SP note signed by the ledger key (openssl verifies it; size $size0)" test -n "$size0"
check "its root is the root of its leaves, recomputed from the database" \
    test "$(python3 "$CHECK" root "$DB" "$size0")" = "$(sed -n 3p "$TMP/cp0")"

# ---- signatures become leaves
H=$(b64_sha256 ledger-test)
post_json /v1/sign/hash "{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha256\",\"hashes\":[\"$H\",\"$H\",\"$H\"]}"
expect_status "sign 3 hashes" 200
seq=$(jget "j['audit_seq']")
leaf=$((seq + 2)) # audit_seq is the first signature's leaf index; the third one
python3 "$CHECK" leaf "$DB" "$leaf" "$TMP/leaf.txt"
check "the third signature's leaf names its index, tenant, key, algorithm and digest" \
    grep -qE "^signature $leaf [0-9]{13} platform-a t1-ec ecdsa-sha256 $(printf ledger-test | sha256sum | cut -c1-64)\$" "$TMP/leaf.txt"
api POST /v1/ledger/checkpoint
expect_status "POST /v1/ledger/checkpoint issues one now" 200
cp "$TMP/body" "$TMP/cp1"
size1=$(note_ok "$TMP/cp1")
check "the new checkpoint verifies and covers the new leaves ($size1 > $leaf)" test "$size1" -gt "$leaf"
api GET "/v1/ledger/proof/inclusion?index=$leaf&size=$size1"
expect_status "inclusion proof" 200
cp "$TMP/body" "$TMP/incl.json"
check "the inclusion proof leads to the checkpoint's root (independent verifier)" \
    python3 "$CHECK" inclusion "$TMP/leaf.txt" "$TMP/incl.json" "$TMP/cp1"
api GET "/v1/ledger/proof/inclusion?index=$leaf"
expect_status "inclusion proof to the latest checkpoint (no size=)" 200
check "it is for the latest checkpoint's size" test "$(jget "j['size']")" = "$size1"
api GET "/v1/ledger/proof/consistency?old=$size0&new=$size1"
expect_status "consistency proof" 200
cp "$TMP/body" "$TMP/cons.json"
check "checkpoint 0 -> checkpoint 1 is consistent (independent verifier)" \
    python3 "$CHECK" consistency "$TMP/cp0" "$TMP/cp1" "$TMP/cons.json"
sed 's/ platform-a / platform-b /' "$TMP/leaf.txt" >"$TMP/leaf-forged.txt"
check "and that verifier refuses the proof for a changed leaf (it can fail)" \
    not python3 "$CHECK" inclusion "$TMP/leaf-forged.txt" "$TMP/incl.json" "$TMP/cp1"
as_tenant2
api GET /v1/ledger/checkpoint
expect_status "another tenant reads the same checkpoint" 200
check "byte for byte" cmp -s "$TMP/body" "$TMP/cp1"
as_tenant1

# ---- bad queries
api GET "/v1/ledger/proof/inclusion"
expect_error "inclusion without index=" 400 invalid_request
api GET "/v1/ledger/proof/inclusion?index=abc"
expect_error "inclusion with index=abc" 400 invalid_request
api GET "/v1/ledger/proof/inclusion?index=-1&size=3"
expect_error "inclusion with index=-1" 400 invalid_request
api GET "/v1/ledger/proof/inclusion?index=3&size=3"
expect_error "inclusion with index = size" 400 invalid_request
api GET "/v1/ledger/proof/inclusion?index=0&size=99999999"
expect_error "inclusion to a size beyond the log" 400 invalid_request
api GET "/v1/ledger/proof/consistency?old=5&new=2"
expect_error "consistency with old > new" 400 invalid_request
api GET "/v1/ledger/proof/consistency?old=1"
expect_error "consistency without new=" 400 invalid_request
api DELETE /v1/ledger/checkpoint
expect_error "DELETE /v1/ledger/checkpoint" 405 method_not_allowed
as_nobody
api GET /v1/ledger/checkpoint
expect_error "no client certificate" 401 client_certificate_required
as_tenant1

# ---- kill -9 of the whole daemon during heavy signing
# each loop signs batches of 20 and logs "seq count" for every acknowledged batch
HASHES20=$(python3 -c 'import sys; print(",".join(["\"%s\"" % sys.argv[1]] * 20))' "$H")
sign_loop() {
    local i=0 body
    while [ ! -e "$TMP/stop" ]; do
        body=$(curl -sS --http2 --cacert "$CA_FILE" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
            -H 'content-type: application/json' --max-time 5 \
            --data-binary "{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha256\",\"hashes\":[$HASHES20]}" \
            "$URL/v1/sign/hash" 2>/dev/null) || continue
        python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["audit_seq"], len(j["signatures"]))' "$body" 2>/dev/null >>"$TMP/acked.$1"
        i=$((i + 1))
    done
}
api POST /v1/ledger/checkpoint
cp "$TMP/body" "$TMP/cp2"
pre_crash=("$TMP/cp0" "$TMP/cp1" "$TMP/cp2")
for l in 1 2 3; do sign_loop "$l" & done
sleep 2
# checkpoints published while the load runs (the interval timer and on demand)
for k in 3 4; do
    api POST /v1/ledger/checkpoint
    [ "$STATUS" = 200 ] && cp "$TMP/body" "$TMP/cp$k" && pre_crash+=("$TMP/cp$k")
    sleep 0.5
done
# the parent and its children (keyholder, workers)
pids="$PID $(pgrep -P "$PID" | tr '\n' ' ')"
kill -9 $pids
touch "$TMP/stop"
wait
acked=$(cat "$TMP"/acked.* | awk '{n += $2} END {print n + 0}')
echo "# acknowledged before kill -9: $acked signatures in $(cat "$TMP"/acked.* | wc -l) batches"
check "the load was acknowledged before the crash ($acked signatures)" test "$acked" -gt 0
gone() { for p in $pids; do ! kill -0 "$p" 2>/dev/null || return 1; done; }
check "every portseald process is gone ($pids)" wait_until 5 gone

start_instance "$INST"
check "the appliance restarts on its state" test -n "$URL"
missing=$(cat "$TMP"/acked.* | while read -r s n; do
    got=$(sqlite3 "$DB" "select count(*) from audit where seq >= $s and seq < $s + $n" </dev/null)
    [ "$got" = "$n" ] || echo "$s"
done | wc -l)
check "every acknowledged signature is in the audit table, at its leaf index ($missing batches missing)" test "$missing" = 0
check "the ledger verifies from leaf 0 (portseal-keytool ledger-verify)" "$KEYTOOL" ledger-verify "$DB"
api POST /v1/ledger/checkpoint
expect_status "a checkpoint after the restart" 200
cp "$TMP/body" "$TMP/cp-after"
size_after=$(note_ok "$TMP/cp-after")
check "it verifies (size $size_after)" test -n "$size_after"
bad=0
for c in "${pre_crash[@]}"; do
    s=$(sed -n 2p "$c")
    api GET "/v1/ledger/proof/consistency?old=$s&new=$size_after"
    cp "$TMP/body" "$TMP/cons-after.json"
    python3 "$CHECK" consistency "$c" "$TMP/cp-after" "$TMP/cons-after.json" || bad=$((bad + 1))
done
check "every checkpoint published before the crash (${#pre_crash[@]}) is consistent with the new one" test "$bad" = 0
n_cp=$(sqlite3 "$DB" "select count(*) from ledger_checkpoints")
check "every stored checkpoint ($n_cp) matches the leaves" "$KEYTOOL" ledger-verify "$DB"
