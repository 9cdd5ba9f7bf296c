/*
 * tsa.h - RFC 3161 time-stamp responses, built by OpenSSL with a capture proxy key.
 *
 * tsa_respond checks that the body is one DER TimeStampReq and has OpenSSL's TS_RESP_CTX build
 * the whole TimeStampResp with the TSA certificate and a proxy key (certs/proxykey.h): the
 * TSTInfo (policy, a fresh 127-bit random serial number, genTime in milliseconds, accuracy,
 * the request's nonce, the TSA name) and the SignerInfo with its signed attributes (content
 * type, signing time, message digest of the TSTInfo, ESS signing-certificate-v2). The proxy
 * records the digest of the signed attributes; the caller has the keyholder sign it and
 * tsa_finish puts that signature into the token's SignerInfo (PKCS7 encryptedDigest, the
 * placeholder until then) and encodes the response. Nothing else changes, so the digest stays
 * right.
 *
 * A well-formed request that the TSA declines (a hash other than SHA-256/384/512, another
 * policy, any extension, an imprint of the wrong length, version != 1) gets a TimeStampResp
 * with status rejection and a failInfo (badAlg, unacceptedPolicy, unacceptedExtension,
 * badDataFormat, badRequest): RFC 3161 2.4.2. Such a response has no token and needs no
 * signature.
 *
 * Ownership: tsa_respond fills *out; tsa_resp_free releases it. DER from tsa_finish/tsa_der
 * is OPENSSL_malloc'd: OPENSSL_free it.
 */
#ifndef PS_TSA_H
#define PS_TSA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ts.h>

#include "keyreg.h"

struct tsa_params {
    const struct key_entry *key; /* the TSA key: certificate, chain, type */
    const char *policy;          /* TSA policy OID, dotted */
    unsigned accuracy_ms;        /* stated accuracy; 0 = no accuracy field */
};

struct tsa_resp {
    TS_RESP *resp;
    int granted;     /* a token was built: it needs the signature over digest */
    enum ps_alg alg; /* algorithm the keyholder must sign digest with */
    uint8_t digest[64];
    size_t dlen;
    enum ps_keytype keytype;
};

/* The algorithm a TSA key signs with: ecdsa-sha256 (P-256), ecdsa-sha384 (P-384),
 * rsa-pkcs1-sha256 (RSA); ALG_NONE for keys that cannot sign time-stamps (Ed25519). */
enum ps_alg tsa_alg(enum ps_keytype kt);

/* Whether k can be the TSA key: an RSA or EC key whose algorithm (tsa_alg) is allowed, with a
 * certificate fit for time-stamping (RFC 3161 2.3: extendedKeyUsage timeStamping only, and
 * critical). PS_E_CONFIG with a reason in err if not. */
int tsa_key_check(const struct key_entry *k, char *err, size_t errlen) PS_WUR;

/*
 * Build the response to a DER TimeStampReq. PS_E_INVAL (reason in err) if body is not exactly
 * one DER TimeStampReq: that is answered 400 rather than with a TimeStampResp. PS_E_CRYPTO if
 * OpenSSL failed. On PS_OK, out->granted says whether the token waits for its signature.
 */
int tsa_respond(const struct tsa_params *p, const uint8_t *body, size_t len, struct tsa_resp *out,
                char *err, size_t errlen) PS_WUR;

/* Put the keyholder's signature (ECDSA r||s as PKCS#11 returns it, or RSA) into the token and
 * encode the response. */
int tsa_finish(struct tsa_resp *t, const uint8_t *sig, size_t siglen, uint8_t **der,
               size_t *derlen) PS_WUR;

/* Encode the response as it is (a rejection). */
int tsa_der(const struct tsa_resp *t, uint8_t **der, size_t *derlen) PS_WUR;

void tsa_resp_free(struct tsa_resp *t);

#endif
