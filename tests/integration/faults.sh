#!/usr/bin/env bash
# Faults: (a) the keyholder is killed under load, (b) workers are killed, (c) start-up fails
# (wrong PIN, no module, no token, missing key, config typo), (d) SIGTERM stops everything.
. "$(dirname "$0")/lib.sh"
start_instance "$TMP/cn"
as_tenant1
INST=$TMP/cn
CONF=$INST/portseald.conf
MSG='fault injection'
H=$(b64_sha256 "$MSG")
GOOD="{\"key\":\"t1-ec\",\"hashes\":[\"$H\"]}"
printf '%s' "$MSG" >"$TMP/msg"
openssl x509 -in "$INST/keys/t1-ec.pem" -pubkey -noout >"$TMP/pub.pem"

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(round($(now) - $1, 2))"; }
keyholder() { pgrep -P "$PID" -x ps-keyholder; }
workers() { pgrep -P "$PID" -x 'ps-worker[0-9]+' | sort -n | tr '\n' ' '; }
# alive PID: a live process (a zombie counts as dead)
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
dead() { ! alive "$1"; }
# no_process_with TEXT: no process has TEXT in its command line
no_process_with() { ! pgrep -f -- "$1" >/dev/null; }
sign_ok() { post_json /v1/sign/hash "$GOOD" --max-time 10; [ "$STATUS" = 200 ]; }
# sign_verifies: the last response is a signature over $MSG by t1-ec
sign_verifies() {
    jget "j['signatures'][0]" | base64 -d >"$TMP/sig.bin" &&
        openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/sig.bin" "$TMP/msg" >/dev/null 2>&1
}
# sign_loop DIR: sign $GOOD, one request per connection, until $TMP/stop exists;
# DIR/log gets "STATUS SECONDS N START-TIME" per request, DIR/N.json the body
sign_loop() {
    local dir=$1 i=0 t
    mkdir -p "$dir"
    while [ ! -e "$TMP/stop" ]; do
        i=$((i + 1))
        t=$(date +%s.%N)
        curl -sS --http2 --max-time 10 --cacert "$CA_FILE" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
            -H 'content-type: application/json' --data-binary "$GOOD" -o "$dir/$i.json" \
            -w "%{http_code} %{time_total} $i $t\n" "$URL/v1/sign/hash" >>"$dir/log" 2>/dev/null
    done
}
# loops_start N NAME / loops_stop: N background sign_loops into $TMP/NAME.K
LOOP_PIDS=()
loops_start() {
    rm -f "$TMP/stop"
    for k in $(seq "$1"); do
        sign_loop "$TMP/$2.$k" &
        LOOP_PIDS+=($!)
    done
}
loops_stop() {
    touch "$TMP/stop"
    wait "${LOOP_PIDS[@]}"
    LOOP_PIDS=()
}
# loop_summary NAME: "STATUS count" lines over every request of the NAME loops
loop_summary() { cat "$TMP/$1".[0-9]*/log | awk '{print $1}' | sort | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' '; }
# loop_check_sigs NAME: every 200 body of the NAME loops holds a signature that verifies
# and an audit_seq present in the audit table; no audit_seq twice
loop_check_sigs() {
    python3 - "$TMP" "$1" <<'PY' >"$TMP/$1.sigs" || return 1
import base64, glob, json, os, sys
tmp, name = sys.argv[1], sys.argv[2]
n = 0
for d in glob.glob(f"{tmp}/{name}.[0-9]*"):
    for line in open(f"{d}/log"):
        code, _, i, _ = line.split()
        if code != "200":
            continue
        j = json.load(open(f"{d}/{i}.json"))
        open(f"{tmp}/{name}-sig{n}.bin", "wb").write(base64.b64decode(j["signatures"][0]))
        print(n, j["audit_seq"])
        n += 1
PY
    local n bad=0 seqs
    while read -r n _; do
        openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/$1-sig$n.bin" "$TMP/msg" \
            >/dev/null 2>&1 || { echo "signature $n does not verify" >&2; bad=1; }
    done <"$TMP/$1.sigs"
    [ "$(awk '{print $2}' "$TMP/$1.sigs" | sort | uniq -d | wc -l)" = 0 ] || { echo "an audit_seq twice" >&2; bad=1; }
    seqs=$(awk '{print $2}' "$TMP/$1.sigs" | paste -sd, -)
    [ -z "$seqs" ] || [ "$(sqlite3 "$INST/state/audit.db" "select count(*) from audit where key='t1-ec' and seq in ($seqs)")" = \
        "$(wc -l <"$TMP/$1.sigs")" ] || { echo "an audit_seq not in the audit table" >&2; bad=1; }
    return $bad
}

PID0=$PID
KH=$(keyholder)
W0=$(workers)
check "one keyholder ($KH) and two workers ($W0)" test "$(echo $KH | wc -w) $(echo $W0 | wc -w)" = "1 2"
check "signing works before the faults" sign_ok

# ---- (a) keyholder killed while requests run
audit0=$(audit_count "$INST")
loops_start 3 kh
sleep 1
t0=$(now)
kill -9 "$KH"
wait_until 5 sign_ok
rc=$?
took=$(elapsed "$t0")
t_up=$(now)
check "signing works again ${took}s after kill -9 of the keyholder" test "$rc" = 0
check "and the new signature verifies" sign_verifies
sleep 1
loops_stop
summary=$(loop_summary kh)
echo "# keyholder kill, requests by status: $summary"
check "requests around the restart got 200 or 503 only ($summary)" \
    sh -c "! cat '$TMP'/kh.[0-9]*/log | awk '{print \$1}' | grep -qv -E '^(200|503)$'"
check "no request took 10 s or more" sh -c "! cat '$TMP'/kh.[0-9]*/log | awk '\$2 >= 10' | grep -q ."
check "every 503 says keyholder_unavailable" python3 - "$TMP" <<'PY'
import glob, json, sys
for d in glob.glob(sys.argv[1] + "/kh.[0-9]*"):
    for line in open(d + "/log"):
        code, _, i, _ = line.split()
        if code == "503" and json.load(open(f"{d}/{i}.json"))["error"]["code"] != "keyholder_unavailable":
            sys.exit(1)
PY
check "the loops' requests started after the recovery all got 200" \
    test "$(cat "$TMP"/kh.[0-9]*/log | awk -v t="$t_up" '$4 > t + 0.2 { print $1 }' | sort -u | tr '\n' ' ')" = "200 "
check "every signature returned under load verifies and is audited once" loop_check_sigs kh
n200=$(cat "$TMP"/kh.[0-9]*/log | awk '$1 == 200' | wc -l)
check "the audit table grew by at least the $n200 signatures returned" test $(($(audit_count "$INST") - audit0)) -ge "$n200"
KH2=$(keyholder)
check "a new keyholder runs ($KH -> $KH2)" test -n "$KH2" -a "$KH2" != "$KH" -a "$(echo $KH2 | wc -w)" = 1
check "the parent is the same process ($PID0)" test "$(alive "$PID0" && cat "$INST/portseald.pid")" = "$PID0"
check "the workers were not restarted" test "$(workers)" = "$W0"
check "the log records the keyholder restart" grep -q 'keyholder killed by signal 9' "$LOG"

# the same with a long outage: the parent is stopped so it cannot restart the keyholder yet
kill -STOP "$PID0"
kill -9 "$KH2"
sleep 0.5
t0=$(now)
post_json /v1/sign/hash "$GOOD" --max-time 10
took=$(elapsed "$t0")
expect_error "signing while there is no keyholder" 503 keyholder_unavailable
check "answered in ${took}s (< 3 s)" python3 -c "import sys; sys.exit(not $took < 3)"
api POST "/v1/sign/cms?key=t1-ec" --data-binary 'doc' --max-time 10
expect_error "CMS signing while there is no keyholder" 503 keyholder_unavailable
api GET /readyz --max-time 10
expect_status "readyz while there is no keyholder" 503
check "readyz reports keyholder false" test "$(jget "j['checks']['keyholder']")" = False
api GET /healthz --max-time 10
expect_status "healthz while there is no keyholder" 200
kill -CONT "$PID0"
t0=$(now)
wait_until 5 sign_ok
rc=$?
took=$(elapsed "$t0")
check "signing works again ${took}s after the parent continues" test "$rc" = 0
check "and the new signature verifies" sign_verifies
api GET /readyz
expect_status "readyz after the keyholder restart" 200

# ---- (b) workers killed
KH3=$(keyholder)
W1=$(workers)
victim=${W1%% *}
loops_start 1 wk
sleep 0.5
kill -9 "$victim"
ok_after=0
for i in 1 2 3 4 5; do
    if sign_ok; then ok_after=$i; break; fi
done
check "signing works after kill -9 of worker $victim (attempt $ok_after)" test "$ok_after" -gt 0
wait_until 5 sh -c "p=\$(pgrep -P $PID0 -x 'ps-worker[0-9]+' | tr '\n' ' '); [ \$(echo \$p | wc -w) = 2 ] && ! echo \" \$p \" | grep -q ' $victim '"
rc=$?
check "a new worker replaces $victim ($(workers))" test "$rc" = 0
sleep 0.5
loops_stop
summary=$(loop_summary wk)
echo "# worker kill, requests by status: $summary"
check "requests around the worker kill got 200, or no answer on the dead worker's connection ($summary)" \
    sh -c "! awk '{print \$1}' '$TMP/wk.1/log' | grep -qv -E '^(200|000)$'"
check "at most 3 requests were lost with the worker" test "$(awk '$1 == "000"' "$TMP/wk.1/log" | wc -l)" -le 3
check "every signature returned around the worker kill verifies" loop_check_sigs wk
# kill the other original worker too: then only restarted workers serve
other=$(echo $W1 | awk '{print $2}')
kill -9 "$other"
wait_until 5 sh -c "p=\$(pgrep -P $PID0 -x 'ps-worker[0-9]+' | tr '\n' ' '); [ \$(echo \$p | wc -w) = 2 ] && ! echo \" \$p \" | grep -q -e ' $victim ' -e ' $other '"
check "both original workers replaced ($W1 -> $(workers))" test "$?" = 0
n=0
for i in $(seq 10); do sign_ok && sign_verifies && n=$((n + 1)); done
check "10 of 10 signatures through the restarted workers ($n)" test "$n" = 10
check "the keyholder was not restarted by the worker deaths" test "$(keyholder)" = "$KH3"
# and a keyholder restart now reaches the restarted workers
kill -9 "$KH3"
wait_until 5 sign_ok
check "after another keyholder kill the restarted workers sign again" test "$?" = 0
n=0
for i in $(seq 6); do sign_ok && sign_verifies && n=$((n + 1)); done
check "6 of 6 signatures afterwards ($n)" test "$n" = 6

# a worker that crashes now and then, after running fine for a while, is restarted promptly
# each time (the restart back-off is for crash loops, not for every crash in the daemon's life)
slow=""
for round in 1 2 3 4 5; do
    sleep 2 # the worker runs and serves for a while
    sign_ok
    w=$(pgrep -P "$PID0" -x ps-worker1)
    kill -9 "$w"
    t0=$(now)
    if ! wait_until 3 sh -c "p=\$(pgrep -P $PID0 -x ps-worker1); [ -n \"\$p\" ] && [ \"\$p\" != $w ]"; then
        slow="crash $round of worker 1 (pid $w): no new worker after 3 s"
        wait_until 40 sh -c "pgrep -P $PID0 -x ps-worker1 >/dev/null"
        break
    fi
    echo "# worker 1 crash $round: restarted after $(elapsed "$t0")s"
done
check "a worker that ran for 2 s is restarted within 3 s after each of 5 crashes${slow:+ ($slow)}" test -z "$slow"
check "signing works after the worker crashes" sign_ok

# ---- (c) start-up failures: portseald -c CONF in the foreground exits non-zero, saying why
# variant NAME SED-ARGS...: $TMP/NAME.conf = the instance's config on another port, pid file
# and state dir, edited with sed
variant() {
    local name=$1
    shift
    sed -e "s|^listen .*|listen 127.0.0.1:$(free_port)|" -e "s|^pid_file .*|pid_file $TMP/$name.pid|" \
        -e "s|^state_dir .*|state_dir $TMP/$name-state|" "$@" "$CONF" >"$TMP/$name.conf"
}
# start_fails NAME PATTERN: portseald -c $TMP/NAME.conf exits non-zero within 15 s, stderr
# matches PATTERN (grep -E), no process with that config is left
start_fails() {
    local name=$1 pat=$2 rc=0 t0 took
    t0=$(now)
    timeout 30 "$PORTSEALD" -c "$TMP/$name.conf" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
    took=$(elapsed "$t0")
    check "$name: portseald exits non-zero (status $rc, ${took}s)" test "$rc" -ne 0 -a "$rc" -ne 124
    check "$name: within 15 s" python3 -c "import sys; sys.exit(not $took < 15)"
    if grep -q -E "$pat" "$TMP/$name.err"; then ok "$name: stderr names the problem ($pat)"; else
        nok "$name: stderr does not match '$pat': $(tail -n 3 "$TMP/$name.err")"
    fi
    check "$name: no process left" no_process_with "$TMP/$name.conf"
    check "$name: no pid file left" test ! -e "$TMP/$name.pid"
    # portseald -t finds the same problem before any start (it runs the keyholder's token checks)
    rc=0
    timeout 30 "$PORTSEALD" -t -c "$TMP/$name.conf" >"$TMP/$name.t.out" 2>&1 || rc=$?
    check "$name: portseald -t exits non-zero too ($rc)" test "$rc" -ne 0 -a "$rc" -ne 124
    if grep -q -E "$pat" "$TMP/$name.t.out"; then ok "$name: and says why ($pat)"; else
        nok "$name: portseald -t does not say '$pat': $(tail -n 3 "$TMP/$name.t.out")"
    fi
    check "$name: -t leaves no state_dir behind" test ! -e "$TMP/$name-state/audit.db"
}
# wrong PIN, on a copy of the token (failed logins do not touch the instance's own token)
mkdir -p "$TMP/pincopy"
cp -a "$INST/hsm" "$TMP/pincopy/"
sed -i "s|^directories.tokendir = .*|directories.tokendir = $TMP/pincopy/hsm/tokens|" "$TMP/pincopy/hsm/softhsm2.conf"
(umask 077 && printf '0000000000000000' >"$TMP/pincopy/hsm/pin")
chmod 0600 "$TMP/pincopy/hsm/pin"
check "the copied PIN differs from the real one" sh -c "! cmp -s '$TMP/pincopy/hsm/pin' '$INST/hsm/pin'"
variant wrong-pin -e "s|^pin_file .*|pin_file $TMP/pincopy/hsm/pin|" \
    -e "s|^pkcs11_env SOFTHSM2_CONF=.*|pkcs11_env SOFTHSM2_CONF=$TMP/pincopy/hsm/softhsm2.conf|"
start_fails wrong-pin 'PIN_INCORRECT|wrong PIN'
# the same copy with the right PIN starts: the copy itself is sound. The variants run on a fresh
# state_dir, so the copy's ledger head (recorded by the running instance) is reset first: the
# keyholder would rightly refuse an empty ledger behind a recorded head (ledger_head.sh)
cp "$INST/hsm/pin" "$TMP/pincopy/hsm/pin"
SOFTHSM2_CONF=$TMP/pincopy/hsm/softhsm2.conf "$KEYTOOL" ledger-head-reset \
    --module "$(awk '$1 == "pkcs11_module" { print $2 }' "$CONF")" \
    --token "$(awk '$1 == "pkcs11_token" { print $2 }' "$CONF")" --pin-file "$INST/hsm/pin" >/dev/null
variant right-pin -e "s|^pin_file .*|pin_file $TMP/pincopy/hsm/pin|" \
    -e "s|^pkcs11_env SOFTHSM2_CONF=.*|pkcs11_env SOFTHSM2_CONF=$TMP/pincopy/hsm/softhsm2.conf|"
"$PORTSEALD" -c "$TMP/right-pin.conf" </dev/null >"$TMP/right-pin.log" 2>&1 &
rp=$!
wait_until 10 test -s "$TMP/right-pin.pid"
check "control: the token copy with the right PIN starts" test "$?" = 0
kill -TERM "$rp"
wait "$rp"
check "control: and stops with status 0 on SIGTERM" test "$?" = 0
# PIN file readable by others
cp "$INST/hsm/pin" "$TMP/pin-0644"
chmod 0644 "$TMP/pin-0644"
variant pin-mode -e "s|^pin_file .*|pin_file $TMP/pin-0644|"
start_fails pin-mode 'PIN file .*readable by its owner only'
variant no-module -e "s|^pkcs11_module .*|pkcs11_module $TMP/no/such/libpkcs11.so|"
start_fails no-module "cannot load PKCS#11 module $TMP/no/such/libpkcs11.so"
variant no-token -e "s|^pkcs11_token .*|pkcs11_token no-such-token|"
start_fails no-token "no token labelled 'no-such-token'"
variant no-key -e "\$a key t1-ghost tenant=platform-a label=t1-ghost cert=$INST/keys/t1-ec-chain.pem"
start_fails no-key "key t1-ghost: .*t1-ghost"
variant wrong-key -e "s|^key t1-ec tenant=platform-a label=t1-ec |key t1-ec tenant=platform-a label=t2-ec |"
start_fails wrong-key "key t1-ec: certificate .* does not match"
# SM2 keys: the wrapped file is missing, or bound to another label
variant no-sm2-file -e "s|sm2=[^ ]*|sm2=$TMP/no-such.wrapped|"
start_fails no-sm2-file "key t1-sm2: cannot read the wrapped SM2 key"
variant sm2-label -e "s|^key t1-sm2 tenant=platform-a label=t1-sm2 |key t1-sm2 tenant=platform-a label=t1-other |"
start_fails sm2-label "key t1-sm2: cannot unwrap"
# the TLS server key or the partner key is another certificate's (checked before anything starts,
# and by portseald -t and a reload: otherwise every worker, or the courier, would fail alone)
variant tls-key -e "s|^tls_key .*|tls_key $INST/pki/partner.key|"
start_fails tls-key "cannot load TLS key $INST/pki/partner.key"
variant partner-key -e "s|^partner_key .*|partner_key $INST/pki/server.key|"
start_fails partner-key "cannot load its key .*$INST/pki/server.key"
# configuration check: a typo in a directive
variant typo -e 's|^workers |wrokers |'
tline=$(grep -n '^wrokers ' "$TMP/typo.conf" | cut -d: -f1)
rc=0
"$PORTSEALD" -t -c "$TMP/typo.conf" >"$TMP/typo.out" 2>&1 || rc=$?
check "portseald -t on a config with a typo exits non-zero ($rc)" test "$rc" -ne 0
check "and names line $tline" grep -q "line $tline: .*wrokers" "$TMP/typo.out"
rc=0
"$PORTSEALD" -t -c "$CONF" >"$TMP/t.out" 2>&1 || rc=$?
check "portseald -t on the instance's config exits 0 ($rc)" test "$rc" = 0
nkeys=$(grep -c '^key ' "$CONF")
check "and says the token logged in and all $nkeys keys match ($(cat "$TMP/t.out"))" \
    grep -q "token .*: logged in, $nkeys keys match their certificates" "$TMP/t.out"

# ---- (d) SIGTERM through portseal-demo stop ends every process
procs=$(pgrep -P "$PID0" | tr '\n' ' ')
"$DEMO" stop "$INST" 2>"$TMP/stop.err"
check "portseal-demo stop succeeds" test "$?" = 0
check "the parent $PID0 is gone" dead "$PID0"
left=""
for p in $procs; do alive "$p" && left="$left $p"; done
check "no keyholder or worker left (had $procs)" test -z "$left"
check "no process runs with the instance's config" no_process_with "$CONF"
check "the parent exited on SIGTERM, not SIGKILL" sh -c "! grep -q SIGKILL '$TMP/stop.err'"
check "the log says the parent stopped" grep -q "portseald\[$PID0\].*stopping" "$LOG"
check "the pid file is removed" test ! -e "$INST/portseald.pid"

# ---- (e) a keyholder that hangs (SIGSTOP: like an HSM call that never returns)
start_instance "$TMP/stall"
echo "keyholder_timeout 3" >>"$TMP/stall/portseald.conf"
"$DEMO" stop "$TMP/stall" >/dev/null 2>&1
start_instance "$TMP/stall"
as_tenant1
KH=$(pgrep -P "$PID" -x ps-keyholder)
kill -STOP "$KH"
t0=$(now)
api GET /readyz --max-time 10
expect_status "readyz answers 503 while the keyholder hangs" 503
check "readyz says the keyholder is not ready" test "$(jget "j['checks']['keyholder']")" = False
took=$(elapsed "$t0")
# (it gives up on the keyholder after about 2 s; the bound leaves room for a loaded machine)
check "readyz answered within 8 s, not never ($took s)" python3 -c "import sys; sys.exit(not $took < 8)"
t0=$(now)
post_json /v1/sign/hash "$GOOD" --max-time 15
expect_error "a signing request fails with 504 after keyholder_timeout" 504 keyholder_timeout
check "it failed after about 3 s, not never ($(elapsed "$t0") s)" \
    python3 -c "import sys; t=$(elapsed "$t0"); sys.exit(not 2 <= t < 6)"
kill -CONT "$KH"
check "signing works again once the keyholder resumes" wait_until 5 sign_ok
