#include "aeo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "timefmt.h"

#define NFIELDS 6

static const char *const field_names[NFIELDS] = {"aeo_id", "name",       "address",
                                                 "status", "valid_from", "valid_until"};

/* jansson's reason; it leaves the text empty when an allocation failed */
static const char *jerr(const json_error_t *je)
{
    return je->text[0] ? je->text : "out of memory";
}

/* ---- names and identifiers ---- */

const char *aeo_status_name(enum aeo_status s)
{
    switch (s) {
    case AEO_VALID: return "valid";
    case AEO_SUSPENDED: return "suspended";
    case AEO_REVOKED: return "revoked";
    default: return NULL;
    }
}

enum aeo_status aeo_status_from_name(const char *s, size_t n)
{
    for (int i = AEO_VALID; i <= AEO_REVOKED; i++) {
        const char *name = aeo_status_name((enum aeo_status)i);
        if (strlen(name) == n && memcmp(name, s, n) == 0)
            return (enum aeo_status)i;
    }
    return AEO_STATUS_NONE;
}

const char *aeo_state_name(enum aeo_state s)
{
    static const char *const names[] = {"unknown", "valid",   "suspended",
                                        "revoked", "expired", "not_yet_valid"};

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

static int upper_alnum(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

void aeo_id_rules_default(struct aeo_id_rules *t)
{
    memset(t, 0, sizeof(*t));
    if (aeo_id_rules_add(t, "AEOCN", 10) != PS_OK || aeo_id_rules_add(t, "AEOSG", 12) != PS_OK)
        t->n = 0; /* cannot happen: the table is empty and the rules are valid */
}

int aeo_id_rules_add(struct aeo_id_rules *t, const char *prefix, unsigned len)
{
    size_t pl = strlen(prefix), i;

    if (pl == 0 || pl > AEO_PREFIX_MAX || !upper_alnum(prefix, pl) || len == 0 ||
        len > AEO_ID_MAX - pl)
        return PS_E_INVAL;
    for (i = 0; i < t->n && strcmp(t->rule[i].prefix, prefix) != 0; i++)
        ;
    if (i == AEO_MAX_RULES)
        return PS_E_LIMIT;
    memcpy(t->rule[i].prefix, prefix, pl + 1);
    t->rule[i].len = len;
    if (i == t->n)
        t->n++;
    return PS_OK;
}

int aeo_id_check(const struct aeo_id_rules *t, const char *id, size_t n, char *err, size_t errlen)
{
    const struct aeo_id_rule *best = NULL;
    size_t bl = 0;

    /* the longest prefix that matches decides */
    for (size_t i = 0; i < t->n; i++) {
        size_t pl = strlen(t->rule[i].prefix);
        if (pl <= n && pl > bl && memcmp(id, t->rule[i].prefix, pl) == 0)
            best = &t->rule[i], bl = pl;
    }
    if (best == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "no identifier rule for this prefix");
    if (n - bl != best->len || !upper_alnum(id + bl, n - bl))
        return ps_errf(PS_E_INVAL, err, errlen,
                       "%s needs %u letters (A-Z) or digits after the prefix", best->prefix,
                       best->len);
    return PS_OK;
}

/* ---- records ---- */

void aeo_list_free(struct aeo_list *l)
{
    free(l->rec);
    memset(l, 0, sizeof(*l));
}

int aeo_list_push(struct aeo_list *l, const struct aeo_record *r)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct aeo_record *p = reallocarray(l->rec, nc, sizeof(*p));
        if (p == NULL)
            return PS_E_NOMEM;
        l->rec = p;
        l->cap = nc;
    }
    l->rec[l->n++] = *r;
    return PS_OK;
}

/* Text of a name or address: well-formed UTF-8, no control character (C0, DEL, C1), no
 * leading or trailing space, 1..max bytes. NULL if fine, else why not. */
static const char *text_problem(const char *s, size_t n, size_t max)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, l;

    if (n == 0)
        return "empty";
    if (n > max)
        return "too long";
    if (p[0] == ' ' || p[n - 1] == ' ')
        return "leading or trailing space";
    while (i < n) {
        uint32_t c, min;
        if (p[i] < 0x80) {
            if (p[i] < 0x20 || p[i] == 0x7F)
                return "control character";
            i++;
            continue;
        }
        if (p[i] >= 0xC2 && p[i] <= 0xDF)
            l = 2, c = p[i] & 0x1F, min = 0x80;
        else if ((p[i] & 0xF0) == 0xE0)
            l = 3, c = p[i] & 0x0F, min = 0x800;
        else if (p[i] >= 0xF0 && p[i] <= 0xF4)
            l = 4, c = p[i] & 0x07, min = 0x10000;
        else
            return "not UTF-8";
        if (n - i < l)
            return "not UTF-8";
        for (size_t k = 1; k < l; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return "not UTF-8";
            c = c << 6 | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return "not UTF-8";
        if (c >= 0x80 && c <= 0x9F)
            return "control character";
        i += l;
    }
    return NULL;
}

/* Fill r from the six import fields; err: "field F: why". */
static int record_from_fields(const char *f[NFIELDS], const size_t fl[NFIELDS],
                              const struct aeo_id_rules *t, struct aeo_record *r, char *err,
                              size_t errlen)
{
    char why[128];
    const char *p;

    memset(r, 0, sizeof(*r));
    if (fl[0] > AEO_ID_MAX)
        return ps_errf(PS_E_INVAL, err, errlen, "field aeo_id: too long");
    if (aeo_id_check(t, f[0], fl[0], why, sizeof(why)) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "field aeo_id: %s", why);
    memcpy(r->aeo_id, f[0], fl[0]);
    if ((p = text_problem(f[1], fl[1], AEO_NAME_MAX)) != NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "field name: %s", p);
    memcpy(r->name, f[1], fl[1]);
    if ((p = text_problem(f[2], fl[2], AEO_ADDRESS_MAX)) != NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "field address: %s", p);
    memcpy(r->address, f[2], fl[2]);
    if ((r->status = aeo_status_from_name(f[3], fl[3])) == AEO_STATUS_NONE)
        return ps_errf(PS_E_INVAL, err, errlen, "field status: not valid, suspended or revoked");
    if (time_parse_date(f[4], fl[4], &r->valid_from) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "field valid_from: not a date YYYY-MM-DD");
    if (time_parse_date(f[5], fl[5], &r->valid_until) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "field valid_until: not a date YYYY-MM-DD");
    if (r->valid_until < r->valid_from)
        return ps_errf(PS_E_INVAL, err, errlen, "field valid_until: before valid_from");
    return PS_OK;
}

int aeo_record_check(const struct aeo_record *r, const struct aeo_id_rules *t, char *err,
                     size_t errlen)
{
    char from[TIME_DATE_LEN + 1], until[TIME_DATE_LEN + 1];
    const char *f[NFIELDS];
    size_t fl[NFIELDS];
    struct aeo_record tmp;
    const char *sn = aeo_status_name(r->status);

    if (sn == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "field status: not valid, suspended or revoked");
    if (time_format_date(r->valid_from, from) != PS_OK ||
        time_format_date(r->valid_until, until) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "field valid_from or valid_until: out of range");
    f[0] = r->aeo_id, f[1] = r->name, f[2] = r->address, f[3] = sn, f[4] = from, f[5] = until;
    for (int i = 0; i < NFIELDS; i++)
        fl[i] = strnlen(f[i], AEO_ADDRESS_MAX + 1);
    return record_from_fields(f, fl, t, &tmp, err, errlen);
}

/* ---- import ---- */

/* Refuse an aeo_id that appears twice; lines[i] is the line of l->rec[i]. */
static int cmp_idx(const void *a, const void *b, void *ctx)
{
    const struct aeo_record *rec = ctx;
    const size_t *x = a, *y = b;
    int c = strcmp(rec[*x].aeo_id, rec[*y].aeo_id);

    return c ? c : (*x > *y) - (*x < *y);
}

static int check_unique(const struct aeo_list *l, const size_t *lines, char *err, size_t errlen)
{
    size_t *idx = calloc(l->n ? l->n : 1, sizeof(*idx));
    int r = PS_OK;

    if (idx == NULL)
        return ps_errf(PS_E_NOMEM, err, errlen, "%s", ps_strerror(PS_E_NOMEM));
    for (size_t i = 0; i < l->n; i++)
        idx[i] = i;
    qsort_r(idx, l->n, sizeof(*idx), cmp_idx, l->rec);
    for (size_t i = 1; i < l->n && r == PS_OK; i++)
        if (strcmp(l->rec[idx[i]].aeo_id, l->rec[idx[i - 1]].aeo_id) == 0)
            r = ps_errf(PS_E_INVAL, err, errlen, "line %zu, field aeo_id: %s already on line %zu",
                        lines[idx[i]], l->rec[idx[i]].aeo_id, lines[idx[i - 1]]);
    free(idx);
    return r;
}

/* Append (rec, line) to the list and the parallel line array. */
static int add_record(struct aeo_list *l, size_t **lines, const struct aeo_record *rec, size_t line)
{
    size_t *nl;

    if (l->n >= AEO_IMPORT_MAX_RECORDS)
        return PS_E_LIMIT;
    if (l->n == l->cap) {
        if ((nl = reallocarray(*lines, l->cap ? l->cap * 2 : 64, sizeof(**lines))) == NULL)
            return PS_E_NOMEM;
        *lines = nl;
    }
    (*lines)[l->n] = line;
    return aeo_list_push(l, rec);
}

struct csv {
    const uint8_t *p;
    size_t n, pos, line;
    char field[NFIELDS][AEO_LINE_MAX];
    size_t fl[NFIELDS];
    size_t nf;
};

/* One CSV record into c->field; *eof set when nothing was left. */
static int csv_record(struct csv *c, int *eof, char *err, size_t errlen)
{
    size_t start = c->pos, total = 0, l0 = c->line;

    *eof = c->pos >= c->n;
    c->nf = 0;
    if (*eof)
        return PS_OK;
    for (;;) {
        char *f = c->field[c->nf < NFIELDS ? c->nf : NFIELDS - 1];
        size_t len = 0;
        int quoted = c->pos < c->n && c->p[c->pos] == '"';

        if (c->nf == NFIELDS)
            return ps_errf(PS_E_INVAL, err, errlen, "line %zu: more than %d fields", l0, NFIELDS);
        if (quoted)
            c->pos++;
        for (;; c->pos++) {
            uint8_t ch;
            if (c->pos >= c->n) {
                if (quoted)
                    return ps_errf(PS_E_INVAL, err, errlen, "line %zu, field %s: no closing quote",
                                   l0, field_names[c->nf]);
                break;
            }
            ch = c->p[c->pos];
            if (quoted && ch == '"') {
                if (c->pos + 1 < c->n && c->p[c->pos + 1] == '"') {
                    c->pos++;
                } else {
                    c->pos++;
                    quoted = 2; /* closed */
                    break;
                }
            } else if (!quoted && (ch == ',' || ch == '\n' || ch == '\r')) {
                break;
            } else if (!quoted && ch == '"') {
                return ps_errf(PS_E_INVAL, err, errlen,
                               "line %zu, field %s: quote inside an "
                               "unquoted field",
                               l0, field_names[c->nf]);
            }
            if (ch == '\n')
                c->line++;
            if (len + 1 >= AEO_LINE_MAX || ++total >= AEO_LINE_MAX)
                return ps_errf(PS_E_LIMIT, err, errlen, "line %zu: record longer than %d bytes", l0,
                               AEO_LINE_MAX);
            f[len++] = (char)ch;
        }
        f[len] = 0;
        c->fl[c->nf++] = len;
        if (c->pos >= c->n)
            break;
        if (c->p[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->p[c->pos] == '\r' && c->pos + 1 < c->n && c->p[c->pos + 1] == '\n')
            c->pos++;
        if (c->p[c->pos] != '\n')
            return ps_errf(PS_E_INVAL, err, errlen, "line %zu, field %s: %s", l0,
                           field_names[c->nf - 1],
                           quoted == 2 ? "text after the closing quote" : "bare carriage return");
        c->pos++;
        c->line++;
        break;
    }
    if (c->nf == 1 && c->fl[0] == 0 && c->pos - start <= 2)
        c->nf = 0; /* an empty line */
    return PS_OK;
}

static size_t skip_bom(const uint8_t *p, size_t n)
{
    return n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF ? 3 : 0;
}

int aeo_import_csv(const uint8_t *p, size_t len, const struct aeo_id_rules *t, struct aeo_list *out,
                   char *err, size_t errlen)
{
    struct csv *c = calloc(1, sizeof(*c));
    size_t *lines = NULL, l0;
    struct aeo_record rec;
    char why[256];
    int r = PS_OK, eof;

    aeo_list_free(out);
    if (c == NULL)
        return ps_errf(PS_E_NOMEM, err, errlen, "%s", ps_strerror(PS_E_NOMEM));
    if (len > AEO_IMPORT_MAX_LEN) {
        r = ps_errf(PS_E_LIMIT, err, errlen, "file larger than %d bytes", AEO_IMPORT_MAX_LEN);
        goto out;
    }
    c->p = p, c->n = len, c->pos = skip_bom(p, len), c->line = 1;
    if ((r = csv_record(c, &eof, err, errlen)) != PS_OK)
        goto out;
    if (eof || c->nf != NFIELDS || strcmp(c->field[0], "aeo_id") || strcmp(c->field[1], "name") ||
        strcmp(c->field[2], "address") || strcmp(c->field[3], "status") ||
        strcmp(c->field[4], "valid_from") || strcmp(c->field[5], "valid_until")) {
        r = ps_errf(PS_E_INVAL, err, errlen,
                    "line 1: header must be aeo_id,name,address,status,valid_from,valid_until");
        goto out;
    }
    for (;;) {
        const char *f[NFIELDS];
        l0 = c->line;
        if ((r = csv_record(c, &eof, err, errlen)) != PS_OK || eof)
            break;
        if (c->nf == 0 && c->pos < c->n) {
            r = ps_errf(PS_E_INVAL, err, errlen, "line %zu: empty line", l0);
            break;
        }
        if (c->nf == 0)
            break;
        if (c->nf != NFIELDS) {
            r = ps_errf(PS_E_INVAL, err, errlen, "line %zu: %zu fields, expected %d", l0, c->nf,
                        NFIELDS);
            break;
        }
        for (int i = 0; i < NFIELDS; i++)
            f[i] = c->field[i];
        if ((r = record_from_fields(f, c->fl, t, &rec, why, sizeof(why))) != PS_OK) {
            ps_errf(r, err, errlen, "line %zu, %s", l0, why);
            break;
        }
        if ((r = add_record(out, &lines, &rec, l0)) != PS_OK) {
            ps_errf(r, err, errlen, "line %zu: %s", l0,
                    r == PS_E_LIMIT ? "too many records" : ps_strerror(r));
            break;
        }
    }
    if (r == PS_OK)
        r = check_unique(out, lines, err, errlen);
out:
    if (r != PS_OK)
        aeo_list_free(out);
    free(lines);
    free(c);
    return r;
}

/* Refuse a member of o not in names. */
static int json_known(json_t *o, const char *const *names, size_t nn, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    size_t i;

    json_object_foreach(o, k, v)
    {
        for (i = 0; i < nn && strcmp(k, names[i]) != 0; i++)
            ;
        if (i == nn)
            return ps_errf(PS_E_INVAL, err, errlen, "unknown field \"%.40s\"", k);
    }
    return PS_OK;
}

/* The string members names[0..nn) of o into f/fl. err: "field F: why". */
static int json_strings(json_t *o, const char *const *names, size_t nn, const char **f, size_t *fl,
                        char *err, size_t errlen)
{
    json_t *v;

    for (size_t i = 0; i < nn; i++) {
        if ((v = json_object_get(o, names[i])) == NULL)
            return ps_errf(PS_E_INVAL, err, errlen, "field %s: missing", names[i]);
        if (!json_is_string(v))
            return ps_errf(PS_E_INVAL, err, errlen, "field %s: not a string", names[i]);
        f[i] = json_string_value(v);
        fl[i] = json_string_length(v);
        if (strlen(f[i]) != fl[i])
            return ps_errf(PS_E_INVAL, err, errlen, "field %s: control character", names[i]);
    }
    return PS_OK;
}

int aeo_import_jsonl(const uint8_t *p, size_t len, const struct aeo_id_rules *t,
                     struct aeo_list *out, char *err, size_t errlen)
{
    size_t pos = skip_bom(p, len), line = 0, *lines = NULL;
    struct aeo_record rec;
    char why[256];
    int r = PS_OK;

    aeo_list_free(out);
    if (len > AEO_IMPORT_MAX_LEN)
        return ps_errf(PS_E_LIMIT, err, errlen, "file larger than %d bytes", AEO_IMPORT_MAX_LEN);
    while (pos < len && r == PS_OK) {
        const uint8_t *nl = memchr(p + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - p) : len, ll = end - pos;
        const char *f[NFIELDS];
        size_t fl[NFIELDS];
        json_error_t je;
        json_t *o;

        line++;
        if (ll > 0 && p[pos + ll - 1] == '\r')
            ll--;
        if (ll > AEO_LINE_MAX) {
            r = ps_errf(PS_E_LIMIT, err, errlen, "line %zu: longer than %d bytes", line,
                        AEO_LINE_MAX);
            break;
        }
        if (ll == 0) {
            r = ps_errf(PS_E_INVAL, err, errlen, "line %zu: empty line", line);
            break;
        }
        o = json_loadb((const char *)p + pos, ll, JSON_REJECT_DUPLICATES, &je);
        if (o == NULL)
            r = ps_errf(PS_E_INVAL, err, errlen, "line %zu: %s", line, jerr(&je));
        else if (!json_is_object(o))
            r = ps_errf(PS_E_INVAL, err, errlen, "line %zu: not a JSON object", line);
        else if ((r = json_known(o, field_names, NFIELDS, why, sizeof(why))) != PS_OK ||
                 (r = json_strings(o, field_names, NFIELDS, f, fl, why, sizeof(why))) != PS_OK ||
                 (r = record_from_fields(f, fl, t, &rec, why, sizeof(why))) != PS_OK)
            ps_errf(r, err, errlen, "line %zu, %s", line, why);
        else if ((r = add_record(out, &lines, &rec, line)) != PS_OK)
            ps_errf(r, err, errlen, "line %zu: %s", line,
                    r == PS_E_LIMIT ? "too many records" : ps_strerror(r));
        json_decref(o);
        pos = nl ? end + 1 : len;
    }
    if (r == PS_OK)
        r = check_unique(out, lines, err, errlen);
    if (r != PS_OK)
        aeo_list_free(out);
    free(lines);
    return r;
}

int aeo_import(const uint8_t *p, size_t len, const struct aeo_id_rules *t, struct aeo_list *out,
               char *err, size_t errlen)
{
    size_t b = skip_bom(p, len);

    if (b < len && p[b] == '{')
        return aeo_import_jsonl(p, len, t, out, err, errlen);
    return aeo_import_csv(p, len, t, out, err, errlen);
}

/* ---- JSON writing ---- */

static int json_str(struct buf *b, const char *s)
{
    int r = buf_append(b, "\"", 1);

    for (; *s && r == PS_OK; s++) {
        uint8_t c = (uint8_t)*s;
        if (c == '"' || c == '\\')
            r = buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            r = buf_printf(b, "\\u%04x", c);
        else
            r = buf_append(b, s, 1);
    }
    return r ? r : buf_append(b, "\"", 1);
}

int aeo_record_format(const struct aeo_record *r, struct buf *out)
{
    char from[TIME_DATE_LEN + 1], until[TIME_DATE_LEN + 1], upd[TIME_STAMP_LEN + 1];
    const char *sn = aeo_status_name(r->status);
    int e;

    if (r->seq < 1 || r->seq > AEO_SEQ_MAX || sn == NULL ||
        time_format_date(r->valid_from, from) != PS_OK ||
        time_format_date(r->valid_until, until) != PS_OK ||
        time_format_stamp(r->updated_at, upd) != PS_OK)
        return PS_E_INVAL;
    e = buf_printf(out, "{\"seq\":%llu,\"aeo_id\":", (unsigned long long)r->seq);
    e = e ? e : json_str(out, r->aeo_id);
    e = e ? e : buf_append_str(out, ",\"name\":");
    e = e ? e : json_str(out, r->name);
    e = e ? e : buf_append_str(out, ",\"address\":");
    e = e ? e : json_str(out, r->address);
    e = e ? e
          : buf_printf(out,
                       ",\"status\":\"%s\",\"valid_from\":\"%s\",\"valid_until\":\"%s\","
                       "\"updated_at\":\"%s\"}",
                       sn, from, until, upd);
    return e;
}

static int origin_ok(const char *s, size_t n)
{
    if (n == 0 || n > AEO_ORIGIN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("._:/-", s[i]) != NULL) ||
            s[i] == 0)
            return 0;
    return 1;
}

int aeo_batch_format(const char *origin, uint64_t from, const struct aeo_record *rec, size_t n,
                     struct buf *out, char *err, size_t errlen)
{
    int r;

    buf_reset(out);
    if (!origin_ok(origin, strlen(origin)))
        return ps_errf(PS_E_INVAL, err, errlen, "origin is not 1..%d characters A-Z a-z 0-9 ._:/-",
                       AEO_ORIGIN_MAX);
    if (from < 1 || from > AEO_SEQ_MAX || n > AEO_BATCH_MAX_RECORDS || n > AEO_SEQ_MAX - from + 1)
        return ps_errf(PS_E_INVAL, err, errlen, "from or the number of records out of range");
    r = buf_printf(out, "{\"origin\":\"%s\",\"from\":%llu,\"to\":%llu,\"records\":[", origin,
                   (unsigned long long)from, (unsigned long long)(from + n - 1));
    for (size_t i = 0; i < n && r == PS_OK; i++) {
        if (rec[i].seq != from + i) {
            buf_reset(out);
            return ps_errf(PS_E_INVAL, err, errlen, "record %zu has seq %llu, expected %llu", i,
                           (unsigned long long)rec[i].seq, (unsigned long long)(from + i));
        }
        if ((r = i ? buf_append(out, ",", 1) : PS_OK) == PS_OK &&
            (r = aeo_record_format(&rec[i], out)) == PS_E_INVAL) {
            buf_reset(out);
            return ps_errf(PS_E_INVAL, err, errlen, "record %zu (seq %llu) is not valid", i,
                           (unsigned long long)rec[i].seq);
        }
    }
    r = r ? r : buf_append_str(out, "]}");
    if (r != PS_OK) {
        buf_reset(out);
        return ps_errf(r, err, errlen, "cannot write the batch: %s", ps_strerror(r));
    }
    return PS_OK;
}

/* ---- batch parsing ---- */

static int json_seq(json_t *v, uint64_t min, uint64_t *out)
{
    json_int_t i;

    if (!json_is_integer(v) || (i = json_integer_value(v)) < 0 || (uint64_t)i < min ||
        (uint64_t)i > AEO_SEQ_MAX)
        return PS_E_INVAL;
    *out = (uint64_t)i;
    return PS_OK;
}

static int batch_record(json_t *o, const struct aeo_id_rules *t, struct aeo_record *rec, char *err,
                        size_t errlen)
{
    static const char *const names[NFIELDS + 2] = {
        "aeo_id", "name", "address", "status", "valid_from", "valid_until", "seq", "updated_at"};
    const char *f[NFIELDS];
    size_t fl[NFIELDS];
    json_t *v;
    int r;

    if (!json_is_object(o))
        return ps_errf(PS_E_INVAL, err, errlen, "not a JSON object");
    if ((r = json_known(o, names, NFIELDS + 2, err, errlen)) != PS_OK ||
        (r = json_strings(o, names, NFIELDS, f, fl, err, errlen)) != PS_OK ||
        (r = record_from_fields(f, fl, t, rec, err, errlen)) != PS_OK)
        return r;
    if ((v = json_object_get(o, "seq")) == NULL || json_seq(v, 1, &rec->seq) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "field seq: missing or not an integer 1..2^53-1");
    if ((v = json_object_get(o, "updated_at")) == NULL || !json_is_string(v) ||
        time_parse_stamp(json_string_value(v), json_string_length(v), &rec->updated_at) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "field updated_at: missing or not a time YYYY-MM-DDTHH:MM:SSZ");
    return PS_OK;
}

static int batch_members(json_t *doc, struct aeo_batch *b, json_t **records, char *err,
                         size_t errlen)
{
    static const char *const names[] = {"origin", "from", "to", "records"};
    json_t *v;
    int r;

    if (!json_is_object(doc))
        return ps_errf(PS_E_INVAL, err, errlen, "batch is not a JSON object");
    if ((r = json_known(doc, names, 4, err, errlen)) != PS_OK)
        return r;
    v = json_object_get(doc, "origin");
    if (!json_is_string(v) || !origin_ok(json_string_value(v), json_string_length(v)))
        return ps_errf(PS_E_INVAL, err, errlen,
                       "field origin: missing or not 1..%d characters "
                       "A-Z a-z 0-9 ._:/-",
                       AEO_ORIGIN_MAX);
    memcpy(b->origin, json_string_value(v), json_string_length(v) + 1);
    if ((v = json_object_get(doc, "from")) == NULL || json_seq(v, 1, &b->from) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "field from: missing or not an integer 1..2^53-1");
    if ((v = json_object_get(doc, "to")) == NULL || json_seq(v, 0, &b->to) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "field to: missing or not an integer 0..2^53-1");
    *records = json_object_get(doc, "records");
    if (!json_is_array(*records))
        return ps_errf(PS_E_INVAL, err, errlen, "field records: missing or not an array");
    if (json_array_size(*records) > AEO_BATCH_MAX_RECORDS)
        return ps_errf(PS_E_LIMIT, err, errlen, "field records: more than %d records",
                       AEO_BATCH_MAX_RECORDS);
    if (b->to + 1 < b->from || b->to - (b->from - 1) != json_array_size(*records))
        return ps_errf(PS_E_INVAL, err, errlen, "from %llu and to %llu do not match %zu records",
                       (unsigned long long)b->from, (unsigned long long)b->to,
                       json_array_size(*records));
    return PS_OK;
}

int aeo_batch_parse(const uint8_t *p, size_t len, const struct aeo_id_rules *t, struct aeo_batch *b,
                    char *err, size_t errlen)
{
    json_t *doc, *records = NULL, *v;
    struct aeo_record rec;
    json_error_t je;
    char why[256];
    size_t i;
    int r;

    memset(b, 0, sizeof(*b));
    if (len > AEO_BATCH_MAX_LEN)
        return ps_errf(PS_E_LIMIT, err, errlen, "batch larger than %d bytes", AEO_BATCH_MAX_LEN);
    if ((doc = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "batch JSON: %s", jerr(&je));
    if ((r = batch_members(doc, b, &records, err, errlen)) != PS_OK)
        goto out;
    json_array_foreach(records, i, v)
    {
        if ((r = batch_record(v, t, &rec, why, sizeof(why))) != PS_OK) {
            ps_errf(r, err, errlen, "records[%zu], %s", i, why);
            goto out;
        }
        if (rec.seq != b->from + i) {
            r = ps_errf(PS_E_INVAL, err, errlen, "records[%zu]: seq %llu, expected %llu", i,
                        (unsigned long long)rec.seq, (unsigned long long)(b->from + i));
            goto out;
        }
        if ((r = aeo_list_push(&b->records, &rec)) != PS_OK) {
            ps_errf(r, err, errlen, "records[%zu]: %s", i, ps_strerror(r));
            goto out;
        }
    }
out:
    json_decref(doc);
    if (r != PS_OK)
        aeo_batch_free(b);
    return r;
}

void aeo_batch_free(struct aeo_batch *b)
{
    aeo_list_free(&b->records);
    memset(b, 0, sizeof(*b));
}

int aeo_batch_continues(const struct aeo_batch *b, const char *origin, uint64_t last, char *err,
                        size_t errlen)
{
    if (strcmp(b->origin, origin) != 0)
        return ps_errf(PS_E_INVAL, err, errlen, "batch is from origin %s, not %s", b->origin,
                       origin);
    if (b->from > last + 1)
        return ps_errf(PS_E_INVAL, err, errlen, "gap: expected seq %llu, batch starts at %llu",
                       (unsigned long long)last + 1, (unsigned long long)b->from);
    if (b->from <= last)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "replay: batch starts at %llu, already have up to %llu",
                       (unsigned long long)b->from, (unsigned long long)last);
    return PS_OK;
}

/* ---- digest and status ---- */

static int cmp_latest(const void *a, const void *b)
{
    const struct aeo_record *x = *(const struct aeo_record *const *)a;
    const struct aeo_record *y = *(const struct aeo_record *const *)b;
    int c = strcmp(x->aeo_id, y->aeo_id);

    /* per aeo_id, the highest seq first */
    return c ? c : (x->seq < y->seq) - (x->seq > y->seq);
}

int aeo_register_digest(const struct aeo_record *rec, size_t n, uint8_t out[AEO_DIGEST_LEN])
{
    const struct aeo_record **v = calloc(n ? n : 1, sizeof(*v));
    crypto_hash_sha256_state st;
    struct buf line;
    int r = PS_OK;

    if (v == NULL)
        return PS_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = &rec[i];
    qsort(v, n, sizeof(*v), cmp_latest);
    buf_init(&line, 2 * AEO_LINE_MAX);
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n && r == PS_OK; i++) {
        if (i > 0 && strcmp(v[i]->aeo_id, v[i - 1]->aeo_id) == 0)
            continue;
        buf_reset(&line);
        if ((r = aeo_record_format(v[i], &line)) == PS_OK &&
            (r = buf_append(&line, "\n", 1)) == PS_OK)
            crypto_hash_sha256_update(&st, line.data, line.len);
    }
    crypto_hash_sha256_final(&st, out);
    buf_free(&line);
    free(v);
    return r;
}

enum aeo_state aeo_status_at(const struct aeo_record *rec, size_t n, const char *aeo_id, int64_t at,
                             const struct aeo_record **used)
{
    const struct aeo_record *best = NULL;
    int64_t day = time_day_of(at);

    for (size_t i = 0; i < n; i++)
        if (rec[i].updated_at <= at && strcmp(rec[i].aeo_id, aeo_id) == 0 &&
            (best == NULL || rec[i].seq > best->seq))
            best = &rec[i];
    if (used)
        *used = best;
    if (best == NULL)
        return AEO_STATE_UNKNOWN;
    if (best->status == AEO_REVOKED)
        return AEO_STATE_REVOKED;
    if (best->status == AEO_SUSPENDED)
        return AEO_STATE_SUSPENDED;
    if (day < best->valid_from)
        return AEO_STATE_NOT_YET_VALID;
    if (day > best->valid_until)
        return AEO_STATE_EXPIRED;
    return AEO_STATE_VALID;
}
