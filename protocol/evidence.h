/*
 * evidence.h - IP pre-confirmation evidence bundles: the upload (metadata rules, file names,
 * limits), the sealing steps, the ledger leaf of a bundle and META-INF/ledger-proof.json.
 * Pure format code. The container is protocol/asice.h; CMS and time-stamp objects over the
 * manifest are built by certs/evseal.h; a whole bundle is checked by certs/evverify.h.
 *
 * Sealing, in this order (each step can wait for the keyholder in between; the seal keeps
 * pointers into the form's body, which must stay alive until evidence_seal_finish):
 *   1. evidence_seal_begin(form, sealed_at_ms)  checks the upload and builds metadata.json and
 *      META-INF/ASiCManifest.xml (seal.manifest): 4xx errors come from here only;
 *   2. the caller has seal.manifest signed: certs/evseal.h evseal_cms_build + evseal_cms_der
 *      -> signature001.p7s;
 *   3. the caller has the p7s time-stamped: evseal_tsq -> (TSA) -> evseal_tst_from_resp
 *      -> timestamp001.tst;
 *   4. evidence_seal_leaf(seal, p7s, tst) -> the leaf text; the caller appends it to the
 *      ledger and gets its index, a checkpoint that includes it and the inclusion proof;
 *   5. evidence_proof_json(...) -> ledger-proof.json;
 *   6. evidence_seal_finish(seal, p7s, tst, proof) -> the zip and the bundle id.
 *   7. evidence_seal_free.
 *
 * Upload metadata (part "metadata", a JSON object, at most EVIDENCE_MAX_METADATA bytes):
 *   rights_holder  string, 1..256 bytes            required
 *   trademarks     array of strings, 1..64 bytes   optional (at most 100)
 *   patents        array of strings, 1..64 bytes   optional (at most 100)
 *   goods          string, 1..2048 bytes           required
 *   hs_code        string of 4..10 digits, dots allowed between them ("6403.99")  required
 *   submitter      string, 1..256 bytes            required
 * At least one trademark or patent number. Strings: UTF-8 without control characters.
 * Unknown keys, repeated keys, other types and "sealed_at" (set by the appliance) are refused.
 * metadata.json in the bundle is the same object in that key order, two-space indented, with
 * "sealed_at": "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) last and a final newline.
 *
 * Files: every part other than "metadata" must have a filename that passes asice_name_check
 * and is not "metadata.json"; no two alike; none empty; at most max_files, each at most
 * max_file bytes and max_total together. A part without a filename other than "metadata" and
 * a second "metadata" part are refused.
 *
 * Ledger leaf of a bundle (one line):
 *   "bundle " unix_ms " " hex(SHA-256(manifest)) " " hex(SHA-256(p7s)) " " hex(SHA-256(tst)) "\n"
 * unix_ms canonical decimal (no sign, no leading zero), hex lowercase; leaf hash per RFC 6962.
 *
 * ledger-proof.json:
 *   {"leaf": "<leaf text>", "leaf_index": N, "tree_size": M, "inclusion": ["<b64>", ...],
 *    "checkpoint": "<signed note>", "log_certificate": ["<PEM>", "<PEM issuing CA>"]}
 *
 * Errors: PS_E_INVAL / PS_E_LIMIT with a sentence in err for bad input (answer 400 / 413),
 * PS_E_NOMEM otherwise. Buffers (struct buf) are the caller's (buf_free).
 */
#ifndef PS_EVIDENCE_H
#define PS_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "asice.h"
#include "buf.h"
#include "err.h"
#include "merkle.h"
#include "multipart.h"

#define EVIDENCE_METADATA       "metadata.json"
#define EVIDENCE_MAX_METADATA   (64 * 1024)
#define EVIDENCE_MAX_LOG_CERTS  4
#define EVIDENCE_MAX_PROOF_JSON (256 * 1024)
#define EVIDENCE_LEAF_MAX       256

struct evidence_limits {
    size_t max_files; /* files, metadata not counted */
    size_t max_file;  /* bytes of one file */
    size_t max_total; /* bytes of all files */
};

/* A data object of the bundle; data is borrowed (the upload body) or the seal's metadata. */
struct evidence_object {
    char name[ASICE_MAX_NAME + 1];
    char mime[ASICE_MAX_MIME + 1];
    const uint8_t *data;
    size_t len;
    uint8_t sha256[32];
};

struct evidence_seal {
    uint64_t sealed_at_ms;
    struct buf metadata;         /* metadata.json */
    struct buf manifest;         /* META-INF/ASiCManifest.xml: what step 2 signs */
    struct evidence_object *obj; /* obj[0] is metadata.json, then the files in upload order */
    size_t n;
};

/* What the metadata says (the verifier shows it). */
struct evidence_meta {
    char rights_holder[257];
    char first_mark[65];   /* the first trademark, else the first patent number */
    size_t marks;          /* trademarks + patents */
    uint64_t sealed_at_ms; /* sealed metadata only */
};

struct evidence_leaf {
    uint64_t unix_ms;
    uint8_t manifest[32], p7s[32], tst[32];
};

struct evidence_proof {
    struct buf leaf;
    uint64_t leaf_index, tree_size;
    struct merkle_proof inclusion;
    struct buf checkpoint;
    size_t ncerts;
    struct buf cert[EVIDENCE_MAX_LOG_CERTS]; /* PEM text */
};

/* Step 1. On failure the seal is empty (evidence_seal_free is still safe). */
int evidence_seal_begin(struct evidence_seal *s, const struct mp_form *form,
                        const struct evidence_limits *lim, uint64_t sealed_at_ms, char *err,
                        size_t errlen) PS_WUR;
/* Step 4: the leaf text for this seal's manifest and the given signature and token. */
int evidence_seal_leaf(const struct evidence_seal *s, const uint8_t *p7s, size_t p7s_len,
                       const uint8_t *tst, size_t tst_len, struct buf *leaf) PS_WUR;
/* Step 6: the container into zip (max of zip is respected: PS_E_LIMIT) and its id, the
 * lowercase hex SHA-256 of the zip bytes. */
int evidence_seal_finish(const struct evidence_seal *s, const uint8_t *p7s, size_t p7s_len,
                         const uint8_t *tst, size_t tst_len, const uint8_t *proof, size_t proof_len,
                         struct buf *zip, char bundle_id[65], char *err, size_t errlen) PS_WUR;
void evidence_seal_free(struct evidence_seal *s);

/* Check metadata JSON: an upload (sealed = 0: no sealed_at) or metadata.json of a bundle
 * (sealed = 1: sealed_at required). out may be NULL. */
int evidence_metadata_check(const uint8_t *json, size_t len, int sealed, struct evidence_meta *out,
                            char *err, size_t errlen) PS_WUR;

/* For the search index: calls fn for every trademark ("trademark") and patent ("patent")
 * number of metadata JSON (an upload or metadata.json), in order, after checking it like
 * evidence_metadata_check. */
typedef void (*evidence_mark_fn)(void *ctx, const char *kind, const char *number);
int evidence_metadata_marks(const uint8_t *json, size_t len, int sealed, evidence_mark_fn fn,
                            void *ctx) PS_WUR;

int evidence_leaf_format(uint64_t unix_ms, const uint8_t manifest[32], const uint8_t p7s[32],
                         const uint8_t tst[32], struct buf *out) PS_WUR;
int evidence_leaf_parse(const uint8_t *text, size_t len, struct evidence_leaf *out, char *err,
                        size_t errlen) PS_WUR;

/* Step 5: ledger-proof.json. leaf, note: the leaf text and the signed checkpoint note (UTF-8);
 * cert_pem: the log key's certificate first, then its issuers (1..EVIDENCE_MAX_LOG_CERTS, each
 * at most 64 KiB). PS_E_INVAL for arguments out of range (index >= size, no certificate, text
 * that is not UTF-8). */
int evidence_proof_json(const uint8_t *leaf, size_t leaf_len, uint64_t leaf_index,
                        uint64_t tree_size, const struct merkle_proof *inclusion,
                        const uint8_t *note, size_t note_len, const char *const *cert_pem,
                        size_t ncerts, struct buf *out) PS_WUR;
/* Parse ledger-proof.json strictly (all keys required, nothing else, types and sizes). */
void evidence_proof_init(struct evidence_proof *p);
int evidence_proof_parse(const uint8_t *json, size_t len, struct evidence_proof *p, char *err,
                         size_t errlen) PS_WUR;
void evidence_proof_free(struct evidence_proof *p);

/* SHA-256 of p[0..n) (OpenSSL's, with the CPU's SHA instructions), and as lowercase hex. */
void evidence_sha256(const uint8_t *p, size_t n, uint8_t out[32]);
void evidence_sha256_hex(const uint8_t *p, size_t n, char out[65]);

#endif
