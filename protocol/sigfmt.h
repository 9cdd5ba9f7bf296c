/*
 * sigfmt.h - signature encodings: ECDSA raw r||s (PKCS#11, JOSE, CEB) <-> DER (X.509, CMS).
 */
#ifndef PS_SIGFMT_H
#define PS_SIGFMT_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

/* raw r||s (even length, at most 132 bytes) -> DER ECDSA-Sig-Value in der (cap bytes). */
int ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, uint8_t *der, size_t cap,
                     size_t *derlen) PS_WUR;
/* DER -> raw r||s with each half padded to n bytes (n = field size: 32 for P-256). */
int ecdsa_der_to_raw(const uint8_t *der, size_t derlen, size_t n, uint8_t *raw) PS_WUR;

#endif
