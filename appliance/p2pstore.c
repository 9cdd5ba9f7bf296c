#include "p2pstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../protocol/timefmt.h"

struct p2pstore {
    sqlite3 *db;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS inbox ("
    " n INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL, id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, type TEXT NOT NULL, priority TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER, digest TEXT NOT NULL, payload BLOB NOT NULL,"
    " jws BLOB NOT NULL, received_ms INTEGER NOT NULL, ledger_index INTEGER,"
    " receipt BLOB NOT NULL, gap_before INTEGER NOT NULL,"
    " UNIQUE(peer, id), UNIQUE(peer, seq));"
    "CREATE TABLE IF NOT EXISTS outbox ("
    " n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, peer TEXT NOT NULL,"
    " seq INTEGER NOT NULL, type TEXT NOT NULL, priority INTEGER NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER, payload BLOB NOT NULL, officer TEXT,"
    " status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_ms INTEGER NOT NULL DEFAULT 0, lease_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    " jws BLOB, queued_ms INTEGER NOT NULL, sent_ms INTEGER, acked_ms INTEGER, receipt BLOB,"
    " receipt_ledger_index INTEGER, UNIQUE(peer, seq));"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, priority, seq);";

int p2pstore_open(const char *dir, struct p2pstore **out, char *err, size_t errlen)
{
    struct p2pstore *s = calloc(1, sizeof(*s));
    char path[4200];
    char *msg = NULL;

    if (s == NULL)
        return PS_E_NOMEM;
    snprintf(path, sizeof(path), "%s/p2p.db", dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "p2p store %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        p2pstore_close(s);
        return PS_E_STORAGE;
    }
    *out = s;
    return PS_OK;
}

void p2pstore_close(struct p2pstore *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s);
}

static int begin(struct p2pstore *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? PS_OK
                                                                                 : PS_E_STORAGE;
}

static int commit(struct p2pstore *s)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return PS_OK;
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return PS_E_STORAGE;
}

static void rollback(struct p2pstore *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static sqlite3_stmt *prep(struct p2pstore *s, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* ---- inbox ---- */

static int in_classify(struct p2pstore *s, const char *peer, const char *id, uint64_t seq,
                       const char *digest_hex, enum p2p_in_state *state, struct buf *receipt,
                       char other_id[65])
{
    sqlite3_stmt *st;
    int r = PS_OK, rc;

    *state = P2P_IN_NEW;
    if (receipt)
        buf_reset(receipt);
    if ((st = prep(s, "SELECT digest, receipt FROM inbox WHERE peer = ? AND id = ?")) == NULL)
        return PS_E_STORAGE;
    sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (strcmp((const char *)sqlite3_column_text(st, 0), digest_hex) != 0) {
            *state = P2P_IN_ID_CONFLICT;
        } else {
            *state = P2P_IN_SAME;
            if (receipt)
                r = buf_append(receipt, sqlite3_column_blob(st, 1),
                               (size_t)sqlite3_column_bytes(st, 1));
        }
    } else if (rc != SQLITE_DONE) {
        r = PS_E_STORAGE;
    }
    sqlite3_finalize(st);
    if (r != PS_OK || *state != P2P_IN_NEW)
        return r;
    if ((st = prep(s, "SELECT id FROM inbox WHERE peer = ? AND seq = ?")) == NULL)
        return PS_E_STORAGE;
    sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *state = P2P_IN_SEQ_CONFLICT;
        snprintf(other_id, 65, "%s", (const char *)sqlite3_column_text(st, 0));
    } else if (rc != SQLITE_DONE) {
        r = PS_E_STORAGE;
    }
    sqlite3_finalize(st);
    return r;
}

int p2pstore_in_check(struct p2pstore *s, const char *peer, const char *id, uint64_t seq,
                      const char *digest_hex, enum p2p_in_state *state, struct buf *receipt,
                      char other_id[65])
{
    return in_classify(s, peer, id, seq, digest_hex, state, receipt, other_id);
}

/* p2pstore_in_put inside the caller's transaction; PS_OK with *state, or a storage error. */
static int in_put_locked(struct p2pstore *s, const struct p2p_in *m, enum p2p_in_state *state,
                         struct buf *receipt, char other_id[65], uint64_t *gap_before)
{
    const struct p2p_envelope *e = m->e;
    sqlite3_stmt *st = NULL;
    uint64_t top = 0;
    int r;

    *gap_before = 0;
    if ((r = in_classify(s, e->from, e->id, e->seq, m->digest_hex, state, receipt, other_id)) !=
            PS_OK ||
        *state != P2P_IN_NEW)
        return r;
    r = PS_E_STORAGE;
    if ((st = prep(s, "SELECT COALESCE(MAX(seq), 0) FROM inbox WHERE peer = ?")) == NULL)
        goto out;
    sqlite3_bind_text(st, 1, e->from, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    top = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (e->seq > top + 1)
        *gap_before = e->seq - top - 1;
    if ((st = prep(s, "INSERT INTO inbox(peer, id, seq, type, priority, created, expires, digest,"
                      " payload, jws, received_ms, ledger_index, receipt, gap_before)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) == NULL)
        goto out;
    sqlite3_bind_text(st, 1, e->from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)e->seq);
    sqlite3_bind_text(st, 4, p2p_type_name(e->type), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, p2p_priority_name(e->priority), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, e->created);
    if (e->has_expires)
        sqlite3_bind_int64(st, 7, e->expires);
    sqlite3_bind_text(st, 8, m->digest_hex, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 9, m->payload, (int)m->payload_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, m->jws, (int)m->jws_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, m->received_ms);
    if (m->ledger_index >= 0)
        sqlite3_bind_int64(st, 12, m->ledger_index);
    sqlite3_bind_blob(st, 13, m->receipt, (int)m->receipt_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 14, (sqlite3_int64)*gap_before);
    if (sqlite3_step(st) == SQLITE_DONE)
        r = PS_OK;
out:
    sqlite3_finalize(st);
    return r;
}

int p2pstore_in_put(struct p2pstore *s, const struct p2p_in *m, enum p2p_in_state *state,
                    struct buf *receipt, char other_id[65], uint64_t *gap_before)
{
    int r;

    if ((r = begin(s)) != PS_OK)
        return r;
    if ((r = in_put_locked(s, m, state, receipt, other_id, gap_before)) != PS_OK ||
        *state != P2P_IN_NEW) {
        rollback(s);
        return r;
    }
    return commit(s);
}

int p2pstore_in_put_many(struct p2pstore *s, const struct p2p_in *m, size_t n,
                         enum p2p_in_state *state, struct buf *receipt, char (*other_id)[65],
                         uint64_t *gap_before)
{
    int r;

    if ((r = begin(s)) != PS_OK)
        return r;
    for (size_t i = 0; i < n; i++)
        if ((r = in_put_locked(s, &m[i], &state[i], &receipt[i], other_id[i], &gap_before[i])) !=
            PS_OK) {
            rollback(s);
            return r;
        }
    return commit(s);
}

/* ---- outbox ---- */

int p2pstore_out_add(struct p2pstore *s, struct p2p_envelope *e, const char *officer,
                     int64_t now_ms, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    struct buf payload;
    int r;

    buf_init(&payload, P2P_MAX_LEN);
    if ((r = begin(s)) != PS_OK) {
        snprintf(err, errlen, "the p2p store is busy or unavailable");
        return r;
    }
    r = PS_E_STORAGE;
    snprintf(err, errlen, "the p2p store failed: %s", "cannot read the channel's seq");
    if ((st = prep(s, "SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE peer = ?")) == NULL)
        goto fail;
    sqlite3_bind_text(st, 1, e->to, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    e->seq = (uint64_t)sqlite3_column_int64(st, 0) + 1;
    sqlite3_finalize(st);
    st = NULL;
    if ((r = p2p_envelope_format(e, &payload, err, errlen)) != PS_OK)
        goto fail;
    r = PS_E_STORAGE;
    snprintf(err, errlen, "the p2p store failed: %s", "cannot store the message");
    if ((st = prep(
             s, "INSERT INTO outbox(id, peer, seq, type, priority, created, expires, payload,"
                " officer, status, queued_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)")) ==
        NULL)
        goto fail;
    sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)e->seq);
    sqlite3_bind_text(st, 4, p2p_type_name(e->type), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, e->priority == P2P_URGENT ? 0 : 1);
    sqlite3_bind_int64(st, 6, e->created);
    if (e->has_expires)
        sqlite3_bind_int64(st, 7, e->expires);
    sqlite3_bind_blob(st, 8, payload.data, (int)payload.len, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, officer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, now_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    buf_free(&payload);
    if ((r = commit(s)) != PS_OK)
        snprintf(err, errlen, "the p2p store failed: %s", "commit");
    return r;
fail:
    sqlite3_finalize(st);
    buf_free(&payload);
    rollback(s);
    return r;
}

void p2p_claim_free(struct p2p_claim *c)
{
    buf_free(&c->payload);
    buf_free(&c->jws);
}

/* Due: queued and its time has come, or claimed and the lease ran out; not expired. */
#define DUE_SQL                                                                                    \
    "((status = 'queued' AND next_ms <= ?1) OR (status = 'sending' AND lease_ms <= ?1))"           \
    " AND (expires IS NULL OR expires * 1000 > ?1)"

/* Claim one message inside the open transaction; on failure c is freed and nothing changed
 * (the caller rolls back). */
static int claim_locked(struct p2pstore *s, const char *peer, int64_t now_ms, int64_t lease_ms,
                        struct p2p_claim *c)
{
    sqlite3_stmt *st = NULL;
    int r = PS_E_STORAGE, rc;

    memset(c, 0, sizeof(*c));
    buf_init(&c->payload, P2P_MAX_LEN);
    buf_init(&c->jws, 2 * P2P_MAX_LEN + 256 * 1024);
    if ((st = prep(s, "SELECT id, peer, seq, priority, attempts, payload, jws FROM outbox"
                      " WHERE " DUE_SQL " AND (?2 IS NULL OR peer = ?2)"
                      " ORDER BY priority, seq, n LIMIT 1")) == NULL)
        goto fail;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, peer, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
        r = PS_E_NOTFOUND;
        goto fail;
    }
    if (rc != SQLITE_ROW)
        goto fail;
    snprintf(c->id, sizeof(c->id), "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(c->peer, sizeof(c->peer), "%s", (const char *)sqlite3_column_text(st, 1));
    c->seq = (uint64_t)sqlite3_column_int64(st, 2);
    c->priority = sqlite3_column_int(st, 3) == 0 ? P2P_URGENT : P2P_ROUTINE;
    c->attempts = (unsigned)sqlite3_column_int(st, 4) + 1;
    if (buf_append(&c->payload, sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5)) !=
            PS_OK ||
        buf_append(&c->jws, sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6)) !=
            PS_OK)
        goto fail;
    sqlite3_finalize(st);
    if ((st = prep(s, "UPDATE outbox SET status = 'sending', lease_ms = ?, attempts = attempts + 1"
                      " WHERE id = ?")) == NULL)
        goto fail;
    sqlite3_bind_int64(st, 1, now_ms + lease_ms);
    sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    return PS_OK;
fail:
    sqlite3_finalize(st);
    p2p_claim_free(c);
    return r;
}

int p2pstore_out_claim(struct p2pstore *s, const char *peer, int64_t now_ms, int64_t lease_ms,
                       struct p2p_claim *c)
{
    size_t n = 0;
    int r = p2pstore_out_claim_many(s, peer, now_ms, lease_ms, c, 1, &n);

    return r == PS_OK && n == 0 ? PS_E_NOTFOUND : r;
}

int p2pstore_out_claim_many(struct p2pstore *s, const char *peer, int64_t now_ms, int64_t lease_ms,
                            struct p2p_claim *c, size_t max, size_t *n)
{
    int r;

    *n = 0;
    for (size_t i = 0; i < max; i++)
        memset(&c[i], 0, sizeof(c[i]));
    if ((r = begin(s)) != PS_OK)
        return r;
    while (*n < max && (r = claim_locked(s, peer, now_ms, lease_ms, &c[*n])) == PS_OK)
        (*n)++;
    if ((r == PS_OK || r == PS_E_NOTFOUND) && (r = commit(s)) == PS_OK)
        return PS_OK;
    rollback(s);
    for (size_t i = 0; i < *n; i++)
        p2p_claim_free(&c[i]);
    *n = 0;
    return r;
}

int p2pstore_out_release(struct p2pstore *s, unsigned *count)
{
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET status = 'queued', lease_ms = 0"
                               " WHERE status = 'sending'");
    int r;

    if (st == NULL)
        return PS_E_STORAGE;
    r = sqlite3_step(st) == SQLITE_DONE ? PS_OK : PS_E_STORAGE;
    if (count)
        *count = r == PS_OK ? (unsigned)sqlite3_changes(s->db) : 0;
    sqlite3_finalize(st);
    return r;
}

int p2pstore_batch_begin(struct p2pstore *s)
{
    return begin(s);
}

int p2pstore_batch_commit(struct p2pstore *s)
{
    return commit(s);
}

/* One UPDATE by id in its own (autocommit, durable) transaction; PS_E_NOTFOUND if no row. */
static int update_one(struct p2pstore *s, sqlite3_stmt *st)
{
    int r;

    if (st == NULL)
        return PS_E_STORAGE;
    r = sqlite3_step(st) == SQLITE_DONE ? PS_OK : PS_E_STORAGE;
    if (r == PS_OK && sqlite3_changes(s->db) != 1)
        r = PS_E_NOTFOUND;
    sqlite3_finalize(st);
    return r;
}

int p2pstore_out_set_jws(struct p2pstore *s, const char *id, const uint8_t *jws, size_t len)
{
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET jws = ? WHERE id = ?");

    if (st) {
        sqlite3_bind_blob(st, 1, jws, (int)len, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    }
    return update_one(s, st);
}

int p2pstore_out_retry(struct p2pstore *s, const char *id, int64_t next_ms, const char *why)
{
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET status = 'queued', next_ms = ?, lease_ms = 0,"
                               " last_error = ? WHERE id = ? AND status = 'sending'");

    if (st) {
        sqlite3_bind_int64(st, 1, next_ms);
        sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    }
    return update_one(s, st);
}

/* A delivery ended without a usable receipt: status 'sent' or 'refused'. */
static int out_end(struct p2pstore *s, const char *status, const char *id, int64_t now_ms,
                   const char *why)
{
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET status = ?, sent_ms = ?, last_error = ?"
                               " WHERE id = ? AND status IN ('queued', 'sending')");

    if (st) {
        sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    }
    return update_one(s, st);
}

int p2pstore_out_sent(struct p2pstore *s, const char *id, int64_t now_ms, const char *why)
{
    return out_end(s, "sent", id, now_ms, why);
}

int p2pstore_out_refused(struct p2pstore *s, const char *id, int64_t now_ms, const char *why)
{
    return out_end(s, "refused", id, now_ms, why);
}

int p2pstore_out_acked(struct p2pstore *s, const char *id, int64_t now_ms, const uint8_t *receipt,
                       size_t len, int64_t receipt_ledger_index)
{
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET status = 'acknowledged',"
                               " sent_ms = COALESCE(sent_ms, ?1), acked_ms = ?1, receipt = ?2,"
                               " receipt_ledger_index = ?3, last_error = NULL"
                               " WHERE id = ?4 AND status IN ('queued', 'sending', 'sent')");

    if (st) {
        sqlite3_bind_int64(st, 1, now_ms);
        sqlite3_bind_blob(st, 2, receipt, (int)len, SQLITE_STATIC);
        if (receipt_ledger_index >= 0)
            sqlite3_bind_int64(st, 3, receipt_ledger_index);
        sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    }
    return update_one(s, st);
}

int p2pstore_out_expire(struct p2pstore *s, int64_t now_ms, unsigned *count)
{
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET status = 'expired', last_error = 'expired'"
                               " WHERE expires IS NOT NULL AND expires * 1000 <= ?1 AND"
                               " (status = 'queued' OR (status = 'sending' AND lease_ms <= ?1))");
    int r;

    if (count)
        *count = 0;
    if (st == NULL)
        return PS_E_STORAGE;
    sqlite3_bind_int64(st, 1, now_ms);
    r = sqlite3_step(st) == SQLITE_DONE ? PS_OK : PS_E_STORAGE;
    if (r == PS_OK && count)
        *count = (unsigned)sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return r;
}

/* ---- readers ---- */

static json_t *stamp_json(int64_t t)
{
    char b[TIME_STAMP_LEN + 1];

    return time_format_stamp(t, b) == PS_OK ? json_string(b) : json_null();
}

static json_t *ms_json(sqlite3_stmt *st, int col)
{
    int64_t ms;
    char b[TIME_STAMP_LEN + 1], out[40];

    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return json_null();
    ms = sqlite3_column_int64(st, col);
    if (time_format_stamp(ms / 1000, b) != PS_OK)
        return json_null();
    snprintf(out, sizeof(out), "%.19s.%03dZ", b, (int)(ms % 1000));
    return json_string(out);
}

static json_t *opt_int(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL
               ? json_null()
               : json_integer((json_int_t)sqlite3_column_int64(st, col));
}

static json_t *opt_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t ? json_string((const char *)t) : json_null();
}

static json_t *opt_blob_string(sqlite3_stmt *st, int col)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);

    return p && n > 0 ? json_stringn(p, (size_t)n) : json_null();
}

/* The envelope's body, parsed back from the stored payload. */
static json_t *body_json(sqlite3_stmt *st, int col)
{
    json_t *env =
        json_loadb(sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col), 0, NULL);
    json_t *body = env ? json_incref(json_object_get(env, "body")) : NULL;

    json_decref(env);
    return body ? body : json_null();
}

#define IN_COLS                                                                                    \
    "n, peer, id, seq, type, priority, created, expires, digest, payload, received_ms,"            \
    " ledger_index, receipt, gap_before"

static json_t *in_row(sqlite3_stmt *st)
{
    json_t *m = json_object();

    json_object_set_new(m, "n", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(m, "dir", json_string("in"));
    json_object_set_new(m, "id", opt_text(st, 2));
    json_object_set_new(m, "from", opt_text(st, 1));
    json_object_set_new(m, "seq", json_integer(sqlite3_column_int64(st, 3)));
    json_object_set_new(m, "type", opt_text(st, 4));
    json_object_set_new(m, "priority", opt_text(st, 5));
    json_object_set_new(m, "created", stamp_json(sqlite3_column_int64(st, 6)));
    json_object_set_new(m, "expires",
                        sqlite3_column_type(st, 7) == SQLITE_NULL
                            ? json_null()
                            : stamp_json(sqlite3_column_int64(st, 7)));
    json_object_set_new(m, "status", json_string("received"));
    json_object_set_new(m, "digest", opt_text(st, 8));
    json_object_set_new(m, "received_at", ms_json(st, 10));
    json_object_set_new(m, "ledger_index", opt_int(st, 11));
    json_object_set_new(m, "gap_before", json_integer(sqlite3_column_int64(st, 13)));
    json_object_set_new(m, "receipt", opt_blob_string(st, 12));
    json_object_set_new(m, "body", body_json(st, 9));
    return m;
}

#define OUT_COLS                                                                                   \
    "n, id, peer, seq, type, priority, created, expires, payload, officer, status, attempts,"      \
    " last_error, queued_ms, sent_ms, acked_ms, receipt, receipt_ledger_index, next_ms"

static json_t *out_row(sqlite3_stmt *st, int64_t now_ms)
{
    json_t *m = json_object();
    const char *status = (const char *)sqlite3_column_text(st, 10);
    int expired =
        sqlite3_column_type(st, 7) != SQLITE_NULL && sqlite3_column_int64(st, 7) * 1000 <= now_ms;

    if (strcmp(status, "queued") == 0 && expired)
        status = "expired";
    else if (strcmp(status, "sending") == 0)
        status = "queued"; /* in flight: still queued until the partner's receipt */
    json_object_set_new(m, "n", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(m, "dir", json_string("out"));
    json_object_set_new(m, "id", opt_text(st, 1));
    json_object_set_new(m, "to", opt_text(st, 2));
    json_object_set_new(m, "seq", json_integer(sqlite3_column_int64(st, 3)));
    json_object_set_new(m, "type", opt_text(st, 4));
    json_object_set_new(m, "priority",
                        json_string(sqlite3_column_int(st, 5) == 0 ? "urgent" : "routine"));
    json_object_set_new(m, "created", stamp_json(sqlite3_column_int64(st, 6)));
    json_object_set_new(m, "expires",
                        sqlite3_column_type(st, 7) == SQLITE_NULL
                            ? json_null()
                            : stamp_json(sqlite3_column_int64(st, 7)));
    json_object_set_new(m, "status", json_string(status));
    json_object_set_new(m, "officer", opt_text(st, 9));
    json_object_set_new(m, "attempts", json_integer(sqlite3_column_int64(st, 11)));
    json_object_set_new(m, "last_error", opt_text(st, 12));
    json_object_set_new(m, "queued_at", ms_json(st, 13));
    json_object_set_new(m, "sent_at", ms_json(st, 14));
    json_object_set_new(m, "acknowledged_at", ms_json(st, 15));
    json_object_set_new(m, "receipt", opt_blob_string(st, 16));
    json_object_set_new(m, "receipt_ledger_index", opt_int(st, 17));
    json_object_set_new(m, "body", body_json(st, 8));
    return m;
}

json_t *p2pstore_list(struct p2pstore *s, const char *dir, uint64_t after, int limit,
                      int64_t now_ms)
{
    int in = strcmp(dir, "in") == 0;
    sqlite3_stmt *st =
        prep(s, in ? "SELECT " IN_COLS " FROM inbox WHERE n > ? ORDER BY n LIMIT ?"
                   : "SELECT " OUT_COLS " FROM outbox WHERE n > ? ORDER BY n LIMIT ?");
    json_t *a;
    int rc;

    if (st == NULL || (a = json_array()) == NULL) {
        sqlite3_finalize(st);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(a, in ? in_row(st) : out_row(st, now_ms));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *p2pstore_get(struct p2pstore *s, const char *id, int64_t now_ms)
{
    sqlite3_stmt *st = prep(s, "SELECT " OUT_COLS " FROM outbox WHERE id = ?");
    json_t *m = NULL;

    if (st == NULL)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        m = out_row(st, now_ms);
    sqlite3_finalize(st);
    if (m || (st = prep(s, "SELECT " IN_COLS " FROM inbox WHERE id = ? ORDER BY n DESC LIMIT 1")) ==
                 NULL)
        return m;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        m = in_row(st);
    sqlite3_finalize(st);
    return m;
}

json_t *p2pstore_gaps(struct p2pstore *s)
{
    /* a gap ends just below each stored seq whose predecessor is missing */
    sqlite3_stmt *st =
        prep(s, "SELECT m.peer, COALESCE((SELECT MAX(p.seq) FROM inbox p WHERE p.peer = m.peer"
                " AND p.seq < m.seq), 0) + 1, m.seq - 1 FROM inbox m WHERE m.seq > 1 AND NOT EXISTS"
                " (SELECT 1 FROM inbox q WHERE q.peer = m.peer AND q.seq = m.seq - 1)"
                " ORDER BY m.peer, m.seq");
    json_t *a;

    if (st == NULL || (a = json_array()) == NULL) {
        sqlite3_finalize(st);
        return NULL;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(a, json_pack("{s:s,s:I,s:I}", "from",
                                           (const char *)sqlite3_column_text(st, 0), "first",
                                           (json_int_t)sqlite3_column_int64(st, 1), "last",
                                           (json_int_t)sqlite3_column_int64(st, 2)));
    sqlite3_finalize(st);
    return a;
}

int p2pstore_in_top(struct p2pstore *s, uint64_t *n)
{
    sqlite3_stmt *st = prep(s, "SELECT COALESCE(MAX(n), 0) FROM inbox");
    int r = PS_E_STORAGE;

    if (st && sqlite3_step(st) == SQLITE_ROW) {
        *n = (uint64_t)sqlite3_column_int64(st, 0);
        r = PS_OK;
    }
    sqlite3_finalize(st);
    return r;
}

static struct p2p_peer_stats *stats_peer(struct p2p_peer_stats *st, size_t max, size_t *n,
                                         const char *peer)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(st[i].peer, peer) == 0)
            return &st[i];
    if (*n == max || strlen(peer) >= sizeof(st[0].peer))
        return NULL;
    memset(&st[*n], 0, sizeof(st[0]));
    memcpy(st[*n].peer, peer, strlen(peer) + 1);
    return &st[(*n)++];
}

int p2pstore_stats(struct p2pstore *s, int64_t now_ms, struct p2p_peer_stats *st, size_t max,
                   size_t *n)
{
    sqlite3_stmt *out = prep(s, "SELECT peer, COUNT(*), MIN(queued_ms) FROM outbox"
                                " WHERE status IN ('queued', 'sending')"
                                " AND (expires IS NULL OR expires * 1000 > ?) GROUP BY peer"),
                 *in = prep(s, "SELECT peer, COUNT(*) FROM inbox GROUP BY peer");
    struct p2p_peer_stats *p;
    int rc = SQLITE_ERROR;

    if (out && in) {
        sqlite3_bind_int64(out, 1, now_ms);
        while ((rc = sqlite3_step(out)) == SQLITE_ROW)
            if ((p = stats_peer(st, max, n, (const char *)sqlite3_column_text(out, 0))) != NULL) {
                p->out_pending = (uint64_t)sqlite3_column_int64(out, 1);
                p->out_oldest_ms = sqlite3_column_int64(out, 2);
            }
        if (rc == SQLITE_DONE)
            while ((rc = sqlite3_step(in)) == SQLITE_ROW)
                if ((p = stats_peer(st, max, n, (const char *)sqlite3_column_text(in, 0))) != NULL)
                    p->in_messages = (uint64_t)sqlite3_column_int64(in, 1);
    }
    sqlite3_finalize(out);
    sqlite3_finalize(in);
    return rc == SQLITE_DONE ? PS_OK : PS_E_STORAGE;
}
