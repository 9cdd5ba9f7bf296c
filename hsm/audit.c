#include "audit.h"

#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

struct audit {
    sqlite3 *db;
    sqlite3_stmt *ins;
    struct ledger *ledger;
};

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
        sqlite3_prepare_v2(a->db,
                           "INSERT INTO audit(seq, ts_ms, tenant, key, alg, digest) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &a->ins, NULL) != SQLITE_OK) {
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

int audit_append(struct audit *a, const struct audit_rec *recs, size_t n, uint64_t *first_index)
{
    uint64_t idx;
    char leaf[LEDGER_MAX_LEAF];
    size_t ll;

    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
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
        sqlite3_reset(a->ins);
        sqlite3_bind_int64(a->ins, 1, (sqlite3_int64)idx);
        sqlite3_bind_int64(a->ins, 2, recs[i].ts_ms);
        sqlite3_bind_text(a->ins, 3, recs[i].tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(a->ins, 4, recs[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(a->ins, 5, recs[i].alg, -1, SQLITE_STATIC);
        sqlite3_bind_blob(a->ins, 6, recs[i].digest, (int)recs[i].dlen, SQLITE_STATIC);
        if (ll == 0 || sqlite3_step(a->ins) != SQLITE_DONE ||
            ledger_append(a->ledger, leaf, ll, 0, &idx) != PS_OK)
            goto fail;
    }
    sqlite3_reset(a->ins);
    if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    ledger_txn_end(a->ledger, 1);
    return PS_OK;
fail:
    sqlite3_reset(a->ins);
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
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
    sqlite3_close(a->db);
    free(a);
}
