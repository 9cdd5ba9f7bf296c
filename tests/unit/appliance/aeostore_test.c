/*
 * aeostore_test - the AEO register store (appliance/aeostore.h) on a scratch state_dir: our
 * register's imports (only changes get a seq, all or nothing), lookups with provenance, and a
 * partner's signed batches applied through aeostore_ingest, with the faults of issue 5: a
 * replay, a gap, a bad signature, a signer from another PKI, another origin, a bad record in
 * the middle of a batch (nothing of it applied), an origin claimed by another partner.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../../appliance/aeostore.h"
#include "../../../protocol/jws.h"
#include "../certs/testpki.h"
#include "../unit.h"

struct office {
    EVP_PKEY *root_key, *key;
    X509 *root, *cert;
    X509_STORE *pinned;
};

static struct office sg, other;
static char err[512];
static int64_t T0; /* now: the test certificates are valid from now on */

static void office(struct office *o, const char *name, long serial)
{
    char cnm[64];

    o->root_key = pki_key("P-256");
    snprintf(cnm, sizeof(cnm), "%s customs root", name);
    o->root = pki_cert(cnm, o->root_key, NULL, o->root_key, 1, "critical,keyCertSign,cRLSign", NULL,
                       serial);
    o->key = pki_key("P-256");
    snprintf(cnm, sizeof(cnm), "%s exchange signer", name);
    o->cert = pki_cert(cnm, o->key, o->root, o->root_key, 0, "critical,digitalSignature", NULL,
                       serial + 1);
    o->pinned = X509_STORE_new();
    X509_STORE_add_cert(o->pinned, o->root);
}

static int sign_cb(void *ctx, enum jws_alg alg, const uint8_t *tbs, size_t len, uint8_t *sig,
                   size_t cap, size_t *siglen)
{
    (void)alg;
    *siglen = pki_sign_digest(ctx, EVP_sha256(), tbs, len, sig, cap);
    return *siglen ? PS_OK : PS_E_CRYPTO;
}

/* A JWS of origin's batch from `from` with records rec[0..n), signed by o. */
static char *batch_jws(struct office *o, const char *origin, uint64_t from,
                       const struct aeo_record *rec, size_t n)
{
    struct jws_params p = {JWS_ES256, o->cert, NULL, NULL, AEO_BATCH_TYP, NULL};
    struct buf payload, out;
    char *r = NULL;

    buf_init(&payload, AEO_BATCH_MAX_LEN);
    buf_init(&out, JWS_MAX_LEN);
    if (aeo_batch_format(origin, from, rec, n, &payload, err, sizeof(err)) == PS_OK &&
        jws_sign(&p, payload.data, payload.len, sign_cb, o->key, JWS_FLATTENED, &out, err,
                 sizeof(err)) == PS_OK)
        r = (char *)buf_steal(&out, NULL);
    buf_free(&payload);
    buf_free(&out);
    return r;
}

static struct aeo_record rec(uint64_t seq, const char *id, const char *name, enum aeo_status st)
{
    struct aeo_record r;

    memset(&r, 0, sizeof(r));
    r.seq = seq;
    snprintf(r.aeo_id, sizeof(r.aeo_id), "%s", id);
    snprintf(r.name, sizeof(r.name), "%s", name);
    snprintf(r.address, sizeof(r.address), "1 Harbourfront Avenue");
    r.status = st;
    r.valid_from = 19723;  /* 2024-01-01 */
    r.valid_until = 20818; /* 2026-12-31 */
    r.updated_at = T0 - 3600 + (int64_t)seq;
    return r;
}

static uint64_t own_rows(struct aeostore *s)
{
    uint64_t last = 99;

    return aeostore_own_last(s, &last) == PS_OK ? last : 99;
}

static void test_own(struct aeostore *s)
{
    const char *csv =
        "aeo_id,name,address,status,valid_from,valid_until\n"
        "AEOCN4403123456,Shenzhen Ocean Freight,Futian,valid,2024-01-01,2027-12-31\n"
        "AEOCN440312345A,Qianhai Supply Chain,Qianhai,suspended,2022-03-01,2028-02-28\n"
        "AEOCN4403000001,Bao'an Air Cargo,Bao'an,valid,2021-01-01,2026-12-31\n";
    struct aeo_id_rules rules;
    struct aeo_list l = {0}, since = {0};
    struct aeostore_import_result res;
    struct aeostore_answer a;
    uint8_t d1[32], d2[32];

    aeo_id_rules_default(&rules);
    if (aeo_import((const uint8_t *)csv, strlen(csv), &rules, &l, err, sizeof(err)) != PS_OK)
        abort();
    CHECK(aeostore_import(s, &l, T0, "officer-1", &res, err, sizeof(err)) == PS_OK &&
              res.imported == 3 && res.changed == 3 && res.first_seq == 1 && res.last_seq == 3,
          "first import: three changes, seq 1..3 (%s)", err);
    CHECK(aeostore_import(s, &l, T0 + 10, "officer-1", &res, err, sizeof(err)) == PS_OK &&
              res.changed == 0 && res.first_seq == 0 && res.last_seq == 3,
          "the same records again: no change, no seq");
    l.rec[1].status = AEO_REVOKED;
    snprintf(l.rec[2].address, sizeof(l.rec[2].address), "Bao'an Airport");
    CHECK(aeostore_import(s, &l, T0 + 20, "officer-2", &res, err, sizeof(err)) == PS_OK &&
              res.changed == 2 && res.first_seq == 4 && res.last_seq == 5,
          "a status and an address change: seq 4 and 5");
    CHECK(aeostore_own_since(s, 3, 10, &since) == PS_OK && since.n == 2 && since.rec[0].seq == 4 &&
              since.rec[0].status == AEO_REVOKED && since.rec[0].updated_at == T0 + 20 &&
              strcmp(since.rec[1].address, "Bao'an Airport") == 0,
          "own_since(3) gives the two changes in order");
    aeo_list_free(&since);
    CHECK(aeostore_own_since(s, 0, 2, &since) == PS_OK && since.n == 2 && since.rec[1].seq == 2,
          "own_since honours limit");
    aeo_list_free(&since);

    /* a bad record anywhere: nothing applied */
    l.rec[0].status = AEO_SUSPENDED;
    l.rec[2].valid_until = l.rec[2].valid_from - 1;
    CHECK(aeostore_import(s, &l, T0 + 30, "officer-1", &res, err, sizeof(err)) == PS_E_INVAL &&
              strstr(err, "record 3") && own_rows(s) == 5,
          "an import with a bad third record changes nothing: %s", err);

    CHECK(aeostore_lookup(s, "AEOCN440312345A", T0 + 15, &a) == PS_OK &&
              a.state == AEO_STATE_SUSPENDED && a.own && a.rec.seq == 2 &&
              strcmp(a.origin, "CN") == 0 && strcmp(a.imported_by, "officer-1") == 0,
          "lookup before the change: suspended, seq 2, origin CN, by officer-1");
    CHECK(aeostore_lookup(s, "AEOCN440312345A", T0 + 25, &a) == PS_OK &&
              a.state == AEO_STATE_REVOKED && a.rec.seq == 4 &&
              strcmp(a.imported_by, "officer-2") == 0,
          "lookup after it: revoked, seq 4, by officer-2");
    CHECK(aeostore_lookup(s, "AEOCN4403123456", T0 - 1, &a) == PS_OK &&
              a.state == AEO_STATE_UNKNOWN && !a.decided,
          "before the first import: known operator, unknown state");
    CHECK(aeostore_lookup(s, "AEOCN4403999999", T0, &a) == PS_E_NOTFOUND, "unknown operator");
    {
        struct aeo_list all = {0};

        CHECK(aeostore_own_since(s, 0, 100, &all) == PS_OK &&
                  aeo_register_digest(all.rec, all.n, d1) == PS_OK &&
                  aeostore_digest(s, NULL, d2) == PS_OK && memcmp(d1, d2, 32) == 0,
              "own register digest = aeo_register_digest of its records");
        aeo_list_free(&all);
    }
    aeo_list_free(&l);
}

static void test_partner(struct aeostore *s)
{
    struct aeo_record r[6];
    struct aeostore_ingested in;
    struct aeostore_origin_state st;
    struct aeostore_answer a;
    struct aeo_batch b;
    uint8_t d1[32], d2[32];
    char *j1, *j, *bad;

    r[0] = rec(1, "AEOSG20231234567X", "Lion City Logistics", AEO_VALID);
    r[1] = rec(2, "AEOSG202312345678", "Jurong Freight", AEO_VALID);
    r[2] = rec(3, "AEOSG20231234567X", "Lion City Logistics", AEO_SUSPENDED);
    r[3] = rec(4, "AEOSG202300000001", "Changi Air Cargo", AEO_VALID);
    r[4] = rec(5, "AEOSG202300000002", "Tuas Port Services", AEO_VALID);
    r[5] = rec(6, "AEOSG202300000003", "Keppel Warehousing", AEO_VALID);

    CHECK(aeostore_notify(s, "sg", "SG", 3, T0) == PS_OK &&
              aeostore_origin_state(s, "SG", &st) == PS_OK && st.notified_seq == 3 &&
              st.last_seq == 0 && strcmp(st.partner, "sg") == 0,
          "notify is stored: sg has news up to 3");
    j1 = batch_jws(&sg, "SG", 1, r, 3);
    CHECK(j1 &&
              aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)j1, strlen(j1), T0, &in,
                              err, sizeof(err)) == PS_OK &&
              in.from == 1 && in.to == 3 && in.records == 3 && strstr(in.signer, "sg exchange"),
          "a signed batch 1..3 from sg is verified and applied (%s)", err);
    CHECK(aeostore_origin_state(s, "SG", &st) == PS_OK && st.last_seq == 3 &&
              st.notified_seq == 3 && st.fetched_at == T0,
          "SG's copy is at seq 3, fetched at T0");
    CHECK(aeostore_lookup(s, "AEOSG20231234567X", T0, &a) == PS_OK &&
              a.state == AEO_STATE_SUSPENDED && !a.own && a.rec.seq == 3 &&
              strcmp(a.origin, "SG") == 0 && strcmp(a.partner, "sg") == 0 &&
              strstr(a.signer, "sg exchange signer") && a.fetched_at == T0,
          "lookup of an SG operator: suspended, with provenance SG seq 3, signer, fetched_at");
    CHECK(aeostore_lookup(s, "AEOSG20231234567X", T0 - 3600 + 2, &a) == PS_OK &&
              a.state == AEO_STATE_VALID && a.rec.seq == 1,
          "... and valid before its suspension");

    CHECK(aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)j1, strlen(j1), T0 + 1, &in,
                          err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "replay: batch starts at 1, already have up to 3") == 0,
          "the same batch again is a replay: %s", err);
    j = batch_jws(&sg, "SG", 5, r + 4, 2);
    CHECK(aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)j, strlen(j), T0 + 1, &in, err,
                          sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "gap: expected seq 4, batch starts at 5") == 0,
          "a batch from 5 is a gap: %s", err);
    free(j);
    j = batch_jws(&sg, "SG", 4, r + 3, 3);
    bad = strdup(j);
    {
        char *p = strstr(bad, "\"payload\":\"") + 20;
        *p = *p == 'A' ? 'B' : 'A';
    }
    CHECK(aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)bad, strlen(bad), T0 + 1, &in,
                          err, sizeof(err)) == PS_E_INVAL &&
              strstr(err, "signature does not verify"),
          "a tampered batch is refused: %s", err);
    free(bad);
    bad = batch_jws(&other, "SG", 4, r + 3, 3);
    CHECK(aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)bad, strlen(bad), T0 + 1, &in,
                          err, sizeof(err)) == PS_E_INVAL &&
              strstr(err, "x5c chain"),
          "a batch signed under another root is refused: %s", err);
    free(bad);
    bad = batch_jws(&sg, "CN", 4, r + 3, 3);
    CHECK(aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)bad, strlen(bad), T0 + 1, &in,
                          err, sizeof(err)) == PS_E_INVAL,
          "a batch of another origin is refused: %s", err);
    free(bad);
    CHECK(aeostore_ingest(s, "hk", "SG", sg.pinned, (const uint8_t *)j, strlen(j), T0 + 1, &in, err,
                          sizeof(err)) == PS_E_INVAL &&
              strstr(err, "is partner sg's"),
          "another partner cannot feed SG's copy: %s", err);

    /* a bad record in the middle: nothing of the batch applied */
    memset(&b, 0, sizeof(b));
    snprintf(b.origin, sizeof(b.origin), "SG");
    b.from = 4;
    b.to = 6;
    for (int i = 3; i < 6; i++)
        if (aeo_list_push(&b.records, &r[i]) != PS_OK)
            abort();
    b.records.rec[1].valid_until = b.records.rec[1].valid_from - 1;
    CHECK(aeostore_apply_batch(s, "sg", "SG", &b, "/CN=x", T0 + 1, NULL, 0, err, sizeof(err)) ==
                  PS_E_INVAL &&
              strncmp(err, "records[1]: ", 12) == 0 &&
              aeostore_origin_state(s, "SG", &st) == PS_OK && st.last_seq == 3 &&
              aeostore_lookup(s, "AEOSG202300000001", T0 + 2, &a) == PS_E_NOTFOUND,
          "a batch with a bad second record is refused whole: %s", err);
    b.records.rec[1] = r[4];
    b.records.rec[2].seq = 9;
    CHECK(aeostore_apply_batch(s, "sg", "SG", &b, "/CN=x", T0 + 1, NULL, 0, err, sizeof(err)) ==
                  PS_E_INVAL &&
              aeostore_origin_state(s, "SG", &st) == PS_OK && st.last_seq == 3,
          "a batch whose seqs do not run from..to is refused: %s", err);
    aeo_batch_free(&b);

    CHECK(aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)j, strlen(j), T0 + 5, &in, err,
                          sizeof(err)) == PS_OK &&
              in.from == 4 && in.to == 6 && aeostore_origin_state(s, "SG", &st) == PS_OK &&
              st.last_seq == 6,
          "the good batch 4..6 then applies (%s)", err);
    free(j);
    j = batch_jws(&sg, "SG", 7, NULL, 0);
    CHECK(aeostore_ingest(s, "sg", "SG", sg.pinned, (const uint8_t *)j, strlen(j), T0 + 9, &in, err,
                          sizeof(err)) == PS_OK &&
              in.records == 0 && aeostore_origin_state(s, "SG", &st) == PS_OK && st.last_seq == 6 &&
              st.fetched_at == T0 + 9,
          "an empty batch changes nothing but fetched_at (%s)", err);
    free(j);
    CHECK(aeo_register_digest(r, 6, d1) == PS_OK && aeostore_digest(s, "SG", d2) == PS_OK &&
              memcmp(d1, d2, 32) == 0,
          "SG's copy has the digest of SG's register");
    CHECK(aeostore_lookup(s, "AEOCN440312345A", T0 + 100, &a) == PS_OK && a.own,
          "our own operators are still answered from our register");
    free(j1);
}

/* CN holds AEOCN identifiers, SG AEOSG ones (what config_aeo_id_allowed says by default) */
static int owner(const void *ctx, const char *origin, const char *aeo_id)
{
    (void)ctx;
    return strncmp(aeo_id, "AEO", 3) == 0 && strncmp(aeo_id + 3, origin, 2) == 0;
}

/* aeostore_set_id_owner: what a register may hold, at import, at apply and at lookup */
static void test_owner(struct aeostore *s)
{
    struct aeostore_origin_state st;
    struct aeostore_import_result res;
    struct aeostore_answer a;
    struct aeo_list l = {0};
    struct aeo_batch b;
    uint64_t before;

    /* a record stored before the rule: SG's copy holds an AEOCN identifier we do not */
    CHECK(aeostore_origin_state(s, "SG", &st) == PS_OK, "SG's copy");
    memset(&b, 0, sizeof(b));
    snprintf(b.origin, sizeof(b.origin), "SG");
    b.from = b.to = st.last_seq + 1;
    if (aeo_list_push(&b.records, &(struct aeo_record){0}) != PS_OK)
        abort();
    b.records.rec[0] = rec(b.from, "AEOCN4403888888", "Planted Ltd", AEO_VALID);
    CHECK(aeostore_apply_batch(s, "sg", "SG", &b, "/CN=x", T0 + 1, NULL, 0, err, sizeof(err)) ==
                  PS_OK &&
              aeostore_lookup(s, "AEOCN4403888888", T0 + 2, &a) == PS_OK && !a.own,
          "without an owner rule, SG's copy answers for an AEOCN identifier (%s)", err);
    aeostore_set_id_owner(s, owner, NULL);
    CHECK(aeostore_lookup(s, "AEOCN4403888888", T0 + 2, &a) == PS_E_NOTFOUND,
          "with it, the lookup skips a register that may not hold the identifier");
    CHECK(aeostore_lookup(s, "AEOSG20231234567X", T0, &a) == PS_OK && !a.own &&
              strcmp(a.origin, "SG") == 0,
          "and still asks SG for SG's operators");
    b.from = b.to = b.from + 1;
    b.records.rec[0].seq = b.from;
    CHECK(aeostore_apply_batch(s, "sg", "SG", &b, "/CN=x", T0 + 1, NULL, 0, err, sizeof(err)) ==
                  PS_E_INVAL &&
              strstr(err, "AEOCN4403888888 is not an identifier of origin SG") &&
              aeostore_origin_state(s, "SG", &st) == PS_OK && st.last_seq == b.from - 1,
          "a partner batch carrying another origin's identifier is refused whole: %s", err);
    aeo_batch_free(&b);

    before = own_rows(s);
    if (aeo_list_push(&l, &(struct aeo_record){0}) != PS_OK ||
        aeo_list_push(&l, &(struct aeo_record){0}) != PS_OK)
        abort();
    l.rec[0] = rec(0, "AEOCN4403000001", "Ours Ltd", AEO_VALID);
    l.rec[1] = rec(0, "AEOSG20239999999Z", "Theirs Pte Ltd", AEO_VALID);
    CHECK(aeostore_import(s, &l, T0 + 30, "officer-1", &res, err, sizeof(err)) == PS_E_INVAL &&
              strstr(err, "record 2: AEOSG20239999999Z is not an identifier of origin CN") &&
              own_rows(s) == before,
          "an import with another origin's identifier is refused whole: %s", err);
    aeo_list_free(&l);
    aeostore_set_id_owner(s, NULL, NULL);
}

int main(void)
{
    char dir[] = "/tmp/aeostore-test.XXXXXX", sub[128], db[160];
    struct aeostore *s = NULL;
    struct aeo_id_rules rules;

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(sub, sizeof(sub), "%s/aeo", dir);
    if (mkdir(sub, 0700) != 0)
        return 1;
    T0 = (int64_t)time(NULL);
    office(&sg, "sg", 10);
    office(&other, "rogue", 20);
    aeo_id_rules_default(&rules);
    CHECK(aeostore_open(dir, "CN", &rules, &s, err, sizeof(err)) == PS_OK, "open (%s)", err);
    if (s == NULL)
        return unit_done();
    test_own(s);
    test_partner(s);
    test_owner(s);
    aeostore_close(s);
    CHECK(aeostore_open(dir, "CN", NULL, &s, err, sizeof(err)) == PS_OK && own_rows(s) == 5,
          "reopened: the register is still at seq 5");
    aeostore_close(s);
    snprintf(db, sizeof(db), "%s/register.db", sub);
    unlink(db);
    snprintf(db, sizeof(db), "%s/register.db-wal", sub);
    unlink(db);
    snprintf(db, sizeof(db), "%s/register.db-shm", sub);
    unlink(db);
    rmdir(sub);
    rmdir(dir);
    return unit_done();
}
