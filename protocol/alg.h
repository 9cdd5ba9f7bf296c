/*
 * alg.h - signature algorithms portseal offers, by their API names.
 * Pure tables: no HSM, no OpenSSL.
 */
#ifndef PS_ALG_H
#define PS_ALG_H

#include <stddef.h>

enum ps_keytype { KT_NONE = 0, KT_RSA, KT_EC_P256, KT_EC_P384, KT_ED25519, KT_SM2 };

enum ps_alg {
    ALG_NONE = 0,
    ALG_ECDSA_SHA256,
    ALG_ECDSA_SHA384,
    ALG_RSA_PKCS1_SHA1,
    ALG_RSA_PKCS1_SHA256,
    ALG_RSA_PKCS1_SHA384,
    ALG_RSA_PKCS1_SHA512,
    ALG_RSA_PSS_SHA256,
    ALG_RSA_PSS_SHA384,
    ALG_RSA_PSS_SHA512,
    ALG_ED25519,
    ALG_SM2_SM3, /* SM2 over e = SM3(Z || M), computed by the caller (GB/T 32918) */
    ALG_MAX
};

enum ps_hash { HASH_NONE = 0, HASH_SHA1, HASH_SHA256, HASH_SHA384, HASH_SHA512, HASH_SM3 };

struct ps_alg_info {
    enum ps_alg alg;
    const char *name;    /* API name, e.g. "ecdsa-sha256" */
    int family;          /* KT_RSA, KT_EC_P256 (any EC), KT_ED25519 */
    enum ps_hash hash;   /* digest the caller hashes with */
    int pss;             /* RSA-PSS, salt length = digest length */
    int default_allowed; /* allowed when a key lists no algs */
};

/* Table entry for an algorithm, or NULL. */
const struct ps_alg_info *alg_info(enum ps_alg alg);
/* Algorithm by API name, ALG_NONE if unknown. */
enum ps_alg alg_from_name(const char *name);
/* Digest length in bytes of a hash; 0 for HASH_NONE. */
size_t hash_len(enum ps_hash h);
const char *hash_name(enum ps_hash h);
/* Whether alg can be used with a key of type kt. */
int alg_fits_key(enum ps_alg alg, enum ps_keytype kt);
/* Accepted digest length for alg: Ed25519 signs 32- or 64-byte digests as its message. */
int alg_digest_len_ok(enum ps_alg alg, size_t len);
const char *keytype_name(enum ps_keytype kt);

#endif
