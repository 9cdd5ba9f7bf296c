#include "courier.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "../hsm/ipc.h"
#include "api.h"
#include "log.h"
#include "privsep.h"
#include "worker.h"

/* ---- in the workers ---- */

static int wake_fd = -1;

void courier_set_wake_fd(int fd)
{
    wake_fd = fd;
}

void courier_wake(void)
{
    char b = 1;

    if (wake_fd >= 0 && write(wake_fd, &b, 1) < 0 && errno != EAGAIN)
        log_debug("courier wake: %s", strerror(errno));
}

static void links_path(const struct config *cfg, char *p, size_t n)
{
    snprintf(p, n, "%s/courier/links.json", cfg->state_dir);
}

json_t *courier_links_json(const struct config *cfg)
{
    char path[4096];
    json_t *saved, *a = json_array();

    links_path(cfg, path, sizeof(path));
    saved = json_load_file(path, 0, NULL);
    for (size_t i = 0; i < cfg->npartners; i++) {
        const struct cfg_partner *p = &cfg->partners[i];
        json_t *l = json_object_get(saved, p->id);
        const char *url = json_string_value(json_object_get(l, "url"));

        if (json_is_object(l) && url && p->url && strcmp(url, p->url) == 0) {
            json_array_append(a, l);
            continue;
        }
        json_array_append_new(a, json_pack("{s:s,s:s?,s:b,s:b}", "partner", p->id, "url", p->url,
                                           "checked", 0, "ok", 0));
    }
    json_decref(saved);
    return a;
}

/* ---- requests ---- */

static struct {
    struct buf cert, key;
    struct buf root[CFG_MAX_PARTNERS];
    CURLM *m[CFG_MAX_PARTNERS]; /* one multi handle (and so one kept connection) per partner */
    volatile sig_atomic_t stop;
} C;

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

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct courier_resp *out = ctx;

    return buf_append(&out->body, p, size * n) == PS_OK ? size * n : 0;
}

void courier_resp_free(struct courier_resp *r)
{
    buf_free(&r->body);
}

void courier_resp_why(const struct courier_resp *r, char *why, size_t n)
{
    json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (r->status == 0)
        snprintf(why, n, "%s", r->error);
    else if (code)
        snprintf(why, n, "%ld %s: %s", r->status, code, msg ? msg : "");
    else
        snprintf(why, n, "the partner answered %ld", r->status);
    json_decref(j);
}

/* Set up easy handle c for one request to partner i; h receives its header list. */
static int setup(CURL *c, const struct courier *cr, size_t i, const char *method, const char *path,
                 const char *ctype, const void *body, size_t len, struct courier_resp *out,
                 struct curl_slist **h)
{
    const struct cfg_partner *p = &cr->cfg->partners[i];
    struct curl_blob cert = {C.cert.data, C.cert.len, CURL_BLOB_NOCOPY};
    struct curl_blob key = {C.key.data, C.key.len, CURL_BLOB_NOCOPY};
    struct curl_blob root = {C.root[i].data, C.root[i].len, CURL_BLOB_NOCOPY};
    char url[512], line[160];

    memset(out, 0, sizeof(*out));
    buf_init(&out->body, COURIER_MAX_BODY);
    *h = NULL;
    if (C.cert.len == 0 || i >= cr->cfg->npartners || p->url == NULL) {
        snprintf(out->error, sizeof(out->error),
                 C.cert.len == 0 ? "no partner_cert configured" : "the partner has no url=");
        return PS_E_UNAVAIL;
    }
    snprintf(url, sizeof(url), "%s%s", p->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L); /* share the partner's one connection */
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
    curl_easy_setopt(c, CURLOPT_PRIVATE, out);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (ctype) {
        snprintf(line, sizeof(line), "content-type: %s", ctype);
        *h = curl_slist_append(NULL, line);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
    }
    return PS_OK;
}

int courier_request_many(struct courier *cr, size_t i, const char *method, const char *path,
                         const char *ctype, const struct courier_body *b, size_t n,
                         struct courier_resp *out)
{
    CURL *e[COURIER_MAX_MANY] = {0};
    struct curl_slist *h[COURIER_MAX_MANY] = {0};
    int running = 0, answered = 0;
    CURLMsg *msg;
    int left;

    if (n > COURIER_MAX_MANY || i >= CFG_MAX_PARTNERS)
        return PS_E_LIMIT;
    if (C.m[i] == NULL) {
        if ((C.m[i] = curl_multi_init()) == NULL)
            return PS_E_NOMEM;
        curl_multi_setopt(C.m[i], CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        curl_multi_setopt(C.m[i], CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
    }
    for (size_t k = 0; k < n; k++) {
        if ((e[k] = curl_easy_init()) == NULL) {
            memset(&out[k], 0, sizeof(out[k]));
            buf_init(&out[k].body, COURIER_MAX_BODY);
            snprintf(out[k].error, sizeof(out[k].error), "out of memory");
            continue;
        }
        if (setup(e[k], cr, i, method, path, ctype, b ? b[k].data : NULL, b ? b[k].len : 0, &out[k],
                  &h[k]) != PS_OK ||
            curl_multi_add_handle(C.m[i], e[k]) != CURLM_OK) {
            curl_easy_cleanup(e[k]);
            e[k] = NULL;
        }
    }
    do {
        if (curl_multi_perform(C.m[i], &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(C.m[i], &left)) != NULL) {
            struct courier_resp *r = NULL;
            char *ct = NULL;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            if (msg->data.result == CURLE_OK) {
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
                    ct)
                    snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
                answered++;
            } else {
                snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(msg->data.result));
            }
        }
        if (running && curl_multi_poll(C.m[i], NULL, 0, 1000, NULL) != CURLM_OK)
            break;
    } while (running && !C.stop);
    for (size_t k = 0; k < n; k++) {
        if (e[k]) {
            curl_multi_remove_handle(C.m[i], e[k]);
            curl_easy_cleanup(e[k]);
        }
        curl_slist_free_all(h[k]);
        if (out[k].status == 0 && out[k].error[0] == 0)
            snprintf(out[k].error, sizeof(out[k].error), "no answer");
    }
    return answered > 0 ? PS_OK : PS_E_UNAVAIL;
}

int courier_request(struct courier *cr, size_t i, const char *method, const char *path,
                    const char *ctype, const void *body, size_t len, struct courier_resp *out)
{
    struct courier_body b = {body, len};

    return courier_request_many(cr, i, method, path, ctype, body ? &b : NULL, 1, out);
}

int courier_has_calls(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->npartners; i++)
        if (cfg->partners[i].url != NULL)
            return 1;
    return 0;
}

int64_t courier_backoff_ms(unsigned failures, int64_t base_ms, int64_t cap_ms)
{
    int64_t d = base_ms;
    uint16_t r = 0;

    for (unsigned i = 1; i < failures && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = 0x8000;
    return d / 2 + (d / 2) * r / 65535;
}

int courier_failure_logged(unsigned failures, const char *why, uint64_t *last)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a; 0 means "nothing logged yet" */

    for (const char *s = why; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    h |= 1;
    if (failures > 1 && failures % 10 != 0 && h == *last)
        return 0;
    *last = h;
    return 1;
}

/* ---- the keyholder, synchronously ---- */

struct kh_wait {
    int done, status;
    struct buf reply;
    char err[256];
};

static void on_ctl(struct courier *c)
{
    uint8_t tag;
    int fd, r;

    while ((r = privsep_recv_fd(c->ctl_fd, &tag, &fd)) == 1) {
        if (tag == 'K' && fd >= 0) {
            kh_client_set_fd(c->kh, fd);
            log_info("keyholder channel re-established");
        } else if (fd >= 0) {
            close(fd);
        }
    }
    if (r < 0)
        C.stop = 1; /* the parent is gone */
}

/* Pump the keyholder socket until every w[0..n) is answered (the client expires requests
 * after its timeout, so this ends). */
static void kh_wait_all(struct courier *c, struct kh_wait *w, size_t n)
{
    for (;;) {
        struct pollfd pf[2] = {{kh_client_fd(c->kh), POLLIN, 0}, {c->ctl_fd, POLLIN, 0}};
        size_t done = 0;

        for (size_t k = 0; k < n; k++)
            done += w[k].done != 0;
        if (done == n || C.stop)
            break;
        if (kh_client_flush(c->kh))
            pf[0].events |= POLLOUT;
        if (poll(pf, 2, 200) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            on_ctl(c);
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
            kh_client_on_readable(c->kh);
        kh_client_set_time(c->kh, mono_now());
        kh_client_expire(c->kh);
    }
    for (size_t k = 0; k < n; k++)
        if (!w[k].done) {
            w[k].status = PS_E_UNAVAIL;
            snprintf(w[k].err, sizeof(w[k].err), "stopping");
        }
}

static void on_jws(void *ctx, int status, const struct buf *jws, uint64_t seq, const char *err)
{
    struct kh_wait *w = ctx;

    (void)seq;
    w->done = 1;
    w->status = status;
    if (status == PS_OK)
        w->status = buf_append(&w->reply, jws->data, jws->len);
    else
        snprintf(w->err, sizeof(w->err), "%s", err);
}

static void on_leaf(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct kh_wait *w = ctx;

    w->done = 1;
    w->status = status;
    if (status != PS_OK)
        snprintf(w->err, sizeof(w->err), "%.*s", len > 200 ? 200 : (int)len, (const char *)p);
    else if (buf_append(&w->reply, p, len) != PS_OK)
        w->status = PS_E_NOMEM;
}

int courier_ledger_append(struct courier *c, const char *leaf, uint64_t *index, char *err,
                          size_t errlen)
{
    int64_t i = -1;

    if (courier_ledger_append_many(c, &leaf, 1, &i) != PS_OK || i < 0)
        return ps_errf(PS_E_UNAVAIL, err, errlen, "the ledger is unavailable");
    *index = (uint64_t)i;
    return PS_OK;
}

int courier_jws_sign_many(struct courier *c, const struct courier_body *payload, size_t n,
                          const char *typ, struct buf *out, int *status)
{
    struct kh_wait *w = calloc(n ? n : 1, sizeof(*w));
    char err[256];

    if (w == NULL)
        return PS_E_NOMEM;
    kh_client_set_time(c->kh, mono_now());
    for (size_t k = 0; k < n; k++) {
        buf_init(&w[k].reply, JWS_MAX_LEN);
        if (api_jws_sign_kh(c->cfg, &c->reg, c->kh, payload[k].data, payload[k].len, typ,
                            JWS_COMPACT, on_jws, &w[k], err, sizeof(err)) != PS_OK) {
            w[k].done = 1;
            w[k].status = PS_E_UNAVAIL;
            snprintf(w[k].err, sizeof(w[k].err), "%s", err);
        }
    }
    kh_wait_all(c, w, n);
    for (size_t k = 0; k < n; k++) {
        status[k] = w[k].status;
        buf_reset(&out[k]);
        if (status[k] == PS_OK)
            status[k] = buf_append(&out[k], w[k].reply.data, w[k].reply.len);
        else
            log_warnx("signing for a partner failed: %s", w[k].err);
        buf_free(&w[k].reply);
    }
    free(w);
    return PS_OK;
}

int courier_ledger_append_many(struct courier *c, const char *const *leaf, size_t n, int64_t *index)
{
    struct kh_wait *w = calloc(n ? n : 1, sizeof(*w));
    struct ipc_ledger l;

    if (w == NULL)
        return PS_E_NOMEM;
    kh_client_set_time(c->kh, mono_now());
    for (size_t k = 0; k < n; k++) {
        buf_init(&w[k].reply, IPC_MAX_PAYLOAD);
        if (kh_ledger(c->kh, IPC_LEDGER_APPEND, 0, 0, leaf[k], strlen(leaf[k]), on_leaf, &w[k]) !=
            PS_OK) {
            w[k].done = 1;
            w[k].status = PS_E_UNAVAIL;
        }
    }
    kh_wait_all(c, w, n);
    for (size_t k = 0; k < n; k++) {
        index[k] = -1;
        if (w[k].status == PS_OK &&
            ipc_ledger_reply_decode(w[k].reply.data, w[k].reply.len, &l) == PS_OK)
            index[k] = (int64_t)l.a;
        else
            log_warnx("a partner leaf was not appended to the ledger: %s",
                      w[k].err[0] ? w[k].err : "malformed reply");
        buf_free(&w[k].reply);
    }
    free(w);
    return PS_OK;
}

/* ---- link checks ---- */

static int64_t check_links(struct courier *c)
{
    json_t *all = json_object();
    char path[4096], tmp[4200];

    for (size_t i = 0; i < c->cfg->npartners; i++) {
        const struct cfg_partner *p = &c->cfg->partners[i];
        struct courier_resp r;
        const char *as = NULL;
        json_t *j = NULL;
        char why[300] = "";
        int ok = 0;

        if (p->url == NULL)
            continue;
        if (courier_request(c, i, "GET", "/v1/whoami", NULL, NULL, 0, &r) == PS_OK) {
            j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
            as = json_string_value(json_object_get(j, "partner"));
            ok = r.status == 200 && as != NULL;
            if (!ok && r.status == 200)
                snprintf(why, sizeof(why), "the partner does not see us as a partner");
        }
        if (!ok && why[0] == 0)
            courier_resp_why(&r, why, sizeof(why));
        json_object_set_new(all, p->id,
                            json_pack("{s:s,s:s,s:b,s:b,s:I,s:s?,s:I,s:s?}", "partner", p->id,
                                      "url", p->url, "checked", 1, "ok", ok, "status",
                                      (json_int_t)r.status, "as", as, "checked_at",
                                      (json_int_t)(c->now_ms / 1000), "error", ok ? NULL : why));
        json_decref(j);
        courier_resp_free(&r);
    }
    links_path(c->cfg, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(all, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0)
        log_warnx("cannot write %s", path);
    json_decref(all);
    return 10000;
}

/* ---- the process ---- */

static void on_term(int sig)
{
    (void)sig;
    C.stop = 1;
}

int64_t courier_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int load(struct courier *c, char *err, size_t errlen)
{
    int r;

    if (c->cfg->partner_cert == NULL) {
        snprintf(err, errlen, "no partner_cert is configured: no calls to partners");
        return PS_E_CONFIG;
    }
    if ((r = slurp(c->cfg->partner_cert, &C.cert, err, errlen)) != PS_OK ||
        (r = slurp(c->cfg->partner_key, &C.key, err, errlen)) != PS_OK)
        return r;
    for (size_t i = 0; i < c->cfg->npartners; i++)
        if ((r = slurp(c->cfg->partners[i].root, &C.root[i], err, errlen)) != PS_OK)
            return r;
    if (keyreg_load(c->cfg, &c->reg, err, errlen) != PS_OK ||
        partner_trust_load(c->cfg, &c->partners, err, errlen) != PS_OK)
        return PS_E_CONFIG;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl cannot start");
        return PS_E_CRYPTO;
    }
    return PS_OK;
}

int courier_main(const struct config *cfg, int ctl_fd, int kh_fd, int wake_rd)
{
    struct courier c;
    struct p2p_courier *p2p;
    struct aeo_pull *aeo;
    char err[512];
    int64_t next_links = 0, next_p2p = 0, next_aeo = 0;

    memset(&c, 0, sizeof(c));
    log_setproc("courier");
    privsep_harden();
    privsep_child_signals(on_term);
    c.cfg = cfg;
    c.ctl_fd = ctl_fd;
    if (load(&c, err, sizeof(err)) != PS_OK)
        fatalx("%s", err);
    /* partner_key is in memory: drop to the workers' user */
    if (privsep_drop(cfg->user) != PS_OK)
        fatalx("cannot drop privileges");
    if ((c.kh = kh_client_new()) == NULL)
        fatal("setup");
    kh_client_set_fd(c.kh, kh_fd);
    kh_client_set_timeouts(c.kh, cfg->keyholder_timeout, 2);
    p2p = p2p_courier_new(&c);
    aeo = aeo_pull_new(&c);
    if (privsep_sandbox_courier() != PS_OK)
        fatalx("cannot install the seccomp filter");
    log_info("running");
    while (!C.stop) {
        struct pollfd pf[2] = {{wake_rd, POLLIN, 0}, {ctl_fd, POLLIN, 0}};
        int64_t now = courier_now_ms(), next;
        char drain[256];

        c.now_ms = now;
        if (now >= next_links)
            next_links = now + check_links(&c);
        if (p2p && (c.woken || now >= next_p2p))
            next_p2p = courier_now_ms() + p2p_courier_run(p2p);
        if (aeo && (c.woken || now >= next_aeo))
            next_aeo = courier_now_ms() + aeo_pull_run(aeo);
        c.woken = 0;
        next = next_links;
        if (p2p && next_p2p < next)
            next = next_p2p;
        if (aeo && next_aeo < next)
            next = next_aeo;
        next -= courier_now_ms();
        if (next < 0)
            next = 0;
        if (poll(pf, 2, (int)(next > 60000 ? 60000 : next)) < 0 && errno != EINTR)
            fatal("poll");
        if (pf[0].revents) {
            while (read(wake_rd, drain, sizeof(drain)) > 0)
                ;
            c.woken = 1;
        }
        if (pf[1].revents)
            on_ctl(&c);
        /* keep the keyholder channel's input drained (late replies after a timeout) */
        kh_client_on_readable(c.kh);
    }
    p2p_courier_free(p2p);
    aeo_pull_free(aeo);
    for (size_t i = 0; i < CFG_MAX_PARTNERS; i++)
        if (C.m[i])
            curl_multi_cleanup(C.m[i]);
    kh_client_free(c.kh);
    log_info("stopped");
    return 0;
}
