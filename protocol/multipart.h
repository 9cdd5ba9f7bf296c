/*
 * multipart.h - a bounded multipart/form-data parser (RFC 7578, on RFC 2046 §5.1.1).
 * Pure format code: the request body in, a list of parts out; no allocation per byte.
 *
 * Accepted:
 *   - Content-Type "multipart/form-data" with a boundary parameter of 1..70 characters from
 *     RFC 2046's bchars (quoted or not); mp_boundary extracts it.
 *   - An optional preamble, then "--boundary" lines ended by CRLF (transport padding: spaces and
 *     tabs before the CRLF), the close delimiter "--boundary--"; the epilogue is ignored.
 *   - Part headers: CRLF-terminated "Name: value" lines, no folding (obs-fold is refused), no
 *     control characters except TAB. Content-Disposition is required, exactly once, type
 *     form-data, with a name parameter and an optional filename parameter (token or
 *     quoted-string taken literally, as HTML forms send it: a backslash is just a character, a
 *     quote inside a file name arrives as %22 and is kept as those three characters). "filename*"
 * (RFC 7578 §4.2 says not to use it) and a Content-Transfer-Encoding other than 7bit, 8bit or
 * binary are refused. Content-Type is kept (at most MP_MAX_TYPE bytes); other headers are ignored.
 * Limits (struct mp_limits): total body size, number of parts, size of each part's header block.
 *
 * Errors: PS_E_LIMIT for a limit, PS_E_INVAL for malformed input; err then holds a sentence that
 * names the problem and can be sent to the client as is (e.g. "part 3: Content-Disposition has
 * no name parameter"). On failure the form is empty.
 *
 * Ownership: part data points into the caller's body (borrowed: keep the body until the form
 * is no longer used); the part array is malloc'd and released by mp_form_free.
 */
#ifndef PS_MULTIPART_H
#define PS_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MP_MAX_NAME     255 /* bytes in a field name or file name */
#define MP_MAX_TYPE     127 /* bytes in a part's Content-Type */
#define MP_MAX_BOUNDARY 70

struct mp_limits {
    size_t max_total;  /* body bytes */
    size_t max_parts;  /* parts in the form */
    size_t max_header; /* bytes in one part's header block */
};

struct mp_part {
    char name[MP_MAX_NAME + 1];
    char filename[MP_MAX_NAME + 1]; /* "" unless has_filename */
    int has_filename;
    char content_type[MP_MAX_TYPE + 1]; /* "" when the part has none */
    const uint8_t *data;                /* into the body */
    size_t len;
};

struct mp_form {
    struct mp_part *parts;
    size_t n;
};

/* The boundary of a Content-Type header value (NUL-terminated) into out (at least
 * MP_MAX_BOUNDARY + 1 bytes). PS_E_INVAL with a reason if the type is not multipart/form-data
 * or the boundary is missing or invalid. */
int mp_boundary(const char *content_type, char *out, size_t outlen, char *err,
                size_t errlen) PS_WUR;

/* Parse body[0..len) with boundary into *form (limits above). */
int mp_parse(const uint8_t *body, size_t len, const char *boundary, const struct mp_limits *lim,
             struct mp_form *form, char *err, size_t errlen) PS_WUR;

void mp_form_free(struct mp_form *form);

#endif
