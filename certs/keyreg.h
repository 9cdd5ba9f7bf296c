/*
 * keyreg.h - the key registry: each configured key with its certificate chain.
 * Loaded by the keyholder (policy) and by workers (listing, CMS). Public material only.
 * keyreg_load allocates; keyreg_free releases everything.
 */
#ifndef PS_KEYREG_H
#define PS_KEYREG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "../appliance/config.h"
#include "../protocol/alg.h"
#include "../protocol/ceb.h"

struct key_entry {
    const struct cfg_key *cfg; /* points into the config the registry was loaded from */
    X509 *cert;
    STACK_OF(X509) * chain; /* certificates after the leaf, in file order */
    EVP_PKEY *pub;
    enum ps_keytype type;
    unsigned bits;
    unsigned algs;                     /* effective allowed algorithms, bit per enum ps_alg */
    const struct ceb_profile *profile; /* default XML signature profile */
    char certno[64];                   /* certificate serial, lowercase hex (CEB KeyName) */
    char *cert_b64;                    /* the certificate, DER in base64 (X509Certificate) */
    size_t cert_b64_len;
    uint8_t sm2_z[32]; /* KT_SM2: Z = SM3(ENTL || ID || curve || key), the default ID */
    time_t not_before, not_after;
};

struct keyreg {
    struct key_entry *keys;
    size_t n;
};

int keyreg_load(const struct config *cfg, struct keyreg *out, char *err, size_t errlen) PS_WUR;
void keyreg_free(struct keyreg *r);
const struct key_entry *keyreg_find(const struct keyreg *r, const char *id);
int key_alg_allowed(const struct key_entry *k, enum ps_alg alg);
/* A certificate's serial as lowercase hex (the CEB certNo / KeyName). */
void x509_certno(const X509 *x, char *out, size_t cap);
/* Key type of a public key, with its size. */
enum ps_keytype pkey_type(EVP_PKEY *pk, unsigned *bits);

#endif
