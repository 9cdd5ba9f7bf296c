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

/* Levels whose complete subtrees are stored: multiples of NODE_EVERY. */
#define NODE_EVERY 4

struct ledger_reader {
    sqlite3 *db;
    sqlite3_stmt *audit_row, *leaf_row, *node_row, *size, *latest;
};

struct ledger {
    sqlite3 *db;
    sqlite3_stmt *ins_leaf, *ins_node;
    struct ledger_reader *rd;
    struct merkle_frontier f, saved;
    uint64_t cp_size;
    int has_cp;
};

static const char hexd[] = "0123456789abcdef";

/* Decimal digits of v at the end of buf[24] (a '-' first when neg); returns where they start. */
static char *dec(char buf[24], uint64_t v, int neg)
{
    char *p = buf + 24;

    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (neg)
        *--p = '-';
    return p;
}

static char *put(char *p, const char *s, size_t n, char sep)
{
    memcpy(p, s, n);
    p[n] = sep;
    return p + n + 1;
}

/* Formatted by hand: it runs for every signature the committer records (snprintf was the
 * largest single cost of an append after SQLite). */
size_t ledger_signature_leaf(char *out, size_t cap, uint64_t index, int64_t ts_ms,
                             const char *tenant, const char *key, const char *alg,
                             const uint8_t *digest, size_t dlen)
{
    char ib[24], tb[24];
    const char *is = dec(ib, index, 0),
               *ts = dec(tb, ts_ms < 0 ? 0 - (uint64_t)ts_ms : (uint64_t)ts_ms, ts_ms < 0);
    size_t il = (size_t)(ib + 24 - is), tl = (size_t)(tb + 24 - ts), nl = strlen(tenant),
           kl = strlen(key), al = strlen(alg);
    char *p = out;

    /* "signature " index ' ' ts ' ' tenant ' ' key ' ' alg ' ' hex '\n' NUL */
    if (cap < 10 + il + tl + nl + kl + al + 5 ||
        cap - (10 + il + tl + nl + kl + al + 5) < 2 * dlen + 2)
        return 0;
    p = put(p, "signature", 9, ' ');
    p = put(p, is, il, ' ');
    p = put(p, ts, tl, ' ');
    p = put(p, tenant, nl, ' ');
    p = put(p, key, kl, ' ');
    p = put(p, alg, al, ' ');
    for (size_t i = 0; i < dlen; i++) {
        *p++ = hexd[digest[i] >> 4];
        *p++ = hexd[digest[i] & 15];
    }
    *p++ = '\n';
    *p = 0;
    return (size_t)(p - out);
}

/* In-order index of the complete subtree [start, start + 2^level): unique over all levels. */
static int64_t node_id(uint64_t start, unsigned level)
{
    return (int64_t)(2 * start + (UINT64_C(1) << level) - 1);
}

int ledger_reader_open(sqlite3 *db, struct ledger_reader **out)
{
    struct ledger_reader *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return PS_E_NOMEM;
    r->db = db;
    if (sqlite3_prepare_v2(db, "SELECT ts_ms, tenant, key, alg, digest FROM audit WHERE seq = ?",
                           -1, &r->audit_row, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT data FROM ledger_leaves WHERE idx = ?", -1, &r->leaf_row,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT hash FROM ledger_nodes WHERE id = ?", -1, &r->node_row,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT MAX(COALESCE((SELECT MAX(seq) FROM audit), -1),"
                           " COALESCE((SELECT MAX(idx) FROM ledger_leaves), -1)) + 1",
                           -1, &r->size, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT size, root, note FROM ledger_checkpoints "
                           "ORDER BY size DESC LIMIT 1",
                           -1, &r->latest, NULL) != SQLITE_OK) {
        ledger_reader_close(r);
        return PS_E_STORAGE;
    }
    *out = r;
    return PS_OK;
}

void ledger_reader_close(struct ledger_reader *r)
{
    if (r == NULL)
        return;
    sqlite3_finalize(r->audit_row);
    sqlite3_finalize(r->leaf_row);
    sqlite3_finalize(r->node_row);
    sqlite3_finalize(r->size);
    sqlite3_finalize(r->latest);
    free(r);
}

/* Leaf i: hash it (out) or append its bytes to b, whichever is given. */
static int leaf_get(struct ledger_reader *r, uint64_t index, uint8_t out[MERKLE_HASH_LEN],
                    struct buf *b)
{
    int rc = PS_E_NOTFOUND;

    sqlite3_bind_int64(r->audit_row, 1, (sqlite3_int64)index);
    if (sqlite3_step(r->audit_row) == SQLITE_ROW) {
        char leaf[LEDGER_MAX_LEAF];
        size_t n = ledger_signature_leaf(
            leaf, sizeof(leaf), index, sqlite3_column_int64(r->audit_row, 0),
            (const char *)sqlite3_column_text(r->audit_row, 1),
            (const char *)sqlite3_column_text(r->audit_row, 2),
            (const char *)sqlite3_column_text(r->audit_row, 3),
            sqlite3_column_blob(r->audit_row, 4), (size_t)sqlite3_column_bytes(r->audit_row, 4));

        rc = n == 0 ? PS_E_STORAGE : b ? buf_append(b, leaf, n) : PS_OK;
        if (rc == PS_OK && out)
            merkle_leaf_hash((const uint8_t *)leaf, n, out);
    }
    sqlite3_reset(r->audit_row);
    if (rc != PS_E_NOTFOUND)
        return rc;
    sqlite3_bind_int64(r->leaf_row, 1, (sqlite3_int64)index);
    if (sqlite3_step(r->leaf_row) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(r->leaf_row, 0);
        size_t n = (size_t)sqlite3_column_bytes(r->leaf_row, 0);

        rc = b ? buf_append(b, p, n) : PS_OK;
        if (rc == PS_OK && out)
            merkle_leaf_hash(p, n, out);
    }
    sqlite3_reset(r->leaf_row);
    return rc;
}

int ledger_leaf_at(struct ledger_reader *r, uint64_t index, struct buf *out)
{
    return leaf_get(r, index, NULL, out);
}

int ledger_leaf_hash_at(struct ledger_reader *r, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    return leaf_get(r, index, out, NULL);
}

/* MTH of the complete subtree [start, start + 2^level) from the store. */
static int subtree(struct ledger_reader *r, uint64_t start, unsigned level,
                   uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t left[MERKLE_HASH_LEN], right[MERKLE_HASH_LEN];
    int rc;

    if (level == 0)
        return ledger_leaf_hash_at(r, start, out);
    if (level % NODE_EVERY == 0) {
        rc = PS_E_NOTFOUND;
        sqlite3_bind_int64(r->node_row, 1, node_id(start, level));
        if (sqlite3_step(r->node_row) == SQLITE_ROW &&
            sqlite3_column_bytes(r->node_row, 0) == MERKLE_HASH_LEN) {
            memcpy(out, sqlite3_column_blob(r->node_row, 0), MERKLE_HASH_LEN);
            rc = PS_OK;
        }
        sqlite3_reset(r->node_row);
        return rc;
    }
    if ((rc = subtree(r, start, level - 1, left)) != PS_OK ||
        (rc = subtree(r, start + (UINT64_C(1) << (level - 1)), level - 1, right)) != PS_OK)
        return rc;
    merkle_node_hash(left, right, out);
    return PS_OK;
}

/* merkle_node_fn over complete subtrees: [start, end) is aligned and 2^k wide. */
static int stored_subtree(void *ctx, uint64_t start, uint64_t end, uint8_t out[MERKLE_HASH_LEN])
{
    uint64_t w = end - start;
    unsigned level = 0;

    while ((UINT64_C(1) << level) < w)
        level++;
    return subtree(ctx, start, level, out);
}

/* merkle_node_fn for proofs: a complete subtree, or the right edge of the tree being proven. */
static int proof_node(void *ctx, uint64_t start, uint64_t end, uint8_t out[MERKLE_HASH_LEN])
{
    uint64_t w = end - start;

    if ((w & (w - 1)) == 0 && start % w == 0)
        return stored_subtree(ctx, start, end, out);
    return merkle_range_hash(stored_subtree, ctx, start, end, out);
}

int ledger_committed_size(struct ledger_reader *r, uint64_t *size)
{
    int rc = PS_E_STORAGE;

    if (sqlite3_step(r->size) == SQLITE_ROW) {
        *size = (uint64_t)sqlite3_column_int64(r->size, 0);
        rc = PS_OK;
    }
    sqlite3_reset(r->size);
    return rc;
}

/* Latest checkpoint: size, root, and (if note) its text. PS_E_NOTFOUND if none. */
static int latest_cp(struct ledger_reader *r, uint64_t *size, uint8_t root[MERKLE_HASH_LEN],
                     struct buf *note)
{
    int rc = sqlite3_step(r->latest), ret = PS_E_STORAGE;

    if (rc == SQLITE_ROW && sqlite3_column_bytes(r->latest, 1) == MERKLE_HASH_LEN) {
        *size = (uint64_t)sqlite3_column_int64(r->latest, 0);
        if (root)
            memcpy(root, sqlite3_column_blob(r->latest, 1), MERKLE_HASH_LEN);
        ret = note ? buf_append(note, sqlite3_column_text(r->latest, 2),
                                (size_t)sqlite3_column_bytes(r->latest, 2))
                   : PS_OK;
    } else if (rc == SQLITE_DONE) {
        ret = PS_E_NOTFOUND;
    }
    sqlite3_reset(r->latest);
    return ret;
}

int ledger_checkpoint_latest(struct ledger_reader *r, struct buf *out, uint64_t *size)
{
    return latest_cp(r, size, NULL, out);
}

int ledger_open(sqlite3 *db, struct ledger **out, char *err, size_t errlen)
{
    struct ledger *l;
    uint64_t n = 0;
    uint8_t cp_root[MERKLE_HASH_LEN], root[MERKLE_HASH_LEN];
    char *msg = NULL;
    int rc;

    if ((l = calloc(1, sizeof(*l))) == NULL)
        return PS_E_NOMEM;
    l->db = db;
    merkle_frontier_init(&l->f);
    if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO ledger_leaves(idx, data) VALUES (?, ?)", -1,
                           &l->ins_leaf, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO ledger_nodes(id, hash) VALUES (?, ?)", -1, &l->ins_node,
                           NULL) != SQLITE_OK ||
        ledger_reader_open(db, &l->rd) != PS_OK) {
        snprintf(err, errlen, "ledger tables: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        ledger_close(l);
        return PS_E_STORAGE;
    }
    if (ledger_committed_size(l->rd, &n) != PS_OK ||
        merkle_frontier_load(&l->f, n, stored_subtree, l->rd) != PS_OK) {
        snprintf(err, errlen,
                 "ledger: cannot load the tree of %llu leaves (missing leaves or nodes)",
                 (unsigned long long)n);
        ledger_close(l);
        return PS_E_STORAGE;
    }
    rc = latest_cp(l->rd, &l->cp_size, cp_root, NULL);
    if (rc != PS_OK && rc != PS_E_NOTFOUND) {
        snprintf(err, errlen, "ledger: cannot read checkpoints");
        ledger_close(l);
        return PS_E_STORAGE;
    }
    l->has_cp = rc == PS_OK;
    if (l->has_cp && (l->cp_size > n ||
                      (l->cp_size == 0 ? (merkle_empty_root(root), 0)
                                       : merkle_range_hash(stored_subtree, l->rd, 0, l->cp_size,
                                                           root)) != PS_OK ||
                      memcmp(root, cp_root, MERKLE_HASH_LEN) != 0)) {
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
    ledger_reader_close(l->rd);
    free(l);
}

struct ledger_reader *ledger_writer_reader(struct ledger *l)
{
    return l->rd;
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
    int ok;

    if (level == 0 || level % NODE_EVERY != 0)
        return PS_OK; /* recomputed when needed */
    sqlite3_bind_int64(l->ins_node, 1, node_id(start, level));
    sqlite3_bind_blob(l->ins_node, 2, hash, MERKLE_HASH_LEN, SQLITE_STATIC);
    ok = sqlite3_step(l->ins_node) == SQLITE_DONE;
    sqlite3_reset(l->ins_node);
    return ok ? PS_OK : PS_E_STORAGE;
}

int ledger_append(struct ledger *l, const void *leaf, size_t len, int store, uint64_t *index)
{
    uint8_t h[MERKLE_HASH_LEN];

    if (store) {
        int ok;

        sqlite3_bind_int64(l->ins_leaf, 1, (sqlite3_int64)l->f.size);
        sqlite3_bind_blob(l->ins_leaf, 2, leaf, (int)len, SQLITE_STATIC);
        ok = sqlite3_step(l->ins_leaf) == SQLITE_DONE;
        sqlite3_reset(l->ins_leaf);
        if (!ok)
            return PS_E_STORAGE;
    }
    merkle_leaf_hash(leaf, len, h);
    *index = l->f.size;
    return merkle_frontier_append(&l->f, h, emit_node, l);
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

static int check_size(struct ledger_reader *r, uint64_t size, char *err, size_t errlen)
{
    uint64_t n;

    if (ledger_committed_size(r, &n) != PS_OK) {
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

int ledger_inclusion(struct ledger_reader *r, uint64_t index, uint64_t size, struct merkle_proof *p,
                     char *err, size_t errlen)
{
    int rc;

    if (index >= size) {
        snprintf(err, errlen, "index %llu is not below size %llu", (unsigned long long)index,
                 (unsigned long long)size);
        return PS_E_INVAL;
    }
    if ((rc = check_size(r, size, err, errlen)) != PS_OK)
        return rc;
    if (merkle_inclusion_proof(index, size, proof_node, r, p) != PS_OK) {
        snprintf(err, errlen, "ledger storage: a proof node is missing");
        return PS_E_STORAGE;
    }
    return PS_OK;
}

int ledger_consistency(struct ledger_reader *r, uint64_t old_size, uint64_t new_size,
                       struct merkle_proof *p, char *err, size_t errlen)
{
    int rc;

    if (old_size > new_size) {
        snprintf(err, errlen, "old size %llu is above new size %llu", (unsigned long long)old_size,
                 (unsigned long long)new_size);
        return PS_E_INVAL;
    }
    if ((rc = check_size(r, new_size, err, errlen)) != PS_OK)
        return rc;
    if (merkle_consistency_proof(old_size, new_size, proof_node, r, p) != PS_OK) {
        snprintf(err, errlen, "ledger storage: a proof node is missing");
        return PS_E_STORAGE;
    }
    return PS_OK;
}

struct verify_ctx {
    sqlite3_stmt *node;
    int64_t node_mismatch; /* id of the first stored node that disagrees, or -1 */
};

static int verify_emit(void *ctx, uint64_t start, unsigned level,
                       const uint8_t hash[MERKLE_HASH_LEN])
{
    struct verify_ctx *v = ctx;
    int rc;

    if (level == 0 || level % NODE_EVERY != 0 || v->node_mismatch >= 0)
        return PS_OK;
    sqlite3_bind_int64(v->node, 1, node_id(start, level));
    rc = sqlite3_step(v->node);
    if (rc != SQLITE_ROW || sqlite3_column_bytes(v->node, 0) != MERKLE_HASH_LEN ||
        memcmp(sqlite3_column_blob(v->node, 0), hash, MERKLE_HASH_LEN) != 0)
        v->node_mismatch = node_id(start, level);
    sqlite3_reset(v->node);
    return PS_OK;
}

/* Two ordered cursors over the leaves: audit rows (signatures) and stored leaves. */
struct leaf_cursors {
    sqlite3_stmt *sig, *other;
    int sig_rc, other_rc;
};

static int64_t cursor_idx(sqlite3_stmt *st, int rc)
{
    return rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : INT64_MAX;
}

int ledger_verify_all(sqlite3 *db, uint64_t *leaves, uint64_t *checkpoints, char *err,
                      size_t errlen)
{
    struct verify_ctx v = {NULL, -1};
    struct leaf_cursors c = {NULL, NULL, 0, 0};
    sqlite3_stmt *cp = NULL;
    struct merkle_frontier f;
    uint64_t cp_size = UINT64_MAX;
    int r = PS_E_STORAGE, rc;

    *leaves = *checkpoints = 0;
    merkle_frontier_init(&f);
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, ts_ms, tenant, key, alg, digest FROM audit ORDER BY seq",
                           -1, &c.sig, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT idx, data FROM ledger_leaves ORDER BY idx", -1, &c.other,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT size, root FROM ledger_checkpoints ORDER BY size", -1, &cp,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT hash FROM ledger_nodes WHERE id = ?", -1, &v.node, NULL) !=
            SQLITE_OK) {
        snprintf(err, errlen, "ledger tables missing: %s", sqlite3_errmsg(db));
        goto out;
    }
    c.sig_rc = sqlite3_step(c.sig);
    c.other_rc = sqlite3_step(c.other);
    rc = sqlite3_step(cp);
    cp_size = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(cp, 0) : UINT64_MAX;
    for (;;) {
        uint8_t h[MERKLE_HASH_LEN];
        int64_t si = cursor_idx(c.sig, c.sig_rc), oi = cursor_idx(c.other, c.other_rc);

        while (cp_size == f.size) {
            merkle_frontier_root(&f, h);
            if (sqlite3_column_bytes(cp, 1) != MERKLE_HASH_LEN ||
                memcmp(sqlite3_column_blob(cp, 1), h, MERKLE_HASH_LEN) != 0) {
                snprintf(err, errlen,
                         "checkpoint at size %llu does not match the leaves (the log was "
                         "rewritten or damaged)",
                         (unsigned long long)cp_size);
                r = PS_E_INVAL;
                goto out;
            }
            ++*checkpoints;
            rc = sqlite3_step(cp);
            cp_size = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(cp, 0) : UINT64_MAX;
        }
        if (si == INT64_MAX && oi == INT64_MAX)
            break;
        if (si == oi) {
            snprintf(err, errlen, "leaf %lld is stored twice", (long long)si);
            r = PS_E_INVAL;
            goto out;
        }
        if ((uint64_t)(si < oi ? si : oi) != f.size) {
            snprintf(err, errlen, "leaf %llu is missing", (unsigned long long)f.size);
            r = PS_E_INVAL;
            goto out;
        }
        if (si < oi) {
            char leaf[LEDGER_MAX_LEAF];
            size_t n = ledger_signature_leaf(
                leaf, sizeof(leaf), (uint64_t)si, sqlite3_column_int64(c.sig, 1),
                (const char *)sqlite3_column_text(c.sig, 2),
                (const char *)sqlite3_column_text(c.sig, 3),
                (const char *)sqlite3_column_text(c.sig, 4), sqlite3_column_blob(c.sig, 5),
                (size_t)sqlite3_column_bytes(c.sig, 5));

            merkle_leaf_hash((const uint8_t *)leaf, n, h);
            c.sig_rc = sqlite3_step(c.sig);
        } else {
            merkle_leaf_hash(sqlite3_column_blob(c.other, 1),
                             (size_t)sqlite3_column_bytes(c.other, 1), h);
            c.other_rc = sqlite3_step(c.other);
        }
        if (merkle_frontier_append(&f, h, verify_emit, &v) != PS_OK)
            goto out;
        if (v.node_mismatch >= 0) {
            snprintf(err, errlen, "stored node %lld does not match the leaves below it",
                     (long long)v.node_mismatch);
            r = PS_E_INVAL;
            goto out;
        }
    }
    if (cp_size != UINT64_MAX) {
        snprintf(err, errlen, "checkpoint at size %llu is beyond the %llu leaves",
                 (unsigned long long)cp_size, (unsigned long long)f.size);
        r = PS_E_INVAL;
        goto out;
    }
    *leaves = f.size;
    r = PS_OK;
out:
    sqlite3_finalize(c.sig);
    sqlite3_finalize(c.other);
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
    {"p2p-message", 6}, /* <unix_ms> <from> <to> <id> <seq> <sha256 payload> */
    {"p2p-receipt", 5}, /* <unix_ms> <from> <to> <message_id> <sha256 receipt payload> */
    {"aeo-batch", 6},   /* <unix_ms> <partner> <origin> <from> <to> <sha256 of the JWS> */
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

int ledger_checkpoint_latest_time(struct ledger_reader *r, uint64_t *size, int64_t *ts_ms)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = PS_E_STORAGE;

    if (sqlite3_prepare_v2(r->db,
                           "SELECT size, ts_ms FROM ledger_checkpoints ORDER BY size DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return PS_E_STORAGE;
    }
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *size = (uint64_t)sqlite3_column_int64(st, 0);
        *ts_ms = sqlite3_column_int64(st, 1);
        ret = PS_OK;
    } else if (rc == SQLITE_DONE) {
        ret = PS_E_NOTFOUND;
    }
    sqlite3_finalize(st);
    return ret;
}
