/*
 * proxykey.h - "capture" proxy keys, so that OpenSSL can build CMS (and later TSA responses
 * and CSRs) in the worker without the private key and without blocking on the keyholder.
 *
 * A proxy key holds the certificate's public key. When OpenSSL asks it to sign, it records the
 * digest it was given and returns a placeholder signature. The caller then sends the digest
 * to the keyholder asynchronously and puts the real signature in place of the placeholder
 * (the signed attributes, and so the digest, do not change). The keyholder only ever sees a
 * digest of the right size for a permitted key; raw RSA is never used.
 * Supports RSA (PKCS#1 v1.5) and ECDSA keys; Ed25519 cannot be proxied this way.
 */
#ifndef PS_PROXYKEY_H
#define PS_PROXYKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "../protocol/err.h"

/* New proxy for the public key pub (not modified). NULL if the type is not supported. */
EVP_PKEY *proxykey_new(EVP_PKEY *pub);
/* Forget any earlier capture (call before the OpenSSL operation). */
void proxykey_reset(void);
/* The digest captured by the last sign operation on this thread; *md_nid is its hash. */
int proxykey_take(uint8_t *dgst, size_t cap, size_t *len, int *md_nid) PS_WUR;

#endif
