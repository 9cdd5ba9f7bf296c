/*
 * jws_fuzz - libFuzzer target for the strict JWS verifier (protocol/jws.c).
 *   make fuzz   (or build as in checkpoint_fuzz.c, with protocol/jws.c protocol/sigfmt.c
 *   protocol/buf.c protocol/err.c, -ljansson -lcrypto -lsodium)
 * Input: a JWS, compact or flattened JSON. It is verified against the fixed root below (P-256,
 * "fuzz root", valid for 100 years; its ES256 and EdDSA leaves signed the seeds in
 * tests/fuzz/corpus/jws/, made with Python jwcrypto) at a fixed time, with every algorithm
 * allowed. Promises checked (a trap if broken): an accepted JWS has a non-empty payload, an
 * allowed alg, a leaf equal to x5c[0], and verifies again to the same payload; a refused one
 * says why and leaves the result zeroed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/pem.h>

#include "protocol/jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char root_pem[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBjzCCATWgAwIBAgIUCqN6SQNwXka/jYuLdwVddB9MkG8wCgYIKoZIzj0EAwIw\n"
                               "FDESMBAGA1UEAwwJZnV6eiByb290MCAXDTI2MTEyODE2MzgxMFoYDzIxMjYxMTA0\n"
                               "MTYzODEwWjAUMRIwEAYDVQQDDAlmdXp6IHJvb3QwWTATBgcqhkjOPQIBBggqhkjO\n"
                               "PQMBBwNCAASDbs8zqJgO1XXRFrwTHHv2zxSV9gZlMUFRan/4HjXvg5tqqQK0V/My\n"
                               "PmKmc8jDHS/NdDr6qkt0o8ed6RvQA0O/o2MwYTAdBgNVHQ4EFgQUD42EDqvb0Twv\n"
                               "j86y28sc39vUOaMwHwYDVR0jBBgwFoAUD42EDqvb0Twvj86y28sc39vUOaMwDwYD\n"
                               "VR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDSAAwRQIg\n"
                               "C1gBNy3WGTMrbNk+CYp97srqJQZzzYJTp/rFll7UUqkCIQCnCIbp697iH23czNqv\n"
                               "13f39DfXvXS4Z+OAPhn4qHmDkg==\n"
                               "-----END CERTIFICATE-----\n";

static X509_STORE *store;

static void setup(void)
{
    BIO *b = BIO_new_mem_buf(root_pem, -1);
    X509 *root = PEM_read_bio_X509(b, NULL, NULL, NULL);

    store = X509_STORE_new();
    if (root == NULL || store == NULL || X509_STORE_add_cert(store, root) != 1)
        __builtin_trap();
    X509_free(root);
    BIO_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct jws_result zero;
    struct jws_verify_opts o = {
        JWS_ES256 | JWS_EDDSA | JWS_RS256, NULL, 1798761600 /* 2027 */, 0, NULL, NULL, 1 << 20};
    struct jws_result r, r2;
    char err[512] = "";

    if (store == NULL)
        setup();
    o.roots = store;
    if (jws_verify(data, size, &o, &r, err, sizeof(err)) == PS_OK) {
        if (r.payload == NULL || r.payload_len == 0 || r.payload[r.payload_len] != 0 ||
            (o.algs & (unsigned)r.alg) == 0 || X509_cmp(r.leaf, sk_X509_value(r.x5c, 0)) != 0)
            __builtin_trap();
        if (jws_verify(data, size, &o, &r2, NULL, 0) != PS_OK || r2.payload_len != r.payload_len ||
            memcmp(r.payload, r2.payload, r.payload_len) != 0)
            __builtin_trap();
        jws_result_free(&r2);
        jws_result_free(&r);
    } else if (err[0] == 0 || memcmp(&r, &zero, sizeof(r)) != 0) {
        __builtin_trap();
    }
    return 0;
}
