/*
 * api_sign.c - POST /v1/sign/hash and POST /v1/sign/cms.
 *
 * The worker checks the request (and the policy, for clear errors early); the keyholder
 * checks the policy again, signs, and records the audit entry before it answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "../certs/proxykey.h"
#include "../protocol/b64.h"
#include "../protocol/signreq.h"
#include "../protocol/sigfmt.h"
#include "api.h"
#include "worker.h"

/* 429 for a tenant's sign_rate: the keyholder's text is "SECONDS reason" (hsm/ipc.h). */
static void tenant_rate_limited(struct request *r, const uint8_t *msg, size_t len)
{
    size_t d = 0;
    int n;

    while (d < len && d < 9 && msg[d] >= '0' && msg[d] <= '9')
        d++;
    if (d == 0 || d == len || msg[d] != ' ')
        d = 0;
    http_retry_after(r, d ? (unsigned)strtoul((const char *)msg, NULL, 10) : 1);
    if (d)
        d++;
    n = len - d > 300 ? 300 : (int)(len - d);
    http_error(r, 429, "tenant_rate_limited", "%.*s", n, (const char *)msg + d);
}

/* Answer a failed keyholder request with the matching HTTP status. */
void api_kh_error(struct request *r, int status, const uint8_t *msg, size_t len)
{
    int n = len > 200 ? 200 : (int)len;

    switch (status) {
    case PS_E_RATE: tenant_rate_limited(r, msg, len); break;
    case PS_E_LIMIT:
        http_error(r, 413, "tenant_batch_too_large", "%.*s", (int)(len > 300 ? 300 : len),
                   (const char *)msg);
        break;
    case PS_E_NOTFOUND: http_error(r, 404, "key_not_found", "%.*s", n, (const char *)msg); break;
    case PS_E_DENIED: http_error(r, 403, "forbidden", "%.*s", n, (const char *)msg); break;
    case PS_E_UNSUPPORTED:
    case PS_E_INVAL: http_error(r, 400, "invalid_request", "%.*s", n, (const char *)msg); break;
    case PS_E_HSM: http_error(r, 502, "hsm_error", "%.*s", n, (const char *)msg); break;
    case PS_E_STORAGE: http_error(r, 503, "audit_unavailable", "%.*s", n, (const char *)msg); break;
    case PS_E_AGAIN: http_error(r, 504, "keyholder_timeout", "%.*s", n, (const char *)msg); break;
    default:
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable: %.*s", n,
                   (const char *)msg);
    }
}

int api_one_signature(struct request *r, int status, const uint8_t *p, size_t len, int to_der,
                      struct one_sig *out)
{
    const uint8_t *sigs[1];
    uint16_t lens[1], count;

    if (status != PS_OK) {
        api_kh_error(r, status, p, len);
        return -1;
    }
    if (ipc_sign_reply_decode(p, len, &out->seq, &count, sigs, lens, 1) != PS_OK || count != 1) {
        http_error(r, 502, "keyholder_error", "malformed reply from the keyholder");
        return -1;
    }
    out->sig = sigs[0];
    out->len = lens[0];
    if (to_der) {
        if (ecdsa_raw_to_der(sigs[0], lens[0], out->der, sizeof(out->der), &out->len) != PS_OK) {
            http_error(r, 502, "keyholder_error", "malformed ECDSA/SM2 signature");
            return -1;
        }
        out->sig = out->der;
    }
    return 0;
}

/* The tenant's key by id, or an error answered. */
const struct key_entry *api_tenant_key(struct request *r, const char *id)
{
    const struct key_entry *k = keyreg_find(&r->w->reg, id);

    if (k == NULL || strcmp(k->cfg->tenant, r->tenant) != 0) {
        http_error(r, 404, "key_not_found", "no key '%.64s' for this tenant", id);
        return NULL;
    }
    if (time(NULL) < k->not_before || time(NULL) > k->not_after) {
        http_error(r, 403, "key_not_valid", "the certificate of key '%s' is not valid now", id);
        return NULL;
    }
    return k;
}

static enum ps_alg default_alg(enum ps_keytype kt)
{
    switch (kt) {
    case KT_RSA: return ALG_RSA_PKCS1_SHA256;
    case KT_ED25519: return ALG_ED25519;
    case KT_SM2: return ALG_SM2_SM3;
    default: return ALG_ECDSA_SHA256;
    }
}

/* Resolve the algorithm name for key k, or answer an error and return ALG_NONE. */
int api_pick_alg(struct request *r, const struct key_entry *k, const char *name)
{
    enum ps_alg a = name ? alg_from_name(name) : default_alg(k->type);

    if (a == ALG_NONE) {
        http_error(r, 400, "unsupported_algorithm", "unknown algorithm '%.64s'", name);
        return ALG_NONE;
    }
    if (!alg_fits_key(a, k->type)) {
        http_error(r, 400, "unsupported_algorithm", "%s does not fit key '%s' (%s)",
                   alg_info(a)->name, k->cfg->id, keytype_name(k->type));
        return ALG_NONE;
    }
    if (!key_alg_allowed(k, a)) {
        http_error(r, 403, "algorithm_not_allowed", "%s is not allowed for key '%s'",
                   alg_info(a)->name, k->cfg->id);
        return ALG_NONE;
    }
    return a;
}

int api_content_type_json(const struct request *r)
{
    return r->content_type[0] == 0 || strncmp(r->content_type, "application/json", 16) == 0;
}

json_t *api_json_body(struct request *r, const char *what)
{
    json_error_t jerr;
    json_t *root;

    if (!api_content_type_json(r)) {
        http_error(r, 415, "unsupported_media_type",
                   "send %s as Content-Type: application/json (got %.64s)", what, r->content_type);
        return NULL;
    }
    root = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        http_error(r, 400, "invalid_json", "request body is not a JSON object: %s",
                   root ? "wrong type" : jerr.text);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- /v1/sign/hash ---- */

struct hash_job {
    struct request *r;
    const struct key_entry *k;
    enum ps_alg alg;
    int raw;
};

/*
 * The reply {"key","alg","certNo","signatures":[b64...],"audit_seq"}, written straight into a
 * buffer (this is the hot path: jansson would build and free a tree per request). No string
 * needs escaping: key ids are [A-Za-z0-9._-] (config.c), certNo is hex, alg names are fixed
 * and base64 is plain ASCII.
 */
static int hash_reply(struct buf *b, const struct hash_job *j, const uint8_t *p, size_t len,
                      const char **why)
{
    int ec =
        (alg_info(j->alg)->family == KT_EC_P256 || alg_info(j->alg)->family == KT_SM2) && !j->raw;
    const uint8_t **sigs;
    uint16_t *lens, count;
    uint64_t seq;
    int r = PS_E_INVAL;

    *why = "malformed reply from the keyholder";
    if (len < 10)
        return PS_E_INVAL;
    count = (uint16_t)(p[8] << 8 | p[9]);
    sigs = malloc(sizeof(*sigs) * (count ? count : 1));
    lens = malloc(sizeof(*lens) * (count ? count : 1));
    if (sigs == NULL || lens == NULL ||
        ipc_sign_reply_decode(p, len, &seq, &count, sigs, lens, count) != PS_OK)
        goto out;
    /* base64 of the reply's signatures, DER adds at most 9 bytes each: one allocation */
    if ((r = buf_reserve(b, 160 + 4 * (len / 3 + 5 * (size_t)count))) != PS_OK)
        goto out;
    if ((r = buf_append_str(b, "{\"key\":\"")) != PS_OK ||
        (r = buf_append_str(b, j->k->cfg->id)) != PS_OK ||
        (r = buf_append_str(b, "\",\"alg\":\"")) != PS_OK ||
        (r = buf_append_str(b, alg_info(j->alg)->name)) != PS_OK ||
        (r = buf_append_str(b, "\",\"certNo\":\"")) != PS_OK ||
        (r = buf_append_str(b, j->k->certno)) != PS_OK ||
        (r = buf_append_str(b, "\",\"signatures\":[")) != PS_OK)
        goto out;
    for (uint16_t i = 0; i < count; i++) {
        uint8_t der[160];
        const uint8_t *sig = sigs[i];
        size_t sl = lens[i], el;
        char item[B64_ENCODED_LEN(IPC_MAX_SIG) + 4]; /* ,"base64" */

        if (ec) {
            if (ecdsa_raw_to_der(sigs[i], lens[i], der, sizeof(der), &sl) != PS_OK) {
                *why = "malformed ECDSA signature";
                r = PS_E_INVAL;
                goto out;
            }
            sig = der;
        }
        item[0] = ',';
        item[1] = '"';
        el = b64_encode(item + 2, sizeof(item) - 3, sig, sl);
        item[2 + el] = '"';
        if ((r = buf_append(b, item + !i, 3 + el - !i)) != PS_OK)
            goto out;
    }
    {
        char num[24], *q = num + sizeof(num);

        do
            *--q = (char)('0' + seq % 10);
        while ((seq /= 10) != 0);
        if ((r = buf_append_str(b, "],\"audit_seq\":")) == PS_OK &&
            (r = buf_append(b, q, (size_t)(num + sizeof(num) - q))) == PS_OK)
            r = buf_append(b, "}\n", 2);
    }
out:
    if (sigs == NULL || lens == NULL)
        r = PS_E_NOMEM;
    free(sigs);
    free(lens);
    return r;
}

static void hash_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct hash_job *j = ctx;
    struct request *r = j->r;
    struct buf b;
    const char *why;
    int rc;

    buf_init(&b, IPC_MAX_PAYLOAD);
    if (status != PS_OK) {
        api_kh_error(r, status, p, len);
    } else if ((rc = hash_reply(&b, j, p, len, &why)) == PS_E_INVAL) {
        http_error(r, 502, "keyholder_error", "%s", why);
    } else if (rc != PS_OK) {
        http_error(r, 500, "internal", "out of memory");
    } else {
        r->w->m.signatures += (uint64_t)(p[8] << 8 | p[9]);
        http_respond_buf(r, 200, "application/json", &b);
    }
    buf_free(&b);
    http_release(r);
    free(j);
}

/* Decode every hash (h[i].p NULL: not a string); answers the error itself and returns -1. */
static int decode_hashes(struct request *r, const struct signreq_str *h, size_t n, enum ps_alg alg,
                         uint8_t *store, const uint8_t **ptrs, uint8_t *lens)
{
    for (size_t i = 0; i < n; i++) {
        size_t bl = 0;

        if (h[i].p == NULL) {
            http_error(r, 400, "invalid_request", "hashes[%zu] must be a base64 string", i);
            return -1;
        }
        if (b64_decode(store + i * IPC_MAX_DIGEST, IPC_MAX_DIGEST, h[i].p, h[i].len, &bl) !=
            PS_OK) {
            http_error(r, 400, "invalid_base64",
                       "hashes[%zu] is not standard base64 of at most %d bytes", i, IPC_MAX_DIGEST);
            return -1;
        }
        if (!alg_digest_len_ok(alg, bl)) {
            const struct ps_alg_info *ai = alg_info(alg);

            if (ai->hash == HASH_NONE)
                http_error(r, 400, "bad_hash_length",
                           "hashes[%zu] is %zu bytes; %s signs a 32- or 64-byte digest", i, bl,
                           ai->name);
            else
                http_error(r, 400, "bad_hash_length", "hashes[%zu] is %zu bytes; %s needs %zu", i,
                           bl, ai->name, hash_len(ai->hash));
            return -1;
        }
        ptrs[i] = store + i * IPC_MAX_DIGEST;
        lens[i] = (uint8_t)bl;
    }
    return 0;
}

/* The request's members, by the fast reader (the usual body) or else by jansson. */
struct hash_req {
    const char *key, *alg, *format;   /* alg, format NULL: absent */
    char buf[3][SIGNREQ_MAX_STR + 1]; /* the fast reader's copies */
    size_t n;
    struct signreq_str *h; /* n entries, malloc'd */
    json_t *root;          /* jansson's tree that h points into, or NULL */
};

/* A NUL-terminated copy of s in dst, or NULL when s is absent. */
static const char *copy_str(char *dst, const struct signreq_str *s)
{
    if (s->p == NULL)
        return NULL;
    memcpy(dst, s->p, s->len);
    dst[s->len] = 0;
    return dst;
}

/* Returns 0 with q filled, or -1 with the error answered. */
static int read_hash_req(struct request *r, size_t max, struct hash_req *q)
{
    const char *key = NULL, *alg_name = NULL, *format = NULL;
    struct signreq fast;
    json_t *root, *hashes = NULL;
    json_error_t jerr;
    int ret = -1;

    if (!api_content_type_json(r)) {
        http_error(r, 415, "unsupported_media_type",
                   "send %s as Content-Type: application/json (got %.64s)", "the body",
                   r->content_type);
        return -1;
    }
    if (signreq_parse((const char *)r->body.data, r->body.len, max, &fast) == PS_OK) {
        const char *pos = fast.hashes;

        q->key = copy_str(q->buf[0], &fast.key);
        q->alg = copy_str(q->buf[1], &fast.alg);
        q->format = copy_str(q->buf[2], &fast.format);
        q->n = fast.n;
        if ((q->h = malloc(q->n * sizeof(*q->h))) == NULL) {
            http_error(r, 500, "internal", "out of memory");
            return -1;
        }
        for (size_t i = 0; i < q->n; i++)
            signreq_next(&pos, &q->h[i]);
        return 0;
    }
    if ((root = api_json_body(r, "the body")) == NULL)
        return -1;
    if (json_unpack_ex(root, &jerr, 0, "{s:s,s?s,s:o,s?s}", "key", &key, "alg", &alg_name, "hashes",
                       &hashes, "format", &format) != 0) {
        http_error(r, 400, "invalid_request",
                   "%s (want {\"key\": str, \"alg\": str, \"hashes\": [b64...]})", jerr.text);
        goto out;
    }
    if (!json_is_array(hashes) || (q->n = json_array_size(hashes)) == 0) {
        http_error(r, 400, "invalid_request", "hashes must be a non-empty array");
        goto out;
    }
    if (q->n > max) {
        http_error(r, 413, "batch_too_large", "%zu hashes; at most %zu per request", q->n,
                   r->w->cfg->max_hashes);
        goto out;
    }
    q->key = key;
    q->alg = alg_name;
    q->format = format;
    if ((q->h = malloc(q->n * sizeof(*q->h))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < q->n; i++) {
        const char *v = json_string_value(json_array_get(hashes, i));

        q->h[i].p = v;
        q->h[i].len = v ? strlen(v) : 0;
    }
    ret = 0;
out:
    /* q's strings point into root: it lives as long as q */
    if (ret == 0)
        q->root = root;
    else
        json_decref(root);
    return ret;
}

void api_sign_hash(struct request *r, const char *tail)
{
    const struct config *cfg = r->w->cfg;
    size_t max = cfg->max_hashes < IPC_MAX_DIGESTS ? cfg->max_hashes : IPC_MAX_DIGESTS;
    struct hash_req q = {0};
    const struct key_entry *k;
    struct hash_job *j = NULL;
    uint8_t *store = NULL, *lens = NULL;
    const uint8_t **ptrs = NULL;
    enum ps_alg alg;
    size_t n;
    int rc;

    (void)tail;
    if (read_hash_req(r, max, &q) != 0)
        goto out;
    n = q.n;
    if (q.format && strcmp(q.format, "der") != 0 && strcmp(q.format, "raw") != 0) {
        http_error(r, 400, "invalid_request", "format must be \"der\" or \"raw\"");
        goto out;
    }
    if ((k = api_tenant_key(r, q.key)) == NULL || (alg = api_pick_alg(r, k, q.alg)) == ALG_NONE)
        goto out;
    store = malloc(n * IPC_MAX_DIGEST);
    ptrs = calloc(n, sizeof(*ptrs));
    lens = calloc(n, 1);
    j = calloc(1, sizeof(*j));
    if (store == NULL || ptrs == NULL || lens == NULL || j == NULL) {
        http_error(r, 500, "internal", "out of memory");
        goto out;
    }
    if (decode_hashes(r, q.h, n, alg, store, ptrs, lens) != 0)
        goto out;
    j->r = r;
    j->k = k;
    j->alg = alg;
    j->raw = q.format && strcmp(q.format, "raw") == 0;
    http_hold(r);
    rc = kh_sign(r->w->kh, r->tenant, k->cfg->id, alg, ptrs, lens, (uint16_t)n, hash_done, j);
    if (rc != PS_OK) {
        http_release(r);
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable: %s",
                   ps_strerror(rc));
        goto out;
    }
    j = NULL;
out:
    free(j);
    free(store);
    free(ptrs);
    free(lens);
    free(q.h);
    json_decref(q.root);
}

/* ---- /v1/sign/cms ---- */

struct cms_job {
    struct request *r;
    const struct key_entry *k;
    CMS_ContentInfo *cms;
    CMS_SignerInfo *si;
};

static void cms_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct cms_job *j = ctx;
    struct request *r = j->r;
    struct one_sig s;
    unsigned char *out = NULL;
    int n;

    if (api_one_signature(r, status, p, len, j->k->type != KT_RSA, &s) != 0)
        goto out;
    if (!ASN1_STRING_set(CMS_SignerInfo_get0_signature(j->si), s.sig, (int)s.len) ||
        (n = i2d_CMS_ContentInfo(j->cms, &out)) <= 0) {
        ERR_clear_error();
        http_error(r, 500, "internal", "cannot encode the CMS signature");
        goto out;
    }
    r->w->m.signatures++;
    http_respond(r, 200, "application/pkcs7-signature", out, (size_t)n);
out:
    OPENSSL_free(out);
    CMS_ContentInfo_free(j->cms);
    http_release(r);
    free(j);
}

void api_sign_cms(struct request *r, const char *tail)
{
    char key[65];
    const struct key_entry *k;
    struct cms_job *j = NULL;
    EVP_PKEY *proxy = NULL;
    BIO *in = NULL;
    uint8_t dg[64];
    const uint8_t *dp[1] = {dg};
    uint8_t dl[1];
    size_t dlen;
    int nid, flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;

    (void)tail;
    if (http_query_param(r, "key", key, sizeof(key)) != 0) {
        http_error(r, 400, "invalid_request", "query parameter key= is required");
        return;
    }
    if ((k = api_tenant_key(r, key)) == NULL)
        return;
    if (k->type == KT_ED25519) {
        http_error(r, 400, "unsupported_algorithm",
                   "CMS signing needs an RSA or ECDSA key; '%s' is Ed25519", key);
        return;
    }
    if (api_pick_alg(r, k, k->type == KT_RSA ? "rsa-pkcs1-sha256" : "ecdsa-sha256") == ALG_NONE)
        return;
    if ((j = calloc(1, sizeof(*j))) == NULL || (proxy = proxykey_new(k->pub)) == NULL ||
        (in = BIO_new_mem_buf(r->body.data ? (void *)r->body.data : (void *)"",
                              (int)r->body.len)) == NULL ||
        (j->cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
        (j->si = CMS_add1_signer(j->cms, k->cert, proxy, EVP_sha256(),
                                 CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES)) == NULL)
        goto fail;
    for (int i = 0; i < sk_X509_num(k->chain); i++)
        if (!CMS_add1_cert(j->cms, sk_X509_value(k->chain, i)))
            goto fail;
    proxykey_reset();
    if (!CMS_final(j->cms, in, NULL, CMS_DETACHED | CMS_BINARY) ||
        proxykey_take(dg, sizeof(dg), &dlen, &nid) != PS_OK || nid != NID_sha256)
        goto fail;
    dl[0] = (uint8_t)dlen;
    j->r = r;
    j->k = k;
    http_hold(r);
    if (kh_sign(r->w->kh, r->tenant, k->cfg->id,
                k->type == KT_RSA ? ALG_RSA_PKCS1_SHA256 : ALG_ECDSA_SHA256, dp, dl, 1, cms_done,
                j) != PS_OK) {
        http_release(r);
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable");
        goto out_free;
    }
    BIO_free(in);
    EVP_PKEY_free(proxy);
    return;
fail : {
    char es[256];

    ERR_error_string_n(ERR_get_error(), es, sizeof(es));
    ERR_clear_error();
    http_error(r, 500, "internal", "cannot build the CMS structure: %s", es);
}
out_free:
    if (j)
        CMS_ContentInfo_free(j->cms);
    free(j);
    BIO_free(in);
    EVP_PKEY_free(proxy);
}
