#!/usr/bin/env bash
# CEB / XMLDSig signing through a running appliance, checked with independent tools:
# xmlsec1 --verify, xmllint --c14n | openssl dgst for the DigestValue, and /v1/verify/ceb
# against the public China E-port SM2 vector.
. "$(dirname "$0")/lib.sh"
start_instance "$TMP/cn"
as_tenant1
INST=$TMP/cn
DATA=$REPO/tests/data

sign_ceb() { # FILE QUERY: sign, body in $TMP/body
    api POST "/v1/sign/ceb?$2" -H 'content-type: application/xml' --data-binary "@$1"
}
xmlsec_ok() { # FILE: xmlsec1 accepts the signature, with the chain to the instance root
    xmlsec1 --verify --trusted-pem "$CA_FILE" --untrusted-pem "$INST/pki/ca.pem" \
        --enabled-reference-uris empty "$1" >"$TMP/xmlsec.out" 2>&1
}
# stripped FILE ORIGINAL: removing the ds:Signature element gives back the original bytes
stripped() {
    python3 - "$1" "$2" <<'PY'
import sys
s = open(sys.argv[1], 'rb').read(); o = open(sys.argv[2], 'rb').read()
a = s.index(b'<ds:Signature'); b = s.index(b'</ds:Signature>') + len(b'</ds:Signature>')
sys.exit(0 if s[:a] + s[b:] == o else 1)
PY
}
digest_value() { python3 -c "import re,sys; print(re.search(rb'<ds:DigestValue>([^<]*)<', open(sys.argv[1],'rb').read()).group(1).decode())" "$1"; }

for msg in "$DATA/chinaport/ceb621-unsigned.xml" "$DATA"/ceb/CEB*Message.xml; do
    name=$(basename "$msg" .xml)
    for key in t1-ec t1-rsa; do
        sign_ceb "$msg" "key=$key"
        expect_status "sign $name with $key" 200 || continue
        cp "$TMP/body" "$TMP/$name-$key.xml"
        check "xmlsec1 verifies $name signed with $key" xmlsec_ok "$TMP/$name-$key.xml"
        check "$name/$key: removing the signature gives back the submitted bytes" stripped "$TMP/$name-$key.xml" "$msg"
        check "$name/$key: DigestValue is the SHA-256 of xmllint --c14n" test "$(digest_value "$TMP/$name-$key.xml")" = \
            "$(xmllint --c14n "$msg" | openssl dgst -sha256 -binary | base64)"
        api POST /v1/verify/ceb -H 'content-type: application/xml' --data-binary "@$TMP/$name-$key.xml"
        check "$name/$key: /v1/verify/ceb says valid" test "$(jget "j['valid']")" = True
    done
done
check "the ECDSA profile is xmldsig-ecdsa-sha256 by default" grep -q 'xmldsig-more#ecdsa-sha256' "$TMP/CEB311Message-t1-ec.xml"

# tampering: one changed character in the body, and one in the SignatureValue
python3 - "$TMP/CEB311Message-t1-ec.xml" "$TMP/tampered.xml" <<'PY'
import sys
s = open(sys.argv[1], 'rb').read().replace(b'199.00', b'109.00', 1)
open(sys.argv[2], 'wb').write(s)
PY
api POST /v1/verify/ceb -H 'content-type: application/xml' --data-binary "@$TMP/tampered.xml"
check "a changed amount is detected (valid false)" test "$(jget "j['valid']")" = False
check "the reason names the digest" sh -c "grep -q 'digest mismatch' '$TMP/body'"
check "xmlsec1 rejects the changed message too" not xmlsec_ok "$TMP/tampered.xml"
check "xmlsec1 says why" grep -q -i "digest" "$TMP/xmlsec.out"

# ceb-rsa-sha1 (legacy E-port RSA certificates) is refused unless the key is configured for it
sign_ceb "$DATA/ceb/CEB411Message.xml" "key=t1-rsa&profile=ceb-rsa-sha1"
expect_error "ceb-rsa-sha1 on a key without that profile" 403 algorithm_not_allowed
sed -i 's|^key t1-rsa .*|& profile=ceb-rsa-sha1|' "$INST/portseald.conf"
"$DEMO" stop "$INST" >/dev/null 2>&1
start_instance "$INST"
as_tenant1
sign_ceb "$DATA/ceb/CEB411Message.xml" "key=t1-rsa"
expect_status "sign with the key's configured profile ceb-rsa-sha1" 200
cp "$TMP/body" "$TMP/rsa-sha1.xml"
check "ceb-rsa-sha1 uses rsa-sha1 and a sha1 digest" \
    sh -c "grep -q 'xmldsig#rsa-sha1' '$TMP/rsa-sha1.xml' && grep -q 'xmldsig#sha1' '$TMP/rsa-sha1.xml'"
check "ceb-rsa-sha1 DigestValue is the SHA-1 of xmllint --c14n" test "$(digest_value "$TMP/rsa-sha1.xml")" = \
    "$(xmllint --c14n "$DATA/ceb/CEB411Message.xml" | openssl dgst -sha1 -binary | base64)"
check "xmlsec1 verifies the ceb-rsa-sha1 signature" xmlsec_ok "$TMP/rsa-sha1.xml"
check "KeyName is the certNo" grep -q "<ds:KeyName>$(openssl x509 -in "$INST/keys/t1-rsa.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')</ds:KeyName>" "$TMP/rsa-sha1.xml"
check "the Signature declares xsi for the CEB profile only when the root lacks it" \
    sh -c "grep -q '<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">' '$TMP/rsa-sha1.xml'"

# the public China E-port SM2 vector verifies: CEB621 signed with the real E-port signature
python3 - "$DATA/chinaport" "$TMP/ceb621-sm2.xml" <<'PY'
import sys, base64
d = sys.argv[1]
xml = open(d + '/ceb621-unsigned.xml', 'rb').read()
si = open(d + '/ceb621-signedinfo-sm2.xml', 'rb').read()
der = open(d + '/ceb621-signedinfo-sm2.sig.der', 'rb').read()
cert = open(d + '/sm2-signer-cert.der', 'rb').read()
# DER ECDSA-Sig-Value -> raw r||s (32 bytes each)
def ints(b):
    assert b[0] == 0x30; i = 2; out = []
    for _ in range(2):
        assert b[i] == 2; n = b[i + 1]; v = b[i + 2:i + 2 + n]; out.append(v[-32:].rjust(32, b'\0')); i += 2 + n
    return out[0] + out[1]
inner = si[si.index(b'>') + 1:]  # SignedInfo children; the namespaces come from the context
sig = (b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
       b'<ds:SignedInfo>' + inner + b'<ds:SignatureValue>' + base64.b64encode(ints(der)) +
       b'</ds:SignatureValue><ds:KeyInfo><ds:KeyName>03000000000cde6f</ds:KeyName><ds:X509Data><ds:X509Certificate>' +
       base64.b64encode(cert) + b'</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>')
end = xml.rindex(b'</ceb:CEB621Message>')
open(sys.argv[2], 'wb').write(xml[:end] + sig + xml[end:])
PY
api POST /v1/verify/ceb -H 'content-type: application/xml' --data-binary "@$TMP/ceb621-sm2.xml"
expect_status "verify the E-port-signed CEB621 (public vector)" 200
check "the public SM2 signature is valid" test "$(jget "j['valid']")" = True
check "profile ceb-sm2 is recognised" test "$(jget "j['profile']")" = ceb-sm2
check "signer certNo is 03000000000cde6f" test "$(jget "j['signer']['certNo']")" = 03000000000cde6f

# hostile and wrong input: a 4xx with a reason, nothing signed
n0=$(audit_count "$INST")
printf '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb">&b;</ceb:CEB311Message>' >"$TMP/laughs.xml"
sign_ceb "$TMP/laughs.xml" "key=t1-ec"
expect_error "entity expansion (billion laughs) is refused" 400 invalid_xml
printf '<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r>x</r>' >"$TMP/xxe.xml"
sign_ceb "$TMP/xxe.xml" "key=t1-ec"
expect_error "an external DTD (XXE) is refused" 400 invalid_xml
sign_ceb "$TMP/CEB311Message-t1-ec.xml" "key=t1-ec"
expect_error "an already signed message is refused" 400 invalid_xml
check "the reason says already signed" grep -q "already signed" "$TMP/body"
printf '<Invoice xmlns="urn:x"><n>1</n></Invoice>' >"$TMP/notceb.xml"
sign_ceb "$TMP/notceb.xml" "key=t1-rsa&profile=ceb-rsa-sha1"
expect_error "a non-CEB root under a ceb profile is refused" 400 invalid_xml
sign_ceb "$TMP/notceb.xml" "key=t1-ec"
expect_status "the same document under xmldsig-ecdsa-sha256 is fine" 200
printf '<?xml version="1.0" encoding="GBK"?><r>x</r>' >"$TMP/gbk.xml"
sign_ceb "$TMP/gbk.xml" "key=t1-ec"
expect_error "a non-UTF-8 document is refused" 400 invalid_xml
python3 -c "print('<r>' + '<a>' * 200 + '</a>' * 200 + '</r>')" >"$TMP/deep.xml"
sign_ceb "$TMP/deep.xml" "key=t1-ec"
expect_error "deep nesting is refused" 400 invalid_xml
sign_ceb "$DATA/ceb/CEB311Message.xml" "key=t1-ec&profile=ceb-sm2"
expect_error "an SM2 profile on an EC key is refused" 400 profile_does_not_fit_key
sign_ceb "$DATA/ceb/CEB311Message.xml" "key=t1-ec&profile=nope"
expect_error "an unknown profile is refused" 400 unknown_profile
as_tenant2
sign_ceb "$DATA/ceb/CEB311Message.xml" "key=t1-ec"
expect_error "another tenant's key is not found" 404 key_not_found
as_tenant1
check "rejected requests signed nothing" test "$(audit_count "$INST")" = $((n0 + 1))

# ceb-sm2: an SM2 key kept wrapped under the token's AES key; SignatureValue checked with openssl
sign_ceb "$DATA/chinaport/ceb621-unsigned.xml" "key=t1-sm2"
expect_status "sign CEB621 with the SM2 key (ceb-sm2)" 200
cp "$TMP/body" "$TMP/sm2.xml"
check "ceb-sm2 DigestValue is the SHA-1 of xmllint --c14n (as in the public vector)" \
    test "$(digest_value "$TMP/sm2.xml")" = "b2FtM/jHvW4fnJpMMPWk/177RwA="
python3 - "$TMP/sm2.xml" "$TMP/sm2-si.xml" "$TMP/sm2.sig" <<'PY'
import sys, re, base64
s = open(sys.argv[1], 'rb').read()
inner = re.search(rb'<ds:SignedInfo>(.*?)</ds:SignedInfo>', s, re.S).group(1)
# the canonical SignedInfo in this document's context: ceb (root), ds and xsi (Signature)
si = (b'<ds:SignedInfo xmlns:ceb="http://www.chinaport.gov.cn/ceb" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
      b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' + inner + b'</ds:SignedInfo>')
open(sys.argv[2], 'wb').write(si)
raw = base64.b64decode(re.search(rb'<ds:SignatureValue>([^<]*)<', s).group(1))
def der_int(b):
    b = b.lstrip(b'\0') or b'\0'
    if b[0] & 0x80: b = b'\0' + b
    return b'\x02' + bytes([len(b)]) + b
body = der_int(raw[:32]) + der_int(raw[32:])
open(sys.argv[3], 'wb').write(b'\x30' + bytes([len(body)]) + body)
PY
check "the ceb-sm2 SignedInfo is byte-identical to the public vector's" cmp -s "$TMP/sm2-si.xml" "$DATA/chinaport/ceb621-signedinfo-sm2.xml"
openssl x509 -in "$INST/keys/t1-sm2.pem" -pubkey -noout >"$TMP/sm2pub.pem"
check "openssl verifies the SM2 SignatureValue (SM3, ID 1234567812345678)" \
    openssl dgst -sm3 -verify "$TMP/sm2pub.pem" -sigopt distid:1234567812345678 -signature "$TMP/sm2.sig" "$TMP/sm2-si.xml"
api POST /v1/verify/ceb -H 'content-type: application/xml' --data-binary "@$TMP/sm2.xml"
check "/v1/verify/ceb accepts the appliance's SM2 signature" test "$(jget "j['valid']")" = True
check "the wrapped SM2 key file starts with its magic" test "$(head -c4 "$INST/keys/t1-sm2.wrapped")" = PSWK
check "the wrapped SM2 key file is not a readable private key" \
    not openssl pkey -inform DER -in "$INST/keys/t1-sm2.wrapped" -noout
check "no byte run of the file parses as a key after the header either" \
    not sh -c "tail -c +20 '$INST/keys/t1-sm2.wrapped' | openssl pkey -inform DER -noout 2>/dev/null"

# ceb-2022: the E-port's 2022/04 URIs, SM3 DigestValue
sign_ceb "$DATA/ceb/CEB311Message.xml" "key=t1-sm2&profile=ceb-2022"
expect_status "sign CEB311 with the SM2 key under ceb-2022" 200
cp "$TMP/body" "$TMP/2022.xml"
check "ceb-2022 names the 2022/04 SignatureMethod and DigestMethod" \
    sh -c "grep -q '2022/04/xmldsig#sm2-sm3' '$TMP/2022.xml' && grep -q '2022/04/xmldsig#sm3' '$TMP/2022.xml'"
check "ceb-2022 DigestValue is the SM3 of xmllint --c14n" test "$(digest_value "$TMP/2022.xml")" = \
    "$(xmllint --c14n "$DATA/ceb/CEB311Message.xml" | openssl dgst -sm3 -binary | base64)"
api POST /v1/verify/ceb -H 'content-type: application/xml' --data-binary "@$TMP/2022.xml"
check "/v1/verify/ceb accepts it as ceb-2022" test "$(jget "j['valid']") $(jget "j['profile']")" = "True ceb-2022"
