#include "ipc.h"

#include <stdlib.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

void ipc_hdr_encode(uint8_t out[IPC_HDR_LEN], const struct ipc_hdr *h)
{
    put32(out, h->len);
    put32(out + 4, h->id);
    put16(out + 8, h->type);
    put16(out + 10, h->status);
}

int ipc_hdr_decode(const uint8_t in[IPC_HDR_LEN], struct ipc_hdr *h)
{
    h->len = get32(in);
    h->id = get32(in + 4);
    h->type = get16(in + 8);
    h->status = get16(in + 10);
    if (h->len > IPC_MAX_PAYLOAD ||
        (h->type != IPC_SIGN && h->type != IPC_STATUS && h->type != IPC_LEDGER))
        return PS_E_INVAL;
    return PS_OK;
}

int ipc_frame_append(struct buf *b, uint32_t id, uint16_t type, uint16_t status,
                     const void *payload, size_t len)
{
    struct ipc_hdr h = {(uint32_t)len, id, type, status};
    uint8_t hb[IPC_HDR_LEN];
    size_t mark = b->len;
    int r;

    if (len > IPC_MAX_PAYLOAD)
        return PS_E_LIMIT;
    ipc_hdr_encode(hb, &h);
    if ((r = buf_append(b, hb, sizeof(hb))) != PS_OK)
        return r;
    if ((r = buf_append(b, payload, len)) != PS_OK) {
        b->len = mark;
        return r;
    }
    return PS_OK;
}

static int put_id(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    uint8_t l = (uint8_t)n;
    int r;

    if (n == 0 || n > IPC_MAX_ID)
        return PS_E_INVAL;
    if ((r = buf_append(b, &l, 1)) != PS_OK)
        return r;
    return buf_append(b, s, n);
}

int ipc_sign_req_encode(struct buf *b, uint32_t id, const char *tenant, const char *key,
                        uint8_t alg, uint8_t flags, const uint8_t *const *digests,
                        const uint8_t *dlens, uint16_t count)
{
    size_t mark = b->len, start;
    uint8_t hb[IPC_HDR_LEN] = {0}, tail[4] = {alg, flags, 0, 0};
    int r;

    if (count == 0 || count > IPC_MAX_DIGESTS)
        return PS_E_INVAL;
    if ((r = buf_append(b, hb, sizeof(hb))) != PS_OK)
        return r;
    start = b->len;
    put16(tail + 2, count);
    if ((r = put_id(b, tenant)) != PS_OK || (r = put_id(b, key)) != PS_OK ||
        (r = buf_append(b, tail, sizeof(tail))) != PS_OK)
        goto fail;
    for (uint16_t i = 0; i < count; i++) {
        if (dlens[i] == 0 || dlens[i] > IPC_MAX_DIGEST) {
            r = PS_E_INVAL;
            goto fail;
        }
        if ((r = buf_append(b, &dlens[i], 1)) != PS_OK ||
            (r = buf_append(b, digests[i], dlens[i])) != PS_OK)
            goto fail;
    }
    {
        struct ipc_hdr h = {(uint32_t)(b->len - start), id, IPC_SIGN, 0};

        if (h.len > IPC_MAX_PAYLOAD) {
            r = PS_E_LIMIT;
            goto fail;
        }
        ipc_hdr_encode(b->data + mark, &h);
    }
    return PS_OK;
fail:
    b->len = mark;
    return r;
}

static int get_id(const uint8_t **p, const uint8_t *end, char *out)
{
    uint8_t n;

    if (*p >= end)
        return PS_E_INVAL;
    n = **p;
    if (n == 0 || n > IPC_MAX_ID || (size_t)(end - *p - 1) < n)
        return PS_E_INVAL;
    memcpy(out, *p + 1, n);
    out[n] = 0;
    if (strlen(out) != n)
        return PS_E_INVAL;
    *p += 1 + n;
    return PS_OK;
}

int ipc_sign_req_decode(const uint8_t *p, size_t len, struct ipc_sign_req *r)
{
    const uint8_t *end = p + len;

    memset(r, 0, sizeof(*r));
    if (get_id(&p, end, r->tenant) != PS_OK || get_id(&p, end, r->key) != PS_OK || end - p < 4)
        return PS_E_INVAL;
    r->alg = p[0];
    r->flags = p[1];
    r->count = get16(p + 2);
    p += 4;
    if (r->count == 0 || r->count > IPC_MAX_DIGESTS)
        return PS_E_INVAL;
    if ((r->digests = calloc(r->count, sizeof(*r->digests))) == NULL)
        return PS_E_NOMEM;
    for (uint16_t i = 0; i < r->count; i++) {
        if (p >= end || p[0] == 0 || p[0] > IPC_MAX_DIGEST || (size_t)(end - p - 1) < p[0])
            goto bad;
        r->digests[i].len = p[0];
        r->digests[i].p = p + 1;
        p += 1 + p[0];
    }
    if (p != end)
        goto bad;
    return PS_OK;
bad:
    free(r->digests);
    r->digests = NULL;
    return PS_E_INVAL;
}

int ipc_sign_reply_begin(struct buf *b, uint32_t id, uint64_t first_seq, uint16_t count,
                         size_t *start)
{
    uint8_t hb[IPC_HDR_LEN + 10];
    struct ipc_hdr h = {0, id, IPC_SIGN, 0};

    ipc_hdr_encode(hb, &h);
    put32(hb + IPC_HDR_LEN, (uint32_t)(first_seq >> 32));
    put32(hb + IPC_HDR_LEN + 4, (uint32_t)first_seq);
    put16(hb + IPC_HDR_LEN + 8, count);
    *start = b->len;
    return buf_append(b, hb, sizeof(hb));
}

int ipc_sign_reply_add(struct buf *b, const uint8_t *sig, size_t len)
{
    uint8_t l[2];
    int r;

    if (len > IPC_MAX_SIG)
        return PS_E_INVAL;
    put16(l, (uint16_t)len);
    if ((r = buf_append(b, l, 2)) != PS_OK)
        return r;
    return buf_append(b, sig, len);
}

void ipc_sign_reply_finish(struct buf *b, size_t start)
{
    put32(b->data + start, (uint32_t)(b->len - start - IPC_HDR_LEN));
}

int ipc_sign_reply_decode(const uint8_t *p, size_t len, uint64_t *first_seq, uint16_t *count,
                          const uint8_t **sigs, uint16_t *lens, uint16_t max)
{
    const uint8_t *end = p + len;

    if (len < 10)
        return PS_E_INVAL;
    *first_seq = (uint64_t)get32(p) << 32 | get32(p + 4);
    *count = get16(p + 8);
    p += 10;
    if (*count > max)
        return PS_E_INVAL;
    for (uint16_t i = 0; i < *count; i++) {
        if (end - p < 2)
            return PS_E_INVAL;
        lens[i] = get16(p);
        if (lens[i] > IPC_MAX_SIG || (size_t)(end - p - 2) < lens[i])
            return PS_E_INVAL;
        sigs[i] = p + 2;
        p += 2 + lens[i];
    }
    return p == end ? PS_OK : PS_E_INVAL;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

int ipc_ledger_req_encode(struct buf *b, uint32_t id, uint8_t op, uint64_t a, uint64_t x,
                          const void *text, size_t len)
{
    uint8_t hdr[IPC_HDR_LEN + IPC_LEDGER_REQ_HDR];
    struct ipc_hdr h = {(uint32_t)(IPC_LEDGER_REQ_HDR + len), id, IPC_LEDGER, 0};
    size_t mark = b->len;
    int r;

    if (len > IPC_MAX_PAYLOAD - IPC_LEDGER_REQ_HDR)
        return PS_E_LIMIT;
    ipc_hdr_encode(hdr, &h);
    hdr[IPC_HDR_LEN] = op;
    put64(hdr + IPC_HDR_LEN + 1, a);
    put64(hdr + IPC_HDR_LEN + 9, x);
    if ((r = buf_append(b, hdr, sizeof(hdr))) != PS_OK ||
        (len && (r = buf_append(b, text, len)) != PS_OK)) {
        b->len = mark;
        return r;
    }
    return PS_OK;
}

int ipc_ledger_req_decode(const uint8_t *p, size_t len, struct ipc_ledger *r)
{
    memset(r, 0, sizeof(*r));
    if (len < IPC_LEDGER_REQ_HDR || p[0] < IPC_LEDGER_CHECKPOINT || p[0] > IPC_LEDGER_APPEND)
        return PS_E_INVAL;
    r->op = p[0];
    r->a = get64(p + 1);
    r->b = get64(p + 9);
    r->text = p + IPC_LEDGER_REQ_HDR;
    r->text_len = len - IPC_LEDGER_REQ_HDR;
    /* only an append carries text */
    if ((r->op == IPC_LEDGER_APPEND) != (r->text_len > 0))
        return PS_E_INVAL;
    return PS_OK;
}

int ipc_ledger_reply_append(struct buf *b, uint32_t id, uint64_t a, uint64_t x,
                            const uint8_t *hashes, uint8_t n, const void *text, size_t len)
{
    uint8_t hdr[IPC_HDR_LEN + 17];
    size_t plen = 17 + (size_t)n * 32 + len, mark = b->len;
    struct ipc_hdr h = {(uint32_t)plen, id, IPC_LEDGER, 0};
    int r;

    if (n > IPC_MAX_HASHES || plen > IPC_MAX_PAYLOAD)
        return PS_E_LIMIT;
    ipc_hdr_encode(hdr, &h);
    put64(hdr + IPC_HDR_LEN, a);
    put64(hdr + IPC_HDR_LEN + 8, x);
    hdr[IPC_HDR_LEN + 16] = n;
    if ((r = buf_append(b, hdr, sizeof(hdr))) != PS_OK ||
        (n && (r = buf_append(b, hashes, (size_t)n * 32)) != PS_OK) ||
        (len && (r = buf_append(b, text, len)) != PS_OK)) {
        b->len = mark;
        return r;
    }
    return PS_OK;
}

int ipc_ledger_reply_decode(const uint8_t *p, size_t len, struct ipc_ledger *r)
{
    memset(r, 0, sizeof(*r));
    if (len < 17 || p[16] > IPC_MAX_HASHES || len - 17 < (size_t)p[16] * 32)
        return PS_E_INVAL;
    r->a = get64(p);
    r->b = get64(p + 8);
    r->nhash = p[16];
    r->hash = p + 17;
    r->text = p + 17 + (size_t)r->nhash * 32;
    r->text_len = len - 17 - (size_t)r->nhash * 32;
    return PS_OK;
}
