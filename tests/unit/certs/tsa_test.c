/* RFC 3161 responses through the capture proxy: built, signed "by the keyholder" (a software
 * key here), verified with OpenSSL's TS verifier; rejections; malformed requests; key checks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ts.h>

#include "../../../certs/tsa.h"
#include "../unit.h"
#include "testpki.h"

#define NONCE 0x1234567890abcdefLL

static const uint8_t doc[] = "customs declaration 4711";
static X509 *ca_cert;
static EVP_PKEY *ca_key;

struct tsa_setup {
    EVP_PKEY *key;
    X509 *cert;
    struct cfg_key ck;
    struct key_entry k;
};

static void setup_tsa(struct tsa_setup *s, const char *kind, const char *eku)
{
    s->key = pki_key(kind);
    s->cert = pki_cert("tsa.test", s->key, ca_cert, ca_key, 0, "critical,digitalSignature", eku, 7);
    pki_entry(&s->k, &s->ck, "tsa", s->cert, ca_cert);
}

static void free_tsa(struct tsa_setup *s)
{
    pki_entry_free(&s->k);
    X509_free(s->cert);
    EVP_PKEY_free(s->key);
}

/* A DER TimeStampReq over doc. imprint_len < 0: the hash's own length. */
static uint8_t *mkreq(const EVP_MD *md, int imprint_len, int nonce, const char *policy,
                      int cert_req, int version, size_t *len)
{
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    unsigned char dg[EVP_MAX_MD_SIZE], *der = NULL;
    unsigned dl = 0;
    int n;

    EVP_Digest(doc, sizeof(doc) - 1, dg, &dl, md, NULL);
    X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL);
    TS_MSG_IMPRINT_set_algo(mi, alg);
    TS_MSG_IMPRINT_set_msg(mi, dg, imprint_len < 0 ? (int)dl : imprint_len);
    TS_REQ_set_version(req, version);
    TS_REQ_set_msg_imprint(req, mi);
    if (nonce) {
        ASN1_INTEGER *ai = ASN1_INTEGER_new();

        ASN1_INTEGER_set_int64(ai, NONCE);
        TS_REQ_set_nonce(req, ai);
        ASN1_INTEGER_free(ai);
    }
    if (policy) {
        ASN1_OBJECT *o = OBJ_txt2obj(policy, 1);

        TS_REQ_set_policy_id(req, o);
        ASN1_OBJECT_free(o);
    }
    TS_REQ_set_cert_req(req, cert_req);
    n = i2d_TS_REQ(req, &der);
    *len = n > 0 ? (size_t)n : 0;
    X509_ALGOR_free(alg);
    TS_MSG_IMPRINT_free(mi);
    TS_REQ_free(req);
    return der;
}

/* Verify a DER TimeStampResp against its request with the CA as the only anchor (and the
 * TSA certificate given, as openssl ts -verify -untrusted does). */
static int ts_verifies(const uint8_t *resp_der, size_t rl, const uint8_t *req_der, size_t ql,
                       X509 *tsa_cert)
{
    const unsigned char *p = resp_der, *q = req_der;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)rl);
    TS_REQ *req = d2i_TS_REQ(NULL, &q, (long)ql);
    TS_VERIFY_CTX *vc = req ? TS_REQ_to_TS_VERIFY_CTX(req, NULL) : NULL;
    X509_STORE *st = X509_STORE_new();
    STACK_OF(X509) *certs = sk_X509_new_null();
    int ok;

    X509_STORE_add_cert(st, ca_cert);
    X509_up_ref(tsa_cert);
    sk_X509_push(certs, tsa_cert);
    ok = resp && vc;
    if (ok) {
        TS_VERIFY_CTX_set_store(vc, st);
        TS_VERIFY_CTX_set_certs(vc, certs);
        TS_VERIFY_CTX_add_flags(vc, TS_VFY_SIGNATURE);
        st = NULL;
        certs = NULL;
        ok = TS_RESP_verify_response(vc, resp) == 1;
    }
    ERR_clear_error();
    X509_STORE_free(st);
    sk_X509_pop_free(certs, X509_free);
    TS_VERIFY_CTX_free(vc);
    TS_REQ_free(req);
    TS_RESP_free(resp);
    return ok;
}

/* Build, sign with the software key and encode; returns the DER (OPENSSL_free) or NULL. */
static uint8_t *granted(struct tsa_setup *s, const struct tsa_params *p, const uint8_t *q,
                        size_t ql, size_t *rl, struct tsa_resp *t)
{
    char err[256] = "";
    uint8_t sig[512], *der = NULL;
    size_t sl;
    const EVP_MD *md;

    if (tsa_respond(p, q, ql, t, err, sizeof(err)) != PS_OK || !t->granted) {
        printf("# tsa_respond: %s (granted %d)\n", err, t->granted);
        tsa_resp_free(t);
        return NULL;
    }
    md = EVP_get_digestbyname(hash_name(alg_info(t->alg)->hash));
    sl = pki_sign_digest(s->key, md, t->digest, t->dlen, sig, sizeof(sig));
    if (sl == 0 || tsa_finish(t, sig, sl, &der, rl) != PS_OK)
        der = NULL;
    return der;
}

static TS_RESP *parse(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;

    return d2i_TS_RESP(NULL, &p, (long)len);
}

static long status_of(TS_RESP *r)
{
    return ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(r)));
}

static int fail_bit(TS_RESP *r, int bit)
{
    const ASN1_BIT_STRING *fi = TS_STATUS_INFO_get0_failure_info(TS_RESP_get_status_info(r));

    return fi != NULL && ASN1_BIT_STRING_get_bit(fi, bit);
}

static void test_granted_ec(void)
{
    struct tsa_setup s;
    struct tsa_params p;
    struct tsa_resp t;
    uint8_t *q, *der, *der2 = NULL;
    size_t ql, rl = 0, rl2 = 0;
    TS_RESP *r = NULL, *r2 = NULL;
    TS_TST_INFO *ti;

    setup_tsa(&s, "P-256", "critical,timeStamping");
    p.key = &s.k;
    p.policy = "1.2.3.4.1";
    p.accuracy_ms = 1500;
    q = mkreq(EVP_sha256(), -1, 1, NULL, 1, 1, &ql);
    der = granted(&s, &p, q, ql, &rl, &t);
    CHECK(der != NULL, "a sha256 request with nonce and certReq is granted and finished");
    CHECK(t.alg == ALG_ECDSA_SHA256 && t.dlen == 32, "P-256: the keyholder signs a sha256 digest");
    CHECK(der && ts_verifies(der, rl, q, ql, s.cert), "OpenSSL's TS verifier accepts the token");
    tsa_resp_free(&t);
    if (der && (r = parse(der, rl)) != NULL) {
        const ASN1_INTEGER *serial, *nonce;
        const TS_ACCURACY *acc;
        ASN1_OBJECT *pol = OBJ_txt2obj("1.2.3.4.1", 1);
        struct tm tm;
        time_t gt = 0;

        ti = TS_RESP_get_tst_info(r);
        serial = TS_TST_INFO_get_serial(ti);
        nonce = TS_TST_INFO_get_nonce(ti);
        acc = TS_TST_INFO_get_accuracy(ti);
        CHECK(status_of(r) == TS_STATUS_GRANTED, "status granted");
        CHECK(serial && serial->length == 16 && serial->type == V_ASN1_INTEGER &&
                  (serial->data[0] & 0xc0) == 0x40,
              "the serial number is a positive 16-byte integer");
        {
            int64_t nv = 0;

            CHECK(nonce && ASN1_INTEGER_get_int64(&nv, nonce) == 1 && nv == NONCE,
                  "the request's nonce is in the TSTInfo");
        }
        CHECK(OBJ_cmp(TS_TST_INFO_get_policy_id(ti), pol) == 0, "the policy is tsa_policy");
        CHECK(acc && ASN1_INTEGER_get(TS_ACCURACY_get_seconds(acc)) == 1 &&
                  ASN1_INTEGER_get(TS_ACCURACY_get_millis(acc)) == 500 &&
                  TS_ACCURACY_get_micros(acc) == NULL,
              "accuracy 1500 ms = 1 s 500 ms");
        CHECK(ASN1_TIME_to_tm(TS_TST_INFO_get_time(ti), &tm) && (gt = timegm(&tm)) > 0 &&
                  labs((long)(time(NULL) - gt)) < 5,
              "genTime is now");
        CHECK(TS_TST_INFO_get_tsa(ti) != NULL, "the TSA name is included");
        CHECK(sk_X509_num(TS_RESP_get_token(r)->d.sign->cert) == 2,
              "certReq: the token carries the TSA certificate and its chain");
        ASN1_OBJECT_free(pol);
        /* a second token: another serial */
        der2 = granted(&s, &p, q, ql, &rl2, &t);
        tsa_resp_free(&t);
        r2 = der2 ? parse(der2, rl2) : NULL;
        CHECK(r2 && ASN1_INTEGER_cmp(TS_TST_INFO_get_serial(TS_RESP_get_tst_info(r2)), serial) != 0,
              "a second time-stamp has another serial number");
    }
    TS_RESP_free(r);
    TS_RESP_free(r2);
    OPENSSL_free(der);
    OPENSSL_free(der2);
    OPENSSL_free(q);

    /* the placeholder signature must not verify: the swap is what makes the token valid */
    q = mkreq(EVP_sha256(), -1, 0, "1.2.3.4.1", 0, 1, &ql);
    {
        char err[256];
        uint8_t *ph = NULL;
        size_t pl = 0;

        CHECK(tsa_respond(&p, q, ql, &t, err, sizeof(err)) == PS_OK && t.granted,
              "no nonce, the configured policy named, no certReq: granted");
        CHECK(tsa_der(&t, &ph, &pl) == PS_OK && !ts_verifies(ph, pl, q, ql, s.cert),
              "the token with the proxy's placeholder signature does not verify");
        r = ph ? parse(ph, pl) : NULL;
        CHECK(r && TS_TST_INFO_get_nonce(TS_RESP_get_tst_info(r)) == NULL &&
                  sk_X509_num(TS_RESP_get_token(r)->d.sign->cert) <= 0,
              "no nonce asked, none given; no certReq, no certificates");
        TS_RESP_free(r);
        OPENSSL_free(ph);
        CHECK(tsa_finish(&t, (const uint8_t *)"abc", 3, &ph, &pl) != PS_OK,
              "tsa_finish refuses an ECDSA signature of odd length");
        tsa_resp_free(&t);
    }
    OPENSSL_free(q);

    p.accuracy_ms = 0;
    q = mkreq(EVP_sha512(), -1, 1, NULL, 0, 1, &ql);
    der = granted(&s, &p, q, ql, &rl, &t);
    tsa_resp_free(&t);
    r = der ? parse(der, rl) : NULL;
    CHECK(r && ts_verifies(der, rl, q, ql, s.cert) &&
              TS_TST_INFO_get_accuracy(TS_RESP_get_tst_info(r)) == NULL,
          "sha512 imprint granted; tsa_accuracy_ms 0: no accuracy field");
    TS_RESP_free(r);
    OPENSSL_free(der);
    OPENSSL_free(q);
    free_tsa(&s);
}

static void test_other_keys(void)
{
    struct tsa_setup s;
    struct tsa_params p = {NULL, "1.2.3.4.1", 1000};
    struct tsa_resp t;
    uint8_t *q, *der;
    size_t ql, rl = 0;

    q = mkreq(EVP_sha384(), -1, 1, NULL, 1, 1, &ql);
    setup_tsa(&s, "P-384", "critical,timeStamping");
    p.key = &s.k;
    der = granted(&s, &p, q, ql, &rl, &t);
    CHECK(t.alg == ALG_ECDSA_SHA384 && t.dlen == 48, "P-384: ecdsa-sha384");
    CHECK(der && ts_verifies(der, rl, q, ql, s.cert), "the P-384 token verifies");
    tsa_resp_free(&t);
    OPENSSL_free(der);
    free_tsa(&s);

    setup_tsa(&s, "rsa", "critical,timeStamping");
    p.key = &s.k;
    der = granted(&s, &p, q, ql, &rl, &t);
    CHECK(t.alg == ALG_RSA_PKCS1_SHA256 && t.dlen == 32, "RSA: rsa-pkcs1-sha256");
    CHECK(der && ts_verifies(der, rl, q, ql, s.cert), "the RSA token verifies");
    tsa_resp_free(&t);
    OPENSSL_free(der);
    free_tsa(&s);
    OPENSSL_free(q);
}

/* A rejection: a response without a token, with status 2 and the failInfo bit. */
static int rejected(const struct tsa_params *p, uint8_t *q, size_t ql, int bit)
{
    struct tsa_resp t;
    char err[256] = "";
    uint8_t *der = NULL;
    size_t dl = 0;
    TS_RESP *r = NULL;
    int ok;

    ok = tsa_respond(p, q, ql, &t, err, sizeof(err)) == PS_OK && !t.granted &&
         tsa_der(&t, &der, &dl) == PS_OK && (r = parse(der, dl)) != NULL &&
         status_of(r) == TS_STATUS_REJECTION && TS_RESP_get_token(r) == NULL && fail_bit(r, bit);
    TS_RESP_free(r);
    OPENSSL_free(der);
    tsa_resp_free(&t);
    OPENSSL_free(q);
    return ok;
}

static void test_rejections(void)
{
    struct tsa_setup s;
    struct tsa_params p = {NULL, "1.2.3.4.1", 1000};
    size_t ql;
    uint8_t *q;

    setup_tsa(&s, "P-256", "critical,timeStamping");
    p.key = &s.k;
    q = mkreq(EVP_sha1(), -1, 1, NULL, 0, 1, &ql);
    CHECK(rejected(&p, q, ql, TS_INFO_BAD_ALG), "a sha1 imprint: rejection, badAlg");
    q = mkreq(EVP_md5(), -1, 1, NULL, 0, 1, &ql);
    CHECK(rejected(&p, q, ql, TS_INFO_BAD_ALG), "an md5 imprint: rejection, badAlg");
    q = mkreq(EVP_sha256(), -1, 1, "1.2.3.4.2", 0, 1, &ql);
    CHECK(rejected(&p, q, ql, TS_INFO_UNACCEPTED_POLICY),
          "another policy: rejection, unacceptedPolicy");
    q = mkreq(EVP_sha256(), 20, 1, NULL, 0, 1, &ql);
    CHECK(rejected(&p, q, ql, TS_INFO_BAD_DATA_FORMAT),
          "a 20-byte imprint labelled sha256: rejection, badDataFormat");
    q = mkreq(EVP_sha256(), -1, 1, NULL, 0, 2, &ql);
    CHECK(rejected(&p, q, ql, TS_INFO_BAD_REQUEST), "version 2: rejection, badRequest");
    {
        /* a request with an extension */
        TS_REQ *req = TS_REQ_new();
        TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
        X509_ALGOR *alg = X509_ALGOR_new();
        X509_EXTENSION *ext;
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        unsigned char dg[32] = {1}, *der = NULL;
        int n;

        X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL);
        TS_MSG_IMPRINT_set_algo(mi, alg);
        TS_MSG_IMPRINT_set_msg(mi, dg, 32);
        TS_REQ_set_version(req, 1);
        TS_REQ_set_msg_imprint(req, mi);
        ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
        ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce, 0, os);
        TS_REQ_add_ext(req, ext, -1);
        n = i2d_TS_REQ(req, &der);
        CHECK(n > 0 && rejected(&p, der, (size_t)n, TS_INFO_UNACCEPTED_EXTENSION),
              "an extension: rejection, unacceptedExtension");
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
        X509_ALGOR_free(alg);
        TS_MSG_IMPRINT_free(mi);
        TS_REQ_free(req);
    }
    free_tsa(&s);
}

static int invalid(const struct tsa_params *p, const uint8_t *b, size_t len)
{
    struct tsa_resp t;
    char err[256] = "";
    int rc = tsa_respond(p, b, len, &t, err, sizeof(err));

    printf("# %s\n", err);
    tsa_resp_free(&t);
    return rc == PS_E_INVAL && t.resp == NULL && err[0] != 0;
}

static void test_malformed(void)
{
    struct tsa_setup s;
    struct tsa_params p = {NULL, "1.2.3.4.1", 1000};
    size_t ql;
    uint8_t *q, *big;

    setup_tsa(&s, "P-256", "critical,timeStamping");
    p.key = &s.k;
    q = mkreq(EVP_sha256(), -1, 1, NULL, 0, 1, &ql);
    CHECK(invalid(&p, (const uint8_t *)"", 0), "an empty body is PS_E_INVAL");
    CHECK(invalid(&p, (const uint8_t *)"garbage", 7), "garbage is PS_E_INVAL");
    CHECK(invalid(&p, q, ql - 1), "a truncated request is PS_E_INVAL");
    big = malloc(ql + 1);
    memcpy(big, q, ql);
    big[ql] = 0;
    CHECK(invalid(&p, big, ql + 1), "a request with a trailing byte is PS_E_INVAL");
    free(big);
    big = calloc(1, 70000);
    memcpy(big, q, ql);
    CHECK(invalid(&p, big, 70000), "a body of 70000 bytes is PS_E_INVAL");
    free(big);
    OPENSSL_free(q);
    free_tsa(&s);
}

static void test_key_check(void)
{
    static const struct {
        const char *kind, *eku;
        int ok;
        const char *what;
    } cases[] = {
        {"P-256", "critical,timeStamping", 1, "P-256 with critical EKU timeStamping"},
        {"rsa", "critical,timeStamping", 1, "RSA with critical EKU timeStamping"},
        {"P-256", "timeStamping", 0, "EKU timeStamping not critical"},
        {"P-256", NULL, 0, "no EKU"},
        {"P-256", "critical,timeStamping,clientAuth", 0, "EKU timeStamping and clientAuth"},
        {"ed25519", "critical,timeStamping", 0, "an Ed25519 key"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tsa_setup s;
        int rc;

        setup_tsa(&s, cases[i].kind, cases[i].eku);
        err[0] = 0;
        rc = tsa_key_check(&s.k, err, sizeof(err));
        if (rc != PS_OK)
            printf("# %s\n", err);
        CHECK(cases[i].ok ? rc == PS_OK : rc == PS_E_CONFIG && err[0] != 0,
              "tsa_key_check: %s -> %s", cases[i].what, cases[i].ok ? "fit" : "refused");
        free_tsa(&s);
    }
    {
        struct tsa_setup s;

        setup_tsa(&s, "P-256", "critical,timeStamping");
        s.k.algs = 1u << ALG_ECDSA_SHA384;
        CHECK(tsa_key_check(&s.k, err, sizeof(err)) == PS_E_CONFIG && strstr(err, "ecdsa-sha256"),
              "tsa_key_check: algs= without ecdsa-sha256 on a P-256 key is refused (%s)", err);
        free_tsa(&s);
    }
    CHECK(tsa_key_check(NULL, err, sizeof(err)) == PS_E_CONFIG, "tsa_key_check(NULL) is refused");
    CHECK(tsa_alg(KT_EC_P256) == ALG_ECDSA_SHA256 && tsa_alg(KT_EC_P384) == ALG_ECDSA_SHA384 &&
              tsa_alg(KT_RSA) == ALG_RSA_PKCS1_SHA256 && tsa_alg(KT_ED25519) == ALG_NONE,
          "tsa_alg per key type");
}

int main(void)
{
    ca_key = pki_key("P-256");
    ca_cert = pki_cert("Test CA", ca_key, NULL, ca_key, 1, "critical,keyCertSign,cRLSign", NULL, 1);
    test_granted_ec();
    test_other_keys();
    test_rejections();
    test_malformed();
    test_key_check();
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    return unit_done();
}
