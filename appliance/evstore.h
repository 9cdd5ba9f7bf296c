/*
 * evstore.h - where a worker keeps sealed evidence bundles (DESIGN §6).
 *
 * state_dir/evidence/ (made by the parent, owned by the workers' user, mode 0700):
 *   <bundle_id>.asice   the bundle, named by the SHA-256 of its bytes: written to a temporary
 *                       name, fsynced, renamed, and the directory fsynced
 *   index.db            SQLite (WAL, synchronous=FULL), shared by the workers:
 *                         bundles(id, ledger_index, sealed_at_ms, size, tenant, officer,
 *                                 rights_holder)
 *                         marks(bundle_id, kind, number)   trademark / patent numbers
 * A bundle is acknowledged only after both the file and its index row are durable. A file
 * without a row (a crash in between) is not listed and is written again by a retry.
 */
#ifndef PS_EVSTORE_H
#define PS_EVSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../protocol/err.h"

struct evstore;

struct evstore_rec {
    const char *id; /* 64 lowercase hex */
    uint64_t ledger_index;
    uint64_t sealed_at_ms;
    size_t size;
    const char *tenant;  /* submitter: a tenant id, or NULL */
    const char *officer; /* or an officer id */
    const char *rights_holder;
    const uint8_t *metadata; /* metadata.json: the trademark and patent numbers are indexed */
    size_t metadata_len;
};

int evstore_open(const char *state_dir, struct evstore **out, char *err, size_t errlen) PS_WUR;
void evstore_close(struct evstore *s);
/* Store a bundle durably, then its index row. PS_E_IO / PS_E_STORAGE on failure. */
int evstore_put(struct evstore *s, const struct evstore_rec *rec, const uint8_t *zip,
                size_t len) PS_WUR;
/* The bundle's row as JSON (caller json_decref), or NULL if unknown. *tenant receives the
 * submitting tenant (or "") for access checks, into a buffer of 65 bytes. */
json_t *evstore_get(struct evstore *s, const char *id, char tenant[65]);
/* Path of a stored bundle into out. */
void evstore_path(const struct evstore *s, const char *id, char *out, size_t outlen);
/* Search: by trademark (or patent) number and/or rights holder (exact), newest first, at most
 * limit rows; tenant (if not NULL) restricts to that submitter. A JSON array. */
json_t *evstore_search(struct evstore *s, const char *mark, const char *rights_holder,
                       const char *tenant, int limit);

#endif
