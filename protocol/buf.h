/*
 * buf.h - one growable byte buffer with a hard maximum (after curl's dynbuf).
 * Every append can fail with PS_E_LIMIT or PS_E_NOMEM and leaves the buffer
 * unchanged when it does. The buffer owns its memory; buf_free releases it.
 * Data is always followed by a NUL byte (not counted in len) so text can be
 * handed to string functions.
 */
#ifndef PS_BUF_H
#define PS_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
    size_t off; /* read offset for consumers (buf_consume) */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Room for n more bytes (and the NUL kept after them) without growing again. */
int buf_reserve(struct buf *b, size_t n) PS_WUR;
int buf_append(struct buf *b, const void *p, size_t n) PS_WUR;
int buf_append_str(struct buf *b, const char *s) PS_WUR;
int buf_printf(struct buf *b, const char *fmt, ...) PS_WUR __attribute__((format(printf, 2, 3)));
/* Unread bytes: data + off .. data + len. */
static inline size_t buf_unread(const struct buf *b)
{
    return b->len - b->off;
}
static inline const uint8_t *buf_rptr(const struct buf *b)
{
    return b->data + b->off;
}
/* Mark n unread bytes as consumed; compacts when everything is consumed. */
void buf_consume(struct buf *b, size_t n);
/* Hand the memory to the caller (free() it); the buffer becomes empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);
/* Move the unread bytes to the front, so that the maximum bounds what is unread. */
void buf_compact(struct buf *b);

#endif
