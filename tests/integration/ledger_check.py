#!/usr/bin/env python3
"""ledger_check.py - an independent checker for portseal's ledger answers (stdlib only).

Written from RFC 9162 section 2.1 and c2sp.org/tlog-checkpoint, not from portseal's C code,
so that the integration tests do not check the appliance with itself.

  ledger_check.py note NOTE_FILE PUBKEY_RAW_HEX ORIGIN   key ID, origin, prints "SIZE ROOT_B64"
  ledger_check.py inclusion LEAF_FILE PROOF_JSON NOTE_FILE      leaf bytes -> checkpoint root
  ledger_check.py consistency OLD_NOTE NEW_NOTE PROOF_JSON
  ledger_check.py root DB SIZE                       root of the first SIZE leaves, base64
  ledger_check.py leaf DB INDEX OUT                  leaf INDEX's bytes into OUT
Signature leaves are rebuilt from the audit rows by the documented format
("signature <seq> <unix_ms> <tenant> <key> <alg> <digest hex>\n", seq = leaf index); other
leaves are stored verbatim in ledger_leaves.
Exit status 0 when the check holds, 1 when it does not (the reason on stderr).
"""
import base64
import hashlib
import json
import sqlite3
import sys


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):
    """RFC 9162 2.1.1 MTH over leaf hashes (recursive definition, largest power of 2 < n)."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, proof, first_hash, second_hash):
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof and first_hash == hashlib.sha256(b"").digest()
    if first > second or not proof:
        return False
    if first & (first - 1) == 0:
        proof = [first_hash] + list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def leaves(db_path, size):
    """The first size leaves, from the audit rows and the stored leaves."""
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    out = {}
    for seq, ts, tenant, key, alg, digest in db.execute(
            "SELECT seq, ts_ms, tenant, key, alg, digest FROM audit WHERE seq < ?", (size,)):
        out[seq] = ("signature %d %d %s %s %s %s\n" % (seq, ts, tenant, key, alg,
                                                       bytes(digest).hex())).encode()
    for idx, data in db.execute("SELECT idx, data FROM ledger_leaves WHERE idx < ?", (size,)):
        if idx in out:
            fail("leaf %d is both an audit row and a stored leaf" % idx)
        out[idx] = bytes(data)
    if sorted(out) != list(range(size)):
        fail("leaves 0..%d are not all present" % (size - 1))
    return [out[i] for i in range(size)]


def parse_note(path):
    raw = open(path, "rb").read()
    text, _, sigs = raw.rpartition(b"\n\n")
    text += b"\n"
    lines = text.decode().split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    return raw, text, sigs, origin, size, root


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def main():
    cmd = sys.argv[1]
    if cmd == "note":
        _, text, sigs, origin, size, root = parse_note(sys.argv[2])
        pub = bytes.fromhex(sys.argv[3])
        if origin != sys.argv[4]:
            fail("origin %r, want %r" % (origin, sys.argv[4]))
        want_id = hashlib.sha256(origin.encode() + b"\n\x01" + pub).digest()[:4]
        found = False
        for line in sigs.decode().splitlines():
            dash, name, b64 = line.split(" ")
            if dash != "\u2014":
                fail("signature line does not start with an em dash")
            blob = base64.b64decode(b64, validate=True)
            if name == origin and blob[:4] == want_id and len(blob) == 68:
                found = True
                open(sys.argv[2] + ".text", "wb").write(text)
                open(sys.argv[2] + ".sig", "wb").write(blob[4:])
        if not found:
            fail("no signature line with the log's name and key ID")
        print(size, base64.b64encode(root).decode())
    elif cmd == "inclusion":
        leaf = open(sys.argv[2], "rb").read()
        proof = json.load(open(sys.argv[3]))
        _, _, _, _, size, root = parse_note(sys.argv[4])
        lh = leaf_hash(leaf)
        if base64.b64decode(proof["leaf_hash"]) != lh:
            fail("leaf_hash in the proof is not SHA-256(0x00 || leaf)")
        if proof["size"] != size:
            fail("proof is for size %d, checkpoint has %d" % (proof["size"], size))
        if not verify_inclusion(proof["index"], size, lh,
                                [base64.b64decode(h) for h in proof["proof"]], root):
            fail("inclusion proof does not lead to the checkpoint's root")
    elif cmd == "consistency":
        _, _, _, _, s1, r1 = parse_note(sys.argv[2])
        _, _, _, _, s2, r2 = parse_note(sys.argv[3])
        proof = json.load(open(sys.argv[4]))
        if (proof["old"], proof["new"]) != (s1, s2):
            fail("proof is for %d -> %d, notes are %d -> %d" % (proof["old"], proof["new"], s1, s2))
        if not verify_consistency(s1, s2, [base64.b64decode(h) for h in proof["proof"]], r1, r2):
            fail("consistency proof does not verify: %d -> %d" % (s1, s2))
    elif cmd == "root":
        size = int(sys.argv[3])
        print(base64.b64encode(mth([leaf_hash(x) for x in leaves(sys.argv[2], size)])).decode())
    elif cmd == "leaf":
        index = int(sys.argv[3])
        open(sys.argv[4], "wb").write(leaves(sys.argv[2], index + 1)[index])
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
