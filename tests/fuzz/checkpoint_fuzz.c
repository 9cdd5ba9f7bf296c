/*
 * checkpoint_fuzz - libFuzzer target for signed notes, checkpoints and vkeys
 * (protocol/checkpoint.c).
 *   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/checkpoint_fuzz.c \
 *       protocol/checkpoint.c protocol/merkle.c protocol/buf.c protocol/err.c -lsodium \
 *       -o /tmp/checkpoint_fuzz
 *   /tmp/checkpoint_fuzz -max_total_time=60 -dict=tests/fuzz/checkpoint.dict \
 *       tests/fuzz/corpus/checkpoint/
 * The first byte picks what the rest is:
 *   0  a signed checkpoint, opened with the fuzz key (Ed25519 from the seed 1, 2, .. 32, name
 *      "fuzz.example/log"; the seeds in the corpus are signed by it, some cosigned by
 *      "witness.example/w1", seed 100, 101, ..): an accepted note's text is exactly what
 *      checkpoint_format makes of the result;
 *   1  checkpoint text: what parses formats back to the same bytes, unless the origin is one
 *      the format refuses (a space, "+" or non-ASCII byte);
 *   2  a vkey: what parses formats back to the same text (hex case aside) and parses again;
 *   3  a signed note, opened with the fuzz key: the text ends with "\n" before a blank line.
 * Failures must say why and leave the outputs empty. Any broken promise is a trap.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "protocol/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct note_verifier fuzz_key;
static int ready;

static void setup(void)
{
    uint8_t seed[32], pk[32], sk[64];

    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(1 + i);
    crypto_sign_ed25519_seed_keypair(pk, sk, seed);
    if (note_verifier_init(&fuzz_key, "fuzz.example/log", pk) != PS_OK)
        __builtin_trap();
    ready = 1;
}

static void open_checkpoint(const uint8_t *p, size_t n)
{
    static const struct checkpoint zero;
    struct checkpoint cp;
    struct buf b;
    char err[256] = "";
    size_t tl;

    buf_init(&b, 2 * NOTE_MAX_LEN);
    if (checkpoint_open(p, n, &fuzz_key, &cp, err, sizeof(err)) == PS_OK) {
        if (note_open(p, n, &fuzz_key, &tl, NULL, 0) != PS_OK ||
            checkpoint_format(&cp, &b, NULL, 0) != PS_OK || b.len != tl ||
            memcmp(b.data, p, tl) != 0 || cp.size > MERKLE_MAX_SIZE)
            __builtin_trap();
    } else if (err[0] == 0 || memcmp(&cp, &zero, sizeof(cp)) != 0) {
        __builtin_trap();
    }
    buf_free(&b);
}

static void parse_text(const uint8_t *p, size_t n)
{
    static const struct checkpoint zero;
    struct checkpoint cp;
    struct buf b;
    char err[256] = "";
    size_t i;
    int r;

    buf_init(&b, 2 * NOTE_MAX_LEN);
    if (checkpoint_parse(p, n, &cp, err, sizeof(err)) == PS_OK) {
        if (cp.origin[0] == 0 || cp.size > MERKLE_MAX_SIZE ||
            (cp.ext != NULL &&
             (cp.ext < (const char *)p || cp.ext + cp.ext_len != (const char *)p + n)))
            __builtin_trap();
        r = checkpoint_format(&cp, &b, err, sizeof(err));
        if (r == PS_OK && (b.len != n || memcmp(b.data, p, n) != 0))
            __builtin_trap();
        if (r != PS_OK) {
            for (i = 0; cp.origin[i]; i++)
                if (cp.origin[i] == ' ' || cp.origin[i] == '+' || (uint8_t)cp.origin[i] >= 0x80)
                    break;
            if (cp.origin[i] == 0)
                __builtin_trap();
        }
    } else if (err[0] == 0 || memcmp(&cp, &zero, sizeof(cp)) != 0) {
        __builtin_trap();
    }
    buf_free(&b);
}

static void parse_vkey(const uint8_t *p, size_t n)
{
    struct note_verifier v, v2;
    struct buf b;
    char err[256] = "";
    size_t i, nl;

    buf_init(&b, 1024);
    if (note_vkey_parse((const char *)p, n, &v, err, sizeof(err)) == PS_OK) {
        if (note_vkey_format(&v, &b) != PS_OK || b.len != n)
            __builtin_trap();
        nl = strlen(v.name);
        for (i = 0; i < n; i++) {
            uint8_t c = p[i];
            if (i > nl && i <= nl + 8 && c >= 'A' && c <= 'F')
                c = (uint8_t)(c - 'A' + 'a');
            if (c != b.data[i])
                __builtin_trap();
        }
        if (note_vkey_parse((const char *)b.data, b.len, &v2, NULL, 0) != PS_OK ||
            memcmp(&v, &v2, sizeof(v)) != 0)
            __builtin_trap();
    } else if (err[0] == 0) {
        __builtin_trap();
    }
    buf_free(&b);
}

static void open_note(const uint8_t *p, size_t n)
{
    char err[256] = "";
    size_t tl = 0;

    if (note_open(p, n, &fuzz_key, &tl, err, sizeof(err)) == PS_OK) {
        if (tl == 0 || tl + 2 > n || p[tl - 1] != '\n' || p[tl] != '\n')
            __builtin_trap();
    } else if (err[0] == 0) {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0: open_checkpoint(data + 1, size - 1); break;
    case 1: parse_text(data + 1, size - 1); break;
    case 2: parse_vkey(data + 1, size - 1); break;
    default: open_note(data + 1, size - 1); break;
    }
    return 0;
}
