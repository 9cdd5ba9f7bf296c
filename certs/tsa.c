#include "tsa.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "../protocol/sigfmt.h"
#include "proxykey.h"

#define TSA_SERIAL_BYTES 16

enum ps_alg tsa_alg(enum ps_keytype kt)
{
    switch (kt) {
    case KT_EC_P256: return ALG_ECDSA_SHA256;
    case KT_EC_P384: return ALG_ECDSA_SHA384;
    case KT_RSA: return ALG_RSA_PKCS1_SHA256;
    default: return ALG_NONE;
    }
}

int tsa_key_check(const struct key_entry *k, char *err, size_t errlen)
{
    enum ps_alg a;

    if (k == NULL) {
        snprintf(err, errlen, "tsa_key names no loaded key");
        return PS_E_CONFIG;
    }
    if ((a = tsa_alg(k->type)) == ALG_NONE) {
        snprintf(err, errlen, "tsa_key %s: a %s key cannot sign time-stamps (RSA or ECDSA only)",
                 k->cfg->id, keytype_name(k->type));
        return PS_E_CONFIG;
    }
    if (!key_alg_allowed(k, a)) {
        snprintf(err, errlen, "tsa_key %s: time-stamps are signed with %s, which algs= excludes",
                 k->cfg->id, alg_info(a)->name);
        return PS_E_CONFIG;
    }
    if (X509_check_purpose(k->cert, X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1) {
        ERR_clear_error();
        snprintf(err, errlen,
                 "tsa_key %s: certificate %s is not a time-stamping certificate (RFC 3161 2.3: "
                 "extendedKeyUsage timeStamping only, marked critical)",
                 k->cfg->id, k->cfg->cert_file);
        return PS_E_CONFIG;
    }
    return PS_OK;
}

/*
 * Serial numbers: 126 random bits from OpenSSL's DRBG (reseeded after fork) in a positive
 * 16-byte INTEGER, not a counter. Nothing to persist, share between worker processes or fsync,
 * and nothing that repeats after a restart, a restore of state_dir from a backup or a cloned
 * machine; among 2^40 tokens two collide with probability below 2^-47. RFC 3161 2.4.2 asks
 * requesters to handle serial numbers up to 160 bits.
 */
static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *data)
{
    unsigned char rnd[TSA_SERIAL_BYTES];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;

    (void)data;
    if (RAND_bytes(rnd, sizeof(rnd)) == 1) {
        rnd[0] &= 0x7f;
        rnd[0] |= 0x40; /* always 16 content bytes, positive */
        if ((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) != NULL)
            ai = BN_to_ASN1_INTEGER(bn, NULL);
    }
    BN_free(bn);
    OPENSSL_cleanse(rnd, sizeof(rnd));
    if (ai == NULL) {
        TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION,
                                    "Error during serial number generation.");
        TS_RESP_CTX_add_failure_info(ctx, TS_INFO_ADD_INFO_NOT_AVAILABLE);
    }
    return ai;
}

static TS_RESP_CTX *make_ctx(const struct tsa_params *p, EVP_PKEY *proxy)
{
    TS_RESP_CTX *ctx = TS_RESP_CTX_new();
    ASN1_OBJECT *pol = OBJ_txt2obj(p->policy, 1);
    const EVP_MD *md = p->key->type == KT_EC_P384 ? EVP_sha384() : EVP_sha256();
    unsigned acc = p->accuracy_ms;
    int ok;

    ok = ctx != NULL && pol != NULL && TS_RESP_CTX_set_signer_cert(ctx, p->key->cert) &&
         TS_RESP_CTX_set_signer_key(ctx, proxy) && TS_RESP_CTX_set_signer_digest(ctx, md) &&
         TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) &&
         TS_RESP_CTX_set_certs(ctx, p->key->chain) && TS_RESP_CTX_set_def_policy(ctx, pol) &&
         TS_RESP_CTX_add_md(ctx, EVP_sha256()) && TS_RESP_CTX_add_md(ctx, EVP_sha384()) &&
         TS_RESP_CTX_add_md(ctx, EVP_sha512()) && TS_RESP_CTX_set_clock_precision_digits(ctx, 3) &&
         (acc == 0 || TS_RESP_CTX_set_accuracy(ctx, (int)(acc / 1000), (int)(acc % 1000), 0));
    ASN1_OBJECT_free(pol);
    if (!ok) {
        TS_RESP_CTX_free(ctx);
        return NULL;
    }
    TS_RESP_CTX_add_flags(ctx, TS_TSA_NAME);
    TS_RESP_CTX_set_serial_cb(ctx, serial_cb, NULL);
    return ctx;
}

static int is_granted(TS_RESP *resp)
{
    long st = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp)));

    return (st == TS_STATUS_GRANTED || st == TS_STATUS_GRANTED_WITH_MODS) &&
           TS_RESP_get_token(resp) != NULL;
}

int tsa_respond(const struct tsa_params *p, const uint8_t *body, size_t len, struct tsa_resp *out,
                char *err, size_t errlen)
{
    const unsigned char *cp = body;
    TS_REQ *req = NULL;
    TS_RESP_CTX *ctx = NULL;
    EVP_PKEY *proxy = NULL;
    BIO *in = NULL;
    int nid, r = PS_E_CRYPTO;

    memset(out, 0, sizeof(*out));
    out->keytype = p->key->type;
    out->alg = tsa_alg(p->key->type);
    if (len == 0 || len > 65536 || (req = d2i_TS_REQ(NULL, &cp, (long)len)) == NULL ||
        cp != body + len) {
        snprintf(err, errlen, "the body is not a DER TimeStampReq (RFC 3161)%s",
                 req ? ": trailing bytes" : "");
        r = PS_E_INVAL;
        goto out;
    }
    if ((proxy = proxykey_new(p->key->pub)) == NULL || (ctx = make_ctx(p, proxy)) == NULL ||
        (in = BIO_new_mem_buf(body, (int)len)) == NULL) {
        snprintf(err, errlen, "cannot set up the time-stamp response");
        goto out;
    }
    proxykey_reset();
    if ((out->resp = TS_RESP_create_response(ctx, in)) == NULL) {
        snprintf(err, errlen, "cannot build the time-stamp response");
        goto out;
    }
    out->granted = is_granted(out->resp);
    if (out->granted &&
        (proxykey_take(out->digest, sizeof(out->digest), &out->dlen, &nid) != PS_OK ||
         out->dlen != hash_len(alg_info(out->alg)->hash))) {
        snprintf(err, errlen, "the time-stamp token was not signed through the proxy key");
        goto out;
    }
    r = PS_OK;
out:
    if (r != PS_OK) {
        TS_RESP_free(out->resp);
        out->resp = NULL;
    }
    proxykey_reset();
    ERR_clear_error();
    BIO_free(in);
    TS_RESP_CTX_free(ctx);
    EVP_PKEY_free(proxy);
    TS_REQ_free(req);
    return r;
}

int tsa_der(const struct tsa_resp *t, uint8_t **der, size_t *derlen)
{
    unsigned char *p = NULL;
    int n = i2d_TS_RESP(t->resp, &p);

    if (n <= 0) {
        ERR_clear_error();
        return PS_E_CRYPTO;
    }
    *der = p;
    *derlen = (size_t)n;
    return PS_OK;
}

int tsa_finish(struct tsa_resp *t, const uint8_t *sig, size_t siglen, uint8_t **der, size_t *derlen)
{
    STACK_OF(PKCS7_SIGNER_INFO) * sis;
    PKCS7_SIGNER_INFO *si;
    uint8_t dsig[160];
    size_t dl = siglen;

    if (!t->granted || (sis = PKCS7_get_signer_info(TS_RESP_get_token(t->resp))) == NULL ||
        sk_PKCS7_SIGNER_INFO_num(sis) != 1 || (si = sk_PKCS7_SIGNER_INFO_value(sis, 0)) == NULL)
        return PS_E_INVAL;
    if (t->keytype != KT_RSA) {
        if (ecdsa_raw_to_der(sig, siglen, dsig, sizeof(dsig), &dl) != PS_OK)
            return PS_E_INVAL;
        sig = dsig;
    }
    /* OpenSSL 3.0 builds the token as PKCS7: the signature is the SignerInfo's encryptedDigest */
    if (!ASN1_STRING_set(si->enc_digest, sig, (int)dl)) {
        ERR_clear_error();
        return PS_E_NOMEM;
    }
    return tsa_der(t, der, derlen);
}

void tsa_resp_free(struct tsa_resp *t)
{
    TS_RESP_free(t->resp);
    t->resp = NULL;
}
