#include "policy.h"

#include <string.h>

int policy_check_sign(const struct keyreg *reg, const struct ipc_sign_req *req, size_t max_batch,
                      time_t now, const struct key_entry **key, const char **why)
{
    const struct key_entry *k = keyreg_find(reg, req->key);

    /* Another tenant's key is reported as unknown: its existence is not disclosed. */
    if (k == NULL || strcmp(k->cfg->tenant, req->tenant) != 0) {
        *why = "no such key for this tenant";
        return PS_E_NOTFOUND;
    }
    if (req->alg <= ALG_NONE || req->alg >= ALG_MAX || !alg_fits_key(req->alg, k->type)) {
        *why = "algorithm does not fit this key";
        return PS_E_UNSUPPORTED;
    }
    if (!key_alg_allowed(k, req->alg)) {
        *why = "algorithm not allowed for this key";
        return PS_E_DENIED;
    }
    if (now < k->not_before || now > k->not_after) {
        *why = "key certificate is not valid now";
        return PS_E_DENIED;
    }
    if (req->count == 0 || req->count > max_batch) {
        *why = "batch size out of range";
        return PS_E_INVAL;
    }
    for (uint16_t i = 0; i < req->count; i++)
        if (!alg_digest_len_ok(req->alg, req->digests[i].len)) {
            *why = "digest length does not match the algorithm";
            return PS_E_INVAL;
        }
    *key = k;
    return PS_OK;
}
