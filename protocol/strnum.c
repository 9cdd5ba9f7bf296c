#include "strnum.h"

#include <errno.h>
#include <stdlib.h>

int strnum_ll(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;

    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '-'))
        return PS_E_INVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != 0 || v < lo || v > hi)
        return PS_E_INVAL;
    *out = v;
    return PS_OK;
}

int strnum_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void strnum_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}
