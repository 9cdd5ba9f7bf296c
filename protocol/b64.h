/*
 * b64.h - standard base64 (RFC 4648 section 4, '+' '/' and '=' padding) for the signing hot
 * path, with table lookups.
 *
 * libsodium's codec is constant-time (every character goes through arithmetic masks), which
 * key material needs; digests sent to be signed and the signatures returned are public, and
 * sodium_base642bin/sodium_bin2base64 were a quarter of a worker's CPU in 100-hash requests.
 * b64_decode accepts and refuses exactly what sodium_base642bin(..., ignore NULL, b64_end
 * NULL, sodium_base64_VARIANT_ORIGINAL) does, with the same output (tests/unit/protocol/
 * b64_test.c compares them; tests/fuzz/b64_fuzz.c too): padding required, no white space,
 * unused bits of the last character zero. Pure: no allocation.
 */
#ifndef PS_B64_H
#define PS_B64_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Characters b64_encode writes for n bytes, without the NUL. */
#define B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Encode n bytes into out, NUL-terminated; returns the length without the NUL, or 0 (out
 * untouched) if cap < B64_ENCODED_LEN(n) + 1. */
size_t b64_encode(char *out, size_t cap, const uint8_t *in, size_t n);

/* Decode all of in[0..len) into out (at most cap bytes); PS_OK with *outlen, or PS_E_INVAL
 * (not canonical padded base64, or more than cap bytes) with *outlen 0. */
int b64_decode(uint8_t *out, size_t cap, const char *in, size_t len, size_t *outlen) PS_WUR;
/* 1 if in[0..len) is all ASCII (no byte >= 0x80). libsodium 1.0.18's sodium_base642bin
 * decodes such bytes as if they were digits: its callers check this first. */
int b64_ascii(const char *in, size_t len);

#endif
