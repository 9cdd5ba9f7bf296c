/*
 * worker.c - a worker's event loop: accept, TLS/HTTP/2 connections, the keyholder channel,
 * and the control channel from the parent (which hands over a new keyholder socket after a
 * keyholder restart).
 */
#include "worker.h"
#include "api.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../certs/tls.h"
#include "addrtab.h"
#include "../protocol/ceb.h"
#include "../certs/trust.h"
#include "conn.h"
#include "log.h"
#include "privsep.h"
#include "ratelimit.h"

const double lat_bounds[LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    5};

static volatile sig_atomic_t stopping;
static struct ev_item ev_listen = {EV_LISTEN}, ev_ctl = {EV_CTL}, ev_kh = {EV_KH};

double mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

static void kh_watch(struct worker *w, int op)
{
    struct epoll_event ev = {EPOLLIN | (w->kh_wants_out ? EPOLLOUT : 0), {.ptr = &ev_kh}};

    if (kh_client_fd(w->kh) >= 0 && epoll_ctl(w->ep, op, kh_client_fd(w->kh), &ev) != 0)
        log_warn("epoll_ctl keyholder");
}

/* A message from the parent: a new keyholder socket (SCM_RIGHTS), or a new TLS ticket key. */
static int on_ctl(struct worker *w)
{
    unsigned char m[1 + TLS_TICKET_SECRET];
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {m, sizeof(m)};
    struct msghdr msg = {0};
    struct cmsghdr *cm;
    ssize_t n;
    int fd = -1;

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    n = recvmsg(w->ctl, &msg, MSG_CMSG_CLOEXEC);
    if (n == 0)
        return -1; /* parent gone */
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    if (m[0] == 'T' && n == (ssize_t)sizeof(m)) {
        if (tls_tickets_rotate(m + 1) != PS_OK)
            log_warnx("TLS session tickets: the new key could not be set");
        OPENSSL_cleanse(m, sizeof(m));
    } else if (m[0] == 'K' && fd >= 0) {
        if (kh_client_fd(w->kh) >= 0)
            epoll_ctl(w->ep, EPOLL_CTL_DEL, kh_client_fd(w->kh), NULL);
        kh_client_set_fd(w->kh, fd);
        w->kh_wants_out = 0;
        kh_watch(w, EPOLL_CTL_ADD);
        log_info("keyholder channel re-established");
    } else if (fd >= 0) {
        close(fd);
    }
    return 0;
}

static void on_accept(struct worker *w)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept");
            return;
        }
        conn_new(w, fd);
    }
}

/* Send what requests the loop turn queued, in one write where possible. */
static void kh_flush(struct worker *w)
{
    int fd = kh_client_fd(w->kh), want;

    if (fd < 0)
        return;
    want = kh_client_flush(w->kh);
    if (kh_client_fd(w->kh) < 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
        return;
    }
    if (want != w->kh_wants_out) {
        w->kh_wants_out = want;
        kh_watch(w, EPOLL_CTL_MOD);
    }
}

static void loop(struct worker *w)
{
    struct epoll_event evs[256];
    double next_sweep = mono_now() + 1, stop_deadline = 0, next_tick = 0;

    while (!stopping || (kh_client_pending(w->kh) > 0 && mono_now() < stop_deadline)) {
        int n = epoll_wait(w->ep, evs, 256, 250);

        if (stopping && stop_deadline == 0) {
            stop_deadline = mono_now() + 5;
            epoll_ctl(w->ep, EPOLL_CTL_DEL, w->lfd, NULL);
        }
        if (n < 0 && errno != EINTR)
            fatal("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct ev_item *it = evs[i].data.ptr;

            switch (it->kind) {
            case EV_LISTEN: on_accept(w); break;
            case EV_CTL:
                if (on_ctl(w) < 0) {
                    log_info("parent is gone; stopping");
                    stopping = 1;
                }
                break;
            case EV_KH: {
                int fd = kh_client_fd(w->kh);

                if (evs[i].events & EPOLLOUT)
                    kh_flush(w);
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    kh_client_on_readable(w->kh);
                if (kh_client_fd(w->kh) < 0 && fd >= 0)
                    epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
                break;
            }
            case EV_CONN: conn_on_event((struct conn *)it, evs[i].events); break;
            }
            conn_flush_queued(w);
        }
        kh_flush(w);
        conn_flush_queued(w);
        kh_client_set_time(w->kh, mono_now());
        if (mono_now() >= next_sweep) {
            kh_client_expire(w->kh);
            conn_sweep(w, mono_now());
            conn_flush_queued(w);
            next_sweep = mono_now() + 1;
        }
        if (mono_now() >= next_tick) { /* GET /v1/p2p/stream: news from the shared store */
            api_p2p_stream_tick(w);
            conn_flush_queued(w);
            next_tick = mono_now() + 0.2;
        }
        conn_reap(w);
    }
    conn_close_all(w);
}

/*
 * File descriptors: raise the soft limit as far as allowed (root may raise the hard one), and
 * keep the connection cap below it, so that accept never fails with EMFILE (a listening
 * socket that stays readable would spin the loop). Call before dropping privileges.
 */
static unsigned conn_cap(const struct config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->max_connections + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return cfg->max_connections;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        struct rlimit up = {want, want};

        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= want)
        return cfg->max_connections;
    log_warnx("RLIMIT_NOFILE is %llu: at most %llu connections per worker, not %u",
              (unsigned long long)rl.rlim_cur,
              rl.rlim_cur > 64 ? (unsigned long long)rl.rlim_cur - 64 : 1ULL, cfg->max_connections);
    return rl.rlim_cur > 64 ? (unsigned)(rl.rlim_cur - 64) : 1;
}

int worker_main(const struct config *cfg, int id, int lfd, int ctl_fd, int kh_fd)
{
    struct worker w;
    struct epoll_event ev;
    char name[32], err[512];

    memset(&w, 0, sizeof(w));
    /* Buffers freed after a request (TLS records, bodies, replies) stay in the heap for the
     * next one instead of going back to the kernel and being faulted in again, zeroed: that
     * was 1.5 page faults per 5 KB CEB document. At most 8 MiB of free heap stays per worker. */
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    snprintf(name, sizeof(name), "worker%d", id);
    log_setproc(name);
    privsep_harden();
    privsep_child_signals(on_term);
    w.cfg = cfg;
    w.id = id;
    w.lfd = lfd;
    w.ctl = ctl_fd;
    w.conn_cap = conn_cap(cfg);
    if ((w.rl = rl_table_new(4096)) == NULL || (w.conn_rl = rl_table_new(4096)) == NULL)
        fatal("rate limit table");
    if (cfg->max_connections_per_address > 0 && (w.addrs = addrtab_new(w.conn_cap + 1)) == NULL)
        fatal("connections per address table");
    if ((w.ssl = tls_server_ctx(cfg, err, sizeof(err))) == NULL)
        fatalx("%s", err);
    if (keyreg_load(cfg, &w.reg, err, sizeof(err)) != PS_OK)
        fatalx("%s", err);
    if ((w.doc_trust = trust_store_new(cfg->verify_ca ? cfg->verify_ca : cfg->client_ca, cfg->crl,
                                       err, sizeof(err))) == NULL)
        fatalx("%s", err);
    if (partner_trust_load(cfg, &w.partners, err, sizeof(err)) != PS_OK)
        fatalx("%s", err);
    /* everything secret-ish (the TLS key) is loaded: drop to the unprivileged user */
    if (privsep_drop(cfg->user) != PS_OK)
        fatalx("cannot drop privileges");
    api_evidence_init(&w);
    if ((w.kh = kh_client_new()) == NULL || (w.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        fatal("setup");
    kh_client_set_fd(w.kh, kh_fd);
    kh_client_set_timeouts(w.kh, cfg->keyholder_timeout, 2);
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = &ev_listen;
    if (epoll_ctl(w.ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
        fatal("epoll_ctl listen");
    ev.events = EPOLLIN;
    ev.data.ptr = &ev_ctl;
    if (epoll_ctl(w.ep, EPOLL_CTL_ADD, ctl_fd, &ev) != 0)
        fatal("epoll_ctl ctl");
    kh_watch(&w, EPOLL_CTL_ADD);
    ceb_library_init();
    if (privsep_sandbox_worker() != PS_OK)
        fatalx("cannot install the seccomp filter");
    log_info("serving");
    loop(&w);
    kh_client_free(w.kh);
    rl_table_free(w.rl);
    rl_table_free(w.conn_rl);
    addrtab_free(w.addrs);
    keyreg_free(&w.reg);
    X509_STORE_free(w.doc_trust);
    SSL_CTX_free(w.ssl);
    log_info("stopped");
    return 0;
}
