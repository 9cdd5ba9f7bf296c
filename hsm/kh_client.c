#include "kh_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../appliance/log.h"
#include "ipc.h"

#define KH_SLOTS 65536 /* requests in flight per worker, at most */

struct kh_slot {
    kh_cb cb; /* NULL once the request timed out: its late reply is dropped */
    void *ctx;
    double deadline; /* monotonic seconds; the request fails with PS_E_AGAIN after it */
    uint16_t gen;
    uint16_t type;
    int used;
};

struct kh_client {
    int fd;
    struct buf out, in;
    struct kh_slot *slots;
    uint32_t *free_list;
    size_t nfree;
    size_t pending;
    double now; /* set by the event loop each turn */
    double sign_timeout, status_timeout;
};

struct kh_client *kh_client_new(void)
{
    struct kh_client *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->slots = calloc(KH_SLOTS, sizeof(*c->slots));
    c->free_list = malloc(KH_SLOTS * sizeof(*c->free_list));
    if (c->slots == NULL || c->free_list == NULL) {
        kh_client_free(c);
        return NULL;
    }
    for (uint32_t i = 0; i < KH_SLOTS; i++)
        c->free_list[i] = KH_SLOTS - 1 - i;
    c->nfree = KH_SLOTS;
    c->fd = -1;
    c->sign_timeout = 30;
    c->status_timeout = 2;
    buf_init(&c->out, 64 * 1024 * 1024);
    buf_init(&c->in, IPC_MAX_PAYLOAD + IPC_HDR_LEN + 65536);
    return c;
}

/* Fail every pending request; callbacks may queue new requests (they fail fast). */
static void fail_all(struct kh_client *c, int err, const char *msg)
{
    for (uint32_t i = 0; i < KH_SLOTS && c->pending; i++) {
        struct kh_slot *s = &c->slots[i];

        if (!s->used)
            continue;
        s->used = 0;
        s->gen++;
        c->free_list[c->nfree++] = i;
        c->pending--;
        if (s->cb)
            s->cb(s->ctx, err, (const uint8_t *)msg, strlen(msg));
    }
}

void kh_client_free(struct kh_client *c)
{
    if (c == NULL)
        return;
    if (c->slots && c->free_list)
        fail_all(c, PS_E_UNAVAIL, "worker shutting down");
    if (c->fd >= 0)
        close(c->fd);
    buf_free(&c->out);
    buf_free(&c->in);
    free(c->slots);
    free(c->free_list);
    free(c);
}

void kh_client_set_fd(struct kh_client *c, int fd)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_reset(&c->out);
    buf_reset(&c->in);
    fail_all(c, PS_E_UNAVAIL, "keyholder restarted");
    c->fd = fd;
}

int kh_client_fd(const struct kh_client *c)
{
    return c->fd;
}

int kh_client_connected(const struct kh_client *c)
{
    return c->fd >= 0;
}

size_t kh_client_pending(const struct kh_client *c)
{
    return c->pending;
}

void kh_client_set_time(struct kh_client *c, double now)
{
    c->now = now;
}

void kh_client_set_timeouts(struct kh_client *c, double sign, double status)
{
    c->sign_timeout = sign;
    c->status_timeout = status;
}

void kh_client_expire(struct kh_client *c)
{
    static const char msg[] = "the keyholder did not answer in time";
    size_t seen = 0;

    /* every used slot counts in pending: stop after the last one (not 64 Ki slots a second) */
    for (uint32_t i = 0; i < KH_SLOTS && seen < c->pending; i++) {
        struct kh_slot *s = &c->slots[i];
        kh_cb cb = s->cb;

        if (!s->used)
            continue;
        seen++;
        if (cb == NULL || c->now < s->deadline)
            continue;
        s->cb = NULL; /* the slot stays taken until the reply comes, if ever */
        cb(s->ctx, PS_E_AGAIN, (const uint8_t *)msg, sizeof(msg) - 1);
    }
}

static int slot_take(struct kh_client *c, kh_cb cb, void *ctx, uint16_t type, uint32_t *id)
{
    uint32_t i;

    if (c->fd < 0)
        return PS_E_UNAVAIL;
    if (c->nfree == 0)
        return PS_E_LIMIT;
    i = c->free_list[--c->nfree];
    c->slots[i].cb = cb;
    c->slots[i].ctx = ctx;
    c->slots[i].type = type;
    c->slots[i].used = 1;
    c->slots[i].deadline = c->now + (type == IPC_STATUS ? c->status_timeout : c->sign_timeout);
    c->pending++;
    *id = (uint32_t)c->slots[i].gen << 16 | i;
    return PS_OK;
}

static void slot_give_back(struct kh_client *c, uint32_t id)
{
    struct kh_slot *s = &c->slots[id & 0xffff];

    s->used = 0;
    s->gen++;
    c->free_list[c->nfree++] = id & 0xffff;
    c->pending--;
}

int kh_sign(struct kh_client *c, const char *tenant, const char *key, enum ps_alg alg,
            const uint8_t *const *digests, const uint8_t *dlens, uint16_t count, kh_cb cb,
            void *ctx)
{
    uint32_t id;
    int r;

    if ((r = slot_take(c, cb, ctx, IPC_SIGN, &id)) != PS_OK)
        return r;
    if ((r = ipc_sign_req_encode(&c->out, id, tenant, key, (uint8_t)alg, 0, digests, dlens,
                                 count)) != PS_OK)
        slot_give_back(c, id);
    return r;
}

int kh_status(struct kh_client *c, kh_cb cb, void *ctx)
{
    uint32_t id;
    int r;

    if ((r = slot_take(c, cb, ctx, IPC_STATUS, &id)) != PS_OK)
        return r;
    if ((r = ipc_frame_append(&c->out, id, IPC_STATUS, 0, NULL, 0)) != PS_OK)
        slot_give_back(c, id);
    return r;
}

int kh_ledger(struct kh_client *c, uint8_t op, uint64_t a, uint64_t b, const void *text, size_t len,
              kh_cb cb, void *ctx)
{
    uint32_t id;
    int r;

    if ((r = slot_take(c, cb, ctx, IPC_LEDGER, &id)) != PS_OK)
        return r;
    if ((r = ipc_ledger_req_encode(&c->out, id, op, a, b, text, len)) != PS_OK)
        slot_give_back(c, id);
    return r;
}

static void lost(struct kh_client *c, const char *why)
{
    log_warnx("keyholder channel lost: %s", why);
    close(c->fd);
    c->fd = -1;
    buf_reset(&c->out);
    buf_reset(&c->in);
    fail_all(c, PS_E_UNAVAIL, "keyholder unavailable");
}

int kh_client_flush(struct kh_client *c)
{
    while (c->fd >= 0 && buf_unread(&c->out)) {
        ssize_t n =
            send(c->fd, buf_rptr(&c->out), buf_unread(&c->out), MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 1;
        if (n <= 0) {
            lost(c, strerror(errno));
            return 0;
        }
        buf_consume(&c->out, (size_t)n);
    }
    return 0;
}

void kh_client_on_readable(struct kh_client *c)
{
    uint8_t chunk[65536];
    ssize_t n;

    while (c->fd >= 0) {
        n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            lost(c, n == 0 ? "keyholder closed it" : strerror(errno));
            return;
        }
        if (buf_append(&c->in, chunk, (size_t)n) != PS_OK) {
            lost(c, "reply too large");
            return;
        }
        while (buf_unread(&c->in) >= IPC_HDR_LEN) {
            struct ipc_hdr h;
            struct kh_slot *s;
            const uint8_t *payload;

            if (ipc_hdr_decode(buf_rptr(&c->in), &h) != PS_OK) {
                lost(c, "malformed reply");
                return;
            }
            if (buf_unread(&c->in) < IPC_HDR_LEN + (size_t)h.len)
                break;
            s = &c->slots[h.id & 0xffff];
            if (!s->used || s->gen != (h.id >> 16) || s->type != h.type) {
                lost(c, "reply to no request");
                return;
            }
            payload = buf_rptr(&c->in) + IPC_HDR_LEN;
            {
                kh_cb cb = s->cb;
                void *ctx = s->ctx;

                slot_give_back(c, h.id);
                if (cb)
                    cb(ctx, h.status ? -(int)h.status : PS_OK, payload, h.len);
            }
            if (c->fd < 0)
                return;
            buf_consume(&c->in, IPC_HDR_LEN + h.len);
        }
    }
}
