/*
 * ledger-bench - the ledger's store (hsm/ledger.c through hsm/audit.c) on its own.
 *
 *   ledger-bench [-n LEAVES] [-g GROUP] [-p PROOFS] DIR
 *
 * 1. Appends: LEAVES signature records in transactions of GROUP (the keyholder's group
 *    commit), each an audit row plus a ledger leaf and its nodes, synchronous=FULL.
 *    Reference, same run, same file system: the same rows into an audit-only table
 *    (what the keyholder wrote before the ledger) in the same transactions.
 * 2. Proofs at the final size: PROOFS inclusion proofs for random leaves and PROOFS
 *    consistency proofs, each from a fresh database read; reference: one primary-key
 *    SELECT of a leaf (the cheapest read there is), timed the same way.
 * Prints one "KEY value" line per figure (parsed by tests/bench/run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../hsm/audit.h"
#include "../../hsm/ledger.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(struct audit_rec *recs, uint8_t (*dg)[32], size_t n, uint64_t base)
{
    for (size_t i = 0; i < n; i++) {
        memset(dg[i], 0, 32);
        memcpy(dg[i], &base, sizeof(base));
        dg[i][31] = (uint8_t)i;
        memset(&recs[i], 0, sizeof(recs[i]));
        recs[i].ts_ms = 1700000000000LL + (int64_t)(base + i);
        recs[i].tenant = "platform-a";
        recs[i].key = "t1-ec";
        recs[i].alg = "ecdsa-sha256";
        recs[i].digest = dg[i];
        recs[i].dlen = 32;
    }
}

/* The reference: audit rows only, as before the ledger, same transaction sizes. */
static double reference_appends(const char *dir, uint64_t n, size_t group)
{
    char path[4096];
    sqlite3 *db;
    sqlite3_stmt *ins;
    struct audit_rec *recs = calloc(group, sizeof(*recs));
    uint8_t(*dg)[32] = calloc(group, 32);
    double t0;

    snprintf(path, sizeof(path), "%s/reference.db", dir);
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
                     " tenant TEXT NOT NULL, key TEXT NOT NULL, alg TEXT NOT NULL,"
                     " digest BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)", -1, &ins, NULL) !=
            SQLITE_OK) {
        fprintf(stderr, "reference database: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    t0 = now();
    for (uint64_t done = 0; done < n; done += group) {
        fill(recs, dg, group, done);
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (size_t i = 0; i < group; i++) {
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)(done + i));
            sqlite3_bind_int64(ins, 2, recs[i].ts_ms);
            sqlite3_bind_text(ins, 3, recs[i].tenant, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 4, recs[i].key, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 5, recs[i].alg, -1, SQLITE_STATIC);
            sqlite3_bind_blob(ins, 6, recs[i].digest, 32, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                exit(1);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            exit(1);
    }
    t0 = now() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    free(recs);
    free(dg);
    return (double)n / t0;
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000, proofs = 2000;
    size_t group = 1000;
    char path[4096], err[256];
    struct audit *a;
    struct audit_rec *recs;
    uint8_t(*dg)[32];
    double t0, t_app, ref_rate, t_incl, t_cons, t_pk;
    int opt;

    while ((opt = getopt(argc, argv, "n:g:p:")) != -1) {
        if (opt == 'n')
            n = strtoull(optarg, NULL, 10);
        else if (opt == 'g')
            group = strtoull(optarg, NULL, 10);
        else if (opt == 'p')
            proofs = strtoull(optarg, NULL, 10);
        else
            return 2;
    }
    if (optind != argc - 1 || n == 0 || group == 0 || n % group != 0) {
        fprintf(stderr, "usage: ledger-bench [-n LEAVES] [-g GROUP (divides LEAVES)] [-p PROOFS] "
                        "DIR\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/ledger.db", argv[optind]);
    unlink(path);
    if (audit_open(path, &a, err, sizeof(err)) != PS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    recs = calloc(group, sizeof(*recs));
    dg = calloc(group, 32);
    t0 = now();
    for (uint64_t done = 0; done < n; done += group) {
        uint64_t idx;

        fill(recs, dg, group, done);
        if (audit_append(a, recs, group, &idx) != PS_OK) {
            fprintf(stderr, "append failed at %llu\n", (unsigned long long)done);
            return 1;
        }
    }
    t_app = now() - t0;
    ref_rate = reference_appends(argv[optind], n, group);

    /* proofs: from a fresh connection, as the keyholder's reader */
    {
        sqlite3 *db;
        sqlite3_stmt *pk;
        struct ledger_reader *rd;
        struct merkle_proof p;
        uint64_t rnd = 88172645463325252ULL;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            ledger_reader_open(db, &rd) != PS_OK)
            return 1;
        t0 = now();
        for (uint64_t i = 0; i < proofs; i++) {
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            if (ledger_inclusion(rd, rnd % n, n, &p, err, sizeof(err)) != PS_OK) {
                fprintf(stderr, "inclusion: %s\n", err);
                return 1;
            }
        }
        t_incl = (now() - t0) / (double)proofs;
        t0 = now();
        for (uint64_t i = 0; i < proofs; i++) {
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            if (ledger_consistency(rd, 1 + rnd % n, n, &p, err, sizeof(err)) != PS_OK) {
                fprintf(stderr, "consistency: %s\n", err);
                return 1;
            }
        }
        t_cons = (now() - t0) / (double)proofs;
        t0 = now();
        for (uint64_t i = 0; i < proofs; i++) {
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            sqlite3_prepare_v2(db, "SELECT digest FROM audit WHERE seq = ?", -1, &pk, NULL);
            sqlite3_bind_int64(pk, 1, (sqlite3_int64)(rnd % n));
            if (sqlite3_step(pk) != SQLITE_ROW)
                return 1;
            sqlite3_finalize(pk);
        }
        t_pk = (now() - t0) / (double)proofs;
        ledger_reader_close(rd);
        sqlite3_close(db);
    }
    audit_close(a);
    printf("leaves %llu\ngroup %zu\n", (unsigned long long)n, group);
    printf("append_per_s %.0f\nreference_append_per_s %.0f\nappend_ratio %.2f\n",
           (double)n / t_app, ref_rate, ref_rate / ((double)n / t_app));
    printf("inclusion_us %.1f\nconsistency_us %.1f\npk_select_us %.1f\ninclusion_ratio %.1f\n",
           t_incl * 1e6, t_cons * 1e6, t_pk * 1e6, t_incl / t_pk);
    free(recs);
    free(dg);
    return 0;
}
