#!/usr/bin/env bash
# IP pre-confirmation evidence through the appliance: POST /v1/evidence seals a bundle that
# portseal-verify and the guide's by-hand commands (unzip, openssl cms/dgst/ts) accept, whose
# ledger leaf is in the log (independent proof check), that only its submitter and officers
# can read and find; bad uploads get 4xx and store nothing; kill -9 during uploads loses no
# acknowledged bundle.
. "$(dirname "$0")/lib.sh"
VERIFY=$REPO/$BUILD/portseal-verify
CHECK=$REPO/tests/integration/ledger_check.py

start_instance "$TMP/cn"
INST=$TMP/cn
EVDIR=$INST/state/evidence
as_tenant1

META='{"rights_holder":"Acme Shoes Ltd","trademarks":["G1234567","TM-88"],"goods":"running shoes","hs_code":"6403.99","submitter":"Li Wei"}'
printf '%%PDF-1.4 licence of Acme Shoes\n' >"$TMP/licence.pdf"
head -c 300000 /dev/urandom >"$TMP/photo 1.jpg"
# upload [curl -F args...]: POST /v1/evidence as the current identity
upload() { api POST /v1/evidence "$@"; }
n_files() { find "$EVDIR" -name '*.asice' 2>/dev/null | wc -l; }
n_rows() { sqlite3 "$EVDIR/index.db" 'select count(*) from bundles' 2>/dev/null || echo 0; }
n_leaves() { sqlite3 "$INST/state/audit.db" "select (select count(*) from audit) + (select count(*) from ledger_leaves)"; }

# ---- seal one
upload -F "metadata=$META;type=application/json" -F "file=@$TMP/licence.pdf;type=application/pdf" \
    -F "file2=@$TMP/photo 1.jpg;type=image/jpeg"
expect_status "POST /v1/evidence with metadata and two files" 201
ID=$(jget "j['bundle_id']")
IDX=$(jget "j['ledger_index']")
check "the answer has bundle_id = sha256, a ledger_index and sealed_at" \
    python3 -c 'import json,sys,re; j=json.load(open(sys.argv[1])); sys.exit(0 if re.fullmatch("[0-9a-f]{64}", j["bundle_id"]) and j["sha256"] == j["bundle_id"] and j["ledger_index"] >= 0 and j["sealed_at"].endswith("Z") else 1)' "$TMP/body"
api GET "/v1/evidence/$ID" && cp "$TMP/body" "$TMP/b.asice"
check "GET /v1/evidence/{id} answers the bundle" test "$STATUS" = 200
check "as application/vnd.etsi.asic-e+zip" grep -qi '^content-type: application/vnd.etsi.asic-e+zip' "$TMP/headers"
check "its SHA-256 is its id" test "$(sha256sum "$TMP/b.asice" | cut -c1-64)" = "$ID"
check "it is stored under its id in state/evidence" test -s "$EVDIR/$ID.asice"
"$VERIFY" --roots "$CA_FILE" "$TMP/b.asice" >"$TMP/v.out" 2>&1
rc=$?
check "portseal-verify says VALID (exit $rc)" test "$rc" = 0

# ---- a reader slower than the appliance: more than the socket buffers hold waits in the
# worker's TLS write buffer and leaves as the client reads (EPOLLOUT), in order and whole
head -c 18000000 /dev/urandom >"$TMP/big.bin"
upload -F 'metadata={"rights_holder":"Big Files Ltd","trademarks":["BIG-1"],"goods":"video","hs_code":"8528","submitter":"Li Wei"};type=application/json' \
    -F "big=@$TMP/big.bin;type=application/octet-stream"
expect_status "POST /v1/evidence with an 18 MB file" 201
BIG=$(jget "j['bundle_id']")
api GET "/v1/evidence/$BIG" --limit-rate 9M
check "an 18 MB bundle read at 9 MB/s arrives whole (status $STATUS, SHA-256 = its id)" \
    test "$STATUS" = 200 -a "$(sha256sum "$TMP/body" | cut -c1-64)" = "$BIG"
check "with six ok checks" test "$(grep -c '^  ok ' "$TMP/v.out")" = 6

# the guide's commands, as written, on the appliance's bundle
sed -n '/^## Verification by hand/,/^## /p' "$REPO/docs/auditor-guide.md" |
    sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' >"$TMP/by-hand.sh"
mkdir -p "$TMP/hand" && (cd "$TMP/hand" && BUNDLE=$TMP/b.asice ROOTS=$CA_FILE bash "$TMP/by-hand.sh") >"$TMP/hand.out" 2>&1
check "by hand: openssl cms -verify succeeds" grep -q 'CMS Verification successful' "$TMP/hand.out"
check "by hand: three digests OK (metadata.json and two files)" test "$(grep -c '^digest OK' "$TMP/hand.out")" = 3
check "by hand: openssl ts -verify succeeds" grep -q '^Verification: OK' "$TMP/hand.out"

# the leaf is in the ledger: a fresh proof to the latest checkpoint, checked independently
python3 -c 'import json,sys; open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))["leaf"])' \
    "$TMP/hand/bundle/META-INF/ledger-proof.json" "$TMP/leaf.txt"
check "the leaf is a bundle leaf at the answered index" python3 "$CHECK" leaf "$INST/state/audit.db" "$IDX" "$TMP/leaf2.txt"
check "and the ledger holds the same leaf text" cmp -s "$TMP/leaf.txt" "$TMP/leaf2.txt"
api POST /v1/ledger/checkpoint
api GET "/v1/evidence/$ID/proof"
expect_status "GET /v1/evidence/{id}/proof" 200
python3 - "$TMP/body" "$TMP/proof.json" "$TMP/cp.txt" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
json.dump({"index": j["leaf_index"], "size": j["tree_size"], "leaf_hash": j["leaf_hash"],
           "proof": j["inclusion"]}, open(sys.argv[2], "w"))
open(sys.argv[3], "w").write(j["checkpoint"])
PY
check "that proof leads to the checkpoint's root (independent verifier)" \
    python3 "$CHECK" inclusion "$TMP/leaf.txt" "$TMP/proof.json" "$TMP/cp.txt"

# ---- who may see and find it
api GET "/v1/evidence?trademark=TM-88"
check "the submitter finds it by trademark" test "$(jget "len(j['bundles'])") $(jget "j['bundles'][0]['bundle_id']")" = "1 $ID"
api GET "/v1/evidence?rights_holder=Acme%20Shoes%20Ltd"
check "and by rights holder" test "$(jget "j['bundles'][0]['rights_holder']")" = "Acme Shoes Ltd"
as_tenant2
api GET "/v1/evidence/$ID"
expect_error "another tenant gets 404" 404 not_found
api GET "/v1/evidence?trademark=TM-88"
check "and finds nothing" test "$(jget "len(j['bundles'])")" = 0
as_cert "$OFFICER_CERT" "$OFFICER_KEY"
api GET "/v1/evidence/$ID" && cp "$TMP/body" "$TMP/b2.asice"
check "an officer reads it" test "$STATUS" = 200
api GET "/v1/evidence?trademark=G1234567"
check "an officer finds it" test "$(jget "j['bundles'][0]['bundle_id']")" = "$ID"
as_nobody
api GET "/v1/evidence/$ID"
expect_error "no client certificate: 401" 401 client_certificate_required
as_tenant1
api GET "/v1/evidence/$(printf '0%.0s' $(seq 64))"
expect_error "an unknown id: 404" 404 not_found
api GET "/v1/evidence/../../etc/passwd"
check "a path that is no id: 404 or 400" test "$STATUS" = 404 -o "$STATUS" = 400

# ---- tampering: one byte anywhere fails the verifier, naming what broke
python3 - "$TMP/b.asice" "$TMP/t1.asice" "$TMP/t2.asice" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.find(b"licence of Acme")
b1 = bytearray(b); b1[i] ^= 1
open(sys.argv[2], "wb").write(b1)
j = b.find(b"ledger-proof.json") + 200
b2 = bytearray(b); b2[j] ^= 1
open(sys.argv[3], "wb").write(b2)
PY
"$VERIFY" --roots "$CA_FILE" "$TMP/t1.asice" >"$TMP/t1.out" 2>&1
check "a flipped byte in a file: exit 1" test $? = 1
check "naming the file" grep -q 'licence.pdf' "$TMP/t1.out"
"$VERIFY" --roots "$CA_FILE" "$TMP/t2.asice" >/dev/null 2>&1
check "a flipped byte near the ledger proof: exit 1" test $? = 1

# ---- bad uploads: 4xx, nothing stored, no leaf
f0=$(n_files) r0=$(n_rows) l0=$(n_leaves)
upload -F "file=@$TMP/licence.pdf"
expect_error "no metadata part" 400 invalid_evidence
upload -F "metadata=$META" -F "a=@$TMP/licence.pdf;filename=../../etc/x.pdf"
expect_error "a path traversal file name" 400 invalid_evidence
upload -F "metadata=$META" -F "a=@$TMP/licence.pdf;filename=dup.pdf" -F "b=@$TMP/licence.pdf;filename=dup.pdf"
expect_error "duplicate file names" 400 invalid_evidence
: >"$TMP/empty.pdf"
upload -F "metadata=$META" -F "a=@$TMP/empty.pdf"
expect_error "an empty file" 400 invalid_evidence
upload -F 'metadata={"rights_holder":"X","goods":"g","hs_code":"6403","submitter":"s"}' -F "a=@$TMP/licence.pdf"
expect_error "metadata without any trademark or patent number" 400 invalid_evidence
upload -F 'metadata={"rights_holder":"X","trademarks":["1"],"goods":"g","hs_code":"64ab","submitter":"s"}' -F "a=@$TMP/licence.pdf"
expect_error "a malformed HS code" 400 invalid_evidence
upload -F "metadata=$META" -F "a=@$TMP/licence.pdf;filename=META-INF/x.xml"
expect_error "a file under META-INF" 400 invalid_evidence
api POST /v1/evidence -H 'content-type: application/json' --data-binary "$META"
expect_error "not multipart: 415" 415 unsupported_media_type
# limits: make them small and reload
sed -i 's/^evidence_key .*/&\nevidence_max_total 200000\nevidence_max_files 2/' "$INST/portseald.conf"
kill -HUP "$PID"
sleep 1
wait_until 15 sh -c "curl -s --http2 --cacert '$CA_FILE' -o /dev/null -w '%{http_code}' '$URL/healthz' | grep -q 200"
head -c 150000 /dev/urandom >"$TMP/big1.bin"
head -c 150000 /dev/urandom >"$TMP/big2.bin"
upload -F "metadata=$META" -F "a=@$TMP/big1.bin" -F "b=@$TMP/big2.bin"
check "files over evidence_max_total: 413 ($STATUS)" test "$STATUS" = 413
upload -F "metadata=$META" -F "a=@$TMP/licence.pdf" -F "b=@$TMP/licence.pdf;filename=b.pdf" -F "c=@$TMP/licence.pdf;filename=c.pdf"
check "more files than evidence_max_files: 413 ($STATUS)" test "$STATUS" = 413
head -c 1300000 /dev/urandom >"$TMP/huge.bin"
upload -F "metadata=$META" -F "a=@$TMP/huge.bin"
check "a body over the route's limit: 413 before it is read ($STATUS)" test "$STATUS" = 413
check "nothing stored by any bad upload" test "$(n_files) $(n_rows)" = "$f0 $r0"
check "and no ledger leaf, no signature made for them" test "$(n_leaves)" = "$l0"
as_cert "$TMP/cn/pki/partner.pem" "$TMP/cn/pki/partner.key"
upload -F "metadata=$META" -F "a=@$TMP/licence.pdf"
expect_error "a certificate that is neither tenant nor officer: 403" 403 forbidden
as_tenant1

# ---- kill -9 during uploads: every acknowledged bundle survives
up_loop() {
    local i=0 code
    while [ ! -e "$TMP/stop" ]; do
        i=$((i + 1))
        printf 'loop %s upload %s %s\n' "$1" "$i" "$RANDOM" >"$TMP/up.$1.txt"
        code=$(curl -sS --http2 --cacert "$CA_FILE" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" --max-time 10 \
            -o "$TMP/up.$1.json" -w '%{http_code}' -F "metadata=$META" -F "a=@$TMP/up.$1.txt;filename=n$i.txt" \
            "$URL/v1/evidence" 2>/dev/null) || continue
        [ "$code" = 201 ] && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bundle_id"])' "$TMP/up.$1.json" >>"$TMP/acked"
    done
}
: >"$TMP/acked"
for l in 1 2 3; do up_loop "$l" & done
sleep 3
pids="$PID $(pgrep -P "$PID" | tr '\n' ' ')"
kill -9 $pids
touch "$TMP/stop"
wait
n_acked=$(wc -l <"$TMP/acked")
echo "# acknowledged before kill -9: $n_acked bundles"
check "uploads were acknowledged before the crash ($n_acked)" test "$n_acked" -gt 0
start_instance "$INST"
missing=0
while read -r b; do
    api GET "/v1/evidence/$b" && cp "$TMP/body" "$TMP/got.asice"
    if [ "$STATUS" != 200 ] || [ "$(sha256sum "$TMP/got.asice" | cut -c1-64)" != "$b" ] ||
        ! "$VERIFY" --roots "$CA_FILE" "$TMP/got.asice" >/dev/null 2>&1; then
        missing=$((missing + 1))
    fi
done <"$TMP/acked"
check "after restart every acknowledged bundle is served and verifies ($missing missing)" test "$missing" = 0
check "the ledger verifies from leaf 0" "$KEYTOOL" ledger-verify "$INST/state/audit.db"
check "no temporary files are served as bundles" test "$(find "$EVDIR" -name '*.asice' | wc -l)" -ge "$n_acked"
