#include "sm2wrap.h"

#include <string.h>

#include <openssl/rand.h>
#include <openssl/x509.h>
#include <sodium.h>

#define MAGIC   "PSWK"
#define HDR     (4 + 1 + 12 + 2)
#define MAX_DER 512

static int aad_for(const char *label, char *aad, size_t cap, size_t *len)
{
    int n = snprintf(aad, cap, "portseal-sm2-key:%s", label);

    if (n < 0 || (size_t)n >= cap)
        return PS_E_INVAL;
    *len = (size_t)n;
    return PS_OK;
}

int sm2wrap_seal(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE aes, const char *label,
                 EVP_PKEY *priv, struct buf *out)
{
    uint8_t hdr[HDR], ct[MAX_DER + 16], *der = NULL;
    size_t ctl = sizeof(ct), aadl;
    char aad[160];
    int n, r = PS_E_CRYPTO;

    if (aad_for(label, aad, sizeof(aad), &aadl) != PS_OK)
        return PS_E_INVAL;
    if ((der = sodium_malloc(MAX_DER)) == NULL)
        return PS_E_NOMEM;
    {
        unsigned char *p = der;

        if ((n = i2d_PrivateKey(priv, NULL)) <= 0 || n > MAX_DER || i2d_PrivateKey(priv, &p) != n)
            goto out;
    }
    memcpy(hdr, MAGIC, 4);
    hdr[4] = 1;
    if (RAND_bytes(hdr + 5, 12) != 1)
        goto out;
    if ((r = p11_aes_gcm(m, s, aes, 1, hdr + 5, (uint8_t *)aad, aadl, der, (size_t)n, ct, &ctl)) !=
        PS_OK)
        goto out;
    hdr[17] = (uint8_t)(ctl >> 8);
    hdr[18] = (uint8_t)ctl;
    if ((r = buf_append(out, hdr, sizeof(hdr))) == PS_OK)
        r = buf_append(out, ct, ctl);
out:
    sodium_free(der);
    return r;
}

int sm2wrap_open(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE aes, const char *label,
                 const uint8_t *file, size_t len, EVP_PKEY **priv)
{
    uint8_t *der;
    size_t ctl, dl = MAX_DER + 16, aadl;
    const unsigned char *p;
    char aad[160];
    int r;

    if (len < HDR || memcmp(file, MAGIC, 4) != 0 || file[4] != 1)
        return PS_E_INVAL;
    ctl = (size_t)file[17] << 8 | file[18];
    if (ctl != len - HDR || ctl < 17 || ctl > MAX_DER + 16 ||
        aad_for(label, aad, sizeof(aad), &aadl) != PS_OK)
        return PS_E_INVAL;
    if ((der = sodium_malloc(MAX_DER + 16)) == NULL)
        return PS_E_NOMEM;
    r = p11_aes_gcm(m, s, aes, 0, file + 5, (uint8_t *)aad, aadl, file + HDR, ctl, der, &dl);
    if (r == PS_OK) {
        p = der;
        *priv = d2i_AutoPrivateKey(NULL, &p, (long)dl);
        if (*priv == NULL || !EVP_PKEY_is_a(*priv, "SM2")) {
            EVP_PKEY_free(*priv);
            *priv = NULL;
            r = PS_E_CRYPTO;
        }
    }
    sodium_memzero(der, MAX_DER + 16);
    sodium_free(der);
    return r;
}
