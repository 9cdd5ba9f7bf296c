/*
 * api_p2p_stream.c - GET /v1/p2p/stream: the inbox as server-sent events (text/event-stream),
 * for officers (DESIGN §4; the messages are those of GET /v1/p2p/messages?dir=in, api_p2p.c).
 *
 *   GET /v1/p2p/stream?after=N    events for the messages with local arrival number n > N
 *   Last-Event-ID: N              the same, and it wins over after= (a reconnecting EventSource
 *                                 sends the id of the last event it saw, on the same URL)
 *   neither                       only messages that arrive from now on (after=0: all)
 *
 * The stream starts with a comment ": after N" (where it starts), then one event per message,
 * oldest first:
 *
 *   id: <n>
 *   event: message
 *   data: <the message as GET /v1/p2p/messages lists it: one line of compact JSON>
 *   <blank line>
 *
 * and a comment ": keepalive" after SSE_KEEPALIVE seconds without a write, so that proxies and
 * clients see life. At most p2p_stream_max streams per worker (then 503 too_many_streams).
 *
 * Workers share only the database: api_p2p_stream_tick, called by the worker loop a few times
 * a second, asks the store for the inbox's highest n (one index lookup, only while streams are
 * open) and, for each stream behind it with less than SSE_LOW_WATER bytes buffered, reads the
 * next messages after the stream's cursor. A slow reader lags behind in the store, not in
 * memory; its buffer (at most SSE_BUF, http_stream_begin) never holds much more than
 * SSE_LOW_WATER plus one message. Stream state is freed by sse_closed, which conn.c calls
 * whenever the stream goes away (client reset or close, connection timeouts, worker shutdown).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../protocol/strnum.h"
#include "api.h"
#include "log.h"
#include "p2pstore.h"
#include "worker.h"

#define SSE_BUF       (512 * 1024) /* hard bound per stream: a message event is < 330 KiB */
#define SSE_LOW_WATER (128 * 1024) /* read more from the store only below this */
#define SSE_BATCH     16           /* messages read per query */
#define SSE_KEEPALIVE 15.0         /* seconds without a write before ": keepalive" */

struct sse {
    struct sse *prev, *next;
    struct request *r;
    uint64_t after; /* n of the last event written (the cursor) */
    double last_write;
    int broken; /* a write failed: the stream is being reset */
};

static struct sse *streams; /* this worker's open streams */
static unsigned nstreams;

static int64_t wall_ms(void)
{
    return (int64_t)time(NULL) * 1000;
}

/* conn.c: the stream is gone (r is valid during the call only). */
static void sse_closed(struct request *r, void *ctx)
{
    struct sse *e = ctx;

    if (e->prev)
        e->prev->next = e->next;
    else
        streams = e->next;
    if (e->next)
        e->next->prev = e->prev;
    nstreams--;
    log_info("p2p stream of %s closed at n %llu (%u open)", r->officer ? r->officer : "-",
             (unsigned long long)e->after, nstreams);
    free(e);
}

static int sse_write(struct sse *e, const void *p, size_t n)
{
    if (e->broken || http_stream_write(e->r, p, n) != 0) {
        e->broken = 1;
        return -1;
    }
    e->last_write = mono_now();
    return 0;
}

/* One message as an event; moves the cursor. */
static int sse_event(struct sse *e, json_t *m)
{
    json_int_t n = json_integer_value(json_object_get(m, "n"));
    char *data = json_dumps(m, JSON_COMPACT);
    struct buf ev;
    int r = -1;

    buf_init(&ev, SSE_BUF);
    if (data && n > 0 &&
        buf_printf(&ev, "id: %lld\nevent: message\ndata: %s\n\n", (long long)n, data) == PS_OK &&
        sse_write(e, ev.data, ev.len) == 0) {
        e->after = (uint64_t)n;
        r = 0;
    } else {
        e->broken = 1;
    }
    buf_free(&ev);
    free(data);
    return r;
}

/* The messages after the cursor, while the stream's buffer has room. */
static void sse_fill(struct sse *e, struct p2pstore *s)
{
    while (!e->broken && http_stream_buffered(e->r) < SSE_LOW_WATER) {
        json_t *list = p2pstore_list(s, "in", e->after, SSE_BATCH, wall_ms()), *m;
        size_t i, got;

        if (list == NULL)
            return; /* storage: again at the next tick */
        got = json_array_size(list);
        json_array_foreach(list, i, m)
        {
            if (http_stream_buffered(e->r) >= SSE_LOW_WATER || sse_event(e, m) != 0)
                break; /* the rest is read again later */
        }
        json_decref(list);
        if (got < SSE_BATCH)
            return;
    }
}

/* The starting point: Last-Event-ID, else after=, else -1 (from now on). 0, or answered. */
static int sse_after(struct request *r, long long *after)
{
    char num[32];

    *after = -1;
    if (r->last_event_id[0]) {
        if (strnum_ll(r->last_event_id, 0, INT64_MAX, after) == PS_OK)
            return 0;
        http_error(r, 400, "invalid_request", "Last-Event-ID must be an event id of this stream");
        return -1;
    }
    if (http_query_param(r, "after", num, sizeof(num)) == 0 &&
        strnum_ll(num, 0, INT64_MAX, after) != PS_OK) {
        http_error(r, 400, "invalid_request", "after must be a number >= 0");
        return -1;
    }
    return 0;
}

void api_p2p_stream(struct request *r, const char *tail)
{
    const struct config *cfg = r->w->cfg;
    struct p2pstore *s;
    struct sse *e;
    long long after;
    uint64_t top;
    char hello[64];
    int n;

    (void)tail;
    if ((s = api_p2p_ready(r)) == NULL || sse_after(r, &after) != 0)
        return;
    if (nstreams >= cfg->p2p_stream_max) {
        http_error(r, 503, "too_many_streams",
                   "%u event streams are open on this worker (p2p_stream_max); try again later",
                   nstreams);
        return;
    }
    if (after < 0) {
        if (p2pstore_in_top(s, &top) != PS_OK) {
            http_error(r, 503, "storage_unavailable", "the p2p store failed");
            return;
        }
        after = (long long)top;
    }
    if ((e = calloc(1, sizeof(*e))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    e->r = r;
    e->after = (uint64_t)after;
    if (http_stream_begin(r, 200, "text/event-stream", SSE_BUF, sse_closed, e) != 0) {
        free(e); /* HEAD (answered), or the client is gone */
        return;
    }
    e->next = streams;
    if (streams)
        streams->prev = e;
    streams = e;
    nstreams++;
    log_info("p2p stream opened by %s after n %lld (%u open)", r->officer ? r->officer : "-", after,
             nstreams);
    n = snprintf(hello, sizeof(hello), ": after %lld\n\n", after);
    if (sse_write(e, hello, (size_t)n) == 0)
        sse_fill(e, s);
}

void api_p2p_stream_tick(struct worker *w)
{
    struct p2pstore *s;
    uint64_t top = 0;
    double now = mono_now();
    static const char keepalive[] = ": keepalive\n\n";

    if (streams == NULL || (s = api_p2p_store(w)) == NULL)
        return;
    if (p2pstore_in_top(s, &top) != PS_OK)
        top = 0; /* keepalives only, this time */
    for (struct sse *e = streams; e; e = e->next) {
        if (e->after < top)
            sse_fill(e, s);
        if (!e->broken && http_stream_buffered(e->r) == 0 && now - e->last_write >= SSE_KEEPALIVE)
            sse_write(e, keepalive, sizeof(keepalive) - 1);
    }
}

unsigned api_p2p_stream_count(void)
{
    return nstreams;
}
