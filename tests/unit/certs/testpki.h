/*
 * testpki.h - a tiny in-memory PKI for the certs/ unit tests: keys, a CA, leaf certificates,
 * and a software stand-in for the keyholder (signs a digest the way PKCS#11 returns it).
 */
#ifndef PS_TESTPKI_H
#define PS_TESTPKI_H

#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "../../../certs/keyreg.h"
#include "../../../protocol/sigfmt.h"

static inline EVP_PKEY *pki_key(const char *kind)
{
    if (strcmp(kind, "rsa") == 0)
        return EVP_RSA_gen(2048);
    if (strcmp(kind, "ed25519") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return EVP_EC_gen(kind); /* "P-256", "P-384" */
}

static inline void pki_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;

    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for pub named cn, issued by (issuer, ikey) or self-signed when issuer is NULL.
 * eku: an extendedKeyUsage value or NULL; ku: keyUsage value. Valid from an hour ago, 1 day. */
static inline X509 *pki_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey, int ca,
                             const char *ku, const char *eku, long serial)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pub);
    pki_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    pki_ext(x, issuer, NID_key_usage, ku);
    if (eku)
        pki_ext(x, issuer, NID_ext_key_usage, eku);
    X509_sign(x, ikey, EVP_PKEY_get_base_id(ikey) == EVP_PKEY_ED25519 ? NULL : EVP_sha256());
    X509_NAME_free(n);
    return x;
}

/* A key_entry for a certificate (and its private key, kept by the test). */
static inline void pki_entry(struct key_entry *k, struct cfg_key *ck, const char *id, X509 *cert,
                             X509 *ca)
{
    memset(k, 0, sizeof(*k));
    memset(ck, 0, sizeof(*ck));
    ck->id = (char *)id;
    ck->cert_file = (char *)"(memory)";
    k->cfg = ck;
    k->cert = cert;
    k->chain = sk_X509_new_null();
    if (ca) {
        X509_up_ref(ca);
        sk_X509_push(k->chain, ca);
    }
    k->pub = X509_get_pubkey(cert);
    k->type = pkey_type(k->pub, &k->bits);
    for (int a = ALG_NONE + 1; a < ALG_MAX; a++)
        if (alg_info((enum ps_alg)a)->default_allowed && alg_fits_key((enum ps_alg)a, k->type))
            k->algs |= 1u << a;
}

static inline void pki_entry_free(struct key_entry *k)
{
    sk_X509_pop_free(k->chain, X509_free);
    EVP_PKEY_free(k->pub);
}

/* Sign a digest as the keyholder answers: ECDSA as raw r||s, RSA PKCS#1 v1.5 over a
 * DigestInfo for md. Returns the signature length, 0 on failure. */
static inline size_t pki_sign_digest(EVP_PKEY *key, const EVP_MD *md, const uint8_t *dg, size_t dl,
                                     uint8_t *out, size_t cap)
{
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(key, NULL);
    uint8_t der[1024];
    size_t sl = sizeof(der), fl = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;
    int ok = pc && EVP_PKEY_sign_init(pc) == 1;

    if (ok && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(pc, md) == 1;
    ok = ok && EVP_PKEY_sign(pc, der, &sl, dg, dl) == 1;
    EVP_PKEY_CTX_free(pc);
    if (!ok || sl > cap)
        return 0;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
        memcpy(out, der, sl);
        return sl;
    }
    if (2 * fl > cap || ecdsa_der_to_raw(der, sl, fl, out) != PS_OK)
        return 0;
    return 2 * fl;
}

#endif
