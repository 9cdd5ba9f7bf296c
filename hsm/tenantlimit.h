/*
 * tenantlimit.h - per-tenant signing limits, kept by the keyholder (the one process that sees
 * every signature of every worker, so a limit is exact however many workers there are).
 *
 * A tenant line with sign_rate=R [sign_burst=B] (appliance/config.h) gets a token bucket of B
 * signatures (default B = R) that refills at R per second and starts full. A sign request of
 * n digests (a /v1/sign/hash batch of n; 1 for CEB, 179, CMS) takes n tokens, all or none:
 *   - n <= tokens: taken, the request goes on to be signed;
 *   - n > B: refused with PS_E_LIMIT, it could never pass (413 at the worker);
 *   - else: refused with PS_E_RATE (429 with retry-after at the worker), nothing taken.
 * Refused requests make no signature and no audit record; other tenants' buckets are apart.
 * Owners that are not tenants (@tsa, @evidence, @exchange, @ledger) and tenants without
 * sign_rate are not limited here. Not thread-safe: the keyholder's main thread only.
 */
#ifndef PS_TENANTLIMIT_H
#define PS_TENANTLIMIT_H

#include <stddef.h>

#include "../appliance/config.h"
#include "../appliance/ratelimit.h"
#include "../protocol/buf.h"

struct tenant_limit {
    const char *tenant; /* the configuration's id */
    double rate, burst;
    struct rl_bucket bucket;
    unsigned long long refused; /* requests refused (PS_E_RATE or PS_E_LIMIT) */
};

struct tenant_limits {
    struct tenant_limit *t; /* only the tenants with a sign_rate */
    size_t n;
};

/* The buckets of cfg's tenants with sign_rate (cfg must outlive tl). PS_E_NOMEM on failure. */
int tenant_limits_init(struct tenant_limits *tl, const struct config *cfg) PS_WUR;
void tenant_limits_free(struct tenant_limits *tl);
/*
 * Take count signatures from tenant's bucket at monotonic time now. PS_OK (also for an owner
 * without a limit), else PS_E_RATE or PS_E_LIMIT with the reason in msg. For PS_E_RATE msg
 * starts with the whole seconds to wait (at least 1) and a blank, as the IPC error text
 * carries it to the worker (hsm/ipc.h): "2 tenant t1 is over its signing limit ...".
 */
int tenant_limits_take(struct tenant_limits *tl, const char *tenant, unsigned count, double now,
                       char *msg, size_t msglen);
/* Append portseal_tenant_rate_limited_total for every limited tenant (Prometheus text). */
int tenant_limits_metrics(const struct tenant_limits *tl, struct buf *b) PS_WUR;

#endif
