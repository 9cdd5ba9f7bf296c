#!/usr/bin/env bash
# AEO mutual recognition end to end: cn and sg, paired both ways, each import their register;
# each courier pulls the other's feed (at once on notify, else on its timer), verifies it
# against the partner's pinned root and applies it; officers on both sides look up both
# registers with provenance. Faults: the partner away (last good state keeps serving, catch-up
# after), a copy that diverged (digest check, full re-sync), and a hostile fake partner made of
# openssl s_server serving a replayed batch, a tampered one, one signed under another root, a
# gap, a malformed record, one of cn's identifiers, and a TLS certificate that is not the partner's: each refused with
# a logged reason, nothing applied.
. "$(dirname "$0")/lib.sh"
FAKE_PID=
trap 'kill $FAKE_PID 2>/dev/null; cleanup' EXIT
J="python3 $REPO/tests/integration/p2p_jws.py"

start_instance "$TMP/cn" --name cn
CN_URL=$URL CN_CA=$CA_FILE CN_OFFICER_CERT=$OFFICER_CERT CN_OFFICER_KEY=$OFFICER_KEY
start_instance "$TMP/sg" --name sg --partner "cn=$TMP/cn"
SG_URL=$URL SG_CA=$CA_FILE SG_OFFICER_CERT=$OFFICER_CERT SG_OFFICER_KEY=$OFFICER_KEY
SG_PORT=${SG_URL##*:}
# short timers for the test: pull every 3 s, compare digests every 4 s
for d in cn sg; do
    printf 'aeo_poll_interval 3\naeo_digest_interval 4\n' >>"$TMP/$d/portseald.conf"
    kill -HUP "$(cat "$TMP/$d/portseald.pid")"
done
on_cn() { URL=$CN_URL CA_FILE=$CN_CA; as_cert "$CN_OFFICER_CERT" "$CN_OFFICER_KEY"; }
on_sg() { URL=$SG_URL CA_FILE=$SG_CA; as_cert "$SG_OFFICER_CERT" "$SG_OFFICER_KEY"; }
# status_is SIDE AEO_ID STATUS: the officer of SIDE looks AEO_ID up and sees STATUS
status_is() {
    "on_$1"
    api GET "/v1/aeo/operators/$2" && [ "$STATUS" = 200 ] && [ "$(jget "j['status']")" = "$3" ]
}
cn_copy() { sqlite3 "$TMP/cn/state/aeo/register.db" "select count(*) from partner_records where origin = 'SG'"; }
sg_copy() { sqlite3 "$TMP/sg/state/aeo/register.db" "select count(*) from partner_records where origin = 'CN'"; }

cat >"$TMP/cn1.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403123456,"Shenzhen Ocean Freight Co., Ltd.","1 Fuhua Road, Futian, Shenzhen",valid,2024-01-01,2030-12-31
AEOCN440312345A,深圳市前海供应链有限公司,"Qianhai ""Block A"", Shenzhen",suspended,2022-03-01,2030-02-28
AEOCN4403999999,Nanshan Port Logistics,"Shekou, Nanshan",valid,2023-05-01,2030-04-30
CSV
cat >"$TMP/sg1.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOSG2019123456KA,Jurong Freight Pte Ltd,"2 Jurong Port Road, Singapore",valid,2023-01-01,2030-12-31
AEOSG2020000000X1,Tuas Cold Chain Pte Ltd,"9 Tuas South Ave, Singapore",valid,2024-06-01,2030-05-31
CSV
out=$("$REPO/tools/portseal" --instance "$TMP/cn" aeo import "$TMP/cn1.csv" 2>&1)
check "cn imports its register ($out)" test "${out##*register at seq }" = 3
out=$("$REPO/tools/portseal" --instance "$TMP/sg" aeo import "$TMP/sg1.csv" 2>&1)
check "sg imports its register ($out)" test "${out##*register at seq }" = 2
# aeo_id_prefix (default AEO + origin): cn's register holds AEOCN identifiers only, so a
# register carrying one of sg's is refused whole, naming the record
on_cn
api POST /v1/aeo/register -H 'content-type: text/csv' --data-binary "@$TMP/sg1.csv"
check "cn refuses to import sg's operators (400 invalid_register, record 1)" sh -c "
    [ '$STATUS' = 400 ] && grep -q 'record 1: AEOSG2019123456KA is not an identifier of origin CN' '$TMP/body'"

# --- both lookups after sync -------------------------------------------------------------------
check "sg's officer sees cn's operator (cn notified, sg pulled) within 20 s" \
    wait_until 20 status_is sg AEOCN440312345A suspended
check "with provenance: origin CN, partner cn, seq 2, signer and fetch time" python3 -c "
import json,sys; j=json.load(open('$TMP/body')); p=j['provenance']
sys.exit(not (p['register']=='partner' and p['origin']=='CN' and p['partner']=='cn' and p['seq']==2
    and 'xchg' in p['signer'] and p['fetched_at']))"
check "cn's officer sees sg's operator within 20 s" wait_until 20 status_is cn AEOSG2019123456KA valid
check "sg's copy of cn holds 3 records, cn's copy of sg 2" test "$(sg_copy)/$(cn_copy)" = 3/2
check "sg logged the batch it applied" grep -q 'aeo: applied CN 1-3 from cn' "$TMP/sg/portseald.log"
check "sg's ledger has an aeo-batch leaf for it" test "$(sqlite3 "$TMP/sg/state/audit.db" \
    "select count(*) from ledger_leaves where CAST(data AS TEXT) like 'aeo-batch % cn CN 1 3 %'")" = 1

# --- a change travels by notify ----------------------------------------------------------------
cat >"$TMP/cn2.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403123456,"Shenzhen Ocean Freight Co., Ltd.","1 Fuhua Road, Futian, Shenzhen",revoked,2024-01-01,2030-12-31
CSV
BEFORE=$(date -u +%FT%TZ)
sleep 1.1
"$REPO/tools/portseal" --instance "$TMP/cn" aeo import "$TMP/cn2.csv" >/dev/null 2>&1
check "a revocation at cn reaches sg within 10 s" wait_until 10 status_is sg AEOCN4403123456 revoked
on_sg
api GET "/v1/aeo/operators/AEOCN4403123456?at=$BEFORE"
check "... and as of just before, sg answers 'valid' (the history travels)" test "$(jget "j['status']")" = valid

# --- the partner away: last good state serves, catch-up after ---------------------------------
"$DEMO" stop "$TMP/sg" >/dev/null
cat >"$TMP/cn3.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403777777,Yantian Terminals,"Yantian, Shenzhen",valid,2024-01-01,2030-12-31
CSV
"$REPO/tools/portseal" --instance "$TMP/cn" aeo import "$TMP/cn3.csv" >/dev/null 2>&1
check "cn's puller logs sg as unreachable" wait_until 15 grep -q 'aeo pull from sg' "$TMP/cn/portseald.log"
check "cn still answers for sg's operators meanwhile" status_is cn AEOSG2020000000X1 valid
"$DEMO" start "$TMP/sg" --port "$SG_PORT" >/dev/null 2>&1
check "sg, back, catches up with cn's change made while it was down" \
    wait_until 20 status_is sg AEOCN4403777777 valid

# --- divergence: a copy changed behind the puller's back is re-synced -------------------------
# (the courier may be writing: wait for the lock; and the digest check may undo the change at
# once, so the check looks at the log rather than racing it)
check "(sg's copy is changed behind the puller's back)" sqlite3 -cmd ".timeout 10000" \
    "$TMP/sg/state/aeo/register.db" "update partner_records set status = 'valid' where origin = 'CN' and aeo_id = 'AEOCN440312345A'"
check "the digest check finds the divergence within 20 s" \
    wait_until 20 grep -q 'our copy of CN at seq [0-9]* differs from cn' "$TMP/sg/portseald.log"
check "and a full re-sync restores the copy" wait_until 10 status_is sg AEOCN440312345A suspended
check "the re-sync is logged" grep -q 'full re-sync of CN from cn: [0-9]* records' "$TMP/sg/portseald.log"
check "sg's ledger verifies from leaf 0" "$KEYTOOL" ledger-verify "$TMP/sg/state/audit.db"

# --- a hostile fake partner ----------------------------------------------------------------------
# cn's partner sg now points at openssl s_server (TLS with sg's own server certificate, so the
# pinned root and host name check pass) serving files named like feed requests.
LAST=$(sqlite3 "$TMP/cn/state/aeo/register.db" "select last_seq from partner_origins where origin = 'SG'")
as_cert "$TMP/cn/pki/partner.pem" "$TMP/cn/pki/partner.key"
URL=$SG_URL CA_FILE=$SG_CA
api GET '/v1/aeo/feed?after=0&limit=1000&form=compact'
expect_status "(an old batch of sg's, genuine: seq 1..$LAST)" 200
cp "$TMP/body" "$TMP/old.jws"
FAKE=$TMP/fake
mkdir -p "$FAKE/v1/aeo"
FEED="$FAKE/v1/aeo/feed?after=$LAST&limit=1000"
FAKE_PORT=$(free_port)
mkdir -p "$TMP/k"
check "a signing key certified by sg's CA (for the fake's batches)" mkkey sgx "$TMP/sg/pki" xchg2.sg.portseal.test
check "and one certified by cn's own CA (not sg's)" mkkey cnx "$TMP/cn/pki" xchg.cn.portseal.test
# batch FROM TO [BAD_ID]: a batch of sg's with records FROM..TO
batch() {
    python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
f, t, bad = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
recs = [{"seq": s, "aeo_id": bad or "AEOSG2021%07dZ" % s, "name": "Fake %d Pte Ltd" % s,
         "address": "Singapore", "status": "valid", "valid_from": "2024-01-01",
         "valid_until": "2030-12-31", "updated_at": "2026-11-28T08:00:00Z"} for s in range(f, t + 1)]
print(json.dumps({"origin": "SG", "from": f, "to": t, "records": recs}, ensure_ascii=False,
                 separators=(",", ":")), end="")
PY
}
serve() { cp "$1" "$FEED"; }
fake_sign() { # KEYNAME FROM TO [BAD_ID] -> file
    batch "$2" "$3" "${4:-}" >"$TMP/b.json"
    $J sign "$TMP/k/$1.key" "$TMP/k/$1-chain.pem" "$TMP/b.json" aeo-batch+jws >"$TMP/$1-$2-$3${4:+-bad}.jws"
    echo "$TMP/$1-$2-$3${4:+-bad}.jws"
}
start_fake() { # PKIDIR: its server certificate, key and issuing CA
    (cd "$FAKE" && exec openssl s_server -quiet -accept "$FAKE_PORT" -cert "$1/server.pem" \
        -key "$1/server.key" -cert_chain "$1/ca.pem" -WWW \
        >"$TMP/fake.log" 2>&1) &
    FAKE_PID=$!
    wait_until 5 bash -c "echo >/dev/tcp/127.0.0.1/$FAKE_PORT" 2>/dev/null
}
# repoint cn's partner sg at the fake and reload cn
sed -i "s|^\(partner sg .*url=\)https://localhost:[0-9]*|\1https://localhost:$FAKE_PORT|" "$TMP/cn/portseald.conf"
serve "$TMP/old.jws"
start_fake "$TMP/sg/pki"
kill -HUP "$(cat "$TMP/cn/portseald.pid")"
refused_with() { grep -q "aeo batch from sg refused, nothing applied: .*$1" "$TMP/cn/portseald.log"; }
check "a replayed old batch is refused (replay)" wait_until 20 refused_with 'replay: batch starts at 1'
serve "$($J tamper "$TMP/old.jws" >"$TMP/tampered.jws"; echo "$TMP/tampered.jws")"
check "a tampered batch is refused (bad signature)" wait_until 20 refused_with 'feed JWS'
serve "$(fake_sign cnx $((LAST + 1)) $((LAST + 1)))"
check "a batch signed under another root is refused" wait_until 20 refused_with 'feed JWS: x5c chain'
serve "$(fake_sign sgx $((LAST + 2)) $((LAST + 3)))"
check "a gap is refused" wait_until 20 refused_with 'gap: expected'
serve "$(fake_sign sgx $((LAST + 1)) $((LAST + 2)) AEOXX1)"
check "a malformed record is refused" wait_until 20 refused_with 'batch: '
serve "$(fake_sign sgx $((LAST + 1)) $((LAST + 1)) AEOCN4403123456)"
check "a batch carrying one of cn's identifiers is refused (aeo_id_prefix)" \
    wait_until 20 refused_with 'AEOCN4403123456 is not an identifier of origin SG'
check "none of it was applied: cn's copy of sg is unchanged" test "$(cn_copy)" = 2
check "and cn still answers for sg's operators" status_is cn AEOSG2019123456KA valid
serve "$(fake_sign sgx $((LAST + 1)) $((LAST + 2)))"
check "(control: a good batch under sg's root is applied)" wait_until 20 sh -c "test \"\$(sqlite3 '$TMP/cn/state/aeo/register.db' \"select count(*) from partner_records where origin = 'SG'\")\" = 4"
mark=$(wc -l <"$TMP/cn/portseald.log")
kill "$FAKE_PID" 2>/dev/null
wait "$FAKE_PID" 2>/dev/null
# sg is down first: the puller logs that, then its next failure has another reason, which must
# be logged at once and not only at the next tenth attempt (courier_test checks the counting)
# (a pull, or a full re-sync when one is due: both count the same failures)
pulls_failed() { tail -n +"$((mark + 1))" "$TMP/cn/portseald.log" | grep "aeo \(pull\|re-sync\) from sg: " | grep "${1:-.}"; }
check "(sg down: cn logs its first failed pull)" wait_until 20 pulls_failed
start_fake "$TMP/cn/pki"
check "a partner URL answered with a certificate not under sg's root fails the handshake" \
    wait_until 20 pulls_failed '\(SSL\|certificate\|issuer\)'
kill "$FAKE_PID" 2>/dev/null
wait "$FAKE_PID" 2>/dev/null
check "cn's ledger verifies from leaf 0" "$KEYTOOL" ledger-verify "$TMP/cn/state/audit.db"
