/*
 * portseald - the parent: reads the config, opens the listening socket, starts the keyholder
 * and the workers, restarts whichever dies, and stops them all on SIGTERM.
 * SIGHUP reloads: the config is read and checked again; if it is usable the keyholder and the
 * workers are restarted with it (open connections close; everything acknowledged is on disk),
 * else the error is logged and the running children keep the old one. listen and workers
 * need a full restart. The local admin socket (admin.c, the portseal CLI) is served from the
 * main loop, which polls it.
 *
 *   portseald -c FILE [-d] [-t]
 *     -d  debug log lines     -t  check the configuration (and key certificates) and exit
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../certs/keyreg.h"
#include "../certs/partner.h"
#include <openssl/rand.h>

#include "../certs/tls.h"
#include "../certs/trust.h"
#include "../hsm/keyholder.h"
#include "admin.h"
#include "config.h"
#include "courier.h"
#include "log.h"
#include "privsep.h"
#include "worker.h"

#define MAX_WORKERS 64

struct child {
    pid_t pid;
    int ctl;    /* parent end of the control socket */
    int kh_end; /* worker end of its keyholder socket, kept until the worker is forked */
    int lfd;    /* the worker's listening socket (SO_REUSEPORT: the kernel spreads clients) */
    double restart_at;
    double started; /* a child that ran over a second was no crash loop: delay reset */
    int restarts;
    int restarts_total; /* for status: exits other than a reload's */
    int reloading;      /* told to stop by a reload: its exit is no restart to count */
};

static struct {
    struct config cfg;
    const char *cfg_path;
    struct child kh;
    struct child workers[MAX_WORKERS];
    struct child courier; /* keyholder slot cfg.workers; runs when partners are configured */
    int wake[2];          /* workers write a byte to wake[1] when the courier has work */
    volatile sig_atomic_t got_term, got_chld, got_hup;
} P;

static void on_signal(int sig)
{
    if (sig == SIGCHLD)
        P.got_chld = 1;
    else if (sig == SIGHUP)
        P.got_hup = 1;
    else
        P.got_term = 1;
}

/* Everything the children will load must load: key certificates, trust anchors, partners. */
static int config_usable(const struct config *cfg, char *err, size_t errlen)
{
    struct keyreg reg;
    struct partner_trust pt;
    X509_STORE *st;
    SSL_CTX *ctx;

    if (cfg->workers > MAX_WORKERS) {
        snprintf(err, errlen, "at most %d workers", MAX_WORKERS);
        return PS_E_CONFIG;
    }
    if (keyreg_load(cfg, &reg, err, errlen) != PS_OK)
        return PS_E_CONFIG;
    keyreg_free(&reg);
    if ((st = trust_store_new(cfg->verify_ca ? cfg->verify_ca : cfg->client_ca, cfg->crl, err,
                              errlen)) == NULL)
        return PS_E_CONFIG;
    X509_STORE_free(st);
    if (partner_trust_load(cfg, &pt, err, errlen) != PS_OK)
        return PS_E_CONFIG;
    partner_trust_free(&pt);
    /* what the workers and the courier load when they start: a bad file would stop them all */
    if ((ctx = tls_server_ctx(cfg, err, errlen)) == NULL)
        return PS_E_CONFIG;
    SSL_CTX_free(ctx);
    if (cfg->partner_cert && cfg->partner_key &&
        tls_pair_check(cfg->partner_cert, cfg->partner_key, err, errlen) != PS_OK)
        return PS_E_CONFIG;
    return PS_OK;
}

/*
 * TLS session ticket keys (certs/tls.h): a new random secret at start and reload (fresh), and
 * whenever tls_ticket_lifetime seconds of CLOCK_BOOTTIME have passed, sent to every running
 * worker over its control socket; a worker forked later inherits the current and previous keys.
 * Nothing older is kept anywhere, so a worker's memory read later gives at most two lifetimes of
 * tickets, and none from before.
 */
static void tickets_turn(int fresh)
{
    static int64_t epoch = -1;
    unsigned char msg[1 + TLS_TICKET_SECRET];
    struct timespec ts;
    int64_t e;

    if (fresh) {
        tls_tickets_forget();
        epoch = -1;
    }
    if (P.cfg.tls_ticket_lifetime == 0)
        return;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    e = (int64_t)ts.tv_sec / P.cfg.tls_ticket_lifetime;
    if (e == epoch)
        return;
    msg[0] = 'T';
    if (RAND_bytes(msg + 1, TLS_TICKET_SECRET) != 1 || tls_tickets_rotate(msg + 1) != PS_OK) {
        log_warnx("TLS session tickets: no new key (RAND or HMAC failed); trying again");
        OPENSSL_cleanse(msg, sizeof(msg));
        return;
    }
    epoch = e;
    for (int i = 0; !fresh && i < P.cfg.workers; i++)
        if (P.workers[i].pid > 0 && P.workers[i].ctl >= 0 &&
            send(P.workers[i].ctl, msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL) !=
                (ssize_t)sizeof(msg))
            log_warn("worker %d: cannot pass the new TLS ticket key", i);
    OPENSSL_cleanse(msg, sizeof(msg));
}

/*
 * A listening socket with SO_REUSEPORT (one per worker). The first call (probe = 1) binds
 * once without it, so that a port another program (or a second portseald) already uses is
 * an error instead of a silently shared port.
 */
static int open_listener(const struct config *cfg, int probe)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    int fd = -1, one = 1, e;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    if ((e = getaddrinfo(cfg->listen_host, port, &hints, &res)) != 0)
        fatalx("listen %s:%s: %s", cfg->listen_host, port, gai_strerror(e));
    if (probe) {
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
            bind(fd, res->ai_addr, res->ai_addrlen) != 0)
            fatal("cannot listen on %s:%s", cfg->listen_host, port);
        close(fd);
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0)
        fatal("cannot listen on %s:%s", cfg->listen_host, port);
    freeaddrinfo(res);
    return fd;
}

static void close_if(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void send_fd(int sock, uint8_t tag, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&tag, 1};
    struct msghdr msg = {0};
    struct cmsghdr *cm;

    memset(cbuf, 0, sizeof(cbuf));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        log_warn("cannot pass a socket to a child");
}

static int courier_wanted(void)
{
    return P.cfg.npartners > 0 && P.cfg.partner_cert != NULL;
}

/* The child for keyholder slot i: a worker, or the courier after the workers. */
static struct child *slot_child(int i)
{
    return i < P.cfg.workers ? &P.workers[i] : &P.courier;
}

/* In a new child: close what belongs to the other children (keep slot `keep`'s socket). */
static void close_siblings(int keep)
{
    admin_child_close();
    close_if(&P.kh.ctl);
    for (int j = 0; j <= P.cfg.workers; j++) {
        struct child *ch = slot_child(j);

        if (j != keep) {
            close_if(&ch->kh_end);
            if (j < P.cfg.workers)
                close_if(&ch->lfd);
        }
        close_if(&ch->ctl);
    }
}

/*
 * Start the keyholder with a fresh socket for every worker (and the courier). Returns 0 when it
 * reports ready; on failure fills err with its reason.
 */
/*
 * Wait for the keyholder's "OK[ detail]" or "ERR reason" line on fd (a login can take a while
 * on a real HSM), then close fd. 0 and the detail (if ok is not NULL), or -1 and the reason.
 */
static int read_ready(int fd, char *ok, size_t oklen, char *err, size_t errlen)
{
    char line[600];
    size_t got = 0;

    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t r;

        if (poll(&pf, 1, 60000) <= 0) {
            snprintf(err, errlen, "the keyholder did not become ready within 60 s");
            break;
        }
        r = read(fd, line + got, sizeof(line) - 1 - got);
        if (r <= 0) {
            snprintf(err, errlen, "the keyholder exited during start-up");
            break;
        }
        got += (size_t)r;
        line[got] = 0;
        if (strchr(line, '\n') == NULL && got < sizeof(line) - 1)
            continue;
        close(fd);
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "OK", 2) == 0) {
            if (ok && oklen > 0) {
                const char *d = line[2] == ' ' ? line + 3 : "";
                size_t n = strnlen(d, oklen - 1);

                memcpy(ok, d, n);
                ok[n] = 0;
            }
            return 0;
        }
        snprintf(err, errlen, "%s", strncmp(line, "ERR ", 4) == 0 ? line + 4 : line);
        return -1;
    }
    close(fd);
    return -1;
}

static int start_keyholder(char *err, size_t errlen)
{
    int kh_fds[MAX_WORKERS + 1], ready[2], ctl[2], n = P.cfg.workers + courier_wanted();
    pid_t pid;

    if (pipe2(ready, O_CLOEXEC) != 0 || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ctl) != 0)
        fatal("pipe");
    for (int i = 0; i < n; i++) {
        int sp[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
            fatal("socketpair");
        kh_fds[i] = sp[0];
        close_if(&slot_child(i)->kh_end);
        slot_child(i)->kh_end = sp[1];
    }
    if ((pid = fork()) < 0)
        fatal("fork");
    if (pid == 0) {
        close(ready[0]);
        close(ctl[0]);
        close_siblings(-1);
        close_if(&P.wake[0]);
        close_if(&P.wake[1]);
        tls_tickets_forget();
        prctl(PR_SET_NAME, "ps-keyholder", 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        keyholder_main(&P.cfg, kh_fds, n, ready[1], ctl[1]);
    }
    close(ready[1]);
    close(ctl[1]);
    for (int i = 0; i < n; i++)
        close(kh_fds[i]);
    close_if(&P.kh.ctl);
    P.kh.ctl = ctl[0];
    P.kh.pid = pid;
    P.kh.started = mono_now();
    return read_ready(ready[0], NULL, 0, err, errlen);
}

/* portseald -t: the keyholder's start-up against the token, in a child (keyholder_check). */
static int check_token(char *keys, size_t keyslen, char *err, size_t errlen)
{
    int ready[2], rc, st;
    pid_t pid;

    if (pipe2(ready, O_CLOEXEC) != 0)
        fatal("pipe");
    if ((pid = fork()) < 0)
        fatal("fork");
    if (pid == 0) {
        close(ready[0]);
        keyholder_check(&P.cfg, ready[1]);
    }
    close(ready[1]);
    rc = read_ready(ready[0], keys, keyslen, err, errlen);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return rc;
}

static void start_worker(int i)
{
    int ctl[2];
    pid_t pid;

    if (P.workers[i].kh_end < 0) {
        /* the keyholder has a dead slot for this worker: give it a new socket */
        int sp[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
            fatal("socketpair");
        send_fd(P.kh.ctl, (uint8_t)i, sp[0]);
        close(sp[0]);
        P.workers[i].kh_end = sp[1];
    }
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ctl) != 0)
        fatal("socketpair");
    if ((pid = fork()) < 0)
        fatal("fork");
    if (pid == 0) {
        char name[32];
        int kh_fd = P.workers[i].kh_end;

        close(ctl[0]);
        close_siblings(i);
        close_if(&P.wake[0]);
        courier_set_wake_fd(P.wake[1]);
        snprintf(name, sizeof(name), "ps-worker%d", i & 63);
        prctl(PR_SET_NAME, name, 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        _exit(worker_main(&P.cfg, i, P.workers[i].lfd, ctl[1], kh_fd));
    }
    close(ctl[1]);
    close_if(&P.workers[i].ctl);
    close_if(&P.workers[i].kh_end); /* the worker has it now */
    P.workers[i].ctl = ctl[0];
    P.workers[i].pid = pid;
    P.workers[i].started = mono_now();
}

static void start_courier(void)
{
    int ctl[2], slot = P.cfg.workers;
    pid_t pid;

    if (P.courier.kh_end < 0) {
        int sp[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
            fatal("socketpair");
        send_fd(P.kh.ctl, (uint8_t)slot, sp[0]);
        close(sp[0]);
        P.courier.kh_end = sp[1];
    }
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ctl) != 0)
        fatal("socketpair");
    if ((pid = fork()) < 0)
        fatal("fork");
    if (pid == 0) {
        int kh_fd = P.courier.kh_end;

        close(ctl[0]);
        close_siblings(slot);
        for (int j = 0; j < P.cfg.workers; j++)
            close_if(&P.workers[j].lfd);
        close_if(&P.wake[1]);
        tls_tickets_forget();
        prctl(PR_SET_NAME, "ps-courier", 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        _exit(courier_main(&P.cfg, ctl[1], kh_fd, P.wake[0]));
    }
    close(ctl[1]);
    close_if(&P.courier.ctl);
    close_if(&P.courier.kh_end);
    P.courier.ctl = ctl[0];
    P.courier.pid = pid;
    P.courier.started = mono_now();
}

/* After a keyholder restart: hand each running worker (and the courier) its new socket. */
static void rewire_workers(void)
{
    for (int i = 0; i <= P.cfg.workers; i++) {
        struct child *ch = slot_child(i);

        if (ch->pid > 0 && ch->kh_end >= 0) {
            send_fd(ch->ctl, 'K', ch->kh_end);
            close_if(&ch->kh_end);
        }
    }
}

static double backoff(int restarts)
{
    double d = 0.2;

    for (int i = 0; i < restarts && d < 30; i++)
        d *= 2;
    return d > 30 ? 30 : d;
}

/* A child ended: schedule its restart (backoff grows while it keeps dying within a second). */
static void child_ended(struct child *ch, const char *who, const char *how)
{
    log_warnx("%s %s; restarting it", who, how);
    ch->pid = 0;
    if (mono_now() - ch->started > 1)
        ch->restarts = 0;
    ch->restart_at = mono_now() + backoff(ch->restarts++);
    ch->restarts_total += !ch->reloading;
    ch->reloading = 0;
}

static void reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char how[64], who[32];

        if (WIFSIGNALED(status))
            snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
        if (pid == P.kh.pid) {
            child_ended(&P.kh, "keyholder", how);
            continue;
        }
        if (pid == P.courier.pid) {
            child_ended(&P.courier, "courier", how);
            continue;
        }
        for (int i = 0; i < P.cfg.workers; i++)
            if (P.workers[i].pid == pid) {
                snprintf(who, sizeof(who), "worker %d", i);
                child_ended(&P.workers[i], who, how);
            }
    }
}

static void restart_due(void)
{
    double now = mono_now();
    char err[600];

    if (P.kh.pid == 0 && now >= P.kh.restart_at) {
        if (start_keyholder(err, sizeof(err)) == 0) {
            log_info("keyholder restarted");
            P.kh.restarts = 0;
            rewire_workers();
        } else {
            log_warnx("keyholder restart failed: %s", err);
            if (P.kh.pid > 0)
                kill(P.kh.pid, SIGKILL);
        }
    }
    for (int i = 0; i < P.cfg.workers; i++)
        if (P.workers[i].pid == 0 && P.kh.pid > 0 && now >= P.workers[i].restart_at) {
            start_worker(i);
            log_info("worker %d restarted", i);
        }
    if (courier_wanted() && P.courier.pid == 0 && P.kh.pid > 0 && now >= P.courier.restart_at) {
        start_courier();
        log_info("courier started");
    }
}

static void stop_all(void)
{
    double deadline = mono_now() + 10;
    int alive;

    for (int i = 0; i < P.cfg.workers; i++)
        if (P.workers[i].pid > 0)
            kill(P.workers[i].pid, SIGTERM);
    if (P.courier.pid > 0)
        kill(P.courier.pid, SIGTERM);
    do {
        alive = 0;
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        for (int i = 0; i < P.cfg.workers; i++)
            if (P.workers[i].pid > 0 && kill(P.workers[i].pid, 0) == 0 &&
                waitpid(P.workers[i].pid, NULL, WNOHANG) == 0)
                alive++;
        if (P.courier.pid > 0 && kill(P.courier.pid, 0) == 0 &&
            waitpid(P.courier.pid, NULL, WNOHANG) == 0)
            alive++;
        if (alive)
            usleep(50000);
    } while (alive && mono_now() < deadline);
    for (int i = 0; i < P.cfg.workers; i++)
        if (P.workers[i].pid > 0)
            kill(P.workers[i].pid, SIGKILL);
    if (P.courier.pid > 0)
        kill(P.courier.pid, SIGKILL);
    /* the keyholder last: workers may still be waiting for signatures */
    if (P.kh.pid > 0) {
        kill(P.kh.pid, SIGTERM);
        for (int i = 0; i < 100 && waitpid(P.kh.pid, NULL, WNOHANG) == 0; i++)
            usleep(50000);
        kill(P.kh.pid, SIGKILL);
    }
    while (waitpid(-1, NULL, 0) > 0)
        ;
}

/*
 * Read and check the configuration again and restart the children with it. Returns 0 when it
 * was taken (note: what was not, or ""), else -1 with the reason in note (the running
 * configuration stays). SIGHUP and the admin socket's reload both come here.
 */
static int reload(char *note, size_t notelen)
{
    struct config nc;
    char err[600], path[4096], npath[4096];

    note[0] = 0;
    if (config_load(P.cfg_path, &nc, err, sizeof(err)) != PS_OK) {
        log_warnx("reload: %s: %s; keeping the running configuration", P.cfg_path, err);
        snprintf(note, notelen, "%s: %s", P.cfg_path, err);
        return -1;
    }
    if (config_usable(&nc, err, sizeof(err)) != PS_OK) {
        log_warnx("reload: %s; keeping the running configuration", err);
        snprintf(note, notelen, "%s", err);
        config_free(&nc);
        return -1;
    }
    if (admin_socket_path(&nc, npath, sizeof(npath)) != PS_OK ||
        admin_socket_path(&P.cfg, path, sizeof(path)) != PS_OK || strcmp(path, npath) != 0) {
        log_warnx("reload: admin_socket changes need a restart; keeping %s", path);
        snprintf(note, notelen, "admin_socket changes need a restart; ");
    }
    if (nc.workers != P.cfg.workers || nc.listen_port != P.cfg.listen_port ||
        strcmp(nc.listen_host, P.cfg.listen_host) != 0) {
        log_warnx("reload: listen and workers changes need a restart; keeping the old ones");
        snprintf(note + strlen(note), notelen - strlen(note),
                 "listen and workers changes need a restart");
        nc.workers = P.cfg.workers;
        nc.listen_port = P.cfg.listen_port;
        free(nc.listen_host);
        nc.listen_host = P.cfg.listen_host;
        P.cfg.listen_host = NULL;
    }
    config_free(&P.cfg);
    P.cfg = nc;      /* children forked from now on get it */
    tickets_turn(1); /* no ticket outlives a reload (it may bring a new CRL) */
    log_set_json(strcmp(P.cfg.log_format, "json") == 0);
    log_info("reload: configuration read again; restarting the keyholder and the workers");
    for (int i = 0; i < P.cfg.workers; i++)
        if (P.workers[i].pid > 0 && kill(P.workers[i].pid, SIGTERM) == 0)
            P.workers[i].reloading = 1;
    if (P.courier.pid > 0 && kill(P.courier.pid, SIGTERM) == 0)
        P.courier.reloading = 1;
    if (P.kh.pid > 0 && kill(P.kh.pid, SIGTERM) == 0)
        P.kh.reloading = 1;
    return 0;
}

/* ---- what the admin socket asks of the parent ---- */

static const struct config *hook_config(void)
{
    return &P.cfg;
}

static json_t *child_json(const struct child *c)
{
    return json_pack("{s:i,s:i,s:f}", "pid", (int)c->pid, "restarts", c->restarts_total, "up",
                     c->pid > 0 ? mono_now() - c->started : 0.0);
}

static json_t *hook_children(void)
{
    json_t *w = json_array();

    for (int i = 0; i < P.cfg.workers; i++)
        json_array_append_new(w, child_json(&P.workers[i]));
    return json_pack("{s:o,s:o,s:o}", "keyholder", child_json(&P.kh), "workers", w, "courier",
                     courier_wanted() ? child_json(&P.courier) : json_null());
}

static void write_pidfile(void)
{
    char tmp[4096];
    FILE *f;

    if (P.cfg.pid_file == NULL)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", P.cfg.pid_file);
    if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 ||
        rename(tmp, P.cfg.pid_file) != 0)
        fatal("cannot write pid file %s", P.cfg.pid_file);
}

/*
 * state_dir/NAME: the workers' own storage (evidence bundles and their index), owned by the
 * unprivileged user they run as, mode 0700. The keyholder's audit database stays root's.
 */
static void worker_dir(const char *name)
{
    char path[4096];
    struct passwd *pw;

    snprintf(path, sizeof(path), "%s/%s", P.cfg.state_dir, name);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        fatal("cannot create %s", path);
    if (geteuid() == 0 && P.cfg.user && (pw = getpwnam(P.cfg.user)) != NULL &&
        chown(path, pw->pw_uid, pw->pw_gid) != 0)
        fatal("cannot give %s to %s", path, P.cfg.user);
}

static void usage(void)
{
    fprintf(stderr, "usage: portseald -c CONFIG [-d] [-t]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    char err[600];
    int ch, debug = 0, test_only = 0;

    while ((ch = getopt(argc, argv, "c:dt")) != -1) {
        switch (ch) {
        case 'c': P.cfg_path = optarg; break;
        case 'd': debug = 1; break;
        case 't': test_only = 1; break;
        default: usage();
        }
    }
    if (P.cfg_path == NULL)
        usage();
    log_init("portseald", debug);
    if (config_load(P.cfg_path, &P.cfg, err, sizeof(err)) != PS_OK)
        fatalx("%s: %s", P.cfg_path, err);
    if (config_usable(&P.cfg, err, sizeof(err)) != PS_OK)
        fatalx("%s", err);
    log_set_json(strcmp(P.cfg.log_format, "json") == 0); /* inherited by the children */
    privsep_nodump(); /* the TLS ticket keys (tickets_turn) are secrets */
    if (test_only) {
        char keys[64] = "";

        if (check_token(keys, sizeof(keys), err, sizeof(err)) != 0)
            fatalx("%s", err);
        printf("configuration %s is valid; token %s: logged in, %s keys match their "
               "certificates\n",
               P.cfg_path, P.cfg.pkcs11_token, keys);
        return 0;
    }
    /* Nothing we write is for other users: the audit database, the pid file, the stores.
     * state_dir itself is 0711 (traversable, not listable) so that the workers' user reaches
     * its own folders in it; the keyholder's files stay 0600 root. */
    umask(077);
    if (mkdir(P.cfg.state_dir, 0711) != 0 && errno != EEXIST)
        fatal("cannot create state_dir %s", P.cfg.state_dir);
    worker_dir("evidence");
    worker_dir("aeo");
    worker_dir("p2p");
    worker_dir("courier");
    if (pipe2(P.wake, O_CLOEXEC | O_NONBLOCK) != 0)
        fatal("pipe");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    tickets_turn(1); /* the workers get the keys through fork */
    P.kh.ctl = P.courier.ctl = P.courier.kh_end = -1;
    for (int i = 0; i < MAX_WORKERS; i++) {
        P.workers[i].ctl = P.workers[i].kh_end = -1;
        P.workers[i].lfd = i < P.cfg.workers ? open_listener(&P.cfg, i == 0) : -1;
    }
    if (start_keyholder(err, sizeof(err)) != 0) {
        if (P.kh.pid > 0) {
            kill(P.kh.pid, SIGKILL);
            waitpid(P.kh.pid, NULL, 0);
        }
        fatalx("cannot start: %s", err);
    }
    for (int i = 0; i < P.cfg.workers; i++)
        start_worker(i);
    if (courier_wanted())
        start_courier();
    {
        static const struct admin_hooks hooks = {NULL, hook_config, config_usable, reload,
                                                 hook_children};
        struct admin_hooks h = hooks;

        h.cfg_path = P.cfg_path;
        if (admin_open(&P.cfg, &h, err, sizeof(err)) != PS_OK) {
            stop_all();
            fatalx("cannot start: %s", err);
        }
    }
    write_pidfile();
    log_info("listening on %s:%d with %d workers", P.cfg.listen_host, P.cfg.listen_port,
             P.cfg.workers);

    while (!P.got_term) {
        struct pollfd pf[1 + ADMIN_MAX_CLIENTS];
        int n = admin_pollfds(pf, 1 + ADMIN_MAX_CLIENTS);

        /* signals interrupt the poll; 100 ms bounds the wait for the restart timers */
        if (poll(pf, (nfds_t)n, 100) <= 0)
            n = 0;
        admin_serve(pf, n);
        if (P.got_chld) {
            P.got_chld = 0;
            reap();
        }
        if (P.got_hup) {
            char note[600];

            P.got_hup = 0;
            (void)reload(note, sizeof(note));
        }
        tickets_turn(0);
        restart_due();
    }
    log_info("stopping");
    admin_shutdown();
    stop_all();
    if (P.cfg.pid_file)
        unlink(P.cfg.pid_file);
    config_free(&P.cfg);
    return 0;
}
