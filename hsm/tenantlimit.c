/*
 * tenantlimit.c - per-tenant token buckets for signatures (see tenantlimit.h).
 */
#include "tenantlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tenant_limits_init(struct tenant_limits *tl, const struct config *cfg)
{
    size_t n = 0;

    memset(tl, 0, sizeof(*tl));
    for (size_t i = 0; i < cfg->ntenants; i++)
        n += cfg->tenants[i].sign_rate > 0;
    if (n == 0)
        return PS_OK;
    if ((tl->t = calloc(n, sizeof(*tl->t))) == NULL)
        return PS_E_NOMEM;
    for (size_t i = 0; i < cfg->ntenants; i++) {
        const struct cfg_tenant *c = &cfg->tenants[i];

        if (c->sign_rate == 0)
            continue;
        tl->t[tl->n].tenant = c->id;
        tl->t[tl->n].rate = c->sign_rate;
        tl->t[tl->n].burst = c->sign_burst ? c->sign_burst : c->sign_rate;
        tl->n++;
    }
    return PS_OK;
}

void tenant_limits_free(struct tenant_limits *tl)
{
    free(tl->t);
    memset(tl, 0, sizeof(*tl));
}

int tenant_limits_take(struct tenant_limits *tl, const char *tenant, unsigned count, double now,
                       char *msg, size_t msglen)
{
    struct tenant_limit *l = NULL;
    double wait = 0;
    unsigned long secs;

    for (size_t i = 0; i < tl->n && l == NULL; i++)
        if (strcmp(tl->t[i].tenant, tenant) == 0)
            l = &tl->t[i];
    if (l == NULL)
        return PS_OK;
    if (count > l->burst) {
        l->refused++;
        snprintf(msg, msglen,
                 "a request for %u signatures is larger than tenant %s's sign_burst=%.0f and can "
                 "never pass; send at most %.0f per request",
                 count, tenant, l->burst, l->burst);
        return PS_E_LIMIT;
    }
    if (rl_take_n(&l->bucket, count, l->rate, l->burst, now, &wait))
        return PS_OK;
    l->refused++;
    secs = (unsigned long)wait; /* wait <= burst / rate: at most 10^7 */
    if ((double)secs < wait || secs == 0)
        secs++;
    snprintf(msg, msglen,
             "%lu tenant %s is over its signing limit (sign_rate=%.0f/s, sign_burst=%.0f): %u "
             "signatures asked; retry after %lu s",
             secs, tenant, l->rate, l->burst, count, secs);
    return PS_E_RATE;
}

int tenant_limits_metrics(const struct tenant_limits *tl, struct buf *b)
{
    int r;

    if (tl->n == 0)
        return PS_OK;
    if ((r = buf_printf(b, "# HELP portseal_tenant_rate_limited_total Signing requests refused by "
                           "the tenant's sign_rate/sign_burst (429, or 413 above sign_burst).\n"
                           "# TYPE portseal_tenant_rate_limited_total counter\n")) != PS_OK)
        return r;
    for (size_t i = 0; i < tl->n; i++)
        if ((r = buf_printf(b, "portseal_tenant_rate_limited_total{tenant=\"%s\"} %llu\n",
                            tl->t[i].tenant, tl->t[i].refused)) != PS_OK)
            return r;
    return PS_OK;
}
