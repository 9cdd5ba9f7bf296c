/*
 * testdata.h - helpers for unit tests that read files under tests/data (the runner starts
 * them from the repository root) and check the public China E-port SM2 signatures there.
 */
#ifndef PS_TESTDATA_H
#define PS_TESTDATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* s with the first occurrence of from replaced by to (malloc'd); exits if from is absent. */
static inline char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t a, f = strlen(from), t = strlen(to), n = strlen(s);
    char *r;

    if (at == NULL || (r = malloc(n - f + t + 1)) == NULL) {
        fprintf(stderr, "test bug: \"%s\" not found\n", from);
        exit(1);
    }
    a = (size_t)(at - s);
    memcpy(r, s, a);
    memcpy(r + a, to, t);
    memcpy(r + a + t, at + f, n - a - f + 1);
    return r;
}

/* The whole file, NUL-terminated (not counted in *len); exits if it cannot be read. */
static inline uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (p = malloc((size_t)n + 1)) == NULL ||
        fread(p, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

/* SM2 with SM3 and the default ID over msg, with the certificate's key */
static inline int sm2_verify(X509 *cert, const uint8_t *msg, size_t ml, const uint8_t *der,
                             size_t dl)
{
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
    int ok = 0;

    if (mc && pc && EVP_PKEY_CTX_set1_id(pc, "1234567812345678", 16) > 0) {
        EVP_MD_CTX_set_pkey_ctx(mc, pc);
        ok = EVP_DigestVerifyInit(mc, NULL, EVP_sm3(), NULL, pk) == 1 &&
             EVP_DigestVerify(mc, der, dl, msg, ml) == 1;
    }
    EVP_MD_CTX_free(mc);
    EVP_PKEY_CTX_free(pc);
    return ok;
}

#endif
