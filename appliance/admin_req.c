#include "admin_req.h"

#include <string.h>

#include <jansson.h>

static const char *const field_names[AF_COUNT] = {
    "id",   "cn",     "root", "url",  "crl",     "aeo_origin", "label",
    "cert", "tenant", "sm2",  "algs", "profile", "sign_rate",  "sign_burst",
};

#define F(x) (1u << (x))
static const struct {
    const char *name;
    enum admin_cmd cmd;
    unsigned required, optional; /* bit per enum admin_field */
    int edits;
} cmds[] = {
    {"status", ADMIN_STATUS, 0, 0, 0},
    {"reload", ADMIN_RELOAD, 0, 0, 0},
    {"config-check", ADMIN_CONFIG_CHECK, 0, 0, 0},
    {"tenant-add", ADMIN_TENANT_ADD, F(AF_ID) | F(AF_CN), F(AF_SIGN_RATE) | F(AF_SIGN_BURST), 1},
    {"tenant-limit", ADMIN_TENANT_LIMIT, F(AF_ID) | F(AF_SIGN_RATE), F(AF_SIGN_BURST), 1},
    {"officer-add", ADMIN_OFFICER_ADD, F(AF_ID) | F(AF_CN), 0, 1},
    {"partner-add", ADMIN_PARTNER_ADD, F(AF_ID) | F(AF_ROOT) | F(AF_CN),
     F(AF_URL) | F(AF_CRL) | F(AF_AEO_ORIGIN), 1},
    {"key-add", ADMIN_KEY_ADD, F(AF_ID) | F(AF_LABEL) | F(AF_CERT),
     F(AF_TENANT) | F(AF_SM2) | F(AF_ALGS) | F(AF_PROFILE), 1},
    {"key-retire", ADMIN_KEY_RETIRE, F(AF_ID), 0, 1},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static int field_index(const char *name)
{
    for (int i = 0; i < AF_COUNT; i++)
        if (strcmp(field_names[i], name) == 0)
            return i;
    return -1;
}

/* A value that can stand as one word of a configuration line: printable, no blanks. */
static int value_ok(const char *v, size_t n)
{
    if (n == 0 || n > ADMIN_VALUE_MAX || v[0] == '#')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] == 0x7f)
            return 0;
    return 1;
}

static int set_field(struct admin_req *rq, size_t c, const char *key, json_t *v, char *err,
                     size_t errlen)
{
    int fi = field_index(key);
    const char *s;
    size_t n;

    if (fi < 0 || !((cmds[c].required | cmds[c].optional) & F(fi)))
        return ps_errf(PS_E_INVAL, err, errlen, "%s takes no member '%.40s'", cmds[c].name, key);
    if (!json_is_string(v))
        return ps_errf(PS_E_INVAL, err, errlen, "member %s must be a string", key);
    s = json_string_value(v);
    n = json_string_length(v);
    if (!value_ok(s, n))
        return ps_errf(PS_E_INVAL, err, errlen,
                       "member %s must be 1-%d printable characters without blanks, not "
                       "starting with '#'",
                       key, ADMIN_VALUE_MAX);
    if ((fi == AF_ROOT || fi == AF_CRL || fi == AF_CERT || fi == AF_SM2) && s[0] != '/')
        return ps_errf(PS_E_INVAL, err, errlen, "member %s must be an absolute path", key);
    memcpy(rq->f[fi], s, n + 1);
    return PS_OK;
}

int admin_req_parse(const char *line, size_t len, struct admin_req *rq, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j, *v;
    const char *key, *name;
    size_t c;
    int r = PS_E_INVAL;

    memset(rq, 0, sizeof(*rq));
    if (len > ADMIN_REQ_MAX)
        return ps_errf(PS_E_INVAL, err, errlen, "request longer than %d bytes", ADMIN_REQ_MAX);
    if ((j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "not JSON: %s", je.text);
    if (!json_is_object(j)) {
        ps_errf(PS_E_INVAL, err, errlen, "a request is a JSON object");
        goto out;
    }
    if ((name = json_string_value(json_object_get(j, "cmd"))) == NULL) {
        ps_errf(PS_E_INVAL, err, errlen, "no \"cmd\" string");
        goto out;
    }
    for (c = 0; c < NCMDS; c++)
        if (strcmp(cmds[c].name, name) == 0)
            break;
    if (c == NCMDS) {
        ps_errf(PS_E_INVAL, err, errlen, "unknown command '%.40s'", name);
        goto out;
    }
    rq->cmd = cmds[c].cmd;
    rq->name = cmds[c].name;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "cmd") != 0 && set_field(rq, c, key, v, err, errlen) != PS_OK)
            goto out;
    }
    for (int i = 0; i < AF_COUNT; i++)
        if ((cmds[c].required & F(i)) && rq->f[i][0] == 0) {
            ps_errf(PS_E_INVAL, err, errlen, "%s needs member %s", cmds[c].name, field_names[i]);
            goto out;
        }
    if (rq->cmd == ADMIN_TENANT_LIMIT && strcmp(rq->f[AF_SIGN_RATE], "unlimited") == 0 &&
        rq->f[AF_SIGN_BURST][0]) {
        ps_errf(PS_E_INVAL, err, errlen, "sign_rate unlimited takes no sign_burst");
        goto out;
    }
    r = PS_OK;
out:
    json_decref(j);
    return r;
}

int admin_req_edits(const struct admin_req *rq)
{
    for (size_t c = 0; c < NCMDS; c++)
        if (cmds[c].cmd == rq->cmd)
            return cmds[c].edits;
    return 0;
}

/* The directive line an add command appends (without newline). */
static int add_line(const struct admin_req *rq, struct buf *b)
{
    static const struct {
        enum admin_cmd cmd;
        const char *directive;
        int plain; /* members that are positional words after the id */
        enum admin_field opts[7];
    } lines[] = {
        {ADMIN_TENANT_ADD, "tenant", AF_CN, {AF_SIGN_RATE, AF_SIGN_BURST, AF_COUNT}},
        {ADMIN_OFFICER_ADD, "officer", AF_CN, {AF_COUNT}},
        {ADMIN_PARTNER_ADD,
         "partner",
         AF_COUNT,
         {AF_ROOT, AF_CN, AF_URL, AF_CRL, AF_AEO_ORIGIN, AF_COUNT}},
        {ADMIN_KEY_ADD,
         "key",
         AF_COUNT,
         {AF_TENANT, AF_LABEL, AF_CERT, AF_SM2, AF_ALGS, AF_PROFILE, AF_COUNT}},
    };
    int r;

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (lines[i].cmd != rq->cmd)
            continue;
        if ((r = buf_printf(b, "%s %s", lines[i].directive, rq->f[AF_ID])) != PS_OK)
            return r;
        if (lines[i].plain != AF_COUNT &&
            (r = buf_printf(b, " %s", rq->f[lines[i].plain])) != PS_OK)
            return r;
        for (const enum admin_field *o = lines[i].opts; *o != AF_COUNT; o++)
            if (rq->f[*o][0] && (r = buf_printf(b, " %s=%s", field_names[*o], rq->f[*o])) != PS_OK)
                return r;
        return PS_OK;
    }
    return PS_E_INVAL;
}

/* Does this line (up to its end) start with the words "DIRECTIVE ID"? */
static int is_line_of(const char *p, size_t n, const char *directive, const char *id)
{
    size_t i = 0, il = strlen(id), dl = strlen(directive);

    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (n - i < dl + 1 || memcmp(p + i, directive, dl) != 0 ||
        (p[i + dl] != ' ' && p[i + dl] != '\t'))
        return 0;
    i += dl;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (n - i < il || memcmp(p + i, id, il) != 0)
        return 0;
    i += il;
    return i == n || p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '#';
}

/* Copy text to out line by line, each line "DIRECTIVE ID ..." (ID = rq's id) through edit;
 * PS_E_NOTFOUND (err says so) when there is none. */
typedef int (*line_edit)(const struct admin_req *rq, const char *p, size_t n, struct buf *out);
static int edit_lines(const struct admin_req *rq, const char *text, size_t len,
                      const char *directive, line_edit edit, struct buf *out, char *err,
                      size_t errlen)
{
    size_t pos = 0;
    int found = 0, r;

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;

        if (is_line_of(text + pos, end - pos, directive, rq->f[AF_ID])) {
            found++;
            r = edit(rq, text + pos, end - pos, out);
        } else {
            r = buf_append(out, text + pos, end - pos);
        }
        if (r != PS_OK)
            return r;
        pos = end;
    }
    if (!found)
        return ps_errf(PS_E_NOTFOUND, err, errlen, "no %s %s in the configuration", directive,
                       rq->f[AF_ID]);
    return PS_OK;
}

/* A retired key's line stays, commented out. */
static int retired_line(const struct admin_req *rq, const char *p, size_t n, struct buf *out)
{
    int r;

    (void)rq;
    if ((r = buf_append_str(out, "# retired: ")) != PS_OK)
        return r;
    return buf_append(out, p, n);
}

/* The tenant's line "tenant ID CN [options]" again, with rq's limits instead of its old ones. */
static int tenant_line(const struct admin_req *rq, const char *p, size_t n, struct buf *out)
{
    size_t i = 0;
    int word = 0, r;

    while (i < n && p[i] != '\n' && p[i] != '\r') {
        size_t s, e;

        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        if (i == n || p[i] == '\n' || p[i] == '\r' || p[i] == '#')
            break;
        s = i;
        while (i < n && p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            i++;
        e = i;
        /* tenant, ID, CN are kept; the old sign_rate=/sign_burst= (or any option) go */
        if (word++ < 3 &&
            (r = buf_printf(out, "%s%.*s", word > 1 ? " " : "", (int)(e - s), p + s)) != PS_OK)
            return r;
    }
    if (strcmp(rq->f[AF_SIGN_RATE], "unlimited") != 0) {
        if ((r = buf_printf(out, " sign_rate=%s", rq->f[AF_SIGN_RATE])) != PS_OK ||
            (rq->f[AF_SIGN_BURST][0] &&
             (r = buf_printf(out, " sign_burst=%s", rq->f[AF_SIGN_BURST])) != PS_OK))
            return r;
    }
    /* a trailing comment stays; so does the line's end */
    if (i < n && p[i] == '#' && (r = buf_printf(out, " ")) != PS_OK)
        return r;
    return buf_append(out, p + i, n - i);
}

int admin_req_edit(const struct admin_req *rq, const char *text, size_t len, struct buf *out,
                   size_t max, char *err, size_t errlen)
{
    int r;

    buf_init(out, max);
    if (rq->cmd == ADMIN_KEY_RETIRE)
        r = edit_lines(rq, text, len, "key", retired_line, out, err, errlen);
    else if (rq->cmd == ADMIN_TENANT_LIMIT)
        r = edit_lines(rq, text, len, "tenant", tenant_line, out, err, errlen);
    else if (!admin_req_edits(rq))
        r = ps_errf(PS_E_INVAL, err, errlen, "%s does not change the configuration", rq->name);
    else if ((r = buf_append(out, text, len)) == PS_OK &&
             (len == 0 || text[len - 1] == '\n' || (r = buf_append_str(out, "\n")) == PS_OK) &&
             (r = add_line(rq, out)) == PS_OK)
        r = buf_append_str(out, "\n");
    if (r == PS_E_LIMIT || r == PS_E_NOMEM)
        ps_errf(r, err, errlen, "the configuration would be larger than %zu bytes", max);
    return r;
}
