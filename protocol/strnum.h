/* strnum.h - checked number parsing (range and end pointer); atoi is banned. */
#ifndef PS_STRNUM_H
#define PS_STRNUM_H

#include "err.h"

/* Whole string must be a decimal integer in [lo, hi]. */
int strnum_ll(const char *s, long long lo, long long hi, long long *out) PS_WUR;
/* Value of one hex digit (either case), or -1. */
int strnum_hexval(int c);

#endif
