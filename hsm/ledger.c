#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema[] = "CREATE TABLE IF NOT EXISTS ledger_leaves ("
                             " idx INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS ledger_nodes ("
                             " id INTEGER PRIMARY KEY, hash BLOB NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS ledger_checkpoints ("
                             " size INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
                             " root BLOB NOT NULL, note TEXT NOT NULL);";

struct ledger {
    sqlite3 *db;
    sqlite3_stmt *ins_leaf, *ins_node;
    struct merkle_frontier f, saved;
    uint64_t cp_size;
    int has_cp;
};

/* In-order index of the complete subtree [start, start + 2^level): unique over all levels. */
static int64_t node_id(uint64_t start, unsigned level)
{
    return (int64_t)(2 * start + (UINT64_C(1) << level) - 1);
}

static int leaf_hash_at(sqlite3 *db, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    sqlite3_stmt *st;
    int r = PS_E_NOTFOUND;

    if (sqlite3_prepare_v2(db, "SELECT data FROM ledger_leaves WHERE idx = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return PS_E_STORAGE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
    if (sqlite3_step(st) == SQLITE_ROW) {
        merkle_leaf_hash(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), out);
        r = PS_OK;
    }
    sqlite3_finalize(st);
    return r;
}

int ledger_leaf_hash_at(sqlite3 *db, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    return leaf_hash_at(db, index, out);
}

/* merkle_node_fn over stored complete subtrees only: [start, end) is aligned, 2^k wide. */
static int stored_subtree(void *ctx, uint64_t start, uint64_t end, uint8_t out[MERKLE_HASH_LEN])
{
    sqlite3 *db = ctx;
    sqlite3_stmt *st;
    uint64_t w = end - start;
    unsigned level = 0;
    int r = PS_E_NOTFOUND;

    while ((UINT64_C(1) << level) < w)
        level++;
    if (level == 0)
        return leaf_hash_at(db, start, out);
    if (sqlite3_prepare_v2(db, "SELECT hash FROM ledger_nodes WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return PS_E_STORAGE;
    sqlite3_bind_int64(st, 1, node_id(start, level));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == MERKLE_HASH_LEN) {
        memcpy(out, sqlite3_column_blob(st, 0), MERKLE_HASH_LEN);
        r = PS_OK;
    }
    sqlite3_finalize(st);
    return r;
}

/* merkle_node_fn for proofs: a complete subtree, or the right edge of the tree being proven. */
static int proof_node(void *ctx, uint64_t start, uint64_t end, uint8_t out[MERKLE_HASH_LEN])
{
    uint64_t w = end - start;

    if ((w & (w - 1)) == 0 && start % w == 0)
        return stored_subtree(ctx, start, end, out);
    return merkle_range_hash(stored_subtree, ctx, start, end, out);
}

static int count_leaves(sqlite3 *db, uint64_t *n)
{
    sqlite3_stmt *st;
    int r = PS_E_STORAGE;

    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_leaves", -1, &st,
                           NULL) != SQLITE_OK)
        return r;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = (uint64_t)sqlite3_column_int64(st, 0);
        r = PS_OK;
    }
    sqlite3_finalize(st);
    return r;
}

int ledger_committed_size(sqlite3 *db, uint64_t *size)
{
    return count_leaves(db, size);
}

/* Latest checkpoint's size and root (*found 0 and size 0 if none). */
static int latest_cp(sqlite3 *db, uint64_t *size, uint8_t root[MERKLE_HASH_LEN], int *found)
{
    sqlite3_stmt *st;
    int r = PS_E_STORAGE, rc;

    *size = 0;
    *found = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT size, root FROM ledger_checkpoints ORDER BY size DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return r;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == MERKLE_HASH_LEN) {
        *size = (uint64_t)sqlite3_column_int64(st, 0);
        memcpy(root, sqlite3_column_blob(st, 1), MERKLE_HASH_LEN);
        *found = 1;
        r = PS_OK;
    } else if (rc == SQLITE_DONE) {
        r = PS_OK;
    }
    sqlite3_finalize(st);
    return r;
}

int ledger_open(sqlite3 *db, struct ledger **out, char *err, size_t errlen)
{
    struct ledger *l;
    uint64_t n;
    uint8_t cp_root[MERKLE_HASH_LEN], root[MERKLE_HASH_LEN];
    char *msg = NULL;

    if ((l = calloc(1, sizeof(*l))) == NULL)
        return PS_E_NOMEM;
    l->db = db;
    merkle_frontier_init(&l->f);
    if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO ledger_leaves(idx, data) VALUES (?, ?)", -1,
                           &l->ins_leaf, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO ledger_nodes(id, hash) VALUES (?, ?)", -1, &l->ins_node,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "ledger tables: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        ledger_close(l);
        return PS_E_STORAGE;
    }
    if (count_leaves(db, &n) != PS_OK ||
        merkle_frontier_load(&l->f, n, stored_subtree, db) != PS_OK) {
        snprintf(err, errlen, "ledger: cannot load the tree of %llu leaves (missing nodes)",
                 (unsigned long long)n);
        ledger_close(l);
        return PS_E_STORAGE;
    }
    if (latest_cp(db, &l->cp_size, cp_root, &l->has_cp) != PS_OK) {
        snprintf(err, errlen, "ledger: cannot read checkpoints");
        ledger_close(l);
        return PS_E_STORAGE;
    }
    if (l->cp_size > n ||
        (l->cp_size > 0 && (merkle_range_hash(stored_subtree, db, 0, l->cp_size, root) != PS_OK ||
                            memcmp(root, cp_root, MERKLE_HASH_LEN) != 0))) {
        snprintf(err, errlen,
                 "ledger: the stored tree (%llu leaves) does not match the latest checkpoint "
                 "(size %llu); refusing to extend it",
                 (unsigned long long)n, (unsigned long long)l->cp_size);
        ledger_close(l);
        return PS_E_STORAGE;
    }
    *out = l;
    return PS_OK;
}

void ledger_close(struct ledger *l)
{
    if (l == NULL)
        return;
    sqlite3_finalize(l->ins_leaf);
    sqlite3_finalize(l->ins_node);
    free(l);
}

void ledger_txn_begin(struct ledger *l)
{
    l->saved = l->f;
}

void ledger_txn_end(struct ledger *l, int committed)
{
    if (!committed)
        l->f = l->saved;
}

static int emit_node(void *ctx, uint64_t start, unsigned level, const uint8_t hash[MERKLE_HASH_LEN])
{
    struct ledger *l = ctx;

    if (level == 0)
        return PS_OK; /* recomputed from the leaf */
    sqlite3_reset(l->ins_node);
    sqlite3_bind_int64(l->ins_node, 1, node_id(start, level));
    sqlite3_bind_blob(l->ins_node, 2, hash, MERKLE_HASH_LEN, SQLITE_STATIC);
    return sqlite3_step(l->ins_node) == SQLITE_DONE ? PS_OK : PS_E_STORAGE;
}

int ledger_append(struct ledger *l, const void *leaf, size_t len, uint64_t *index)
{
    uint8_t h[MERKLE_HASH_LEN];
    int r;

    sqlite3_reset(l->ins_leaf);
    sqlite3_bind_int64(l->ins_leaf, 1, (sqlite3_int64)l->f.size);
    sqlite3_bind_blob(l->ins_leaf, 2, leaf, (int)len, SQLITE_STATIC);
    if (sqlite3_step(l->ins_leaf) != SQLITE_DONE)
        return PS_E_STORAGE;
    merkle_leaf_hash(leaf, len, h);
    *index = l->f.size;
    if ((r = merkle_frontier_append(&l->f, h, emit_node, l)) != PS_OK)
        return r;
    return PS_OK;
}

uint64_t ledger_size(const struct ledger *l)
{
    return l->f.size;
}

void ledger_root(const struct ledger *l, uint8_t root[MERKLE_HASH_LEN])
{
    merkle_frontier_root(&l->f, root);
}

int ledger_has_checkpoint(const struct ledger *l)
{
    return l->has_cp;
}

uint64_t ledger_checkpoint_size(const struct ledger *l)
{
    return l->cp_size;
}

int ledger_checkpoint_store(struct ledger *l, uint64_t size, const uint8_t root[MERKLE_HASH_LEN],
                            int64_t ts_ms, const uint8_t *note, size_t len)
{
    sqlite3_stmt *st;
    int ok;

    if (sqlite3_prepare_v2(l->db,
                           "INSERT INTO ledger_checkpoints(size, ts_ms, root, note) "
                           "VALUES (?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return PS_E_STORAGE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    sqlite3_bind_int64(st, 2, ts_ms);
    sqlite3_bind_blob(st, 3, root, MERKLE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, (const char *)note, (int)len, SQLITE_STATIC);
    ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (!ok)
        return PS_E_STORAGE;
    l->cp_size = size;
    l->has_cp = 1;
    return PS_OK;
}

static int check_size(sqlite3 *db, uint64_t size, char *err, size_t errlen)
{
    uint64_t n;

    if (count_leaves(db, &n) != PS_OK) {
        snprintf(err, errlen, "ledger storage unavailable");
        return PS_E_STORAGE;
    }
    if (size > n) {
        snprintf(err, errlen, "the ledger has %llu leaves; size %llu is beyond it",
                 (unsigned long long)n, (unsigned long long)size);
        return PS_E_INVAL;
    }
    return PS_OK;
}

int ledger_inclusion(sqlite3 *db, uint64_t index, uint64_t size, struct merkle_proof *p, char *err,
                     size_t errlen)
{
    int r;

    if (index >= size) {
        snprintf(err, errlen, "index %llu is not below size %llu", (unsigned long long)index,
                 (unsigned long long)size);
        return PS_E_INVAL;
    }
    if ((r = check_size(db, size, err, errlen)) != PS_OK)
        return r;
    if ((r = merkle_inclusion_proof(index, size, proof_node, db, p)) != PS_OK)
        snprintf(err, errlen, "ledger storage: a proof node is missing");
    return r == PS_OK ? PS_OK : PS_E_STORAGE;
}

int ledger_consistency(sqlite3 *db, uint64_t old_size, uint64_t new_size, struct merkle_proof *p,
                       char *err, size_t errlen)
{
    int r;

    if (old_size > new_size) {
        snprintf(err, errlen, "old size %llu is above new size %llu", (unsigned long long)old_size,
                 (unsigned long long)new_size);
        return PS_E_INVAL;
    }
    if ((r = check_size(db, new_size, err, errlen)) != PS_OK)
        return r;
    if ((r = merkle_consistency_proof(old_size, new_size, proof_node, db, p)) != PS_OK)
        snprintf(err, errlen, "ledger storage: a proof node is missing");
    return r == PS_OK ? PS_OK : PS_E_STORAGE;
}

int ledger_checkpoint_latest(sqlite3 *db, struct buf *out, uint64_t *size)
{
    sqlite3_stmt *st;
    int r = PS_E_STORAGE, rc;

    if (sqlite3_prepare_v2(db,
                           "SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return r;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *size = (uint64_t)sqlite3_column_int64(st, 0);
        r = buf_append(out, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    } else if (rc == SQLITE_DONE) {
        r = PS_E_NOTFOUND;
    }
    sqlite3_finalize(st);
    return r;
}

struct verify_ctx {
    sqlite3 *db;
    sqlite3_stmt *node;
    int64_t node_mismatch; /* id of the first stored node that disagrees, or -1 */
};

static int verify_emit(void *ctx, uint64_t start, unsigned level,
                       const uint8_t hash[MERKLE_HASH_LEN])
{
    struct verify_ctx *v = ctx;
    int rc;

    if (level == 0 || v->node_mismatch >= 0)
        return PS_OK;
    sqlite3_reset(v->node);
    sqlite3_bind_int64(v->node, 1, node_id(start, level));
    rc = sqlite3_step(v->node);
    if (rc != SQLITE_ROW || sqlite3_column_bytes(v->node, 0) != MERKLE_HASH_LEN ||
        memcmp(sqlite3_column_blob(v->node, 0), hash, MERKLE_HASH_LEN) != 0)
        v->node_mismatch = node_id(start, level);
    return PS_OK;
}

int ledger_verify_all(sqlite3 *db, uint64_t *leaves, uint64_t *checkpoints, char *err,
                      size_t errlen)
{
    struct verify_ctx v = {db, NULL, -1};
    sqlite3_stmt *lv = NULL, *cp = NULL;
    struct merkle_frontier f;
    uint64_t expect = 0, cp_size = UINT64_MAX;
    int r = PS_E_STORAGE, rc;

    *leaves = *checkpoints = 0;
    merkle_frontier_init(&f);
    if (sqlite3_prepare_v2(db, "SELECT idx, data FROM ledger_leaves ORDER BY idx", -1, &lv, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT size, root FROM ledger_checkpoints ORDER BY size", -1, &cp,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT hash FROM ledger_nodes WHERE id = ?", -1, &v.node, NULL) !=
            SQLITE_OK) {
        snprintf(err, errlen, "ledger tables missing: %s", sqlite3_errmsg(db));
        goto out;
    }
#define NEXT_CP()                                                                                  \
    do {                                                                                           \
        rc = sqlite3_step(cp);                                                                     \
        cp_size = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(cp, 0) : UINT64_MAX;           \
    } while (0)
    NEXT_CP();
    for (;;) {
        uint8_t root[MERKLE_HASH_LEN];

        while (cp_size == f.size) {
            merkle_frontier_root(&f, root);
            if (sqlite3_column_bytes(cp, 1) != MERKLE_HASH_LEN ||
                memcmp(sqlite3_column_blob(cp, 1), root, MERKLE_HASH_LEN) != 0) {
                snprintf(err, errlen,
                         "checkpoint at size %llu does not match the leaves (the log was "
                         "rewritten or damaged)",
                         (unsigned long long)cp_size);
                r = PS_E_INVAL;
                goto out;
            }
            ++*checkpoints;
            NEXT_CP();
        }
        rc = sqlite3_step(lv);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            snprintf(err, errlen, "reading leaves: %s", sqlite3_errmsg(db));
            goto out;
        }
        if ((uint64_t)sqlite3_column_int64(lv, 0) != expect) {
            snprintf(err, errlen, "leaf %llu is missing", (unsigned long long)expect);
            r = PS_E_INVAL;
            goto out;
        }
        merkle_leaf_hash(sqlite3_column_blob(lv, 1), (size_t)sqlite3_column_bytes(lv, 1), root);
        if (merkle_frontier_append(&f, root, verify_emit, &v) != PS_OK)
            goto out;
        if (v.node_mismatch >= 0) {
            snprintf(err, errlen, "stored node %lld does not match the leaves below it",
                     (long long)v.node_mismatch);
            r = PS_E_INVAL;
            goto out;
        }
        expect++;
    }
#undef NEXT_CP
    if (cp_size != UINT64_MAX) {
        snprintf(err, errlen, "checkpoint at size %llu is beyond the %llu leaves",
                 (unsigned long long)cp_size, (unsigned long long)f.size);
        r = PS_E_INVAL;
        goto out;
    }
    *leaves = f.size;
    r = PS_OK;
out:
    sqlite3_finalize(lv);
    sqlite3_finalize(cp);
    sqlite3_finalize(v.node);
    return r;
}

/* Leaf types a worker may append, with the number of fields after the type word. */
static const struct {
    const char *type;
    int fields;
} worker_leaves[] = {
    {"bundle", 4},
};

int ledger_leaf_valid(const uint8_t *leaf, size_t len)
{
    int fields = 0;
    size_t tl;

    if (len < 2 || len > LEDGER_MAX_LEAF || leaf[len - 1] != '\n')
        return 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (leaf[i] == ' ') {
            if (i == 0 || leaf[i - 1] == ' ' || i + 2 == len)
                return 0;
            fields++;
        } else if (leaf[i] < 0x21 || leaf[i] > 0x7e) {
            return 0;
        }
    }
    tl = strcspn((const char *)leaf, " \n");
    for (size_t i = 0; i < sizeof(worker_leaves) / sizeof(worker_leaves[0]); i++)
        if (strlen(worker_leaves[i].type) == tl && memcmp(worker_leaves[i].type, leaf, tl) == 0)
            return fields == worker_leaves[i].fields;
    return 0;
}
