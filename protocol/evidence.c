/* evidence.c - evidence uploads, sealing steps, bundle ledger leaves and proofs; see evidence.h. */
#include "evidence.h"
#include "b64.h"
#include "strnum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sodium.h>

#define MAX_ZIP_OVERHEAD (1u << 20)

void evidence_sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    /* OpenSSL's SHA-256 uses the CPU's SHA extensions: about 7 times libsodium's on this
     * machine (50 MB: 0.15 s against 1.0 s), which matters for evidence files */
    if (EVP_Digest(n ? p : (const uint8_t *)"", n, out, NULL, EVP_sha256(), NULL) != 1)
        crypto_hash_sha256(out, p, n);
}

void evidence_sha256_hex(const uint8_t *p, size_t n, char out[65])
{
    uint8_t h[32];

    evidence_sha256(p, n, h);
    strnum_hex(h, 32, out);
}

/* ---- metadata ---- */

static int text_ok(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0)
            return 0; /* C1 controls U+0080..U+009F */
    }
    return 1;
}

static int str_field(json_t *v, const char *key, size_t max, char *err, size_t errlen)
{
    if (!json_is_string(v))
        return ps_errf(-1, err, errlen, "metadata: %s must be a string", key);
    if (json_string_length(v) == 0 || json_string_length(v) > max)
        return ps_errf(-1, err, errlen, "metadata: %s must be 1 to %zu bytes", key, max);
    if (!text_ok(json_string_value(v), json_string_length(v)))
        return ps_errf(-1, err, errlen, "metadata: %s has a control character", key);
    return 0;
}

static int list_field(json_t *v, const char *key, char *err, size_t errlen)
{
    size_t i;
    json_t *e;
    char what[48];

    if (!json_is_array(v))
        return ps_errf(-1, err, errlen, "metadata: %s must be a list of strings", key);
    if (json_array_size(v) > 100)
        return ps_errf(-1, err, errlen, "metadata: %s has more than 100 entries", key);
    json_array_foreach(v, i, e)
    {
        snprintf(what, sizeof(what), "%s[%zu]", key, i);
        if (str_field(e, what, 64, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int hs_code_ok(const char *s)
{
    size_t digits = 0;

    for (size_t i = 0; s[i]; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] != '.' || i == 0 || s[i + 1] == 0 || s[i + 1] == '.')
            return 0;
    }
    return digits >= 4 && digits <= 10;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" <-> unix ms */
static void iso_ms(uint64_t ms, char out[80])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static int parse_iso_ms(const char *s, uint64_t *ms)
{
    struct tm tm;
    unsigned frac;
    char back[80], *end;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (strlen(s) != 24 || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL || end != s + 19 ||
        sscanf(end, ".%3uZ", &frac) != 1 || (t = timegm(&tm)) < 0)
        return -1;
    *ms = (uint64_t)t * 1000 + frac;
    iso_ms(*ms, back);
    return strcmp(back, s) == 0 ? 0 : -1;
}

static const char *const meta_keys[] = {"rights_holder", "trademarks", "patents",  "goods",
                                        "hs_code",       "submitter",  "sealed_at"};

static int meta_check(json_t *root, int sealed, struct evidence_meta *out, char *err, size_t errlen)
{
    const char *key;
    json_t *v, *tm, *pt;
    size_t marks;

    if (!json_is_object(root))
        return ps_errf(-1, err, errlen, "metadata must be a JSON object");
    json_object_foreach(root, key, v)
    {
        size_t k;

        for (k = 0; k < sizeof(meta_keys) / sizeof(meta_keys[0]); k++)
            if (strcmp(key, meta_keys[k]) == 0)
                break;
        if (k == sizeof(meta_keys) / sizeof(meta_keys[0]))
            return ps_errf(-1, err, errlen, "metadata: unknown field \"%.64s\"", key);
    }
    if (str_field(json_object_get(root, "rights_holder"), "rights_holder", 256, err, errlen) ||
        str_field(json_object_get(root, "goods"), "goods", 2048, err, errlen) ||
        str_field(json_object_get(root, "hs_code"), "hs_code", 16, err, errlen) ||
        str_field(json_object_get(root, "submitter"), "submitter", 256, err, errlen))
        return -1;
    if (!hs_code_ok(json_string_value(json_object_get(root, "hs_code"))))
        return ps_errf(-1, err, errlen, "metadata: hs_code must be 4 to 10 digits (dots allowed)");
    tm = json_object_get(root, "trademarks");
    pt = json_object_get(root, "patents");
    if ((tm && list_field(tm, "trademarks", err, errlen)) ||
        (pt && list_field(pt, "patents", err, errlen)))
        return -1;
    marks = (tm ? json_array_size(tm) : 0) + (pt ? json_array_size(pt) : 0);
    if (marks == 0)
        return ps_errf(-1, err, errlen,
                       "metadata: at least one trademark or patent number is "
                       "required");
    v = json_object_get(root, "sealed_at");
    if (!sealed && v)
        return ps_errf(-1, err, errlen, "metadata: sealed_at is set by the appliance");
    if (out) {
        memset(out, 0, sizeof(*out));
        snprintf(out->rights_holder, sizeof(out->rights_holder), "%s",
                 json_string_value(json_object_get(root, "rights_holder")));
        snprintf(out->first_mark, sizeof(out->first_mark), "%s",
                 json_string_value(json_array_get(tm && json_array_size(tm) ? tm : pt, 0)));
        out->marks = marks;
    }
    if (sealed) {
        uint64_t ms;

        if (!json_is_string(v) || parse_iso_ms(json_string_value(v), &ms) != 0)
            return ps_errf(-1, err, errlen,
                           "metadata: sealed_at must be a time YYYY-MM-DDTHH:MM:SS.mmmZ");
        if (out)
            out->sealed_at_ms = ms;
    }
    return 0;
}

int evidence_metadata_check(const uint8_t *json, size_t len, int sealed, struct evidence_meta *out,
                            char *err, size_t errlen)
{
    json_error_t je;
    json_t *root;
    int rc;

    if (len > EVIDENCE_MAX_METADATA)
        return ps_errf(PS_E_LIMIT, err, errlen, "metadata is larger than %d bytes",
                       EVIDENCE_MAX_METADATA);
    root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "metadata is not valid JSON: %s", je.text);
    rc = meta_check(root, sealed, out, err, errlen) == 0 ? PS_OK : PS_E_INVAL;
    json_decref(root);
    return rc;
}

int evidence_metadata_marks(const uint8_t *json, size_t len, int sealed, evidence_mark_fn fn,
                            void *ctx)
{
    static const char *const kinds[][2] = {{"trademarks", "trademark"}, {"patents", "patent"}};
    json_t *root;
    int rc;

    if ((rc = evidence_metadata_check(json, len, sealed, NULL, NULL, 0)) != PS_OK)
        return rc;
    if ((root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
        return PS_E_NOMEM;
    for (size_t k = 0; k < 2; k++) {
        json_t *list = json_object_get(root, kinds[k][0]), *v;
        size_t i;

        json_array_foreach(list, i, v) fn(ctx, kinds[k][1], json_string_value(v));
    }
    json_decref(root);
    return PS_OK;
}

/* The canonical metadata.json of a checked upload. */
static int meta_write(const uint8_t *json, size_t len, uint64_t ms, struct buf *out)
{
    json_t *in = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL), *o;
    char iso[80], *s = NULL;
    int rc = PS_E_NOMEM;

    o = json_object();
    if (in == NULL || o == NULL)
        goto out;
    for (size_t k = 0; k < 6; k++) {
        json_t *v = json_object_get(in, meta_keys[k]);

        if (v && json_object_set(o, meta_keys[k], v) != 0)
            goto out;
    }
    iso_ms(ms, iso);
    if (json_object_set_new(o, "sealed_at", json_string(iso)) != 0 ||
        (s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
        goto out;
    rc = buf_append_str(out, s);
    if (rc == PS_OK)
        rc = buf_append_str(out, "\n");
out:
    free(s);
    json_decref(in);
    json_decref(o);
    return rc;
}

/* ---- sealing ---- */

static int add_file(struct evidence_seal *s, const struct mp_part *p, size_t *total,
                    const struct evidence_limits *lim, char *err, size_t errlen)
{
    struct evidence_object *o = &s->obj[s->n];
    char why[200];

    if (!p->has_filename)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "part \"%.64s\" is neither metadata nor a file (no filename)", p->name);
    if (asice_name_check(p->filename, why, sizeof(why)) != PS_OK)
        return ps_errf(PS_E_INVAL, err, errlen, "%s", why);
    if (strcmp(p->filename, EVIDENCE_METADATA) == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "file name \"%s\" is reserved", EVIDENCE_METADATA);
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->obj[i].name, p->filename) == 0)
            return ps_errf(PS_E_INVAL, err, errlen, "duplicate file name \"%s\"", p->filename);
    if (p->len == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "file \"%s\" is empty", p->filename);
    if (s->n > lim->max_files)
        return ps_errf(PS_E_LIMIT, err, errlen, "more than %zu files", lim->max_files);
    if (p->len > lim->max_file)
        return ps_errf(PS_E_LIMIT, err, errlen, "file \"%s\" is larger than %zu bytes", p->filename,
                       lim->max_file);
    if (p->len > lim->max_total - *total)
        return ps_errf(PS_E_LIMIT, err, errlen, "the files are larger than %zu bytes together",
                       lim->max_total);
    *total += p->len;
    memcpy(o->name, p->filename, strlen(p->filename) + 1); /* checked: short */
    asice_mime_clean(p->content_type[0] ? p->content_type : "application/octet-stream", o->mime);
    o->data = p->data;
    o->len = p->len;
    evidence_sha256(o->data, o->len, o->sha256);
    s->n++;
    return PS_OK;
}

int evidence_seal_begin(struct evidence_seal *s, const struct mp_form *form,
                        const struct evidence_limits *lim, uint64_t sealed_at_ms, char *err,
                        size_t errlen)
{
    const struct mp_part *meta = NULL;
    struct asice_ref *refs = NULL;
    size_t total = 0;
    int rc;

    memset(s, 0, sizeof(*s));
    buf_init(&s->metadata, EVIDENCE_MAX_METADATA * 2);
    buf_init(&s->manifest, (size_t)(lim->max_files + 1) * 1024 + 1024);
    s->sealed_at_ms = sealed_at_ms;
    for (size_t i = 0; i < form->n; i++)
        if (strcmp(form->parts[i].name, "metadata") == 0) {
            if (meta)
                return ps_errf(PS_E_INVAL, err, errlen, "the form has two metadata parts");
            meta = &form->parts[i];
        }
    if (meta == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "the form has no metadata part");
    if ((rc = evidence_metadata_check(meta->data, meta->len, 0, NULL, err, errlen)) != PS_OK)
        return rc;
    if ((s->obj = calloc(form->n + 1, sizeof(*s->obj))) == NULL)
        return ps_errf(PS_E_NOMEM, err, errlen, "out of memory");
    if ((rc = meta_write(meta->data, meta->len, sealed_at_ms, &s->metadata)) != PS_OK) {
        ps_errf(0, err, errlen, "cannot write metadata.json");
        goto fail;
    }
    snprintf(s->obj[0].name, sizeof(s->obj[0].name), EVIDENCE_METADATA);
    snprintf(s->obj[0].mime, sizeof(s->obj[0].mime), "application/json");
    s->obj[0].data = s->metadata.data;
    s->obj[0].len = s->metadata.len;
    evidence_sha256(s->metadata.data, s->metadata.len, s->obj[0].sha256);
    s->n = 1;
    for (size_t i = 0; i < form->n; i++)
        if (&form->parts[i] != meta &&
            (rc = add_file(s, &form->parts[i], &total, lim, err, errlen)) != PS_OK)
            goto fail;
    if (s->n == 1) {
        rc = ps_errf(PS_E_INVAL, err, errlen, "the form has no files");
        goto fail;
    }
    if ((refs = calloc(s->n, sizeof(*refs))) == NULL) {
        rc = ps_errf(PS_E_NOMEM, err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < s->n; i++) {
        snprintf(refs[i].name, sizeof(refs[i].name), "%s", s->obj[i].name);
        snprintf(refs[i].mime, sizeof(refs[i].mime), "%s", s->obj[i].mime);
        memcpy(refs[i].sha256, s->obj[i].sha256, 32);
    }
    if ((rc = asice_manifest_write(refs, s->n, &s->manifest)) != PS_OK) {
        ps_errf(0, err, errlen, "cannot write the manifest");
        goto fail;
    }
    free(refs);
    return PS_OK;
fail:
    free(refs);
    evidence_seal_free(s);
    return rc;
}

int evidence_seal_leaf(const struct evidence_seal *s, const uint8_t *p7s, size_t p7s_len,
                       const uint8_t *tst, size_t tst_len, struct buf *leaf)
{
    uint8_t m[32], p[32], t[32];

    evidence_sha256(s->manifest.data, s->manifest.len, m);
    evidence_sha256(p7s, p7s_len, p);
    evidence_sha256(tst, tst_len, t);
    return evidence_leaf_format(s->sealed_at_ms, m, p, t, leaf);
}

int evidence_seal_finish(const struct evidence_seal *s, const uint8_t *p7s, size_t p7s_len,
                         const uint8_t *tst, size_t tst_len, const uint8_t *proof, size_t proof_len,
                         struct buf *zip, char bundle_id[65], char *err, size_t errlen)
{
    struct asice_entry *e = calloc(s->n + 4, sizeof(*e));
    int rc;

    bundle_id[0] = 0;
    if (e == NULL)
        return ps_errf(PS_E_NOMEM, err, errlen, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        e[i].name = s->obj[i].name;
        e[i].data = s->obj[i].data;
        e[i].len = s->obj[i].len;
    }
    e[s->n] = (struct asice_entry){ASICE_MANIFEST, s->manifest.data, s->manifest.len};
    e[s->n + 1] = (struct asice_entry){ASICE_SIGNATURE, p7s, p7s_len};
    e[s->n + 2] = (struct asice_entry){ASICE_TIMESTAMP, tst, tst_len};
    e[s->n + 3] = (struct asice_entry){ASICE_LEDGER_PROOF, proof, proof_len};
    rc = asice_write(e, s->n + 4, (int64_t)(s->sealed_at_ms / 1000), zip, err, errlen);
    free(e);
    if (rc == PS_OK)
        evidence_sha256_hex(zip->data, zip->len, bundle_id);
    return rc;
}

void evidence_seal_free(struct evidence_seal *s)
{
    buf_free(&s->metadata);
    buf_free(&s->manifest);
    free(s->obj);
    s->obj = NULL;
    s->n = 0;
}

/* ---- ledger leaf ---- */

int evidence_leaf_format(uint64_t unix_ms, const uint8_t manifest[32], const uint8_t p7s[32],
                         const uint8_t tst[32], struct buf *out)
{
    char m[65], p[65], t[65];

    buf_reset(out);
    strnum_hex(manifest, 32, m);
    strnum_hex(p7s, 32, p);
    strnum_hex(tst, 32, t);
    return buf_printf(out, "bundle %llu %s %s %s\n", (unsigned long long)unix_ms, m, p, t);
}

static int hex32(const uint8_t *s, uint8_t out[32])
{
    for (size_t i = 0; i < 64; i++) {
        int c = s[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return 0;
}

int evidence_leaf_parse(const uint8_t *text, size_t len, struct evidence_leaf *out, char *err,
                        size_t errlen)
{
    size_t i = 7, d;
    uint64_t ms = 0;

    memset(out, 0, sizeof(*out));
    if (len < 7 || memcmp(text, "bundle ", 7) != 0)
        return ps_errf(PS_E_INVAL, err, errlen, "the leaf is not a bundle leaf");
    for (d = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++, d++) {
        if (ms > (UINT64_MAX - 9) / 10)
            return ps_errf(PS_E_INVAL, err, errlen, "leaf: time out of range");
        ms = ms * 10 + (uint64_t)(text[i] - '0');
    }
    if (d == 0 || (d > 1 && text[7] == '0') || d > 19)
        return ps_errf(PS_E_INVAL, err, errlen, "leaf: time is not canonical decimal");
    if (len != i + 3 * 65 + 1 || text[len - 1] != '\n')
        return ps_errf(PS_E_INVAL, err, errlen, "leaf: wrong length or no final newline");
    if (text[i] != ' ' || hex32(text + i + 1, out->manifest) != 0 || text[i + 65] != ' ' ||
        hex32(text + i + 66, out->p7s) != 0 || text[i + 130] != ' ' ||
        hex32(text + i + 131, out->tst) != 0)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "leaf: expected three lowercase hex SHA-256 values after the time");
    out->unix_ms = ms;
    return PS_OK;
}

/* ---- ledger-proof.json ---- */

int evidence_proof_json(const uint8_t *leaf, size_t leaf_len, uint64_t leaf_index,
                        uint64_t tree_size, const struct merkle_proof *inclusion,
                        const uint8_t *note, size_t note_len, const char *const *cert_pem,
                        size_t ncerts, struct buf *out)
{
    json_t *o = json_object(), *inc = json_array(), *certs = json_array(), *jl = NULL, *jn = NULL;
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)], *s = NULL;
    int rc = PS_E_NOMEM;

    buf_reset(out);
    if (o == NULL || inc == NULL || certs == NULL)
        goto out;
    rc = PS_E_INVAL;
    if (leaf_index > INT64_MAX || tree_size > INT64_MAX || leaf_index >= tree_size || ncerts == 0 ||
        ncerts > EVIDENCE_MAX_LOG_CERTS || inclusion->len > MERKLE_MAX_PROOF ||
        leaf_len > EVIDENCE_LEAF_MAX)
        goto out;
    for (size_t i = 0; i < ncerts; i++)
        if (cert_pem[i] == NULL || strlen(cert_pem[i]) > 64 * 1024)
            goto out;
    rc = PS_E_NOMEM;
    for (size_t i = 0; i < inclusion->len; i++) {
        sodium_bin2base64(b64, sizeof(b64), inclusion->hash[i], 32, sodium_base64_VARIANT_ORIGINAL);
        if (json_array_append_new(inc, json_string(b64)) != 0)
            goto out;
    }
    for (size_t i = 0; i < ncerts; i++)
        if (json_array_append_new(certs, json_string(cert_pem[i])) != 0)
            goto out;
    jl = json_stringn((const char *)leaf, leaf_len);
    jn = json_stringn((const char *)note, note_len);
    if (jl == NULL || jn == NULL) {
        rc = PS_E_INVAL; /* not UTF-8 */
        goto out;
    }
    if (json_object_set(o, "leaf", jl) != 0 ||
        json_object_set_new(o, "leaf_index", json_integer((json_int_t)leaf_index)) != 0 ||
        json_object_set_new(o, "tree_size", json_integer((json_int_t)tree_size)) != 0 ||
        json_object_set(o, "inclusion", inc) != 0 || json_object_set(o, "checkpoint", jn) != 0 ||
        json_object_set(o, "log_certificate", certs) != 0 ||
        (s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
        goto out;
    if ((rc = buf_append_str(out, s)) == PS_OK)
        rc = buf_append_str(out, "\n");
out:
    free(s);
    json_decref(o);
    json_decref(inc);
    json_decref(certs);
    json_decref(jl);
    json_decref(jn);
    return rc;
}

void evidence_proof_init(struct evidence_proof *p)
{
    memset(p, 0, sizeof(*p));
    buf_init(&p->leaf, EVIDENCE_LEAF_MAX);
    buf_init(&p->checkpoint, 128 * 1024);
    for (size_t i = 0; i < EVIDENCE_MAX_LOG_CERTS; i++)
        buf_init(&p->cert[i], 64 * 1024);
}

void evidence_proof_free(struct evidence_proof *p)
{
    buf_free(&p->leaf);
    buf_free(&p->checkpoint);
    for (size_t i = 0; i < EVIDENCE_MAX_LOG_CERTS; i++)
        buf_free(&p->cert[i]);
    p->ncerts = 0;
    p->inclusion.len = 0;
}

static int get_str(json_t *o, const char *key, struct buf *b, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        return ps_errf(-1, err, errlen, "ledger proof: %s must be a string", key);
    buf_reset(b);
    if (buf_append(b, json_string_value(v), json_string_length(v)) != PS_OK)
        return ps_errf(-1, err, errlen, "ledger proof: %s is too long", key);
    return 0;
}

static int get_u64(json_t *o, const char *key, uint64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ps_errf(-1, err, errlen, "ledger proof: %s must be a non-negative integer", key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int proof_fields(json_t *root, struct evidence_proof *p, char *err, size_t errlen)
{
    static const char *const keys[] = {"leaf",      "leaf_index", "tree_size",
                                       "inclusion", "checkpoint", "log_certificate"};
    const char *key;
    json_t *v, *inc, *certs;
    size_t i;

    if (!json_is_object(root))
        return ps_errf(-1, err, errlen, "ledger proof is not a JSON object");
    json_object_foreach(root, key, v)
    {
        for (i = 0; i < 6; i++)
            if (strcmp(key, keys[i]) == 0)
                break;
        if (i == 6)
            return ps_errf(-1, err, errlen, "ledger proof: unknown field \"%.64s\"", key);
    }
    if (get_str(root, "leaf", &p->leaf, err, errlen) ||
        get_u64(root, "leaf_index", &p->leaf_index, err, errlen) ||
        get_u64(root, "tree_size", &p->tree_size, err, errlen) ||
        get_str(root, "checkpoint", &p->checkpoint, err, errlen))
        return -1;
    inc = json_object_get(root, "inclusion");
    if (!json_is_array(inc) || json_array_size(inc) > MERKLE_MAX_PROOF)
        return ps_errf(-1, err, errlen,
                       "ledger proof: inclusion must be a list of at most %d hashes",
                       MERKLE_MAX_PROOF);
    json_array_foreach(inc, i, v)
    {
        size_t bl;

        if (!json_is_string(v) ||
            b64_decode(p->inclusion.hash[i], 32, json_string_value(v), json_string_length(v),
                       &bl) != PS_OK ||
            bl != 32)
            return ps_errf(-1, err, errlen,
                           "ledger proof: inclusion[%zu] is not base64 of 32 bytes", i);
    }
    p->inclusion.len = json_array_size(inc);
    certs = json_object_get(root, "log_certificate");
    if (!json_is_array(certs) || json_array_size(certs) == 0 ||
        json_array_size(certs) > EVIDENCE_MAX_LOG_CERTS)
        return ps_errf(-1, err, errlen,
                       "ledger proof: log_certificate must be a list of 1 to %d "
                       "PEM certificates",
                       EVIDENCE_MAX_LOG_CERTS);
    for (i = 0; i < json_array_size(certs); i++) {
        char what[48];

        snprintf(what, sizeof(what), "log_certificate[%zu]", i);
        if (!json_is_string(json_array_get(certs, i)))
            return ps_errf(-1, err, errlen, "ledger proof: %s must be a string", what);
        if (buf_append(&p->cert[i], json_string_value(json_array_get(certs, i)),
                       json_string_length(json_array_get(certs, i))) != PS_OK)
            return ps_errf(-1, err, errlen, "ledger proof: %s is too long", what);
    }
    p->ncerts = json_array_size(certs);
    return 0;
}

int evidence_proof_parse(const uint8_t *json, size_t len, struct evidence_proof *p, char *err,
                         size_t errlen)
{
    json_error_t je;
    json_t *root;
    int rc;

    evidence_proof_free(p);
    evidence_proof_init(p);
    if (len > EVIDENCE_MAX_PROOF_JSON)
        return ps_errf(PS_E_LIMIT, err, errlen, "ledger proof is larger than %d bytes",
                       EVIDENCE_MAX_PROOF_JSON);
    if ((root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "ledger proof is not valid JSON: %s", je.text);
    rc = proof_fields(root, p, err, errlen) == 0 ? PS_OK : PS_E_INVAL;
    json_decref(root);
    if (rc != PS_OK) {
        evidence_proof_free(p);
        evidence_proof_init(p);
    }
    return rc;
}
