#include "ledgerhead.h"
#include "../protocol/strnum.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HEAD_MAX 16 /* objects looked at (normally one; two after a crash mid-write) */

static int parse(const uint8_t *v, size_t n, uint64_t *size, uint8_t root[MERKLE_HASH_LEN])
{
    char text[128], hex[2 * MERKLE_HASH_LEN + 2];
    unsigned long long sz;

    if (n == 0 || n >= sizeof(text))
        return PS_E_INVAL;
    memcpy(text, v, n);
    text[n] = 0;
    if (sscanf(text, "%llu %65s", &sz, hex) != 2 || strlen(hex) != 2 * MERKLE_HASH_LEN)
        return PS_E_INVAL;
    for (size_t i = 0; i < MERKLE_HASH_LEN; i++) {
        unsigned b;

        if (sscanf(hex + 2 * i, "%2x", &b) != 1)
            return PS_E_INVAL;
        root[i] = (uint8_t)b;
    }
    *size = sz;
    return PS_OK;
}

int ledger_head_read(struct p11_module *m, CK_SESSION_HANDLE s, uint64_t *size,
                     uint8_t root[MERKLE_HASH_LEN])
{
    CK_OBJECT_HANDLE h[HEAD_MAX];
    size_t n = 0;
    int found = 0, r;

    if ((r = p11_data_find(m, s, LEDGER_HEAD_LABEL, h, HEAD_MAX, &n)) != PS_OK)
        return r;
    for (size_t i = 0; i < n; i++) {
        uint8_t v[128], rt[MERKLE_HASH_LEN];
        size_t len = sizeof(v);
        uint64_t sz;

        if ((r = p11_data_value(m, s, h[i], v, &len)) != PS_OK)
            return r;
        if (parse(v, len, &sz, rt) != PS_OK)
            return PS_E_INVAL;
        if (!found || sz > *size) {
            *size = sz;
            memcpy(root, rt, MERKLE_HASH_LEN);
        }
        found = 1;
    }
    return found ? PS_OK : PS_E_NOTFOUND;
}

int ledger_head_write(struct p11_module *m, CK_SESSION_HANDLE s, uint64_t size,
                      const uint8_t root[MERKLE_HASH_LEN])
{
    CK_OBJECT_HANDLE old[HEAD_MAX], nh;
    size_t n = 0;
    char text[32 + 2 * MERKLE_HASH_LEN];
    int len = snprintf(text, sizeof(text), "%" PRIu64 " ", size), r;

    strnum_hex(root, MERKLE_HASH_LEN, text + len);
    len += 2 * MERKLE_HASH_LEN;
    if ((r = p11_data_find(m, s, LEDGER_HEAD_LABEL, old, HEAD_MAX, &n)) != PS_OK ||
        (r = p11_data_create(m, s, LEDGER_HEAD_LABEL, (const uint8_t *)text, (size_t)len, &nh)) !=
            PS_OK)
        return r;
    for (size_t i = 0; i < n; i++)
        if ((r = p11_object_destroy(m, s, old[i])) != PS_OK)
            return r;
    return PS_OK;
}

int ledger_head_reset(struct p11_module *m, CK_SESSION_HANDLE s, unsigned *count)
{
    CK_OBJECT_HANDLE h[HEAD_MAX];
    size_t n = 0;
    int r;

    *count = 0;
    do {
        if ((r = p11_data_find(m, s, LEDGER_HEAD_LABEL, h, HEAD_MAX, &n)) != PS_OK)
            return r;
        for (size_t i = 0; i < n; i++) {
            if ((r = p11_object_destroy(m, s, h[i])) != PS_OK)
                return r;
            (*count)++;
        }
    } while (n == HEAD_MAX);
    return PS_OK;
}
