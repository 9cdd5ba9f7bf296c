/*
 * policy.h - what the keyholder agrees to sign (pure; unit-tested).
 * A request passes only if the key exists, belongs to the requesting tenant, allows the
 * algorithm, is inside its certificate's validity, and every digest has the algorithm's size.
 */
#ifndef PS_POLICY_H
#define PS_POLICY_H

#include <time.h>

#include "../certs/keyreg.h"
#include "ipc.h"

/* PS_OK, or PS_E_NOTFOUND / PS_E_DENIED / PS_E_UNSUPPORTED / PS_E_INVAL with *why set. */
int policy_check_sign(const struct keyreg *reg, const struct ipc_sign_req *req, size_t max_batch,
                      time_t now, const struct key_entry **key, const char **why) PS_WUR;

#endif
