/*
 * ledger.h - the keyholder's append-only Merkle log (DESIGN §5 "Ledger"), stored in the
 * audit database next to the audit rows, in the same transactions.
 *
 * Tables (SQLite, WAL, synchronous=FULL, like the audit rows):
 *   ledger_leaves(idx, data)       leaf i's bytes (a text line, see below)
 *   ledger_nodes(id, hash)         every complete subtree of 2 or more leaves, keyed by its
 *                                  in-order index 2*start + 2^level - 1; leaf hashes are
 *                                  recomputed from ledger_leaves
 *   ledger_checkpoints(size, ...)  every signed checkpoint, with its root and note text
 *
 * Leaves are one line of text, a type word first, fields separated by one space:
 *   signature <audit_seq> <unix_ms> <tenant> <key_id> <alg> <digest_hex>\n
 *   bundle <unix_ms> <sha256 manifest> <sha256 signature001.p7s> <sha256 timestamp001.tst>\n
 * ledger_leaf_valid says which lines a worker may ask to append (not "signature": those the
 * keyholder writes itself for every signature it makes).
 *
 * Writers (one thread) wrap appends in the caller's transaction: ledger_txn_begin, then
 * ledger_append for each leaf, then ledger_txn_end with the commit's outcome, which keeps or
 * rolls back the in-memory frontier. Readers may use another connection to the same file: they
 * only see committed leaves, and every proof they make is for a committed size.
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

/* Create the tables if needed and load the frontier; checks that the stored nodes agree with
 * the latest checkpoint (a ledger that does not is refused: err says why). */
int ledger_open(sqlite3 *db, struct ledger **out, char *err, size_t errlen) PS_WUR;
void ledger_close(struct ledger *l);

void ledger_txn_begin(struct ledger *l);
int ledger_append(struct ledger *l, const void *leaf, size_t len, uint64_t *index) PS_WUR;
void ledger_txn_end(struct ledger *l, int committed);

uint64_t ledger_size(const struct ledger *l);
void ledger_root(const struct ledger *l, uint8_t root[MERKLE_HASH_LEN]);
/* Whether a checkpoint was stored, and the size of the latest (0 if none). */
int ledger_has_checkpoint(const struct ledger *l);
uint64_t ledger_checkpoint_size(const struct ledger *l);
/* Store a signed checkpoint (its own transaction). */
int ledger_checkpoint_store(struct ledger *l, uint64_t size, const uint8_t root[MERKLE_HASH_LEN],
                            int64_t ts_ms, const uint8_t *note, size_t len) PS_WUR;

/* Read side: any connection. Sizes beyond what is committed are PS_E_INVAL (err says so). */
int ledger_committed_size(sqlite3 *db, uint64_t *size) PS_WUR;
int ledger_leaf_hash_at(sqlite3 *db, uint64_t index, uint8_t out[MERKLE_HASH_LEN]) PS_WUR;
int ledger_inclusion(sqlite3 *db, uint64_t index, uint64_t size, struct merkle_proof *p, char *err,
                     size_t errlen) PS_WUR;
int ledger_consistency(sqlite3 *db, uint64_t old_size, uint64_t new_size, struct merkle_proof *p,
                       char *err, size_t errlen) PS_WUR;
/* The latest checkpoint's note into out (appended) and its size; PS_E_NOTFOUND if none. */
int ledger_checkpoint_latest(sqlite3 *db, struct buf *out, uint64_t *size) PS_WUR;

/*
 * Full check from leaf 0: recompute every leaf hash and every stored node from the leaves, and
 * the root at every stored checkpoint size from the leaves alone; all must agree. *leaves and
 * *checkpoints say how much was checked. For operators and tests (O(n)).
 */
int ledger_verify_all(sqlite3 *db, uint64_t *leaves, uint64_t *checkpoints, char *err,
                      size_t errlen) PS_WUR;

/* 1 if a worker may append this leaf: a known type other than "signature", printable ASCII
 * fields separated by single spaces, one final '\n', at most LEDGER_MAX_LEAF bytes. */
int ledger_leaf_valid(const uint8_t *leaf, size_t len);

#endif
