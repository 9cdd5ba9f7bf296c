#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "../../../protocol/sigfmt.h"
#include "../unit.h"

#define MAXRAW 132
#define MAXDER (MAXRAW + 9)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint8_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

/* Expected DER INTEGER content length of a big-endian unsigned half. */
static size_t int_len(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n && p[i] == 0)
        i++;
    if (i == n)
        return 1; /* zero is one 0x00 byte */
    return n - i + (p[i] & 0x80 ? 1 : 0);
}

/* raw -> DER -> raw; also checks the DER has minimal INTEGERs. Returns 1 on success. */
static int roundtrip(const uint8_t *raw, size_t rawlen, const char *what)
{
    uint8_t der[MAXDER + 8], back[MAXRAW];
    size_t dl = 0, n = rawlen / 2, rl = int_len(raw, n), sl = int_len(raw + n, n), body, hdr;

    memset(der, 0xee, sizeof(der));
    if (ecdsa_raw_to_der(raw, rawlen, der, rawlen + 9, &dl) != PS_OK) {
        printf("# %s: raw_to_der failed\n", what);
        return 0;
    }
    body = 2 + rl + 2 + sl;
    hdr = body < 128 ? 2 : 3;
    if (dl != hdr + body || der[0] != 0x30 || der[hdr] != 0x02 || der[hdr + 1] != rl ||
        der[hdr + 2 + rl] != 0x02 || der[hdr + 3 + rl] != sl) {
        printf("# %s: unexpected DER layout (len %zu, want %zu)\n", what, dl, hdr + body);
        return 0;
    }
    if (dl < sizeof(der) && der[dl] != 0xee) {
        printf("# %s: wrote past derlen\n", what);
        return 0;
    }
    memset(back, 0xaa, sizeof(back));
    if (ecdsa_der_to_raw(der, dl, n, back) != PS_OK) {
        printf("# %s: der_to_raw failed\n", what);
        return 0;
    }
    if (memcmp(back, raw, rawlen) != 0) {
        printf("# %s: raw differs after the round trip\n", what);
        return 0;
    }
    return 1;
}

/* The DER is byte for byte what OpenSSL's i2d_ECDSA_SIG makes of the same r and s. */
static int same_as_openssl(const uint8_t *raw, size_t rawlen)
{
    uint8_t der[MAXDER], *ref = NULL;
    size_t dl = 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
    BIGNUM *s = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
    int n, ok;

    ok = sig && r && s && ECDSA_SIG_set0(sig, r, s);
    if (!ok) {
        BN_free(r);
        BN_free(s);
    }
    ok = ok && (n = i2d_ECDSA_SIG(sig, &ref)) > 0 &&
         ecdsa_raw_to_der(raw, rawlen, der, sizeof(der), &dl) == PS_OK && dl == (size_t)n &&
         memcmp(der, ref, dl) == 0;
    OPENSSL_free(ref);
    ECDSA_SIG_free(sig);
    return ok;
}

static void test_openssl(void)
{
    static const size_t sizes[] = {1, 32, 48, 66};
    uint8_t raw[MAXRAW];
    int ok = 1;

    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t n = sizes[si];

        for (int t = 0; t < 300; t++) {
            for (size_t i = 0; i < 2 * n; i++)
                raw[i] = rnd();
            if (t % 3 == 1)
                memset(raw, 0, (size_t)t % (n + 1)); /* leading zeros, r = 0 too */
            if (t % 5 == 2)
                raw[n] |= 0x80;
            ok &= same_as_openssl(raw, 2 * n);
        }
    }
    CHECK(ok, "DER is i2d_ECDSA_SIG's for random, zero-led and high-bit r, s (1..66 bytes)");
}

static void test_roundtrip(void)
{
    static const size_t sizes[] = {32, 48, 66};
    uint8_t raw[MAXRAW];

    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t n = sizes[si];
        int ok = 1, lz = 1, hb = 1, mix = 1;

        for (int t = 0; t < 200; t++) {
            for (size_t i = 0; i < 2 * n; i++)
                raw[i] = rnd();
            ok &= roundtrip(raw, 2 * n, "random");
        }
        CHECK(ok, "200 random r||s of %zu bytes round trip", 2 * n);
        for (size_t z = 1; z <= n; z++) {
            for (size_t i = 0; i < 2 * n; i++)
                raw[i] = rnd() | 0x01;
            memset(raw, 0, z);         /* r has z leading zero bytes */
            memset(raw + n, 0, z / 2); /* s has z/2 */
            lz &= roundtrip(raw, 2 * n, "leading zeros");
        }
        CHECK(lz, "r with 1..%zu leading zero bytes (r = 0 included) round trips", n);
        for (int t = 0; t < 50; t++) {
            for (size_t i = 0; i < 2 * n; i++)
                raw[i] = rnd();
            raw[0] |= 0x80;
            raw[n] |= 0x80;
            hb &= roundtrip(raw, 2 * n, "high bit");
        }
        CHECK(hb, "r and s with the high bit set (DER pads a 0x00) round trip, %zu bytes", 2 * n);
        for (int t = 0; t < 50; t++) {
            for (size_t i = 0; i < 2 * n; i++)
                raw[i] = rnd();
            raw[0] = 0;
            raw[1] |= 0x80; /* leading zero then a high bit: no pad, one byte shorter */
            raw[n] = 0xff;
            mix &= roundtrip(raw, 2 * n, "zero then high bit");
        }
        CHECK(mix, "leading zero followed by a high bit round trips, %zu bytes", 2 * n);
        memset(raw, 0, 2 * n);
        CHECK(roundtrip(raw, 2 * n, "all zero"), "r = s = 0 round trips, %zu bytes", 2 * n);
        memset(raw, 0xff, 2 * n);
        CHECK(roundtrip(raw, 2 * n, "all ones"), "r = s = 2^%zu-1 round trips", 8 * n);
    }
    for (size_t i = 0; i < 2; i++)
        raw[i] = (uint8_t)(0x7f + i);
    CHECK(roundtrip(raw, 2, "tiny"), "a 2-byte raw signature round trips");
    for (size_t i = 0; i < MAXRAW; i++)
        raw[i] = (uint8_t)(0x80 | rnd());
    CHECK(roundtrip(raw, MAXRAW, "max"), "132 bytes with high bits fit in cap = rawlen + 9");
}

static void test_reject(void)
{
    uint8_t raw[MAXRAW + 2], der[256], out[MAXRAW];
    size_t dl = 12345;

    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (uint8_t)(i * 31 + 7);
    CHECK(ecdsa_raw_to_der(raw, 0, der, sizeof(der), &dl) == PS_E_INVAL && dl == 12345,
          "empty raw rejected");
    CHECK(ecdsa_raw_to_der(raw, 1, der, sizeof(der), &dl) == PS_E_INVAL, "1-byte raw rejected");
    CHECK(ecdsa_raw_to_der(raw, 63, der, sizeof(der), &dl) == PS_E_INVAL, "odd length 63 rejected");
    CHECK(ecdsa_raw_to_der(raw, 65, der, sizeof(der), &dl) == PS_E_INVAL, "odd length 65 rejected");
    CHECK(ecdsa_raw_to_der(raw, 133, der, sizeof(der), &dl) == PS_E_INVAL,
          "odd length 133 rejected");
    CHECK(ecdsa_raw_to_der(raw, 134, der, sizeof(der), &dl) == PS_E_INVAL,
          "134 bytes (oversize) rejected");
    CHECK(ecdsa_raw_to_der(raw, 64, der, 64 + 8, &dl) == PS_E_INVAL, "cap < rawlen + 9 rejected");
    CHECK(dl == 12345, "derlen untouched on failure");

    /* A valid P-256 signature to mutilate. */
    raw[0] |= 0x80;
    CHECK(ecdsa_raw_to_der(raw, 64, der, sizeof(der), &dl) == PS_OK,
          "a valid DER for the reject tests");
    CHECK(ecdsa_der_to_raw(der, dl, 32, out) == PS_OK && memcmp(out, raw, 64) == 0, "it decodes");
    {
        int bad = 0;

        for (size_t n = 0; n < dl; n++)
            if (ecdsa_der_to_raw(der, n, 32, out) != PS_E_INVAL) {
                bad++;
                printf("# DER prefix of %zu bytes accepted\n", n);
            }
        CHECK(bad == 0, "all %zu truncated DER prefixes rejected", dl);
    }
    der[dl] = 0x00;
    CHECK(ecdsa_der_to_raw(der, dl + 1, 32, out) == PS_E_INVAL, "a trailing 0x00 rejected");
    der[dl] = 0x30;
    der[dl + 1] = 0x00;
    CHECK(ecdsa_der_to_raw(der, dl + 2, 32, out) == PS_E_INVAL,
          "a trailing empty SEQUENCE rejected");
    CHECK(ecdsa_der_to_raw(der, dl, 31, out) == PS_E_INVAL, "r wider than n rejected");
    CHECK(ecdsa_der_to_raw((const uint8_t *)"", 0, 32, out) == PS_E_INVAL, "empty DER rejected");
    {
        uint8_t d[sizeof(der)];

        memcpy(d, der, dl);
        d[0] = 0x31;
        CHECK(ecdsa_der_to_raw(d, dl, 32, out) == PS_E_INVAL, "SET instead of SEQUENCE rejected");
        memcpy(d, der, dl);
        d[1] = (uint8_t)(d[1] + 1);
        CHECK(ecdsa_der_to_raw(d, dl, 32, out) == PS_E_INVAL,
              "SEQUENCE length one too long rejected");
        memcpy(d, der, dl);
        d[2] = 0x04;
        CHECK(ecdsa_der_to_raw(d, dl, 32, out) == PS_E_INVAL,
              "OCTET STRING instead of INTEGER rejected");
    }
    {
        static const uint8_t three[] = {0x30, 0x09, 0x02, 0x01, 0x01, 0x02,
                                        0x01, 0x01, 0x02, 0x01, 0x01};
        static const uint8_t one[] = {0x30, 0x03, 0x02, 0x01, 0x01};
        static const uint8_t small[] = {0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07};

        static const uint8_t neg[] = {0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x01};
        static const uint8_t nonmin[] = {0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01};

        CHECK(ecdsa_der_to_raw(neg, sizeof(neg), 32, out) == PS_E_INVAL, "negative r rejected");
        CHECK(ecdsa_der_to_raw(nonmin, sizeof(nonmin), 32, out) == PS_E_INVAL,
              "non-minimal INTEGER (needless 0x00) rejected");
        CHECK(ecdsa_der_to_raw(three, sizeof(three), 32, out) == PS_E_INVAL,
              "three INTEGERs rejected");
        CHECK(ecdsa_der_to_raw(one, sizeof(one), 32, out) == PS_E_INVAL, "one INTEGER rejected");
        CHECK(ecdsa_der_to_raw(small, sizeof(small), 32, out) == PS_OK && out[31] == 5 &&
                  out[63] == 7 && out[0] == 0 && out[32] == 0,
              "small r, s are left-padded to n");
    }
}

int main(void)
{
    test_roundtrip();
    test_openssl();
    test_reject();
    return unit_done();
}
