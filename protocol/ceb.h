/*
 * ceb.h - XMLDSig enveloped signatures for customs messages (CEB profiles and plain XMLDSig).
 * Pure format code: bytes in, bytes out. Signing is done by the caller between
 * ceb_prepare (which yields the canonical SignedInfo to sign) and ceb_finish.
 *
 * The signed output is the submitted bytes unchanged, with <ds:Signature> inserted just
 * before the root's end tag; removing it gives back exactly what was digested.
 *
 * The DigestValue (inclusive C14N of the document) comes from protocol/c14n.c, which
 * canonicalises the submitted bytes in one pass; what it does not take goes through libxml2
 * (DOM, checks, xmlC14NDocSaveTo) exactly as before (docs/NOTES.md, CEB entry).
 *
 * Namespace context of SignedInfo (see docs/NOTES.md): the Signature element declares
 * xmlns:ds, and for the ceb-* profiles also xmlns:xsi when the root does not. Inclusive C14N
 * of SignedInfo in the document context then renders exactly what the China E-port signer
 * renders (ceb, ds, xsi) for a root that declares only ceb, and a standard verifier
 * (xmlsec1) computes the same bytes.
 */
#ifndef PS_CEB_H
#define PS_CEB_H

#include <stddef.h>
#include <stdint.h>

#include "alg.h"
#include "buf.h"
#include "err.h"

struct ceb_profile {
    const char *name;
    const char *sig_uri;
    const char *digest_uri;
    const char *digest_md; /* OpenSSL digest name for DigestValue */
    int ceb;               /* ceb-* profile: CEB root required, xsi rendered */
    int key_family;        /* KT_RSA, KT_EC_P256 or KT_SM2 */
    enum ps_alg alg;       /* the keyholder algorithm */
    int raw_ecdsa;         /* SignatureValue is r||s (SM2 and XMLDSig ECDSA) */
};

/* Initialise libxml2 for this thread and keep its error printer quiet (reasons are returned
 * in err; hostile input must not fill the log). Call once per process/thread before use. */
void ceb_library_init(void);
const struct ceb_profile *ceb_profile_by_name(const char *name);
const struct ceb_profile *ceb_profile_by_sig_uri(const char *uri);

struct ceb_limits {
    size_t max_bytes;
    int max_depth;
    int libxml2_only; /* skip the fast path (protocol/c14n.c): tests and the differential fuzzer */
};

struct ceb_doc;

/*
 * Parse and check a message to sign: UTF-8, no DTD or entities, no network, bounded depth,
 * no existing Signature, a CEB root when the profile is ceb-*. PS_E_INVAL with a reason.
 */
int ceb_parse(const uint8_t *xml, size_t len, const struct ceb_profile *p,
              const struct ceb_limits *lim, struct ceb_doc **out, char *err, size_t errlen) PS_WUR;
/*
 * Compute the DigestValue and the canonical SignedInfo bytes (into si, reset first).
 * certno is the KeyName; cert_der the signer's certificate for X509Certificate.
 */
int ceb_prepare(struct ceb_doc *d, const char *certno, const uint8_t *cert_der, size_t cert_len,
                struct buf *si) PS_WUR;
/* The same with the certificate already in base64 (the key registry keeps it so). */
int ceb_prepare_b64(struct ceb_doc *d, const char *certno, const char *cert_b64, size_t b64_len,
                    struct buf *si) PS_WUR;
/* The digest of the canonical SignedInfo the keyholder signs (the profile algorithm's hash);
 * PS_E_INVAL for SM2, whose e = SM3(Z || SignedInfo) needs the key (certs/sm2.h). */
int ceb_signedinfo_digest(const struct ceb_profile *p, const struct buf *si, uint8_t *md,
                          unsigned *mdl) PS_WUR;
/* The signed document: original bytes with the Signature (SignatureValue = sig) inserted. */
int ceb_finish(struct ceb_doc *d, const uint8_t *sig, size_t siglen, struct buf *out) PS_WUR;
/*
 * The same, in place: doc holds the submitted bytes (the unread bytes of doc are what d was
 * parsed from), and the Signature is inserted into it, so that the reply needs no copy of the
 * document. doc may grow past its max by the Signature. The doc cannot be finished again.
 */
int ceb_finish_in_place(struct ceb_doc *d, const uint8_t *sig, size_t siglen,
                        struct buf *doc) PS_WUR;
/* Root element's local name (e.g. CEB621Message). */
const char *ceb_root_name(const struct ceb_doc *d);
void ceb_free(struct ceb_doc *d);

/* What a verifier needs from a signed message. */
struct ceb_sig {
    const struct ceb_profile *profile; /* from SignatureMethod; NULL if unknown */
    struct buf signed_info;            /* canonical SignedInfo (document context) */
    uint8_t sigval[1024];
    size_t siglen;
    uint8_t cert[8192]; /* X509Certificate, DER */
    size_t certlen;
    char key_name[128];
    int digest_ok; /* DigestValue matches the document without the Signature */
};

/* Parse a signed message; fills sig. PS_E_INVAL with a reason for anything malformed. */
int ceb_read_signature(const uint8_t *xml, size_t len, const struct ceb_limits *lim,
                       struct ceb_sig *sig, char *err, size_t errlen) PS_WUR;
void ceb_sig_free(struct ceb_sig *sig);

#endif
