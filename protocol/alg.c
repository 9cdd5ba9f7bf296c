#include "alg.h"

#include <string.h>

static const struct ps_alg_info algs[] = {
    {ALG_ECDSA_SHA256, "ecdsa-sha256", KT_EC_P256, HASH_SHA256, 0, 1},
    {ALG_ECDSA_SHA384, "ecdsa-sha384", KT_EC_P256, HASH_SHA384, 0, 1},
    {ALG_RSA_PKCS1_SHA1, "rsa-pkcs1-sha1", KT_RSA, HASH_SHA1, 0, 0},
    {ALG_RSA_PKCS1_SHA256, "rsa-pkcs1-sha256", KT_RSA, HASH_SHA256, 0, 1},
    {ALG_RSA_PKCS1_SHA384, "rsa-pkcs1-sha384", KT_RSA, HASH_SHA384, 0, 1},
    {ALG_RSA_PKCS1_SHA512, "rsa-pkcs1-sha512", KT_RSA, HASH_SHA512, 0, 1},
    {ALG_RSA_PSS_SHA256, "rsa-pss-sha256", KT_RSA, HASH_SHA256, 1, 1},
    {ALG_RSA_PSS_SHA384, "rsa-pss-sha384", KT_RSA, HASH_SHA384, 1, 1},
    {ALG_RSA_PSS_SHA512, "rsa-pss-sha512", KT_RSA, HASH_SHA512, 1, 1},
    {ALG_ED25519, "ed25519", KT_ED25519, HASH_NONE, 0, 1},
    {ALG_SM2_SM3, "sm2-sm3", KT_SM2, HASH_SM3, 0, 1},
};

const struct ps_alg_info *alg_info(enum ps_alg alg)
{
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (algs[i].alg == alg)
            return &algs[i];
    return NULL;
}

enum ps_alg alg_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (strcmp(algs[i].name, name) == 0)
            return algs[i].alg;
    return ALG_NONE;
}

size_t hash_len(enum ps_hash h)
{
    switch (h) {
    case HASH_SHA1: return 20;
    case HASH_SHA256: return 32;
    case HASH_SHA384: return 48;
    case HASH_SHA512: return 64;
    case HASH_SM3: return 32;
    default: return 0;
    }
}

const char *hash_name(enum ps_hash h)
{
    switch (h) {
    case HASH_SHA1: return "sha1";
    case HASH_SHA256: return "sha256";
    case HASH_SHA384: return "sha384";
    case HASH_SHA512: return "sha512";
    case HASH_SM3: return "sm3";
    default: return "none";
    }
}

int alg_fits_key(enum ps_alg alg, enum ps_keytype kt)
{
    const struct ps_alg_info *ai = alg_info(alg);

    if (ai == NULL)
        return 0;
    if (ai->family == KT_EC_P256)
        return kt == KT_EC_P256 || kt == KT_EC_P384;
    return ai->family == (int)kt;
}

int alg_digest_len_ok(enum ps_alg alg, size_t len)
{
    const struct ps_alg_info *ai = alg_info(alg);

    if (ai == NULL)
        return 0;
    if (ai->hash == HASH_NONE)
        return len == 32 || len == 64;
    return len == hash_len(ai->hash);
}

const char *keytype_name(enum ps_keytype kt)
{
    switch (kt) {
    case KT_RSA: return "rsa";
    case KT_EC_P256: return "ec-p256";
    case KT_EC_P384: return "ec-p384";
    case KT_ED25519: return "ed25519";
    case KT_SM2: return "sm2";
    default: return "unknown";
    }
}
