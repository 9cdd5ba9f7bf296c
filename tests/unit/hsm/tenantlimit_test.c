/* tenantlimit_test.c - per-tenant signing limits in the keyholder (hsm/tenantlimit.c). */
#include "../../../hsm/tenantlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"

static const char conf[] = "listen 127.0.0.1:8443\n"
                           "state_dir /var/lib/portseal\n"
                           "tls_cert /etc/c.pem\n"
                           "tls_key /etc/k.pem\n"
                           "client_ca /etc/ca.pem\n"
                           "pkcs11_module /usr/lib/m.so\n"
                           "pkcs11_token tok\n"
                           "pin_file /etc/pin\n"
                           "tenant free cn-free\n"
                           "tenant slow cn-slow sign_rate=2 sign_burst=5\n"
                           "tenant one cn-one sign_rate=10\n";

int main(void)
{
    struct config cfg;
    struct tenant_limits tl;
    struct buf b;
    char err[256], msg[256];
    int n = 0;

    if (config_parse(conf, strlen(conf), &cfg, err, sizeof(err)) != PS_OK) {
        printf("not ok - config: %s\n", err);
        return 1;
    }
    CHECK(tenant_limits_init(&tl, &cfg) == PS_OK && tl.n == 2, "two tenants have limits");
    for (int i = 0; i < 1000; i++)
        n += tenant_limits_take(&tl, "free", 1000, 100.0, msg, sizeof(msg)) == PS_OK;
    CHECK(n == 1000, "a tenant without sign_rate is never limited");
    CHECK(tenant_limits_take(&tl, "@tsa", 1, 100.0, msg, sizeof(msg)) == PS_OK &&
              tenant_limits_take(&tl, "@exchange", 10000, 100.0, msg, sizeof(msg)) == PS_OK,
          "the appliance's own owners are not limited");
    CHECK(tenant_limits_take(&tl, "slow", 6, 100.0, msg, sizeof(msg)) == PS_E_LIMIT &&
              strstr(msg, "larger than tenant slow's sign_burst=5") != NULL,
          "a batch above sign_burst can never pass: PS_E_LIMIT (%s)", msg);
    CHECK(tenant_limits_take(&tl, "slow", 5, 100.0, msg, sizeof(msg)) == PS_OK,
          "a batch of sign_burst passes when the bucket is full");
    CHECK(tenant_limits_take(&tl, "slow", 3, 100.0, msg, sizeof(msg)) == PS_E_RATE &&
              strncmp(msg, "2 tenant slow is over its signing limit (sign_rate=2/s, sign_burst=5)",
                      69) == 0,
          "then 3 more: PS_E_RATE, retry after 2 s (3 tokens at 2/s = 1.5 s, rounded up): %s", msg);
    CHECK(tenant_limits_take(&tl, "one", 10, 100.0, msg, sizeof(msg)) == PS_OK,
          "another tenant's bucket is apart (one: burst 10 = its rate)");
    CHECK(tenant_limits_take(&tl, "one", 1, 100.0, msg, sizeof(msg)) == PS_E_RATE &&
              strncmp(msg, "1 ", 2) == 0,
          "a wait below one second is said as 1 s: %s", msg);
    CHECK(tenant_limits_take(&tl, "slow", 3, 101.0, msg, sizeof(msg)) == PS_E_RATE,
          "1 s later 2 tokens: still not 3");
    CHECK(tenant_limits_take(&tl, "slow", 3, 101.5, msg, sizeof(msg)) == PS_OK,
          "1.5 s later 3 tokens: taken (the refused requests took nothing)");
    buf_init(&b, 4096);
    CHECK(tenant_limits_metrics(&tl, &b) == PS_OK && buf_append(&b, "", 1) == PS_OK &&
              strstr((char *)b.data, "# TYPE portseal_tenant_rate_limited_total counter\n") &&
              strstr((char *)b.data, "portseal_tenant_rate_limited_total{tenant=\"slow\"} 3\n") &&
              strstr((char *)b.data, "portseal_tenant_rate_limited_total{tenant=\"one\"} 1\n") &&
              strstr((char *)b.data, "\"free\"") == NULL,
          "metrics: refusals per limited tenant (413 and 429 both count)");
    buf_free(&b);
    tenant_limits_free(&tl);
    config_free(&cfg);
    return unit_done();
}
