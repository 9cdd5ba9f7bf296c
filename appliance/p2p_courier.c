/*
 * p2p_courier.c - delivers the P2P outbox (courier process; see courier.h, p2pstore.h).
 *
 * For each partner with a url=, in turn: claim the next due message (urgent before routine,
 * then by seq), sign its stored envelope once (the JWS is kept, so every retry sends the same
 * bytes, and a "p2p-message" ledger leaf records what we sent), POST it to the partner's
 * /v1/p2p/inbound/batch together with the rest of its batch (or alone to /v1/p2p/inbound, for
 * a partner without batches), check the signed receipt against the partner's pinned root and
 * against exactly the payload sent, record it as a "p2p-receipt" leaf, and mark the message
 * acknowledged. A partner that does not answer (or answers 5xx, 408, 429) stops that partner's
 * round: the message goes back to the queue with the partner's next attempt time, exponential
 * backoff with jitter, so that nothing later overtakes it. A 4xx refusal is final and its
 * reason is kept in the message status.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../protocol/jws.h"
#include "../protocol/p2p.h"
#include "../protocol/strnum.h"
#include "courier.h"
#include "log.h"
#include "p2pstore.h"

#define LEASE_MS       30000
#define BACKOFF_BASE   1000
#define BACKOFF_CAP    30000
#define ROUND_MAX      1024 /* messages per partner per round, so that others get their turn */
#define BATCH          32   /* messages claimed, signed, posted and recorded together */
#define POST_MAX       (2 * 1024 * 1024) /* envelopes in one POST /v1/p2p/inbound/batch */
#define SINGLE_MS      (15 * 60 * 1000)  /* one message per request this long, then try batches */
#define P2P_JWS_ALGS_C (JWS_ES256 | JWS_EDDSA | JWS_RS256)

struct p2p_courier {
    struct courier *c;
    struct p2pstore *s;
    int64_t next_ms[CFG_MAX_PARTNERS]; /* partner's next attempt after failures */
    unsigned failures[CFG_MAX_PARTNERS];
    uint64_t logged[CFG_MAX_PARTNERS]; /* courier_failure_logged */
    /* the partner took no batch: one POST per message until then (0: batches). A partner that
     * was away may come back upgraded or reconfigured, so being away ends it too. */
    int64_t single_until[CFG_MAX_PARTNERS];
    int64_t next_expire;
};

struct p2p_courier *p2p_courier_new(struct courier *c)
{
    struct p2p_courier *p;
    char dir[4096], err[256];
    unsigned n = 0;

    if (c->cfg->p2p_name == NULL || c->cfg->exchange_key == NULL || !courier_has_calls(c->cfg))
        return NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->c = c;
    snprintf(dir, sizeof(dir), "%s/p2p", c->cfg->state_dir);
    if (p2pstore_open(dir, &p->s, err, sizeof(err)) != PS_OK) {
        log_warnx("p2p courier: %s; no deliveries", err);
        free(p);
        return NULL;
    }
    if (p2pstore_out_release(p->s, &n) == PS_OK && n > 0)
        log_info("p2p: %u messages claimed by the previous courier are queued again", n);
    return p;
}

void p2p_courier_free(struct p2p_courier *p)
{
    if (p == NULL)
        return;
    p2pstore_close(p->s);
    free(p);
}

/* What became of one message of a batch. */
enum outcome { O_ACKED, O_SENT, O_REFUSED, O_RETRY };

struct item {
    struct p2p_claim m;
    int fresh;             /* signed in this batch */
    enum outcome outcome;  /* after the POST */
    char why[512];         /* for O_SENT, O_REFUSED, O_RETRY */
    struct courier_resp r; /* the partner's answer */
    uint8_t rdigest[P2P_DIGEST_LEN];
    char leaf[512];
    int64_t leaf_index;
};

/* Sign the stored envelopes of the batch that have no JWS yet (first attempts), keep them, and
 * record what we send as "p2p-message" leaves. Items that could not be signed go back to the
 * queue (O_RETRY). */
static void sign_batch(struct p2p_courier *p, struct item *it, size_t n)
{
    struct courier *c = p->c;
    struct courier_body pl[BATCH];
    struct buf out[BATCH];
    int status[BATCH];
    const char *leaves[BATCH];
    int64_t idx[BATCH];
    size_t idxof[BATCH], nf = 0, nl = 0;
    int began;

    for (size_t k = 0; k < n; k++)
        if (it[k].m.jws.len == 0) {
            pl[nf].data = it[k].m.payload.data;
            pl[nf].len = it[k].m.payload.len;
            buf_init(&out[nf], 2 * P2P_MAX_LEN + 256 * 1024);
            idxof[nf++] = k;
        }
    if (nf == 0)
        return;
    if (courier_jws_sign_many(c, pl, nf, P2P_ENVELOPE_TYP, out, status) != PS_OK)
        for (size_t f = 0; f < nf; f++)
            status[f] = PS_E_NOMEM;
    if ((began = p2pstore_batch_begin(p->s) == PS_OK) == 0)
        for (size_t f = 0; f < nf; f++)
            status[f] = PS_E_STORAGE;
    for (size_t f = 0; f < nf; f++) {
        struct item *x = &it[idxof[f]];

        if (status[f] == PS_OK && buf_append(&x->m.jws, out[f].data, out[f].len) == PS_OK &&
            p2pstore_out_set_jws(p->s, x->m.id, out[f].data, out[f].len) == PS_OK) {
            x->fresh = 1;
        } else {
            buf_reset(&x->m.jws);
            x->outcome = O_RETRY;
            snprintf(x->why, sizeof(x->why), "the envelope could not be signed");
        }
        buf_free(&out[f]);
    }
    if (began && p2pstore_batch_commit(p->s) != PS_OK)
        log_warnx("p2p: the signed envelopes could not be stored; they are signed again later");
    if (c->cfg->ledger_key == NULL)
        return;
    for (size_t k = 0; k < n; k++) {
        uint8_t d[P2P_DIGEST_LEN];
        char dh[2 * P2P_DIGEST_LEN + 1];

        if (!it[k].fresh)
            continue;
        p2p_digest(it[k].m.payload.data, it[k].m.payload.len, d);
        strnum_hex(d, sizeof(d), dh);
        snprintf(it[k].leaf, sizeof(it[k].leaf),
                 "p2p-message %" PRId64 " %s %s %s %" PRIu64 " %s\n", c->now_ms, c->cfg->p2p_name,
                 it[k].m.peer, it[k].m.id, it[k].m.seq, dh);
        leaves[nl++] = it[k].leaf;
    }
    if (nl > 0 && courier_ledger_append_many(c, leaves, nl, idx) != PS_OK)
        log_warnx("p2p: sent messages without their ledger leaves");
}

/* A 200 from the partner: is it a receipt, signed under the partner's root, for exactly the
 * payload sent? */
static void check_receipt(struct p2p_courier *p, size_t i, struct item *x)
{
    struct jws_verify_opts o;
    struct jws_result v;
    struct p2p_receipt rc;
    char why[400];

    memset(&o, 0, sizeof(o));
    memset(&v, 0, sizeof(v));
    o.algs = P2P_JWS_ALGS_C;
    o.roots = p->c->partners.store[i];
    o.typ = P2P_RECEIPT_TYP;
    o.max_len = P2P_MAX_LEN * 2;
    if (jws_verify(x->r.body.data, x->r.body.len, &o, &v, why, sizeof(why)) != PS_OK ||
        p2p_receipt_parse(v.payload, v.payload_len, &rc, why, sizeof(why)) != PS_OK ||
        p2p_receipt_matches(&rc, x->m.id, x->m.payload.data, x->m.payload.len, why, sizeof(why)) !=
            PS_OK) {
        x->outcome = O_SENT;
        snprintf(x->why, sizeof(x->why), "receipt refused: %s", why);
        log_warnx("p2p %s to %s: delivered, but %s", x->m.id, x->m.peer, x->why);
    } else {
        x->outcome = O_ACKED;
        p2p_digest(v.payload, v.payload_len, x->rdigest);
    }
    jws_result_free(&v);
}

/* The partner's answer for message x: a receipt (checked), a final refusal, or not taken now
 * (*away set). */
static void sort_answer(struct p2p_courier *p, size_t i, struct item *x, int *away)
{
    if (x->r.status == 200) {
        check_receipt(p, i, x);
    } else if (x->r.status >= 400 && x->r.status < 500 && x->r.status != 408 &&
               x->r.status != 429) {
        x->outcome = O_REFUSED;
        courier_resp_why(&x->r, x->why, sizeof(x->why));
        log_warnx("p2p %s to %s: refused: %s", x->m.id, x->m.peer, x->why);
    } else {
        x->outcome = O_RETRY;
        courier_resp_why(&x->r, x->why, sizeof(x->why));
        *away = 1;
    }
}

/* One result of a batch answer, as the answer to x alone would have been: 0, or -1 if it is
 * not a result. */
static int batch_result(struct item *x, json_t *res)
{
    json_int_t st;
    json_t *rc = json_object_get(res, "receipt"), *e = json_object_get(res, "error");

    if (json_unpack(res, "{s:I}", "status", &st) != 0 || st < 100 || st > 599)
        return -1;
    x->r.status = (long)st;
    buf_init(&x->r.body, COURIER_MAX_BODY);
    if (st == 200 && json_is_string(rc))
        return buf_append(&x->r.body, json_string_value(rc), json_string_length(rc)) == PS_OK ? 0
                                                                                              : -1;
    if (st == 200 || !json_is_object(e))
        return -1;
    {
        json_t *w = json_pack("{s:O}", "error", e);
        char *t = w ? json_dumps(w, JSON_COMPACT) : NULL;
        int r = t && buf_append(&x->r.body, t, strlen(t)) == PS_OK ? 0 : -1;

        json_decref(w);
        free(t);
        return r;
    }
}

/*
 * Post it[0..n) (none already marked for retry) as one batch. Returns 0 with every item's
 * answer sorted (and *away set if one was not taken), 1 when the partner takes no batches
 * (nothing sorted: send them one by one), or -1 when the batch as a whole was not taken (the
 * partner looks away).
 */
static int post_one_batch(struct p2p_courier *p, size_t i, struct item *it, size_t n, int *away)
{
    json_t *env = json_array(), *doc, *res;
    struct courier_resp r;
    char *body = NULL;
    int rc = -1;

    for (size_t k = 0; k < n && env; k++)
        if (json_array_append_new(
                env, json_stringn((const char *)it[k].m.jws.data, it[k].m.jws.len)) != 0) {
            json_decref(env);
            env = NULL;
        }
    if (env == NULL || (doc = json_pack("{s:o}", "envelopes", env)) == NULL)
        return -1;
    body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (body == NULL)
        return -1;
    memset(&r, 0, sizeof(r));
    if (courier_request(p->c, i, "POST", "/v1/p2p/inbound/batch", "application/json", body,
                        strlen(body), &r) == PS_OK &&
        (r.status == 404 || r.status == 405 || r.status == 400 || r.status == 413 ||
         r.status == 415)) {
        char why[300];

        courier_resp_why(&r, why, sizeof(why));
        log_info("p2p to %s: the partner takes no batches (%ld: %s); one message per request"
                 " for %d minutes",
                 it[0].m.peer, r.status, why, SINGLE_MS / 60000);
        p->single_until[i] = p->c->now_ms + SINGLE_MS;
        rc = 1;
    } else if (r.status == 200) {
        json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);

        res = json_object_get(j, "results");
        if (json_array_size(res) == n) {
            rc = 0;
            for (size_t k = 0; k < n; k++) {
                struct item *x = &it[k];

                if (*away || batch_result(x, json_array_get(res, k)) != 0) {
                    x->outcome = O_RETRY;
                    snprintf(x->why, sizeof(x->why), "%s",
                             *away ? "behind a message the partner did not take"
                                   : "the partner's batch answer was not understood");
                    *away = 1;
                    continue;
                }
                sort_answer(p, i, x, away);
            }
        }
        json_decref(j);
    }
    if (rc < 0)
        for (size_t k = 0; k < n; k++) {
            it[k].outcome = O_RETRY;
            courier_resp_why(&r, it[k].why, sizeof(it[k].why));
        }
    courier_resp_free(&r);
    free(body);
    return rc;
}

/*
 * Post the batch in order (the partner stores the messages in the order they arrive, and its
 * readers see that order), and sort the answers: as batches of at most POST_MAX bytes to
 * /v1/p2p/inbound/batch, or one message after the other to /v1/p2p/inbound when the partner
 * takes no batches. When the partner looks away (a transport failure, 5xx, 408 or 429) the
 * rest of the batch goes back to the queue unsent, so that nothing overtakes the message that
 * failed. Returns 1 then.
 */
static int post_batch(struct p2p_courier *p, size_t i, struct item *it, size_t n)
{
    int away = 0;
    size_t k = 0;

    while (k < n && p->c->now_ms >= p->single_until[i] && !away) {
        size_t m = 0, bytes = 0;

        while (k + m < n && it[k + m].outcome != O_RETRY &&
               (m == 0 || bytes + it[k + m].m.jws.len < POST_MAX))
            bytes += it[k + m++].m.jws.len + 4;
        if (m == 0)
            break; /* it[k] was not signed: it and the rest wait */
        if (post_one_batch(p, i, it + k, m, &away) < 0)
            away = 1;
        else if (p->c->now_ms >= p->single_until[i])
            k += m;
    }
    for (; k < n; k++) {
        struct item *x = &it[k];

        if (away && x->outcome != O_RETRY) {
            x->outcome = O_RETRY;
            snprintf(x->why, sizeof(x->why), "behind a message the partner did not take");
        }
        if (x->outcome == O_RETRY) {
            away = 1;
            continue;
        }
        if (courier_request(p->c, i, "POST", "/v1/p2p/inbound", "application/jose", x->m.jws.data,
                            x->m.jws.len, &x->r) != PS_OK)
            x->r.status = 0; /* no answer */
        sort_answer(p, i, x, &away);
    }
    return away;
}

/* Record the receipts as "p2p-receipt" leaves, then every outcome in one transaction. */
static void record_batch(struct p2p_courier *p, size_t i, struct item *it, size_t n)
{
    struct courier *c = p->c;
    const char *leaves[BATCH];
    int64_t idx[BATCH];
    size_t map[BATCH], nl = 0;
    int64_t now = courier_now_ms();

    for (size_t k = 0; k < n; k++)
        it[k].leaf_index = -1;
    if (c->cfg->ledger_key) {
        for (size_t k = 0; k < n; k++) {
            char dh[2 * P2P_DIGEST_LEN + 1];

            if (it[k].outcome != O_ACKED)
                continue;
            strnum_hex(it[k].rdigest, sizeof(it[k].rdigest), dh);
            snprintf(it[k].leaf, sizeof(it[k].leaf), "p2p-receipt %" PRId64 " %s %s %s %s\n", now,
                     it[k].m.peer, c->cfg->p2p_name, it[k].m.id, dh);
            leaves[nl] = it[k].leaf;
            map[nl++] = k;
        }
        if (nl > 0 && courier_ledger_append_many(c, leaves, nl, idx) == PS_OK)
            for (size_t q = 0; q < nl; q++)
                it[map[q]].leaf_index = idx[q];
    }
    if (p2pstore_batch_begin(p->s) != PS_OK) {
        log_warnx("p2p: the outbox cannot be written; the batch is delivered again later");
        return;
    }
    for (size_t k = 0; k < n; k++) {
        struct item *x = &it[k];
        int rc = PS_OK;

        switch (x->outcome) {
        case O_ACKED:
            rc = p2pstore_out_acked(p->s, x->m.id, now, x->r.body.data, x->r.body.len,
                                    x->leaf_index);
            break;
        case O_SENT: rc = p2pstore_out_sent(p->s, x->m.id, now, x->why); break;
        case O_REFUSED: rc = p2pstore_out_refused(p->s, x->m.id, now, x->why); break;
        case O_RETRY: rc = p2pstore_out_retry(p->s, x->m.id, p->next_ms[i], x->why); break;
        }
        if (rc != PS_OK && rc != PS_E_NOTFOUND)
            log_warnx("p2p %s: the outbox could not be written", x->m.id);
    }
    if (p2pstore_batch_commit(p->s) != PS_OK)
        log_warnx("p2p: the outbox cannot be written; the batch is delivered again later");
}

/* One batch to partner i. Returns the number of messages claimed (0: none due), or -1 when the
 * partner is away (its round stops). */
static int deliver_batch(struct p2p_courier *p, size_t i)
{
    struct courier *c = p->c;
    struct p2p_claim claims[BATCH];
    struct item *it;
    size_t n = 0;
    int away;

    c->now_ms = courier_now_ms();
    if (p2pstore_out_claim_many(p->s, c->cfg->partners[i].id, c->now_ms, LEASE_MS, claims, BATCH,
                                &n) != PS_OK) {
        log_warnx("p2p: the outbox cannot be read");
        return -1;
    }
    if (n == 0)
        return 0;
    if ((it = calloc(n, sizeof(*it))) == NULL) {
        for (size_t k = 0; k < n; k++)
            p2p_claim_free(&claims[k]);
        return -1;
    }
    for (size_t k = 0; k < n; k++)
        it[k].m = claims[k];
    sign_batch(p, it, n);
    away = post_batch(p, i, it, n);
    if (away) {
        p->next_ms[i] = c->now_ms + courier_backoff_ms(++p->failures[i], BACKOFF_BASE, BACKOFF_CAP);
        p->single_until[i] = 0;
        for (size_t k = 0; k < n; k++)
            if (it[k].outcome == O_RETRY) {
                if (courier_failure_logged(p->failures[i], it[k].why, &p->logged[i]))
                    log_warnx("p2p to %s: partner unavailable (%s); %u attempts so far",
                              it[k].m.peer, it[k].why, p->failures[i]);
                break;
            }
    } else {
        p->failures[i] = 0;
    }
    record_batch(p, i, it, n);
    for (size_t k = 0; k < n; k++) {
        courier_resp_free(&it[k].r);
        p2p_claim_free(&it[k].m);
    }
    free(it);
    return away ? -1 : (int)n;
}

int64_t p2p_courier_run(struct p2p_courier *p)
{
    struct courier *c = p->c;
    int64_t wait = 10000;
    unsigned expired = 0;

    if (c->now_ms >= p->next_expire) {
        if (p2pstore_out_expire(p->s, c->now_ms, &expired) == PS_OK && expired > 0)
            log_info("p2p: %u queued messages expired unsent", expired);
        p->next_expire = c->now_ms + 1000;
    }
    for (size_t i = 0; i < c->cfg->npartners; i++) {
        int got = 0;

        if (c->cfg->partners[i].url == NULL)
            continue;
        for (int k = 0; k < ROUND_MAX / BATCH && c->now_ms >= p->next_ms[i]; k++)
            if ((got = deliver_batch(p, i)) <= 0)
                break;
        if (got > 0)
            wait = 0; /* more may be due: another round at once */
        else if (c->now_ms < p->next_ms[i] && p->next_ms[i] - c->now_ms < wait)
            wait = p->next_ms[i] - c->now_ms;
    }
    return wait < 0 ? 0 : wait;
}
