/* evverify.c - offline verification of evidence bundles and checkpoints; see evverify.h. */
#include "evverify.h"
#include "../protocol/b64.h"

#include "cmsverify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "../protocol/asice.h"
#include "../protocol/checkpoint.h"

static const char *const check_names[EVV_N] = {"container", "manifest", "metadata",  "signature",
                                               "timestamp", "ledger",   "checkpoint"};

const char *evv_check_name(enum evv_check c)
{
    return c < EVV_N ? check_names[c] : "?";
}

struct vctx {
    const struct evv_trust *t;
    struct evv_report *rep;
    struct asice a;
    const struct asice_file *manifest, *p7s, *tst, *proof, *meta;
    PKCS7 *token;
    int64_t at; /* genTime, or -1 */
    struct note_verifier nv;
    struct checkpoint cp;
    int have_nv;
};

static void set(struct vctx *v, enum evv_check c, int state, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set(struct vctx *v, enum evv_check c, int state, const char *fmt, ...)
{
    va_list ap;

    v->rep->r[c].state = state;
    va_start(ap, fmt);
    vsnprintf(v->rep->r[c].detail, sizeof(v->rep->r[c].detail), fmt, ap);
    va_end(ap);
}

static const char *ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    return r ? r : "unknown error";
}

/* ---- certificates ---- */

static X509_STORE *store_at(STACK_OF(X509) * roots, int64_t at)
{
    X509_STORE *s = X509_STORE_new();

    if (s == NULL)
        return NULL;
    for (int i = 0; i < sk_X509_num(roots); i++)
        if (!X509_STORE_add_cert(s, sk_X509_value(roots, i))) {
            X509_STORE_free(s);
            return NULL;
        }
    if (at >= 0)
        X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(s), (time_t)at);
    else
        X509_VERIFY_PARAM_set_flags(X509_STORE_get0_param(s), X509_V_FLAG_NO_CHECK_TIME);
    return s;
}

/* 1 if x chains to roots (untrusted as intermediates) at `at` (-1: no time check). */
static int chain_ok(STACK_OF(X509) * roots, X509 *x, STACK_OF(X509) * untrusted, int64_t at,
                    char *why, size_t whylen)
{
    X509_STORE *s = store_at(roots, at);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;

    if (s == NULL || ctx == NULL || !X509_STORE_CTX_init(ctx, s, x, untrusted)) {
        snprintf(why, whylen, "cannot check the chain");
    } else if (X509_verify_cert(ctx) == 1) {
        ok = 1;
    } else {
        snprintf(why, whylen, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(s);
    ERR_clear_error();
    return ok;
}

static void subject(X509 *x, char *out, size_t len)
{
    X509_NAME_oneline(X509_get_subject_name(x), out, (int)len);
}

/* ---- container, manifest, metadata ---- */

static int check_container(struct vctx *v, const uint8_t *zip, size_t len)
{
    const struct asice_limits lim = {ASICE_MAX_REFS + 5, (size_t)1 << 30, (size_t)2 << 30, 100, 1};
    char err[300];
    int rc = asice_read(zip, len, &lim, &v->a, err, sizeof(err));

    if (rc == PS_E_NOMEM)
        return rc;
    if (rc != PS_OK) {
        set(v, EVV_CONTAINER, EVV_FAIL, "%s", err);
        return PS_OK;
    }
    v->manifest = asice_find(&v->a, ASICE_MANIFEST);
    v->p7s = asice_find(&v->a, ASICE_SIGNATURE);
    v->tst = asice_find(&v->a, ASICE_TIMESTAMP);
    v->proof = asice_find(&v->a, ASICE_LEDGER_PROOF);
    v->meta = asice_find(&v->a, EVIDENCE_METADATA);
    for (size_t i = 0; i < v->a.n; i++)
        v->rep->objects += !v->a.files[i].meta_inf;
    for (size_t i = 0; i < v->a.n; i++)
        if (v->a.files[i].crc_bad) {
            set(v, EVV_CONTAINER, EVV_FAIL, "CRC mismatch for %s: its content was changed",
                v->a.files[i].name);
            return PS_OK;
        }
    set(v, EVV_CONTAINER, EVV_OK, "ASiC-E, mimetype first and stored, %zu data objects",
        v->rep->objects);
    return PS_OK;
}

static void check_manifest(struct vctx *v)
{
    struct asice_manifest m;
    char err[300];

    if (v->manifest == NULL) {
        set(v, EVV_MANIFEST, EVV_FAIL, "%s is missing", ASICE_MANIFEST);
        return;
    }
    if (asice_manifest_read(v->manifest->data, v->manifest->len, &m, err, sizeof(err)) != PS_OK) {
        set(v, EVV_MANIFEST, EVV_FAIL, "%s", err);
        return;
    }
    if (strcmp(m.sigref, ASICE_SIGNATURE) != 0) {
        set(v, EVV_MANIFEST, EVV_FAIL, "the manifest's SigReference is not %s", ASICE_SIGNATURE);
        goto out;
    }
    for (size_t i = 0; i < m.n; i++) {
        const struct asice_file *f = asice_find(&v->a, m.refs[i].name);
        uint8_t h[32];

        if (f == NULL || f->meta_inf) {
            set(v, EVV_MANIFEST, EVV_FAIL,
                "the manifest lists %s, which is not a data object "
                "of the bundle",
                m.refs[i].name);
            goto out;
        }
        evidence_sha256(f->data, f->len, h);
        if (sodium_memcmp(h, m.refs[i].sha256, 32) != 0) {
            set(v, EVV_MANIFEST, EVV_FAIL, "manifest digest mismatch for %s", f->name);
            goto out;
        }
    }
    for (size_t i = 0; i < v->a.n; i++) {
        size_t j;

        if (v->a.files[i].meta_inf)
            continue;
        for (j = 0; j < m.n && strcmp(m.refs[j].name, v->a.files[i].name) != 0; j++)
            ;
        if (j == m.n) {
            set(v, EVV_MANIFEST, EVV_FAIL, "%s is not listed in the manifest", v->a.files[i].name);
            goto out;
        }
    }
    set(v, EVV_MANIFEST, EVV_OK, "%zu SHA-256 digests match, every data object listed", m.n);
out:
    asice_manifest_free(&m);
}

static void check_metadata(struct vctx *v)
{
    char err[300];

    if (v->meta == NULL) {
        set(v, EVV_METADATA, EVV_FAIL, "metadata.json is missing");
        return;
    }
    if (evidence_metadata_check(v->meta->data, v->meta->len, 1, &v->rep->meta, err, sizeof(err)) !=
        PS_OK) {
        set(v, EVV_METADATA, EVV_FAIL, "metadata.json: %s", err);
        return;
    }
    set(v, EVV_METADATA, EVV_OK, "rights holder \"%s\", %zu trademark/patent number(s), first %s",
        v->rep->meta.rights_holder, v->rep->meta.marks, v->rep->meta.first_mark);
}

/* ---- the time-stamp's genTime (needed by the chain checks) ---- */

static void read_gen_time(struct vctx *v)
{
    const unsigned char *p;
    TS_TST_INFO *ti = NULL;
    struct tm tm;

    v->at = -1;
    if (v->tst == NULL)
        return;
    p = v->tst->data;
    v->token = d2i_PKCS7(NULL, &p, (long)v->tst->len);
    if (v->token == NULL || p != v->tst->data + v->tst->len ||
        (ti = PKCS7_to_TS_TST_INFO(v->token)) == NULL ||
        !ASN1_TIME_to_tm(TS_TST_INFO_get_time(ti), &tm)) {
        PKCS7_free(v->token);
        v->token = NULL;
    } else {
        v->at = (int64_t)timegm(&tm);
        v->rep->gen_time_t = v->at;
        strftime(v->rep->gen_time, sizeof(v->rep->gen_time), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    TS_TST_INFO_free(ti);
    ERR_clear_error();
}

/* ---- CAdES ---- */

static int signing_cert_ok(CMS_SignerInfo *si, X509 *signer)
{
    ASN1_STRING *s = CMS_signed_get0_data_by_OBJ(
        si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3, V_ASN1_SEQUENCE);
    const unsigned char *p;
    ESS_SIGNING_CERT_V2 *ss = NULL;
    STACK_OF(X509) *one = sk_X509_new_null();
    int ok = 0;

    if (s && one && sk_X509_push(one, signer)) {
        p = ASN1_STRING_get0_data(s);
        ss = d2i_ESS_SIGNING_CERT_V2(NULL, &p, ASN1_STRING_length(s));
        ok = ss && OSSL_ESS_check_signing_certs(NULL, ss, one, 1) > 0;
    }
    ESS_SIGNING_CERT_V2_free(ss);
    sk_X509_free(one);
    ERR_clear_error();
    return s == NULL ? -1 : ok;
}

static const char *signer_problem(CMS_ContentInfo *cms, CMS_SignerInfo *si, X509 *signer,
                                  const struct asice_file *m, char *why, size_t whylen)
{
    X509_ALGOR *dig = NULL;
    BIO *chain = NULL;
    const char *bad = NULL;
    int md, sc;

    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
    md = dig ? OBJ_obj2nid(dig->algorithm) : NID_undef;
    if (md != NID_sha256 && md != NID_sha384 && md != NID_sha512)
        return "the digest algorithm is not SHA-256/384/512";
    if (CMS_signed_get_attr_count(si) <= 0)
        return "the signature has no signed attributes (not CAdES-BES)";
    if ((chain = cms_digest_content(cms, m->data, m->len)) == NULL)
        return "cannot digest the manifest";
    if (CMS_SignerInfo_verify_content(si, chain) != 1)
        bad = "messageDigest does not match the manifest (the manifest was changed)";
    else if (CMS_SignerInfo_verify(si) != 1)
        bad = "the signature over the signed attributes does not verify with the signer's key";
    else if ((sc = signing_cert_ok(si, signer)) < 0)
        bad = "no signing-certificate-v2 attribute";
    else if (sc == 0)
        bad = "signing-certificate-v2 does not name the signer certificate";
    else if (!(X509_get_key_usage(signer) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
        bad = "the signer certificate's keyUsage allows neither digitalSignature nor "
              "nonRepudiation";
    BIO_free_all(chain);
    ERR_clear_error();
    (void)why;
    (void)whylen;
    return bad;
}

static void check_signature(struct vctx *v)
{
    const unsigned char *p;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(CMS_SignerInfo) * sis;
    STACK_OF(X509) *certs = NULL;
    CMS_SignerInfo *si;
    X509 *signer = NULL;
    const char *bad;
    char why[256];

    if (v->p7s == NULL) {
        set(v, EVV_SIGNATURE, EVV_FAIL, "%s is missing", ASICE_SIGNATURE);
        return;
    }
    if (v->manifest == NULL) {
        set(v, EVV_SIGNATURE, EVV_SKIP, "no manifest to check it over");
        return;
    }
    p = v->p7s->data;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)v->p7s->len);
    if (cms == NULL || p != v->p7s->data + v->p7s->len ||
        OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed || !CMS_is_detached(cms)) {
        set(v, EVV_SIGNATURE, EVV_FAIL, "signature001.p7s is not one DER detached CMS SignedData");
        goto out;
    }
    sis = CMS_get0_SignerInfos(cms);
    if (sis == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
        set(v, EVV_SIGNATURE, EVV_FAIL, "signature001.p7s must have exactly one SignerInfo");
        goto out;
    }
    si = sk_CMS_SignerInfo_value(sis, 0);
    certs = CMS_get1_certs(cms);
    CMS_set1_signers_certs(cms, NULL, 0);
    CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
    ERR_clear_error();
    if (signer == NULL) {
        set(v, EVV_SIGNATURE, EVV_FAIL, "the signer certificate is not in signature001.p7s");
        goto out;
    }
    subject(signer, v->rep->signer, sizeof(v->rep->signer));
    if ((bad = signer_problem(cms, si, signer, v->manifest, why, sizeof(why))) != NULL) {
        set(v, EVV_SIGNATURE, EVV_FAIL, "%s", bad);
        goto out;
    }
    if (!chain_ok(v->t->roots, signer, certs, v->at, why, sizeof(why))) {
        set(v, EVV_SIGNATURE, EVV_FAIL, "the signer certificate does not chain to the roots%s: %s",
            v->at >= 0 ? " at the time-stamp's time" : " (now; no valid time-stamp)", why);
        goto out;
    }
    set(v, EVV_SIGNATURE, EVV_OK, "CAdES-BES over the manifest by %s, chain valid at %s",
        v->rep->signer, v->at >= 0 ? v->rep->gen_time : "the current time");
out:
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
}

/* ---- RFC 3161 ---- */

static void check_timestamp(struct vctx *v)
{
    TS_TST_INFO *ti = NULL;
    TS_VERIFY_CTX *vc = NULL;
    X509_STORE *st = NULL;
    STACK_OF(X509) *signers = NULL;
    TS_MSG_IMPRINT *mi;
    X509 *tsa;
    uint8_t dg[32];

    if (v->tst == NULL) {
        set(v, EVV_TIMESTAMP, EVV_FAIL, "%s is missing", ASICE_TIMESTAMP);
        return;
    }
    if (v->token == NULL || (ti = PKCS7_to_TS_TST_INFO(v->token)) == NULL) {
        set(v, EVV_TIMESTAMP, EVV_FAIL, "timestamp001.tst is not one DER RFC 3161 token");
        goto out;
    }
    if (v->p7s == NULL) {
        set(v, EVV_TIMESTAMP, EVV_SKIP, "no signature001.p7s to check it over");
        goto out;
    }
    mi = TS_TST_INFO_get_msg_imprint(ti);
    evidence_sha256(v->p7s->data, v->p7s->len, dg);
    if (OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(mi)->algorithm) != NID_sha256 ||
        ASN1_STRING_length(TS_MSG_IMPRINT_get_msg(mi)) != 32 ||
        memcmp(ASN1_STRING_get0_data(TS_MSG_IMPRINT_get_msg(mi)), dg, 32) != 0) {
        set(v, EVV_TIMESTAMP, EVV_FAIL,
            "the time-stamp's imprint is not SHA-256 of signature001.p7s (the signature was "
            "changed)");
        goto out;
    }
    signers = PKCS7_get0_signers(v->token, NULL, 0);
    if (signers == NULL || sk_X509_num(signers) != 1) {
        set(v, EVV_TIMESTAMP, EVV_FAIL, "the TSA certificate is not in the token");
        goto out;
    }
    tsa = sk_X509_value(signers, 0);
    subject(tsa, v->rep->tsa, sizeof(v->rep->tsa));
    if (!(X509_get_extension_flags(tsa) & EXFLAG_XKUSAGE) ||
        !(X509_get_extended_key_usage(tsa) & XKU_TIMESTAMP)) {
        set(v, EVV_TIMESTAMP, EVV_FAIL,
            "the TSA certificate has no extendedKeyUsage "
            "timeStamping");
        goto out;
    }
    if ((vc = TS_VERIFY_CTX_new()) == NULL || (st = store_at(v->t->roots, v->at)) == NULL) {
        set(v, EVV_TIMESTAMP, EVV_FAIL, "out of memory");
        goto out;
    }
    TS_VERIFY_CTX_set_flags(vc, TS_VFY_VERSION | TS_VFY_SIGNATURE);
    TS_VERIFY_CTX_set_store(vc, st);
    st = NULL;
    ERR_clear_error();
    if (TS_RESP_verify_token(vc, v->token) != 1) {
        set(v, EVV_TIMESTAMP, EVV_FAIL,
            "the time-stamp token does not verify (signature, ESS certificate or TSA chain to "
            "the roots at genTime): %s",
            ossl_reason());
        goto out;
    }
    set(v, EVV_TIMESTAMP, EVV_OK, "RFC 3161 token over signature001.p7s by %s, genTime %s",
        v->rep->tsa, v->rep->gen_time);
out:
    ERR_clear_error();
    sk_X509_free(signers);
    X509_STORE_free(st);
    TS_VERIFY_CTX_free(vc);
    TS_TST_INFO_free(ti);
}

/* ---- ledger ---- */

static X509 *pem_cert(const struct buf *b)
{
    BIO *bio = BIO_new_mem_buf(b->data, (int)b->len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL, *more;

    if (x && (more = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_free(more);
        X509_free(x);
        x = NULL;
    }
    BIO_free(bio);
    ERR_clear_error();
    return x;
}

/* The note verifier of log key certificate x for the note's origin line. */
static int log_verifier(X509 *x, const uint8_t *note, size_t len, struct note_verifier *nv,
                        char *why, size_t whylen)
{
    EVP_PKEY *pk = X509_get0_pubkey(x);
    uint8_t raw[32];
    size_t rl = sizeof(raw);
    const uint8_t *nl = memchr(note, '\n', len);
    char name[NOTE_MAX_NAME + 1];

    if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pk, raw, &rl) != 1 || rl != 32) {
        snprintf(why, whylen, "the log certificate's key is not Ed25519");
        return -1;
    }
    if (nl == NULL || nl == note || (size_t)(nl - note) > NOTE_MAX_NAME) {
        snprintf(why, whylen, "the checkpoint has no valid origin line");
        return -1;
    }
    memcpy(name, note, (size_t)(nl - note));
    name[nl - note] = 0;
    if (note_verifier_init(nv, name, raw) != PS_OK) {
        snprintf(why, whylen, "the checkpoint origin is not a valid key name");
        return -1;
    }
    return 0;
}

/* Certificates of the proof: [0] is the log key's, the rest intermediates. */
static int log_certs(const struct evidence_proof *p, X509 **leaf, STACK_OF(X509) * *rest)
{
    *leaf = pem_cert(&p->cert[0]);
    *rest = sk_X509_new_null();
    if (*leaf == NULL || *rest == NULL)
        return -1;
    for (size_t i = 1; i < p->ncerts; i++) {
        X509 *x = pem_cert(&p->cert[i]);

        if (x == NULL || !sk_X509_push(*rest, x)) {
            X509_free(x);
            return -1;
        }
    }
    return 0;
}

static const char *leaf_problem(struct vctx *v, const struct evidence_leaf *lf)
{
    uint8_t h[32];

    evidence_sha256(v->manifest->data, v->manifest->len, h);
    if (memcmp(h, lf->manifest, 32) != 0)
        return "the ledger leaf does not match the bundle's manifest";
    evidence_sha256(v->p7s->data, v->p7s->len, h);
    if (memcmp(h, lf->p7s, 32) != 0)
        return "the ledger leaf does not match the bundle's signature001.p7s";
    evidence_sha256(v->tst->data, v->tst->len, h);
    if (memcmp(h, lf->tst, 32) != 0)
        return "the ledger leaf does not match the bundle's timestamp001.tst";
    if (v->rep->r[EVV_METADATA].state == EVV_OK && lf->unix_ms != v->rep->meta.sealed_at_ms)
        return "the ledger leaf's time differs from metadata.json's sealed_at";
    return NULL;
}

static void check_ledger(struct vctx *v)
{
    struct evidence_proof p;
    struct evidence_leaf lf;
    X509 *lc = NULL;
    STACK_OF(X509) *rest = NULL;
    uint8_t lh[32];
    char err[300], why[256];
    const char *bad;

    evidence_proof_init(&p);
    if (v->proof == NULL) {
        set(v, EVV_LEDGER, EVV_FAIL, "%s is missing", ASICE_LEDGER_PROOF);
        goto out;
    }
    if (evidence_proof_parse(v->proof->data, v->proof->len, &p, err, sizeof(err)) != PS_OK) {
        set(v, EVV_LEDGER, EVV_FAIL, "%s", err);
        goto out;
    }
    v->rep->leaf_index = p.leaf_index;
    v->rep->tree_size = p.tree_size;
    if (evidence_leaf_parse(p.leaf.data, p.leaf.len, &lf, err, sizeof(err)) != PS_OK) {
        set(v, EVV_LEDGER, EVV_FAIL, "ledger proof: %s", err);
        goto out;
    }
    if (v->manifest == NULL || v->p7s == NULL || v->tst == NULL) {
        set(v, EVV_LEDGER, EVV_SKIP, "the bundle lacks the files the leaf names");
        goto out;
    }
    if ((bad = leaf_problem(v, &lf)) != NULL) {
        set(v, EVV_LEDGER, EVV_FAIL, "%s", bad);
        goto out;
    }
    if (log_certs(&p, &lc, &rest) != 0) {
        set(v, EVV_LEDGER, EVV_FAIL, "log_certificate is not a list of single PEM certificates");
        goto out;
    }
    if (!chain_ok(v->t->roots, lc, rest, v->at, why, sizeof(why))) {
        set(v, EVV_LEDGER, EVV_FAIL, "the log certificate does not chain to the roots: %s", why);
        goto out;
    }
    if (log_verifier(lc, p.checkpoint.data, p.checkpoint.len, &v->nv, why, sizeof(why)) != 0) {
        set(v, EVV_LEDGER, EVV_FAIL, "%s", why);
        goto out;
    }
    snprintf(v->rep->origin, sizeof(v->rep->origin), "%s", v->nv.name);
    if (checkpoint_open(p.checkpoint.data, p.checkpoint.len, &v->nv, &v->cp, err, sizeof(err)) !=
        PS_OK) {
        set(v, EVV_LEDGER, EVV_FAIL, "the checkpoint does not verify with the log key: %s", err);
        goto out;
    }
    v->cp.ext = NULL; /* points into p, freed below */
    v->cp.ext_len = 0;
    v->have_nv = 1;
    if (v->cp.size != p.tree_size) {
        set(v, EVV_LEDGER, EVV_FAIL, "the checkpoint is for tree size %llu, the proof for %llu",
            (unsigned long long)v->cp.size, (unsigned long long)p.tree_size);
        goto out;
    }
    merkle_leaf_hash(p.leaf.data, p.leaf.len, lh);
    if (merkle_verify_inclusion(lh, p.leaf_index, p.tree_size, &p.inclusion, v->cp.root) != PS_OK) {
        set(v, EVV_LEDGER, EVV_FAIL, "the inclusion proof does not lead to the checkpoint's root");
        goto out;
    }
    set(v, EVV_LEDGER, EVV_OK, "leaf %llu of %llu in log %s, checkpoint signed by the log key",
        (unsigned long long)p.leaf_index, (unsigned long long)p.tree_size, v->nv.name);
out:
    X509_free(lc);
    sk_X509_pop_free(rest, X509_free);
    evidence_proof_free(&p);
}

/* ---- consistency ---- */

int evv_consistency_parse(const uint8_t *json, size_t len, uint64_t *old_size, uint64_t *new_size,
                          struct merkle_proof *proof, char *err, size_t errlen)
{
    json_t *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL), *v, *a;
    const char *key;
    size_t i;
    int rc = PS_E_INVAL;

    proof->len = 0;
    if (!json_is_object(root) || json_object_size(root) != 3 ||
        !json_is_integer(v = json_object_get(root, "old")) || json_integer_value(v) < 0 ||
        !json_is_integer(a = json_object_get(root, "new")) || json_integer_value(a) < 0 ||
        !json_is_array(json_object_get(root, "proof"))) {
        snprintf(err, errlen,
                 "consistency proof: expected {\"old\": N, \"new\": M, \"proof\": "
                 "[base64, ...]}");
        goto out;
    }
    *old_size = (uint64_t)json_integer_value(v);
    *new_size = (uint64_t)json_integer_value(a);
    a = json_object_get(root, "proof");
    if (json_array_size(a) > MERKLE_MAX_PROOF) {
        snprintf(err, errlen, "consistency proof: more than %d hashes", MERKLE_MAX_PROOF);
        goto out;
    }
    json_array_foreach(a, i, v)
    {
        size_t bl;

        if (!json_is_string(v) ||
            b64_decode(proof->hash[i], 32, json_string_value(v), json_string_length(v), &bl) !=
                PS_OK ||
            bl != 32) {
            snprintf(err, errlen, "consistency proof: proof[%zu] is not base64 of 32 bytes", i);
            goto out;
        }
    }
    proof->len = json_array_size(a);
    (void)key;
    rc = PS_OK;
out:
    json_decref(root);
    return rc;
}

/* 1 if proof shows a and b (same log) consistent; reason in why otherwise. */
static int consistent(const struct checkpoint *a, const struct checkpoint *b, const uint8_t *pj,
                      size_t plen, char *why, size_t whylen)
{
    const struct checkpoint *o = a->size <= b->size ? a : b, *n = a->size <= b->size ? b : a;
    struct merkle_proof pr;
    uint64_t os, ns;
    char err[200];

    if (a->size == b->size) {
        if (sodium_memcmp(a->root, b->root, 32) != 0) {
            snprintf(why, whylen,
                     "two checkpoints of size %llu with different roots: the log "
                     "forked",
                     (unsigned long long)a->size);
            return 0;
        }
        return 1;
    }
    if (pj == NULL) {
        snprintf(why, whylen,
                 "the checkpoints have sizes %llu and %llu: a consistency proof is needed "
                 "(--consistency-proof, from GET /v1/ledger/proof/consistency?old=%llu&new=%llu)",
                 (unsigned long long)o->size, (unsigned long long)n->size,
                 (unsigned long long)o->size, (unsigned long long)n->size);
        return 0;
    }
    if (evv_consistency_parse(pj, plen, &os, &ns, &pr, err, sizeof(err)) != PS_OK) {
        snprintf(why, whylen, "%s", err);
        return 0;
    }
    if (os != o->size || ns != n->size) {
        snprintf(why, whylen, "the consistency proof is for sizes %llu and %llu, not %llu and %llu",
                 (unsigned long long)os, (unsigned long long)ns, (unsigned long long)o->size,
                 (unsigned long long)n->size);
        return 0;
    }
    if (merkle_verify_consistency(os, ns, &pr, o->root, n->root) != PS_OK) {
        snprintf(why, whylen,
                 "the consistency proof from size %llu to %llu does not verify: the "
                 "log was rewritten",
                 (unsigned long long)os, (unsigned long long)ns);
        return 0;
    }
    return 1;
}

static void check_checkpoint(struct vctx *v)
{
    struct checkpoint tc;
    char err[300], why[400];

    if (v->t->checkpoint == NULL) {
        set(v, EVV_CHECKPOINT, EVV_SKIP, "no trusted checkpoint given (--checkpoint)");
        return;
    }
    if (!v->have_nv) {
        set(v, EVV_CHECKPOINT, EVV_SKIP, "not checked: the ledger proof is invalid");
        return;
    }
    if (checkpoint_open(v->t->checkpoint, v->t->checkpoint_len, &v->nv, &tc, err, sizeof(err)) !=
        PS_OK) {
        set(v, EVV_CHECKPOINT, EVV_FAIL,
            "the trusted checkpoint is not signed by the bundle's log key (%s): %s", v->nv.name,
            err);
        return;
    }
    if (!consistent(&tc, &v->cp, v->t->consistency, v->t->consistency_len, why, sizeof(why))) {
        set(v, EVV_CHECKPOINT, EVV_FAIL, "%s", why);
        return;
    }
    set(v, EVV_CHECKPOINT, EVV_OK, "trusted checkpoint (size %llu) %s the bundle's (size %llu)",
        (unsigned long long)tc.size,
        tc.size == v->cp.size ? "is the same tree as"
                              : "is "
                                "consistent "
                                "with",
        (unsigned long long)v->cp.size);
}

int evv_bundle(const uint8_t *zip, size_t len, const struct evv_trust *t, struct evv_report *rep)
{
    struct vctx v;
    int rc;

    memset(rep, 0, sizeof(*rep));
    memset(&v, 0, sizeof(v));
    v.t = t;
    v.rep = rep;
    v.at = -1;
    evidence_sha256_hex(zip, len, rep->bundle_id);
    for (int c = 0; c < EVV_N; c++)
        set(&v, (enum evv_check)c, EVV_SKIP, "not checked: the container is invalid");
    if ((rc = check_container(&v, zip, len)) != PS_OK)
        return rc;
    if (v.a.files != NULL) { /* parsed (a CRC mismatch still lets the checks name the file) */
        check_manifest(&v);
        check_metadata(&v);
        read_gen_time(&v);
        check_signature(&v);
        check_timestamp(&v);
        check_ledger(&v);
        check_checkpoint(&v);
    }
    rep->valid = 1;
    for (int c = 0; c < EVV_N; c++)
        if (rep->r[c].state == EVV_FAIL || (rep->r[c].state == EVV_SKIP && c != EVV_CHECKPOINT))
            rep->valid = 0;
    if (t->checkpoint && rep->r[EVV_CHECKPOINT].state != EVV_OK)
        rep->valid = 0;
    PKCS7_free(v.token);
    asice_free(&v.a);
    return PS_OK;
}

int evv_consistency(STACK_OF(X509) * roots, STACK_OF(X509) * log_certs_in, const uint8_t *old_note,
                    size_t old_len, const uint8_t *new_note, size_t new_len,
                    const uint8_t *proof_json, size_t proof_len, char *why, size_t whylen)
{
    struct note_verifier nv;
    struct checkpoint a, b;
    STACK_OF(X509) *rest = NULL;
    X509 *lc;
    char err[300], w[256];
    int ok = 0;

    if (sk_X509_num(log_certs_in) < 1) {
        snprintf(why, whylen, "no log certificate");
        return 0;
    }
    lc = sk_X509_value(log_certs_in, 0);
    rest = sk_X509_dup(log_certs_in);
    if (rest == NULL)
        return 0;
    (void)sk_X509_shift(rest);
    if (!chain_ok(roots, lc, rest, -1, w, sizeof(w))) {
        snprintf(why, whylen, "the log certificate does not chain to the roots: %s", w);
        goto out;
    }
    if (log_verifier(lc, old_note, old_len, &nv, w, sizeof(w)) != 0) {
        snprintf(why, whylen, "old checkpoint: %s", w);
        goto out;
    }
    if (checkpoint_open(old_note, old_len, &nv, &a, err, sizeof(err)) != PS_OK) {
        snprintf(why, whylen, "the old checkpoint does not verify with the log key: %s", err);
        goto out;
    }
    if (checkpoint_open(new_note, new_len, &nv, &b, err, sizeof(err)) != PS_OK) {
        snprintf(why, whylen, "the new checkpoint does not verify with the log key (%s): %s",
                 nv.name, err);
        goto out;
    }
    if (a.size > b.size) {
        snprintf(why, whylen, "the old checkpoint (size %llu) is larger than the new (%llu)",
                 (unsigned long long)a.size, (unsigned long long)b.size);
        goto out;
    }
    ok = consistent(&a, &b, proof_json, proof_len, why, whylen);
    if (ok)
        snprintf(why, whylen, "checkpoint of size %llu is consistent with size %llu (log %s)",
                 (unsigned long long)a.size, (unsigned long long)b.size, nv.name);
out:
    sk_X509_free(rest);
    return ok;
}
