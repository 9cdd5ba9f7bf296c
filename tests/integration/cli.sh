#!/usr/bin/env bash
# The portseal CLI and the parent's admin socket (issue 8): status (human and --json), the
# socket is root's and a non-root peer is refused (mode, then SO_PEERCRED) and logged, a stuck
# or oversized client does not hold up the parent, tenants/officers added through the socket
# work at once (a new tenant's certificate signs with a key generated, certified and imported
# with `portseal keys`), tenant signing limits (add with limits, limit, list, remove; bad values
# refused with the file unchanged), a bad partner root or a broken file is refused with the
# reason and the file unchanged, keys list with expiry, key retire, aeo import as before, p2p send/list
# between two paired appliances, evidence get, --help everywhere.
. "$(dirname "$0")/lib.sh"
PS=$REPO/tools/portseal

start_instance "$TMP/cn" --name cn
CN_PID=$PID CN_URL=$URL CN_CA=$CA_FILE
CONF=$TMP/cn/portseald.conf
SOCK=$TMP/cn/state/admin.sock
PKI=$TMP/cn/pki
psc() { "$PS" --instance "$TMP/cn" "$@"; }

# ---- status
check "the admin socket is there, a socket of mode 0600 owned by root" \
    test "$(stat -c '%F %a %U' "$SOCK")" = "socket 600 root"
out=$(psc status 2>&1)
check "status (human) names the parent, the keyholder, a worker and key t1-ec" \
    bash -c 'grep -q "^portseald pid '"$CN_PID"'" <<<"$1" && grep -q "^keyholder " <<<"$1" && grep -q "^worker 1 " <<<"$1" && grep -q "^t1-ec " <<<"$1"' _ "$out"
psc --json status >"$TMP/status.json"
check "status --json: pid, listen, state_dir, config, children, keys with not_after and expired" \
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
k = {x["id"]: x for x in j["keys"]}
assert j["ok"] and j["pid"] == int(sys.argv[2]) and j["listen"].endswith(sys.argv[3].rsplit(":", 1)[1])
assert j["config"] == sys.argv[4] and j["keyholder"]["pid"] > 0 and len(j["workers"]) == 2
assert k["t1-ec"]["owner"] == "platform-a" and k["t1-ec"]["expired"] is False and k["t1-ec"]["not_after"].endswith("Z")
assert k["tsa-ec"]["owner"] == "@tsa" and [t["id"] for t in j["tenants"]] == ["platform-a", "platform-b"]
' "$TMP/status.json" "$CN_PID" "$CN_URL" "$CONF"
check "status --socket PATH works as well" bash -c '"$1" --socket "$2" --json status | grep -q "\"ok\": true"' _ "$PS" "$SOCK"

# ---- who may talk
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
out=$("${NOBODY[@]}" "$PS" --socket "$SOCK" status 2>&1)
check "nobody cannot connect (socket mode 0600): $out" grep -q "permission denied" <<<"$out"
check "  and the CLI fails" not "${NOBODY[@]}" "$PS" --socket "$SOCK" status
chmod 0666 "$SOCK"
out=$("${NOBODY[@]}" "$PS" --socket "$SOCK" status 2>&1)
rc=$?
chmod 0600 "$SOCK"
check "with the socket opened up, nobody is still refused (SO_PEERCRED): $out" \
    test "$rc" = 1 -a -n "$(grep 'closed the connection without an answer' <<<"$out")"
check "  and the parent logs the refused uid" \
    wait_until 5 grep -q 'admin socket: refused a client with uid 65534' "$TMP/cn/portseald.log"

# a client that connects and says nothing, one that sends 20000 bytes without a newline
python3 - "$SOCK" >"$TMP/stuck.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
b = socket.socket(socket.AF_UNIX); b.connect(sys.argv[1]); b.sendall(b"x" * 20000)
print("big:", b.recv(1000).decode().strip())
t = time.time(); s.settimeout(20); d = s.recv(10)
print("stuck closed after %.0f s" % (time.time() - t), d)
PY
STUCK=$!
sleep 0.5
check "a silent client does not hold up the parent (status answers meanwhile)" \
    bash -c '"$1" --socket "$2" --json status >/dev/null' _ "$PS" "$SOCK"
wait $STUCK
check "an oversized request gets an error answer" grep -q 'big: {"ok":false,"error":"request longer than' "$TMP/stuck.out"
check "the silent client is closed after the 5 s deadline" grep -q 'stuck closed after [5-7] s' "$TMP/stuck.out"

# ---- tenants: add, and the new tenant's certificate works at once
out=$(psc tenants add acme acme.cn.portseal.test 2>&1)
check "tenants add acme: $out" grep -q "tenant acme added; $CONF reloaded (previous version in $CONF.bak)" <<<"$out"
check "the file has the line" grep -qx 'tenant acme acme.cn.portseal.test' "$CONF"
check "the backup is the previous version" bash -c '! grep -q "^tenant acme" "$1.bak" && grep -q "^tenant platform-b" "$1.bak"' _ "$CONF"
check "the file keeps its mode" test "$(stat -c %a "$CONF")" = "$(stat -c %a "$CONF.bak")"
check "tenants list shows acme" bash -c 'grep -q "^acme  *acme.cn.portseal.test" <<<"$("$1" --instance "$2" tenants list)"' _ "$PS" "$TMP/cn"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/acme.key" \
    -subj "/O=portseal-cn/CN=acme.cn.portseal.test" -out "$TMP/acme.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n' >"$TMP/client.ext"
openssl x509 -req -in "$TMP/acme.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 30 -extfile "$TMP/client.ext" -out "$TMP/acme.pem" 2>/dev/null
cat "$PKI/ca.pem" >>"$TMP/acme.pem"
as_cert "$TMP/acme.pem" "$TMP/acme.key"
api GET /v1/whoami
check "a certificate for acme's CN is tenant acme" test "$STATUS $(jget "j.get('tenant')")" = "200 acme"
out=$(psc tenants add acme2 platform-a.cn.portseal.test 2>&1)
check "a second tenant with platform-a's CN is refused: $out" \
    bash -c '! "$1" --instance "$2" tenants add acme2 platform-a.cn.portseal.test 2>/dev/null && grep -q "duplicate tenant id or CN" <<<"$3"' _ "$PS" "$TMP/cn" "$out"
out=$(psc tenants add 'bad id' x 2>&1)
check "an id with a blank is refused: $out" grep -q 'printable characters without blanks' <<<"$out"

# ---- tenant limits: add with limits, limit, list (table and --json), remove; bad values refused
out=$(psc tenants add beta beta.cn.portseal.test --sign-rate 20 --sign-burst 40 2>&1)
check "tenants add beta --sign-rate 20 --sign-burst 40: $out" grep -q "tenant beta added (sign_rate 20/s, sign_burst 40)" <<<"$out"
check "  the line has the options" grep -qx 'tenant beta beta.cn.portseal.test sign_rate=20 sign_burst=40' "$CONF"
out=$(psc tenants limit acme --sign-rate 5 2>&1)
check "tenants limit acme --sign-rate 5: $out" grep -q "tenant acme: sign_rate 5/s, sign_burst 5" <<<"$out"
check "  acme's line is rewritten in place" grep -qx 'tenant acme acme.cn.portseal.test sign_rate=5' "$CONF"
out=$(psc tenants list)
check "tenants list shows the limits"     bash -c 'grep -Eq "^acme +acme.cn.portseal.test +5 +5$" <<<"$1" && grep -Eq "^beta +beta.cn.portseal.test +20 +40$" <<<"$1" && grep -Eq "^platform-a +platform-a.cn.portseal.test +unlimited +-$" <<<"$1"' _ "$out"
psc --json tenants list >"$TMP/tenants.json"
check "tenants list --json: sign_rate and sign_burst (null without a limit)" python3 -c '
import json, sys
t = {x["id"]: x for x in json.load(open(sys.argv[1]))}
assert (t["acme"]["sign_rate"], t["acme"]["sign_burst"]) == (5, 5)
assert (t["beta"]["sign_rate"], t["beta"]["sign_burst"]) == (20, 40)
assert t["platform-a"]["sign_rate"] is None and t["platform-a"]["sign_burst"] is None
' "$TMP/tenants.json"
as_cert "$TMP/acme.pem" "$TMP/acme.key"
api GET /metrics
check "/metrics has a rate-limit series for acme and beta (the reload took the limits)"     bash -c 'grep -qx "portseal_tenant_rate_limited_total{tenant=\"acme\"} 0" "$1" && grep -qx "portseal_tenant_rate_limited_total{tenant=\"beta\"} 0" "$1"' _ "$TMP/body"
cp "$CONF" "$TMP/conf.limits"
out=$(psc tenants limit acme --sign-rate 0 2>&1)
check "a sign_rate of 0 is refused, naming the line: $out"     grep -q 'would not parse: line [0-9]*: tenant acme: sign_rate= must be a number from 1 to 1000000' <<<"$out"
out=$(psc tenants limit acme --sign-rate 5 --sign-burst 20000000 2>&1)
check "a sign_burst above 10000000 is refused: $out" grep -q 'sign_burst= must be a number from 1 to 10000000' <<<"$out"
out=$(psc tenants add gamma gamma.cn --sign-burst 5 2>&1)
check "--sign-burst without --sign-rate is refused: $out" grep -q -- '--sign-burst needs --sign-rate' <<<"$out"
out=$(psc tenants limit nosuch --sign-rate 5 2>&1)
check "a limit for an unknown tenant is refused: $out" grep -q 'no tenant nosuch in the configuration' <<<"$out"
out=$(psc tenants limit acme 2>&1)
check "tenants limit without --sign-rate or --unlimited is refused: $out" grep -q 'give --sign-rate N' <<<"$out"
out=$(psc tenants limit acme --unlimited --sign-burst 3 2>&1)
check "--unlimited with --sign-burst is refused: $out" grep -q -- '--unlimited takes no --sign-burst' <<<"$out"
check "  and none of these changed the file" cmp -s "$CONF" "$TMP/conf.limits"
out=$(psc tenants limit acme --unlimited 2>&1)
check "tenants limit acme --unlimited: $out" grep -q "tenant acme: unlimited" <<<"$out"
check "  the options are gone from the line" grep -qx 'tenant acme acme.cn.portseal.test' "$CONF"

# ---- keys: generate in the token, CSR, certificate, import for acme, sign, retire
check "keys generate a9-ec --type ec --tenant acme" psc keys generate a9-ec --type ec --tenant acme
check "keys generate refuses a label the token already has" not psc keys generate a9-ec --type ec
check "keys csr a9-ec" psc keys csr a9-ec --subject /CN=a9-ec.cn.portseal.test/O=acme -o "$TMP/a9.csr"
check "  the CSR verifies" openssl req -in "$TMP/a9.csr" -noout -verify
"$REPO/certs/dev/issue.sh" "$PKI" "$TMP/a9.csr" "$TMP/a9.pem" a9-ec.cn.portseal.test 2>/dev/null
check "keys import with an unreadable certificate fails" not psc keys import a9-ec "$TMP/none.pem" --tenant acme
check "keys import of another key's certificate is refused (public key check)" \
    not psc keys import a9-ec "$TMP/cn/keys/t1-ec.pem" --tenant acme
out=$(psc keys import a9-ec "$TMP/a9.pem" --chain "$PKI/ca.pem" --chain "$PKI/root.pem" --tenant acme 2>&1)
check "keys import a9-ec: $out" grep -q "key a9-ec added (certificate chain $TMP/cn/keys/a9-ec-chain.pem)" <<<"$out"
check "  the chain file is readable by the workers (0644)" test "$(stat -c %a "$TMP/cn/keys/a9-ec-chain.pem")" = 644
as_cert "$TMP/acme.pem" "$TMP/acme.key"
post_json /v1/sign/hash "{\"key\":\"a9-ec\",\"hashes\":[\"$(b64_sha256 acme)\"]}"
expect_status "tenant acme signs with its new key a9-ec" 200
out=$(psc keys list)
check "keys list shows a9-ec for acme with its expiry" \
    bash -c 'grep -Eq "^a9-ec +acme +ec-p256 +[0-9a-f]+ +[0-9TZ:-]+ +$2 +valid \([0-9]+ days left\)" <<<"$1"' _ "$out" \
    "$(date -u -d "$(openssl x509 -in "$TMP/a9.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
out=$(psc keys rotate a9-ec a9-ec-2 -o "$TMP/a9-2.csr" 2>&1)
check "keys rotate a9-ec a9-ec-2 makes the new key and a CSR with the old subject" \
    bash -c 'openssl req -in "$1" -noout -subject | grep -q "CN *= *a9-ec.cn.portseal.test"' _ "$TMP/a9-2.csr"
out=$(psc keys retire tsa-ec 2>&1)
check "retiring the TSA key is refused (tsa_key names it): $out" grep -q 'tsa_key names unknown key tsa-ec' <<<"$out"
out=$(psc keys retire a9-ec 2>&1)
check "keys retire a9-ec: $out" grep -q 'key a9-ec retired' <<<"$out"
check "  its line is commented out" grep -q '^# retired: key a9-ec tenant=acme' "$CONF"
post_json /v1/sign/hash "{\"key\":\"a9-ec\",\"hashes\":[\"$(b64_sha256 acme)\"]}"
expect_error "  and signing with it is 404" 404 key_not_found

# ---- officers
check "officers add officer-2" psc officers add officer-2 officer2.cn.portseal.test
check "officers list --json shows both" \
    bash -c '"$1" --instance "$2" --json officers list | python3 -c "import json,sys; assert [o[\"id\"] for o in json.load(sys.stdin)] == [\"officer-1\", \"officer-2\"]"' _ "$PS" "$TMP/cn"

# ---- a bad partner root: refused, file unchanged
cp "$CONF" "$TMP/conf.before"
out=$(psc partners add sg --root "$PKI/client1.pem" --cn partner.sg.portseal.test 2>&1)
check "a leaf certificate as a partner root is refused: $out" grep -q 'not a CA' <<<"$out"
out=$(psc partners add sg --root /etc/hostname --cn partner.sg.portseal.test 2>&1)
check "a file without certificates as a partner root is refused: $out" grep -q 'holds no PEM certificate' <<<"$out"
out=$(psc partners add sg --root "$TMP/none.pem" --cn partner.sg.portseal.test 2>&1)
check "a missing partner root is refused: $out" grep -q 'unchanged' <<<"$out"
check "  and the file is unchanged" cmp -s "$CONF" "$TMP/conf.before"

# ---- reload and config-check answer a broken file with the reason
echo "workers zero" >>"$CONF"
out=$(psc reload 2>&1)
check "reload refuses a broken file, naming the line: $out" grep -q 'workers must be a number from 1 to 64; the running configuration is kept' <<<"$out"
check "  and fails" not psc reload
check "config-check says the same" not psc config-check
check "a change is refused while the file is broken (and it stays as it is)" \
    bash -c '! "$1" --instance "$2" officers add officer-3 o3.cn 2>/dev/null && grep -q "^workers zero" "$3"' _ "$PS" "$TMP/cn" "$CONF"
as_tenant1
api GET /healthz
check "the appliance still serves" test "$STATUS" = 200
cp "$TMP/conf.before" "$CONF"
check "config-check passes again" psc config-check
out=$(psc --json reload)
check "reload --json answers ok" grep -q '"reloaded": true' <<<"$out"

# ---- aeo import: the same behaviour and output as before
cat >"$TMP/reg1.csv" <<'CSV'
aeo_id,name,address,status,valid_from,valid_until
AEOCN4403123456,"Shenzhen Ocean Freight Co., Ltd.","1 Fuhua Road, Futian, Shenzhen",valid,2024-01-01,2027-12-31
AEOCN4403000001,Bao'an Air Cargo,Bao'an,valid,2030-01-01,2032-12-31
CSV
out=$(psc aeo import "$TMP/reg1.csv" 2>&1)
check "aeo import: $out" test "$out" = "$TMP/reg1.csv: 2 records, 2 changed (seq 1..2); register at seq 2"
out=$(psc aeo import "$TMP/reg1.csv" 2>&1)
check "aeo import again: $out" test "$out" = "$TMP/reg1.csv: 2 records, nothing changed; register at seq 2"

# ---- evidence get
as_tenant1
printf '%%PDF-1.4 licence\n' >"$TMP/licence.pdf"
api POST /v1/evidence -F 'metadata={"rights_holder":"Acme","trademarks":["G1"],"goods":"shoes","hs_code":"6403.99","submitter":"Li"};type=application/json' \
    -F "file=@$TMP/licence.pdf;type=application/pdf"
BID=$(jget "j['bundle_id']")
check "evidence get $BID -o FILE" psc evidence get "$BID" -o "$TMP/b.asice"
check "  the file is the bundle (sha256 = id)" test "$(sha256sum "$TMP/b.asice" | cut -d' ' -f1)" = "$BID"
check "evidence get of an unknown id fails" not psc evidence get 0000 -o "$TMP/none.asice"

# ---- p2p between two paired appliances
start_instance "$TMP/sg" --name sg --partner "cn=$TMP/cn"
check "cn reloaded with partner sg" wait_until 15 bash -c '"$1" --instance "$2" --json partners list | grep -q "\"id\": \"sg\""' _ "$PS" "$TMP/cn"
out=$(psc partners list)
check "partners list shows sg with its URL" grep -q "^sg  *partner.sg.portseal.test  *$URL " <<<"$out"
ALERT='{"severity":"critical","category":"smuggling","title":"lane 3","text":"check container ABCU1234567"}'
out=$(psc p2p send --to sg --type alert --priority urgent --body "$ALERT" 2>&1)
check "p2p send: $out" grep -q '^queued cn-[0-9a-f]* to sg' <<<"$out"
delivered() { "$PS" --instance "$TMP/sg" --json p2p list --dir in | python3 -c 'import json,sys; sys.exit(0 if any(m["from"] == "cn" for m in json.load(sys.stdin)["messages"]) else 1)'; }
check "p2p list --dir in at sg shows it (delivered by cn's courier)" wait_until 30 delivered
acked() { "$PS" --instance "$TMP/cn" p2p list --dir out | grep -q ' acknowledged'; }
check "p2p list --dir out at cn shows it acknowledged" wait_until 30 acked
out=$(psc p2p send --to nowhere --type alert --body "$ALERT" 2>&1)
check "p2p send to an unknown partner is refused with the reason: $out" grep -q 'refused (' <<<"$out"

# ---- --help on every command and subcommand; usage errors are status 2
for c in "" status reload config-check "keys list" "keys generate" "keys csr" "keys import" "keys rotate" \
    "keys retire" "tenants add" "tenants limit" "tenants list" "officers add" "officers list" "partners add" \
    "partners list" "aeo import" "p2p send" "p2p list" "evidence get"; do
    # shellcheck disable=SC2086
    "$PS" $c --help >"$TMP/help" 2>&1
    rc=$?
    [ "$rc" = 0 ] && grep -q '^usage: portseal' "$TMP/help" || nok "portseal $c --help (status $rc)"
done
ok "--help works on every command"
check "aeo import --help says it uses the HTTPS API as the officer" bash -c '"$1" aeo import --help | tr "\n" " " | grep -q "HTTPS  *API"' _ "$PS"
check "tenants add --help says it uses the admin socket" bash -c '"$1" tenants add --help | tr "\n" " " | grep -q "admin  *socket"' _ "$PS"
"$PS" >/dev/null 2>&1
check "no command: usage, status 2" test $? = 2
"$PS" keys >/dev/null 2>&1
check "a group without subcommand: status 2" test $? = 2
"$PS" keys generate >/dev/null 2>&1
check "a missing argument: status 2" test $? = 2

check "the parent kept its pid through all of it" test "$(cat "$TMP/cn/portseald.pid")" = "$CN_PID"
"$DEMO" stop "$TMP/cn" >/dev/null 2>&1
check "the socket file is removed when portseald stops" test ! -e "$SOCK"
