/*
 * courier.h - outbound HTTP/2 calls to partner appliances (AEO feed pulls, P2P deliveries,
 * link checks), from one thread in worker 0, never from the event loop.
 *
 * libcurl (HTTP/2 over TLS 1.2+, ALPN h2 only) presents this appliance's partner certificate
 * (partner_cert / partner_key, loaded into memory before the privilege drop) and trusts, for
 * each partner, only that partner's pinned root (partner root=), with the host name of its
 * url= checked. So a partner URL answered by anyone else fails the handshake.
 *
 * The thread runs the registered tasks every COURIER_INTERVAL seconds and whenever
 * courier_wake() is called (a handler saw news: a notify, a new outbox message). Tasks may
 * block (courier_request is blocking); they must not touch the worker's event loop, its
 * keyholder client or its connections. Each task keeps its own SQLite connections.
 *
 * The built-in task checks every partner's link: GET /v1/whoami at the partner, which tells
 * whether the TLS pairing works both ways (they must see us as their partner). The result is
 * read with courier_links_json (GET /v1/partners).
 */
#ifndef PS_COURIER_H
#define PS_COURIER_H

#include <stddef.h>

#include <jansson.h>

#include "../protocol/buf.h"
#include "../protocol/err.h"
#include "config.h"

#define COURIER_INTERVAL 10 /* seconds between task runs when nobody wakes the thread */
#define COURIER_TIMEOUT  10 /* seconds for one request, connection included */
#define COURIER_MAX_BODY (16 * 1024 * 1024)

struct courier_resp {
    long status;     /* HTTP status, 0 when no answer came */
    struct buf body; /* the answer's body (at most COURIER_MAX_BODY) */
    char error[256]; /* why there was no answer (connection, TLS, timeout) */
    char ctype[128]; /* the answer's content type */
};

/* Before the privilege drop: read partner_cert, partner_key and every partner's root. Without
 * partner_cert nothing is loaded and courier_request fails with PS_E_UNAVAIL. */
int courier_init(const struct config *cfg, char *err, size_t errlen) PS_WUR;

/* One request to partner p (blocking, courier thread only): METHOD url-of-p + path, with an
 * optional body of content type ctype. out is initialised here; buf_free(&out->body) after. */
int courier_request(const struct cfg_partner *p, const char *method, const char *path,
                    const char *ctype, const void *body, size_t len,
                    struct courier_resp *out) PS_WUR;

typedef void (*courier_task_fn)(void *ctx);
/* Register a task (before courier_start); at most 8. */
int courier_add_task(courier_task_fn fn, void *ctx) PS_WUR;
/* Start the thread (worker 0, after the privilege drop). */
int courier_start(void) PS_WUR;
/* Run the tasks soon (any thread; async-signal-unsafe). */
void courier_wake(void);

/* The partner links as JSON: [{"partner","url","ok","status","as","checked_at","error"}]. */
json_t *courier_links_json(void);

#endif
