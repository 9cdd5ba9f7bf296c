#include "merkle.h"

#include <string.h>

/* OpenSSL's one-shot SHA-256 uses the CPU's SHA extensions (3-4x libsodium's portable code
 * here, and most of an append's CPU); the low-level calls allocate nothing and cannot fail. */
#include <openssl/sha.h>

/* A range [s, e) of leaves. */
struct range {
    uint64_t s, e;
};

void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
    static const uint8_t prefix = 0x00;
    SHA256_CTX st;

    SHA256_Init(&st);
    SHA256_Update(&st, &prefix, 1);
    SHA256_Update(&st, data, len);
    SHA256_Final(out, &st);
}

void merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
                      uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t msg[1 + 2 * MERKLE_HASH_LEN];
    SHA256_CTX st;

    msg[0] = 0x01;
    memcpy(msg + 1, left, MERKLE_HASH_LEN);
    memcpy(msg + 1 + MERKLE_HASH_LEN, right, MERKLE_HASH_LEN);
    /* not SHA256(): in OpenSSL 3 that fetches the algorithm and allocates a context per call */
    SHA256_Init(&st);
    SHA256_Update(&st, msg, sizeof(msg));
    SHA256_Final(out, &st);
}

void merkle_empty_root(uint8_t out[MERKLE_HASH_LEN])
{
    SHA256_CTX st;

    SHA256_Init(&st);
    SHA256_Final(out, &st);
}

/* The largest power of two strictly less than n (n >= 2): RFC 6962's split point k. */
static uint64_t split_point(uint64_t n)
{
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* The largest power of two <= n (n >= 1). */
static uint64_t top_bit(uint64_t n)
{
    return UINT64_C(1) << (63 - __builtin_clzll(n));
}

int merkle_range_hash(merkle_node_fn subtree, void *ctx, uint64_t start, uint64_t end,
                      uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t h[MERKLE_HASH_LEN], acc[MERKLE_HASH_LEN];
    uint64_t rest, bit, pos = end;
    int r, first = 1;

    if (start >= end || end > MERKLE_MAX_SIZE || (start & (top_bit(end - start) - 1)) != 0)
        return PS_E_INVAL;
    /* MTH of a right edge = H(left complete subtree || MTH(rest)): fold from the right */
    for (rest = end - start; rest != 0; rest &= rest - 1) {
        bit = rest & (~rest + 1);
        if ((r = subtree(ctx, pos - bit, pos, first ? acc : h)) != PS_OK)
            return r;
        if (!first)
            merkle_node_hash(h, acc, acc);
        first = 0;
        pos -= bit;
    }
    memcpy(out, acc, MERKLE_HASH_LEN);
    return PS_OK;
}

/* Ask node for each range, last collected first: proofs list the deepest sibling first. */
static int fill_reversed(const struct range *rg, size_t n, merkle_node_fn node, void *ctx,
                         struct merkle_proof *out)
{
    int r;

    while (n > 0) {
        n--;
        if ((r = node(ctx, rg[n].s, rg[n].e, out->hash[out->len])) != PS_OK) {
            out->len = 0;
            return r;
        }
        out->len++;
    }
    return PS_OK;
}

int merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_node_fn node, void *ctx,
                           struct merkle_proof *out)
{
    struct range sib[MERKLE_MAX_PROOF];
    uint64_t s = 0, e = size, k;
    size_t n = 0;

    out->len = 0;
    if (size == 0 || size > MERKLE_MAX_SIZE || index >= size)
        return PS_E_INVAL;
    /* walk down from the root; each level's sibling is one proof hash (depth <= 63) */
    while (e - s > 1) {
        k = split_point(e - s);
        if (index < s + k) {
            sib[n++] = (struct range){s + k, e};
            e = s + k;
        } else {
            sib[n++] = (struct range){s, s + k};
            s += k;
        }
    }
    return fill_reversed(sib, n, node, ctx, out);
}

int merkle_consistency_proof(uint64_t old_size, uint64_t new_size, merkle_node_fn node, void *ctx,
                             struct merkle_proof *out)
{
    struct range sib[MERKLE_MAX_PROOF];
    uint64_t s = 0, e = new_size, k;
    size_t n = 0;
    int whole = 1, r;

    out->len = 0;
    if (new_size > MERKLE_MAX_SIZE || old_size > new_size)
        return PS_E_INVAL;
    if (old_size == 0 || old_size == new_size)
        return PS_OK;
    /* SUBPROOF(m, D[s:e], whole), unrolled: old_size is absolute, s < old_size <= e */
    while (e != old_size) {
        k = split_point(e - s);
        if (old_size - s <= k) {
            sib[n++] = (struct range){s + k, e};
            e = s + k;
        } else {
            sib[n++] = (struct range){s, s + k};
            s += k;
            whole = 0;
        }
    }
    /* SUBPROOF(m, D[m], false) = {MTH(D[m])}; with whole still true it is empty */
    if (!whole) {
        if ((r = node(ctx, s, e, out->hash[0])) != PS_OK)
            return r;
        out->len = 1;
    }
    return fill_reversed(sib, n, node, ctx, out);
}

/* Right-shift fn and sn together until fn is odd or zero. */
static void shift_to_odd(uint64_t *fn, uint64_t *sn)
{
    while (*fn != 0 && (*fn & 1) == 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

int merkle_inclusion_root(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index, uint64_t size,
                          const struct merkle_proof *proof, uint8_t root[MERKLE_HASH_LEN])
{
    uint8_t r[MERKLE_HASH_LEN];
    uint64_t fn, sn;
    size_t i;

    if (size == 0 || size > MERKLE_MAX_SIZE || index >= size || proof->len > MERKLE_MAX_PROOF)
        return PS_E_INVAL;
    fn = index;
    sn = size - 1;
    memcpy(r, leaf, MERKLE_HASH_LEN);
    for (i = 0; i < proof->len; i++) {
        if (sn == 0)
            return PS_E_INVAL;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(proof->hash[i], r, r);
            if ((fn & 1) == 0)
                shift_to_odd(&fn, &sn);
        } else {
            merkle_node_hash(r, proof->hash[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return PS_E_INVAL;
    memcpy(root, r, MERKLE_HASH_LEN);
    return PS_OK;
}

int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index, uint64_t size,
                            const struct merkle_proof *proof, const uint8_t root[MERKLE_HASH_LEN])
{
    uint8_t got[MERKLE_HASH_LEN];
    int r;

    if ((r = merkle_inclusion_root(leaf, index, size, proof, got)) != PS_OK)
        return r;
    return memcmp(got, root, MERKLE_HASH_LEN) == 0 ? PS_OK : PS_E_INVAL;
}

/* The trivial cases of merkle_verify_consistency: old_size 0 or equal to new_size. */
static int verify_trivial(uint64_t old_size, const struct merkle_proof *proof,
                          const uint8_t old_root[MERKLE_HASH_LEN],
                          const uint8_t new_root[MERKLE_HASH_LEN])
{
    uint8_t empty[MERKLE_HASH_LEN];

    if (proof->len != 0)
        return PS_E_INVAL;
    if (old_size == 0) {
        merkle_empty_root(empty);
        return memcmp(old_root, empty, MERKLE_HASH_LEN) == 0 ? PS_OK : PS_E_INVAL;
    }
    return memcmp(old_root, new_root, MERKLE_HASH_LEN) == 0 ? PS_OK : PS_E_INVAL;
}

int merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                              const struct merkle_proof *proof,
                              const uint8_t old_root[MERKLE_HASH_LEN],
                              const uint8_t new_root[MERKLE_HASH_LEN])
{
    uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
    uint64_t fn, sn;
    size_t i;

    if (new_size > MERKLE_MAX_SIZE || old_size > new_size || proof->len > MERKLE_MAX_PROOF)
        return PS_E_INVAL;
    if (old_size == 0 || old_size == new_size)
        return verify_trivial(old_size, proof, old_root, new_root);
    if (proof->len == 0)
        return PS_E_INVAL;
    /* step 2: a power-of-two old tree is itself the first node of the path */
    i = 0;
    if ((old_size & (old_size - 1)) == 0) {
        memcpy(fr, old_root, MERKLE_HASH_LEN);
    } else {
        memcpy(fr, proof->hash[0], MERKLE_HASH_LEN);
        i = 1;
    }
    memcpy(sr, fr, MERKLE_HASH_LEN);
    fn = old_size - 1;
    sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < proof->len; i++) {
        if (sn == 0)
            return PS_E_INVAL;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(proof->hash[i], fr, fr);
            merkle_node_hash(proof->hash[i], sr, sr);
            if ((fn & 1) == 0)
                shift_to_odd(&fn, &sn);
        } else {
            merkle_node_hash(sr, proof->hash[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(fr, old_root, MERKLE_HASH_LEN) != 0 ||
        memcmp(sr, new_root, MERKLE_HASH_LEN) != 0)
        return PS_E_INVAL;
    return PS_OK;
}

int merkle_root(const uint8_t *leaves, uint64_t n, uint8_t out[MERKLE_HASH_LEN])
{
    struct merkle_frontier f;
    uint64_t i;
    int r;

    merkle_frontier_init(&f);
    for (i = 0; i < n; i++)
        if ((r = merkle_frontier_append(&f, leaves + i * MERKLE_HASH_LEN, NULL, NULL)) != PS_OK)
            return r;
    merkle_frontier_root(&f, out);
    return PS_OK;
}

void merkle_frontier_init(struct merkle_frontier *f)
{
    memset(f, 0, sizeof(*f));
}

int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_LEN],
                           merkle_subtree_fn emit, void *ctx)
{
    uint8_t h[MERKLE_HASH_LEN];
    uint64_t start = f->size;
    unsigned level = 0;
    int r;

    if (f->size >= MERKLE_MAX_SIZE)
        return PS_E_LIMIT;
    memcpy(h, leaf, MERKLE_HASH_LEN);
    /* binary increment: each carry merges two subtrees of 2^level leaves into one */
    for (;;) {
        if (emit && (r = emit(ctx, start, level, h)) != PS_OK)
            return r;
        if ((f->size & (UINT64_C(1) << level)) == 0)
            break;
        merkle_node_hash(f->hash[level], h, h);
        start -= UINT64_C(1) << level;
        level++;
    }
    memcpy(f->hash[level], h, MERKLE_HASH_LEN);
    f->size++;
    return PS_OK;
}

void merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t acc[MERKLE_HASH_LEN];
    uint64_t rest = f->size;
    unsigned level;

    if (rest == 0) {
        merkle_empty_root(out);
        return;
    }
    /* smallest subtree is the rightmost: fold right to left */
    level = (unsigned)__builtin_ctzll(rest);
    memcpy(acc, f->hash[level], MERKLE_HASH_LEN);
    for (rest &= rest - 1; rest != 0; rest &= rest - 1) {
        level = (unsigned)__builtin_ctzll(rest);
        merkle_node_hash(f->hash[level], acc, acc);
    }
    memcpy(out, acc, MERKLE_HASH_LEN);
}

int merkle_frontier_load(struct merkle_frontier *f, uint64_t size, merkle_node_fn subtree,
                         void *ctx)
{
    uint64_t pos = 0, bit;
    unsigned level;
    int r;

    merkle_frontier_init(f);
    if (size > MERKLE_MAX_SIZE)
        return PS_E_INVAL;
    for (level = 64; level-- > 0;) {
        bit = UINT64_C(1) << level;
        if ((size & bit) == 0)
            continue;
        if ((r = subtree(ctx, pos, pos + bit, f->hash[level])) != PS_OK) {
            merkle_frontier_init(f);
            return r;
        }
        pos += bit;
    }
    f->size = size;
    return PS_OK;
}
