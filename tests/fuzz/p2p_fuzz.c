/*
 * p2p_fuzz - libFuzzer target for P2P envelopes, outbox requests and receipts
 * (protocol/p2p.c).
 *   make fuzz   (seeds in tests/fuzz/corpus/p2p/, dictionary tests/fuzz/p2p.dict)
 * The first byte picks what the rest is: 0 an envelope, 1 an outbox request, 2 a receipt.
 * Promises checked (a trap if broken): an accepted envelope passes its body schema, written
 * back and parsed again it is the same (the written form is canonical: writing it again gives
 * the same bytes); an accepted receipt writes back and parses to the same values; anything
 * refused says why and leaves the output empty.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void envelope(const uint8_t *p, size_t n)
{
    struct p2p_envelope e, e2;
    struct buf a, b;
    char err[512] = "";

    if (p2p_envelope_parse(p, n, &e, err, sizeof(err)) != PS_OK) {
        if (err[0] == 0 || e.body != NULL || e.id[0] != 0)
            __builtin_trap();
        return;
    }
    buf_init(&a, 2 * P2P_MAX_LEN);
    buf_init(&b, 2 * P2P_MAX_LEN);
    if (p2p_body_check(e.type, e.body, err, sizeof(err)) != PS_OK ||
        p2p_envelope_format(&e, &a, err, sizeof(err)) != PS_OK ||
        p2p_envelope_parse(a.data, a.len, &e2, err, sizeof(err)) != PS_OK ||
        p2p_envelope_format(&e2, &b, err, sizeof(err)) != PS_OK || a.len != b.len ||
        memcmp(a.data, b.data, a.len) != 0 || strcmp(e.id, e2.id) != 0 || e.seq != e2.seq ||
        e.created != e2.created || e.has_expires != e2.has_expires || !json_equal(e.body, e2.body))
        __builtin_trap();
    p2p_envelope_free(&e2);
    p2p_envelope_free(&e);
    buf_free(&a);
    buf_free(&b);
}

static void outbox(const uint8_t *p, size_t n)
{
    struct p2p_envelope e;
    char err[512] = "";

    if (p2p_outbox_parse(p, n, &e, err, sizeof(err)) != PS_OK) {
        if (err[0] == 0 || e.body != NULL)
            __builtin_trap();
        return;
    }
    if (p2p_body_check(e.type, e.body, err, sizeof(err)) != PS_OK || e.priority == 0 ||
        !p2p_id_ok(e.to, strlen(e.to)))
        __builtin_trap();
    p2p_envelope_free(&e);
}

static void receipt(const uint8_t *p, size_t n)
{
    struct p2p_receipt r, r2;
    char err[512] = "";
    struct buf a;

    if (p2p_receipt_parse(p, n, &r, err, sizeof(err)) != PS_OK) {
        if (err[0] == 0 || r.message_id[0] != 0)
            __builtin_trap();
        return;
    }
    buf_init(&a, 4096);
    if (p2p_receipt_format(&r, &a, err, sizeof(err)) != PS_OK ||
        p2p_receipt_parse(a.data, a.len, &r2, err, sizeof(err)) != PS_OK ||
        strcmp(r.message_id, r2.message_id) != 0 || memcmp(r.digest, r2.digest, 32) != 0 ||
        r.received_at != r2.received_at || r.ledger_index != r2.ledger_index)
        __builtin_trap();
    buf_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0: envelope(data + 1, size - 1); break;
    case 1: outbox(data + 1, size - 1); break;
    default: receipt(data + 1, size - 1); break;
    }
    return 0;
}
