/*
 * c14n_test - the streaming canonicaliser (protocol/c14n.c) against libxml2's inclusive C14N
 * 1.0 on the edge cases customs messages meet, the expected bytes for some of them, what it
 * leaves to libxml2, and the CEB fast path against the libxml2-only path.
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>

#include "../../../protocol/c14n.h"
#include "../../../protocol/ceb.h"
#include "../testdata.h"
#include "../unit.h"

static int sink(void *ctx, const uint8_t *p, size_t n)
{
    return buf_append(ctx, p, n);
}

/* libxml2's C14N 1.0 (no comments) of the whole document; -1 if it does not parse. */
static int libxml2_c14n(const char *xml, size_t len, struct buf *out)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlChar *c = NULL;
    int n;

    if (doc == NULL)
        return -1;
    n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 0, &c);
    if (n >= 0 && buf_append(out, c, (size_t)n) != PS_OK)
        n = -1;
    xmlFree(c);
    xmlFreeDoc(doc);
    return n;
}

/* The fast path takes xml and writes what libxml2 writes (and want, when given). */
static void same(const char *xml, const char *want, const char *what)
{
    struct buf fast, ref;
    struct c14n_info info;
    size_t len = strlen(xml);
    int r;

    buf_init(&fast, 1 << 20);
    buf_init(&ref, 1 << 20);
    r = c14n_document((const uint8_t *)xml, len, 64, sink, &fast, &info);
    CHECK(r == PS_OK, "%s: taken by the fast path (%d)", what, r);
    CHECK(libxml2_c14n(xml, len, &ref) >= 0 && ref.len == fast.len &&
              memcmp(ref.data, fast.data, ref.len) == 0,
          "%s: same bytes as libxml2's C14N\n#   fast: %s\n#   libxml2: %s", what, fast.data,
          ref.data);
    if (want)
        CHECK(fast.len == strlen(want) && memcmp(fast.data, want, fast.len) == 0,
              "%s: canonical form is %s", what, want);
    buf_free(&fast);
    buf_free(&ref);
}

/* Left to libxml2 (PS_E_UNSUPPORTED). */
static void not_taken(const char *xml, size_t len, const char *what)
{
    struct buf fast;
    struct c14n_info info;

    buf_init(&fast, 1 << 20);
    CHECK(c14n_document((const uint8_t *)xml, len, 64, sink, &fast, &info) == PS_E_UNSUPPORTED,
          "left to libxml2: %s", what);
    buf_free(&fast);
}

#define NOT_TAKEN(xml, what) not_taken(xml, strlen(xml), what)

static void test_same(void)
{
    same("<r><a>1</a><b/></r>", "<r><a>1</a><b></b></r>", "empty element");
    same("<r b=\"2\" a=\"1\" c='3'></r>", "<r a=\"1\" b=\"2\" c=\"3\"></r>", "attributes sorted");
    same("<r z=\"1\" xmlns:b=\"urn:b\" xmlns:a=\"urn:a\" a:y=\"2\" b:x=\"3\" x=\"4\">t</r>",
         "<r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" x=\"4\" z=\"1\" a:y=\"2\" b:x=\"3\">t</r>",
         "attribute order: unqualified first, then by namespace URI and local name");
    same("<r xmlns:b=\"urn:a\" xmlns:a=\"urn:b\" a:x=\"1\" b:x=\"2\">t</r>", NULL,
         "attributes sorted by URI, not by prefix");
    same("<ceb:M xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\"><ceb:a xmlns:ceb=\"http://www."
         "chinaport.gov.cn/ceb\"><x:b xmlns:x=\"urn:x\"><x:c xmlns:x=\"urn:y\"/></x:b></ceb:a>"
         "</ceb:M>",
         "<ceb:M xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\"><ceb:a><x:b xmlns:x=\"urn:x\">"
         "<x:c xmlns:x=\"urn:y\"></x:c></x:b></ceb:a></ceb:M>",
         "namespaces at several levels, a superfluous redeclaration dropped");
    same("<r xmlns=\"urn:d\"><a xmlns=\"\"><b xmlns=\"\"/><c xmlns=\"urn:d\"/></a></r>",
         "<r xmlns=\"urn:d\"><a xmlns=\"\"><b></b><c xmlns=\"urn:d\"></c></a></r>",
         "default namespace undeclared and declared again");
    same("<r><a xmlns=\"\">x</a></r>", "<r><a>x</a></r>", "xmlns=\"\" with no default in scope");
    same("<r>\r\n a\rb\r\n</r>\r\n", "<r>\n a\nb\n</r>", "CR LF and lone CR become LF");
    same("<r a=\"x\ty\r\nz\nw\">t</r>", "<r a=\"x y z w\">t</r>", "attribute white space");
    same("<r a=\"&#9;&#xA;&#xD;&#13;\">t</r>", "<r a=\"&#x9;&#xA;&#xD;&#xD;\">t</r>",
         "attribute character references to white space");
    same("<r a=\"&amp;&lt;&gt;&quot;&apos;'\">&amp;&lt;&gt;&quot;&apos;&#13;&#x3E;</r>",
         "<r a=\"&amp;&lt;>&quot;''\">&amp;&lt;&gt;\"'&#xD;&gt;</r>", "predefined entities");
    same("<r>&#x4E2D;&#22269;&#x1F600;中国 ü</r>", "<r>中国😀中国 ü</r>",
         "character references and CJK text");
    same("<r><![CDATA[<a>&amp; ]] > ]]]]><![CDATA[>\r\n]]></r>",
         "<r>&lt;a&gt;&amp;amp; ]] &gt; ]]&gt;\n</r>", "CDATA sections");
    same("<!-- a --><?pi data?>\n<r><!-- b --><?p?><?q  x y ?></r>\n",
         "<?pi data?>\n<r><?p?><?q x y ?></r>", "comments and PIs");
    same("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r></r>", "<r></r>", "XML declaration");
    same("<?xml version='1.0' encoding='utf-8' standalone='no' ?><r>x</r>", "<r>x</r>",
         "XML declaration, single quotes, lowercase encoding");
    same("<r  a = \"1\"\n b='2' ></r >", "<r a=\"1\" b=\"2\"></r>", "white space in tags");
    same("<r xmlns:a=\"http://a.example/x#y\" xmlns:b=\"urn:a:b:c\"><a:x b:y=\">\"/></r>", NULL,
         "URIs with a fragment and colons; '>' in an attribute");
}

static void test_not_taken(void)
{
    NOT_TAKEN("<!DOCTYPE r><r/>", "DOCTYPE");
    NOT_TAKEN("\xef\xbb\xbf<r>x</r>", "byte order mark");
    NOT_TAKEN("<r><a></r>", "mismatched end tag");
    NOT_TAKEN("<r>x</r>y", "text after the root");
    NOT_TAKEN("<r>x</r><!-- c -->", "comment after the root");
    NOT_TAKEN("<r>&foo;</r>", "undeclared entity");
    NOT_TAKEN("<r>&#0;</r>", "reference to a non-character");
    NOT_TAKEN("<r>a]]>b</r>", "]]> in content");
    NOT_TAKEN("<r>\x01</r>", "control character");
    not_taken("<r>\xff\xfe</r>", 9, "invalid UTF-8");
    NOT_TAKEN("<r>\xef\xbf\xbe</r>", "U+FFFE");
    NOT_TAKEN("<r>\xed\xa0\x80</r>", "a UTF-8 surrogate");
    NOT_TAKEN("<r a=\"1\" a=\"2\">x</r>", "duplicate attribute");
    NOT_TAKEN("<r xmlns:a=\"urn:x\" xmlns:b=\"urn:x\" a:z=\"1\" b:z=\"2\">x</r>",
              "duplicate attribute by namespace");
    NOT_TAKEN("<p:r>x</p:r>", "unbound prefix");
    NOT_TAKEN("<r xmlns:p=\"rel/ative\">x</r>", "relative namespace URI");
    NOT_TAKEN("<r xmlns:p=\"urn:a&amp;b\">x</r>", "namespace URI with a reference");
    NOT_TAKEN("<r xmlns:p=\"\">x</r>", "xmlns:p=\"\"");
    NOT_TAKEN("<r xml:lang=\"zh\">x</r>", "xml: attributes");
    NOT_TAKEN("<名>x</名>", "non-ASCII names");
    NOT_TAKEN("<r a=\"1\"b=\"2\">x</r>", "no space between attributes");
    NOT_TAKEN("<r a=\"<\">x</r>", "'<' in an attribute");
    NOT_TAKEN("<r/>", "empty-element root");
    NOT_TAKEN("<?xml version=\"1.1\"?><r>x</r>", "XML 1.1");
    NOT_TAKEN("<?xml version=\"1.0\" encoding=\"GBK\"?><r>x</r>", "another encoding");
    NOT_TAKEN("<r><!-- a -- b --></r>", "-- in a comment");
    NOT_TAKEN("<r><?xml-stylesheet href=\"a\"?></r>", "PI target starting with xml");
    {
        char deep[512];
        size_t o = 0;

        for (int i = 0; i < 64; i++)
            o += (size_t)snprintf(deep + o, sizeof(deep) - o, "<a>");
        for (int i = 0; i < 64; i++)
            o += (size_t)snprintf(deep + o, sizeof(deep) - o, "</a>");
        NOT_TAKEN(deep, "64 levels of elements");
    }
}

/* Counts the sink's calls around the buffer sink. */
struct counted {
    struct buf b;
    size_t calls;
};

static int count_sink(void *ctx, const uint8_t *p, size_t n)
{
    struct counted *c = ctx;

    c->calls++;
    return buf_append(&c->b, p, n);
}

/* A CEB-shaped message of n records, each a few leaves with ASCII and CJK text. */
static void ceb_like(struct buf *x, int n, const char *sep)
{
    char rec[512];

    buf_reset(x);
    CHECK(buf_append_str(x, "<ceb:CEB311Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\" "
                            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                            "guid=\"g\" version=\"1.0\">\n<ceb:Order>") == PS_OK,
          "message start");
    for (int i = 0; i < n; i++) {
        snprintf(rec, sizeof(rec),
                 "<ceb:OrderList><ceb:gnum>%d</ceb:gnum><ceb:itemNo>SKU-%06d</ceb:itemNo>"
                 "<ceb:itemName>婴儿奶粉 900g 第%d件</ceb:itemName><ceb:qty>1</ceb:qty>"
                 "<ceb:price>199.00</ceb:price></ceb:OrderList>%s",
                 i + 1, i, i + 1, sep);
        if (buf_append_str(x, rec) != PS_OK)
            break;
    }
    CHECK(buf_append_str(x, "</ceb:Order>\n</ceb:CEB311Message>\n") == PS_OK, "message end");
}

/* Output that is the input's own bytes goes out as spans: check the bytes and the pieces. */
static void test_spans(void)
{
    struct counted c;
    struct c14n_info info;
    struct buf x;
    char long_text[6000];

    same("<r><a>x&amp;y\r\nz&#xD;w&gt;v</a><b>p]q]]r</b>\r\n<c>a\rb</c></r>",
         "<r><a>x&amp;y\nz&#xD;w&gt;v</a><b>p]q]]r</b>\n<c>a\nb</c></r>",
         "spans interrupted by references, CR and ]");
    same("<r><a >x</a ><b\n>y</b\t><c/><d></d><e>t</e\r\n></r>",
         "<r><a>x</a><b>y</b><c></c><d></d><e>t</e></r>", "white space before '>' in tags");
    same("<r><a>abc&lt;def\r\nghi</a>tail\n<b>mixed中文&gt;文字</b>end</r>", NULL,
         "text split across spans, mixed content");
    same("<r><![CDATA[a]b]]c&<>\r\nd]]><a><![CDATA[]]></a></r>", NULL, "CDATA pieces and spans");
    same("<r>\n<a>\n<b>x</b>\n</a>\n<a><b>y</b><c>z</c></a>\n</r>", NULL,
         "leaves and containers with line ends between");
    same("<r><abcdefghijklmno>1</abcdefghijklmno><abcdefghijklmnop>2</abcdefghijklmnop>"
         "<abcdefghijklmnopq>3</abcdefghijklmnopq><p:abcdefghijklm xmlns:p=\"urn:p\">4"
         "</p:abcdefghijklm><abcdefghijklmn.:x xmlns:abcdefghijklmn.=\"urn:q\">5"
         "</abcdefghijklmn.:x></r>",
         NULL, "names of 15, 16, 17 bytes; a colon late in a 16-byte step");
    same("<r><a-b.c_d9>1</a-b.c_d9><_x>2</_x><Zz>3</Zz></r>", NULL, "name characters");
    same("<r><a>1</a><bb>2</bb><a>3</a></r>", NULL, "short document: names near the end");
    same("<r xmlns:p=\"urn:a\"><p:a>1</p:a><p:b xmlns:p=\"urn:b\"><p:c>2</p:c></p:b><p:d>3</p:d>"
         "</r>",
         NULL, "a prefix redeclared and back in scope");
    NOT_TAKEN("<r><p:a xmlns:p=\"urn:a\"><p:b>1</p:b></p:a><p:c>2</p:c></r>",
              "a prefix used after its declaration went out of scope");
    NOT_TAKEN("<r xmlns:p=\"urn:a\"><p:a>1</p:a><q:b>2</q:b></r>", "a second, unbound prefix");
    NOT_TAKEN("<r><a>x</ab></r>", "leaf: a longer end tag");
    NOT_TAKEN("<r><ab>x</a></r>", "leaf: a shorter end tag");
    NOT_TAKEN("<r><a>x</a", "leaf: end tag cut off");
    NOT_TAKEN("<r><a>x</a><b>y</b></r", "root end tag cut off");
    NOT_TAKEN("<r><a:b:c>x</a:b:c></r>", "two colons");
    NOT_TAKEN("<r xmlns:a=\"urn:a\"><a:>x</a:></r>", "a colon ending the name");
    NOT_TAKEN("<r xmlns:a=\"urn:a\"><a:1>x</a:1></r>", "a digit after the colon");
    NOT_TAKEN("<r><1a>x</1a></r>", "a digit first");
    NOT_TAKEN("<r><abcdefghijklmnopq\x80>x</abcdefghijklmnopq\x80></r>", "a non-ASCII name byte");
    NOT_TAKEN("<r><a>x\x01y</a></r>", "a control character inside a leaf");
    NOT_TAKEN("<r><a>x]]>y</a></r>", "]]> inside a leaf");
    NOT_TAKEN("<r><a>\xe5\xa9</a></r>", "UTF-8 cut short by '<'");
    NOT_TAKEN("<r><xmlfoo>x</xmlfoo></r>", "reserved name on a plain tag");

    /* a Signature element under a plain tag sets the flag only in the XMLDSig namespace */
    {
        static const char *const doc[] = {
            "<r xmlns:ds=\"urn:x\"><ds:Signature>1</ds:Signature></r>",
            "<r xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:Signature>1</ds:Signature>"
            "</r>",
            "<r xmlns:ds=\"urn:x\"><ds:a>0</ds:a><a "
            "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"
            "<ds:Signature>1</ds:Signature></a></r>",
        };

        for (size_t i = 0; i < sizeof(doc) / sizeof(doc[0]); i++) {
            buf_init(&c.b, 1 << 20);
            CHECK(c14n_document((const uint8_t *)doc[i], strlen(doc[i]), 64, count_sink, &c,
                                &info) == PS_OK &&
                      info.dsig_signature == (i > 0),
                  "dsig Signature flag, document %zu", i);
            buf_free(&c.b);
        }
    }

    /* longer than the 4 KiB buffer; after the root start tag all one verbatim span */
    buf_init(&x, 1 << 20);
    ceb_like(&x, 120, "\n");
    same((const char *)x.data, NULL, "CEB-shaped message over 4 KiB");
    buf_init(&c.b, 1 << 20);
    c.calls = 0;
    CHECK(c14n_document(x.data, x.len, 64, count_sink, &c, &info) == PS_OK && c.calls <= 2,
          "CEB-shaped message: its canonical form in %zu sink calls", c.calls);
    buf_free(&c.b);
    ceb_like(&x, 120, "\r\n");
    same((const char *)x.data, NULL, "CEB-shaped message with CR LF, over 4 KiB");

    /* one text of 6000 bytes: a span longer than the buffer, between copied pieces */
    memset(long_text, 'a', sizeof(long_text));
    memcpy(long_text, "<r a=\"1\">", 9);
    memcpy(long_text + 3000, "&amp;", 5);
    memcpy(long_text + sizeof(long_text) - 5, "</r>", 5);
    same(long_text, NULL, "long text with a reference in the middle");
    buf_free(&x);
}

static int same_bytes(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* ceb_parse with and without the fast path: same result, same SignedInfo and output. */
static void ceb_same(const char *profile, const uint8_t *xml, size_t len, const char *what)
{
    static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    struct buf si[2], out[2];
    char err[2][256];
    int r[2];

    for (int k = 0; k < 2; k++) {
        const struct ceb_limits lim = {1 << 20, 64, k};
        struct ceb_doc *d = NULL;
        uint8_t fake[64] = {7};

        buf_init(&si[k], 1 << 20);
        buf_init(&out[k], 1 << 21);
        err[k][0] = 0;
        r[k] = ceb_parse(xml, len, ceb_profile_by_name(profile), &lim, &d, err[k], 256);
        if (r[k] == PS_OK && (ceb_prepare(d, "0a", cert, sizeof(cert), &si[k]) != PS_OK ||
                              ceb_finish(d, fake, sizeof(fake), &out[k]) != PS_OK))
            r[k] = -100;
        ceb_free(d);
    }
    CHECK(r[0] == r[1] && strcmp(err[0], err[1]) == 0 && same_bytes(&si[0], &si[1]) &&
              same_bytes(&out[0], &out[1]),
          "%s %s: fast path and libxml2 path give the same result (%d %d %s)", profile, what, r[0],
          r[1], err[1]);
    for (int k = 0; k < 2; k++) {
        buf_free(&si[k]);
        buf_free(&out[k]);
    }
}

static void test_ceb(void)
{
    static const char *const profiles[] = {"ceb-rsa-sha1", "ceb-sm2", "ceb-2022",
                                           "xmldsig-rsa-sha256", "xmldsig-ecdsa-sha256"};
    static const char *const docs[] = {
        ("<ceb:CEB311Message xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\" "
         "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" guid=\"g\">\r\n<ceb:Order>"
         "<ceb:x>订单 &amp; ü</ceb:x></ceb:Order>\r\n</ceb:CEB311Message>\r\n"),
        ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ceb:CEB621Message xmlns:ceb=\"http://www."
         "chinaport.gov.cn/ceb\" xmlns:ds=\"urn:other\" xmlns=\"\"><a>x</a></ceb:CEB621Message>"),
        "<Doc xmlns=\"urn:x\" xmlns:z=\"urn:z\"><z:e a=\"1\"/><!-- c --></Doc>",
        "<r><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></r>",
        "<ceb:Foo xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\">x</ceb:Foo>",
        "<r>x</r> <!-- after -->",
    };
    size_t vl;
    uint8_t *vec = slurp("tests/data/chinaport/ceb621-unsigned.xml", &vl);

    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        for (size_t j = 0; j < sizeof(docs) / sizeof(docs[0]); j++) {
            char what[32];

            snprintf(what, sizeof(what), "document %zu", j);
            ceb_same(profiles[i], (const uint8_t *)docs[j], strlen(docs[j]), what);
        }
        ceb_same(profiles[i], vec, vl, "the CEB621 vector");
    }
    free(vec);
}

int main(void)
{
    ceb_library_init();
    test_same();
    test_not_taken();
    test_spans();
    test_ceb();
    return unit_done();
}
