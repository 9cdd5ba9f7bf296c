/*
 * exchange_test - the format layers together, as the appliance wires them: an AEO register
 * imported in Shenzhen, published as a JWS-signed batch (signature arriving later, as from
 * the keyholder), checked in Singapore against the pinned CN root, applied, and compared by
 * register digest; a P2P envelope sent Shenzhen -> Hong Kong and its signed receipt checked
 * back. Plus the faults of issues 5 and 6 at this level: a signer from another partner's PKI,
 * a tampered batch, a replay, a gap, records of the wrong country, an expired message.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../unit.h"
#include "../certs/testpki.h"
#include "../../../protocol/aeo.h"
#include "../../../protocol/jws.h"
#include "../../../protocol/p2p.h"
#include "../../../protocol/timefmt.h"

struct office {
    const char *name;
    EVP_PKEY *root_key, *key;
    X509 *root, *cert;
    X509_STORE *pinned; /* the office's own root, as its partners pin it */
};

static struct office cn, sg, hk;
static char err[512];

static void office(struct office *o, const char *name, long serial)
{
    char cnm[64];

    o->name = name;
    o->root_key = pki_key("P-256");
    snprintf(cnm, sizeof(cnm), "%s customs root", name);
    o->root = pki_cert(cnm, o->root_key, NULL, o->root_key, 1, "critical,keyCertSign,cRLSign", NULL,
                       serial);
    o->key = pki_key("P-256");
    snprintf(cnm, sizeof(cnm), "%s document signer", name);
    o->cert = pki_cert(cnm, o->key, o->root, o->root_key, 0, "critical,digitalSignature",
                       "clientAuth", serial + 1);
    o->pinned = X509_STORE_new();
    X509_STORE_add_cert(o->pinned, o->root);
}

/* Sign in two steps: begin now, the "keyholder" answers with raw r||s later. */
static char *sign_async(struct office *o, const char *typ, const uint8_t *payload, size_t len)
{
    struct jws_params p = {JWS_ES256, o->cert, NULL, "doc-signer", typ, NULL};
    struct jws_signing s;
    struct buf out;
    uint8_t sig[128];
    const uint8_t *tbs;
    size_t tl, sl;
    char *r = NULL;

    buf_init(&out, JWS_MAX_LEN);
    if (jws_sign_begin(&s, &p, payload, len, err, sizeof(err)) == PS_OK) {
        jws_sign_tbs(&s, &tbs, &tl);
        /* ... the digest travels to the keyholder; the worker goes on; the answer comes ... */
        sl = pki_sign_digest(o->key, EVP_sha256(), tbs, tl, sig, sizeof(sig));
        if (sl && jws_sign_finish(&s, sig, sl, JWS_COMPACT, &out, err, sizeof(err)) == PS_OK)
            r = (char *)buf_steal(&out, NULL);
    }
    jws_signing_free(&s);
    buf_free(&out);
    return r;
}

static int open_jws(const char *jws, struct office *from, const char *typ, struct jws_result *r)
{
    struct jws_verify_opts o = {JWS_ES256 | JWS_EDDSA, from->pinned, 0, X509_PURPOSE_SSL_CLIENT,
                                "clientAuth",          typ,          0};

    return jws_verify((const uint8_t *)jws, strlen(jws), &o, r, err, sizeof(err));
}

/* The CN register: imported, then each record gets the next seq and a time. */
static void cn_register(struct aeo_list *reg)
{
    const char *csv = "aeo_id,name,address,status,valid_from,valid_until\n"
                      "AEOCN4403123456,Shenzhen Ocean Freight,Futian,valid,2024-01-01,2027-12-31\n"
                      "AEOCN440312345A,Qianhai Supply Chain,Qianhai,valid,2022-03-01,2028-02-28\n"
                      "AEOCN4403000001,Bao'an Air Cargo,Bao'an,suspended,2021-01-01,2026-12-31\n";
    struct aeo_id_rules rules;

    aeo_id_rules_default(&rules);
    CHECK(aeo_import((const uint8_t *)csv, strlen(csv), &rules, reg, err, sizeof(err)) == PS_OK &&
              reg->n == 3,
          "CN imports its register (%s)", err);
    for (size_t i = 0; i < reg->n; i++) {
        reg->rec[i].seq = i + 1;
        reg->rec[i].updated_at = 1764000000 + (int64_t)i * 60;
    }
}

static void test_aeo(void)
{
    struct aeo_list reg = {0}, sg_copy = {0};
    struct aeo_id_rules cn_only = {0};
    struct aeo_batch b;
    struct jws_result r;
    struct buf payload;
    uint8_t d1[32], d2[32];
    uint64_t last = 0;
    char *j = NULL, *bad;

    buf_init(&payload, AEO_BATCH_MAX_LEN);
    cn_register(&reg);
    if (aeo_id_rules_add(&cn_only, "AEOCN", 10) != PS_OK)
        abort();
    /* CN publishes seq 1..2, then 3 */
    for (int round = 0; round < 2; round++) {
        size_t from = round ? 3 : 1, n = round ? 1 : 2;
        CHECK(aeo_batch_format("cn", from, reg.rec + from - 1, n, &payload, err, sizeof(err)) ==
                      PS_OK &&
                  (j = sign_async(&cn, AEO_BATCH_TYP, payload.data, payload.len)) != NULL,
              "CN signs the batch from %zu (%s)", from, err);
        CHECK(open_jws(j, &cn, AEO_BATCH_TYP, &r) == PS_OK &&
                  aeo_batch_parse(r.payload, r.payload_len, &cn_only, &b, err, sizeof(err)) ==
                      PS_OK &&
                  aeo_batch_continues(&b, "cn", last, err, sizeof(err)) == PS_OK,
              "SG verifies it against the pinned CN root and it continues its copy (%s)", err);
        for (size_t i = 0; i < b.records.n; i++)
            if (aeo_list_push(&sg_copy, &b.records.rec[i]) != PS_OK)
                abort();
        last = b.to;
        if (round == 1) {
            CHECK(aeo_batch_continues(&b, "cn", last, err, sizeof(err)) == PS_E_INVAL &&
                      strncmp(err, "replay: ", 8) == 0,
                  "the same batch again is a replay: %s", err);
            CHECK(aeo_batch_continues(&b, "cn", 1, err, sizeof(err)) == PS_E_INVAL &&
                      strcmp(err, "gap: expected seq 2, batch starts at 3") == 0,
                  "a copy that missed seq 2 sees the gap: %s", err);
        }
        aeo_batch_free(&b);
        jws_result_free(&r);
        free(j);
    }
    CHECK(aeo_register_digest(reg.rec, reg.n, d1) == PS_OK &&
              aeo_register_digest(sg_copy.rec, sg_copy.n, d2) == PS_OK && memcmp(d1, d2, 32) == 0,
          "SG's copy has the same register digest as CN's register");
    CHECK(aeo_status_at(sg_copy.rec, sg_copy.n, "AEOCN4403000001", 1764000000 + 3600, NULL) ==
              AEO_STATE_SUSPENDED,
          "SG answers: AEOCN4403000001 is suspended");

    /* faults */
    if (aeo_batch_format("cn", 1, reg.rec, 3, &payload, err, sizeof(err)) != PS_OK)
        abort();
    j = sign_async(&sg, AEO_BATCH_TYP, payload.data, payload.len);
    CHECK(j && open_jws(j, &cn, AEO_BATCH_TYP, &r) == PS_E_INVAL &&
              strcmp(err, "x5c chain: unable to get local issuer certificate") == 0,
          "a batch signed by another partner's key is refused: %s", err);
    free(j);
    j = sign_async(&cn, "p2p-envelope+jws", payload.data, payload.len);
    CHECK(j && open_jws(j, &cn, AEO_BATCH_TYP, &r) == PS_E_INVAL,
          "a JWS of another type is refused: %s", err);
    free(j);
    j = sign_async(&cn, AEO_BATCH_TYP, payload.data, payload.len);
    bad = strdup(j);
    {
        char *dot = strchr(bad, '.') + 1;
        dot[10] = dot[10] == 'A' ? 'B' : 'A';
    }
    CHECK(open_jws(bad, &cn, AEO_BATCH_TYP, &r) == PS_E_INVAL &&
              strcmp(err, "signature does not verify") == 0,
          "a tampered batch is refused: %s", err);
    free(bad);
    free(j);
    reg.rec[1].aeo_id[4] = 'X'; /* AEOCX...: no rule (the writer has no rules: the reader checks) */
    {
        struct aeo_id_rules all;
        aeo_id_rules_default(&all);
        CHECK(aeo_batch_format("cn", 1, reg.rec, 3, &payload, err, sizeof(err)) == PS_OK &&
                  aeo_batch_parse(payload.data, payload.len, &all, &b, err, sizeof(err)) ==
                      PS_E_INVAL &&
                  strcmp(err, "records[1], field aeo_id: no identifier rule for this prefix") == 0,
              "a record without an identifier rule is refused by the reader: %s", err);
    }
    reg.rec[1].aeo_id[4] = 'N';
    {
        const char *sgb = "{\"origin\":\"cn\",\"from\":4,\"to\":4,\"records\":[{\"seq\":4,"
                          "\"aeo_id\":\"AEOSG20231234567X\",\"name\":\"x\",\"address\":\"y\","
                          "\"status\":\"valid\",\"valid_from\":\"2024-01-01\",\"valid_until\":"
                          "\"2027-12-31\",\"updated_at\":\"2026-11-28T08:00:00Z\"}]}";
        j = sign_async(&cn, AEO_BATCH_TYP, (const uint8_t *)sgb, strlen(sgb));
        CHECK(j && open_jws(j, &cn, AEO_BATCH_TYP, &r) == PS_OK &&
                  aeo_batch_parse(r.payload, r.payload_len, &cn_only, &b, err, sizeof(err)) ==
                      PS_E_INVAL &&
                  strcmp(err, "records[0], field aeo_id: no identifier rule for this prefix") == 0,
              "CN's feed cannot carry an AEOSG operator: %s", err);
        jws_result_free(&r);
        free(j);
    }
    aeo_list_free(&reg);
    aeo_list_free(&sg_copy);
    buf_free(&payload);
}

static void test_p2p(void)
{
    const char *req = "{\"to\":\"hk-lmc\",\"type\":\"elock.event\",\"priority\":\"urgent\","
                      "\"body\":{\"lock_id\":\"EL-1\",\"truck_plate\":\"FV1234\",\"event\":"
                      "\"unseal\",\"at\":\"2026-11-28T09:15:00Z\",\"location\":\"Huanggang\"}}";
    struct p2p_envelope e, in;
    struct p2p_receipt rc = {{0}, {0}, 0, 7}, back;
    struct jws_result r, rr;
    struct buf env, rec;
    char *j = NULL, *jr = NULL;
    int64_t now;

    buf_init(&env, P2P_MAX_LEN);
    buf_init(&rec, 4096);
    if (time_parse_stamp("2026-11-28T09:16:00Z", 20, &now) != PS_OK)
        abort();
    /* Shenzhen: outbox -> envelope -> JWS */
    CHECK(p2p_outbox_parse((const uint8_t *)req, strlen(req), &e, err, sizeof(err)) == PS_OK,
          "outbox request accepted (%s)", err);
    snprintf(e.id, sizeof(e.id), "sz-000777");
    snprintf(e.from, sizeof(e.from), "cn-sz-huanggang");
    e.seq = 777;
    e.created = now;
    e.expires = now + 3600;
    e.has_expires = 1;
    CHECK(p2p_envelope_format(&e, &env, err, sizeof(err)) == PS_OK &&
              (j = sign_async(&cn, P2P_ENVELOPE_TYP, env.data, env.len)) != NULL,
          "envelope written and signed (%s)", err);
    /* Hong Kong: inbound */
    CHECK(j && open_jws(j, &cn, P2P_ENVELOPE_TYP, &r) == PS_OK &&
              p2p_envelope_parse(r.payload, r.payload_len, &in, err, sizeof(err)) == PS_OK &&
              p2p_envelope_check_time(&in, now + 2, 300, err, sizeof(err)) == PS_OK &&
              strcmp(in.id, "sz-000777") == 0 && in.priority == P2P_URGENT,
          "HK verifies the envelope against the pinned CN root and accepts it (%s)", err);
    CHECK(p2p_envelope_check_time(&in, now + 3601, 300, err, sizeof(err)) == PS_E_INVAL,
          "... but not after it expired: %s", err);
    snprintf(rc.message_id, sizeof(rc.message_id), "%s", in.id);
    p2p_digest(r.payload, r.payload_len, rc.digest);
    rc.received_at = now + 2;
    CHECK(p2p_receipt_format(&rc, &rec, err, sizeof(err)) == PS_OK &&
              (jr = sign_async(&hk, P2P_RECEIPT_TYP, rec.data, rec.len)) != NULL,
          "HK signs a receipt (%s)", err);
    /* Shenzhen: the receipt */
    CHECK(jr && open_jws(jr, &hk, P2P_RECEIPT_TYP, &rr) == PS_OK &&
              p2p_receipt_parse(rr.payload, rr.payload_len, &back, err, sizeof(err)) == PS_OK &&
              p2p_receipt_matches(&back, e.id, env.data, env.len, err, sizeof(err)) == PS_OK &&
              back.ledger_index == 7,
          "SZ verifies the receipt against the pinned HK root; it acknowledges exactly what was "
          "sent (%s)",
          err);
    jws_result_free(&rr);
    CHECK(jr && open_jws(jr, &cn, P2P_RECEIPT_TYP, &rr) == PS_E_INVAL,
          "a receipt checked against the wrong partner's root is refused: %s", err);
    jws_result_free(&rr);
    jws_result_free(&r);
    p2p_envelope_free(&in);
    p2p_envelope_free(&e);
    free(j);
    free(jr);
    buf_free(&env);
    buf_free(&rec);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    office(&cn, "CN", 100);
    office(&sg, "SG", 200);
    office(&hk, "HK", 300);
    test_aeo();
    test_p2p();
    return unit_done();
}
