/* strnum.h - checked number parsing (range and end pointer); atoi is banned. */
#ifndef PS_STRNUM_H
#define PS_STRNUM_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

/* Whole string must be a decimal integer in [lo, hi]. */
int strnum_ll(const char *s, long long lo, long long hi, long long *out) PS_WUR;
/* Value of one hex digit (either case), or -1. */
int strnum_hexval(int c);
/* p[0..n) as lower-case hex into out, which must hold 2 * n + 1 bytes (NUL-terminated). */
void strnum_hex(const uint8_t *p, size_t n, char *out);

#endif
