#include "audit.h"

#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

struct audit {
    sqlite3 *db;
    sqlite3_stmt *ins;
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
    if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
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
    *out = a;
    return PS_OK;
}

static int next_seq(struct audit *a, uint64_t *seq)
{
    sqlite3_stmt *st;
    int r = PS_E_STORAGE;

    if (sqlite3_prepare_v2(a->db, "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit", -1, &st, NULL) !=
        SQLITE_OK)
        return r;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        r = PS_OK;
    }
    sqlite3_finalize(st);
    return r;
}

int audit_append(struct audit *a, const struct audit_rec *recs, size_t n, uint64_t *first_seq)
{
    uint64_t seq;

    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return PS_E_STORAGE;
    if (next_seq(a, &seq) != PS_OK)
        goto fail;
    *first_seq = seq;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(a->ins);
        sqlite3_bind_int64(a->ins, 1, (sqlite3_int64)(seq + i));
        sqlite3_bind_int64(a->ins, 2, recs[i].ts_ms);
        sqlite3_bind_text(a->ins, 3, recs[i].tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(a->ins, 4, recs[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(a->ins, 5, recs[i].alg, -1, SQLITE_STATIC);
        sqlite3_bind_blob(a->ins, 6, recs[i].digest, (int)recs[i].dlen, SQLITE_STATIC);
        if (sqlite3_step(a->ins) != SQLITE_DONE)
            goto fail;
    }
    sqlite3_reset(a->ins);
    if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return PS_OK;
fail:
    sqlite3_reset(a->ins);
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    return PS_E_STORAGE;
}

int audit_count(struct audit *a, uint64_t *n)
{
    return next_seq(a, n);
}

void audit_close(struct audit *a)
{
    if (a == NULL)
        return;
    sqlite3_finalize(a->ins);
    sqlite3_close(a->db);
    free(a);
}
