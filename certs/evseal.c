/* evseal.c - CAdES signature and RFC 3161 token of an evidence bundle; see evseal.h. */
#include "evseal.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

int evseal_cms_build(const uint8_t *manifest, size_t len, X509 *cert, STACK_OF(X509) * chain,
                     EVP_PKEY *key, CMS_ContentInfo **cms, char *err, size_t errlen)
{
    int flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    BIO *in = BIO_new_mem_buf(len ? (const void *)manifest : (const void *)"", (int)len);
    CMS_ContentInfo *c = NULL;
    int rc = PS_E_CRYPTO;

    *cms = NULL;
    if (in == NULL || (c = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
        CMS_add1_signer(c, cert, key, EVP_sha256(), CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES) ==
            NULL) {
        ps_errf(0, err, errlen, "cannot start the CMS");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(chain); i++)
        if (!CMS_add1_cert(c, sk_X509_value(chain, i))) {
            ps_errf(0, err, errlen, "cannot add the chain");
            goto out;
        }
    if (!CMS_final(c, in, NULL, CMS_DETACHED | CMS_BINARY)) {
        ps_errf(PS_E_CRYPTO, err, errlen, "cannot sign the manifest");
        goto out;
    }
    *cms = c;
    c = NULL;
    rc = PS_OK;
out:
    ERR_clear_error();
    CMS_ContentInfo_free(c);
    BIO_free(in);
    return rc;
}

int evseal_cms_der(CMS_ContentInfo *cms, const uint8_t *sig, size_t siglen, struct buf *out,
                   char *err, size_t errlen)
{
    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
    unsigned char *der = NULL;
    int n, rc;

    buf_reset(out);
    if (sis == NULL || sk_CMS_SignerInfo_num(sis) != 1)
        return ps_errf(PS_E_INVAL, err, errlen, "the CMS must have exactly one SignerInfo");
    if (sig && !ASN1_STRING_set(CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(sis, 0)), sig,
                                (int)siglen))
        return ps_errf(PS_E_CRYPTO, err, errlen, "cannot set the signature");
    if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
        return ps_errf(PS_E_CRYPTO, err, errlen, "cannot encode the CMS");
    rc = buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return rc == PS_OK ? PS_OK : ps_errf(rc, err, errlen, "signature too large");
}

int evseal_tsq(const uint8_t *p7s, size_t len, uint64_t *nonce, struct buf *out)
{
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    unsigned char dg[32], *der = NULL;
    uint64_t nv = 0;
    int n, rc = PS_E_CRYPTO;

    buf_reset(out);
    if (req == NULL || mi == NULL || alg == NULL || ai == NULL ||
        RAND_bytes((unsigned char *)&nv, sizeof(nv)) != 1 ||
        !EVP_Digest(p7s, len, dg, NULL, EVP_sha256(), NULL))
        goto out;
    nv &= INT64_MAX; /* a positive INTEGER */
    if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL))
        goto out;
    if (!TS_MSG_IMPRINT_set_algo(mi, alg) || !TS_MSG_IMPRINT_set_msg(mi, dg, 32) ||
        !TS_REQ_set_version(req, 1) || !TS_REQ_set_msg_imprint(req, mi) ||
        !ASN1_INTEGER_set_uint64(ai, nv) || !TS_REQ_set_nonce(req, ai) ||
        !TS_REQ_set_cert_req(req, 1) || (n = i2d_TS_REQ(req, &der)) <= 0)
        goto out;
    rc = buf_append(out, der, (size_t)n);
    if (nonce)
        *nonce = nv;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    TS_REQ_free(req);
    TS_MSG_IMPRINT_free(mi);
    X509_ALGOR_free(alg);
    ASN1_INTEGER_free(ai);
    return rc;
}

int evseal_tst_from_resp(const uint8_t *resp, size_t len, const uint8_t *p7s, size_t p7s_len,
                         const uint64_t *nonce, struct buf *tst, char *err, size_t errlen)
{
    const unsigned char *p = resp;
    TS_RESP *r = NULL;
    TS_TST_INFO *ti;
    PKCS7 *tok;
    ASN1_OCTET_STRING *msg;
    X509_ALGOR *alg;
    unsigned char dg[32], *der = NULL;
    uint64_t nv;
    long st;
    int n, rc = PS_E_INVAL;

    buf_reset(tst);
    if (len == 0 || len > (1u << 24) || (r = d2i_TS_RESP(NULL, &p, (long)len)) == NULL ||
        p != resp + len) {
        ps_errf(0, err, errlen, "the time-stamp response is not DER TimeStampResp");
        goto out;
    }
    st = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(r)));
    if ((st != 0 && st != 1) || (tok = TS_RESP_get_token(r)) == NULL ||
        (ti = TS_RESP_get_tst_info(r)) == NULL) {
        ps_errf(0, err, errlen, "the TSA did not grant a time-stamp (status %ld)", st);
        goto out;
    }
    msg = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(ti));
    alg = TS_MSG_IMPRINT_get_algo(TS_TST_INFO_get_msg_imprint(ti));
    EVP_Digest(p7s, p7s_len, dg, NULL, EVP_sha256(), NULL);
    if (OBJ_obj2nid(alg->algorithm) != NID_sha256 || ASN1_STRING_length(msg) != 32 ||
        memcmp(ASN1_STRING_get0_data(msg), dg, 32) != 0) {
        ps_errf(0, err, errlen, "the time-stamp is not over SHA-256 of the signature");
        goto out;
    }
    if (nonce && (TS_TST_INFO_get_nonce(ti) == NULL ||
                  !ASN1_INTEGER_get_uint64(&nv, TS_TST_INFO_get_nonce(ti)) || nv != *nonce)) {
        ps_errf(0, err, errlen, "the time-stamp has another nonce");
        goto out;
    }
    if ((n = i2d_PKCS7(tok, &der)) <= 0) {
        rc = ps_errf(PS_E_CRYPTO, err, errlen, "cannot encode the token");
        goto out;
    }
    rc = buf_append(tst, der, (size_t)n);
out:
    ERR_clear_error();
    OPENSSL_free(der);
    TS_RESP_free(r);
    return rc;
}
