/*
 * c14n.c - inclusive C14N 1.0 of a whole document from its bytes (see c14n.h).
 *
 * The rules it applies, all from the C14N 1.0 recommendation as libxml2 implements it for a
 * whole document without comments:
 * - the XML declaration, white space outside the root and comments are dropped; a PI before
 *   the root is written as <?target data?> and a line feed;
 * - line ends are normalised (CR LF and lone CR become LF), references are replaced by their
 *   characters, CDATA sections become text, empty-element tags become start + end tag;
 * - text escapes & < > and CR; attribute values are normalised (tab, LF become spaces) and
 *   escape & < " tab LF CR;
 * - an element writes the namespace declarations that change what its parent has in scope
 *   (xmlns="" only when the parent has a non-empty default), sorted by prefix, then its other
 *   attributes sorted by (namespace URI, local name), unqualified ones first.
 */
#include "c14n.h"

#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define NO PS_E_UNSUPPORTED

/* The per-element path (plain tags, text runs): inlined into content(), one loop. */
#define HOT static inline __attribute__((always_inline))

static const char NS_DSIG[] = "http://www.w3.org/2000/09/xmldsig#";

/*
 * Output: a buffer of copied bytes, then a pending span of the input. Where the canonical
 * bytes are the input bytes (text runs, plain tags), the span grows over them instead of
 * copying them; a typical customs message after its root start tag is one span, handed to
 * the sink in one call. Order is kept: the buffer is always written before the span.
 */
struct out {
    c14n_sink sink;
    void *ctx;
    const uint8_t *sp, *se; /* the pending span [sp, se) of the input; empty if sp == se */
    size_t n;
    uint8_t b[4096];
};

/* A shorter pending span is copied into the buffer rather than given to the sink alone. */
#define SPAN_COPY_MAX 64

struct attr {
    struct c14n_str qname, prefix, local, uri, value;
    int decl; /* a namespace declaration (xmlns or xmlns:p) */
};

struct binding {
    struct c14n_str prefix, href;
};

struct elem {
    struct c14n_str qname;
    size_t mark; /* bindings in scope before the element's own */
};

struct walk {
    const uint8_t *base, *p, *end;
    int max_depth, depth;
    struct out o;
    struct c14n_info *info;
    struct elem st[C14N_MAX_DEPTH];
    struct binding ns[C14N_MAX_BINDINGS];
    size_t nns;
    struct attr at[C14N_MAX_ATTRS];
    size_t nat;
    /* the last element prefix looked up and its URI; last_ok: still valid (see element_uri) */
    struct c14n_str last_prefix, last_uri;
    int last_ok, last_dsig;
};

/* ---- output ---- */

static int flush(struct out *o)
{
    int r = PS_OK;

    if (o->n)
        r = o->sink(o->ctx, o->b, o->n);
    o->n = 0;
    return r;
}

static int buffer_slow(struct out *o, const void *p, size_t n)
{
    int r;

    if ((r = flush(o)) != PS_OK)
        return r;
    if (n > sizeof(o->b))
        return o->sink(o->ctx, p, n);
    memcpy(o->b, p, n);
    o->n = n;
    return PS_OK;
}

/* Most pieces are a few bytes (names, "</", "=\""): copied inline rather than by a call. */
static inline __attribute__((always_inline)) int buffer(struct out *o, const void *p, size_t n)
{
    if (n > sizeof(o->b) - o->n)
        return buffer_slow(o, p, n);
    if (n <= 16) {
        const uint8_t *s = p;
        uint8_t *d = o->b + o->n;

        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        memcpy(o->b + o->n, p, n);
    }
    o->n += n;
    return PS_OK;
}

/* Write out the pending span: a short one joins the buffer, a long one goes to the sink. */
static int settle(struct out *o)
{
    const uint8_t *p = o->sp;
    size_t n = (size_t)(o->se - o->sp);
    int r;

    o->sp = o->se;
    if (n < SPAN_COPY_MAX)
        return buffer(o, p, n);
    if ((r = flush(o)) != PS_OK)
        return r;
    return o->sink(o->ctx, p, n);
}

/* Bytes that are not where the pending span ends: they come after it. */
static inline __attribute__((always_inline)) int put(struct out *o, const void *p, size_t n)
{
    int r;

    if (o->sp != o->se && (r = settle(o)) != PS_OK)
        return r;
    return buffer(o, p, n);
}

/* Input bytes that are their own canonical form: the span grows when they continue it. */
static inline __attribute__((always_inline)) int put_input(struct out *o, const uint8_t *p,
                                                           size_t n)
{
    int r;

    if (p == o->se) {
        o->se += n;
        return PS_OK;
    }
    if (o->sp != o->se && (r = settle(o)) != PS_OK)
        return r;
    o->sp = p;
    o->se = p + n;
    return PS_OK;
}

static int finish(struct out *o)
{
    int r;

    if (o->sp != o->se && (r = settle(o)) != PS_OK)
        return r;
    return flush(o);
}

/* Inlined so that the length of a literal is known at compile time. */
static inline __attribute__((always_inline)) int puts_(struct out *o, const char *s)
{
    return put(o, s, strlen(s));
}

static inline __attribute__((always_inline)) int put_str(struct out *o, struct c14n_str s)
{
    return put(o, s.p, s.len);
}

static int put_cp(struct out *o, uint32_t c)
{
    uint8_t u[4];
    size_t n;

    if (c < 0x80) {
        u[0] = (uint8_t)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (uint8_t)(0xC0 | c >> 6);
        u[1] = (uint8_t)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (uint8_t)(0xE0 | c >> 12);
        u[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
        u[2] = (uint8_t)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | c >> 18);
        u[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
        u[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
        u[3] = (uint8_t)(0x80 | (c & 0x3F));
        n = 4;
    }
    return put(o, u, n);
}

/* ---- characters ---- */

HOT int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Length of the UTF-8 sequence at p (p[0] >= 0x80) if it encodes an XML Char, else 0. */
HOT size_t utf8_char(const uint8_t *p, const uint8_t *end)
{
    size_t n = (size_t)(end - p);
    uint8_t c = p[0];

    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0; /* overlong, surrogate */
        if (c == 0xEF && p[1] == 0xBF && p[2] >= 0xBE)
            return 0; /* U+FFFE, U+FFFF */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0; /* overlong, above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Skip one character of literal content (not '<' or '&'); 0 if it is not an XML Char. */
static size_t char_len(const uint8_t *p, const uint8_t *end)
{
    if (*p >= 0x80)
        return utf8_char(p, end);
    return *p >= 0x20 || *p == '\t' || *p == '\n' || *p == '\r' ? 1 : 0;
}

/* ASCII name characters: 1 may start a name, 2 may follow */
static const uint8_t name_class[256] = {
    /* 0 from 0x80: non-ASCII names go to libxml2 */
    ['-'] = 2, ['.'] = 2, ['0'] = 2, ['1'] = 2, ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2,
    ['6'] = 2, ['7'] = 2, ['8'] = 2, ['9'] = 2, ['_'] = 3, ['A'] = 3, ['B'] = 3, ['C'] = 3,
    ['D'] = 3, ['E'] = 3, ['F'] = 3, ['G'] = 3, ['H'] = 3, ['I'] = 3, ['J'] = 3, ['K'] = 3,
    ['L'] = 3, ['M'] = 3, ['N'] = 3, ['O'] = 3, ['P'] = 3, ['Q'] = 3, ['R'] = 3, ['S'] = 3,
    ['T'] = 3, ['U'] = 3, ['V'] = 3, ['W'] = 3, ['X'] = 3, ['Y'] = 3, ['Z'] = 3, ['a'] = 3,
    ['b'] = 3, ['c'] = 3, ['d'] = 3, ['e'] = 3, ['f'] = 3, ['g'] = 3, ['h'] = 3, ['i'] = 3,
    ['j'] = 3, ['k'] = 3, ['l'] = 3, ['m'] = 3, ['n'] = 3, ['o'] = 3, ['p'] = 3, ['q'] = 3,
    ['r'] = 3, ['s'] = 3, ['t'] = 3, ['u'] = 3, ['v'] = 3, ['w'] = 3, ['x'] = 3, ['y'] = 3,
    ['z'] = 3,
};

HOT int name_start(uint8_t c)
{
    return name_class[c] & 1;
}

HOT int name_char(uint8_t c)
{
    return name_class[c] != 0;
}

/* An ASCII QName at s (before end): its end, *colon its colon or NULL; NULL if none. */
static const uint8_t *qname_bytes(const uint8_t *s, const uint8_t *end, const uint8_t **colon)
{
    const uint8_t *p = s;

    *colon = NULL;
    if (p >= end || !name_start(*p))
        return NULL;
    for (p++;; p++) {
        while (p < end && name_char(*p))
            p++;
        if (p >= end || *p != ':')
            break;
        if (*colon || p + 1 >= end || !name_start(p[1]))
            return NULL;
        *colon = p;
    }
    return p;
}

#ifdef __SSE2__
/*
 * The same for the 16 bytes at s, without a branch per byte: the length of a QName of at most
 * 15 bytes there, or 0 when there is none or it may be longer (qname_bytes decides then).
 */
HOT size_t qname16(const uint8_t *s, const uint8_t **colon)
{
    __m128i v = _mm_loadu_si128((const __m128i *)s), l = _mm_or_si128(v, _mm_set1_epi8(0x20));
    /* signed compares: bytes from 0x80 are below everything here */
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
                                   _mm_cmplt_epi8(l, _mm_set1_epi8('z' + 1)));
    __m128i digit_colon = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8(':' + 1)));
    __m128i dash_dot = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('-' - 1)),
                                     _mm_cmplt_epi8(v, _mm_set1_epi8('.' + 1)));
    __m128i start = _mm_or_si128(letter, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    unsigned st = (unsigned)_mm_movemask_epi8(start);
    unsigned in = st | (unsigned)_mm_movemask_epi8(_mm_or_si128(digit_colon, dash_dot));
    unsigned n = (unsigned)__builtin_ctz(~in); /* name characters and colons */
    unsigned c = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')));

    c &= (1u << n) - 1;
    /* it starts with a start character, has at most one colon, and one follows that */
    if (n == 16 || !(st & 1) || (c & (c - 1)) || ((c << 1) & ~st))
        return 0;
    *colon = c ? s + __builtin_ctz(c) : NULL;
    return n;
}
#endif

/* An ASCII QName: NCName or NCName ':' NCName. */
HOT int qname(struct walk *w, struct c14n_str *q, struct c14n_str *prefix, struct c14n_str *local)
{
    const uint8_t *s = w->p, *colon = NULL, *p = NULL;

#ifdef __SSE2__
    size_t n;

    if (w->end - s >= 16 && (n = qname16(s, &colon)) != 0)
        p = s + n;
#endif
    if (p == NULL && (p = qname_bytes(s, w->end, &colon)) == NULL)
        return NO;
    q->p = s;
    q->len = (size_t)(p - s);
    prefix->p = s;
    prefix->len = colon ? (size_t)(colon - s) : 0;
    local->p = colon ? colon + 1 : s;
    local->len = (size_t)(p - local->p);
    w->p = p;
    return PS_OK;
}

/* Names and prefixes are short: a loop beats a call to memcmp for them. */
static inline int bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n > 32)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static inline __attribute__((always_inline)) int str_eq(struct c14n_str a, const char *b)
{
    return a.len == strlen(b) && bytes_eq(a.p, (const uint8_t *)b, a.len);
}

static inline int str_same(struct c14n_str a, struct c14n_str b)
{
    return a.len == b.len && bytes_eq(a.p, b.p, a.len);
}

/* a[0..n) == b[0..n) for a name (both in the input, which ends at e): 16 bytes at a time. */
HOT int same_name(const uint8_t *a, const uint8_t *b, size_t n, const uint8_t *e)
{
#ifdef __SSE2__
    if (n <= 16 && e - a >= 16 && e - b >= 16) {
        __m128i va = _mm_loadu_si128((const __m128i *)a), vb = _mm_loadu_si128((const __m128i *)b);
        unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(va, vb));

        return (~eq & ((1u << n) - 1)) == 0;
    }
#endif
    return bytes_eq(a, b, n);
}

/* strcmp order (what libxml2's xmlStrcmp gives for these NUL-free strings) */
static int str_cmp(struct c14n_str a, struct c14n_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;

    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* Names starting with "xml" in any case are reserved: left to libxml2. */
HOT int reserved(struct c14n_str s)
{
    return s.len >= 3 && (s.p[0] | 0x20) == 'x' && (s.p[1] | 0x20) == 'm' && (s.p[2] | 0x20) == 'l';
}

/* A namespace URI of a plain absolute shape (libxml2's C14N refuses relative ones). */
static int uri_ok(struct c14n_str u)
{
    size_t i = 1, hashes = 0;

    if (u.len == 0 || !((u.p[0] | 0x20) >= 'a' && (u.p[0] | 0x20) <= 'z'))
        return 0;
    while (i < u.len && (name_char(u.p[i]) || u.p[i] == '+') && u.p[i] != '_')
        i++;
    if (i >= u.len || u.p[i] != ':')
        return 0;
    i++;
    if (u.len - i >= 2 && u.p[i] == '/' && u.p[i + 1] == '/') { /* authority: a plain host */
        size_t h = i + 2;

        for (i = h; i < u.len && u.p[i] != '/' && u.p[i] != '#'; i++)
            if (!(name_char(u.p[i]) && u.p[i] != '_'))
                return 0;
        if (i == h)
            return 0;
    }
    for (; i < u.len; i++) {
        uint8_t c = u.p[i];

        if (c == '#')
            hashes++;
        else if (!(name_char(c) || c == '~' || c == '/' || c == ':'))
            return 0;
    }
    return hashes <= 1 && !str_eq(u, "http://www.w3.org/XML/1998/namespace") &&
           !str_eq(u, "http://www.w3.org/2000/xmlns/");
}

/*
 * A reference at w->p ('&'): the five predefined entities and character references to XML
 * Chars. Sets *c and moves past the ';'.
 */
static int reference(const uint8_t **pp, const uint8_t *end, uint32_t *c)
{
    static const struct {
        const char *name;
        uint8_t c;
    } ent[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    const uint8_t *p = *pp + 1;
    uint32_t v = 0;
    int digits = 0;

    if (p < end && *p == '#') {
        int hex = ++p < end && *p == 'x';

        for (p += hex; p < end && *p != ';'; p++, digits++) {
            uint32_t d;

            if (*p >= '0' && *p <= '9')
                d = (uint32_t)(*p - '0');
            else if (hex && (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
                d = (uint32_t)((*p | 0x20) - 'a' + 10);
            else
                return NO;
            v = v * (hex ? 16 : 10) + d;
            if (v > 0x10FFFF)
                return NO;
        }
        if (p >= end || digits == 0 || !is_xml_char(v))
            return NO;
        *c = v;
        *pp = p + 1;
        return PS_OK;
    }
    for (size_t i = 0; i < sizeof(ent) / sizeof(ent[0]); i++) {
        size_t n = strlen(ent[i].name);

        if ((size_t)(end - p) >= n && memcmp(p, ent[i].name, n) == 0) {
            *c = ent[i].c;
            *pp = p + n;
            return PS_OK;
        }
    }
    return NO;
}

/* ---- text ---- */

/* 1: a byte text cannot take as it is without a look (controls, & < > ], non-ASCII) */
static const uint8_t text_stop[256] = {
    [0] = 1,  [1] = 1,  [2] = 1,   [3] = 1,   [4] = 1,   [5] = 1,   [6] = 1,
    [7] = 1,  [8] = 1,  [11] = 1,  [12] = 1,  [13] = 1,  [14] = 1,  [15] = 1,
    [16] = 1, [17] = 1, [18] = 1,  [19] = 1,  [20] = 1,  [21] = 1,  [22] = 1,
    [23] = 1, [24] = 1, [25] = 1,  [26] = 1,  [27] = 1,  [28] = 1,  [29] = 1,
    [30] = 1, [31] = 1, ['&'] = 1, ['<'] = 1, ['>'] = 1, [']'] = 1, [0x80 ... 0xFF] = 1,
};

/* The first byte in [p, e) that text_stop marks, or e; 16 bytes a step where SSE2 is there. */
HOT const uint8_t *scan_text(const uint8_t *p, const uint8_t *e)
{
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(0x20), tab = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n');
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>'),
                  rsqb = _mm_set1_epi8(']');

    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* signed: below 0x20 are the controls and the bytes from 0x80; tab and LF are fine */
        __m128i m = _mm_andnot_si128(_mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)),
                                     _mm_cmplt_epi8(v, space));
        int bits;

        m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, rsqb)));
        m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, gt)));
        if ((bits = _mm_movemask_epi8(m)) != 0)
            return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (p < e && !text_stop[*p])
        p++;
    return p;
}

/* The end of the run from p of characters that are their own canonical form (UTF-8 checked). */
HOT const uint8_t *plain_run(const uint8_t *p, const uint8_t *e)
{
    size_t n;

    for (;;) {
        if ((p = scan_text(p, e)) >= e || *p < 0x80)
            return p;
        /* non-ASCII characters come in runs (CJK text): all of them before scanning on */
        do {
            if ((n = utf8_char(p, e)) == 0)
                return p;
            p += n;
        } while (p < e && *p >= 0x80);
    }
}

/* A character of text as C14N writes it (after references and line ends are resolved). */
static int put_text_char(struct out *o, uint32_t c)
{
    switch (c) {
    case '&': return puts_(o, "&amp;");
    case '<': return puts_(o, "&lt;");
    case '>': return puts_(o, "&gt;");
    case '\r': return puts_(o, "&#xD;");
    default: return put_cp(o, c);
    }
}

/*
 * Text from w->p: content up to its '<' (refs 1; stop is the end of the input), or a CDATA
 * section's up to its "]]>" at stop (refs 0). Runs of characters that are their own canonical
 * form go out as input spans; every character is checked.
 */
static int text(struct walk *w, const uint8_t *stop, int refs)
{
    const uint8_t *p = w->p, *run;
    int r;

    while (p < stop) {
        run = p;
        if ((p = plain_run(p, stop)) > run &&
            (r = put_input(&w->o, run, (size_t)(p - run))) != PS_OK)
            return r;
        if (p >= stop)
            break;
        switch (*p) {
        case '\r':
            /* CR LF -> LF (written with the next run), lone CR -> LF */
            if (p + 1 < stop && p[1] == '\n')
                p++;
            else if ((r = put(&w->o, "\n", 1)) != PS_OK)
                return r;
            else
                p++;
            break;
        case ']':
            if (refs && stop - p >= 3 && p[1] == ']' && p[2] == '>')
                return NO; /* "]]>" is not allowed in content */
            if ((r = put_input(&w->o, p, 1)) != PS_OK)
                return r;
            p++;
            break;
        case '>':
            if ((r = puts_(&w->o, "&gt;")) != PS_OK)
                return r;
            p++;
            break;
        case '&': {
            uint32_t c;

            if (!refs)
                r = puts_(&w->o, "&amp;"), p++;
            else if ((r = reference(&p, stop, &c)) == PS_OK)
                r = put_text_char(&w->o, c);
            if (r != PS_OK)
                return r;
            break;
        }
        case '<':
            if (refs) {
                w->p = p; /* the end of this text */
                return PS_OK;
            }
            r = puts_(&w->o, "&lt;"), p++;
            if (r != PS_OK)
                return r;
            break;
        default: return NO; /* a control character, not UTF-8 */
        }
    }
    w->p = p;
    return PS_OK;
}

/* Content text: a plain run up to the next tag here, anything else in text(). */
HOT int content_text(struct walk *w)
{
    const uint8_t *p = plain_run(w->p, w->end);
    int r;

    if (p > w->p && (r = put_input(&w->o, w->p, (size_t)(p - w->p))) != PS_OK)
        return r;
    w->p = p;
    if (p < w->end && *p == '<')
        return PS_OK;
    return text(w, w->end, 1);
}

/* ---- comments, PIs, CDATA ---- */

/* Check the characters of [p, e) (comment, PI data). */
static int chars_ok(const uint8_t *p, const uint8_t *e)
{
    while (p < e) {
        size_t n = char_len(p, e);

        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

/* <!-- ... --> (dropped: C14N without comments) */
static int comment(struct walk *w)
{
    const uint8_t *s = w->p + 4, *e;

    e = memmem(s, (size_t)(w->end - s), "--", 2);
    if (e == NULL || e + 2 >= w->end || e[2] != '>' || !chars_ok(s, e))
        return NO;
    w->p = e + 3;
    return PS_OK;
}

/* Write [p, e) with line ends normalised (PI data). */
static int put_lines(struct out *o, const uint8_t *p, const uint8_t *e)
{
    int r = PS_OK;

    while (p < e && r == PS_OK) {
        const uint8_t *cr = memchr(p, '\r', (size_t)(e - p));

        if (cr == NULL)
            return put(o, p, (size_t)(e - p));
        if ((r = put(o, p, (size_t)(cr - p))) == PS_OK && !(cr + 1 < e && cr[1] == '\n'))
            r = put(o, "\n", 1);
        p = cr + 1;
    }
    return r;
}

/* <?target data?>; before the root it is followed by a line feed. */
static int pi(struct walk *w, int prolog)
{
    struct c14n_str q, prefix, local;
    const uint8_t *d, *e;
    int r;

    w->p += 2;
    if (qname(w, &q, &prefix, &local) != PS_OK || prefix.len || reserved(q))
        return NO;
    d = w->p;
    while (d < w->end && is_ws(*d))
        d++;
    if (d == w->p && !(w->end - d >= 2 && d[0] == '?' && d[1] == '>'))
        return NO; /* white space must separate target and data */
    e = memmem(d, (size_t)(w->end - d), "?>", 2);
    if (e == NULL || !chars_ok(d, e))
        return NO;
    if ((r = puts_(&w->o, "<?")) != PS_OK || (r = put_str(&w->o, q)) != PS_OK)
        return r;
    if (e > d && ((r = put(&w->o, " ", 1)) != PS_OK || (r = put_lines(&w->o, d, e)) != PS_OK))
        return r;
    if ((r = puts_(&w->o, prolog ? "?>\n" : "?>")) != PS_OK)
        return r;
    w->p = e + 2;
    return PS_OK;
}

static int cdata(struct walk *w)
{
    const uint8_t *s = w->p + 9, *e = memmem(s, (size_t)(w->end - s), "]]>", 3);
    int r;

    if (e == NULL)
        return NO;
    w->p = s;
    if ((r = text(w, e, 0)) != PS_OK)
        return r;
    w->p = e + 3;
    return PS_OK;
}

/* ---- elements ---- */

/* The binding of prefix among the first n in scope (innermost first); NULL if none. */
static const struct binding *lookup(const struct walk *w, size_t n, struct c14n_str prefix)
{
    while (n-- > 0)
        if (str_same(w->ns[n].prefix, prefix))
            return &w->ns[n];
    return NULL;
}

/* An attribute value as C14N writes it, checking its characters and references. */
static int put_attr_value(struct out *o, struct c14n_str v)
{
    const uint8_t *p = v.p, *e = v.p + v.len, *run;
    int r;

    while (p < e) {
        uint32_t c;

        for (run = p; p < e && *p >= 0x20 && *p < 0x80 && *p != '&' && *p != '"'; p++)
            ;
        if (p > run && (r = put(o, run, (size_t)(p - run))) != PS_OK)
            return r;
        if (p >= e)
            break;
        if (*p >= 0x80) {
            size_t n = utf8_char(p, e);

            if (n == 0)
                return NO;
            r = put(o, p, n);
            p += n;
        } else if (*p == '"') {
            r = puts_(o, "&quot;"), p++;
        } else if (*p == '&') {
            if ((r = reference(&p, e, &c)) != PS_OK)
                return r;
            switch (c) {
            case '&': r = puts_(o, "&amp;"); break;
            case '<': r = puts_(o, "&lt;"); break;
            case '"': r = puts_(o, "&quot;"); break;
            case '\t': r = puts_(o, "&#x9;"); break;
            case '\n': r = puts_(o, "&#xA;"); break;
            case '\r': r = puts_(o, "&#xD;"); break;
            default: r = put_cp(o, c);
            }
        } else if (*p == '\t' || *p == '\n' || *p == '\r') {
            /* attribute-value normalisation: white space -> space, CR LF counts once */
            if (*p == '\r' && p + 1 < e && p[1] == '\n')
                p++;
            r = put(o, " ", 1), p++;
        } else {
            return NO;
        }
        if (r != PS_OK)
            return r;
    }
    return PS_OK;
}

/* After a name: Eq ('=' between optional white space) and a quoted value, into v (the
 * characters between the quotes, unchecked). */
static int eq_value(struct walk *w, struct c14n_str *v)
{
    const uint8_t *q;

    while (w->p < w->end && is_ws(*w->p))
        w->p++;
    if (w->p >= w->end || *w->p++ != '=')
        return NO;
    while (w->p < w->end && is_ws(*w->p))
        w->p++;
    if (w->p >= w->end || (*w->p != '"' && *w->p != '\'') ||
        (q = memchr(w->p + 1, *w->p, (size_t)(w->end - w->p - 1))) == NULL)
        return NO;
    v->p = w->p + 1;
    v->len = (size_t)(q - v->p);
    w->p = q + 1;
    return PS_OK;
}

/* Attributes of a start tag, after its name, into w->at; sets *empty for "/>". */
static int attributes(struct walk *w, int *empty)
{
    w->nat = 0;
    for (;;) {
        const uint8_t *s = w->p;
        struct attr *a;

        while (w->p < w->end && is_ws(*w->p))
            w->p++;
        if (w->p >= w->end)
            return NO;
        if (*w->p == '>' || *w->p == '/') {
            *empty = *w->p == '/';
            if (*empty && (w->p + 1 >= w->end || w->p[1] != '>'))
                return NO;
            w->p += *empty ? 2 : 1;
            return PS_OK;
        }
        if (w->p == s || w->nat >= C14N_MAX_ATTRS)
            return NO;
        a = &w->at[w->nat++];
        memset(a, 0, sizeof(*a));
        if (qname(w, &a->qname, &a->prefix, &a->local) != PS_OK)
            return NO;
        if (eq_value(w, &a->value) != PS_OK || memchr(a->value.p, '<', a->value.len) != NULL)
            return NO;
        if (str_eq(a->qname, "xmlns") || str_eq(a->prefix, "xmlns"))
            a->decl = 1;
        else if (reserved(a->prefix.len ? a->prefix : a->local))
            return NO;
    }
}

/* Push the element's namespace declarations (checked) onto w->ns. */
static int declarations(struct walk *w)
{
    for (size_t i = 0; i < w->nat; i++) {
        struct attr *a = &w->at[i];
        struct binding *b;

        if (!a->decl)
            continue;
        if (a->prefix.len) {
            if (reserved(a->local) || !uri_ok(a->value))
                return NO; /* xml/xmlns prefixes, xmlns:p="" (1.0), odd URIs */
        } else {
            a->local.len = 0; /* the default namespace: prefix "" */
            if (a->value.len && !uri_ok(a->value))
                return NO;
        }
        for (size_t j = 0; j < i; j++)
            if (w->at[j].decl && str_same(w->at[j].local, a->local))
                return NO; /* declared twice */
        if (w->nns >= C14N_MAX_BINDINGS)
            return NO;
        w->last_ok = 0; /* the scope changes */
        b = &w->ns[w->nns++];
        b->prefix = a->local;
        b->href = a->value;
    }
    return PS_OK;
}

/* Namespace URIs of the attributes; duplicates refused. */
static int resolve_attributes(struct walk *w)
{
    for (size_t i = 0; i < w->nat; i++) {
        struct attr *a = &w->at[i];

        if (a->decl)
            continue;
        if (a->prefix.len) {
            const struct binding *b = lookup(w, w->nns, a->prefix);

            if (b == NULL || b->href.len == 0)
                return NO;
            a->uri = b->href;
        }
        for (size_t j = 0; j < i; j++) {
            const struct attr *o = &w->at[j];

            if (o->decl)
                continue;
            if (str_same(o->qname, a->qname) ||
                (o->uri.len && a->uri.len && str_same(o->uri, a->uri) &&
                 str_same(o->local, a->local)))
                return NO;
        }
    }
    return PS_OK;
}

static int attr_before(const struct attr *a, const struct attr *b)
{
    int c;

    if (a->decl || b->decl) /* declarations: by prefix, the default one first */
        return str_cmp(a->local, b->local) < 0;
    if ((a->uri.len == 0) != (b->uri.len == 0))
        return a->uri.len == 0;
    c = str_cmp(a->uri, b->uri);
    return c < 0 || (c == 0 && str_cmp(a->local, b->local) < 0);
}

/* Write the start tag: name, the declarations that change the scope, the attributes. */
static int put_start_tag(struct walk *w, struct c14n_str q, size_t mark)
{
    const struct attr *ord[C14N_MAX_ATTRS];
    size_t n = 0;
    int r;

    for (int pass = 0; pass < 2; pass++) {
        size_t first = n;

        for (size_t i = 0; i < w->nat; i++) {
            const struct attr *a = &w->at[i];

            if (a->decl != !pass)
                continue;
            if (a->decl) {
                const struct binding *b = lookup(w, mark, a->local);
                struct c14n_str parent = b ? b->href : (struct c14n_str){NULL, 0};

                if (str_same(parent, a->value))
                    continue; /* superfluous: the parent has it (or no default) */
            }
            ord[n++] = a;
            for (size_t k = n - 1; k > first && attr_before(ord[k], ord[k - 1]); k--) {
                const struct attr *t = ord[k];

                ord[k] = ord[k - 1];
                ord[k - 1] = t;
            }
        }
    }
    if ((r = put(&w->o, "<", 1)) != PS_OK || (r = put_str(&w->o, q)) != PS_OK)
        return r;
    for (size_t i = 0; i < n; i++) {
        const struct attr *a = ord[i];

        if (a->decl)
            r = a->local.len ? puts_(&w->o, " xmlns:") : puts_(&w->o, " xmlns");
        else
            r = put(&w->o, " ", 1);
        if (r == PS_OK)
            r = put_str(&w->o, a->decl ? a->local : a->qname);
        if (r == PS_OK)
            r = puts_(&w->o, "=\"");
        if (r == PS_OK)
            r = put_attr_value(&w->o, a->value);
        if (r == PS_OK)
            r = put(&w->o, "\"", 1);
        if (r != PS_OK)
            return r;
    }
    return put(&w->o, ">", 1);
}

static void note_root(struct walk *w, struct c14n_str prefix, struct c14n_str local,
                      struct c14n_str uri)
{
    struct c14n_info *in = w->info;

    in->root_local = local;
    in->root_prefix = prefix;
    in->root_uri = uri;
    in->root_nns = 0;
    for (size_t i = 0; i < w->nat; i++) {
        if (!w->at[i].decl)
            continue;
        in->root_ns[in->root_nns].prefix = w->at[i].local;
        in->root_ns[in->root_nns].href = w->at[i].value;
        in->root_nns++;
    }
}

/* Leave an element: its declarations go out of scope. */
HOT void pop_bindings(struct walk *w, size_t mark)
{
    if (w->nns != mark) {
        w->nns = mark;
        w->last_ok = 0;
    }
}

static int element_uri_lookup(struct walk *w, struct c14n_str prefix, struct c14n_str *uri)
{
    const struct binding *b = lookup(w, w->nns, prefix);

    if (prefix.len && (b == NULL || b->href.len == 0))
        return NO; /* unbound prefix */
    w->last_prefix = prefix;
    w->last_uri = b ? b->href : (struct c14n_str){NULL, 0};
    w->last_dsig = str_eq(w->last_uri, NS_DSIG);
    w->last_ok = 1;
    *uri = w->last_uri;
    return PS_OK;
}

/*
 * The namespace URI of an element's prefix (NO if unbound). Most elements of a message share
 * one prefix: the last answer holds while the bindings in scope stay the same.
 */
HOT int element_uri(struct walk *w, struct c14n_str prefix, struct c14n_str *uri)
{
    if (w->last_ok && prefix.len == w->last_prefix.len &&
        same_name(prefix.p, w->last_prefix.p, prefix.len, w->end)) {
        *uri = w->last_uri;
        return PS_OK;
    }
    return element_uri_lookup(w, prefix, uri);
}

HOT void push(struct walk *w, struct c14n_str q, size_t mark)
{
    w->st[w->depth].qname = q;
    w->st[w->depth].mark = mark;
    w->depth++;
}

/* A start tag with attributes, white space or "/>" after its name (and the root's). */
static int full_start_tag(struct walk *w, struct c14n_str q, struct c14n_str prefix,
                          struct c14n_str local)
{
    struct c14n_str uri;
    size_t mark = w->nns;
    int empty = 0, r, ndecl = 0;

    if ((r = attributes(w, &empty)) != PS_OK || (r = declarations(w)) != PS_OK ||
        (r = resolve_attributes(w)) != PS_OK || (r = element_uri(w, prefix, &uri)) != PS_OK)
        return r;
    if (w->last_dsig && str_eq(local, "Signature"))
        w->info->dsig_signature = 1;
    if (w->depth == 0) {
        for (size_t i = 0; i < w->nat; i++)
            ndecl += w->at[i].decl;
        if (empty || ndecl > C14N_MAX_ROOT_NS)
            return NO;
        note_root(w, prefix, local, uri);
    }
    if ((r = put_start_tag(w, q, mark)) != PS_OK)
        return r;
    if (empty) {
        pop_bindings(w, mark);
        if ((r = puts_(&w->o, "</")) != PS_OK || (r = put_str(&w->o, q)) != PS_OK)
            return r;
        return put(&w->o, ">", 1);
    }
    push(w, q, mark);
    return PS_OK;
}

HOT int start_tag(struct walk *w)
{
    const uint8_t *s = w->p, *e;
    struct c14n_str q, prefix, local, uri;
    int r;

    w->p++;
    if (w->depth + 1 >= w->max_depth || qname(w, &q, &prefix, &local) != PS_OK ||
        reserved(prefix.len ? prefix : local))
        return NO;
    if (w->depth == 0 || w->p >= w->end || *w->p != '>')
        return full_start_tag(w, q, prefix, local);
    /* the common case, "<name>" below the root: already canonical, nothing to declare */
    if ((r = element_uri(w, prefix, &uri)) != PS_OK)
        return r;
    if (w->last_dsig && str_eq(local, "Signature"))
        w->info->dsig_signature = 1;
    /* the plain text after it goes with it, and so does "</name>" right after that (a leaf) */
    e = plain_run(++w->p, w->end);
    if (w->end - e > (ptrdiff_t)q.len + 2 && e[0] == '<' && e[1] == '/' &&
        same_name(e + 2, q.p, q.len, w->end) && e[2 + q.len] == '>') {
        w->p = e + 3 + q.len;
        return put_input(&w->o, s, (size_t)(w->p - s));
    }
    w->p = e;
    push(w, q, w->nns);
    return put_input(&w->o, s, (size_t)(e - s));
}

HOT int end_tag(struct walk *w)
{
    const uint8_t *s = w->p;
    const struct elem *e = &w->st[w->depth - 1];
    struct c14n_str q = e->qname;
    int r;

    /* the name must be the open element's, and end there */
    w->p += 2;
    if ((size_t)(w->end - w->p) < q.len || !same_name(w->p, q.p, q.len, w->end))
        return NO;
    w->p += q.len;
    if (w->p < w->end && *w->p == '>') {
        r = put_input(&w->o, s, (size_t)(++w->p - s)); /* "</name>": as it is */
    } else {
        while (w->p < w->end && is_ws(*w->p))
            w->p++;
        if (w->p >= w->end || *w->p++ != '>')
            return NO;
        if ((r = put(&w->o, "</", 2)) == PS_OK && (r = put_str(&w->o, q)) == PS_OK)
            r = put(&w->o, ">", 1);
    }
    if (r != PS_OK)
        return r;
    pop_bindings(w, e->mark);
    if (--w->depth == 0)
        w->info->root_end = (size_t)(s - w->base);
    return PS_OK;
}

/* ---- document ---- */

static inline __attribute__((always_inline)) int starts(const struct walk *w, const char *s)
{
    size_t n = strlen(s);

    return (size_t)(w->end - w->p) >= n && memcmp(w->p, s, n) == 0;
}

/* S name S? '=' S? quoted value: PS_OK, 1 when absent (nothing consumed), or NO */
static int decl_attr(struct walk *w, const char *name, struct c14n_str *v)
{
    const uint8_t *s = w->p;
    size_t n = strlen(name);

    while (w->p < w->end && is_ws(*w->p))
        w->p++;
    if (w->p == s || !starts(w, name)) {
        w->p = s;
        return 1;
    }
    w->p += n;
    return eq_value(w, v);
}

/* <?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"]?> */
static int xml_declaration(struct walk *w)
{
    struct c14n_str v;

    int r;

    w->p += 5;
    if (decl_attr(w, "version", &v) != PS_OK || !str_eq(v, "1.0"))
        return NO;
    if ((r = decl_attr(w, "encoding", &v)) == NO ||
        (r == PS_OK && !(v.len == 5 && strncasecmp((const char *)v.p, "UTF-8", 5) == 0)))
        return NO;
    if ((r = decl_attr(w, "standalone", &v)) == NO ||
        (r == PS_OK && !str_eq(v, "yes") && !str_eq(v, "no")))
        return NO;
    while (w->p < w->end && is_ws(*w->p))
        w->p++;
    if (!starts(w, "?>"))
        return NO;
    w->p += 2;
    return PS_OK;
}

/* Misc before the root: white space, comments, PIs. */
static int prolog(struct walk *w)
{
    int r;

    if (starts(w, "<?xml") && w->end - w->p > 5 && is_ws(w->p[5]) &&
        (r = xml_declaration(w)) != PS_OK)
        return r;
    for (;;) {
        while (w->p < w->end && is_ws(*w->p))
            w->p++;
        if (starts(w, "<!--"))
            r = comment(w);
        else if (starts(w, "<?"))
            r = pi(w, 1);
        else if (w->p < w->end && *w->p == '<' && w->end - w->p > 1 && name_start(w->p[1]))
            return PS_OK;
        else
            return NO;
        if (r != PS_OK)
            return r;
    }
}

static int content(struct walk *w)
{
    int r;

    while (w->depth > 0) {
        if (w->p >= w->end)
            return NO;
        if (*w->p != '<')
            r = content_text(w);
        else if (w->end - w->p < 2)
            return NO;
        else if (w->p[1] == '/')
            r = end_tag(w);
        else if (w->p[1] == '?')
            r = pi(w, 0);
        else if (w->p[1] != '!')
            r = start_tag(w);
        else if (starts(w, "<!--"))
            r = comment(w);
        else if (starts(w, "<![CDATA["))
            r = cdata(w);
        else
            return NO;
        if (r != PS_OK)
            return r;
    }
    return PS_OK;
}

int c14n_document(const uint8_t *xml, size_t len, int max_depth, c14n_sink sink, void *ctx,
                  struct c14n_info *info)
{
    struct walk *w, wk;
    int r;

    w = &wk;
    w->base = w->p = xml;
    w->end = xml + len;
    w->max_depth = max_depth < C14N_MAX_DEPTH ? max_depth : C14N_MAX_DEPTH;
    w->depth = 0;
    w->nns = w->nat = 0;
    w->last_ok = 0;
    w->o.sink = sink;
    w->o.ctx = ctx;
    w->o.n = 0;
    w->o.sp = w->o.se = xml;
    w->info = info;
    memset(info, 0, sizeof(*info));
    if (len == 0 || (r = prolog(w)) != PS_OK || (r = start_tag(w)) != PS_OK ||
        (r = content(w)) != PS_OK)
        return len == 0 ? NO : r;
    while (w->p < w->end && is_ws(*w->p))
        w->p++;
    if (w->p != w->end)
        return NO; /* only white space may follow the root */
    return finish(&w->o);
}
