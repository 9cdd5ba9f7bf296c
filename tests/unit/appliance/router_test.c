#include <string.h>

#include "../../../appliance/router.h"
#include "../unit.h"

/* Match and return the route; *status is set to -1 first so a hit leaves it untouched. */
static const struct route *m(const char *method, const char *path, const char **tail, int *status)
{
    *tail = NULL;
    *status = -1;
    return router_match(method, path, tail, status);
}

static int miss(const char *method, const char *path, int want)
{
    const char *tail;
    int status;
    const struct route *rt = m(method, path, &tail, &status);

    if (rt != NULL)
        printf("# %s %s matched route %s\n", method, path, rt->name);
    return rt == NULL && status == want;
}

int main(void)
{
    const struct route *rt;
    const char *tail;
    int status, n = 0;

    for (const struct route *r = routes; r->method; r++) {
        char path[128];
        size_t pl = strlen(r->path);

        n++;
        CHECK(pl + 3 < sizeof(path) && r->path[0] == '/', "route %s has a sane path", r->name);
        memcpy(path, r->path, pl + 1);
        if (r->prefix) {
            CHECK(r->path[pl - 1] == '/', "prefix route %s ends in '/'", r->name);
            memcpy(path + pl, "id", 3);
        }
        rt = m(r->method, path, &tail, &status);
        CHECK(rt == r && status == -1, "%s %s matches route %s", r->method, path, r->name);
        CHECK(tail != NULL && strcmp(tail, r->prefix ? "id" : "") == 0, "route %s tail is '%s'",
              r->name, tail ? tail : "(null)");
        CHECK(r->fn != NULL && r->name != NULL, "route %s has a handler and a name", r->name);
        if (strcmp(r->method, "GET") == 0) {
            rt = m("HEAD", path, &tail, &status);
            CHECK(rt == r, "HEAD %s matches the GET route %s", path, r->name);
        } else if (m("GET", path, &tail, &status) == NULL) {
            CHECK(miss("HEAD", path, 405), "HEAD %s is 405 (only GET routes take HEAD)", path);
        }
        CHECK(miss("PUT", path, 405), "%s with the wrong method is 405", path);
        CHECK(miss("DELETE", path, 405), "DELETE %s is 405", path);
        CHECK(miss("get", path, 405), "lowercase method 'get' on %s is 405", path);
    }
    {
        /* the API of DESIGN section 4 that is built so far: each must be routed */
        static const char *const want[][2] = {
            {"GET", "/healthz"},
            {"GET", "/readyz"},
            {"GET", "/metrics"},
            {"GET", "/v1/whoami"},
            {"GET", "/v1/partners"},
            {"GET", "/v1/keys"},
            {"GET", "/v1/keys/x"},
            {"POST", "/v1/sign/hash"},
            {"POST", "/v1/sign/cms"},
            {"POST", "/v1/sign/ceb"},
            {"POST", "/v1/verify/ceb"},
            {"POST", "/v1/sign/179"},
            {"POST", "/v1/verify/cms"},
            {"POST", "/v1/tsa"},
            {"GET", "/v1/ledger/checkpoint"},
            {"POST", "/v1/ledger/checkpoint"},
            {"GET", "/v1/ledger/proof/inclusion"},
            {"GET", "/v1/ledger/proof/consistency"},
            {"POST", "/v1/evidence"},
            {"GET", "/v1/evidence"},
            {"GET", "/v1/evidence/x"},
            /* AEO (issue 5) */
            {"POST", "/v1/aeo/register"},
            {"GET", "/v1/aeo/feed"},
            {"POST", "/v1/aeo/notify"},
            {"GET", "/v1/aeo/digest"},
            {"GET", "/v1/aeo/operators/AEOCN4403123456"},
            {"POST", "/v1/p2p/inbound"},
            {"POST", "/v1/p2p/inbound/batch"},
            {"POST", "/v1/p2p/outbox"},
            {"GET", "/v1/p2p/messages"},
            {"GET", "/v1/p2p/messages/x"},
            {"GET", "/v1/p2p/stream"},
            /* the status page (issue 8) */
            {"GET", "/ui/"},
            {"GET", "/ui/app.js"},
        };

        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
            CHECK(m(want[i][0], want[i][1], &tail, &status) != NULL, "%s %s is routed", want[i][0],
                  want[i][1]);
        CHECK(n == (int)(sizeof(want) / sizeof(want[0])), "routes[] has %d entries, all listed", n);
    }

    rt = m("GET", "/v1/keys/t1-ec", &tail, &status);
    CHECK(rt != NULL && strcmp(rt->name, "key") == 0 && tail != NULL && strcmp(tail, "t1-ec") == 0,
          "GET /v1/keys/t1-ec -> key route, tail 't1-ec'");
    rt = m("GET", "/v1/keys", &tail, &status);
    CHECK(rt != NULL && strcmp(rt->name, "keys") == 0 && tail != NULL && *tail == 0,
          "GET /v1/keys -> keys list, empty tail");
    rt = m("POST", "/v1/sign/hash", &tail, &status);
    CHECK(rt != NULL && rt->max_body == (size_t)-1 && (rt->flags & ROUTE_TENANT),
          "sign_hash takes the configured body and needs a tenant");
    rt = m("POST", "/v1/tsa", &tail, &status);
    CHECK(rt != NULL && strcmp(rt->name, "tsa") == 0 && rt->flags == ROUTE_PARTNER_OK &&
              rt->max_body > 0 && rt->max_body <= 65536,
          "tsa: any valid client certificate (partners too), a small fixed body limit");
    rt = m("POST", "/v1/verify/cms", &tail, &status);
    CHECK(rt != NULL && strcmp(rt->name, "verify_cms") == 0 && rt->flags == ROUTE_PARTNER_OK &&
              rt->max_body == (size_t)-1,
          "verify_cms: any valid client certificate (partners too), the configured body limit");
    rt = m("GET", "/v1/evidence/abc/proof", &tail, &status);
    CHECK(rt != NULL && strcmp(rt->name, "evidence_get") == 0 && strcmp(tail, "abc/proof") == 0,
          "GET /v1/evidence/ID/proof -> evidence_get with the whole tail (ROUTE_SUBPATH)");
    rt = m("GET", "/v1/keys/a/b", &tail, &status);
    CHECK(rt == NULL && status == 404, "other prefix routes take no '/' in the tail");
    rt = m("POST", "/v1/evidence", &tail, &status);
    CHECK(rt != NULL && rt->max_body == ROUTE_BODY_EVIDENCE && !(rt->flags & ROUTE_PARTNER_OK),
          "evidence_post: the evidence body limit, not for partners");
    rt = m("GET", "/metrics", &tail, &status);
    CHECK(rt != NULL && !(rt->flags & (ROUTE_PARTNER | ROUTE_PARTNER_OK)),
          "metrics: not for partners");
    CHECK(miss("GET", "/v1/tsa", 405) && miss("POST", "/v1/tsa/", 404) &&
              miss("POST", "/v1/verify/cms/", 404),
          "GET /v1/tsa is 405; trailing slashes are 404");
    rt = m("GET", "/ui/", &tail, &status);
    CHECK(rt != NULL && strcmp(rt->name, "ui") == 0 && *tail == 0 &&
              !(rt->flags & (ROUTE_PUBLIC | ROUTE_PARTNER | ROUTE_PARTNER_OK)),
          "GET /ui/ -> the status page, for local identities as /metrics");
    rt = m("GET", "/ui/style.css", &tail, &status);
    CHECK(rt != NULL && strcmp(rt->name, "ui_file") == 0 && strcmp(tail, "style.css") == 0 &&
              rt->flags == 0,
          "GET /ui/style.css -> ui_file, tail 'style.css', local identities");
    CHECK(miss("GET", "/ui", 404) && miss("GET", "/ui/a/b.js", 404) && miss("POST", "/ui/", 405),
          "/ui without the slash and deeper paths are 404; POST /ui/ is 405");
    rt = m("GET", "/healthz", &tail, &status);
    CHECK(rt != NULL && (rt->flags & ROUTE_PUBLIC) && rt->max_body == 0,
          "healthz is public, no body");
    {
        int ok = 1;

        for (const struct route *r = routes; r->method; r++)
            if (strcmp(r->method, "GET") == 0 && r->max_body != 0)
                ok = 0;
        CHECK(ok, "no GET route takes a body");
    }

    CHECK(miss("GET", "/v1/keys/", 404), "/v1/keys/ (empty tail) is 404");
    CHECK(miss("GET", "/v1/keys/a/b", 404), "/v1/keys/a/b (slash in tail) is 404");
    CHECK(miss("GET", "/v1/keys/a/", 404), "/v1/keys/a/ (trailing slash) is 404");
    CHECK(miss("GET", "/v1/keys/../x", 404), "/v1/keys/../x is 404");
    CHECK(miss("GET", "/healthzx", 404), "/healthzx is 404");
    CHECK(miss("GET", "/healthz/", 404), "/healthz/ is 404");
    CHECK(miss("GET", "/health", 404), "/health is 404");
    CHECK(miss("GET", "/HEALTHZ", 404), "/HEALTHZ is 404 (paths are case-sensitive)");
    CHECK(miss("GET", "", 404), "empty path is 404");
    CHECK(miss("GET", "/", 404), "/ is 404");
    CHECK(miss("GET", "/v1", 404), "/v1 is 404");
    CHECK(miss("GET", "/v1/keysx", 404), "/v1/keysx is 404");
    CHECK(miss("GET", "/v1/keys/", 404) && miss("POST", "/v1/keys/", 404),
          "/v1/keys/ is 404 for any method");
    CHECK(miss("POST", "/v1/keys/a/b", 404), "POST /v1/keys/a/b is 404, not 405");
    CHECK(miss("POST", "/v1/sign/hash/", 404), "/v1/sign/hash/ is 404");
    CHECK(miss("POST", "/v1/sign", 404), "/v1/sign is 404");
    CHECK(miss("POST", "/x/v1/sign/hash", 404), "/x/v1/sign/hash is 404");
    CHECK(miss("GET", "//v1/keys", 404), "//v1/keys is 404");
    CHECK(miss("POST", "/v1/keys/t1-ec", 405), "POST /v1/keys/t1-ec is 405");
    CHECK(miss("HEAD", "/v1/sign/cms", 405), "HEAD /v1/sign/cms is 405");
    CHECK(miss("OPTIONS", "/healthz", 405), "OPTIONS /healthz is 405");
    return unit_done();
}
