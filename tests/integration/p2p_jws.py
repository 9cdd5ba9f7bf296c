#!/usr/bin/env python3
"""p2p_jws.py - test helper for tests/integration/p2p*.sh: plays the partner's side.

  envelope FROM TO ID SEQ TYPE BODY_JSON [EXPIRES_IN_S|none] [CREATED_OFFSET_S]
      prints an envelope (formats.md §3: members in order, body sorted, compact UTF-8)
  sign KEY.pem CHAIN.pem PAYLOAD_FILE [TYP]
      prints a compact JWS (ES256, x5c = the chain's certificates) over the payload's bytes
  tamper JWS_FILE
      prints the JWS with one payload character changed (still base64url)
  flatten JWS_FILE
      prints the JWS in the flattened JSON serialisation
  split JWS_FILE OUTDIR
      writes OUTDIR/header.json, payload, signing_input, sig.der (r||s as DER), leaf.pem,
      chain.pem (x5c[1..]) so that openssl can check the JWS
"""
import base64
import json
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)
from cryptography import x509


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def stamp(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def envelope(frm, to, mid, seq, typ, body, expires_in="3600", created_offset="0"):
    now = int(time.time()) + int(created_offset)
    env = {"id": mid, "from": frm, "to": to, "seq": int(seq), "type": typ,
           "priority": "routine", "created": stamp(now),
           "expires": None if expires_in == "none" else stamp(now + int(expires_in)),
           "body": json.loads(body)}
    if typ.startswith("urgent:"):
        env["type"], env["priority"] = typ[7:], "urgent"
    body_txt = json.dumps(env["body"], ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    env["body"] = "@BODY@"
    txt = json.dumps(env, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write(txt.replace('"@BODY@"', body_txt))


def sign(keyfile, chainfile, payloadfile, typ="p2p-envelope+jws"):
    key = serialization.load_pem_private_key(open(keyfile, "rb").read(), None)
    certs = x509.load_pem_x509_certificates(open(chainfile, "rb").read())
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]
    hdr = json.dumps({"alg": "ES256", "x5c": x5c, "typ": typ}, separators=(",", ":"))
    payload = open(payloadfile, "rb").read()
    si = b64u(hdr.encode()) + "." + b64u(payload)
    r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    sys.stdout.write(si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


def tamper(jwsfile):
    h, p, s = open(jwsfile).read().strip().split(".")
    i = len(p) // 2
    p = p[:i] + ("A" if p[i] != "A" else "B") + p[i + 1:]
    sys.stdout.write(".".join([h, p, s]))


def flatten(jwsfile):
    h, p, s = open(jwsfile).read().strip().split(".")
    sys.stdout.write(json.dumps({"protected": h, "payload": p, "signature": s}))


def split(jwsfile, out):
    h, p, s = open(jwsfile).read().strip().split(".")
    hdr = json.loads(unb64u(h))
    open(out + "/header.json", "w").write(json.dumps(hdr))
    open(out + "/payload", "wb").write(unb64u(p))
    open(out + "/signing_input", "w").write(h + "." + p)
    sig = unb64u(s)
    open(out + "/sig.der", "wb").write(encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                                            int.from_bytes(sig[32:], "big")))
    pems = [x509.load_der_x509_certificate(base64.b64decode(c)).public_bytes(
        serialization.Encoding.PEM) for c in hdr["x5c"]]
    open(out + "/leaf.pem", "wb").write(pems[0])
    open(out + "/chain.pem", "wb").write(b"".join(pems[1:]))


if __name__ == "__main__":
    {"envelope": envelope, "sign": sign, "tamper": tamper, "flatten": flatten,
     "split": split}[sys.argv[1]](*sys.argv[2:])
