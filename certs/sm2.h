/*
 * sm2.h - the SM2 signature's message digest e = SM3(Z || M) (GB/T 32918.2), so that the
 * keyholder signs a 32-byte digest like every other key and never sees the document.
 * Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) with the default ID "1234567812345678".
 */
#ifndef PS_SM2_H
#define PS_SM2_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "../protocol/err.h"

#define SM2_DEFAULT_ID "1234567812345678"

int sm2_digest_e(EVP_PKEY *pub, const uint8_t *msg, size_t len, uint8_t e[32]) PS_WUR;
/* The two halves of sm2_digest_e: Z depends only on the key (the key registry keeps it, since
 * computing it builds the curve and converts the point), e on Z and the message. */
int sm2_z(EVP_PKEY *pub, uint8_t z[32]) PS_WUR;
int sm2_digest_e_z(const uint8_t z[32], const uint8_t *msg, size_t len, uint8_t e[32]) PS_WUR;

#endif
