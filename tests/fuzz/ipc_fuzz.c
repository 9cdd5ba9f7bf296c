/*
 * ipc_fuzz - libFuzzer target for the keyholder's frame decoders (hsm/ipc.c): the header,
 * the sign request and reply, the ledger request and reply, and the leaves a worker may
 * append. A decoded request re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/ipc.h"
#include "hsm/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ipc_hdr h;
    struct ipc_sign_req req;
    const uint8_t *sigs[64];
    uint16_t lens[64], count;
    uint64_t seq;

    if (size >= IPC_HDR_LEN && ipc_hdr_decode(data, &h) == PS_OK && h.len > IPC_MAX_PAYLOAD)
        abort(); /* the decoder let an oversized frame through */
    if (ipc_sign_req_decode(data, size, &req) == PS_OK) {
        const uint8_t **d = malloc(sizeof(*d) * req.count);
        uint8_t *l = malloc(req.count);
        struct buf b;

        buf_init(&b, IPC_MAX_PAYLOAD + IPC_HDR_LEN);
        for (uint16_t i = 0; i < req.count; i++) {
            d[i] = req.digests[i].p;
            l[i] = req.digests[i].len;
        }
        if (ipc_sign_req_encode(&b, 1, req.tenant, req.key, req.alg, req.flags, d, l, req.count) !=
                PS_OK ||
            b.len != size + IPC_HDR_LEN || memcmp(b.data + IPC_HDR_LEN, data, size) != 0)
            abort(); /* decode and encode disagree */
        buf_free(&b);
        free(d);
        free(l);
        free(req.digests);
    }
    (void)ipc_sign_reply_decode(data, size, &seq, &count, sigs, lens, 64);
    {
        struct ipc_ledger l;

        if (ipc_ledger_req_decode(data, size, &l) == PS_OK) {
            struct buf b;

            buf_init(&b, IPC_MAX_PAYLOAD + IPC_HDR_LEN);
            if (ipc_ledger_req_encode(&b, 1, l.op, l.a, l.b, l.text, l.text_len) != PS_OK ||
                b.len != size + IPC_HDR_LEN || memcmp(b.data + IPC_HDR_LEN, data, size) != 0)
                abort();
            buf_free(&b);
            (void)ledger_leaf_valid(l.text, l.text_len);
        }
        if (ipc_ledger_reply_decode(data, size, &l) == PS_OK &&
            17 + (size_t)l.nhash * 32 + l.text_len != size)
            abort();
    }
    return 0;
}
