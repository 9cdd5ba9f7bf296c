/*
 * ipc.h - the worker <-> keyholder frame protocol (pure encode/decode, fuzzed).
 *
 * Frame = 12-byte header, then exactly `len` payload bytes. All integers big-endian.
 *   u32 len | u32 id | u16 type | u16 status
 * Requests carry status 0. A reply repeats the request's id and type; status is 0 or
 * -(enum ps_err) and then the payload is a short error text.
 * The text of a PS_E_RATE error (a tenant's sign_rate, hsm/tenantlimit.h) starts with the
 * whole seconds to wait and a blank, for the worker's retry-after header.
 *
 * IPC_SIGN request:  u8 tlen, tenant | u8 klen, key id | u8 alg | u8 flags | u16 count |
 *                    count x (u8 dlen, digest)
 * IPC_SIGN reply:    u64 first audit sequence number | u16 count | count x (u16 slen, sig)
 * IPC_STATUS request: empty.  reply: u8 hsm_ok | u8 storage_ok | text (Prometheus lines)
 * IPC_LEDGER request: u8 op | u64 a | u64 b | text;  reply: u64 a | u64 b | u8 n | n x 32-byte
 *                    hash | text. Per op (enum ipc_ledger_op):
 *   CHECKPOINT  a = 1: sign a new checkpoint now if the log grew.  reply a = its size, text =
 *               the signed note (the latest; a first one is made if there is none)
 *   INCLUSION   a = index, b = size.  reply a, b as asked, hash[0] = the leaf hash, then the proof
 *   CONSISTENCY a = old size, b = new size.  reply a, b as asked, the proof
 *   APPEND      text = one leaf (ledger_leaf_valid).  reply a = its index, b = the size of the
 *               checkpoint signed for it, the inclusion proof to that size, text = that note
 * Unknown types, bad lengths or trailing bytes are fatal for the peer that sent them.
 */
#ifndef PS_IPC_H
#define PS_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "../protocol/buf.h"
#include "../protocol/err.h"

#define IPC_HDR_LEN 12
/* A full reply (IPC_MAX_DIGESTS signatures of IPC_MAX_SIG bytes) always fits. */
#define IPC_MAX_PAYLOAD (16 * 1024 * 1024)
#define IPC_MAX_DIGESTS 10000
#define IPC_MAX_DIGEST  64
#define IPC_MAX_SIG     1024
#define IPC_MAX_ID      64

enum ipc_type { IPC_SIGN = 1, IPC_STATUS = 2, IPC_LEDGER = 3 };
enum ipc_ledger_op {
    IPC_LEDGER_CHECKPOINT = 1,
    IPC_LEDGER_INCLUSION = 2,
    IPC_LEDGER_CONSISTENCY = 3,
    IPC_LEDGER_APPEND = 4,
};
#define IPC_LEDGER_REQ_HDR 17 /* u8 op | u64 a | u64 b */
#define IPC_MAX_HASHES     65 /* a leaf hash and a proof of up to 64 */

/* A ledger request or reply; text points into the bytes it was decoded from. */
struct ipc_ledger {
    uint8_t op; /* requests only */
    uint64_t a, b;
    uint8_t nhash;       /* replies only */
    const uint8_t *hash; /* nhash x 32 bytes */
    const uint8_t *text;
    size_t text_len;
};

struct ipc_hdr {
    uint32_t len;
    uint32_t id;
    uint16_t type;
    uint16_t status;
};

struct ipc_digest {
    const uint8_t *p;
    uint8_t len;
};

/* A decoded sign request; pointers refer into the payload it was decoded from. */
struct ipc_sign_req {
    char tenant[IPC_MAX_ID + 1];
    char key[IPC_MAX_ID + 1];
    uint8_t alg;
    uint8_t flags;
    uint16_t count;
    struct ipc_digest *digests; /* malloc'd array of count entries; free() it */
};

void ipc_hdr_encode(uint8_t out[IPC_HDR_LEN], const struct ipc_hdr *h);
/* PS_E_INVAL for a header that no valid peer sends (oversized, unknown type). */
int ipc_hdr_decode(const uint8_t in[IPC_HDR_LEN], struct ipc_hdr *h) PS_WUR;

int ipc_sign_req_encode(struct buf *b, uint32_t id, const char *tenant, const char *key,
                        uint8_t alg, uint8_t flags, const uint8_t *const *digests,
                        const uint8_t *dlens, uint16_t count) PS_WUR;
int ipc_sign_req_decode(const uint8_t *p, size_t len, struct ipc_sign_req *r) PS_WUR;

/* Append a whole frame (header + payload) to b. */
int ipc_frame_append(struct buf *b, uint32_t id, uint16_t type, uint16_t status,
                     const void *payload, size_t len) PS_WUR;

/* Sign replies: begin writes the header with a placeholder length; finish patches it. */
int ipc_sign_reply_begin(struct buf *b, uint32_t id, uint64_t first_seq, uint16_t count,
                         size_t *start) PS_WUR;
int ipc_sign_reply_add(struct buf *b, const uint8_t *sig, size_t len) PS_WUR;
void ipc_sign_reply_finish(struct buf *b, size_t start);
/* Iterate a sign reply: on success *first_seq and *count are set, sigs[i]/lens[i] filled. */
int ipc_sign_reply_decode(const uint8_t *p, size_t len, uint64_t *first_seq, uint16_t *count,
                          const uint8_t **sigs, uint16_t *lens, uint16_t max) PS_WUR;

int ipc_ledger_req_encode(struct buf *b, uint32_t id, uint8_t op, uint64_t a, uint64_t x,
                          const void *text, size_t len) PS_WUR;
int ipc_ledger_req_decode(const uint8_t *p, size_t len, struct ipc_ledger *r) PS_WUR;
/* A whole reply frame: hashes (n x 32 bytes, n <= IPC_MAX_HASHES) and text. */
int ipc_ledger_reply_append(struct buf *b, uint32_t id, uint64_t a, uint64_t x,
                            const uint8_t *hashes, uint8_t n, const void *text, size_t len) PS_WUR;
int ipc_ledger_reply_decode(const uint8_t *p, size_t len, struct ipc_ledger *r) PS_WUR;

#endif
