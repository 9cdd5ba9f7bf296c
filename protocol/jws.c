#include "jws.h"
#include "b64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "sigfmt.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* jansson's reason; it leaves the text empty when an allocation failed */
static const char *jerr(const json_error_t *je)
{
    return je->text[0] ? je->text : "out of memory";
}

/* A member name or value safe to quote in an error: printable ASCII, at most 40 bytes. */
static const char *shown(const char *s, char tmp[48])
{
    size_t i;

    for (i = 0; s[i] && i < 40; i++)
        tmp[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
    tmp[i] = 0;
    return tmp;
}

const char *jws_alg_name(enum jws_alg alg)
{
    switch (alg) {
    case JWS_ES256: return "ES256";
    case JWS_EDDSA: return "EdDSA";
    case JWS_RS256: return "RS256";
    default: return NULL;
    }
}

enum jws_alg jws_alg_from_name(const char *name)
{
    static const enum jws_alg all[] = {JWS_ES256, JWS_EDDSA, JWS_RS256};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(name, jws_alg_name(all[i])) == 0)
            return all[i];
    return JWS_ALG_NONE;
}

enum jws_alg jws_alg_for_key(EVP_PKEY *key)
{
    char group[32];
    size_t gl;

    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519: return JWS_EDDSA;
    case EVP_PKEY_RSA: return EVP_PKEY_get_bits(key) >= 2048 ? JWS_RS256 : JWS_ALG_NONE;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), &gl) == 1 &&
            strcmp(group, "prime256v1") == 0)
            return JWS_ES256;
        return JWS_ALG_NONE;
    default: return JWS_ALG_NONE;
    }
}

/* ---- base64 ---- */

static int b64url_append(struct buf *b, const uint8_t *p, size_t n)
{
    size_t el = sodium_base64_ENCODED_LEN(n, B64URL);
    char *tmp = malloc(el);
    int r;

    if (tmp == NULL)
        return PS_E_NOMEM;
    sodium_bin2base64(tmp, el, p, n, B64URL);
    r = buf_append(b, tmp, el - 1);
    free(tmp);
    return r;
}

/* Strict decoding of s[0..n) in variant v into a new malloc'd buffer (NUL-terminated). */
static int b64_decode_alloc(const char *s, size_t n, int v, size_t max, uint8_t **out,
                            size_t *outlen)
{
    size_t cap = n / 4 * 3 + 3;
    uint8_t *p;

    *out = NULL;
    *outlen = 0;
    if (n / 4 * 3 > max + 3)
        return PS_E_LIMIT;
    if ((p = malloc(cap + 1)) == NULL)
        return PS_E_NOMEM;
    if (!b64_ascii(s, n) || sodium_base642bin(p, cap, s, n, NULL, outlen, NULL, v) != 0 ||
        *outlen > max) {
        free(p);
        return *outlen > max ? PS_E_LIMIT : PS_E_INVAL;
    }
    p[*outlen] = 0;
    *out = p;
    return PS_OK;
}

static const char *b64_why(int r)
{
    return r == PS_E_LIMIT   ? "too large"
           : r == PS_E_NOMEM ? "out of memory"
                             : "not strict base64url";
}

/* ---- signing ---- */

static int header_json(const struct jws_params *p, struct buf *out)
{
    json_t *h = json_object(), *x5c = json_array();
    int n = p->chain ? sk_X509_num(p->chain) : 0, r = PS_E_NOMEM;
    char *text = NULL;

    if (h == NULL || x5c == NULL)
        goto out;
    for (int i = -1; i < n; i++) {
        X509 *c = i < 0 ? p->cert : sk_X509_value(p->chain, i);
        unsigned char *der = NULL;
        int dl = i2d_X509(c, &der);
        size_t el =
            dl > 0 ? sodium_base64_ENCODED_LEN((size_t)dl, sodium_base64_VARIANT_ORIGINAL) : 0;
        char *b = el ? malloc(el) : NULL;
        if (b)
            sodium_bin2base64(b, el, der, (size_t)dl, sodium_base64_VARIANT_ORIGINAL);
        OPENSSL_free(der);
        if (b == NULL || json_array_append_new(x5c, json_string(b)) != 0) {
            free(b);
            goto out;
        }
        free(b);
    }
    if (json_object_set_new(h, "alg", json_string(jws_alg_name(p->alg))) != 0 ||
        (p->kid && json_object_set_new(h, "kid", json_string(p->kid)) != 0) ||
        json_object_set(h, "x5c", x5c) != 0 ||
        (p->typ && json_object_set_new(h, "typ", json_string(p->typ)) != 0) ||
        (p->cty && json_object_set_new(h, "cty", json_string(p->cty)) != 0))
        goto out;
    if ((text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        goto out;
    r = b64url_append(out, (const uint8_t *)text, strlen(text));
out:
    free(text);
    json_decref(x5c);
    json_decref(h);
    return r;
}

static int name_ok(const char *s)
{
    json_t *j;
    size_t n;

    if (s == NULL)
        return 1;
    n = strlen(s);
    if (n == 0 || n > JWS_MAX_NAME || (j = json_string(s)) == NULL) /* NULL: not UTF-8 */
        return 0;
    json_decref(j);
    return 1;
}

int jws_sign_begin(struct jws_signing *s, const struct jws_params *p, const uint8_t *payload,
                   size_t len, char *err, size_t errlen)
{
    int r;

    memset(s, 0, sizeof(*s));
    buf_init(&s->input, JWS_MAX_LEN);
    s->alg = p->alg;
    if (jws_alg_name(p->alg) == NULL)
        return ps_errf(PS_E_UNSUPPORTED, err, errlen, "algorithm not supported");
    if (p->cert == NULL || (s->pub = X509_get_pubkey(p->cert)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "no signer certificate");
    if (jws_alg_for_key(s->pub) != p->alg)
        return ps_errf(PS_E_INVAL, err, errlen, "alg %s does not fit the certificate's key",
                       jws_alg_name(p->alg));
    if (!name_ok(p->kid) || !name_ok(p->typ) || !name_ok(p->cty))
        return ps_errf(PS_E_INVAL, err, errlen, "kid, typ and cty must be UTF-8 of 1..%d bytes",
                       JWS_MAX_NAME);
    if (len == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "payload is empty");
    if (len > JWS_MAX_LEN / 4 * 3)
        return ps_errf(PS_E_LIMIT, err, errlen, "payload too large");
    if ((r = header_json(p, &s->input)) != PS_OK || (r = buf_append(&s->input, ".", 1)) != PS_OK ||
        (r = b64url_append(&s->input, payload, len)) != PS_OK) {
        buf_reset(&s->input);
        return ps_errf(r, err, errlen, "cannot build the signing input: %s", ps_strerror(r));
    }
    crypto_hash_sha256(s->digest, s->input.data, s->input.len);
    return PS_OK;
}

void jws_sign_tbs(const struct jws_signing *s, const uint8_t **tbs, size_t *len)
{
    if (s->alg == JWS_EDDSA) {
        *tbs = s->input.data;
        *len = s->input.len;
    } else {
        *tbs = s->digest;
        *len = sizeof(s->digest);
    }
}

/* Check the JOSE signature sig over input with key for alg. */
static int check_sig(enum jws_alg alg, EVP_PKEY *key, const uint8_t *input, size_t il,
                     const uint8_t *sig, size_t sl)
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dl = sl;
    const uint8_t *s = sig;
    int ok = 0;

    if (mc == NULL)
        return 0;
    if (alg == JWS_ES256) {
        if (sl != 64 || ecdsa_raw_to_der(sig, sl, der, sizeof(der), &dl) != PS_OK)
            goto out;
        s = der;
    } else if (alg == JWS_EDDSA && sl != 64) {
        goto out;
    } else if (alg == JWS_RS256 && sl != (size_t)EVP_PKEY_get_size(key)) {
        goto out;
    }
    ok = EVP_DigestVerifyInit(mc, NULL, alg == JWS_EDDSA ? NULL : EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestVerify(mc, s, dl, input, il) == 1;
out:
    EVP_MD_CTX_free(mc);
    return ok;
}

int jws_sign_finish(struct jws_signing *s, const uint8_t *sig, size_t siglen, enum jws_form form,
                    struct buf *out, char *err, size_t errlen)
{
    uint8_t raw[64];
    const uint8_t *sg = sig;
    size_t dot;
    int r;

    buf_reset(out);
    if (s->input.len == 0 || s->pub == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "signing was not started");
    if (s->alg == JWS_ES256 && siglen != 64) {
        if (ecdsa_der_to_raw(sig, siglen, 32, raw) != PS_OK)
            return ps_errf(PS_E_CRYPTO, err, errlen, "ES256 signature is neither r||s nor DER");
        sg = raw;
        siglen = 64;
    }
    if (!check_sig(s->alg, s->pub, s->input.data, s->input.len, sg, siglen)) {
        ERR_clear_error();
        return ps_errf(PS_E_CRYPTO, err, errlen, "the signature from the key does not verify");
    }
    dot = (size_t)((const uint8_t *)memchr(s->input.data, '.', s->input.len) - s->input.data);
    if (form == JWS_COMPACT) {
        r = buf_append(out, s->input.data, s->input.len);
        r = r ? r : buf_append(out, ".", 1);
        r = r ? r : b64url_append(out, sg, siglen);
    } else {
        r = buf_append_str(out, "{\"protected\":\"");
        r = r ? r : buf_append(out, s->input.data, dot);
        r = r ? r : buf_append_str(out, "\",\"payload\":\"");
        r = r ? r : buf_append(out, s->input.data + dot + 1, s->input.len - dot - 1);
        r = r ? r : buf_append_str(out, "\",\"signature\":\"");
        r = r ? r : b64url_append(out, sg, siglen);
        r = r ? r : buf_append_str(out, "\"}");
    }
    if (r != PS_OK) {
        buf_reset(out);
        return ps_errf(r, err, errlen, "cannot write the JWS: %s", ps_strerror(r));
    }
    return PS_OK;
}

void jws_signing_free(struct jws_signing *s)
{
    buf_free(&s->input);
    EVP_PKEY_free(s->pub);
    s->pub = NULL;
}

int jws_sign(const struct jws_params *p, const uint8_t *payload, size_t len, jws_sign_fn sign,
             void *ctx, enum jws_form form, struct buf *out, char *err, size_t errlen)
{
    struct jws_signing s;
    uint8_t sig[JWS_MAX_SIG];
    const uint8_t *tbs;
    size_t tl, sl = 0;
    int r;

    buf_reset(out);
    if ((r = jws_sign_begin(&s, p, payload, len, err, errlen)) == PS_OK) {
        jws_sign_tbs(&s, &tbs, &tl);
        if ((r = sign(ctx, s.alg, tbs, tl, sig, sizeof(sig), &sl)) != PS_OK || sl > sizeof(sig))
            r = ps_errf(r ? r : PS_E_LIMIT, err, errlen, "signing failed: %s",
                        ps_strerror(r ? r : PS_E_LIMIT));
        else
            r = jws_sign_finish(&s, sig, sl, form, out, err, errlen);
    }
    jws_signing_free(&s);
    return r;
}

/* ---- verification ---- */

struct parts {
    const char *hdr, *pay, *sig; /* base64url text */
    size_t hl, pl, sl;
};

static int b64url_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

static int split_compact(const char *s, size_t n, struct parts *pt, char *err, size_t errlen)
{
    const char *d1 = memchr(s, '.', n), *d2;

    if (d1 == NULL || (d2 = memchr(d1 + 1, '.', (size_t)(s + n - d1 - 1))) == NULL ||
        memchr(d2 + 1, '.', (size_t)(s + n - d2 - 1)) != NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "compact JWS must have exactly three parts");
    pt->hdr = s, pt->hl = (size_t)(d1 - s);
    pt->pay = d1 + 1, pt->pl = (size_t)(d2 - d1 - 1);
    pt->sig = d2 + 1, pt->sl = (size_t)(s + n - d2 - 1);
    if (!b64url_chars(s, (size_t)(d1 - s)) || !b64url_chars(pt->pay, pt->pl) ||
        !b64url_chars(pt->sig, pt->sl))
        return ps_errf(PS_E_INVAL, err, errlen, "compact JWS has a character outside base64url");
    return PS_OK;
}

/* Flattened JSON: the member values are kept in *doc (decref'd by the caller). */
static int split_json(const char *s, size_t n, json_t **doc, struct parts *pt, char *err,
                      size_t errlen)
{
    json_error_t je;
    const char *k;
    json_t *v;

    if ((*doc = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "JWS JSON: %s", jerr(&je));
    if (!json_is_object(*doc))
        return ps_errf(PS_E_INVAL, err, errlen, "JWS JSON is not an object");
    json_object_foreach(*doc, k, v)
    {
        char t[48];
        if (strcmp(k, "signatures") == 0)
            return ps_errf(PS_E_INVAL, err, errlen,
                           "general JWS JSON serialisation is not accepted (use flattened)");
        if (strcmp(k, "header") == 0)
            return ps_errf(PS_E_INVAL, err, errlen, "unprotected header is not accepted");
        if (strcmp(k, "protected") != 0 && strcmp(k, "payload") != 0 && strcmp(k, "signature") != 0)
            return ps_errf(PS_E_INVAL, err, errlen, "JWS member \"%s\" is not accepted",
                           shown(k, t));
        if (!json_is_string(v) || !b64url_chars(json_string_value(v), json_string_length(v)))
            return ps_errf(PS_E_INVAL, err, errlen, "JWS member \"%s\" must be a base64url string",
                           k);
    }
    if ((v = json_object_get(*doc, "protected")) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "JWS JSON has no \"protected\"");
    pt->hdr = json_string_value(v), pt->hl = json_string_length(v);
    if ((v = json_object_get(*doc, "payload")) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "JWS JSON has no \"payload\"");
    pt->pay = json_string_value(v), pt->pl = json_string_length(v);
    if ((v = json_object_get(*doc, "signature")) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "JWS JSON has no \"signature\"");
    pt->sig = json_string_value(v), pt->sl = json_string_length(v);
    return PS_OK;
}

static int copy_name(json_t *v, const char *what, char *dst, char *err, size_t errlen)
{
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > JWS_MAX_NAME ||
        strlen(json_string_value(v)) != json_string_length(v))
        return ps_errf(PS_E_INVAL, err, errlen, "header %s must be a string of 1..%d bytes", what,
                       JWS_MAX_NAME);
    for (const char *c = json_string_value(v); *c; c++)
        if ((uint8_t)*c < 0x20 || *c == 0x7f)
            return ps_errf(PS_E_INVAL, err, errlen, "header %s has a control character", what);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return PS_OK;
}

static int read_x5c(json_t *a, STACK_OF(X509) * *out, char *err, size_t errlen)
{
    size_t i, n = json_array_size(a), dl;
    uint8_t *der;
    json_t *v;
    int r;

    if (!json_is_array(a) || n == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "header x5c must be a non-empty array");
    if (n > JWS_MAX_X5C)
        return ps_errf(PS_E_LIMIT, err, errlen, "header x5c has more than %d certificates",
                       JWS_MAX_X5C);
    if ((*out = sk_X509_new_null()) == NULL)
        return ps_errf(PS_E_NOMEM, err, errlen, "x5c: out of memory");
    json_array_foreach(a, i, v)
    {
        const unsigned char *p;
        X509 *x;
        if (!json_is_string(v))
            return ps_errf(PS_E_INVAL, err, errlen, "x5c[%zu] is not a string", i);
        r = b64_decode_alloc(json_string_value(v), json_string_length(v),
                             sodium_base64_VARIANT_ORIGINAL, JWS_MAX_CERT, &der, &dl);
        if (r != PS_OK)
            return ps_errf(r, err, errlen, "x5c[%zu] is not %s", i,
                           r == PS_E_LIMIT   ? "a certificate of acceptable size"
                           : r == PS_E_NOMEM ? "decoded: out of memory"
                                             : "strict base64");
        p = der;
        x = d2i_X509(NULL, &p, (long)dl);
        if (x == NULL || p != der + dl || sk_X509_push(*out, x) <= 0) {
            X509_free(x);
            free(der);
            ERR_clear_error();
            return ps_errf(PS_E_INVAL, err, errlen, "x5c[%zu] is not one DER certificate", i);
        }
        free(der);
    }
    return PS_OK;
}

static int read_header(const uint8_t *h, size_t hl, const struct jws_verify_opts *o,
                       struct jws_result *r, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc, *v;
    const char *k, *an;
    char t[48];
    int ret = PS_E_INVAL;

    if ((doc = json_loadb((const char *)h, hl, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "protected header: %s", jerr(&je));
    if (!json_is_object(doc)) {
        ps_errf(PS_E_INVAL, err, errlen, "protected header is not a JSON object");
        goto out;
    }
    json_object_foreach(doc, k, v)
    {
        if (strcmp(k, "alg") && strcmp(k, "x5c") && strcmp(k, "kid") && strcmp(k, "typ") &&
            strcmp(k, "cty")) {
            ps_errf(PS_E_INVAL, err, errlen, "header member \"%s\" is not accepted", shown(k, t));
            goto out;
        }
    }
    if ((v = json_object_get(doc, "alg")) == NULL || !json_is_string(v)) {
        ps_errf(PS_E_INVAL, err, errlen, "header alg is missing or not a string");
        goto out;
    }
    an = json_string_value(v);
    r->alg = jws_alg_from_name(an);
    if (r->alg == JWS_ALG_NONE || strlen(an) != json_string_length(v)) {
        ps_errf(PS_E_DENIED, err, errlen, "alg \"%s\" is not supported", shown(an, t));
        ret = PS_E_DENIED;
        goto out;
    }
    if ((o->algs & (unsigned)r->alg) == 0) {
        ps_errf(PS_E_DENIED, err, errlen, "alg %s is not allowed here", an);
        ret = PS_E_DENIED;
        goto out;
    }
    if (((v = json_object_get(doc, "kid")) && copy_name(v, "kid", r->kid, err, errlen)) ||
        ((v = json_object_get(doc, "typ")) && copy_name(v, "typ", r->typ, err, errlen)) ||
        ((v = json_object_get(doc, "cty")) && copy_name(v, "cty", r->cty, err, errlen)))
        goto out;
    if (o->typ && strcmp(o->typ, r->typ) != 0) {
        ps_errf(PS_E_INVAL, err, errlen, "header typ is not %s", o->typ);
        goto out;
    }
    if ((v = json_object_get(doc, "x5c")) == NULL) {
        ps_errf(PS_E_INVAL, err, errlen, "header x5c is missing");
        goto out;
    }
    ret = read_x5c(v, &r->x5c, err, errlen);
out:
    json_decref(doc);
    return ret;
}

static int eku_listed(X509 *x, const char *want)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    ASN1_OBJECT *w = OBJ_txt2obj(want, 0);
    int found = 0;

    for (int i = 0; eku && w && i < sk_ASN1_OBJECT_num(eku); i++)
        if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), w) == 0)
            found = 1;
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    ASN1_OBJECT_free(w);
    return found;
}

static int check_chain(const struct jws_verify_opts *o, struct jws_result *r, char *err,
                       size_t errlen)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_dup(r->x5c);
    int ret = PS_E_NOMEM;

    if (ctx == NULL || untrusted == NULL)
        goto out;
    (void)sk_X509_shift(untrusted);
    if (!X509_STORE_CTX_init(ctx, o->roots, r->leaf, untrusted) ||
        (o->purpose && !X509_STORE_CTX_set_purpose(ctx, o->purpose))) {
        ret = ps_errf(PS_E_CRYPTO, err, errlen, "x5c chain: cannot set up the check");
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), o->at ? o->at : time(NULL));
    if (X509_verify_cert(ctx) != 1) {
        ret = ps_errf(PS_E_INVAL, err, errlen, "x5c chain: %s",
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    ret = PS_OK;
    if (o->eku && !eku_listed(r->leaf, o->eku))
        ret = ps_errf(PS_E_INVAL, err, errlen, "signer certificate: extendedKeyUsage lacks %s",
                      o->eku);
out:
    ERR_clear_error();
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    return ret;
}

static int verify_parts(const struct parts *pt, const struct jws_verify_opts *o,
                        struct jws_result *r, char *err, size_t errlen)
{
    uint8_t *hdr = NULL, *sig = NULL;
    size_t hl, sl, max = o->max_len ? o->max_len : JWS_MAX_LEN;
    EVP_PKEY *key;
    int ret;

    if (pt->hl == 0 || pt->sl == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "JWS has an empty %s",
                       pt->hl == 0 ? "protected header" : "signature");
    if (pt->pl == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "payload is empty (detached payloads are refused)");
    if ((ret = b64_decode_alloc(pt->hdr, pt->hl, B64URL, JWS_MAX_HEADER, &hdr, &hl)) != PS_OK)
        return ps_errf(ret, err, errlen, "protected header is %s", b64_why(ret));
    ret = read_header(hdr, hl, o, r, err, errlen);
    free(hdr);
    if (ret != PS_OK)
        return ret;
    r->leaf = sk_X509_value(r->x5c, 0);
    X509_up_ref(r->leaf);
    if ((ret = check_chain(o, r, err, errlen)) != PS_OK)
        return ret;
    key = X509_get0_pubkey(r->leaf);
    if (key == NULL || jws_alg_for_key(key) != r->alg)
        return ps_errf(PS_E_INVAL, err, errlen, "alg %s does not fit the signer's key",
                       jws_alg_name(r->alg));
    if ((ret = b64_decode_alloc(pt->sig, pt->sl, B64URL, JWS_MAX_SIG, &sig, &sl)) != PS_OK)
        return ps_errf(ret, err, errlen, "signature is not strict base64url of acceptable size");
    ret = check_sig(r->alg, key, (const uint8_t *)pt->hdr, (size_t)(pt->pay + pt->pl - pt->hdr),
                    sig, sl);
    free(sig);
    if (!ret) {
        ERR_clear_error();
        return ps_errf(PS_E_INVAL, err, errlen, "signature does not verify");
    }
    if ((ret = b64_decode_alloc(pt->pay, pt->pl, B64URL, max, &r->payload, &r->payload_len)) !=
        PS_OK)
        return ps_errf(ret, err, errlen, "payload is %s", b64_why(ret));
    return PS_OK;
}

int jws_verify(const uint8_t *jws, size_t len, const struct jws_verify_opts *o,
               struct jws_result *r, char *err, size_t errlen)
{
    const char *s = (const char *)jws;
    size_t max = o->max_len ? o->max_len : JWS_MAX_LEN, i;
    struct parts pt = {0};
    json_t *doc = NULL;
    uint8_t *input = NULL;
    int ret;

    memset(r, 0, sizeof(*r));
    if (err && errlen)
        err[0] = 0;
    if (len > max)
        return ps_errf(PS_E_LIMIT, err, errlen, "JWS larger than %zu bytes", max);
    if (o->roots == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "no pinned roots to verify against");
    for (i = 0; i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'); i++)
        ;
    if (i < len && s[i] == '{') {
        ret = split_json(s, len, &doc, &pt, err, errlen);
        /* the JSON form keeps header and payload apart: rebuild the signing input */
        if (ret == PS_OK && (input = malloc(pt.hl + pt.pl + 2)) == NULL)
            ret = PS_E_NOMEM;
        if (ret == PS_OK) {
            memcpy(input, pt.hdr, pt.hl);
            input[pt.hl] = '.';
            memcpy(input + pt.hl + 1, pt.pay, pt.pl);
            pt.hdr = (const char *)input;
            pt.pay = (const char *)input + pt.hl + 1;
        }
    } else {
        ret = split_compact(s, len, &pt, err, errlen);
    }
    if (ret == PS_OK)
        ret = verify_parts(&pt, o, r, err, errlen);
    if (ret != PS_OK && err && errlen && err[0] == 0)
        ps_errf(ret, err, errlen, "%s", ps_strerror(ret));
    free(input);
    json_decref(doc);
    if (ret != PS_OK)
        jws_result_free(r);
    return ret;
}

void jws_result_free(struct jws_result *r)
{
    free(r->payload);
    X509_free(r->leaf);
    sk_X509_pop_free(r->x5c, X509_free);
    memset(r, 0, sizeof(*r));
}
