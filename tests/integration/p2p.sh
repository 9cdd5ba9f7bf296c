#!/usr/bin/env bash
# Point-to-point channel, inbound and local endpoints: two paired appliances sz and hk. The test
# plays sz's courier: it signs envelopes (ES256, x5c) with a key certified by sz's CA, posts them
# with sz's partner certificate to hk's /v1/p2p/inbound, and checks hk's signed receipts with
# openssl. Then duplicates, tampering, a wrong partner, replays, schema and time errors (each a
# 4xx naming the reason, logged, nothing stored), sequence gaps, kill -9, and the officer's
# outbox and message list.
. "$(dirname "$0")/lib.sh"
J="python3 $REPO/tests/integration/p2p_jws.py"

start_instance "$TMP/sz" --name sz
SZ_URL=$URL SZ_CA=$CA_FILE
start_instance "$TMP/hk" --name hk --partner "sz=$TMP/sz"
HK_URL=$URL HK_CA=$CA_FILE HK_OFFICER_CERT=$OFFICER_CERT HK_OFFICER_KEY=$OFFICER_KEY
HK_PID=$PID
check "the demo names the offices (p2p_name)" grep -q '^p2p_name hk$' "$TMP/hk/portseald.conf"

# sz's envelope signing key (in the appliance it is xchg-ec in sz's token)
mkdir -p "$TMP/k"
check "an envelope key certified by sz's CA" mkkey sz "$TMP/sz/pki" p2p.sz.portseal.test
check "and one certified by hk's own CA (not sz's)" mkkey other "$TMP/hk/pki" p2p.other.portseal.test

ELOCK='{"lock_id":"EL-4401-0099","truck_plate":"粤Z1234港","event":"tamper","at":"2026-11-28T09:15:00Z","location":"Lok Ma Chau"}'
NOTE='{"subject":"shift change","text":"Lane 3 closes at 22:00."}'
# mk NAME FROM TO ID SEQ TYPE BODY [EXPIRES] [CREATED_OFFSET] [KEY]: $TMP/NAME.json and .jws
mk() {
    local n=$1 key=${10:-sz}
    $J envelope "$2" "$3" "$4" "$5" "$6" "$7" "${8:-3600}" "${9:-0}" >"$TMP/$n.json" &&
        $J sign "$TMP/k/$key.key" "$TMP/k/$key-chain.pem" "$TMP/$n.json" >"$TMP/$n.jws"
}
URL=$HK_URL CA_FILE=$HK_CA
as_sz() { as_cert "$TMP/sz/pki/partner.pem" "$TMP/sz/pki/partner.key"; }
as_officer() { as_cert "$HK_OFFICER_CERT" "$HK_OFFICER_KEY"; }
inbound() { api POST /v1/p2p/inbound -H 'content-type: application/jose' --data-binary "@$1"; }
inbox_count() {
    as_officer
    api GET '/v1/p2p/messages?dir=in&limit=1000'
    jget "len(j['messages'])"
}

# --- a message and its receipt --------------------------------------------------------------
mk m1 sz hk sz-000001 1 elock.event "$ELOCK"
as_sz
inbound "$TMP/m1.jws"
expect_status "sz's envelope is accepted by hk" 200
cp "$TMP/body" "$TMP/r1.jws"
check "the answer is application/jose" grep -qi '^content-type: application/jose' "$TMP/headers"
mkdir -p "$TMP/r1"
check "the receipt is a compact JWS" $J split "$TMP/r1.jws" "$TMP/r1"
check "typ p2p-receipt+jws, alg ES256" python3 -c "
import json,sys; h=json.load(open('$TMP/r1/header.json'))
sys.exit(not (h['typ']=='p2p-receipt+jws' and h['alg']=='ES256' and len(h['x5c'])>=2))"
check "openssl: the receipt's signer chains to hk's root" \
    openssl verify -CAfile "$TMP/hk/pki/root.pem" -untrusted "$TMP/r1/chain.pem" "$TMP/r1/leaf.pem"
openssl x509 -in "$TMP/r1/leaf.pem" -pubkey -noout >"$TMP/r1/pub.pem"
check "openssl: the receipt's signature verifies" openssl dgst -sha256 -verify "$TMP/r1/pub.pem" \
    -signature "$TMP/r1/sig.der" "$TMP/r1/signing_input"
DIGEST=$(sha256sum "$TMP/m1.json" | cut -d' ' -f1)
check "receipt: message_id, digest = SHA-256 of the envelope, received_at, ledger_index" python3 -c "
import json,sys; r=json.loads(open('$TMP/r1/payload','rb').read())
sys.exit(not (list(r)==['message_id','digest','received_at','ledger_index'] and r['message_id']=='sz-000001'
    and r['digest']=='$DIGEST' and isinstance(r['ledger_index'],int) and r['received_at'].endswith('Z')))"
LIDX=$(python3 -c "import json; print(json.load(open('$TMP/r1/payload'))['ledger_index'])")
as_officer
api GET "/v1/ledger/proof/inclusion?index=$LIDX"
expect_status "the message's ledger leaf has an inclusion proof" 200
check "the leaf is 'p2p-message <ms> sz hk sz-000001 1 <digest>'" test "$(sqlite3 "$TMP/hk/state/audit.db" \
    "select count(*) from ledger_leaves where idx = $LIDX and CAST(data AS TEXT) like 'p2p-message % sz hk sz-000001 1 $DIGEST%'" 2>/dev/null)" = 1

# --- duplicates -------------------------------------------------------------------------------
as_sz
inbound "$TMP/m1.jws"
expect_status "the same envelope again" 200
check "gets the same receipt bytes" cmp -s "$TMP/body" "$TMP/r1.jws"
$J sign "$TMP/k/sz.key" "$TMP/k/sz-chain.pem" "$TMP/m1.json" >"$TMP/m1b.jws"
inbound "$TMP/m1b.jws"
check "the same envelope signed again (new signature) gets the same receipt" cmp -s "$TMP/body" "$TMP/r1.jws"
$J flatten "$TMP/m1.jws" >"$TMP/m1f.jws"
as_sz
inbound "$TMP/m1f.jws"
check "the same envelope in the flattened JSON form gets the same receipt" cmp -s "$TMP/body" "$TMP/r1.jws"
check "stored once" test "$(inbox_count)" = 1


# --- refusals: 4xx naming the reason, nothing stored, logged ----------------------------------
as_sz
mk m1x sz hk sz-000001 1 note "$NOTE"
inbound "$TMP/m1x.jws"
expect_error "the same id with other content" 409 id_conflict
mk rp sz hk sz-000099 1 note "$NOTE"
inbound "$TMP/rp.jws"
expect_error "another id with a seq already used (replay)" 409 replay
$J tamper "$TMP/m1.jws" >"$TMP/t.jws"
inbound "$TMP/t.jws"
expect_error "a tampered envelope" 400 invalid_signature
check "naming the reason" grep -q 'signature does not verify\|not valid\|invalid' "$TMP/body"
mk wp sz hk sz-000100 2 note "$NOTE" 3600 0 other
inbound "$TMP/wp.jws"
expect_error "an envelope signed under another root than sz's" 400 invalid_signature
check "naming the chain" grep -q 'x5c chain' "$TMP/body"
mk m2 sz hk sz-000002 2 note "$NOTE"
as_cert "$CLIENT_CERT" "$CLIENT_KEY"
inbound "$TMP/m2.jws"
expect_status "a local tenant may not post inbound messages" 403
as_cert "$TMP/sz/pki/client1.pem" "$TMP/sz/pki/client1.key"
inbound "$TMP/m2.jws"
expect_status "nor sz's other certificates (not its partner CN)" 403
as_sz
mk ws sg hk sg-000001 1 note "$NOTE"
inbound "$TMP/ws.jws"
expect_error "an envelope from another office than the caller" 403 wrong_sender
mk wr sz sg sz-000003 3 note "$NOTE"
inbound "$TMP/wr.jws"
expect_error "an envelope to another office" 400 wrong_recipient
mk sc sz hk sz-000004 4 elock.event '{"lock_id":"EL-1","truck_plate":"A1","event":"open","at":"2026-11-28T09:15:00Z","location":"x"}'
inbound "$TMP/sc.jws"
expect_error "a body that fails its schema" 422 invalid_body
check "naming the field" grep -q 'body.event' "$TMP/body"
mk ex sz hk sz-000005 5 note "$NOTE" 10 -3600
inbound "$TMP/ex.jws"
expect_error "an expired envelope" 400 stale_envelope
mk fu sz hk sz-000006 6 note "$NOTE" 3600 7200
inbound "$TMP/fu.jws"
expect_error "an envelope created in the future" 400 stale_envelope
echo -n '{"id":"x"}' >"$TMP/bad.json"
$J sign "$TMP/k/sz.key" "$TMP/k/sz-chain.pem" "$TMP/bad.json" >"$TMP/bad.jws"
inbound "$TMP/bad.jws"
expect_error "a payload that is no envelope" 400 invalid_envelope
$J sign "$TMP/k/sz.key" "$TMP/k/sz-chain.pem" "$TMP/m2.json" p2p-receipt+jws >"$TMP/typ.jws"
inbound "$TMP/typ.jws"
expect_error "a JWS of another typ" 400 invalid_signature
check "nothing refused was stored" test "$(inbox_count)" = 1
for why in id_conflict replay invalid_signature wrong_sender wrong_recipient invalid_body stale_envelope; do
    check "the log names $why" grep -q "p2p inbound from sz refused ($why)" "$TMP/hk/portseald.log"
done

# --- gaps ---------------------------------------------------------------------------------------
as_sz
mk m5 sz hk sz-000005b 5 urgent:note "$NOTE"
inbound "$TMP/m5.jws"
expect_status "seq 5 after seq 1" 200
as_officer
api GET '/v1/p2p/messages?dir=in'
expect_status "officer lists the inbox" 200
check "the gap 2..4 is visible" test "$(jget "j['gaps']")" = "[{'from': 'sz', 'first': 2, 'last': 4}]"
check "and recorded on the message that arrived after it" test "$(jget "j['messages'][-1]['gap_before']")" = 3
check "the message shows type, priority, body and receipt" test "$(jget "(j['messages'][-1]['priority'], j['messages'][-1]['body']['subject'], j['messages'][-1]['receipt'] is not None)")" = "('urgent', 'shift change', True)"
check "the log says so" grep -q 'seq 5 arrived with 3 seq(s) missing' "$TMP/hk/portseald.log"
as_sz
inbound "$TMP/m2.jws"
expect_status "a late seq 2" 200
as_officer
api GET '/v1/p2p/messages?dir=in'
check "narrows the gap to 3..4" test "$(jget "j['gaps']")" = "[{'from': 'sz', 'first': 3, 'last': 4}]"
N1=$(jget "j['messages'][0]['n']")
api GET "/v1/p2p/messages?dir=in&after=$N1"
check "after= pages" test "$(jget "[m['id'] for m in j['messages']]")" = "['sz-000005b', 'sz-000002']"
api GET /v1/p2p/messages/sz-000001
check "one message by id, with its receipt" test "$(jget "(j['dir'], j['status'], j['receipt'])")" = "('in', 'received', '$(cat "$TMP/r1.jws")')"
api GET /v1/p2p/messages/nosuch
expect_error "an unknown id" 404 not_found
api GET '/v1/p2p/messages?dir=sideways'
expect_error "dir must be in or out" 400 invalid_request

as_sz
# the same new message posted 6 times at once (e.g. a courier retrying on several connections)
mk m6 sz hk sz-000006c 6 note "$NOTE"
for i in 1 2 3 4 5 6; do
    curl -sS --http2 --cacert "$HK_CA" --cert "$TMP/sz/pki/partner.pem" --key "$TMP/sz/pki/partner.key" \
        -H 'content-type: application/jose' --data-binary "@$TMP/m6.jws" -o "$TMP/par$i" \
        -w '%{http_code}\n' "$HK_URL/v1/p2p/inbound" >"$TMP/par$i.status" 2>/dev/null &
done
wait
check "six concurrent copies: all 200" test "$(cat "$TMP"/par?.status | sort -u)" = 200
check "all with the same receipt" test "$(md5sum "$TMP"/par? | cut -d' ' -f1 | sort -u | wc -l)" = 1
check "stored once" test "$(inbox_count)" = 4
as_officer
api GET '/v1/p2p/messages?dir=in'
check "the gap 3..4 is unchanged" test "$(jget "j['gaps']")" = "[{'from': 'sz', 'first': 3, 'last': 4}]"

# --- kill -9: what was answered stays, and duplicates still get the same receipt ---------------
# the whole appliance at once: parent, keyholder and workers
kill -9 "$HK_PID" $(pgrep -P "$HK_PID")
wait_until 5 not kill -0 "$HK_PID" 2>/dev/null
sleep 0.5
start_instance "$TMP/hk"
URL=$HK_URL CA_FILE=$HK_CA
HK_URL=$URL
as_sz
inbound "$TMP/m1.jws"
expect_status "after kill -9 and a restart, the first envelope again" 200
check "gets the same receipt" cmp -s "$TMP/body" "$TMP/r1.jws"
check "the inbox kept its 4 messages" test "$(inbox_count)" = 4

check "the ledger with the p2p-message leaves verifies from leaf 0" "$KEYTOOL" ledger-verify "$TMP/hk/state/audit.db"

# --- the officer's outbox -----------------------------------------------------------------------
# sz stops, so that hk's courier keeps everything queued here (p2p_delivery.sh delivers)
"$DEMO" stop "$TMP/sz" >/dev/null
as_officer
post_json /v1/p2p/outbox '{"to":"sz","type":"note","priority":"routine","body":'"$NOTE"'}'
expect_status "officer queues a note to sz" 202
O1=$(jget "j['id']")
check "queued with seq 1, from hk" test "$(jget "(j['status'], j['seq'], j['to'], j['id'].startswith('hk-'))")" = "('queued', 1, 'sz', True)"
post_json /v1/p2p/outbox '{"to":"sz","type":"elock.event","priority":"urgent","body":'"$ELOCK"'}'
expect_status "and an urgent e-lock event" 202
check "with seq 2" test "$(jget "j['seq']")" = 2
SOON=$(python3 -c "import time; print(time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time()+2)))")
post_json /v1/p2p/outbox '{"to":"sz","type":"note","body":'"$NOTE"',"expires":"'"$SOON"'"}'
expect_status "a note that expires in 2 s (priority left out: routine)" 202
O3=$(jget "j['id']")
check "is routine" test "$(jget "j['priority']")" = routine
post_json /v1/p2p/outbox '{"to":"sz","type":"note","body":'"$NOTE"',"expires":"2020-01-01T00:00:00Z"}'
expect_error "an expiry in the past" 422 invalid_message
post_json /v1/p2p/outbox '{"to":"sg","type":"note","body":'"$NOTE"'}'
expect_error "to an office that is no partner" 422 unknown_partner
post_json /v1/p2p/outbox '{"to":"sz","type":"alert","body":{"severity":"loud"}}'
expect_error "a body that fails its schema" 422 invalid_message
check "naming the field" grep -q 'body\.' "$TMP/body"
as_sz
post_json /v1/p2p/outbox '{"to":"hk","type":"note","body":'"$NOTE"'}'
expect_status "a partner may not use the outbox" 403
as_cert "$CLIENT_CERT" "$CLIENT_KEY"
api GET '/v1/p2p/messages?dir=in'
expect_status "nor may a tenant read messages" 403
as_officer
api GET "/v1/p2p/messages/$O1"
check "GET by id: queued, with the body" test "$(jget "(j['status'], j['dir'], j['body']['subject'], j['receipt'])")" = "('queued', 'out', 'shift change', None)"
as_sz
mk m7 sz hk sz-000007 7 alert '{"severity":"warning","category":"lane","title":"Lane 2","text":"closed"}' 2
inbound "$TMP/m7.jws"
expect_status "an alert that expires in 2 s is received" 200
cp "$TMP/body" "$TMP/r7.jws"
as_officer
sleep 2.5
as_sz
inbound "$TMP/m7.jws"
expect_status "sent again after its expiry (the first answer lost)" 200
check "it still gets its stored receipt" cmp -s "$TMP/body" "$TMP/r7.jws"
as_officer
api GET "/v1/p2p/messages/$O3"
check "the expiring one reads expired once past its deadline" test "$(jget "j['status']")" = expired
api GET '/v1/p2p/messages?dir=out'
check "the outbox lists 3 messages in order" test "$(jget "[m['seq'] for m in j['messages']]")" = "[1, 2, 3]"
check "the envelope kept for the courier is a valid envelope" test -n "$(sqlite3 "$TMP/hk/state/p2p/p2p.db" "select payload from outbox where seq=2" | grep '"priority":"urgent"')"
