#!/usr/bin/env bash
# GET /v1/p2p/stream: the inbox as server-sent events. Two paired appliances sz and hk (hk with
# 2 workers, idle_timeout 2, send_timeout 3, p2p_stream_max 4). The test plays sz's courier as
# p2p.sh does and posts envelopes to hk while hk's officer has streams open (curl -N): events
# in order with ids and the message JSON of GET /v1/p2p/messages; resume with after= and
# Last-Event-ID; 403 for a tenant and a partner; keepalives, and no idle_timeout while a stream
# is open; the per-worker cap (503); a reader that takes nothing is reset, its connection kept;
# streams opened and abandoned in bulk are all freed and memory stays bounded.
. "$(dirname "$0")/lib.sh"
J="python3 $REPO/tests/integration/p2p_jws.py"
SSE="/usr/bin/python3 $REPO/tests/integration/p2p_sse.py"

start_instance "$TMP/sz" --name sz
start_instance "$TMP/hk" --name hk --partner "sz=$TMP/sz"
"$DEMO" stop "$TMP/hk" >/dev/null 2>&1
cat >>"$TMP/hk/portseald.conf" <<CONF
idle_timeout 2
send_timeout 3
p2p_stream_max 4
CONF
start_instance "$TMP/hk"
HK_URL=$URL HK_CA=$CA_FILE HK_OFFICER_CERT=$OFFICER_CERT HK_OFFICER_KEY=$OFFICER_KEY HK_PID=$PID
HK_LOG=$TMP/hk/portseald.log

# sz's envelope signing key, as in p2p.sh
mkdir -p "$TMP/k"
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/k/sz.key" 2>/dev/null
openssl req -new -key "$TMP/k/sz.key" -subj "/CN=p2p.sz.portseal.test" -out "$TMP/k/sz.csr" 2>/dev/null
"$REPO/certs/dev/issue.sh" "$TMP/sz/pki" "$TMP/k/sz.csr" "$TMP/k/sz.pem" p2p.sz.portseal.test >/dev/null 2>&1
cat "$TMP/k/sz.pem" "$TMP/sz/pki/ca.pem" >"$TMP/k/sz-chain.pem"
as_sz() { as_cert "$TMP/sz/pki/partner.pem" "$TMP/sz/pki/partner.key"; }
as_officer() { as_cert "$HK_OFFICER_CERT" "$HK_OFFICER_KEY"; }
# deliver SEQ: sz's message sz-SEQ (a note) posted to hk's inbound endpoint; 200 or a not ok
deliver() {
    local text="note $1 "'\"quoted\", a line\nbreak and 港'
    $J envelope sz hk "sz-$1" "$1" note '{"subject":"s'"$1"'","text":"'"$text"'"}' >"$TMP/e$1.json" &&
        $J sign "$TMP/k/sz.key" "$TMP/k/sz-chain.pem" "$TMP/e$1.json" >"$TMP/e$1.jws" || return 1
    as_sz
    api POST /v1/p2p/inbound -H 'content-type: application/jose' --data-binary "@$TMP/e$1.jws"
    [ "$STATUS" = 200 ] || nok "deliver sz-$1: status $STATUS $(head -c 300 "$TMP/body")"
}
URL=$HK_URL CA_FILE=$HK_CA
# n of message sz-SEQ in hk's inbox
n_of() { sqlite3 "$TMP/hk/state/p2p/p2p.db" "select n from inbox where id = 'sz-$1'"; }

# open NAME [QUERY] [curl args...]: the officer's stream in the background, into $TMP/NAME.sse;
# waits for its first line (": after N"); the curl pid in $OPEN_PID
open_stream() {
    local name=$1 q=${2:-}
    shift 2
    curl -sS --http2 -N --cacert "$HK_CA" --cert "$HK_OFFICER_CERT" --key "$HK_OFFICER_KEY" \
        -D "$TMP/$name.hdr" "$@" "$HK_URL/v1/p2p/stream$q" >"$TMP/$name.sse" 2>"$TMP/$name.err" &
    OPEN_PID=$!
    wait_until 10 grep -q '^: after ' "$TMP/$name.sse"
}
# once NAME QUERY [curl args...]: the stream for 2 s (curl's --max-time ends it)
once() {
    local name=$1 q=$2
    shift 2
    curl -sS --http2 -N --max-time 2 --cacert "$HK_CA" --cert "$HK_OFFICER_CERT" \
        --key "$HK_OFFICER_KEY" "$@" "$HK_URL/v1/p2p/stream$q" >"$TMP/$name.sse" 2>/dev/null
    true
}
# ids NAME: the ids of the events in $TMP/NAME.sse, space-separated (the file must be well-formed:
# every event is id, event: message, one data line of JSON whose n is the id)
ids() {
    python3 - "$TMP/$1.sse" <<'PY'
import json, sys
out, ev = [], {}
for line in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    if line == "":
        if ev:
            assert ev.get("event") == "message", ev
            m = json.loads(ev["data"])
            assert m["n"] == int(ev["id"]) and m["dir"] == "in", ev
            out.append(ev["id"])
        ev = {}
    elif line.startswith(":"):
        continue
    else:
        k, _, v = line.partition(": ")
        assert k in ("id", "event", "data") and k not in ev, line
        ev[k] = v
print(" ".join(out))
PY
}
nevents() { grep -c '^id: ' "$TMP/$1.sse"; }
# has NAME COUNT: the stream has COUNT events; last_is NAME ID: its last event is ID
has() { [ "$(nevents "$1")" = "$2" ]; }
last_is() { [ "$(grep '^id: ' "$TMP/$1.sse" | tail -1)" = "id: $2" ]; }
# streams_closed: every stream opened so far on hk has been freed again
opened() { grep -c 'p2p stream opened by' "$HK_LOG"; }
closed() { grep -c 'p2p stream of .* closed at n' "$HK_LOG"; }
all_closed() { [ "$(opened)" = "$(closed)" ]; }

# --- events as messages arrive ------------------------------------------------------------------
deliver 1
N1=$(n_of 1)
open_stream a ""
A_PID=$OPEN_PID
check "a stream without after= starts at the newest message (': after $N1')" grep -qx ": after $N1" "$TMP/a.sse"
check "text/event-stream" grep -qi '^content-type: text/event-stream' "$TMP/a.hdr"
check "not cached" grep -qi '^cache-control: no-store' "$TMP/a.hdr"
check "with x-request-id" grep -qi '^x-request-id: ' "$TMP/a.hdr"
check "and no content-length" not grep -qi '^content-length' "$TMP/a.hdr"
open_stream b "?after=0"
B_PID=$OPEN_PID
check "with after=0 the stored message comes at once" wait_until 5 has b 1
deliver 2
deliver 3
deliver 4
N2=$(n_of 2) N3=$(n_of 3) N4=$(n_of 4)
check "three new messages reach the first stream" wait_until 5 has a 3
T_LAST=$(date +%s)
check "in order of arrival, with their n as ids" test "$(ids a)" = "$N2 $N3 $N4"
check "and all four the second" wait_until 5 has b 4
check "in order too" test "$(ids b)" = "$N1 $N2 $N3 $N4"
as_officer
api GET '/v1/p2p/messages?dir=in'
check "each event's data is the message as GET /v1/p2p/messages lists it" python3 -c "
import json, sys
listed = {m['n']: m for m in json.load(open('$TMP/body'))['messages']}
evs = [json.loads(l[6:]) for l in open('$TMP/b.sse', encoding='utf-8') if l.startswith('data: ')]
sys.exit(not (len(evs) == 4 and all(e == listed[e['n']] for e in evs)
              and evs[1]['body']['text'].endswith('a line\nbreak and 港')))"
check "one line of data per event (newlines in the message escaped)" test "$(grep -c '^data: ' "$TMP/b.sse")" = 4
SA=$(grep -o 'worker[0-9]*\[[0-9]*\] info api_p2p_stream: p2p stream opened by officer-1 after n '"$N1" "$HK_LOG" | head -1 | cut -d'[' -f1)
STORED=$(grep 'p2p inbound sz/sz-[234] ' "$HK_LOG" | grep -o 'worker[0-9]*' | sort -u | tr '\n' ' ')
echo "# stream a on $SA; messages 2-4 stored by $STORED(every event goes through the store poll)"

# --- resume ---------------------------------------------------------------------------------------
once r1 "?after=$N2"
check "after=N resumes after N" test "$(ids r1)" = "$N3 $N4"
once r2 "?after=0" -H "Last-Event-ID: $N3"
check "Last-Event-ID resumes too, and wins over after= (a reconnecting EventSource)" test "$(ids r2)" = "$N4"
once r3 "?after=$N4"
check "after the newest: no events, the stream stays open" test "$(cat "$TMP/r3.sse")" = ": after $N4"
as_officer
api GET '/v1/p2p/stream?after=x'
expect_error "after= must be a number" 400 invalid_request
api GET '/v1/p2p/stream' -H 'Last-Event-ID: abc'
expect_error "Last-Event-ID must be an event id" 400 invalid_request
STATUS=$(curl -sS --http2 -I --max-time 5 --cacert "$HK_CA" --cert "$HK_OFFICER_CERT" --key "$HK_OFFICER_KEY" \
    -o "$TMP/head.hdr" -w '%{http_code}' "$HK_URL/v1/p2p/stream")
check "HEAD answers the headers only" test "$STATUS" = 200
as_tenant1
api GET /v1/p2p/stream --max-time 5
expect_error "a tenant may not open the stream" 403 not_an_officer
as_sz
api GET /v1/p2p/stream --max-time 5
expect_status "nor may a partner" 403

# --- keepalives; an open stream keeps its connection past idle_timeout ---------------------------
sleep $((T_LAST + 17 - $(date +%s)))
check "a keepalive comment within ~15 s of the last event" grep -qx ': keepalive' "$TMP/a.sse"
check "the stream outlived idle_timeout (2 s) by far" kill -0 "$A_PID"
check "and so did the other" kill -0 "$B_PID"
deliver 5
N5=$(n_of 5)
check "a message after 17 s still arrives on both" wait_until 5 last_is a "$N5"
check "(both)" wait_until 5 last_is b "$N5"
check "the log names no idle close of them" not grep -q 'idle (idle_timeout)' "$HK_LOG"
kill "$A_PID" "$B_PID"
wait "$A_PID" "$B_PID" 2>/dev/null
check "a client that goes away frees its stream (opened = closed in the log)" wait_until 5 all_closed

# --- limits ----------------------------------------------------------------------------------------
$SSE "$HK_URL" "$HK_CA" "$HK_OFFICER_CERT" "$HK_OFFICER_KEY" cap 5 >"$TMP/cap.out"
echo "# cap: $(tr '\n' ' ' <"$TMP/cap.out")"
check "p2p_stream_max 4: on one connection (one worker) the fifth stream gets 503 too_many_streams" \
    test "$(head -1 "$TMP/cap.out")" = "200 200 200 200 503:too_many_streams"
check "a stream reset by its client frees its place: the next one gets 200" \
    test "$(sed -n 2p "$TMP/cap.out")" = "again 200"
check "all freed once the connection is gone" wait_until 5 all_closed
STALL=$($SSE "$HK_URL" "$HK_CA" "$HK_OFFICER_CERT" "$HK_OFFICER_KEY" stall 12 | tr '\n' ' ')
echo "# stall: $STALL"
check "a reader that takes nothing (window 0) is reset with CANCEL after send_timeout (3 s)" \
    python3 -c "import sys; w=sys.argv[1].split(); sys.exit(not (w[0]=='reset' and w[1]=='8' and 2.5 <= float(w[2]) <= 8))" "$STALL"
check "and its connection still answers" grep -q 'healthz 200' <<<"$STALL"
check "its stream is freed" wait_until 5 all_closed

# --- attack: streams opened and abandoned in bulk ------------------------------------------------
for i in $(seq 6 25); do deliver "$i" >/dev/null; done
check "25 messages stored" test "$(sqlite3 "$TMP/hk/state/p2p/p2p.db" 'select count(*) from inbox')" = 25
workers_rss() { # kB, all of hk's children (the workers, and the keyholder)
    local t=0 p
    for p in $(pgrep -P "$HK_PID"); do
        t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
RSS0=$(workers_rss)
ABANDON=$($SSE "$HK_URL" "$HK_CA" "$HK_OFFICER_CERT" "$HK_OFFICER_KEY" abandon 100 4)
RSS1=$(workers_rss)
echo "# abandon 100 x 4 streams (each with 25 messages queued): $ABANDON; RSS $RSS0 -> $RSS1 kB"
check "400 streams opened and abandoned (closed sockets, resets)" python3 -c "
import sys; c=dict(kv.split(':') for kv in sys.argv[1].split()); sys.exit(not int(c.get('200', 0)) >= 300)" "$ABANDON"
check "every abandoned stream was freed (opened = closed in the log)" wait_until 10 all_closed
for w in $(grep -o 'worker[0-9]*\[[0-9]*\] info sse_closed' "$HK_LOG" | cut -d' ' -f1 | sort -u); do
    check "$w has no stream left open" test "$(grep -F "$w info sse_closed" "$HK_LOG" | tail -1 | grep -o '([0-9]* open)')" = "(0 open)"
done
BOUND=16000
[[ $BUILD == *asan* ]] && BOUND=1200000 # sanitizer builds keep freed memory in quarantine (as attack.sh)
check "memory stayed bounded (RSS growth $((RSS1 - RSS0)) kB < $BOUND kB)" test $((RSS1 - RSS0)) -lt $BOUND
once last "?after=0"
check "afterwards a stream still gets every message" test "$(ids last | wc -w)" = 25
check "appliance still up (parent pid $HK_PID)" kill -0 "$HK_PID"
check "no worker restarted" not grep -qE 'worker [0-9]+ .*restarting it' "$HK_LOG"
