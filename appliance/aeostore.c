#include "aeostore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <sqlite3.h>

#include "../protocol/jws.h"

struct aeostore {
    sqlite3 *db;
    char own_origin[AEO_ORIGIN_MAX + 1];
    struct aeo_id_rules rules;
    aeostore_id_ok_fn id_ok; /* which origin may hold which identifier, or NULL: any */
    const void *id_ok_ctx;
};

void aeostore_set_id_owner(struct aeostore *s, aeostore_id_ok_fn ok, const void *ctx)
{
    s->id_ok = ok;
    s->id_ok_ctx = ctx;
}

static int id_allowed(const struct aeostore *s, const char *origin, const char *aeo_id)
{
    return s->id_ok == NULL || s->id_ok(s->id_ok_ctx, origin, aeo_id);
}

/* A record the rules accept and whose identifier the register of origin may hold. */
static int record_ok(const struct aeostore *s, const char *origin, const struct aeo_record *r,
                     char *why, size_t whylen)
{
    if (aeo_record_check(r, &s->rules, why, whylen) != PS_OK)
        return PS_E_INVAL;
    if (!id_allowed(s, origin, r->aeo_id)) {
        snprintf(why, whylen, "%s is not an identifier of origin %s (see aeo_id_prefix)", r->aeo_id,
                 origin);
        return PS_E_INVAL;
    }
    return PS_OK;
}

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS own_records ("
    " seq INTEGER PRIMARY KEY, aeo_id TEXT NOT NULL, name TEXT NOT NULL, address TEXT NOT NULL,"
    " status TEXT NOT NULL, valid_from INTEGER NOT NULL, valid_until INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, imported_by TEXT);"
    "CREATE INDEX IF NOT EXISTS own_records_id ON own_records(aeo_id, seq);"
    "CREATE TABLE IF NOT EXISTS partner_batches ("
    " id INTEGER PRIMARY KEY, origin TEXT NOT NULL, partner TEXT NOT NULL,"
    " from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, signer TEXT NOT NULL,"
    " fetched_at INTEGER NOT NULL, jws_sha256 BLOB, jws BLOB);"
    "CREATE TABLE IF NOT EXISTS partner_records ("
    " origin TEXT NOT NULL, seq INTEGER NOT NULL, aeo_id TEXT NOT NULL, name TEXT NOT NULL,"
    " address TEXT NOT NULL, status TEXT NOT NULL, valid_from INTEGER NOT NULL,"
    " valid_until INTEGER NOT NULL, updated_at INTEGER NOT NULL, batch_id INTEGER NOT NULL,"
    " PRIMARY KEY (origin, seq));"
    "CREATE INDEX IF NOT EXISTS partner_records_id ON partner_records(aeo_id, origin, seq);"
    "CREATE TABLE IF NOT EXISTS partner_origins ("
    " origin TEXT PRIMARY KEY, partner TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0,"
    " notified_seq INTEGER NOT NULL DEFAULT 0, notified_at INTEGER NOT NULL DEFAULT 0,"
    " fetched_at INTEGER NOT NULL DEFAULT 0);";

#define REC_COLS "seq, aeo_id, name, address, status, valid_from, valid_until, updated_at"

int aeostore_open(const char *state_dir, const char *own_origin, const struct aeo_id_rules *rules,
                  struct aeostore **out, char *err, size_t errlen)
{
    struct aeostore *s = calloc(1, sizeof(*s));
    char path[4200];
    char *msg = NULL;

    if (s == NULL)
        return PS_E_NOMEM;
    snprintf(s->own_origin, sizeof(s->own_origin), "%s", own_origin);
    if (rules)
        s->rules = *rules;
    else
        aeo_id_rules_default(&s->rules);
    snprintf(path, sizeof(path), "%s/aeo/register.db", state_dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "AEO register %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        aeostore_close(s);
        return PS_E_STORAGE;
    }
    *out = s;
    return PS_OK;
}

void aeostore_close(struct aeostore *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s);
}

static int begin(struct aeostore *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? PS_OK
                                                                                 : PS_E_STORAGE;
}

static int commit(struct aeostore *s)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return PS_OK;
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return PS_E_STORAGE;
}

static void rollback(struct aeostore *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int prepare(struct aeostore *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? PS_OK : PS_E_STORAGE;
}

/* A row "seq, aeo_id, name, address, status, valid_from, valid_until, updated_at" from col. */
static void row_record(sqlite3_stmt *st, int col, struct aeo_record *r)
{
    const char *status = (const char *)sqlite3_column_text(st, col + 4);

    memset(r, 0, sizeof(*r));
    r->seq = (uint64_t)sqlite3_column_int64(st, col);
    snprintf(r->aeo_id, sizeof(r->aeo_id), "%s", (const char *)sqlite3_column_text(st, col + 1));
    snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, col + 2));
    snprintf(r->address, sizeof(r->address), "%s", (const char *)sqlite3_column_text(st, col + 3));
    r->status = status ? aeo_status_from_name(status, strlen(status)) : AEO_STATUS_NONE;
    r->valid_from = sqlite3_column_int64(st, col + 5);
    r->valid_until = sqlite3_column_int64(st, col + 6);
    r->updated_at = sqlite3_column_int64(st, col + 7);
}

/* Bind a record's columns from index i (seq first). */
static void bind_record(sqlite3_stmt *st, int i, const struct aeo_record *r)
{
    sqlite3_bind_int64(st, i, (sqlite3_int64)r->seq);
    sqlite3_bind_text(st, i + 1, r->aeo_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i + 2, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i + 3, r->address, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i + 4, aeo_status_name(r->status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i + 5, r->valid_from);
    sqlite3_bind_int64(st, i + 6, r->valid_until);
    sqlite3_bind_int64(st, i + 7, r->updated_at);
}

static int same_content(const struct aeo_record *a, const struct aeo_record *b)
{
    return a->status == b->status && a->valid_from == b->valid_from &&
           a->valid_until == b->valid_until && strcmp(a->name, b->name) == 0 &&
           strcmp(a->address, b->address) == 0;
}

static int own_last_locked(struct aeostore *s, uint64_t *last)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, "SELECT COALESCE(MAX(seq), 0) FROM own_records", &st) != PS_OK)
        return PS_E_STORAGE;
    rc = sqlite3_step(st) == SQLITE_ROW ? PS_OK : PS_E_STORAGE;
    if (rc == PS_OK)
        *last = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

int aeostore_own_last(struct aeostore *s, uint64_t *last)
{
    return own_last_locked(s, last);
}

int aeostore_import(struct aeostore *s, const struct aeo_list *l, int64_t now, const char *by,
                    struct aeostore_import_result *res, char *err, size_t errlen)
{
    sqlite3_stmt *cur = NULL, *ins = NULL;
    uint64_t seq;
    char why[256];
    int rc = PS_E_STORAGE;

    memset(res, 0, sizeof(*res));
    res->imported = l->n;
    for (size_t i = 0; i < l->n; i++)
        if (record_ok(s, s->own_origin, &l->rec[i], why, sizeof(why)) != PS_OK) {
            snprintf(err, errlen, "record %zu: %s", i + 1, why);
            return PS_E_INVAL;
        }
    if (begin(s) != PS_OK) {
        snprintf(err, errlen, "the AEO register is busy or unavailable");
        return PS_E_STORAGE;
    }
    if (own_last_locked(s, &seq) != PS_OK ||
        prepare(s,
                "SELECT " REC_COLS " FROM own_records WHERE aeo_id = ? ORDER BY seq DESC LIMIT 1",
                &cur) != PS_OK ||
        prepare(s, "INSERT INTO own_records(" REC_COLS ", imported_by) VALUES (?,?,?,?,?,?,?,?,?)",
                &ins) != PS_OK)
        goto fail;
    for (size_t i = 0; i < l->n; i++) {
        struct aeo_record r = l->rec[i], old;
        int found, step;

        sqlite3_bind_text(cur, 1, r.aeo_id, -1, SQLITE_STATIC);
        step = sqlite3_step(cur);
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            goto fail;
        found = step == SQLITE_ROW;
        if (found)
            row_record(cur, 0, &old);
        sqlite3_reset(cur);
        if (found && same_content(&old, &r))
            continue;
        if (seq >= AEO_SEQ_MAX) {
            rollback(s);
            snprintf(err, errlen, "the register has reached the highest seq");
            rc = PS_E_LIMIT;
            goto out;
        }
        r.seq = ++seq;
        r.updated_at = now;
        bind_record(ins, 1, &r);
        sqlite3_bind_text(ins, 9, by, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(ins);
        if (res->changed++ == 0)
            res->first_seq = r.seq;
    }
    if (commit(s) != PS_OK)
        goto fail_committed;
    res->last_seq = seq;
    rc = PS_OK;
    goto out;
fail:
    rollback(s);
fail_committed:
    snprintf(err, errlen, "the AEO register could not be written: %s", sqlite3_errmsg(s->db));
    rc = PS_E_STORAGE;
    res->changed = 0;
    res->first_seq = 0;
out:
    sqlite3_finalize(cur);
    sqlite3_finalize(ins);
    return rc;
}

int aeostore_own_since(struct aeostore *s, uint64_t after, size_t limit, struct aeo_list *out)
{
    sqlite3_stmt *st;
    int rc = PS_OK, step;

    if (prepare(s, "SELECT " REC_COLS " FROM own_records WHERE seq > ? ORDER BY seq LIMIT ?",
                &st) != PS_OK)
        return PS_E_STORAGE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct aeo_record r;

        row_record(st, 0, &r);
        if ((rc = aeo_list_push(out, &r)) != PS_OK)
            break;
    }
    if (rc == PS_OK && step != SQLITE_DONE)
        rc = PS_E_STORAGE;
    sqlite3_finalize(st);
    return rc;
}

/* ---- partners ---- */

int aeostore_origin_state(struct aeostore *s, const char *origin, struct aeostore_origin_state *o)
{
    sqlite3_stmt *st;
    int step;

    memset(o, 0, sizeof(*o));
    if (prepare(s,
                "SELECT partner, last_seq, notified_seq, notified_at, fetched_at"
                " FROM partner_origins WHERE origin = ?",
                &st) != PS_OK)
        return PS_E_STORAGE;
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        snprintf(o->partner, sizeof(o->partner), "%s", (const char *)sqlite3_column_text(st, 0));
        o->last_seq = (uint64_t)sqlite3_column_int64(st, 1);
        o->notified_seq = (uint64_t)sqlite3_column_int64(st, 2);
        o->notified_at = sqlite3_column_int64(st, 3);
        o->fetched_at = sqlite3_column_int64(st, 4);
    }
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PS_OK : PS_E_STORAGE;
}

int aeostore_notify(struct aeostore *s, const char *partner, const char *origin, uint64_t seq,
                    int64_t now)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s,
                "INSERT INTO partner_origins(origin, partner, notified_seq, notified_at)"
                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(origin) DO UPDATE SET partner = ?2,"
                " notified_seq = MAX(notified_seq, ?3), notified_at = ?4",
                &st) != PS_OK)
        return PS_E_STORAGE;
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st) == SQLITE_DONE ? PS_OK : PS_E_STORAGE;
    sqlite3_finalize(st);
    return rc;
}

/* Insert the batch row and its records; the transaction is open. */
static int put_batch(struct aeostore *s, const char *partner, const struct aeo_batch *b,
                     const char *signer, int64_t fetched_at, const uint8_t *jws, size_t jwslen)
{
    sqlite3_stmt *bat = NULL, *ins = NULL, *org = NULL;
    uint8_t h[SHA256_DIGEST_LENGTH];
    sqlite3_int64 id;
    int rc = PS_E_STORAGE;

    if (prepare(s,
                "INSERT INTO partner_batches(origin, partner, from_seq, to_seq, signer,"
                " fetched_at, jws_sha256, jws) VALUES (?,?,?,?,?,?,?,?)",
                &bat) != PS_OK ||
        prepare(s,
                "INSERT INTO partner_records(origin, " REC_COLS
                ", batch_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                &ins) != PS_OK ||
        prepare(s,
                "INSERT INTO partner_origins(origin, partner, last_seq, fetched_at)"
                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(origin) DO UPDATE SET partner = ?2,"
                " last_seq = ?3, fetched_at = ?4",
                &org) != PS_OK)
        goto out;
    sqlite3_bind_text(bat, 1, b->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(bat, 2, partner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(bat, 3, (sqlite3_int64)b->from);
    sqlite3_bind_int64(bat, 4, (sqlite3_int64)b->to);
    sqlite3_bind_text(bat, 5, signer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(bat, 6, fetched_at);
    if (jws) {
        SHA256(jws, jwslen, h);
        sqlite3_bind_blob(bat, 7, h, sizeof(h), SQLITE_STATIC);
        sqlite3_bind_blob(bat, 8, jws, (int)jwslen, SQLITE_STATIC);
    }
    if (b->records.n > 0) {
        if (sqlite3_step(bat) != SQLITE_DONE)
            goto out;
        id = sqlite3_last_insert_rowid(s->db);
        for (size_t i = 0; i < b->records.n; i++) {
            sqlite3_bind_text(ins, 1, b->origin, -1, SQLITE_STATIC);
            bind_record(ins, 2, &b->records.rec[i]);
            sqlite3_bind_int64(ins, 10, id);
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto out;
            sqlite3_reset(ins);
        }
    }
    sqlite3_bind_text(org, 1, b->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(org, 2, partner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(org, 3, (sqlite3_int64)b->to);
    sqlite3_bind_int64(org, 4, fetched_at);
    if (sqlite3_step(org) != SQLITE_DONE)
        goto out;
    rc = PS_OK;
out:
    sqlite3_finalize(bat);
    sqlite3_finalize(ins);
    sqlite3_finalize(org);
    return rc;
}

/* A batch's own consistency: its seqs run from..to, every record passes the rules. */
static int batch_check(struct aeostore *s, const char *origin, const struct aeo_batch *b, char *err,
                       size_t errlen)
{
    char why[256];

    if (b->records.n != (b->to + 1 - b->from) || b->from == 0) {
        snprintf(err, errlen, "batch from %llu to %llu holds %zu records",
                 (unsigned long long)b->from, (unsigned long long)b->to, b->records.n);
        return PS_E_INVAL;
    }
    for (size_t i = 0; i < b->records.n; i++) {
        if (b->records.rec[i].seq != b->from + i) {
            snprintf(err, errlen, "records[%zu]: seq %llu, expected %llu", i,
                     (unsigned long long)b->records.rec[i].seq, (unsigned long long)(b->from + i));
            return PS_E_INVAL;
        }
        if (record_ok(s, origin, &b->records.rec[i], why, sizeof(why)) != PS_OK) {
            snprintf(err, errlen, "records[%zu]: %s", i, why);
            return PS_E_INVAL;
        }
    }
    return PS_OK;
}

/* Begin a write transaction and read the origin's copy end inside it (so two writers cannot
 * both apply); refuses an origin fed by another partner. Rolls back on failure. */
static int origin_locked(struct aeostore *s, const char *partner, const char *origin,
                         struct aeostore_origin_state *o, char *err, size_t errlen)
{
    if (begin(s) != PS_OK) {
        snprintf(err, errlen, "the AEO register is busy or unavailable");
        return PS_E_STORAGE;
    }
    if (aeostore_origin_state(s, origin, o) != PS_OK) {
        rollback(s);
        snprintf(err, errlen, "the AEO register could not be read");
        return PS_E_STORAGE;
    }
    if (o->partner[0] && strcmp(o->partner, partner) != 0) {
        rollback(s);
        snprintf(err, errlen, "origin %s is partner %s's, not %s's", origin, o->partner, partner);
        return PS_E_INVAL;
    }
    return PS_OK;
}

int aeostore_apply_batch(struct aeostore *s, const char *partner, const char *origin,
                         const struct aeo_batch *b, const char *signer, int64_t fetched_at,
                         const uint8_t *jws, size_t jwslen, char *err, size_t errlen)
{
    struct aeostore_origin_state o;
    int rc;

    if ((rc = batch_check(s, origin, b, err, errlen)) != PS_OK)
        return rc;
    if ((rc = origin_locked(s, partner, origin, &o, err, errlen)) != PS_OK)
        return rc;
    if ((rc = aeo_batch_continues(b, origin, o.last_seq, err, errlen)) != PS_OK) {
        rollback(s);
        return rc;
    }
    if (put_batch(s, partner, b, signer, fetched_at, jws, jwslen) != PS_OK || commit(s) != PS_OK) {
        snprintf(err, errlen, "the AEO register could not be written: %s", sqlite3_errmsg(s->db));
        rollback(s);
        return PS_E_STORAGE;
    }
    return PS_OK;
}

int aeostore_verify(struct aeostore *s, X509_STORE *roots, const uint8_t *jws, size_t len,
                    int64_t now, struct aeostore_fetched *f, char *err, size_t errlen)
{
    struct jws_verify_opts o;
    struct jws_result r;
    char why[256];
    int rc;

    memset(f, 0, sizeof(*f));
    memset(&o, 0, sizeof(o));
    o.algs = JWS_ES256 | JWS_EDDSA | JWS_RS256;
    o.roots = roots;
    o.at = (time_t)now;
    o.typ = AEO_BATCH_TYP;
    o.max_len = JWS_MAX_LEN;
    if ((rc = jws_verify(jws, len, &o, &r, why, sizeof(why))) != PS_OK) {
        snprintf(err, errlen, "feed JWS: %s", why);
        return rc;
    }
    X509_NAME_oneline(X509_get_subject_name(r.leaf), f->signer, sizeof(f->signer));
    if ((rc = aeo_batch_parse(r.payload, r.payload_len, &s->rules, &f->batch, why, sizeof(why))) !=
        PS_OK)
        snprintf(err, errlen, "batch: %s", why);
    else if ((f->jws = malloc(len)) == NULL)
        rc = PS_E_NOMEM;
    else
        memcpy(f->jws, jws, f->jwslen = len);
    jws_result_free(&r);
    if (rc != PS_OK)
        aeostore_fetched_free(f);
    return rc;
}

void aeostore_fetched_free(struct aeostore_fetched *f)
{
    aeo_batch_free(&f->batch);
    free(f->jws);
    f->jws = NULL;
    f->jwslen = 0;
}

int aeostore_ingest(struct aeostore *s, const char *partner, const char *origin, X509_STORE *roots,
                    const uint8_t *jws, size_t len, int64_t now, struct aeostore_ingested *out,
                    char *err, size_t errlen)
{
    struct aeostore_fetched f;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = aeostore_verify(s, roots, jws, len, now, &f, err, errlen)) != PS_OK)
        return rc;
    snprintf(out->signer, sizeof(out->signer), "%s", f.signer);
    rc = aeostore_apply_batch(s, partner, origin, &f.batch, f.signer, now, jws, len, err, errlen);
    if (rc == PS_OK) {
        out->from = f.batch.from;
        out->to = f.batch.to;
        out->records = f.batch.records.n;
    }
    aeostore_fetched_free(&f);
    return rc;
}

int aeostore_replace(struct aeostore *s, const char *partner, const char *origin,
                     const struct aeostore_fetched *f, size_t n, int64_t fetched_at, char *err,
                     size_t errlen)
{
    struct aeostore_origin_state o;
    uint64_t last = 0;
    sqlite3_stmt *del[3] = {NULL, NULL, NULL};
    int rc;

    for (size_t i = 0; i < n; i++)
        if ((rc = batch_check(s, origin, &f[i].batch, err, errlen)) != PS_OK)
            return rc;
    if ((rc = origin_locked(s, partner, origin, &o, err, errlen)) != PS_OK)
        return rc;
    rc = PS_E_STORAGE;
    if (prepare(s, "DELETE FROM partner_records WHERE origin = ?", &del[0]) != PS_OK ||
        prepare(s, "DELETE FROM partner_batches WHERE origin = ?", &del[1]) != PS_OK ||
        prepare(s, "UPDATE partner_origins SET last_seq = 0 WHERE origin = ?", &del[2]) != PS_OK)
        goto fail;
    for (int k = 0; k < 3; k++) {
        sqlite3_bind_text(del[k], 1, origin, -1, SQLITE_STATIC);
        if (sqlite3_step(del[k]) != SQLITE_DONE)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = aeo_batch_continues(&f[i].batch, origin, last, err, errlen)) != PS_OK)
            goto fail;
        rc = PS_E_STORAGE;
        if (put_batch(s, partner, &f[i].batch, f[i].signer, fetched_at, f[i].jws, f[i].jwslen) !=
            PS_OK)
            goto fail;
        last = f[i].batch.to;
    }
    for (int k = 0; k < 3; k++)
        sqlite3_finalize(del[k]);
    if (commit(s) != PS_OK) {
        snprintf(err, errlen, "the AEO register could not be written: %s", sqlite3_errmsg(s->db));
        return PS_E_STORAGE;
    }
    return PS_OK;
fail:
    if (rc == PS_E_STORAGE)
        snprintf(err, errlen, "the AEO register could not be written: %s", sqlite3_errmsg(s->db));
    for (int k = 0; k < 3; k++)
        sqlite3_finalize(del[k]);
    rollback(s);
    return rc;
}

int aeostore_digest(struct aeostore *s, const char *origin, uint8_t out[AEO_DIGEST_LEN])
{
    return aeostore_digest_upto(s, origin, UINT64_MAX >> 1, out);
}

int aeostore_digest_upto(struct aeostore *s, const char *origin, uint64_t upto,
                         uint8_t out[AEO_DIGEST_LEN])
{
    struct aeo_list l = {0};
    sqlite3_stmt *st;
    int rc = PS_OK, step;

    /* only each operator's latest record matters, but aeo_register_digest takes history */
    if (prepare(s,
                origin ? "SELECT " REC_COLS " FROM partner_records WHERE seq <= ?1 AND origin = ?2"
                       : "SELECT " REC_COLS " FROM own_records WHERE seq <= ?1",
                &st) != PS_OK)
        return PS_E_STORAGE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)upto);
    if (origin)
        sqlite3_bind_text(st, 2, origin, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct aeo_record r;

        row_record(st, 0, &r);
        if ((rc = aeo_list_push(&l, &r)) != PS_OK)
            break;
    }
    if (rc == PS_OK && step != SQLITE_DONE)
        rc = PS_E_STORAGE;
    sqlite3_finalize(st);
    if (rc == PS_OK)
        rc = aeo_register_digest(l.rec, l.n, out);
    aeo_list_free(&l);
    return rc;
}

/* ---- lookups ---- */

/* The records of aeo_id in one register: ours (origin NULL) or the first partner origin that
 * has it (its name into a->origin). */
/* The history of aeo_id in our register (origin NULL) or in the copy of origin. */
static int load_history(struct aeostore *s, const char *aeo_id, const char *origin,
                        struct aeo_list *l)
{
    sqlite3_stmt *st;
    int rc = PS_OK, step;

    if (prepare(s,
                origin == NULL ? "SELECT " REC_COLS " FROM own_records WHERE aeo_id = ?"
                               : "SELECT " REC_COLS
                                 " FROM partner_records WHERE aeo_id = ? AND origin = ?",
                &st) != PS_OK)
        return PS_E_STORAGE;
    sqlite3_bind_text(st, 1, aeo_id, -1, SQLITE_STATIC);
    if (origin)
        sqlite3_bind_text(st, 2, origin, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct aeo_record r;

        row_record(st, 0, &r);
        if ((rc = aeo_list_push(l, &r)) != PS_OK)
            break;
    }
    if (rc == PS_OK && step != SQLITE_DONE)
        rc = PS_E_STORAGE;
    sqlite3_finalize(st);
    return rc;
}

/* The first partner origin (by name) whose copy holds aeo_id and may hold it, into a->origin;
 * PS_E_NOTFOUND when none. */
static int partner_origin_of(struct aeostore *s, const char *aeo_id, struct aeostore_answer *a)
{
    sqlite3_stmt *st;
    int rc = PS_E_NOTFOUND, step;

    if (prepare(s, "SELECT DISTINCT origin FROM partner_records WHERE aeo_id = ? ORDER BY origin",
                &st) != PS_OK)
        return PS_E_STORAGE;
    sqlite3_bind_text(st, 1, aeo_id, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *o = (const char *)sqlite3_column_text(st, 0);

        if (o && id_allowed(s, o, aeo_id)) {
            snprintf(a->origin, sizeof(a->origin), "%s", o);
            rc = PS_OK;
            break;
        }
    }
    if (rc != PS_OK && step != SQLITE_DONE)
        rc = PS_E_STORAGE;
    sqlite3_finalize(st);
    return rc;
}

/* Who brought the deciding record: the officer (own) or the batch (partner). */
static int provenance(struct aeostore *s, struct aeostore_answer *a)
{
    sqlite3_stmt *st;
    const unsigned char *t;
    int rc;

    if (prepare(s,
                a->own ? "SELECT imported_by FROM own_records WHERE seq = ?2"
                       : "SELECT b.partner, b.signer, b.fetched_at FROM partner_records r"
                         " JOIN partner_batches b ON b.id = r.batch_id"
                         " WHERE r.origin = ?1 AND r.seq = ?2",
                &st) != PS_OK)
        return PS_E_STORAGE;
    if (!a->own)
        sqlite3_bind_text(st, 1, a->origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)a->rec.seq);
    rc = sqlite3_step(st) == SQLITE_ROW ? PS_OK : PS_E_STORAGE;
    if (rc == PS_OK && a->own) {
        t = sqlite3_column_text(st, 0);
        snprintf(a->imported_by, sizeof(a->imported_by), "%s", t ? (const char *)t : "");
    } else if (rc == PS_OK) {
        snprintf(a->partner, sizeof(a->partner), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(a->signer, sizeof(a->signer), "%s", (const char *)sqlite3_column_text(st, 1));
        a->fetched_at = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return rc;
}

int aeostore_lookup(struct aeostore *s, const char *aeo_id, int64_t at, struct aeostore_answer *a)
{
    struct aeo_list l = {0};
    const struct aeo_record *used = NULL;
    int rc;

    memset(a, 0, sizeof(*a));
    /* one read transaction: the history and its provenance agree */
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return PS_E_STORAGE;
    a->own = 1;
    snprintf(a->origin, sizeof(a->origin), "%s", s->own_origin);
    rc = id_allowed(s, s->own_origin, aeo_id) ? load_history(s, aeo_id, NULL, &l) : PS_OK;
    if (rc == PS_OK && l.n == 0) {
        a->own = 0;
        if ((rc = partner_origin_of(s, aeo_id, a)) == PS_OK)
            rc = load_history(s, aeo_id, a->origin, &l);
    }
    if (rc == PS_OK && l.n == 0)
        rc = PS_E_NOTFOUND;
    if (rc == PS_OK) {
        a->state = aeo_status_at(l.rec, l.n, aeo_id, at, &used);
        if (used) {
            a->decided = 1;
            a->rec = *used;
            rc = provenance(s, a);
        }
    }
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    aeo_list_free(&l);
    return rc;
}
