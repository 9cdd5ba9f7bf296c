/*
 * worker.h - a worker process: TLS + HTTP/2 + handlers, one event loop, no keys, no PIN.
 */
#ifndef PS_WORKER_H
#define PS_WORKER_H

#include <signal.h>

#include <openssl/ssl.h>

#include "../certs/keyreg.h"
#include "../certs/partner.h"
#include "../hsm/ipc.h"
#include "../hsm/kh_client.h"
#include "config.h"
#include "http.h"

#define METRIC_ROUTES 48
#define LAT_BUCKETS   12

struct conn;
struct rl_table;
struct addrtab;

struct worker_metrics {
    unsigned long long requests[METRIC_ROUTES]
                               [6]; /* by route index and status class 1xx..5xx, [0]=other */
    unsigned long long lat[METRIC_ROUTES][LAT_BUCKETS + 1];
    double lat_sum[METRIC_ROUTES];
    unsigned long long signatures, conns_accepted, conns_refused, tls_failures, http1_refused;
    /* defences (docs/hardening.md) */
    unsigned long long conns_evicted, rate_limited, h2_abuse, timeouts, conns_rate_limited;
    unsigned long long conns_address_evicted; /* at max_connections_per_address */
    unsigned long long tls_resumed;           /* handshakes that resumed a session */
};

struct worker {
    const struct config *cfg;
    int id;
    struct keyreg reg;
    SSL_CTX *ssl;
    int ep, lfd, ctl;
    struct kh_client *kh;
    int kh_wants_out;
    struct conn *conns;
    struct conn *flushq;    /* connections with responses queued outside their own I/O */
    struct conn *graveyard; /* closed this loop turn, freed at its end */
    unsigned nconns;
    unsigned conn_cap;        /* max_connections, lowered to fit RLIMIT_NOFILE */
    struct rl_table *rl;      /* request_rate buckets per client */
    struct rl_table *conn_rl; /* connection_rate buckets per address */
    struct addrtab *addrs;    /* open connections per address (max_connections_per_address) */
    struct worker_metrics m;
    struct proxy_keys *proxies;
    X509_STORE *doc_trust; /* anchors for /v1/verify/cms (verify_ca or client_ca, with crl) */
    struct partner_trust partners; /* pinned roots, one store per partner */
};

/* Runs the event loop; returns the process exit status. */
int worker_main(const struct config *cfg, int id, int lfd, int ctl_fd, int kh_fd);
double mono_now(void);
extern const double lat_bounds[LAT_BUCKETS];

#endif
