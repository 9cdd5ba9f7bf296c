#!/usr/bin/env bash
# Point-to-point batches: POST /v1/p2p/inbound/batch takes several envelopes in one request and
# answers one result per envelope, in order, each what /v1/p2p/inbound would have answered for
# it alone. The test plays sz's courier (as p2p.sh does): good envelopes next to refused ones,
# the same batch again, twins and conflicts inside one batch, a wrong sender, bad requests; each
# receipt checked with openssl, the ledger leaves in batch order. Then a courier whose partner
# refuses batches (route_limit) falls back to one message per request and still delivers all,
# in order.
. "$(dirname "$0")/lib.sh"
J="python3 $REPO/tests/integration/p2p_jws.py"

start_instance "$TMP/sz" --name sz
SZ_URL=$URL SZ_CA=$CA_FILE SZ_OFFICER_CERT=$OFFICER_CERT SZ_OFFICER_KEY=$OFFICER_KEY
start_instance "$TMP/hk" --name hk --partner "sz=$TMP/sz"
HK_URL=$URL HK_CA=$CA_FILE HK_OFFICER_CERT=$OFFICER_CERT HK_OFFICER_KEY=$OFFICER_KEY

mkdir -p "$TMP/k"
check "an envelope key certified by sz's CA" mkkey sz "$TMP/sz/pki" p2p.sz.portseal.test
NOTE='{"subject":"shift change","text":"Lane 3 closes at 22:00."}'
# mk NAME FROM TO ID SEQ TYPE BODY: $TMP/NAME.json and .jws
mk() {
    $J envelope "$2" "$3" "$4" "$5" "$6" "$7" 3600 0 >"$TMP/$1.json" &&
        $J sign "$TMP/k/sz.key" "$TMP/k/sz-chain.pem" "$TMP/$1.json" >"$TMP/$1.jws"
}
# batch NAME...: {"envelopes": [the JWS of each NAME]} into $TMP/batch.json
batch() {
    python3 - "$TMP" "$@" >"$TMP/batch.json" <<'PY'
import json, sys
print(json.dumps({"envelopes": [open("%s/%s.jws" % (sys.argv[1], n)).read().strip()
                                for n in sys.argv[2:]]}))
PY
}
URL=$HK_URL CA_FILE=$HK_CA
as_sz() { as_cert "$TMP/sz/pki/partner.pem" "$TMP/sz/pki/partner.key"; }
post_batch() { api POST /v1/p2p/inbound/batch -H 'content-type: application/json' --data-binary "@$TMP/batch.json"; }
# results: "status[:code]" of each result, space-separated
results() { jget "' '.join(str(x['status']) + (':' + x['error']['code'] if 'error' in x else '') for x in j['results'])"; }
inbox() { sqlite3 "$TMP/hk/state/p2p/p2p.db" "select group_concat(id, ' ') from (select id from inbox where peer = 'sz' order by seq)"; }
# receipt K OUT: the K-th receipt of the last answer into OUT.jws, split into OUT/
receipt() {
    jget "j['results'][$1]['receipt']" >"$TMP/$2.jws" && mkdir -p "$TMP/$2" && $J split "$TMP/$2.jws" "$TMP/$2"
}
receipt_ok() { # NAME ENVELOPE: the receipt in NAME/ verifies under hk's root and is for ENVELOPE
    openssl verify -CAfile "$TMP/hk/pki/root.pem" -untrusted "$TMP/$1/chain.pem" "$TMP/$1/leaf.pem" >/dev/null &&
        openssl x509 -in "$TMP/$1/leaf.pem" -pubkey -noout >"$TMP/$1/pub.pem" &&
        openssl dgst -sha256 -verify "$TMP/$1/pub.pem" -signature "$TMP/$1/sig.der" "$TMP/$1/signing_input" >/dev/null &&
        python3 -c "
import hashlib, json, sys
r = json.load(open('$TMP/$1/payload'))
e = json.load(open('$TMP/$2.json'))
sys.exit(not (r['message_id'] == e['id'] and r['digest'] == hashlib.sha256(open('$TMP/$2.json', 'rb').read()).hexdigest()))"
}
lidx() { python3 -c "import json; print(json.load(open('$TMP/$1/payload'))['ledger_index'])"; }

# --- good, tampered, good: each answered on its own ---------------------------------------------
mk b1 sz hk sz-b1 1 note "$NOTE"
mk b2 sz hk sz-b2 2 note "$NOTE"
$J tamper "$TMP/b2.jws" >"$TMP/b2t.jws"
mk b3 sz hk sz-b3 3 note "$NOTE"
batch b1 b2t b3
as_sz
post_batch
expect_status "a batch of three envelopes is answered" 200
check "the answer is application/json" grep -qi '^content-type: application/json' "$TMP/headers"
check "one result per envelope, in order: 200, 400 invalid_signature, 200 ($(results))" \
    test "$(results)" = "200 400:invalid_signature 200"
cp "$TMP/body" "$TMP/answer1.json"
check "the first receipt" receipt 0 r1
check "openssl: it chains to hk's root, verifies, and is for b1" receipt_ok r1 b1
check "the third receipt" receipt 2 r3
check "and it is for b3" receipt_ok r3 b3
check "their ledger leaves follow the batch order ($(lidx r1) < $(lidx r3))" test "$(lidx r1)" -lt "$(lidx r3)"
check "hk stored b1 and b3, not the tampered one" test "$(inbox)" = "sz-b1 sz-b3"
check "b3 shows the gap before it" test "$(sqlite3 "$TMP/hk/state/p2p/p2p.db" "select gap_before from inbox where id = 'sz-b3'")" = 1
check "hk logged the batch" grep -q 'p2p inbound batch from sz: 3 envelopes, 2 stored, 0 again, 1 refused' "$TMP/hk/portseald.log"
check "and the refusal with its reason" grep -q 'p2p inbound from sz refused (invalid_signature)' "$TMP/hk/portseald.log"

# --- the same batch again: the same receipts, nothing stored twice -----------------------------
post_batch
check "the same batch again: 200, 400, 200 ($(results))" test "$(results)" = "200 400:invalid_signature 200"
check "with the same receipt bytes" python3 -c "
import json, sys
a, b = json.load(open('$TMP/answer1.json')), json.load(open('$TMP/body'))
sys.exit(not (a['results'][0] == b['results'][0] and a['results'][2] == b['results'][2]))"
check "nothing new was stored" test "$(inbox)" = "sz-b1 sz-b3"
batch b2
post_batch
check "the gap filled by a late b2 alone" test "$(results)" = 200
check "hk now holds b1 b2 b3 in seq order" test "$(inbox)" = "sz-b1 sz-b2 sz-b3"

# --- inside one batch: a twin, an id conflict, a seq replay, a wrong sender ----------------------
mk b4 sz hk sz-b4 4 note "$NOTE"
mk b4x sz hk sz-b4 5 note '{"subject":"other","text":"other content"}'
mk b5 sz hk sz-b5 5 note "$NOTE"
mk b6 sz hk sz-b6 5 note "$NOTE"
mk ws sg hk sg-000001 6 note "$NOTE"
batch b4 b4 b4x b5 b6 ws
post_batch
check "twin 200, id conflict 409, new 200, seq replay 409, wrong sender 403 ($(results))" \
    test "$(results)" = "200 200 409:id_conflict 200 409:replay 403:wrong_sender"
check "the twin gets the first one's receipt" python3 -c "
import json, sys; r = json.load(open('$TMP/body'))['results']; sys.exit(r[0] != r[1])"
check "b4 stored once, b5 once, nothing else" test "$(inbox)" = "sz-b1 sz-b2 sz-b3 sz-b4 sz-b5"

# --- bad requests: 400, nothing looked at --------------------------------------------------------
bad() { # NAME BODY
    printf '%s' "$2" >"$TMP/batch.json"
    post_batch
    expect_error "$1" 400 invalid_request
}
bad "not JSON" 'envelopes'
bad "no envelopes" '{"envelopes":[]}'
bad "an envelope that is not a string" '{"envelopes":[42]}'
bad "another member besides envelopes" "{\"envelopes\":[\"$(cat "$TMP/b1.jws")\"],\"x\":1}"
bad "a duplicated member" "{\"envelopes\":[],\"envelopes\":[]}"
python3 -c "
import json; print(json.dumps({'envelopes': [open('$TMP/b1.jws').read()] * 65}))" >"$TMP/batch.json"
post_batch
expect_error "65 envelopes (at most 64)" 400 invalid_request
as_cert "$HK_OFFICER_CERT" "$HK_OFFICER_KEY"
batch b1
post_batch
expect_status "hk's own officer may not post a batch (partners only)" 403
check "nothing was stored by the bad requests" test "$(inbox)" = "sz-b1 sz-b2 sz-b3 sz-b4 sz-b5"

# --- the courier: batches, and one message per request for a partner without batches -----------
# (hk's courier sends to sz: the channel sz -> hk above was played by hand)
outbox() { # TEXT: hk's officer queues a note for sz
    as_cert "$HK_OFFICER_CERT" "$HK_OFFICER_KEY"
    api POST /v1/p2p/outbox -H 'content-type: application/json' \
        --data-binary "{\"to\":\"sz\",\"type\":\"note\",\"priority\":\"routine\",\"body\":{\"subject\":\"s\",\"text\":\"$1\"}}"
    [ "$STATUS" = 202 ] || echo "# outbox answered $STATUS: $(cat "$TMP/body")"
}
acked() { test "$(sqlite3 "$TMP/hk/state/p2p/p2p.db" "select count(*) from outbox where peer = 'sz' and status = 'acknowledged'")" = "$1"; }
texts() { sqlite3 "$TMP/sz/state/p2p/p2p.db" "select group_concat(json_extract(CAST(payload AS TEXT), '$.body.text'), ' ') from (select payload from inbox where peer = 'hk' order by seq)"; }
"$DEMO" stop "$TMP/sz" >/dev/null 2>&1
for n in 1 2 3 4 5; do outbox "c$n"; done
"$DEMO" start "$TMP/sz" >/dev/null 2>&1
check "sz is back" wait_until 10 curl -sf --cacert "$SZ_CA" "$SZ_URL/healthz" -o /dev/null
check "hk's courier delivers the five messages queued while sz was away" wait_until 60 acked 5
check "in one batch request" grep -q 'p2p inbound batch from hk: 5 envelopes, 5 stored' "$TMP/sz/portseald.log"
check "sz holds them in order" test "$(texts)" = "c1 c2 c3 c4 c5"
reloads() { grep -c 'reload: configuration read again' "$TMP/sz/portseald.log"; }
SZ_RELOADS=$(reloads)
echo 'route_limit p2p_inbound_batch body=1024' >>"$TMP/sz/portseald.conf"
kill -HUP "$(cat "$TMP/sz/portseald.pid")"
check "sz reloads with batches limited to 1 KiB (less than one envelope)" wait_until 10 sh -c \
    "test \$(grep -c 'reload: configuration read again' '$TMP/sz/portseald.log') -gt $SZ_RELOADS"
sleep 2
for n in 6 7 8; do outbox "c$n"; done
check "hk's courier still delivers all three" wait_until 60 acked 8
check "after falling back to one message per request" \
    grep -q 'p2p to sz: the partner takes no batches (413' "$TMP/hk/portseald.log"
check "sz holds all eight in order" test "$(texts)" = "c1 c2 c3 c4 c5 c6 c7 c8"
# sz is restarted without the limit (an upgrade, say): hk finds it away, and tries batches again
# when it is back, instead of one message per request until hk's own restart
away_lines() { grep -c 'p2p to sz: partner unavailable' "$TMP/hk/portseald.log"; }
AWAY=$(away_lines)
"$DEMO" stop "$TMP/sz" >/dev/null 2>&1
sed -i '/^route_limit p2p_inbound_batch /d' "$TMP/sz/portseald.conf"
for n in 9 10 11; do outbox "c$n"; done
check "(hk finds sz away)" wait_until 20 sh -c "test \$(grep -c 'p2p to sz: partner unavailable' '$TMP/hk/portseald.log') -gt $AWAY"
"$DEMO" start "$TMP/sz" >/dev/null 2>&1
check "sz is back, without the limit" wait_until 10 curl -sf --cacert "$SZ_CA" "$SZ_URL/healthz" -o /dev/null
check "hk's courier delivers the three queued meanwhile" wait_until 60 acked 11
check "in one batch request again" grep -q 'p2p inbound batch from hk: 3 envelopes, 3 stored' "$TMP/sz/portseald.log"
check "sz holds all eleven in order" test "$(texts)" = "c1 c2 c3 c4 c5 c6 c7 c8 c9 c10 c11"
