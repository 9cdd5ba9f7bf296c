#include <limits.h>
#include <string.h>

#include "../../../protocol/strnum.h"
#include "../unit.h"

static int ok(const char *s, long long lo, long long hi, long long want)
{
    long long v = -12345;

    return strnum_ll(s, lo, hi, &v) == PS_OK && v == want;
}

static int bad(const char *s, long long lo, long long hi)
{
    long long v = -12345;

    return strnum_ll(s, lo, hi, &v) == PS_E_INVAL && v == -12345;
}

int main(void)
{
    CHECK(ok("0", 0, 10, 0), "\"0\" in [0,10]");
    CHECK(ok("10", 0, 10, 10), "upper bound inclusive");
    CHECK(ok("1", 1, 10, 1), "lower bound inclusive");
    CHECK(ok("007", 0, 10, 7), "leading zeros are decimal, not octal");
    CHECK(ok("65535", 1, 65535, 65535), "65535 in [1,65535]");
    CHECK(bad("65536", 1, 65535), "65536 above [1,65535]");
    CHECK(bad("0", 1, 65535), "0 below [1,65535]");
    CHECK(bad("11", 0, 10), "above the range");
    CHECK(ok("-5", -10, 10, -5), "negative inside a negative range");
    CHECK(bad("-1", 0, 10), "negative below a non-negative range");
    CHECK(bad("-0x1", -10, 10), "-0x1");
    CHECK(ok("-0", 0, 10, 0), "\"-0\" is 0");
    CHECK(bad("", 0, 10), "empty string");
    CHECK(bad(NULL, 0, 10), "NULL");
    CHECK(bad("+1", 0, 10), "\"+1\" (explicit plus)");
    CHECK(bad(" 1", 0, 10), "\" 1\" (leading space)");
    CHECK(bad("\t1", 0, 10), "\"\\t1\" (leading tab)");
    CHECK(bad("\n1", 0, 10), "\"\\n1\" (leading newline)");
    CHECK(bad("\v1", 0, 10), "\"\\v1\" (leading vertical tab)");
    CHECK(bad("1 ", 0, 10), "\"1 \" (trailing space)");
    CHECK(bad("1\n", 0, 10), "\"1\\n\" (trailing newline)");
    CHECK(bad("1a", 0, 100), "\"1a\" (trailing junk)");
    CHECK(bad("a1", 0, 100), "\"a1\"");
    CHECK(bad("-", -10, 10), "\"-\" alone");
    CHECK(bad("--1", -10, 10), "\"--1\"");
    CHECK(bad("0x10", 0, 100), "hex is not accepted");
    CHECK(bad("1.0", 0, 100), "\"1.0\"");
    CHECK(bad("1e3", 0, 10000), "\"1e3\"");
    CHECK(ok("9223372036854775807", LLONG_MIN, LLONG_MAX, LLONG_MAX), "LLONG_MAX");
    CHECK(ok("-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN), "LLONG_MIN");
    CHECK(bad("9223372036854775808", LLONG_MIN, LLONG_MAX), "LLONG_MAX + 1 overflows");
    CHECK(bad("-9223372036854775809", LLONG_MIN, LLONG_MAX), "LLONG_MIN - 1 overflows");
    CHECK(bad("99999999999999999999999", 0, 100), "huge overflow");
    CHECK(bad("18446744073709551617", 0, LLONG_MAX), "2^64 + 1 (would wrap as unsigned)");
    {
        static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
        char out[2 * sizeof(bytes) + 2];

        memset(out, 'x', sizeof(out));
        strnum_hex(bytes, sizeof(bytes), out);
        CHECK(strcmp(out, "00017f80abff") == 0, "strnum_hex: lower-case, two digits per byte");
        CHECK(out[sizeof(out) - 1] == 'x', "strnum_hex: writes exactly 2n + 1 bytes");
        strnum_hex(bytes, 0, out);
        CHECK(out[0] == 0, "strnum_hex: no bytes gives the empty string");
    }
    return unit_done();
}
