#include "sm2.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

int sm2_z(EVP_PKEY *pub, uint8_t z[32])
{
    static const char id[] = SM2_DEFAULT_ID;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
    BIGNUM *p = BN_new(), *a = BN_new(), *b = BN_new();
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    uint8_t buf[32], pt[65], gp[65];
    size_t ptl = 0;
    unsigned int zl = 0;
    uint16_t entl = (uint16_t)((sizeof(id) - 1) * 8);
    uint8_t entl_be[2] = {(uint8_t)(entl >> 8), (uint8_t)entl};
    int r = PS_E_CRYPTO;

    if (g == NULL || p == NULL || a == NULL || b == NULL || mc == NULL ||
        !EC_GROUP_get_curve(g, p, a, b, NULL) ||
        !EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl) ||
        ptl != 65 || pt[0] != 0x04)
        goto out;
    if (!EVP_DigestInit_ex(mc, EVP_sm3(), NULL) || !EVP_DigestUpdate(mc, entl_be, 2) ||
        !EVP_DigestUpdate(mc, id, sizeof(id) - 1))
        goto out;
    if (BN_bn2binpad(a, buf, 32) != 32 || !EVP_DigestUpdate(mc, buf, 32) ||
        BN_bn2binpad(b, buf, 32) != 32 || !EVP_DigestUpdate(mc, buf, 32))
        goto out;
    if (EC_POINT_point2oct(g, EC_GROUP_get0_generator(g), POINT_CONVERSION_UNCOMPRESSED, gp,
                           sizeof(gp), NULL) != 65 ||
        !EVP_DigestUpdate(mc, gp + 1, 64))
        goto out;
    if (!EVP_DigestUpdate(mc, pt + 1, 64) || !EVP_DigestFinal_ex(mc, z, &zl) || zl != 32)
        goto out;
    r = PS_OK;
out:
    EVP_MD_CTX_free(mc);
    BN_free(p);
    BN_free(a);
    BN_free(b);
    EC_GROUP_free(g);
    return r;
}

int sm2_digest_e_z(const uint8_t z[32], const uint8_t *msg, size_t len, uint8_t e[32])
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    unsigned int el = 0;
    int ok;

    ok = mc != NULL && EVP_DigestInit_ex(mc, EVP_sm3(), NULL) && EVP_DigestUpdate(mc, z, 32) &&
         EVP_DigestUpdate(mc, msg, len) && EVP_DigestFinal_ex(mc, e, &el) && el == 32;
    EVP_MD_CTX_free(mc);
    return ok ? PS_OK : PS_E_CRYPTO;
}

int sm2_digest_e(EVP_PKEY *pub, const uint8_t *msg, size_t len, uint8_t e[32])
{
    uint8_t z[32];
    int r = sm2_z(pub, z);

    return r == PS_OK ? sm2_digest_e_z(z, msg, len, e) : r;
}
