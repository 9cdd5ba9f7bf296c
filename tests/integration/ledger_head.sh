#!/usr/bin/env bash
# The ledger head in the token: after every checkpoint the keyholder records its size and root
# in a private data object of the token. A state_dir restored from an older copy, or emptied,
# would let the appliance hand out the same leaf indexes again with other contents (a forked
# log that auditors holding old checkpoints could not reconcile): the keyholder refuses to
# start on it, naming the problem; `portseal-keytool ledger-head-reset` is the operator's
# deliberate way out.
. "$(dirname "$0")/lib.sh"

start_instance "$TMP/h"
D=$TMP/h
KT=(--module "$(awk '$1 == "pkcs11_module" { print $2 }' "$D/portseald.conf")" \
    --token "$(awk '$1 == "pkcs11_token" { print $2 }' "$D/portseald.conf")" --pin-file "$D/hsm/pin")
export SOFTHSM2_CONF=$D/hsm/softhsm2.conf
as_tenant1
sign() {
    post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 "$1")"'"]}'
    [ "$STATUS" = 200 ]
}
check "signing works" sign a
api POST /v1/ledger/checkpoint
expect_status "a checkpoint" 200
"$DEMO" stop "$D" >/dev/null
out=$("$KEYTOOL" ledger-head "${KT[@]}")
check "the token holds the ledger head ($out)" grep -q '^ledger head: [0-9]* [0-9a-f]\{64\}$' <<<"$out"
cp -a "$D/state" "$TMP/backup"
start_instance "$D"
check "the appliance starts on its own state" sign b
check "the start is logged as consistent with the head" grep -q 'the ledger extends the head recorded in the token' "$D/portseald.log"
for i in 1 2 3; do sign "c$i" >/dev/null; done
api POST /v1/ledger/checkpoint
expect_status "more leaves and a checkpoint" 200
"$DEMO" stop "$D" >/dev/null

# restore the older copy: the keyholder refuses
rm -rf "$D/state"
cp -a "$TMP/backup" "$D/state"
refused() { timeout 30 "$PORTSEALD" -c "$D/portseald.conf" >"$TMP/start.out" 2>&1; rc=$?; [ "$rc" != 0 ] && [ "$rc" != 124 ]; }
check "portseald refuses to start on a state_dir older than the token's head" refused
check "naming the restore: $(grep -o 'has [0-9]* leaves, but token [^ ]* recorded a checkpoint of [0-9]*' "$TMP/start.out")" \
    grep -q 'was restored from an older copy or replaced' "$TMP/start.out"

# an emptied state_dir is refused too
rm -rf "$D/state"
check "and on an empty state_dir" refused

rm -rf "$D/state"
cp -a "$TMP/backup" "$D/state"
out=$("$KEYTOOL" ledger-head-reset "${KT[@]}")
check "ledger-head-reset deletes the head ($out)" grep -q 'deleted' <<<"$out"
start_instance "$D"
check "after the reset the restored state_dir serves" sign d
api POST /v1/ledger/checkpoint


"$DEMO" stop "$D" >/dev/null
out=$("$KEYTOOL" ledger-head "${KT[@]}")
check "and a new head is recorded at the next checkpoint ($out)" grep -q '^ledger head: [0-9]* ' <<<"$out"
