#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* Audit rows per INSERT statement in a group commit: one statement run per row cost more
 * than the row itself (statement start and end, cursor open and seek); the rest of a group
 * goes one row at a time. */
#define AUDIT_ROWS 32
#define AUDIT_COLS 6

struct audit {
    sqlite3 *db;
    sqlite3_stmt *ins;                       /* one row */
    sqlite3_stmt *ins_many;                  /* AUDIT_ROWS rows */
    sqlite3_stmt *begin, *commit, *rollback; /* prepared once: not parsed per group */
    struct ledger *ledger;
};

static const char ins_head[] = "INSERT INTO audit(seq, ts_ms, tenant, key, alg, digest) VALUES ";
static const char ins_row[] = "(?,?,?,?,?,?)";

/* The INSERT of n rows into out (NUL-terminated); 0 if it does not fit. */
static size_t insert_sql(char *out, size_t cap, size_t n)
{
    size_t hl = sizeof(ins_head) - 1, rl = sizeof(ins_row) - 1, len = hl + n * (rl + 1);
    char *p = out;

    if (n == 0 || cap < len)
        return 0;
    memcpy(p, ins_head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, ins_row, rl);
        p += rl;
    }
    *p = 0;
    return (size_t)(p - out);
}

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "CREATE TABLE IF NOT EXISTS audit ("
                             " seq INTEGER PRIMARY KEY,"
                             " ts_ms INTEGER NOT NULL,"
                             " tenant TEXT NOT NULL,"
                             " key TEXT NOT NULL,"
                             " alg TEXT NOT NULL,"
                             " digest BLOB NOT NULL);";

int audit_open(const char *path, struct audit **out, char *err, size_t errlen)
{
    char sql[sizeof(ins_head) + AUDIT_ROWS * sizeof(ins_row)];
    struct audit *a;
    char *msg = NULL;

    if ((a = calloc(1, sizeof(*a))) == NULL)
        return PS_E_NOMEM;
    /* NOMUTEX: one thread at a time uses the connection (the keyholder's committer), so
     * SQLite's per-call connection lock is pure cost */
    if (sqlite3_open_v2(path, &a->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(a->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
        insert_sql(sql, sizeof(sql), 1) == 0 ||
        sqlite3_prepare_v2(a->db, sql, -1, &a->ins, NULL) != SQLITE_OK ||
        insert_sql(sql, sizeof(sql), AUDIT_ROWS) == 0 ||
        sqlite3_prepare_v2(a->db, sql, -1, &a->ins_many, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "BEGIN IMMEDIATE", -1, &a->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "COMMIT", -1, &a->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "ROLLBACK", -1, &a->rollback, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "audit database %s: %s", path, msg ? msg : sqlite3_errmsg(a->db));
        sqlite3_free(msg);
        audit_close(a);
        return PS_E_STORAGE;
    }
    /* a busy reader (the keyholder's proof connection) must not fail a commit */
    sqlite3_busy_timeout(a->db, 5000);
    if (ledger_open(a->db, &a->ledger, err, errlen) != PS_OK) {
        audit_close(a);
        return PS_E_STORAGE;
    }
    *out = a;
    return PS_OK;
}

/* Bind the audit row of rec (leaf index idx) as row `row` of st. */
static void bind_row(sqlite3_stmt *st, int row, const struct audit_rec *rec, uint64_t idx)
{
    int c = row * AUDIT_COLS;

    sqlite3_bind_int64(st, c + 1, (sqlite3_int64)idx);
    sqlite3_bind_int64(st, c + 2, rec->ts_ms);
    sqlite3_bind_text(st, c + 3, rec->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, c + 4, rec->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, c + 5, rec->alg, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, c + 6, rec->digest, (int)rec->dlen, SQLITE_STATIC);
}

/* Run st once (its rows bound); PS_OK when it inserted them. */
static int run(sqlite3_stmt *st)
{
    int ok = sqlite3_step(st) == SQLITE_DONE;

    sqlite3_reset(st);
    return ok ? PS_OK : PS_E_STORAGE;
}

int audit_append(struct audit *a, const struct audit_rec *recs, size_t n, uint64_t *first_index)
{
    uint64_t idx, rows_idx[AUDIT_ROWS];
    const struct audit_rec *rows[AUDIT_ROWS];
    char leaf[LEDGER_MAX_LEAF];
    size_t ll;
    int pending = 0; /* audit rows bound to ins_many, not yet inserted */

    if (run(a->begin) != PS_OK)
        return PS_E_STORAGE;
    ledger_txn_begin(a->ledger);
    *first_index = ledger_size(a->ledger);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].leaf) {
            if (ledger_append(a->ledger, recs[i].leaf, recs[i].leaf_len, 1, &idx) != PS_OK)
                goto fail;
            continue;
        }
        idx = ledger_size(a->ledger);
        ll = ledger_signature_leaf(leaf, sizeof(leaf), idx, recs[i].ts_ms, recs[i].tenant,
                                   recs[i].key, recs[i].alg, recs[i].digest, recs[i].dlen);
        if (ll == 0 || ledger_append(a->ledger, leaf, ll, 0, &idx) != PS_OK)
            goto fail;
        rows[pending] = &recs[i];
        rows_idx[pending] = idx;
        if (++pending == AUDIT_ROWS) {
            for (int r = 0; r < AUDIT_ROWS; r++)
                bind_row(a->ins_many, r, rows[r], rows_idx[r]);
            if (run(a->ins_many) != PS_OK)
                goto fail;
            pending = 0;
        }
    }
    for (int r = 0; r < pending; r++) {
        bind_row(a->ins, 0, rows[r], rows_idx[r]);
        if (run(a->ins) != PS_OK)
            goto fail;
    }
    if (run(a->commit) != PS_OK)
        goto fail;
    ledger_txn_end(a->ledger, 1);
    return PS_OK;
fail:
    (void)run(a->rollback);
    ledger_txn_end(a->ledger, 0);
    return PS_E_STORAGE;
}

struct ledger *audit_ledger(struct audit *a)
{
    return a->ledger;
}

sqlite3 *audit_db(struct audit *a)
{
    return a->db;
}

void audit_close(struct audit *a)
{
    if (a == NULL)
        return;
    ledger_close(a->ledger);
    sqlite3_finalize(a->ins);
    sqlite3_finalize(a->ins_many);
    sqlite3_finalize(a->begin);
    sqlite3_finalize(a->commit);
    sqlite3_finalize(a->rollback);
    sqlite3_close(a->db);
    free(a);
}
