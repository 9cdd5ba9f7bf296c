/*
 * sm2wrap.h - SM2 private keys kept outside the HSM, encrypted under an AES-256 key that never
 * leaves it (SoftHSM, like many HSMs, has no SM2 mechanism).
 *
 * What this protects: the key file alone is useless; decrypting it needs the token and its
 * PIN. What it does not: while the keyholder runs, the SM2 private key is in its memory
 * (locked, not dumpable, wiped on exit), so a compromise of the keyholder process exposes it,
 * which an HSM-native key would not. Workers never hold it.
 *
 * File: "PSWK" | version 1 | 12-byte IV | u16 length (big-endian) | AES-GCM(PKCS#8) || tag.
 * The AAD is "portseal-sm2-key:" + the key's label, so a file cannot be swapped for another.
 */
#ifndef PS_SM2WRAP_H
#define PS_SM2WRAP_H

#include <openssl/evp.h>

#include "../protocol/buf.h"
#include "p11.h"

int sm2wrap_seal(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE aes, const char *label,
                 EVP_PKEY *priv, struct buf *out) PS_WUR;
/* *priv is a new SM2 key; the caller frees it with EVP_PKEY_free. */
int sm2wrap_open(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE aes, const char *label,
                 const uint8_t *file, size_t len, EVP_PKEY **priv) PS_WUR;

#endif
