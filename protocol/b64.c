#include "b64.h"

static const char enc[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 1 + the 6-bit value of each character of the alphabet; 0 for every other byte ('=' too). */
static const uint8_t dec[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* The 6-bit value of c, or 0xff if c is not in the alphabet. */
static uint8_t val(unsigned char c)
{
    return (uint8_t)(dec[c] - 1);
}

size_t b64_encode(char *out, size_t cap, const uint8_t *in, size_t n)
{
    size_t len, i = 0;
    char *p = out;

    if (n > SIZE_MAX / 4 * 3 - 3 || cap < (len = B64_ENCODED_LEN(n)) + 1)
        return 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        p[0] = enc[v >> 18];
        p[1] = enc[v >> 12 & 63];
        p[2] = enc[v >> 6 & 63];
        p[3] = enc[v & 63];
        p += 4;
    }
    if (n - i == 1) {
        p[0] = enc[in[i] >> 2];
        p[1] = enc[(in[i] & 3) << 4];
        p[2] = p[3] = '=';
        p += 4;
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

        p[0] = enc[v >> 10];
        p[1] = enc[v >> 4 & 63];
        p[2] = enc[(v & 15) << 2];
        p[3] = '=';
        p += 4;
    }
    *p = 0;
    return len;
}

int b64_decode(uint8_t *out, size_t cap, const char *in, size_t len, size_t *outlen)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0, pad;
    uint32_t acc = 0;
    unsigned bits = 0;

    *outlen = 0;
    /* whole groups of four first */
    for (; len - i >= 4; i += 4) {
        uint8_t a = val(s[i]), b = val(s[i + 1]), c = val(s[i + 2]), d = val(s[i + 3]);

        if ((a | b | c | d) > 63)
            break;
        if (cap - o < 3)
            return PS_E_INVAL;
        out[o] = (uint8_t)(a << 2 | b >> 4);
        out[o + 1] = (uint8_t)(b << 4 | c >> 2);
        out[o + 2] = (uint8_t)(c << 6 | d);
        o += 3;
    }
    /* the rest, one character at a time, up to the first that is not base64 */
    for (; i < len; i++) {
        uint8_t v = val(s[i]);

        if (v == 0xff)
            break;
        acc = (acc << 6 | v) & 0xffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return PS_E_INVAL;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* 2 or 4 bits left need "=" or "==", and must be zero; 6 bits left cannot be */
    if (bits > 4 || (acc & ((1u << bits) - 1)) != 0)
        return PS_E_INVAL;
    for (pad = bits / 2; pad > 0; pad--, i++)
        if (i >= len || s[i] != '=')
            return PS_E_INVAL;
    if (i != len)
        return PS_E_INVAL;
    *outlen = o;
    return PS_OK;
}

int b64_ascii(const char *in, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)in[i] >= 0x80)
            return 0;
    return 1;
}
