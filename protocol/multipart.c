/* multipart.c - bounded multipart/form-data parser; see multipart.h. */
#include "multipart.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 2046 bchars */
static int is_bchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("'()+_,-./:=? ", c) != NULL);
}

/*
 * One "; name=value" parameter list from p[0..end). Calls back for each parameter with the
 * lower-cased name and the unquoted value. Returns 0 or -1 (reason in err).
 */
typedef int (*param_fn)(void *ctx, const char *name, const char *value, size_t vlen, char *err,
                        size_t errlen);

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static int parse_params(const char *p, const char *end, param_fn fn, void *ctx, const char *what,
                        char *err, size_t errlen)
{
    char name[32], value[MP_MAX_NAME * 2 + 2];

    for (;;) {
        size_t nl = 0, vl = 0;

        p = skip_ws(p, end);
        if (p == end)
            return 0;
        if (*p != ';')
            return ps_errf(-1, err, errlen, "%s: expected ';' between parameters", what);
        p = skip_ws(p + 1, end);
        if (p == end)
            return 0; /* a trailing ';' */
        while (p < end && is_tchar((unsigned char)*p)) {
            if (nl + 1 >= sizeof(name))
                return ps_errf(-1, err, errlen, "%s: parameter name too long", what);
            name[nl++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            p++;
        }
        name[nl] = 0;
        p = skip_ws(p, end);
        if (nl == 0 || p == end || *p != '=')
            return ps_errf(-1, err, errlen, "%s: malformed parameter", what);
        p = skip_ws(p + 1, end);
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (vl + 1 >= sizeof(value))
                    return ps_errf(-1, err, errlen, "%s: parameter %s is too long", what, name);
                value[vl++] = *p;
            }
            if (p == end)
                return ps_errf(-1, err, errlen, "%s: unterminated quoted string", what);
            p++;
        } else {
            while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
                if (!is_tchar((unsigned char)*p))
                    return ps_errf(-1, err, errlen, "%s: parameter %s has an invalid character",
                                   what, name);
                if (vl + 1 >= sizeof(value))
                    return ps_errf(-1, err, errlen, "%s: parameter %s is too long", what, name);
                value[vl++] = *p++;
            }
        }
        value[vl] = 0;
        if (fn(ctx, name, value, vl, err, errlen) != 0)
            return -1;
    }
}

static int boundary_param(void *ctx, const char *name, const char *value, size_t vlen, char *err,
                          size_t errlen)
{
    char *out = ctx;

    if (strcmp(name, "boundary") != 0)
        return 0;
    if (out[0])
        return ps_errf(-1, err, errlen, "Content-Type has two boundary parameters");
    if (vlen == 0 || vlen > MP_MAX_BOUNDARY || value[vlen - 1] == ' ')
        return ps_errf(-1, err, errlen, "the multipart boundary must be 1 to 70 characters");
    for (size_t i = 0; i < vlen; i++)
        if (!is_bchar((unsigned char)value[i]))
            return ps_errf(-1, err, errlen, "the multipart boundary has an invalid character");
    memcpy(out, value, vlen + 1);
    return 0;
}

int mp_boundary(const char *ct, char *out, size_t outlen, char *err, size_t errlen)
{
    static const char type[] = "multipart/form-data";
    char b[MP_MAX_BOUNDARY + 1] = "";
    const char *end = ct + strlen(ct), *p = skip_ws(ct, end);

    if (outlen > 0)
        out[0] = 0;
    if (strncasecmp(p, type, sizeof(type) - 1) != 0 ||
        (p[sizeof(type) - 1] != 0 && p[sizeof(type) - 1] != ';' && p[sizeof(type) - 1] != ' '))
        return ps_errf(PS_E_INVAL, err, errlen, "Content-Type must be multipart/form-data");
    if (parse_params(p + sizeof(type) - 1, end, boundary_param, b, "Content-Type", err, errlen))
        return PS_E_INVAL;
    if (b[0] == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "Content-Type has no boundary parameter");
    if (strlen(b) + 1 > outlen)
        return ps_errf(PS_E_LIMIT, err, errlen, "boundary too long");
    memcpy(out, b, strlen(b) + 1);
    return PS_OK;
}

struct disp {
    struct mp_part *part;
    int have_name;
    size_t idx;
};

static int disp_param(void *ctx, const char *name, const char *value, size_t vlen, char *err,
                      size_t errlen)
{
    struct disp *d = ctx;
    struct mp_part *p = d->part;

    if (strcmp(name, "name") == 0 || strcmp(name, "filename") == 0) {
        int is_name = name[0] == 'n';

        if (is_name ? d->have_name : p->has_filename)
            return ps_errf(-1, err, errlen, "part %zu: Content-Disposition repeats %s", d->idx,
                           name);
        if (vlen > MP_MAX_NAME)
            return ps_errf(-1, err, errlen, "part %zu: %s is longer than %d bytes", d->idx, name,
                           MP_MAX_NAME);
        if (memchr(value, 0, vlen))
            return ps_errf(-1, err, errlen, "part %zu: %s contains a NUL byte", d->idx, name);
        memcpy(is_name ? p->name : p->filename, value, vlen + 1);
        if (is_name)
            d->have_name = 1;
        else
            p->has_filename = 1;
    } else if (strcmp(name, "filename*") == 0) {
        return ps_errf(-1, err, errlen,
                       "part %zu: filename* is not supported (RFC 7578 4.2); use "
                       "filename",
                       d->idx);
    }
    return 0;
}

/* One header line [p, end) of part idx. */
static int header_line(struct mp_part *part, struct disp *d, int *have_disp, const char *p,
                       const char *end, char *err, size_t errlen)
{
    const char *colon = memchr(p, ':', (size_t)(end - p)), *v;
    size_t nl;

    if (p < end && (*p == ' ' || *p == '\t'))
        return ps_errf(-1, err, errlen, "part %zu: folded header lines are not allowed", d->idx);
    for (const char *q = p; q < end; q++)
        if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
            return ps_errf(-1, err, errlen, "part %zu: control character in a header", d->idx);
    if (colon == NULL || colon == p)
        return ps_errf(-1, err, errlen, "part %zu: malformed header line", d->idx);
    nl = (size_t)(colon - p);
    for (const char *q = p; q < colon; q++)
        if (!is_tchar((unsigned char)*q))
            return ps_errf(-1, err, errlen, "part %zu: malformed header name", d->idx);
    v = skip_ws(colon + 1, end);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (nl == 19 && strncasecmp(p, "Content-Disposition", nl) == 0) {
        static const char fd[] = "form-data";

        if (*have_disp)
            return ps_errf(-1, err, errlen, "part %zu: two Content-Disposition headers", d->idx);
        *have_disp = 1;
        if ((size_t)(end - v) < sizeof(fd) - 1 || strncasecmp(v, fd, sizeof(fd) - 1) != 0 ||
            (v + sizeof(fd) - 1 < end && v[sizeof(fd) - 1] != ';' && v[sizeof(fd) - 1] != ' ' &&
             v[sizeof(fd) - 1] != '\t'))
            return ps_errf(-1, err, errlen, "part %zu: Content-Disposition must be form-data",
                           d->idx);
        return parse_params(v + sizeof(fd) - 1, end, disp_param, d, "Content-Disposition", err,
                            errlen);
    }
    if (nl == 12 && strncasecmp(p, "Content-Type", nl) == 0) {
        if (part->content_type[0])
            return ps_errf(-1, err, errlen, "part %zu: two Content-Type headers", d->idx);
        if ((size_t)(end - v) > MP_MAX_TYPE || end == v)
            return ps_errf(-1, err, errlen, "part %zu: Content-Type is empty or too long", d->idx);
        memcpy(part->content_type, v, (size_t)(end - v));
        part->content_type[end - v] = 0;
        return 0;
    }
    if (nl == 25 && strncasecmp(p, "Content-Transfer-Encoding", nl) == 0) {
        size_t vl = (size_t)(end - v);

        if (!((vl == 6 && strncasecmp(v, "binary", 6) == 0) ||
              (vl == 4 && (strncasecmp(v, "8bit", 4) == 0 || strncasecmp(v, "7bit", 4) == 0))))
            return ps_errf(-1, err, errlen,
                           "part %zu: Content-Transfer-Encoding must be binary, 8bit or 7bit",
                           d->idx);
    }
    return 0;
}

static int headers(struct mp_part *part, size_t idx, const char *p, const char *end, char *err,
                   size_t errlen)
{
    struct disp d = {part, 0, idx};
    int have_disp = 0;

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);

        if (eol == NULL)
            eol = end;
        if (header_line(part, &d, &have_disp, p, eol, err, errlen) != 0)
            return -1;
        p = eol == end ? end : eol + 2;
    }
    if (!have_disp)
        return ps_errf(-1, err, errlen, "part %zu has no Content-Disposition header", idx);
    if (!d.have_name)
        return ps_errf(-1, err, errlen, "part %zu: Content-Disposition has no name parameter", idx);
    return 0;
}

/* After a delimiter at p: 1 for the close delimiter, 0 for a part (p moved past CRLF). */
static int after_delimiter(const uint8_t **pp, const uint8_t *end, char *err, size_t errlen)
{
    const uint8_t *p = *pp;

    if (end - p >= 2 && p[0] == '-' && p[1] == '-')
        return 1;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return ps_errf(-1, err, errlen,
                       "malformed boundary line (expected CRLF after the boundary)");
    *pp = p + 2;
    return 0;
}

int mp_parse(const uint8_t *body, size_t len, const char *boundary, const struct mp_limits *lim,
             struct mp_form *form, char *err, size_t errlen)
{
    char delim[MP_MAX_BOUNDARY + 5]; /* "\r\n--" boundary */
    size_t bl = strlen(boundary), dl, cap = 0;
    const uint8_t *p, *end = body + len;
    int rc = PS_E_INVAL;

    form->parts = NULL;
    form->n = 0;
    if (bl == 0 || bl > MP_MAX_BOUNDARY)
        return ps_errf(PS_E_INVAL, err, errlen, "invalid multipart boundary");
    if (len > lim->max_total)
        return ps_errf(PS_E_LIMIT, err, errlen, "the request body is larger than %zu bytes",
                       lim->max_total);
    dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    /* the first delimiter may open the body (no CRLF before it) */
    if (len >= dl - 2 && memcmp(body, delim + 2, dl - 2) == 0) {
        p = body + dl - 2;
    } else {
        p = len ? memmem(body, len, delim, dl) : NULL;
        if (p == NULL)
            return ps_errf(PS_E_INVAL, err, errlen, "the body has no multipart boundary line");
        p += dl;
    }
    for (;;) {
        const uint8_t *hend, *dend;
        struct mp_part *part;
        int r = after_delimiter(&p, end, err, errlen);

        if (r < 0)
            goto fail;
        if (r == 1)
            break;
        if (form->n == lim->max_parts) {
            rc = ps_errf(PS_E_LIMIT, err, errlen, "more than %zu parts", lim->max_parts);
            goto fail;
        }
        if (form->n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct mp_part *np = realloc(form->parts, nc * sizeof(*np));

            if (np == NULL) {
                rc = ps_errf(PS_E_NOMEM, err, errlen, "out of memory");
                goto fail;
            }
            form->parts = np;
            cap = nc;
        }
        part = &form->parts[form->n];
        memset(part, 0, sizeof(*part));
        form->n++;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p; /* no headers at all */
        } else {
            size_t look =
                (size_t)(end - p) < lim->max_header + 4 ? (size_t)(end - p) : lim->max_header + 4;

            hend = memmem(p, look, "\r\n\r\n", 4);
            if (hend == NULL) {
                if (look == (size_t)(end - p)) {
                    ps_errf(0, err, errlen, "part %zu: the body ends inside the part headers",
                            form->n);
                    goto fail;
                }
                rc = ps_errf(PS_E_LIMIT, err, errlen, "part %zu: headers larger than %zu bytes",
                             form->n, lim->max_header);
                goto fail;
            }
            if ((size_t)(hend - p) > lim->max_header) {
                rc = ps_errf(PS_E_LIMIT, err, errlen, "part %zu: headers larger than %zu bytes",
                             form->n, lim->max_header);
                goto fail;
            }
            hend += 2;
        }
        if (headers(part, form->n, (const char *)p, (const char *)hend, err, errlen) != 0)
            goto fail;
        p = hend + 2;
        dend = p < end ? memmem(p, (size_t)(end - p), delim, dl) : NULL;
        if (dend == NULL) {
            ps_errf(0, err, errlen, "part %zu: the body ends without a closing boundary", form->n);
            goto fail;
        }
        part->data = p;
        part->len = (size_t)(dend - p);
        p = dend + dl;
    }
    return PS_OK;
fail:
    mp_form_free(form);
    return rc;
}

void mp_form_free(struct mp_form *form)
{
    free(form->parts);
    form->parts = NULL;
    form->n = 0;
}
