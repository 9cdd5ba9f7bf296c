/*
 * signreq.h - a fast reader for the usual shape of a POST /v1/sign/hash body.
 *
 * The hot path of the signing API parses {"key": "...", "alg": "...", "hashes": ["...", ...]}
 * once per request; a general JSON parser builds (and frees) a tree for it. This reader
 * accepts only the common case, and says PS_E_UNSUPPORTED for everything else so that the
 * caller falls back to the full JSON parser, which gives the same answer for the bodies both
 * accept and all the error messages:
 *   - exactly one JSON object (JSON white space around tokens), nothing after it but white space;
 *   - members "key" and "hashes" required, "alg" and "format" optional, each at most once, no
 *     other member;
 *   - "key", "alg", "format" are strings and "hashes" a non-empty array of at most max_hashes
 *     strings;
 *   - every string is printable ASCII (0x20..0x7e) without '\' (so no escapes to decode), and
 *     at most SIGNREQ_MAX_STR bytes.
 * Strings point into the input (not NUL-terminated). Pure: no allocation.
 */
#ifndef PS_SIGNREQ_H
#define PS_SIGNREQ_H

#include <stddef.h>

#include "err.h"

#define SIGNREQ_MAX_STR 256

struct signreq_str {
    const char *p; /* NULL: absent */
    size_t len;
};

struct signreq {
    struct signreq_str key, alg, format;
    size_t n;           /* hashes */
    const char *hashes; /* the array's text, from its '[': signreq_next walks it */
};

int signreq_parse(const char *p, size_t len, size_t max_hashes, struct signreq *out) PS_WUR;
/* The next hash of a parsed request: start with *pos = q->hashes, call q->n times. */
void signreq_next(const char **pos, struct signreq_str *out);

#endif
