/*
 * evverify.h - offline verification of an evidence bundle (protocol/evidence.h) and of the
 * consistency of two ledger checkpoints: the core of tools/portseal-verify.
 *
 * evv_bundle runs the checks in this order, each with a verdict (ok / FAIL / skipped) and a
 * detail sentence naming what broke:
 *   container   the zip is a strict ASiC-E (protocol/asice.h asice_read)
 *   manifest    META-INF/ASiCManifest.xml parses strictly, its SigReference is
 *               META-INF/signature001.p7s, every data object is listed once and its SHA-256
 *               matches, nothing else is listed
 *   metadata    metadata.json is a data object and valid sealed metadata
 *   signature   signature001.p7s is one detached CMS SignedData with one SignerInfo over the
 *               exact manifest bytes: messageDigest, the signature over the signed attributes,
 *               ESS signing-certificate-v2 naming the signer certificate, keyUsage (if present)
 *               allowing digitalSignature or nonRepudiation, and a chain to the roots (the
 *               CMS's certificates as intermediates) valid at the time-stamp's genTime
 *   timestamp   timestamp001.tst is a DER RFC 3161 token whose imprint is SHA-256 of
 *               signature001.p7s, signed by a certificate with extendedKeyUsage timeStamping
 *               that chains to the roots at genTime (OpenSSL's TS verifier: signature, ESS
 *               signing certificate, purpose timestamp sign)
 *   ledger      ledger-proof.json parses strictly; its leaf is the bundle leaf of exactly this
 *               manifest, p7s and token and carries the time of metadata.json's sealed_at;
 *               log_certificate[0] is an Ed25519 certificate that chains to the roots at
 *               genTime; the checkpoint is signed by that key under the name of its origin
 *               line; its size is tree_size; the inclusion proof leads to its root
 *   checkpoint  only with a trusted checkpoint: signed by the same log key (and origin), and the
 *               same tree as the bundle's checkpoint, or consistent with it by the given
 *               consistency proof (the JSON of GET /v1/ledger/proof/consistency)
 * The roots are trust anchors (no CRLs: the bundle is checked as of its time-stamp).
 * A check whose inputs are missing because an earlier check failed is skipped; the bundle is
 * valid when no check failed and none but "checkpoint" was skipped.
 */
#ifndef PS_EVVERIFY_H
#define PS_EVVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "../protocol/err.h"
#include "../protocol/evidence.h"
#include "../protocol/merkle.h"

enum evv_check {
    EVV_CONTAINER,
    EVV_MANIFEST,
    EVV_METADATA,
    EVV_SIGNATURE,
    EVV_TIMESTAMP,
    EVV_LEDGER,
    EVV_CHECKPOINT,
    EVV_N
};

#define EVV_SKIP (-1)
#define EVV_FAIL 0
#define EVV_OK   1

struct evv_result {
    int state;
    char detail[400];
};

struct evv_report {
    int valid;
    struct evv_result r[EVV_N];
    char bundle_id[65];
    size_t objects;     /* data objects */
    char signer[256];   /* subject of the CAdES signer */
    char tsa[256];      /* subject of the TSA */
    char gen_time[40];  /* genTime, as the token says */
    int64_t gen_time_t; /* genTime, seconds */
    uint64_t leaf_index, tree_size;
    char origin[256]; /* the log's checkpoint origin */
    struct evidence_meta meta;
};

struct evv_trust {
    STACK_OF(X509) * roots;    /* trust anchors */
    const uint8_t *checkpoint; /* a checkpoint the auditor trusts (signed note), or NULL */
    size_t checkpoint_len;
    const uint8_t *consistency; /* {"old","new","proof"} JSON, or NULL */
    size_t consistency_len;
};

const char *evv_check_name(enum evv_check c);

/* Verify zip[0..len); the verdicts are in *rep. PS_OK, or PS_E_NOMEM. */
int evv_bundle(const uint8_t *zip, size_t len, const struct evv_trust *t,
               struct evv_report *rep) PS_WUR;

/* Parse {"old": N, "new": M, "proof": ["b64", ...]} strictly. */
int evv_consistency_parse(const uint8_t *json, size_t len, uint64_t *old_size, uint64_t *new_size,
                          struct merkle_proof *proof, char *err, size_t errlen) PS_WUR;

/*
 * Check that the checkpoints old_note and new_note are both signed by the log key of
 * log_certs[0] (which must be Ed25519 and chain to roots through log_certs[1..]; validity
 * dates are not checked, checkpoints carry no time) under the origin of old_note, and that the
 * proof JSON shows new to extend old. 1 when valid, 0 when not (reason in why).
 */
int evv_consistency(STACK_OF(X509) * roots, STACK_OF(X509) * log_certs, const uint8_t *old_note,
                    size_t old_len, const uint8_t *new_note, size_t new_len,
                    const uint8_t *proof_json, size_t proof_len, char *why, size_t whylen);

#endif
