/*
 * http.h - what a handler sees of an HTTP/2 request, and how it answers.
 *
 * A request belongs to its stream. A handler that answers later (after a keyholder reply)
 * takes a reference with http_hold and drops it with http_release after answering; if the
 * client went away meanwhile, http_respond* does nothing. Handlers never see nghttp2.
 */
#ifndef PS_HTTP_H
#define PS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../protocol/buf.h"

struct worker;
struct stream;

enum cert_state { CERT_NONE, CERT_OK, CERT_BAD };

struct request {
    struct stream *st; /* NULL once the stream is gone */
    struct worker *w;
    int refs;
    char method[8];
    char path[512]; /* without the query */
    char query[1024];
    char content_type[128];
    char request_id[24];
    struct buf body;
    size_t max_body;
    /* client identity, from the TLS connection */
    enum cert_state cert;
    const char *cert_error; /* static text when cert == CERT_BAD */
    const char *tenant;     /* tenant id when the certificate maps to one */
    const char *officer;    /* local officer id, likewise */
    const char *partner;    /* partner id when the certificate chains to its pinned root */
    char peer_cn[128];
    int responded;
    int status;   /* status sent */
    double start; /* monotonic seconds */
    const struct route *route;
    const char *tail;       /* rest of the path after a prefix route */
    int header_error;       /* 414 or 431 when a header did not fit */
    size_t header_bytes;    /* header block size, RFC 9113 accounting */
    char last_event_id[32]; /* the Last-Event-ID header (server-sent events), "" if none */
    /* more response headers for http_respond: name, value, ..., NULL (static strings, at most
     * HTTP_MAX_RESP_HEADERS pairs); the status page's security headers */
    const char *const *resp_headers;
    /* api_kh_error's retry-after for a 429 (resp_headers points at retry_hdr then) */
    char retry_after[12];
    const char *retry_hdr[3];
};
#define HTTP_MAX_RESP_HEADERS 8

void http_hold(struct request *r);
void http_release(struct request *r);
/* Send a response; body is copied. */
void http_respond(struct request *r, int status, const char *ctype, const void *body, size_t len);
/* The same with the bytes of *body, which it takes (body is left empty). */
void http_respond_buf(struct request *r, int status, const char *ctype, struct buf *body);
/* Send a JSON response and decref j. */
void http_respond_json(struct request *r, int status, json_t *j);
/* Add "retry-after: SECONDS" to the response about to be sent (a 429 or 503). */
void http_retry_after(struct request *r, unsigned seconds);
/* {"error":{"code":code,"message":...}} */
void http_error(struct request *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Value of a query parameter (URL-decoded) into out; 0 if present, -1 if absent or too long. */
int http_query_param(const struct request *r, const char *name, char *out, size_t outlen);

/*
 * Streaming responses (server-sent events): the response stays open and the handler appends
 * to it over time; nghttp2 sends what is buffered as the client's flow-control windows allow.
 *
 * http_stream_begin sends the headers (status, ctype, cache-control: no-store, no
 * content-length) and opens a buffer of at most max_buffered bytes. on_close(r, ctx) is called
 * exactly once when the stream goes away for any reason: the client reset it or closed the
 * connection, the connection was closed (timeouts, worker shutdown), or after http_stream_end
 * once everything was sent. r is valid during that call and freed right after it: the handler
 * keeps no reference of its own (no http_hold). Returns 0 when the stream is open; -1 when it
 * is not (a HEAD request, answered with the headers only; the client already gone; no
 * memory), and then on_close is never called.
 *
 * http_stream_write appends len bytes. Returns 0, or -1 when the stream is no longer writable
 * (ended, reset, gone) or when the bytes do not fit: a reader that lets the buffer fill is cut
 * off with RST_STREAM (CANCEL). A buffered stream that makes no progress for send_timeout
 * seconds is reset the same way (and its connection closed if even that cannot be sent). An
 * open stream keeps its connection from idle_timeout.
 *
 * http_stream_buffered: bytes not yet handed to nghttp2 (for producers that wait for room).
 * http_stream_end: end the stream after what is buffered.
 */
typedef void (*http_stream_close_fn)(struct request *r, void *ctx);
int http_stream_begin(struct request *r, int status, const char *ctype, size_t max_buffered,
                      http_stream_close_fn on_close, void *ctx);
int http_stream_write(struct request *r, const void *data, size_t len);
size_t http_stream_buffered(const struct request *r);
void http_stream_end(struct request *r);

#endif
