/*
 * merkle_test - protocol/merkle.c against an independent reference written here: SHA-256 from
 * OpenSSL, and MTH, PATH and SUBPROOF as the recursive definitions of RFC 6962 §2.1, over
 * every tree size 1..130 with every leaf index and every old size. Generated proofs must equal
 * the reference and verify; every single-hash tamper (replaced, dropped, swapped, inserted),
 * byte flips, wrong index, wrong size and wrong root must fail (every byte and every other
 * index and size up to 32 leaves, a sample above: see FULL). Also the Certificate Transparency
 * test vectors (the RFC 6962 tree of the CT reference implementation), trees near 2^63 leaves,
 * and callback errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../../../protocol/merkle.h"
#include "../unit.h"

#define N    130
#define HLEN MERKLE_HASH_LEN

/* ---- the reference: RFC 6962 §2.1 as written, hashing with OpenSSL ---- */

static void sha256(const uint8_t *a, size_t al, const uint8_t *b, size_t bl, const uint8_t *c,
                   size_t cl, uint8_t out[HLEN])
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();

    if (mc == NULL || !EVP_DigestInit_ex(mc, EVP_sha256(), NULL) || !EVP_DigestUpdate(mc, a, al) ||
        !EVP_DigestUpdate(mc, b, bl) || !EVP_DigestUpdate(mc, c, cl) ||
        !EVP_DigestFinal_ex(mc, out, NULL)) {
        fprintf(stderr, "EVP SHA-256 failed\n");
        exit(1);
    }
    EVP_MD_CTX_free(mc);
}

static void ref_leaf(const uint8_t *d, size_t n, uint8_t out[HLEN])
{
    static const uint8_t zero = 0x00;

    sha256(&zero, 1, d, n, NULL, 0, out);
}

static void ref_node(const uint8_t l[HLEN], const uint8_t r[HLEN], uint8_t out[HLEN])
{
    static const uint8_t one = 0x01;

    sha256(&one, 1, l, HLEN, r, HLEN, out);
}

/* k: the largest power of two smaller than n (n > 1) */
static uint64_t ref_k(uint64_t n)
{
    uint64_t k = 1;

    while (k * 2 < n)
        k *= 2;
    return k;
}

static uint8_t leaves[N][HLEN];
/* memo[s][n - 1]: MTH(leaves[s : s + n]) once computed (the recursion gets slow otherwise) */
static uint8_t memo[N][N][HLEN], memo_have[N][N];

/* MTH(D[n]) over leaf hashes */
static void ref_mth(const uint8_t (*d)[HLEN], uint64_t n, uint8_t out[HLEN])
{
    uint8_t l[HLEN], r[HLEN];
    uint64_t k, s = (uint64_t)(d - (const uint8_t(*)[HLEN])leaves);

    if (n > 1 && s < N && memo_have[s][n - 1]) {
        memcpy(out, memo[s][n - 1], HLEN);
    } else if (n == 0) {
        sha256(NULL, 0, NULL, 0, NULL, 0, out);
    } else if (n == 1) {
        memcpy(out, d[0], HLEN);
    } else {
        k = ref_k(n);
        ref_mth(d, k, l);
        ref_mth(d + k, n - k, r);
        ref_node(l, r, out);
        if (s < N && s + n <= N) {
            memcpy(memo[s][n - 1], out, HLEN);
            memo_have[s][n - 1] = 1;
        }
    }
}

/* PATH(m, D[n]), appended to p */
static void ref_path(uint64_t m, const uint8_t (*d)[HLEN], uint64_t n, struct merkle_proof *p)
{
    uint64_t k;

    if (n <= 1)
        return;
    k = ref_k(n);
    if (m < k) {
        ref_path(m, d, k, p);
        ref_mth(d + k, n - k, p->hash[p->len++]);
    } else {
        ref_path(m - k, d + k, n - k, p);
        ref_mth(d, k, p->hash[p->len++]);
    }
}

/* SUBPROOF(m, D[n], b), appended to p */
static void ref_subproof(uint64_t m, const uint8_t (*d)[HLEN], uint64_t n, int b,
                         struct merkle_proof *p)
{
    uint64_t k;

    if (m == n) {
        if (!b)
            ref_mth(d, n, p->hash[p->len++]);
        return;
    }
    k = ref_k(n);
    if (m <= k) {
        ref_subproof(m, d, k, b, p);
        ref_mth(d + k, n - k, p->hash[p->len++]);
    } else {
        ref_subproof(m - k, d + k, n - k, 0, p);
        ref_mth(d, k, p->hash[p->len++]);
    }
}

/* ---- the tree under test and the callbacks a store would provide ---- */

static uint8_t roots[N + 1][HLEN];

/* complete subtrees reported by merkle_frontier_append: stored[level][start >> level] */
static uint8_t stored[8][N][HLEN];
static uint8_t have[8][N];
static size_t emitted, emit_bad;

/* What a proof generator may ask for: see merkle.h. */
struct gen {
    uint64_t size1, size2; /* the sizes the current proof is about */
    size_t calls, bad;
    int fail_at; /* return PS_E_STORAGE on this call (0: never) */
};

static int aligned(uint64_t s, uint64_t e)
{
    uint64_t w = e - s, top = 1;

    while (top * 2 <= w)
        top *= 2;
    return s % top == 0;
}

static int complete(uint64_t s, uint64_t e)
{
    uint64_t w = e - s;

    return (w & (w - 1)) == 0 && s % w == 0;
}

static int node_naive(void *ctx, uint64_t s, uint64_t e, uint8_t out[HLEN])
{
    struct gen *g = ctx;

    g->calls++;
    if (g->fail_at && (int)g->calls == g->fail_at)
        return PS_E_STORAGE;
    if (s >= e || e > N || !(complete(s, e) || ((e == g->size1 || e == g->size2) && aligned(s, e))))
        g->bad++;
    if (s < e && e <= N)
        ref_mth(leaves + s, e - s, out);
    return PS_OK;
}

static int subtree_stored(void *ctx, uint64_t s, uint64_t e, uint8_t out[HLEN])
{
    struct gen *g = ctx;
    unsigned level = 0;

    while ((UINT64_C(1) << level) < e - s)
        level++;
    if (!complete(s, e) || e > g->size2 || level >= 8 || !have[level][s >> level]) {
        g->bad++;
        memset(out, 0, HLEN);
        return PS_OK;
    }
    memcpy(out, stored[level][s >> level], HLEN);
    return PS_OK;
}

static int node_stored(void *ctx, uint64_t s, uint64_t e, uint8_t out[HLEN])
{
    struct gen *g = ctx;

    g->calls++;
    if (!(complete(s, e) || ((e == g->size1 || e == g->size2) && aligned(s, e))))
        g->bad++;
    return merkle_range_hash(subtree_stored, ctx, s, e, out);
}

static int emit(void *ctx, uint64_t start, unsigned level, const uint8_t hash[HLEN])
{
    uint8_t want[HLEN];

    (void)ctx;
    emitted++;
    if (level >= 8 || start % (UINT64_C(1) << level) != 0 || start + (UINT64_C(1) << level) > N) {
        emit_bad++;
        return PS_OK;
    }
    ref_mth(leaves + start, UINT64_C(1) << level, want);
    if (memcmp(want, hash, HLEN) != 0)
        emit_bad++;
    memcpy(stored[level][start >> level], hash, HLEN);
    have[level][start >> level] = 1;
    return PS_OK;
}

static int proof_eq(const struct merkle_proof *a, const struct merkle_proof *b)
{
    return a->len == b->len && memcmp(a->hash, b->hash, a->len * HLEN) == 0;
}

static void hex2bin(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + (size_t)j];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
}

static void setup(void)
{
    struct merkle_frontier f;
    uint8_t data[3];

    memset(memo_have, 0, sizeof(memo_have));
    memset(have, 0, sizeof(have));
    emitted = emit_bad = 0;
    for (int i = 0; i < N; i++) {
        data[0] = (uint8_t)i;
        data[1] = (uint8_t)(i >> 8);
        data[2] = 'L';
        ref_leaf(data, sizeof(data), leaves[i]);
    }
    for (int n = 0; n <= N; n++)
        ref_mth(leaves, (uint64_t)n, roots[n]);
    merkle_frontier_init(&f);
    for (int i = 0; i < N; i++)
        if (merkle_frontier_append(&f, leaves[i], emit, NULL) != PS_OK)
            exit(1);
}

/* ---- known answers ---- */

static void test_known_answers(void)
{
    /* the Certificate Transparency reference tree (also used by transparency-dev/merkle) */
    static const char *const ct_data[8] = {"",
                                           "00",
                                           "10",
                                           "2021",
                                           "3031",
                                           "40414243",
                                           "5051525354555657",
                                           "606162636465666768696a6b6c6d6e6f"};
    static const char *const ct_roots[9] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    static const struct {
        int kind; /* 0 inclusion (a = index), 1 consistency (a = old size) */
        uint64_t a, size;
        size_t len;
        const char *hash[3];
    } vec[] = {
        {0,
         0,
         8,
         3,
         {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {0,
         5,
         8,
         3,
         {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
        {1,
         2,
         8,
         2,
         {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {1,
         6,
         8,
         3,
         {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
        {1,
         2,
         5,
         2,
         {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    };
    uint8_t ct_leaves[8][HLEN], data[16], h[HLEN], want[HLEN], r[9][HLEN];
    struct merkle_proof p, expect;
    int ok = 1;

    merkle_empty_root(h);
    hex2bin(ct_roots[0], want, HLEN);
    CHECK(memcmp(h, want, HLEN) == 0, "empty tree root is SHA-256(\"\") = e3b0c442...b855");
    CHECK(merkle_root(NULL, 0, h) == PS_OK && memcmp(h, want, HLEN) == 0,
          "merkle_root of no leaves is the empty root");

    merkle_leaf_hash((const uint8_t *)"portseal", 8, h);
    ref_leaf((const uint8_t *)"portseal", 8, want);
    CHECK(memcmp(h, want, HLEN) == 0, "leaf hash is SHA-256(0x00 || data)");
    CHECK(merkle_root(h, 1, r[0]) == PS_OK && memcmp(r[0], want, HLEN) == 0,
          "one-leaf root is SHA-256(0x00 || data)");
    ref_node(leaves[0], leaves[1], want);
    merkle_node_hash(leaves[0], leaves[1], h);
    CHECK(memcmp(h, want, HLEN) == 0, "node hash is SHA-256(0x01 || left || right)");

    for (int i = 0; i < 8; i++) {
        size_t n = strlen(ct_data[i]) / 2;
        hex2bin(ct_data[i], data, n);
        merkle_leaf_hash(data, n, ct_leaves[i]);
    }
    for (int n = 0; n <= 8; n++) {
        hex2bin(ct_roots[n], want, HLEN);
        memcpy(r[n], want, HLEN);
        if (merkle_root(ct_leaves[0], (uint64_t)n, h) != PS_OK || memcmp(h, want, HLEN) != 0) {
            printf("# CT root of size %d differs\n", n);
            ok = 0;
        }
    }
    CHECK(ok, "CT reference roots for sizes 0..8");

    ok = 1;
    for (size_t v = 0; v < sizeof(vec) / sizeof(vec[0]); v++) {
        int rc;
        expect.len = vec[v].len;
        for (size_t j = 0; j < vec[v].len; j++)
            hex2bin(vec[v].hash[j], expect.hash[j], HLEN);
        /* generate from the CT leaves with a naive callback over them */
        struct gen g = {vec[v].a, vec[v].size, 0, 0, 0};
        memcpy(leaves, ct_leaves, sizeof(ct_leaves)); /* restored by setup() below */
        memset(memo_have, 0, sizeof(memo_have));
        if (vec[v].kind == 0) {
            rc = merkle_inclusion_proof(vec[v].a, vec[v].size, node_naive, &g, &p);
            rc = rc ? rc
                    : merkle_verify_inclusion(ct_leaves[vec[v].a], vec[v].a, vec[v].size, &expect,
                                              r[vec[v].size]);
        } else {
            rc = merkle_consistency_proof(vec[v].a, vec[v].size, node_naive, &g, &p);
            rc = rc ? rc
                    : merkle_verify_consistency(vec[v].a, vec[v].size, &expect, r[vec[v].a],
                                                r[vec[v].size]);
        }
        if (rc != PS_OK || !proof_eq(&p, &expect) || g.bad) {
            printf("# CT vector %zu: rc %d, proof %s\n", v, rc,
                   proof_eq(&p, &expect) ? "equal" : "differs");
            ok = 0;
        }
    }
    CHECK(ok, "CT reference inclusion proofs (0,8) (5,8) and consistency proofs (2,8) (6,8) (2,5)");
    setup();
}

/* ---- every size 1..130 ---- */

static void test_roots_and_frontier(void)
{
    struct merkle_frontier f;
    uint8_t h[HLEN];
    size_t want_emitted = 0;
    int ok_root = 1, ok_front = 1;

    for (int n = 0; n <= N; n++) {
        if (merkle_root(leaves[0], (uint64_t)n, h) != PS_OK || memcmp(h, roots[n], HLEN) != 0)
            ok_root = 0;
    }
    CHECK(ok_root, "merkle_root equals the reference MTH for every size 0..%d", N);

    merkle_frontier_init(&f);
    merkle_frontier_root(&f, h);
    ok_front = memcmp(h, roots[0], HLEN) == 0;
    for (int n = 1; n <= N; n++) {
        if (merkle_frontier_append(&f, leaves[n - 1], NULL, NULL) != PS_OK || f.size != (uint64_t)n)
            ok_front = 0;
        merkle_frontier_root(&f, h);
        if (memcmp(h, roots[n], HLEN) != 0) {
            printf("# frontier root differs at size %d\n", n);
            ok_front = 0;
        }
    }
    CHECK(ok_front, "frontier root equals the reference MTH at every size 0..%d", N);

    for (int l = 0; l < 8; l++)
        want_emitted += (size_t)(N >> l);
    CHECK(emitted == want_emitted && emit_bad == 0,
          "append reports every complete subtree once with the right hash (%zu, want %zu)", emitted,
          want_emitted);

    ok_front = 1;
    for (int n = 0; n <= N; n++) {
        struct gen g = {0, (uint64_t)n, 0, 0, 0};
        struct merkle_frontier lf;
        if (merkle_frontier_load(&lf, (uint64_t)n, subtree_stored, &g) != PS_OK || g.bad ||
            lf.size != (uint64_t)n)
            ok_front = 0;
        merkle_frontier_root(&lf, h);
        if (memcmp(h, roots[n], HLEN) != 0)
            ok_front = 0;
        /* and it keeps growing like the original */
        if (n < N) {
            if (merkle_frontier_append(&lf, leaves[n], NULL, NULL) != PS_OK)
                ok_front = 0;
            merkle_frontier_root(&lf, h);
            if (memcmp(h, roots[n + 1], HLEN) != 0)
                ok_front = 0;
        }
    }
    CHECK(ok_front, "frontier loaded from stored subtrees at every size has the right root and "
                    "appends on");
}

/*
 * Trees up to FULL leaves get every tamper: each byte of each hash, every other index and size.
 * Larger trees (to keep the test quick) get one byte per hash, rotating with the index, and
 * the neighbouring and mirrored indexes and sizes; every whole-hash tamper still.
 */
#define FULL 32

static size_t byte0(uint64_t n, uint64_t a, size_t j)
{
    return n <= FULL ? 0 : (size_t)(a + j * 7) % HLEN;
}

static size_t bstep(uint64_t n)
{
    return n <= FULL ? 1 : HLEN;
}

static int near(uint64_t n, uint64_t a, uint64_t b)
{
    return n <= FULL || a + 1 == b || b + 1 == a || a + b + 1 == n;
}

/* leaf i in the tree of size n: does proof p verify against root? */
static int incl_ok(uint64_t i, uint64_t n, const struct merkle_proof *p, const uint8_t root[HLEN])
{
    return merkle_verify_inclusion(leaves[i], i, n, p, root) == PS_OK;
}

/* Every single-byte and single-hash change of a proof that verifies must make it fail. */
static int tamper_inclusion(uint64_t i, uint64_t n, const struct merkle_proof *good)
{
    static struct merkle_proof p;
    uint8_t leaf[HLEN], root[HLEN];
    int bad = 0;

    for (size_t j = 0; j < good->len; j++) {
        for (size_t b = byte0(n, i, j); b < HLEN; b += bstep(n)) {
            p = *good;
            p.hash[j][b] ^= (uint8_t)(1u << (b % 8));
            bad += incl_ok(i, n, &p, roots[n]);
        }
        p = *good; /* replace by another node's hash */
        memcpy(p.hash[j], leaves[(i + 1) % N], HLEN);
        bad += memcmp(p.hash[j], good->hash[j], HLEN) != 0 && incl_ok(i, n, &p, roots[n]);
        p = *good; /* drop hash j */
        memmove(p.hash[j], p.hash[j + 1], (p.len - j - 1) * HLEN);
        p.len--;
        bad += incl_ok(i, n, &p, roots[n]);
        if (j + 1 < good->len && memcmp(good->hash[j], good->hash[j + 1], HLEN) != 0) {
            p = *good; /* swap neighbours */
            memcpy(p.hash[j], good->hash[j + 1], HLEN);
            memcpy(p.hash[j + 1], good->hash[j], HLEN);
            bad += incl_ok(i, n, &p, roots[n]);
        }
    }
    for (size_t j = 0; j <= good->len && good->len < MERKLE_MAX_PROOF; j++) {
        p = *good; /* insert an extra hash anywhere */
        memmove(p.hash[j + 1], p.hash[j], (p.len - j) * HLEN);
        memcpy(p.hash[j], roots[n], HLEN);
        p.len++;
        bad += incl_ok(i, n, &p, roots[n]);
    }
    for (size_t b = byte0(n, i, 3); b < HLEN; b += bstep(n)) {
        memcpy(leaf, leaves[i], HLEN);
        leaf[b] ^= 0x80;
        bad += merkle_verify_inclusion(leaf, i, n, good, roots[n]) == PS_OK;
        memcpy(root, roots[n], HLEN);
        root[b] ^= 0x01;
        bad += merkle_verify_inclusion(leaves[i], i, n, good, root) == PS_OK;
    }
    return bad;
}

static void test_inclusion(void)
{
    static struct merkle_proof want, got, got2;
    size_t proofs = 0, mism = 0, fails = 0, tampered = 0, wrong_index = 0, wrong_size = 0,
           contract = 0, calls = 0;

    for (uint64_t n = 1; n <= N; n++) {
        for (uint64_t i = 0; i < n; i++) {
            struct gen g = {n, n, 0, 0, 0}, g2 = {n, n, 0, 0, 0};
            want.len = 0;
            ref_path(i, (const uint8_t(*)[HLEN])leaves, n, &want);
            if (merkle_inclusion_proof(i, n, node_naive, &g, &got) != PS_OK ||
                merkle_inclusion_proof(i, n, node_stored, &g2, &got2) != PS_OK ||
                !proof_eq(&want, &got) || !proof_eq(&want, &got2)) {
                if (mism++ == 0)
                    printf("# inclusion proof (%llu, %llu) differs from PATH\n",
                           (unsigned long long)i, (unsigned long long)n);
            }
            contract += g.bad + g2.bad;
            calls += g.calls != want.len;
            if (!incl_ok(i, n, &got, roots[n]))
                fails++;
            tampered += (size_t)tamper_inclusion(i, n, &got);
            for (uint64_t j = 0; j < n; j++)
                wrong_index += j != i && near(n, i, j) && incl_ok(j, n, &got, roots[n]);
            for (uint64_t m = i + 1; m <= N; m++)
                wrong_size += m != n && near(n, n, m) && incl_ok(i, m, &got, roots[m]);
            proofs++;
        }
    }
    CHECK(mism == 0,
          "%zu inclusion proofs (every index of sizes 1..%d) equal PATH, with a "
          "naive and with a stored-subtree callback",
          proofs, N);
    CHECK(contract == 0 && calls == 0,
          "inclusion generators ask only for proof nodes, complete or right-edge ranges");
    CHECK(fails == 0, "every generated inclusion proof verifies");
    CHECK(tampered == 0,
          "every replaced, dropped, swapped or inserted hash and every byte flip in "
          "a hash, the leaf or the root fails (%zu accepted)",
          tampered);
    CHECK(wrong_index == 0, "no inclusion proof verifies at another index of its tree (%zu)",
          wrong_index);
    CHECK(wrong_size == 0, "no inclusion proof verifies against another size and its root (%zu)",
          wrong_size);
}

static int cons_ok(uint64_t m, uint64_t n, const struct merkle_proof *p, const uint8_t *r1,
                   const uint8_t *r2)
{
    return merkle_verify_consistency(m, n, p, r1, r2) == PS_OK;
}

static int tamper_consistency(uint64_t m, uint64_t n, const struct merkle_proof *good)
{
    static struct merkle_proof p;
    uint8_t r[HLEN];
    int bad = 0;

    for (size_t j = 0; j < good->len; j++) {
        for (size_t b = byte0(n, m, j); b < HLEN; b += bstep(n)) {
            p = *good;
            p.hash[j][b] ^= (uint8_t)(1u << (b % 8));
            bad += cons_ok(m, n, &p, roots[m], roots[n]);
        }
        p = *good;
        memcpy(p.hash[j], leaves[(m + j) % N], HLEN);
        bad += memcmp(p.hash[j], good->hash[j], HLEN) != 0 && cons_ok(m, n, &p, roots[m], roots[n]);
        p = *good;
        memmove(p.hash[j], p.hash[j + 1], (p.len - j - 1) * HLEN);
        p.len--;
        bad += cons_ok(m, n, &p, roots[m], roots[n]);
        if (j + 1 < good->len && memcmp(good->hash[j], good->hash[j + 1], HLEN) != 0) {
            p = *good;
            memcpy(p.hash[j], good->hash[j + 1], HLEN);
            memcpy(p.hash[j + 1], good->hash[j], HLEN);
            bad += cons_ok(m, n, &p, roots[m], roots[n]);
        }
    }
    for (size_t j = 0; j <= good->len && good->len < MERKLE_MAX_PROOF; j++) {
        p = *good;
        memmove(p.hash[j + 1], p.hash[j], (p.len - j) * HLEN);
        memcpy(p.hash[j], roots[m], HLEN);
        p.len++;
        bad += cons_ok(m, n, &p, roots[m], roots[n]);
    }
    for (size_t b = byte0(n, m, 5); b < HLEN; b += bstep(n)) {
        memcpy(r, roots[m], HLEN);
        r[b] ^= 0x40;
        bad += cons_ok(m, n, good, r, roots[n]);
        memcpy(r, roots[n], HLEN); /* anything is consistent with the empty tree */
        r[b] ^= 0x02;
        bad += m > 0 && cons_ok(m, n, good, roots[m], r);
    }
    return bad;
}

static void test_consistency(void)
{
    static struct merkle_proof want, got, got2;
    size_t proofs = 0, mism = 0, fails = 0, tampered = 0, wrong = 0, contract = 0, calls = 0;

    for (uint64_t n = 1; n <= N; n++) {
        for (uint64_t m = 0; m <= n; m++) {
            struct gen g = {m, n, 0, 0, 0}, g2 = {m, n, 0, 0, 0};
            want.len = 0;
            if (m > 0) /* PROOF(m, D[n]) = SUBPROOF(m, D[n], true); nothing to prove from 0 */
                ref_subproof(m, (const uint8_t(*)[HLEN])leaves, n, 1, &want);
            if (merkle_consistency_proof(m, n, node_naive, &g, &got) != PS_OK ||
                merkle_consistency_proof(m, n, node_stored, &g2, &got2) != PS_OK ||
                !proof_eq(&want, &got) || !proof_eq(&want, &got2)) {
                if (mism++ == 0)
                    printf("# consistency proof (%llu, %llu) differs from SUBPROOF\n",
                           (unsigned long long)m, (unsigned long long)n);
            }
            contract += g.bad + g2.bad;
            calls += g.calls != want.len;
            if (!cons_ok(m, n, &got, roots[m], roots[n]))
                fails++;
            tampered += (size_t)tamper_consistency(m, n, &got);
            /* another old or new size with its own root (the empty proofs of the degenerate
             * cases are checked in test_arguments) */
            for (uint64_t m2 = 0; m2 <= n && got.len; m2++)
                wrong += m2 != m && near(n, m, m2) && cons_ok(m2, n, &got, roots[m2], roots[n]);
            for (uint64_t n2 = m; n2 <= N && got.len; n2++)
                wrong += n2 != n && near(n, n, n2) && cons_ok(m, n2, &got, roots[m], roots[n2]);
            proofs++;
        }
    }
    CHECK(mism == 0,
          "%zu consistency proofs (every old size 0..n of sizes 1..%d) equal "
          "SUBPROOF, with a naive and with a stored-subtree callback",
          proofs, N);
    CHECK(contract == 0 && calls == 0,
          "consistency generators ask only for proof nodes, complete or right-edge ranges");
    CHECK(fails == 0, "every generated consistency proof verifies");
    CHECK(tampered == 0,
          "every replaced, dropped, swapped or inserted hash and every byte flip in "
          "a hash, the old or the new root fails (%zu accepted)",
          tampered);
    CHECK(wrong == 0, "no consistency proof verifies for another old or new size (%zu)", wrong);
}

/* ---- argument checks and callback errors ---- */

/* emit that fails on call g->fail_at */
static int fail_emit(void *ctx, uint64_t start, unsigned level, const uint8_t hash[HLEN])
{
    struct gen *g = ctx;

    (void)start;
    (void)level;
    (void)hash;
    return (int)++g->calls == g->fail_at ? PS_E_STORAGE : PS_OK;
}

static void test_arguments(void)
{
    static struct merkle_proof p, q;
    struct gen g = {0, 0, 0, 0, 0};
    struct merkle_frontier f, f2;
    uint8_t h[HLEN], want[HLEN], empty[HLEN];

    CHECK(merkle_inclusion_proof(0, 0, node_naive, &g, &p) == PS_E_INVAL &&
              merkle_inclusion_proof(5, 5, node_naive, &g, &p) == PS_E_INVAL &&
              merkle_inclusion_proof(0, MERKLE_MAX_SIZE + 1, node_naive, &g, &p) == PS_E_INVAL &&
              g.calls == 0 && p.len == 0,
          "inclusion proof generation refuses index >= size, size 0 and size >= 2^63");
    CHECK(merkle_consistency_proof(6, 5, node_naive, &g, &p) == PS_E_INVAL &&
              merkle_consistency_proof(1, MERKLE_MAX_SIZE + 1, node_naive, &g, &p) == PS_E_INVAL &&
              g.calls == 0,
          "consistency proof generation refuses old > new and sizes >= 2^63");
    CHECK(merkle_consistency_proof(0, 7, node_naive, &g, &p) == PS_OK && p.len == 0 &&
              merkle_consistency_proof(7, 7, node_naive, &g, &p) == PS_OK && p.len == 0 &&
              g.calls == 0,
          "consistency proofs from 0 and to the same size are empty");

    p.len = 0;
    CHECK(merkle_verify_inclusion(leaves[0], 0, 1, &p, roots[1]) == PS_OK &&
              merkle_verify_inclusion(leaves[0], 1, 1, &p, roots[1]) == PS_E_INVAL &&
              merkle_verify_inclusion(leaves[0], 0, 0, &p, roots[1]) == PS_E_INVAL,
          "a one-leaf tree needs an empty proof; index >= size fails");
    g = (struct gen){7, 9, 0, 0, 0};
    if (merkle_inclusion_proof(3, 9, node_naive, &g, &p) != PS_OK)
        p.len = 0;
    q = p;
    q.len = MERKLE_MAX_PROOF + 1;
    CHECK(merkle_verify_inclusion(leaves[3], 3, 9, &q, roots[9]) == PS_E_INVAL &&
              merkle_verify_inclusion(leaves[3], 3, MERKLE_MAX_SIZE + 1, &p, roots[9]) ==
                  PS_E_INVAL &&
              merkle_verify_consistency(3, MERKLE_MAX_SIZE + 1, &p, roots[3], roots[9]) ==
                  PS_E_INVAL &&
              merkle_verify_consistency(3, 9, &q, roots[3], roots[9]) == PS_E_INVAL,
          "verifiers refuse a length over %d and sizes >= 2^63", MERKLE_MAX_PROOF);

    merkle_empty_root(empty);
    p.len = 0;
    CHECK(merkle_verify_consistency(0, 9, &p, empty, roots[9]) == PS_OK &&
              merkle_verify_consistency(0, 0, &p, empty, empty) == PS_OK &&
              merkle_verify_consistency(0, 9, &p, roots[1], roots[9]) == PS_E_INVAL &&
              merkle_verify_consistency(9, 9, &p, roots[9], roots[9]) == PS_OK &&
              merkle_verify_consistency(9, 9, &p, roots[9], roots[8]) == PS_E_INVAL &&
              merkle_verify_consistency(4, 9, &p, roots[4], roots[9]) == PS_E_INVAL &&
              merkle_verify_consistency(9, 4, &p, roots[9], roots[4]) == PS_E_INVAL,
          "consistency degenerate cases: from 0 (empty root), same size (same root), empty "
          "proof otherwise fails, old > new fails");
    p.len = 1;
    memcpy(p.hash[0], roots[9], HLEN);
    CHECK(merkle_verify_consistency(9, 9, &p, roots[9], roots[9]) == PS_E_INVAL &&
              merkle_verify_consistency(0, 9, &p, empty, roots[9]) == PS_E_INVAL,
          "consistency from 0 or to the same size with a non-empty proof fails");

    g = (struct gen){0, 100, 0, 0, 2};
    CHECK(merkle_inclusion_proof(37, 100, node_naive, &g, &p) == PS_E_STORAGE && p.len == 0,
          "a callback error ends inclusion proof generation with that error");
    g = (struct gen){37, 100, 0, 0, 1};
    CHECK(merkle_consistency_proof(37, 100, node_naive, &g, &p) == PS_E_STORAGE && p.len == 0,
          "a callback error ends consistency proof generation with that error");
    g = (struct gen){0, 100, 0, 0, 0};
    ref_mth(leaves + 64, 36, want);
    CHECK(merkle_range_hash(subtree_stored, &g, 3, 7, h) == PS_E_INVAL &&
              merkle_range_hash(subtree_stored, &g, 4, 4, h) == PS_E_INVAL &&
              merkle_range_hash(subtree_stored, &g, 5, 4, h) == PS_E_INVAL &&
              merkle_range_hash(subtree_stored, &g, 0, MERKLE_MAX_SIZE + 1, h) == PS_E_INVAL &&
              g.bad == 0,
          "range hash refuses unaligned, empty and too large ranges");
    CHECK(merkle_range_hash(subtree_stored, &g, 64, 100, h) == PS_OK &&
              memcmp(h, want, HLEN) == 0 && g.bad == 0,
          "range hash of [64, 100) from stored subtrees equals MTH(D[64:100])");

    merkle_frontier_init(&f);
    for (int i = 0; i < 7; i++)
        if (merkle_frontier_append(&f, leaves[i], NULL, NULL) != PS_OK)
            f.size = 0;
    f2 = f;
    g = (struct gen){0, 100, 0, 0, 3};
    CHECK(merkle_frontier_append(&f, leaves[7], fail_emit, &g) == PS_E_STORAGE &&
              memcmp(&f, &f2, sizeof(f)) == 0,
          "a failing emit callback leaves the frontier unchanged");
    g = (struct gen){0, 100, 0, 0, 2};
    CHECK(merkle_frontier_load(&f, 9, node_naive, &g) == PS_E_STORAGE && f.size == 0,
          "a failing load leaves an empty frontier");
}

/* ---- trees near 2^63 leaves: every leaf the same, so any subtree hash is easy ---- */

static uint8_t uni[64][HLEN]; /* uni[k]: MTH of 2^k equal leaves */

/* reference MTH of n equal leaves, by the recursive definition */
static void uni_mth(uint64_t n, uint8_t out[HLEN])
{
    uint8_t r[HLEN];
    uint64_t k;
    int lg = 0;

    if ((n & (n - 1)) == 0) {
        while ((UINT64_C(1) << lg) < n)
            lg++;
        memcpy(out, uni[lg], HLEN);
        return;
    }
    k = ref_k(n);
    while ((UINT64_C(1) << lg) < k)
        lg++;
    uni_mth(n - k, r);
    ref_node(uni[lg], r, out);
}

static int uni_subtree(void *ctx, uint64_t s, uint64_t e, uint8_t out[HLEN])
{
    struct gen *g = ctx;

    if (!complete(s, e) || e > g->size2)
        g->bad++;
    uni_mth(e - s, out);
    return PS_OK;
}

static int uni_node(void *ctx, uint64_t s, uint64_t e, uint8_t out[HLEN])
{
    struct gen *g = ctx;

    g->calls++;
    if (s >= e || !(complete(s, e) || ((e == g->size1 || e == g->size2) && aligned(s, e))))
        g->bad++;
    return merkle_range_hash(uni_subtree, ctx, s, e, out);
}

static void test_huge(void)
{
    static const uint64_t sizes[] = {
        MERKLE_MAX_SIZE,         MERKLE_MAX_SIZE - 1,         UINT64_C(1) << 62,
        (UINT64_C(1) << 62) + 1, (UINT64_C(1) << 62) + 12345, UINT64_C(0x5555555555555555),
        UINT64_C(1000000000000)};
    static struct merkle_proof p;
    struct merkle_frontier f;
    uint8_t r1[HLEN], r2[HLEN], h[HLEN];
    size_t maxlen = 0;
    int ok = 1, tamper = 0, full = 0;

    ref_leaf((const uint8_t *)"u", 1, uni[0]);
    for (int k = 1; k < 64; k++)
        ref_node(uni[k - 1], uni[k - 1], uni[k]);
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        uint64_t n = sizes[si], idx[] = {0, 1, n / 2, n - 2, n - 1},
                 olds[] = {1, 2, 3, n / 3, n - 1, n / 2 + 1};
        uni_mth(n, r2);
        for (size_t ii = 0; ii < 5; ii++) {
            struct gen g = {n, n, 0, 0, 0};
            if (merkle_inclusion_proof(idx[ii], n, uni_node, &g, &p) != PS_OK || g.bad ||
                merkle_verify_inclusion(uni[0], idx[ii], n, &p, r2) != PS_OK)
                ok = 0;
            maxlen = p.len > maxlen ? p.len : maxlen;
            p.hash[p.len / 2][7] ^= 1;
            tamper += merkle_verify_inclusion(uni[0], idx[ii], n, &p, r2) == PS_OK;
        }
        for (size_t oi = 0; oi < 6; oi++) {
            struct gen g = {olds[oi], n, 0, 0, 0};
            uni_mth(olds[oi], r1);
            if (merkle_consistency_proof(olds[oi], n, uni_node, &g, &p) != PS_OK || g.bad ||
                merkle_verify_consistency(olds[oi], n, &p, r1, r2) != PS_OK) {
                printf("# consistency %llu -> %llu failed\n", (unsigned long long)olds[oi],
                       (unsigned long long)n);
                ok = 0;
            }
            maxlen = p.len > maxlen ? p.len : maxlen;
            p.hash[p.len - 1][0] ^= 1;
            tamper += merkle_verify_consistency(olds[oi], n, &p, r1, r2) == PS_OK;
        }
        struct gen g = {n, n, 0, 0, 0};
        if (merkle_frontier_load(&f, n, uni_node, &g) != PS_OK || g.bad)
            ok = 0;
        merkle_frontier_root(&f, h);
        if (memcmp(h, r2, HLEN) != 0)
            ok = 0;
        if (n < MERKLE_MAX_SIZE) {
            uni_mth(n + 1, r1);
            if (merkle_frontier_append(&f, uni[0], NULL, NULL) != PS_OK)
                ok = 0;
            merkle_frontier_root(&f, h);
            if (memcmp(h, r1, HLEN) != 0)
                ok = 0;
        } else {
            full = merkle_frontier_append(&f, uni[0], NULL, NULL) == PS_E_LIMIT &&
                   f.size == MERKLE_MAX_SIZE;
        }
    }
    CHECK(ok, "proofs, roots and frontiers of trees up to 2^63 - 1 leaves agree with the "
              "reference");
    CHECK(tamper == 0, "a flipped bit in a proof for a huge tree fails");
    CHECK(maxlen <= MERKLE_MAX_PROOF && maxlen >= 63,
          "the longest proof there has %zu hashes (at most %d)", maxlen, MERKLE_MAX_PROOF);
    CHECK(full, "appending to a tree of 2^63 - 1 leaves is PS_E_LIMIT");
}

int main(void)
{
    setup();
    test_known_answers();
    test_roots_and_frontier();
    test_inclusion();
    test_consistency();
    test_arguments();
    test_huge();
    return unit_done();
}
