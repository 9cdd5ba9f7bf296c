#!/usr/bin/env bash
# Observability (issue 8) on two paired appliances, cn and hk: GET /metrics parses as the
# Prometheus text format (python3-prometheus-client's parser) with # HELP and # TYPE for every
# family, every family documented in docs/metrics.md with its type; signatures by key, the
# latest checkpoint's size and time, the P2P outbox depth and oldest age while the partner is
# away (and 0 once delivered), the partner's inbox count, AEO applied/notified seq, lag and
# fetch age after the partner's register changed; then log_format json after a reload: every
# line each process writes is one JSON object with ts, level, proc, pid, func, msg.
. "$(dirname "$0")/lib.sh"

start_instance "$TMP/cn" --name cn
CN_URL=$URL CN_CA=$CA_FILE CN_OFFICER_CERT=$OFFICER_CERT CN_OFFICER_KEY=$OFFICER_KEY
CN_CLIENT_CERT=$CLIENT_CERT CN_CLIENT_KEY=$CLIENT_KEY
start_instance "$TMP/hk" --name hk --partner "cn=$TMP/cn"
HK_URL=$URL HK_CA=$CA_FILE HK_OFFICER_CERT=$OFFICER_CERT HK_OFFICER_KEY=$OFFICER_KEY
HK_PORT=${HK_URL##*:}
on_cn() { URL=$CN_URL CA_FILE=$CN_CA; as_cert "$CN_OFFICER_CERT" "$CN_OFFICER_KEY"; }
on_hk() { URL=$HK_URL CA_FILE=$HK_CA; as_cert "$HK_OFFICER_CERT" "$HK_OFFICER_KEY"; }
NOTE='{"subject":"shift change","text":"Lane 3 closes at 22:00."}'

# scrape SIDE: its /metrics as its officer into $TMP/m.txt
scrape() {
    "on_$1"
    api GET /metrics && [ "$STATUS" = 200 ] && cp "$TMP/body" "$TMP/m.txt"
}
# val SERIES: the value of the exact series ('name' or 'name{labels}') in $TMP/m.txt
val() { awk -v s="$1" 'index($0, s " ") == 1 { print $2; exit }' "$TMP/m.txt"; }
# is SIDE SERIES PYTHON-CONDITION-ON-v: scrape and test the series' value
is() {
    scrape "$1" || return 1
    python3 -c "import sys; v=float(sys.argv[1]); sys.exit(not ($3))" "$(val "$2")" 2>/dev/null
}

# --- the format, the help texts and the document --------------------------------------------
# the Prometheus client's own parser (python3-prometheus-client; the python3 first on PATH may
# be another interpreter than Debian's)
PYPROM=
for p in python3 /usr/bin/python3; do
    if "$p" -c "import prometheus_client" 2>/dev/null; then PYPROM=$p; break; fi
done
check "the link hk -> cn is up" wait_until 20 sh -c "curl -s --cacert '$HK_CA' --cert '$HK_OFFICER_CERT' --key '$HK_OFFICER_KEY' '$HK_URL/v1/partners' | grep -q '\"ok\": *true'"
as_cert "$CN_CLIENT_CERT" "$CN_CLIENT_KEY"
URL=$CN_URL CA_FILE=$CN_CA
for i in 1 2 3; do
    post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 "m$i")"'","'"$(b64_sha256 "n$i")"'"]}'
done
check "three signing requests of two hashes at cn" test "$STATUS" = 200
on_cn
api POST /v1/ledger/checkpoint
check "a fresh checkpoint at cn" test "$STATUS" = 200
check "cn's /metrics as its officer" scrape cn
check "a tenant may read /metrics too (local identities)" sh -c "curl -s -o /dev/null -w '%{http_code}' --cacert '$CN_CA' --cert '$CN_CLIENT_CERT' --key '$CN_CLIENT_KEY' '$CN_URL/metrics' | grep -qx 200"
if [ -n "$PYPROM" ]; then
    check "the Prometheus client's parser reads it ($PYPROM)" "$PYPROM" -c "
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))
sys.exit(not (len(fams) >= 20 and sum(len(f.samples) for f in fams) > 100))" "$TMP/m.txt"
else
    ok "# SKIP the Prometheus client's parser: python3-prometheus-client is not installed (make deps)"
fi
check "every line is a comment or a sample (text format 0.0.4); every family has # HELP and # TYPE, is documented in docs/metrics.md with that type, and each series appears once" \
    python3 - "$TMP/m.txt" "$REPO/docs/metrics.md" <<'PY'
import re, sys
text, doc = open(sys.argv[1]).read(), open(sys.argv[2]).read()
documented = dict(re.findall(r"^\| `(portseal_[a-z0-9_]+)` \| ([a-z]+) \|", doc, re.M))
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? '
                    r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')
helps = dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.M))
types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
bad = []
if not text.endswith("\n") or len(types) < 20:
    bad.append("%d families; ends with a newline: %s" % (len(types), text.endswith("\n")))
for line in text.splitlines():
    if not line.startswith("#") and not sample.match(line):
        bad.append("not a sample line: %r" % line)
    elif line.startswith("#") and not re.match(r"# (HELP|TYPE) [a-z_0-9]+ \S", line):
        bad.append("a stray comment: %r" % line)
for name, t in types.items():
    if name not in helps:
        bad.append("%s: no # HELP" % name)
    if documented.get(name) != t:
        bad.append("%s: type %s, documented as %s" % (name, t, documented.get(name)))
    if t == "counter" and not name.endswith("_total"):
        bad.append("%s: a counter without _total" % name)
seen = set()
for line in text.splitlines():
    if not line or line.startswith("#"):
        continue
    series, value = line.rsplit(" ", 1)
    name = re.match(r"[a-z0-9_]+", series).group(0)
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if name not in types and not (base in types and types[base] == "histogram"):
        bad.append("%s: no # TYPE" % name)
    if series in seen:
        bad.append("%s twice" % series)
    seen.add(series)
    float(value)
print("\n".join("# " + b for b in bad))
sys.exit(1 if bad else 0)
PY
check "signatures: total and by tenant, key and algorithm" sh -c "
    [ \"\$(awk '/^portseal_signatures_total /{print \$2}' '$TMP/m.txt')\" -ge 6 ] &&
    grep -q '^portseal_signatures_by_key_total{tenant=\"platform-a\",key=\"t1-ec\",alg=\"ecdsa-sha256\"} 6$' '$TMP/m.txt'"
check "keyholder and HSM up, no HSM errors" test "$(val portseal_keyholder_up) $(val portseal_hsm_up) $(val portseal_hsm_errors_total)" = "1 1 0"
check "the latest checkpoint (after the signatures, at most the ledger size) was signed in the last minute" python3 -c "
import sys, time
leaves, cp, ts = float('$(val portseal_ledger_leaves)'), float('$(val portseal_ledger_checkpoint_leaves)'), float('$(val portseal_ledger_checkpoint_timestamp_seconds)')
sys.exit(not (6 <= cp <= leaves and 0 <= time.time() - ts < 60))"
# a signature and a scrape on one connection, so by one worker (a scrape shows its worker's)
curl -sS --http2 --cacert "$CN_CA" --cert "$CN_CLIENT_CERT" --key "$CN_CLIENT_KEY" \
    -H 'content-type: application/json' -o /dev/null \
    --data-binary '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 x)"'"]}' \
    "$CN_URL/v1/sign/hash" --next --http2 --cacert "$CN_CA" --cert "$CN_CLIENT_CERT" \
    --key "$CN_CLIENT_KEY" -o "$TMP/m1.txt" "$CN_URL/metrics"
check "the worker's HTTP counters and latency histogram count the signing request" sh -c "
    grep -q '^portseal_http_requests_total{worker=\"[0-9]*\",route=\"sign_hash\",code=\"2xx\"} [1-9]' '$TMP/m1.txt' &&
    grep -q '^portseal_http_request_seconds_count{worker=\"[0-9]*\",route=\"sign_hash\"} [1-9]' '$TMP/m1.txt' &&
    grep -q '^portseal_http_request_seconds_bucket{worker=\"[0-9]*\",route=\"sign_hash\",le=\"+Inf\"} [1-9]' '$TMP/m1.txt'"
check "the worker's open connections" test -n "$(grep '^portseal_connections_open{worker="[0-9]*"} [0-9]*$' "$TMP/m.txt")"

# --- P2P: outbox depth and age while hk is away, then delivered -----------------------------
"$DEMO" stop "$TMP/hk" >/dev/null
on_cn
for i in 1 2; do post_json /v1/p2p/outbox '{"to":"hk","type":"note","priority":"routine","body":'"$NOTE"'}'; done
check "cn queues two messages for hk while hk is away" test "$STATUS" = 202
sleep 2
check "outbox depth for hk is 2" is cn 'portseal_p2p_outbox_pending{partner="hk"}' 'v == 2'
check "the oldest has waited 2 s or more" is cn 'portseal_p2p_outbox_oldest_age_seconds{partner="hk"}' 'v >= 2'
"$DEMO" start "$TMP/hk" --port "$HK_PORT" >/dev/null 2>&1
check "hk is back" wait_until 10 curl -sf --cacert "$HK_CA" "$HK_URL/healthz" -o /dev/null
check "once delivered, the depth is 0 and the age 0" wait_until 60 sh -c "
    curl -s --cacert '$CN_CA' --cert '$CN_OFFICER_CERT' --key '$CN_OFFICER_KEY' '$CN_URL/metrics' |
    grep -q '^portseal_p2p_outbox_pending{partner=\"hk\"} 0$'"
check "hk's inbox count for cn is 2" is hk 'portseal_p2p_inbox_messages{partner="cn"}' 'v == 2'
check "and its outbox for cn is empty" is hk 'portseal_p2p_outbox_oldest_age_seconds{partner="cn"}' 'v == 0'

# --- AEO: hk's register changes, hk notifies, cn pulls -----------------------------------------
# (identifiers follow the default table, AEOCN + 10 or AEOSG + 12 characters, on every side)
cat >"$TMP/hk.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOSG2021000000A1,Kwai Chung Terminals Ltd,"Container Port Road, Kwai Chung",valid,2024-01-01,2030-12-31
AEOSG2021000000A2,Lok Ma Chau Logistics Ltd,"San Tin, Yuen Long",valid,2024-03-01,2030-02-28
CSV
on_hk
api POST /v1/aeo/register -H 'content-type: text/csv' --data-binary "@$TMP/hk.csv"
check "hk imports a register of two operators ($(head -c 200 "$TMP/body"))" test "$STATUS" = 200
check "cn applies hk's seq 2 within 30 s" wait_until 30 is cn 'portseal_aeo_applied_seq{partner="hk",origin="HK"}' 'v == 2'
check "cn's lag for HK is notified - applied, at least 0" python3 -c "
import sys
a, n, l = [float(x) for x in sys.argv[1:4]]
sys.exit(not (l == max(n - a, 0) and n <= 2))" \
    "$(val 'portseal_aeo_applied_seq{partner="hk",origin="HK"}')" \
    "$(val 'portseal_aeo_notified_seq{partner="hk",origin="HK"}')" \
    "$(val 'portseal_aeo_lag_records{partner="hk",origin="HK"}')"
check "the last fetch was less than 30 s ago" python3 -c "import sys; sys.exit(not 0 <= float('$(val 'portseal_aeo_fetch_age_seconds{partner="hk",origin="HK"}')') < 30)"

# --- log_format json after a reload ----------------------------------------------------------
LOG=$TMP/cn/portseald.log
before=$(wc -l <"$LOG")
echo "log_format json" >>"$TMP/cn/portseald.conf"
kill -HUP "$(cat "$TMP/cn/portseald.pid")"
check "after the reload the workers log in JSON" wait_until 20 grep -q '"proc":"worker0".*"msg":"serving"' "$LOG"
check "cn answers again" wait_until 10 curl -sf --cacert "$CN_CA" "$CN_URL/healthz" -o /dev/null
api GET /v1/nope
check "every line since the reload is one JSON object with ts, level, proc, pid, func, msg (text only from the children it replaced)" \
    python3 - "$LOG" "$before" "$(cat "$TMP/cn/portseald.pid")" <<'PY'
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
before, parent = int(sys.argv[2]), int(sys.argv[3])
text = re.compile(r"^\S+Z \S+\[(\d+)\] ")
old = {int(m.group(1)) for m in map(text.match, lines[:before]) if m} - {parent}
bad, procs = [], set()
for l in lines[before:]:
    m = text.match(l)
    if m and int(m.group(1)) in old:
        continue  # a child of the old configuration saying goodbye
    try:
        o = json.loads(l)
        assert isinstance(o, dict)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["ts"])
        assert o["level"] in ("error", "warn", "info", "debug")
        assert isinstance(o["pid"], int) and o["func"] and isinstance(o["msg"], str)
        procs.add(o["proc"])
    except Exception as e:
        bad.append("%r: %s" % (l[:200], e))
need = {"portseald", "keyholder", "worker0"}
if not need <= procs:
    bad.append("processes seen: %s" % sorted(procs))
print("\n".join("# " + b for b in bad[:10]))
sys.exit(1 if bad else 0)
PY
