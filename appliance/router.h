/*
 * router.h - method + path -> handler. The HTTP/2 layer never names a handler.
 */
#ifndef PS_ROUTER_H
#define PS_ROUTER_H

#include <stddef.h>

#include "http.h"

typedef void (*handler_fn)(struct request *r, const char *tail);

enum route_flags {
    ROUTE_PUBLIC = 1,      /* no client certificate needed */
    ROUTE_TENANT = 2,      /* the client certificate must map to a tenant */
    ROUTE_OFFICER = 4,     /* ... to a local officer */
    ROUTE_PARTNER = 8,     /* ... to a partner (pinned root); implies ROUTE_PARTNER_OK */
    ROUTE_PARTNER_OK = 16, /* partners may use it too (else only local identities may) */
    ROUTE_SUBPATH = 32,    /* a prefix route whose tail may hold '/' (the handler parses it) */
    ROUTE_BODY_GROWS = 64, /* the reply is the request body grown by a few KiB (a signed XML
                              message): the body buffer gets room for them at once */
};

/* max_body of a route: the configured evidence_max_total plus 1 MiB of form overhead */
#define ROUTE_BODY_EVIDENCE ((size_t)-2)

struct route {
    const char *method;
    const char *path; /* exact, or a prefix ending in '/' when prefix is set */
    int prefix;
    handler_fn fn;
    size_t max_body; /* 0 = no body allowed; (size_t)-1 = the configured max_body */
    int flags;
    const char *name; /* for metrics */
};

/*
 * Match a request. Returns the route, or NULL with *status 404 (no such path) or 405 (path
 * exists with another method). *tail is the rest of the path after a prefix route.
 */
const struct route *router_match(const char *method, const char *path, const char **tail,
                                 int *status);
/* The route table, terminated by an entry with method NULL. */
extern const struct route routes[];

#endif
