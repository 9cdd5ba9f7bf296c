#include "cmsverify.h"

#include <stdio.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "keyreg.h"

static void set_signer(struct cms_check *out, X509 *x)
{
    X509_NAME_oneline(X509_get_subject_name(x), out->subject, sizeof(out->subject));
    X509_NAME_oneline(X509_get_issuer_name(x), out->issuer, sizeof(out->issuer));
    x509_certno(x, out->certno, sizeof(out->certno));
    out->have_signer = 1;
}

BIO *cms_digest_content(CMS_ContentInfo *cms, const uint8_t *content, size_t clen)
{
    BIO *in = BIO_new_mem_buf(clen ? (const void *)content : (const void *)"", (int)clen);
    BIO *chain = in ? CMS_dataInit(cms, in) : NULL;
    char tmp[4096];

    if (chain == NULL) {
        BIO_free(in);
        return NULL;
    }
    while (BIO_read(chain, tmp, sizeof(tmp)) > 0)
        ;
    return chain;
}

static int chain_ok(X509_STORE *trust, X509 *signer, STACK_OF(X509) * certs, char *why,
                    size_t whylen)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;

    if (ctx == NULL || !X509_STORE_CTX_init(ctx, trust, signer, certs) ||
        !X509_STORE_CTX_set_default(ctx, "smime_sign")) {
        snprintf(why, whylen, "cannot check the signer certificate");
    } else if (X509_verify_cert(ctx) == 1) {
        ok = 1;
    } else {
        snprintf(why, whylen, "the signer certificate is not trusted: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    return ok;
}

/* Check one SignerInfo; on failure the reason is in why. */
static int signer_ok(CMS_SignerInfo *si, BIO *chain, X509_STORE *trust, STACK_OF(X509) * certs,
                     X509 *signer, char *why, size_t whylen)
{
    int has_attrs = CMS_signed_get_attr_count(si) >= 0;

    if (signer == NULL) {
        snprintf(why, whylen, "the signer certificate is not in the CMS");
        return 0;
    }
    if (CMS_SignerInfo_verify_content(si, chain) != 1) {
        snprintf(why, whylen,
                 has_attrs ? "content mismatch: the content is not what was signed "
                             "(messageDigest differs)"
                           : "the signature does not verify over the content");
        return 0;
    }
    if (has_attrs && CMS_SignerInfo_verify(si) != 1) {
        snprintf(why, whylen, "the signature does not verify with the signer certificate's key");
        return 0;
    }
    return chain_ok(trust, signer, certs, why, whylen);
}

int cms_verify_detached(const uint8_t *sig, size_t siglen, const uint8_t *content, size_t clen,
                        X509_STORE *trust, struct cms_check *out, char *err, size_t errlen)
{
    const unsigned char *cp = sig;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(CMS_SignerInfo) * sis;
    STACK_OF(X509) *certs = NULL;
    BIO *chain = NULL;
    int r = PS_E_INVAL;

    memset(out, 0, sizeof(*out));
    if (siglen == 0 || siglen > (1u << 30) ||
        (cms = d2i_CMS_ContentInfo(NULL, &cp, (long)siglen)) == NULL || cp != sig + siglen) {
        snprintf(err, errlen, "signature is not a DER CMS structure%s",
                 cms ? " (trailing bytes)" : "");
        goto out;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        snprintf(err, errlen, "signature is a CMS %s, not SignedData",
                 OBJ_nid2sn(OBJ_obj2nid(CMS_get0_type(cms))));
        goto out;
    }
    if (!CMS_is_detached(cms)) {
        snprintf(err, errlen, "the CMS carries its content; send a detached signature");
        goto out;
    }
    if ((sis = CMS_get0_SignerInfos(cms)) == NULL || sk_CMS_SignerInfo_num(sis) == 0) {
        snprintf(err, errlen, "the CMS has no SignerInfo");
        goto out;
    }
    certs = CMS_get1_certs(cms);
    CMS_set1_signers_certs(cms, NULL, 0); /* find each signer's certificate in the CMS */
    ERR_clear_error();
    if ((chain = cms_digest_content(cms, content, clen)) == NULL) {
        snprintf(err, errlen, "cannot digest the content (unsupported digest algorithm?)");
        goto out;
    }
    out->valid = 1;
    for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
        X509 *signer = NULL;

        CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
        if (i == 0 && signer)
            set_signer(out, signer);
        if (!signer_ok(si, chain, trust, certs, signer, out->reason, sizeof(out->reason))) {
            out->valid = 0;
            if (signer)
                set_signer(out, signer);
            break;
        }
    }
    r = PS_OK;
out:
    ERR_clear_error();
    BIO_free_all(chain);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    return r;
}
