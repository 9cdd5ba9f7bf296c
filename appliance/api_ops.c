/*
 * api_ops.c - /healthz (alive), /readyz (keyholder, HSM session, audit storage), /metrics.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aeostore.h"
#include "api.h"
#include "courier.h"
#include "p2pstore.h"
#include "router.h"
#include "worker.h"

/* Officers: the state of each partner link, as the courier last checked it. */
void api_partners(struct request *r, const char *tail)
{
    (void)tail;
    http_respond_json(r, 200, json_pack("{s:o}", "partners", courier_links_json(r->w->cfg)));
}

/* Who the client certificate says the caller is: for pairing and support. */
void api_whoami(struct request *r, const char *tail)
{
    (void)tail;
    http_respond_json(r, 200,
                      json_pack("{s:s,s:s?,s:s?,s:s?}", "cn", r->peer_cn, "tenant", r->tenant,
                                "officer", r->officer, "partner", r->partner));
}

void api_healthz(struct request *r, const char *tail)
{
    (void)tail;
    http_respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void readyz_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct request *r = ctx;
    int kh = status == PS_OK && len >= 2, hsm = kh && p[0], st = kh && p[1];

    http_respond_json(r, hsm && st ? 200 : 503,
                      json_pack("{s:b,s:{s:b,s:b,s:b}}", "ready", hsm && st, "checks", "keyholder",
                                kh, "hsm", hsm, "storage", st));
    http_release(r);
}

void api_readyz(struct request *r, const char *tail)
{
    (void)tail;
    http_hold(r);
    if (kh_status(r->w->kh, readyz_done, r) != PS_OK)
        readyz_done(r, PS_E_UNAVAIL, NULL, 0);
}

/* "# HELP" and "# TYPE" of a family. Every name is in docs/metrics.md (metrics_doc_test). */
static int family(struct buf *b, const char *name, const char *type, const char *help)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int http_metrics_text(struct worker *w, struct buf *b)
{
    const struct worker_metrics *m = &w->m;
    static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    int r = PS_OK;

    r |= family(b, "portseal_http_requests_total", "counter",
                "HTTP requests answered by this worker, by route and status class.");
    for (int i = 0; routes[i].method && i < METRIC_ROUTES; i++)
        for (int c = 0; c < 6; c++)
            if (m->requests[i][c])
                r |= buf_printf(
                    b,
                    "portseal_http_requests_total{worker=\"%d\",route=\"%s\",code=\"%s\"} %llu\n",
                    w->id, routes[i].name, cls[c], m->requests[i][c]);
    r |= family(b, "portseal_http_request_seconds", "histogram",
                "Time from a request's headers to its response, by route.");
    for (int i = 0; routes[i].method && i < METRIC_ROUTES; i++) {
        unsigned long long cum = 0;

        for (int k = 0; k <= LAT_BUCKETS; k++) {
            cum += m->lat[i][k];
            if (k < LAT_BUCKETS)
                r |= buf_printf(b,
                                "portseal_http_request_seconds_bucket{worker=\"%d\",route=\"%s\","
                                "le=\"%g\"} %llu\n",
                                w->id, routes[i].name, lat_bounds[k], cum);
            else
                r |= buf_printf(b,
                                "portseal_http_request_seconds_bucket{worker=\"%d\",route=\"%s\","
                                "le=\"+Inf\"} %llu\n",
                                w->id, routes[i].name, cum);
        }
        r |= buf_printf(b, "portseal_http_request_seconds_sum{worker=\"%d\",route=\"%s\"} %g\n",
                        w->id, routes[i].name, m->lat_sum[i]);
        r |= buf_printf(b, "portseal_http_request_seconds_count{worker=\"%d\",route=\"%s\"} %llu\n",
                        w->id, routes[i].name, cum);
    }
    return r;
}

/* One family with this worker's sample: name{worker="ID"} v. */
static int worker_metric(struct buf *b, const struct worker *w, const char *name, const char *type,
                         const char *help, unsigned long long v)
{
    return family(b, name, type, help) | buf_printf(b, "%s{worker=\"%d\"} %llu\n", name, w->id, v);
}

static int worker_metrics_text(struct worker *w, struct buf *b)
{
    const struct worker_metrics *m = &w->m;
    int r = http_metrics_text(w, b);

    r |= worker_metric(b, w, "portseal_connections_open", "gauge",
                       "Open client connections of this worker.", w->nconns);
    r |= worker_metric(b, w, "portseal_connections_accepted_total", "counter",
                       "Client connections this worker accepted.", m->conns_accepted);
    r |= worker_metric(b, w, "portseal_connections_refused_total", "counter",
                       "New connections closed at once: at max_connections or "
                       "max_connections_per_address with every candidate busy.",
                       m->conns_refused);
    r |= worker_metric(b, w, "portseal_connections_rate_limited_total", "counter",
                       "New connections closed at once by connection_rate.", m->conns_rate_limited);
    r |=
        family(b, "portseal_connections_evicted_total", "counter",
               "Idle connections closed to make room for a new one, by the cap that was reached.") |
        buf_printf(b,
                   "portseal_connections_evicted_total{worker=\"%d\",reason=\"max_connections\"} "
                   "%llu\n"
                   "portseal_connections_evicted_total{worker=\"%d\",reason=\"max_connections_per_"
                   "address\"} %llu\n",
                   w->id, m->conns_evicted, w->id, m->conns_address_evicted);
    r |= worker_metric(b, w, "portseal_tls_handshake_failures_total", "counter",
                       "TLS handshakes that failed or timed out.", m->tls_failures);
    r |= worker_metric(b, w, "portseal_tls_resumed_total", "counter",
                       "TLS handshakes that resumed a session (tls_ticket_lifetime).",
                       m->tls_resumed);
    r |= worker_metric(b, w, "portseal_http1_refused_total", "counter",
                       "Connections without HTTP/2 (answered 505 and closed).", m->http1_refused);
    r |= worker_metric(b, w, "portseal_keyholder_pending", "gauge",
                       "Requests of this worker waiting for the keyholder.",
                       kh_client_pending(w->kh));
    r |= worker_metric(b, w, "portseal_p2p_streams_open", "gauge",
                       "Open GET /v1/p2p/stream responses of this worker.", api_p2p_stream_count());
    return r == PS_OK ? PS_OK : PS_E_LIMIT;
}

/* The P2P channel per partner, from state_dir/p2p/p2p.db (nothing when it cannot be read). */
static int p2p_metrics_text(struct worker *w, struct buf *b, int64_t now_ms)
{
    const struct config *cfg = w->cfg;
    struct p2p_peer_stats st[CFG_MAX_PARTNERS + 16];
    struct p2pstore *s;
    size_t n = 0;
    int r = PS_OK;

    if (cfg->npartners == 0 || (s = api_p2p_store(w)) == NULL)
        return PS_OK;
    for (size_t i = 0; i < cfg->npartners; i++) {
        memset(&st[n], 0, sizeof(st[n]));
        snprintf(st[n++].peer, sizeof(st[0].peer), "%s", cfg->partners[i].id);
    }
    if (p2pstore_stats(s, now_ms, st, sizeof(st) / sizeof(st[0]), &n) != PS_OK)
        return PS_OK;
    r |= family(b, "portseal_p2p_outbox_pending", "gauge",
                "Outbound messages not yet delivered (queued or being sent, not expired).");
    for (size_t i = 0; i < n; i++)
        r |= buf_printf(b, "portseal_p2p_outbox_pending{partner=\"%s\"} %llu\n", st[i].peer,
                        (unsigned long long)st[i].out_pending);
    r |= family(b, "portseal_p2p_outbox_oldest_age_seconds", "gauge",
                "Age of the oldest undelivered outbound message (0 when none).");
    for (size_t i = 0; i < n; i++)
        r |= buf_printf(b, "portseal_p2p_outbox_oldest_age_seconds{partner=\"%s\"} %.3f\n",
                        st[i].peer,
                        st[i].out_pending && now_ms > st[i].out_oldest_ms
                            ? (double)(now_ms - st[i].out_oldest_ms) / 1000.0
                            : 0.0);
    r |= family(b, "portseal_p2p_inbox_messages", "gauge", "Messages received from the partner.");
    for (size_t i = 0; i < n; i++)
        r |= buf_printf(b, "portseal_p2p_inbox_messages{partner=\"%s\"} %llu\n", st[i].peer,
                        (unsigned long long)st[i].in_messages);
    return r;
}

/* One gauge per configured partner (labels partner, origin); v[i] < 0 leaves partner i out. */
static int aeo_family(struct buf *b, const struct config *cfg, const char *name, const char *help,
                      const long long *v)
{
    int r = family(b, name, "gauge", help);

    for (size_t i = 0; i < cfg->npartners; i++)
        if (v[i] >= 0)
            r |= buf_printf(b, "%s{partner=\"%s\",origin=\"%s\"} %lld\n", name, cfg->partners[i].id,
                            cfg->partners[i].aeo_origin, v[i]);
    return r;
}

/* AEO register copies per partner origin, from state_dir/aeo/register.db. */
static int aeo_metrics_text(struct worker *w, struct buf *b, int64_t now)
{
    const struct config *cfg = w->cfg;
    long long applied[CFG_MAX_PARTNERS], notified[CFG_MAX_PARTNERS], lag[CFG_MAX_PARTNERS],
        age[CFG_MAX_PARTNERS];
    struct aeostore *s;
    int r = PS_OK;

    if (cfg->npartners == 0 || (s = api_aeo_store(w)) == NULL)
        return PS_OK;
    for (size_t i = 0; i < cfg->npartners; i++) {
        struct aeostore_origin_state st;

        if (aeostore_origin_state(s, cfg->partners[i].aeo_origin, &st) != PS_OK)
            return PS_OK;
        applied[i] = (long long)st.last_seq;
        notified[i] = (long long)st.notified_seq;
        lag[i] = st.notified_seq > st.last_seq ? (long long)(st.notified_seq - st.last_seq) : 0;
        age[i] = st.fetched_at <= 0 ? -1 : now > st.fetched_at ? now - st.fetched_at : 0;
    }
    r |= aeo_family(b, cfg, "portseal_aeo_applied_seq",
                    "Last seq of the partner's AEO register applied to our copy.", applied);
    r |= aeo_family(b, cfg, "portseal_aeo_notified_seq",
                    "Highest seq the partner announced with POST /v1/aeo/notify.", notified);
    r |= aeo_family(b, cfg, "portseal_aeo_lag_records",
                    "Announced records not applied yet (notified seq - applied seq, at least 0).",
                    lag);
    r |= aeo_family(
        b, cfg, "portseal_aeo_fetch_age_seconds",
        "Seconds since the partner's feed was last fetched and applied (absent: never).", age);
    return r;
}

static void metrics_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct request *r = ctx;
    struct timespec ts;
    int64_t now_ms;
    struct buf b;

    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    buf_init(&b, 4 * 1024 * 1024);
    if (family(&b, "portseal_keyholder_up", "gauge", "1 if the keyholder answered this scrape.") !=
            PS_OK ||
        buf_printf(&b, "portseal_keyholder_up %d\n", status == PS_OK) != PS_OK ||
        (status == PS_OK && len >= 2 && buf_append(&b, p + 2, len - 2) != PS_OK) ||
        worker_metrics_text(r->w, &b) != PS_OK || p2p_metrics_text(r->w, &b, now_ms) != PS_OK ||
        aeo_metrics_text(r->w, &b, ts.tv_sec) != PS_OK)
        http_error(r, 500, "internal", "metrics too large");
    else
        http_respond(r, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_free(&b);
    http_release(r);
}

void api_metrics(struct request *r, const char *tail)
{
    (void)tail;
    http_hold(r);
    if (kh_status(r->w->kh, metrics_done, r) != PS_OK)
        metrics_done(r, PS_E_UNAVAIL, NULL, 0);
}
