#!/usr/bin/env bash
# The demo (`make demo`, tools/demo-tour.sh) in a temporary DIR: three appliances cn, sg and hk,
# each with its own token and PKI, paired cn<->sg and cn<->hk, and the four jobs walked through
# with curl. Checks the tour's key lines, that it leaves the three running, that a second run
# re-uses the running appliances and a third restarts stopped ones with their state (imports
# change nothing the second time), and that a failure is reported with a non-zero exit. The
# cleanup trap of lib.sh stops the three appliances, also when something fails.
. "$(dirname "$0")/lib.sh"
D=$TMP/demo
INSTANCES+=("$D/cn" "$D/sg" "$D/hk")
TOUR=$REPO/tools/demo-tour.sh

# tour N: run the tour into $TMP/runN.out; sets RC and SECS
tour() {
    local t0=$SECONDS
    RC=0
    NO_COLOR=1 timeout 300 "$TOUR" "$D" >"$TMP/run$1.out" 2>&1 || RC=$?
    SECS=$((SECONDS - t0))
    if [ "$RC" != 0 ]; then
        echo "# tour run $1 failed (exit $RC); its last lines:"
        tail -n 40 "$TMP/run$1.out" | sed 's/^/#   /'
    fi
}
# has N REGEX [COUNT]: the output of run N has a line matching REGEX (COUNT times at least)
has() { [ "$(grep -cE -- "$2" "$TMP/run$1.out")" -ge "${3:-1}" ]; }
pid_of() { cat "$D/$1/portseald.pid" 2>/dev/null; }
url_of() { echo "https://localhost:$(awk '$1 == "listen" { sub(/.*:/, "", $2); print $2 }' "$D/$1/portseald.conf")"; }
healthy() { curl -sf --http2 --max-time 5 --cacert "$D/$1/pki/root.pem" -o /dev/null "$(url_of "$1")/healthz"; }
all_healthy() { healthy cn && healthy sg && healthy hk; }
# none_alive PID...: none of them is a live process (a zombie not yet reaped counts as gone)
none_alive() {
    local p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && [ "$(sed 's/.*) //' "/proc/$p/stat" | cut -d' ' -f1)" != Z ] && return 1
    done
    return 0
}

# checks of what every run must print
key_lines() {
    local n=$1
    check "run $n: the tour ends with exit 0 ($SECS s)" test "$RC" = 0
    check "run $n: three appliances, cn sg hk, on three ports" test "$(grep -E '^   (cn|sg|hk)  https://localhost:[0-9]+  pid [0-9]+' "$TMP/run$n.out" |
        awk '{ print $2 }' | sort -u | wc -l)" = 3
    check "run $n: each step shows its command (\$ curl ... with the identity's variables)" \
        has "$n" '^\$ curl -sS --http2 \$TENANT \$CN/v1/keys$'
    check "run $n: CEB621 signed with SM2 (ceb-sm2), /v1/verify/ceb says valid" \
        has "$n" '^   \{"valid":true,"profile":"ceb-sm2"'
    check "run $n: xmlsec1 verifies the ECDSA-signed CEB311" has "$n" '^   OK$'
    check "run $n: openssl verifies the 179 signValue, the 3 hash signatures and the P2P receipt" \
        has "$n" '^   Verified OK$' 5
    check "run $n: CMS and time-stamp checked by openssl" \
        sh -c "grep -q '^   CMS Verification successful' '$TMP/run$n.out' && grep -q '^   Verification: OK' '$TMP/run$n.out'"
    check "run $n: sg's officer sees cn's operator with provenance (origin CN, partner cn, signer)" \
        sh -c "grep -A3 '^   AEOCN440312345A  VALID' '$TMP/run$n.out' | grep -q 'partner register of origin CN (from partner cn)' &&
               grep -A3 '^   AEOCN440312345A  VALID' '$TMP/run$n.out' | grep -q 'batch signed by /CN=xchg-ec.cn.portseal.test'"
    check "run $n: cn's officer sees sg's operator (origin SG, partner sg)" \
        sh -c "grep -A3 '^   AEOSG2019123456KA  VALID' '$TMP/run$n.out' | grep -q 'origin SG (from partner sg)'"
    check "run $n: cn's suspension is seen at sg" has "$n" '^   AEOCN4403999999  SUSPENDED'
    check "run $n: hk's message is acknowledged with cn's receipt, whose signer chains to cn's root" \
        sh -c "grep -q '^   status acknowledged after' '$TMP/run$n.out' && grep -q '^   receipt-signer.pem: OK' '$TMP/run$n.out'"
    check "run $n: cn's officer reads the urgent e-lock event from hk" \
        has "$n" '^   hk-[0-9a-f]{24} from hk, seq [0-9]+: urgent elock.event'
    check "run $n: and it arrived on cn's live stream" has "$n" '^   event: message$'
    check "run $n: the evidence bundle verifies offline (portseal-verify: VALID)" \
        has "$n" '^   evidence.asice: VALID \(bundle id [0-9a-f]{64}\)$'
    check "run $n: the bundle's leaf is in the checkpoint's tree (independent check)" \
        has "$n" '^   inclusion proof OK'
    check "run $n: ledger-verify passes on all three appliances" has "$n" '^   ledger OK: ' 3
    check "run $n: it says how to stop each of them" sh -c "
        grep -qx '   $REPO/tools/portseal-demo stop $D/cn' '$TMP/run$n.out' &&
        grep -qx '   $REPO/tools/portseal-demo stop $D/sg' '$TMP/run$n.out' &&
        grep -qx '   $REPO/tools/portseal-demo stop $D/hk' '$TMP/run$n.out'"
    check "run $n: and leaves them running" all_healthy
    check "run $n: no curl of the tour is left behind (the stream reader)" not pgrep -f "$D/cn/pki/officer.pem"
}

# ---- first run: everything made from nothing --------------------------------------------------
tour 1
key_lines 1
check "run 1: each appliance has its own token and PKI" sh -c "
    test -d '$D/cn/hsm/tokens' -a -d '$D/sg/hsm/tokens' -a -d '$D/hk/hsm/tokens' &&
    ! cmp -s '$D/cn/pki/root.pem' '$D/sg/pki/root.pem' && ! cmp -s '$D/cn/pki/root.pem' '$D/hk/pki/root.pem'"
check "run 1: cn is paired with sg and hk, sg and hk with cn only" test \
    "$(for a in cn sg hk; do awk '$1 == "partner" { printf "%s ", $2 }' "$D/$a/portseald.conf"; echo -n '/ '; done)" = "sg hk / cn / cn / "
check "run 1: the P2P office names come from --name" sh -c "grep -qx 'p2p_name cn' '$D/cn/portseald.conf' && grep -qx 'p2p_name hk' '$D/hk/portseald.conf'"
check "run 1: both registers imported for the first time" sh -c "
    grep -q '^   cn-register.csv: 3 records, 3 changed (seq 1..3); register at seq 3' '$TMP/run1.out' &&
    grep -q '^   sg-register.csv: 2 records, 2 changed (seq 1..2); register at seq 2' '$TMP/run1.out'"
check "run 1: the waits are shown with their time" has 1 '^   \.\.\. waiting for sg to see the suspension \(cn.s seq 4\): [0-9]+\.[0-9] s$'
T1=$(sed -n 's/^The three appliances keep running (tour: \([0-9]*\) s).*/\1/p' "$TMP/run1.out")
check "run 1: under 3 minutes, tokens and PKIs included (${T1:-?} s)" test "${T1:-999}" -lt 180
PIDS1="$(pid_of cn) $(pid_of sg) $(pid_of hk)"

# ---- second run: `make demo` again, the appliances still running ------------------------------
tour 2
key_lines 2
check "run 2: the running appliances are re-used (same pids)" test "$(pid_of cn) $(pid_of sg) $(pid_of hk)" = "$PIDS1"
check "run 2: and none of them was reloaded (pairing unchanged)" test \
    "$(cat "$D"/{cn,sg,hk}/portseald.log | grep -c 'reload: configuration read again')" = 2
check "run 2: re-importing sg's register changes nothing" \
    has 2 '^   sg-register.csv: 2 records, nothing changed; register at seq 2$'
check "run 2: cn's register puts the suspended operator back (1 change), the suspension again (1)" sh -c "
    grep -q '^   cn-register.csv: 3 records, 1 changed (seq 5..5); register at seq 5' '$TMP/run2.out' &&
    grep -q '^   cn-suspension.csv: 1 records, 1 changed (seq 6..6); register at seq 6' '$TMP/run2.out'"
check "run 2: quick once the tokens exist ($SECS s)" test "$SECS" -lt 90

# ---- third run: the appliances stopped; restarted with their state ---------------------------
for a in cn sg hk; do "$DEMO" stop "$D/$a" >/dev/null 2>&1; done
# shellcheck disable=SC2086 # three pids
check "(all three stopped)" none_alive $PIDS1
tour 3
key_lines 3
check "run 3: restarted (new pids)" test "$(pid_of cn)" != "${PIDS1%% *}"
check "run 3: with their state: cn holds the three messages hk sent, hk has them acknowledged" test \
    "$(sqlite3 "$D/cn/state/p2p/p2p.db" "select count(*) from inbox where peer = 'hk'")/$(sqlite3 "$D/hk/state/p2p/p2p.db" \
        "select count(*) from outbox where status = 'acknowledged'")" = 3/3
check "run 3: three evidence bundles stored at cn" test "$(find "$D/cn/state/evidence" -name '*.asice' | wc -l)" = 3
check "run 3: quick once the tokens exist ($SECS s)" test "$SECS" -lt 90

# ---- a failure is reported ----------------------------------------------------------------------
rc=0
NO_COLOR=1 PORTSEAL_BUILD=$TMP/no-build timeout 60 env -u PORTSEALD -u KEYTOOL "$TOUR" "$D" >"$TMP/fail.out" 2>&1 || rc=$?
check "a tour that cannot run exits non-zero ($rc)" test "$rc" = 1
check "naming the step and the reason" grep -q '^demo-tour: FAILED in step "starting": .*no-build/portseald is missing: build first' "$TMP/fail.out"
