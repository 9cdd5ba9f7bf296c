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
    const char *tail;    /* rest of the path after a prefix route */
    int header_error;    /* 414 or 431 when a header did not fit */
    size_t header_bytes; /* header block size, RFC 9113 accounting */
};

void http_hold(struct request *r);
void http_release(struct request *r);
/* Send a response; body is copied. */
void http_respond(struct request *r, int status, const char *ctype, const void *body, size_t len);
/* Send a JSON response and decref j. */
void http_respond_json(struct request *r, int status, json_t *j);
/* {"error":{"code":code,"message":...}} */
void http_error(struct request *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Value of a query parameter (URL-decoded) into out; 0 if present, -1 if absent or too long. */
int http_query_param(const struct request *r, const char *name, char *out, size_t outlen);

#endif
