#include "evstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../protocol/evidence.h"
#include "../protocol/timefmt.h"

struct evstore {
    char dir[4096];
    sqlite3 *db;
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "CREATE TABLE IF NOT EXISTS bundles ("
                             " id TEXT PRIMARY KEY, ledger_index INTEGER NOT NULL,"
                             " sealed_at_ms INTEGER NOT NULL, size INTEGER NOT NULL,"
                             " tenant TEXT, officer TEXT, rights_holder TEXT NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS bundles_rh ON bundles(rights_holder);"
                             "CREATE TABLE IF NOT EXISTS marks ("
                             " bundle_id TEXT NOT NULL, kind TEXT NOT NULL, number TEXT NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS marks_number ON marks(number);";

int evstore_open(const char *state_dir, struct evstore **out, char *err, size_t errlen)
{
    struct evstore *s = calloc(1, sizeof(*s));
    char path[4200];
    char *msg = NULL;

    if (s == NULL)
        return PS_E_NOMEM;
    snprintf(s->dir, sizeof(s->dir), "%s/evidence", state_dir);
    snprintf(path, sizeof(path), "%s/index.db", s->dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "evidence index %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        evstore_close(s);
        return PS_E_STORAGE;
    }
    *out = s;
    return PS_OK;
}

void evstore_close(struct evstore *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s);
}

void evstore_path(const struct evstore *s, const char *id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s.asice", s->dir, id);
}

/* Write the file under a temporary name, fsync, rename, fsync the directory. */
static int write_durably(const struct evstore *s, const char *id, const uint8_t *p, size_t len)
{
    char tmp[4200], final[4200];
    int fd, dfd, ok = 1;

    snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", s->dir, id, (long)getpid());
    evstore_path(s, id, final, sizeof(final));
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return PS_E_IO;
    while (len > 0 && ok) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok) {
            p += n;
            len -= (size_t)n;
        }
    }
    ok = ok && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, final) != 0) {
        unlink(tmp);
        return PS_E_IO;
    }
    if ((dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return PS_E_IO;
    ok = fsync(dfd) == 0;
    close(dfd);
    return ok ? PS_OK : PS_E_IO;
}

struct marks_ctx {
    sqlite3_stmt *ins;
    const char *id;
    int failed;
};

static void add_mark(void *ctx, const char *kind, const char *number)
{
    struct marks_ctx *m = ctx;

    sqlite3_bind_text(m->ins, 1, m->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(m->ins, 2, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(m->ins, 3, number, -1, SQLITE_TRANSIENT);
    m->failed |= sqlite3_step(m->ins) != SQLITE_DONE;
    sqlite3_reset(m->ins);
}

int evstore_put(struct evstore *s, const struct evstore_rec *rec, const uint8_t *zip, size_t len)
{
    sqlite3_stmt *ins = NULL;
    struct marks_ctx m = {NULL, rec->id, 0};
    int r;

    if ((r = write_durably(s, rec->id, zip, len)) != PS_OK)
        return r;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return PS_E_STORAGE;
    /* the same bundle twice (same bytes) is one row */
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO bundles(id, ledger_index, sealed_at_ms, size,"
                           " tenant, officer, rights_holder) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO marks(bundle_id, kind, number) VALUES (?, ?, ?)", -1,
                           &m.ins, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(ins, 1, rec->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, (sqlite3_int64)rec->ledger_index);
    sqlite3_bind_int64(ins, 3, (sqlite3_int64)rec->sealed_at_ms);
    sqlite3_bind_int64(ins, 4, (sqlite3_int64)rec->size);
    sqlite3_bind_text(ins, 5, rec->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, rec->officer, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, rec->rights_holder, -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE)
        goto fail;
    if (sqlite3_changes(s->db) == 1 &&
        (evidence_metadata_marks(rec->metadata, rec->metadata_len, 1, add_mark, &m) != PS_OK ||
         m.failed))
        goto fail;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_finalize(ins);
    sqlite3_finalize(m.ins);
    return PS_OK;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(ins);
    sqlite3_finalize(m.ins);
    return PS_E_STORAGE;
}

static json_t *row_json(sqlite3 *db, sqlite3_stmt *st)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    int64_t ms = sqlite3_column_int64(st, 2);
    char when[32], stamp[21];
    json_t *marks = json_array();
    sqlite3_stmt *mk;

    if (time_format_stamp(ms / 1000, stamp) != PS_OK)
        snprintf(stamp, sizeof(stamp), "?");
    snprintf(when, sizeof(when), "%.19s.%03dZ", stamp, (int)(ms % 1000));
    if (sqlite3_prepare_v2(db, "SELECT kind, number FROM marks WHERE bundle_id = ? ORDER BY rowid",
                           -1, &mk, NULL) == SQLITE_OK) {
        sqlite3_bind_text(mk, 1, id, -1, SQLITE_STATIC);
        while (sqlite3_step(mk) == SQLITE_ROW)
            json_array_append_new(marks, json_pack("{s:s,s:s}", "kind", sqlite3_column_text(mk, 0),
                                                   "number", sqlite3_column_text(mk, 1)));
        sqlite3_finalize(mk);
    }
    return json_pack("{s:s,s:s,s:I,s:s,s:I,s:s?,s:s?,s:s,s:o}", "bundle_id", id, "sha256", id,
                     "ledger_index", (json_int_t)sqlite3_column_int64(st, 1), "sealed_at", when,
                     "size", (json_int_t)sqlite3_column_int64(st, 3), "tenant",
                     (const char *)sqlite3_column_text(st, 4), "officer",
                     (const char *)sqlite3_column_text(st, 5), "rights_holder",
                     (const char *)sqlite3_column_text(st, 6), "marks", marks);
}

#define COLS "id, ledger_index, sealed_at_ms, size, tenant, officer, rights_holder"

json_t *evstore_get(struct evstore *s, const char *id, char tenant[65])
{
    sqlite3_stmt *st;
    json_t *j = NULL;

    if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM bundles WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 4);

        snprintf(tenant, 65, "%s", t ? (const char *)t : "");
        j = row_json(s->db, st);
    }
    sqlite3_finalize(st);
    return j;
}

json_t *evstore_search(struct evstore *s, const char *mark, const char *rights_holder,
                       const char *tenant, int limit)
{
    sqlite3_stmt *st;
    json_t *a = json_array();

    if (sqlite3_prepare_v2(s->db,
                           "SELECT " COLS " FROM bundles WHERE"
                           " (?1 IS NULL OR id IN (SELECT bundle_id FROM marks WHERE number = ?1))"
                           " AND (?2 IS NULL OR rights_holder = ?2)"
                           " AND (?3 IS NULL OR tenant = ?3)"
                           " ORDER BY sealed_at_ms DESC LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return a;
    sqlite3_bind_text(st, 1, mark, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rights_holder, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, limit);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(a, row_json(s->db, st));
    sqlite3_finalize(st);
    return a;
}
