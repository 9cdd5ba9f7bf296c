/*
 * cmsverify.h - check a detached CMS SignedData (CAdES-BES as /v1/sign/cms makes) over content.
 *
 * For every SignerInfo: the signer certificate must be in the CMS; the messageDigest attribute
 * must be the digest of the content (or, without signed attributes, the signature must cover
 * the content); the signature over the signed attributes must verify with the certificate's
 * key; the certificate must chain to an anchor of trust (with the CMS's other certificates as
 * intermediates, the S/MIME signing purpose, CRLs when the store has them), at the time of
 * the check. The first failure is the reason.
 */
#ifndef PS_CMSVERIFY_H
#define PS_CMSVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "../protocol/err.h"

struct cms_check {
    int valid;
    char reason[256];  /* why not valid; empty when valid */
    int have_signer;   /* the fields below are set */
    char subject[512]; /* X509_NAME_oneline of the (first failing, else first) signer */
    char issuer[512];
    char certno[64]; /* its serial number, lowercase hex */
};

/*
 * PS_E_INVAL (reason in err) when sig is not exactly one DER CMS SignedData with a detached
 * content and at least one SignerInfo: a malformed request. Otherwise PS_OK with the verdict
 * in *out.
 */
int cms_verify_detached(const uint8_t *sig, size_t siglen, const uint8_t *content, size_t clen,
                        X509_STORE *trust, struct cms_check *out, char *err, size_t errlen) PS_WUR;

/* Read detached content through the CMS digest BIOs (for messageDigest checks); returns that
 * BIO chain (BIO_free_all it), or NULL. */
BIO *cms_digest_content(CMS_ContentInfo *cms, const uint8_t *content, size_t clen);

#endif
