/*
 * conn.c - TLS and HTTP/2 for one connection, and the request/response plumbing of http.h.
 */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "../certs/tls.h"
#include "addrtab.h"
#include "log.h"
#include "ratelimit.h"
#include "router.h"
#include "../protocol/strnum.h"

#define OUT_HIGH_WATER (64 * 1024)
#define OUT_MAX        (1024 * 1024)
#define READ_CHUNK     16384
#define READ_BUDGET    16 /* chunks read from one connection per wake-up */
#define BODY_PRESIZE   (256 * 1024)
#define BODY_GROWTH    (8 * 1024)         /* room for what a ROUTE_BODY_GROWS reply adds */
#define CONN_WINDOW    (16 * 1024 * 1024) /* HTTP/2 connection flow-control window */

enum conn_state { CS_HANDSHAKE, CS_H2, CS_HTTP1, CS_CLOSING };

struct conn {
    struct ev_item ev;
    struct conn *prev, *next;
    struct conn *flush_next;
    int queued_flush;
    struct worker *w;
    int fd;
    SSL *ssl;
    enum conn_state state;
    nghttp2_session *h2;
    struct client_id id;
    double deadline;      /* end of the TLS handshake (and of an HTTP/1 refusal) */
    double last_active;   /* accept, or the last request's start or end: idle time, eviction */
    struct rl_bucket ctl; /* control frames (SETTINGS, PING, WINDOW_UPDATE, ...) */
    char rl_key[160];     /* the client, for request_rate: "cn:CN" or "ip:ADDRESS" */
    char peer[CONN_PEER_MAX];
    int epollout;
    struct buf out;
    unsigned nstreams;
    struct stream *streams; /* every open stream, for teardown */
    int dead;               /* closed; freed by conn_reap at the end of the loop turn */
};

struct stream {
    struct stream *prev, *next;
    int32_t id;
    struct conn *c;
    struct request *req;
    struct buf resp;
    int dispatched;
    int discard_body;
    int headers_done, body_done; /* request headers / whole request received */
    double start;                /* monotonic time of the request's first frame */
    double resp_at;              /* when the response was queued; 0 before */
    long long content_length;    /* from the header, -1 if none */
    /* a streaming response (http_stream_begin) */
    int streaming;
    int stream_ended; /* http_stream_end or reset: no more writes; EOF once resp is drained */
    int deferred;     /* the data provider answered NGHTTP2_ERR_DEFERRED: resume on a write */
    int reset_sent;   /* RST_STREAM submitted: a reader that did not keep up */
    http_stream_close_fn on_close;
    void *close_ctx;
};

static void conn_close(struct conn *c);
static void conn_flush(struct conn *c);
static void body_refused(struct stream *st);

/* ---- request objects ---- */

void http_hold(struct request *r)
{
    r->refs++;
}

void http_release(struct request *r)
{
    if (--r->refs > 0)
        return;
    buf_free(&r->body);
    free(r);
}

static void metrics_count(struct request *r)
{
    struct worker_metrics *m = &r->w->m;
    int ri = r->route ? (int)(r->route - routes) : METRIC_ROUTES - 1;
    int cls = r->status >= 100 && r->status < 600 ? r->status / 100 : 0;
    double lat = mono_now() - r->start;
    int b = 0;

    if (ri >= METRIC_ROUTES)
        ri = METRIC_ROUTES - 1;
    m->requests[ri][cls]++;
    while (b < LAT_BUCKETS && lat > lat_bounds[b])
        b++;
    m->lat[ri][b]++;
    m->lat_sum[ri] += lat;
}

/*
 * Response bodies are not copied into nghttp2's frame buffer: the data providers answer
 * NGHTTP2_DATA_FLAG_NO_COPY, and send_data_cb appends the frame header and the bytes, straight
 * from st->resp, to c->out (during nghttp2_session_mem_send, so in frame order).
 */
static int send_data_cb(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *ud)
{
    struct stream *st = src->ptr;
    struct conn *c = ud;

    (void)s;
    /* no padding (no select_padding callback); room for the whole frame first, so that a
     * failure leaves nothing half-written */
    if (frame->data.padlen || length > buf_unread(&st->resp) ||
        buf_reserve(&c->out, 9 + length) != PS_OK || buf_append(&c->out, framehd, 9) != PS_OK ||
        buf_append(&c->out, buf_rptr(&st->resp), length) != PS_OK)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* c->out is far larger than a frame: a bug */
    buf_consume(&st->resp, length);
    /* nghttp2 would go on to the next frame within the same mem_send: stop at the
     * high-water mark so that conn_flush encrypts and sends first */
    return buf_unread(&c->out) >= OUT_HIGH_WATER ? NGHTTP2_ERR_PAUSE : 0;
}

static ssize_t resp_read_cb(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct stream *st = src->ptr;
    size_t n = buf_unread(&st->resp);

    (void)s;
    (void)sid;
    (void)out;
    (void)ud;
    if (n > len)
        n = len;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == buf_unread(&st->resp))
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void queue_flush(struct conn *c)
{
    if (c->queued_flush || c->dead)
        return;
    c->queued_flush = 1;
    c->flush_next = c->w->flushq;
    c->w->flushq = c;
}

/* ---- streaming responses ---- */

/*
 * What is buffered, as far as the flow-control window (len) allows; NGHTTP2_ERR_DEFERRED when
 * nothing is, until http_stream_write or http_stream_end resumes the stream. resp_at is the
 * time since which buffered bytes wait without progress (0: nothing waits), for send_timeout.
 */
static ssize_t stream_read_cb(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len,
                              uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct stream *st = src->ptr;
    size_t n = buf_unread(&st->resp);

    (void)s;
    (void)sid;
    (void)out;
    (void)ud;
    if (n == 0 && !st->stream_ended) {
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n > len)
        n = len;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY; /* send_data_cb consumes the n bytes */
    st->resp_at = buf_unread(&st->resp) > n ? mono_now() : 0;
    if (buf_unread(&st->resp) == n && st->stream_ended)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void stream_resume(struct stream *st)
{
    if (st->deferred) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->c->h2, st->id);
    }
    queue_flush(st->c);
}

/* Cut a streaming response off: RST_STREAM (CANCEL); on_close follows once it is sent. */
static void stream_reset(struct stream *st, const char *why)
{
    log_debug("resetting stream %d of %s: %s", st->id, st->c->rl_key, why);
    st->stream_ended = st->reset_sent = 1;
    st->resp_at = mono_now();
    nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    queue_flush(st->c);
}

int http_stream_begin(struct request *r, int status, const char *ctype, size_t max_buffered,
                      http_stream_close_fn on_close, void *ctx)
{
    struct stream *st = r->st;
    char sbuf[8];
    nghttp2_data_provider prd;
    nghttp2_nv nv[4];
    size_t nnv = 0;

    if (r->responded)
        return -1;
    if (strcmp(r->method, "HEAD") == 0) {
        http_respond(r, status, ctype, NULL, 0);
        return -1;
    }
    r->responded = 1;
    r->status = status;
    metrics_count(r);
    if (st == NULL || st->c == NULL || st->c->dead)
        return -1;
    snprintf(sbuf, sizeof(sbuf), "%d", status);
#define NV(n, v)                                                                                   \
    nv[nnv++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v),                 \
                             NGHTTP2_NV_FLAG_NO_COPY_NAME}
    NV(":status", sbuf);
    NV("content-type", ctype);
    NV("cache-control", "no-store");
    NV("x-request-id", r->request_id);
#undef NV
    buf_init(&st->resp, max_buffered);
    prd.source.ptr = st;
    prd.read_callback = stream_read_cb;
    if (nghttp2_submit_response(st->c->h2, st->id, nv, nnv, &prd) != 0) {
        nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        queue_flush(st->c);
        return -1;
    }
    st->streaming = 1;
    st->on_close = on_close;
    st->close_ctx = ctx;
    queue_flush(st->c);
    return 0;
}

int http_stream_write(struct request *r, const void *data, size_t len)
{
    struct stream *st = r->st;

    if (st == NULL || !st->streaming || st->stream_ended || st->c->dead)
        return -1;
    if (len == 0)
        return 0;
    buf_compact(&st->resp);
    if (buf_append(&st->resp, data, len) != PS_OK) {
        stream_reset(st, "its reader does not keep up (stream buffer full)");
        return -1;
    }
    if (st->resp_at == 0)
        st->resp_at = mono_now();
    stream_resume(st);
    return 0;
}

size_t http_stream_buffered(const struct request *r)
{
    return r->st && r->st->streaming ? buf_unread(&r->st->resp) : 0;
}

void http_stream_end(struct request *r)
{
    struct stream *st = r->st;

    if (st == NULL || !st->streaming || st->stream_ended || st->c->dead)
        return;
    st->stream_ended = 1;
    stream_resume(st);
}

/* The response; its body is body/len, or (take set) the bytes of *take, moved. */
static void respond(struct request *r, int status, const char *ctype, const void *body, size_t len,
                    struct buf *take)
{
    struct stream *st = r->st;
    char sbuf[8], lbuf[24];
    nghttp2_data_provider prd;
    nghttp2_nv nv[4 + HTTP_MAX_RESP_HEADERS];
    size_t nnv = 0;
    int head = strcmp(r->method, "HEAD") == 0;

    if (r->responded)
        return;
    r->responded = 1;
    r->status = status;
    metrics_count(r);
    if (st == NULL || st->c == NULL || st->c->dead)
        return;
    if (take)
        len = buf_unread(take);
    snprintf(sbuf, sizeof(sbuf), "%d", status);
    snprintf(lbuf, sizeof(lbuf), "%zu", len);
#define NV(n, v)                                                                                   \
    nv[nnv++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v),                 \
                             NGHTTP2_NV_FLAG_NO_COPY_NAME}
    NV(":status", sbuf);
    NV("content-type", ctype);
    NV("content-length", lbuf);
    NV("x-request-id", r->request_id);
    for (size_t h = 0; r->resp_headers && r->resp_headers[h] && h < 2 * HTTP_MAX_RESP_HEADERS;
         h += 2)
        NV(r->resp_headers[h], r->resp_headers[h + 1]);
#undef NV
    if (take) {
        buf_free(&st->resp);
        st->resp = *take;
        buf_init(take, take->max);
    } else {
        buf_init(&st->resp, len + 1);
    }
    if (!head && !take && buf_append(&st->resp, body, len) != PS_OK) {
        nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        queue_flush(st->c);
        return;
    }
    st->resp_at = mono_now();
    prd.source.ptr = st;
    prd.read_callback = resp_read_cb;
    if (nghttp2_submit_response(st->c->h2, st->id, nv, nnv, head || len == 0 ? NULL : &prd) != 0)
        nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    queue_flush(st->c);
}

void http_respond(struct request *r, int status, const char *ctype, const void *body, size_t len)
{
    respond(r, status, ctype, body, len, NULL);
}

void http_respond_buf(struct request *r, int status, const char *ctype, struct buf *body)
{
    respond(r, status, ctype, NULL, 0, body);
}

void http_respond_json(struct request *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s == NULL) {
        static const char oops[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the response\"}}";
        http_respond(r, 500, "application/json", oops, sizeof(oops) - 1);
    } else {
        size_t n = strlen(s);

        s[n] = '\n'; /* replace NUL for a final newline; length + 1 below */
        http_respond(r, status, "application/json", s, n + 1);
    }
    free(s);
    json_decref(j);
}

void http_retry_after(struct request *r, unsigned seconds)
{
    snprintf(r->retry_after, sizeof(r->retry_after), "%u", seconds);
    r->retry_hdr[0] = "retry-after";
    r->retry_hdr[1] = r->retry_after;
    r->retry_hdr[2] = NULL;
    r->resp_headers = r->retry_hdr;
}

void http_error(struct request *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    http_respond_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

int http_query_param(const struct request *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = r->query;

    while (p && *p) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);

        if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t o = 0;

            for (const char *q = p + nl + 1; q < end; q++) {
                int ch = *q;

                if (ch == '%') {
                    int hi, lo;

                    if (end - q < 3 || (hi = strnum_hexval(q[1])) < 0 ||
                        (lo = strnum_hexval(q[2])) < 0)
                        return -1;
                    ch = hi << 4 | lo;
                    q += 2;
                } else if (ch == '+') {
                    ch = ' ';
                }
                if (o + 1 >= outlen || ch == 0)
                    return -1;
                out[o++] = (char)ch;
            }
            out[o] = 0;
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

/* ---- dispatch ---- */

/* 16 hex digits: a random 32-bit prefix per process and a counter (unique, and cheap). */
static void request_id(char out[24])
{
    static const char hex[] = "0123456789abcdef";
    static uint32_t prefix, counter;
    uint64_t v;

    if (prefix == 0 && RAND_bytes((unsigned char *)&prefix, sizeof(prefix)) != 1)
        prefix = (uint32_t)getpid();
    v = (uint64_t)prefix << 32 | ++counter;
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[16] = 0;
}

/*
 * After the request headers: route, size and client-certificate checks. A request that
 * fails them is answered at once, and its body (if any) is discarded unread.
 */
/*
 * A hostile peer: tell it why in a GOAWAY (ENHANCE_YOUR_CALM) and stop reading; the caller
 * then closes the connection (callbacks return NGHTTP2_ERR_CALLBACK_FAILURE).
 */
static void conn_abuse(struct conn *c, const char *why)
{
    c->w->m.h2_abuse++;
    log_debug("closing the connection of %s: %s", c->rl_key, why);
    nghttp2_session_terminate_session(c->h2, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* No more requests on this connection: the ones already received are still answered. */
static void conn_goaway(struct conn *c)
{
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

static int admit_rate(struct stream *st)
{
    const struct config *cfg = st->c->w->cfg;

    if (cfg->request_rate == 0 || rl_table_take(st->c->w->rl, st->c->rl_key, cfg->request_rate,
                                                cfg->request_burst, st->start))
        return 1;
    st->c->w->m.rate_limited++;
    http_retry_after(st->req, 1); /* a token is back within 1 / request_rate s */
    http_error(st->req, 429, "rate_limited",
               "more than %u requests per second from this client; slow down", cfg->request_rate);
    return 0;
}

static int admit_cert(struct stream *st)
{
    struct request *r = st->req;

    if (r->cert == CERT_NONE) {
        http_error(r, 401, "client_certificate_required",
                   "this endpoint needs a TLS client certificate");
        conn_goaway(st->c);
        return 0;
    }
    if (r->cert == CERT_BAD) {
        http_error(r, 403, "client_certificate_rejected", "client certificate rejected: %s",
                   r->cert_error);
        conn_goaway(st->c);
        return 0;
    }
    if ((r->route->flags & ROUTE_TENANT) && r->tenant == NULL) {
        http_error(r, 403, "not_a_tenant",
                   "the client certificate (CN=%s) is not mapped to a tenant", r->peer_cn);
        return 0;
    }
    if ((r->route->flags & ROUTE_OFFICER) && r->officer == NULL) {
        http_error(r, 403, "not_an_officer",
                   "the client certificate (CN=%s) is not a local officer's", r->peer_cn);
        return 0;
    }
    if ((r->route->flags & ROUTE_PARTNER) && r->partner == NULL) {
        http_error(r, 403, "not_a_partner",
                   "the client certificate (CN=%s) is not a configured partner's", r->peer_cn);
        return 0;
    }
    if (r->partner && !(r->route->flags & (ROUTE_PARTNER | ROUTE_PARTNER_OK))) {
        http_error(r, 403, "partner_not_allowed", "partner %s may not use %s", r->partner, r->path);
        return 0;
    }
    return 1;
}

static void admit(struct stream *st)
{
    struct request *r = st->req;
    const struct cfg_route_limit *lim;
    int status = 404;

    st->discard_body = st->dispatched = 1; /* until admitted */
    if (r->header_error == 414) {
        http_error(r, 414, "uri_too_long", "the path or the query string is too long");
        return;
    }
    if (r->header_error) {
        http_error(r, 431, "header_too_large", "a request header or the header block is too large");
        return;
    }
    if (!admit_rate(st))
        return;
    if (r->method[0] == 0 || r->path[0] != '/') {
        http_error(r, 400, "bad_request", "missing :method or :path");
        return;
    }
    if ((r->route = router_match(r->method, r->path, &r->tail, &status)) == NULL) {
        if (status == 405)
            http_error(r, 405, "method_not_allowed", "%s is not allowed on %s", r->method, r->path);
        else
            http_error(r, 404, "not_found", "no such endpoint: %s", r->path);
        return;
    }
    if (!(r->route->flags & ROUTE_PUBLIC) && !admit_cert(st))
        return;
    lim = config_route_limit(st->c->w->cfg, r->route->name);
    if (lim && lim->headers >= 0 && r->header_bytes > (size_t)lim->headers) {
        http_error(r, 431, "header_too_large", "the header block is over %lld bytes for %s",
                   lim->headers, r->route->name);
        return;
    }
    r->max_body = lim && lim->body >= 0              ? (size_t)lim->body
                  : r->route->max_body == (size_t)-1 ? st->c->w->cfg->max_body
                  : r->route->max_body == ROUTE_BODY_EVIDENCE
                      ? st->c->w->cfg->evidence_max_total + 1024 * 1024
                      : r->route->max_body;
    r->body.max = r->max_body;
    if (st->content_length > 0 && (unsigned long long)st->content_length > r->max_body) {
        body_refused(st);
        return;
    }
    /* a declared length sizes the body buffer at once (up to BODY_PRESIZE: a client that
     * declares much and sends little holds no more than that), instead of doubling it up */
    if (st->content_length > 0) {
        size_t want = (size_t)st->content_length;

        /* want <= max_body (a larger content-length was refused above): no underflow */
        if ((r->route->flags & ROUTE_BODY_GROWS) && r->max_body - want >= BODY_GROWTH)
            want += BODY_GROWTH;
        if (buf_reserve(&r->body, want < BODY_PRESIZE ? want : BODY_PRESIZE) != PS_OK) {
            body_refused(st);
            return;
        }
    }
    st->discard_body = st->dispatched = 0;
}

/* The body is (or will be) larger than the route takes. */
static void body_refused(struct stream *st)
{
    st->discard_body = st->dispatched = 1;
    if (st->req->max_body == 0)
        http_error(st->req, 400, "unexpected_body", "%s takes no request body", st->req->path);
    else
        http_error(st->req, 413, "payload_too_large", "request body exceeds %zu bytes",
                   st->req->max_body);
}

/* The whole request is in: run the handler. */
static void dispatch(struct stream *st)
{
    st->dispatched = 1;
    st->req->route->fn(st->req, st->req->tail);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct conn *c = ud;
    struct stream *st;
    struct request *r;

    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    st = calloc(1, sizeof(*st));
    r = calloc(1, sizeof(*r));
    if (st == NULL || r == NULL) {
        free(st);
        free(r);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->id = f->hd.stream_id;
    st->c = c;
    st->start = c->last_active = mono_now();
    st->content_length = -1;
    st->req = r;
    r->st = st;
    r->w = c->w;
    r->refs = 1;
    r->start = st->start;
    r->cert = c->id.cert;
    r->cert_error = c->id.cert_error;
    r->tenant = c->id.tenant;
    r->officer = c->id.officer;
    r->partner = c->id.partner;
    snprintf(r->peer_cn, sizeof(r->peer_cn), "%s", c->id.cn);
    request_id(r->request_id);
    buf_init(&r->body, 0);
    c->nstreams++;
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

/* Copy a header value; on overflow remember the status to answer with (first one wins). */
static void copy_field(struct request *r, char *dst, size_t cap, const uint8_t *v, size_t n,
                       int status)
{
    if (n >= cap) {
        if (r->header_error == 0)
            r->header_error = status;
        n = 0;
    }
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    struct stream *st;
    struct request *r;

    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS ||
        (st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    r = st->req;
    r->header_bytes += nlen + vlen + 32; /* RFC 9113 section 6.5.2 accounting */
    if (r->header_bytes > st->c->w->cfg->max_header_size && r->header_error == 0)
        r->header_error = 431;
    if (r->header_bytes > 4 * (size_t)st->c->w->cfg->max_header_size) {
        /* far beyond SETTINGS_MAX_HEADER_LIST_SIZE: an HPACK bomb, not a mistake */
        conn_abuse(st->c, "header block far too large");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
        copy_field(r, r->method, sizeof(r->method), value, vlen, 431);
    } else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
        const uint8_t *q = memchr(value, '?', vlen);
        size_t pl = q ? (size_t)(q - value) : vlen;

        copy_field(r, r->path, sizeof(r->path), value, pl, 414);
        if (q)
            copy_field(r, r->query, sizeof(r->query), q + 1, vlen - pl - 1, 414);
    } else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
        copy_field(r, r->content_type, sizeof(r->content_type), value, vlen, 431);
    } else if (nlen == 13 && memcmp(name, "last-event-id", 13) == 0) {
        copy_field(r, r->last_event_id, sizeof(r->last_event_id), value, vlen, 431);
    } else if (nlen == 14 && memcmp(name, "content-length", 14) == 0) {
        /* nghttp2 checks it is a number and that the body matches it */
        st->content_length = 0;
        for (size_t i = 0; i < vlen && i < 18; i++)
            st->content_length = st->content_length * 10 + (value[i] - '0');
        if (vlen >= 18)
            st->content_length = (long long)1 << 60;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud)
{
    struct stream *st = nghttp2_session_get_stream_user_data(s, sid);

    (void)flags;
    (void)ud;
    if (st == NULL || st->discard_body)
        return 0;
    if (buf_append(&st->req->body, data, len) != PS_OK)
        body_refused(st);
    return 0;
}

/* Frames that cost us work but carry no request: flooding them is an attack. */
static int is_control_frame(const nghttp2_frame *f)
{
    switch (f->hd.type) {
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_WINDOW_UPDATE:
    case NGHTTP2_PRIORITY: return 1;
    case NGHTTP2_DATA: return f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM);
    default: return 0;
    }
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct conn *c = ud;
    struct stream *st;
    double rate = c->w->cfg->control_frame_rate;

    if (is_control_frame(f) && !rl_take(&c->ctl, rate, 10 * rate, mono_now())) {
        conn_abuse(c, "control frame flood");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    if ((st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        st->headers_done = 1;
        admit(st);
    }
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        st->body_done = 1;
        if (!st->dispatched)
            dispatch(st);
    }
    return 0;
}

static void stream_free(struct conn *c, struct stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->req->st = NULL;
    if (st->on_close)
        st->on_close(st->req, st->close_ctx);
    http_release(st->req);
    buf_free(&st->resp);
    free(st);
    c->nstreams--;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
    struct stream *st = nghttp2_session_get_stream_user_data(s, sid);
    struct conn *c = ud;

    (void)code;
    if (st == NULL)
        return 0;
    c->last_active = mono_now();
    nghttp2_session_set_stream_user_data(s, sid, NULL);
    stream_free(c, st);
    return 0;
}

static nghttp2_session_callbacks *h2_callbacks(void)
{
    static nghttp2_session_callbacks *cbs;

    if (cbs == NULL) {
        if (nghttp2_session_callbacks_new(&cbs) != 0)
            return NULL;
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_session_callbacks_set_send_data_callback(cbs, send_data_cb);
    }
    return cbs;
}

/* ---- connection I/O ---- */

static void set_epollout(struct conn *c, int on)
{
    struct epoll_event ev = {EPOLLIN | (on ? EPOLLOUT : 0), {.ptr = c}};

    if (c->epollout == on)
        return;
    c->epollout = on;
    if (epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        log_warn("epoll_ctl");
}

/*
 * Push c->out through TLS. The records collect in the write buffer (tls_attach_socket) and leave in
 * one write when it fills or all is encrypted, rather than one write per 16 KiB record.
 * Returns -1 if the connection failed.
 */
static int tls_write_out(struct conn *c)
{
    int r;

    while (buf_unread(&c->out)) {
        int n, e;

        ERR_clear_error();
        n = SSL_write(c->ssl, buf_rptr(&c->out), (int)buf_unread(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            set_epollout(c, 1);
            return 0;
        }
        return -1;
    }
    if ((r = tls_send(c->ssl)) < 0)
        return -1;
    set_epollout(c, r == 0);
    return 0;
}

static void conn_flush(struct conn *c)
{
    if (c->dead)
        return;
    /* Collect every frame nghttp2 has (up to the high-water mark) before writing, so that
     * the replies of one loop turn leave in as few TLS records and writes as possible. */
    while (c->state == CS_H2) {
        while (buf_unread(&c->out) < OUT_HIGH_WATER) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(c->h2, &p);

            if (n < 0) {
                conn_close(c);
                return;
            }
            if (n == 0)
                break;
            if (buf_append(&c->out, p, (size_t)n) != PS_OK) {
                conn_close(c);
                return;
            }
        }
        if (buf_unread(&c->out) < OUT_HIGH_WATER)
            break;
        if (tls_write_out(c) < 0) {
            conn_close(c);
            return;
        }
        if (buf_unread(&c->out)) /* the socket is full: EPOLLOUT brings us back */
            break;
    }
    if (tls_write_out(c) < 0) {
        conn_close(c);
        return;
    }
    if (c->state == CS_H2 && !nghttp2_session_want_read(c->h2) &&
        !nghttp2_session_want_write(c->h2) && buf_unread(&c->out) == 0 && tls_unsent(c->ssl) == 0)
        conn_close(c);
    else if (c->state == CS_HTTP1 && buf_unread(&c->out) == 0 && tls_unsent(c->ssl) == 0)
        conn_close(c);
}

static void start_http1_refusal(struct conn *c)
{
    static const char body[] =
        "{\"error\":{\"code\":\"http2_required\",\"message\":\"portseal speaks HTTP/2 only: "
        "use ALPN h2 (curl --http2)\"}}\n";
    char head[256], rid[24];
    int n;

    request_id(rid);
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: application/json\r\n"
                 "content-length: %zu\r\nx-request-id: %s\r\nconnection: close\r\n\r\n",
                 sizeof(body) - 1, rid);

    c->state = CS_HTTP1;
    c->w->m.http1_refused++;
    if (buf_append(&c->out, head, (size_t)n) != PS_OK ||
        buf_append(&c->out, body, sizeof(body) - 1) != PS_OK) {
        conn_close(c);
        return;
    }
    conn_flush(c);
}

static void start_h2(struct conn *c)
{
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->w->cfg->max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1024 * 1024},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->w->cfg->max_header_size},
    };
    const struct config *cfg = c->w->cfg;
    nghttp2_option *opt = NULL;

    tls_client_id(c->ssl, c->w->cfg, &c->w->partners, &c->id);
    /* request_rate is per client: by certificate when it is valid, else by address */
    if (c->id.cert == CERT_OK)
        snprintf(c->rl_key, sizeof(c->rl_key), "cn:%s", c->id.cn);
    else
        snprintf(c->rl_key, sizeof(c->rl_key), "ip:%s", c->peer);
    if (nghttp2_option_new(&opt) != 0) {
        conn_close(c);
        return;
    }
    nghttp2_option_set_max_send_header_block_length(opt, 16384);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_stream_reset_rate_limit(opt, cfg->reset_burst, cfg->reset_rate);
    nghttp2_option_set_max_continuations(opt, cfg->max_continuations);
    /* The connection window too: at the default 64 KiB, streams of a few KiB each stall on
     * it and a WINDOW_UPDATE (a record, a write, a wake-up of the client) follows every
     * 32 KiB read. What a client may send unread stays bounded by the streams' windows. */
    if (nghttp2_session_server_new2(&c->h2, h2_callbacks(), c, opt) != 0 ||
        nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0) {
        nghttp2_option_del(opt);
        conn_close(c);
        return;
    }
    nghttp2_option_del(opt);
    c->state = CS_H2;
    c->last_active = mono_now();
    conn_flush(c);
}

static void do_handshake(struct conn *c)
{
    int n, e;

    ERR_clear_error();
    n = SSL_do_handshake(c->ssl);
    if (n == 1) {
        c->w->m.tls_resumed += SSL_session_reused(c->ssl) == 1;
        if (tls_is_h2(c->ssl))
            start_h2(c);
        else
            start_http1_refusal(c);
        return;
    }
    e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) {
        set_epollout(c, 0);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        set_epollout(c, 1);
        return;
    }
    c->w->m.tls_failures++;
    log_debug("TLS handshake failed: %s", ERR_reason_error_string(ERR_peek_last_error()));
    conn_close(c);
}

static void do_read(struct conn *c)
{
    uint8_t chunk[READ_CHUNK];

    /* At most READ_BUDGET chunks per wake-up, so that a client that sends without pause
     * cannot keep the loop from the other connections; the socket stays readable and epoll
     * (level-triggered) brings us back. A record OpenSSL already holds is read out first. */
    for (int budget = READ_BUDGET; budget > 0 || SSL_has_pending(c->ssl); budget--) {
        int n, e;
        ssize_t used;

        ERR_clear_error();
        n = SSL_read(c->ssl, chunk, sizeof(chunk));
        if (n <= 0) {
            e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_READ)
                break;
            if (e == SSL_ERROR_WANT_WRITE) {
                set_epollout(c, 1);
                break;
            }
            conn_close(c);
            return;
        }
        if (c->state != CS_H2)
            continue; /* HTTP/1 refusal: ignore what the client sends */
        used = nghttp2_session_mem_recv(c->h2, chunk, (size_t)n);
        if (used < 0) {
            log_debug("HTTP/2 error: %s", nghttp2_strerror((int)used));
            conn_flush(c); /* send the GOAWAY nghttp2 queued */
            conn_close(c);
            return;
        }
        if (c->dead || !nghttp2_session_want_read(c->h2))
            break;
    }
    conn_flush(c);
}

void conn_on_event(struct conn *c, unsigned events)
{
    if (c->dead)
        return;
    if (c->state == CS_HANDSHAKE) {
        do_handshake(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        do_read(c);
    if (!c->dead && (events & EPOLLOUT))
        conn_flush(c);
}

/* Close an idle connection to make room: GOAWAY (NO_ERROR) if it speaks HTTP/2. */
static void conn_drop(struct conn *victim)
{
    if (victim->state == CS_H2)
        nghttp2_session_terminate_session(victim->h2, NGHTTP2_NO_ERROR);
    conn_flush(victim);
    conn_close(victim);
}

/*
 * The connection idle longest (of peer, or of anybody for NULL), to be closed to make room: no
 * request open (still in the TLS handshake, or between requests) and nothing left to send (a
 * stream closes once its last bytes are queued, before they reach a slow reader). A flood of
 * idle or half-open connections then pushes out its own members, not clients that are signing.
 */
static struct conn *conn_idlest(struct worker *w, const char *peer)
{
    struct conn *victim = NULL;

    for (struct conn *c = w->conns; c; c = c->next)
        if (c->nstreams == 0 && buf_unread(&c->out) == 0 && tls_unsent(c->ssl) == 0 &&
            (peer == NULL || strcmp(c->peer, peer) == 0) &&
            (victim == NULL || c->last_active < victim->last_active))
            victim = c;
    return victim;
}

void conn_peer_key(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    struct in6_addr net;
    int ok = 0;

    if (ss->ss_family == AF_INET) {
        ok = inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
                       (socklen_t)outlen) != NULL;
    } else if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a6)) {
        ok = inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)outlen) != NULL;
    } else if (ss->ss_family == AF_INET6) {
        net = *a6;
        memset(&net.s6_addr[8], 0, 8);
        if (inet_ntop(AF_INET6, &net, out, (socklen_t)outlen) != NULL &&
            strlen(out) + 4 <= outlen) {
            memcpy(out + strlen(out), "/64", 4);
            ok = 1;
        }
    }
    if (!ok)
        snprintf(out, outlen, "?");
}

static void peer_address(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        snprintf(out, outlen, "?");
    else
        conn_peer_key(&ss, out, outlen);
}

/* connection_rate: too many new connections from one address are closed before any TLS work. */
static int conn_admit_address(struct worker *w, const char *peer)
{
    char key[64];
    double rate = w->cfg->connection_rate;

    if (rate == 0)
        return 1;
    snprintf(key, sizeof(key), "ip:%s", peer);
    if (rl_table_take(w->conn_rl, key, rate, 2 * rate, mono_now()))
        return 1;
    w->m.conns_rate_limited++;
    return 0;
}

/* The new connection closes and counts as refused. */
static void conn_refuse(struct worker *w, struct conn *c, int fd)
{
    if (c) {
        SSL_free(c->ssl);
        free(c);
    }
    close(fd);
    w->m.conns_refused++;
}

/*
 * Room for a new connection: at its address's cap (max_connections_per_address) that address's
 * connection idle longest goes, nobody else's; at the worker's cap (max_connections) anybody's.
 * The victim is chosen first and closed only once the new connection stands, so that a failure
 * in between costs nobody a connection.
 */
void conn_new(struct worker *w, int fd)
{
    unsigned cap = w->cfg->max_connections_per_address;
    struct conn *c = NULL, *victim = NULL;
    struct epoll_event ev;
    char peer[CONN_PEER_MAX];
    int by_address = 0;

    peer_address(fd, peer, sizeof(peer));
    if (!conn_admit_address(w, peer)) {
        close(fd);
        return;
    }
    if (cap > 0 && addrtab_count(w->addrs, peer) >= cap) {
        victim = conn_idlest(w, peer);
        by_address = 1;
    } else if (w->nconns >= w->conn_cap) {
        victim = conn_idlest(w, NULL);
    }
    if (((by_address || w->nconns >= w->conn_cap) && victim == NULL) ||
        (c = calloc(1, sizeof(*c))) == NULL) {
        conn_refuse(w, c, fd);
        return;
    }
    {
        int one = 1;

        /* responses are small and latency matters: no Nagle delay */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->ev.kind = EV_CONN;
    c->w = w;
    c->fd = fd;
    memcpy(c->peer, peer, sizeof(peer));
    buf_init(&c->out, OUT_MAX);
    if ((c->ssl = SSL_new(w->ssl)) == NULL || tls_attach_socket(c->ssl, fd) != PS_OK) {
        conn_refuse(w, c, fd);
        return;
    }
    SSL_set_accept_state(c->ssl);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_refuse(w, c, fd);
        return;
    }
    if (victim) {
        if (by_address)
            w->m.conns_address_evicted++;
        else
            w->m.conns_evicted++;
        conn_drop(victim);
    }
    if (addrtab_add(w->addrs, peer) == 0) { /* cannot happen: sized for conn_cap + 1 */
        epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
        conn_refuse(w, c, fd);
        return;
    }
    c->last_active = mono_now();
    c->deadline = c->last_active + w->cfg->handshake_timeout;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    w->m.conns_accepted++;
}

/* Detach every stream's request so late keyholder replies find no stream. */
static void detach_streams(struct conn *c)
{
    while (c->streams)
        stream_free(c, c->streams);
}

static void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    detach_streams(c);
    if (c->state == CS_H2 || c->state == CS_HTTP1) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        (void)tls_send(c->ssl); /* the close_notify, if the socket takes it now */
    }
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    buf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->w->nconns--;
    addrtab_remove(c->w->addrs, c->peer);
    /* Later events of this epoll batch, or the flush queue, may still point at c. */
    c->prev = NULL;
    c->next = c->w->graveyard;
    c->w->graveyard = c;
}

void conn_reap(struct worker *w)
{
    while (w->graveyard) {
        struct conn *c = w->graveyard;

        w->graveyard = c->next;
        free(c);
    }
}

void conn_flush_queued(struct worker *w)
{
    while (w->flushq) {
        struct conn *c = w->flushq;

        w->flushq = c->flush_next;
        c->queued_flush = 0;
        conn_flush(c); /* does nothing for a closed connection */
    }
}

/*
 * The slow-request timeouts of one HTTP/2 connection's open streams. Returns what was too
 * slow when the connection must go, else NULL. A request body that is too slow gets 408 and
 * is discarded; the other cases end the connection (a stalled header block cannot be
 * interrupted on its stream, and a response nobody reads holds its stream's memory). A
 * streamed response (http_stream_begin) whose buffered bytes wait send_timeout without
 * progress is reset on its own first; the connection ends only if it is still there after
 * another send_timeout (the reset could not even be sent).
 */
static const char *stream_timeouts(struct conn *c, double now)
{
    const struct config *cfg = c->w->cfg;

    for (struct stream *st = c->streams; st; st = st->next) {
        if (!st->headers_done && now - st->start >= cfg->header_timeout)
            return "request headers too slow (header_timeout)";
        if (st->resp_at > 0 && now - st->resp_at >= cfg->send_timeout) {
            if (!st->streaming || st->reset_sent)
                return "response not taken (send_timeout)";
            c->w->m.timeouts++;
            stream_reset(st, "streamed response not taken (send_timeout)");
            continue;
        }
        if (st->headers_done && !st->body_done && !st->req->responded &&
            now - st->start >= cfg->body_timeout) {
            st->discard_body = st->dispatched = 1;
            c->w->m.timeouts++;
            http_error(st->req, 408, "request_timeout",
                       "the request body did not arrive within %u seconds", cfg->body_timeout);
        }
    }
    return NULL;
}

void conn_sweep(struct worker *w, double now)
{
    for (struct conn *c = w->conns, *next; c; c = next) {
        const char *why = NULL;

        next = c->next;
        if (c->state != CS_H2) {
            if (now >= c->deadline)
                conn_close(c);
            continue;
        }
        /* an open streamed response is an open stream: no idle_timeout while it lasts */
        if (c->nstreams == 0 && now - c->last_active >= w->cfg->idle_timeout)
            why = "idle (idle_timeout)";
        else if (c->nstreams > 0)
            why = stream_timeouts(c, now);
        if (why == NULL)
            continue;
        log_debug("closing the connection of %s: %s", c->rl_key, why);
        w->m.timeouts++;
        nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
        conn_flush(c);
        conn_close(c);
    }
}

void conn_close_all(struct worker *w)
{
    while (w->conns)
        conn_close(w->conns);
    conn_flush_queued(w);
    conn_reap(w);
}
