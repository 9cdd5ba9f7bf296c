#!/usr/bin/env bash
# mkpki.sh NAME OUTDIR
#
# Makes a complete, self-contained test PKI for the portseal appliance NAME
# (e.g. cn, sg, hk) in OUTDIR.  All keys are EC P-256, all signatures SHA-256.
#
#   root.pem root.key           "portseal NAME Root CA" (self-signed, 10 years)
#   ca.pem ca.key               "portseal NAME Issuing CA" (signed by root, pathlen:0)
#   cafile.pem                  ca.pem + root.pem (trust file for client certs)
#   server.pem server.key       TLS server cert for NAME.portseal.test / localhost
#   server-chain.pem            server.pem + ca.pem
#   X.pem X.key                 client certs (EKU clientAuth); X.pem = leaf + ca.pem
#                               client1 partner officer revoked expired client2
#   rogue.pem rogue.key         client cert CN=platform-a.NAME... from an untrusted CA
#   rogue-ca.pem rogue-ca.key   that untrusted, self-signed "rogue CA"
#   crl.pem                     issuing CA CRL (lists `revoked`) + root CA CRL (empty)
#   .ca/                        openssl ca databases and config (used by issue.sh)
#
# If OUTDIR/root.pem already exists nothing is done.  root.pem is written last,
# so a run that failed half-way is simply redone from scratch next time.
set -euo pipefail

usage() { echo "usage: $0 NAME OUTDIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
NAME=$1
OUTDIR=$2
[[ $NAME =~ ^[a-z0-9][a-z0-9-]*$ ]] || { echo "mkpki: NAME must be lower-case letters, digits and '-': $NAME" >&2; exit 2; }

if [[ -e $OUTDIR/root.pem ]]; then
    echo "mkpki: $OUTDIR/root.pem exists, nothing to do" >&2
    exit 0
fi

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
cd "$OUTDIR"

ORG="portseal-$NAME"
DOMAIN="$NAME.portseal.test"
CLIENTS=(client1 client2 partner officer revoked expired)

log() { echo "mkpki: $*" >&2; }

# Remove whatever an earlier, failed run left behind (only our own files).
rm -rf .ca
rm -f root.key ca.pem ca.key ca.csr cafile.pem crl.pem server.pem server.key \
      server-chain.pem rogue-ca.pem rogue-ca.key rogue.pem rogue.key ./*.csr
for c in "${CLIENTS[@]}"; do rm -f "$c.pem" "$c.key"; done

mkdir -p .ca/root/newcerts .ca/issuing/newcerts .ca/tmp
for d in root issuing; do
    : > ".ca/$d/index.txt"
    echo 1000 > ".ca/$d/crlnumber"
    # openssl ca takes serials from this file; start at a random 64-bit value
    # (top bit cleared so the DER integer stays 8 bytes).
    printf '%X%s\n' $((RANDOM % 8)) "$(openssl rand -hex 8 | cut -c2-)" > ".ca/$d/serial"
done
echo "$NAME" > .ca/name

# One openssl config for both CAs and every certificate profile.
cat > .ca/openssl.cnf <<CNF
# openssl configuration for the portseal $NAME test PKI (made by mkpki.sh)
[ ca ]
default_ca = issuing_ca

[ root_ca ]
dir              = $OUTDIR/.ca/root
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
certificate      = $OUTDIR/.ca/root-ca.pem
private_key      = $OUTDIR/root.key
default_md       = sha256
default_days     = 3650
default_crl_days = 365
policy           = policy_any
unique_subject   = no
copy_extensions  = none
email_in_dn      = no
crl_extensions   = crl_ext

[ issuing_ca ]
dir              = $OUTDIR/.ca/issuing
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
certificate      = $OUTDIR/ca.pem
private_key      = $OUTDIR/ca.key
default_md       = sha256
default_days     = 825
default_crl_days = 365
policy           = policy_any
unique_subject   = no
copy_extensions  = none
email_in_dn      = no
crl_extensions   = crl_ext

[ policy_any ]
organizationName = optional
commonName       = supplied

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ v3_root ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ v3_issuing ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_server ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, DNS:$DOMAIN, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_client ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
CNF
CNF=.ca/openssl.cnf

# New EC P-256 private key (PKCS#8 PEM), readable by the owner only.
newkey() {
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$1")
    chmod 0600 "$1"
}

# sign_ca CA_SECTION EXT_SECTION KEY SUBJECT OUT [extra openssl ca options]
# Makes a CSR for KEY and has the CA in CA_SECTION sign it into OUT (leaf only).
sign_ca() {
    local ca=$1 ext=$2 key=$3 subj=$4 out=$5; shift 5
    openssl req -new -config "$CNF" -key "$key" -subj "$subj" -out .ca/tmp/req.csr
    openssl ca -batch -notext -config "$CNF" -name "$ca" -extensions "$ext" \
        -preserveDN -subj "$subj" -in .ca/tmp/req.csr -out "$out" "$@" 2>.ca/tmp/ca.log \
        || { cat .ca/tmp/ca.log >&2; return 1; }
    rm -f .ca/tmp/req.csr
}

log "root CA"
newkey root.key
# Kept under .ca/ until the very end: root.pem is the "PKI complete" marker.
openssl req -new -x509 -config "$CNF" -extensions v3_root -key root.key -sha256 \
    -days 3650 -subj "/O=$ORG/CN=portseal $NAME Root CA" -out .ca/root-ca.pem

log "issuing CA"
newkey ca.key
sign_ca root_ca v3_issuing ca.key "/O=$ORG/CN=portseal $NAME Issuing CA" ca.pem -days 3650
cat ca.pem .ca/root-ca.pem > cafile.pem

log "server certificate ($DOMAIN)"
newkey server.key
sign_ca issuing_ca v3_server server.key "/O=$ORG/CN=$DOMAIN" .ca/tmp/server.pem
cp .ca/tmp/server.pem server.pem
cat server.pem ca.pem > server-chain.pem

# Client certificates.  X.pem is leaf + issuing CA so curl --cert can present
# the whole chain.
declare -A CN=(
    [client1]="platform-a.$DOMAIN"
    [client2]="platform-b.$DOMAIN"
    [partner]="partner.$DOMAIN"
    [officer]="officer.$DOMAIN"
    [revoked]="revoked.$DOMAIN"
    [expired]="expired.$DOMAIN"
)
for c in "${CLIENTS[@]}"; do
    log "client certificate $c (${CN[$c]})"
    newkey "$c.key"
    extra=()
    if [[ $c == expired ]]; then
        # Validity entirely in the past.
        extra=(-startdate 20200101000000Z -enddate 20200201000000Z)
    fi
    sign_ca issuing_ca v3_client "$c.key" "/O=$ORG/CN=${CN[$c]}" ".ca/tmp/$c.pem" "${extra[@]}"
    cat ".ca/tmp/$c.pem" ca.pem > "$c.pem"
done

log "revoking 'revoked', writing crl.pem"
openssl ca -batch -config "$CNF" -name issuing_ca -revoke .ca/tmp/revoked.pem \
    -crl_reason keyCompromise 2>.ca/tmp/ca.log || { cat .ca/tmp/ca.log >&2; exit 1; }
openssl ca -batch -config "$CNF" -name issuing_ca -gencrl -crldays 365 -out .ca/issuing.crl 2>.ca/tmp/ca.log \
    || { cat .ca/tmp/ca.log >&2; exit 1; }
openssl ca -batch -config "$CNF" -name root_ca -gencrl -crldays 365 -out .ca/root.crl 2>.ca/tmp/ca.log \
    || { cat .ca/tmp/ca.log >&2; exit 1; }
cat .ca/issuing.crl .ca/root.crl > crl.pem

# A client certificate that claims tenant 1's identity but comes from a CA
# that is not in cafile.pem: the server must refuse it.
log "rogue CA and rogue client certificate"
newkey rogue-ca.key
openssl req -new -x509 -config "$CNF" -extensions v3_root -key rogue-ca.key -sha256 \
    -days 3650 -subj "/O=$ORG/CN=portseal $NAME Rogue CA" -out rogue-ca.pem
newkey rogue.key
openssl req -new -config "$CNF" -key rogue.key -subj "/O=$ORG/CN=${CN[client1]}" -out .ca/tmp/rogue.csr
openssl x509 -req -in .ca/tmp/rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -sha256 -days 825 \
    -set_serial "0x$(openssl rand -hex 8)" -extfile "$CNF" -extensions v3_client \
    -out .ca/tmp/rogue.pem 2>/dev/null
cat .ca/tmp/rogue.pem rogue-ca.pem > rogue.pem

rm -f .ca/tmp/*.csr .ca/tmp/ca.log
chmod 0644 ./*.pem
chmod 0600 ./*.key
chmod -R go-rwx .ca

# Finally publish root.pem: from now on the PKI counts as complete.
cp .ca/root-ca.pem root.pem.tmp
chmod 0644 root.pem.tmp
mv root.pem.tmp root.pem
log "done: $OUTDIR"
