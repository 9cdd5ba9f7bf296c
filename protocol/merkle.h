/*
 * merkle.h - RFC 6962 / RFC 9162 Merkle tree hashing with SHA-256 for the ledger.
 * Pure format code: hashes in, hashes out; no storage, no allocation.
 *
 * Hashing (RFC 9162 §2.1.1):
 *   leaf hash   = SHA-256(0x00 || data)
 *   node hash   = SHA-256(0x01 || left || right)
 *   MTH({})     = SHA-256("")   (e3b0c442...b855)
 *   MTH(D[n])   = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n.
 * "Leaf" below always means a leaf *hash* (32 bytes); callers hash their entries with
 * merkle_leaf_hash first.
 *
 * Proofs are generated around a callback that returns the hash of a range of leaves, so a
 * storage layer can keep the hashes of complete subtrees and answer each proof with O(log n)
 * lookups instead of reading the leaves. Every range the generators ask for is a node of the
 * RFC 6962 tree being proven:
 *   - a complete subtree [start, start + 2^k) with start a multiple of 2^k, or
 *   - the right edge [start, size) of the tree, where size is the tree size the proof is
 *     about (size for an inclusion proof; old_size or new_size for a consistency proof) and
 *     start is a multiple of the largest power of two <= size - start.
 * merkle_range_hash turns such a range into O(log n) complete-subtree lookups, so a store
 * only needs complete subtrees (which merkle_frontier_append reports as they are completed).
 *
 * Limits: tree sizes are at most MERKLE_MAX_SIZE (2^63 - 1); a proof holds at most
 * MERKLE_MAX_PROOF hashes (an inclusion proof has at most 63, a consistency proof at most 64).
 * Functions return PS_OK or a negative PS_E_* code; a proof that does not verify and
 * arguments out of range are both PS_E_INVAL. An error from a callback is returned as is.
 */
#ifndef PS_MERKLE_H
#define PS_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MERKLE_HASH_LEN  32
#define MERKLE_MAX_SIZE  ((UINT64_C(1) << 63) - 1)
#define MERKLE_MAX_PROOF 64

/* An inclusion or consistency proof: hash[0..len), in RFC 9162 order (leaf level first). */
struct merkle_proof {
    size_t len;
    uint8_t hash[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
};

/* Callback: out = MTH(D[start:end]) for 0 <= start < end. Returns PS_OK or a PS_E_* code. */
typedef int (*merkle_node_fn)(void *ctx, uint64_t start, uint64_t end,
                              uint8_t out[MERKLE_HASH_LEN]);

void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN]);
void merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
                      uint8_t out[MERKLE_HASH_LEN]);
/* MTH of the empty tree: SHA-256 of the empty string. */
void merkle_empty_root(uint8_t out[MERKLE_HASH_LEN]);

/* MTH over n leaf hashes stored back to back (n * 32 bytes); O(n) time, O(log n) memory. */
int merkle_root(const uint8_t *leaves, uint64_t n, uint8_t out[MERKLE_HASH_LEN]) PS_WUR;

/*
 * MTH(D[start:end]) from complete subtrees only: `subtree` is called with aligned ranges
 * [s, s + 2^k) (s a multiple of 2^k), one per set bit of end - start, right to left.
 * Requires start < end <= MERKLE_MAX_SIZE and start a multiple of the largest power of two
 * <= end - start (true of every range a proof generator asks for); else PS_E_INVAL.
 */
int merkle_range_hash(merkle_node_fn subtree, void *ctx, uint64_t start, uint64_t end,
                      uint8_t out[MERKLE_HASH_LEN]) PS_WUR;

/*
 * PATH(index, D[size]) of RFC 6962 §2.1.1 into *out; calls node once per proof hash.
 * Requires index < size <= MERKLE_MAX_SIZE. out->len is 0 on failure.
 */
int merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_node_fn node, void *ctx,
                           struct merkle_proof *out) PS_WUR;

/*
 * PROOF(old_size, D[new_size]) of RFC 6962 §2.1.2 into *out; calls node once per proof hash.
 * Requires old_size <= new_size <= MERKLE_MAX_SIZE; the proof is empty when old_size is 0 or
 * equal to new_size. out->len is 0 on failure.
 */
int merkle_consistency_proof(uint64_t old_size, uint64_t new_size, merkle_node_fn node, void *ctx,
                             struct merkle_proof *out) PS_WUR;

/*
 * The root that an inclusion proof leads to (RFC 9162 §2.1.3.2, steps 1-4), into root.
 * PS_E_INVAL when index >= size, size > MERKLE_MAX_SIZE, or the proof has the wrong length
 * for (index, size).
 */
int merkle_inclusion_root(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index, uint64_t size,
                          const struct merkle_proof *proof, uint8_t root[MERKLE_HASH_LEN]) PS_WUR;

/*
 * RFC 9162 §2.1.3.2: PS_OK when proof shows that leaf is at index in the tree of that size
 * whose root is root. The size is bound by the root (and the checkpoint that signs both):
 * the algorithm alone does not tell apart some sizes with the same path shape.
 */
int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index, uint64_t size,
                            const struct merkle_proof *proof,
                            const uint8_t root[MERKLE_HASH_LEN]) PS_WUR;

/*
 * RFC 9162 §2.1.4.2: PS_OK when proof shows that the tree of old_size with old_root is a
 * prefix of the tree of new_size with new_root. Requires old_size <= new_size <=
 * MERKLE_MAX_SIZE. Degenerate cases: old_size == new_size needs an empty proof and equal
 * roots; old_size == 0 needs an empty proof and old_root equal to the empty-tree root.
 */
int merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                              const struct merkle_proof *proof,
                              const uint8_t old_root[MERKLE_HASH_LEN],
                              const uint8_t new_root[MERKLE_HASH_LEN]) PS_WUR;

/*
 * A compact range [0, size): the roots of the complete subtrees that make up the tree, one per
 * set bit of size (hash[k] is the subtree of 2^k leaves; only set bits are meaningful).
 * Appending is O(1) amortised and the root is available at any size without the leaves.
 * Plain data: copy it, store it, no cleanup.
 */
struct merkle_frontier {
    uint64_t size;
    uint8_t hash[64][MERKLE_HASH_LEN];
};

/* Callback for each complete subtree an append completes: [start, start + 2^level). */
typedef int (*merkle_subtree_fn)(void *ctx, uint64_t start, unsigned level,
                                 const uint8_t hash[MERKLE_HASH_LEN]);

void merkle_frontier_init(struct merkle_frontier *f);

/*
 * Append one leaf hash. If emit is not NULL it is called for every complete subtree the leaf
 * completes, smallest first: the leaf itself (level 0) and each parent that becomes complete.
 * If emit fails, its error is returned and the frontier is unchanged (emit may have been
 * called for some subtrees). PS_E_LIMIT when the tree already has MERKLE_MAX_SIZE leaves.
 */
int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_LEN],
                           merkle_subtree_fn emit, void *ctx) PS_WUR;

/* MTH of the size leaves appended so far (the empty-tree root for size 0). */
void merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN]);

/*
 * Rebuild a frontier of the given size from stored complete subtrees: `subtree` is called for
 * each set bit of size, largest (leftmost) first. On failure *f is left empty (size 0).
 */
int merkle_frontier_load(struct merkle_frontier *f, uint64_t size, merkle_node_fn subtree,
                         void *ctx) PS_WUR;

#endif
