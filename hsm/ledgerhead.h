/*
 * ledgerhead.h - the ledger head in the token (hsm/keyholder.c writes it, portseal-keytool
 * shows and resets it).
 *
 * After every checkpoint the keyholder records "SIZE ROOTHEX" (the checkpoint's tree size and
 * root) in a private data object of the token labelled LEDGER_HEAD_LABEL. state_dir can be
 * restored from a backup or replaced; the token (an HSM) is not restored with it. So at start
 * the stored tree must extend the recorded head, or new leaves would reuse indexes that
 * auditors already hold with other contents (a forked log).
 *
 * Writing is crash-safe without modifying objects in place (SoftHSM refuses CKA_VALUE changes
 * on data objects): a new object is created first, then the older ones are destroyed, and a
 * reader takes the largest size among the objects it finds.
 */
#ifndef PS_LEDGERHEAD_H
#define PS_LEDGERHEAD_H

#include <stdint.h>

#include "../protocol/merkle.h"
#include "p11.h"

#define LEDGER_HEAD_LABEL "portseal-ledger-head"

/* The newest recorded head. PS_E_NOTFOUND when there is none, PS_E_INVAL when one is malformed. */
int ledger_head_read(struct p11_module *m, CK_SESSION_HANDLE s, uint64_t *size,
                     uint8_t root[MERKLE_HASH_LEN]) PS_WUR;
/* Record a head (R/W session). */
int ledger_head_write(struct p11_module *m, CK_SESSION_HANDLE s, uint64_t size,
                      const uint8_t root[MERKLE_HASH_LEN]) PS_WUR;
/* Delete every recorded head; *count receives how many objects went. */
int ledger_head_reset(struct p11_module *m, CK_SESSION_HANDLE s, unsigned *count) PS_WUR;

#endif
