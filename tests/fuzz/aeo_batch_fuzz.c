/*
 * aeo_batch_fuzz - libFuzzer target for the AEO feed batch parser (protocol/aeo.c).
 *   make fuzz   (seeds in tests/fuzz/corpus/aeo_batch/, dictionary tests/fuzz/aeo_batch.dict)
 * Input: a batch payload, parsed with the default identifier rules. Promises checked (a trap
 * if broken): an accepted batch has to = from + n - 1 and records with seq from, from+1, ..;
 * written back with aeo_batch_format and parsed again it gives the same batch, and the
 * register digest and the status of its first operator can be computed; a refused batch says
 * why and leaves the batch empty.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/aeo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct aeo_batch zero;
    static struct aeo_id_rules rules;
    struct aeo_batch b, b2;
    uint8_t d[AEO_DIGEST_LEN];
    char err[512] = "";
    struct buf out;

    if (rules.n == 0)
        aeo_id_rules_default(&rules);
    if (aeo_batch_parse(data, size, &rules, &b, err, sizeof(err)) != PS_OK) {
        if (err[0] == 0 || memcmp(&b, &zero, sizeof(b)) != 0)
            __builtin_trap();
        return 0;
    }
    if (b.to + 1 != b.from + b.records.n)
        __builtin_trap();
    for (size_t i = 0; i < b.records.n; i++)
        if (b.records.rec[i].seq != b.from + i)
            __builtin_trap();
    buf_init(&out, AEO_BATCH_MAX_LEN);
    if (aeo_batch_format(b.origin, b.from, b.records.rec, b.records.n, &out, err, sizeof(err)) !=
            PS_OK ||
        aeo_batch_parse(out.data, out.len, &rules, &b2, err, sizeof(err)) != PS_OK ||
        strcmp(b.origin, b2.origin) != 0 || b.from != b2.from || b.to != b2.to ||
        b.records.n != b2.records.n ||
        (b.records.n &&
         memcmp(b.records.rec, b2.records.rec, b.records.n * sizeof(b.records.rec[0])) != 0))
        __builtin_trap();
    if (aeo_register_digest(b.records.rec, b.records.n, d) != PS_OK)
        __builtin_trap();
    if (b.records.n)
        (void)aeo_status_at(b.records.rec, b.records.n, b.records.rec[0].aeo_id,
                            b.records.rec[0].updated_at, NULL);
    buf_free(&out);
    aeo_batch_free(&b);
    aeo_batch_free(&b2);
    return 0;
}
