/* cms_verify_detached: valid signatures, changed content, bad signatures, untrusted or missing
 * signer certificates, and requests that are not detached CMS SignedData. */
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "../../../certs/cmsverify.h"
#include "../unit.h"
#include "testpki.h"

static const uint8_t doc[] = "customs declaration 4711";
static const uint8_t doc2[] = "customs declaration 4712";
static X509 *ca, *other_ca, *signer, *client;
static EVP_PKEY *ca_key, *other_key, *signer_key, *client_key;
static X509_STORE *trust, *other_trust;

/* DER of a CMS over doc made by (cert, key) with flags. */
static uint8_t *mkcms(X509 *cert, EVP_PKEY *key, int flags, const uint8_t *content, size_t clen,
                      size_t *len)
{
    BIO *in = BIO_new_mem_buf(content, (int)clen);
    STACK_OF(X509) *chain = sk_X509_new_null();
    CMS_ContentInfo *cms;
    unsigned char *der = NULL;
    int n = 0;

    sk_X509_push(chain, ca);
    cms = CMS_sign(cert, key, (flags & CMS_NOCERTS) ? NULL : chain, in, flags | CMS_BINARY);
    if (cms)
        n = i2d_CMS_ContentInfo(cms, &der);
    *len = n > 0 ? (size_t)n : 0;
    CMS_ContentInfo_free(cms);
    sk_X509_free(chain);
    BIO_free(in);
    return der;
}

/* Run the check; returns its result code and prints the verdict. */
static int run(const uint8_t *sig, size_t sl, const uint8_t *content, size_t cl, X509_STORE *st,
               struct cms_check *c)
{
    char err[256] = "";
    int rc = cms_verify_detached(sig, sl, content, cl, st, c, err, sizeof(err));

    if (rc != PS_OK)
        printf("# error: %s\n", err);
    else
        printf("# valid %d reason '%s' signer '%s'\n", c->valid, c->reason, c->subject);
    return rc;
}

static int has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

int main(void)
{
    struct cms_check c;
    uint8_t *sig, *sig2;
    size_t sl;

    ca_key = pki_key("P-256");
    ca = pki_cert("Doc CA", ca_key, NULL, ca_key, 1, "critical,keyCertSign,cRLSign", NULL, 1);
    other_key = pki_key("P-256");
    other_ca = pki_cert("Other CA", other_key, NULL, other_key, 1, "critical,keyCertSign", NULL, 2);
    signer_key = pki_key("P-256");
    signer = pki_cert("signer.test", signer_key, ca, ca_key, 0,
                      "critical,digitalSignature,nonRepudiation", NULL, 0x5f6b);
    client_key = pki_key("P-256");
    client = pki_cert("client.test", client_key, ca, ca_key, 0, "critical,digitalSignature",
                      "clientAuth", 0x77);
    trust = X509_STORE_new();
    X509_STORE_add_cert(trust, ca);
    other_trust = X509_STORE_new();
    X509_STORE_add_cert(other_trust, other_ca);

    sig = mkcms(signer, signer_key, CMS_DETACHED, doc, sizeof(doc) - 1, &sl);
    CHECK(sig != NULL, "a detached CMS to check");
    CHECK(run(sig, sl, doc, sizeof(doc) - 1, trust, &c) == PS_OK && c.valid && c.reason[0] == 0,
          "valid over its content, no reason");
    CHECK(c.have_signer && has(c.subject, "CN=signer.test") && has(c.issuer, "CN=Doc CA") &&
              strcmp(c.certno, "5f6b") == 0,
          "signer subject, issuer and certNo (lowercase hex serial)");
    CHECK(run(sig, sl, doc2, sizeof(doc2) - 1, trust, &c) == PS_OK && !c.valid &&
              has(c.reason, "content") && c.have_signer,
          "changed content: not valid, the reason names the content");
    CHECK(run(sig, sl, doc, 0, trust, &c) == PS_OK && !c.valid && has(c.reason, "content"),
          "empty content: not valid");
    CHECK(run(sig, sl, doc, sizeof(doc) - 1, other_trust, &c) == PS_OK && !c.valid &&
              has(c.reason, "not trusted") && has(c.subject, "signer.test"),
          "a store without its CA: not trusted");
    sig2 = malloc(sl);
    memcpy(sig2, sig, sl);
    sig2[sl - 3] ^= 1; /* the signature value is last */
    CHECK(run(sig2, sl, doc, sizeof(doc) - 1, trust, &c) == PS_OK && !c.valid &&
              has(c.reason, "signature does not verify"),
          "a changed signature byte: the signature does not verify");
    free(sig2);
    sig2 = malloc(sl + 1);
    memcpy(sig2, sig, sl);
    sig2[sl] = 0;
    CHECK(run(sig2, sl + 1, doc, sizeof(doc) - 1, trust, &c) == PS_E_INVAL,
          "a trailing byte after the CMS: PS_E_INVAL");
    CHECK(run(sig, sl - 1, doc, sizeof(doc) - 1, trust, &c) == PS_E_INVAL,
          "a truncated CMS: PS_E_INVAL");
    free(sig2);
    OPENSSL_free(sig);

    sig = mkcms(signer, signer_key, CMS_DETACHED, (const uint8_t *)"", 0, &sl);
    CHECK(sig && run(sig, sl, NULL, 0, trust, &c) == PS_OK && c.valid,
          "a signature over empty content is valid over empty content");
    OPENSSL_free(sig);

    sig = mkcms(signer, signer_key, CMS_DETACHED | CMS_NOATTR, doc, sizeof(doc) - 1, &sl);
    CHECK(sig && run(sig, sl, doc, sizeof(doc) - 1, trust, &c) == PS_OK && c.valid,
          "without signed attributes: valid");
    CHECK(sig && run(sig, sl, doc2, sizeof(doc2) - 1, trust, &c) == PS_OK && !c.valid &&
              has(c.reason, "over the content"),
          "without signed attributes, changed content: the signature does not cover it");
    OPENSSL_free(sig);

    sig = mkcms(signer, signer_key, CMS_DETACHED | CMS_NOCERTS, doc, sizeof(doc) - 1, &sl);
    CHECK(sig && run(sig, sl, doc, sizeof(doc) - 1, trust, &c) == PS_OK && !c.valid &&
              has(c.reason, "not in the CMS") && !c.have_signer,
          "no signer certificate in the CMS: not valid, no signer");
    OPENSSL_free(sig);

    sig = mkcms(client, client_key, CMS_DETACHED, doc, sizeof(doc) - 1, &sl);
    CHECK(sig && run(sig, sl, doc, sizeof(doc) - 1, trust, &c) == PS_OK && !c.valid &&
              has(c.reason, "purpose"),
          "a TLS client certificate (EKU clientAuth only) does not sign documents");
    OPENSSL_free(sig);

    sig = mkcms(signer, signer_key, 0, doc, sizeof(doc) - 1, &sl);
    CHECK(sig && run(sig, sl, doc, sizeof(doc) - 1, trust, &c) == PS_E_INVAL,
          "a CMS with embedded content: PS_E_INVAL");
    OPENSSL_free(sig);
    {
        /* well-formed CMS, but not SignedData: a digested-data structure */
        BIO *in = BIO_new_mem_buf(doc, sizeof(doc) - 1);
        CMS_ContentInfo *dd = CMS_digest_create(in, EVP_sha256(), CMS_BINARY);
        unsigned char *der = NULL;
        int n = dd ? i2d_CMS_ContentInfo(dd, &der) : 0;

        CHECK(n > 0 && run(der, (size_t)n, doc, sizeof(doc) - 1, trust, &c) == PS_E_INVAL,
              "CMS DigestedData: PS_E_INVAL");
        OPENSSL_free(der);
        CMS_ContentInfo_free(dd);
        BIO_free(in);
    }
    CHECK(run((const uint8_t *)"garbage", 7, doc, sizeof(doc) - 1, trust, &c) == PS_E_INVAL,
          "garbage: PS_E_INVAL");
    CHECK(run((const uint8_t *)"", 0, doc, sizeof(doc) - 1, trust, &c) == PS_E_INVAL,
          "empty signature: PS_E_INVAL");

    X509_STORE_free(trust);
    X509_STORE_free(other_trust);
    X509_free(ca);
    X509_free(other_ca);
    X509_free(signer);
    X509_free(client);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(signer_key);
    EVP_PKEY_free(client_key);
    return unit_done();
}
