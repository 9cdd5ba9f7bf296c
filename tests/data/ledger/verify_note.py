#!/usr/bin/env python3
"""verify_note.py VKEY NOTE_FILE - an independent check of a C2SP signed-note checkpoint.

Written from c2sp.org/signed-note and c2sp.org/tlog-checkpoint, sharing no code with
protocol/checkpoint.c. Needs the `cryptography` package (exit 2 without it). Prints
"ok <origin> <size> <root hex>" and exits 0 when the note carries a valid Ed25519 signature by
the vkey and its text is a checkpoint; otherwise prints the reason and exits 1.
"""
import base64
import binascii
import hashlib
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:
    sys.exit(2)


def main():
    name, keyid_hex, key_b64 = sys.argv[1].split("+", 2)
    key = base64.b64decode(key_b64, validate=True)
    if key[0] != 1 or len(key) != 33:
        return "not an Ed25519 vkey"
    keyid = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if keyid.hex() != keyid_hex.lower():
        return "vkey key ID mismatch"
    note = open(sys.argv[2], "rb").read()
    note.decode("utf-8")  # raises on bad UTF-8
    split = note.rindex(b"\n\n")
    text, sigs = note[: split + 1], note[split + 2 :]
    verified = False
    for line in sigs.decode().split("\n")[:-1]:
        if not line.startswith("\u2014 "):
            return "bad signature line"
        sname, blob = line[2:].split(" ")
        raw = base64.b64decode(blob, validate=True)
        if sname == name and raw[:4] == keyid:
            try:
                Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], text)
            except InvalidSignature:
                return "signature does not verify"
            verified = True
    if not verified:
        return "no signature by " + name
    lines = text.decode().split("\n")[:-1]
    if len(lines) < 3 or not all(lines) or not lines[1].isascii() or not lines[1].isdigit():
        return "not a checkpoint"
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    if len(root) != 32 or str(size) != lines[1] or size >= 2**63:
        return "not a checkpoint"
    print("ok", origin, size, binascii.hexlify(root).decode())
    return None


if __name__ == "__main__":
    why = main()
    if why:
        print(why)
        sys.exit(1)
