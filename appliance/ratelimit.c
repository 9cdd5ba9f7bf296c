/*
 * ratelimit.c - token buckets, and a bounded table of them keyed by client.
 */
#include "ratelimit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RL_KEY   96
#define RL_PROBE 8 /* slots looked at per lookup; the oldest of them is reused on a miss */

struct rl_slot {
    char key[RL_KEY];
    struct rl_bucket b;
};

struct rl_table {
    size_t n;
    struct rl_slot *slots;
};

static void rl_refill(struct rl_bucket *b, double rate, double burst, double now)
{
    if (b->last == 0) {
        b->tokens = burst;
    } else if (now > b->last) {
        b->tokens += (now - b->last) * rate;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->last = now;
}

int rl_take(struct rl_bucket *b, double rate, double burst, double now)
{
    rl_refill(b, rate, burst, now);
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

int rl_take_n(struct rl_bucket *b, double n, double rate, double burst, double now, double *wait)
{
    rl_refill(b, rate, burst, now);
    if (b->tokens < n) {
        if (wait)
            *wait = rate > 0 ? (n - b->tokens) / rate : 0;
        return 0;
    }
    b->tokens -= n;
    if (wait)
        *wait = 0;
    return 1;
}

struct rl_table *rl_table_new(size_t nslots)
{
    struct rl_table *t = calloc(1, sizeof(*t));

    if (t == NULL || nslots < RL_PROBE || (t->slots = calloc(nslots, sizeof(*t->slots))) == NULL) {
        free(t);
        return NULL;
    }
    t->n = nslots;
    return t;
}

void rl_table_free(struct rl_table *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}

/* FNV-1a */
static uint64_t rl_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int rl_table_take(struct rl_table *t, const char *key, double rate, double burst, double now)
{
    char k[RL_KEY] = {0};
    size_t n = strnlen(key, RL_KEY - 1), start, oldest;

    memcpy(k, key, n);
    start = (size_t)(rl_hash(k) % t->n);
    oldest = start;
    for (size_t i = 0; i < RL_PROBE; i++) {
        struct rl_slot *s = &t->slots[(start + i) % t->n];

        if (strcmp(s->key, k) == 0 && s->b.last != 0)
            return rl_take(&s->b, rate, burst, now);
        if (s->b.last < t->slots[oldest].b.last)
            oldest = (start + i) % t->n;
    }
    memcpy(t->slots[oldest].key, k, sizeof(k));
    t->slots[oldest].b.last = 0;
    return rl_take(&t->slots[oldest].b, rate, burst, now);
}
