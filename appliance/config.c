#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../protocol/aeo.h"
#include "../protocol/alg.h"
#include "../protocol/buf.h"
#include "../protocol/ceb.h"
#include "../protocol/p2p.h"
#include "../protocol/strnum.h"
#include "router.h"

#define CFG_MAX_FILE  (1024 * 1024)
#define CFG_MAX_WORDS 16

const char *const config_directives[] = {"listen",
                                         "workers",
                                         "user",
                                         "pid_file",
                                         "state_dir",
                                         "tls_cert",
                                         "tls_key",
                                         "client_ca",
                                         "crl",
                                         "pkcs11_module",
                                         "pkcs11_token",
                                         "pin_file",
                                         "pkcs11_env",
                                         "sm2_wrap_key",
                                         "keyholder_threads",
                                         "max_body",
                                         "max_hashes",
                                         "max_streams",
                                         "max_connections",
                                         "max_connections_per_address",
                                         "idle_timeout",
                                         "handshake_timeout",
                                         "tls_ticket_lifetime",
                                         "keyholder_timeout",
                                         "max_header_size",
                                         "header_timeout",
                                         "body_timeout",
                                         "send_timeout",
                                         "request_rate",
                                         "request_burst",
                                         "control_frame_rate",
                                         "reset_rate",
                                         "reset_burst",
                                         "max_continuations",
                                         "connection_rate",
                                         "verify_ca",
                                         "tsa_key",
                                         "tsa_policy",
                                         "tsa_accuracy_ms",
                                         "ledger_key",
                                         "ledger_origin",
                                         "checkpoint_interval",
                                         "evidence_key",
                                         "exchange_key",
                                         "partner_cert",
                                         "partner_key",
                                         "evidence_max_files",
                                         "evidence_max_file",
                                         "evidence_max_total",
                                         "tenant",
                                         "key",
                                         "officer",
                                         "route_limit",
                                         "partner",
                                         "aeo_origin",
                                         "aeo_id_prefix",
                                         "aeo_poll_interval",
                                         "aeo_digest_interval",
                                         "p2p_name",
                                         "p2p_stream_max",
                                         "admin_socket",
                                         "log_format",
                                         NULL};

static void cfg_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->workers = 2;
    cfg->keyholder_threads = 2;
    cfg->max_body = 1024 * 1024;
    cfg->max_hashes = 1000;
    cfg->max_streams = 100;
    cfg->max_connections = 4096;
    cfg->max_connections_per_address = 256;
    cfg->idle_timeout = 120;
    cfg->handshake_timeout = 10;
    cfg->tls_ticket_lifetime = 3600;
    cfg->keyholder_timeout = 30;
    cfg->max_header_size = 16384;
    cfg->header_timeout = 10;
    cfg->body_timeout = 30;
    cfg->send_timeout = 30;
    cfg->request_rate = 5000;
    cfg->request_burst = 10000;
    cfg->control_frame_rate = 200;
    cfg->reset_rate = 33; /* nghttp2's defaults for its rapid-reset limiter */
    cfg->reset_burst = 1000;
    cfg->max_continuations = 8;
    cfg->connection_rate = 100;
    cfg->tsa_accuracy_ms = 1000;
    cfg->checkpoint_interval = 10;
    cfg->aeo_poll_interval = 60;
    cfg->aeo_digest_interval = 3600;
    cfg->evidence_max_files = 100;
    cfg->evidence_max_file = 20 * 1024 * 1024;
    cfg->evidence_max_total = 64 * 1024 * 1024;
    cfg->p2p_stream_max = 64;
}

static int cfg_err(char *err, size_t errlen, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cfg_err(char *err, size_t errlen, int line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "line %d: %s", line, msg);
    return PS_E_CONFIG;
}

static int set_str(char **dst, const char *v)
{
    char *s = strdup(v);

    if (s == NULL)
        return PS_E_NOMEM;
    free(*dst);
    *dst = s;
    return PS_OK;
}

/* Split a line into words on blanks; modifies line. */
static int split_words(char *line, char **w, int max)
{
    int n = 0;
    char *p = line;

    while (*p) {
        while (*p == ' ' || *p == '\t')
            *p++ = 0;
        if (*p == 0 || *p == '#')
            break;
        if (n == max)
            return -1;
        w[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    if (*p == '#')
        *p = 0;
    return n;
}

static int parse_listen(struct config *cfg, const char *v)
{
    const char *colon = strrchr(v, ':');
    char host[256];
    long long port;
    size_t hl;
    int bracketed = 0;

    if (colon == NULL || colon == v)
        return PS_E_INVAL;
    hl = (size_t)(colon - v);
    if (v[0] == '[' && hl >= 2 && v[hl - 1] == ']') {
        v++;
        hl -= 2;
        bracketed = 1;
    }
    if (hl == 0 || hl >= sizeof(host))
        return PS_E_INVAL;
    memcpy(host, v, hl);
    host[hl] = 0;
    if (!bracketed && strchr(host, ':') != NULL)
        return PS_E_INVAL; /* an IPv6 address needs brackets: [::1]:8443 */
    if (strnum_ll(colon + 1, 1, 65535, &port) != PS_OK)
        return PS_E_INVAL;
    cfg->listen_port = (int)port;
    return set_str(&cfg->listen_host, host);
}

static int parse_algs(const char *v, unsigned *out)
{
    char tmp[512], *p, *comma;

    if (strlen(v) >= sizeof(tmp))
        return PS_E_INVAL;
    memcpy(tmp, v, strlen(v) + 1);
    *out = 0;
    for (p = tmp; p; p = comma) {
        enum ps_alg a;

        if ((comma = strchr(p, ',')) != NULL)
            *comma++ = 0;
        if ((a = alg_from_name(p)) == ALG_NONE)
            return PS_E_INVAL;
        *out |= 1u << a;
    }
    return PS_OK;
}

static int valid_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

/* AEO (issue 5): a partner's feed origin defaults to its id in upper case (sg -> SG) */
static int aeo_origin_default_partner(struct cfg_partner *p)
{
    char o[AEO_ORIGIN_MAX + 1];
    size_t i;

    for (i = 0; p->id[i] && i < AEO_ORIGIN_MAX; i++)
        o[i] = (p->id[i] >= 'a' && p->id[i] <= 'z') ? (char)(p->id[i] - 'a' + 'A') : p->id[i];
    o[i] = 0;
    return set_str(&p->aeo_origin, o);
}

/* ... and ours to the part of ledger_origin before its first '/' (portseal/ledger -> portseal),
 * or "portseal" when that is no valid origin */
static int aeo_origin_default(struct config *cfg)
{
    char o[AEO_ORIGIN_MAX + 1];
    size_t n = strcspn(cfg->ledger_origin, "/");

    snprintf(o, sizeof(o), "%.*s", (int)(n > AEO_ORIGIN_MAX ? AEO_ORIGIN_MAX : n),
             cfg->ledger_origin);
    return set_str(&cfg->aeo_origin, config_aeo_origin_valid(o) ? o : "portseal");
}

/* aeo_id_prefix: "any", or 1-8 comma-separated prefixes of 1-16 characters A-Z 0-9 */
#define AEO_ID_PREFIXES_MAX 8
static int aeo_id_prefix_valid(const char *s)
{
    size_t items = 0;

    if (strcmp(s, "any") == 0)
        return 1;
    while (1) {
        size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

        if (n == 0 || n > AEO_PREFIX_MAX || ++items > AEO_ID_PREFIXES_MAX)
            return 0;
        if (s[n] == 0)
            return 1;
        if (s[n] != ',')
            return 0;
        s += n + 1;
    }
}

/* The length of the longest prefix of list (an aeo_id_prefix value) that begins id; 0: none. */
static size_t aeo_id_prefix_match(const char *list, const char *id)
{
    size_t best = 0;

    if (strcmp(list, "any") == 0)
        return 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");

        if (n > best && strncmp(p, id, n) == 0)
            best = n;
        p += n + (p[n] == ',');
    }
    return best;
}

/* 1 if the prefix lists a and b share an item */
static int aeo_id_prefix_overlap(const char *a, const char *b)
{
    if (strcmp(a, "any") == 0 || strcmp(b, "any") == 0)
        return 0;
    for (const char *p = a; *p;) {
        size_t n = strcspn(p, ",");

        for (const char *q = b; *q;) {
            size_t m = strcspn(q, ",");

            if (m == n && strncmp(p, q, n) == 0)
                return 1;
            q += m + (q[m] == ',');
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

/* An origin's default prefixes: "AEO" + the origin when the default identifier table has that
 * prefix (CN -> AEOCN, SG -> AEOSG), else "any". */
static int aeo_id_prefix_default(const char *origin, char **out)
{
    struct aeo_id_rules t;
    char p[AEO_PREFIX_MAX + 8];

    aeo_id_rules_default(&t);
    snprintf(p, sizeof(p), "AEO%.20s", origin);
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.rule[i].prefix, p) == 0)
            return set_str(out, p);
    return set_str(out, "any");
}

int config_aeo_id_allowed(const struct config *cfg, const char *origin, const char *aeo_id)
{
    const char *mine = NULL;
    size_t best = 0, at;

    /* the origin with the longest matching prefix owns the identifier */
    for (size_t i = 0; i <= cfg->npartners; i++) {
        const char *o = i < cfg->npartners ? cfg->partners[i].aeo_origin : cfg->aeo_origin;
        const char *l = i < cfg->npartners ? cfg->partners[i].aeo_id_prefix : cfg->aeo_id_prefix;

        if (o == NULL || l == NULL)
            continue;
        if (strcmp(o, origin) == 0)
            mine = l;
        if ((at = aeo_id_prefix_match(l, aeo_id)) > best)
            best = at;
    }
    if (mine == NULL)
        return 0; /* no origin of this configuration */
    if (best == 0)
        return strcmp(mine, "any") == 0;
    return aeo_id_prefix_match(mine, aeo_id) == best;
}

int config_aeo_id_owner(const void *cfg, const char *origin, const char *aeo_id)
{
    return config_aeo_id_allowed(cfg, origin, aeo_id);
}

int config_aeo_origin_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > AEO_ORIGIN_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("._:/-", *s) != NULL))
            return 0;
    return 1;
}

/* partner ID root=FILE cn=CN [url=https://HOST:PORT] [crl=FILE] [aeo_origin=ORIGIN] */
/* route_limit NAME [body=BYTES] [headers=BYTES]: a route's own body and header block limits.
 * body only for routes that take a body (1024 .. 1 GiB); headers 256 .. max_header_size (checked
 * in cfg_check, once max_header_size is known). */
static int parse_route_limit(struct config *cfg, char **w, int n, int line, char *err,
                             size_t errlen)
{
    const struct route *rt = NULL;
    struct cfg_route_limit *l;

    if (n < 3)
        return cfg_err(err, errlen, line, "usage: route_limit ROUTE [body=BYTES] [headers=BYTES]");
    for (const struct route *x = routes; x->method; x++)
        if (strcmp(x->name, w[1]) == 0)
            rt = x;
    if (rt == NULL)
        return cfg_err(err, errlen, line, "route_limit: no route is named %s", w[1]);
    if (config_route_limit(cfg, w[1]))
        return cfg_err(err, errlen, line, "duplicate route_limit for %s", w[1]);
    if (cfg->nroute_limits == CFG_MAX_ROUTE_LIMITS)
        return cfg_err(err, errlen, line, "too many route_limit lines");
    l = &cfg->route_limits[cfg->nroute_limits];
    l->body = l->headers = -1;
    for (int i = 2; i < n; i++) {
        char *eq = strchr(w[i], '=');
        long long v;

        if (eq == NULL)
            return cfg_err(err, errlen, line, "route_limit option '%s' is not name=value", w[i]);
        *eq++ = 0;
        if (strcmp(w[i], "body") == 0) {
            if (rt->max_body == 0)
                return cfg_err(err, errlen, line, "route %s takes no body", w[1]);
            if (strnum_ll(eq, 1024, 1LL << 30, &v) != PS_OK)
                return cfg_err(err, errlen, line, "body= wants 1024 to 1073741824 bytes");
            l->body = v;
        } else if (strcmp(w[i], "headers") == 0) {
            if (strnum_ll(eq, 256, 1LL << 20, &v) != PS_OK)
                return cfg_err(err, errlen, line, "headers= wants 256 to 1048576 bytes");
            l->headers = v;
        } else {
            return cfg_err(err, errlen, line, "unknown route_limit option '%s'", w[i]);
        }
    }
    l->route = strdup(w[1]);
    if (l->route == NULL)
        return PS_E_NOMEM;
    cfg->nroute_limits++;
    return PS_OK;
}

const struct cfg_route_limit *config_route_limit(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nroute_limits; i++)
        if (strcmp(cfg->route_limits[i].route, name) == 0)
            return &cfg->route_limits[i];
    return NULL;
}

static int parse_partner(struct config *cfg, char **w, int n, int line, char *err, size_t errlen)
{
    struct cfg_partner *p;
    int r;

    if (n < 2 || !valid_id(w[1]))
        return cfg_err(err, errlen, line, "partner id must be 1-64 of [A-Za-z0-9._-]");
    if (config_partner(cfg, w[1]))
        return cfg_err(err, errlen, line, "duplicate partner %s", w[1]);
    if (cfg->npartners == CFG_MAX_PARTNERS)
        return cfg_err(err, errlen, line, "too many partners");
    p = &cfg->partners[cfg->npartners++];
    p->line = line;
    if ((r = set_str(&p->id, w[1])) != PS_OK)
        return r;
    for (int i = 2; i < n; i++) {
        char *eq = strchr(w[i], '=');

        if (eq == NULL)
            return cfg_err(err, errlen, line, "partner option '%s' is not name=value", w[i]);
        *eq++ = 0;
        if (strcmp(w[i], "root") == 0)
            r = set_str(&p->root, eq);
        else if (strcmp(w[i], "cn") == 0)
            r = set_str(&p->cn, eq);
        else if (strcmp(w[i], "crl") == 0)
            r = set_str(&p->crl, eq);
        else if (strcmp(w[i], "aeo_origin") == 0) {
            if (!config_aeo_origin_valid(eq))
                return cfg_err(err, errlen, line, "aeo_origin= wants 1-64 of [A-Za-z0-9._:/-]");
            r = set_str(&p->aeo_origin, eq);
        } else if (strcmp(w[i], "aeo_id_prefix") == 0) {
            if (!aeo_id_prefix_valid(eq))
                return cfg_err(err, errlen, line,
                               "aeo_id_prefix= wants any, or up to 8 comma-separated prefixes of "
                               "1-16 of [A-Z0-9]");
            r = set_str(&p->aeo_id_prefix, eq);
        } else if (strcmp(w[i], "url") == 0) {
            if (strncmp(eq, "https://", 8) != 0 || strlen(eq) > 255 || strpbrk(eq + 8, "/?#@") ||
                strchr(eq + 8, ':') == NULL)
                return cfg_err(err, errlen, line, "url= must be https://HOST:PORT");
            r = set_str(&p->url, eq);
        } else
            return cfg_err(err, errlen, line, "unknown partner option '%s'", w[i]);
        if (r != PS_OK)
            return r;
    }
    if (p->root == NULL || p->cn == NULL)
        return cfg_err(err, errlen, line, "partner %s needs root= and cn=", p->id);
    if (p->aeo_origin == NULL && (r = aeo_origin_default_partner(p)) != PS_OK)
        return r;
    if (p->aeo_id_prefix == NULL && (r = aeo_id_prefix_default(p->aeo_origin, &p->aeo_id_prefix)))
        return r;
    for (size_t i = 0; i + 1 < cfg->npartners; i++)
        if (strcmp(cfg->partners[i].cn, p->cn) == 0)
            return cfg_err(err, errlen, line, "partner CN %s is already partner %s's", p->cn,
                           cfg->partners[i].id);
    return PS_OK;
}

static int parse_key(struct config *cfg, char **w, int n, int line, char *err, size_t errlen)
{
    struct cfg_key *k;
    int r;

    if (n < 2)
        return cfg_err(err, errlen, line, "key needs an id");
    if (!valid_id(w[1]))
        return cfg_err(err, errlen, line, "key id must be 1-64 of [A-Za-z0-9._-]");
    if (config_key(cfg, w[1]))
        return cfg_err(err, errlen, line, "duplicate key %s", w[1]);
    if (cfg->nkeys == CFG_MAX_KEYS)
        return cfg_err(err, errlen, line, "too many keys");
    k = &cfg->keys[cfg->nkeys++];
    k->line = line;
    if ((r = set_str(&k->id, w[1])) != PS_OK)
        return r;
    for (int i = 2; i < n; i++) {
        char *eq = strchr(w[i], '=');

        if (eq == NULL)
            return cfg_err(err, errlen, line, "key option '%s' is not name=value", w[i]);
        *eq++ = 0;
        if (strcmp(w[i], "tenant") == 0) {
            if (!valid_id(eq))
                return cfg_err(err, errlen, line, "tenant= must be a tenant id");
            r = set_str(&k->tenant, eq);
        } else if (strcmp(w[i], "label") == 0)
            r = set_str(&k->label, eq);
        else if (strcmp(w[i], "cert") == 0)
            r = set_str(&k->cert_file, eq);
        else if (strcmp(w[i], "sm2") == 0)
            r = set_str(&k->sm2_file, eq);
        else if (strcmp(w[i], "profile") == 0) {
            if (ceb_profile_by_name(eq) == NULL)
                return cfg_err(err, errlen, line, "unknown XML signature profile '%s'", eq);
            r = set_str(&k->profile, eq);
        } else if (strcmp(w[i], "algs") == 0) {
            if (parse_algs(eq, &k->algs) != PS_OK)
                return cfg_err(err, errlen, line, "unknown algorithm in algs=%s", eq);
            r = PS_OK;
        } else
            return cfg_err(err, errlen, line, "unknown key option '%s'", w[i]);
        if (r != PS_OK)
            return r;
    }
    /* tenant= may be left out only for the appliance's own key (tsa_key), checked at the end */
    if (k->label == NULL || k->cert_file == NULL)
        return cfg_err(err, errlen, line, "key %s needs tenant=, label= and cert=", k->id);
    return PS_OK;
}

static int parse_uint(const char *v, long long lo, long long hi, long long *out)
{
    return strnum_ll(v, lo, hi, out);
}

/* tenant ID CLIENT_CERT_CN [sign_rate=N] [sign_burst=N] */
static int parse_tenant(struct config *cfg, char **w, int n, int line, char *err, size_t errlen)
{
    struct cfg_tenant t = {0};
    long long v;
    int r;

    if (n < 3 || n > 5 || strncmp(w[2], "sign_rate=", 10) == 0 ||
        strncmp(w[2], "sign_burst=", 11) == 0)
        return cfg_err(err, errlen, line,
                       "usage: tenant ID CLIENT_CERT_CN [sign_rate=N] [sign_burst=N]");
    if (!valid_id(w[1]))
        return cfg_err(err, errlen, line, "tenant id must be 1-64 of [A-Za-z0-9._-]");
    if (cfg->ntenants == CFG_MAX_TENANTS)
        return cfg_err(err, errlen, line, "too many tenants");
    for (size_t i = 0; i < cfg->ntenants; i++)
        if (strcmp(cfg->tenants[i].id, w[1]) == 0 || strcmp(cfg->tenants[i].cn, w[2]) == 0)
            return cfg_err(err, errlen, line, "duplicate tenant id or CN");
    for (int i = 3; i < n; i++) {
        const char *eq = strchr(w[i], '=');
        int rate = eq && (size_t)(eq - w[i]) == 9 && strncmp(w[i], "sign_rate", 9) == 0;
        int burst = eq && (size_t)(eq - w[i]) == 10 && strncmp(w[i], "sign_burst", 10) == 0;
        unsigned *dst = rate ? &t.sign_rate : &t.sign_burst;

        if (!rate && !burst)
            return cfg_err(err, errlen, line,
                           "unknown tenant option '%s' (sign_rate=N, sign_burst=N)", w[i]);
        if (*dst != 0)
            return cfg_err(err, errlen, line, "tenant %s: %s= given twice", w[1],
                           rate ? "sign_rate" : "sign_burst");
        if (parse_uint(eq + 1, 1, rate ? CFG_MAX_SIGN_RATE : CFG_MAX_SIGN_BURST, &v) != PS_OK)
            return cfg_err(
                err, errlen, line, "tenant %s: %s= must be a number from 1 to %d (signatures%s)",
                w[1], rate ? "sign_rate" : "sign_burst",
                rate ? CFG_MAX_SIGN_RATE : CFG_MAX_SIGN_BURST, rate ? " per second" : "");
        *dst = (unsigned)v;
    }
    if (t.sign_burst && !t.sign_rate)
        return cfg_err(err, errlen, line, "tenant %s: sign_burst= needs sign_rate=", w[1]);
    if (t.sign_rate && !t.sign_burst)
        t.sign_burst = t.sign_rate;
    if ((r = set_str(&t.id, w[1])) != PS_OK || (r = set_str(&t.cn, w[2])) != PS_OK) {
        free(t.id);
        return r;
    }
    cfg->tenants[cfg->ntenants++] = t;
    return PS_OK;
}

static int parse_line(struct config *cfg, char **w, int n, int line, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
        {"user", offsetof(struct config, user)},
        {"pid_file", offsetof(struct config, pid_file)},
        {"state_dir", offsetof(struct config, state_dir)},
        {"tls_cert", offsetof(struct config, tls_cert)},
        {"tls_key", offsetof(struct config, tls_key)},
        {"client_ca", offsetof(struct config, client_ca)},
        {"crl", offsetof(struct config, crl)},
        {"pkcs11_module", offsetof(struct config, pkcs11_module)},
        {"pkcs11_token", offsetof(struct config, pkcs11_token)},
        {"pin_file", offsetof(struct config, pin_file)},
        {"sm2_wrap_key", offsetof(struct config, sm2_wrap_key)},
        {"verify_ca", offsetof(struct config, verify_ca)},
        {"tsa_key", offsetof(struct config, tsa_key)},
        {"ledger_key", offsetof(struct config, ledger_key)},
        {"evidence_key", offsetof(struct config, evidence_key)},
        {"exchange_key", offsetof(struct config, exchange_key)},
        {"partner_cert", offsetof(struct config, partner_cert)},
        {"partner_key", offsetof(struct config, partner_key)},
        {"p2p_name", offsetof(struct config, p2p_name)},
        {"admin_socket", offsetof(struct config, admin_socket)},
    };
    /* numbers: size_t fields (NUM_SIZE), unsigned (NUM_UINT), int (NUM_INT) */
    enum { NUM_INT, NUM_UINT, NUM_SIZE };
#define NUM(name, lo, hi, field, kind)                                                             \
    {                                                                                              \
        name, lo, hi, offsetof(struct config, field), kind                                         \
    }
    static const struct {
        const char *name;
        long long lo, hi;
        size_t off;
        int kind;
    } nums[] = {
        NUM("workers", 1, 64, workers, NUM_INT),
        NUM("keyholder_threads", 1, 64, keyholder_threads, NUM_INT),
        NUM("max_body", 1024, 1LL << 30, max_body, NUM_SIZE),
        NUM("max_hashes", 1, 10000, max_hashes, NUM_SIZE),
        NUM("max_streams", 1, 1000, max_streams, NUM_UINT),
        NUM("max_connections", 1, 1000000, max_connections, NUM_UINT),
        NUM("max_connections_per_address", 0, 1000000, max_connections_per_address, NUM_UINT),
        NUM("idle_timeout", 1, 86400, idle_timeout, NUM_UINT),
        NUM("handshake_timeout", 1, 3600, handshake_timeout, NUM_UINT),
        NUM("tls_ticket_lifetime", 0, 86400, tls_ticket_lifetime, NUM_UINT),
        NUM("keyholder_timeout", 1, 3600, keyholder_timeout, NUM_UINT),
        NUM("max_header_size", 1024, 1 << 20, max_header_size, NUM_UINT),
        NUM("header_timeout", 1, 3600, header_timeout, NUM_UINT),
        NUM("body_timeout", 1, 86400, body_timeout, NUM_UINT),
        NUM("send_timeout", 1, 86400, send_timeout, NUM_UINT),
        NUM("request_rate", 0, 1000000, request_rate, NUM_UINT),
        NUM("request_burst", 1, 10000000, request_burst, NUM_UINT),
        NUM("control_frame_rate", 1, 1000000, control_frame_rate, NUM_UINT),
        NUM("reset_rate", 1, 1000000, reset_rate, NUM_UINT),
        NUM("reset_burst", 1, 10000000, reset_burst, NUM_UINT),
        NUM("max_continuations", 1, 1000000, max_continuations, NUM_UINT),
        NUM("connection_rate", 0, 1000000, connection_rate, NUM_UINT),
        NUM("tsa_accuracy_ms", 0, 3600000, tsa_accuracy_ms, NUM_UINT),
        NUM("checkpoint_interval", 1, 86400, checkpoint_interval, NUM_UINT),
        NUM("aeo_poll_interval", 1, 86400, aeo_poll_interval, NUM_UINT),
        NUM("aeo_digest_interval", 1, 604800, aeo_digest_interval, NUM_UINT),
        NUM("evidence_max_files", 1, 10000, evidence_max_files, NUM_SIZE),
        NUM("evidence_max_file", 1, 1LL << 30, evidence_max_file, NUM_SIZE),
        NUM("evidence_max_total", 1, 1LL << 30, evidence_max_total, NUM_SIZE),
        NUM("p2p_stream_max", 0, 100000, p2p_stream_max, NUM_UINT),
    };
#undef NUM
    const char *d = w[0];
    long long v;

    if (strcmp(d, "tenant") == 0)
        return parse_tenant(cfg, w, n, line, err, errlen);
    if (strcmp(d, "key") == 0)
        return parse_key(cfg, w, n, line, err, errlen);
    if (strcmp(d, "partner") == 0)
        return parse_partner(cfg, w, n, line, err, errlen);
    if (strcmp(d, "route_limit") == 0)
        return parse_route_limit(cfg, w, n, line, err, errlen);
    if (strcmp(d, "officer") == 0) {
        struct cfg_officer *o;
        int r;

        if (n != 3)
            return cfg_err(err, errlen, line, "usage: officer ID CLIENT_CERT_CN");
        if (!valid_id(w[1]))
            return cfg_err(err, errlen, line, "officer id must be 1-64 of [A-Za-z0-9._-]");
        if (cfg->nofficers == CFG_MAX_OFFICERS)
            return cfg_err(err, errlen, line, "too many officers");
        for (size_t i = 0; i < cfg->nofficers; i++)
            if (strcmp(cfg->officers[i].id, w[1]) == 0 || strcmp(cfg->officers[i].cn, w[2]) == 0)
                return cfg_err(err, errlen, line, "duplicate officer id or CN");
        o = &cfg->officers[cfg->nofficers++];
        if ((r = set_str(&o->id, w[1])) != PS_OK || (r = set_str(&o->cn, w[2])) != PS_OK)
            return r;
        return PS_OK;
    }
    if (n != 2)
        return cfg_err(err, errlen, line, "%s takes exactly one value", d);
    if (strcmp(d, "listen") == 0) {
        if (parse_listen(cfg, w[1]) != PS_OK)
            return cfg_err(err, errlen, line, "listen wants HOST:PORT");
        return PS_OK;
    }
    if (strcmp(d, "tsa_policy") == 0) {
        if (!config_oid_valid(w[1]))
            return cfg_err(err, errlen, line, "tsa_policy wants a dotted OID such as 1.2.3.4.1");
        return set_str(&cfg->tsa_policy, w[1]);
    }
    if (strcmp(d, "ledger_origin") == 0) {
        if (!config_origin_valid(w[1]))
            return cfg_err(err, errlen, line,
                           "ledger_origin wants 1-255 printable characters without '+', such as "
                           "cn.portseal.example/ledger");
        return set_str(&cfg->ledger_origin, w[1]);
    }
    if (strcmp(d, "aeo_origin") == 0) {
        if (!config_aeo_origin_valid(w[1]))
            return cfg_err(err, errlen, line, "aeo_origin wants 1-64 of [A-Za-z0-9._:/-], e.g. CN");
        return set_str(&cfg->aeo_origin, w[1]);
    }
    if (strcmp(d, "aeo_id_prefix") == 0) {
        if (!aeo_id_prefix_valid(w[1]))
            return cfg_err(err, errlen, line,
                           "aeo_id_prefix wants any, or up to 8 comma-separated prefixes of 1-16 "
                           "of [A-Z0-9], e.g. AEOCN");
        return set_str(&cfg->aeo_id_prefix, w[1]);
    }
    if (strcmp(d, "log_format") == 0) {
        if (strcmp(w[1], "text") != 0 && strcmp(w[1], "json") != 0)
            return cfg_err(err, errlen, line, "log_format is text or json");
        return set_str(&cfg->log_format, w[1]);
    }
    if (strcmp(d, "pkcs11_env") == 0) {
        if (strchr(w[1], '=') == NULL || cfg->n_env == CFG_MAX_ENV)
            return cfg_err(err, errlen, line, "pkcs11_env wants NAME=VALUE (at most %d)",
                           CFG_MAX_ENV);
        return set_str(&cfg->pkcs11_env[cfg->n_env++], w[1]);
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strcmp(d, strs[i].name) == 0)
            return set_str((char **)((char *)cfg + strs[i].off), w[1]);
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (strcmp(d, nums[i].name) != 0)
            continue;
        if (parse_uint(w[1], nums[i].lo, nums[i].hi, &v) != PS_OK)
            return cfg_err(err, errlen, line, "%s must be a number from %lld to %lld", d,
                           nums[i].lo, nums[i].hi);
        if (strcmp(d, "tls_ticket_lifetime") == 0 && v > 0 && v < 60)
            return cfg_err(err, errlen, line,
                           "tls_ticket_lifetime is 0 (no resumption) or 60 to 86400 seconds");
        if (nums[i].kind == NUM_INT)
            *(int *)((char *)cfg + nums[i].off) = (int)v;
        else if (nums[i].kind == NUM_UINT)
            *(unsigned *)((char *)cfg + nums[i].off) = (unsigned)v;
        else
            *(size_t *)((char *)cfg + nums[i].off) = (size_t)v;
        return PS_OK;
    }
    return cfg_err(err, errlen, line, "unknown directive '%s'", d);
}

/*
 * A key of the appliance itself (tsa_key, ledger_key): configured without tenant=, it gets an
 * owner no tenant id can be, so no tenant lists it or signs with it (a tenant that could sign
 * arbitrary digests with the TSA key could forge time-stamps; with the ledger key, checkpoints).
 */
static int own_key_check(struct config *cfg, const char *directive, const char *id,
                         const char *owner, char *err, size_t errlen)
{
    struct cfg_key *k = NULL;

    for (size_t i = 0; i < cfg->nkeys; i++)
        if (strcmp(cfg->keys[i].id, id) == 0)
            k = &cfg->keys[i];
    if (k == NULL) {
        snprintf(err, errlen, "%s names unknown key %s", directive, id);
        return PS_E_CONFIG;
    }
    if (k->tenant != NULL) {
        snprintf(err, errlen,
                 "%s %s belongs to tenant %s; the appliance's own keys are configured without "
                 "tenant=",
                 directive, k->id, k->tenant);
        return PS_E_CONFIG;
    }
    if (set_str(&k->tenant, owner) != PS_OK) {
        snprintf(err, errlen, "out of memory");
        return PS_E_CONFIG;
    }
    return PS_OK;
}

/* The TSA directives go together. */
static int tsa_check(struct config *cfg, char *err, size_t errlen)
{
    if (cfg->tsa_key == NULL) {
        if (cfg->tsa_policy != NULL) {
            snprintf(err, errlen, "tsa_policy is set but tsa_key is not");
            return PS_E_CONFIG;
        }
        return PS_OK;
    }
    if (cfg->tsa_policy == NULL) {
        snprintf(err, errlen, "tsa_key needs tsa_policy (the TSA policy OID)");
        return PS_E_CONFIG;
    }
    return own_key_check(cfg, "tsa_key", cfg->tsa_key, CFG_OWNER_TSA, err, errlen);
}

static int cfg_check(struct config *cfg, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
    } req[] = {
        {"state_dir", offsetof(struct config, state_dir)},
        {"tls_cert", offsetof(struct config, tls_cert)},
        {"tls_key", offsetof(struct config, tls_key)},
        {"client_ca", offsetof(struct config, client_ca)},
        {"pkcs11_module", offsetof(struct config, pkcs11_module)},
        {"pkcs11_token", offsetof(struct config, pkcs11_token)},
        {"pin_file", offsetof(struct config, pin_file)},
    };
    int r;

    if (cfg->sm2_wrap_key == NULL && set_str(&cfg->sm2_wrap_key, "sm2-wrap") != PS_OK)
        return PS_E_NOMEM;
    /* started as root, workers never keep root: unprivileged unless told which user */
    if (cfg->user == NULL && set_str(&cfg->user, "nobody") != PS_OK)
        return PS_E_NOMEM;
    if (cfg->log_format == NULL && set_str(&cfg->log_format, "text") != PS_OK)
        return PS_E_NOMEM;
    if (cfg->listen_host == NULL) {
        snprintf(err, errlen, "missing directive 'listen'");
        return PS_E_CONFIG;
    }
    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
        if (*(char **)((char *)cfg + req[i].off) == NULL) {
            snprintf(err, errlen, "missing directive '%s'", req[i].name);
            return PS_E_CONFIG;
        }
    if ((r = tsa_check(cfg, err, errlen)) != PS_OK)
        return r;
    if ((cfg->partner_cert == NULL) != (cfg->partner_key == NULL)) {
        snprintf(err, errlen, "partner_cert and partner_key go together");
        return PS_E_CONFIG;
    }
    for (size_t i = 0; i < cfg->nroute_limits; i++)
        if (cfg->route_limits[i].headers > (long long)cfg->max_header_size) {
            snprintf(err, errlen,
                     "route_limit %s: headers=%lld is above max_header_size (%u), which every "
                     "request already meets",
                     cfg->route_limits[i].route, cfg->route_limits[i].headers,
                     cfg->max_header_size);
            return PS_E_CONFIG;
        }
    for (size_t i = 0; i < cfg->nofficers; i++)
        if (config_tenant_by_cn(cfg, cfg->officers[i].cn)) {
            snprintf(err, errlen, "officer %s: CN %s is already a tenant's", cfg->officers[i].id,
                     cfg->officers[i].cn);
            return PS_E_CONFIG;
        }
    if (cfg->ledger_origin == NULL && set_str(&cfg->ledger_origin, "portseal/ledger") != PS_OK)
        return PS_E_NOMEM;
    if (cfg->aeo_origin == NULL && (r = aeo_origin_default(cfg)) != PS_OK)
        return r;
    if (cfg->aeo_id_prefix == NULL &&
        (r = aeo_id_prefix_default(cfg->aeo_origin, &cfg->aeo_id_prefix)) != PS_OK)
        return r;
    for (size_t i = 0; i < cfg->npartners; i++)
        for (size_t j = 0; j <= i; j++)
            if (aeo_id_prefix_overlap(cfg->partners[i].aeo_id_prefix,
                                      j == i ? cfg->aeo_id_prefix : cfg->partners[j].aeo_id_prefix))
                return cfg_err(err, errlen, cfg->partners[i].line,
                               "partner %s: AEO identifier prefixes %s overlap %s%s (%s): an "
                               "identifier belongs to one origin",
                               cfg->partners[i].id, cfg->partners[i].aeo_id_prefix,
                               j == i ? "ours" : cfg->partners[j].id, j == i ? "" : "'s",
                               j == i ? cfg->aeo_id_prefix : cfg->partners[j].aeo_id_prefix);
    for (size_t i = 0; i < cfg->npartners; i++)
        for (size_t j = 0; j <= i; j++)
            if (strcmp(cfg->partners[i].aeo_origin,
                       j == i ? cfg->aeo_origin : cfg->partners[j].aeo_origin) == 0)
                return cfg_err(err, errlen, cfg->partners[i].line,
                               "partner %s: AEO origin %s is already %s%s", cfg->partners[i].id,
                               cfg->partners[i].aeo_origin, j == i ? "ours" : cfg->partners[j].id,
                               j == i ? "" : "'s");
    if (cfg->ledger_key && (r = own_key_check(cfg, "ledger_key", cfg->ledger_key, CFG_OWNER_LEDGER,
                                              err, errlen)) != PS_OK)
        return r;
    if (cfg->evidence_key && (r = own_key_check(cfg, "evidence_key", cfg->evidence_key,
                                                CFG_OWNER_EVIDENCE, err, errlen)) != PS_OK)
        return r;
    if (cfg->exchange_key && (r = own_key_check(cfg, "exchange_key", cfg->exchange_key,
                                                CFG_OWNER_EXCHANGE, err, errlen)) != PS_OK)
        return r;
    if (cfg->p2p_name && !p2p_id_ok(cfg->p2p_name, strlen(cfg->p2p_name))) {
        snprintf(err, errlen, "p2p_name %.80s: 1-%d characters A-Z a-z 0-9 . _ : -", cfg->p2p_name,
                 P2P_ID_MAX);
        return PS_E_CONFIG;
    }
    for (size_t i = 0; i < cfg->nkeys; i++) {
        int found = 0;

        if (cfg->keys[i].tenant == NULL)
            return cfg_err(err, errlen, cfg->keys[i].line,
                           "key %s needs tenant= (only the appliance's own keys: tsa_key, "
                           "ledger_key, evidence_key, exchange_key have none)",
                           cfg->keys[i].id);
        if (cfg->keys[i].tenant[0] == '@')
            continue;
        for (size_t j = 0; j < cfg->ntenants; j++)
            found |= strcmp(cfg->tenants[j].id, cfg->keys[i].tenant) == 0;
        if (!found) {
            snprintf(err, errlen, "key %s names unknown tenant %s", cfg->keys[i].id,
                     cfg->keys[i].tenant);
            return PS_E_CONFIG;
        }
    }
    return PS_OK;
}

int config_parse(const char *text, size_t len, struct config *cfg, char *err, size_t errlen)
{
    char line[4096], *w[CFG_MAX_WORDS];
    size_t pos = 0;
    int lineno = 0, r;

    cfg_defaults(cfg);
    while (pos < len) {
        size_t end = pos, ll;
        int n;

        while (end < len && text[end] != '\n')
            end++;
        ll = end - pos;
        lineno++;
        if (ll >= sizeof(line)) {
            r = cfg_err(err, errlen, lineno, "line too long");
            goto fail;
        }
        if (memchr(text + pos, 0, ll) != NULL) {
            r = cfg_err(err, errlen, lineno, "NUL byte in line");
            goto fail;
        }
        memcpy(line, text + pos, ll);
        line[ll] = 0;
        pos = end + 1;
        if (ll && line[ll - 1] == '\r')
            line[ll - 1] = 0;
        if ((n = split_words(line, w, CFG_MAX_WORDS)) < 0) {
            r = cfg_err(err, errlen, lineno, "too many words");
            goto fail;
        }
        if (n == 0)
            continue;
        if ((r = parse_line(cfg, w, n, lineno, err, errlen)) != PS_OK) {
            if (r != PS_E_CONFIG)
                snprintf(err, errlen, "line %d: %s", lineno, ps_strerror(r));
            goto fail;
        }
    }
    if ((r = cfg_check(cfg, err, errlen)) != PS_OK)
        goto fail;
    return PS_OK;
fail:
    config_free(cfg);
    return PS_E_CONFIG;
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
    struct buf b;
    char chunk[8192];
    size_t n;
    FILE *f;
    int r;

    if ((f = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return PS_E_CONFIG;
    }
    buf_init(&b, CFG_MAX_FILE);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&b, chunk, n) != PS_OK) {
            snprintf(err, errlen, "%s is larger than %d bytes", path, CFG_MAX_FILE);
            fclose(f);
            buf_free(&b);
            return PS_E_CONFIG;
        }
    fclose(f);
    r = config_parse((const char *)b.data, b.len, cfg, err, errlen);
    buf_free(&b);
    return r;
}

void config_free(struct config *cfg)
{
    char **strs[] = {
        &cfg->listen_host,   &cfg->user,         &cfg->pid_file,     &cfg->state_dir,
        &cfg->tls_cert,      &cfg->tls_key,      &cfg->client_ca,    &cfg->crl,
        &cfg->pkcs11_module, &cfg->pkcs11_token, &cfg->pin_file,     &cfg->sm2_wrap_key,
        &cfg->verify_ca,     &cfg->tsa_key,      &cfg->tsa_policy,   &cfg->ledger_key,
        &cfg->ledger_origin, &cfg->evidence_key, &cfg->exchange_key, &cfg->partner_cert,
        &cfg->partner_key,   &cfg->aeo_origin,   &cfg->p2p_name,     &cfg->aeo_id_prefix};

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    free(cfg->p2p_name); /* p2p channel */
    cfg->p2p_name = NULL;
    free(cfg->admin_socket); /* the parent's admin socket */
    cfg->admin_socket = NULL;
    free(cfg->log_format);
    cfg->log_format = NULL;
    for (size_t i = 0; i < cfg->n_env; i++)
        free(cfg->pkcs11_env[i]);
    for (size_t i = 0; i < cfg->ntenants; i++) {
        free(cfg->tenants[i].id);
        free(cfg->tenants[i].cn);
    }
    for (size_t i = 0; i < cfg->npartners; i++) {
        free(cfg->partners[i].id);
        free(cfg->partners[i].root);
        free(cfg->partners[i].cn);
        free(cfg->partners[i].url);
        free(cfg->partners[i].crl);
        free(cfg->partners[i].aeo_origin);
        free(cfg->partners[i].aeo_id_prefix);
    }
    for (size_t i = 0; i < cfg->nroute_limits; i++)
        free(cfg->route_limits[i].route);
    for (size_t i = 0; i < cfg->nofficers; i++) {
        free(cfg->officers[i].id);
        free(cfg->officers[i].cn);
    }
    cfg->npartners = cfg->nofficers = cfg->nroute_limits = 0;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        free(cfg->keys[i].id);
        free(cfg->keys[i].tenant);
        free(cfg->keys[i].label);
        free(cfg->keys[i].cert_file);
        free(cfg->keys[i].profile);
        free(cfg->keys[i].sm2_file);
    }
    cfg->n_env = cfg->ntenants = cfg->nkeys = 0;
}

const struct cfg_key *config_key(const struct config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->nkeys; i++)
        if (strcmp(cfg->keys[i].id, id) == 0)
            return &cfg->keys[i];
    return NULL;
}

const struct cfg_tenant *config_tenant_by_cn(const struct config *cfg, const char *cn)
{
    for (size_t i = 0; i < cfg->ntenants; i++)
        if (strcmp(cfg->tenants[i].cn, cn) == 0)
            return &cfg->tenants[i];
    return NULL;
}

const struct cfg_officer *config_officer_by_cn(const struct config *cfg, const char *cn)
{
    for (size_t i = 0; i < cfg->nofficers; i++)
        if (strcmp(cfg->officers[i].cn, cn) == 0)
            return &cfg->officers[i];
    return NULL;
}

const struct cfg_partner *config_partner(const struct config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->npartners; i++)
        if (strcmp(cfg->partners[i].id, id) == 0)
            return &cfg->partners[i];
    return NULL;
}

int config_origin_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 255)
        return 0;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e || *s == '+')
            return 0;
    return 1;
}

int config_oid_valid(const char *s)
{
    size_t n = strlen(s);
    int arcs = 0;
    unsigned long long first = 0;

    if (n == 0 || n > 127)
        return 0;
    while (*s) {
        const char *start = s;
        unsigned long long v = 0;

        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (unsigned long long)(*s - '0');
            if (v > 0xFFFFFFFFull)
                return 0; /* arcs beyond 32 bits: not supported */
            s++;
        }
        if (s == start || (*start == '0' && s - start > 1))
            return 0;
        if (arcs == 0 && v > 2)
            return 0;
        if (arcs == 1 && first < 2 && v >= 40)
            return 0;
        if (arcs == 0)
            first = v;
        arcs++;
        if (*s == '.') {
            s++;
            if (*s == 0)
                return 0;
        } else if (*s != 0) {
            return 0;
        }
    }
    return arcs >= 2;
}
