/*
 * multipart_fuzz - libFuzzer target for the multipart/form-data parser (protocol/multipart.c)
 * and, on what parses, the evidence upload checks (protocol/evidence.c evidence_seal_begin:
 * metadata JSON, file names, limits, manifest writer).
 *   make fuzz   (or build by hand like tests/fuzz/checkpoint_fuzz.c)
 * The input is a request body with the boundary "b0undary" (seeds in
 * tests/fuzz/corpus/multipart/). Promises checked: a failure leaves the form empty and says
 * why; parts lie inside the body, in order, within the limits; names are NUL-free and within
 * MP_MAX_NAME; a begun seal has metadata.json first, valid names and a manifest that the
 * strict reader reads back with the same digests.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/evidence.h"
#include "protocol/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_seal(const struct evidence_seal *s)
{
    struct asice_manifest m;
    char err[300];

    if (s->n < 2 || strcmp(s->obj[0].name, EVIDENCE_METADATA) != 0)
        __builtin_trap();
    for (size_t i = 1; i < s->n; i++)
        if (asice_name_check(s->obj[i].name, err, sizeof(err)) != PS_OK || s->obj[i].len == 0)
            __builtin_trap();
    if (evidence_metadata_check(s->metadata.data, s->metadata.len, 1, NULL, err, sizeof(err)) !=
        PS_OK)
        __builtin_trap();
    if (asice_manifest_read(s->manifest.data, s->manifest.len, &m, err, sizeof(err)) != PS_OK ||
        m.n != s->n)
        __builtin_trap();
    for (size_t i = 0; i < m.n; i++)
        if (strcmp(m.refs[i].name, s->obj[i].name) != 0 ||
            memcmp(m.refs[i].sha256, s->obj[i].sha256, 32) != 0)
            __builtin_trap();
    asice_manifest_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct mp_limits lim = {1 << 20, 16, 1024};
    static const struct evidence_limits elim = {8, 1 << 16, 1 << 18};
    struct mp_form f;
    struct evidence_seal s;
    char err[300] = "";
    const uint8_t *prev = data;

    if (mp_parse(data, size, "b0undary", &lim, &f, err, sizeof(err)) != PS_OK) {
        if (f.n != 0 || f.parts != NULL || err[0] == 0)
            __builtin_trap();
        return 0;
    }
    if (f.n > lim.max_parts)
        __builtin_trap();
    for (size_t i = 0; i < f.n; i++) {
        const struct mp_part *p = &f.parts[i];

        if (p->data < prev || p->data + p->len > data + size || strlen(p->name) > MP_MAX_NAME ||
            strlen(p->filename) > MP_MAX_NAME || strlen(p->content_type) > MP_MAX_TYPE ||
            (!p->has_filename && p->filename[0]))
            __builtin_trap();
        prev = p->data + p->len;
    }
    err[0] = 0;
    if (evidence_seal_begin(&s, &f, &elim, 1764340000123ull, err, sizeof(err)) == PS_OK)
        check_seal(&s);
    else if (err[0] == 0 || s.n != 0)
        __builtin_trap();
    evidence_seal_free(&s);
    mp_form_free(&f);
    return 0;
}
