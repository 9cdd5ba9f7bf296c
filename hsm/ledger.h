/*
 * ledger.h - the keyholder's append-only Merkle log (DESIGN §5 "Ledger"), stored in the
 * audit database (hsm/audit.h), in the same transactions as the audit rows.
 *
 * Leaves are one line of text, a type word first, fields separated by one space:
 *   signature <index> <unix_ms> <tenant> <key_id> <alg> <digest_hex>\n
 *   bundle <unix_ms> <sha256 manifest> <sha256 signature001.p7s> <sha256 timestamp001.tst>\n
 * (lowercase hex). ledger_leaf_valid says which lines a worker may ask to append: not
 * "signature", which the keyholder writes itself for every signature it makes.
 *
 * Storage (SQLite, WAL, synchronous=FULL):
 *   audit(seq, ts_ms, tenant, key, alg, digest)  a signature leaf: seq IS its leaf index, and
 *                                  the leaf text is made from the row (ledger_signature_leaf)
 *   ledger_leaves(idx, data)       every other leaf, verbatim
 *   ledger_nodes(id, hash)         complete subtrees of 2^4, 2^8, 2^12... leaves, keyed by the
 *                                  in-order index 2*start + 2^level - 1; smaller subtrees are
 *                                  recomputed (at most 15 reads each), so an append writes a
 *                                  node row for one leaf in 16 and a proof reads O(log n) rows
 *   ledger_checkpoints(size, ...)  every signed checkpoint, with its root and note text
 *
 * One writer (the committer thread) wraps appends in its transaction: ledger_txn_begin,
 * ledger_append per leaf, ledger_txn_end with the commit's outcome (which keeps or rolls back
 * the in-memory frontier). Readers (struct ledger_reader, one per connection and thread) see
 * committed leaves only, and make proofs for committed sizes only.
 */
#ifndef PS_LEDGER_H
#define PS_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "../protocol/buf.h"
#include "../protocol/err.h"
#include "../protocol/merkle.h"

#define LEDGER_MAX_LEAF 1024

struct ledger;
struct ledger_reader;

/* The signature leaf text of an audit row into out (cap >= LEDGER_MAX_LEAF); its length. */
size_t ledger_signature_leaf(char *out, size_t cap, uint64_t index, int64_t ts_ms,
                             const char *tenant, const char *key, const char *alg,
                             const uint8_t *digest, size_t dlen);

/* Create the tables if needed (the audit table must exist) and load the frontier; checks that
 * the stored tree agrees with the latest checkpoint (a ledger that does not is refused). */
int ledger_open(sqlite3 *db, struct ledger **out, char *err, size_t errlen) PS_WUR;
void ledger_close(struct ledger *l);

void ledger_txn_begin(struct ledger *l);
/* Append a leaf inside the caller's transaction. store = 0: the caller stored its data (an
 * audit row at seq = the index this returns), so only the tree is updated. */
int ledger_append(struct ledger *l, const void *leaf, size_t len, int store,
                  uint64_t *index) PS_WUR;
void ledger_txn_end(struct ledger *l, int committed);

uint64_t ledger_size(const struct ledger *l);
void ledger_root(const struct ledger *l, uint8_t root[MERKLE_HASH_LEN]);
int ledger_has_checkpoint(const struct ledger *l);
uint64_t ledger_checkpoint_size(const struct ledger *l); /* 0 if none */
/* Store a signed checkpoint (its own transaction). */
int ledger_checkpoint_store(struct ledger *l, uint64_t size, const uint8_t root[MERKLE_HASH_LEN],
                            int64_t ts_ms, const uint8_t *note, size_t len) PS_WUR;
/* The writer's own reader (same connection, same thread). */
struct ledger_reader *ledger_writer_reader(struct ledger *l);

/* Read side. Sizes beyond what is committed are PS_E_INVAL (err says so). */
int ledger_reader_open(sqlite3 *db, struct ledger_reader **out) PS_WUR;
void ledger_reader_close(struct ledger_reader *r);
int ledger_committed_size(struct ledger_reader *r, uint64_t *size) PS_WUR;
/* Leaf i's bytes appended to out; PS_E_NOTFOUND if there is no such leaf. */
int ledger_leaf_at(struct ledger_reader *r, uint64_t index, struct buf *out) PS_WUR;
int ledger_leaf_hash_at(struct ledger_reader *r, uint64_t index,
                        uint8_t out[MERKLE_HASH_LEN]) PS_WUR;
int ledger_inclusion(struct ledger_reader *r, uint64_t index, uint64_t size, struct merkle_proof *p,
                     char *err, size_t errlen) PS_WUR;
int ledger_consistency(struct ledger_reader *r, uint64_t old_size, uint64_t new_size,
                       struct merkle_proof *p, char *err, size_t errlen) PS_WUR;
/* The latest checkpoint's note appended to out, and its size; PS_E_NOTFOUND if none. */
int ledger_checkpoint_latest(struct ledger_reader *r, struct buf *out, uint64_t *size) PS_WUR;
/* The latest checkpoint's size and when it was signed (unix ms); PS_E_NOTFOUND if none. */
int ledger_checkpoint_latest_time(struct ledger_reader *r, uint64_t *size, int64_t *ts_ms) PS_WUR;

/*
 * Full check from leaf 0: every leaf present once (an audit row or a stored leaf, not both),
 * every stored node and the root at every stored checkpoint recomputed from the leaves alone.
 * *leaves and *checkpoints say how much was checked. For operators and tests (O(n)).
 */
int ledger_verify_all(sqlite3 *db, uint64_t *leaves, uint64_t *checkpoints, char *err,
                      size_t errlen) PS_WUR;

/* 1 if a worker may append this leaf: a known type other than "signature", printable ASCII
 * fields separated by single spaces, one final '\n', at most LEDGER_MAX_LEAF bytes. */
int ledger_leaf_valid(const uint8_t *leaf, size_t len);

#endif
