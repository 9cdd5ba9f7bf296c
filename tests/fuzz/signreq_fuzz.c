/*
 * signreq_fuzz - libFuzzer target for the fast /v1/sign/hash body reader (protocol/signreq.c).
 *   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/signreq_fuzz.c protocol/signreq.c \
 *       -ljansson -o /tmp/signreq_fuzz
 *   /tmp/signreq_fuzz -max_total_time=60 tests/fuzz/corpus/signreq/
 * Differential: whatever signreq_parse accepts, jansson (the worker's fallback) must read as an
 * object with the same key, alg, format and hashes, and no other member. A difference traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "protocol/signreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const struct signreq_str *s, const char *v)
{
    if (s->p == NULL || v == NULL)
        return s->p == NULL && v == NULL;
    return strlen(v) == s->len && memcmp(v, s->p, s->len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data, *key = NULL, *alg = NULL, *format = NULL, *pos;
    size_t max = size ? (size_t)data[0] % 8 + 1 : 1;
    struct signreq q;
    json_t *root, *hashes = NULL;
    int ok;

    if (signreq_parse(body, size, max, &q) != PS_OK)
        return 0;
    root = json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
    ok = root && json_is_object(root) && json_object_size(root) == 2u + !!q.alg.p + !!q.format.p &&
         json_unpack(root, "{s:s,s?s,s:o,s?s}", "key", &key, "alg", &alg, "hashes", &hashes,
                     "format", &format) == 0 &&
         json_is_array(hashes) && json_array_size(hashes) == q.n && q.n >= 1 && q.n <= max &&
         str_eq(&q.key, key) && str_eq(&q.alg, alg) && str_eq(&q.format, format);
    pos = q.hashes;
    for (size_t i = 0; ok && i < q.n; i++) {
        struct signreq_str h;

        signreq_next(&pos, &h);
        ok = str_eq(&h, json_string_value(json_array_get(hashes, i)));
    }
    json_decref(root);
    if (!ok)
        __builtin_trap();
    return 0;
}
