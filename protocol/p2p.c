#include "p2p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "timefmt.h"

/* jansson's reason; it leaves the text empty when an allocation failed */
static const char *jerr(const json_error_t *je)
{
    return je->text[0] ? je->text : "out of memory";
}

/* ---- names ---- */

static const char *const type_names[P2P_TYPE_MAX] = {
    NULL,  "alert", "elock.event", "inspection.request", "inspection.response", "prearrival.notice",
    "note"};

const char *p2p_type_name(enum p2p_type t)
{
    return (unsigned)t < P2P_TYPE_MAX ? type_names[t] : NULL;
}

enum p2p_type p2p_type_from_name(const char *s)
{
    for (int t = P2P_ALERT; t < P2P_TYPE_MAX; t++)
        if (strcmp(s, type_names[t]) == 0)
            return (enum p2p_type)t;
    return P2P_TYPE_NONE;
}

const char *p2p_priority_name(enum p2p_priority p)
{
    return p == P2P_URGENT ? "urgent" : p == P2P_ROUTINE ? "routine" : NULL;
}

enum p2p_priority p2p_priority_from_name(const char *s)
{
    return strcmp(s, "urgent") == 0    ? P2P_URGENT
           : strcmp(s, "routine") == 0 ? P2P_ROUTINE
                                       : P2P_PRIORITY_NONE;
}

int p2p_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > P2P_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == ':' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* ---- body schemas ---- */

enum ftype {
    FT_STR,  /* one line of text */
    FT_TEXT, /* text that may hold LF and TAB */
    FT_ID,   /* an id */
    FT_ENUM, /* one of values */
    FT_TIME, /* a timestamp */
    FT_IDS   /* an array of at most max ids */
};

struct field {
    const char *name;
    enum ftype type;
    int required;
    size_t max;
    const char *const *values; /* FT_ENUM: NULL-terminated */
};

struct schema {
    const struct field *fields;
    const char *const *one_of; /* NULL-terminated: at least one must be present; or NULL */
};

static const char *const severities[] = {"info", "warning", "critical", NULL};
static const char *const elock_events[] = {"seal", "unseal", "tamper", NULL};
static const char *const results[] = {"cleared", "discrepancy", "seized", "declined", NULL};

static const struct field alert_f[] = {{"severity", FT_ENUM, 1, 0, severities},
                                       {"category", FT_STR, 1, 64, NULL},
                                       {"title", FT_STR, 1, 200, NULL},
                                       {"text", FT_TEXT, 1, 4000, NULL},
                                       {"location", FT_STR, 0, 200, NULL},
                                       {"refs", FT_IDS, 0, 20, NULL},
                                       {NULL, FT_STR, 0, 0, NULL}};
static const struct field elock_f[] = {{"lock_id", FT_ID, 1, P2P_ID_MAX, NULL},
                                       {"truck_plate", FT_STR, 1, 16, NULL},
                                       {"event", FT_ENUM, 1, 0, elock_events},
                                       {"at", FT_TIME, 1, 0, NULL},
                                       {"location", FT_STR, 1, 200, NULL},
                                       {"container_no", FT_STR, 0, 16, NULL},
                                       {"declaration_no", FT_STR, 0, 64, NULL},
                                       {"note", FT_TEXT, 0, 1000, NULL},
                                       {NULL, FT_STR, 0, 0, NULL}};
static const struct field insp_req_f[] = {
    {"reason", FT_TEXT, 1, 2000, NULL},      {"requested_by", FT_STR, 1, 128, NULL},
    {"truck_plate", FT_STR, 0, 16, NULL},    {"container_no", FT_STR, 0, 16, NULL},
    {"declaration_no", FT_STR, 0, 64, NULL}, {"lock_id", FT_ID, 0, P2P_ID_MAX, NULL},
    {"deadline", FT_TIME, 0, 0, NULL},       {NULL, FT_STR, 0, 0, NULL}};
static const char *const insp_req_one_of[] = {"truck_plate", "container_no", "declaration_no",
                                              "lock_id", NULL};
static const struct field insp_resp_f[] = {
    {"request_id", FT_ID, 1, P2P_ID_MAX, NULL}, {"result", FT_ENUM, 1, 0, results},
    {"officer", FT_STR, 1, 128, NULL},          {"inspected_at", FT_TIME, 0, 0, NULL},
    {"findings", FT_TEXT, 0, 4000, NULL},       {NULL, FT_STR, 0, 0, NULL}};
static const struct field prearrival_f[] = {{"truck_plate", FT_STR, 1, 16, NULL},
                                            {"eta", FT_TIME, 1, 0, NULL},
                                            {"crossing", FT_STR, 1, 64, NULL},
                                            {"declaration_no", FT_STR, 0, 64, NULL},
                                            {"container_no", FT_STR, 0, 16, NULL},
                                            {"lock_id", FT_ID, 0, P2P_ID_MAX, NULL},
                                            {"goods", FT_TEXT, 0, 1000, NULL},
                                            {"driver", FT_STR, 0, 128, NULL},
                                            {NULL, FT_STR, 0, 0, NULL}};
static const struct field note_f[] = {{"subject", FT_STR, 1, 200, NULL},
                                      {"text", FT_TEXT, 1, 8000, NULL},
                                      {"refs", FT_IDS, 0, 20, NULL},
                                      {NULL, FT_STR, 0, 0, NULL}};

static const struct schema schemas[P2P_TYPE_MAX] = {
    [P2P_ALERT] = {alert_f, NULL},
    [P2P_ELOCK_EVENT] = {elock_f, NULL},
    [P2P_INSPECTION_REQUEST] = {insp_req_f, insp_req_one_of},
    [P2P_INSPECTION_RESPONSE] = {insp_resp_f, NULL},
    [P2P_PREARRIVAL_NOTICE] = {prearrival_f, NULL},
    [P2P_NOTE] = {note_f, NULL},
};

/* Text: no control characters (C0, DEL; LF and TAB only when multi_line), no NUL. */
static const char *text_problem(const char *s, size_t n, size_t max, int multi_line)
{
    if (n == 0)
        return "must not be empty";
    if (n > max)
        return "too long";
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if ((c < 0x20 || c == 0x7F) && !(multi_line && (c == '\n' || c == '\t')))
            return "control character";
        if (c == 0xC2 && i + 1 < n && (uint8_t)s[i + 1] >= 0x80 && (uint8_t)s[i + 1] <= 0x9F)
            return "control character";
    }
    return NULL;
}

static int check_field(const struct field *f, json_t *v, char *err, size_t errlen)
{
    const char *s = json_string_value(v), *why;
    size_t n = json_string_length(v), i;
    int64_t t;
    json_t *x;

    if (f->type == FT_IDS) {
        if (!json_is_array(v))
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: must be an array", f->name);
        if (json_array_size(v) > f->max)
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: more than %zu entries", f->name,
                           f->max);
        json_array_foreach(v, i, x)
        {
            if (!json_is_string(x) || !p2p_id_ok(json_string_value(x), json_string_length(x)))
                return ps_errf(PS_E_INVAL, err, errlen, "body.%s[%zu]: must be an id", f->name, i);
        }
        return PS_OK;
    }
    if (!json_is_string(v))
        return ps_errf(PS_E_INVAL, err, errlen, "body.%s: must be a string", f->name);
    switch (f->type) {
    case FT_ID:
        if (!p2p_id_ok(s, n))
            return ps_errf(PS_E_INVAL, err, errlen,
                           "body.%s: must be 1..%d characters A-Z a-z 0-9 . _ : -", f->name,
                           P2P_ID_MAX);
        return PS_OK;
    case FT_TIME:
        if (time_parse_stamp(s, n, &t) != PS_OK)
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: must be a time YYYY-MM-DDTHH:MM:SSZ",
                           f->name);
        return PS_OK;
    case FT_ENUM:
        for (i = 0; f->values[i]; i++)
            if (strlen(f->values[i]) == n && strcmp(f->values[i], s) == 0)
                return PS_OK;
        {
            char list[128] = "";
            for (i = 0; f->values[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         f->values[i]);
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: must be one of %s", f->name, list);
        }
    default:
        if (strlen(s) != n)
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: control character", f->name);
        if (n > f->max)
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: longer than %zu bytes", f->name,
                           f->max);
        if ((why = text_problem(s, n, f->max, f->type == FT_TEXT)) != NULL)
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: %s", f->name, why);
        return PS_OK;
    }
}

int p2p_body_check(enum p2p_type t, json_t *body, char *err, size_t errlen)
{
    const struct schema *sc;
    const struct field *f;
    const char *k;
    json_t *v;
    int r;

    if (p2p_type_name(t) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "type: unknown");
    sc = &schemas[t];
    if (!json_is_object(body))
        return ps_errf(PS_E_INVAL, err, errlen, "body: must be a JSON object");
    json_object_foreach(body, k, v)
    {
        for (f = sc->fields; f->name && strcmp(f->name, k) != 0; f++)
            ;
        if (f->name == NULL) {
            char shown[41];
            size_t i;
            for (i = 0; k[i] && i < 40; i++)
                shown[i] = k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' ? k[i] : '?';
            shown[i] = 0;
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: unknown field for %s", shown,
                           p2p_type_name(t));
        }
        if ((r = check_field(f, v, err, errlen)) != PS_OK)
            return r;
    }
    for (f = sc->fields; f->name; f++)
        if (f->required && json_object_get(body, f->name) == NULL)
            return ps_errf(PS_E_INVAL, err, errlen, "body.%s: required for %s", f->name,
                           p2p_type_name(t));
    if (sc->one_of) {
        size_t i;
        for (i = 0; sc->one_of[i] && json_object_get(body, sc->one_of[i]) == NULL; i++)
            ;
        if (sc->one_of[i] == NULL)
            return ps_errf(PS_E_INVAL, err, errlen,
                           "body: %s needs one of truck_plate, container_no, declaration_no, "
                           "lock_id",
                           p2p_type_name(t));
    }
    return PS_OK;
}

/* ---- envelopes ---- */

void p2p_envelope_free(struct p2p_envelope *e)
{
    json_decref(e->body);
    memset(e, 0, sizeof(*e));
}

static int envelope_check(const struct p2p_envelope *e, char *err, size_t errlen)
{
    if (!p2p_id_ok(e->id, strnlen(e->id, P2P_ID_MAX + 1)))
        return ps_errf(PS_E_INVAL, err, errlen, "id: must be 1..%d characters A-Z a-z 0-9 . _ : -",
                       P2P_ID_MAX);
    if (!p2p_id_ok(e->from, strnlen(e->from, P2P_ID_MAX + 1)))
        return ps_errf(PS_E_INVAL, err, errlen,
                       "from: must be 1..%d characters A-Z a-z 0-9 . _ : -", P2P_ID_MAX);
    if (!p2p_id_ok(e->to, strnlen(e->to, P2P_ID_MAX + 1)))
        return ps_errf(PS_E_INVAL, err, errlen, "to: must be 1..%d characters A-Z a-z 0-9 . _ : -",
                       P2P_ID_MAX);
    if (e->seq < 1 || e->seq > P2P_SEQ_MAX)
        return ps_errf(PS_E_INVAL, err, errlen, "seq: must be an integer 1..2^53-1");
    if (p2p_priority_name(e->priority) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "priority: must be urgent or routine");
    if (e->has_expires && e->expires <= e->created)
        return ps_errf(PS_E_INVAL, err, errlen, "expires: must be later than created");
    return p2p_body_check(e->type, e->body, err, errlen);
}

int p2p_envelope_format(const struct p2p_envelope *e, struct buf *out, char *err, size_t errlen)
{
    char created[TIME_STAMP_LEN + 1], expires[TIME_STAMP_LEN + 3] = "null";
    char *body = NULL;
    int r;

    buf_reset(out);
    if ((r = envelope_check(e, err, errlen)) != PS_OK)
        return r;
    if (time_format_stamp(e->created, created) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "created: out of range");
    if (e->has_expires) {
        expires[0] = '"';
        if (time_format_stamp(e->expires, expires + 1) != PS_OK)
            return ps_errf(PS_E_INVAL, err, errlen, "expires: out of range");
        memcpy(expires + 1 + TIME_STAMP_LEN, "\"", 2);
    }
    if ((body = json_dumps(e->body, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        return ps_errf(PS_E_NOMEM, err, errlen, "body: cannot write");
    r = buf_printf(out,
                   "{\"id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"seq\":%llu,\"type\":\"%s\","
                   "\"priority\":\"%s\",\"created\":\"%s\",\"expires\":%s,\"body\":%s}",
                   e->id, e->from, e->to, (unsigned long long)e->seq, p2p_type_name(e->type),
                   p2p_priority_name(e->priority), created, expires, body);
    free(body);
    if (r != PS_OK) {
        buf_reset(out);
        return ps_errf(r, err, errlen, "cannot write the envelope: %s", ps_strerror(r));
    }
    return PS_OK;
}

/* A member that must be an id, into dst. */
static int get_id(json_t *o, const char *name, char *dst, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, name);

    if (v == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "%s: missing", name);
    if (!json_is_string(v) || !p2p_id_ok(json_string_value(v), json_string_length(v)))
        return ps_errf(PS_E_INVAL, err, errlen, "%s: must be 1..%d characters A-Z a-z 0-9 . _ : -",
                       name, P2P_ID_MAX);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return PS_OK;
}

/* A member that must be a timestamp (or, with nullable, null: *has = 0). */
static int get_time(json_t *o, const char *name, int nullable, int64_t *t, int *has, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(o, name);

    *has = 0;
    if (v == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "%s: missing", name);
    if (nullable && json_is_null(v))
        return PS_OK;
    if (!json_is_string(v) ||
        time_parse_stamp(json_string_value(v), json_string_length(v), t) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "%s: must be a time YYYY-MM-DDTHH:MM:SSZ%s", name,
                       nullable ? " or null" : "");
    *has = 1;
    return PS_OK;
}

static int get_type_priority(json_t *o, struct p2p_envelope *e, int priority_optional, char *err,
                             size_t errlen)
{
    json_t *v = json_object_get(o, "type");

    if (v == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "type: missing");
    if (!json_is_string(v) || (e->type = p2p_type_from_name(json_string_value(v))) == P2P_TYPE_NONE)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "type: must be one of alert, elock.event, inspection.request, "
                       "inspection.response, prearrival.notice, note");
    v = json_object_get(o, "priority");
    if (v == NULL && priority_optional) {
        e->priority = P2P_ROUTINE;
        return PS_OK;
    }
    if (v == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "priority: missing");
    if (!json_is_string(v) ||
        (e->priority = p2p_priority_from_name(json_string_value(v))) == P2P_PRIORITY_NONE)
        return ps_errf(PS_E_INVAL, err, errlen, "priority: must be urgent or routine");
    return PS_OK;
}

static json_t *load(const uint8_t *p, size_t len, const char *const *names, size_t nn, char *err,
                    size_t errlen, int *r)
{
    json_error_t je;
    const char *k;
    json_t *o, *v;
    size_t i;

    *r = PS_E_INVAL;
    if (len > P2P_MAX_LEN) {
        *r = ps_errf(PS_E_LIMIT, err, errlen, "larger than %d bytes", P2P_MAX_LEN);
        return NULL;
    }
    if ((o = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
        ps_errf(PS_E_INVAL, err, errlen, "JSON: %s", jerr(&je));
        return NULL;
    }
    if (!json_is_object(o)) {
        ps_errf(PS_E_INVAL, err, errlen, "not a JSON object");
        json_decref(o);
        return NULL;
    }
    json_object_foreach(o, k, v)
    {
        for (i = 0; i < nn && strcmp(names[i], k) != 0; i++)
            ;
        if (i == nn) {
            ps_errf(PS_E_INVAL, err, errlen, "unknown member \"%.40s\"", k);
            json_decref(o);
            return NULL;
        }
    }
    *r = PS_OK;
    return o;
}

int p2p_envelope_parse(const uint8_t *p, size_t len, struct p2p_envelope *e, char *err,
                       size_t errlen)
{
    static const char *const names[] = {"id",       "from",    "to",      "seq", "type",
                                        "priority", "created", "expires", "body"};
    json_t *o, *v;
    int r, has;

    memset(e, 0, sizeof(*e));
    if ((o = load(p, len, names, 9, err, errlen, &r)) == NULL)
        return r;
    if ((r = get_id(o, "id", e->id, err, errlen)) ||
        (r = get_id(o, "from", e->from, err, errlen)) || (r = get_id(o, "to", e->to, err, errlen)))
        goto out;
    v = json_object_get(o, "seq");
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        (uint64_t)json_integer_value(v) > P2P_SEQ_MAX) {
        r = ps_errf(PS_E_INVAL, err, errlen, "seq: %s",
                    v ? "must be an integer 1..2^53-1" : "missing");
        goto out;
    }
    e->seq = (uint64_t)json_integer_value(v);
    if ((r = get_type_priority(o, e, 0, err, errlen)) ||
        (r = get_time(o, "created", 0, &e->created, &has, err, errlen)) ||
        (r = get_time(o, "expires", 1, &e->expires, &e->has_expires, err, errlen)))
        goto out;
    if ((e->body = json_object_get(o, "body")) == NULL) {
        r = ps_errf(PS_E_INVAL, err, errlen, "body: missing");
        goto out;
    }
    json_incref(e->body);
    r = envelope_check(e, err, errlen);
out:
    json_decref(o);
    if (r != PS_OK)
        p2p_envelope_free(e);
    return r;
}

int p2p_outbox_parse(const uint8_t *p, size_t len, struct p2p_envelope *e, char *err, size_t errlen)
{
    static const char *const names[] = {"to", "type", "priority", "body", "expires"};
    json_t *o;
    int r;

    memset(e, 0, sizeof(*e));
    if ((o = load(p, len, names, 5, err, errlen, &r)) == NULL)
        return r;
    if ((r = get_id(o, "to", e->to, err, errlen)) || (r = get_type_priority(o, e, 1, err, errlen)))
        goto out;
    if (json_object_get(o, "expires") &&
        (r = get_time(o, "expires", 1, &e->expires, &e->has_expires, err, errlen)))
        goto out;
    if ((e->body = json_object_get(o, "body")) == NULL) {
        r = ps_errf(PS_E_INVAL, err, errlen, "body: missing");
        goto out;
    }
    json_incref(e->body);
    r = p2p_body_check(e->type, e->body, err, errlen);
out:
    json_decref(o);
    if (r != PS_OK)
        p2p_envelope_free(e);
    return r;
}

int p2p_expired(const struct p2p_envelope *e, int64_t now)
{
    return e->has_expires && now > e->expires;
}

int p2p_envelope_check_time(const struct p2p_envelope *e, int64_t now, int64_t max_skew, char *err,
                            size_t errlen)
{
    char t[TIME_STAMP_LEN + 1];

    if (p2p_expired(e, now))
        return ps_errf(PS_E_INVAL, err, errlen, "expired at %s",
                       time_format_stamp(e->expires, t) == PS_OK ? t : "?");
    if (e->created > now && e->created - now > max_skew)
        return ps_errf(PS_E_INVAL, err, errlen, "created in the future: %s",
                       time_format_stamp(e->created, t) == PS_OK ? t : "?");
    return PS_OK;
}

/* ---- receipts ---- */

void p2p_digest(const uint8_t *payload, size_t len, uint8_t out[P2P_DIGEST_LEN])
{
    crypto_hash_sha256(out, payload, len);
}

int p2p_receipt_format(const struct p2p_receipt *r, struct buf *out, char *err, size_t errlen)
{
    char hex[2 * P2P_DIGEST_LEN + 1], at[TIME_STAMP_LEN + 1], li[24] = "null";
    int e;

    buf_reset(out);
    if (!p2p_id_ok(r->message_id, strnlen(r->message_id, P2P_ID_MAX + 1)))
        return ps_errf(PS_E_INVAL, err, errlen, "message_id: not an id");
    if (time_format_stamp(r->received_at, at) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "received_at: out of range");
    if (r->ledger_index < -1 || (r->ledger_index >= 0 && (uint64_t)r->ledger_index > P2P_SEQ_MAX))
        return ps_errf(PS_E_INVAL, err, errlen, "ledger_index: out of range");
    if (r->ledger_index >= 0)
        snprintf(li, sizeof(li), "%lld", (long long)r->ledger_index);
    sodium_bin2hex(hex, sizeof(hex), r->digest, P2P_DIGEST_LEN);
    e = buf_printf(out,
                   "{\"message_id\":\"%s\",\"digest\":\"%s\",\"received_at\":\"%s\","
                   "\"ledger_index\":%s}",
                   r->message_id, hex, at, li);
    if (e != PS_OK) {
        buf_reset(out);
        return ps_errf(e, err, errlen, "cannot write the receipt: %s", ps_strerror(e));
    }
    return PS_OK;
}

static int lower_hex(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    size_t bl;

    if (n != 2 * outlen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return sodium_hex2bin(out, outlen, s, n, NULL, &bl, NULL) == 0 && bl == outlen;
}

int p2p_receipt_parse(const uint8_t *p, size_t len, struct p2p_receipt *r, char *err, size_t errlen)
{
    static const char *const names[] = {"message_id", "digest", "received_at", "ledger_index"};
    json_t *o, *v;
    int e, has;

    memset(r, 0, sizeof(*r));
    if ((o = load(p, len, names, 4, err, errlen, &e)) == NULL)
        return e;
    if ((e = get_id(o, "message_id", r->message_id, err, errlen)) ||
        (e = get_time(o, "received_at", 0, &r->received_at, &has, err, errlen)))
        goto out;
    v = json_object_get(o, "digest");
    if (!json_is_string(v) ||
        !lower_hex(json_string_value(v), json_string_length(v), r->digest, P2P_DIGEST_LEN)) {
        e = ps_errf(PS_E_INVAL, err, errlen, "digest: %s",
                    v ? "must be 64 lower-case hex digits" : "missing");
        goto out;
    }
    v = json_object_get(o, "ledger_index");
    if (v == NULL) {
        e = ps_errf(PS_E_INVAL, err, errlen, "ledger_index: missing");
    } else if (json_is_null(v)) {
        r->ledger_index = -1;
    } else if (!json_is_integer(v) || json_integer_value(v) < 0 ||
               (uint64_t)json_integer_value(v) > P2P_SEQ_MAX) {
        e = ps_errf(PS_E_INVAL, err, errlen, "ledger_index: must be an integer >= 0 or null");
    } else {
        r->ledger_index = json_integer_value(v);
    }
out:
    json_decref(o);
    if (e != PS_OK)
        memset(r, 0, sizeof(*r));
    return e;
}

int p2p_receipt_matches(const struct p2p_receipt *r, const char *id, const uint8_t *payload,
                        size_t len, char *err, size_t errlen)
{
    uint8_t d[P2P_DIGEST_LEN];

    if (strcmp(r->message_id, id) != 0)
        return ps_errf(PS_E_INVAL, err, errlen, "receipt is for message %s, not %s", r->message_id,
                       id);
    p2p_digest(payload, len, d);
    if (sodium_memcmp(d, r->digest, sizeof(d)) != 0)
        return ps_errf(PS_E_INVAL, err, errlen, "receipt digest does not match the message sent");
    return PS_OK;
}
