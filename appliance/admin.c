#include "admin.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../certs/keyreg.h"
#include "admin_req.h"
#include "courier.h"
#include "log.h"
#include "worker.h"

#define ADMIN_ANSWER_MAX (4 * 1024 * 1024)
#define ADMIN_CONFIG_MAX (1024 * 1024) /* as config.c's file limit */

struct admin_client {
    int fd;
    char in[ADMIN_REQ_MAX + 2];
    size_t in_len;
    struct buf out;
    int answering;
    double deadline;
};

static struct {
    int lfd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct admin_hooks h;
    struct admin_client c[ADMIN_MAX_CLIENTS];
    double started;
} A = {.lfd = -1};

int admin_socket_path(const struct config *cfg, char *out, size_t cap)
{
    int n = cfg->admin_socket ? snprintf(out, cap, "%s", cfg->admin_socket)
                              : snprintf(out, cap, "%s/admin.sock", cfg->state_dir);

    return n > 0 && (size_t)n < cap ? PS_OK : PS_E_LIMIT;
}

static void client_close(struct admin_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_free(&c->out);
    c->in_len = 0;
    c->answering = 0;
}

int admin_open(const struct config *cfg, const struct admin_hooks *h, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old;
    int fd;

    A.h = *h;
    A.started = mono_now();
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
        A.c[i].fd = -1;
    if (admin_socket_path(cfg, A.path, sizeof(A.path)) != PS_OK)
        return ps_errf(PS_E_CONFIG, err, errlen, "admin socket path longer than %zu bytes",
                       sizeof(A.path) - 1);
    memcpy(sa.sun_path, A.path, strlen(A.path) + 1);
    if (lstat(A.path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return ps_errf(PS_E_CONFIG, err, errlen, "%s exists and is not a socket", A.path);
        /* a live socket is another daemon's; a dead one is left from an earlier run */
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
            int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

            close(fd);
            if (live)
                return ps_errf(PS_E_CONFIG, err, errlen, "%s is in use by another process", A.path);
        }
        if (unlink(A.path) != 0)
            return ps_errf(PS_E_IO, err, errlen, "cannot remove the stale %s: %s", A.path,
                           strerror(errno));
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return ps_errf(PS_E_IO, err, errlen, "socket: %s", strerror(errno));
    old = umask(0177); /* created 0600: no window with a wider mode */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        umask(old);
        close(fd);
        return ps_errf(PS_E_IO, err, errlen, "cannot bind %s: %s", A.path, strerror(errno));
    }
    umask(old);
    if (chmod(A.path, 0600) != 0 || listen(fd, 16) != 0) {
        close(fd);
        unlink(A.path);
        return ps_errf(PS_E_IO, err, errlen, "cannot listen on %s: %s", A.path, strerror(errno));
    }
    A.lfd = fd;
    log_info("admin socket %s", A.path);
    return PS_OK;
}

void admin_child_close(void)
{
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
        if (A.c[i].fd >= 0) {
            close(A.c[i].fd); /* the parent's copy answers; the child only lets go */
            A.c[i].fd = -1;
        }
    if (A.lfd >= 0)
        close(A.lfd);
    A.lfd = -1;
}

void admin_shutdown(void)
{
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
        client_close(&A.c[i]);
    if (A.lfd >= 0) {
        close(A.lfd);
        unlink(A.path);
    }
    A.lfd = -1;
}

int admin_pollfds(struct pollfd *pf, int max)
{
    int n = 0;

    if (A.lfd < 0 || max < 1)
        return 0;
    pf[n++] = (struct pollfd){A.lfd, POLLIN, 0};
    for (int i = 0; i < ADMIN_MAX_CLIENTS && n < max; i++)
        if (A.c[i].fd >= 0)
            pf[n++] = (struct pollfd){A.c[i].fd, A.c[i].answering ? POLLOUT : POLLIN, 0};
    return n;
}

/* ---- commands ---- */

static void iso_time(time_t t, char *out, size_t cap)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *keys_json(const struct config *cfg, json_t *ans)
{
    struct keyreg reg;
    char err[600], nb[32], na[32];
    json_t *a = json_array();
    time_t now = time(NULL);

    if (keyreg_load(cfg, &reg, err, sizeof(err)) != PS_OK) {
        json_object_set_new(ans, "keys_error", json_string(err));
        return a;
    }
    for (size_t i = 0; i < reg.n; i++) {
        const struct key_entry *k = &reg.keys[i];

        iso_time(k->not_before, nb, sizeof(nb));
        iso_time(k->not_after, na, sizeof(na));
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:b,s:s}", "id", k->cfg->id, "owner",
                         k->cfg->tenant, "label", k->cfg->label, "type", keytype_name(k->type),
                         "bits", (int)k->bits, "not_before", nb, "not_after", na, "cert_no",
                         k->certno, "expired", now > k->not_after, "cert", k->cfg->cert_file));
    }
    keyreg_free(&reg);
    return a;
}

static json_t *cmd_status(void)
{
    const struct config *cfg = A.h.config();
    char listen[300];
    json_t *ans;
    json_t *t = json_array(), *o = json_array(), *p = json_array();
    json_t *links = courier_links_json(cfg);

    snprintf(listen, sizeof(listen), "%s:%d", cfg->listen_host, cfg->listen_port);
    ans = json_pack("{s:b,s:i,s:f,s:s,s:s,s:s,s:s}", "ok", 1, "pid", (int)getpid(), "uptime",
                    mono_now() - A.started, "config", A.h.cfg_path, "listen", listen, "state_dir",
                    cfg->state_dir, "admin_socket", A.path);
    if (ans == NULL) {
        json_decref(t);
        json_decref(o);
        json_decref(p);
        json_decref(links);
        return NULL;
    }
    json_object_update_new(ans, A.h.children());
    json_object_set_new(ans, "keys", keys_json(cfg, ans));
    for (size_t i = 0; i < cfg->ntenants; i++) {
        const struct cfg_tenant *q = &cfg->tenants[i];

        /* sign_rate and sign_burst are null for a tenant without a limit */
        json_array_append_new(
            t, json_pack("{s:s,s:s,s:o,s:o}", "id", q->id, "cn", q->cn, "sign_rate",
                         q->sign_rate ? json_integer(q->sign_rate) : json_null(), "sign_burst",
                         q->sign_rate ? json_integer(q->sign_burst) : json_null()));
    }
    for (size_t i = 0; i < cfg->nofficers; i++)
        json_array_append_new(
            o, json_pack("{s:s,s:s}", "id", cfg->officers[i].id, "cn", cfg->officers[i].cn));
    for (size_t i = 0; i < cfg->npartners; i++) {
        const struct cfg_partner *q = &cfg->partners[i];

        json_array_append_new(p, json_pack("{s:s,s:s,s:s,s:s?,s:s,s:O?}", "id", q->id, "cn", q->cn,
                                           "root", q->root, "url", q->url, "aeo_origin",
                                           q->aeo_origin, "link", json_array_get(links, i)));
    }
    json_decref(links);
    json_object_set_new(ans, "tenants", t);
    json_object_set_new(ans, "officers", o);
    json_object_set_new(ans, "partners", p);
    return ans;
}

static json_t *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

static int read_file(const char *path, struct buf *b, struct stat *st, char *err, size_t errlen)
{
    char chunk[8192];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    buf_init(b, ADMIN_CONFIG_MAX);
    if (fd < 0 || fstat(fd, st) != 0) {
        ps_errf(PS_E_IO, err, errlen, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return PS_E_IO;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_append(b, chunk, (size_t)n) != PS_OK) {
            close(fd);
            return ps_errf(PS_E_LIMIT, err, errlen, "%s is too large", path);
        }
    close(fd);
    return n == 0 ? PS_OK : ps_errf(PS_E_IO, err, errlen, "cannot read %s", path);
}

/* path.tmp with like's mode and owner, fsync, rename over path, fsync the directory. */
static int write_file(const char *path, const void *data, size_t len, const struct stat *like,
                      char *err, size_t errlen)
{
    char tmp[4200], dir[4200];
    const char *p = data;
    int fd, dfd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return ps_errf(PS_E_LIMIT, err, errlen, "path too long");
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
        return ps_errf(PS_E_IO, err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        len -= (size_t)w;
    }
    if (fchmod(fd, like->st_mode & 07777) != 0 ||
        (fchown(fd, like->st_uid, like->st_gid) != 0 && errno != EPERM) || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    snprintf(dir, sizeof(dir), "%s", path);
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return PS_OK;
fail:
    ps_errf(PS_E_IO, err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return PS_E_IO;
}

/* A pinned partner root: a PEM file of CA certificates only. */
static int root_is_ca(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    int n = 0, bad = 0;

    if (f == NULL)
        return ps_errf(PS_E_CONFIG, err, errlen, "cannot read %s: %s", path, strerror(errno));
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        n++;
        bad |= X509_check_ca(x) == 0;
        X509_free(x);
    }
    ERR_clear_error();
    fclose(f);
    if (n == 0)
        return ps_errf(PS_E_CONFIG, err, errlen, "%s holds no PEM certificate", path);
    if (bad)
        return ps_errf(PS_E_CONFIG, err, errlen,
                       "%s holds a certificate that is not a CA (a partner's root must be)", path);
    return PS_OK;
}

/* The candidate configuration: parses and is usable, as a reload would check it. */
static int candidate_ok(const struct admin_req *rq, const struct buf *cand, char *err,
                        size_t errlen)
{
    struct config nc;
    char why[600];
    int r;

    if (rq->cmd == ADMIN_PARTNER_ADD && root_is_ca(rq->f[AF_ROOT], why, sizeof(why)) != PS_OK)
        return ps_errf(PS_E_CONFIG, err, errlen, "partner %s: %s", rq->f[AF_ID], why);
    if (config_parse((const char *)cand->data, cand->len, &nc, why, sizeof(why)) != PS_OK)
        return ps_errf(PS_E_CONFIG, err, errlen, "the new configuration would not parse: %s", why);
    r = A.h.usable(&nc, why, sizeof(why));
    config_free(&nc);
    if (r != PS_OK)
        return ps_errf(PS_E_CONFIG, err, errlen, "the new configuration would not load: %s", why);
    return PS_OK;
}

static json_t *cmd_edit(const struct admin_req *rq)
{
    struct buf old, cand;
    struct stat st;
    char err[1200], bak[4200], note[600] = "";
    json_t *ans = NULL, *before;
    int r;

    if (read_file(A.h.cfg_path, &old, &st, err, sizeof(err)) != PS_OK) {
        buf_free(&old);
        return fail("%s", err);
    }
    if (admin_req_edit(rq, (const char *)old.data, old.len, &cand, ADMIN_CONFIG_MAX, err,
                       sizeof(err)) != PS_OK ||
        candidate_ok(rq, &cand, err, sizeof(err)) != PS_OK) {
        log_warnx("admin %s %s refused: %s", rq->name, rq->f[AF_ID], err);
        ans = fail("%s; %s is unchanged", err, A.h.cfg_path);
        goto out;
    }
    snprintf(bak, sizeof(bak), "%s.bak", A.h.cfg_path);
    if (write_file(bak, old.data, old.len, &st, err, sizeof(err)) != PS_OK ||
        write_file(A.h.cfg_path, cand.data, cand.len, &st, err, sizeof(err)) != PS_OK) {
        log_warnx("admin %s %s: %s", rq->name, rq->f[AF_ID], err);
        ans = fail("%s; %s is unchanged", err, A.h.cfg_path);
        goto out;
    }
    log_info("admin %s %s: %s changed (previous version in %s); reloading", rq->name, rq->f[AF_ID],
             A.h.cfg_path, bak);
    before = A.h.children();
    r = A.h.reload(note, sizeof(note));
    ans = json_pack("{s:b,s:s,s:s,s:b,s:s,s:o}", "ok", 1, "changed", A.h.cfg_path, "backup", bak,
                    "reloaded", r == PS_OK, "note", note, "before", before);
out:
    buf_free(&old);
    buf_free(&cand);
    return ans;
}

static json_t *cmd_config_check(void)
{
    struct config nc;
    char err[600];
    int r;

    if (config_load(A.h.cfg_path, &nc, err, sizeof(err)) != PS_OK)
        return fail("%s: %s", A.h.cfg_path, err);
    r = A.h.usable(&nc, err, sizeof(err));
    config_free(&nc);
    if (r != PS_OK)
        return fail("%s: %s", A.h.cfg_path, err);
    return json_pack("{s:b,s:s}", "ok", 1, "config", A.h.cfg_path);
}

static json_t *cmd_reload(void)
{
    char note[600] = "";
    json_t *before = A.h.children();

    if (A.h.reload(note, sizeof(note)) != PS_OK) {
        json_decref(before);
        return fail("%s; the running configuration is kept", note);
    }
    return json_pack("{s:b,s:b,s:s,s:o}", "ok", 1, "reloaded", 1, "note", note, "before", before);
}

static json_t *dispatch(const char *line, size_t len)
{
    struct admin_req *rq = malloc(sizeof(*rq));
    char err[300];
    json_t *ans;

    if (rq == NULL)
        return fail("out of memory");
    if (admin_req_parse(line, len, rq, err, sizeof(err)) != PS_OK) {
        free(rq);
        return fail("%s", err);
    }
    switch (rq->cmd) {
    case ADMIN_STATUS: ans = cmd_status(); break;
    case ADMIN_RELOAD: ans = cmd_reload(); break;
    case ADMIN_CONFIG_CHECK: ans = cmd_config_check(); break;
    default: ans = cmd_edit(rq); break;
    }
    log_debug("admin %s answered", rq->name);
    free(rq);
    return ans ? ans : fail("out of memory");
}

/* ---- the clients ---- */

static void answer(struct admin_client *c, json_t *ans)
{
    char *s = json_dumps(ans, JSON_COMPACT);

    json_decref(ans);
    buf_init(&c->out, ADMIN_ANSWER_MAX);
    if (s == NULL || buf_append_str(&c->out, s) != PS_OK ||
        buf_append_str(&c->out, "\n") != PS_OK) {
        buf_reset(&c->out);
        if (buf_append_str(&c->out, "{\"ok\":false,\"error\":\"answer too large\"}\n") != PS_OK)
            c->out.len = 0;
    }
    free(s);
    c->answering = 1;
}

static void client_read(struct admin_client *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
    char *nl;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 && c->in_len == 0) {
        client_close(c);
        return;
    }
    if (n > 0)
        c->in_len += (size_t)n;
    c->in[c->in_len] = 0;
    if ((nl = memchr(c->in, '\n', c->in_len)) != NULL)
        answer(c, dispatch(c->in, (size_t)(nl - c->in)));
    else if (n <= 0) /* the client shut its side down after a line without newline */
        answer(c, dispatch(c->in, c->in_len));
    else if (c->in_len > ADMIN_REQ_MAX)
        answer(c, fail("request longer than %d bytes", ADMIN_REQ_MAX));
}

static void client_write(struct admin_client *c)
{
    ssize_t n = send(c->fd, buf_rptr(&c->out), buf_unread(&c->out), MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    buf_consume(&c->out, (size_t)n);
    if (buf_unread(&c->out) == 0)
        client_close(c);
}

static void accept_clients(void)
{
    int fd;

    while ((fd = accept4(A.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct ucred cr;
        socklen_t cl = sizeof(cr);
        int i;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
            (cr.uid != 0 && cr.uid != geteuid())) {
            log_warnx("admin socket: refused a client with uid %d (pid %d): only root may use it",
                      cl == sizeof(cr) ? (int)cr.uid : -1, cl == sizeof(cr) ? (int)cr.pid : -1);
            close(fd);
            continue;
        }
        for (i = 0; i < ADMIN_MAX_CLIENTS && A.c[i].fd >= 0; i++)
            ;
        if (i == ADMIN_MAX_CLIENTS) {
            log_warnx("admin socket: %d clients already; closing another (pid %d)",
                      ADMIN_MAX_CLIENTS, (int)cr.pid);
            close(fd);
            continue;
        }
        A.c[i].fd = fd;
        A.c[i].in_len = 0;
        A.c[i].answering = 0;
        A.c[i].deadline = mono_now() + ADMIN_TIMEOUT;
        buf_init(&A.c[i].out, ADMIN_ANSWER_MAX);
    }
}

void admin_serve(const struct pollfd *pf, int n)
{
    double now = mono_now();

    for (int k = 1; k < n; k++) {
        if (pf[k].revents == 0)
            continue;
        for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
            struct admin_client *c = &A.c[i];

            if (c->fd != pf[k].fd)
                continue;
            if (c->answering && (pf[k].revents & (POLLOUT | POLLERR | POLLHUP)))
                client_write(c);
            else if (!c->answering && (pf[k].revents & (POLLIN | POLLERR | POLLHUP)))
                client_read(c);
            break;
        }
    }
    if (n > 0 && (pf[0].revents & POLLIN))
        accept_clients();
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
        if (A.c[i].fd >= 0 && now > A.c[i].deadline) {
            log_warnx("admin socket: a client took longer than %.0f s; closed", ADMIN_TIMEOUT);
            client_close(&A.c[i]);
        }
}
