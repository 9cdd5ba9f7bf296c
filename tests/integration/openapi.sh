#!/usr/bin/env bash
# protocol/openapi.yaml against running appliances: the document's structure (OpenAPI 3.1,
# mutual TLS, every $ref resolved, errors in the Error schema, x-request-id everywhere), then
# two paired appliances (cn, and sg as its partner) answer a request per case - happy paths and
# errors for every route, as a tenant, an officer, a partner or nobody - with a status, content
# type and body the document lists for that operation. (tests/unit/appliance/openapi_test.c
# checks the same document against the route table.) Needs python3-yaml.
. "$(dirname "$0")/lib.sh"
OPENAPI=$REPO/protocol/openapi.yaml
CHECK="python3 $REPO/tests/integration/openapi_check.py"

if ! python3 -c 'import yaml' 2>/dev/null; then
    ok "# skip python3-yaml is not installed (make deps installs it)"
    exit 0
fi
$CHECK structure "$OPENAPI"

start_instance "$TMP/cn" --name cn
CN_URL=$URL CN_CA=$CA_FILE
TENANT_CERT=$CLIENT_CERT TENANT_KEY=$CLIENT_KEY CN_OFFICER_CERT=$OFFICER_CERT CN_OFFICER_KEY=$OFFICER_KEY
start_instance "$TMP/sg" --name sg --partner "cn=$TMP/cn"
URL=$CN_URL CA_FILE=$CN_CA
check "sg is cn's partner (after cn's reload)" wait_until 15 sh -c "curl -s --http2 --cacert '$CN_CA' \
    --cert '$TMP/sg/pki/partner.pem' --key '$TMP/sg/pki/partner.key' '$CN_URL/v1/whoami' | grep -q '\"partner\":\"sg\"'"

# --- what the cases send ---------------------------------------------------------------------
D=$TMP/in
mkdir -p "$D"
H=$(printf 'openapi' | openssl dgst -sha256 -binary | base64)
printf '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["%s"]}' "$H" >"$D/hash.json"
printf '{}' >"$D/empty.json"
printf 'hello' >"$D/hello.txt"
printf '<a>' >"$D/bad.xml"
as_cert "$TENANT_CERT" "$TENANT_KEY"
api POST '/v1/sign/ceb?key=t1-ec' -H 'content-type: application/xml' --data-binary "@$REPO/tests/data/ceb/CEB311Message.xml"
cp "$TMP/body" "$D/signed.xml"
check "a signed CEB message to verify" test "$STATUS" = 200
api POST '/v1/sign/cms?key=t1-ec' --data-binary "@$D/hello.txt"
check "a CMS signature to verify" test "$STATUS" = 200
python3 -c "
import base64, json, sys
print(json.dumps({'signature': base64.b64encode(open('$TMP/body','rb').read()).decode(),
                  'content': base64.b64encode(b'hello').decode()}))" >"$D/verify-cms.json"
openssl ts -query -data "$D/hello.txt" -sha256 -cert -out "$D/q.tsq" 2>/dev/null
META='{"rights_holder":"Acme Shoes Ltd","trademarks":["G1234567"],"goods":"running shoes","hs_code":"6403.99","submitter":"Li Wei"}'
printf 'licence' >"$D/licence.pdf"
api POST /v1/evidence -F "metadata=$META;type=application/json" -F "file=@$D/licence.pdf;type=application/pdf"
BUNDLE=$(jget "j['bundle_id']")
check "an evidence bundle to read" test "$STATUS" = 201 -a -n "$BUNDLE"
printf 'aeo_id,name,address,status,valid_from,valid_until\nAEOCN4403123456,Shenzhen Ocean Freight,1 Fuhua Road,valid,2024-01-01,2027-12-31\n' >"$D/register.csv"
printf '{"origin":"SG","seq":1}' >"$D/notify.json"
printf '{"origin":"XX","seq":1}' >"$D/notify-bad.json"
printf '{"to":"sg","type":"note","priority":"routine","body":{"subject":"Shift change","text":"Night shift starts at 22:00"}}' >"$D/outbox.json"
printf '{"to":"nobody","type":"note","body":{"subject":"s","text":"t"}}' >"$D/outbox-bad.json"
as_cert "$CN_OFFICER_CERT" "$CN_OFFICER_KEY"
api POST /v1/p2p/outbox -H 'content-type: application/json' --data-binary "@$D/outbox.json"
MSG=$(jget "j['id']")
check "an outbox message to read" test "$STATUS" = 202 -a -n "$MSG"
# sg's envelope to cn, signed with a key certified by sg's CA (as sg's courier would)
J="python3 $REPO/tests/integration/p2p_jws.py"
openssl ecparam -name prime256v1 -genkey -noout -out "$D/sg-p2p.key" 2>/dev/null
openssl req -new -key "$D/sg-p2p.key" -subj /CN=p2p.sg.portseal.test -out "$D/sg-p2p.csr" 2>/dev/null
"$REPO/certs/dev/issue.sh" "$TMP/sg/pki" "$D/sg-p2p.csr" "$D/sg-p2p.pem" p2p.sg.portseal.test >/dev/null 2>&1
cat "$D/sg-p2p.pem" "$TMP/sg/pki/ca.pem" >"$D/sg-p2p-chain.pem"
$J envelope sg cn sg-000001 1 note '{"subject":"Shift change","text":"Lane 3 closes."}' 3600 0 >"$D/env.json"
$J sign "$D/sg-p2p.key" "$D/sg-p2p-chain.pem" "$D/env.json" >"$D/env.jws"
check "an envelope from sg to deliver" test -s "$D/env.jws"
printf '{"envelopes":["%s"]}' "$(cat "$D/env.jws")" >"$D/batch.json"

# --- the cases: [method, path, identity, curl args, expected status, error code] --------------
python3 - "$D" "$BUNDLE" "$MSG" "$REPO" >"$TMP/cases.json" <<'PY'
import json, sys
D, bundle, msg, repo = sys.argv[1:5]
J = lambda f: ["-H", "content-type: application/json", "--data-binary", "@%s/%s" % (D, f)]
X = lambda f: ["-H", "content-type: application/xml", "--data-binary", "@" + f]
P179 = ["-H", "content-type: application/json", "--data-binary",
        "@" + repo + "/tests/data/chinaport/pay179-request.json"]
cases = [
    ("GET", "/healthz", "none", [], 200, None),
    ("GET", "/readyz", "officer", [], 200, None),
    ("GET", "/readyz", "partner", [], 403, "partner_not_allowed"),
    ("GET", "/metrics", "officer", [], 200, None),
    ("GET", "/ui/", "officer", [], 200, None),
    ("GET", "/ui/", "partner", [], 403, "partner_not_allowed"),
    ("GET", "/ui/app.js", "tenant", [], 200, None),
    ("GET", "/ui/style.css", "officer", [], 200, None),
    ("GET", "/ui/nope.js", "officer", [], 404, "not_found"),
    ("GET", "/v1/whoami", "tenant", [], 200, None),
    ("GET", "/v1/whoami", "partner", [], 200, None),
    ("GET", "/v1/whoami", "none", [], 401, "client_certificate_required"),
    ("GET", "/v1/partners", "officer", [], 200, None),
    ("GET", "/v1/partners", "tenant", [], 403, "not_an_officer"),
    ("GET", "/v1/keys", "tenant", [], 200, None),
    ("GET", "/v1/keys", "officer", [], 403, "not_a_tenant"),
    ("GET", "/v1/keys/t1-ec", "tenant", [], 200, None),
    ("GET", "/v1/keys/nope", "tenant", [], 404, "key_not_found"),
    ("POST", "/v1/sign/hash", "tenant", J("hash.json"), 200, None),
    ("POST", "/v1/sign/hash", "tenant", J("empty.json"), 400, "invalid_request"),
    ("POST", "/v1/sign/hash", "tenant", ["-H", "content-type: text/plain", "--data-binary", "x"], 415, "unsupported_media_type"),
    ("POST", "/v1/sign/cms?key=t1-ec", "tenant", ["--data-binary", "@%s/hello.txt" % D], 200, None),
    ("POST", "/v1/sign/cms", "tenant", ["--data-binary", "x"], 400, "invalid_request"),
    ("POST", "/v1/sign/cms?key=t1-ed", "tenant", ["--data-binary", "x"], 400, "unsupported_algorithm"),
    ("POST", "/v1/sign/ceb?key=t1-ec", "tenant", X(repo + "/tests/data/ceb/CEB311Message.xml"), 200, None),
    ("POST", "/v1/sign/ceb?key=t1-ec", "tenant", X(D + "/bad.xml"), 400, "invalid_xml"),
    ("POST", "/v1/sign/ceb?key=t1-ec&profile=nope", "tenant", X(D + "/bad.xml"), 400, "unknown_profile"),
    ("POST", "/v1/sign/179?key=t1-sm2&string=1", "tenant", P179, 200, None),
    ("POST", "/v1/sign/179?key=t1-ec", "tenant", P179, 400, "profile_does_not_fit_key"),
    ("POST", "/v1/verify/ceb", "officer", X(D + "/signed.xml"), 200, None),
    ("POST", "/v1/verify/ceb", "partner", X(D + "/signed.xml"), 200, None),
    ("POST", "/v1/verify/ceb", "officer", X(D + "/bad.xml"), 400, "invalid_xml"),
    ("POST", "/v1/verify/cms", "officer", J("verify-cms.json"), 200, None),
    ("POST", "/v1/verify/cms", "partner", J("empty.json"), 400, "invalid_request"),
    ("POST", "/v1/tsa", "officer", ["-H", "content-type: application/timestamp-query", "--data-binary", "@%s/q.tsq" % D], 200, None),
    ("POST", "/v1/tsa", "partner", ["-H", "content-type: application/timestamp-query", "--data-binary", "x"], 400, "invalid_timestamp_query"),
    ("POST", "/v1/tsa", "officer", ["-H", "content-type: text/plain", "--data-binary", "x"], 415, "unsupported_media_type"),
    ("GET", "/v1/ledger/checkpoint", "partner", [], 200, None),
    ("POST", "/v1/ledger/checkpoint", "officer", [], 200, None),
    ("POST", "/v1/ledger/checkpoint", "partner", [], 403, "partner_not_allowed"),
    ("GET", "/v1/ledger/proof/inclusion?index=0", "officer", [], 200, None),
    ("GET", "/v1/ledger/proof/inclusion?index=0&size=2", "partner", [], 200, None),
    ("GET", "/v1/ledger/proof/inclusion", "officer", [], 400, "invalid_request"),
    ("GET", "/v1/ledger/proof/consistency?old=1&new=2", "officer", [], 200, None),
    ("GET", "/v1/ledger/proof/consistency?old=2&new=999999", "officer", [], 400, "invalid_request"),
    ("POST", "/v1/evidence", "tenant", ["-F", "metadata={\"rights_holder\":\"X\",\"trademarks\":[\"1\"],\"goods\":\"g\",\"hs_code\":\"64ab\",\"submitter\":\"s\"}", "-F", "a=@%s/licence.pdf" % D], 400, "invalid_evidence"),
    ("POST", "/v1/evidence", "tenant", ["-H", "content-type: application/json", "--data-binary", "{}"], 415, "unsupported_media_type"),
    ("POST", "/v1/evidence", "officer", ["-F", "metadata={\"rights_holder\":\"Acme\",\"trademarks\":[\"T1\"],\"goods\":\"g\",\"hs_code\":\"6403\",\"submitter\":\"s\"};type=application/json", "-F", "f=@%s/hello.txt" % D], 201, None),
    ("GET", "/v1/evidence", "tenant", [], 200, None),
    ("GET", "/v1/evidence?trademark=G1234567", "officer", [], 200, None),
    ("GET", "/v1/evidence/" + bundle, "tenant", [], 200, None),
    ("GET", "/v1/evidence/" + "0" * 64, "tenant", [], 404, "not_found"),
    ("GET", "/v1/evidence/%s/proof" % bundle, "officer", [], 200, None),
    ("POST", "/v1/aeo/register", "officer", ["-H", "content-type: text/csv", "--data-binary", "@%s/register.csv" % D], 200, None),
    ("POST", "/v1/aeo/register", "officer", ["-H", "content-type: text/plain", "--data-binary", "x"], 415, "unsupported_media_type"),
    ("POST", "/v1/aeo/register", "officer", ["-H", "content-type: text/csv", "--data-binary", "x"], 400, "invalid_register"),
    ("GET", "/v1/aeo/feed?after=0&limit=10", "partner", [], 200, None),
    ("GET", "/v1/aeo/feed?form=compact", "partner", [], 200, None),
    ("GET", "/v1/aeo/feed?after=999", "partner", [], 409, "after_beyond_end"),
    ("GET", "/v1/aeo/feed?limit=0", "partner", [], 400, "invalid_request"),
    ("GET", "/v1/aeo/feed", "officer", [], 403, "not_a_partner"),
    ("POST", "/v1/aeo/notify", "partner", J("notify.json"), 202, None),
    ("POST", "/v1/aeo/notify", "partner", J("notify-bad.json"), 403, "wrong_origin"),
    ("POST", "/v1/aeo/notify", "partner", J("empty.json"), 400, "invalid_request"),
    ("GET", "/v1/aeo/digest", "partner", [], 200, None),
    ("GET", "/v1/aeo/digest?seq=0", "partner", [], 200, None),
    ("GET", "/v1/aeo/digest?seq=999", "partner", [], 409, "after_beyond_end"),
    ("GET", "/v1/aeo/digest?seq=x", "partner", [], 400, "invalid_request"),
    ("GET", "/v1/aeo/digest", "officer", [], 403, "not_a_partner"),
    ("GET", "/v1/aeo/operators/AEOCN4403123456?at=2026-01-01", "officer", [], 200, None),
    ("GET", "/v1/aeo/operators/AEOCN0000000000", "officer", [], 404, "unknown_operator"),
    ("GET", "/v1/aeo/operators/nope", "officer", [], 400, "invalid_aeo_id"),
    ("POST", "/v1/p2p/inbound", "partner", ["-H", "content-type: application/jose", "--data-binary", "@%s/env.jws" % D], 200, None),
    ("POST", "/v1/p2p/inbound", "partner", ["-H", "content-type: application/jose", "--data-binary", "x.y.z"], 400, "invalid_signature"),
    ("POST", "/v1/p2p/inbound", "officer", ["--data-binary", "x"], 403, "not_a_partner"),
    ("POST", "/v1/p2p/inbound/batch", "partner", ["-H", "content-type: application/json", "--data-binary", "@%s/batch.json" % D], 200, None),
    ("POST", "/v1/p2p/inbound/batch", "partner", ["-H", "content-type: application/json", "--data-binary", '{"envelopes":[]}'], 400, "invalid_request"),
    ("POST", "/v1/p2p/outbox", "officer", J("outbox.json"), 202, None),
    ("POST", "/v1/p2p/outbox", "officer", J("outbox-bad.json"), 422, "unknown_partner"),
    ("POST", "/v1/p2p/outbox", "officer", ["-H", "content-type: text/plain", "--data-binary", "x"], 415, "unsupported_media_type"),
    ("GET", "/v1/p2p/messages?dir=out", "officer", [], 200, None),
    ("GET", "/v1/p2p/messages?dir=in&after=0&limit=5", "officer", [], 200, None),
    ("GET", "/v1/p2p/messages", "officer", [], 400, "invalid_request"),
    ("GET", "/v1/p2p/messages/" + msg, "officer", [], 200, None),
    ("GET", "/v1/p2p/messages/sg-000001", "officer", [], 200, None),
    ("GET", "/v1/p2p/messages/nope", "officer", [], 404, "not_found"),
    # the event stream never ends on its own: only its refusals are checked here
    # (tests/integration/p2p_stream.sh reads the events)
    ("GET", "/v1/p2p/stream?after=x", "officer", [], 400, "invalid_request"),
    ("GET", "/v1/p2p/stream", "officer", ["-H", "Last-Event-ID: nope"], 400, "invalid_request"),
    ("GET", "/v1/p2p/stream", "tenant", [], 403, "not_an_officer"),
]
out = []
for m, p, ident, args, status, code in cases:
    c = {"method": m, "path": p, "as": ident, "args": args, "expect": status}
    if code:
        c["code"] = code
    out.append(c)
json.dump(out, sys.stdout, indent=1)
PY
URL=$CN_URL CA_FILE=$CN_CA TMP=$TMP \
    TENANT_CERT=$TENANT_CERT TENANT_KEY=$TENANT_KEY \
    OFFICER_CERT=$CN_OFFICER_CERT OFFICER_KEY=$CN_OFFICER_KEY \
    PARTNER_CERT=$TMP/sg/pki/partner.pem PARTNER_KEY=$TMP/sg/pki/partner.key \
    $CHECK live "$OPENAPI" "$TMP/cases.json"
