/*
 * api_keys.c - GET /v1/keys and /v1/keys/{id}: a tenant sees only its own keys.
 */
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "api.h"
#include "worker.h"

static json_t *pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    json_t *j = NULL;
    char *p;
    long n;

    if (b && PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &p)) > 0)
        j = json_stringn(p, (size_t)n);
    BIO_free(b);
    return j;
}

json_t *api_name_json(const X509_NAME *n)
{
    char s[512];

    X509_NAME_oneline(n, s, sizeof(s));
    return json_string(s);
}

static json_t *time_of(time_t t)
{
    char s[32];
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(s);
}

static json_t *key_json(const struct key_entry *k, int full)
{
    json_t *algs = json_array(), *o;
    time_t now = time(NULL);

    for (int a = ALG_NONE + 1; a < ALG_MAX; a++)
        if (key_alg_allowed(k, (enum ps_alg)a))
            json_array_append_new(algs, json_string(alg_info((enum ps_alg)a)->name));
    o = json_pack("{s:s,s:s,s:i,s:o,s:s,s:o,s:o,s:o,s:o,s:s}", "id", k->cfg->id, "type",
                  keytype_name(k->type), "bits", (int)k->bits, "algorithms", algs, "certNo",
                  k->certno, "subject", api_name_json(X509_get_subject_name(k->cert)), "issuer",
                  api_name_json(X509_get_issuer_name(k->cert)), "not_before",
                  time_of(k->not_before), "not_after", time_of(k->not_after), "status",
                  now < k->not_before || now > k->not_after ? "expired" : "active");
    if (o && full) {
        json_t *chain = json_array();

        json_array_append_new(chain, pem_of(k->cert));
        for (int i = 0; i < sk_X509_num(k->chain); i++)
            json_array_append_new(chain, pem_of(sk_X509_value(k->chain, i)));
        json_object_set_new(o, "certificate", pem_of(k->cert));
        json_object_set_new(o, "chain", chain);
    }
    return o;
}

void api_keys_list(struct request *r, const char *tail)
{
    json_t *arr = json_array();

    (void)tail;
    for (size_t i = 0; i < r->w->reg.n; i++)
        if (strcmp(r->w->reg.keys[i].cfg->tenant, r->tenant) == 0)
            json_array_append_new(arr, key_json(&r->w->reg.keys[i], 0));
    http_respond_json(r, 200, json_pack("{s:s,s:o}", "tenant", r->tenant, "keys", arr));
}

void api_keys_get(struct request *r, const char *tail)
{
    const struct key_entry *k = keyreg_find(&r->w->reg, tail);

    if (k == NULL || strcmp(k->cfg->tenant, r->tenant) != 0) {
        http_error(r, 404, "key_not_found", "no key '%.64s' for this tenant", tail);
        return;
    }
    http_respond_json(r, 200, key_json(k, 1));
}
