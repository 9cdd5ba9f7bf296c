#!/usr/bin/env bash
# issue.sh PKIDIR CSR_FILE OUT_CERT CN [KEYUSAGE [EXTKEYUSAGE]]
#
# Issues a document-signing certificate from the issuing CA of a PKI made by
# mkpki.sh (PKIDIR) for the public key in CSR_FILE, and writes it (PEM, leaf
# only) to OUT_CERT.
#
#   subject      CN=CN, O=portseal-NAME (the CSR's own subject is not used)
#   validity     2 years from now
#   serial       random 64-bit
#   keyUsage     critical, KEYUSAGE (default digitalSignature,nonRepudiation)
#   extKeyUsage  only if EXTKEYUSAGE is given, e.g. "critical,timeStamping"
#
# The CSR's self-signature is verified first.  RSA, EC and Ed25519 keys work.
set -euo pipefail

usage() { echo "usage: $0 PKIDIR CSR_FILE OUT_CERT CN [KEYUSAGE [EXTKEYUSAGE]]" >&2; exit 2; }
[[ $# -ge 4 && $# -le 6 ]] || usage
PKIDIR=$1 CSR=$2 OUT=$3 CN=$4
KU=${5:-digitalSignature,nonRepudiation}
EKU=${6:-}

die() { echo "issue: $*" >&2; exit 1; }

for f in ca.pem ca.key .ca/name; do
    [[ -r $PKIDIR/$f ]] || die "$PKIDIR/$f missing: is $PKIDIR a PKI made by mkpki.sh?"
done
[[ -r $CSR ]] || die "cannot read CSR $CSR"
[[ $CN =~ ^[A-Za-z0-9][A-Za-z0-9.@_-]*$ ]] || die "unsupported characters in CN: $CN"
[[ $KU =~ ^[A-Za-z,\ ]+$ ]] || die "bad key usage list: $KU"
[[ $EKU =~ ^[A-Za-z0-9.,\ ]*$ ]] || die "bad extended key usage list: $EKU"
NAME=$(head -n1 "$PKIDIR/.ca/name")

# Refuse a CSR whose signature does not match its public key.
# (SM2 CSRs are signed with SM3 and the default SM2 signer ID)
vfy=()
if openssl req -in "$CSR" -noout -text 2>/dev/null | grep -q 'ASN1 OID: SM2'; then
    vfy=(-vfyopt distid:1234567812345678)
fi
openssl req -in "$CSR" -noout -verify "${vfy[@]}" 2>/dev/null || die "CSR signature does not verify: $CSR"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
    echo "[ v3_docsign ]"
    echo "basicConstraints       = critical, CA:false"
    echo "keyUsage               = critical, $KU"
    [[ -n $EKU ]] && echo "extendedKeyUsage       = $EKU"
    echo "subjectKeyIdentifier   = hash"
    echo "authorityKeyIdentifier = keyid:always"
} > "$tmp/ext.cnf"

# Random positive 64-bit serial (top bit cleared so it encodes in 8 bytes).
serial=$(printf '%X%s' $((RANDOM % 8)) "$(openssl rand -hex 8 | cut -c2-)")

# 2 years = 730 days (ignoring the odd leap day is fine for a test PKI).
openssl x509 -req -in "$CSR" -CA "$PKIDIR/ca.pem" -CAkey "$PKIDIR/ca.key" -sha256 \
    -set_serial "0x$serial" -days 730 -subj "/CN=$CN/O=portseal-$NAME" "${vfy[@]}" \
    -extfile "$tmp/ext.cnf" -extensions v3_docsign -out "$tmp/cert.pem" 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; die "openssl x509 -req failed"; }

# Sanity check before handing it out: it must chain to our issuing CA.
openssl verify -CAfile "$PKIDIR/cafile.pem" "$tmp/cert.pem" >/dev/null \
    || die "issued certificate does not verify against $PKIDIR/cafile.pem"

cp "$tmp/cert.pem" "$OUT.tmp.$$"
chmod 0644 "$OUT.tmp.$$"
mv "$OUT.tmp.$$" "$OUT"
echo "issue: $OUT: CN=$CN serial=$serial" >&2
