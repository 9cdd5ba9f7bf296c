# tests/integration/lib.sh - shared helpers for the integration scripts (sourced).
# Each test prints "ok - what" or "not ok - what"; tests/run counts them.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${PORTSEAL_BUILD:-build}
export PORTSEALD=$REPO/$BUILD/portseald
export KEYTOOL=$REPO/$BUILD/portseal-keytool
DEMO=$REPO/tools/portseal-demo
TMP=$(mktemp -d /tmp/portseal-it.XXXXXX)
# workers run as nobody: their state_dir must be reachable (not readable) for them
chmod 0711 "$TMP"
INSTANCES=()

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
# not COMMAND...: succeeds when COMMAND fails
not() { ! "$@"; }
# check DESC COMMAND...: ok if the command succeeds
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else nok "$desc"; fi
}

cleanup() {
    local d
    for d in "${INSTANCES[@]}"; do
        "$DEMO" stop "$d" >/dev/null 2>&1
        # sanitizer builds: any report in a daemon log fails the script
        if grep -q -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$d/portseald.log" 2>/dev/null; then
            nok "sanitizer report in $d/portseald.log"
            grep -A 30 -E 'ERROR: AddressSanitizer|runtime error:' "$d/portseald.log" | head -60
        fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# free_port: a TCP port nobody listens on (from a random start)
free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# start_instance DIR [args...]: start an appliance; sets URL CA_FILE CLIENT_CERT ... PID LOG
start_instance() {
    local dir=$1
    shift
    local env
    env=$("$DEMO" start "$dir" --port "$(free_port)" "$@" 2>"$TMP/demo-start.err") || {
        nok "portseal-demo start $dir"
        cat "$TMP/demo-start.err"
        exit 1
    }
    eval "$env"
    INSTANCES+=("$dir")
}

# api METHOD PATH [curl args...]: request as tenant 1; body in $TMP/body, status in $STATUS
CERT_ARGS=()
as_tenant1() { CERT_ARGS=(--cert "$CLIENT_CERT" --key "$CLIENT_KEY"); }
as_tenant2() { CERT_ARGS=(--cert "$CLIENT2_CERT" --key "$CLIENT2_KEY"); }
as_cert() { CERT_ARGS=(--cert "$1" --key "$2"); }
as_nobody() { CERT_ARGS=(); }
STATUS=000
api() {
    local method=$1 path=$2
    shift 2
    STATUS=$(curl -sS --http2 --cacert "$CA_FILE" "${CERT_ARGS[@]}" -X "$method" \
        -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@" "$URL$path" 2>"$TMP/curl.err") || STATUS=000
}
# post_json PATH JSON
post_json() { api POST "$1" -H 'content-type: application/json' --data-binary "$2"; }
# jget EXPR: evaluate a Python expression over the JSON body bound to j
jget() { python3 -c "import json,sys; j=json.load(open('$TMP/body')); print($1)" 2>/dev/null; }
# expect_status DESC CODE [ERROR_CODE]: check the last response
expect_status() {
    local desc=$1 want=$2 code=${3:-}
    if [ "$STATUS" != "$want" ]; then
        nok "$desc: status $STATUS, want $want: $(head -c 300 "$TMP/body" 2>/dev/null)"
        return 1
    fi
    if [ -n "$code" ] && [ "$(jget "j['error']['code']")" != "$code" ]; then
        nok "$desc: error code '$(jget "j['error']['code']")', want '$code'"
        return 1
    fi
    if ! grep -qi '^x-request-id: ' "$TMP/headers"; then
        nok "$desc: no x-request-id header"
        return 1
    fi
    ok "$desc"
}
b64_sha256() { printf '%s' "$1" | openssl dgst -sha256 -binary | base64 -w0; }

# ---- added for bad_input.sh, tenants_and_certs.sh, faults.sh ----
# expect_error DESC STATUS CODE: like expect_status (status, error code, x-request-id), and the
# body is an application/json {"error":{"code","message"}} with a non-empty message
expect_error() {
    local desc=$1 want=$2 code=$3 got
    got=$(python3 -I -S -c "
import json,sys
try:
    e=json.load(open(sys.argv[1]))['error']; m=e['message']
    print(e['code'] if isinstance(m,str) and m else 'NO-MESSAGE')
except Exception: print('NOT-AN-ERROR-OBJECT')" "$TMP/body" 2>/dev/null)
    if [ "$STATUS" != "$want" ]; then
        nok "$desc: status $STATUS, want $want: $(head -c 300 "$TMP/body" 2>/dev/null)"
        return 1
    fi
    if [ "$got" != "$code" ]; then
        nok "$desc: error code '$got', want '$code': $(head -c 300 "$TMP/body" 2>/dev/null)"
        return 1
    fi
    if ! grep -qi '^content-type: application/json' "$TMP/headers"; then
        nok "$desc: error response is not application/json"
        return 1
    fi
    if ! grep -qi '^x-request-id: ' "$TMP/headers"; then
        nok "$desc: no x-request-id header"
        return 1
    fi
    ok "$desc"
}
# wait_until SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds; fails after SECONDS
wait_until() {
    local end=$(($(date +%s%N) + $1 * 1000000000))
    shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
# audit_count DIR: number of records in the instance's audit table
audit_count() { sqlite3 "$1/state/audit.db" "select count(*) from audit"; }
# b64_rand N: base64 of N random bytes
b64_rand() { head -c "$1" /dev/urandom | base64 -w0; }
# mkkey NAME PKIDIR CN: an EC P-256 key $TMP/k/NAME.key with a document-signing certificate
# from PKIDIR's issuing CA ($TMP/k/NAME.pem, and NAME-chain.pem with the CA), e.g. to sign JWS
# as a partner would
mkkey() {
    mkdir -p "$TMP/k"
    openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/k/$1.key" 2>/dev/null &&
        openssl req -new -key "$TMP/k/$1.key" -subj "/CN=$3" -out "$TMP/k/$1.csr" 2>/dev/null &&
        "$REPO/certs/dev/issue.sh" "$2" "$TMP/k/$1.csr" "$TMP/k/$1.pem" "$3" >/dev/null 2>&1 &&
        cat "$TMP/k/$1.pem" "$2/ca.pem" >"$TMP/k/$1-chain.pem"
}
