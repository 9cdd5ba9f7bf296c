/*
 * b64_test - the hot path's base64 (protocol/b64.c) against libsodium's, which it replaces in
 * POST /v1/sign/hash: the same strings accepted, the same bytes out, the same text encoded.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../../protocol/b64.h"
#include "../unit.h"

/*
 * 1 if b64_decode and sodium_base642bin agree on s (accepted or not, and the bytes). One
 * deliberate difference: libsodium 1.0.18 reads its input as (signed) char, and its
 * constant-time comparisons take every byte >= 0x80 for '/'-like digits (so "Zm9v\xc3\xa9Zg"
 * decodes); b64_decode refuses them, as base64 has no such characters.
 */
static int agree(const char *s, size_t len, size_t cap)
{
    uint8_t a[128], b[128];
    size_t al = 99, bl = 99;
    int ra = b64_decode(a, cap, s, len, &al),
        rb = sodium_base642bin(b, cap, s, len, NULL, &bl, NULL, sodium_base64_VARIANT_ORIGINAL);

    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return ra == PS_E_INVAL && al == 0;

    if ((ra == PS_OK) != (rb == 0))
        return 0;
    if (ra != PS_OK)
        return al == 0;
    return al == bl && memcmp(a, b, al) == 0;
}

static int agree_str(const char *s, size_t cap)
{
    return agree(s, strlen(s), cap);
}

static void test_vectors(void)
{
    static const char *const rfc[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};

    for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
        char out[16];
        uint8_t bin[16];
        size_t n = strlen(rfc[i][0]), bl = 0;

        CHECK(b64_encode(out, sizeof(out), (const uint8_t *)rfc[i][0], n) == strlen(rfc[i][1]) &&
                  strcmp(out, rfc[i][1]) == 0,
              "RFC 4648 vector \"%s\" encodes as %s", rfc[i][0], rfc[i][1]);
        CHECK(b64_decode(bin, sizeof(bin), rfc[i][1], strlen(rfc[i][1]), &bl) == PS_OK && bl == n &&
                  memcmp(bin, rfc[i][0], n) == 0,
              "%s decodes to \"%s\"", rfc[i][1], rfc[i][0]);
    }
}

static void test_refused(void)
{
    static const char *const bad[] = {
        "Zg",    "Zg=",   "Zg===", "Zm8",      "Zm8==",  "Z",        "Zh==",    "Zm9=",
        "Zm9v ", " Zm9v", "Zm 9v", "Zm9v\n",   "Zm9v=",  "Zm9v====", "Zm9-",    "Zm9_",
        "Zm=v",  "=Zm9",  "====",  "Zg==Zg==", "Zg==\n", "Zm9vYg=",  "Zm9vYmE", "Zm9vY===",
    };
    size_t ok = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t bin[16];
        size_t bl = 99;

        ok += b64_decode(bin, sizeof(bin), bad[i], strlen(bad[i]), &bl) == PS_E_INVAL && bl == 0 &&
              agree_str(bad[i], sizeof(bin));
    }
    CHECK(ok == sizeof(bad) / sizeof(bad[0]),
          "missing or extra padding, white space, url-safe characters, non-zero unused bits are "
          "refused, as by libsodium (%zu of %zu)",
          ok, sizeof(bad) / sizeof(bad[0]));
}

/* Every string of up to 5 characters over a small alphabet that covers all the cases. */
static void test_high_bytes(void)
{
    static const char utf8[] = "Zm9v\xc3\xa9Zg";
    uint8_t bin[16];
    size_t bl = 99, refused = 0;

    CHECK(b64_decode(bin, sizeof(bin), utf8, strlen(utf8), &bl) == PS_E_INVAL && bl == 0,
          "non-ASCII (UTF-8) characters inside base64 are refused (libsodium 1.0.18 decodes them)");
    for (int c = 0x80; c < 0x100; c++) {
        char s[4] = {'A', 'A', 'A', (char)c};

        refused += b64_decode(bin, sizeof(bin), s, 4, &bl) == PS_E_INVAL;
    }
    CHECK(refused == 128, "every byte from 0x80 to 0xff is refused (%zu of 128)", refused);
}

static void test_exhaustive(void)
{
    static const char alpha[] = "AQgw/+=.- \0\x80";
    size_t na = sizeof(alpha) - 1, total = 0, bad = 0;
    char s[6];

    for (size_t len = 0; len <= 5; len++) {
        size_t count = 1;

        for (size_t i = 0; i < len; i++)
            count *= na;
        for (size_t k = 0; k < count; k++) {
            size_t v = k;

            for (size_t i = 0; i < len; i++, v /= na)
                s[i] = alpha[v % na];
            for (size_t cap = 0; cap <= 4; cap++) {
                total++;
                bad += !agree(s, len, cap);
            }
        }
    }
    CHECK(bad == 0,
          "every string of 0..5 characters over \"AQgw/+=.- \\0\\x80\", output room 0..4: "
          "same answer as libsodium (%zu disagree of %zu)",
          bad, total);
}

static void test_random(void)
{
    size_t bad_enc = 0, bad_dec = 0, bad_mut = 0;

    for (int round = 0; round < 20000; round++) {
        uint8_t bin[96], back[96];
        char mine[140], theirs[140];
        size_t n = randombytes_uniform(sizeof(bin) + 1), el, bl = 0;

        randombytes_buf(bin, n);
        el = b64_encode(mine, sizeof(mine), bin, n);
        sodium_bin2base64(theirs, sizeof(theirs), bin, n, sodium_base64_VARIANT_ORIGINAL);
        bad_enc += el != strlen(theirs) || strcmp(mine, theirs) != 0;
        bad_dec +=
            b64_decode(back, n, mine, el, &bl) != PS_OK || bl != n || memcmp(back, bin, n) != 0 ||
            !agree(mine, el, n) ||
            (n > 0 && (b64_decode(back, n - 1, mine, el, &bl) == PS_OK || !agree(mine, el, n - 1)));
        /* one byte changed anywhere to anything */
        if (el > 0) {
            mine[randombytes_uniform((uint32_t)el)] = (char)randombytes_uniform(256);
            bad_mut += !agree(mine, el, sizeof(back));
        }
    }
    CHECK(bad_enc == 0, "random 0..96 bytes encode as libsodium does (%zu differ)", bad_enc);
    CHECK(bad_dec == 0, "and decode back, refused when one byte short of room (%zu differ)",
          bad_dec);
    CHECK(bad_mut == 0, "with one character changed: the same answer as libsodium (%zu differ)",
          bad_mut);
}

static void test_room(void)
{
    char out[9];
    const uint8_t in[6] = {1, 2, 3, 4, 5, 6};

    CHECK(b64_encode(out, 9, in, 6) == 8 && b64_encode(out, 8, in, 6) == 0 &&
              b64_encode(out, 1, in, 0) == 0 + 0 && out[0] == 0 && b64_encode(out, 0, in, 0) == 0,
          "encode needs room for the text and its NUL");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_vectors();
    test_refused();
    test_high_bytes();
    test_exhaustive();
    test_random();
    test_room();
    CHECK(b64_ascii("QUJD", 4) && b64_ascii("", 0) &&
              !b64_ascii("QU\xc1"
                         "D",
                         4),
          "b64_ascii: refuses a byte >= 0x80");
    return unit_done();
}
