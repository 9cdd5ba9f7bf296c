#include "keyreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "../protocol/b64.h"
#include "sm2.h"
#include "tsa.h"

enum ps_keytype pkey_type(EVP_PKEY *pk, unsigned *bits)
{
    char group[64];
    size_t gl = 0;

    *bits = (unsigned)EVP_PKEY_get_bits(pk);
    if (EVP_PKEY_is_a(pk, "SM2"))
        return KT_SM2;
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_RSA: return KT_RSA;
    case EVP_PKEY_ED25519: return KT_ED25519;
    case EVP_PKEY_EC:
        if (!EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), &gl))
            return KT_NONE;
        if (strcmp(group, "prime256v1") == 0)
            return KT_EC_P256;
        if (strcmp(group, "secp384r1") == 0)
            return KT_EC_P384;
        return KT_NONE;
    }
    return KT_NONE;
}

static int load_chain(const char *path, struct key_entry *k, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    if (f == NULL) {
        snprintf(err, errlen, "key %s: cannot open certificate %s", k->cfg->id, path);
        return PS_E_CONFIG;
    }
    k->cert = PEM_read_X509(f, NULL, NULL, NULL);
    if ((k->chain = sk_X509_new_null()) == NULL) {
        fclose(f);
        return PS_E_NOMEM;
    }
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(k->chain, x)) {
            X509_free(x);
            fclose(f);
            return PS_E_NOMEM;
        }
    ERR_clear_error();
    fclose(f);
    if (k->cert == NULL) {
        snprintf(err, errlen, "key %s: no certificate in %s", k->cfg->id, path);
        return PS_E_CONFIG;
    }
    return PS_OK;
}

void x509_certno(const X509 *x, char *out, size_t cap)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    size_t i = 0;

    if (hex)
        for (; hex[i] && i + 1 < cap; i++)
            out[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
    out[i] = 0;
    OPENSSL_free(hex);
    BN_free(bn);
}

/* Computed once here: every CEB signature carries it in KeyInfo. */
static int cert_base64(struct key_entry *k)
{
    unsigned char *der = NULL;
    int n = i2d_X509(k->cert, &der);
    size_t cap;

    if (n <= 0)
        return PS_E_CRYPTO;
    cap = B64_ENCODED_LEN((size_t)n) + 1;
    if ((k->cert_b64 = malloc(cap)) == NULL) {
        OPENSSL_free(der);
        return PS_E_NOMEM;
    }
    k->cert_b64_len = b64_encode(k->cert_b64, cap, der, (size_t)n);
    OPENSSL_free(der);
    return PS_OK;
}

static int load_one(const struct cfg_key *ck, struct key_entry *k, char *err, size_t errlen)
{
    int r;

    k->cfg = ck;
    if ((r = load_chain(ck->cert_file, k, err, errlen)) != PS_OK)
        return r;
    if ((k->pub = X509_get_pubkey(k->cert)) == NULL ||
        (k->type = pkey_type(k->pub, &k->bits)) == KT_NONE) {
        snprintf(err, errlen, "key %s: unsupported public key type in %s", ck->id, ck->cert_file);
        return PS_E_CONFIG;
    }
    k->algs = ck->algs;
    if (k->algs == 0)
        for (int a = ALG_NONE + 1; a < ALG_MAX; a++)
            if (alg_info((enum ps_alg)a)->default_allowed && alg_fits_key((enum ps_alg)a, k->type))
                k->algs |= 1u << a;
    for (int a = ALG_NONE + 1; a < ALG_MAX; a++)
        if ((k->algs & (1u << a)) && !alg_fits_key((enum ps_alg)a, k->type)) {
            snprintf(err, errlen, "key %s: algorithm %s does not fit a %s key", ck->id,
                     alg_info((enum ps_alg)a)->name, keytype_name(k->type));
            return PS_E_CONFIG;
        }
    if (ck->profile) {
        /* configuring a profile is the decision to allow its algorithm (rsa-pkcs1-sha1 for
         * legacy E-port certificates) */
        k->profile = ceb_profile_by_name(ck->profile);
        if (k->profile->key_family != (int)k->type &&
            !(k->profile->key_family == KT_EC_P256 && k->type == KT_EC_P384)) {
            snprintf(err, errlen, "key %s: profile %s does not fit a %s key", ck->id,
                     k->profile->name, keytype_name(k->type));
            return PS_E_CONFIG;
        }
        k->algs |= 1u << k->profile->alg;
    } else {
        k->profile = ceb_profile_by_name(k->type == KT_RSA   ? "xmldsig-rsa-sha256"
                                         : k->type == KT_SM2 ? "ceb-sm2"
                                                             : "xmldsig-ecdsa-sha256");
    }
    x509_certno(k->cert, k->certno, sizeof(k->certno));
    if ((r = cert_base64(k)) != PS_OK) {
        snprintf(err, errlen, "key %s: cannot encode the certificate %s", ck->id, ck->cert_file);
        return r;
    }
    if (k->type == KT_SM2 && sm2_z(k->pub, k->sm2_z) != PS_OK) {
        snprintf(err, errlen, "key %s: cannot compute the SM2 Z value of %s", ck->id,
                 ck->cert_file);
        return PS_E_CRYPTO;
    }
    {
        struct tm tm;

        if (ASN1_TIME_to_tm(X509_get0_notBefore(k->cert), &tm))
            k->not_before = timegm(&tm);
        if (ASN1_TIME_to_tm(X509_get0_notAfter(k->cert), &tm))
            k->not_after = timegm(&tm);
    }
    return PS_OK;
}

int keyreg_load(const struct config *cfg, struct keyreg *out, char *err, size_t errlen)
{
    int r;

    memset(out, 0, sizeof(*out));
    if (cfg->nkeys == 0)
        return PS_OK;
    if ((out->keys = calloc(cfg->nkeys, sizeof(*out->keys))) == NULL)
        return PS_E_NOMEM;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        out->n = i + 1;
        if ((r = load_one(&cfg->keys[i], &out->keys[i], err, errlen)) != PS_OK) {
            keyreg_free(out);
            return r;
        }
    }
    if (cfg->tsa_key && (r = tsa_key_check(keyreg_find(out, cfg->tsa_key), err, errlen)) != PS_OK) {
        keyreg_free(out);
        return r;
    }
    return PS_OK;
}

void keyreg_free(struct keyreg *r)
{
    for (size_t i = 0; i < r->n; i++) {
        X509_free(r->keys[i].cert);
        sk_X509_pop_free(r->keys[i].chain, X509_free);
        EVP_PKEY_free(r->keys[i].pub);
        free(r->keys[i].cert_b64);
    }
    free(r->keys);
    r->keys = NULL;
    r->n = 0;
}

const struct key_entry *keyreg_find(const struct keyreg *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->keys[i].cfg->id, id) == 0)
            return &r->keys[i];
    return NULL;
}

int key_alg_allowed(const struct key_entry *k, enum ps_alg alg)
{
    return alg > ALG_NONE && alg < ALG_MAX && (k->algs & (1u << alg)) != 0;
}
