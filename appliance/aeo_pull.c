/*
 * aeo_pull.c - keeps partners' AEO registers in sync (courier process; courier.h, aeostore.h).
 *
 * For each partner with a url=:
 *   - notify: when our register has changes the partner was not told of (since this courier
 *     started), POST /v1/aeo/notify {"origin": ours, "seq": our last} to it;
 *   - pull: when the partner notified a seq beyond our copy, or every aeo_poll_interval,
 *     GET /v1/aeo/feed?after=<our copy's last seq> and apply each batch (aeostore_ingest: JWS
 *     against that partner's pinned root, strict parse, no gap, no replay, all or nothing),
 *     again while batches come back full; each applied non-empty batch becomes an "aeo-batch"
 *     ledger leaf. A refused batch is logged with its reason and nothing of it is applied;
 *   - digest: every aeo_digest_interval, compare our copy's digest with the partner's register
 *     at the same seq (GET /v1/aeo/digest?seq=); on a mismatch, or when the partner says its
 *     register ends before our copy (409 after_beyond_end: it was restored), fetch the whole
 *     register again from seq 0 and replace the copy in one transaction (aeostore_replace).
 * A partner that does not answer is retried with exponential backoff and jitter (1 s doubling
 * up to aeo_poll_interval).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "../protocol/strnum.h"
#include "aeostore.h"
#include "courier.h"
#include "log.h"

#define PULL_LIMIT 1000 /* records per feed request */
#define RESYNC_MAX 1000 /* batches in one full re-sync (a million records) */

struct aeo_peer {
    int64_t next_pull, next_digest;
    unsigned failures;
    uint64_t logged; /* the last logged failure's reason (courier_failure_logged) */
    uint64_t told;   /* our last seq this partner was notified of */
    int resync;      /* a full re-sync is due */
};

struct aeo_pull {
    struct courier *c;
    struct aeostore *s;
    struct aeo_peer peer[CFG_MAX_PARTNERS];
};

struct aeo_pull *aeo_pull_new(struct courier *c)
{
    struct aeo_pull *p;
    char err[512];

    if (!courier_has_calls(c->cfg))
        return NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->c = c;
    if (aeostore_open(c->cfg->state_dir, c->cfg->aeo_origin, NULL, &p->s, err, sizeof(err)) !=
        PS_OK) {
        log_warnx("aeo: %s; no register exchange", err);
        free(p);
        return NULL;
    }
    aeostore_set_id_owner(p->s, config_aeo_id_owner, c->cfg);
    return p;
}

void aeo_pull_free(struct aeo_pull *p)
{
    if (p == NULL)
        return;
    aeostore_close(p->s);
    free(p);
}

/* A failed pull or re-sync: back off, and log it unless what is NULL (logged by the caller). */
static void failed(struct aeo_pull *p, size_t i, const char *what, const char *why)
{
    struct aeo_peer *e = &p->peer[i];
    int64_t cap = (int64_t)p->c->cfg->aeo_poll_interval * 1000;

    e->failures++;
    e->next_pull = p->c->now_ms + courier_backoff_ms(e->failures, 1000, cap);
    if (courier_failure_logged(e->failures, why, &e->logged) && what != NULL)
        log_warnx("aeo %s from %s: %s (%u attempts)", what, p->c->cfg->partners[i].id, why,
                  e->failures);
}

static void notify(struct aeo_pull *p, size_t i)
{
    struct courier *c = p->c;
    struct courier_resp r;
    uint64_t last;
    char body[200], why[300];

    if (aeostore_own_last(p->s, &last) != PS_OK || last == 0 || last <= p->peer[i].told)
        return;
    snprintf(body, sizeof(body), "{\"origin\":\"%s\",\"seq\":%" PRIu64 "}", c->cfg->aeo_origin,
             last);
    if (courier_request(c, i, "POST", "/v1/aeo/notify", "application/json", body, strlen(body),
                        &r) == PS_OK &&
        r.status == 202) {
        p->peer[i].told = last;
    } else {
        courier_resp_why(&r, why, sizeof(why)); /* reachability is logged by the pulls */
        log_debug("aeo notify to %s: %s", c->cfg->partners[i].id, why);
    }
    courier_resp_free(&r);
}

/* Record an applied batch in the ledger. */
static void batch_leaf(struct aeo_pull *p, size_t i, const char *origin,
                       const struct aeostore_ingested *in, const struct courier_resp *r)
{
    struct courier *c = p->c;
    uint8_t h[32];
    char hex[65], leaf[400], why[256];
    uint64_t idx;

    if (c->cfg->ledger_key == NULL || in->records == 0)
        return;
    SHA256(r->body.data, r->body.len, h);
    strnum_hex(h, sizeof(h), hex);
    snprintf(leaf, sizeof(leaf), "aeo-batch %" PRId64 " %s %s %" PRIu64 " %" PRIu64 " %s\n",
             c->now_ms, c->cfg->partners[i].id, origin, in->from, in->to, hex);
    if (courier_ledger_append(c, leaf, &idx, why, sizeof(why)) != PS_OK)
        log_warnx("aeo batch %s %" PRIu64 "-%" PRIu64 ": applied without its ledger leaf: %s",
                  origin, in->from, in->to, why);
}

/* Pull until the partner has nothing more. 0 on success, -1 on a failure (logged). */
static int pull(struct aeo_pull *p, size_t i)
{
    struct courier *c = p->c;
    const struct cfg_partner *pt = &c->cfg->partners[i];

    for (;;) {
        struct aeostore_origin_state st;
        struct aeostore_ingested in;
        struct courier_resp r;
        char path[128], why[600];

        if (aeostore_origin_state(p->s, pt->aeo_origin, &st) != PS_OK) {
            failed(p, i, "pull", "the AEO register cannot be read");
            return -1;
        }
        snprintf(path, sizeof(path), "/v1/aeo/feed?after=%" PRIu64 "&limit=%d", st.last_seq,
                 PULL_LIMIT);
        if (courier_request(c, i, "GET", path, NULL, NULL, 0, &r) != PS_OK || r.status != 200) {
            courier_resp_why(&r, why, sizeof(why));
            if (r.status == 409) {
                log_warnx("aeo pull from %s: the partner's register ends before our copy (%s);"
                          " full re-sync",
                          pt->id, why);
                p->peer[i].resync = 1;
            }
            failed(p, i, "pull", why);
            courier_resp_free(&r);
            return -1;
        }
        if (aeostore_ingest(p->s, pt->id, pt->aeo_origin, c->partners.store[i], r.body.data,
                            r.body.len, c->now_ms / 1000, &in, why, sizeof(why)) != PS_OK) {
            log_warnx("aeo batch from %s refused, nothing applied: %s", pt->id, why);
            failed(p, i, NULL, why);
            courier_resp_free(&r);
            return -1;
        }
        batch_leaf(p, i, pt->aeo_origin, &in, &r);
        if (in.records > 0)
            log_info("aeo: applied %s %" PRIu64 "-%" PRIu64 " from %s (signer %s)", pt->aeo_origin,
                     in.from, in.to, pt->id, in.signer);
        courier_resp_free(&r);
        if (in.records < PULL_LIMIT)
            return 0;
    }
}

/* Fetch the partner's whole register and replace our copy with it. */
static int resync(struct aeo_pull *p, size_t i)
{
    struct courier *c = p->c;
    const struct cfg_partner *pt = &c->cfg->partners[i];
    struct aeostore_fetched *f = calloc(RESYNC_MAX, sizeof(*f));
    size_t n = 0;
    uint64_t after = 0;
    char why[600] = "";
    int rc = -1;

    if (f == NULL)
        return -1;
    while (n < RESYNC_MAX) {
        struct courier_resp r;
        char path[128];

        snprintf(path, sizeof(path), "/v1/aeo/feed?after=%" PRIu64 "&limit=%d", after, PULL_LIMIT);
        if (courier_request(c, i, "GET", path, NULL, NULL, 0, &r) != PS_OK || r.status != 200) {
            courier_resp_why(&r, why, sizeof(why));
            courier_resp_free(&r);
            goto out;
        }
        if (aeostore_verify(p->s, c->partners.store[i], r.body.data, r.body.len, c->now_ms / 1000,
                            &f[n], why, sizeof(why)) != PS_OK) {
            courier_resp_free(&r);
            goto out;
        }
        courier_resp_free(&r);
        after = f[n].batch.to;
        if (f[n++].batch.records.n < PULL_LIMIT)
            break;
    }
    if (n == RESYNC_MAX) {
        snprintf(why, sizeof(why), "more than %d batches", RESYNC_MAX);
        goto out;
    }
    if (aeostore_replace(p->s, pt->id, pt->aeo_origin, f, n, c->now_ms / 1000, why, sizeof(why)) !=
        PS_OK)
        goto out;
    log_info("aeo: full re-sync of %s from %s: %" PRIu64 " records", pt->aeo_origin, pt->id, after);
    rc = 0;
out:
    if (rc != 0)
        failed(p, i, "re-sync", why);
    for (size_t k = 0; k < n; k++)
        aeostore_fetched_free(&f[k]);
    free(f);
    return rc;
}

/* Does our copy match the partner's register at our copy's seq? 1 yes, 0 no, -1 unknown. */
static int digest_matches(struct aeo_pull *p, size_t i)
{
    struct courier *c = p->c;
    const struct cfg_partner *pt = &c->cfg->partners[i];
    struct aeostore_origin_state st;
    struct courier_resp r;
    uint8_t d[AEO_DIGEST_LEN];
    char path[128], hex[2 * AEO_DIGEST_LEN + 1], why[300];
    const char *theirs;
    json_t *j;
    int ok;

    if (aeostore_origin_state(p->s, pt->aeo_origin, &st) != PS_OK ||
        aeostore_digest_upto(p->s, pt->aeo_origin, st.last_seq, d) != PS_OK)
        return -1;
    strnum_hex(d, sizeof(d), hex);
    snprintf(path, sizeof(path), "/v1/aeo/digest?seq=%" PRIu64, st.last_seq);
    if (courier_request(c, i, "GET", path, NULL, NULL, 0, &r) != PS_OK ||
        (r.status != 200 && r.status != 409)) {
        courier_resp_why(&r, why, sizeof(why));
        log_warnx("aeo digest from %s: %s", pt->id, why);
        courier_resp_free(&r);
        return -1;
    }
    j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    theirs = json_string_value(json_object_get(j, "digest"));
    ok = r.status == 200 && theirs && strcmp(theirs, hex) == 0;
    if (!ok)
        log_warnx("aeo: our copy of %s at seq %" PRIu64 " differs from %s's register (%s);"
                  " full re-sync",
                  pt->aeo_origin, st.last_seq, pt->id,
                  r.status == 409 ? "it ends before that seq" : "digest mismatch");
    json_decref(j);
    courier_resp_free(&r);
    return ok;
}

int64_t aeo_pull_run(struct aeo_pull *p)
{
    struct courier *c = p->c;
    int64_t wait = (int64_t)c->cfg->aeo_poll_interval * 1000;

    for (size_t i = 0; i < c->cfg->npartners; i++) {
        const struct cfg_partner *pt = &c->cfg->partners[i];
        struct aeo_peer *e = &p->peer[i];
        struct aeostore_origin_state st;
        int due;

        if (pt->url == NULL)
            continue;
        if (c->now_ms >= e->next_pull || c->woken)
            notify(p, i);
        due = c->now_ms >= e->next_pull;
        if (!due && c->woken && e->failures == 0 &&
            aeostore_origin_state(p->s, pt->aeo_origin, &st) == PS_OK)
            due = st.notified_seq > st.last_seq;
        if (due) {
            if (e->resync ? resync(p, i) == 0 : pull(p, i) == 0) {
                e->resync = 0;
                e->failures = 0;
                e->next_pull = c->now_ms + (int64_t)c->cfg->aeo_poll_interval * 1000;
                if (c->now_ms >= e->next_digest) {
                    e->next_digest = c->now_ms + (int64_t)c->cfg->aeo_digest_interval * 1000;
                    if (digest_matches(p, i) == 0 && resync(p, i) == 0)
                        e->failures = 0;
                }
            }
        }
        if (e->next_pull - c->now_ms < wait)
            wait = e->next_pull - c->now_ms;
    }
    return wait < 0 ? 0 : wait;
}
