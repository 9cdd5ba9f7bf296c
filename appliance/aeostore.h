/*
 * aeostore.h - the AEO registers a worker keeps (DESIGN §6, issue 5): our own register and the
 * copies of our partners' registers, in state_dir/aeo/register.db (SQLite, WAL,
 * synchronous=FULL; the parent makes state_dir/aeo owned by the workers' user; every worker
 * opens it after the privilege drop). Every change is one transaction: it is all applied or
 * nothing is.
 *
 * Tables:
 *   own_records(seq PK, aeo_id, name, address, status, valid_from, valid_until, updated_at,
 *               imported_by)             our register: one row per change, seq 1, 2, 3, ...
 *   partner_records(origin, seq, aeo_id, ..., batch_id)   partners' changes, PK (origin, seq)
 *   partner_batches(id PK, origin, partner, from_seq, to_seq, signer, fetched_at, jws_sha256,
 *                   jws)                 provenance: each applied batch and who signed it
 *   partner_origins(origin PK, partner, last_seq, notified_seq, notified_at, fetched_at)
 *                                        how far each partner's copy goes, and its news
 *
 * Import (replace semantics per aeo_id): each imported record is compared with the operator's
 * latest record; a new operator or any difference (status, validity, name, address) is a
 * change and gets the next seq (updated_at = the import's time); an unchanged record gets
 * none. Operators absent from the file are left as they are (revoke one to end it).
 *
 * Dates are stored as days since 1970-01-01, times as seconds since the epoch, statuses as
 * their names ("valid", ...). Strings returned in structs are copies.
 * Errors: PS_E_INVAL with a reason in err (bad record, gap, replay, wrong origin, signature),
 * PS_E_STORAGE when SQLite fails, PS_E_NOTFOUND for an unknown operator, PS_E_NOMEM.
 */
#ifndef PS_AEOSTORE_H
#define PS_AEOSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "../protocol/aeo.h"
#include "../protocol/err.h"

#define AEOSTORE_SIGNER_MAX  512
#define AEOSTORE_PARTNER_MAX 64

struct aeostore;

/* Open (create) state_dir/aeo/register.db. own_origin is our feed's origin (aeo_origin),
 * reported as the provenance of our own records. rules check every record stored (NULL: the
 * defaults). The store keeps copies of both. */
int aeostore_open(const char *state_dir, const char *own_origin, const struct aeo_id_rules *rules,
                  struct aeostore **out, char *err, size_t errlen) PS_WUR;
void aeostore_close(struct aeostore *s);
/* Which register may hold an identifier: ok(ctx, origin, aeo_id) is 1 when the register of
 * origin (ours or a partner's) may hold aeo_id (config_aeo_id_allowed). Set, it is checked on
 * every record imported or applied, and a lookup asks only registers that may hold the id.
 * Without it (the default) any register may hold any identifier that passes the rules. */
typedef int (*aeostore_id_ok_fn)(const void *ctx, const char *origin, const char *aeo_id);
void aeostore_set_id_owner(struct aeostore *s, aeostore_id_ok_fn ok, const void *ctx);

/* ---- our own register ---- */

struct aeostore_import_result {
    size_t imported;              /* records in the file */
    size_t changed;               /* of them, changes (each got a seq) */
    uint64_t first_seq, last_seq; /* seqs given (first_seq 0 if none); last_seq: the register's */
};

/* Apply an import (aeo_import's output) atomically at time now; by names who imported it (the
 * officer). Every record is checked again with the store's rules (err names it). */
int aeostore_import(struct aeostore *s, const struct aeo_list *l, int64_t now, const char *by,
                    struct aeostore_import_result *res, char *err, size_t errlen) PS_WUR;

/* The register's last seq (0 when empty). */
int aeostore_own_last(struct aeostore *s, uint64_t *last) PS_WUR;

/* Our changes with seq > after, in order, at most limit of them, appended to out. */
int aeostore_own_since(struct aeostore *s, uint64_t after, size_t limit,
                       struct aeo_list *out) PS_WUR;

/* ---- partners' registers (for the puller) ---- */

struct aeostore_origin_state {
    char partner[AEOSTORE_PARTNER_MAX + 1]; /* "" if never seen */
    uint64_t last_seq;                      /* last applied seq, 0 for none */
    uint64_t notified_seq;                  /* highest seq a notify announced, 0 for none */
    int64_t notified_at, fetched_at;        /* 0 for never */
};

/* How far origin's copy goes and what the partner announced. Unknown origins read as zeros. */
int aeostore_origin_state(struct aeostore *s, const char *origin,
                          struct aeostore_origin_state *st) PS_WUR;

/* Record POST /v1/aeo/notify: partner (its origin) has changes up to seq. notified_seq only
 * grows. */
int aeostore_notify(struct aeostore *s, const char *partner, const char *origin, uint64_t seq,
                    int64_t now) PS_WUR;

/* Apply a verified batch of partner's register (whose origin is origin) atomically: b must be
 * origin's and continue the copy (aeo_batch_continues: no gap, no replay); each record is
 * checked with the store's rules; signer is the subject of the JWS signer certificate,
 * fetched_at when it was fetched; jws (may be NULL) is kept as evidence. An empty batch
 * changes nothing but fetched_at. Nothing is applied on any error. */
int aeostore_apply_batch(struct aeostore *s, const char *partner, const char *origin,
                         const struct aeo_batch *b, const char *signer, int64_t fetched_at,
                         const uint8_t *jws, size_t jwslen, char *err, size_t errlen) PS_WUR;

/* What aeostore_ingest applied. */
struct aeostore_ingested {
    uint64_t from, to; /* the batch's (to = from - 1 when empty) */
    size_t records;
    char signer[AEOSTORE_SIGNER_MAX];
};

/* The puller's whole step for one fetched feed response: verify the JWS (typ aeo-batch+jws,
 * ES256/EdDSA/RS256, x5c chaining to roots: that partner's pinned store, at time now), parse
 * the batch strictly with the store's rules, then aeostore_apply_batch. The reason of the
 * first failure is in err. */
int aeostore_ingest(struct aeostore *s, const char *partner, const char *origin, X509_STORE *roots,
                    const uint8_t *jws, size_t len, int64_t now, struct aeostore_ingested *out,
                    char *err, size_t errlen) PS_WUR;

/* The register digest (protocol/aeo.h) of origin's copy, or of our own register when origin
 * is NULL: compare with the partner's to detect divergence. */
int aeostore_digest(struct aeostore *s, const char *origin, uint8_t out[AEO_DIGEST_LEN]) PS_WUR;
/* The same over the records with seq <= upto only (the register as it was at seq upto). */
int aeostore_digest_upto(struct aeostore *s, const char *origin, uint64_t upto,
                         uint8_t out[AEO_DIGEST_LEN]) PS_WUR;

/* A fetched feed response, verified and parsed (not applied). */
struct aeostore_fetched {
    struct aeo_batch batch;
    char signer[AEOSTORE_SIGNER_MAX];
    uint8_t *jws; /* a copy of the JWS, kept as evidence */
    size_t jwslen;
};
/* The checks of aeostore_ingest without applying: the JWS against roots at now, the batch. */
int aeostore_verify(struct aeostore *s, X509_STORE *roots, const uint8_t *jws, size_t len,
                    int64_t now, struct aeostore_fetched *f, char *err, size_t errlen) PS_WUR;
void aeostore_fetched_free(struct aeostore_fetched *f);
/* Full re-sync: replace origin's whole copy by the batches f[0..n) (which must run from seq 1
 * without gaps) in one transaction, so lookups see the old copy until the new one is complete,
 * and nothing changes on any error. */
int aeostore_replace(struct aeostore *s, const char *partner, const char *origin,
                     const struct aeostore_fetched *f, size_t n, int64_t fetched_at, char *err,
                     size_t errlen) PS_WUR;

/* ---- lookups ---- */

struct aeostore_answer {
    enum aeo_state state;
    int own;                                    /* 1: our register; 0: a partner's */
    char origin[AEO_ORIGIN_MAX + 1];            /* the register that answered */
    char partner[AEOSTORE_PARTNER_MAX + 1];     /* "" for our own */
    int decided;                                /* 1 if a record decided (else state is unknown) */
    struct aeo_record rec;                      /* the deciding record, when decided */
    char signer[AEOSTORE_SIGNER_MAX];           /* batch signer ("" for our own) */
    int64_t fetched_at;                         /* when its batch was fetched (0 for our own) */
    char imported_by[AEOSTORE_PARTNER_MAX + 1]; /* our own: the officer who imported it */
};

/* The status of aeo_id at time at. Our own register answers if it has the operator, else the
 * first partner copy (by origin) that has it. PS_E_NOTFOUND if no register ever had it; a
 * known operator with no record as of at is answered with state unknown and decided 0. */
int aeostore_lookup(struct aeostore *s, const char *aeo_id, int64_t at,
                    struct aeostore_answer *a) PS_WUR;

#endif
