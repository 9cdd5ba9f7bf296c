/*
 * p2p_courier.c - delivers the P2P outbox (courier process; see courier.h, p2pstore.h).
 *
 * For each partner with a url=, in turn: claim the next due message (urgent before routine,
 * then by seq), sign its stored envelope once (the JWS is kept, so every retry sends the same
 * bytes, and a "p2p-message" ledger leaf records what we sent), POST it to the partner's
 * /v1/p2p/inbound, check the signed receipt against the partner's pinned root and against
 * exactly the payload sent, record it as a "p2p-receipt" leaf, and mark the message
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
#include "courier.h"
#include "log.h"
#include "p2pstore.h"

#define LEASE_MS       30000
#define BACKOFF_BASE   1000
#define BACKOFF_CAP    30000
#define ROUND_MAX      1000 /* messages per partner per round, so that others get their turn */
#define P2P_JWS_ALGS_C (JWS_ES256 | JWS_EDDSA | JWS_RS256)

struct p2p_courier {
    struct courier *c;
    struct p2pstore *s;
    int64_t next_ms[CFG_MAX_PARTNERS]; /* partner's next attempt after failures */
    unsigned failures[CFG_MAX_PARTNERS];
    int64_t next_expire;
};

struct p2p_courier *p2p_courier_new(struct courier *c)
{
    struct p2p_courier *p;
    char dir[4096], err[256];
    int any = 0;

    for (size_t i = 0; i < c->cfg->npartners; i++)
        any |= c->cfg->partners[i].url != NULL;
    if (c->cfg->p2p_name == NULL || c->cfg->exchange_key == NULL || !any)
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
    return p;
}

void p2p_courier_free(struct p2p_courier *p)
{
    if (p == NULL)
        return;
    p2pstore_close(p->s);
    free(p);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Sign the stored envelope (first attempt only) and record what we send. */
static int sign_claim(struct p2p_courier *p, struct p2p_claim *m, char *why, size_t n)
{
    struct courier *c = p->c;
    uint8_t d[P2P_DIGEST_LEN];
    char leaf[512], dh[2 * P2P_DIGEST_LEN + 1];
    uint64_t idx;

    if (m->jws.len > 0)
        return PS_OK;
    if (courier_jws_sign(c, m->payload.data, m->payload.len, P2P_ENVELOPE_TYP, 1, &m->jws, why,
                         n) != PS_OK)
        return PS_E_UNAVAIL;
    if (p2pstore_out_set_jws(p->s, m->id, m->jws.data, m->jws.len) != PS_OK) {
        snprintf(why, n, "the outbox could not be written");
        return PS_E_STORAGE;
    }
    if (c->cfg->ledger_key == NULL)
        return PS_OK;
    p2p_digest(m->payload.data, m->payload.len, d);
    hex(d, sizeof(d), dh);
    snprintf(leaf, sizeof(leaf), "p2p-message %" PRId64 " %s %s %s %" PRIu64 " %s\n", c->now_ms,
             c->cfg->p2p_name, m->peer, m->id, m->seq, dh);
    if (courier_ledger_append(c, leaf, &idx, why, n) != PS_OK)
        log_warnx("p2p %s: sent without its ledger leaf: %s", m->id, why);
    return PS_OK;
}

/* A 200 from the partner: check its receipt and store it. */
static void take_receipt(struct p2p_courier *p, size_t i, struct p2p_claim *m,
                         const struct courier_resp *r)
{
    struct courier *c = p->c;
    struct jws_verify_opts o;
    struct jws_result v;
    struct p2p_receipt rc;
    char why[512], leaf[512], dh[2 * P2P_DIGEST_LEN + 1];
    uint8_t d[P2P_DIGEST_LEN];
    uint64_t idx = 0;
    int64_t li = -1;

    memset(&o, 0, sizeof(o));
    memset(&v, 0, sizeof(v));
    o.algs = P2P_JWS_ALGS_C;
    o.roots = c->partners.store[i];
    o.typ = P2P_RECEIPT_TYP;
    o.max_len = P2P_MAX_LEN * 2;
    if (jws_verify(r->body.data, r->body.len, &o, &v, why, sizeof(why)) != PS_OK ||
        p2p_receipt_parse(v.payload, v.payload_len, &rc, why, sizeof(why)) != PS_OK ||
        p2p_receipt_matches(&rc, m->id, m->payload.data, m->payload.len, why, sizeof(why)) !=
            PS_OK) {
        char full[600];

        snprintf(full, sizeof(full), "receipt refused: %s", why);
        log_warnx("p2p %s to %s: delivered, but %s", m->id, m->peer, full);
        if (p2pstore_out_sent(p->s, m->id, c->now_ms, full) != PS_OK)
            log_warnx("p2p %s: the outbox could not be written", m->id);
        jws_result_free(&v);
        return;
    }
    if (c->cfg->ledger_key) {
        p2p_digest(v.payload, v.payload_len, d);
        hex(d, sizeof(d), dh);
        snprintf(leaf, sizeof(leaf), "p2p-receipt %" PRId64 " %s %s %s %s\n", c->now_ms, m->peer,
                 c->cfg->p2p_name, m->id, dh);
        if (courier_ledger_append(c, leaf, &idx, why, sizeof(why)) == PS_OK)
            li = (int64_t)idx;
        else
            log_warnx("p2p %s: receipt kept without its ledger leaf: %s", m->id, why);
    }
    if (p2pstore_out_acked(p->s, m->id, c->now_ms, r->body.data, r->body.len, li) != PS_OK)
        log_warnx("p2p %s: the outbox could not be written", m->id);
    jws_result_free(&v);
}

/* Deliver one claimed message. Returns 0 when the partner answered (go on), -1 when it is
 * away (stop its round). */
static int deliver(struct p2p_courier *p, size_t i, struct p2p_claim *m)
{
    struct courier *c = p->c;
    struct courier_resp r;
    char why[512];
    int rc;

    if (sign_claim(p, m, why, sizeof(why)) != PS_OK) {
        p->next_ms[i] = c->now_ms + courier_backoff_ms(++p->failures[i], BACKOFF_BASE, BACKOFF_CAP);
        log_warnx("p2p %s to %s: not signed: %s", m->id, m->peer, why);
        if (p2pstore_out_retry(p->s, m->id, p->next_ms[i], why) != PS_OK)
            log_warnx("p2p %s: the outbox could not be written", m->id);
        return -1;
    }
    rc = courier_request(c, i, "POST", "/v1/p2p/inbound", "application/jose", m->jws.data,
                         m->jws.len, &r);
    if (rc == PS_OK && r.status == 200) {
        p->failures[i] = 0;
        take_receipt(p, i, m, &r);
    } else if (rc == PS_OK && r.status >= 400 && r.status < 500 && r.status != 408 &&
               r.status != 429) {
        courier_resp_why(&r, why, sizeof(why));
        log_warnx("p2p %s to %s: refused: %s", m->id, m->peer, why);
        if (p2pstore_out_refused(p->s, m->id, c->now_ms, why) != PS_OK)
            log_warnx("p2p %s: the outbox could not be written", m->id);
    } else {
        courier_resp_why(&r, why, sizeof(why));
        p->next_ms[i] = c->now_ms + courier_backoff_ms(++p->failures[i], BACKOFF_BASE, BACKOFF_CAP);
        if (p->failures[i] == 1 || p->failures[i] % 10 == 0)
            log_warnx("p2p to %s: partner unavailable (%s); %u attempts so far", m->peer, why,
                      p->failures[i]);
        if (p2pstore_out_retry(p->s, m->id, p->next_ms[i], why) != PS_OK)
            log_warnx("p2p %s: the outbox could not be written", m->id);
        courier_resp_free(&r);
        return -1;
    }
    courier_resp_free(&r);
    return 0;
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
        const struct cfg_partner *pt = &c->cfg->partners[i];

        if (pt->url == NULL)
            continue;
        if (c->now_ms < p->next_ms[i]) {
            if (p->next_ms[i] - c->now_ms < wait)
                wait = p->next_ms[i] - c->now_ms;
            continue;
        }
        for (int k = 0; k < ROUND_MAX; k++) {
            struct p2p_claim m;
            int rc;

            memset(&m, 0, sizeof(m));
            c->now_ms = courier_now_ms();
            if ((rc = p2pstore_out_claim(p->s, pt->id, c->now_ms, LEASE_MS, &m)) != PS_OK) {
                if (rc != PS_E_NOTFOUND)
                    log_warnx("p2p: the outbox cannot be read");
                p2p_claim_free(&m);
                break;
            }
            rc = deliver(p, i, &m);
            p2p_claim_free(&m);
            if (rc < 0) {
                if (p->next_ms[i] - c->now_ms < wait)
                    wait = p->next_ms[i] - c->now_ms;
                break;
            }
            if (k == ROUND_MAX - 1)
                wait = 0;
        }
    }
    return wait < 0 ? 0 : wait;
}
