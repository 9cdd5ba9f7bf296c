/*
 * aeo_import_fuzz - libFuzzer target for the AEO register importers (protocol/aeo.c).
 *   make fuzz   (seeds in tests/fuzz/corpus/aeo_import/, dictionary tests/fuzz/aeo_import.dict)
 * Input: a CSV or JSON-lines file, given to aeo_import (which picks the format), with the
 * default identifier rules. Promises checked (a trap if broken): an accepted file gives
 * records that pass aeo_record_check, have seq 0 and distinct aeo_ids, and whose JSON lines
 * (written back) import again to the same records; a refused file says why ("line N...") and
 * leaves the list empty.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/aeo.h"
#include "protocol/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The records as JSON lines of the six import fields. */
static int as_jsonl(const struct aeo_list *l, struct buf *b)
{
    char from[TIME_DATE_LEN + 1], until[TIME_DATE_LEN + 1];
    struct buf one;
    int r = PS_OK;

    buf_init(&one, 1 << 16);
    for (size_t i = 0; i < l->n && r == PS_OK; i++) {
        struct aeo_record x = l->rec[i];
        const char *s, *e;
        x.seq = 1;
        buf_reset(&one);
        if (aeo_record_format(&x, &one) != PS_OK || time_format_date(x.valid_from, from) ||
            time_format_date(x.valid_until, until))
            __builtin_trap();
        /* drop "seq":1, and ,"updated_at":... from the canonical form */
        s = strstr((char *)one.data, "\"aeo_id\"");
        e = strstr((char *)one.data, ",\"updated_at\"");
        r = buf_append(b, "{", 1);
        r = r ? r : buf_append(b, s, (size_t)(e - s));
        r = r ? r : buf_append(b, "}\n", 2);
    }
    buf_free(&one);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct aeo_id_rules rules;
    struct aeo_list l = {0}, l2 = {0};
    char err[512] = "";
    struct buf b;

    if (rules.n == 0)
        aeo_id_rules_default(&rules);
    if (size > 1 << 20)
        return 0;
    if (aeo_import(data, size, &rules, &l, err, sizeof(err)) != PS_OK) {
        if (err[0] == 0 || l.n != 0 || l.rec != NULL)
            __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < l.n; i++) {
        if (l.rec[i].seq != 0 || aeo_record_check(&l.rec[i], &rules, err, sizeof(err)) != PS_OK)
            __builtin_trap();
        for (size_t j = i + 1; j < l.n && j < i + 64; j++)
            if (strcmp(l.rec[i].aeo_id, l.rec[j].aeo_id) == 0)
                __builtin_trap();
    }
    buf_init(&b, 64 << 20);
    if (as_jsonl(&l, &b) != PS_OK ||
        aeo_import_jsonl(b.data, b.len, &rules, &l2, err, sizeof(err)) != PS_OK || l2.n != l.n ||
        (l.n && memcmp(l.rec, l2.rec, l.n * sizeof(*l.rec)) != 0))
        __builtin_trap();
    buf_free(&b);
    aeo_list_free(&l);
    aeo_list_free(&l2);
    return 0;
}
