/*
 * merkle_fuzz - libFuzzer target for proof verification (protocol/merkle.c).
 *   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/merkle_fuzz.c protocol/merkle.c \
 *       -lsodium -o /tmp/merkle_fuzz
 *   /tmp/merkle_fuzz -max_total_time=60 tests/fuzz/corpus/merkle/
 * The first byte picks a mode:
 *   0  arbitrary inclusion and consistency proofs: index, size, leaf, roots and up to 70 hashes
 *      straight from the input. Must not crash; a root computed from a proof must verify.
 *   1  a real tree of up to 300 leaves: the input picks the size, index and old size, and a
 *      tamper (bytes to flip, hashes to drop, insert or swap); the genuine inclusion and
 *      consistency proofs must verify and the tampered ones exactly when they equal the
 *      genuine ones. Proofs come from stored subtrees through merkle_range_hash.
 *   2  the same for a tree of up to 2^63 - 1 equal leaves (sizes, indexes from the input).
 * Any broken promise is a trap.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/merkle.h"

#define HL    MERKLE_HASH_LEN
#define SMALL 300
#define LVLS  9 /* 2^8 <= SMALL < 2^9 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct in *in, size_t bytes)
{
    uint64_t v = 0;

    while (bytes-- > 0 && in->n > 0) {
        v = v << 8 | *in->p++;
        in->n--;
    }
    return v;
}

static void take_hash(struct in *in, uint8_t out[HL])
{
    size_t k = in->n < HL ? in->n : HL;

    memset(out, 0, HL);
    memcpy(out, in->p, k);
    in->p += k;
    in->n -= k;
}

/* ---- mode 0 ---- */

static void arbitrary(struct in *in)
{
    static struct merkle_proof p;
    uint8_t leaf[HL], r1[HL], r2[HL], got[HL];
    uint64_t a = take(in, 8), b = take(in, 8);

    take_hash(in, leaf);
    take_hash(in, r1);
    take_hash(in, r2);
    p.len = 0;
    while (in->n > 0 && p.len < MERKLE_MAX_PROOF + 6) {
        take_hash(in, p.hash[p.len < MERKLE_MAX_PROOF ? p.len : MERKLE_MAX_PROOF - 1]);
        p.len++;
    }
    if (merkle_inclusion_root(leaf, a, b, &p, got) == PS_OK) {
        if (a >= b || b > MERKLE_MAX_SIZE || p.len > MERKLE_MAX_PROOF ||
            merkle_verify_inclusion(leaf, a, b, &p, got) != PS_OK)
            __builtin_trap();
    }
    if (merkle_verify_inclusion(leaf, a, b, &p, r1) == PS_OK && memcmp(r1, got, HL) != 0)
        __builtin_trap();
    if (merkle_verify_consistency(a, b, &p, r1, r2) == PS_OK &&
        (a > b || b > MERKLE_MAX_SIZE || p.len > MERKLE_MAX_PROOF))
        __builtin_trap();
}

/* ---- trees to prove things about ---- */

static uint8_t leaves[SMALL][HL];
static uint8_t stored[LVLS][SMALL][HL]; /* complete subtrees [s, s + 2^l) at [l][s >> l] */
static uint8_t uni[64][HL];             /* MTH of 2^k equal leaves */
static int ready;

static int keep(void *ctx, uint64_t start, unsigned level, const uint8_t hash[HL])
{
    (void)ctx;
    memcpy(stored[level][start >> level], hash, HL);
    return PS_OK;
}

static int small_subtree(void *ctx, uint64_t s, uint64_t e, uint8_t out[HL])
{
    unsigned l = (unsigned)__builtin_ctzll(e - s);

    (void)ctx;
    if (((e - s) & (e - s - 1)) != 0 || s % (e - s) != 0 || e > SMALL)
        __builtin_trap(); /* merkle_range_hash asked for something that is not a subtree */
    memcpy(out, stored[l][s >> l], HL);
    return PS_OK;
}

static int small_node(void *ctx, uint64_t s, uint64_t e, uint8_t out[HL])
{
    return merkle_range_hash(small_subtree, ctx, s, e, out);
}

static int uni_subtree(void *ctx, uint64_t s, uint64_t e, uint8_t out[HL])
{
    (void)ctx;
    if (((e - s) & (e - s - 1)) != 0 || s % (e - s) != 0)
        __builtin_trap();
    memcpy(out, uni[__builtin_ctzll(e - s)], HL);
    return PS_OK;
}

static int uni_node(void *ctx, uint64_t s, uint64_t e, uint8_t out[HL])
{
    return merkle_range_hash(uni_subtree, ctx, s, e, out);
}

static void setup(void)
{
    struct merkle_frontier f;
    uint8_t d[2];

    merkle_frontier_init(&f);
    for (int i = 0; i < SMALL; i++) {
        d[0] = (uint8_t)i;
        d[1] = (uint8_t)(i >> 8);
        merkle_leaf_hash(d, 2, leaves[i]);
        if (merkle_frontier_append(&f, leaves[i], keep, NULL) != PS_OK)
            __builtin_trap();
    }
    merkle_leaf_hash((const uint8_t *)"u", 1, uni[0]);
    for (int k = 1; k < 64; k++)
        merkle_node_hash(uni[k - 1], uni[k - 1], uni[k]);
    ready = 1;
}

/* Change p as the rest of the input says. */
static void tamper(struct in *in, struct merkle_proof *p)
{
    while (in->n >= 2) {
        uint8_t op = (uint8_t)take(in, 1), arg = (uint8_t)take(in, 1);
        size_t j = p->len ? arg % p->len : 0;
        switch (op % 4) {
        case 0: /* flip bits of one byte */
            if (p->len)
                p->hash[j][(op >> 2) % HL] ^= (uint8_t)(arg | 1);
            break;
        case 1: /* drop a hash */
            if (p->len) {
                memmove(p->hash[j], p->hash[j + 1], (p->len - j - 1) * HL);
                p->len--;
            }
            break;
        case 2: /* insert a hash */
            if (p->len < MERKLE_MAX_PROOF) {
                j = arg % (p->len + 1);
                memmove(p->hash[j + 1], p->hash[j], (p->len - j) * HL);
                memset(p->hash[j], op, HL);
                p->len++;
            }
            break;
        default: /* swap two hashes */
            if (p->len > 1) {
                uint8_t t[HL];
                size_t k = (j + 1 + (op >> 2)) % p->len;
                memcpy(t, p->hash[j], HL);
                memcpy(p->hash[j], p->hash[k], HL);
                memcpy(p->hash[k], t, HL);
            }
        }
    }
}

static int same(const struct merkle_proof *a, const struct merkle_proof *b)
{
    return a->len == b->len && memcmp(a->hash, b->hash, a->len * HL) == 0;
}

/* ---- modes 1 and 2 ---- */

static void real_tree(struct in *in, int huge)
{
    static struct merkle_proof p, t;
    merkle_node_fn node = huge ? uni_node : small_node;
    uint8_t rn[HL], ro[HL];
    const uint8_t *leaf;
    uint64_t n, i, m;
    struct in tam;

    if (huge) {
        n = take(in, 8) & MERKLE_MAX_SIZE;
        n = n ? n : 1;
    } else {
        n = take(in, 2) % SMALL + 1;
    }
    i = take(in, 8) % n;
    m = take(in, 8) % (n + 1);
    leaf = huge ? uni[0] : leaves[i];
    if (merkle_range_hash(huge ? uni_subtree : small_subtree, NULL, 0, n, rn) != PS_OK)
        __builtin_trap();
    if (m == 0)
        merkle_empty_root(ro);
    else if (merkle_range_hash(huge ? uni_subtree : small_subtree, NULL, 0, m, ro) != PS_OK)
        __builtin_trap();

    /* the rest of the input is the tamper, applied to both proofs */
    tam = *in;
    if (merkle_inclusion_proof(i, n, node, NULL, &p) != PS_OK ||
        merkle_verify_inclusion(leaf, i, n, &p, rn) != PS_OK)
        __builtin_trap();
    t = p;
    tamper(&tam, &t);
    if ((merkle_verify_inclusion(leaf, i, n, &t, rn) == PS_OK) != same(&t, &p))
        __builtin_trap();

    tam = *in;
    if (merkle_consistency_proof(m, n, node, NULL, &p) != PS_OK ||
        merkle_verify_consistency(m, n, &p, ro, rn) != PS_OK)
        __builtin_trap();
    t = p;
    tamper(&tam, &t);
    if ((merkle_verify_consistency(m, n, &t, ro, rn) == PS_OK) != same(&t, &p))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};

    if (!ready)
        setup();
    switch (take(&in, 1) % 3) {
    case 0: arbitrary(&in); break;
    case 1: real_tree(&in, 0); break;
    default: real_tree(&in, 1); break;
    }
    return 0;
}
