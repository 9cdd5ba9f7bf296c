#include "sigfmt.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

int ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, uint8_t *der, size_t cap, size_t *derlen)
{
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *p = der;
    int n, ret = PS_E_INVAL;

    if (rawlen == 0 || rawlen % 2 || rawlen > 132 || cap < rawlen + 9)
        return PS_E_INVAL;
    r = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
    s = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
    if (r == NULL || s == NULL || (sig = ECDSA_SIG_new()) == NULL || !ECDSA_SIG_set0(sig, r, s))
        goto out;
    r = s = NULL;
    if ((n = i2d_ECDSA_SIG(sig, NULL)) <= 0 || (size_t)n > cap)
        goto out;
    if (i2d_ECDSA_SIG(sig, &p) != n)
        goto out;
    *derlen = (size_t)n;
    ret = PS_OK;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return ret;
}

int ecdsa_der_to_raw(const uint8_t *der, size_t derlen, size_t n, uint8_t *raw)
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *sig;
    int ret = PS_E_INVAL;

    if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
        return PS_E_INVAL;
    ECDSA_SIG_get0(sig, &r, &s);
    if (p == der + derlen && BN_bn2binpad(r, raw, (int)n) == (int)n &&
        BN_bn2binpad(s, raw + n, (int)n) == (int)n)
        ret = PS_OK;
    ECDSA_SIG_free(sig);
    return ret;
}
