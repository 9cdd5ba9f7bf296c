/*
 * ledger_test.c - the keyholder's Merkle log over SQLite (hsm/ledger.c, hsm/audit.c):
 * group-committed appends across reopen, rollback, proofs at every size, checkpoints, the
 * full check from leaf 0, and the leaves a worker may append.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../hsm/audit.h"
#include "../../../hsm/ledger.h"
#include "../../../protocol/merkle.h"
#include "../unit.h"

#define N 300

static uint8_t leafh[N + 16][MERKLE_HASH_LEN];
static char dbpath[] = "/tmp/portseal-ledger-test-XXXXXX";

/* Bundle leaf number i (the worker-appended kind). */
static size_t bundle_leaf(int i, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "bundle %d %064x %064x %064x\n", 1700000000 + i, i, i + 1,
                            i + 2);
}

static int append_mixed(struct audit *a, int from, int count, uint64_t *first_index)
{
    struct audit_rec recs[64];
    char leaves[64][LEDGER_MAX_LEAF];
    uint8_t dg[64][32];

    for (int i = 0; i < count; i++) {
        memset(&recs[i], 0, sizeof(recs[i]));
        if ((from + i) % 5 == 4) {
            recs[i].leaf = (const uint8_t *)leaves[i];
            recs[i].leaf_len = bundle_leaf(from + i, leaves[i], sizeof(leaves[i]));
        } else {
            memset(dg[i], from + i, sizeof(dg[i]));
            recs[i].ts_ms = 1700000000000LL + from + i;
            recs[i].tenant = "platform-a";
            recs[i].key = "t1-ec";
            recs[i].alg = "ecdsa-sha256";
            recs[i].digest = dg[i];
            recs[i].dlen = 32;
        }
    }
    return audit_append(a, recs, (size_t)count, first_index);
}

static void load_leaf_hashes(struct ledger_reader *db, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (ledger_leaf_hash_at(db, i, leafh[i]) != PS_OK)
            memset(leafh[i], 0, MERKLE_HASH_LEN);
}

static void test_appends_and_proofs(void)
{
    struct audit *a = NULL;
    char err[256];
    uint64_t idx, size = 0;
    int ok_open = 1, ok_seq = 1, ok_idx = 1;
    struct ledger_reader *rd;
    uint8_t root[MERKLE_HASH_LEN], want[MERKLE_HASH_LEN];

    /* appends in transactions of varying size, the database reopened every 60 leaves */
    for (int from = 0; from < N;) {
        int count = 1 + from % 13;

        if (count > N - from)
            count = N - from;
        if (a == NULL && audit_open(dbpath, &a, err, sizeof(err)) != PS_OK) {
            ok_open = 0;
            break;
        }
        if (append_mixed(a, from, count, &idx) != PS_OK)
            ok_seq = 0;
        ok_idx &= idx == (uint64_t)from;
        from += count;
        if (from % 60 < count) {
            audit_close(a);
            a = NULL;
        }
    }
    CHECK(ok_open, "the audit database opens and reopens with its ledger");
    CHECK(ok_idx, "every transaction's first leaf index continues the log across reopen");
    CHECK(ok_seq, "every transaction commits");
    if (a == NULL && audit_open(dbpath, &a, err, sizeof(err)) != PS_OK) {
        CHECK(0, "reopen: %s", err);
        return;
    }
    rd = ledger_writer_reader(audit_ledger(a));
    {
        sqlite3_stmt *st;
        int ok = 1, rows = 0;

        sqlite3_prepare_v2(audit_db(a), "SELECT seq FROM audit ORDER BY seq", -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW) {
            ok &= sqlite3_column_int64(st, 0) % 5 != 4;
            rows++;
        }
        sqlite3_finalize(st);
        CHECK(ok && rows == N - N / 5,
              "audit seq numbers are the signature leaves' indexes (gaps where bundles are)");
    }
    {
        struct buf b;

        buf_init(&b, 4096);
        CHECK(ledger_leaf_at(rd, 3, &b) == PS_OK &&
                  strcmp((char *)b.data, "signature 3 1700000000003 platform-a t1-ec "
                                         "ecdsa-sha256 03030303030303030303030303030303"
                                         "03030303030303030303030303030303\n") == 0,
              "a signature leaf is made from its audit row: %s", (char *)b.data);
        buf_reset(&b);
        CHECK(ledger_leaf_at(rd, 4, &b) == PS_OK &&
                  strncmp((char *)b.data, "bundle 1700000004 ", 18) == 0,
              "a bundle leaf is stored verbatim");
        buf_reset(&b);
        CHECK(ledger_leaf_at(rd, N, &b) == PS_E_NOTFOUND, "no leaf past the end");
        buf_free(&b);
    }
    CHECK(ledger_size(audit_ledger(a)) == N, "the log holds %d leaves", N);
    CHECK(ledger_committed_size(rd, &size) == PS_OK && size == N,
          "a reader sees %d committed leaves", N);
    load_leaf_hashes(rd, N);
    ledger_root(audit_ledger(a), root);
    CHECK(merkle_root(&leafh[0][0], N, want) == PS_OK && memcmp(root, want, 32) == 0,
          "the frontier's root equals the root recomputed from the stored leaves");

    {
        int ok = 1, tried = 0;

        for (uint64_t sz = 1; sz <= N; sz += 7)
            for (uint64_t i = 0; i < sz; i += 11) {
                struct merkle_proof p;
                uint8_t r[MERKLE_HASH_LEN];

                tried++;
                ok &= ledger_inclusion(rd, i, sz, &p, err, sizeof(err)) == PS_OK &&
                      merkle_root(&leafh[0][0], sz, r) == PS_OK &&
                      merkle_verify_inclusion(leafh[i], i, sz, &p, r) == PS_OK;
            }
        CHECK(ok, "%d inclusion proofs from the store verify against recomputed roots", tried);
    }
    {
        int ok = 1, tried = 0;

        for (uint64_t o = 0; o <= N; o += 17)
            for (uint64_t nw = o; nw <= N; nw += 23) {
                struct merkle_proof p;
                uint8_t ro[MERKLE_HASH_LEN], rn[MERKLE_HASH_LEN];

                tried++;
                if (o == 0)
                    merkle_empty_root(ro);
                else
                    ok &= merkle_root(&leafh[0][0], o, ro) == PS_OK;
                ok &= merkle_root(&leafh[0][0], nw, rn) == PS_OK &&
                      ledger_consistency(rd, o, nw, &p, err, sizeof(err)) == PS_OK &&
                      merkle_verify_consistency(o, nw, &p, ro, rn) == PS_OK;
            }
        CHECK(ok, "%d consistency proofs from the store verify", tried);
    }
    {
        struct merkle_proof p;

        CHECK(ledger_inclusion(rd, 5, N + 1, &p, err, sizeof(err)) == PS_E_INVAL &&
                  strstr(err, "beyond") != NULL,
              "a proof to a size beyond the log is refused: %s", err);
        CHECK(ledger_inclusion(rd, 9, 9, &p, err, sizeof(err)) == PS_E_INVAL,
              "an index not below the size is refused");
        CHECK(ledger_consistency(rd, 10, 9, &p, err, sizeof(err)) == PS_E_INVAL,
              "old size above new size is refused");
    }

    /* checkpoints: stored, read back, and checked at reopen */
    ledger_root(audit_ledger(a), root);
    CHECK(!ledger_has_checkpoint(audit_ledger(a)), "no checkpoint yet");
    CHECK(ledger_checkpoint_store(audit_ledger(a), N, root, 1, (const uint8_t *)"note\n", 5) ==
                  PS_OK &&
              ledger_has_checkpoint(audit_ledger(a)) &&
              ledger_checkpoint_size(audit_ledger(a)) == N,
          "a checkpoint is stored");
    {
        struct buf b;
        uint64_t cs = 0;

        buf_init(&b, 1024);
        CHECK(ledger_checkpoint_latest(rd, &b, &cs) == PS_OK && cs == N && b.len == 5 &&
                  memcmp(b.data, "note\n", 5) == 0,
              "the latest checkpoint reads back");
        buf_free(&b);
    }

    /* a failed transaction leaves the frontier as it was */
    {
        uint8_t before[MERKLE_HASH_LEN], after[MERKLE_HASH_LEN];
        struct audit_rec bad[2];
        static const char leaf[] = "bundle 1 a b c\n";

        ledger_root(audit_ledger(a), before);
        memset(bad, 0, sizeof(bad));
        bad[0].leaf = (const uint8_t *)leaf;
        bad[0].leaf_len = sizeof(leaf) - 1;
        bad[1] = bad[0];
        sqlite3_exec(audit_db(a),
                     "CREATE TRIGGER fail BEFORE INSERT ON ledger_leaves "
                     "WHEN NEW.idx > 300 BEGIN SELECT RAISE(ABORT, 'x'); END;",
                     NULL, NULL, NULL);
        CHECK(audit_append(a, bad, 2, &idx) == PS_E_STORAGE, "a failing append fails");
        ledger_root(audit_ledger(a), after);
        CHECK(ledger_size(audit_ledger(a)) == N && memcmp(before, after, 32) == 0,
              "and the in-memory tree is rolled back with the transaction");
        sqlite3_exec(audit_db(a), "DROP TRIGGER fail", NULL, NULL, NULL);
        CHECK(ledger_committed_size(rd, &size) == PS_OK && size == N, "nothing of it was stored");
    }
    {
        uint64_t lv, cps;

        CHECK(ledger_verify_all(audit_db(a), &lv, &cps, err, sizeof(err)) == PS_OK && lv == N &&
                  cps == 1,
              "the full check from leaf 0 passes (%s)", err);
        /* damage a leaf: the full check and the next open both notice */
        sqlite3_exec(audit_db(a),
                     "UPDATE ledger_leaves SET data = 'bundle 0 x y z\n' WHERE idx = 9", NULL, NULL,
                     NULL);
        CHECK(ledger_verify_all(audit_db(a), &lv, &cps, err, sizeof(err)) == PS_E_INVAL,
              "a changed stored leaf fails the full check: %s", err);
        sqlite3_exec(audit_db(a), "UPDATE audit SET tenant = 'platform-b' WHERE seq = 7", NULL,
                     NULL, NULL);
        sqlite3_exec(audit_db(a),
                     "UPDATE ledger_leaves SET data = 'bundle 1700000009 x y z\n' WHERE idx = 9",
                     NULL, NULL, NULL);
        CHECK(ledger_verify_all(audit_db(a), &lv, &cps, err, sizeof(err)) == PS_E_INVAL,
              "a changed audit row fails the full check: %s", err);
        sqlite3_exec(audit_db(a), "UPDATE audit SET tenant = 'platform-a' WHERE seq = 7", NULL,
                     NULL, NULL);
        sqlite3_exec(audit_db(a), "INSERT INTO ledger_leaves VALUES (7, 'bundle 1 a b c\n')", NULL,
                     NULL, NULL);
        CHECK(ledger_verify_all(audit_db(a), &lv, &cps, err, sizeof(err)) == PS_E_INVAL &&
                  strstr(err, "twice") != NULL,
              "a leaf index used twice fails the full check: %s", err);
        sqlite3_exec(audit_db(a), "DELETE FROM ledger_leaves WHERE idx = 7", NULL, NULL, NULL);
        sqlite3_exec(audit_db(a), "DELETE FROM audit WHERE seq = 8", NULL, NULL, NULL);
        CHECK(ledger_verify_all(audit_db(a), &lv, &cps, err, sizeof(err)) == PS_E_INVAL &&
                  strstr(err, "missing") != NULL,
              "a deleted audit row fails the full check: %s", err);
    }
    audit_close(a);
    /* a rewritten tree (nodes changed to match a forged leaf) no longer matches the checkpoint */
    {
        sqlite3 *db;

        sqlite3_open(dbpath, &db);
        sqlite3_exec(db, "UPDATE ledger_nodes SET hash = zeroblob(32)", NULL, NULL, NULL);
        sqlite3_exec(db, "INSERT INTO audit VALUES (8, 1, 'platform-a', 't1-ec', 'x', x'00')", NULL,
                     NULL, NULL);
        sqlite3_close(db);
        a = NULL;
        CHECK(audit_open(dbpath, &a, err, sizeof(err)) == PS_E_STORAGE &&
                  strstr(err, "does not match the latest checkpoint") != NULL,
              "a stored tree that disagrees with the latest checkpoint is refused at open: %s",
              err);
        audit_close(a);
    }
}

/* Groups the size the keyholder commits (hundreds of signatures: several AUDIT_ROWS-row
 * INSERTs and single rows for the rest), bundles among them; a failing row inside a
 * multi-row INSERT rolls back the whole group. */
static void test_large_groups(void)
{
    static struct audit_rec recs[301];
    static char leaves[301][LEDGER_MAX_LEAF];
    static uint8_t dg[301][32];
    static const int groups[] = {100, 37, 301, 1, 64};
    struct audit *a = NULL;
    char err[256], path[sizeof(dbpath) + 8];
    uint64_t idx = 0, n = 0, lv = 0, cps = 0, size = 0;
    int ok = 1, rows = 0, good_rows = 1;

    snprintf(path, sizeof(path), "%s-large", dbpath);
    unlink(path);
    if (audit_open(path, &a, err, sizeof(err)) != PS_OK) {
        CHECK(0, "open %s: %s", path, err);
        return;
    }
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        for (int i = 0; i < groups[g]; i++) {
            uint64_t k = n + (uint64_t)i;

            memset(&recs[i], 0, sizeof(recs[i]));
            if (k % 7 == 6) {
                recs[i].leaf = (const uint8_t *)leaves[i];
                recs[i].leaf_len = bundle_leaf((int)k, leaves[i], sizeof(leaves[i]));
                continue;
            }
            memset(dg[i], (int)(k & 0xff), sizeof(dg[i]));
            dg[i][0] = (uint8_t)(k >> 8);
            recs[i].ts_ms = 1700000000000LL + (int64_t)k;
            recs[i].tenant = k % 2 ? "platform-a" : "platform-b";
            recs[i].key = "t1-ec";
            recs[i].alg = "ecdsa-sha256";
            recs[i].digest = dg[i];
            recs[i].dlen = 32;
        }
        ok &= audit_append(a, recs, (size_t)groups[g], &idx) == PS_OK && idx == n;
        n += (uint64_t)groups[g];
    }
    CHECK(ok, "groups of 100, 37, 301, 1 and 64 records commit, each continuing the log");
    {
        sqlite3_stmt *st;

        sqlite3_prepare_v2(audit_db(a), "SELECT seq, ts_ms, tenant, digest FROM audit ORDER BY seq",
                           -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW) {
            uint64_t k = (uint64_t)sqlite3_column_int64(st, 0);
            const uint8_t *d = sqlite3_column_blob(st, 3);

            good_rows &= k % 7 != 6 &&
                         sqlite3_column_int64(st, 1) == 1700000000000LL + (int64_t)k &&
                         strcmp((const char *)sqlite3_column_text(st, 2),
                                k % 2 ? "platform-a" : "platform-b") == 0 &&
                         sqlite3_column_bytes(st, 3) == 32 && d[0] == (uint8_t)(k >> 8) &&
                         d[31] == (uint8_t)(k & 0xff);
            rows++;
        }
        sqlite3_finalize(st);
    }
    CHECK(good_rows && (uint64_t)rows == n - n / 7,
          "every signature has its own audit row with its seq, time, tenant and digest (%d rows)",
          rows);
    CHECK(ledger_verify_all(audit_db(a), &lv, &cps, err, sizeof(err)) == PS_OK && lv == n,
          "the full check from leaf 0 passes over them (%s)", err);
    /* a row in the middle of the second 32-row INSERT fails: nothing of the group stays */
    sqlite3_exec(audit_db(a),
                 "CREATE TRIGGER fail BEFORE INSERT ON audit WHEN NEW.seq = 549 "
                 "BEGIN SELECT RAISE(ABORT, 'x'); END;",
                 NULL, NULL, NULL);
    for (int i = 0; i < 100; i++) {
        memset(&recs[i], 0, sizeof(recs[i]));
        memset(dg[i], i, sizeof(dg[i]));
        recs[i].ts_ms = 1700000001000LL + i;
        recs[i].tenant = "platform-a";
        recs[i].key = "t1-ec";
        recs[i].alg = "ecdsa-sha256";
        recs[i].digest = dg[i];
        recs[i].dlen = 32;
    }
    CHECK(audit_append(a, recs, 100, &idx) == PS_E_STORAGE && ledger_size(audit_ledger(a)) == n,
          "a failing row inside a multi-row INSERT fails the group and rolls the tree back");
    CHECK(ledger_committed_size(ledger_writer_reader(audit_ledger(a)), &size) == PS_OK && size == n,
          "and nothing of the group was stored");
    sqlite3_exec(audit_db(a), "DROP TRIGGER fail", NULL, NULL, NULL);
    CHECK(audit_append(a, recs, 100, &idx) == PS_OK && idx == n,
          "the same group commits once the cause is gone");
    audit_close(a);
    unlink(path);
    {
        char p[sizeof(path) + 8];

        snprintf(p, sizeof(p), "%s-wal", path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", path);
        unlink(p);
    }
}

static void test_leaf_valid(void)
{
    static const struct {
        const char *leaf;
        int ok;
    } cases[] = {
        {"bundle 1700000000000 aa bb cc\n", 1},
        {"bundle 1 a b c\n", 1},
        {"bundle 1 a b\n", 0},
        {"bundle 1 a b c d\n", 0},
        {"bundle  1 a b c\n", 0},
        {" bundle 1 a b c\n", 0},
        {"bundle 1 a b c \n", 0},
        {"bundle 1 a b c", 0},
        {"bundle 1 a\tb c\n", 0},
        {"bundle 1 a b c\n\n", 0},
        {"signature 0 1 t k a dd\n", 0},
        {"unknown 1 a b c\n", 0},
        {"bundlex 1 a b c\n", 0},
        {"\n", 0},
        {"p2p-message 1700000000000 sz hk sz-000001 1 aa\n", 1},
        {"p2p-message 1700000000000 sz hk sz-000001 1\n", 0},
        {"p2p-receipt 1700000000000 hk sz hk-01 aa\n", 1},
        {"p2p-receipt 1700000000000 hk sz hk-01 aa bb\n", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK(ledger_leaf_valid((const uint8_t *)cases[i].leaf, strlen(cases[i].leaf)) ==
                  cases[i].ok,
              "leaf %zu is %s", i, cases[i].ok ? "accepted" : "refused");
    {
        char big[LEDGER_MAX_LEAF + 8];

        memset(big, 'a', sizeof(big));
        memcpy(big, "bundle 1 a b ", 13);
        big[sizeof(big) - 1] = '\n';
        CHECK(!ledger_leaf_valid((const uint8_t *)big, sizeof(big)),
              "an oversized leaf is refused");
        CHECK(!ledger_leaf_valid((const uint8_t *)"bundle 1 a b \0c\n", 16), "a NUL is refused");
    }
}

/* The leaf text as snprintf made it (the format ledger.h documents), 0 if it does not fit. */
static size_t ref_leaf(char *out, size_t cap, uint64_t index, int64_t ts_ms, const char *tenant,
                       const char *key, const char *alg, const uint8_t *d, size_t dlen)
{
    int n = snprintf(out, cap, "signature %llu %lld %s %s %s ", (unsigned long long)index,
                     (long long)ts_ms, tenant, key, alg);

    if (n < 0 || (size_t)n + 2 * dlen + 2 > cap)
        return 0;
    for (size_t i = 0; i < dlen; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", d[i]);
    out[n++] = '\n';
    out[n] = 0;
    return (size_t)n;
}

static void test_signature_leaf_text(void)
{
    static const uint64_t idx[] = {0, 9, 10, 12345, UINT64_MAX};
    static const int64_t ts[] = {0, 1, -1, 1700000000000LL, INT64_MAX, INT64_MIN};
    static const char *const names[] = {"t", "platform-a", "@tsa"};
    uint8_t d[64];
    int ok = 1, n = 0;

    for (size_t i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i * 37 + 5);
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 6; b++)
            for (size_t c = 0; c < 3; c++)
                for (size_t dl = 0; dl <= 64; dl += 16)
                    for (size_t cap = 40; cap <= 260; cap += 11, n++) {
                        char x[300], y[300];
                        size_t lx = ledger_signature_leaf(x, cap, idx[a], ts[b], names[c], "key-1",
                                                          "ecdsa-sha256", d, dl);
                        size_t ly = ref_leaf(y, cap, idx[a], ts[b], names[c], "key-1",
                                             "ecdsa-sha256", d, dl);

                        ok &= lx == ly && (lx == 0 || memcmp(x, y, lx + 1) == 0);
                    }
    CHECK(ok, "signature leaf text is the documented format (%d cases, incl. caps too small)", n);
}

int main(void)
{
    int fd = mkstemp(dbpath);

    if (fd < 0)
        return 1;
    close(fd);
    unlink(dbpath);
    test_appends_and_proofs();
    test_large_groups();
    test_leaf_valid();
    test_signature_leaf_text();
    unlink(dbpath);
    {
        char p[sizeof(dbpath) + 8];

        snprintf(p, sizeof(p), "%s-wal", dbpath);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", dbpath);
        unlink(p);
    }
    return unit_done();
}
