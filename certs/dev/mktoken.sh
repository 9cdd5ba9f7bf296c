#!/usr/bin/env bash
# mktoken.sh INSTANCE_DIR TOKEN_LABEL
#
# Makes the SoftHSM2 token of a portseal test instance:
#
#   INSTANCE_DIR/hsm/softhsm2.conf   SoftHSM2 config (export SOFTHSM2_CONF=... to use it)
#   INSTANCE_DIR/hsm/tokens/         the token store
#   INSTANCE_DIR/hsm/pin             user PIN (16 hex chars, no newline, mode 0600)
#   INSTANCE_DIR/hsm/so-pin          SO PIN (same format)
#
# and generates inside the token, with pkcs11-tool, one key pair per signing
# key (CKA_LABEL = key id, CKA_ID = the hex byte below).  For every key the
# project's keytool makes a CSR (signed by the HSM key) and certs/dev/issue.sh
# issues its certificate from the instance's PKI (INSTANCE_DIR/pki, made by
# mkpki.sh first):
#
#   INSTANCE_DIR/keys/KEYID.csr  KEYID.pem  KEYID-chain.pem (= cert + ca.pem + root.pem)
#   INSTANCE_DIR/keys/KEYID.pub.pem  the public key as read from the token
#
# The public key in each CSR must be the token's public key (this catches a
# keytool that signs with the wrong key).
#
# Environment:
#   PKCS11_MODULE  default /usr/lib/softhsm/libsofthsm2.so
#   KEYTOOL        default <repo>/build/portseal-keytool
#   MKTOKEN_NO_PUBKEY_CHECK=1  skip the CSR-key == token-key check; only for
#                  testing this script with a stand-in keytool
#
# If INSTANCE_DIR/hsm/tokens already holds a token nothing is done.  If this
# script fails part-way the token store is removed again, so that a second
# run starts afresh.
set -euo pipefail

usage() { echo "usage: $0 INSTANCE_DIR TOKEN_LABEL" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
TOKEN=$2
[[ -d $1 ]] || { echo "mktoken: no such directory: $1" >&2; exit 1; }
INSTANCE_DIR=$(cd "$1" && pwd)

HERE=$(cd "$(dirname "$0")" && pwd)
MODULE=${PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
KEYTOOL=${KEYTOOL:-$HERE/../../build/portseal-keytool}
ISSUE=$HERE/issue.sh

HSM=$INSTANCE_DIR/hsm
PKI=$INSTANCE_DIR/pki
KEYS=$INSTANCE_DIR/keys

log() { echo "mktoken: $*" >&2; }
die() { echo "mktoken: $*" >&2; exit 1; }

# Signing keys: id, pkcs11-tool key type, CKA_ID (hex).
KEY_SPECS=(
    "t1-ec     EC:prime256v1   01"
    "t1-rsa    rsa:2048        02"
    "t1-ed     EC:edwards25519 03"
    "t2-ec     EC:prime256v1   04"
    "ledger-ed EC:edwards25519 05"
    "tsa-ec    EC:prime256v1   06"
    "seal-ec   EC:prime256v1   07"
    "xchg-ec   EC:prime256v1   08"
)

# ---- nothing to do? ---------------------------------------------------------
if [[ -d $HSM/tokens ]] && [[ -n $(ls -A "$HSM/tokens") ]]; then
    log "$HSM/tokens already holds a token, nothing to do"
    exit 0
fi

# ---- check everything we need before touching anything -------------------------
for t in softhsm2-util pkcs11-tool openssl; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install softhsm2 opensc openssl)"
done
[[ -r $MODULE ]] || die "PKCS#11 module not found: $MODULE (set PKCS11_MODULE)"
[[ -x $KEYTOOL ]] || die "keytool not found or not executable: $KEYTOOL (build it first, or set KEYTOOL)"
[[ -x $ISSUE ]] || die "missing $ISSUE"
for f in root.pem ca.pem ca.key; do
    [[ -r $PKI/$f ]] || die "$PKI/$f missing: run certs/dev/mkpki.sh NAME $PKI first"
done

# NAME for the certificate subjects.
if [[ -s $INSTANCE_DIR/name ]]; then
    NAME=$(head -n1 "$INSTANCE_DIR/name")
elif [[ $TOKEN == portseal-?* ]]; then
    NAME=${TOKEN#portseal-}
else
    die "cannot tell the instance NAME: no $INSTANCE_DIR/name and token label is not portseal-NAME"
fi

# ---- from here on, undo the token store if anything fails -------------------------
done_ok=0
tmp=$(mktemp -d)
cleanup() {
    rm -rf "$tmp"
    if [[ $done_ok != 1 ]]; then
        log "FAILED; removing the half-made token store $HSM/tokens"
        rm -rf "$HSM/tokens"
    fi
}
trap cleanup EXIT

mkdir -p "$HSM/tokens" "$KEYS"
chmod 0700 "$HSM/tokens"

cat > "$HSM/softhsm2.conf" <<CONF
# SoftHSM2 configuration for portseal instance $NAME (made by mktoken.sh)
directories.tokendir = $HSM/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
chmod 0644 "$HSM/softhsm2.conf"
export SOFTHSM2_CONF=$HSM/softhsm2.conf

# PINs: 16 hex characters, no trailing newline, owner-only files.
( umask 077
  printf '%s' "$(openssl rand -hex 8)" > "$HSM/pin"
  printf '%s' "$(openssl rand -hex 8)" > "$HSM/so-pin" )
chmod 0600 "$HSM/pin" "$HSM/so-pin"
USER_PIN=$(<"$HSM/pin")
SO_PIN=$(<"$HSM/so-pin")

# Runs a command, showing its output only when it fails.
quiet() {
    "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; return 1; }
}

log "initialising token '$TOKEN' in $HSM/tokens"
# softhsm2-util cannot read PINs from anything but a terminal, so they go on
# its (short-lived) command line.
quiet softhsm2-util --init-token --free --label "$TOKEN" --pin "$USER_PIN" --so-pin "$SO_PIN"

# pkcs11-tool reads the PIN from the environment variable named after "env:".
export PORTSEAL_MKTOKEN_PIN=$USER_PIN
p11() {
    pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --pin env:PORTSEAL_MKTOKEN_PIN "$@"
}

for spec in "${KEY_SPECS[@]}"; do
    read -r kid ktype cka_id <<<"$spec"
    log "generating $kid ($ktype, CKA_ID $cka_id) in the token"
    quiet p11 --keypairgen --key-type "$ktype" --label "$kid" --id "$cka_id" --usage-sign
done
unset PORTSEAL_MKTOKEN_PIN

for spec in "${KEY_SPECS[@]}"; do
    read -r kid _ cka_id <<<"$spec"
    cn="$kid.$NAME.portseal.test"
    log "CSR and certificate for $kid"
    "$KEYTOOL" csr --module "$MODULE" --token "$TOKEN" --pin-file "$HSM/pin" \
        --label "$kid" --subject "/CN=$cn/O=portseal-$NAME" --out "$KEYS/$kid.csr" >&2 \
        || die "keytool csr failed for $kid"
    [[ -s $KEYS/$kid.csr ]] || die "keytool wrote no CSR for $kid"
    # Public objects need no login.  pkcs11-tool writes DER for RSA/EC keys
    # but PEM for Ed25519; openssl pkey accepts either.
    quiet pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --read-object \
        --type pubkey --id "$cka_id" -o "$tmp/pub"
    openssl pkey -pubin -in "$tmp/pub" -out "$KEYS/$kid.pub.pem"
    if [[ ${MKTOKEN_NO_PUBKEY_CHECK:-0} != 1 ]]; then
        openssl req -in "$KEYS/$kid.csr" -noout -pubkey | cmp -s - "$KEYS/$kid.pub.pem" \
            || die "the public key in $KEYS/$kid.csr is not the token's key $kid"
    fi
    # The time-stamping key gets the certificate profile RFC 3161 requires.
    if [[ $kid == tsa-* ]]; then
        "$ISSUE" "$PKI" "$KEYS/$kid.csr" "$KEYS/$kid.pem" "$cn" digitalSignature "critical,timeStamping"
    else
        "$ISSUE" "$PKI" "$KEYS/$kid.csr" "$KEYS/$kid.pem" "$cn"
    fi
    cat "$KEYS/$kid.pem" "$PKI/ca.pem" "$PKI/root.pem" > "$KEYS/$kid-chain.pem"
    chmod 0644 "$KEYS/$kid.csr" "$KEYS/$kid.pem" "$KEYS/$kid-chain.pem" "$KEYS/$kid.pub.pem"
done

# An SM2 key for tenant 1: SoftHSM has no SM2, so the keytool makes it and keeps it wrapped
# under an AES-256 key generated inside the token (hsm/sm2wrap.h says what that protects).
kid=t1-sm2
cn="$kid.$NAME.portseal.test"
log "SM2 key $kid (wrapped under the token's AES key sm2-wrap), CSR and certificate"
"$KEYTOOL" sm2-generate --module "$MODULE" --token "$TOKEN" --pin-file "$HSM/pin" \
    --label "$kid" --wrap-key sm2-wrap --subject "/CN=$cn/O=portseal-$NAME" \
    --out "$KEYS/$kid.wrapped" --csr "$KEYS/$kid.csr" >&2 || die "keytool sm2-generate failed"
"$ISSUE" "$PKI" "$KEYS/$kid.csr" "$KEYS/$kid.pem" "$cn"
cat "$KEYS/$kid.pem" "$PKI/ca.pem" "$PKI/root.pem" > "$KEYS/$kid-chain.pem"
chmod 0644 "$KEYS/$kid.csr" "$KEYS/$kid.pem" "$KEYS/$kid-chain.pem"

done_ok=1
log "done: token '$TOKEN', $(( ${#KEY_SPECS[@]} + 1 )) keys, certificates in $KEYS"
