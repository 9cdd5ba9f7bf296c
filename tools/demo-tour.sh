#!/usr/bin/env bash
# demo-tour.sh [DIR] - start a demo appliance and walk through cloud signing with curl,
# printing each step and its result. Leaves the appliance running. (`make demo` runs this.)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-/tmp/portseal-demo}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*" >&2; "$@"; }

step "Starting the appliance in $DIR (SoftHSM token and test PKI made on the first run)"
eval "$("$HERE/portseal-demo" start "$DIR")"
printf 'URL=%s\nCA_FILE=%s\nCLIENT_CERT=%s\nCLIENT_KEY=%s\nPID=%s\nLOG=%s\n' \
    "$URL" "$CA_FILE" "$CLIENT_CERT" "$CLIENT_KEY" "$PID" "$LOG"
C=(curl -sS --http2 --cacert "$CA_FILE" --cert "$CLIENT_CERT" --key "$CLIENT_KEY")

step "Is it ready? (keyholder, HSM session, audit storage)"
show "${C[@]}" "$URL/readyz"; echo

step "The keys of tenant platform-a (client certificate CN=platform-a...)"
"${C[@]}" "$URL/v1/keys" | python3 -m json.tool | grep -E '"(id|type|certNo|not_after)"'

step "Sign the SHA-256 of a declaration with the HSM-held ECDSA key"
printf '<CEB311Message>order 2026-0001</CEB311Message>' >"$DIR/declaration.xml"
H=$(openssl dgst -sha256 -binary "$DIR/declaration.xml" | base64 -w0)
show "${C[@]}" -H 'content-type: application/json' \
    -d "{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha256\",\"hashes\":[\"$H\"]}" "$URL/v1/sign/hash" |
    tee "$DIR/sign.json"
echo
python3 -c "import json,base64,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open('$DIR/sign.json'))['signatures'][0]))" >"$DIR/declaration.sig"
openssl x509 -in "$DIR/keys/t1-ec.pem" -pubkey -noout >"$DIR/t1-ec.pub.pem"
step "Verify it with openssl alone, against the key's certificate"
show openssl dgst -sha256 -verify "$DIR/t1-ec.pub.pem" -signature "$DIR/declaration.sig" "$DIR/declaration.xml"

REPO=$(cd "$HERE/.." && pwd)
step "Sign a CEB311 order the way the China E-port expects (ceb-sm2, the tenant's SM2 key)"
show "${C[@]}" -H 'content-type: application/xml' --data-binary "@$REPO/tests/data/ceb/CEB311Message.xml" \
    -o "$DIR/CEB311-signed.xml" "$URL/v1/sign/ceb?key=t1-sm2"
grep -o '<ds:SignedInfo>.*</ds:SignedInfo>' "$DIR/CEB311-signed.xml" | cut -c1-300
echo "..."
show "${C[@]}" -H 'content-type: application/xml' --data-binary "@$DIR/CEB311-signed.xml" "$URL/v1/verify/ceb"
echo

step "The same order signed for a partner outside China (xmldsig-ecdsa-sha256), checked by xmlsec1"
show "${C[@]}" -H 'content-type: application/xml' --data-binary "@$REPO/tests/data/ceb/CEB311Message.xml" \
    -o "$DIR/CEB311-ecdsa.xml" "$URL/v1/sign/ceb?key=t1-ec"
show xmlsec1 --verify --trusted-pem "$CA_FILE" --untrusted-pem "$DIR/pki/ca.pem" \
    --enabled-reference-uris empty "$DIR/CEB311-ecdsa.xml"

step "179 payment data: the E-port signing string rebuilt from the fields, signed with SM2"
show "${C[@]}" -H 'content-type: application/json' --data-binary "@$REPO/tests/data/chinaport/pay179-request.json" \
    "$URL/v1/sign/179?key=t1-sm2"
echo

step "A detached CMS (CAdES-BES) signature over the whole file, with the certificate chain"
show "${C[@]}" --data-binary "@$DIR/declaration.xml" -o "$DIR/declaration.p7s" "$URL/v1/sign/cms?key=t1-rsa"
show openssl cms -verify -binary -inform DER -in "$DIR/declaration.p7s" -content "$DIR/declaration.xml" \
    -CAfile "$CA_FILE" -purpose any -out /dev/null

step "The appliance checks CMS signatures too: /v1/verify/cms {signature, content} (base64)"
python3 -c "import base64,json; print(json.dumps({'signature': base64.b64encode(open('$DIR/declaration.p7s','rb').read()).decode(), 'content': base64.b64encode(open('$DIR/declaration.xml','rb').read()).decode()}))" >"$DIR/verify.json"
show "${C[@]}" -H 'content-type: application/json' --data-binary "@$DIR/verify.json" "$URL/v1/verify/cms"
echo

step "An RFC 3161 time-stamp over the CMS signature, from the appliance's TSA key (tsa-ec)"
openssl ts -query -data "$DIR/declaration.p7s" -sha256 -cert -out "$DIR/declaration.tsq" 2>/dev/null
show "${C[@]}" -H 'content-type: application/timestamp-query' --data-binary "@$DIR/declaration.tsq" \
    -o "$DIR/declaration.tsr" "$URL/v1/tsa"
openssl ts -reply -in "$DIR/declaration.tsr" -text 2>/dev/null | grep -E '^(Status|Serial number|Time stamp|Policy OID):' ||
    echo "(no time-stamp: $DIR/portseald.conf predates tsa_key; delete it to have it rewritten)"
show openssl ts -verify -in "$DIR/declaration.tsr" -queryfile "$DIR/declaration.tsq" -CAfile "$CA_FILE" ||
    true

step "Every signature was recorded by the keyholder before it was returned, as a ledger leaf"
show sqlite3 "$DIR/state/audit.db" "select seq, tenant, key, alg, hex(digest) from audit order by seq desc limit 3"

step "The ledger's latest checkpoint (C2SP signed note, Ed25519 key in the HSM)"
show "${C[@]}" -X POST "$URL/v1/ledger/checkpoint"
show "$HERE/../build/portseal-keytool" ledger-verify "$DIR/state/audit.db"

step "IP evidence: a rights holder seals a licence and a photo into an ASiC-E bundle"
printf '%%PDF-1.4 demo trademark licence\n' >"$DIR/licence.pdf"
head -c 20000 /dev/urandom >"$DIR/photo.jpg"
show "${C[@]}" -F 'metadata={"rights_holder":"Acme Shoes Ltd","trademarks":["G1234567"],"goods":"running shoes","hs_code":"6403.99","submitter":"demo"};type=application/json' \
    -F "licence=@$DIR/licence.pdf;type=application/pdf" -F "photo=@$DIR/photo.jpg;type=image/jpeg" \
    -o "$DIR/evidence.json" "$URL/v1/evidence"
cat "$DIR/evidence.json"; echo
BUNDLE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("bundle_id",""))' "$DIR/evidence.json" 2>/dev/null)
if [ -n "$BUNDLE" ]; then
    show "${C[@]}" -o "$DIR/evidence.asice" "$URL/v1/evidence/$BUNDLE"
    step "An auditor checks the bundle offline, with only the trust root"
    show "$HERE/../build/portseal-verify" --roots "$CA_FILE" "$DIR/evidence.asice" || true
else
    echo "(no bundle: $DIR/portseald.conf predates evidence_key; delete it to have it rewritten)"
fi

step "Explore, then stop"
cat <<MSG
  ${C[*]} $URL/v1/keys/t1-rsa
  ${C[*]} $URL/metrics
  tail -f $LOG
  $HERE/portseal-demo stop $DIR
MSG
