/*
 * c14n-bench - the streaming canonicaliser (protocol/c14n.c) into SHA-256, as the CEB fast
 * path runs it (protocol/ceb.c: parse_fast, sink_digest).
 *
 *   c14n-bench [-n DOCS] [-r ROUNDS] FILE
 *
 * Each round canonicalises FILE DOCS times, each into a fresh SHA-256, and then hashes the
 * bare bytes of FILE DOCS times (the reference: what the digest alone costs, same run). The
 * best round of each is kept, since other processes share the machine.
 * Prints one "KEY value" line per figure; the digest line lets two builds be compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../protocol/c14n.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sink_digest(void *ctx, const uint8_t *p, size_t n)
{
    return EVP_DigestUpdate(ctx, p, n) ? PS_OK : PS_E_CRYPTO;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (p = malloc((size_t)n)) == NULL ||
        fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    } else {
        *len = (size_t)n;
    }
    if (f)
        fclose(f);
    return p;
}

/* One canonicalisation into mc; 0 on success, the digest in md. */
static int c14n_once(EVP_MD_CTX *mc, const uint8_t *xml, size_t len, uint8_t *md)
{
    struct c14n_info info;
    unsigned int mdlen;

    if (!EVP_DigestInit_ex(mc, EVP_sha256(), NULL) ||
        c14n_document(xml, len, 64, sink_digest, mc, &info) != PS_OK ||
        !EVP_DigestFinal_ex(mc, md, &mdlen))
        return -1;
    return 0;
}

static int sha_once(EVP_MD_CTX *mc, const uint8_t *xml, size_t len, uint8_t *md)
{
    unsigned int mdlen;

    if (!EVP_DigestInit_ex(mc, EVP_sha256(), NULL) || !EVP_DigestUpdate(mc, xml, len) ||
        !EVP_DigestFinal_ex(mc, md, &mdlen))
        return -1;
    return 0;
}

/* Microseconds per document over n documents of fn. */
static double time_docs(int (*fn)(EVP_MD_CTX *, const uint8_t *, size_t, uint8_t *), EVP_MD_CTX *mc,
                        const uint8_t *xml, size_t len, long n, uint8_t *md)
{
    double t0 = now();

    for (long i = 0; i < n; i++)
        if (fn(mc, xml, len, md) != 0)
            return -1;
    return (now() - t0) * 1e6 / (double)n;
}

int main(int argc, char **argv)
{
    long docs = 20000, rounds = 7;
    double best_c = 0, best_s = 0;
    uint8_t md[32], *xml;
    EVP_MD_CTX *mc;
    size_t len;
    int opt;

    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        char *e;

        if (opt == 'n' && (docs = strtol(optarg, &e, 10)) > 0 && *e == 0)
            continue;
        if (opt == 'r' && (rounds = strtol(optarg, &e, 10)) > 0 && *e == 0)
            continue;
        fprintf(stderr, "usage: c14n-bench [-n DOCS] [-r ROUNDS] FILE\n");
        return 2;
    }
    if (optind + 1 != argc || (xml = slurp(argv[optind], &len)) == NULL) {
        fprintf(stderr, "usage: c14n-bench [-n DOCS] [-r ROUNDS] FILE (readable, not empty)\n");
        return 2;
    }
    if ((mc = EVP_MD_CTX_new()) == NULL || c14n_once(mc, xml, len, md) != 0) {
        fprintf(stderr, "c14n-bench: %s is not taken by c14n_document\n", argv[optind]);
        return 1;
    }
    printf("digest ");
    for (size_t i = 0; i < sizeof(md); i++)
        printf("%02x", md[i]);
    printf("\n");
    for (long r = 0; r < rounds; r++) {
        uint8_t scratch[32];
        double c = time_docs(c14n_once, mc, xml, len, docs, scratch);
        double s = time_docs(sha_once, mc, xml, len, docs, scratch);

        if (c < 0 || s < 0)
            return 1;
        if (r == 0 || c < best_c)
            best_c = c;
        if (r == 0 || s < best_s)
            best_s = s;
    }
    printf("bytes %zu\n", len);
    printf("c14n_sha256_us %.3f\n", best_c);
    printf("sha256_us %.3f\n", best_s);
    printf("ratio %.2f\n", best_c / best_s);
    EVP_MD_CTX_free(mc);
    free(xml);
    return 0;
}
