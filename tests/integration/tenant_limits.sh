#!/usr/bin/env bash
# Per-tenant signing limits (tenant ... sign_rate= sign_burst=, hsm/tenantlimit.h): the keyholder
# counts every signature of every worker, so a burst from many connections passes exactly up
# to sign_burst; beyond it 429 tenant_rate_limited with retry-after and JSON, on every signing
# route; a batch above sign_burst 413 at once; refused requests leave no audit row or ledger
# leaf; the other tenant signs freely meanwhile; after the wait tenant 1 signs again; the
# refusals are counted in /metrics; a reload (SIGHUP) with a changed limit takes effect.
. "$(dirname "$0")/lib.sh"
PS=$REPO/tools/portseal
DATA=$REPO/tests/data/chinaport
start_instance "$TMP/cn"
INST=$TMP/cn
CONF=$INST/portseald.conf
REFUSED=0 # tenant 1's refusals the keyholder must have counted

kh_pid() { "$PS" --instance "$INST" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyholder"]["pid"])'; }
new_kh() { local p; p=$(kh_pid) && [ "$p" -gt 0 ] && [ "$p" != "$1" ]; }
ready() { as_tenant1; api GET /readyz; [ "$STATUS" = 200 ]; }
# set_limit OPTIONS: rewrite platform-a's line, SIGHUP the parent, wait for the new keyholder
set_limit() {
    local before
    before=$(kh_pid)
    sed -i "s/^tenant platform-a .*/tenant platform-a platform-a.cn.portseal.test $1/" "$CONF"
    kill -HUP "$PID"
    wait_until 60 new_kh "$before" && wait_until 30 ready
}
hashes() { # N: a JSON list of N random SHA-256 digests
    python3 -c 'import base64,json,os,sys; print(json.dumps([base64.b64encode(os.urandom(32)).decode() for _ in range(int(sys.argv[1]))]))' "$1"
}
sign_n() { post_json /v1/sign/hash "{\"key\":\"$1\",\"hashes\":$(hashes "$2")}"; }
leaves() { sqlite3 "$INST/state/audit.db" "select (select count(*) from audit) + (select count(*) from ledger_leaves)"; }
retry_after() { awk 'tolower($1) == "retry-after:" { gsub("\r", ""); print $2 }' "$TMP/headers"; }
# drain: tenant 1 signs single hashes until one is refused (its bucket then has < 1 token)
drain() {
    local i
    as_tenant1
    for ((i = 0; i < 50; i++)); do
        sign_n t1-ec 1
        if [ "$STATUS" = 429 ]; then
            REFUSED=$((REFUSED + 1))
            return 0
        fi
    done
    return 1
}

check "sign_rate=1 sign_burst=5 for platform-a, reloaded by SIGHUP" set_limit "sign_rate=1 sign_burst=5"
check "  the file parses (portseald -t)" "$PORTSEALD" -t -c "$CONF"

# ---- a burst from 12 connections at once (the demo has 2 workers): exactly the bucket passes
for i in $(seq 12); do
    curl -sS --http2 --cacert "$CA_FILE" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
        -H 'content-type: application/json' --data-binary "{\"key\":\"t1-ec\",\"hashes\":$(hashes 1)}" \
        -o "$TMP/par.$i" -D "$TMP/par.$i.h" -w '%{http_code}\n' "$URL/v1/sign/hash" >"$TMP/par.$i.code" 2>/dev/null &
done
wait
n200=$(cat "$TMP"/par.*.code | grep -c '^200$')
n429=$(cat "$TMP"/par.*.code | grep -c '^429$')
REFUSED=$((REFUSED + n429))
check "12 requests at once across workers: 5 signed (6 if a second passed), the rest 429 ($n200 + $n429)" \
    test "$n200" -ge 5 -a "$n200" -le 6 -a $((n200 + n429)) = 12

# ---- what a refusal looks like
drain
as_tenant1
sign_n t1-ec 3
REFUSED=$((REFUSED + 1))
expect_error "a batch of 3 on an empty bucket: 429 tenant_rate_limited (JSON)" 429 tenant_rate_limited
check "  the message names the limit: $(jget "j['error']['message']")" \
    grep -q 'tenant platform-a is over its signing limit (sign_rate=1/s, sign_burst=5): 3 signatures asked' "$TMP/body"
RA=$(retry_after)
check "  retry-after is whole seconds, 3 tokens at 1/s: 3 ($RA)" test "$RA" = 3 -o "$RA" = 2
sign_n t1-ec 6
REFUSED=$((REFUSED + 1))
expect_error "a batch of 6 (above sign_burst 5) is refused at once: 413 tenant_batch_too_large" 413 tenant_batch_too_large
check "  the message says why it can never pass" grep -q "larger than tenant platform-a's sign_burst=5" "$TMP/body"
check "  no retry-after on the 413" test -z "$(retry_after)"

# ---- every signing route: CEB, 179, CMS (one signature each) are refused alike
# route_refused DESC CURL-ARGS...: drain, then the request must be 429 (three tries, since a
# drained bucket may be just short of a whole token)
route_refused() {
    local desc=$1 try
    shift
    for try in 1 2 3; do
        drain || break
        api POST "$@"
        if [ "$STATUS" = 429 ]; then
            REFUSED=$((REFUSED + 1))
            break
        fi
    done
    expect_error "$desc on an empty bucket: 429" 429 tenant_rate_limited
    check "  with retry-after" test -n "$(retry_after)"
}
route_refused "/v1/sign/ceb" "/v1/sign/ceb?key=t1-sm2" -H 'content-type: application/xml' \
    --data-binary "@$DATA/ceb621-unsigned.xml"
route_refused "/v1/sign/179" "/v1/sign/179?key=t1-sm2" -H 'content-type: application/json' \
    --data-binary "@$DATA/pay179-request.json"
printf 'a contract\n' >"$TMP/doc"
route_refused "/v1/sign/cms" "/v1/sign/cms?key=t1-ec" --data-binary "@$TMP/doc"

# ---- refused requests leave nothing in the audit table or the ledger
drain
before=$(leaves)
before_audit=$(audit_count "$INST")
as_tenant1
codes=""
for i in 1 2 3 4; do
    sign_n t1-ec 5
    codes="$codes $STATUS"
done
REFUSED=$((REFUSED + 4))
check "4 batches of 5 right after: all 429 ($codes)" test "$codes" = " 429 429 429 429"
check "  no audit row and no ledger leaf for them ($before_audit rows, $before leaves)" \
    test "$(leaves) $(audit_count "$INST")" = "$before $before_audit"

# ---- tenant 2 is not limited, and tenant 1's bucket is its own
as_tenant2
codes=""
for i in 1 2 3 4 5 6 7 8; do
    sign_n t2-ec 100
    codes="$codes $STATUS"
done
check "tenant 2 signs 8 batches of 100 meanwhile: all 200 ($codes)" \
    test "$codes" = " 200 200 200 200 200 200 200 200"
check "  800 more audit rows: its own signatures only" test "$(audit_count "$INST")" = $((before_audit + 800))

# ---- after the wait tenant 1 signs again
drain
RA=$(retry_after)
check "a single hash on the drained bucket: 429, retry-after 1 ($STATUS, $RA)" test "$STATUS $RA" = "429 1"
sleep "$RA"
sign_n t1-ec 1
expect_status "after retry-after seconds tenant 1 signs again" 200
check "  and the signature verifies" test -n "$(jget "j['signatures'][0]")"

# ---- /metrics counts every refusal of tenant 1, and only tenants with a limit have a series
api GET /metrics
check "portseal_tenant_rate_limited_total{tenant=\"platform-a\"} is $REFUSED" \
    grep -qx "portseal_tenant_rate_limited_total{tenant=\"platform-a\"} $REFUSED" "$TMP/body"
check "  platform-b (no limit) has no series" not grep -q 'portseal_tenant_rate_limited_total{tenant="platform-b"}' "$TMP/body"
check "  nor is a rate refusal a policy denial" grep -qx 'portseal_keyholder_denied_total 0' "$TMP/body"

# ---- a reload with a changed limit takes effect (and the buckets start full)
check "sign_rate=100 sign_burst=50, reloaded by SIGHUP" set_limit "sign_rate=100 sign_burst=50"
as_tenant1
sign_n t1-ec 50
expect_status "a batch of 50 passes (it was 413 under sign_burst=5)" 200
sign_n t1-ec 51
expect_error "a batch of 51 is 413 under the new sign_burst=50" 413 tenant_batch_too_large
check "  naming the new limit" grep -q "sign_burst=50" "$TMP/body"
api GET /metrics
check "the new keyholder's counter started from 0 (1 refusal since)" \
    grep -qx 'portseal_tenant_rate_limited_total{tenant="platform-a"} 1' "$TMP/body"
check "no limit: reloaded" set_limit ""
as_tenant1
sign_n t1-ec 1000
expect_status "without a limit a batch of 1000 (max_hashes) passes" 200
api GET /metrics
check "  and no tenant has a rate-limit series" not grep -q '^portseal_tenant_rate_limited_total' "$TMP/body"
