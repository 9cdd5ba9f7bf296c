#!/usr/bin/env bash
# Partners and officers: two appliances paired with portseal-demo --partner (each pins the
# other's root), SIGHUP reload of the running one, and who is who: a partner's certificate
# is that partner only when it chains to that partner's pinned root AND has its CN; an officer
# is a local certificate with a configured CN; a partner cannot use local-only endpoints.
. "$(dirname "$0")/lib.sh"

start_instance "$TMP/cn" --name cn
CN_URL=$URL CN_CA=$CA_FILE CN_PID=$PID CN_OFFICER_CERT=$OFFICER_CERT CN_OFFICER_KEY=$OFFICER_KEY
CN_CLIENT_CERT=$CLIENT_CERT CN_CLIENT_KEY=$CLIENT_KEY
check "the demo prints OFFICER_CERT and OFFICER_KEY" test -s "$CN_OFFICER_CERT" -a -s "$CN_OFFICER_KEY"
check "cn has no partner yet" not grep -q '^partner ' "$TMP/cn/portseald.conf"

start_instance "$TMP/sg" --name sg --partner "cn=$TMP/cn"
SG_URL=$URL SG_CA=$CA_FILE
check "sg pins cn's root" grep -q "^partner cn root=$TMP/cn/pki/root.pem cn=partner.cn.portseal.test url=$CN_URL\$" "$TMP/sg/portseald.conf"
check "cn pins sg's root (written into the running one's config)" \
    grep -q "^partner sg root=$TMP/sg/pki/root.pem cn=partner.sg.portseal.test url=$SG_URL\$" "$TMP/cn/portseald.conf"
check "cn reloaded on SIGHUP" wait_until 10 grep -q 'reload: configuration read again' "$TMP/cn/portseald.log"
check "cn kept its parent process" test "$(cat "$TMP/cn/portseald.pid")" = "$CN_PID"

# whoami AS_URL CA CERT KEY: the JSON answer in $TMP/body, status in $STATUS
whoami() {
    STATUS=$(curl -sS --http2 --cacert "$2" --cert "$3" --key "$4" -o "$TMP/body" -D "$TMP/headers" \
        -w '%{http_code}' "$1/v1/whoami" 2>"$TMP/curl.err") || STATUS=000
}
partner_is() { whoami "$@" && [ "$STATUS" = 200 ] && [ "$(jget "j.get('partner')")" = "$5" ]; }
check "sg's partner certificate is partner sg at cn (after the reload)" \
    wait_until 15 partner_is "$CN_URL" "$CN_CA" "$TMP/sg/pki/partner.pem" "$TMP/sg/pki/partner.key" sg
check "and it is nobody's tenant or officer" test "$(jget "j.get('tenant')") $(jget "j.get('officer')")" = "None None"
check "cn's partner certificate is partner cn at sg" \
    partner_is "$SG_URL" "$SG_CA" "$TMP/cn/pki/partner.pem" "$TMP/cn/pki/partner.key" cn
# a partner's certificate is identified with its whole chain, which a resumed TLS session no
# longer carries: its sessions do not resume, and every reconnection is still partner sg
/usr/bin/python3 "$(dirname "$0")/tls_resume.py" "$CN_URL" "$CN_CA" "$TMP/sg/pki/partner.pem" \
    "$TMP/sg/pki/partner.key" 3 >"$TMP/resume" 2>&1
check "sg's reconnections to cn are full handshakes (no resumption)" grep -qx 'reused 0 of 3' "$TMP/resume"
check "and each is partner sg (200)" test "$(grep -c '^new 200 - sg$' "$TMP/resume")" = 4

whoami "$CN_URL" "$CN_CA" "$CN_OFFICER_CERT" "$CN_OFFICER_KEY"
check "cn's officer certificate is officer officer-1" test "$(jget "j.get('officer')")" = officer-1
whoami "$CN_URL" "$CN_CA" "$TMP/cn/pki/partner.pem" "$TMP/cn/pki/partner.key"
check "cn's own partner certificate is no partner at cn (a local CN, not a partner root)" \
    test "$STATUS $(jget "j.get('partner')")" = "200 None"
whoami "$CN_URL" "$CN_CA" "$TMP/sg/pki/client1.pem" "$TMP/sg/pki/client1.key"
check "a certificate from sg's root with another CN is refused at cn (403)" test "$STATUS" = 403
check "naming the problem" grep -q 'not that partner' "$TMP/body"
whoami "$CN_URL" "$CN_CA" "$TMP/sg/pki/officer.pem" "$TMP/sg/pki/officer.key"
check "sg's officer is not cn's officer (403)" test "$STATUS" = 403
whoami "$CN_URL" "$CN_CA" "$TMP/cn/pki/rogue.pem" "$TMP/cn/pki/rogue.key"
check "a rogue CA's certificate is still refused (403)" test "$STATUS" = 403

# a partner may not use local endpoints
URL=$CN_URL CA_FILE=$CN_CA
as_cert "$TMP/sg/pki/partner.pem" "$TMP/sg/pki/partner.key"
post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 x)"'"]}'
expect_error "partner on /v1/sign/hash" 403 not_a_tenant
api GET /metrics
expect_error "partner on /metrics" 403 partner_not_allowed
api GET /v1/ledger/checkpoint
expect_status "partner may read the ledger checkpoint" 200
as_cert "$CN_CLIENT_CERT" "$CN_CLIENT_KEY"
api GET /v1/whoami
check "tenant 1 is platform-a" test "$(jget "j.get('tenant')")" = platform-a

# the courier's link checks: each side calls the other with its partner certificate
as_cert "$CN_OFFICER_CERT" "$CN_OFFICER_KEY"
link_is() {
    api GET /v1/partners
    [ "$STATUS" = 200 ] && [ "$(jget "[p for p in j['partners'] if p['partner'] == 'sg'][0]['$1']")" = "$2" ]
}
check "cn's courier reaches sg over HTTP/2 with pinned roots, and sg sees it as partner cn" \
    wait_until 30 link_is as cn
check "GET /v1/partners says the link is ok" link_is ok True
as_cert "$CN_CLIENT_CERT" "$CN_CLIENT_KEY"
api GET /v1/partners
expect_error "a tenant may not read the partner links" 403 not_an_officer
"$DEMO" stop "$TMP/sg" >/dev/null 2>&1
as_cert "$CN_OFFICER_CERT" "$CN_OFFICER_KEY"
check "with sg stopped, cn reports the link down (within 30 s)" wait_until 30 link_is ok False
check "naming why" test -n "$(jget "[p for p in j['partners'] if p['partner'] == 'sg'][0]['error']")"

# a reload with a broken config keeps the running one
echo "partner broken root=/nonexistent.pem cn=x" >>"$TMP/cn/portseald.conf"
kill -HUP "$CN_PID"
check "a broken config on SIGHUP is refused and logged" wait_until 10 grep -q 'reload: .*keeping the running configuration' "$TMP/cn/portseald.log"
check "and cn keeps serving" wait_until 5 partner_is "$CN_URL" "$CN_CA" "$TMP/sg/pki/partner.pem" "$TMP/sg/pki/partner.key" sg
