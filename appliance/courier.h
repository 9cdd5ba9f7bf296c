/*
 * courier.h - the courier process: every outbound HTTP/2 call to partner appliances (P2P
 * deliveries, AEO feed pulls and notifies, link checks), in a child of its own.
 *
 * Why a process: the calls need sockets and connect, which the workers' seccomp filter
 * forbids, and a slow or hostile partner must never hold up request handling. The courier
 * runs as the workers' user under its own filter (privsep_sandbox_courier: outbound TCP, no
 * listening socket, no exec), holds no TLS server key, and has its own keyholder channel,
 * restricted by the keyholder to the exchange key (@exchange) and the partner leaf types.
 * It works from the stores the workers write (state_dir/p2p, state_dir/aeo) and is woken by
 * them through a pipe (courier_wake) when they store news: an outbox message, a notify, an
 * import. Otherwise it runs its tasks every COURIER_INTERVAL seconds.
 *
 * libcurl (HTTP/2 over TLS 1.2+, ALPN h2 only) presents partner_cert / partner_key and trusts,
 * for each partner, only that partner's pinned root (partner root=), with the host name of
 * its url= checked. One connection per partner is kept open between calls.
 *
 * The link check (GET /v1/whoami at each partner: does it see us as its partner?) is written
 * to state_dir/courier/links.json, which GET /v1/partners shows.
 */
#ifndef PS_COURIER_H
#define PS_COURIER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../certs/keyreg.h"
#include "../certs/partner.h"
#include "../hsm/kh_client.h"
#include "../protocol/buf.h"
#include "../protocol/err.h"
#include "config.h"

#define COURIER_INTERVAL 10 /* seconds between task runs when nobody wakes the courier */
#define COURIER_TIMEOUT  10 /* seconds for one request, connection included */
#define COURIER_MAX_BODY (16 * 1024 * 1024)

/* ---- in the workers ---- */

/* The write end of the wake pipe (non-blocking), set by the worker at start. */
void courier_set_wake_fd(int fd);
/* Tell the courier there is news (any thread; a full pipe means a wake is pending). */
void courier_wake(void);
/* The partner links as the courier last checked them:
 * [{"partner","url","checked","ok","status","as","checked_at","error"}]. */
json_t *courier_links_json(const struct config *cfg);

/* ---- the courier process ---- */

/* Runs the courier; returns its exit status. ctl_fd: from the parent (a new keyholder socket
 * after a keyholder restart, tag 'K'); kh_fd: its keyholder channel; wake_fd: read end of the
 * wake pipe. */
int courier_main(const struct config *cfg, int ctl_fd, int kh_fd, int wake_fd);

struct courier_resp {
    long status;     /* HTTP status, 0 when no answer came */
    struct buf body; /* the answer's body (at most COURIER_MAX_BODY) */
    char error[256]; /* why there was no answer (connection, TLS, timeout) */
    char ctype[128]; /* the answer's content type */
};

/* What the tasks share (courier process only). */
struct courier {
    const struct config *cfg;
    struct keyreg reg;
    struct partner_trust partners;
    struct kh_client *kh;
    int ctl_fd;
    int64_t now_ms; /* wall clock at the start of this round */
    int woken;      /* this round was started by a wake, not the timer */
};

/* One request to partner i (blocking): METHOD url + path, with an optional body of content
 * type ctype. out is initialised here; buf_free(&out->body) after. PS_OK when an answer came
 * (any status). */
int courier_request(struct courier *c, size_t i, const char *method, const char *path,
                    const char *ctype, const void *body, size_t len,
                    struct courier_resp *out) PS_WUR;
void courier_resp_free(struct courier_resp *r);
/* n requests to partner i at once, multiplexed on its one HTTP/2 connection, started in order;
 * b (NULL: no bodies) and out have n entries. PS_OK when at least one was answered. */
#define COURIER_MAX_MANY 64
struct courier_body {
    const void *data;
    size_t len;
};
int courier_request_many(struct courier *c, size_t i, const char *method, const char *path,
                         const char *ctype, const struct courier_body *b, size_t n,
                         struct courier_resp *out) PS_WUR;
/* The "message" (else "code") of a JSON error body, or the status, into why. */
void courier_resp_why(const struct courier_resp *r, char *why, size_t n);

/* Keyholder calls that wait for their answer (at most keyholder_timeout). */
/* Append a ledger leaf (a text line ending in \n); *index receives its index. */
int courier_ledger_append(struct courier *c, const char *leaf, uint64_t *index, char *err,
                          size_t errlen) PS_WUR;

/* Does any partner have a url= (something to call)? */
int courier_has_calls(const struct config *cfg);
/* The wall clock in unix milliseconds. */
int64_t courier_now_ms(void);
/* Sign n payloads as compact JWS with exchange_key, and append n leaves, each batch in one
 * keyholder round trip and one audit commit: status[k] and out[k] per payload; index[k] per leaf
 * (-1 when it failed, logged). */
int courier_jws_sign_many(struct courier *c, const struct courier_body *payload, size_t n,
                          const char *typ, struct buf *out, int *status) PS_WUR;
int courier_ledger_append_many(struct courier *c, const char *const *leaf, size_t n,
                               int64_t *index) PS_WUR;
/* Exponential backoff with jitter: base * 2^(failures-1), at most cap, times 0.5..1.0. */
int64_t courier_backoff_ms(unsigned failures, int64_t base_ms, int64_t cap_ms);
/* Whether a repeated failure toward a partner is worth a log line: the first, every tenth,
 * and any whose reason differs from the last one logged (a partner refusing connections that
 * comes back with a certificate from the wrong CA says so at once). *last keeps the reason's
 * hash between calls (the first failure is always logged, so it needs no reset). */
int courier_failure_logged(unsigned failures, const char *why, uint64_t *last);

/* The tasks (p2p_courier.c, aeo_pull.c). Each returns the milliseconds until it wants to run
 * again (a wake runs every task at once anyway). */
struct p2p_courier;
struct p2p_courier *p2p_courier_new(struct courier *c);
int64_t p2p_courier_run(struct p2p_courier *p);
void p2p_courier_free(struct p2p_courier *p);

struct aeo_pull;
struct aeo_pull *aeo_pull_new(struct courier *c);
int64_t aeo_pull_run(struct aeo_pull *p);
void aeo_pull_free(struct aeo_pull *p);

#endif
