/*
 * c14n_fuzz - differential libFuzzer target for the streaming canonicaliser (protocol/c14n.c)
 * and the CEB fast path built on it (protocol/ceb.c).
 * 1. Whatever c14n_document accepts, libxml2 must parse (no DTD, UTF-8, a root) and its
 *    inclusive C14N 1.0 of the document must be the same bytes; the root's name, namespace,
 *    declarations, end-tag offset and the "has a ds:Signature" flag must agree with the tree.
 * 2. ceb_parse with the fast path and ceb_parse with libxml2 only must both succeed or both
 *    fail with the same reason, and when they succeed give the same root name, SignedInfo and
 *    signed message, for each profile.
 * A difference traps. Seeds: tests/fuzz/corpus/c14n/, dictionary tests/fuzz/c14n.dict.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "protocol/c14n.h"
#include "protocol/ceb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static int sink(void *ctx, const uint8_t *p, size_t n)
{
    return buf_append(ctx, p, n);
}

static int str_is(struct c14n_str s, const xmlChar *v)
{
    const char *c = v ? (const char *)v : "";

    return strlen(c) == s.len && (s.len == 0 || memcmp(c, s.p, s.len) == 0);
}

static int has_dsig_signature(xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (n->ns && n->ns->href &&
            strcmp((const char *)n->ns->href, "http://www.w3.org/2000/09/xmldsig#") == 0 &&
            strcmp((const char *)n->name, "Signature") == 0)
            return 1;
        if (has_dsig_signature(n->children))
            return 1;
    }
    return 0;
}

static void against_libxml2(const uint8_t *data, size_t size)
{
    struct c14n_info info;
    struct buf fast;
    xmlDocPtr doc;
    xmlNodePtr root;
    xmlChar *c14n = NULL;
    size_t i = 0;
    int n;

    buf_init(&fast, 16 * size + 65536);
    if (c14n_document(data, size, 64, sink, &fast, &info) != PS_OK) {
        buf_free(&fast);
        return;
    }
    doc = xmlReadMemory((const char *)data, (int)size, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    CHECK(doc != NULL && doc->intSubset == NULL && doc->extSubset == NULL);
    CHECK(doc->encoding == NULL || strcasecmp((const char *)doc->encoding, "UTF-8") == 0);
    CHECK((root = xmlDocGetRootElement(doc)) != NULL);
    n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 0, &c14n);
    CHECK(n >= 0 && (size_t)n == fast.len && memcmp(c14n, fast.data, fast.len) == 0);
    CHECK(str_is(info.root_local, root->name));
    CHECK(str_is(info.root_prefix, root->ns ? root->ns->prefix : NULL));
    CHECK(str_is(info.root_uri, root->ns ? root->ns->href : NULL));
    for (xmlNsPtr x = root->nsDef; x; x = x->next, i++)
        CHECK(i < info.root_nns && str_is(info.root_ns[i].prefix, x->prefix) &&
              str_is(info.root_ns[i].href, x->href));
    CHECK(i == info.root_nns);
    CHECK(info.dsig_signature == has_dsig_signature(root));
    CHECK(info.root_end + 2 < size && memcmp(data + info.root_end, "</", 2) == 0);
    xmlFree(c14n);
    xmlFreeDoc(doc);
    buf_free(&fast);
}

/* One profile through ceb_parse/prepare/finish; returns the parse result. */
static int sign(const uint8_t *data, size_t size, const char *profile, int libxml2_only,
                struct buf *si, struct buf *out, char *name, char *err, size_t errlen)
{
    static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    const struct ceb_limits lim = {256 * 1024, 64, libxml2_only};
    const uint8_t fake[64] = {1};
    struct ceb_doc *d = NULL;
    int r;

    err[0] = 0;
    if ((r = ceb_parse(data, size, ceb_profile_by_name(profile), &lim, &d, err, errlen)) != PS_OK)
        return r;
    CHECK(strlen(ceb_root_name(d)) < 256);
    snprintf(name, 256, "%s", ceb_root_name(d));
    CHECK(ceb_prepare(d, "01", cert, sizeof(cert), si) == PS_OK);
    CHECK(ceb_finish(d, fake, sizeof(fake), out) == PS_OK);
    ceb_free(d);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"ceb-sm2", "ceb-rsa-sha1", "xmldsig-ecdsa-sha256"};

    ceb_library_init();
    against_libxml2(data, size);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct buf si[2], out[2];
        char err[2][256], name[2][256];
        int r[2];

        for (int k = 0; k < 2; k++) {
            buf_init(&si[k], 1 << 20);
            buf_init(&out[k], 1 << 21);
            r[k] = sign(data, size, names[i], k, &si[k], &out[k], name[k], err[k], 256);
        }
        CHECK(r[0] == r[1] && strcmp(err[0], err[1]) == 0);
        if (r[0] == PS_OK)
            CHECK(strcmp(name[0], name[1]) == 0 && si[0].len == si[1].len &&
                  memcmp(si[0].data, si[1].data, si[0].len) == 0 && out[0].len == out[1].len &&
                  memcmp(out[0].data, out[1].data, out[0].len) == 0);
        for (int k = 0; k < 2; k++) {
            buf_free(&si[k]);
            buf_free(&out[k]);
        }
    }
    return 0;
}
