/*
 * b64_fuzz - libFuzzer target for the hot path's base64 (protocol/b64.c).
 *   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/b64_fuzz.c protocol/b64.c \
 *       -lsodium -o /tmp/b64_fuzz
 *   /tmp/b64_fuzz -max_total_time=60 tests/fuzz/corpus/b64/
 * Differential: b64_decode accepts what sodium_base642bin (original variant, no ignored
 * characters) accepts, with the same bytes, for output room 0..63 (the first input byte), except
 * that bytes >= 0x80 are always refused (libsodium 1.0.18 takes them for digits); and whatever
 * decodes encodes back to the same text. A difference traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "protocol/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t a[64], b[64];
    char back[B64_ENCODED_LEN(sizeof(a)) + 1];
    size_t cap, al = 0, bl = 0, high = 0;
    const char *s;
    int ra, rb;

    if (size == 0)
        return 0;
    cap = data[0] % 64;
    s = (const char *)data + 1;
    size--;
    for (size_t i = 0; i < size; i++)
        high |= data[1 + i] >= 0x80;
    ra = b64_decode(a, cap, s, size, &al);
    rb = sodium_base642bin(b, cap, s, size, NULL, &bl, NULL, sodium_base64_VARIANT_ORIGINAL);
    if (high) {
        if (ra != PS_E_INVAL || al != 0)
            __builtin_trap();
        return 0;
    }
    if ((ra == PS_OK) != (rb == 0) || (ra != PS_OK && al != 0) ||
        (ra == PS_OK && (al != bl || memcmp(a, b, al) != 0)))
        __builtin_trap();
    if (ra == PS_OK &&
        (b64_encode(back, sizeof(back), a, al) != size || memcmp(back, s, size) != 0))
        __builtin_trap();
    return 0;
}
