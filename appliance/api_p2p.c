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

/* Refuse: answer and log. */
#define REFUSE(r, status, code, ...)                                                               \
    do {                                                                                           \
        char m_[600];                                                                              \
        snprintf(m_, sizeof(m_), __VA_ARGS__);                                                     \
        http_error(r, status, code, "%s", m_);                                                     \
        log_warnx("p2p inbound from %s refused (%s): %s", (r)->partner, code, m_);                 \
    } while (0)

/* Answer the state of an existing message: its receipt, or 409. 1 if answered. */
static int in_answer_existing(struct request *r, const struct p2p_envelope *e,
                              enum p2p_in_state state, const struct buf *receipt, const char *other)
{
    switch (state) {
    case P2P_IN_SAME:
        log_info("p2p inbound %s/%s again: the stored receipt answers", e->from, e->id);
        http_respond(r, 200, JOSE_COMPACT, receipt->data, receipt->len);
        return 1;
    case P2P_IN_ID_CONFLICT:
        REFUSE(r, 409, "id_conflict",
               "message %s from %s was received before with other content (digest differs)", e->id,
               e->from);
        return 1;
    case P2P_IN_SEQ_CONFLICT:
        REFUSE(r, 409, "replay", "seq %llu of channel %s -> %s is message %s already",
               (unsigned long long)e->seq, e->from, e->to, other);
        return 1;
    case P2P_IN_NEW: break;
    }
    return 0;
}

static void receipt_signed(void *ctx, int status, const struct buf *jws, uint64_t seq,
                           const char *err)
{
    struct in_job *j = ctx;
    struct request *r = j->r;
    struct p2pstore *s = store(r->w);
    struct p2p_in m;
    struct buf stored;
    enum p2p_in_state state;
    char other[65] = "";
    uint64_t gap = 0;

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
    if (in_answer_existing(r, &j->e, state, &stored, other)) /* a concurrent twin won */
        goto out;
    if (gap > 0)
        log_warnx("p2p inbound %s/%s: seq %llu arrived with %llu seq(s) missing before it",
                  j->e.from, j->e.id, (unsigned long long)j->e.seq, (unsigned long long)gap);
    log_info("p2p inbound %s/%s seq %llu %s %s stored (ledger leaf %lld)", j->e.from, j->e.id,
             (unsigned long long)j->e.seq, p2p_type_name(j->e.type),
             p2p_priority_name(j->e.priority), (long long)j->ledger_index);
    http_respond(r, 200, JOSE_COMPACT, jws->data, jws->len);
out:
    buf_free(&stored);
    in_end(j);
}

static void in_sign_receipt(struct in_job *j)
{
    struct request *r = j->r;
    struct p2p_receipt rc;
    struct buf payload;
    char err[256];

    memset(&rc, 0, sizeof(rc));
    snprintf(rc.message_id, sizeof(rc.message_id), "%s", j->e.id);
    p2p_digest(j->v.payload, j->v.payload_len, rc.digest);
    rc.received_at = j->received_ms / 1000;
    rc.ledger_index = j->ledger_index;
    buf_init(&payload, P2P_RECEIPT_SZ);
    if (p2p_receipt_format(&rc, &payload, err, sizeof(err)) != PS_OK ||
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
    int n;

    j->ledger_index = -1;
    if (r->w->cfg->ledger_key == NULL) {
        in_sign_receipt(j);
        return;
    }
    n = snprintf(leaf, sizeof(leaf), "p2p-message %lld %s %s %s %llu %s\n",
                 (long long)j->received_ms, j->e.from, j->e.to, j->e.id,
                 (unsigned long long)j->e.seq, j->digest);
    if (n <= 0 || (size_t)n >= sizeof(leaf) ||
        kh_ledger(r->w->kh, IPC_LEDGER_APPEND, 0, 0, leaf, (size_t)n, leaf_done, j) != PS_OK) {
        http_error(r, 503, "keyholder_unavailable", "the ledger is unavailable");
        in_end(j);
    }
}

/* Verify and parse; answers and returns -1 on a refusal. */
static int in_check(struct request *r, struct in_job *j)
{
    const struct config *cfg = r->w->cfg;
    struct jws_verify_opts o;
    char err[512];
    int rc;

    memset(&o, 0, sizeof(o));
    o.algs = P2P_JWS_ALGS;
    o.roots = partner_store(r->w, r->partner);
    o.typ = P2P_ENVELOPE_TYP;
    o.max_len = r->max_body;
    if (o.roots == NULL) {
        REFUSE(r, 403, "not_a_partner", "no pinned root for partner %s", r->partner);
        return -1;
    }
    if ((rc = jws_verify(r->body.data, r->body.len, &o, &j->v, err, sizeof(err))) != PS_OK) {
        REFUSE(r, 400, "invalid_signature", "envelope: %s", err);
        return -1;
    }
    if ((rc = p2p_envelope_parse(j->v.payload, j->v.payload_len, &j->e, err, sizeof(err))) !=
        PS_OK) {
        if (strncmp(err, "body", 4) == 0)
            REFUSE(r, 422, "invalid_body", "%s", err);
        else
            REFUSE(r, rc == PS_E_LIMIT ? 413 : 400, "invalid_envelope", "%s", err);
        return -1;
    }
    if (strcmp(j->e.from, r->partner) != 0) {
        REFUSE(r, 403, "wrong_sender", "envelope.from is %s, but the caller is partner %s",
               j->e.from, r->partner);
        return -1;
    }
    if (strcmp(j->e.to, cfg->p2p_name) != 0) {
        REFUSE(r, 400, "wrong_recipient", "envelope.to is %s, but this office is %s", j->e.to,
               cfg->p2p_name);
        return -1;
    }
    return 0;
}

/* For a new message only (a stored one gets its receipt even after its expiry, so that a
 * sender whose first answer was lost learns that it arrived). */
static int in_check_time(struct request *r, struct in_job *j)
{
    char err[256];

    if (p2p_envelope_check_time(&j->e, j->received_ms / 1000, P2P_SKEW, err, sizeof(err)) !=
        PS_OK) {
        REFUSE(r, 400, "stale_envelope", "%s", err);
        return -1;
    }
    return 0;
}

void api_p2p_inbound(struct request *r, const char *tail)
{
    struct p2pstore *s;
    struct in_job *j;
    struct buf receipt;
    enum p2p_in_state state;
    uint8_t d[P2P_DIGEST_LEN];
    char other[65] = "";

    (void)tail;
    if ((s = ready(r)) == NULL)
        return;
    if (r->w->cfg->exchange_key == NULL) {
        http_error(r, 503, "p2p_not_configured", "no exchange_key: receipts cannot be signed");
        return;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    j->r = r;
    http_hold(r);
    j->received_ms = now_ms();
    if (in_check(r, j) != 0) {
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
    if (in_answer_existing(r, &j->e, state, &receipt, other)) {
        buf_free(&receipt);
        in_end(j);
        return;
    }
    buf_free(&receipt);
    if (in_check_time(r, j) != 0) {
        in_end(j);
        return;
    }
    in_record(j);
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
