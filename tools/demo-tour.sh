#!/usr/bin/env bash
# demo-tour.sh [DIR] - the portseal demo (`make demo [DIR=...]` runs this).
#
# Starts three appliances, each with its own SoftHSM token and test PKI:
#   DIR/cn  Shenzhen customs    DIR/sg  Singapore customs    DIR/hk  Hong Kong boundary office
# pairs cn<->sg (AEO register exchange) and cn<->hk (point-to-point channel), and walks through
# the four jobs with curl (HTTP/2, client certificates), printing for each step a heading, the
# command and the part of the answer that matters:
#   1. cloud signing: a CEB message (SM2, checked by the appliance; ECDSA, checked by xmlsec1),
#      179 payment data (checked by openssl), a hash batch (checked by openssl), CMS and TSA
#   2. AEO: both registers imported, synced by the couriers, looked up with provenance from the
#      other side; a suspension at cn seen at sg
#   3. P2P: hk's officer sends an urgent e-lock event to cn; delivered, acknowledged with cn's
#      signed receipt (checked by openssl); cn's officer reads it, also on the live stream
#   4. evidence: a rights holder seals files into an ASiC-E bundle; the auditor checks it
#      offline with portseal-verify
#   and the ledger: a checkpoint, an inclusion proof checked independently, ledger-verify.
# The appliances are left running; the last lines say how to explore and how to stop them.
#
# DIR defaults to /tmp/portseal-demo. Running the tour again re-uses DIR: each appliance keeps
# running, or restarts with its state; importing the same register again changes nothing.
# Waits poll with time limits. A step that fails stops the tour with a message naming the step
# and exit status 1. Environment: PORTSEAL_BUILD (build folder, default build), NO_COLOR.
# The commands are shown as written, with their variables: single quotes on purpose.
# shellcheck disable=SC2016
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD=${PORTSEAL_BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$REPO/$BUILD
export PORTSEALD=${PORTSEALD:-$BUILD/portseald}
export KEYTOOL=${KEYTOOL:-$BUILD/portseal-keytool}
# the commands shown run as written: portseal, portseal-demo, portseal-verify, portseal-keytool
export PATH=$REPO/tools:$BUILD:$PATH
DATA=$REPO/tests/data
DIR=${1:-/tmp/portseal-demo}

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
    BOLD=$'\033[1m' DIM=$'\033[2m' CYAN=$'\033[36m' RED=$'\033[31m' OFF=$'\033[0m'
else
    BOLD="" DIM="" CYAN="" RED="" OFF=""
fi

STEP="starting"
STREAM_PID=""
T_START=$SECONDS

# ---- presentation and checks ---------------------------------------------------------------

part() { printf '\n%s%s%s\n' "$BOLD" "$*" "$OFF"; }
step() {
    STEP=$1
    printf '\n%s== %s%s\n' "$BOLD" "$1" "$OFF"
    shift
    local l
    for l in "$@"; do printf '   %s%s%s\n' "$DIM" "$l" "$OFF"; done
}
# fail WHY: stop the tour, naming the step
fail() {
    trap - ERR
    printf '\n%sdemo-tour: FAILED in step "%s": %s%s\n' "$RED" "$STEP" "$*" "$OFF" >&2
    printf 'demo-tour: the appliances stay as they are; their logs: %s/{cn,sg,hk}/portseald.log\n' "$DIR" >&2
    exit 1
}
trap 'fail "line $LINENO: \"$BASH_COMMAND\" failed"' ERR
cleanup() {
    [[ -z $STREAM_PID ]] || kill "$STREAM_PID" 2>/dev/null || true
}
trap cleanup EXIT

# run 'COMMAND': print it as "$ COMMAND", run it as written (the variables it names are set in
# this script), its standard output into $OUT and its standard error into $ERR. A command that
# fails stops the tour with what it printed.
run() {
    printf '%s$ %s%s\n' "$CYAN" "$1" "$OFF"
    if ! eval "$1" >"$OUT" 2>"$ERR"; then
        sed 's/^/   | /' "$OUT" "$ERR" | head -n 30 >&2
        fail "the command above failed"
    fi
}
# indent [N]: the first N lines (default all) of $OUT, then of $ERR, indented (without
# openssl's "Using configuration from" notes)
indent() {
    awk '!/^Using configuration from /' "$OUT" "$ERR" | head -n "${1:-1000}" | awk '{ print "   " $0 }'
}
# pj 'PYTHON': show what matters of the JSON answer in $OUT. In PYTHON: j is the JSON (None
# if it is not JSON), t the text, p(...) prints an indented line, need(COND, WHY) checks.
pj() {
    python3 -I -S - "$OUT" "$1" <<'PY' || fail "unexpected answer"
import base64, json, sys
t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
try:
    j = json.loads(t)
except ValueError:
    j = None
def p(*a):
    print("   " + " ".join(str(x) for x in a))
def need(cond, why):
    if not cond:
        print("   unexpected answer (%s):\n   %s" % (why, t[:800]), file=sys.stderr)
        sys.exit(1)
def cut(s, n=60):
    s = str(s)
    return s if len(s) <= n else s[:n] + "..."
if isinstance(j, dict) and "error" in j:
    need(False, "error %s" % j["error"].get("code"))
exec(sys.argv[2])
PY
}
# jv EXPR: the value of a Python expression over the JSON answer in $OUT (j)
jv() { python3 -I -S -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1"; }
# wait_for SECONDS WHAT COMMAND...: run COMMAND every 0.2 s until it succeeds; prints how long
# that took, or stops the tour after SECONDS
wait_for() {
    local limit=$1 what=$2 t0 now
    shift 2
    t0=$(date +%s%N)
    printf '   %s... waiting for %s%s' "$DIM" "$what" "$OFF"
    until "$@"; do
        now=$(date +%s%N)
        if ((now - t0 > limit * 1000000000)); then
            echo
            fail "$what: not within ${limit} s"
        fi
        sleep 0.2
    done
    now=$(date +%s%N)
    printf '%s: %d.%d s%s\n' "$DIM" $(((now - t0) / 1000000000)) $(((now - t0) / 100000000 % 10)) "$OFF"
}
# q URL_VAR_NAME CERT_VAR_NAME PATH: a quiet GET for the polls, the body into $POLL
# shellcheck disable=SC2086 # the identity's options are several words
q() { curl -sS --http2 --max-time 5 ${!2} -o "$POLL" "${!1}$3" 2>/dev/null; }
qv() { python3 -I -S -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$POLL" "$1" 2>/dev/null; }

# ---- start ------------------------------------------------------------------------------------

[[ $DIR != *[[:space:]]* ]] || fail "DIR must not contain white space: '$DIR'"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
W=$DIR/tour
mkdir -p "$W"
OUT=$W/.out ERR=$W/.err POLL=$W/.poll
cd "$W"
for f in "$PORTSEALD" "$KEYTOOL" "$BUILD/portseal-verify"; do
    [[ -x $f ]] || fail "$f is missing: build first (make)"
done

part "portseal demo: three customs appliances on this machine, the four jobs, the ledger"
if [[ -s $DIR/name && -s $DIR/portseald.conf && -s $DIR/portseald.pid ]]; then
    # DIR is an appliance made by the one-appliance demo of earlier versions
    step "Stopping the older one-appliance demo in $DIR (its state stays there)"
    run 'portseal-demo stop $DIR'
fi

step "Starting Shenzhen (cn), Singapore (sg) and Hong Kong (hk), each with its own token and PKI" \
    "tools/portseal-demo start DIR --name NAME [--partner NAME=DIR]: on the first run it makes a" \
    "SoftHSM token (keys generated inside it) and a test PKI; on an existing DIR it restarts the" \
    "appliance with its state, or leaves a running one running. --partner pairs both ways: each" \
    "side pins the other's root CA for that partner, and the running one reloads."
# start NAME [--partner ...]: start (or keep) one appliance; sets URLS[NAME]
declare -A URLS
start() {
    local name=$1 env
    shift
    [[ -d $DIR/$name/hsm ]] || printf '   %s(first run for %s: making its token and PKI, ~10 s)%s\n' "$DIM" "$name" "$OFF"
    printf '%s$ portseal-demo start $DIR/%s --name %s%s%s\n' "$CYAN" "$name" "$name" "${*:+ }${*//$DIR/\$DIR}" "$OFF"
    if ! env=$(portseal-demo start "$DIR/$name" --name "$name" "$@" 2>"$W/start-$name.log"); then
        tail -n 20 "$W/start-$name.log" | sed 's/^/   | /' >&2
        fail "portseal-demo start $DIR/$name failed"
    fi
    eval "$env"
    # shellcheck disable=SC2153 # URL is set by the eval of portseal-demo's output
    URLS[$name]=$URL
    printf '   %-3s %s  pid %s  log %s\n' "$name" "$URL" "$PID" "$LOG"
}
start cn
start sg --partner "cn=$DIR/cn"
start hk --partner "cn=$DIR/cn"
CN=${URLS[cn]} SG=${URLS[sg]} HK=${URLS[hk]}
run 'grep "^partner " $DIR/cn/portseald.conf'
indent

# who calls whom: curl options for each identity (paths have no white space)
id_opts() { echo "--cacert $DIR/$1/pki/root.pem --cert $DIR/$1/pki/$2.pem --key $DIR/$1/pki/$2.key"; }
TENANT=$(id_opts cn client1)
RIGHTS_HOLDER=$(id_opts cn client2)
OFFICER_CN=$(id_opts cn officer)
OFFICER_SG=$(id_opts sg officer)
OFFICER_HK=$(id_opts hk officer)
step "Who calls whom: every call is HTTP/2 with a client certificate (mutual TLS)" \
    "These shell variables hold curl's options for each identity; the commands below use them."
cat <<VARS
   CN=$CN   SG=$SG   HK=$HK
   TENANT="$TENANT"
       an e-commerce platform (tenant platform-a) at cn
   RIGHTS_HOLDER="$RIGHTS_HOLDER"
       a trademark owner's agent (tenant platform-b) at cn
   OFFICER_CN="$OFFICER_CN"
   OFFICER_SG="$OFFICER_SG"
   OFFICER_HK="$OFFICER_HK"
       a customs officer (officer-1) at each appliance
VARS
run 'curl -sS --http2 $TENANT $CN/v1/whoami'
pj 'p(t.strip()); need(j["tenant"] == "platform-a", "tenant")'

# ---- 1. cloud signing -------------------------------------------------------------------------
part "1. Cloud signing (云加签): platforms sign customs data with HSM-held keys, no USB key"

step "The platform's keys at cn (each in the HSM, with its certificate; certNo = serial)"
run 'curl -sS --http2 $TENANT $CN/v1/keys'
pj '
for k in j["keys"]:
    p("%-7s %-10s certNo %-18s until %s" % (k["id"], k.get("type", "?"), k.get("certNo", "-"), k.get("not_after", "-")))
need(any(k["id"] == "t1-sm2" for k in j["keys"]), "no t1-sm2 key")'

step "Sign the China E-port's public CEB621 sample with the platform's SM2 key (profile ceb-sm2)" \
    "The answer is the submitted bytes with an enveloped <ds:Signature> before the root's end tag."
cp "$DATA/chinaport/ceb621-unsigned.xml" CEB621Message.xml
run 'curl -sS --http2 $TENANT -H "content-type: application/xml" --data-binary @CEB621Message.xml \
    -o CEB621-signed.xml "$CN/v1/sign/ceb?key=t1-sm2"'
python3 -I -S - CEB621-signed.xml <<'PY' || fail "no signature in the answer"
import re, sys
s = open(sys.argv[1], encoding="utf-8").read()
for tag in ("SignatureMethod", "DigestMethod"):
    print("   %-15s %s" % (tag, re.search(r'<ds:%s Algorithm="([^"]*)"' % tag, s).group(1)))
for tag in ("DigestValue", "KeyName", "SignatureValue"):
    v = re.search(r"<ds:%s>([^<]*)<" % tag, s).group(1)
    print("   %-15s %s" % (tag, v if len(v) < 50 else v[:48] + "..."))
PY
run 'curl -sS --http2 $TENANT -H "content-type: application/xml" --data-binary @CEB621-signed.xml $CN/v1/verify/ceb'
pj 'p(t.strip()[:300]); need(j["valid"] is True, "not valid")'

step "The same kind of message for a partner outside China (xmldsig-ecdsa-sha256), checked by xmlsec1" \
    "xmlsec1 needs only the root (trusted) and the issuing CA (untrusted): any XMLDSig tool can check."
cp "$DATA/ceb/CEB311Message.xml" CEB311Message.xml
run 'curl -sS --http2 $TENANT -H "content-type: application/xml" --data-binary @CEB311Message.xml \
    -o CEB311-signed.xml "$CN/v1/sign/ceb?key=t1-ec"'
run 'xmlsec1 --verify --trusted-pem $DIR/cn/pki/root.pem --untrusted-pem $DIR/cn/pki/ca.pem \
    --enabled-reference-uris empty CEB311-signed.xml'
indent 3

step "179 payment data: the E-port signing string rebuilt from the fields, signed with SM2" \
    "(string=1 returns the signing string too; format=der gives signValue as DER for openssl)"
cp "$DATA/chinaport/pay179-request.json" pay179-request.json
run 'curl -sS --http2 $TENANT -H "content-type: application/json" --data-binary @pay179-request.json \
    "$CN/v1/sign/179?key=t1-sm2&string=1&format=der"'
pj '
p("certNo    ", j["certNo"])
p("signValue ", cut(j["signValue"], 56))
p("signString", cut(j["signString"], 100))
open("pay179-string.txt", "w", encoding="utf-8").write(j["signString"])
open("pay179.sig", "wb").write(base64.b64decode(j["signValue"]))'
run 'curl -sS --http2 $TENANT $CN/v1/keys/t1-sm2'
pj 'open("t1-sm2.pem", "w").write(j["certificate"]); p("(its certificate saved as t1-sm2.pem)")'
run 'openssl x509 -in t1-sm2.pem -pubkey -noout > t1-sm2.pub.pem && \
    openssl dgst -sm3 -verify t1-sm2.pub.pem -sigopt distid:1234567812345678 -signature pay179.sig pay179-string.txt'
indent

step "A batch of hashes in one call (ECDSA P-256), each signature checked with openssl"
for i in 1 2 3; do printf '<CEB311Message>order 2026-%04d</CEB311Message>\n' "$i" >"order-$i.xml"; done
python3 -I -S - <<'PY'
import base64, hashlib, json
h = [base64.b64encode(hashlib.sha256(open("order-%d.xml" % i, "rb").read()).digest()).decode() for i in (1, 2, 3)]
open("hashes.json", "w").write(json.dumps({"key": "t1-ec", "alg": "ecdsa-sha256", "hashes": h}) + "\n")
PY
run 'cat hashes.json'
indent
run 'curl -sS --http2 $TENANT -H "content-type: application/json" --data-binary @hashes.json $CN/v1/sign/hash'
pj '
need(len(j["signatures"]) == 3, "3 signatures")
for i, s in enumerate(j["signatures"], 1):
    open("order-%d.sig" % i, "wb").write(base64.b64decode(s))
    p("order-%d.sig  %s" % (i, cut(s, 50)))
p("audit_seq", j["audit_seq"], " (the first signature'"'"'s ledger leaf; the others follow)")'
SIGN_LEAF=$(jv 'j["audit_seq"]') || fail "no audit_seq"
run 'curl -sS --http2 $TENANT $CN/v1/keys/t1-ec'
pj 'open("t1-ec.pem", "w").write(j["certificate"]); p("(its certificate saved as t1-ec.pem)")'
run 'openssl x509 -in t1-ec.pem -pubkey -noout > t1-ec.pub.pem && \
    for i in 1 2 3; do openssl dgst -sha256 -verify t1-ec.pub.pem -signature order-$i.sig order-$i.xml; done'
indent
[[ $(grep -c '^Verified OK' "$OUT") == 3 ]] || fail "openssl did not verify all three signatures"

step "Also: a detached CMS (CAdES-BES) signature, and an RFC 3161 time-stamp over it"
run 'curl -sS --http2 $TENANT --data-binary @order-1.xml -o order-1.p7s "$CN/v1/sign/cms?key=t1-rsa" && \
    openssl cms -verify -binary -inform DER -in order-1.p7s -content order-1.xml \
    -CAfile $DIR/cn/pki/root.pem -purpose any -out /dev/null'
indent
run 'openssl ts -query -data order-1.p7s -sha256 -cert -out order-1.tsq && \
    curl -sS --http2 $TENANT -H "content-type: application/timestamp-query" \
    --data-binary @order-1.tsq -o order-1.tsr $CN/v1/tsa && \
    openssl ts -verify -in order-1.tsr -queryfile order-1.tsq -CAfile $DIR/cn/pki/root.pem'
indent

# ---- 2. AEO -------------------------------------------------------------------------------------
part "2. AEO mutual recognition, Shenzhen <-> Singapore: signed register feeds"

links_up() {
    q CN OFFICER_CN /v1/partners &&
        [[ $(qv '",".join(sorted(x["partner"] for x in j["partners"] if x["ok"]))') == hk,sg ]]
}
step "The partner links, as cn's courier last checked them (it calls each partner's /v1/whoami" \
    "with cn's partner certificate, every 10 s)"
wait_for 30 "cn's courier to reach sg and hk" links_up
run 'curl -sS --http2 $OFFICER_CN $CN/v1/partners'
pj '
for x in j["partners"]:
    p("%-3s %-24s %s" % (x["partner"], x["url"], "ok: sees us as partner %s" % x["as"] if x["ok"] else "down: %s" % x["error"]))'

cat >cn-register.csv <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403123456,"Shenzhen Ocean Freight Co., Ltd.","1 Fuhua Road, Futian, Shenzhen",valid,2024-01-01,2030-12-31
AEOCN440312345A,深圳市前海供应链有限公司,"Qianhai, Shenzhen",valid,2022-03-01,2030-02-28
AEOCN4403999999,Nanshan Port Logistics Co.,"Shekou, Nanshan, Shenzhen",valid,2023-05-01,2030-04-30
CSV
cat >sg-register.csv <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOSG2019123456KA,Jurong Freight Pte Ltd,"2 Jurong Port Road, Singapore",valid,2023-01-01,2030-12-31
AEOSG2020000000X1,Tuas Cold Chain Pte Ltd,"9 Tuas South Ave, Singapore",valid,2024-06-01,2030-05-31
CSV
cat >cn-suspension.csv <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403999999,Nanshan Port Logistics Co.,"Shekou, Nanshan, Shenzhen",suspended,2023-05-01,2030-04-30
CSV
step "Each customs imports its own register (CSV; every changed record gets the next seq)" \
    "cn then notifies sg, whose courier pulls the signed feed; sg's register reaches cn the same way."
run 'cat cn-register.csv'
indent
run 'portseal --instance $DIR/cn aeo import cn-register.csv'
indent
run 'portseal --instance $DIR/sg aeo import sg-register.csv'
indent

# own_seq SIDE AEO_ID: the seq of the record in SIDE's own register
own_seq() {
    local u=${1^^} o=OFFICER_${1^^}
    q "$u" "$o" "/v1/aeo/operators/$2" && qv 'j["record"]["seq"]'
}
# sees SIDE AEO_ID STATUS SEQ: SIDE's officer sees the partner's record SEQ with STATUS
sees() {
    local u=${1^^} o=OFFICER_${1^^}
    q "$u" "$o" "/v1/aeo/operators/$2" &&
        [[ $(qv '(j["status"], j["provenance"]["register"], j["provenance"]["seq"])') == "('$3', 'partner', $4)" ]]
}
SHOW_LOOKUP='
r, v = j["record"], j["provenance"]
p("%s  %s  (%s)" % (j["aeo_id"], j["status"].upper(), r["name"]))
p("   valid %s .. %s, %s" % (r["valid_from"], r["valid_until"], r["address"]))
p("   provenance: %s register of origin %s (from partner %s), record seq %s" % (v["register"], v["origin"], v.get("partner"), v["seq"]))
p("   batch signed by %s, fetched %s" % (v.get("signer"), v.get("fetched_at")))
need(v["register"] == "partner", "a partner record")'

step "A Singapore officer checks a Shenzhen operator at a declaration (GET /v1/aeo/operators/ID)"
SEQ=$(own_seq cn AEOCN440312345A) || fail "cn does not know AEOCN440312345A"
wait_for 30 "sg to hold cn's record (seq $SEQ)" sees sg AEOCN440312345A valid "$SEQ"
run 'curl -sS --http2 $OFFICER_SG $SG/v1/aeo/operators/AEOCN440312345A'
pj "$SHOW_LOOKUP"

step "A Shenzhen officer checks a Singapore operator"
SEQ=$(own_seq sg AEOSG2019123456KA) || fail "sg does not know AEOSG2019123456KA"
wait_for 30 "cn to hold sg's record (seq $SEQ)" sees cn AEOSG2019123456KA valid "$SEQ"
run 'curl -sS --http2 $OFFICER_CN $CN/v1/aeo/operators/AEOSG2019123456KA'
pj "$SHOW_LOOKUP"

step "cn suspends an operator; Singapore sees it within seconds"
run 'cat cn-suspension.csv'
indent
run 'portseal --instance $DIR/cn aeo import cn-suspension.csv'
indent
SEQ=$(own_seq cn AEOCN4403999999) || fail "cn does not know AEOCN4403999999"
wait_for 30 "sg to see the suspension (cn's seq $SEQ)" sees sg AEOCN4403999999 suspended "$SEQ"
run 'curl -sS --http2 $OFFICER_SG $SG/v1/aeo/operators/AEOCN4403999999'
pj "$SHOW_LOOKUP"
printf '   %s(a re-run imports both files again: the register puts this operator back to valid, the%s\n' "$DIM" "$OFF"
printf '   %s suspension suspends it again; unchanged records get no new seq)%s\n' "$DIM" "$OFF"

# ---- 3. P2P ---------------------------------------------------------------------------------
part "3. Point-to-point channel, Hong Kong -> Shenzhen: signed, acknowledged, never lost"

step "cn's officer keeps the live inbox open (server-sent events; only new messages)"
printf '%s$ curl -sS -N --http2 $OFFICER_CN --max-time 60 $CN/v1/p2p/stream > stream.txt &%s\n' "$CYAN" "$OFF"
: >stream.txt
# shellcheck disable=SC2086 # the options are words
curl -sS -N --http2 $OFFICER_CN --max-time 60 "$CN/v1/p2p/stream" >stream.txt 2>stream.err &
STREAM_PID=$!
stream_open() { grep -q '^: after ' stream.txt; }
wait_for 10 "the stream to open" stream_open
STREAM_AFTER=$(sed -n 's/^: after \([0-9]*\).*/\1/p' stream.txt | head -n 1)
printf '   %s\n' "$(head -n 1 stream.txt)"

cat >elock-message.json <<'JSON'
{"to": "cn", "type": "elock.event", "priority": "urgent",
 "body": {"lock_id": "EL-4401-0099", "truck_plate": "粤Z1234港", "event": "tamper",
          "at": "2026-11-28T09:15:00Z", "location": "Lok Ma Chau"}}
JSON
step "hk's officer sends an urgent e-lock tamper event to cn (POST /v1/p2p/outbox)" \
    "Stored at once (202); hk's courier signs it (JWS) and delivers it to cn's /v1/p2p/inbound."
run 'cat elock-message.json'
indent
run 'curl -sS --http2 $OFFICER_HK -H "content-type: application/json" --data-binary @elock-message.json $HK/v1/p2p/outbox'
pj 'p("id %s  seq %s  %s  status %s" % (j["id"], j["seq"], j["priority"], j["status"]))'
MSG=$(jv 'j["id"]') || fail "no message id"
acked() { q HK OFFICER_HK "/v1/p2p/messages/$MSG" && [[ $(qv 'j["status"]') == acknowledged ]]; }
wait_for 30 "hk's courier to deliver it and store cn's receipt" acked

step "hk shows it acknowledged, with cn's signed receipt"
run 'curl -sS --http2 $OFFICER_HK $HK/v1/p2p/messages/'"$MSG"
pj '
need(j["status"] == "acknowledged", "acknowledged")
p("status %s after %s attempt(s); sent %s, acknowledged %s" % (j["status"], j["attempts"], j["sent_at"], j["acknowledged_at"]))
h, pl, s = j["receipt"].split(".")
un = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
hdr = json.loads(un(h))
p("receipt (compact JWS, %s, typ %s):" % (hdr["alg"], hdr["typ"]))
p("  ", un(pl).decode())
# for openssl: the signing input, the signature as DER, the signer and its chain
open("receipt-signing-input", "wb").write((h + "." + pl).encode())
sig = un(s)
def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80: b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b
seq = der_int(sig[:32]) + der_int(sig[32:])
open("receipt.sig", "wb").write(b"\x30" + bytes([len(seq)]) + seq)
pem = lambda d: "-----BEGIN CERTIFICATE-----\n" + "\n".join(d[i:i + 64] for i in range(0, len(d), 64)) + "\n-----END CERTIFICATE-----\n"
open("receipt-signer.pem", "w").write(pem(hdr["x5c"][0]))
open("receipt-chain.pem", "w").write("".join(pem(c) for c in hdr["x5c"][1:]))
p("(split for openssl: receipt-signing-input, receipt.sig, receipt-signer.pem, receipt-chain.pem)")'
run 'openssl verify -CAfile $DIR/cn/pki/root.pem -untrusted receipt-chain.pem receipt-signer.pem && \
    openssl x509 -in receipt-signer.pem -pubkey -noout > receipt-signer.pub.pem && \
    openssl dgst -sha256 -verify receipt-signer.pub.pem -signature receipt.sig receipt-signing-input'
indent

step "cn's officer reads the inbox (GET /v1/p2p/messages?dir=in; after= skips older messages)"
run 'curl -sS --http2 $OFFICER_CN "$CN/v1/p2p/messages?dir=in&after='"$STREAM_AFTER"'"'
pj '
m = [m for m in j["messages"] if m["id"] == "'"$MSG"'"]
need(len(m) == 1, "the message in the inbox")
m = m[0]
p("%s from %s, seq %s: %s %s, received %s, ledger leaf %s" % (m["id"], m["from"], m["seq"], m["priority"], m["type"], m["received_at"], m["ledger_index"]))
p("  ", json.dumps(m["body"], ensure_ascii=False))'

stream_got() { grep -q "$MSG" stream.txt; }
step "... and the same message arrived on cn's live stream"
wait_for 10 "the event on the stream" stream_got
kill "$STREAM_PID" 2>/dev/null || true
STREAM_PID=""
cut -c1-150 stream.txt | grep -v '^$' | sed 's/^/   /'

step "Both sides recorded it in their ledgers (hk: sent message and receipt; cn: received message)"
run 'sqlite3 $DIR/hk/state/audit.db "select idx, cast(data as text) from ledger_leaves where cast(data as text) like '"'%$MSG%'"'"'
indent | grep -v '^ *$'
run 'sqlite3 $DIR/cn/state/audit.db "select idx, cast(data as text) from ledger_leaves where cast(data as text) like '"'%$MSG%'"'"'
indent | grep -v '^ *$'

# ---- 4. evidence -------------------------------------------------------------------------------
part "4. IP pre-confirmation evidence: sealed, recorded, verifiable offline years later"

printf '%%PDF-1.4 trademark licence G1234567, Acme Shoes Ltd to Shenzhen Ocean Freight\n' >licence.pdf
head -c 20000 /dev/urandom >photo.jpg
cat >metadata.json <<'JSON'
{"rights_holder": "Acme Shoes Ltd", "trademarks": ["G1234567"], "goods": "running shoes",
 "hs_code": "6403.99", "submitter": "Li Wei (agent)"}
JSON
step "A rights holder seals a licence and a photo into an ASiC-E bundle (POST /v1/evidence)" \
    "CAdES signature by the appliance's HSM key, an RFC 3161 time-stamp, a ledger leaf and its proof."
run 'curl -sS --http2 $RIGHTS_HOLDER -F "metadata=<metadata.json;type=application/json" \
    -F "licence=@licence.pdf;type=application/pdf" -F "photo=@photo.jpg;type=image/jpeg" $CN/v1/evidence'
pj 'p(t.strip()); need(len(j["bundle_id"]) == 64, "bundle_id")'
BUNDLE=$(jv 'j["bundle_id"]') || fail "no bundle_id"
BUNDLE_LEAF=$(jv 'j["ledger_index"]') || fail "no ledger_index"
run 'curl -sS --http2 $RIGHTS_HOLDER -o evidence.asice $CN/v1/evidence/'"$BUNDLE"' && \
    sha256sum evidence.asice && unzip -l evidence.asice'
python3 -I -S - "$OUT" "$BUNDLE" <<'PY' || fail "the download is not the bundle"
import sys
lines = open(sys.argv[1]).read().splitlines()
if not lines or not lines[0].startswith(sys.argv[2]):
    sys.exit(1)
print("   " + lines[0])
for l in lines[1:]:
    f = l.split()
    if len(f) >= 4 and f[0].isdigit() and ":" in f[2]:
        print("   %8s  %s" % (f[0], f[3]))
PY

step "The auditor checks it offline, with only the trust root (docs/auditor-guide.md)"
run 'portseal-verify --roots $DIR/cn/pki/root.pem evidence.asice'
indent

# ---- the ledger ----------------------------------------------------------------------------------
part "The ledger: every signature, bundle, AEO batch and P2P message is a leaf of one Merkle log"

step "A checkpoint (C2SP signed note: origin, size, root hash; Ed25519 key in the HSM)"
run 'curl -sS --http2 $TENANT -X POST $CN/v1/ledger/checkpoint > checkpoint.txt && cat checkpoint.txt'
indent
SIZE=$(sed -n 2p checkpoint.txt)
[[ $SIZE =~ ^[0-9]+$ ]] || fail "no tree size in the checkpoint"

step "An inclusion proof of the evidence bundle's leaf in that tree, checked independently" \
    "(the leaf text comes from the bundle itself; ledger_check.py is RFC 9162 in plain Python)"
run 'curl -sS --http2 $TENANT "$CN/v1/ledger/proof/inclusion?index='"$BUNDLE_LEAF"'&size='"$SIZE"'" > inclusion.json && cat inclusion.json'
pj 'p("leaf %s of %s: %d sibling hashes, leaf_hash %s" % (j["index"], j["size"], len(j["proof"]), j["leaf_hash"]))'
run 'unzip -p evidence.asice META-INF/ledger-proof.json | python3 -c "import json,sys; sys.stdout.write(json.load(sys.stdin)[\"leaf\"])" > bundle-leaf.txt && \
    cat bundle-leaf.txt && python3 $REPO/tests/integration/ledger_check.py inclusion bundle-leaf.txt inclusion.json checkpoint.txt && \
    echo "inclusion proof OK: the leaf is in the tree of checkpoint.txt"'
indent
run 'curl -sS --http2 $TENANT "$CN/v1/ledger/proof/inclusion?index='"$SIGN_LEAF"'"'
pj 'p("the first signature of the hash batch: leaf %s of %s, %d sibling hashes" % (j["index"], j["size"], len(j["proof"])))'

step "portseal-keytool ledger-verify: recompute each appliance's log from leaf 0"
for n in cn sg hk; do
    run 'portseal-keytool ledger-verify $DIR/'"$n"'/state/audit.db'
    indent
done

# ---- explore and stop ---------------------------------------------------------------------------
ELAPSED=$((SECONDS - T_START))
part "The three appliances keep running (tour: ${ELAPSED} s). To explore, paste into a shell:"
cat <<MSG
   cd $W
   export PATH=$REPO/tools:$BUILD:\$PATH REPO=$REPO DIR=$DIR
   CN=$CN SG=$SG HK=$HK
   TENANT="$TENANT"
   RIGHTS_HOLDER="$RIGHTS_HOLDER"
   OFFICER_CN="$OFFICER_CN"
   OFFICER_SG="$OFFICER_SG"
   OFFICER_HK="$OFFICER_HK"
   curl -sS --http2 \$TENANT \$CN/v1/keys/t1-rsa
   curl -sS --http2 \$OFFICER_SG \$SG/v1/aeo/operators/AEOCN4403123456
   curl -sS --http2 \$OFFICER_HK -H 'content-type: application/json' \\
       -d '{"to":"cn","type":"note","priority":"routine","body":{"subject":"hello","text":"from Hong Kong"}}' \$HK/v1/p2p/outbox
   curl -sS -N --http2 \$OFFICER_CN \$CN/v1/p2p/stream      # the live inbox (Ctrl-C ends it)
   curl -sS --http2 \$RIGHTS_HOLDER "\$CN/v1/evidence?rights_holder=Acme%20Shoes%20Ltd"
   curl -sS --http2 \$OFFICER_CN \$CN/metrics | grep -E '^portseal_(signatures|ledger)'
   tail -f $DIR/cn/portseald.log $DIR/sg/portseald.log $DIR/hk/portseald.log
Certificates and keys: $DIR/{cn,sg,hk}/pki/ (root.pem, client1, client2, officer, partner),
HSM-held keys' certificates: $DIR/{cn,sg,hk}/keys/. API: $REPO/protocol/openapi.yaml
To stop them:
   $REPO/tools/portseal-demo stop $DIR/cn
   $REPO/tools/portseal-demo stop $DIR/sg
   $REPO/tools/portseal-demo stop $DIR/hk
MSG
