#include "courier.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "log.h"

#define MAX_TASKS 8

struct link {
    int checked, ok;
    long status;
    char as[65];     /* the partner id the partner's appliance sees us as */
    char error[256]; /* why the link is down */
    time_t checked_at;
};

static struct {
    const struct config *cfg;
    struct buf cert, key;
    struct buf root[CFG_MAX_PARTNERS];
    struct link link[CFG_MAX_PARTNERS];
    courier_task_fn task[MAX_TASKS];
    void *task_ctx[MAX_TASKS];
    int ntasks;
    int woken, running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} C = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int slurp(const char *path, struct buf *b, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;

    buf_init(b, 1024 * 1024);
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s", path);
        return PS_E_IO;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(b, chunk, n) != PS_OK) {
            fclose(f);
            snprintf(err, errlen, "%s is too large", path);
            return PS_E_LIMIT;
        }
    fclose(f);
    return PS_OK;
}

int courier_init(const struct config *cfg, char *err, size_t errlen)
{
    int r;

    C.cfg = cfg;
    if (cfg->partner_cert == NULL)
        return PS_OK;
    if ((r = slurp(cfg->partner_cert, &C.cert, err, errlen)) != PS_OK ||
        (r = slurp(cfg->partner_key, &C.key, err, errlen)) != PS_OK)
        return r;
    for (size_t i = 0; i < cfg->npartners; i++)
        if ((r = slurp(cfg->partners[i].root, &C.root[i], err, errlen)) != PS_OK)
            return r;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl cannot start");
        return PS_E_CRYPTO;
    }
    return PS_OK;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct courier_resp *out = ctx;

    return buf_append(&out->body, p, size * n) == PS_OK ? size * n : 0;
}

int courier_request(const struct cfg_partner *p, const char *method, const char *path,
                    const char *ctype, const void *body, size_t len, struct courier_resp *out)
{
    size_t i = (size_t)(p - C.cfg->partners);
    struct curl_blob cert = {C.cert.data, C.cert.len, CURL_BLOB_NOCOPY};
    struct curl_blob key = {C.key.data, C.key.len, CURL_BLOB_NOCOPY};
    struct curl_blob root;
    struct curl_slist *hdr = NULL;
    char url[512], h[160];
    CURL *c;
    CURLcode rc;
    char *ct = NULL;

    memset(out, 0, sizeof(*out));
    buf_init(&out->body, COURIER_MAX_BODY);
    if (C.cert.len == 0 || i >= C.cfg->npartners || p->url == NULL) {
        snprintf(out->error, sizeof(out->error),
                 C.cert.len == 0 ? "no partner_cert configured" : "the partner has no url=");
        return PS_E_UNAVAIL;
    }
    if ((c = curl_easy_init()) == NULL)
        return PS_E_NOMEM;
    root.data = C.root[i].data;
    root.len = C.root[i].len;
    root.flags = CURL_BLOB_NOCOPY;
    snprintf(url, sizeof(url), "%s%s", p->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &root);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)COURIER_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (ctype) {
        snprintf(h, sizeof(h), "content-type: %s", ctype);
        hdr = curl_slist_append(hdr, h);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(out->ctype, sizeof(out->ctype), "%s", ct);
    } else {
        snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? PS_OK : PS_E_UNAVAIL;
}

/* The built-in task: can we reach each partner, and does it see us as its partner? */
static void check_links(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < C.cfg->npartners; i++) {
        const struct cfg_partner *p = &C.cfg->partners[i];
        struct courier_resp r;
        struct link l;
        json_t *j = NULL;

        memset(&l, 0, sizeof(l));
        l.checked = 1;
        l.checked_at = time(NULL);
        if (p->url == NULL)
            continue;
        if (courier_request(p, "GET", "/v1/whoami", NULL, NULL, 0, &r) == PS_OK) {
            const char *as;

            l.status = r.status;
            j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
            as = json_string_value(json_object_get(j, "partner"));
            snprintf(l.as, sizeof(l.as), "%s", as ? as : "");
            l.ok = r.status == 200 && as != NULL;
            if (!l.ok)
                snprintf(l.error, sizeof(l.error),
                         r.status == 200 ? "the partner does not see us as a partner"
                                         : "the partner answered %ld",
                         r.status);
            json_decref(j);
        } else {
            snprintf(l.error, sizeof(l.error), "%s", r.error);
        }
        buf_free(&r.body);
        pthread_mutex_lock(&C.lock);
        if (!l.ok && C.link[i].ok)
            log_warnx("partner %s: link down: %s", p->id, l.error);
        else if (l.ok && !C.link[i].ok)
            log_info("partner %s: link up (it sees us as '%s')", p->id, l.as);
        C.link[i] = l;
        pthread_mutex_unlock(&C.lock);
    }
}

json_t *courier_links_json(void)
{
    json_t *a = json_array();

    pthread_mutex_lock(&C.lock);
    for (size_t i = 0; C.cfg && i < C.cfg->npartners; i++) {
        const struct link *l = &C.link[i];

        json_array_append_new(a, json_pack("{s:s,s:s?,s:b,s:b,s:I,s:s?,s:I,s:s?}", "partner",
                                           C.cfg->partners[i].id, "url", C.cfg->partners[i].url,
                                           "checked", l->checked, "ok", l->ok, "status",
                                           (json_int_t)l->status, "as", l->as[0] ? l->as : NULL,
                                           "checked_at", (json_int_t)l->checked_at, "error",
                                           l->error[0] ? l->error : NULL));
    }
    pthread_mutex_unlock(&C.lock);
    return a;
}

int courier_add_task(courier_task_fn fn, void *ctx)
{
    if (C.ntasks == MAX_TASKS)
        return PS_E_LIMIT;
    C.task[C.ntasks] = fn;
    C.task_ctx[C.ntasks++] = ctx;
    return PS_OK;
}

void courier_wake(void)
{
    pthread_mutex_lock(&C.lock);
    C.woken = 1;
    pthread_cond_signal(&C.cond);
    pthread_mutex_unlock(&C.lock);
}

static void *courier_thread(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec until;

        for (int i = 0; i < C.ntasks; i++)
            C.task[i](C.task_ctx[i]);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += COURIER_INTERVAL;
        pthread_mutex_lock(&C.lock);
        while (!C.woken && pthread_cond_timedwait(&C.cond, &C.lock, &until) == 0)
            ;
        C.woken = 0;
        pthread_mutex_unlock(&C.lock);
    }
    return NULL;
}

int courier_start(void)
{
    pthread_t t;
    pthread_attr_t a;
    int r;

    if (C.cfg == NULL || C.cfg->npartners == 0 || C.cert.len == 0 || C.running)
        return PS_OK;
    if ((r = courier_add_task(check_links, NULL)) != PS_OK)
        return r;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&t, &a, courier_thread, NULL) == 0 ? PS_OK : PS_E_IO;
    pthread_attr_destroy(&a);
    C.running = r == PS_OK;
    return r;
}
