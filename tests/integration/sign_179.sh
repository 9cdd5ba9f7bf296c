#!/usr/bin/env bash
# 179 payment data: the appliance rebuilds the E-port signing string from the fields and signs
# it with the tenant's SM2 key; openssl checks signValue over the public vector's string.
. "$(dirname "$0")/lib.sh"
start_instance "$TMP/cn"
as_tenant1
INST=$TMP/cn
DATA=$REPO/tests/data/chinaport
sign179() { api POST "/v1/sign/179?$1" -H 'content-type: application/json' --data-binary "$2"; }

sign179 "key=t1-sm2&string=1" "@$DATA/pay179-request.json"
expect_status "sign the 179 fields of the public vector with the SM2 key" 200
check "the signing string is the public vector's, byte for byte" \
    test "$(jget "j['signString']")" = "$(cat "$DATA/pay179-signing-string.txt")"
check "certNo is the SM2 certificate's serial" test "$(jget "j['certNo']")" = \
    "$(openssl x509 -in "$INST/keys/t1-sm2.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')"
check "signValue is a raw 64-byte r||s" test "$(jget "len(__import__('base64').b64decode(j['signValue']))")" = 64

sign179 "key=t1-sm2&format=der" "@$DATA/pay179-request.json"
expect_status "the same as DER" 200
jget "j['signValue']" | base64 -d >"$TMP/sig.der"
openssl x509 -in "$INST/keys/t1-sm2.pem" -pubkey -noout >"$TMP/pub.pem"
check "openssl verifies signValue over the vector's signing string (SM3, ID 1234567812345678)" \
    openssl dgst -sm3 -verify "$TMP/pub.pem" -sigopt distid:1234567812345678 -signature "$TMP/sig.der" \
    "$DATA/pay179-signing-string.txt"
check "the string is not in the reply unless asked for" test "$(jget "'signString' in j")" = False

# field errors name the field; nothing is signed for them
n0=$(audit_count "$INST")
bad() { # DESC PYTHON-EDIT CODE FIELD-TEXT
    python3 - "$DATA/pay179-request.json" "$TMP/bad.json" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); exec(sys.argv[3]); open(sys.argv[2], 'w').write(json.dumps(j, ensure_ascii=False))
PY
    sign179 "key=t1-sm2" "@$TMP/bad.json"
    expect_error "$1" 400 "$3" && check "$1: the message names $4" grep -q "$4" "$TMP/body"
}
bad "a missing head field" "del j['payExchangeInfoHead']['payCode']" invalid_179 "payExchangeInfoHead.payCode"
bad "totalAmount as a string" "j['payExchangeInfoHead']['totalAmount']='100'" invalid_179 "payExchangeInfoHead.totalAmount"
bad "lists not an array" "j['payExchangeInfoLists']={}" invalid_179 "payExchangeInfoLists"
bad "an unknown field" "j['payExchangeInfoHead']['extra']='x'" invalid_179 "payExchangeInfoHead.extra"
bad "a missing goods field" "del j['payExchangeInfoLists'][0]['goodsInfo'][1]['itemLink']" invalid_179 "goodsInfo\[1\].itemLink"
sign179 "key=t1-sm2" '{"sessionID": "x",'
expect_error "malformed JSON" 400 invalid_179
sign179 "key=t1-ec" "@$DATA/pay179-request.json"
expect_error "an ECDSA key cannot sign 179 data" 400 profile_does_not_fit_key
sign179 "key=t1-sm2&format=pem" "@$DATA/pay179-request.json"
expect_error "an unknown format" 400 invalid_request
as_tenant2
sign179 "key=t1-sm2" "@$DATA/pay179-request.json"
expect_error "another tenant's SM2 key is not found" 404 key_not_found
as_tenant1
check "rejected requests signed nothing" test "$(audit_count "$INST")" = "$n0"
