#!/usr/bin/env bash
# tests/integration/attack.sh - the attack suite (tests/attack/h2attack.py), short version.
# Every scenario attacks one appliance while an honest client keeps signing; see
# docs/hardening.md. `make attack` runs the longer version (ATTACK_SECONDS, default 30).
#   ATTACK_SECONDS      seconds per attack (default 4)
#   ATTACK_SCENARIOS    which ones (default all)
#   ATTACK_EXTRA_CONF   config lines appended last, e.g. to turn a defence off and watch its
#                       test fail: ATTACK_EXTRA_CONF='send_timeout 86400'
#   ATTACK_RATE         honest requests per second (default 50)
. "$(dirname "$0")/lib.sh"

SECS=${ATTACK_SECONDS:-4}
MAXCONN=150
PERADDR=20
WORKERS=2
start_instance "$TMP/a"
"$DEMO" stop "$TMP/a" >/dev/null 2>&1
# short limits, so that each defence shows within a few seconds
cat >>"$TMP/a/portseald.conf" <<CONF
max_connections $MAXCONN
idle_timeout 10
handshake_timeout 3
header_timeout 3
body_timeout 3
send_timeout 3
request_rate 300
request_burst 600
connection_rate 20
max_connections_per_address $PERADDR
${ATTACK_EXTRA_CONF:-}
CONF
start_instance "$TMP/a"

# sanitizer builds keep freed memory in quarantine (256 MB per process by default)
RSS_BOUND=150 LAT_BOUND=5 GAP_BOUND=3
[[ $BUILD == *asan* ]] && RSS_BOUND=1200 LAT_BOUND=15 GAP_BOUND=10
# shellcheck disable=SC2086
/usr/bin/python3 "$REPO/tests/attack/h2attack.py" --url "$URL" --ca "$CA_FILE" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY" --attack-cert "$CLIENT2_CERT" \
    --attack-key "$CLIENT2_KEY" --pid "$PID" --seconds "$SECS" --rate "${ATTACK_RATE:-50}" \
    --conn-cap $((MAXCONN * WORKERS)) --address-cap $((PERADDR * WORKERS)) --idle-timeout 10 --header-timeout 3 --body-timeout 3 --send-timeout 3 \
    --handshake-timeout 3 --max-rss-growth "$RSS_BOUND" --max-latency "$LAT_BOUND" \
    --max-gap "$GAP_BOUND" ${ATTACK_SCENARIOS:-}

# the appliance is still whole: same parent, still signing
check "appliance still up after the attacks (parent pid $PID)" kill -0 "$PID"
as_tenant1
post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 after)"'"]}'
expect_status "signing works after the attacks" 200
if grep -q -E '(worker [0-9]+|keyholder) (killed|exited)' "$LOG"; then
    nok "no worker or keyholder restarted during the attacks: $(grep -E 'killed|exited' "$LOG" | head -3)"
else
    ok "no worker or keyholder restarted during the attacks"
fi
