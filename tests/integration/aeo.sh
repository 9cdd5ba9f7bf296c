#!/usr/bin/env bash
# AEO register (issue 5, server side): officers import cn's register (CSV, JSON lines, through
# tools/portseal and the API), look operators up with at=, re-import changes (only changes get
# a seq), malformed files change nothing; sg fetches cn's feed with its partner certificate and
# the JWS verifies (jwcrypto) with its x5c chaining to cn's root; everyone else is refused;
# notify names the caller's own origin or is refused.
. "$(dirname "$0")/lib.sh"

start_instance "$TMP/cn" --name cn
CN_URL=$URL CN_CA=$CA_FILE CN_OFFICER_CERT=$OFFICER_CERT CN_OFFICER_KEY=$OFFICER_KEY
CN_CLIENT_CERT=$CLIENT_CERT CN_CLIENT_KEY=$CLIENT_KEY
start_instance "$TMP/sg" --name sg --partner "cn=$TMP/cn"
check "cn reloaded with partner sg" wait_until 10 grep -q 'reload: configuration read again' "$TMP/cn/portseald.log"
URL=$CN_URL CA_FILE=$CN_CA
DB=$TMP/cn/state/aeo/register.db
check "the demo sets aeo_origin from the name" grep -q '^aeo_origin CN$' "$TMP/cn/portseald.conf"
SG_PARTNER=("$TMP/sg/pki/partner.pem" "$TMP/sg/pki/partner.key")
as_sg() { as_cert "${SG_PARTNER[@]}"; }
as_officer() { as_cert "$CN_OFFICER_CERT" "$CN_OFFICER_KEY"; }
# wait until cn knows sg as a partner again after the reload
sg_is_partner() { as_sg; api GET /v1/whoami && [ "$(jget "j.get('partner')")" = sg ]; }
check "sg is cn's partner" wait_until 15 sg_is_partner

# ---- import: CSV through tools/portseal ----
cat >"$TMP/reg1.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403123456,"Shenzhen Ocean Freight Co., Ltd.","1 Fuhua Road, Futian, Shenzhen",valid,2024-01-01,2027-12-31
AEOCN440312345A,深圳市前海供应链有限公司,"Qianhai ""Block A"", Shenzhen",suspended,2022-03-01,2028-02-28
AEOCN4403000001,Bao'an Air Cargo,Bao'an,valid,2030-01-01,2032-12-31
CSV
out=$("$REPO/tools/portseal" --instance "$TMP/cn" aeo import "$TMP/reg1.csv" 2>&1)
check "portseal aeo import loads the CSV: $out" test "$out" = "$TMP/reg1.csv: 3 records, 3 changed (seq 1..3); register at seq 3"
check "portseal aeo import --help says which path it takes (the HTTPS API as the officer)" \
    bash -c "'$REPO/tools/portseal' aeo import --help 2>&1 | grep -q 'HTTPS'"

# ---- import: JSON lines through the API (one new, one unchanged) ----
cat >"$TMP/reg2.jsonl" <<'JL'
{"aeo_id":"AEOCN4403999999","name":"Nanshan Port Logistics","address":"Shekou, Nanshan","status":"valid","valid_from":"2023-05-01","valid_until":"2026-04-30"}
{"valid_until":"2027-12-31","aeo_id":"AEOCN4403123456","name":"Shenzhen Ocean Freight Co., Ltd.","address":"1 Fuhua Road, Futian, Shenzhen","status":"valid","valid_from":"2024-01-01"}
JL
as_officer
api POST /v1/aeo/register -H 'content-type: application/x-ndjson' --data-binary @"$TMP/reg2.jsonl"
expect_status "officer imports JSON lines" 200
check "one new record, one unchanged: changed 1, last_seq 4" \
    test "$(jget "(j['imported'], j['changed'], j['first_seq'], j['last_seq'])")" = "(2, 1, 4, 4)"

# ---- lookups ----
TODAY=$(date -u +%F)
lookup() { as_officer; api GET "/v1/aeo/operators/$1${2:+?at=$2}"; }
state() { jget "j['status']"; }
lookup AEOCN4403123456
expect_status "lookup of our operator" 200
check "AEOCN4403123456 is valid, origin CN, seq 1, imported by officer-1" \
    test "$(jget "(j['status'], j['provenance']['origin'], j['provenance']['seq'], j['provenance']['imported_by'], j['record']['name'])")" = "('valid', 'CN', 1, 'officer-1', 'Shenzhen Ocean Freight Co., Ltd.')"
lookup AEOCN440312345A "$TODAY"
check "AEOCN440312345A is suspended today" test "$(state)" = suspended
lookup AEOCN4403000001
check "AEOCN4403000001 (valid from 2030) is not_yet_valid now" test "$(state)" = not_yet_valid
lookup AEOCN4403000001 2031-06-30
check "... and valid at=2031-06-30" test "$(state)" = valid
lookup AEOCN4403123456 2028-01-01
check "AEOCN4403123456 is expired at=2028-01-01" test "$(state)" = expired
lookup AEOCN4403123456 2020-01-01
check "at a day before the import: known operator, status unknown, no record" \
    test "$STATUS $(jget "(j['status'], j['record'])")" = "200 ('unknown', None)"
lookup AEOCN4403123456 "${TODAY}T00:00:00Z"
check "at= also takes a timestamp" test "$STATUS" = 200
lookup AEOCN4403777777
expect_error "an operator no register has is 404" 404 unknown_operator
lookup AEOCN44031
expect_error "a malformed aeo_id is 400" 400 invalid_aeo_id
lookup AEOCN4403123456 2024-13-01
expect_error "a bad at= is 400" 400 invalid_request
as_cert "$CN_CLIENT_CERT" "$CN_CLIENT_KEY"
api GET /v1/aeo/operators/AEOCN4403123456
expect_error "a tenant may not look operators up" 403 not_an_officer
as_sg
api GET /v1/aeo/operators/AEOCN4403123456
expect_error "a partner may not look operators up" 403 not_an_officer

# ---- re-import with changes: only changed records get a seq ----
cat >"$TMP/reg3.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403123456,"Shenzhen Ocean Freight Co., Ltd.","1 Fuhua Road, Futian, Shenzhen",revoked,2024-01-01,2027-12-31
AEOCN440312345A,深圳市前海供应链有限公司,"Qianhai ""Block A"", Shenzhen",suspended,2022-03-01,2028-02-28
AEOCN4403000001,Bao'an Air Cargo International,Bao'an,valid,2030-01-01,2032-12-31
CSV
out=$("$REPO/tools/portseal" --instance "$TMP/cn" aeo import "$TMP/reg3.csv" 2>&1)
check "re-import: 2 changed as seq 5..6: $out" test "$out" = "$TMP/reg3.csv: 3 records, 2 changed (seq 5..6); register at seq 6"
out=$("$REPO/tools/portseal" --instance "$TMP/cn" aeo import "$TMP/reg3.csv" 2>&1)
check "the same file again changes nothing: $out" test "$out" = "$TMP/reg3.csv: 3 records, nothing changed; register at seq 6"
lookup AEOCN4403123456
check "AEOCN4403123456 is now revoked (seq 5)" test "$(jget "(j['status'], j['provenance']['seq'])")" = "('revoked', 5)"
lookup AEOCN440312345A
check "the unchanged AEOCN440312345A keeps seq 2" test "$(jget "j['provenance']['seq']")" = 2
lookup AEOCN4403000001 2031-01-01
check "the renamed operator's record is seq 6 with its new name" \
    test "$(jget "(j['provenance']['seq'], j['record']['name'].endswith('Cargo International'))")" = "(6, True)"

# ---- malformed files: each refused, nothing applied ----
rows() { sqlite3 "$DB" 'select count(*), max(seq) from own_records'; }
before=$(rows)
bad() { # DESC CTYPE FILE WANT_IN_MESSAGE
    as_officer
    api POST /v1/aeo/register -H "content-type: $2" --data-binary @"$3"
    expect_error "$1 is refused" 400 invalid_register &&
        check "  naming the line and field ($4)" grep -q "$4" "$TMP/body"
    check "  and nothing was applied" test "$(rows)" = "$before"
}
printf 'aeo_id,name,address,status,valid_from,valid_until\nAEOCN4403123456,A,B,valid,2024-01-01,2027-12-31\nAEOCN4403555555,New One,Addr,valid,2024-02-30,2027-12-31\n' >"$TMP/bad1.csv"
bad "a CSV with an impossible date" text/csv "$TMP/bad1.csv" "line 3, field valid_from"
printf 'aeo_id,name,address,status,valid_from,valid_until\nAEOCN4403555555,New One,Addr,valid,2024-01-01,2027-12-31\nAEOCN44035,Short,Addr,valid,2024-01-01,2027-12-31\n' >"$TMP/bad2.csv"
bad "a CSV with a short aeo_id" text/csv "$TMP/bad2.csv" "line 3, field aeo_id"
printf 'aeo_id,name,address,status,valid_from,valid_until\nAEOCN4403555555,A,B,valid,2024-01-01,2027-12-31\nAEOCN4403555555,A,B,revoked,2024-01-01,2027-12-31\n' >"$TMP/bad3.csv"
bad "a CSV with an aeo_id twice" text/csv "$TMP/bad3.csv" "already on line 2"
printf 'aeo_id,name,address,status,valid_from,valid_until\nAEOCN4403555555,A,B,cancelled,2024-01-01,2027-12-31\n' >"$TMP/bad4.csv"
bad "a CSV with an unknown status" text/csv "$TMP/bad4.csv" "line 2, field status"
printf 'aeo_id;name\nAEOCN4403555555;A\n' >"$TMP/bad5.csv"
bad "a CSV with another header" text/csv "$TMP/bad5.csv" "line 1"
printf '%s\n%s\n' '{"aeo_id":"AEOCN4403555555","name":"A","address":"B","status":"valid","valid_from":"2024-01-01","valid_until":"2027-12-31"}' \
    '{"aeo_id":"AEOCN4403555556","name":"A","address":"B","status":"valid","valid_from":"2024-01-01","valid_until":"2027-12-31","extra":"x"}' >"$TMP/bad6.jsonl"
bad "JSON lines with an unknown member" application/x-ndjson "$TMP/bad6.jsonl" "line 2"
printf '%s\n' '{"aeo_id":"AEOSG20231234567X","name":"A","address":"B","status":"valid","valid_from":"2027-01-01","valid_until":"2024-12-31"}' >"$TMP/bad7.jsonl"
bad "JSON lines with valid_until before valid_from" application/x-ndjson "$TMP/bad7.jsonl" "line 1, field valid_until"
as_officer
api POST /v1/aeo/register -H 'content-type: application/json' --data-binary @"$TMP/reg2.jsonl"
expect_error "another content type is 415" 415 unsupported_media_type
out=$("$REPO/tools/portseal" --instance "$TMP/cn" aeo import "$TMP/bad1.csv" 2>&1)
check "portseal aeo import reports the refusal and fails" \
    bash -c "! '$REPO/tools/portseal' --instance '$TMP/cn' aeo import '$TMP/bad1.csv' >/dev/null 2>&1"
check "  with the reason: $out" grep -q "line 3, field valid_from" <<<"$out"
lookup AEOCN4403123456
check "lookups still answer the last good state (revoked, seq 5)" \
    test "$STATUS $(jget "(j['status'], j['provenance']['seq'])")" = "200 ('revoked', 5)"
as_cert "$CN_CLIENT_CERT" "$CN_CLIENT_KEY"
api POST /v1/aeo/register -H 'content-type: text/csv' --data-binary @"$TMP/reg1.csv"
expect_error "a tenant may not import" 403 not_an_officer
as_sg
api POST /v1/aeo/register -H 'content-type: text/csv' --data-binary @"$TMP/reg1.csv"
expect_error "a partner may not import" 403 not_an_officer

# ---- the feed, fetched by sg and verified ----
# verify_feed FILE: the JWS (flattened or compact) verifies with jwcrypto under the key of its
# x5c leaf, the x5c chain verifies against cn's root with openssl; the payload goes to FILE.payload
verify_feed() {
    /usr/bin/python3 - "$1" "$TMP/cn/pki/root.pem" <<'PY'
import base64, json, subprocess, sys, tempfile, os
from jwcrypto import jws, jwk
path, root = sys.argv[1], sys.argv[2]
raw = open(path).read()
tok = jws.JWS()
tok.deserialize(raw)
hdr = tok.jose_header
assert hdr["alg"] == "ES256" and hdr["typ"] == "aeo-batch+jws", hdr
certs = [base64.b64decode(c) for c in hdr["x5c"]]
d = tempfile.mkdtemp()
pems = []
for i, c in enumerate(certs):
    p = os.path.join(d, "c%d.pem" % i)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-out", p], input=c, check=True)
    pems.append(p)
chain = os.path.join(d, "chain.pem")
open(chain, "w").write("".join(open(p).read() for p in pems[1:]))
args = ["openssl", "verify", "-CAfile", root] + (["-untrusted", chain] if len(pems) > 1 else []) + [pems[0]]
r = subprocess.run(args, capture_output=True, text=True)
assert r.returncode == 0, r.stdout + r.stderr
key = jwk.JWK.from_pem(open(pems[0], "rb").read())
tok.verify(key)
open(path + ".payload", "wb").write(tok.payload)
PY
}
as_sg
api GET '/v1/aeo/feed?after=0'
expect_status "sg fetches cn's feed with its partner certificate" 200
check "  served as application/jose+json (flattened JSON)" grep -qi '^content-type: application/jose+json' "$TMP/headers"
cp "$TMP/body" "$TMP/feed0"
check "  the JWS verifies (jwcrypto) and its x5c chains to cn's root" verify_feed "$TMP/feed0"
payload() { python3 -c "import json,sys; j=json.load(open('$1.payload')); print($2)"; }
check "  payload: origin CN, from 1 to 6, six records in seq order" \
    test "$(payload "$TMP/feed0" "(j['origin'], j['from'], j['to'], [r['seq'] for r in j['records']])")" = "('CN', 1, 6, [1, 2, 3, 4, 5, 6])"
check "  the records are what was imported" \
    test "$(payload "$TMP/feed0" "(j['records'][1]['aeo_id'], j['records'][1]['name'], j['records'][1]['address'], j['records'][4]['status'])")" = "('AEOCN440312345A', '深圳市前海供应链有限公司', 'Qianhai \"Block A\", Shenzhen', 'revoked')"
check "  set for set, the feed's latest records equal the register" \
    test "$(payload "$TMP/feed0" "sorted({r['aeo_id']: r['seq'] for r in j['records']}.items())")" = \
    "$(sqlite3 "$DB" "select aeo_id, max(seq) from own_records group by aeo_id order by aeo_id" | python3 -c "import sys; print(sorted((a, int(b)) for a, b in (l.strip().split('|') for l in sys.stdin)))")"
api GET '/v1/aeo/feed?after=4&limit=1&form=compact'
expect_status "a compact batch after=4 limit=1" 200
cp "$TMP/body" "$TMP/feed4"
check "  is compact (three parts) and verifies" bash -c "grep -qE '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' '$TMP/feed4'"
check "  its signature and chain verify" verify_feed "$TMP/feed4"
check "  payload from 5 to 5" test "$(payload "$TMP/feed4" "(j['from'], j['to'], len(j['records']))")" = "(5, 5, 1)"
api GET '/v1/aeo/feed?after=6'
check "nothing after 6: an empty signed batch from 7 to 6" \
    bash -c "cp '$TMP/body' '$TMP/feed6' && $(declare -f verify_feed); TMP='$TMP'; verify_feed '$TMP/feed6'"
check "  payload {origin CN, from 7, to 6, records []}" test "$(payload "$TMP/feed6" "(j['from'], j['to'], j['records'])")" = "(7, 6, [])"
api GET '/v1/aeo/feed?after=99'
expect_error "after beyond the register's end is 409" 409 after_beyond_end
api GET '/v1/aeo/feed?limit=0'
expect_error "limit=0 is 400" 400 invalid_request
api GET '/v1/aeo/feed?limit=10001'
expect_error "limit=10001 is 400" 400 invalid_request
check "each feed signature is an audit row (ledger leaf) of @exchange" \
    test "$(sqlite3 "$TMP/cn/state/audit.db" "select count(*) from audit where tenant='@exchange'")" -ge 3
as_cert "$CN_CLIENT_CERT" "$CN_CLIENT_KEY"
api GET /v1/aeo/feed
expect_error "a tenant may not read the feed" 403 not_a_partner
as_officer
api GET /v1/aeo/feed
expect_error "an officer may not read the feed" 403 not_a_partner
as_cert "$TMP/cn/pki/partner.pem" "$TMP/cn/pki/partner.key"
api GET /v1/aeo/feed
expect_error "cn's own partner certificate is no partner at cn" 403 not_a_partner
as_cert "$TMP/sg/pki/client1.pem" "$TMP/sg/pki/client1.key"
api GET /v1/aeo/feed
check "a certificate from sg's root with another CN is refused (403)" test "$STATUS" = 403

# ---- notify ----
as_sg
post_json /v1/aeo/notify '{"origin":"SG","seq":5}'
expect_status "sg notifies cn of its seq 5" 202
check "  cn stored the news for the puller" \
    test "$(sqlite3 "$DB" "select partner, notified_seq, last_seq from partner_origins where origin='SG'")" = "sg|5|0"
post_json /v1/aeo/notify '{"origin":"SG","seq":3}'
check "  an older seq does not lower it" \
    test "$STATUS $(sqlite3 "$DB" "select notified_seq from partner_origins where origin='SG'")" = "202 5"
post_json /v1/aeo/notify '{"origin":"CN","seq":9}'
expect_error "notify naming another origin (cn's) is refused" 403 wrong_origin
check "  and stores nothing for it" test -z "$(sqlite3 "$DB" "select * from partner_origins where origin='CN'")"
post_json /v1/aeo/notify '{"origin":"SG","seq":0}'
expect_error "notify with seq 0 is 400" 400 invalid_request
post_json /v1/aeo/notify '{"origin":"SG","seq":1,"x":1}'
expect_error "notify with an unknown member is 400" 400 invalid_request
as_officer
post_json /v1/aeo/notify '{"origin":"SG","seq":6}'
expect_error "an officer may not notify" 403 not_a_partner
check "cn logged the wrong origin" grep -q 'AEO notify from partner sg names origin CN' "$TMP/cn/portseald.log"
