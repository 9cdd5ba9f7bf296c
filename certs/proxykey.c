#include "proxykey.h"

#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

static __thread struct {
    uint8_t d[64];
    size_t len;
    int nid;
    int hit;
} cap;

static EC_KEY_METHOD *ec_meth;
static RSA_METHOD *rsa_meth;

void proxykey_reset(void)
{
    memset(&cap, 0, sizeof(cap));
}

static int record(const unsigned char *d, size_t n, int nid)
{
    if (n > sizeof(cap.d))
        return 0;
    memcpy(cap.d, d, n);
    cap.len = n;
    cap.nid = nid;
    cap.hit = 1;
    return 1;
}

static int md_nid_for_len(size_t n)
{
    return n == 20 ? NID_sha1 : n == 32 ? NID_sha256 : n == 48 ? NID_sha384 : NID_sha512;
}

static int ec_capture(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
                      unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
    /* placeholder: a well-formed ECDSA-Sig-Value (r = s = 1) */
    static const unsigned char ph[] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};

    (void)type;
    (void)kinv;
    (void)r;
    (void)ec;
    if (dlen <= 0 || !record(dgst, (size_t)dlen, md_nid_for_len((size_t)dlen)))
        return 0;
    memcpy(sig, ph, sizeof(ph));
    *siglen = sizeof(ph);
    return 1;
}

static ECDSA_SIG *ec_capture_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
                                 const BIGNUM *r, EC_KEY *ec)
{
    (void)dgst;
    (void)dlen;
    (void)kinv;
    (void)r;
    (void)ec;
    return NULL; /* only the DER path above is used */
}

static int rsa_capture(int type, const unsigned char *m, unsigned int mlen, unsigned char *sig,
                       unsigned int *siglen, const RSA *rsa)
{
    unsigned int n = (unsigned int)RSA_size(rsa);

    if (!record(m, mlen, type))
        return 0;
    memset(sig, 0, n);
    *siglen = n;
    return 1;
}

static int init_methods(void)
{
    if (ec_meth == NULL) {
        int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

        if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())) == NULL)
            return 0;
        EC_KEY_METHOD_get_sign(EC_KEY_get_default_method(), NULL, &setup, NULL);
        EC_KEY_METHOD_set_sign(ec_meth, ec_capture, setup, ec_capture_sig);
    }
    if (rsa_meth == NULL) {
        if ((rsa_meth = RSA_meth_dup(RSA_get_default_method())) == NULL)
            return 0;
        RSA_meth_set1_name(rsa_meth, "portseal capture proxy");
        RSA_meth_set_sign(rsa_meth, rsa_capture);
    }
    return 1;
}

EVP_PKEY *proxykey_new(EVP_PKEY *pub)
{
    EVP_PKEY *pk = NULL;

    if (!init_methods() || (pk = EVP_PKEY_new()) == NULL)
        return NULL;
    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
        /* a fresh EC_KEY: never change the one cached inside the certificate */
        EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pub), *fresh = ec ? EC_KEY_dup(ec) : NULL;

        EC_KEY_free(ec);
        if (fresh == NULL || !EC_KEY_set_method(fresh, ec_meth) ||
            !EVP_PKEY_assign_EC_KEY(pk, fresh)) {
            EC_KEY_free(fresh);
            goto fail;
        }
        return pk;
    }
    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
        RSA *rsa = EVP_PKEY_get1_RSA(pub), *fresh = rsa ? RSAPublicKey_dup(rsa) : NULL;

        RSA_free(rsa);
        if (fresh == NULL || !RSA_set_method(fresh, rsa_meth) || !EVP_PKEY_assign_RSA(pk, fresh)) {
            RSA_free(fresh);
            goto fail;
        }
        return pk;
    }
fail:
    EVP_PKEY_free(pk);
    return NULL;
}

int proxykey_take(uint8_t *dgst, size_t capacity, size_t *len, int *md_nid)
{
    if (!cap.hit || cap.len > capacity)
        return PS_E_CRYPTO;
    memcpy(dgst, cap.d, cap.len);
    *len = cap.len;
    *md_nid = cap.nid;
    proxykey_reset();
    return PS_OK;
}
