/*
 * unit.h - a tiny TAP-style harness for portseal's unit tests.
 * CHECK(cond, fmt, ...) evaluates cond once, prints "ok - ..." or "not ok - ... (file:line)"; main
 * returns unit_done(), non-zero if anything failed.
 */
#ifndef PS_UNIT_H
#define PS_UNIT_H

#include <stdio.h>

static int unit_failed, unit_passed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        int unit_ok_ = (cond) ? 1 : 0;                                                             \
        if (unit_ok_) {                                                                            \
            unit_passed++;                                                                         \
            printf("ok - ");                                                                       \
        } else {                                                                                   \
            unit_failed++;                                                                         \
            printf("not ok - ");                                                                   \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        if (!unit_ok_)                                                                             \
            printf(" (%s:%d: %s)", __FILE__, __LINE__, #cond);                                     \
        printf("\n");                                                                              \
    } while (0)

static inline int unit_done(void)
{
    fflush(stdout);
    return unit_failed ? 1 : 0;
}

#endif
