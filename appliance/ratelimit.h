/*
 * ratelimit.h - token buckets: one per connection for control frames, and a fixed-size table
 * of buckets keyed by client (certificate CN, or the address of a client without a valid
 * certificate) for the request rate. Nothing here allocates after rl_table_new; a full table
 * forgets its least recently used client (whose bucket would be full again by then, or nearly).
 */
#ifndef PS_RATELIMIT_H
#define PS_RATELIMIT_H

#include <stddef.h>

struct rl_bucket {
    double tokens, last; /* tokens left, and when they were last refilled (monotonic s) */
};

/* Refill at rate per second up to burst, then take one token: 1 if there was one, else 0.
 * A bucket that was never used (last == 0) starts full. */
int rl_take(struct rl_bucket *b, double rate, double burst, double now);
/* The same for n tokens, all or none: 1 if there were n (taken), else 0 and nothing is taken;
 * then *wait (when not NULL) is the seconds until n will be there at this rate (n <= burst;
 * a larger n never passes and the caller must refuse it before). */
int rl_take_n(struct rl_bucket *b, double n, double rate, double burst, double now, double *wait);

struct rl_table;

/* A table for nslots clients; NULL if out of memory. Free with rl_table_free. */
struct rl_table *rl_table_new(size_t nslots);
void rl_table_free(struct rl_table *t);
/* rl_take on the bucket of client key (a NUL-terminated string; longer than 95 bytes is cut). */
int rl_table_take(struct rl_table *t, const char *key, double rate, double burst, double now);

#endif
