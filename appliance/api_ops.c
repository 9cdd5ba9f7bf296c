/*
 * api_ops.c - /healthz (alive), /readyz (keyholder, HSM session, audit storage), /metrics.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "courier.h"
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

static int worker_metrics_text(struct worker *w, struct buf *b)
{
    const struct worker_metrics *m = &w->m;
    static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    int r = PS_OK;

    r |= buf_printf(b, "# TYPE portseal_http_requests_total counter\n");
    for (int i = 0; routes[i].method && i < METRIC_ROUTES; i++)
        for (int c = 0; c < 6; c++)
            if (m->requests[i][c])
                r |= buf_printf(
                    b,
                    "portseal_http_requests_total{worker=\"%d\",route=\"%s\",code=\"%s\"} %llu\n",
                    w->id, routes[i].name, cls[c], m->requests[i][c]);
    r |= buf_printf(b, "# TYPE portseal_http_request_seconds histogram\n");
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
    r |= buf_printf(
        b,
        "# TYPE portseal_connections_open gauge\nportseal_connections_open{worker=\"%d\"} %u\n"
        "# TYPE portseal_connections_accepted_total "
        "counter\nportseal_connections_accepted_total{worker=\"%d\"} %llu\n"
        "# TYPE portseal_connections_refused_total "
        "counter\nportseal_connections_refused_total{worker=\"%d\"} %llu\n"
        "# TYPE portseal_tls_handshake_failures_total "
        "counter\nportseal_tls_handshake_failures_total{worker=\"%d\"} %llu\n"
        "# TYPE portseal_http1_refused_total counter\nportseal_http1_refused_total{worker=\"%d\"} "
        "%llu\n"
        "# TYPE portseal_keyholder_pending gauge\nportseal_keyholder_pending{worker=\"%d\"} %zu\n",
        w->id, w->nconns, w->id, m->conns_accepted, w->id, m->conns_refused, w->id, m->tls_failures,
        w->id, m->http1_refused, w->id, kh_client_pending(w->kh));
    r |= buf_printf(b,
                    "# TYPE portseal_p2p_streams_open gauge\n"
                    "portseal_p2p_streams_open{worker=\"%d\"} %u\n",
                    w->id, api_p2p_stream_count());
    return r == PS_OK ? PS_OK : PS_E_LIMIT;
}

static void metrics_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct request *r = ctx;
    struct buf b;

    buf_init(&b, 4 * 1024 * 1024);
    if (buf_printf(&b, "# TYPE portseal_keyholder_up gauge\nportseal_keyholder_up %d\n",
                   status == PS_OK) != PS_OK ||
        (status == PS_OK && len >= 2 && buf_append(&b, p + 2, len - 2) != PS_OK) ||
        worker_metrics_text(r->w, &b) != PS_OK)
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
