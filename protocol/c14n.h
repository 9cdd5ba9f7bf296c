/*
 * c14n.h - inclusive Canonical XML 1.0 (without comments) of a whole document, straight from
 * its bytes: one bounded pass, no tree, no allocation. It is the fast path of protocol/ceb.c
 * (the DigestValue of an enveloped signature with Reference URI="" is the digest of exactly
 * this output for the document before the signature is inserted).
 *
 * It handles the XML that customs messages are made of: an optional XML declaration (version
 * 1.0, encoding UTF-8, standalone), comments and processing instructions, elements and
 * attributes with ASCII names, namespace declarations at any level with absolute URIs of a
 * plain shape (scheme ':' then letters, digits and "-._~/:#"), text with the five predefined
 * entities and character references, CDATA sections, CR/LF in any mix, UTF-8 text. Anything
 * else, and anything not well-formed, is PS_E_UNSUPPORTED: the caller then asks libxml2, which
 * decides (and refuses what must be refused). So an accepted document is one libxml2 accepts
 * too, with the same canonical bytes; tests/fuzz/c14n_fuzz.c checks that on arbitrary input.
 * Beyond plain well-formedness it also gives up on: a DOCTYPE, a byte order mark, a root that
 * is an empty-element tag or is followed by anything but white space, names starting with
 * "xml" (other than xmlns declarations), elements nested max_depth deep, and more than
 * C14N_MAX_ATTRS attributes on an element or C14N_MAX_BINDINGS namespace declarations in
 * scope.
 */
#ifndef PS_C14N_H
#define PS_C14N_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define C14N_MAX_DEPTH    64  /* elements open at once (max_depth is capped to it) */
#define C14N_MAX_ATTRS    64  /* attributes (declarations included) on one element */
#define C14N_MAX_BINDINGS 128 /* namespace declarations in scope */
#define C14N_MAX_ROOT_NS  32  /* namespace declarations on the root element */

/* Receives the canonical bytes in order; a non-zero return stops the walk with that code. */
typedef int (*c14n_sink)(void *ctx, const uint8_t *p, size_t n);

/* A slice of the caller's input (not NUL-terminated). */
struct c14n_str {
    const uint8_t *p;
    size_t len;
};

/* What the walk learnt about the document; the slices point into the input. */
struct c14n_info {
    struct c14n_str root_local;  /* root element's local name */
    struct c14n_str root_prefix; /* its prefix (len 0: none) */
    struct c14n_str root_uri;    /* its namespace URI (len 0: none) */
    struct {
        struct c14n_str prefix;  /* len 0: the default namespace */
        struct c14n_str href;    /* may be empty (xmlns="") */
    } root_ns[C14N_MAX_ROOT_NS]; /* the root's own namespace declarations, in document order */
    size_t root_nns;
    size_t root_end;    /* offset of the "</" of the root's end tag */
    int dsig_signature; /* an element Signature in the XMLDSig namespace occurs */
};

/*
 * Canonicalise xml[0..len) into sink. PS_OK: the whole canonical form was written and info
 * is filled. PS_E_UNSUPPORTED: outside the subset above or not well-formed (some output may
 * already have been written: discard it). Any other code comes from the sink.
 */
int c14n_document(const uint8_t *xml, size_t len, int max_depth, c14n_sink sink, void *ctx,
                  struct c14n_info *info) PS_WUR;

#endif
