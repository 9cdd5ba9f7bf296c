#include "signreq.h"

#include <string.h>

struct rd {
    const char *p, *end;
};

static void ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* A token character after white space; 0 at the end. */
static char peek(struct rd *r)
{
    ws(r);
    return r->p < r->end ? *r->p : 0;
}

/* A string of printable ASCII without escapes. */
static int str(struct rd *r, struct signreq_str *s)
{
    const char *q;

    if (peek(r) != '"')
        return -1;
    q = ++r->p;
    while (r->p < r->end && *r->p != '"') {
        if ((unsigned char)*r->p < 0x20 || (unsigned char)*r->p > 0x7e || *r->p == '\\')
            return -1;
        r->p++;
    }
    if (r->p == r->end || (size_t)(r->p - q) > SIGNREQ_MAX_STR)
        return -1;
    s->p = q;
    s->len = (size_t)(r->p - q);
    r->p++;
    return 0;
}

static int is(const struct signreq_str *s, const char *name)
{
    return s->len == strlen(name) && memcmp(s->p, name, s->len) == 0;
}

static int hashes(struct rd *r, size_t max, struct signreq *q)
{
    struct signreq_str h;

    if (peek(r) != '[')
        return -1;
    q->hashes = r->p++;
    q->n = 0;
    for (;;) {
        if (str(r, &h) != 0 || ++q->n > max)
            return -1;
        if (peek(r) != ',')
            break;
        r->p++;
    }
    if (peek(r) != ']')
        return -1;
    r->p++;
    return 0;
}

int signreq_parse(const char *p, size_t len, size_t max_hashes, struct signreq *out)
{
    struct rd r = {p, p};
    struct signreq_str name;

    memset(out, 0, sizeof(*out));
    if (p == NULL || len == 0)
        return PS_E_UNSUPPORTED; /* an empty body: jansson says why */
    r.end = p + len;
    if (peek(&r) != '{')
        return PS_E_UNSUPPORTED;
    r.p++;
    for (;;) {
        struct signreq_str *v;

        if (str(&r, &name) != 0 || peek(&r) != ':')
            return PS_E_UNSUPPORTED;
        r.p++;
        if (is(&name, "hashes")) {
            if (out->hashes || hashes(&r, max_hashes, out) != 0)
                return PS_E_UNSUPPORTED;
        } else {
            v = is(&name, "key")      ? &out->key
                : is(&name, "alg")    ? &out->alg
                : is(&name, "format") ? &out->format
                                      : NULL;
            if (v == NULL || v->p || str(&r, v) != 0)
                return PS_E_UNSUPPORTED;
        }
        if (peek(&r) != ',')
            break;
        r.p++;
    }
    if (peek(&r) != '}')
        return PS_E_UNSUPPORTED;
    r.p++;
    ws(&r);
    if (r.p != r.end || out->key.p == NULL || out->hashes == NULL)
        return PS_E_UNSUPPORTED;
    return PS_OK;
}

void signreq_next(const char **pos, struct signreq_str *out)
{
    const char *p = *pos;

    while (*p != '"') /* '[' or ',' and white space: the array was checked */
        p++;
    out->p = ++p;
    while (*p != '"')
        p++;
    out->len = (size_t)(p - out->p);
    *pos = p + 1;
}
