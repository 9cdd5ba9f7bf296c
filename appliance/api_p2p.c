/*
 * api_p2p.c - the point-to-point channel with a partner office (DESIGN §4, protocol/p2p.h,
 * docs/formats.md §3; storage in appliance/p2pstore.h).
 *
 *   POST /v1/p2p/inbound          partners: a JWS envelope -> 200 a JWS receipt (compact,
 *                                 application/jose); the same message again -> the same bytes
 *   POST /v1/p2p/outbox           officers: {"to","type","priority","body","expires"?} -> 202
 *   GET  /v1/p2p/messages?dir=in|out&after=N&limit=N   officers: {"messages":[...],"gaps":[...]}
 *   GET  /v1/p2p/messages/{id}    officers: one message with its status and receipt
 *
 * Inbound, in this order (the first failure answers, nothing is stored, the reason is logged):
 * the JWS against the calling partner's pinned root (x5c chain, typ p2p-envelope+jws); the
 * envelope and its body schema; from = the calling partner, to = p2p_name; then the store:
 * the same id with the same digest answers the stored receipt (even once expired), the same id
 * with another digest or a seq already used by another message is 409; a new message must not
 * have expired nor be created in the future (beyond P2P_SKEW). A new message gets a ledger leaf
 * (when a ledger_key exists) p2p-message <unix_ms> <from> <to> <id> <seq> <sha256 of the payload,
 * hex> whose index goes into the receipt, the receipt is signed with exchange_key (itself a
 * signature leaf), and message and receipt are stored in one transaction before the answer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../protocol/jws.h"
#include "../protocol/p2p.h"
#include "../protocol/strnum.h"
#include "../protocol/timefmt.h"
#include "api.h"
#include "log.h"
#include "courier.h"
#include "p2pstore.h"
#include "worker.h"

#define P2P_SKEW       300 /* seconds an envelope may be created ahead of our clock */
#define P2P_LIST_MAX   1000
#define P2P_LIST_DEF   100
#define JOSE_COMPACT   "application/jose"
#define P2P_JWS_ALGS   (JWS_ES256 | JWS_EDDSA | JWS_RS256)
#define P2P_RECEIPT_SZ (64 * 1024)
#define P2P_BATCH_MAX  64            /* envelopes in one POST /v1/p2p/inbound/batch */
#define P2P_IN_JWS_MAX (1024 * 1024) /* one envelope of a batch, as the single route allows */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opened on first use, after the privilege drop, in state_dir/p2p (made by the parent). */
static struct p2pstore *store(struct worker *w)
{
    static struct p2pstore *s;
    char dir[4096], err[512];

    if (s == NULL) {
        snprintf(dir, sizeof(dir), "%s/p2p", w->cfg->state_dir);
        if (p2pstore_open(dir, &s, err, sizeof(err)) != PS_OK) {
            log_warnx("%s (is %s reachable and writable for user %s?)", err, dir,
                      w->cfg->user ? w->cfg->user : "-");
            s = NULL;
        }
    }
    return s;
}

/* The store, or a 503 answered. Also needs p2p_name. */
static struct p2pstore *ready(struct request *r)
{
    struct p2pstore *s;

    if (r->w->cfg->p2p_name == NULL) {
        http_error(r, 503, "p2p_not_configured", "no p2p_name is configured");
        return NULL;
    }
    if ((s = store(r->w)) == NULL)
        http_error(r, 503, "storage_unavailable", "the p2p store cannot be opened");
    return s;
}

static X509_STORE *partner_store(struct worker *w, const char *id)
{
    for (size_t i = 0; i < w->partners.n; i++)
        if (id && strcmp(w->partners.cfg[i]->id, id) == 0)
            return w->partners.store[i];
    return NULL;
}

static int is_partner(const struct config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->npartners; i++)
        if (strcmp(cfg->partners[i].id, id) == 0)
            return 1;
    return 0;
}

/* ---- inbound ---- */

/* Why an envelope is refused: the answer's status and code, and the message (also logged). */
struct refusal {
    int status;
    const char *code;
    char msg[600];
};

static int refuse(struct refusal *f, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(struct refusal *f, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    f->status = status;
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static void refusal_log(const struct request *r, const struct refusal *f)
{
    log_warnx("p2p inbound from %s refused (%s): %s", r->partner, f->code, f->msg);
}

static void refusal_answer(struct request *r, const struct refusal *f)
{
    http_error(r, f->status, f->code, "%s", f->msg);
    refusal_log(r, f);
}

/* Verify one envelope (jws[0..len)) from the calling partner and parse it: the JWS against the
 * partner's pinned root, the envelope and its body schema, from and to. 0, or -1 and f. */
static int in_verify(struct request *r, const uint8_t *jws, size_t len, size_t max,
                     struct jws_result *v, struct p2p_envelope *e, struct refusal *f)
{
    const struct config *cfg = r->w->cfg;
    struct jws_verify_opts o;
    char err[512];
    int rc;

    memset(&o, 0, sizeof(o));
    o.algs = P2P_JWS_ALGS;
    o.roots = partner_store(r->w, r->partner);
    o.typ = P2P_ENVELOPE_TYP;
    o.max_len = max;
    if (o.roots == NULL)
        return refuse(f, 403, "not_a_partner", "no pinned root for partner %s", r->partner);
    if (jws_verify(jws, len, &o, v, err, sizeof(err)) != PS_OK)
        return refuse(f, 400, "invalid_signature", "envelope: %s", err);
    if ((rc = p2p_envelope_parse(v->payload, v->payload_len, e, err, sizeof(err))) != PS_OK) {
        if (strncmp(err, "body", 4) == 0)
            return refuse(f, 422, "invalid_body", "%s", err);
        return refuse(f, rc == PS_E_LIMIT ? 413 : 400, "invalid_envelope", "%s", err);
    }
    if (strcmp(e->from, r->partner) != 0)
        return refuse(f, 403, "wrong_sender", "envelope.from is %s, but the caller is partner %s",
                      e->from, r->partner);
    if (strcmp(e->to, cfg->p2p_name) != 0)
        return refuse(f, 400, "wrong_recipient", "envelope.to is %s, but this office is %s", e->to,
                      cfg->p2p_name);
    return 0;
}

/* What the store already holds for e: 0 nothing (new), 1 the same message (its receipt
 * answers), -1 a conflict (f). */
static int in_existing(const struct p2p_envelope *e, enum p2p_in_state state, const char *other,
                       struct refusal *f)
{
    switch (state) {
    case P2P_IN_SAME:
        log_info("p2p inbound %s/%s again: the stored receipt answers", e->from, e->id);
        return 1;
    case P2P_IN_ID_CONFLICT:
        return refuse(f, 409, "id_conflict",
                      "message %s from %s was received before with other content (digest differs)",
                      e->id, e->from);
    case P2P_IN_SEQ_CONFLICT:
        return refuse(f, 409, "replay", "seq %llu of channel %s -> %s is message %s already",
                      (unsigned long long)e->seq, e->from, e->to, other);
    case P2P_IN_NEW: break;
    }
    return 0;
}

/* For a new message only (a stored one gets its receipt even after its expiry, so that a
 * sender whose first answer was lost learns that it arrived). */
static int in_time(const struct p2p_envelope *e, int64_t received_ms, struct refusal *f)
{
    char err[256];

    if (p2p_envelope_check_time(e, received_ms / 1000, P2P_SKEW, err, sizeof(err)) != PS_OK)
        return refuse(f, 400, "stale_envelope", "%s", err);
    return 0;
}

/* "p2p-message <unix_ms> <from> <to> <id> <seq> <digest>\n" into leaf; its length, or 0. */
static size_t in_leaf(const struct p2p_envelope *e, int64_t received_ms, const char *digest,
                      char *leaf, size_t max)
{
    int n = snprintf(leaf, max, "p2p-message %lld %s %s %s %llu %s\n", (long long)received_ms,
                     e->from, e->to, e->id, (unsigned long long)e->seq, digest);

    return n > 0 && (size_t)n < max ? (size_t)n : 0;
}

/* The receipt payload for a new message (its digest, when received, its ledger index). */
static int in_receipt_payload(const struct p2p_envelope *e, const struct jws_result *v,
                              int64_t received_ms, int64_t ledger_index, struct buf *payload,
                              char *err, size_t errlen)
{
    struct p2p_receipt rc;

    memset(&rc, 0, sizeof(rc));
    snprintf(rc.message_id, sizeof(rc.message_id), "%s", e->id);
    p2p_digest(v->payload, v->payload_len, rc.digest);
    rc.received_at = received_ms / 1000;
    rc.ledger_index = ledger_index;
    return p2p_receipt_format(&rc, payload, err, errlen);
}

static void in_stored_log(const struct p2p_envelope *e, int64_t ledger_index, uint64_t gap)
{
    if (gap > 0)
        log_warnx("p2p inbound %s/%s: seq %llu arrived with %llu seq(s) missing before it", e->from,
                  e->id, (unsigned long long)e->seq, (unsigned long long)gap);
    log_info("p2p inbound %s/%s seq %llu %s %s stored (ledger leaf %lld)", e->from, e->id,
             (unsigned long long)e->seq, p2p_type_name(e->type), p2p_priority_name(e->priority),
             (long long)ledger_index);
}

/* ---- POST /v1/p2p/inbound: one envelope ---- */

struct in_job {
    struct request *r;
    struct p2p_envelope e;
    struct jws_result v;
    char digest[2 * P2P_DIGEST_LEN + 1];
    int64_t received_ms;
    int64_t ledger_index;
};

static void in_end(struct in_job *j)
{
    struct request *r = j->r;

    p2p_envelope_free(&j->e);
    jws_result_free(&j->v);
    free(j);
    http_release(r);
}

static void receipt_signed(void *ctx, int status, const struct buf *jws, uint64_t seq,
                           const char *err)
{
    struct in_job *j = ctx;
    struct request *r = j->r;
    struct p2pstore *s = store(r->w);
    struct p2p_in m;
    struct buf stored;
    struct refusal f;
    enum p2p_in_state state;
    char other[65] = "";
    uint64_t gap = 0;
    int ex;

    (void)seq;
    buf_init(&stored, P2P_RECEIPT_SZ);
    if (status != PS_OK) {
        http_error(r, 503, "signing_unavailable", "the receipt could not be signed: %s", err);
        log_warnx("p2p inbound %s/%s: receipt not signed: %s", j->e.from, j->e.id, err);
        goto out;
    }
    memset(&m, 0, sizeof(m));
    m.e = &j->e;
    m.payload = j->v.payload;
    m.payload_len = j->v.payload_len;
    m.jws = r->body.data;
    m.jws_len = r->body.len;
    m.digest_hex = j->digest;
    m.received_ms = j->received_ms;
    m.ledger_index = j->ledger_index;
    m.receipt = jws->data;
    m.receipt_len = jws->len;
    if (s == NULL || p2pstore_in_put(s, &m, &state, &stored, other, &gap) != PS_OK) {
        http_error(r, 503, "storage_unavailable", "the message could not be stored");
        log_warnx("p2p inbound %s/%s: not stored (storage)", j->e.from, j->e.id);
        goto out;
    }
    /* a concurrent twin won */
    if ((ex = in_existing(&j->e, state, other, &f)) != 0) {
        if (ex > 0)
            http_respond(r, 200, JOSE_COMPACT, stored.data, stored.len);
        else
            refusal_answer(r, &f);
        goto out;
    }
    in_stored_log(&j->e, j->ledger_index, gap);
    http_respond(r, 200, JOSE_COMPACT, jws->data, jws->len);
out:
    buf_free(&stored);
    in_end(j);
}

static void in_sign_receipt(struct in_job *j)
{
    struct request *r = j->r;
    struct buf payload;
    char err[256];

    buf_init(&payload, P2P_RECEIPT_SZ);
    if (in_receipt_payload(&j->e, &j->v, j->received_ms, j->ledger_index, &payload, err,
                           sizeof(err)) != PS_OK ||
        api_jws_sign(r->w, payload.data, payload.len, P2P_RECEIPT_TYP, JWS_COMPACT, receipt_signed,
                     j, err, sizeof(err)) != PS_OK) {
        http_error(r, 503, "signing_unavailable", "the receipt cannot be signed: %s", err);
        log_warnx("p2p inbound %s/%s: %s", j->e.from, j->e.id, err);
        in_end(j);
    }
    buf_free(&payload);
}

static void leaf_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct in_job *j = ctx;
    struct ipc_ledger l;

    if (status != PS_OK || ipc_ledger_reply_decode(p, len, &l) != PS_OK) {
        http_error(j->r, 503, "ledger_unavailable", "the message could not be recorded");
        log_warnx("p2p inbound %s/%s: no ledger leaf", j->e.from, j->e.id);
        in_end(j);
        return;
    }
    j->ledger_index = (int64_t)l.a;
    in_sign_receipt(j);
}

static void in_record(struct in_job *j)
{
    struct request *r = j->r;
    char leaf[512];
    size_t n;

    j->ledger_index = -1;
    if (r->w->cfg->ledger_key == NULL) {
        in_sign_receipt(j);
        return;
    }
    n = in_leaf(&j->e, j->received_ms, j->digest, leaf, sizeof(leaf));
    if (n == 0 || kh_ledger(r->w->kh, IPC_LEDGER_APPEND, 0, 0, leaf, n, leaf_done, j) != PS_OK) {
        http_error(r, 503, "keyholder_unavailable", "the ledger is unavailable");
        in_end(j);
    }
}

/* The p2p store, and the exchange_key receipts are signed with; else a 503 answered. */
static struct p2pstore *in_ready(struct request *r)
{
    struct p2pstore *s;

    if ((s = ready(r)) == NULL)
        return NULL;
    if (r->w->cfg->exchange_key == NULL) {
        http_error(r, 503, "p2p_not_configured", "no exchange_key: receipts cannot be signed");
        return NULL;
    }
    return s;
}

void api_p2p_inbound(struct request *r, const char *tail)
{
    struct p2pstore *s;
    struct in_job *j;
    struct buf receipt;
    struct refusal f;
    enum p2p_in_state state;
    uint8_t d[P2P_DIGEST_LEN];
    char other[65] = "";
    int ex;

    (void)tail;
    if ((s = in_ready(r)) == NULL)
        return;
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    j->r = r;
    http_hold(r);
    j->received_ms = now_ms();
    if (in_verify(r, r->body.data, r->body.len, r->max_body, &j->v, &j->e, &f) != 0) {
        refusal_answer(r, &f);
        in_end(j);
        return;
    }
    p2p_digest(j->v.payload, j->v.payload_len, d);
    sodium_bin2hex(j->digest, sizeof(j->digest), d, sizeof(d));
    buf_init(&receipt, P2P_RECEIPT_SZ);
    if (p2pstore_in_check(s, j->e.from, j->e.id, j->e.seq, j->digest, &state, &receipt, other) !=
        PS_OK) {
        http_error(r, 503, "storage_unavailable", "the p2p store failed");
        buf_free(&receipt);
        in_end(j);
        return;
    }
    if ((ex = in_existing(&j->e, state, other, &f)) == 0)
        ex = in_time(&j->e, j->received_ms, &f);
    if (ex > 0)
        http_respond(r, 200, JOSE_COMPACT, receipt.data, receipt.len);
    else if (ex < 0)
        refusal_answer(r, &f);
    buf_free(&receipt);
    if (ex != 0) {
        in_end(j);
        return;
    }
    in_record(j);
}

/* ---- POST /v1/p2p/inbound/batch: several envelopes, in order ---- */

/*
 * {"envelopes": [JWS, ...]} (1..P2P_BATCH_MAX compact JWS) -> 200 {"results": [...]}, one
 * result per envelope in order: {"status": 200, "receipt": JWS} or {"status": S, "error":
 * {"code", "message"}}, each what POST /v1/p2p/inbound would have answered for it alone. They
 * are taken in order: a refusal (4xx) refuses that envelope only; after one that could not be
 * taken now (5xx) the rest are not looked at (503 not_processed), so that none overtakes it.
 * The new messages get their ledger leaves and receipts together (the keyholder commits them in
 * one group) and are stored in one transaction; if any of those steps fails, none of the new
 * messages is stored and each answers 503.
 */
enum bi_kind { BI_REFUSED, BI_SAME, BI_NEW, BI_TWIN };

struct bi_job;
struct bi_item {
    struct bi_job *job;
    const uint8_t *jws; /* into job->doc */
    size_t jws_len;
    enum bi_kind kind;
    size_t twin; /* BI_TWIN: the earlier envelope of the batch it repeats */
    struct p2p_envelope e;
    struct jws_result v;
    char digest[2 * P2P_DIGEST_LEN + 1];
    struct refusal f;
    struct buf receipt; /* BI_SAME: the stored receipt; BI_NEW: the one signed now */
    int64_t ledger_index;
};

struct bi_job {
    struct request *r;
    json_t *doc;
    int64_t received_ms;
    size_t n, pending;
    int failed;    /* a keyholder step failed for a new message */
    char why[300]; /* ... and why */
    int signing;   /* the stage that runs: 0 ledger leaves, 1 receipts */
    struct bi_item it[];
};

static void bi_free(struct bi_job *j)
{
    struct request *r = j->r;

    for (size_t k = 0; k < j->n; k++) {
        p2p_envelope_free(&j->it[k].e);
        jws_result_free(&j->it[k].v);
        buf_free(&j->it[k].receipt);
    }
    json_decref(j->doc);
    free(j);
    http_release(r);
}

static json_t *bi_result(const struct bi_item *x)
{
    if (x->kind == BI_SAME || x->kind == BI_NEW)
        return json_pack("{s:i,s:s%}", "status", 200, "receipt", (const char *)x->receipt.data,
                         x->receipt.len);
    return json_pack("{s:i,s:{s:s,s:s}}", "status", x->f.status, "error", "code", x->f.code,
                     "message", x->f.msg);
}

static void bi_finish(struct bi_job *j)
{
    json_t *res = json_array();
    size_t stored = 0, again = 0, refused = 0;

    for (size_t k = 0; k < j->n && res; k++) {
        const struct bi_item *x = &j->it[k];
        const struct bi_item *y = x->kind == BI_TWIN ? &j->it[x->twin] : x;

        stored += x->kind == BI_NEW;
        again += x->kind == BI_SAME || x->kind == BI_TWIN;
        refused += x->kind == BI_REFUSED;
        if (json_array_append_new(res, bi_result(y)) != 0) {
            json_decref(res);
            res = NULL;
        }
    }
    log_info("p2p inbound batch from %s: %zu envelopes, %zu stored, %zu again, %zu refused",
             j->r->partner, j->n, stored, again, refused);
    if (res == NULL)
        http_error(j->r, 500, "internal", "out of memory");
    else
        http_respond_json(j->r, 200, json_pack("{s:o}", "results", res));
    bi_free(j);
}

/* Every new message answers 503 code (nothing of them was stored). */
static void bi_fail_new(struct bi_job *j, const char *code, const char *what)
{
    for (size_t k = 0; k < j->n; k++)
        if (j->it[k].kind == BI_NEW) {
            j->it[k].kind = BI_REFUSED;
            refuse(&j->it[k].f, 503, code, "%s: %s", what, j->why);
            log_warnx("p2p inbound %s/%s: %s: %s", j->it[k].e.from, j->it[k].e.id, what, j->why);
        }
}

static void bi_store(struct bi_job *j)
{
    struct p2pstore *s = store(j->r->w);
    struct p2p_in m[P2P_BATCH_MAX];
    enum p2p_in_state state[P2P_BATCH_MAX];
    struct buf stored[P2P_BATCH_MAX];
    char other[P2P_BATCH_MAX][65];
    uint64_t gap[P2P_BATCH_MAX];
    size_t map[P2P_BATCH_MAX], n = 0;

    for (size_t k = 0; k < j->n; k++) {
        struct bi_item *x = &j->it[k];

        if (x->kind != BI_NEW)
            continue;
        memset(&m[n], 0, sizeof(m[n]));
        m[n].e = &x->e;
        m[n].payload = x->v.payload;
        m[n].payload_len = x->v.payload_len;
        m[n].jws = x->jws;
        m[n].jws_len = x->jws_len;
        m[n].digest_hex = x->digest;
        m[n].received_ms = j->received_ms;
        m[n].ledger_index = x->ledger_index;
        m[n].receipt = x->receipt.data;
        m[n].receipt_len = x->receipt.len;
        buf_init(&stored[n], P2P_RECEIPT_SZ);
        other[n][0] = 0;
        map[n++] = k;
    }
    if (s == NULL || p2pstore_in_put_many(s, m, n, state, stored, other, gap) != PS_OK) {
        snprintf(j->why, sizeof(j->why), "storage");
        bi_fail_new(j, "storage_unavailable", "the message could not be stored");
    } else {
        for (size_t q = 0; q < n; q++) {
            struct bi_item *x = &j->it[map[q]];
            int ex = in_existing(&x->e, state[q], other[q], &x->f);

            if (ex == 0) {
                in_stored_log(&x->e, x->ledger_index, gap[q]);
                continue;
            }
            x->kind = ex > 0 ? BI_SAME : BI_REFUSED; /* a concurrent twin won */
            if (ex > 0) {
                buf_reset(&x->receipt);
                if (buf_append(&x->receipt, stored[q].data, stored[q].len) != PS_OK) {
                    refuse(&x->f, 503, "internal", "out of memory");
                    x->kind = BI_REFUSED;
                }
            }
        }
    }
    for (size_t q = 0; q < n; q++)
        buf_free(&stored[q]);
    bi_finish(j);
}

static void bi_stage(struct bi_job *j);

/* One keyholder answer of the running stage came (or a call could not be made). */
static void bi_step_done(struct bi_job *j)
{
    if (--j->pending > 0)
        return;
    if (j->failed) {
        bi_fail_new(j, j->signing ? "signing_unavailable" : "ledger_unavailable",
                    j->signing ? "the receipt could not be signed"
                               : "the message could not be recorded");
        bi_finish(j);
    } else if (j->signing) {
        bi_store(j);
    } else {
        j->signing = 1;
        bi_stage(j);
    }
}

static void bi_step_failed(struct bi_job *j, const char *why)
{
    if (!j->failed)
        snprintf(j->why, sizeof(j->why), "%s", why);
    j->failed = 1;
}

static void bi_leaf_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct bi_item *x = ctx;
    struct ipc_ledger l;

    if (status != PS_OK || ipc_ledger_reply_decode(p, len, &l) != PS_OK)
        bi_step_failed(x->job, "no ledger leaf");
    else
        x->ledger_index = (int64_t)l.a;
    bi_step_done(x->job);
}

static void bi_signed(void *ctx, int status, const struct buf *jws, uint64_t seq, const char *err)
{
    struct bi_item *x = ctx;

    (void)seq;
    if (status != PS_OK)
        bi_step_failed(x->job, err);
    else if (buf_append(&x->receipt, jws->data, jws->len) != PS_OK)
        bi_step_failed(x->job, "out of memory");
    bi_step_done(x->job);
}

/* Start the stage's keyholder calls for every new message, all at once (the keyholder takes
 * them as one group); without a ledger the leaves stage is empty. */
static void bi_stage(struct bi_job *j)
{
    struct request *r = j->r;

    j->pending = 1; /* until every call is made */
    for (size_t k = 0; k < j->n; k++) {
        struct bi_item *x = &j->it[k];
        char leaf[512], err[256];
        struct buf payload;
        size_t n;
        int rc;

        if (x->kind != BI_NEW || j->failed)
            continue;
        j->pending++;
        if (!j->signing) {
            n = in_leaf(&x->e, j->received_ms, x->digest, leaf, sizeof(leaf));
            if (n == 0 ||
                kh_ledger(r->w->kh, IPC_LEDGER_APPEND, 0, 0, leaf, n, bi_leaf_done, x) != PS_OK) {
                bi_step_failed(j, "the ledger is unavailable");
                j->pending--;
            }
            continue;
        }
        buf_init(&payload, P2P_RECEIPT_SZ);
        rc = in_receipt_payload(&x->e, &x->v, j->received_ms, x->ledger_index, &payload, err,
                                sizeof(err));
        if (rc == PS_OK)
            rc = api_jws_sign(r->w, payload.data, payload.len, P2P_RECEIPT_TYP, JWS_COMPACT,
                              bi_signed, x, err, sizeof(err));
        buf_free(&payload);
        if (rc != PS_OK) {
            bi_step_failed(j, err);
            j->pending--;
        }
    }
    bi_step_done(j);
}

/* Look at envelope k: refused, the same as a stored one or as an earlier one of the batch, or
 * new. stop: an earlier envelope could not be taken now. */
static void bi_classify(struct bi_job *j, size_t k, struct p2pstore *s, int stop)
{
    struct request *r = j->r;
    struct bi_item *x = &j->it[k];
    enum p2p_in_state state;
    uint8_t d[P2P_DIGEST_LEN];
    char other[65] = "";
    int ex;

    x->kind = BI_REFUSED;
    if (stop) {
        refuse(&x->f, 503, "not_processed",
               "not looked at: an earlier envelope of this batch could not be taken now");
        return;
    }
    if (in_verify(r, x->jws, x->jws_len, P2P_IN_JWS_MAX, &x->v, &x->e, &x->f) != 0) {
        refusal_log(r, &x->f);
        return;
    }
    p2p_digest(x->v.payload, x->v.payload_len, d);
    sodium_bin2hex(x->digest, sizeof(x->digest), d, sizeof(d));
    for (size_t q = 0; q < k; q++) {
        const struct bi_item *y = &j->it[q];

        if (y->kind != BI_NEW && y->kind != BI_SAME)
            continue;
        if (strcmp(y->e.id, x->e.id) == 0) {
            if (strcmp(y->digest, x->digest) == 0) {
                x->kind = BI_TWIN;
                x->twin = q;
            } else {
                refuse(&x->f, 409, "id_conflict",
                       "message %s from %s is in this batch twice with other content", x->e.id,
                       x->e.from);
                refusal_log(r, &x->f);
            }
            return;
        }
        if (y->e.seq == x->e.seq) {
            refuse(&x->f, 409, "replay", "seq %llu of channel %s -> %s is message %s already",
                   (unsigned long long)x->e.seq, x->e.from, x->e.to, y->e.id);
            refusal_log(r, &x->f);
            return;
        }
    }
    if (p2pstore_in_check(s, x->e.from, x->e.id, x->e.seq, x->digest, &state, &x->receipt, other) !=
        PS_OK) {
        refuse(&x->f, 503, "storage_unavailable", "the p2p store failed");
        return;
    }
    if ((ex = in_existing(&x->e, state, other, &x->f)) == 0)
        ex = in_time(&x->e, j->received_ms, &x->f);
    if (ex < 0)
        refusal_log(r, &x->f);
    x->kind = ex > 0 ? BI_SAME : ex < 0 ? BI_REFUSED : BI_NEW;
}

void api_p2p_inbound_batch(struct request *r, const char *tail)
{
    struct p2pstore *s;
    struct bi_job *j;
    json_error_t jerr;
    json_t *doc, *arr;
    size_t n, nnew = 0;
    int stop = 0;

    (void)tail;
    if ((s = in_ready(r)) == NULL)
        return;
    doc = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    arr = json_is_object(doc) && json_object_size(doc) == 1 ? json_object_get(doc, "envelopes")
                                                            : NULL;
    n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > P2P_BATCH_MAX) {
        http_error(r, 400, "invalid_request", "want {\"envelopes\": [1 to %d compact JWS]}%s%.200s",
                   P2P_BATCH_MAX, doc ? "" : ": ", doc ? "" : jerr.text);
        json_decref(doc);
        return;
    }
    for (size_t k = 0; k < n; k++)
        if (!json_is_string(json_array_get(arr, k))) {
            http_error(r, 400, "invalid_request", "envelopes[%zu] is not a string", k);
            json_decref(doc);
            return;
        }
    if ((j = calloc(1, sizeof(*j) + n * sizeof(j->it[0]))) == NULL) {
        json_decref(doc);
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    j->r = r;
    j->doc = doc;
    j->n = n;
    j->received_ms = now_ms();
    http_hold(r);
    for (size_t k = 0; k < n; k++) {
        struct bi_item *x = &j->it[k];

        x->job = j;
        x->ledger_index = -1;
        x->jws = (const uint8_t *)json_string_value(json_array_get(arr, k));
        x->jws_len = json_string_length(json_array_get(arr, k));
        buf_init(&x->receipt, P2P_RECEIPT_SZ);
        bi_classify(j, k, s, stop);
        stop |= x->kind == BI_REFUSED && x->f.status >= 500;
        nnew += x->kind == BI_NEW;
    }
    if (nnew == 0) {
        bi_finish(j);
        return;
    }
    j->signing = r->w->cfg->ledger_key == NULL; /* no ledger: receipts at once */
    bi_stage(j);
}

/* ---- local: outbox and readers ---- */

void api_p2p_outbox(struct request *r, const char *tail)
{
    const struct config *cfg = r->w->cfg;
    struct p2pstore *s;
    struct p2p_envelope e;
    uint8_t rnd[12];
    char hex[2 * sizeof(rnd) + 1], err[512];
    int64_t now = now_ms();
    size_t n;
    int rc;

    (void)tail;
    if ((s = ready(r)) == NULL)
        return;
    if (!api_content_type_json(r)) {
        http_error(r, 415, "unsupported_media_type", "send the message as application/json");
        return;
    }
    if ((rc = p2p_outbox_parse(r->body.data, r->body.len, &e, err, sizeof(err))) != PS_OK) {
        http_error(r, rc == PS_E_LIMIT ? 413 : 422, "invalid_message", "%s", err);
        return;
    }
    if (!is_partner(cfg, e.to)) {
        http_error(r, 422, "unknown_partner", "to: %s is not a configured partner", e.to);
        goto out;
    }
    if (p2p_expired(&e, now / 1000) || (e.has_expires && e.expires <= now / 1000)) {
        http_error(r, 422, "invalid_message", "expires: already past");
        goto out;
    }
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    /* NAME-HEX when that fits in an id, else HEX */
    n = strlen(cfg->p2p_name);
    if (n + 1 + strlen(hex) <= P2P_ID_MAX) {
        memcpy(e.id, cfg->p2p_name, n);
        e.id[n++] = '-';
    } else {
        n = 0;
    }
    memcpy(e.id + n, hex, strlen(hex) + 1);
    snprintf(e.from, sizeof(e.from), "%s", cfg->p2p_name);
    e.created = now / 1000;
    if ((rc = p2pstore_out_add(s, &e, r->officer, now, err, sizeof(err))) != PS_OK) {
        if (rc == PS_E_STORAGE)
            http_error(r, 503, "storage_unavailable", "%s", err);
        else
            http_error(r, 422, "invalid_message", "%s", err);
        goto out;
    }
    log_info("p2p outbox %s -> %s seq %llu %s %s queued by %s", e.id, e.to,
             (unsigned long long)e.seq, p2p_type_name(e.type), p2p_priority_name(e.priority),
             r->officer ? r->officer : "-");
    http_respond_json(r, 202, p2pstore_get(s, e.id, now));
    courier_wake();
out:
    p2p_envelope_free(&e);
}

void api_p2p_messages(struct request *r, const char *tail)
{
    struct p2pstore *s;
    char dir[8], num[32];
    long long after = 0, limit = P2P_LIST_DEF;
    json_t *list, *gaps = NULL;

    (void)tail;
    if ((s = ready(r)) == NULL)
        return;
    if (http_query_param(r, "dir", dir, sizeof(dir)) != 0 ||
        (strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0)) {
        http_error(r, 400, "invalid_request", "dir must be in or out");
        return;
    }
    if (http_query_param(r, "after", num, sizeof(num)) == 0 &&
        strnum_ll(num, 0, INT64_MAX, &after) != PS_OK) {
        http_error(r, 400, "invalid_request", "after must be a number >= 0");
        return;
    }
    if (http_query_param(r, "limit", num, sizeof(num)) == 0 &&
        strnum_ll(num, 1, P2P_LIST_MAX, &limit) != PS_OK) {
        http_error(r, 400, "invalid_request", "limit must be 1..%d", P2P_LIST_MAX);
        return;
    }
    if ((list = p2pstore_list(s, dir, (uint64_t)after, (int)limit, now_ms())) == NULL ||
        (strcmp(dir, "in") == 0 && (gaps = p2pstore_gaps(s)) == NULL)) {
        json_decref(list);
        http_error(r, 503, "storage_unavailable", "the p2p store failed");
        return;
    }
    http_respond_json(r, 200,
                      gaps ? json_pack("{s:o,s:o}", "messages", list, "gaps", gaps)
                           : json_pack("{s:o}", "messages", list));
}

void api_p2p_message(struct request *r, const char *tail)
{
    struct p2pstore *s;
    json_t *m;

    if ((s = ready(r)) == NULL)
        return;
    if (!p2p_id_ok(tail, strlen(tail)) || (m = p2pstore_get(s, tail, now_ms())) == NULL) {
        http_error(r, 404, "not_found", "no message %.64s", tail);
        return;
    }
    http_respond_json(r, 200, m);
}

/* ---- for api_p2p_stream.c ---- */

struct p2pstore *api_p2p_store(struct worker *w)
{
    return store(w);
}

struct p2pstore *api_p2p_ready(struct request *r)
{
    return ready(r);
}
