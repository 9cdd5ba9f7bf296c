/*
 * jws.h - JSON Web Signatures (RFC 7515) for AEO batches, P2P envelopes and receipts.
 * Pure format code: bytes in, structs out. The private key stays in the HSM: signing is split
 * in two steps so that the signature can arrive later (a worker sends a digest to the
 * keyholder and continues when the answer comes):
 *
 *   jws_sign_begin   builds the protected header and the signing input, and its SHA-256
 *   jws_sign_tbs     what the key must sign: the 32-byte SHA-256 digest of the signing input
 *                    for ES256 and RS256 (ECDSA / PKCS#1 v1.5 over a DigestInfo), the whole
 *                    signing input for EdDSA (Ed25519 signs the message itself)
 *   jws_sign_finish  takes the signature, checks it with the certificate's public key and
 *                    writes the JWS in compact or flattened JSON serialisation
 *
 * jws_sign does all three with a synchronous callback (tools, tests).
 *
 * What we write:
 *   protected header  {"alg":A,"kid":K,"x5c":[leaf,CA...],"typ":T,"cty":C} in this order,
 *                     compact JSON (kid, typ, cty only when given); no "crit", nothing else
 *   alg               "ES256" (P-256, signature = raw 64-byte r||s), "EdDSA" (Ed25519, 64
 *                     bytes), "RS256" (RSA >= 2048 bits, PKCS#1 v1.5 with SHA-256)
 *   x5c               standard base64 (with padding) of each DER certificate, signer first
 *   compact           BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
 *   flattened JSON    {"protected":..,"payload":..,"signature":..}
 *
 * What we accept (jws_verify), anything else is refused with a reason:
 *   - compact (three base64url parts) or flattened JSON (a JSON object; the first byte that is
 *     not white space is "{"); not the general JSON serialisation ("signatures"), no
 *     unprotected "header", no other top-level member, no duplicate member
 *   - base64url without padding or white space, unused bits zero; at most max_len bytes in
 *     all (JWS_MAX_LEN by default), a protected header of at most JWS_MAX_HEADER bytes; an
 *     empty (detached) payload is refused
 *   - the protected header is a JSON object without duplicate members, with "alg" and "x5c"
 *     required and "kid", "typ", "cty" optional (strings of 1..JWS_MAX_NAME bytes without
 *     control characters);
 *     "crit", "jwk", "jku", "x5u", "b64" and every other member are refused
 *   - alg is one of the caller's allowed algorithms (never "none") and fits the leaf key:
 *     ES256 needs a P-256 key, EdDSA an Ed25519 key, RS256 an RSA key of >= 2048 bits
 *   - x5c: 1..JWS_MAX_X5C certificates, each exactly one DER certificate; the first is the
 *     signer and must chain, with the others as untrusted intermediates, to a root in the
 *     caller's pinned store at the caller's time, with the purpose and EKU asked for
 *   - the signature verifies with the leaf's public key over the signing input
 *
 * Errors: PS_E_INVAL for bad input or a failed check (err says what failed, e.g.
 * "x5c chain: unable to get local issuer certificate", "signature does not verify"),
 * PS_E_LIMIT beyond a size limit, PS_E_DENIED for an algorithm not allowed,
 * PS_E_NOMEM / PS_E_CRYPTO for internal failures.
 */
#ifndef PS_JWS_H
#define PS_JWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "buf.h"
#include "err.h"

#define JWS_MAX_LEN    (16 * 1024 * 1024) /* a whole JWS, default for jws_verify */
#define JWS_MAX_HEADER (64 * 1024)        /* decoded protected header */
#define JWS_MAX_X5C    8                  /* certificates in x5c */
#define JWS_MAX_CERT   (16 * 1024)        /* one DER certificate */
#define JWS_MAX_NAME   255                /* kid, typ, cty */
#define JWS_MAX_SIG    512                /* signature bytes (RSA-4096) */

/* Algorithms; the values are bits so that an allow-list is their OR. */
enum jws_alg { JWS_ALG_NONE = 0, JWS_ES256 = 1, JWS_EDDSA = 2, JWS_RS256 = 4 };

enum jws_form { JWS_COMPACT = 0, JWS_FLATTENED = 1 };

/* "ES256", "EdDSA", "RS256"; NULL for anything else. */
const char *jws_alg_name(enum jws_alg alg);
/* By exact name; JWS_ALG_NONE if unknown (and for "none"). */
enum jws_alg jws_alg_from_name(const char *name);
/* The algorithm for a key: P-256 -> ES256, Ed25519 -> EdDSA, RSA >= 2048 -> RS256. */
enum jws_alg jws_alg_for_key(EVP_PKEY *key);

/* What to put in the protected header. cert is the signer's certificate (its key must fit
 * alg), chain its CA certificates (NULL or empty for none; added to x5c in order). kid, typ,
 * cty: NULL to leave out. Everything is borrowed for the call. */
struct jws_params {
    enum jws_alg alg;
    X509 *cert;
    STACK_OF(X509) * chain;
    const char *kid;
    const char *typ;
    const char *cty;
};

/* A signature being made. input is BASE64URL(header) "." BASE64URL(payload) (NUL-terminated),
 * digest its SHA-256. Owns input and pub; release with jws_signing_free. */
struct jws_signing {
    enum jws_alg alg;
    struct buf input;
    uint8_t digest[32];
    EVP_PKEY *pub; /* the certificate's key, to check the signature */
};

/* Start signing payload[0..len) (not empty, at most JWS_MAX_LEN bytes); s is initialised even
 * on failure, so jws_signing_free(s) is always right. */
int jws_sign_begin(struct jws_signing *s, const struct jws_params *p, const uint8_t *payload,
                   size_t len, char *err, size_t errlen) PS_WUR;

/* What the key signs (points into s): the digest for ES256/RS256, the input for EdDSA. */
void jws_sign_tbs(const struct jws_signing *s, const uint8_t **tbs, size_t *len);

/* Finish with the signature: ES256 as raw r||s (64 bytes) or DER (any other length), EdDSA 64
 * bytes, RS256 the modulus length. It must verify with the certificate's key (PS_E_CRYPTO
 * otherwise). out is reset first and holds the JWS (NUL-terminated) on success; it is empty on
 * failure. */
int jws_sign_finish(struct jws_signing *s, const uint8_t *sig, size_t siglen, enum jws_form form,
                    struct buf *out, char *err, size_t errlen) PS_WUR;

void jws_signing_free(struct jws_signing *s);

/* Sign tbs[0..len) (see jws_sign_tbs) with alg into sig (cap bytes); set *siglen. */
typedef int (*jws_sign_fn)(void *ctx, enum jws_alg alg, const uint8_t *tbs, size_t len,
                           uint8_t *sig, size_t cap, size_t *siglen);

/* begin + callback + finish. */
int jws_sign(const struct jws_params *p, const uint8_t *payload, size_t len, jws_sign_fn sign,
             void *ctx, enum jws_form form, struct buf *out, char *err, size_t errlen) PS_WUR;

/* How to verify. algs: an OR of allowed jws_alg values (0 allows nothing). roots: the pinned
 * trust anchors (its flags, e.g. CRL checks, apply). at: the time of the check (0 = now).
 * purpose: an X509_PURPOSE_* id for the chain (0 = none). eku: an OID in dotted form or a
 * short name ("clientAuth") the leaf's extendedKeyUsage must list (NULL = none). typ: the
 * header's typ must be this (NULL = any or none). max_len: 0 = JWS_MAX_LEN. */
struct jws_verify_opts {
    unsigned algs;
    X509_STORE *roots;
    time_t at;
    int purpose;
    const char *eku;
    const char *typ;
    size_t max_len;
};

/* A verified JWS. payload (NUL-terminated, not counted in payload_len), leaf and x5c (the
 * certificates of the header, leaf first) are owned: jws_result_free releases them. */
struct jws_result {
    enum jws_alg alg;
    uint8_t *payload;
    size_t payload_len;
    X509 *leaf;
    STACK_OF(X509) * x5c;
    char kid[JWS_MAX_NAME + 1]; /* "" when absent; likewise typ, cty */
    char typ[JWS_MAX_NAME + 1];
    char cty[JWS_MAX_NAME + 1];
};

/* Verify jws[0..len) (compact or flattened JSON). r is zeroed first and stays zeroed on
 * failure. */
int jws_verify(const uint8_t *jws, size_t len, const struct jws_verify_opts *o,
               struct jws_result *r, char *err, size_t errlen) PS_WUR;

void jws_result_free(struct jws_result *r);

#endif
