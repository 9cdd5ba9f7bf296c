/*
 * formats_nomem_test - allocation failures in the JWS, AEO and P2P parsers (after nghttp2's
 * failmalloc): malloc, calloc and realloc of the whole process fail after k successful calls,
 * for k = 0, 1, 2, ... until the call under test succeeds. Every failing run must return an
 * error with a reason and leave its output empty; none may crash. Skipped under AddressSanitizer,
 * which owns malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "../unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define NOMEM_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOMEM_SKIP 1
#endif
#endif

#ifdef NOMEM_SKIP
int main(void)
{
    printf("ok - # skip allocation failures are not injected under AddressSanitizer\n");
    return unit_done();
}
#else

#include <openssl/pem.h>
#include <sodium.h>

#include "../certs/testpki.h"
#include "../../../protocol/aeo.h"
#include "../../../protocol/jws.h"
#include "../../../protocol/p2p.h"

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

static long countdown = -1; /* allocations left before failing; -1: never fail */

static int fail_now(void)
{
    if (countdown < 0)
        return 0;
    if (countdown == 0)
        return 1;
    countdown--;
    return 0;
}

void *malloc(size_t n)
{
    return fail_now() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    return fail_now() ? NULL : __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __libc_realloc(p, n);
}

static char err[512];

/* Run f with k = 0, 1, ... allocations allowed until it succeeds; count the failing runs
 * that broke the promise. */
#define FAILMALLOC(what, call, empty, cleanup)                                                     \
    do {                                                                                           \
        long k_, bad = 0;                                                                          \
        int rc_ = -1;                                                                              \
        for (k_ = 0; k_ < 100000; k_++) {                                                          \
            err[0] = 0;                                                                            \
            countdown = k_;                                                                        \
            rc_ = (call);                                                                          \
            countdown = -1;                                                                        \
            if (rc_ == PS_OK)                                                                      \
                break;                                                                             \
            if (err[0] == 0 || !(empty))                                                           \
                bad++;                                                                             \
            cleanup;                                                                               \
        }                                                                                          \
        CHECK(rc_ == PS_OK && bad == 0,                                                            \
              "%s: %ld allocation failures, each refused with a reason and no output", what, k_);  \
        cleanup;                                                                                   \
    } while (0)

static const char *csv = "aeo_id,name,address,status,valid_from,valid_until\n"
                         "AEOCN4403123456,\"Acme, Ltd.\",Pier 1,valid,2024-01-01,2027-12-31\n"
                         "AEOCN4403123457,Acme 2,Pier 2,revoked,2024-01-01,2027-12-31\n";
static const char *jsonl =
    "{\"aeo_id\":\"AEOSG20231234567X\",\"name\":\"L\",\"address\":\"A\",\"status\":\"valid\","
    "\"valid_from\":\"2024-01-01\",\"valid_until\":\"2026-12-31\"}\n";
static const char *batch =
    "{\"origin\":\"cn\",\"from\":7,\"to\":8,\"records\":[{\"seq\":7,\"aeo_id\":\"AEOCN4403123456\","
    "\"name\":\"A\",\"address\":\"B\",\"status\":\"valid\",\"valid_from\":\"2024-01-01\","
    "\"valid_until\":\"2027-12-31\",\"updated_at\":\"2026-11-01T08:00:00Z\"},{\"seq\":8,"
    "\"aeo_id\":\"AEOCN4403123457\",\"name\":\"A\",\"address\":\"B\",\"status\":\"revoked\","
    "\"valid_from\":\"2024-01-01\",\"valid_until\":\"2027-12-31\",\"updated_at\":"
    "\"2026-11-02T08:00:00Z\"}]}";
static const char *envelope =
    "{\"id\":\"sz-1\",\"from\":\"a\",\"to\":\"b\",\"seq\":1,\"type\":\"alert\",\"priority\":"
    "\"urgent\",\"created\":\"2026-11-28T11:00:00Z\",\"expires\":null,\"body\":{\"category\":"
    "\"c\",\"refs\":[\"x\",\"y\"],\"severity\":\"info\",\"text\":\"t\",\"title\":\"t\"}}";
static const char *receipt =
    "{\"message_id\":\"sz-1\",\"digest\":\"0f343b0931126a20f133d67c2b018a3b5a0cfa4a6ae1d0b2f7ab7e2"
    "d67c1e5b2\",\"received_at\":\"2026-11-28T09:16:02Z\",\"ledger_index\":null}";

static int sign_cb(void *ctx, enum jws_alg alg, const uint8_t *tbs, size_t len, uint8_t *sig,
                   size_t cap, size_t *siglen)
{
    (void)alg;
    *siglen = pki_sign_digest(ctx, EVP_sha256(), tbs, len, sig, cap);
    return *siglen ? PS_OK : PS_E_CRYPTO;
}

int main(void)
{
    static const struct jws_result zero_r;
    struct aeo_id_rules rules;
    struct aeo_list l = {0};
    struct aeo_batch b;
    struct p2p_envelope e;
    struct p2p_receipt rc;
    struct jws_result r;
    EVP_PKEY *rk, *k;
    X509 *root, *leaf;
    X509_STORE *st;
    struct buf jws;
    struct jws_params p;

    if (sodium_init() < 0)
        return 1;
    aeo_id_rules_default(&rules);
    FAILMALLOC("aeo_import (CSV)",
               aeo_import((const uint8_t *)csv, strlen(csv), &rules, &l, err, sizeof(err)),
               l.n == 0 && l.rec == NULL, aeo_list_free(&l));
    FAILMALLOC("aeo_import (JSON lines)",
               aeo_import((const uint8_t *)jsonl, strlen(jsonl), &rules, &l, err, sizeof(err)),
               l.n == 0 && l.rec == NULL, aeo_list_free(&l));
    FAILMALLOC("aeo_batch_parse",
               aeo_batch_parse((const uint8_t *)batch, strlen(batch), &rules, &b, err, sizeof(err)),
               b.records.n == 0 && b.records.rec == NULL, aeo_batch_free(&b));
    FAILMALLOC(
        "p2p_envelope_parse",
        p2p_envelope_parse((const uint8_t *)envelope, strlen(envelope), &e, err, sizeof(err)),
        e.body == NULL, p2p_envelope_free(&e));
    FAILMALLOC("p2p_receipt_parse",
               p2p_receipt_parse((const uint8_t *)receipt, strlen(receipt), &rc, err, sizeof(err)),
               rc.message_id[0] == 0, (void)0);

    rk = pki_key("P-256");
    root = pki_cert("nomem root", rk, NULL, rk, 1, "critical,keyCertSign", NULL, 1);
    k = pki_key("P-256");
    leaf = pki_cert("nomem signer", k, root, rk, 0, "critical,digitalSignature", NULL, 2);
    st = X509_STORE_new();
    X509_STORE_add_cert(st, root);
    memset(&p, 0, sizeof(p));
    p.alg = JWS_ES256;
    p.cert = leaf;
    p.kid = "k";
    buf_init(&jws, JWS_MAX_LEN);
    FAILMALLOC("jws_sign",
               jws_sign(&p, (const uint8_t *)batch, strlen(batch), sign_cb, k, JWS_COMPACT, &jws,
                        err, sizeof(err)),
               jws.len == 0, (void)0);
    {
        struct jws_verify_opts o = {JWS_ES256, st, 0, 0, NULL, NULL, 0};
        /* once without failures first: OpenSSL's one-time initialisations do not recover from
         * a failed allocation, and they are not what is under test */
        if (jws_verify(jws.data, jws.len, &o, &r, err, sizeof(err)) == PS_OK)
            jws_result_free(&r);
        FAILMALLOC("jws_verify", jws_verify(jws.data, jws.len, &o, &r, err, sizeof(err)),
                   memcmp(&r, &zero_r, sizeof(r)) == 0, jws_result_free(&r));
    }
    buf_free(&jws);
    X509_STORE_free(st);
    X509_free(leaf);
    X509_free(root);
    EVP_PKEY_free(k);
    EVP_PKEY_free(rk);
    return unit_done();
}
#endif
