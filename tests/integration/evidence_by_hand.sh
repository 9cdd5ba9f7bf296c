#!/usr/bin/env bash
# Evidence bundles verified by hand and with portseal-verify: the unit test seals a bundle with
# its in-process test PKI and writes it out (evidence_test --write); this script runs exactly
# the "Verification by hand" block of docs/auditor-guide.md (extracted from the file), then
# portseal-verify on the bundle, a folder, tampered copies, checkpoints and consistency proofs.
. "$(dirname "$0")/lib.sh"
VERIFY=$REPO/$BUILD/portseal-verify
not() { ! "$@"; }
OUT=$TMP/ev
"$REPO/$BUILD/unit/protocol/evidence_test" --write "$OUT" >"$TMP/unit.log" 2>&1
check "evidence_test sealed and wrote a bundle" test -s "$OUT/bundle.asice"

# ---- the documented commands, as written --------------------------------------------------
sed -n '/^## Verification by hand/,/^## /p' "$REPO/docs/auditor-guide.md" |
    sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' >"$TMP/by-hand.sh"
check "the guide has a verification block" grep -q 'openssl cms -verify' "$TMP/by-hand.sh"
mkdir -p "$TMP/hand" && cd "$TMP/hand" || exit 1
BUNDLE=$OUT/bundle.asice ROOTS=$OUT/root.pem bash "$TMP/by-hand.sh" >"$TMP/hand.out" 2>&1
rc=$?
check "the block ran without error (status $rc)" test "$rc" -eq 0
check "openssl cms -verify: CMS Verification successful" grep -q 'CMS Verification successful' "$TMP/hand.out"
check "openssl dgst: three digest OK lines" test "$(grep -c '^digest OK' "$TMP/hand.out")" -eq 3
check "no digest FAIL" not grep -q 'digest FAIL' "$TMP/hand.out"
check "the data objects are listed" grep -q -x 'photo 1.jpg' "$TMP/hand.out"
check "openssl ts -verify: Verification: OK" grep -q '^Verification: OK' "$TMP/hand.out"
check "the token's time is shown" grep -q '^Time stamp:' "$TMP/hand.out"
for f in ASiCManifest.xml signature001.p7s timestamp001.tst; do
    h=$(sha256sum "$TMP/hand/bundle/META-INF/$f" | cut -c1-64)
    check "the leaf names $f" grep -q "\"leaf\": \"bundle [0-9]* .*$h" "$TMP/hand/bundle/META-INF/ledger-proof.json"
done

# tampering shows by hand: a changed file fails its digest, a changed manifest the signature
cp -r "$TMP/hand/bundle" "$TMP/hand2" && cd "$TMP/hand2" || exit 1
printf 'x' >>invoice.pdf
sed -n '/^# 2\./,/^# \.\.\./p' "$TMP/by-hand.sh" | bash >"$TMP/hand2.out" 2>&1
check "by hand: a changed file fails its digest" grep -q 'digest FAIL invoice.pdf' "$TMP/hand2.out"
sed -i 's/invoice.pdf/invoice.pdX/' META-INF/ASiCManifest.xml
check "by hand: a changed manifest fails openssl cms -verify" not openssl cms -verify -binary \
    -content META-INF/ASiCManifest.xml -inform DER -in META-INF/signature001.p7s \
    -CAfile "$OUT/root.pem" -purpose any -out /dev/null
cd "$TMP" || exit 1

# ---- portseal-verify -----------------------------------------------------------------------
"$VERIFY" --roots "$OUT/root.pem" "$OUT/bundle.asice" >"$TMP/v.out" 2>&1
rc=$?
check "portseal-verify: valid bundle exits 0 (got $rc)" test "$rc" -eq 0
check "portseal-verify: VALID with the bundle id" grep -q "VALID (bundle id $(sha256sum "$OUT/bundle.asice" | cut -c1-64))" "$TMP/v.out"
check "portseal-verify: six ok verdict lines" test "$(grep -c '^  ok ' "$TMP/v.out")" -eq 6
"$VERIFY" --json --roots "$OUT/root.pem" "$OUT/bundle.asice" >"$TMP/v.json"
check "--json: one object, valid" python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(0 if o["valid"] and o["checks"]["ledger"]["result"]=="ok" else 1)' "$TMP/v.json"

mkdir -p "$TMP/folder"
cp "$OUT/bundle.asice" "$TMP/folder/a.asice"
cp "$OUT/bundle.asice" "$TMP/folder/b.asice"
python3 - "$TMP/folder/b.asice" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.find(b"%PDF-1.7") + 100   # inside invoice.pdf
b[i] ^= 1
open(p, "wb").write(b)
PY
"$VERIFY" --roots "$OUT/root.pem" "$TMP/folder" >"$TMP/f.out" 2>"$TMP/f.err"
rc=$?
check "folder with a tampered bundle exits 1 (got $rc)" test "$rc" -eq 1
check "the good one is VALID" grep -q 'a.asice: VALID' "$TMP/f.out"
check "the tampered one names invoice.pdf" grep -q 'b.asice: INVALID: CRC mismatch for invoice.pdf' "$TMP/f.out"
check "and the manifest check says which digest" grep -q 'FAIL  manifest    manifest digest mismatch for invoice.pdf' "$TMP/f.out"
check "no progress bar when stderr is not a terminal" not grep -q '#' "$TMP/f.err"
if command -v script >/dev/null; then
    script -qec "$VERIFY --roots $OUT/root.pem $TMP/folder >/dev/null" /dev/null >"$TMP/tty.out" 2>&1
    check "a progress bar on a terminal" grep -q '2/2' "$TMP/tty.out"
fi

"$VERIFY" --roots "$OUT/root.pem" --checkpoint "$OUT/checkpoint-6.txt" "$OUT/bundle.asice" >"$TMP/c.out"
check "an older trusted checkpoint needs a consistency proof (exit 1)" test $? -eq 1
"$VERIFY" --roots "$OUT/root.pem" --checkpoint "$OUT/checkpoint-6.txt" \
    --consistency-proof "$OUT/consistency-6-8.json" "$OUT/bundle.asice" >"$TMP/c.out"
check "with the consistency proof: valid" test $? -eq 0
check "checkpoint verdict ok" grep -q '^  ok    checkpoint  trusted checkpoint (size 6) is consistent' "$TMP/c.out"
"$VERIFY" consistency --roots "$OUT/root.pem" --log-cert "$OUT/log-cert.pem" \
    "$OUT/checkpoint-6.txt" "$OUT/checkpoint-8.txt" "$OUT/consistency-6-8.json" >"$TMP/k.out"
check "consistency subcommand: valid" test $? -eq 0
"$VERIFY" consistency --roots "$OUT/root.pem" --log-cert "$OUT/log-cert.pem" \
    "$OUT/checkpoint-6.txt" "$OUT/checkpoint-8.txt" "$OUT/consistency-5-8.json" >"$TMP/k.out"
check "consistency subcommand: a proof for other sizes is invalid (exit 1)" test $? -eq 1
"$VERIFY" --roots "$OUT/root.pem" "$TMP/nonexistent.asice" >/dev/null 2>&1
check "a missing file exits 2" test $? -eq 2
"$VERIFY" "$OUT/bundle.asice" >/dev/null 2>&1
check "no --roots exits 2" test $? -eq 2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -days 1 \
    -keyout "$TMP/other.key" -out "$TMP/other.pem" >/dev/null 2>&1
"$VERIFY" --roots "$TMP/other.pem" "$OUT/bundle.asice" >"$TMP/o.out"
check "other roots: invalid (exit 1)" test $? -eq 1
check "other roots: the signer chain is named" grep -q 'FAIL  signature   the signer certificate does not chain' "$TMP/o.out"
