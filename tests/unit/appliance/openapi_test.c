/*
 * openapi_test.c - protocol/openapi.yaml describes exactly the routes of appliance/router.c.
 *
 * Every route in routes[] must be documented with its method (a prefix route "/v1/keys/" as
 * "/v1/keys/{id}"; a ROUTE_SUBPATH prefix also as "/v1/evidence/{id}/proof") and with the
 * callers its flags admit (x-portseal-access); every documented path and method must reach a
 * route through router_match, unless the operation is marked "x-portseal-status: planned"
 * (described before it is built; once it is in router.c this test says the mark can go).
 *
 * The document is read by indentation, as written there: "paths:" at column 0, paths at two
 * spaces, methods at four, x-portseal-* at six. Run from the repository root (tests/run does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../appliance/router.h"
#include "../unit.h"

#define OPENAPI "protocol/openapi.yaml"
#define MAX_OPS 256

enum access {
    ACC_PUBLIC = 1,
    ACC_LOCAL = 2,
    ACC_TENANT = 4,
    ACC_OFFICER = 8,
    ACC_PARTNER = 16,
};

struct op {
    char path[256];
    char method[8]; /* upper case */
    unsigned access;
    int has_access;
    int planned;
    int line;
};

static struct op ops[MAX_OPS];
static int nops;

static const char *const methods[] = {"get",  "put",   "post",  "delete", "options",
                                      "head", "patch", "trace", NULL};

static unsigned access_word(const char *w, size_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } words[] = {{"public", ACC_PUBLIC},
                 {"local", ACC_LOCAL},
                 {"tenant", ACC_TENANT},
                 {"officer", ACC_OFFICER},
                 {"partner", ACC_PARTNER}};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].name) == n && strncmp(words[i].name, w, n) == 0)
            return words[i].bit;
    return 0;
}

/* "[a, b]" -> bits; 0 if malformed or an unknown word */
static unsigned parse_access(const char *v)
{
    unsigned bits = 0;
    const char *p = v;

    if (*p++ != '[')
        return 0;
    for (;;) {
        size_t n;
        unsigned b;

        while (*p == ' ')
            p++;
        n = strcspn(p, ",] ");
        if (n == 0 || (b = access_word(p, n)) == 0)
            return 0;
        bits |= b;
        p += n;
        while (*p == ' ')
            p++;
        if (*p == ']')
            return p[1] == 0 ? bits : 0;
        if (*p++ != ',')
            return 0;
    }
}

static void access_text(unsigned bits, char *out, size_t len)
{
    static const char *const names[] = {"public", "local", "tenant", "officer", "partner"};
    size_t o = 0;

    out[0] = 0;
    for (int i = 0; i < 5; i++)
        if (bits & (1u << i))
            o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ", " : "", names[i]);
}

/* Who a route admits (appliance/conn.c admit_cert). */
static unsigned route_access(const struct route *rt)
{
    unsigned bits = 0;

    if (rt->flags & ROUTE_PUBLIC)
        return ACC_PUBLIC;
    if (rt->flags & ROUTE_TENANT)
        bits |= ACC_TENANT;
    if (rt->flags & ROUTE_OFFICER)
        bits |= ACC_OFFICER;
    if (rt->flags & ROUTE_PARTNER)
        bits |= ACC_PARTNER;
    if (bits == 0)
        bits = ACC_LOCAL;
    if (rt->flags & ROUTE_PARTNER_OK)
        bits |= ACC_PARTNER;
    return bits;
}

/* Strip the line end; returns the number of leading spaces. */
static int indent_of(char *line)
{
    size_t n = strlen(line);
    int i = 0;

    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
        line[--n] = 0;
    while (line[i] == ' ')
        i++;
    return i;
}

static int read_ops(FILE *f)
{
    char line[1024];
    int in_paths = 0, lineno = 0, bad = 0;
    char path[256] = "";
    struct op *cur = NULL;

    while (fgets(line, sizeof(line), f)) {
        int ind = indent_of(line);
        char *s = line + ind;

        lineno++;
        if (*s == 0 || *s == '#')
            continue;
        if (ind == 0) {
            in_paths = strcmp(s, "paths:") == 0;
            cur = NULL;
            continue;
        }
        if (!in_paths)
            continue;
        if (ind == 2) {
            size_t n = strlen(s);

            cur = NULL;
            if (s[0] != '/' || s[n - 1] != ':' || n >= sizeof(path)) {
                printf("# %s:%d: not a path: %s\n", OPENAPI, lineno, s);
                bad++;
                continue;
            }
            memcpy(path, s, n - 1);
            path[n - 1] = 0;
        } else if (ind == 4) {
            cur = NULL;
            for (int i = 0; methods[i]; i++)
                if (strncmp(s, methods[i], strlen(methods[i])) == 0 &&
                    strcmp(s + strlen(methods[i]), ":") == 0) {
                    if (nops == MAX_OPS) {
                        printf("# more than %d operations\n", MAX_OPS);
                        return -1;
                    }
                    cur = &ops[nops++];
                    snprintf(cur->path, sizeof(cur->path), "%s", path);
                    for (int k = 0; methods[i][k]; k++)
                        cur->method[k] = (char)(methods[i][k] - 'a' + 'A');
                    cur->line = lineno;
                }
        } else if (ind == 6 && cur) {
            if (strncmp(s, "x-portseal-access:", 18) == 0) {
                const char *v = s + 18;

                while (*v == ' ')
                    v++;
                cur->has_access = 1;
                if ((cur->access = parse_access(v)) == 0) {
                    printf("# %s:%d: bad x-portseal-access: %s\n", OPENAPI, lineno, v);
                    bad++;
                }
            } else if (strncmp(s, "x-portseal-status:", 18) == 0) {
                cur->planned = strstr(s + 18, "planned") != NULL;
            }
        }
    }
    return bad ? -1 : 0;
}

/* Does the path template t ("/v1/keys/{id}") match the concrete path p? A {param} matches one
 * or more characters other than '/'. */
static int template_match(const char *t, const char *p)
{
    while (*t) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            size_t n = strcspn(p, "/");

            if (close == NULL || n == 0)
                return 0;
            t = close + 1;
            p += n;
        } else if (*t++ != *p++) {
            return 0;
        }
    }
    return *p == 0;
}

/* Does the documented operation o describe route rt? */
static int describes(const struct op *o, const struct route *rt)
{
    size_t n = strlen(rt->path);

    if (strcmp(o->method, rt->method) != 0)
        return 0;
    if (!rt->prefix)
        return template_match(o->path, rt->path);
    if (strncmp(o->path, rt->path, n) != 0 || o->path[n] != '{')
        return 0;
    /* a plain prefix route takes one segment; a ROUTE_SUBPATH one may take more */
    return (rt->flags & ROUTE_SUBPATH) || strchr(o->path + n, '/') == NULL;
}

/* The template with every {param} replaced by a sample segment. */
static void instantiate(const char *t, char *out, size_t len)
{
    size_t o = 0;

    while (*t && o + 8 < len) {
        if (*t == '{' && strchr(t, '}')) {
            memcpy(out + o, "sample1", 7);
            o += 7;
            t = strchr(t, '}') + 1;
        } else {
            out[o++] = *t++;
        }
    }
    out[o] = 0;
}

static void test_routes_documented(void)
{
    for (const struct route *rt = routes; rt->method; rt++) {
        const struct op *found = NULL;
        char want[64], got[64];

        for (int i = 0; i < nops && !found; i++)
            if (describes(&ops[i], rt))
                found = &ops[i];
        CHECK(found != NULL, "%s %s%s (route %s) is documented in %s", rt->method, rt->path,
              rt->prefix ? "..." : "", rt->name, OPENAPI);
        if (found == NULL)
            continue;
        access_text(route_access(rt), want, sizeof(want));
        access_text(found->access, got, sizeof(got));
        if (found->planned && found->access != route_access(rt)) {
            printf("ok - # %s %s: now in router.c admitting [%s], documented as planned with "
                   "[%s]: update %s\n",
                   found->method, found->path, want, got, OPENAPI);
            continue;
        }
        CHECK(found->access == route_access(rt), "%s %s: x-portseal-access [%s] (router: [%s])",
              found->method, found->path, got, want);
    }
}

static void test_documented_routes_exist(void)
{
    for (int i = 0; i < nops; i++) {
        const struct op *o = &ops[i];
        char path[512];
        const char *tail = NULL;
        const struct route *rt;
        int status = 0;

        CHECK(o->has_access, "%s %s (%s:%d) says who may call it (x-portseal-access)", o->method,
              o->path, OPENAPI, o->line);
        instantiate(o->path, path, sizeof(path));
        rt = router_match(o->method, path, &tail, &status);
        if (o->planned) {
            if (rt)
                printf("ok - # %s %s is in router.c now: drop its x-portseal-status: planned\n",
                       o->method, o->path);
            else
                printf("ok - # %s %s is documented as planned; not in router.c yet\n", o->method,
                       o->path);
            continue;
        }
        CHECK(rt != NULL, "documented %s %s is a route (router_match %s: %s)", o->method, o->path,
              path,
              rt              ? rt->name
              : status == 405 ? "405"
                              : "404");
        if (rt)
            CHECK(describes(o, rt), "documented %s %s is route %s %s%s", o->method, o->path,
                  rt->method, rt->path, rt->prefix ? "..." : "");
    }
}

/* The matching rules themselves. */
static void test_matching(void)
{
    struct route keys = {"GET", "/v1/keys/", 1, NULL, 0, ROUTE_TENANT, "k"};
    struct route ev = {"GET", "/v1/evidence/", 1, NULL, 0, ROUTE_SUBPATH, "e"};
    struct route exact = {"GET", "/v1/keys", 0, NULL, 0, ROUTE_TENANT, "l"};
    struct op o = {"/v1/keys/{id}", "GET", 0, 0, 0, 0};

    CHECK(describes(&o, &keys), "/v1/keys/{id} describes the prefix route /v1/keys/");
    CHECK(!describes(&o, &exact), "/v1/keys/{id} does not describe /v1/keys");
    snprintf(o.path, sizeof(o.path), "/v1/keys/{id}/x");
    CHECK(!describes(&o, &keys), "a prefix route without ROUTE_SUBPATH takes one segment");
    snprintf(o.path, sizeof(o.path), "/v1/evidence/{id}/proof");
    CHECK(describes(&o, &ev), "a ROUTE_SUBPATH prefix route takes more");
    snprintf(o.method, sizeof(o.method), "POST");
    CHECK(!describes(&o, &ev), "the method must agree");
    CHECK(template_match("/ui/{file}", "/ui/app.js") && !template_match("/ui/{file}", "/ui/") &&
              !template_match("/ui/{file}", "/ui/a/b"),
          "a {param} matches one non-empty segment");
    CHECK(parse_access("[local, partner]") == (ACC_LOCAL | ACC_PARTNER) &&
              parse_access("[tenant]") == ACC_TENANT && parse_access("[admin]") == 0 &&
              parse_access("tenant") == 0 && parse_access("[]") == 0,
          "x-portseal-access lists");
    CHECK(route_access(&keys) == ACC_TENANT && route_access(&ev) == ACC_LOCAL &&
              route_access(&(struct route){"GET", "/x", 0, NULL, 0, ROUTE_PARTNER_OK, "x"}) ==
                  (ACC_LOCAL | ACC_PARTNER),
          "route flags -> callers");
}

int main(void)
{
    FILE *f = fopen(OPENAPI, "r");

    test_matching();
    if (f == NULL) {
        printf("ok - # skip %s not found in the current directory (run from the repo root)\n",
               OPENAPI);
        return unit_done();
    }
    CHECK(read_ops(f) == 0, "%s reads (paths at two spaces, methods at four)", OPENAPI);
    fclose(f);
    CHECK(nops > 0, "%s documents %d operations", OPENAPI, nops);
    test_routes_documented();
    test_documented_routes_exist();
    return unit_done();
}
