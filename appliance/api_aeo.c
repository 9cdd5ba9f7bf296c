/*
 * api_aeo.c - AEO mutual recognition (issue 5; DESIGN §4): our register and its signed feed.
 *
 *   POST /v1/aeo/register            officers: import our register (text/csv or
 *                                    application/x-ndjson); all or nothing
 *   GET  /v1/aeo/feed?after=&limit=  partners: our changes after seq `after` as a JWS
 *                                    (typ aeo-batch+jws, ES256 with exchange_key, flattened
 *                                    JSON; &form=compact for the compact serialisation)
 *   POST /v1/aeo/notify              partners: {"origin","seq"}: the caller has news
 *   GET  /v1/aeo/digest?seq=         partners: our register's digest as of seq (divergence
 *                                    check)
 *   GET  /v1/aeo/operators/{aeo_id}  officers: status at ?at= (a date or a timestamp), with
 *                                    provenance; our register first, then partners' copies
 *
 * Storage is appliance/aeostore.h (state_dir/aeo/register.db), opened on first use after the
 * privilege drop.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../protocol/strnum.h"
#include "../protocol/timefmt.h"
#include "aeostore.h"
#include "courier.h"
#include "api.h"
#include "log.h"
#include "worker.h"

#define FEED_LIMIT_DEFAULT 1000

static struct aeostore *store(struct worker *w)
{
    static struct aeostore *s;
    char err[512];

    if (s != NULL)
        return s;
    if (aeostore_open(w->cfg->state_dir, w->cfg->aeo_origin, NULL, &s, err, sizeof(err)) != PS_OK) {
        log_warnx("%s", err);
        return s = NULL;
    }
    aeostore_set_id_owner(s, config_aeo_id_owner, w->cfg); /* aeo_id_prefix */
    return s;
}

static struct aeostore *store_or_503(struct request *r)
{
    struct aeostore *s = store(r->w);

    if (s == NULL)
        http_error(r, 503, "storage_unavailable", "the AEO register cannot be opened");
    return s;
}

/* Content type without parameters is ctype? */
static int ctype_is(const struct request *r, const char *ctype)
{
    size_t n = strlen(ctype);

    return strncmp(r->content_type, ctype, n) == 0 &&
           (r->content_type[n] == 0 || r->content_type[n] == ';');
}

/* ---- POST /v1/aeo/register ---- */

void api_aeo_register(struct request *r, const char *tail)
{
    struct aeo_id_rules rules;
    struct aeo_list l = {0};
    struct aeostore_import_result res;
    struct aeostore *s;
    char err[512] = "";
    int rc;

    (void)tail;
    aeo_id_rules_default(&rules);
    if (ctype_is(r, "text/csv"))
        rc = aeo_import_csv(r->body.data, r->body.len, &rules, &l, err, sizeof(err));
    else if (ctype_is(r, "application/x-ndjson") || ctype_is(r, "application/jsonl"))
        rc = aeo_import_jsonl(r->body.data, r->body.len, &rules, &l, err, sizeof(err));
    else {
        http_error(r, 415, "unsupported_media_type",
                   "send the register as text/csv or application/x-ndjson (got %.64s)",
                   r->content_type[0] ? r->content_type : "none");
        return;
    }
    if (rc != PS_OK) {
        if (rc == PS_E_NOMEM)
            http_error(r, 503, "out_of_memory", "out of memory reading the register");
        else
            http_error(r, rc == PS_E_LIMIT ? 413 : 400, "invalid_register", "nothing imported: %s",
                       err);
        goto out;
    }
    if ((s = store_or_503(r)) == NULL)
        goto out;
    if ((rc = aeostore_import(s, &l, (int64_t)time(NULL), r->officer, &res, err, sizeof(err))) !=
        PS_OK) {
        log_warnx("AEO import by %s failed: %s", r->officer, err);
        http_error(r, rc == PS_E_INVAL ? 400 : 503,
                   rc == PS_E_INVAL ? "invalid_register" : "storage_unavailable",
                   "nothing imported: %s", err);
        goto out;
    }
    log_info("AEO import by %s: %zu records, %zu changes, register at seq %llu", r->officer,
             res.imported, res.changed, (unsigned long long)res.last_seq);
    if (res.changed > 0)
        courier_wake(); /* the courier notifies the partners */
    http_respond_json(r, 200,
                      json_pack("{s:I,s:I,s:I,s:I}", "imported", (json_int_t)res.imported,
                                "changed", (json_int_t)res.changed, "first_seq",
                                (json_int_t)res.first_seq, "last_seq", (json_int_t)res.last_seq));
out:
    aeo_list_free(&l);
}

/* ---- GET /v1/aeo/feed ---- */

struct feed_job {
    struct request *r;
    enum jws_form form;
};

static void feed_signed(void *ctx, int status, const struct buf *jws, uint64_t seq, const char *err)
{
    struct feed_job *j = ctx;
    struct request *r = j->r;

    (void)seq;
    if (status != PS_OK) {
        log_warnx("AEO feed for %s not signed: %s", r->partner ? r->partner : "?", err);
        http_error(r, 503, "signing_unavailable", "the feed could not be signed: %s", err);
    } else {
        http_respond(r, 200, j->form == JWS_COMPACT ? "application/jose" : "application/jose+json",
                     jws->data, jws->len);
    }
    http_release(r);
    free(j);
}

/* Query number name in lo..hi into *v (unchanged when absent); answers 400 and returns -1. */
static int query_num(struct request *r, const char *name, long long lo, long long hi, long long *v)
{
    char s[32];

    if (http_query_param(r, name, s, sizeof(s)) != 0)
        return 0;
    if (strnum_ll(s, lo, hi, v) != PS_OK) {
        http_error(r, 400, "invalid_request", "%s must be an integer from %lld to %lld", name, lo,
                   hi);
        return -1;
    }
    return 0;
}

void api_aeo_feed(struct request *r, const char *tail)
{
    struct aeo_list l = {0};
    struct feed_job *j = NULL;
    struct aeostore *s;
    struct buf payload;
    long long after = 0, limit = FEED_LIMIT_DEFAULT;
    uint64_t last;
    char form[16], err[512] = "";
    int rc;

    (void)tail;
    buf_init(&payload, AEO_BATCH_MAX_LEN);
    if (query_num(r, "after", 0, (long long)AEO_SEQ_MAX, &after) != 0 ||
        query_num(r, "limit", 1, AEO_BATCH_MAX_RECORDS, &limit) != 0)
        goto out;
    if (http_query_param(r, "form", form, sizeof(form)) != 0)
        snprintf(form, sizeof(form), "flattened");
    if (strcmp(form, "flattened") != 0 && strcmp(form, "compact") != 0) {
        http_error(r, 400, "invalid_request", "form must be flattened or compact");
        goto out;
    }
    if ((s = store_or_503(r)) == NULL)
        goto out;
    if (aeostore_own_last(s, &last) != PS_OK ||
        aeostore_own_since(s, (uint64_t)after, (size_t)limit, &l) != PS_OK) {
        http_error(r, 503, "storage_unavailable", "the AEO register cannot be read");
        goto out;
    }
    if ((uint64_t)after > last) {
        /* the caller has seen changes we do not have: our register went back (a restore?) */
        log_warnx("AEO feed: partner %s asks after seq %lld, the register ends at %llu", r->partner,
                  after, (unsigned long long)last);
        http_error(r, 409, "after_beyond_end", "after=%lld but this register ends at seq %llu",
                   after, (unsigned long long)last);
        goto out;
    }
    if (aeo_batch_format(r->w->cfg->aeo_origin, (uint64_t)after + 1, l.rec, l.n, &payload, err,
                         sizeof(err)) != PS_OK) {
        log_warnx("AEO feed: %s", err);
        http_error(r, 500, "internal_error", "the batch could not be written");
        goto out;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_error(r, 503, "out_of_memory", "out of memory");
        goto out;
    }
    j->r = r;
    j->form = strcmp(form, "compact") == 0 ? JWS_COMPACT : JWS_FLATTENED;
    http_hold(r);
    if ((rc = api_jws_sign(r->w, payload.data, payload.len, AEO_BATCH_TYP, j->form, feed_signed, j,
                           err, sizeof(err))) != PS_OK) {
        http_error(r, 503, rc == PS_E_UNAVAIL ? "exchange_key_missing" : "signing_unavailable",
                   "%s", err);
        http_release(r);
        free(j);
    }
out:
    aeo_list_free(&l);
    buf_free(&payload);
}

/* ---- GET /v1/aeo/digest?seq= ---- */

/* Partners: the digest of our register as it was at seq (default: now), which their copy must
 * match once it has applied up to seq. Not signed: the mutual TLS channel says who answers, and
 * a wrong digest can only cause a re-sync of signed batches. */
void api_aeo_digest(struct request *r, const char *tail)
{
    uint8_t d[AEO_DIGEST_LEN];
    char hex[2 * AEO_DIGEST_LEN + 1];
    struct aeostore *s;
    long long seq = -1;
    uint64_t last;

    (void)tail;
    if (query_num(r, "seq", 0, (long long)AEO_SEQ_MAX, &seq) != 0 || (s = store_or_503(r)) == NULL)
        return;
    if (aeostore_own_last(s, &last) != PS_OK) {
        http_error(r, 503, "storage_unavailable", "the AEO register cannot be read");
        return;
    }
    if (seq < 0)
        seq = (long long)last;
    if ((uint64_t)seq > last) {
        http_error(r, 409, "after_beyond_end", "seq=%lld but this register ends at seq %llu", seq,
                   (unsigned long long)last);
        return;
    }
    if (aeostore_digest_upto(s, NULL, (uint64_t)seq, d) != PS_OK) {
        http_error(r, 503, "storage_unavailable", "the AEO register cannot be read");
        return;
    }
    strnum_hex(d, sizeof(d), hex);
    http_respond_json(r, 200,
                      json_pack("{s:s,s:I,s:I,s:s}", "origin", r->w->cfg->aeo_origin, "seq",
                                (json_int_t)seq, "last_seq", (json_int_t)last, "digest", hex));
}

/* ---- POST /v1/aeo/notify ---- */

void api_aeo_notify(struct request *r, const char *tail)
{
    const struct cfg_partner *p = config_partner(r->w->cfg, r->partner);
    struct aeostore_origin_state st;
    struct aeostore *s;
    json_error_t jerr;
    const char *origin;
    json_int_t seq;
    json_t *root;

    (void)tail;
    if ((root = api_json_body(r, "the notification")) == NULL)
        return;
    if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:s,s:I}", "origin", &origin, "seq", &seq) !=
        0) {
        http_error(r, 400, "invalid_request", "%s (want {\"origin\": str, \"seq\": int})",
                   jerr.text);
        goto out;
    }
    if (seq < 1 || (unsigned long long)seq > AEO_SEQ_MAX) {
        http_error(r, 400, "invalid_request", "seq must be from 1 to 2^53 - 1");
        goto out;
    }
    if (p == NULL || strcmp(origin, p->aeo_origin) != 0) {
        log_warnx("AEO notify from partner %s names origin %.64s", r->partner, origin);
        http_error(r, 403, "wrong_origin", "partner %s publishes origin %s, not %.64s", r->partner,
                   p ? p->aeo_origin : "?", origin);
        goto out;
    }
    if ((s = store_or_503(r)) == NULL)
        goto out;
    if (aeostore_notify(s, r->partner, origin, (uint64_t)seq, (int64_t)time(NULL)) != PS_OK ||
        aeostore_origin_state(s, origin, &st) != PS_OK) {
        http_error(r, 503, "storage_unavailable", "the notification could not be stored");
        goto out;
    }
    http_respond_json(r, 202,
                      json_pack("{s:s,s:I,s:I}", "origin", origin, "seq", seq, "last_applied",
                                (json_int_t)st.last_seq));
    if ((uint64_t)seq > st.last_seq)
        courier_wake(); /* the puller fetches now */
out:
    json_decref(root);
}

/* ---- GET /v1/aeo/operators/{aeo_id} ---- */

/* ?at=YYYY-MM-DD (the end of that UTC day) or YYYY-MM-DDTHH:MM:SSZ; default now. */
static int lookup_time(struct request *r, int64_t *at)
{
    char s[40];
    int64_t days;

    *at = (int64_t)time(NULL);
    if (http_query_param(r, "at", s, sizeof(s)) != 0)
        return 0;
    if (time_parse_date(s, strlen(s), &days) == PS_OK) {
        *at = days * 86400 + 86399;
        return 0;
    }
    if (time_parse_stamp(s, strlen(s), at) == PS_OK)
        return 0;
    http_error(r, 400, "invalid_request", "at must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    return -1;
}

static json_t *stamp_json(int64_t t)
{
    char s[TIME_STAMP_LEN + 1];

    return t > 0 && time_format_stamp(t, s) == PS_OK ? json_string(s) : json_null();
}

static json_t *answer_json(const struct aeostore_answer *a, const char *id, int64_t at)
{
    json_t *j = json_pack("{s:s,s:s,s:o}", "aeo_id", id, "status", aeo_state_name(a->state), "at",
                          stamp_json(at));
    json_t *rec = json_null(), *prov;
    struct buf b;

    buf_init(&b, 2 * AEO_LINE_MAX);
    if (a->decided && aeo_record_format(&a->rec, &b) == PS_OK) {
        json_decref(rec);
        rec = json_loadb((const char *)b.data, b.len, 0, NULL);
    }
    buf_free(&b);
    prov = json_pack("{s:s,s:s,s:o,s:s?,s:o,s:s?}", "origin", a->origin, "register",
                     a->own ? "own" : "partner", "seq",
                     a->decided ? json_integer((json_int_t)a->rec.seq) : json_null(), "signer",
                     a->own || !a->decided ? NULL : a->signer, "fetched_at",
                     a->own ? json_null() : stamp_json(a->fetched_at), "partner",
                     a->own || !a->decided ? NULL : a->partner);
    if (a->own && a->imported_by[0])
        json_object_set_new(prov, "imported_by", json_string(a->imported_by));
    json_object_set_new(j, "record", rec ? rec : json_null());
    json_object_set_new(j, "provenance", prov);
    return j;
}

void api_aeo_operator(struct request *r, const char *tail)
{
    struct aeo_id_rules rules;
    struct aeostore_answer a;
    struct aeostore *s;
    char why[256];
    int64_t at;
    int rc;

    aeo_id_rules_default(&rules);
    if (aeo_id_check(&rules, tail, strlen(tail), why, sizeof(why)) != PS_OK) {
        http_error(r, 400, "invalid_aeo_id", "%.40s: %s", tail, why);
        return;
    }
    if (lookup_time(r, &at) != 0 || (s = store_or_503(r)) == NULL)
        return;
    rc = aeostore_lookup(s, tail, at, &a);
    if (rc == PS_E_NOTFOUND) {
        http_error(r, 404, "unknown_operator", "%s is in no register this appliance holds", tail);
        return;
    }
    if (rc != PS_OK) {
        http_error(r, 503, "storage_unavailable", "the AEO register cannot be read");
        return;
    }
    http_respond_json(r, 200, answer_json(&a, tail, at));
}

struct aeostore *api_aeo_store(struct worker *w)
{
    return store(w);
}
