#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = b->off = 0;
}

void buf_reset(struct buf *b)
{
    b->len = b->off = 0;
    if (b->data)
        b->data[0] = 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    size_t need, ncap;
    uint8_t *p;

    if (n > b->max || b->len > b->max - n)
        return PS_E_LIMIT;
    need = b->len + n + 1;
    if (need <= b->cap)
        return PS_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    if ((p = realloc(b->data, ncap)) == NULL)
        return PS_E_NOMEM;
    b->data = p;
    b->cap = ncap;
    return PS_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int r;

    if ((r = buf_reserve(b, n)) != PS_OK)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return PS_OK;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PS_E_INVAL;
    if ((r = buf_reserve(b, (size_t)n)) != PS_OK)
        return r;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PS_OK;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n > buf_unread(b))
        n = buf_unread(b);
    b->off += n;
    if (b->off == b->len) {
        buf_reset(b);
    } else if (b->off > 65536 && b->off > b->len / 2) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        b->data[b->len] = 0;
    }
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
    uint8_t *p = b->data;

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = b->off = 0;
    return p;
}

void buf_compact(struct buf *b)
{
    if (b->off == 0)
        return;
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    b->data[b->len] = 0;
}
