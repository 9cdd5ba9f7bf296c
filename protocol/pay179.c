/*
 * pay179.c - the "179" signing string (see pay179.h for the rules).
 *
 * A small JSON reader of our own, because the output must keep number lexemes as written.
 * Two passes over the input, no tree: the first checks the whole document's syntax; the
 * second walks the schema, remembers where each known member's value starts, and emits the
 * members in the E-port's order by reading each value again from there.
 */
#include "pay179.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum kind {
    K_STR,     /* string, re-escaped as fastjson writes it */
    K_NUM,     /* number, lexeme copied */
    K_OBJ,     /* object of the sub schema */
    K_LIST,    /* non-empty array of objects of the sub schema */
    K_SESSION, /* sessionID: string embedded as its text */
    K_TIME,    /* serviceTime: digits, as a string or an integer */
};

struct schema;

struct field {
    const char *name;
    enum kind kind;
    const struct schema *sub;
};

struct schema {
    const struct field *f;
    size_t n;
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_FIELDS 12

static const struct field goods_f[] = {
    {"gname", K_STR, NULL},
    {"itemLink", K_STR, NULL},
};
static const struct schema goods = {goods_f, NFIELDS(goods_f)};

static const struct field entry_f[] = {
    {"orderNo", K_STR, NULL},  {"goodsInfo", K_LIST, &goods}, {"recpAccount", K_STR, NULL},
    {"recpCode", K_STR, NULL}, {"recpName", K_STR, NULL},
};
static const struct schema entry = {entry_f, NFIELDS(entry_f)};

static const struct field head_f[] = {
    {"guid", K_STR, NULL},        {"initalRequest", K_STR, NULL}, {"initalResponse", K_STR, NULL},
    {"ebpCode", K_STR, NULL},     {"payCode", K_STR, NULL},       {"payTransactionId", K_STR, NULL},
    {"totalAmount", K_NUM, NULL}, {"currency", K_STR, NULL},      {"verDept", K_STR, NULL},
    {"payType", K_STR, NULL},     {"tradingTime", K_STR, NULL},   {"note", K_STR, NULL},
};
static const struct schema head = {head_f, NFIELDS(head_f)};

static const struct field top_f[] = {
    {"sessionID", K_SESSION, NULL},
    {"payExchangeInfoHead", K_OBJ, &head},
    {"payExchangeInfoLists", K_LIST, &entry},
    {"serviceTime", K_TIME, NULL},
};
static const struct schema top = {top_f, NFIELDS(top_f)};

/* How a member list is written: the signing string itself, or a compact JSON object. */
struct punct {
    const char *open, *sep, *name_end, *value_end, *close;
};
static const struct punct top_punct = {"", "||", "\":\"", "\"", ""};
static const struct punct obj_punct = {"{", ",", "\":", "", "}"};

_Static_assert(NFIELDS(top_f) <= MAX_FIELDS && NFIELDS(head_f) <= MAX_FIELDS &&
                   NFIELDS(entry_f) <= MAX_FIELDS && NFIELDS(goods_f) <= MAX_FIELDS,
               "a schema has more than MAX_FIELDS fields");

struct jp {
    const uint8_t *s;
    size_t len;
    struct buf *out;
    char *err;
    size_t errlen;
};

#define PATH_LEN 160

static int fail(struct jp *j, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct jp *j, int code, const char *fmt, ...)
{
    va_list ap;

    if (j->err && j->errlen) {
        va_start(ap, fmt);
        vsnprintf(j->err, j->errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int bad(struct jp *j, size_t pos, const char *why)
{
    return fail(j, PS_E_INVAL, "malformed JSON at byte %zu: %s", pos, why);
}

static int put(struct jp *j, const void *p, size_t n)
{
    int r = buf_append(j->out, p, n);

    if (r == PS_E_LIMIT)
        return fail(j, r, "signing string longer than %zu bytes", j->out->max);
    if (r != PS_OK)
        return fail(j, r, "%s", ps_strerror(r));
    return PS_OK;
}

static int put_str(struct jp *j, const char *s)
{
    return put(j, s, strlen(s));
}

/* ---- lexing ---- */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static void skip_ws(const struct jp *j, size_t *pos)
{
    while (*pos < j->len &&
           (j->s[*pos] == ' ' || j->s[*pos] == '\t' || j->s[*pos] == '\n' || j->s[*pos] == '\r'))
        (*pos)++;
}

/* One strict UTF-8 sequence (no overlong forms, surrogates or values above U+10FFFF). */
static int utf8_next(struct jp *j, size_t *pos, uint32_t *cp)
{
    const uint8_t *s = j->s + *pos;
    size_t avail = j->len - *pos, n, i;
    uint32_t c = s[0], min;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, c &= 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, c &= 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, c &= 0x07, min = 0x10000;
    } else {
        return bad(j, *pos, "invalid UTF-8");
    }
    if (avail < n)
        return bad(j, *pos, "invalid UTF-8");
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return bad(j, *pos, "invalid UTF-8");
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return bad(j, *pos, "invalid UTF-8");
    *cp = c;
    *pos += n;
    return PS_OK;
}

static int hex4(const struct jp *j, size_t pos, uint32_t *v)
{
    size_t i;
    uint8_t c;

    if (j->len - pos < 4)
        return -1;
    *v = 0;
    for (i = 0; i < 4; i++) {
        c = j->s[pos + i];
        if (is_digit(c))
            *v = *v << 4 | (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v = *v << 4 | (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *v = *v << 4 | (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    return 0;
}

/* An escape sequence; *pos at the backslash. */
static int escape(struct jp *j, size_t *pos, uint32_t *cp)
{
    size_t p = *pos + 1; /* the letter */
    uint32_t hi, lo;

    if (p >= j->len)
        return bad(j, p, "unexpected end of input");
    switch (j->s[p]) {
    case '"': *cp = '"'; break;
    case '\\': *cp = '\\'; break;
    case '/': *cp = '/'; break;
    case 'b': *cp = '\b'; break;
    case 'f': *cp = '\f'; break;
    case 'n': *cp = '\n'; break;
    case 'r': *cp = '\r'; break;
    case 't': *cp = '\t'; break;
    case 'u':
        if (hex4(j, p + 1, &hi) != 0)
            return bad(j, *pos, "bad \\u escape");
        p += 4;
        if (hi >= 0xDC00 && hi <= 0xDFFF)
            return bad(j, *pos, "unpaired surrogate in a \\u escape");
        if (hi >= 0xD800 && hi <= 0xDBFF) {
            if (j->len - p < 3 || j->s[p + 1] != '\\' || j->s[p + 2] != 'u' ||
                hex4(j, p + 3, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                return bad(j, *pos, "unpaired surrogate in a \\u escape");
            hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        *cp = hi;
        break;
    default: return bad(j, *pos, "bad escape");
    }
    *pos = p + 1;
    return PS_OK;
}

/*
 * The next code point of a string; *pos inside the string. At the closing quote *end is set
 * and the quote consumed.
 */
static int str_next(struct jp *j, size_t *pos, uint32_t *cp, int *end)
{
    uint8_t c;

    *end = 0;
    if (*pos >= j->len)
        return bad(j, *pos, "unexpected end of input in a string");
    c = j->s[*pos];
    if (c == '"') {
        (*pos)++;
        *end = 1;
        return PS_OK;
    }
    if (c < 0x20)
        return bad(j, *pos, "control character in a string");
    if (c == '\\')
        return escape(j, pos, cp);
    if (c < 0x80) {
        *cp = c;
        (*pos)++;
        return PS_OK;
    }
    return utf8_next(j, pos, cp);
}

/* Length of the run at pos of bytes that stand for themselves, in a JSON string and in
 * fastjson's output alike (printable ASCII but '"' and '\\'). */
static size_t plain_run(const struct jp *j, size_t pos)
{
    size_t p = pos;

    while (p < j->len && j->s[p] >= 0x20 && j->s[p] < 0x7F && j->s[p] != '"' && j->s[p] != '\\')
        p++;
    return p - pos;
}

/* *pos at the opening quote; afterwards inside the string. */
static int str_open(struct jp *j, size_t *pos)
{
    if (*pos >= j->len || j->s[*pos] != '"')
        return bad(j, *pos, "expected a string");
    (*pos)++;
    return PS_OK;
}

static int skip_string(struct jp *j, size_t *pos)
{
    uint32_t cp;
    int r, end = 0;

    if ((r = str_open(j, pos)) != PS_OK)
        return r;
    do
        *pos += plain_run(j, *pos);
    while ((r = str_next(j, pos, &cp, &end)) == PS_OK && !end);
    return r;
}

static int skip_number(struct jp *j, size_t *pos)
{
    size_t p = *pos;

    if (p < j->len && j->s[p] == '-')
        p++;
    if (p < j->len && j->s[p] == '0') {
        if (++p < j->len && is_digit(j->s[p]))
            return bad(j, p, "leading zero in a number");
    } else if (p < j->len && is_digit(j->s[p])) {
        while (p < j->len && is_digit(j->s[p]))
            p++;
    } else {
        return bad(j, p, "bad number");
    }
    if (p < j->len && j->s[p] == '.') {
        if (++p >= j->len || !is_digit(j->s[p]))
            return bad(j, p, "bad number");
        while (p < j->len && is_digit(j->s[p]))
            p++;
    }
    if (p < j->len && (j->s[p] == 'e' || j->s[p] == 'E')) {
        if (++p < j->len && (j->s[p] == '+' || j->s[p] == '-'))
            p++;
        if (p >= j->len || !is_digit(j->s[p]))
            return bad(j, p, "bad number");
        while (p < j->len && is_digit(j->s[p]))
            p++;
    }
    *pos = p;
    return PS_OK;
}

static int skip_literal(struct jp *j, size_t *pos, const char *word)
{
    size_t n = strlen(word);

    if (j->len - *pos < n || memcmp(j->s + *pos, word, n) != 0)
        return bad(j, *pos, "unexpected character");
    *pos += n;
    return PS_OK;
}

/* ---- containers ---- */

/* Members of an object or elements of an array, one at a time. */
struct iter {
    size_t pos; /* next byte to read */
    size_t n;   /* members or elements so far */
    uint8_t close;
};

static void iter_init(struct iter *it, const struct jp *j, size_t pos)
{
    it->close = j->s[pos] == '{' ? '}' : ']';
    it->pos = pos + 1;
    it->n = 0;
}

static int skip_value(struct jp *j, size_t *pos, int depth);

/*
 * The next member (*kpos at the key's opening quote) or element; *vpos at its value, which is
 * checked and skipped; depth is the container's nesting level. *done at the closing bracket.
 */
static int iter_next(struct jp *j, struct iter *it, int depth, size_t *kpos, size_t *vpos,
                     int *done)
{
    int r;

    *done = 0;
    skip_ws(j, &it->pos);
    if (it->pos >= j->len)
        return bad(j, it->pos, "unexpected end of input");
    if (j->s[it->pos] == it->close) {
        it->pos++;
        *done = 1;
        return PS_OK;
    }
    if (it->n > 0) {
        if (j->s[it->pos] != ',')
            return bad(j, it->pos,
                       it->close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        it->pos++;
        skip_ws(j, &it->pos);
    }
    if (it->close == '}') {
        if (it->pos >= j->len || j->s[it->pos] != '"')
            return bad(j, it->pos, "expected a string key");
        *kpos = it->pos;
        if ((r = skip_string(j, &it->pos)) != PS_OK)
            return r;
        skip_ws(j, &it->pos);
        if (it->pos >= j->len || j->s[it->pos] != ':')
            return bad(j, it->pos, "expected ':'");
        it->pos++;
        skip_ws(j, &it->pos);
    }
    *vpos = it->pos;
    if ((r = skip_value(j, &it->pos, depth)) != PS_OK)
        return r;
    it->n++;
    return PS_OK;
}

/* A value at *pos inside a container of nesting level depth (0 for the document). */
static int skip_value(struct jp *j, size_t *pos, int depth)
{
    struct iter it;
    size_t kpos, vpos;
    int r, done = 0;

    if (*pos >= j->len)
        return bad(j, *pos, "unexpected end of input");
    switch (j->s[*pos]) {
    case '"': return skip_string(j, pos);
    case 't': return skip_literal(j, pos, "true");
    case 'f': return skip_literal(j, pos, "false");
    case 'n': return skip_literal(j, pos, "null");
    case '{':
    case '[':
        if (depth >= PAY179_MAX_DEPTH)
            return fail(j, PS_E_LIMIT, "malformed JSON at byte %zu: nesting deeper than %d", *pos,
                        PAY179_MAX_DEPTH);
        iter_init(&it, j, *pos);
        while ((r = iter_next(j, &it, depth + 1, &kpos, &vpos, &done)) == PS_OK && !done)
            ;
        *pos = it.pos;
        return r;
    }
    if (j->s[*pos] == '-' || is_digit(j->s[*pos]))
        return skip_number(j, pos);
    return bad(j, *pos, "unexpected character");
}

/* ---- schema ---- */

/* A field's name in errors, e.g. "payExchangeInfoLists[0].goodsInfo"; cut at PATH_LEN - 1. */
static void path_fmt(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_fmt(char *dst, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, PATH_LEN, fmt, ap);
    va_end(ap);
}

static void field_path(char *dst, const char *path, const char *name)
{
    path_fmt(dst, "%s%s%s", path, *path ? "." : "", name);
}

/* A key as it reads in an error: printable ASCII, at most 40 bytes. */
static void key_for_error(char *dst, size_t n, const uint8_t *key, size_t klen)
{
    size_t i, m = klen < 40 ? klen : 40;

    for (i = 0; i < m && i + 1 < n; i++)
        dst[i] = key[i] >= 0x20 && key[i] < 0x7F ? (char)key[i] : '?';
    dst[i] = 0;
}

/* Decode a key (*pos at its quote) into key[0..*klen); longer keys are cut (they match none). */
static int read_key(struct jp *j, size_t pos, uint8_t *key, size_t cap, size_t *klen)
{
    uint32_t cp;
    int r, end = 0;

    *klen = 0;
    if ((r = str_open(j, &pos)) != PS_OK)
        return r;
    while ((r = str_next(j, &pos, &cp, &end)) == PS_OK && !end)
        if (*klen < cap)
            key[(*klen)++] = cp < 0x80 ? (uint8_t)cp : 0x80; /* no field name is non-ASCII */
    return r;
}

static int kind_ok(enum kind k, uint8_t c)
{
    int num = c == '-' || is_digit(c);

    switch (k) {
    case K_STR:
    case K_SESSION: return c == '"';
    case K_NUM: return num;
    case K_TIME: return c == '"' || num;
    case K_OBJ: return c == '{';
    case K_LIST: return c == '[';
    }
    return 0;
}

static const char *kind_name(enum kind k)
{
    switch (k) {
    case K_STR:
    case K_SESSION: return "a string";
    case K_NUM: return "a number";
    case K_TIME: return "a string or an integer";
    case K_OBJ: return "an object";
    case K_LIST: return "an array";
    }
    return "?";
}

/*
 * The members of the object at pos (nesting level depth): vals[i] is where the value of
 * field i starts. Unknown, repeated, missing and wrongly typed members are refused here.
 */
static int collect(struct jp *j, size_t pos, int depth, const struct schema *sc, const char *path,
                   size_t *vals)
{
    struct iter it;
    size_t kpos = 0, vpos = 0, klen, i;
    uint8_t key[48];
    char shown[48], fpath[PATH_LEN];
    int r, done = 0;

    for (i = 0; i < sc->n; i++)
        vals[i] = SIZE_MAX;
    iter_init(&it, j, pos);
    while ((r = iter_next(j, &it, depth, &kpos, &vpos, &done)) == PS_OK && !done) {
        if ((r = read_key(j, kpos, key, sizeof(key), &klen)) != PS_OK)
            return r;
        for (i = 0; i < sc->n; i++)
            if (strlen(sc->f[i].name) == klen && memcmp(sc->f[i].name, key, klen) == 0)
                break;
        if (i == sc->n) {
            key_for_error(shown, sizeof(shown), key, klen);
            field_path(fpath, path, shown);
            return fail(j, PS_E_INVAL, "%s is not a known field", fpath);
        }
        if (vals[i] != SIZE_MAX) {
            field_path(fpath, path, sc->f[i].name);
            return fail(j, PS_E_INVAL, "%s appears twice", fpath);
        }
        if (!kind_ok(sc->f[i].kind, j->s[vpos])) {
            field_path(fpath, path, sc->f[i].name);
            return fail(j, PS_E_INVAL, "%s must be %s", fpath, kind_name(sc->f[i].kind));
        }
        vals[i] = vpos;
    }
    if (r != PS_OK)
        return r;
    for (i = 0; i < sc->n; i++) {
        if (vals[i] == SIZE_MAX) {
            field_path(fpath, path, sc->f[i].name);
            return fail(j, PS_E_INVAL, "%s is missing", fpath);
        }
    }
    return PS_OK;
}

/* ---- output ---- */

static int put_utf8(struct jp *j, uint32_t cp)
{
    uint8_t u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (uint8_t)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | cp >> 6), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | cp >> 12), n = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | cp >> 18), n = 4;
    }
    for (size_t i = 1; i < n; i++)
        u[i] = (uint8_t)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
    return put(j, u, n);
}

/* One character of a string value, escaped as fastjson 1.2.x writes it. */
static int put_fastjson(struct jp *j, uint32_t cp)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {'\\', 'u', 0, 0, 0, 0};

    switch (cp) {
    case '"': return put(j, "\\\"", 2);
    case '\\': return put(j, "\\\\", 2);
    case '\b': return put(j, "\\b", 2);
    case '\t': return put(j, "\\t", 2);
    case '\n': return put(j, "\\n", 2);
    case '\f': return put(j, "\\f", 2);
    case '\r': return put(j, "\\r", 2);
    }
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
        e[2] = hex[cp >> 12 & 15];
        e[3] = hex[cp >> 8 & 15];
        e[4] = hex[cp >> 4 & 15];
        e[5] = hex[cp & 15];
        return put(j, e, 6);
    }
    return put_utf8(j, cp);
}

static int emit_string(struct jp *j, size_t pos)
{
    uint32_t cp;
    size_t n;
    int r, end = 0;

    if ((r = str_open(j, &pos)) != PS_OK || (r = put(j, "\"", 1)) != PS_OK)
        return r;
    for (;;) {
        n = plain_run(j, pos);
        if (n > 0 && (r = put(j, j->s + pos, n)) != PS_OK)
            return r;
        pos += n;
        if ((r = str_next(j, &pos, &cp, &end)) != PS_OK || end)
            break;
        if ((r = put_fastjson(j, cp)) != PS_OK)
            return r;
    }
    return r != PS_OK ? r : put(j, "\"", 1);
}

static int emit_session(struct jp *j, size_t pos)
{
    uint32_t cp;
    size_t n = 0;
    uint8_t c;
    int r, end = 0;

    if ((r = str_open(j, &pos)) != PS_OK)
        return r;
    while ((r = str_next(j, &pos, &cp, &end)) == PS_OK && !end) {
        if (cp < 0x21 || cp > 0x7E || cp == '"' || cp == '\\')
            return fail(j, PS_E_INVAL,
                        "sessionID must be printable ASCII without spaces, quotes or backslashes");
        c = (uint8_t)cp;
        if ((r = put(j, &c, 1)) != PS_OK)
            return r;
        n++;
    }
    if (r == PS_OK && n == 0)
        return fail(j, PS_E_INVAL, "sessionID must not be empty");
    return r;
}

static int emit_time(struct jp *j, size_t pos)
{
    uint32_t cp;
    size_t n = 0, end_pos = pos;
    uint8_t c;
    int r, end = 0;

    if (j->s[pos] != '"') {
        if ((r = skip_number(j, &end_pos)) != PS_OK)
            return r;
        for (n = 0; pos + n < end_pos && is_digit(j->s[pos + n]); n++)
            ;
        if (pos + n != end_pos || n > 19)
            return fail(j, PS_E_INVAL, "serviceTime must be an integer of at most 19 digits");
        return put(j, j->s + pos, n);
    }
    if ((r = str_open(j, &pos)) != PS_OK)
        return r;
    while ((r = str_next(j, &pos, &cp, &end)) == PS_OK && !end) {
        if (cp > 0x7F || !is_digit((uint8_t)cp) || ++n > 19)
            return fail(j, PS_E_INVAL, "serviceTime must be 1 to 19 decimal digits");
        c = (uint8_t)cp;
        if ((r = put(j, &c, 1)) != PS_OK)
            return r;
    }
    if (r == PS_OK && n == 0)
        return fail(j, PS_E_INVAL, "serviceTime must be 1 to 19 decimal digits");
    return r;
}

static int emit_members(struct jp *j, size_t pos, int depth, const struct schema *sc,
                        const char *path, const struct punct *pu);

/* An array of objects at pos, inside a container of nesting level depth. */
static int emit_list(struct jp *j, size_t pos, int depth, const struct schema *sc, const char *path)
{
    struct iter it;
    size_t kpos, vpos = 0;
    char epath[PATH_LEN];
    int r, done = 0;

    if ((r = put(j, "[", 1)) != PS_OK)
        return r;
    iter_init(&it, j, pos);
    while ((r = iter_next(j, &it, depth + 1, &kpos, &vpos, &done)) == PS_OK && !done) {
        path_fmt(epath, "%s[%zu]", path, it.n - 1);
        if (j->s[vpos] != '{')
            return fail(j, PS_E_INVAL, "%s must be an object", epath);
        if ((it.n > 1 && (r = put(j, ",", 1)) != PS_OK) ||
            (r = emit_members(j, vpos, depth + 2, sc, epath, &obj_punct)) != PS_OK)
            return r;
    }
    if (r == PS_OK && it.n == 0)
        return fail(j, PS_E_INVAL, "%s must not be empty", path);
    return r != PS_OK ? r : put(j, "]", 1);
}

static int emit_value(struct jp *j, size_t pos, int depth, const struct field *f, const char *path)
{
    size_t end = pos;
    int r;

    switch (f->kind) {
    case K_STR: return emit_string(j, pos);
    case K_NUM:
        if ((r = skip_number(j, &end)) != PS_OK)
            return r;
        return put(j, j->s + pos, end - pos);
    case K_OBJ: return emit_members(j, pos, depth + 1, f->sub, path, &obj_punct);
    case K_LIST: return emit_list(j, pos, depth, f->sub, path);
    case K_SESSION: return emit_session(j, pos);
    case K_TIME: return emit_time(j, pos);
    }
    return fail(j, PS_E_INVAL, "unknown field kind");
}

/* The object at pos (nesting level depth), its members in schema order. */
static int emit_members(struct jp *j, size_t pos, int depth, const struct schema *sc,
                        const char *path, const struct punct *pu)
{
    size_t vals[MAX_FIELDS], i;
    char fpath[PATH_LEN] = "";
    int r;

    if ((r = collect(j, pos, depth, sc, path, vals)) != PS_OK ||
        (r = put_str(j, pu->open)) != PS_OK)
        return r;
    for (i = 0; i < sc->n; i++) {
        if (sc->f[i].sub != NULL) /* the prefix of errors inside it */
            field_path(fpath, path, sc->f[i].name);
        if ((i > 0 && (r = put_str(j, pu->sep)) != PS_OK) || (r = put(j, "\"", 1)) != PS_OK ||
            (r = put_str(j, sc->f[i].name)) != PS_OK || (r = put_str(j, pu->name_end)) != PS_OK ||
            (r = emit_value(j, vals[i], depth, &sc->f[i], fpath)) != PS_OK ||
            (r = put_str(j, pu->value_end)) != PS_OK)
            return r;
    }
    return put_str(j, pu->close);
}

int pay179_build(const char *json, size_t len, size_t max_len, struct buf *out, char *err,
                 size_t errlen)
{
    struct jp j = {(const uint8_t *)(json ? json : ""), json ? len : 0, out, err, errlen};
    const uint8_t *nul;
    size_t pos = 0, root;
    int r;

    if (err && errlen)
        err[0] = 0;
    buf_reset(out);
    if (j.len > max_len) {
        r = fail(&j, PS_E_LIMIT, "request larger than %zu bytes", max_len);
        goto out;
    }
    if ((nul = memchr(j.s, 0, j.len)) != NULL) {
        r = bad(&j, (size_t)(nul - j.s), "NUL byte");
        goto out;
    }
    skip_ws(&j, &pos);
    root = pos;
    if ((r = skip_value(&j, &pos, 0)) != PS_OK)
        goto out;
    skip_ws(&j, &pos);
    if (pos != j.len) {
        r = bad(&j, pos, "data after the JSON value");
        goto out;
    }
    if (j.s[root] != '{') {
        r = fail(&j, PS_E_INVAL, "the request must be a JSON object");
        goto out;
    }
    r = emit_members(&j, root, 1, &top, "", &top_punct);
out:
    if (r != PS_OK)
        buf_reset(out);
    return r;
}
