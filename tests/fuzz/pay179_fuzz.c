/*
 * pay179_fuzz - libFuzzer target for the "179" signing-string builder (protocol/pay179.c).
 *   clang -fsanitize=fuzzer,address -I. tests/fuzz/pay179_fuzz.c protocol/pay179.c \
 *       protocol/buf.c protocol/err.c -o /tmp/pay179_fuzz
 *   /tmp/pay179_fuzz -max_total_time=60 tests/fuzz/corpus/pay179/
 * Besides memory errors it traps when a result breaks the header's promises: on success the
 * string starts with "sessionID" and holds no raw control byte; on failure the output is
 * empty and the error text is set; the same input always gives the same answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/pay179.h"

#define MAX_IN (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out, again;
    char err[256], err2[256];
    size_t i;
    int r, r2;

    buf_init(&out, 4 * MAX_IN);
    buf_init(&again, 4 * MAX_IN);
    r = pay179_build((const char *)data, size, MAX_IN, &out, err, sizeof(err));
    if (r == PS_OK) {
        if (out.len < 13 || memcmp(out.data, "\"sessionID\":\"", 13) != 0)
            __builtin_trap();
        for (i = 0; i < out.len; i++)
            if (out.data[i] < 0x20 || out.data[i] == 0x7F)
                __builtin_trap();
    } else if (out.len != 0 || err[0] == 0) {
        __builtin_trap();
    }
    r2 = pay179_build((const char *)data, size, MAX_IN, &again, err2, sizeof(err2));
    if (r2 != r || again.len != out.len || (out.len && memcmp(again.data, out.data, out.len)) ||
        (r != PS_OK && strcmp(err, err2) != 0))
        __builtin_trap();
    buf_free(&out);
    buf_free(&again);
    return 0;
}
