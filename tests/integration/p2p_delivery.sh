#!/usr/bin/env bash
# Point-to-point channel end to end: two appliances, sz and hk, paired both ways; hk's officer
# queues messages and hk's courier delivers them to sz. Checks the receipts with openssl, the
# partner stopped during a burst (backoff, then catch-up), kill -9 of either side during a burst
# (nothing lost, nothing delivered twice), urgent before a routine backlog, per-channel order,
# and the ledger leaves of both sides.
. "$(dirname "$0")/lib.sh"
J="python3 $REPO/tests/integration/p2p_jws.py"

start_instance "$TMP/sz" --name sz
SZ_URL=$URL SZ_CA=$CA_FILE SZ_OFFICER_CERT=$OFFICER_CERT SZ_OFFICER_KEY=$OFFICER_KEY
SZ_PORT=${URL##*:}
start_instance "$TMP/hk" --name hk --partner "sz=$TMP/sz"
HK_URL=$URL HK_CA=$CA_FILE HK_OFFICER_CERT=$OFFICER_CERT HK_OFFICER_KEY=$OFFICER_KEY

on_hk() { URL=$HK_URL CA_FILE=$HK_CA; as_cert "$HK_OFFICER_CERT" "$HK_OFFICER_KEY"; }
on_sz() { URL=$SZ_URL CA_FILE=$SZ_CA; as_cert "$SZ_OFFICER_CERT" "$SZ_OFFICER_KEY"; }
NOTE='{"subject":"shift change","text":"Lane 3 closes at 22:00."}'
ELOCK='{"lock_id":"EL-4401-0099","truck_plate":"粤Z1234港","event":"tamper","at":"2026-11-28T09:15:00Z","location":"Lok Ma Chau"}'
# send N [PRIORITY] [TYPE BODY]: queue N messages at hk; their ids appended to $TMP/sent
send() {
    local i
    on_hk
    for ((i = 0; i < $1; i++)); do
        post_json /v1/p2p/outbox '{"to":"sz","type":"'"${3:-note}"'","priority":"'"${2:-routine}"'","body":'"${4:-$NOTE}"'}'
        [ "$STATUS" = 202 ] || { echo "# outbox answered $STATUS: $(cat "$TMP/body")"; return 1; }
        jget "j['id']" >>"$TMP/sent"
    done
}
# out_states: "status:count ..." of hk's outbox
out_states() {
    sqlite3 "$TMP/hk/state/p2p/p2p.db" "select status || ':' || count(*) from outbox group by status order by status" | tr '\n' ' '
}
all_acked() { test "$(sqlite3 "$TMP/hk/state/p2p/p2p.db" "select count(*) from outbox where status != 'acknowledged'")" = 0; }
# every id sent is in sz's inbox exactly once, and nothing else is
inbox_exact() {
    sort "$TMP/sent" >"$TMP/sent.sorted"
    sqlite3 "$TMP/sz/state/p2p/p2p.db" "select id from inbox where peer = 'hk' order by id" >"$TMP/got.sorted"
    cmp -s "$TMP/sent.sorted" "$TMP/got.sorted"
}
kill9_appliance() { # DIR: parent, keyholder, workers, courier at once
    local pid
    pid=$(cat "$1/portseald.pid")
    pkill -9 -P "$pid" 2>/dev/null
    kill -9 "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    sleep 0.2
}
: >"$TMP/sent"

# --- the link ------------------------------------------------------------------------------------
check "hk runs a courier process (ps-courier), as the workers' user" \
    wait_until 10 pgrep -u nobody -x ps-courier
link_up() {
    on_hk
    api GET /v1/partners
    [ "$(jget "j['partners'][0]['ok']")" = True ]
}
check "hk's courier sees the link to sz up (sz sees hk as its partner)" wait_until 20 link_up
check "the courier runs under seccomp (Seccomp: 2)" \
    grep -q '^Seccomp:[[:space:]]*2' "/proc/$(pgrep -u nobody -x ps-courier | head -1)/status"

# --- one message, its receipt --------------------------------------------------------------------
send 1 urgent elock.event "$ELOCK"
ID1=$(tail -1 "$TMP/sent")
check "the message is acknowledged by sz within 15 s" wait_until 15 all_acked
on_hk
api GET "/v1/p2p/messages/$ID1"
check "its status is acknowledged, after 1 attempt" test "$(jget "(j['status'], j['attempts'])")" = "('acknowledged', 1)"
python3 -c "import json; print(json.load(open('$TMP/body'))['receipt'], end='')" >"$TMP/r1.jws"
mkdir -p "$TMP/r1"
check "the stored receipt is a compact JWS" $J split "$TMP/r1.jws" "$TMP/r1"
check "openssl: the receipt's signer chains to sz's root" \
    openssl verify -CAfile "$TMP/sz/pki/root.pem" -untrusted "$TMP/r1/chain.pem" "$TMP/r1/leaf.pem"
openssl x509 -in "$TMP/r1/leaf.pem" -pubkey -noout >"$TMP/r1/pub.pem"
check "openssl: the receipt's signature verifies" openssl dgst -sha256 -verify "$TMP/r1/pub.pem" \
    -signature "$TMP/r1/sig.der" "$TMP/r1/signing_input"
sqlite3 "$TMP/hk/state/p2p/p2p.db" "select writefile('$TMP/m1.json', payload) from outbox where id = '$ID1'" >/dev/null
DIGEST=$(sha256sum "$TMP/m1.json" | cut -d' ' -f1)
check "the receipt names the message and the SHA-256 of the envelope hk signed" python3 -c "
import json,sys; r=json.loads(open('$TMP/r1/payload','rb').read())
sys.exit(not (r['message_id']=='$ID1' and r['digest']=='$DIGEST' and isinstance(r['ledger_index'],int)))"
on_sz
api GET '/v1/p2p/messages?dir=in'
check "sz's officer reads it: from hk, urgent e-lock event, body intact" test "$(jget "[(m['id'], m['from'], m['type'], m['body']['truck_plate']) for m in j['messages']]")" = "[('$ID1', 'hk', 'elock.event', '粤Z1234港')]"
check "hk's ledger has the sent message's leaf" test "$(sqlite3 "$TMP/hk/state/audit.db" \
    "select count(*) from ledger_leaves where CAST(data AS TEXT) like 'p2p-message % hk sz $ID1 1 $DIGEST%'")" = 1
check "and the receipt's leaf" test "$(sqlite3 "$TMP/hk/state/audit.db" \
    "select count(*) from ledger_leaves where CAST(data AS TEXT) like 'p2p-receipt % sz hk $ID1 %'")" = 1

# --- partner stopped during a burst: queued, retried with backoff, then all delivered once ------
"$DEMO" stop "$TMP/sz" >/dev/null
send 20
check "with sz down, the burst stays queued" wait_until 10 sh -c "sqlite3 '$TMP/hk/state/p2p/p2p.db' \"select count(*) from outbox where attempts > 0 and last_error is not null and status = 'queued'\" | grep -qx '[1-9][0-9]*'"
on_hk
api GET "/v1/p2p/messages/$(sed -n 2p "$TMP/sent")"
check "the status says why (last_error) and how often it was tried" python3 -c "
import json,sys; j=json.load(open('$TMP/body'))
sys.exit(not (j['status']=='queued' and j['attempts']>=1 and j['last_error']))"
check "hk logs the partner as unavailable" grep -q 'p2p to sz: partner unavailable' "$TMP/hk/portseald.log"
sleep 3
"$DEMO" start "$TMP/sz" --port "$SZ_PORT" >/dev/null 2>&1
check "sz restarts with its state" wait_until 10 curl -sf --cacert "$SZ_CA" "$SZ_URL/healthz" -o /dev/null
check "after sz is back, all 21 are acknowledged within 45 s" wait_until 45 all_acked
check "sz holds each message exactly once" inbox_exact
check "in seq order (a routine burst is not reordered)" test "$(sqlite3 "$TMP/sz/state/p2p/p2p.db" \
    "select group_concat(seq) from (select seq from inbox where peer='hk' order by n)")" = "$(seq -s, 1 21)"

# --- kill -9 of the sender (hk) during a burst -----------------------------------------------------
send 30
kill9_appliance "$TMP/hk"
check "hk's outbox kept all 30 after kill -9" test "$(sqlite3 "$TMP/hk/state/p2p/p2p.db" "select count(*) from outbox")" = 51
"$DEMO" start "$TMP/hk" >/dev/null 2>&1
check "hk restarts" wait_until 10 curl -sf --cacert "$HK_CA" "$HK_URL/healthz" -o /dev/null
check "every message is acknowledged after hk's restart (its new courier takes the claims back)" wait_until 30 all_acked
check "sz holds each message exactly once (no duplicate delivery)" inbox_exact

# --- kill -9 of the receiver (sz) during a burst ---------------------------------------------------
send 30
sleep 0.3
kill9_appliance "$TMP/sz"
"$DEMO" start "$TMP/sz" --port "$SZ_PORT" >/dev/null 2>&1
check "sz restarts after kill -9" wait_until 10 curl -sf --cacert "$SZ_CA" "$SZ_URL/healthz" -o /dev/null
check "every message is acknowledged" wait_until 60 all_acked
check "sz holds each message exactly once" inbox_exact
check "no gaps remain at sz" test "$(sqlite3 "$TMP/sz/state/p2p/p2p.db" "select max(seq) = count(*) from inbox where peer='hk'")" = 1

# --- urgent ahead of a routine backlog ------------------------------------------------------------
"$DEMO" stop "$TMP/sz" >/dev/null
send 40
send 1 urgent alert '{"severity":"critical","category":"security","title":"Gate 4","text":"breach"}'
URG=$(tail -1 "$TMP/sent")
"$DEMO" start "$TMP/sz" --port "$SZ_PORT" >/dev/null 2>&1
check "sz is back" wait_until 10 curl -sf --cacert "$SZ_CA" "$SZ_URL/healthz" -o /dev/null
check "the backlog is delivered" wait_until 60 all_acked
check "the urgent alert reached sz before every routine message of the backlog" test \
    "$(sqlite3 "$TMP/sz/state/p2p/p2p.db" "select min(n) = (select n from inbox where id = '$URG') from inbox where peer = 'hk' and seq > 81")" = 1
check "sz holds each message exactly once" inbox_exact

# --- evidence on both sides ----------------------------------------------------------------------
check "hk: one p2p-receipt leaf per acknowledged message" test "$(sqlite3 "$TMP/hk/state/audit.db" \
    "select count(*) from ledger_leaves where CAST(data AS TEXT) like 'p2p-receipt %'")" -ge "$(wc -l <"$TMP/sent")"
check "hk's ledger verifies from leaf 0" "$KEYTOOL" ledger-verify "$TMP/hk/state/audit.db"
check "sz's ledger verifies from leaf 0" "$KEYTOOL" ledger-verify "$TMP/sz/state/audit.db"
check "nothing was refused" test -z "$(sqlite3 "$TMP/hk/state/p2p/p2p.db" "select id from outbox where status = 'refused'")"
