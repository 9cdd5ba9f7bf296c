/*
 * p2pstore_test - appliance/p2pstore.c: the inbox (stored once, the same receipt for the same
 * message, conflicts, gaps) and the outbox as the courier will drive it (per-channel seq,
 * claim by priority, leases, retry, sent, acknowledged, expiry), and that all of it survives
 * closing and reopening the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../appliance/p2pstore.h"
#include "../unit.h"

static char dir[] = "/tmp/p2pstore-test.XXXXXX";

static const char body_note[] = "{\"subject\":\"s\",\"text\":\"t\"}";

static void envelope(struct p2p_envelope *e, const char *from, const char *to, const char *id,
                     uint64_t seq, enum p2p_priority prio)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->from, sizeof(e->from), "%s", from);
    snprintf(e->to, sizeof(e->to), "%s", to);
    e->seq = seq;
    e->type = P2P_NOTE;
    e->priority = prio;
    e->created = 1764321360; /* 2025-11-28 */
    e->body = json_loads(body_note, 0, NULL);
}

static int put_in(struct p2pstore *s, const char *id, uint64_t seq, const char *digest,
                  enum p2p_in_state *state, struct buf *rc, uint64_t *gap)
{
    struct p2p_envelope e;
    struct p2p_in m;
    char other[65];
    char receipt[64];
    int r;

    envelope(&e, "sz", "hk", id, seq, P2P_ROUTINE);
    snprintf(receipt, sizeof(receipt), "receipt-of-%s", id);
    memset(&m, 0, sizeof(m));
    m.e = &e;
    m.payload = (const uint8_t *)"{}";
    m.payload_len = 2;
    m.jws = (const uint8_t *)"a.b.c";
    m.jws_len = 5;
    m.digest_hex = digest;
    m.received_ms = 1764321360123;
    m.ledger_index = (int64_t)seq * 10;
    m.receipt = (const uint8_t *)receipt;
    m.receipt_len = strlen(receipt);
    r = p2pstore_in_put(s, &m, state, rc, other, gap);
    p2p_envelope_free(&e);
    return r;
}

static void test_inbox(struct p2pstore *s)
{
    enum p2p_in_state st;
    struct buf rc;
    uint64_t gap = 99;
    char other[65] = "";
    json_t *gaps, *list;

    buf_init(&rc, 4096);
    CHECK(p2pstore_in_check(s, "sz", "m1", 1, "d1", &st, &rc, other) == PS_OK && st == P2P_IN_NEW,
          "an unknown message is new");
    CHECK(put_in(s, "m1", 1, "d1", &st, &rc, &gap) == PS_OK && st == P2P_IN_NEW && gap == 0,
          "stored in order: no gap");
    CHECK(put_in(s, "m1", 1, "d1", &st, &rc, &gap) == PS_OK && st == P2P_IN_SAME &&
              rc.len == strlen("receipt-of-m1") && memcmp(rc.data, "receipt-of-m1", rc.len) == 0,
          "the same message again: P2P_IN_SAME with the stored receipt");
    CHECK(p2pstore_in_check(s, "sz", "m1", 1, "d1", &st, &rc, other) == PS_OK &&
              st == P2P_IN_SAME && rc.len == strlen("receipt-of-m1"),
          "in_check says so too");
    CHECK(put_in(s, "m1", 1, "dX", &st, &rc, &gap) == PS_OK && st == P2P_IN_ID_CONFLICT,
          "the same id with another digest: conflict");
    CHECK(put_in(s, "m9", 1, "d9", &st, &rc, &gap) == PS_OK && st == P2P_IN_SEQ_CONFLICT,
          "another id with a used seq: seq conflict");
    CHECK(p2pstore_in_check(s, "sz", "m9", 1, "d9", &st, NULL, other) == PS_OK &&
              st == P2P_IN_SEQ_CONFLICT && strcmp(other, "m1") == 0,
          "naming the message that holds the seq");
    CHECK(p2pstore_in_check(s, "sg", "m1", 1, "d1", &st, NULL, other) == PS_OK && st == P2P_IN_NEW,
          "ids and seqs are per sender");
    CHECK(put_in(s, "m5", 5, "d5", &st, &rc, &gap) == PS_OK && st == P2P_IN_NEW && gap == 3,
          "seq 5 after 1: gap_before 3");
    gaps = p2pstore_gaps(s);
    CHECK(gaps && json_array_size(gaps) == 1 &&
              json_integer_value(json_object_get(json_array_get(gaps, 0), "first")) == 2 &&
              json_integer_value(json_object_get(json_array_get(gaps, 0), "last")) == 4,
          "open gap 2..4");
    json_decref(gaps);
    CHECK(put_in(s, "m3", 3, "d3", &st, &rc, &gap) == PS_OK && st == P2P_IN_NEW && gap == 0,
          "a late seq 3: no gap before it");
    gaps = p2pstore_gaps(s);
    CHECK(gaps && json_array_size(gaps) == 2, "gaps 2..2 and 4..4");
    json_decref(gaps);
    list = p2pstore_list(s, "in", 0, 10, 0);
    CHECK(list && json_array_size(list) == 3 &&
              strcmp(json_string_value(json_object_get(json_array_get(list, 2), "id")), "m3") ==
                  0 &&
              json_integer_value(json_object_get(json_array_get(list, 0), "ledger_index")) == 10,
          "listed in arrival order with the ledger index");
    json_decref(list);
    list = p2pstore_list(s, "in", 2, 10, 0);
    CHECK(list && json_array_size(list) == 1, "after= skips what was read");
    json_decref(list);
    buf_free(&rc);
}

/* p2pstore_in_put_many: in order, in one transaction */
static void test_inbox_many(struct p2pstore *s)
{
    static const char *ids[] = {"b1", "m1", "b2", "b3"};
    static const char *dg[] = {"db1", "d1", "db2", "db3"};
    static const uint64_t seqs[] = {6, 1, 7, 7};
    struct p2p_envelope e[4];
    struct p2p_in m[4];
    enum p2p_in_state st[4];
    struct buf rc[4];
    char other[4][65];
    uint64_t gap[4];
    int r;

    for (int i = 0; i < 4; i++) {
        envelope(&e[i], "sz", "hk", ids[i], seqs[i], P2P_ROUTINE);
        memset(&m[i], 0, sizeof(m[i]));
        m[i].e = &e[i];
        m[i].payload = (const uint8_t *)"{}";
        m[i].payload_len = 2;
        m[i].jws = (const uint8_t *)"a.b.c";
        m[i].jws_len = 5;
        m[i].digest_hex = dg[i];
        m[i].received_ms = 1764321360999;
        m[i].ledger_index = -1;
        m[i].receipt = (const uint8_t *)"r";
        m[i].receipt_len = 1;
        buf_init(&rc[i], 4096);
    }
    r = p2pstore_in_put_many(s, m, 4, st, rc, other, gap);
    CHECK(r == PS_OK && st[0] == P2P_IN_NEW && gap[0] == 0, "many: b1 (seq 6) stored");
    CHECK(st[1] == P2P_IN_SAME && rc[1].len == strlen("receipt-of-m1"),
          "many: m1 again answers its stored receipt");
    CHECK(st[2] == P2P_IN_NEW && gap[2] == 0,
          "many: b2 (seq 7) stored after b1 in the same transaction");
    CHECK(st[3] == P2P_IN_SEQ_CONFLICT && strcmp(other[3], "b2") == 0,
          "many: b3 on b2's seq meets b2, stored just before in the same transaction");
    CHECK(p2pstore_in_check(s, "sz", "b2", 7, "db2", &st[0], NULL, other[0]) == PS_OK &&
              st[0] == P2P_IN_SAME,
          "many: committed");
    for (int i = 0; i < 4; i++) {
        p2p_envelope_free(&e[i]);
        buf_free(&rc[i]);
    }
}

static int add_out(struct p2pstore *s, const char *id, enum p2p_priority prio, int64_t expires,
                   uint64_t *seq)
{
    struct p2p_envelope e;
    char err[256];
    int r;

    envelope(&e, "hk", "sz", id, 0, prio);
    if (expires) {
        e.has_expires = 1;
        e.expires = expires;
    }
    r = p2pstore_out_add(s, &e, "officer-1", 1000, err, sizeof(err));
    if (r != PS_OK)
        printf("# %s\n", err);
    *seq = e.seq;
    p2p_envelope_free(&e);
    return r;
}

static const char *status_of(struct p2pstore *s, const char *id, int64_t now)
{
    static char out[32];
    json_t *m = p2pstore_get(s, id, now);

    snprintf(out, sizeof(out), "%s", m ? json_string_value(json_object_get(m, "status")) : "-");
    json_decref(m);
    return out;
}

static void test_outbox(struct p2pstore *s)
{
    struct p2p_claim c;
    uint64_t seq;
    unsigned n = 0;
    int64_t now = 1764321360LL * 1000;

    CHECK(add_out(s, "r1", P2P_ROUTINE, 0, &seq) == PS_OK && seq == 1, "routine r1: seq 1");
    CHECK(add_out(s, "r2", P2P_ROUTINE, 0, &seq) == PS_OK && seq == 2, "routine r2: seq 2");
    CHECK(add_out(s, "u3", P2P_URGENT, 0, &seq) == PS_OK && seq == 3, "urgent u3: seq 3");
    CHECK(add_out(s, "x4", P2P_ROUTINE, 1764321360 + 60, &seq) == PS_OK && seq == 4,
          "r4 expiring in a minute: seq 4");
    CHECK(add_out(s, "r1", P2P_ROUTINE, 0, &seq) != PS_OK, "an id is queued once");
    CHECK(strcmp(status_of(s, "r1", now), "queued") == 0, "r1 is queued");

    CHECK(p2pstore_out_claim(s, "sz", now, 30000, &c) == PS_OK && strcmp(c.id, "u3") == 0 &&
              c.seq == 3 && c.priority == P2P_URGENT && c.attempts == 1 && c.payload.len > 0 &&
              c.jws.len == 0,
          "the urgent message is claimed first");
    CHECK(strstr((const char *)c.payload.data, "\"seq\":3") != NULL &&
              strstr((const char *)c.payload.data, "\"from\":\"hk\"") != NULL,
          "its payload is the envelope with its seq");
    CHECK(p2pstore_out_set_jws(s, "u3", (const uint8_t *)"h.p.s", 5) == PS_OK, "keep its JWS");
    p2p_claim_free(&c);
    CHECK(p2pstore_out_claim(s, "sz", now, 30000, &c) == PS_OK && strcmp(c.id, "r1") == 0,
          "then the routine ones by seq");
    CHECK(p2pstore_out_retry(s, "r1", now + 5000, "connection refused") == PS_OK,
          "r1 failed: retry in 5 s");
    p2p_claim_free(&c);
    CHECK(p2pstore_out_claim(s, "sz", now, 30000, &c) == PS_OK && strcmp(c.id, "r2") == 0,
          "r1 is not due yet: r2");
    p2p_claim_free(&c);
    CHECK(p2pstore_out_claim(s, "sz", now, 30000, &c) == PS_OK && strcmp(c.id, "x4") == 0, "x4");
    p2p_claim_free(&c);
    CHECK(p2pstore_out_claim(s, "sz", now, 30000, &c) == PS_E_NOTFOUND, "nothing else is due");
    CHECK(p2pstore_out_claim(s, "sg", now + 60000, 30000, &c) == PS_E_NOTFOUND,
          "nothing for another peer");
    CHECK(p2pstore_out_claim(s, "sz", now + 40000, 30000, &c) == PS_OK && strcmp(c.id, "u3") == 0 &&
              c.attempts == 2 && c.jws.len == 5,
          "a lease that ran out: u3 again (attempt 2) with its stored JWS");
    CHECK(p2pstore_out_acked(s, "u3", now + 40100, (const uint8_t *)"receipt", 7, 42) == PS_OK,
          "u3 acknowledged");
    p2p_claim_free(&c);
    {
        json_t *m = p2pstore_get(s, "u3", now);

        CHECK(m && strcmp(json_string_value(json_object_get(m, "status")), "acknowledged") == 0 &&
                  strcmp(json_string_value(json_object_get(m, "receipt")), "receipt") == 0 &&
                  json_integer_value(json_object_get(m, "receipt_ledger_index")) == 42 &&
                  json_integer_value(json_object_get(m, "attempts")) == 2,
              "u3: acknowledged with the receipt, 2 attempts");
        json_decref(m);
    }
    CHECK(p2pstore_out_acked(s, "u3", now, (const uint8_t *)"other", 5, 1) == PS_E_NOTFOUND,
          "acknowledged once");
    CHECK(p2pstore_out_sent(s, "r2", now, "receipt does not verify") == PS_OK &&
              strcmp(status_of(s, "r2", now), "sent") == 0,
          "r2: sent, receipt unusable");
    CHECK(strcmp(status_of(s, "r1", now), "queued") == 0, "r1 still queued (waiting to retry)");
    {
        json_t *m = p2pstore_get(s, "r1", now);

        CHECK(m && strcmp(json_string_value(json_object_get(m, "last_error")),
                          "connection refused") == 0,
              "with the reason of the last failure");
        json_decref(m);
    }
    CHECK(p2pstore_out_expire(s, now + 59000, &n) == PS_OK && n == 0, "x4 not yet expired");
    CHECK(p2pstore_out_expire(s, now + 61000, &n) == PS_OK && n == 1 &&
              strcmp(status_of(s, "x4", now), "expired") == 0,
          "x4 expired past its deadline (its lease had run out)");
    CHECK(p2pstore_out_claim(s, "sz", now + 100000, 30000, &c) == PS_OK && strcmp(c.id, "r1") == 0,
          "r1 is due again");
    p2p_claim_free(&c);
    CHECK(add_out(s, "x5", P2P_URGENT, 1764321360 + 101, &seq) == PS_OK && seq == 5, "x5");
    CHECK(p2pstore_out_claim(s, "sz", now + 100500, 30000, &c) == PS_OK && strcmp(c.id, "x5") == 0,
          "urgent x5 claimed");
    p2p_claim_free(&c);
    CHECK(p2pstore_out_expire(s, now + 102000, &n) == PS_OK && n == 0 &&
              strcmp(status_of(s, "x5", now + 102000), "queued") == 0,
          "past its deadline but held by a courier: not expired yet");
    CHECK(p2pstore_out_expire(s, now + 131000, &n) == PS_OK && n == 1 &&
              strcmp(status_of(s, "x5", now), "expired") == 0,
          "expired once the lease ran out");
    CHECK(add_out(s, "f7", P2P_ROUTINE, 0, &seq) == PS_OK && seq == 6, "f7");
    CHECK(p2pstore_out_claim(s, "sz", now + 140000, 30000, &c) == PS_OK && strcmp(c.id, "r1") == 0,
          "r1 first (seq 1)");
    p2p_claim_free(&c);
    CHECK(p2pstore_out_claim(s, "sz", now + 140000, 30000, &c) == PS_OK && strcmp(c.id, "f7") == 0,
          "then f7");
    p2p_claim_free(&c);
    CHECK(p2pstore_out_refused(s, "f7", now + 140100, "422 invalid_body: body.text: required") ==
                  PS_OK &&
              strcmp(status_of(s, "f7", now), "refused") == 0,
          "f7 refused by the partner: status refused");
    CHECK(p2pstore_out_claim(s, "sz", now + 500000, 30000, &c) == PS_OK && strcmp(c.id, "r1") == 0,
          "a refused message is never claimed again");
    p2p_claim_free(&c);
    CHECK(add_out(s, "x6", P2P_URGENT, 1764321360 + 1, &seq) == PS_OK && seq == 7, "x6");
    CHECK(strcmp(status_of(s, "x6", now + 2000), "expired") == 0,
          "a queued message past its expiry reads expired");
    CHECK(p2pstore_out_claim(s, NULL, now + 600000, 30000, &c) == PS_OK && strcmp(c.id, "r1") == 0,
          "and is not claimed (r1, whose lease ran out, is)");
    p2p_claim_free(&c);
}

/* p2pstore_stats (for /metrics), on a store of its own */
static void test_stats(void)
{
    char sdir[] = "/tmp/p2pstore-stats.XXXXXX", err[512], cmd[128];
    struct p2p_peer_stats st[4];
    struct p2pstore *s = NULL;
    enum p2p_in_state state;
    struct p2p_claim c;
    struct buf rc;
    uint64_t seq, gap;
    size_t n;
    int ok = 1;

    if (mkdtemp(sdir) == NULL || p2pstore_open(sdir, &s, err, sizeof(err)) != PS_OK) {
        CHECK(0, "stats: a store of its own");
        return;
    }
    buf_init(&rc, 4096);
    memset(st, 0, sizeof(st));
    snprintf(st[0].peer, sizeof(st[0].peer), "zz");
    n = 1;
    CHECK(p2pstore_stats(s, 5000, st, 4, &n) == PS_OK && n == 1 && st[0].out_pending == 0 &&
              st[0].in_messages == 0,
          "stats: an empty store leaves the caller's peers at zero and adds none");
    for (int i = 0; i < 3; i++) {
        char id[16], d[65];

        snprintf(id, sizeof(id), "st-%d", i);
        memset(d, 'a' + i, 64);
        d[64] = 0;
        ok &= put_in(s, id, (uint64_t)i + 1, d, &state, &rc, &gap) == PS_OK;
    }
    ok &= add_out(s, "st-o1", P2P_ROUTINE, 0, &seq) == PS_OK;          /* queued at 1000 ms */
    ok &= add_out(s, "st-o2", P2P_ROUTINE, 1764321361, &seq) == PS_OK; /* created + 1 s */
    ok &= add_out(s, "st-o3", P2P_URGENT, 0, &seq) == PS_OK;           /* claimed below */
    ok &= p2pstore_out_claim(s, "sz", 1500, 60000, &c) == PS_OK;       /* urgent first: st-o3 */
    CHECK(ok && strcmp(c.id, "st-o3") == 0, "stats: 3 messages in, 3 out (one claimed)");
    p2p_claim_free(&c);
    CHECK(p2pstore_stats(s, 2000, st, 4, &n) == PS_OK && n == 2 && strcmp(st[1].peer, "sz") == 0 &&
              st[1].out_pending == 3 && st[1].out_oldest_ms == 1000 && st[1].in_messages == 3 &&
              st[0].out_pending == 0,
          "stats: a peer of the store is added: 3 pending (queued and being sent), oldest at "
          "1000 ms, 3 received");
    n = 1;
    CHECK(p2pstore_stats(s, 1764321361000, st, 4, &n) == PS_OK && n == 2 && st[1].out_pending == 2,
          "stats: an expired message is no longer pending");
    n = 1;
    CHECK(p2pstore_stats(s, 5000, st, 1, &n) == PS_OK && n == 1, "stats: no more peers than max");
    buf_free(&rc);
    p2pstore_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", sdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", sdir);
}

int main(void)
{
    struct p2pstore *s = NULL;
    char err[512], cmd[128];
    json_t *list;

    if (mkdtemp(dir) == NULL)
        return 1;
    CHECK(p2pstore_open(dir, &s, err, sizeof(err)) == PS_OK, "open (%s)", err);
    test_inbox(s);
    test_inbox_many(s);
    test_outbox(s);
    test_stats();
    p2pstore_close(s);
    CHECK(p2pstore_open(dir, &s, err, sizeof(err)) == PS_OK, "reopen");
    list = p2pstore_list(s, "out", 0, 100, 0);
    CHECK(list && json_array_size(list) == 7, "the outbox survives a reopen");
    json_decref(list);
    list = p2pstore_list(s, "in", 0, 100, 0);
    CHECK(list && json_array_size(list) == 5, "the inbox too (3 + 2 of the many)");
    json_decref(list);
    p2pstore_close(s);
    CHECK(p2pstore_open("/nonexistent/p2p", &s, err, sizeof(err)) == PS_E_STORAGE &&
              strstr(err, "/nonexistent/p2p/p2p.db") != NULL,
          "a missing folder is an error naming the file");
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return unit_done();
}
