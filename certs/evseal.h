/*
 * evseal.h - the OpenSSL objects of an evidence bundle (protocol/evidence.h, steps 2 and 3):
 * the detached CAdES-BES signature over the manifest and the RFC 3161 time-stamp over it.
 *
 * Step 2, signature001.p7s: evseal_cms_build has OpenSSL build the CMS SignedData over the
 * manifest bytes (detached, binary, SHA-256, signed attributes content-type, signing-time,
 * message-digest and ESS signing-certificate-v2 (CMS_CADES), the signer certificate and chain)
 * signed with key. In the appliance, key is a capture proxy (certs/proxykey.h): call
 * proxykey_reset() before, proxykey_take() after, have the keyholder sign that digest, and
 * pass the DER signature (ECDSA-Sig-Value or RSA PKCS#1 v1.5 bytes) to evseal_cms_der, which
 * puts it in the only SignerInfo and encodes the CMS. With a real key, pass sig = NULL.
 *
 * Step 3, timestamp001.tst: evseal_tsq makes a DER TimeStampReq (version 1, SHA-256 imprint of
 * the p7s bytes, a random 64-bit nonce, certReq true, no policy) for any RFC 3161 TSA (in the
 * appliance: tsa_respond/tsa_finish of certs/tsa.h with the tsa_key); evseal_tst_from_resp
 * takes the DER TimeStampResp, requires status granted, a token whose imprint is SHA-256 of
 * exactly those p7s bytes and (when nonce is given) the request's nonce, and returns the token
 * (a DER ContentInfo, what `openssl ts -verify -token_in` reads).
 *
 * Errors: PS_E_CRYPTO (OpenSSL failed) or PS_E_INVAL (a response that does not fit), with a
 * reason in err. Ownership: *cms is the caller's (CMS_ContentInfo_free); buffers as usual.
 */
#ifndef PS_EVSEAL_H
#define PS_EVSEAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "../protocol/buf.h"
#include "../protocol/err.h"

int evseal_cms_build(const uint8_t *manifest, size_t len, X509 *cert, STACK_OF(X509) * chain,
                     EVP_PKEY *key, CMS_ContentInfo **cms, char *err, size_t errlen) PS_WUR;
int evseal_cms_der(CMS_ContentInfo *cms, const uint8_t *sig, size_t siglen, struct buf *out,
                   char *err, size_t errlen) PS_WUR;

/* *nonce (if not NULL) receives the request's nonce for evseal_tst_from_resp. */
int evseal_tsq(const uint8_t *p7s, size_t len, uint64_t *nonce, struct buf *out) PS_WUR;
/* nonce: the request's, or NULL not to check it. */
int evseal_tst_from_resp(const uint8_t *resp, size_t len, const uint8_t *p7s, size_t p7s_len,
                         const uint64_t *nonce, struct buf *tst, char *err, size_t errlen) PS_WUR;

#endif
