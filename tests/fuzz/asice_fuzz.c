/*
 * asice_fuzz - libFuzzer target for the strict ASiC-E zip reader and the manifest reader
 * (protocol/asice.c), and the ledger-proof and leaf parsers of protocol/evidence.c on what a
 * container holds.
 *   make fuzz   (or build by hand like tests/fuzz/checkpoint_fuzz.c)
 * The input is a zip (seeds in tests/fuzz/corpus/asice/: a sealed bundle and small zips).
 * Promises checked: a failure leaves nothing behind and says why; what is read stays within
 * the limits, has no duplicate names, data objects pass asice_name_check, META-INF holds only
 * the four known files; writing the files back with asice_write and reading that again gives
 * the same names and bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/asice.h"
#include "protocol/evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct asice_limits lim = {64, 1 << 20, 4 << 20, 100, 0};

static void rewrite(const struct asice *a)
{
    struct asice_entry e[64];
    struct asice b;
    struct buf z;
    char err[300];

    buf_init(&z, 16 << 20);
    for (size_t i = 0; i < a->n; i++)
        e[i] = (struct asice_entry){a->files[i].name, a->files[i].data, a->files[i].len};
    if (asice_write(e, a->n, 1700000000, &z, err, sizeof(err)) != PS_OK ||
        asice_read(z.data, z.len, &lim, &b, err, sizeof(err)) != PS_OK || b.n != a->n)
        __builtin_trap();
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->files[i].name, b.files[i].name) != 0 || a->files[i].len != b.files[i].len ||
            memcmp(a->files[i].data, b.files[i].data, a->files[i].len) != 0)
            __builtin_trap();
    asice_free(&b);
    buf_free(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct asice a;
    const struct asice_file *f;
    size_t total = 0;
    char err[300] = "";

    if (asice_read(data, size, &lim, &a, err, sizeof(err)) != PS_OK) {
        if (a.n != 0 || a.files != NULL || err[0] == 0)
            __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < a.n; i++) {
        total += a.files[i].len;
        if (a.files[i].len > lim.max_entry ||
            (!a.files[i].meta_inf && asice_name_check(a.files[i].name, err, sizeof(err)) != PS_OK))
            __builtin_trap();
        for (size_t j = 0; j < i; j++)
            if (strcmp(a.files[i].name, a.files[j].name) == 0)
                __builtin_trap();
    }
    if (total > lim.max_total)
        __builtin_trap();
    if ((f = asice_find(&a, ASICE_MANIFEST)) != NULL) {
        struct asice_manifest m;

        if (asice_manifest_read(f->data, f->len, &m, err, sizeof(err)) == PS_OK) {
            if (m.n == 0 || m.n > ASICE_MAX_REFS)
                __builtin_trap();
            asice_manifest_free(&m);
        } else if (m.refs != NULL) {
            __builtin_trap();
        }
    }
    if ((f = asice_find(&a, ASICE_LEDGER_PROOF)) != NULL) {
        struct evidence_proof p;
        struct evidence_leaf l;

        evidence_proof_init(&p);
        if (evidence_proof_parse(f->data, f->len, &p, err, sizeof(err)) == PS_OK &&
            evidence_leaf_parse(p.leaf.data, p.leaf.len, &l, err, sizeof(err)) == PS_OK) {
            struct buf b;

            buf_init(&b, 512);
            if (evidence_leaf_format(l.unix_ms, l.manifest, l.p7s, l.tst, &b) != PS_OK ||
                b.len != p.leaf.len || memcmp(b.data, p.leaf.data, b.len) != 0)
                __builtin_trap();
            buf_free(&b);
        }
        evidence_proof_free(&p);
    }
    if ((f = asice_find(&a, EVIDENCE_METADATA)) != NULL)
        (void)evidence_metadata_check(f->data, f->len, 1, NULL, err, sizeof(err));
    rewrite(&a);
    asice_free(&a);
    return 0;
}
