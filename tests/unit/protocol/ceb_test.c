/*
 * ceb_test - the CEB/XMLDSig builder and reader against the public China E-port vectors
 * (tests/data/chinaport, copied from shared/vectors) and hostile inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../../../protocol/ceb.h"
#include "../../../protocol/sigfmt.h"
#include "../testdata.h"
#include "../unit.h"

#define VEC "tests/data/chinaport/"

static const struct ceb_limits lim = {1024 * 1024, 64};

static void test_vector(void)
{
    size_t ul, sl, dl, cl;
    uint8_t *unsigned_xml = slurp(VEC "ceb621-unsigned.xml", &ul);
    uint8_t *si_vec = slurp(VEC "ceb621-signedinfo-sm2.xml", &sl);
    uint8_t *sig_der = slurp(VEC "ceb621-signedinfo-sm2.sig.der", &dl);
    uint8_t *cert_der = slurp(VEC "sm2-signer-cert.der", &cl);
    const unsigned char *cp = cert_der;
    X509 *cert = d2i_X509(NULL, &cp, (long)cl);
    const struct ceb_profile *p = ceb_profile_by_name("ceb-sm2");
    struct ceb_doc *d = NULL;
    struct buf si, out;
    struct ceb_sig sig;
    uint8_t raw[64];
    char err[256] = "";

    buf_init(&si, 65536);
    buf_init(&out, 4 * 1024 * 1024);
    CHECK(cert != NULL, "vector certificate parses");
    CHECK(p != NULL, "profile ceb-sm2 exists");
    CHECK(ceb_parse(unsigned_xml, ul, p, &lim, &d, err, sizeof(err)) == PS_OK,
          "CEB621 vector parses (%s)", err);
    CHECK(strcmp(ceb_root_name(d), "CEB621Message") == 0, "root is CEB621Message");
    CHECK(ceb_prepare(d, "03000000000cde6f", cert_der, cl, &si) == PS_OK, "prepare");
    CHECK(si.len == sl && memcmp(si.data, si_vec, sl) == 0,
          "SignedInfo is byte-identical to the public vector (%zu vs %zu bytes)", si.len, sl);
    CHECK(sm2_verify(cert, si.data, si.len, sig_der, dl),
          "the public SM2 signature verifies over our SignedInfo");
    CHECK(ecdsa_der_to_raw(sig_der, dl, 32, raw) == PS_OK, "the vector signature converts to r||s");
    CHECK(ceb_finish(d, raw, 64, &out) == PS_OK, "finish with the public signature");
    CHECK(ceb_read_signature(out.data, out.len, &lim, &sig, err, sizeof(err)) == PS_OK,
          "the signed message reads back (%s)", err);
    CHECK(sig.profile == p, "SignatureMethod maps back to ceb-sm2");
    CHECK(sig.digest_ok, "DigestValue matches the document without the signature");
    CHECK(sig.signed_info.len == si.len && memcmp(sig.signed_info.data, si.data, si.len) == 0,
          "libxml2's C14N of SignedInfo in the signed document equals what was signed");
    CHECK(sig.siglen == 64 && memcmp(sig.sigval, raw, 64) == 0, "SignatureValue is the raw r||s");
    CHECK(strcmp(sig.key_name, "03000000000cde6f") == 0, "KeyName is the certNo");
    CHECK(sig.certlen == cl && memcmp(sig.cert, cert_der, cl) == 0, "X509Certificate is the cert");
    {
        /* removing the Signature element gives back the submitted bytes */
        const char *s = memmem(out.data, out.len, "<ds:Signature", 13);
        const char *e = memmem(out.data, out.len, "</ds:Signature>", 15);
        struct buf back;

        buf_init(&back, out.len);
        if (s && e && buf_append(&back, out.data, (size_t)(s - (const char *)out.data)) == PS_OK &&
            buf_append(&back, e + 15, out.len - (size_t)(e + 15 - (const char *)out.data)) == PS_OK)
            CHECK(back.len == ul && memcmp(back.data, unsigned_xml, ul) == 0,
                  "removing the Signature gives back exactly the submitted bytes");
        else
            CHECK(0, "signature element found in the output");
        buf_free(&back);
    }
    ceb_sig_free(&sig);
    {
        /* one changed byte in the body breaks the digest */
        uint8_t *t = malloc(out.len);
        uint8_t *at;

        memcpy(t, out.data, out.len);
        at = memmem(t, out.len, "48037605991776256", 17);
        if (at)
            at[0] = '5';
        CHECK(ceb_read_signature(t, out.len, &lim, &sig, err, sizeof(err)) == PS_OK &&
                  !sig.digest_ok,
              "a tampered body fails the DigestValue check");
        ceb_sig_free(&sig);
        free(t);
    }
    ceb_free(d);
    buf_free(&si);
    buf_free(&out);
    X509_free(cert);
    free(unsigned_xml);
    free(si_vec);
    free(sig_der);
    free(cert_der);
}

/* Sign-and-read round trip: our SignedInfo must equal libxml2's C14N in the document. */
static void roundtrip(const char *profile, const char *xml, const char *what)
{
    const struct ceb_profile *p = ceb_profile_by_name(profile);
    struct ceb_doc *d = NULL;
    struct buf si, out;
    struct ceb_sig sig;
    uint8_t fake[64] = {1, 2, 3};
    static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    char err[256] = "";
    int ok;

    buf_init(&si, 65536);
    buf_init(&out, 1 << 20);
    ok = ceb_parse((const uint8_t *)xml, strlen(xml), p, &lim, &d, err, sizeof(err)) == PS_OK &&
         ceb_prepare(d, "0a1b", cert, sizeof(cert), &si) == PS_OK &&
         ceb_finish(d, fake, sizeof(fake), &out) == PS_OK &&
         ceb_read_signature(out.data, out.len, &lim, &sig, err, sizeof(err)) == PS_OK;
    CHECK(ok, "%s %s: sign and read back (%s)", profile, what, err);
    if (ok) {
        /* the reply path: the same Signature inserted into the request body itself, whose
         * limit was the document's size and whose bytes sit after a consumed prefix */
        struct buf body;
        struct ceb_doc *d2 = NULL;

        buf_init(&body, 8 + strlen(xml));
        CHECK(buf_append(&body, "consumed", 8) == PS_OK &&
                  buf_append(&body, xml, strlen(xml)) == PS_OK,
              "body");
        buf_consume(&body, 8);
        ok = ceb_parse(buf_rptr(&body), buf_unread(&body), p, &lim, &d2, err, sizeof(err)) ==
                 PS_OK &&
             ceb_prepare(d2, "0a1b", cert, sizeof(cert), &si) == PS_OK &&
             ceb_finish_in_place(d2, fake, sizeof(fake), &body) == PS_OK;
        CHECK(ok && buf_unread(&body) == out.len && memcmp(buf_rptr(&body), out.data, out.len) == 0,
              "%s %s: signed in place, the same bytes as a copy", profile, what);
        CHECK(d2 == NULL || ceb_finish_in_place(d2, fake, sizeof(fake), &body) != PS_OK,
              "%s %s: a doc signed in place cannot be finished again", profile, what);
        ceb_free(d2);
        buf_free(&body);
        ok = 1;
        CHECK(sig.digest_ok, "%s %s: digest matches", profile, what);
        CHECK(sig.signed_info.len == si.len && memcmp(sig.signed_info.data, si.data, si.len) == 0,
              "%s %s: SignedInfo equals libxml2's C14N in context", profile, what);
        ceb_sig_free(&sig);
    }
    ceb_free(d);
    buf_free(&si);
    buf_free(&out);
}

static void test_contexts(void)
{
    roundtrip("ceb-sm2",
              "<ceb:CEB311Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\" "
              "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" guid=\"g\" version=\"1.0\">"
              "<ceb:Order><ceb:x>订单 ü</ceb:x></ceb:Order>\n</ceb:CEB311Message>\n",
              "root declaring ceb and xsi");
    roundtrip("ceb-2022",
              "<ceb:CEB621Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\" guid=\"x\">"
              "<ceb:Inventory>清单</ceb:Inventory></ceb:CEB621Message>",
              "SM3 digest, 2022/04 URIs");
    roundtrip("ceb-rsa-sha1",
              "<ceb:CEB411Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\" b=\"2\" a=\"1\">"
              "<ceb:Payment>  spaced  </ceb:Payment></ceb:CEB411Message>",
              "root with only ceb, attributes out of order");
    roundtrip("xmldsig-rsa-sha256",
              "<Doc xmlns=\"urn:x\" xmlns:z=\"urn:z\" xmlns:a=\"urn:a\"><z:e a:x=\"1\"/>"
              "<!-- comment --></Doc>",
              "default namespace, several prefixes, comment");
    roundtrip("xmldsig-ecdsa-sha256", "<root><a>1</a><b/></root>", "no namespaces");
}

static int parse_fails(const char *profile, const char *xml, size_t len, const char *want)
{
    struct ceb_doc *d = NULL;
    char err[256] = "";
    int failed = ceb_parse((const uint8_t *)xml, len, ceb_profile_by_name(profile), &lim, &d, err,
                           sizeof(err)) != PS_OK;

    ceb_free(d);
    printf("# %s\n", err);
    return failed && strstr(err, want) != NULL;
}

#define FAILS(profile, xml, want, what)                                                            \
    CHECK(parse_fails(profile, xml, strlen(xml), want), "rejected: %s", what)

static void test_hostile(void)
{
    char deep[4096];
    size_t o = 0;

    FAILS("xmldsig-rsa-sha256",
          "<!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><r>&b;</r>", "DTD",
          "billion laughs (DTD with entities)");
    FAILS("xmldsig-rsa-sha256",
          "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"http://example.invalid/x.dtd\"><r/>", "DTD",
          "external DTD");
    FAILS("xmldsig-rsa-sha256", "<r><a></r>", "well-formed", "not well-formed");
    FAILS("xmldsig-rsa-sha256", "<?xml version=\"1.0\" encoding=\"GBK\"?><r>x</r>", "UTF-8",
          "declared non-UTF-8 encoding");
    CHECK(parse_fails("xmldsig-rsa-sha256", "<r>\xff\xfe</r>", 9, "well-formed"),
          "rejected: invalid UTF-8 bytes");
    FAILS("ceb-sm2", "<r xmlns=\"urn:x\">x</r>", "CEB message root",
          "non-CEB root for a ceb profile");
    FAILS("ceb-sm2", "<ceb:Foo xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\">x</ceb:Foo>",
          "CEB message root", "ceb namespace but not a CEBnnnMessage");
    FAILS("xmldsig-rsa-sha256",
          "<r><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></r>",
          "already signed", "already signed");
    FAILS("xmldsig-rsa-sha256", "<r>x</r><!-- trailing -->", "end tag", "content after the root");
    FAILS("xmldsig-rsa-sha256", "<r/>", "end tag", "empty-element root");
    /* regression (fuzzing): C14N refuses a relative namespace URI; a 400, not a 500 */
    FAILS("xmldsig-ecdsa-sha256", "<ceb:r xmlns:ceb=\"http://www.chinaport.gov.cn/]eb\">x</ceb:r>",
          "cannot be canonicalised", "a malformed (relative) namespace URI");
    FAILS("xmldsig-rsa-sha256", "<r xmlns:z=\"urn:z&amp;q\">x</r>", "namespace URIs",
          "a namespace URI with '&' (canonicalised differently by implementations)");
    o += (size_t)snprintf(deep + o, sizeof(deep) - o, "<r>");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(deep + o, sizeof(deep) - o, "<a>");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(deep + o, sizeof(deep) - o, "</a>");
    snprintf(deep + o, sizeof(deep) - o, "</r>");
    FAILS("xmldsig-rsa-sha256", deep, "nested deeper", "nesting deeper than the limit");
    {
        /* namespace URIs SignedInfo would have to repeat, over 64 KiB together: a 400 */
        size_t n = 3 * 30000 + 200, k = 0;
        char *big = malloc(n);

        k += (size_t)snprintf(big + k, n - k, "<r");
        for (int i = 0; i < 3; i++) {
            k += (size_t)snprintf(big + k, n - k, " xmlns:p%d=\"urn:x:", i);
            memset(big + k, 'a' + i, 29990);
            k += 29990;
            k += (size_t)snprintf(big + k, n - k, "\"");
        }
        snprintf(big + k, n - k, ">x</r>");
        FAILS("xmldsig-ecdsa-sha256", big, "longer than 64 KiB",
              "root namespace declarations over 64 KiB");
        free(big);
    }
    {
        struct ceb_limits small = {16, 64};
        struct ceb_doc *d = NULL;
        char err[256] = "";

        CHECK(ceb_parse((const uint8_t *)"<r>0123456789abcdef</r>", 23,
                        ceb_profile_by_name("xmldsig-rsa-sha256"), &small, &d, err,
                        sizeof(err)) != PS_OK &&
                  strstr(err, "larger than") != NULL,
              "rejected: document over the size limit");
        ceb_free(d);
    }
}

/*
 * Freed docs are reused (protocol/ceb.c keeps a pool per thread, outside sanitizer builds):
 * nothing of a document may leak into the next. Each message is signed first with a fresh
 * doc (all kept alive), then again, in reverse order, with the docs the first pass freed.
 */
static void test_reuse(void)
{
    static const struct {
        const char *profile, *xml;
        int libxml2_only;
    } m[] = {
        {"ceb-sm2",
         "<ceb:CEB311Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\" "
         "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" guid=\"g\">"
         "<ceb:Order><ceb:x>订单</ceb:x></ceb:Order></ceb:CEB311Message>",
         0},
        {"xmldsig-ecdsa-sha256", "<a><b>no namespaces at all</b></a>\n", 0},
        {"xmldsig-rsa-sha256",
         "<r xmlns=\"urn:x:d\" xmlns:p=\"urn:x:p\" xmlns:q=\"urn:x:q\"><p:a q:t=\"1\"/></r>", 0},
        {"ceb-2022",
         "<ceb:CEB621Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\" guid=\"x\">"
         "<ceb:Inventory>清单</ceb:Inventory></ceb:CEB621Message>",
         1},
        {"ceb-rsa-sha1",
         "<ceb:CEB511Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\"><w>1</w>"
         "</ceb:CEB511Message>",
         0},
    };
    enum { N = sizeof(m) / sizeof(m[0]) };
    static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    uint8_t fake[64] = {9, 8, 7};
    struct ceb_doc *d[N];
    struct buf first[N], si, out;
    char err[256];

    buf_init(&si, 65536);
    buf_init(&out, 1 << 20);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < N; k++) {
            int i = pass ? N - 1 - k : k;
            struct ceb_limits l = lim;
            int ok;

            l.libxml2_only = m[i].libxml2_only;
            d[i] = NULL;
            ok = ceb_parse((const uint8_t *)m[i].xml, strlen(m[i].xml),
                           ceb_profile_by_name(m[i].profile), &l, &d[i], err,
                           sizeof(err)) == PS_OK &&
                 ceb_prepare(d[i], "0a1b", cert, sizeof(cert), &si) == PS_OK &&
                 ceb_finish(d[i], fake, sizeof(fake), &out) == PS_OK;
            if (pass == 0) {
                buf_init(&first[i], 1 << 20);
                CHECK(ok && buf_append(&first[i], out.data, out.len) == PS_OK &&
                          buf_append(&first[i], si.data, si.len) == PS_OK,
                      "%s: signed with a fresh doc (%s)", m[i].profile, ok ? "" : err);
            } else {
                CHECK(ok && out.len + si.len == first[i].len &&
                          memcmp(first[i].data, out.data, out.len) == 0 &&
                          memcmp(first[i].data + out.len, si.data, si.len) == 0,
                      "%s: signed again with a reused doc, the same SignedInfo and message",
                      m[i].profile);
                buf_free(&first[i]);
            }
            if (pass)
                ceb_free(d[i]);
        }
        if (pass == 0)
            for (int i = 0; i < N; i++)
                ceb_free(d[i]);
    }
    buf_free(&si);
    buf_free(&out);
}

int main(void)
{
    ceb_library_init();
    test_vector();
    test_contexts();
    test_hostile();
    test_reuse();
    return unit_done();
}
