/*
 * audit.h - the keyholder's durable signature records (SQLite, WAL, synchronous=FULL).
 * Each signature is one row, committed before the signature is returned. Many signatures
 * share one transaction (group commit). The ledger issue turns rows into Merkle leaves.
 */
#ifndef PS_AUDIT_H
#define PS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "../protocol/err.h"

struct audit;

struct audit_rec {
    int64_t ts_ms;
    const char *tenant;
    const char *key;
    const char *alg;
    const uint8_t *digest;
    size_t dlen;
};

int audit_open(const char *path, struct audit **out, char *err, size_t errlen) PS_WUR;
/* Append n records in one transaction; *first_seq is the sequence number of recs[0]. */
int audit_append(struct audit *a, const struct audit_rec *recs, size_t n,
                 uint64_t *first_seq) PS_WUR;
/* Number of records and whether the database answers. */
int audit_count(struct audit *a, uint64_t *n) PS_WUR;
void audit_close(struct audit *a);

#endif
