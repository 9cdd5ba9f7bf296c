/*
 * api_ceb.c - POST /v1/sign/ceb (enveloped XMLDSig for customs messages) and
 * POST /v1/verify/ceb. The XML work is protocol/ceb.c; the keyholder signs the digest of the
 * canonical SignedInfo.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "../certs/sm2.h"
#include "../protocol/ceb.h"
#include "../protocol/pay179.h"
#include "../protocol/sigfmt.h"
#include "api.h"
#include "worker.h"

#define CEB_MAX_DEPTH 64

struct ceb_job {
    struct request *r;
    const struct key_entry *k;
    struct ceb_doc *doc;
};

static int xml_content_type(const struct request *r)
{
    return r->content_type[0] == 0 || strncmp(r->content_type, "application/xml", 15) == 0 ||
           strncmp(r->content_type, "text/xml", 8) == 0;
}

static void ceb_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct ceb_job *j = ctx;
    struct request *r = j->r;
    struct one_sig s;

    if (api_one_signature(r, status, p, len, 0, &s) != 0) {
        /* answered */
    } else if (ceb_finish_in_place(j->doc, s.sig, s.len, &r->body) != PS_OK) {
        http_error(r, 500, "internal", "cannot assemble the signed message");
    } else {
        /* the request body, now signed, is the reply: the document is not copied again */
        r->w->m.signatures++;
        http_respond_buf(r, 200, "application/xml; charset=utf-8", &r->body);
    }
    ceb_free(j->doc);
    http_release(r);
    free(j);
}

/* The digest the keyholder signs: of SignedInfo, or for SM2 e = SM3(Z || SignedInfo). */
static int si_digest(const struct ceb_profile *p, const struct key_entry *k, const struct buf *si,
                     uint8_t *md, unsigned *mdl)
{
    if (p->alg == ALG_SM2_SM3) {
        *mdl = 32;
        return sm2_digest_e_z(k->sm2_z, si->data, si->len, md) == PS_OK;
    }
    return ceb_signedinfo_digest(p, si, md, mdl) == PS_OK;
}

void api_sign_ceb(struct request *r, const char *tail)
{
    char key[65], pname[65];
    const struct key_entry *k;
    const struct ceb_profile *p;
    const struct ceb_limits lim = {r->w->cfg->max_body, CEB_MAX_DEPTH};
    struct ceb_job *j = NULL;
    static struct buf si = {.max = 65536}; /* kept from request to request: the worker's */
    uint8_t md[EVP_MAX_MD_SIZE];
    const uint8_t *dp[1] = {md};
    uint8_t dl[1];
    unsigned mdl = 0;
    char err[256];

    (void)tail;
    if (!xml_content_type(r)) {
        http_error(r, 415, "unsupported_media_type", "send the message as application/xml");
        goto out;
    }
    if (http_query_param(r, "key", key, sizeof(key)) != 0) {
        http_error(r, 400, "invalid_request", "query parameter key= is required");
        goto out;
    }
    if ((k = api_tenant_key(r, key)) == NULL)
        goto out;
    p = k->profile;
    if (http_query_param(r, "profile", pname, sizeof(pname)) == 0 &&
        (p = ceb_profile_by_name(pname)) == NULL) {
        http_error(r, 400, "unknown_profile",
                   "profile must be one of ceb-rsa-sha1, ceb-sm2, ceb-2022, xmldsig-rsa-sha256, "
                   "xmldsig-ecdsa-sha256");
        goto out;
    }
    if (p == NULL || !(p->key_family == (int)k->type ||
                       (p->key_family == KT_EC_P256 && k->type == KT_EC_P384))) {
        http_error(r, 400, "profile_does_not_fit_key",
                   "profile %s cannot be used with key '%s' (%s)", p ? p->name : "(none)", key,
                   keytype_name(k->type));
        goto out;
    }
    if (api_pick_alg(r, k, alg_info(p->alg)->name) == ALG_NONE)
        goto out;
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        goto out;
    }
    if (ceb_parse(r->body.data, r->body.len, p, &lim, &j->doc, err, sizeof(err)) != PS_OK) {
        http_error(r, 400, "invalid_xml", "%s", err);
        goto out;
    }
    if (ceb_prepare_b64(j->doc, k->certno, k->cert_b64, k->cert_b64_len, &si) != PS_OK ||
        !si_digest(p, k, &si, md, &mdl)) {
        http_error(r, 500, "internal", "cannot build SignedInfo");
        goto out;
    }
    dl[0] = (uint8_t)mdl;
    j->r = r;
    j->k = k;
    http_hold(r);
    if (kh_sign(r->w->kh, r->tenant, k->cfg->id, p->alg, dp, dl, 1, ceb_done, j) != PS_OK) {
        http_release(r);
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable");
        goto out;
    }
    j = NULL;
out:
    if (j)
        ceb_free(j->doc);
    free(j);
}

/* Check SignatureValue over the canonical SignedInfo with the certificate's key. */
static int signature_ok(const struct ceb_sig *s, X509 *cert)
{
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    uint8_t der[160];
    const uint8_t *sig = s->sigval;
    size_t sl = s->siglen;
    const EVP_MD *md;
    int ok = 0;

    if (mc == NULL || pk == NULL)
        goto out;
    if (s->profile->raw_ecdsa) {
        if (ecdsa_raw_to_der(s->sigval, s->siglen, der, sizeof(der), &sl) != PS_OK)
            goto out;
        sig = der;
    }
    if (s->profile->alg == ALG_SM2_SM3) { /* SM2 with SM3 and the default signer ID */
        md = EVP_sm3();
        if ((pc = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
            EVP_PKEY_CTX_set1_id(pc, "1234567812345678", 16) <= 0)
            goto out;
        EVP_MD_CTX_set_pkey_ctx(mc, pc);
    } else {
        md = EVP_get_digestbyname(hash_name(alg_info(s->profile->alg)->hash));
    }
    ok = EVP_DigestVerifyInit(mc, NULL, md, NULL, pk) == 1 &&
         EVP_DigestVerify(mc, sig, sl, s->signed_info.data, s->signed_info.len) == 1;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(mc);
    EVP_PKEY_CTX_free(pc);
    return ok;
}

void api_verify_ceb(struct request *r, const char *tail)
{
    const struct ceb_limits lim = {r->w->cfg->max_body, CEB_MAX_DEPTH};
    struct ceb_sig s;
    const unsigned char *cp;
    X509 *cert = NULL;
    char err[256];
    const char *reason = NULL;
    json_t *signer = json_null();
    int sig_ok = 0;

    (void)tail;
    if (!xml_content_type(r)) {
        http_error(r, 415, "unsupported_media_type", "send the message as application/xml");
        return;
    }
    if (ceb_read_signature(r->body.data, r->body.len, &lim, &s, err, sizeof(err)) != PS_OK) {
        ceb_sig_free(&s);
        http_error(r, 400, "invalid_xml", "%s", err);
        return;
    }
    cp = s.cert;
    if ((cert = d2i_X509(NULL, &cp, (long)s.certlen)) == NULL) {
        reason = "X509Certificate is not a certificate";
    } else {
        char certno[64];

        x509_certno(cert, certno, sizeof(certno));
        json_decref(signer);
        signer = json_pack("{s:o,s:o,s:s}", "subject", api_name_json(X509_get_subject_name(cert)),
                           "issuer", api_name_json(X509_get_issuer_name(cert)), "certNo", certno);
        sig_ok = signature_ok(&s, cert);
        if (!s.digest_ok)
            reason = "digest mismatch: the message was changed after it was signed";
        else if (!sig_ok)
            reason = "the signature does not verify with the certificate's key";
    }
    http_respond_json(r, 200,
                      json_pack("{s:b,s:s,s:o,s:s*}", "valid",
                                s.digest_ok && sig_ok && cert != NULL, "profile", s.profile->name,
                                "signer", signer, "reason", reason));
    X509_free(cert);
    ceb_sig_free(&s);
}

/* ---- /v1/sign/179 ---- */

struct pay179_job {
    struct request *r;
    const struct key_entry *k;
    struct buf str; /* the signing string */
    int der;        /* signValue as DER instead of raw r||s (SM2) */
    int with_string;
};

static void pay179_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct pay179_job *j = ctx;
    struct request *r = j->r;
    struct one_sig s;
    char b64[2048];

    if (api_one_signature(r, status, p, len, j->der && j->k->type == KT_SM2, &s) != 0)
        goto out;
    sodium_bin2base64(b64, sizeof(b64), s.sig, s.len, sodium_base64_VARIANT_ORIGINAL);
    r->w->m.signatures++;
    http_respond_json(r, 200,
                      json_pack("{s:s,s:s,s:s,s:I,s:s*}", "certNo", j->k->certno, "signValue", b64,
                                "alg", alg_info(j->k->profile->alg)->name, "audit_seq",
                                (json_int_t)s.seq, "signString",
                                j->with_string ? (const char *)j->str.data : NULL));
out:
    buf_free(&j->str);
    http_release(r);
    free(j);
}

/*
 * POST /v1/sign/179?key=K[&format=raw|der][&string=1]: the 179 payment fields as JSON ->
 * {"certNo","signValue"}. The key must be SM2 (ceb-sm2) or an RSA key configured for
 * ceb-rsa-sha1 (legacy E-port certificates). SM2 signValue is raw r||s, as the E-port's USB
 * keys give it, unless format=der.
 */
void api_sign_179(struct request *r, const char *tail)
{
    char key[65], fmt[8] = "raw", wantstr[4] = "";
    const struct key_entry *k;
    struct pay179_job *j = NULL;
    uint8_t md[EVP_MAX_MD_SIZE];
    const uint8_t *dp[1] = {md};
    uint8_t dl[1];
    unsigned mdl = 0;
    char err[256];
    int rc;

    (void)tail;
    if (!api_content_type_json(r)) {
        http_error(r, 415, "unsupported_media_type", "send the 179 fields as application/json");
        return;
    }
    if (http_query_param(r, "key", key, sizeof(key)) != 0) {
        http_error(r, 400, "invalid_request", "query parameter key= is required");
        return;
    }
    if ((http_query_param(r, "format", fmt, sizeof(fmt)) == 0 && strcmp(fmt, "raw") != 0 &&
         strcmp(fmt, "der") != 0)) {
        http_error(r, 400, "invalid_request", "format must be raw or der");
        return;
    }
    (void)http_query_param(r, "string", wantstr, sizeof(wantstr));
    if ((k = api_tenant_key(r, key)) == NULL)
        return;
    if (!(k->type == KT_SM2 || (k->type == KT_RSA && k->profile->alg == ALG_RSA_PKCS1_SHA1))) {
        http_error(r, 400, "profile_does_not_fit_key",
                   "179 signing needs an SM2 key or an RSA key with profile ceb-rsa-sha1; '%s' is "
                   "%s with profile %s",
                   key, keytype_name(k->type), k->profile->name);
        return;
    }
    if (api_pick_alg(r, k, alg_info(k->profile->alg)->name) == ALG_NONE)
        return;
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    buf_init(&j->str, r->w->cfg->max_body);
    rc = pay179_build((const char *)r->body.data, r->body.len, r->w->cfg->max_body, &j->str, err,
                      sizeof(err));
    if (rc != PS_OK) {
        http_error(r, rc == PS_E_LIMIT ? 413 : 400, "invalid_179", "%s", err);
        goto fail;
    }
    if (k->type == KT_SM2) {
        if (sm2_digest_e_z(k->sm2_z, j->str.data, j->str.len, md) != PS_OK) {
            http_error(r, 500, "internal", "cannot compute the SM2 digest");
            goto fail;
        }
        mdl = 32;
    } else if (!EVP_Digest(j->str.data, j->str.len, md, &mdl, EVP_sha1(), NULL)) {
        http_error(r, 500, "internal", "cannot compute the digest");
        goto fail;
    }
    dl[0] = (uint8_t)mdl;
    j->r = r;
    j->k = k;
    j->der = strcmp(fmt, "der") == 0;
    j->with_string = wantstr[0] == '1';
    http_hold(r);
    if (kh_sign(r->w->kh, r->tenant, k->cfg->id, k->profile->alg, dp, dl, 1, pay179_done, j) !=
        PS_OK) {
        http_release(r);
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable");
        goto fail;
    }
    return;
fail:
    buf_free(&j->str);
    free(j);
}
