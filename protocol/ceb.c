/*
 * ceb.c - build and read XMLDSig enveloped signatures: protocol/c14n.c for the DigestValue of
 * what it takes, libxml2 (parsing and C14N) for the rest and for reading signatures.
 */
#include "ceb.h"
#include "b64.h"
#include "c14n.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#define NS_DS         "http://www.w3.org/2000/09/xmldsig#"
#define NS_XSI        "http://www.w3.org/2001/XMLSchema-instance"
#define NS_CEB        "http://www.chinaport.gov.cn/ceb"
#define C14N_URI      "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define ENVELOPED_URI "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

static const struct ceb_profile profiles[] = {
    {"ceb-rsa-sha1", "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
     "http://www.w3.org/2000/09/xmldsig#sha1", "SHA1", 1, KT_RSA, ALG_RSA_PKCS1_SHA1, 0},
    {"ceb-sm2", "http://www.w3.org/2000/09/xmldsig#sm2-sm3",
     "http://www.w3.org/2000/09/xmldsig#sha1", "SHA1", 1, KT_SM2, ALG_SM2_SM3, 1},
    /* the E-port's 2022/04 URIs: SM3 DigestValue */
    {"ceb-2022", "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3",
     "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3", "SM3", 1, KT_SM2, ALG_SM2_SM3, 1},
    {"xmldsig-rsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
     "http://www.w3.org/2001/04/xmlenc#sha256", "SHA256", 0, KT_RSA, ALG_RSA_PKCS1_SHA256, 0},
    {"xmldsig-ecdsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
     "http://www.w3.org/2001/04/xmlenc#sha256", "SHA256", 0, KT_EC_P256, ALG_ECDSA_SHA256, 1},
};

/* Root namespace declarations SignedInfo inherits: without ds (redeclared on Signature) and
 * without xmlns="" (not rendered); at most SI_MAX_NS. */
#define SI_MAX_NS 62

struct ceb_doc {
    const uint8_t *xml; /* the caller's bytes; must outlive the doc */
    size_t len;
    size_t insert_at; /* offset of the root's end tag */
    const struct ceb_profile *p;
    /* the root's local name, then the prefix and URI of each declaration kept, each
     * NUL-terminated; the offsets below point into it */
    struct buf names;
    size_t root_name;
    struct {
        size_t prefix; /* "" for the default namespace */
        size_t href;
    } ns[SI_MAX_NS];
    size_t nns;
    int has_xsi; /* the root declares the xsi prefix */
    /* the Signature element's own parts, back to back: <ds:Signature ...>, SignedInfo as it
     * appears in the document (no ns declarations) from si_at, <ds:KeyInfo>... from ki_at */
    struct buf parts;
    size_t si_at, ki_at;
    EVP_MD_CTX *mc;              /* for the DigestValue (kept while the doc is pooled) */
    uint8_t md[EVP_MAX_MD_SIZE]; /* DigestValue: the document's C14N, computed at parse time */
    unsigned mdlen;
    struct ceb_doc *next; /* in the pool */
};

static void quiet_xml_error(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

/* The profiles' digests, fetched once: an EVP_get_digestbyname digest is fetched again on
 * every EVP_DigestInit_ex (OpenSSL 3), a cost of the per-document path. */
static EVP_MD *profile_md[sizeof(profiles) / sizeof(profiles[0])];
static EVP_MD *signedinfo_md[sizeof(profiles) / sizeof(profiles[0])]; /* NULL for SM2 */

static const EVP_MD *digest_of(const struct ceb_profile *p)
{
    size_t i = (size_t)(p - profiles);

    if (i < sizeof(profiles) / sizeof(profiles[0]) && profile_md[i])
        return profile_md[i];
    return EVP_get_digestbyname(p->digest_md);
}

void ceb_library_init(void)
{
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (profile_md[i] == NULL)
            profile_md[i] = EVP_MD_fetch(NULL, profiles[i].digest_md, NULL);
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (signedinfo_md[i] == NULL && profiles[i].alg != ALG_SM2_SM3)
            signedinfo_md[i] = EVP_MD_fetch(NULL, hash_name(alg_info(profiles[i].alg)->hash), NULL);
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, quiet_xml_error);
}

const struct ceb_profile *ceb_profile_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const struct ceb_profile *ceb_profile_by_sig_uri(const char *uri)
{
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (strcmp(profiles[i].sig_uri, uri) == 0)
            return &profiles[i];
    return NULL;
}

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return PS_E_INVAL;
}

static int depth_ok(xmlNodePtr n, int max)
{
    int depth = 0;

    /* iterative pre-order walk */
    while (n) {
        if (n->type == XML_ELEMENT_NODE && n->children) {
            if (++depth > max)
                return 0;
            n = n->children;
            continue;
        }
        while (n && n->next == NULL) {
            n = n->parent;
            if (n == NULL || n->type == XML_DOCUMENT_NODE)
                return 1;
            depth--;
        }
        if (n)
            n = n->next;
    }
    return 1;
}

static int is_ds(xmlNodePtr n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, NS_DS) == 0 &&
           strcmp((const char *)n->name, local) == 0;
}

static xmlNodePtr find_ds(xmlNodePtr n, const char *local)
{
    for (; n; n = n->next) {
        xmlNodePtr f;

        if (is_ds(n, local))
            return n;
        if (n->type == XML_ELEMENT_NODE && (f = find_ds(n->children, local)) != NULL)
            return f;
    }
    return NULL;
}

/* "<!DOCTYPE" or "<!ENTITY" anywhere (a comment too): '!' is rare in XML, so look for it */
static int has_dtd(const uint8_t *xml, size_t len)
{
    const uint8_t *p = xml, *end = xml + len, *q;

    while ((q = memchr(p, '!', (size_t)(end - p))) != NULL) {
        if (q > xml && q[-1] == '<' &&
            (((size_t)(end - q) >= 8 && memcmp(q + 1, "DOCTYPE", 7) == 0) ||
             ((size_t)(end - q) >= 7 && memcmp(q + 1, "ENTITY", 6) == 0)))
            return 1;
        p = q + 1;
    }
    return 0;
}

/* Parse with every network, DTD and entity feature off; checks size, encoding and depth. */
static xmlDocPtr safe_parse(const uint8_t *xml, size_t len, const struct ceb_limits *lim, char *err,
                            size_t errlen)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;

    if (len > lim->max_bytes) {
        snprintf(err, errlen, "document is larger than %zu bytes", lim->max_bytes);
        return NULL;
    }
    if (len > (size_t)1 << 30) {
        fail(err, errlen, "document too large");
        return NULL;
    }
    if (has_dtd(xml, len)) {
        fail(err, errlen, "DTDs and entity declarations are not allowed");
        return NULL;
    }
    if ((ctxt = xmlNewParserCtxt()) == NULL) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    doc = xmlCtxtReadMemory(ctxt, (const char *)xml, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);

        snprintf(err, errlen, "not well-formed XML: %s",
                 e && e->message ? e->message : "parse error");
        err[strcspn(err, "\n")] = 0;
        xmlFreeParserCtxt(ctxt);
        return NULL;
    }
    xmlFreeParserCtxt(ctxt);
    if (doc->intSubset || doc->extSubset) {
        fail(err, errlen, "DTDs are not allowed");
        goto bad;
    }
    if (doc->encoding && strcasecmp((const char *)doc->encoding, "UTF-8") != 0) {
        fail(err, errlen, "the document must be UTF-8");
        goto bad;
    }
    if (xmlDocGetRootElement(doc) == NULL) {
        fail(err, errlen, "no root element");
        goto bad;
    }
    if (!depth_ok(xmlDocGetRootElement(doc), lim->max_depth)) {
        snprintf(err, errlen, "elements nested deeper than %d", lim->max_depth);
        goto bad;
    }
    return doc;
bad:
    xmlFreeDoc(doc);
    return NULL;
}

/* Offset of the root's end tag: only white space may follow it. */
static int find_root_end(const uint8_t *xml, size_t len, xmlNodePtr root, size_t *at)
{
    char qname[512];
    size_t end = len, ql, pos;

    if (root->ns && root->ns->prefix)
        snprintf(qname, sizeof(qname), "</%s:%s", root->ns->prefix, root->name);
    else
        snprintf(qname, sizeof(qname), "</%s", root->name);
    ql = strlen(qname);
    while (end > 0 && (xml[end - 1] == ' ' || xml[end - 1] == '\t' || xml[end - 1] == '\r' ||
                       xml[end - 1] == '\n'))
        end--;
    if (end == 0 || xml[end - 1] != '>')
        return PS_E_INVAL;
    pos = end - 1;
    while (pos > 0 && (xml[pos - 1] == ' ' || xml[pos - 1] == '\t' || xml[pos - 1] == '\r' ||
                       xml[pos - 1] == '\n'))
        pos--;
    if (pos < ql || memcmp(xml + pos - ql, qname, ql) != 0)
        return PS_E_INVAL;
    *at = pos - ql;
    return PS_OK;
}

/* ceb:CEBnnnMessage in the CEB namespace */
static int is_ceb_root(const char *uri, const char *n)
{
    size_t l = strlen(n);

    if (uri == NULL || strcmp(uri, NS_CEB) != 0)
        return 0;
    if (l < 11 || strncmp(n, "CEB", 3) != 0 || strcmp(n + l - 7, "Message") != 0)
        return 0;
    for (size_t i = 3; i < l - 7; i++)
        if (n[i] < '0' || n[i] > '9')
            return 0;
    return 1;
}

static int c14n_hash_write(void *ctx, const char *p, int n)
{
    return EVP_DigestUpdate(ctx, p, (size_t)n) ? n : -1;
}

/* Digest of the inclusive C14N (no comments) of the whole document, streamed: the canonical
 * bytes go straight into the hash instead of a buffer as large as the document. */
static int c14n_digest(xmlDocPtr doc, const char *md, uint8_t *out, unsigned *outlen)
{
    const EVP_MD *m = EVP_get_digestbyname(md);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    xmlOutputBufferPtr ob = NULL;
    int r = PS_E_CRYPTO;

    if (m == NULL || mc == NULL || !EVP_DigestInit_ex(mc, m, NULL) ||
        (ob = xmlOutputBufferCreateIO(c14n_hash_write, NULL, mc, NULL)) == NULL)
        goto out;
    if (xmlC14NDocSaveTo(doc, NULL, XML_C14N_1_0, NULL, 0, ob) >= 0 &&
        xmlOutputBufferFlush(ob) >= 0 && EVP_DigestFinal_ex(mc, out, outlen))
        r = PS_OK;
out:
    if (ob)
        xmlOutputBufferClose(ob);
    EVP_MD_CTX_free(mc);
    return r;
}

/* Drop what a parse learnt about the root (before the libxml2 path starts over). */
static void ceb_forget_root(struct ceb_doc *d)
{
    buf_reset(&d->names);
    d->nns = 0;
    d->has_xsi = 0;
}

#define NAMES_MAX (64 * 1024) /* the root's name and declarations (SignedInfo takes 64 KiB) */

/* Keep a name in d->names; its offset in *at. */
static int keep_name(struct ceb_doc *d, const char *s, size_t n, size_t *at)
{
    int r;

    *at = d->names.len;
    r = buf_append(&d->names, s, n);
    return r == PS_OK ? buf_append(&d->names, "", 1) : r; /* PS_E_LIMIT past NAMES_MAX */
}

static const char *name_at(const struct ceb_doc *d, size_t at)
{
    return (const char *)d->names.data + at;
}

/* Keep one root namespace declaration for SignedInfo (see SI_MAX_NS). */
static int keep_ns(struct ceb_doc *d, const char *pfx, size_t pl, const char *href, size_t hl)
{
    if (d->nns >= SI_MAX_NS)
        return PS_OK; /* as many as SignedInfo ever took */
    if (pl == 2 && memcmp(pfx, "ds", 2) == 0)
        return PS_OK; /* redeclared on Signature */
    if (pl == 0 && hl == 0)
        return PS_OK; /* xmlns="" is not rendered */
    d->has_xsi |= pl == 3 && memcmp(pfx, "xsi", 3) == 0;
    int r;

    if ((r = keep_name(d, pfx, pl, &d->ns[d->nns].prefix)) != PS_OK ||
        (r = keep_name(d, href, hl, &d->ns[d->nns].href)) != PS_OK)
        return r;
    d->nns++;
    return PS_OK;
}

static int sink_digest(void *ctx, const uint8_t *p, size_t n)
{
    return EVP_DigestUpdate(ctx, p, n) ? PS_OK : PS_E_CRYPTO;
}

/*
 * The fast path: protocol/c14n.c canonicalises the submitted bytes straight into the digest
 * and checks them on the way. Whatever it does not take (PS_E_UNSUPPORTED), and whatever
 * ceb_parse would refuse, goes to the libxml2 path, which then decides with its own reasons.
 */
static int parse_fast(struct ceb_doc *d, const struct ceb_limits *lim)
{
    const EVP_MD *m = digest_of(d->p);
    struct c14n_info info;

    if (m == NULL || (d->mc == NULL && (d->mc = EVP_MD_CTX_new()) == NULL) ||
        !EVP_DigestInit_ex(d->mc, m, NULL) ||
        c14n_document(d->xml, d->len, lim->max_depth, sink_digest, d->mc, &info) != PS_OK ||
        info.dsig_signature)
        return PS_E_UNSUPPORTED;
    if (keep_name(d, (const char *)info.root_local.p, info.root_local.len, &d->root_name) != PS_OK)
        return PS_E_UNSUPPORTED;
    if (d->p->ceb && !(info.root_uri.len == strlen(NS_CEB) &&
                       memcmp(info.root_uri.p, NS_CEB, info.root_uri.len) == 0 &&
                       is_ceb_root(NS_CEB, name_at(d, d->root_name))))
        return PS_E_UNSUPPORTED;
    for (size_t i = 0; i < info.root_nns; i++)
        if (keep_ns(d, (const char *)info.root_ns[i].prefix.p, info.root_ns[i].prefix.len,
                    (const char *)info.root_ns[i].href.p, info.root_ns[i].href.len) != PS_OK)
            return PS_E_UNSUPPORTED;
    if (!EVP_DigestFinal_ex(d->mc, d->md, &d->mdlen))
        return PS_E_UNSUPPORTED;
    d->insert_at = info.root_end;
    return PS_OK;
}

/* The libxml2 path: a DOM, its checks and its C14N. */
static int parse_libxml2(struct ceb_doc *d, const struct ceb_limits *lim, char *err, size_t errlen)
{
    const struct ceb_profile *p = d->p;
    xmlDocPtr doc;
    xmlNodePtr root;
    int r = PS_E_INVAL;

    if ((doc = safe_parse(d->xml, d->len, lim, err, errlen)) == NULL)
        return PS_E_INVAL;
    root = xmlDocGetRootElement(doc);
    if (find_ds(root, "Signature")) {
        fail(err, errlen, "the message is already signed (it has a ds:Signature)");
        goto out;
    }
    if (p->ceb &&
        !is_ceb_root(root->ns ? (const char *)root->ns->href : NULL, (const char *)root->name)) {
        snprintf(err, errlen, "profile %s needs a CEB message root (ceb:CEBnnnMessage in %s)",
                 p->name, NS_CEB);
        goto out;
    }
    for (xmlNsPtr x = root->nsDef; x; x = x->next)
        if (x->href && strpbrk((const char *)x->href, "&<\"\t\r\n")) {
            /* implementations disagree on how to canonicalise these; no real schema uses them */
            fail(err, errlen,
                 "namespace URIs with '&', '<', quotes or control characters are "
                 "not supported");
            goto out;
        }
    if (find_root_end(d->xml, d->len, root, &d->insert_at) != PS_OK) {
        fail(err, errlen, "the root element must end the document with an end tag");
        goto out;
    }
    if (c14n_digest(doc, p->digest_md, d->md, &d->mdlen) != PS_OK) {
        /* C14N 1.0 refuses relative namespace URIs, for one (found by fuzzing) */
        fail(err, errlen,
             "the document cannot be canonicalised (relative or malformed "
             "namespace URI?)");
        goto out;
    }
    r = keep_name(d, (const char *)root->name, strlen((const char *)root->name), &d->root_name);
    for (xmlNsPtr x = root->nsDef; x && r == PS_OK; x = x->next) {
        const char *pfx = x->prefix ? (const char *)x->prefix : "";
        const char *href = x->href ? (const char *)x->href : "";

        r = keep_ns(d, pfx, strlen(pfx), href, strlen(href));
    }
    if (r == PS_E_LIMIT)
        fail(err, errlen, "the root's name and namespace declarations are longer than 64 KiB");
    else if (r != PS_OK)
        fail(err, errlen, "out of memory");
    if (r != PS_OK)
        r = PS_E_INVAL;
out:
    xmlFreeDoc(doc);
    return r;
}

/*
 * Documents freed by a thread wait in its pool with their buffers and digest context, so that
 * a worker signing document after document allocates nothing for them. Sanitizer builds keep
 * no pool: every doc is a fresh allocation there, and a use after ceb_free is caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_MAX 0
#endif
#endif
#ifndef POOL_MAX
/* as many as a worker has in flight under load (-c 8 -m 64 puts 256 on each of 2 workers);
 * a pooled doc holds about 6 KiB, never more than twice POOL_KEEP */
#define POOL_MAX 256
#endif
#define POOL_KEEP (16 * 1024) /* a doc whose buffers grew past this is freed, not kept */

static __thread struct ceb_doc *pool;
static __thread int pool_n;

static struct ceb_doc *doc_new(void)
{
    struct ceb_doc *d = pool;

    if (d != NULL) {
        pool = d->next;
        pool_n--;
        d->next = NULL;
        d->insert_at = 0;
        d->mdlen = 0;
        d->si_at = d->ki_at = 0;
        return d;
    }
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return NULL;
    buf_init(&d->names, NAMES_MAX);
    buf_init(&d->parts, 65536 + 8192);
    return d;
}

int ceb_parse(const uint8_t *xml, size_t len, const struct ceb_profile *p,
              const struct ceb_limits *lim, struct ceb_doc **out, char *err, size_t errlen)
{
    struct ceb_doc *d;

    *out = NULL;
    if (len > lim->max_bytes) {
        snprintf(err, errlen, "document is larger than %zu bytes", lim->max_bytes);
        return PS_E_INVAL;
    }
    if (len > (size_t)1 << 30)
        return fail(err, errlen, "document too large");
    if (has_dtd(xml, len))
        return fail(err, errlen, "DTDs and entity declarations are not allowed");
    if ((d = doc_new()) == NULL)
        return PS_E_NOMEM;
    d->xml = xml;
    d->len = len;
    d->p = p;
    if (lim->libxml2_only || parse_fast(d, lim) != PS_OK) {
        ceb_forget_root(d);
        if (parse_libxml2(d, lim, err, errlen) != PS_OK) {
            ceb_free(d);
            return PS_E_INVAL;
        }
    }
    *out = d;
    return PS_OK;
}

const char *ceb_root_name(const struct ceb_doc *d)
{
    return name_at(d, d->root_name);
}

void ceb_free(struct ceb_doc *d)
{
    if (d == NULL)
        return;
    if (pool_n < POOL_MAX && d->names.cap <= POOL_KEEP && d->parts.cap <= POOL_KEEP) {
        ceb_forget_root(d);
        buf_reset(&d->parts);
        d->next = pool;
        pool = d;
        pool_n++;
        return;
    }
    buf_free(&d->names);
    buf_free(&d->parts);
    EVP_MD_CTX_free(d->mc);
    free(d);
}

/* C14N attribute-value escaping (runs of plain characters appended at once) */
static int c14n_attr(struct buf *b, const char *v)
{
    for (;;) {
        size_t run = strcspn(v, "&<\"\t\n\r");
        const char *e = NULL;

        if (run && buf_append(b, v, run) != PS_OK)
            return PS_E_LIMIT;
        v += run;
        switch (*v) {
        case 0: return PS_OK;
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '"': e = "&quot;"; break;
        case '\t': e = "&#x9;"; break;
        case '\n': e = "&#xA;"; break;
        default: e = "&#xD;"; break;
        }
        if (buf_append_str(b, e) != PS_OK)
            return PS_E_LIMIT;
        v++;
    }
}

struct ns_decl {
    const char *prefix; /* "" for the default namespace */
    const char *href;
};

static int ns_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ns_decl *)a)->prefix, ((const struct ns_decl *)b)->prefix);
}

/*
 * Namespace declarations in scope at SignedInfo: the root's, then the Signature element's
 * (ds, and xsi for ceb-* when the root lacks it). Sorted as C14N sorts them.
 */
static size_t signedinfo_ns(const struct ceb_doc *d, struct ns_decl *ns, int *add_xsi)
{
    size_t n = 0;

    for (size_t i = 0; i < d->nns; i++, n++) {
        ns[n].prefix = name_at(d, d->ns[i].prefix);
        ns[n].href = name_at(d, d->ns[i].href);
    }
    ns[n].prefix = "ds";
    ns[n].href = NS_DS;
    n++;
    *add_xsi = d->p->ceb && !d->has_xsi;
    if (*add_xsi) {
        ns[n].prefix = "xsi";
        ns[n].href = NS_XSI;
        n++;
    }
    qsort(ns, n, sizeof(ns[0]), ns_cmp);
    return n;
}

int ceb_prepare_b64(struct ceb_doc *d, const char *certno, const char *cert_b64, size_t b64_len,
                    struct buf *si)
{
    struct ns_decl ns[SI_MAX_NS + 2];
    char dv[B64_ENCODED_LEN(EVP_MAX_MD_SIZE) + 1];
    size_t nns, dvl;
    int add_xsi, r = PS_OK;

    nns = signedinfo_ns(d, ns, &add_xsi);
    buf_reset(&d->parts);
    buf_reset(si);
    if ((dvl = b64_encode(dv, sizeof(dv), d->md, d->mdlen)) == 0)
        return PS_E_LIMIT;
    /* each sized once (the URIs and the certificate are most of them) */
    r |= buf_reserve(&d->parts, 1536 + strlen(certno) + b64_len);
    r |= buf_reserve(si, 1024 + 256 * nns);
    r |= buf_append_str(&d->parts, "<ds:Signature xmlns:ds=\"" NS_DS "\"");
    if (add_xsi)
        r |= buf_append_str(&d->parts, " xmlns:xsi=\"" NS_XSI "\"");
    r |= buf_append_str(&d->parts, ">");
    d->si_at = d->parts.len;
    r |= buf_append_str(&d->parts, "<ds:CanonicalizationMethod Algorithm=\"" C14N_URI
                                   "\"></ds:CanonicalizationMethod><ds:SignatureMethod "
                                   "Algorithm=\"");
    r |= buf_append_str(&d->parts, d->p->sig_uri);
    r |= buf_append_str(&d->parts, "\"></ds:SignatureMethod><ds:Reference URI=\"\">"
                                   "<ds:Transforms><ds:Transform Algorithm=\"" ENVELOPED_URI
                                   "\"></ds:Transform></ds:Transforms><ds:DigestMethod "
                                   "Algorithm=\"");
    r |= buf_append_str(&d->parts, d->p->digest_uri);
    r |= buf_append_str(&d->parts, "\"></ds:DigestMethod><ds:DigestValue>");
    r |= buf_append(&d->parts, dv, dvl);
    r |= buf_append_str(&d->parts, "</ds:DigestValue></ds:Reference></ds:SignedInfo>");
    d->ki_at = d->parts.len;
    /* the canonical form: same content, with every namespace in scope on the apex */
    r |= buf_append_str(si, "<ds:SignedInfo");
    for (size_t i = 0; i < nns; i++) {
        r |= buf_append_str(si, ns[i].prefix[0] ? " xmlns:" : " xmlns");
        r |= buf_append_str(si, ns[i].prefix);
        r |= buf_append_str(si, "=\"");
        r |= c14n_attr(si, ns[i].href);
        r |= buf_append_str(si, "\"");
    }
    r |= buf_append_str(si, ">");
    r |= buf_append(si, d->parts.data + d->si_at, d->ki_at - d->si_at);
    r |= buf_append_str(&d->parts, "<ds:KeyInfo><ds:KeyName>");
    r |= buf_append_str(&d->parts, certno);
    r |= buf_append_str(&d->parts, "</ds:KeyName><ds:X509Data><ds:X509Certificate>");
    r |= buf_append(&d->parts, cert_b64, b64_len);
    r |= buf_append_str(&d->parts, "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>");
    return r == PS_OK ? PS_OK : PS_E_LIMIT;
}

int ceb_signedinfo_digest(const struct ceb_profile *p, const struct buf *si, uint8_t *md,
                          unsigned *mdl)
{
    size_t i = (size_t)(p - profiles);
    const EVP_MD *m;

    if (p->alg == ALG_SM2_SM3)
        return PS_E_INVAL;
    m = i < sizeof(profiles) / sizeof(profiles[0]) && signedinfo_md[i]
            ? signedinfo_md[i]
            : EVP_get_digestbyname(hash_name(alg_info(p->alg)->hash));
    return m && EVP_Digest(si->data, si->len, md, mdl, m, NULL) ? PS_OK : PS_E_CRYPTO;
}

int ceb_prepare(struct ceb_doc *d, const char *certno, const uint8_t *cert_der, size_t cert_len,
                struct buf *si)
{
    size_t cap = B64_ENCODED_LEN(cert_len) + 1;
    char *b = malloc(cap);
    int r;

    if (b == NULL)
        return PS_E_NOMEM;
    r = ceb_prepare_b64(d, certno, b, b64_encode(b, cap, cert_der, cert_len), si);
    free(b);
    return r;
}

/* The Signature element, SignatureValue sv (base64) included. */
static const char si_open[] = "<ds:SignedInfo>", sv_open[] = "<ds:SignatureValue>",
                  sv_close[] = "</ds:SignatureValue>", sig_close[] = "</ds:Signature>";

static size_t signature_len(const struct ceb_doc *d, size_t svl)
{
    return d->parts.len + svl + sizeof(si_open) - 1 + sizeof(sv_open) - 1 + sizeof(sv_close) - 1 +
           sizeof(sig_close) - 1;
}

static uint8_t *put(uint8_t *o, const void *p, size_t n)
{
    memcpy(o, p, n);
    return o + n;
}

static void put_signature(const struct ceb_doc *d, const char *sv, size_t svl, uint8_t *o)
{
    const uint8_t *pt = d->parts.data;

    o = put(o, pt, d->si_at);
    o = put(o, si_open, sizeof(si_open) - 1);
    o = put(o, pt + d->si_at, d->ki_at - d->si_at);
    o = put(o, sv_open, sizeof(sv_open) - 1);
    o = put(o, sv, svl);
    o = put(o, sv_close, sizeof(sv_close) - 1);
    o = put(o, pt + d->ki_at, d->parts.len - d->ki_at);
    put(o, sig_close, sizeof(sig_close) - 1);
}

/* SignatureValue in base64 into sv (room for a 1024-byte signature); 0 if sig is too long. */
static size_t signature_value(const uint8_t *sig, size_t siglen, char *sv, size_t cap)
{
    size_t svl = b64_encode(sv, cap, sig, siglen);

    return svl || siglen == 0 ? svl : (size_t)-1;
}

int ceb_finish(struct ceb_doc *d, const uint8_t *sig, size_t siglen, struct buf *out)
{
    char sv[B64_ENCODED_LEN(1024) + 1];
    size_t svl = signature_value(sig, siglen, sv, sizeof(sv)), n;

    if (svl == (size_t)-1 || d->ki_at == 0)
        return PS_E_LIMIT;
    n = signature_len(d, svl);
    buf_reset(out);
    if (buf_reserve(out, d->len + n) != PS_OK)
        return PS_E_LIMIT;
    memcpy(out->data, d->xml, d->insert_at);
    put_signature(d, sv, svl, out->data + d->insert_at);
    memcpy(out->data + d->insert_at + n, d->xml + d->insert_at, d->len - d->insert_at);
    out->len = d->len + n;
    out->data[out->len] = 0;
    return PS_OK;
}

int ceb_finish_in_place(struct ceb_doc *d, const uint8_t *sig, size_t siglen, struct buf *doc)
{
    char sv[B64_ENCODED_LEN(1024) + 1];
    size_t svl = signature_value(sig, siglen, sv, sizeof(sv)), n;
    uint8_t *at;

    if (svl == (size_t)-1 || d->ki_at == 0 || buf_rptr(doc) != d->xml || buf_unread(doc) != d->len)
        return PS_E_LIMIT;
    n = signature_len(d, svl);
    if (doc->max - doc->len < n)
        doc->max = doc->len + n; /* the limit was on what the client sent */
    if (buf_reserve(doc, n) != PS_OK)
        return PS_E_LIMIT;
    d->xml = buf_rptr(doc); /* may have moved */
    at = doc->data + doc->off + d->insert_at;
    memmove(at + n, at, d->len - d->insert_at); /* the root's end tag and white space */
    put_signature(d, sv, svl, at);
    doc->len += n;
    doc->data[doc->len] = 0;
    d->len += n;
    d->ki_at = 0; /* finished: the doc no longer describes an unsigned document */
    return PS_OK;
}

/* ---- reading a signed message ---- */

static int in_subtree(void *ud, xmlNodePtr node, xmlNodePtr parent)
{
    xmlNodePtr top = ud, n = (node == NULL || node->type == XML_NAMESPACE_DECL) ? parent : node;

    for (; n; n = n->parent)
        if (n == top)
            return 1;
    return 0;
}

static int c14n_subtree(xmlDocPtr doc, xmlNodePtr top, struct buf *out)
{
    xmlOutputBufferPtr ob = xmlAllocOutputBuffer(NULL);
    int r = PS_E_CRYPTO;

    if (ob == NULL)
        return PS_E_NOMEM;
    if (xmlC14NExecute(doc, in_subtree, top, XML_C14N_1_0, NULL, 0, ob) >= 0)
        r = buf_append(out, xmlOutputBufferGetContent(ob), xmlOutputBufferGetSize(ob));
    xmlOutputBufferClose(ob);
    return r;
}

/* Text content of a ds child element, decoded from base64 into out. */
static int child_b64(xmlNodePtr parent, const char *local, uint8_t *out, size_t cap, size_t *len)
{
    xmlNodePtr n = find_ds(parent->children, local);
    xmlChar *txt;
    char *clean;
    size_t o = 0, tl;
    int dl;

    if (n == NULL || (txt = xmlNodeGetContent(n)) == NULL)
        return PS_E_INVAL;
    tl = strlen((const char *)txt);
    if ((clean = malloc(tl + 1)) == NULL) {
        xmlFree(txt);
        return PS_E_NOMEM;
    }
    for (size_t i = 0; i < tl; i++)
        if (!strchr(" \t\r\n", txt[i]))
            clean[o++] = (char)txt[i];
    clean[o] = 0;
    xmlFree(txt);
    if (o % 4 || o / 4 * 3 > cap ||
        (dl = EVP_DecodeBlock(out, (unsigned char *)clean, (int)o)) < 0) {
        free(clean);
        return PS_E_INVAL;
    }
    /* EVP_DecodeBlock counts padding as zero bytes */
    if (o >= 1 && clean[o - 1] == '=')
        dl--;
    if (o >= 2 && clean[o - 2] == '=')
        dl--;
    free(clean);
    *len = (size_t)dl;
    return PS_OK;
}

static xmlChar *algorithm_of(xmlNodePtr parent, const char *local)
{
    xmlNodePtr n = find_ds(parent->children, local);

    return n ? xmlGetProp(n, (const xmlChar *)"Algorithm") : NULL;
}

int ceb_read_signature(const uint8_t *xml, size_t len, const struct ceb_limits *lim,
                       struct ceb_sig *sig, char *err, size_t errlen)
{
    xmlDocPtr doc;
    xmlNodePtr root, s, si, ref;
    xmlChar *sm = NULL, *dm = NULL;
    uint8_t want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
    size_t wl = 0;
    unsigned gl = 0;
    int r = PS_E_INVAL;

    memset(sig, 0, sizeof(*sig));
    buf_init(&sig->signed_info, 65536);
    if ((doc = safe_parse(xml, len, lim, err, errlen)) == NULL)
        return PS_E_INVAL;
    root = xmlDocGetRootElement(doc);
    if ((s = find_ds(root->children, "Signature")) == NULL || s->parent != root) {
        fail(err, errlen, "no ds:Signature child of the root element");
        goto out;
    }
    if ((si = find_ds(s->children, "SignedInfo")) == NULL ||
        (ref = find_ds(si->children, "Reference")) == NULL) {
        fail(err, errlen, "ds:Signature has no SignedInfo/Reference");
        goto out;
    }
    {
        xmlChar *uri = xmlGetProp(ref, (const xmlChar *)"URI");
        int whole = uri && uri[0] == 0;

        xmlFree(uri);
        if (!whole) {
            fail(err, errlen, "only Reference URI=\"\" (the whole document) is supported");
            goto out;
        }
    }
    if ((sm = algorithm_of(si, "SignatureMethod")) == NULL ||
        (dm = algorithm_of(ref, "DigestMethod")) == NULL) {
        fail(err, errlen, "SignatureMethod or DigestMethod missing");
        goto out;
    }
    sig->profile = ceb_profile_by_sig_uri((const char *)sm);
    if (sig->profile == NULL || strcmp((const char *)dm, sig->profile->digest_uri) != 0) {
        snprintf(err, errlen, "unsupported SignatureMethod/DigestMethod %.100s / %.100s", sm, dm);
        sig->profile = NULL;
        goto out;
    }
    if (child_b64(s, "SignatureValue", sig->sigval, sizeof(sig->sigval), &sig->siglen) != PS_OK ||
        child_b64(ref, "DigestValue", want, sizeof(want), &wl) != PS_OK) {
        fail(err, errlen, "SignatureValue or DigestValue is not base64");
        goto out;
    }
    {
        xmlNodePtr ki = find_ds(s->children, "KeyInfo"),
                   kn = ki ? find_ds(ki->children, "KeyName") : NULL;
        xmlNodePtr xd = ki ? find_ds(ki->children, "X509Data") : NULL;

        if (xd == NULL || child_b64(xd, "X509Certificate", sig->cert, sizeof(sig->cert),
                                    &sig->certlen) != PS_OK) {
            fail(err, errlen, "KeyInfo/X509Data/X509Certificate missing or not base64");
            goto out;
        }
        if (kn) {
            xmlChar *t = xmlNodeGetContent(kn);

            snprintf(sig->key_name, sizeof(sig->key_name), "%s", t ? (const char *)t : "");
            xmlFree(t);
        }
    }
    if (c14n_subtree(doc, si, &sig->signed_info) != PS_OK) {
        fail(err, errlen, "cannot canonicalise SignedInfo");
        goto out;
    }
    /* enveloped-signature transform: the document without the Signature element */
    xmlUnlinkNode(s);
    xmlFreeNode(s);
    if (c14n_digest(doc, sig->profile->digest_md, got, &gl) != PS_OK) {
        fail(err, errlen, "cannot canonicalise the document");
        goto out;
    }
    sig->digest_ok = gl == wl && memcmp(got, want, gl) == 0;
    r = PS_OK;
out:
    xmlFree(sm);
    xmlFree(dm);
    xmlFreeDoc(doc);
    return r;
}

void ceb_sig_free(struct ceb_sig *sig)
{
    buf_free(&sig->signed_info);
}
