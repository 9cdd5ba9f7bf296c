/*
 * asice.h - ASiC-E containers (ETSI EN 319 162-1) for evidence bundles: the zip writer
 * (libarchive), a strict zip reader, the ASiCManifest writer and a strict manifest reader.
 * Pure format code: bytes in, structs out.
 *
 * Layout written and required:
 *   mimetype                      first, stored, exactly "application/vnd.etsi.asic-e+zip"
 *   <data objects>                at the top level; names pass asice_name_check
 *   META-INF/ASiCManifest.xml     the manifest (asice_manifest_write)
 *   META-INF/signature001.p7s     detached CAdES over the manifest
 *   META-INF/timestamp001.tst     RFC 3161 token over signature001.p7s
 *   META-INF/ledger-proof.json    inclusion proof and checkpoint
 * The writer stores every entry (no compression: evidence files are mostly compressed
 * already, and every byte of a stored entry is covered by a digest), with mode 0644, uid and
 * gid 0 and the given time, in the order given.
 *
 * The reader parses the zip itself and accounts for every byte: local headers, data and data
 * descriptors back to back from offset 0, then the central directory, then the end record,
 * nothing else (no comment, no gap, no prefix, no zip64, no encryption, no multi-disk). Each
 * central entry must agree with its local header (version, flags, method, time, CRC, sizes,
 * name, extra fields byte for byte), the CRC and sizes must match the data, and the fields that
 * appear once must have the canonical values the writer gives them (regular file 0644, made by
 * Unix with the version needed, no internal attributes). Only "UT" and "ux" extra fields.
 * Methods: stored and deflate (a zip from another tool); uncompressed sizes are counted while
 * inflating, against the per-entry and total limits and the compression-ratio limit (zip bombs).
 * Names: no duplicates, data objects pass asice_name_check, only the four META-INF files above
 * (each optional for the reader: the verifier reports what is missing), and a "META-INF/"
 * directory entry is tolerated; no other directories, no symlinks.
 *
 * Errors: PS_E_INVAL (malformed) or PS_E_LIMIT (a limit) with a reason in err naming the entry,
 * e.g. "entry 3 (a.pdf): CRC mismatch". Buffers: the caller owns struct buf outputs (buf_free);
 * asice_free releases what asice_read and asice_manifest_read return.
 */
#ifndef PS_ASICE_H
#define PS_ASICE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define ASICE_MIMETYPE      "application/vnd.etsi.asic-e+zip"
#define ASICE_MANIFEST      "META-INF/ASiCManifest.xml"
#define ASICE_SIGNATURE     "META-INF/signature001.p7s"
#define ASICE_TIMESTAMP     "META-INF/timestamp001.tst"
#define ASICE_LEDGER_PROOF  "META-INF/ledger-proof.json"
#define ASICE_MAX_NAME      128 /* bytes in a data object name */
#define ASICE_MAX_PATH      (ASICE_MAX_NAME + 16)
#define ASICE_MAX_MIME      127
#define ASICE_MAX_REFS      1024
#define ASICE_DIGEST_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"

/* One entry to write: its full path in the zip and its bytes (borrowed). */
struct asice_entry {
    const char *name;
    const uint8_t *data;
    size_t len;
};

struct asice_limits {
    size_t max_entries; /* entries, mimetype included */
    size_t max_entry;   /* uncompressed bytes of one entry */
    size_t max_total;   /* uncompressed bytes of all entries */
    unsigned max_ratio; /* uncompressed / compressed, checked for entries over 64 KiB */
    int keep_bad_crc;   /* return entries whose CRC does not match (crc_bad) instead of failing:
                         * the verifier then names the file whose content changed */
};

/* A file read from a container (mimetype and directory entries are not listed). */
struct asice_file {
    char name[ASICE_MAX_PATH + 1];
    uint8_t *data; /* malloc'd; NUL-terminated (not counted in len) */
    size_t len;
    int meta_inf; /* under META-INF/ */
    int crc_bad;  /* only with keep_bad_crc */
};

struct asice {
    struct asice_file *files;
    size_t n;
};

/* One DataObjectReference (or, for the manifest's SigReference, only name). */
struct asice_ref {
    char name[ASICE_MAX_PATH + 1]; /* the URI, percent-decoded */
    char mime[ASICE_MAX_MIME + 1]; /* "" when absent */
    uint8_t sha256[32];
};

struct asice_manifest {
    char sigref[ASICE_MAX_PATH + 1];
    char sigref_mime[ASICE_MAX_MIME + 1];
    struct asice_ref *refs; /* malloc'd */
    size_t n;
};

/*
 * Whether name (NUL-terminated) may be a data object: 1..ASICE_MAX_NAME bytes of valid UTF-8,
 * no control characters, none of / \ : * ? " < > |, no "..", not "." , not "mimetype", not
 * "META-INF" (any case), no leading or trailing space. PS_E_INVAL with a reason.
 */
int asice_name_check(const char *name, char *err, size_t errlen) PS_WUR;

/* A media type fit for the manifest: type "/" subtype of RFC 6838 characters, lower-cased;
 * parameters are dropped. Anything else gives "application/octet-stream". */
void asice_mime_clean(const char *in, char out[ASICE_MAX_MIME + 1]);

/* The zip of mimetype followed by e[0..n) (full names) into out; mtime for every entry. */
int asice_write(const struct asice_entry *e, size_t n, int64_t mtime, struct buf *out, char *err,
                size_t errlen) PS_WUR;

/* Read a container strictly (rules above). */
int asice_read(const uint8_t *zip, size_t len, const struct asice_limits *lim, struct asice *out,
               char *err, size_t errlen) PS_WUR;
const struct asice_file *asice_find(const struct asice *a, const char *name);
void asice_free(struct asice *a);

/* The canonical manifest: SigReference to ASICE_SIGNATURE and one DataObjectReference per ref,
 * in the order given (names must pass asice_name_check; mime as asice_mime_clean gives). */
int asice_manifest_write(const struct asice_ref *refs, size_t n, struct buf *out) PS_WUR;

/* Parse a manifest strictly: no DTD, only the elements and attributes of the ASiC schema that
 * the writer uses, SHA-256 digests only, no duplicate URIs, at most ASICE_MAX_REFS. */
int asice_manifest_read(const uint8_t *xml, size_t len, struct asice_manifest *m, char *err,
                        size_t errlen) PS_WUR;
void asice_manifest_free(struct asice_manifest *m);

#endif
