/*
 * audit.h - the keyholder's durable signature records (SQLite, WAL, synchronous=FULL).
 * Each signature is one row, committed before the signature is returned. Many signatures
 * share one transaction (group commit). Every record is also a leaf of the ledger
 * (hsm/ledger.h), appended in the same transaction: a signature record's seq is its leaf
 * index, and its leaf is "signature <seq> <unix_ms> <tenant> <key> <alg> <digest_hex>"; a
 * record with `leaf` set is only a ledger leaf (a bundle, say), with no audit row. So audit
 * sequence numbers are leaf indexes: increasing, with gaps where other leaves are.
 */
#ifndef PS_AUDIT_H
#define PS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "../protocol/err.h"
#include "ledger.h"

struct audit;

struct audit_rec {
    int64_t ts_ms;
    const char *tenant;
    const char *key;
    const char *alg;
    const uint8_t *digest;
    size_t dlen;
    const uint8_t *leaf; /* set: a ledger leaf only (ledger_leaf_valid), no audit row */
    size_t leaf_len;
};

/* The connection is not locked: use an audit (and its ledger) from one thread at a time. */
int audit_open(const char *path, struct audit **out, char *err, size_t errlen) PS_WUR;
/* Append n records in one transaction; recs[i] is ledger leaf (and, for a signature, audit
 * seq) *first_index + i. */
int audit_append(struct audit *a, const struct audit_rec *recs, size_t n,
                 uint64_t *first_index) PS_WUR;
struct ledger *audit_ledger(struct audit *a);
sqlite3 *audit_db(struct audit *a);
void audit_close(struct audit *a);

#endif
