#include "sigfmt.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

/* A minimal DER INTEGER of the unsigned big-endian n bytes at p (n <= 66): 2 + its length. */
static size_t der_uint(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t i = 0, l;

    while (i < n && p[i] == 0)
        i++;
    l = i == n ? 1 : n - i + (p[i] & 0x80 ? 1 : 0);
    out[0] = 0x02;
    out[1] = (uint8_t)l;
    if (i == n || p[i] & 0x80)
        out[2] = 0; /* zero, or the pad that keeps the number positive */
    if (i < n)
        memcpy(out + 2 + l - (n - i), p + i, n - i);
    return 2 + l;
}

/* Encoded by hand (this runs for every ECDSA signature a worker returns; i2d_ECDSA_SIG
 * went through two BIGNUMs and an ASN.1 template per call). */
int ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, uint8_t *der, size_t cap, size_t *derlen)
{
    uint8_t body[2 * (2 + 67)];
    size_t n = rawlen / 2, bl, hl;

    if (rawlen == 0 || rawlen % 2 || rawlen > 132 || cap < rawlen + 9)
        return PS_E_INVAL;
    bl = der_uint(raw, n, body);
    bl += der_uint(raw + n, n, body + bl);
    der[0] = 0x30;
    if (bl < 128) {
        der[1] = (uint8_t)bl;
        hl = 2;
    } else {
        der[1] = 0x81;
        der[2] = (uint8_t)bl;
        hl = 3;
    }
    memcpy(der + hl, body, bl);
    *derlen = hl + bl;
    return PS_OK;
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
