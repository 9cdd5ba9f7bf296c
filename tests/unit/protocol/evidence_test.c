/*
 * Evidence bundles end to end, in-process: a test PKI (root CA; an EC P-256 CAdES signer; a
 * TSA with EKU timeStamping; an Ed25519 ledger key), an upload parsed from multipart, sealed in
 * the order the appliance follows (CMS through a capture proxy key, time-stamp through
 * certs/tsa.c, a leaf appended to a small in-memory Merkle log, a signed checkpoint, the zip),
 * then verified with certs/evverify.c: valid as made; invalid, naming what broke, after one
 * byte is flipped anywhere; bad uploads refused; trusted checkpoints and consistency proofs.
 *
 * `evidence_test --write DIR` also writes DIR/bundle.asice, DIR/root.pem, the log certificate,
 * checkpoints and proofs for tests/integration/evidence_by_hand.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <sodium.h>

#include "../../../certs/evseal.h"
#include "../../../certs/evverify.h"
#include "../../../certs/proxykey.h"
#include "../../../certs/tsa.h"
#include "../../../protocol/checkpoint.h"
#include "../../../protocol/evidence.h"
#include "../unit.h"
#include "../certs/testpki.h"

#define ORIGIN       "portseal.test/ledger"
#define NLEAVES      8
#define BUNDLE_INDEX 5

static EVP_PKEY *root_key, *sig_key, *tsa_key, *log_key;
static X509 *root, *sig_cert, *tsa_cert, *log_cert;
static STACK_OF(X509) * roots;
static uint8_t leaves[16][32]; /* leaf hashes of the test log */
static uint64_t nleaves;

static const char metadata[] =
    "{\"rights_holder\": \"Acme Footwear GmbH\", \"trademarks\": [\"EU018000001\", "
    "\"CN12345678\"], \"goods\": \"running shoes, model X\", \"hs_code\": \"6404.11\", "
    "\"submitter\": \"Li Wei, Acme customs desk\"}";

/* ---- PKI ---- */

static void setup_pki(void)
{
    root_key = pki_key("P-256");
    sig_key = pki_key("P-256");
    tsa_key = pki_key("P-256");
    log_key = pki_key("ed25519");
    root = pki_cert("Evidence Test Root", root_key, NULL, root_key, 1,
                    "critical,keyCertSign,cRLSign", NULL, 1);
    sig_cert = pki_cert("evidence-signer.test", sig_key, root, root_key, 0,
                        "critical,digitalSignature,nonRepudiation", NULL, 2);
    tsa_cert = pki_cert("tsa.test", tsa_key, root, root_key, 0, "critical,digitalSignature",
                        "critical,timeStamping", 3);
    log_cert = pki_cert(ORIGIN, log_key, root, root_key, 0, "critical,digitalSignature", NULL, 4);
    roots = sk_X509_new_null();
    X509_up_ref(root);
    sk_X509_push(roots, root);
}

static char *pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p, *out;
    long n;

    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &p);
    out = strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

/* ---- the log ---- */

static int node(void *ctx, uint64_t start, uint64_t end, uint8_t out[MERKLE_HASH_LEN])
{
    (void)ctx;
    return merkle_root(leaves[start], end - start, out);
}

static int ed_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    size_t sl = 64;
    int ok = mc && EVP_DigestSignInit(mc, NULL, NULL, NULL, ctx) == 1 &&
             EVP_DigestSign(mc, sig, &sl, msg, len) == 1 && sl == 64;

    EVP_MD_CTX_free(mc);
    return ok ? PS_OK : PS_E_CRYPTO;
}

static void log_append_text(const char *text, size_t len)
{
    merkle_leaf_hash((const uint8_t *)text, len, leaves[nleaves++]);
}

/* The signed checkpoint of the first size leaves. */
static void checkpoint_of(uint64_t size, struct buf *note)
{
    struct note_signer s;
    struct checkpoint cp;
    uint8_t pub[32];
    size_t pl = 32;
    char err[200];

    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), ORIGIN);
    cp.size = size;
    if (merkle_root(leaves[0], size, cp.root) != PS_OK)
        abort();
    EVP_PKEY_get_raw_public_key(log_key, pub, &pl);
    if (note_verifier_init(&s.key, ORIGIN, pub) != PS_OK)
        abort();
    s.sign = ed_sign;
    s.ctx = log_key;
    if (checkpoint_sign(&cp, &s, note, err, sizeof(err)) != PS_OK) {
        fprintf(stderr, "checkpoint_sign: %s\n", err);
        abort();
    }
}

static void consistency_json(uint64_t old, uint64_t nw, struct buf *out)
{
    struct merkle_proof p;
    char b64[64];

    if (merkle_consistency_proof(old, nw, node, NULL, &p) != PS_OK)
        abort();
    buf_reset(out);
    if (buf_printf(out, "{\"old\": %llu, \"new\": %llu, \"proof\": [", (unsigned long long)old,
                   (unsigned long long)nw) != PS_OK)
        abort();
    for (size_t i = 0; i < p.len; i++) {
        sodium_bin2base64(b64, sizeof(b64), p.hash[i], 32, sodium_base64_VARIANT_ORIGINAL);
        if (buf_printf(out, "%s\"%s\"", i ? ", " : "", b64) != PS_OK)
            abort();
    }
    if (buf_append_str(out, "]}\n") != PS_OK)
        abort();
}

/* ---- uploads ---- */

struct file {
    const char *name, *type;
    const uint8_t *data;
    size_t len;
};

static void form_body(struct buf *b, const char *meta, const struct file *f, size_t n)
{
    buf_reset(b);
    if (meta && buf_printf(b,
                           "--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
                           "Content-Type: application/json\r\n\r\n%s\r\n",
                           meta) != PS_OK)
        abort();
    for (size_t i = 0; i < n; i++)
        if (buf_printf(b,
                       "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                       "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
                       f[i].name, f[i].type) != PS_OK ||
            buf_append(b, f[i].data, f[i].len) != PS_OK || buf_append_str(b, "\r\n") != PS_OK)
            abort();
    if (buf_append_str(b, "--XyZ--\r\n") != PS_OK)
        abort();
}

static const struct evidence_limits lim = {8, 1 << 20, 2 << 20};

/* Parse and begin a seal; returns the PS_* code, err set. */
static int try_upload(const char *meta, const struct file *f, size_t n,
                      const struct evidence_limits *l, char *err, size_t errlen)
{
    static const struct mp_limits ml = {8 << 20, 16, 4096};
    struct buf body;
    struct mp_form form;
    struct evidence_seal s;
    int rc;

    buf_init(&body, 16 << 20);
    form_body(&body, meta, f, n);
    rc = mp_parse(body.data, body.len, "XyZ", &ml, &form, err, errlen);
    if (rc == PS_OK) {
        rc = evidence_seal_begin(&s, &form, l ? l : &lim, 1764340000123ull, err, errlen);
        evidence_seal_free(&s);
        mp_form_free(&form);
    }
    buf_free(&body);
    return rc;
}

/* ---- sealing, as the appliance does it ---- */

static uint8_t pdf[3000], jpg[5000];

static void make_p7s(const struct evidence_seal *s, struct buf *p7s)
{
    EVP_PKEY *proxy = proxykey_new(X509_get0_pubkey(sig_cert));
    STACK_OF(X509) *chain = sk_X509_new_null();
    CMS_ContentInfo *cms = NULL;
    uint8_t dg[64], raw[128], der[80];
    size_t dl, rl, derl = 0;
    int nid;
    char err[256];

    sk_X509_push(chain, root);
    proxykey_reset();
    CHECK(evseal_cms_build(s->manifest.data, s->manifest.len, sig_cert, chain, proxy, &cms, err,
                           sizeof(err)) == PS_OK,
          "CMS over the manifest built with a capture proxy key");
    CHECK(proxykey_take(dg, sizeof(dg), &dl, &nid) == PS_OK && nid == NID_sha256 && dl == 32,
          "the proxy captured a SHA-256 digest");
    rl = pki_sign_digest(sig_key, EVP_sha256(), dg, dl, raw, sizeof(raw));
    CHECK(rl == 64 && ecdsa_raw_to_der(raw, rl, der, sizeof(der), &derl) == PS_OK,
          "the 'keyholder' signed the digest");
    CHECK(evseal_cms_der(cms, der, derl, p7s, err, sizeof(err)) == PS_OK,
          "signature swapped in and CMS encoded");
    CMS_ContentInfo_free(cms);
    sk_X509_free(chain);
    EVP_PKEY_free(proxy);
}

static void make_tst(const struct buf *p7s, struct buf *tst)
{
    struct cfg_key ck;
    struct key_entry k;
    struct tsa_params prm = {&k, "1.3.6.1.4.1.4146.2.3", 1000};
    struct tsa_resp t;
    struct buf q;
    uint64_t nonce;
    uint8_t sig[128], *der = NULL;
    size_t sl, dl = 0;
    char err[256];

    pki_entry(&k, &ck, "tsa", tsa_cert, root);
    buf_init(&q, 4096);
    CHECK(evseal_tsq(p7s->data, p7s->len, &nonce, &q) == PS_OK, "time-stamp request made");
    CHECK(tsa_respond(&prm, q.data, q.len, &t, err, sizeof(err)) == PS_OK && t.granted,
          "TSA built the response");
    sl = pki_sign_digest(tsa_key, EVP_sha256(), t.digest, t.dlen, sig, sizeof(sig));
    CHECK(sl == 64 && tsa_finish(&t, sig, sl, &der, &dl) == PS_OK, "TSA response signed");
    CHECK(evseal_tst_from_resp(der, dl, p7s->data, p7s->len, &nonce, tst, err, sizeof(err)) ==
              PS_OK,
          "token taken from the response (%s)", tst->len ? "ok" : err);
    OPENSSL_free(der);
    tsa_resp_free(&t);
    buf_free(&q);
    pki_entry_free(&k);
}

static void seal(struct buf *zip, char id[65], struct buf *cp_out)
{
    static const struct mp_limits ml = {8 << 20, 16, 4096};
    const struct file files[] = {{"invoice.pdf", "application/pdf", pdf, sizeof(pdf)},
                                 {"photo 1.jpg", "image/jpeg", jpg, sizeof(jpg)}};
    struct buf body, p7s, tst, leaf, note, proof;
    struct mp_form form;
    struct evidence_seal s;
    struct merkle_proof inc;
    char err[256], *pems[2] = {pem_of(log_cert), pem_of(root)};

    buf_init(&body, 1 << 20);
    buf_init(&p7s, 1 << 16);
    buf_init(&tst, 1 << 16);
    buf_init(&leaf, 256);
    buf_init(&note, 4096);
    buf_init(&proof, 1 << 16);
    form_body(&body, metadata, files, 2);
    CHECK(mp_parse(body.data, body.len, "XyZ", &ml, &form, err, sizeof(err)) == PS_OK &&
              form.n == 3,
          "upload parsed");
    CHECK(evidence_seal_begin(&s, &form, &lim, 1764340000123ull, err, sizeof(err)) == PS_OK,
          "seal begun (%s)", s.n ? "ok" : err);
    make_p7s(&s, &p7s);
    make_tst(&p7s, &tst);
    CHECK(evidence_seal_leaf(&s, p7s.data, p7s.len, tst.data, tst.len, &leaf) == PS_OK,
          "leaf: %.*s", (int)leaf.len - 1, (const char *)leaf.data);
    nleaves = 0;
    for (int i = 0; i < BUNDLE_INDEX; i++) {
        char t[128];
        int n = snprintf(t, sizeof(t), "signature %d 1764340000000 t1 t1-ec ecdsa-sha256 %064d\n",
                         i + 1, i);

        log_append_text(t, (size_t)n);
    }
    log_append_text((const char *)leaf.data, leaf.len);
    for (int i = BUNDLE_INDEX + 1; i < NLEAVES; i++)
        log_append_text("signature 99 1 t1 k ed25519 00\n", 31);
    CHECK(merkle_inclusion_proof(BUNDLE_INDEX, NLEAVES, node, NULL, &inc) == PS_OK,
          "inclusion proof");
    checkpoint_of(NLEAVES, &note);
    CHECK(evidence_proof_json(leaf.data, leaf.len, BUNDLE_INDEX, NLEAVES, &inc, note.data, note.len,
                              (const char *const *)pems, 2, &proof) == PS_OK,
          "ledger-proof.json");
    CHECK(evidence_seal_finish(&s, p7s.data, p7s.len, tst.data, tst.len, proof.data, proof.len, zip,
                               id, err, sizeof(err)) == PS_OK,
          "zip assembled, bundle id %s", id);
    if (cp_out) {
        buf_reset(cp_out);
        if (buf_append(cp_out, note.data, note.len) != PS_OK)
            abort();
    }
    evidence_seal_free(&s);
    mp_form_free(&form);
    free(pems[0]);
    free(pems[1]);
    buf_free(&body);
    buf_free(&p7s);
    buf_free(&tst);
    buf_free(&leaf);
    buf_free(&note);
    buf_free(&proof);
}

/* ---- verification ---- */

static const char *first_failure(const struct evv_report *r)
{
    for (int c = 0; c < EVV_N; c++)
        if (r->r[c].state == EVV_FAIL)
            return r->r[c].detail;
    return NULL;
}

static void test_valid(const struct buf *zip, const char *id)
{
    struct evv_trust t = {roots, NULL, 0, NULL, 0};
    struct evv_report r;
    char hex[65];

    CHECK(evv_bundle(zip->data, zip->len, &t, &r) == PS_OK && r.valid,
          "the sealed bundle verifies");
    for (int c = 0; c < EVV_N; c++)
        CHECK(r.r[c].state == (c == EVV_CHECKPOINT ? EVV_SKIP : EVV_OK), "%s: %s",
              evv_check_name((enum evv_check)c), r.r[c].detail);
    evidence_sha256_hex(zip->data, zip->len, hex);
    CHECK(strcmp(hex, id) == 0 && strcmp(r.bundle_id, id) == 0, "bundle id = SHA-256 of the zip");
    CHECK(r.leaf_index == BUNDLE_INDEX && r.tree_size == NLEAVES && r.objects == 3,
          "report: leaf %llu of %llu, %zu objects", (unsigned long long)r.leaf_index,
          (unsigned long long)r.tree_size, r.objects);
    CHECK(strstr(r.signer, "evidence-signer.test") && strstr(r.tsa, "tsa.test"),
          "report names signer and TSA");
}

/* Where the entries are: name -> [start of local header, end of data) */
struct span {
    char name[64];
    size_t hdr, data, end;
};

static size_t spans(const struct buf *zip, struct span *sp, size_t max)
{
    size_t n = 0, p = 0;

    while (n < max && p + 30 <= zip->len && zip->data[p] == 'P' && zip->data[p + 1] == 'K' &&
           zip->data[p + 2] == 3 && zip->data[p + 3] == 4) {
        const uint8_t *l = zip->data + p;
        size_t nl = (size_t)(l[26] | l[27] << 8), xl = (size_t)(l[28] | l[29] << 8),
               cs = (size_t)(l[18] | l[19] << 8 | l[20] << 16 | (size_t)l[21] << 24);

        snprintf(sp[n].name, sizeof(sp[n].name), "%.*s", (int)nl, (const char *)l + 30);
        sp[n].hdr = p;
        sp[n].data = p + 30 + nl + xl;
        sp[n].end = sp[n].data + cs;
        p = sp[n].end + 16; /* data descriptor with signature */
        n++;
    }
    return n;
}

static int flip_fails(const struct buf *zip, size_t pos, uint8_t mask, char *why, size_t wl)
{
    struct evv_trust t = {roots, NULL, 0, NULL, 0};
    struct evv_report r;
    const char *f;

    zip->data[pos] ^= mask;
    if (evv_bundle(zip->data, zip->len, &t, &r) != PS_OK)
        abort();
    zip->data[pos] ^= mask;
    f = first_failure(&r);
    snprintf(why, wl, "%s", f ? f : "");
    return !r.valid && f && f[0];
}

static void test_tamper(const struct buf *zip)
{
    struct span sp[16];
    size_t n = spans(zip, sp, 16), tried = 0, failed = 0, step = zip->len / 500 + 1;
    char why[400];

    CHECK(n == 8, "%zu entries located", n);
    /* one byte in the middle of each entry's data names that entry's problem */
    for (size_t i = 0; i < n; i++) {
        size_t mid = (sp[i].data + sp[i].end) / 2;

        CHECK(flip_fails(zip, mid, 0x01, why, sizeof(why)), "flip in %s data: %s", sp[i].name, why);
        CHECK(flip_fails(zip, sp[i].hdr + 14, 0x20, why, sizeof(why)), "flip in %s header: %s",
              sp[i].name, why);
    }
    /* the data objects: the container's CRC and the manifest digest name the file */
    {
        struct evv_trust t = {roots, NULL, 0, NULL, 0};
        struct evv_report r;
        size_t pos = (sp[2].data + sp[2].end) / 2;

        zip->data[pos] ^= 0x55;
        if (evv_bundle(zip->data, zip->len, &t, &r) != PS_OK)
            abort();
        zip->data[pos] ^= 0x55;
        CHECK(r.r[EVV_MANIFEST].state == EVV_FAIL &&
                  strcmp(r.r[EVV_MANIFEST].detail, "manifest digest mismatch for invoice.pdf") == 0,
              "manifest: %s", r.r[EVV_MANIFEST].detail);
        CHECK(strstr(r.r[EVV_CONTAINER].detail, "invoice.pdf") != NULL, "container: %s",
              r.r[EVV_CONTAINER].detail);
    }
    /* every byte of every header, directory and end record, and a sample across all data */
    for (size_t pos = 0; pos < zip->len; pos++) {
        int in_data = 0;

        for (size_t i = 0; i < n; i++)
            if (pos >= sp[i].data && pos < sp[i].end)
                in_data = 1;
        if (in_data && pos % step != 0)
            continue;
        tried++;
        if (!flip_fails(zip, pos, (uint8_t)(pos % 2 ? 0x01 : 0x80), why, sizeof(why))) {
            failed++;
            if (failed < 5)
                printf("# byte %zu flipped still verifies\n", pos);
        }
    }
    CHECK(failed == 0,
          "%zu single-byte flips across the zip (all headers, sampled data): %zu "
          "went unnoticed",
          tried, failed);
    CHECK(flip_fails(zip, zip->len - 1, 0x01, why, sizeof(why)), "last byte: %s", why);
}

static void test_messages(const struct buf *zip)
{
    struct span sp[16];
    size_t n = spans(zip, sp, 16);
    struct {
        const char *entry;
        enum evv_check check;
        const char *words;
    } cases[] = {
        {"META-INF/ASiCManifest.xml", EVV_SIGNATURE, "messageDigest does not match the manifest"},
        {"META-INF/signature001.p7s", EVV_TIMESTAMP, "imprint"},
        {"META-INF/timestamp001.tst", EVV_LEDGER, "timestamp001.tst"},
        {"metadata.json", EVV_MANIFEST, "manifest digest mismatch for metadata.json"},
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        for (size_t i = 0; i < n; i++) {
            struct evv_trust t = {roots, NULL, 0, NULL, 0};
            struct evv_report r;
            size_t pos = (sp[i].data + sp[i].end) / 2;

            if (strcmp(sp[i].name, cases[c].entry) != 0)
                continue;
            zip->data[pos] ^= 0x01;
            if (evv_bundle(zip->data, zip->len, &t, &r) != PS_OK)
                abort();
            zip->data[pos] ^= 0x01;
            CHECK(!r.valid && r.r[cases[c].check].state == EVV_FAIL &&
                      strstr(r.r[cases[c].check].detail, cases[c].words),
                  "flip in %s: %s says \"%s\"", cases[c].entry, evv_check_name(cases[c].check),
                  r.r[cases[c].check].detail);
        }
}

static void test_checkpoints(const struct buf *zip, const struct buf *note8)
{
    struct buf old, newer, proof, forged;
    struct evv_trust t = {roots, NULL, 0, NULL, 0};
    struct evv_report r;
    STACK_OF(X509) *lc = sk_X509_new_null();
    char why[512];

    buf_init(&old, 4096);
    buf_init(&newer, 4096);
    buf_init(&proof, 4096);
    buf_init(&forged, 4096);
    t.checkpoint = note8->data;
    t.checkpoint_len = note8->len;
    CHECK(evv_bundle(zip->data, zip->len, &t, &r) == PS_OK && r.valid &&
              r.r[EVV_CHECKPOINT].state == EVV_OK,
          "trusted checkpoint = the bundle's: %s", r.r[EVV_CHECKPOINT].detail);
    checkpoint_of(6, &old);
    t.checkpoint = old.data;
    t.checkpoint_len = old.len;
    CHECK(evv_bundle(zip->data, zip->len, &t, &r) == PS_OK && !r.valid &&
              strstr(r.r[EVV_CHECKPOINT].detail, "consistency proof is needed"),
          "older trusted checkpoint without proof: %s", r.r[EVV_CHECKPOINT].detail);
    consistency_json(6, 8, &proof);
    t.consistency = proof.data;
    t.consistency_len = proof.len;
    CHECK(evv_bundle(zip->data, zip->len, &t, &r) == PS_OK && r.valid,
          "older trusted checkpoint with a consistency proof: %s", r.r[EVV_CHECKPOINT].detail);
    /* a newer trusted checkpoint (the log grew) */
    log_append_text("signature 100 2 t1 k ed25519 01\n", 32);
    log_append_text("signature 101 2 t1 k ed25519 02\n", 32);
    checkpoint_of(10, &newer);
    consistency_json(8, 10, &proof);
    t.checkpoint = newer.data;
    t.checkpoint_len = newer.len;
    t.consistency = proof.data;
    t.consistency_len = proof.len;
    CHECK(evv_bundle(zip->data, zip->len, &t, &r) == PS_OK && r.valid,
          "newer trusted checkpoint with a consistency proof: %s", r.r[EVV_CHECKPOINT].detail);
    /* a forked log: same size 10, another leaf 9 */
    memset(leaves[9], 0x42, 32);
    checkpoint_of(10, &forged);
    t.checkpoint = forged.data;
    t.checkpoint_len = forged.len;
    CHECK(evv_bundle(zip->data, zip->len, &t, &r) == PS_OK && !r.valid &&
              strstr(r.r[EVV_CHECKPOINT].detail, "does not verify"),
          "forked log refused: %s", r.r[EVV_CHECKPOINT].detail);
    /* the consistency subcommand's core (proof still the genuine 8 -> 10 one) */
    sk_X509_push(lc, log_cert);
    sk_X509_push(lc, root);
    CHECK(evv_consistency(roots, lc, note8->data, note8->len, newer.data, newer.len, proof.data,
                          proof.len, why, sizeof(why)) == 1,
          "consistency 8 -> 10: %s", why);
    CHECK(evv_consistency(roots, lc, note8->data, note8->len, forged.data, forged.len, proof.data,
                          proof.len, why, sizeof(why)) == 0,
          "consistency refused for the fork: %s", why);
    CHECK(evv_consistency(roots, lc, old.data, old.len, note8->data, note8->len, NULL, 0, why,
                          sizeof(why)) == 0,
          "consistency needs a proof: %s", why);
    sk_X509_free(lc);
    buf_free(&old);
    buf_free(&newer);
    buf_free(&proof);
    buf_free(&forged);
}

static void test_bad_uploads(void)
{
    const uint8_t x[] = "x";
    char err[256];
    struct evidence_limits small = {2, 100, 150};
    const uint8_t big[120] = {1};
    struct {
        const char *name;
        const char *meta;
        struct file f[3];
        size_t n;
        const struct evidence_limits *l;
        int rc;
        const char *words;
    } cases[] = {
        {"path traversal",
         metadata,
         {{"../etc/passwd", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "path separator"},
        {"dot dot", metadata, {{"..", "text/plain", x, 1}}, 1, NULL, PS_E_INVAL, ".."},
        {"backslash",
         metadata,
         {{"a\\b.txt", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "path separator"},
        {"META-INF", metadata, {{"META-INF", "text/plain", x, 1}}, 1, NULL, PS_E_INVAL, "reserved"},
        {"metadata.json",
         metadata,
         {{"metadata.json", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "reserved"},
        {"duplicate",
         metadata,
         {{"a.txt", "text/plain", x, 1}, {"a.txt", "text/plain", x, 1}},
         2,
         NULL,
         PS_E_INVAL,
         "duplicate file name \"a.txt\""},
        {"empty file",
         metadata,
         {{"a.txt", "text/plain", x, 0}},
         1,
         NULL,
         PS_E_INVAL,
         "file \"a.txt\" is empty"},
        {"empty name",
         metadata,
         {{"", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "empty file name"},
        {"no files", metadata, {{0}}, 0, NULL, PS_E_INVAL, "no files"},
        {"missing metadata",
         NULL,
         {{"a.txt", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "no metadata"},
        {"too many files",
         metadata,
         {{"a", "text/plain", x, 1}, {"b", "text/plain", x, 1}, {"c", "text/plain", x, 1}},
         3,
         &small,
         PS_E_LIMIT,
         "more than 2 files"},
        {"file too large",
         metadata,
         {{"a", "text/plain", big, 120}},
         1,
         &small,
         PS_E_LIMIT,
         "larger than 100"},
        {"total too large",
         metadata,
         {{"a", "text/plain", big, 90}, {"b", "text/plain", big, 90}},
         2,
         &small,
         PS_E_LIMIT,
         "larger than 150 bytes together"},
        {"no trademark",
         "{\"rights_holder\":\"A\",\"goods\":\"g\",\"hs_code\":\"6404\",\"submitter\":\"s\"}",
         {{"a", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "at least one trademark or patent"},
        {"bad hs code",
         "{\"rights_holder\":\"A\",\"patents\":[\"P1\"],\"goods\":\"g\",\"hs_code\":\"64\","
         "\"submitter\":\"s\"}",
         {{"a", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "hs_code"},
        {"unknown key",
         "{\"rights_holder\":\"A\",\"patents\":[\"P1\"],\"goods\":\"g\",\"hs_code\":\"6404\","
         "\"submitter\":\"s\",\"x\":1}",
         {{"a", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "unknown field \"x\""},
        {"sealed_at given",
         "{\"rights_holder\":\"A\",\"patents\":[\"P1\"],\"goods\":\"g\",\"hs_code\":\"6404\","
         "\"submitter\":\"s\",\"sealed_at\":\"x\"}",
         {{"a", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "sealed_at"},
        {"wrong type",
         "{\"rights_holder\":1,\"patents\":[\"P1\"],\"goods\":\"g\",\"hs_code\":\"6404\","
         "\"submitter\":\"s\"}",
         {{"a", "text/plain", x, 1}},
         1,
         NULL,
         PS_E_INVAL,
         "rights_holder must be a string"},
        {"not json", "{", {{"a", "text/plain", x, 1}}, 1, NULL, PS_E_INVAL, "not valid JSON"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;

        err[0] = 0;
        rc = try_upload(cases[i].meta, cases[i].f, cases[i].n, cases[i].l, err, sizeof(err));
        CHECK(rc == cases[i].rc && strstr(err, cases[i].words), "%s refused: %s", cases[i].name,
              err);
    }
    CHECK(try_upload(metadata, (struct file[]){{"Rechnung äöü.pdf", "application/pdf", x, 1}}, 1,
                     NULL, err, sizeof(err)) == PS_OK,
          "a UTF-8 file name is fine");
}

static void test_formats(void)
{
    static const char *const bad_leaves[][2] = {
        {"bundle 01 ", "\n"},   {"bundle 1 ", ""},     {"bundle 1  ", "\n"}, {"bundle -1 ", "\n"},
        {"signature 1 ", "\n"}, {"bundle 1 ", "\n\n"}, {"bundle  ", "\n"},
    };
    const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    uint8_t m[32], p[32], t[32];
    struct evidence_leaf lf;
    struct evidence_proof pr;
    struct merkle_proof inc = {0};
    struct buf b;
    char err[256], text[512];
    const char *pem[1] = {"-----BEGIN CERTIFICATE-----\n"};

    buf_init(&b, 4096);
    memset(m, 1, 32);
    memset(p, 2, 32);
    memset(t, 0xfe, 32);
    CHECK(evidence_leaf_format(1764340000123ull, m, p, t, &b) == PS_OK &&
              evidence_leaf_parse(b.data, b.len, &lf, err, sizeof(err)) == PS_OK &&
              lf.unix_ms == 1764340000123ull && memcmp(lf.tst, t, 32) == 0 &&
              b.data[b.len - 1] == '\n' && strstr((char *)b.data, "fefefe"),
          "leaf round trip: %.40s...", (char *)b.data);
    CHECK(evidence_leaf_format(0, m, p, t, &b) == PS_OK &&
              evidence_leaf_parse(b.data, b.len, &lf, err, sizeof(err)) == PS_OK,
          "time 0 is canonical");
    for (size_t i = 0; i < sizeof(bad_leaves) / sizeof(bad_leaves[0]); i++) {
        int n = snprintf(text, sizeof(text), "%s%s %s %s%s", bad_leaves[i][0], hex, hex, hex,
                         bad_leaves[i][1]);

        CHECK(evidence_leaf_parse((uint8_t *)text, (size_t)n, &lf, err, sizeof(err)) == PS_E_INVAL,
              "bad leaf %zu refused: %s", i, err);
    }
    snprintf(text, sizeof(text), "bundle 1 %s %s %s\n", hex, hex, hex);
    text[20] = 'A';
    CHECK(evidence_leaf_parse((uint8_t *)text, strlen(text), &lf, err, sizeof(err)) == PS_E_INVAL,
          "upper-case hex refused: %s", err);
    CHECK(evidence_proof_json((uint8_t *)"x\n", 2, 3, 3, &inc, (uint8_t *)"n\n", 2, pem, 1, &b) ==
              PS_E_INVAL,
          "proof JSON: index >= size refused");
    CHECK(evidence_proof_json((uint8_t *)"x\n", 2, 0, 1, &inc, (uint8_t *)"n\n", 2, pem, 0, &b) ==
              PS_E_INVAL,
          "proof JSON: no certificate refused");
    CHECK(evidence_proof_json((uint8_t *)"\xff\n", 2, 0, 1, &inc, (uint8_t *)"n\n", 2, pem, 1,
                              &b) == PS_E_INVAL,
          "proof JSON: a leaf that is not UTF-8 refused");
    CHECK(evidence_proof_json((uint8_t *)"x\n", 2, 0, 1, &inc, (uint8_t *)"n\n", 2, pem, 1, &b) ==
              PS_OK,
          "proof JSON written");
    evidence_proof_init(&pr);
    CHECK(evidence_proof_parse(b.data, b.len, &pr, err, sizeof(err)) == PS_OK && pr.ncerts == 1 &&
              pr.tree_size == 1 && pr.leaf.len == 2,
          "proof JSON read back");
    {
        static const struct {
            const char *json, *words;
        } bad[] = {
            {"{\"leaf\":\"x\",\"leaf_index\":0,\"tree_size\":1,\"inclusion\":[],"
             "\"checkpoint\":\"c\",\"log_certificate\":[\"p\"],\"x\":1}",
             "unknown field"},
            {"{\"leaf\":\"x\",\"leaf_index\":-1,\"tree_size\":1,\"inclusion\":[],"
             "\"checkpoint\":\"c\",\"log_certificate\":[\"p\"]}",
             "leaf_index must be"},
            {"{\"leaf\":\"x\",\"leaf_index\":0,\"tree_size\":1,\"inclusion\":[\"AAAA\"],"
             "\"checkpoint\":\"c\",\"log_certificate\":[\"p\"]}",
             "inclusion[0]"},
            {"{\"leaf\":\"x\",\"leaf_index\":0,\"tree_size\":1,\"inclusion\":[],"
             "\"checkpoint\":\"c\",\"log_certificate\":[]}",
             "log_certificate must be"},
            {"{\"leaf\":1}", "leaf must be a string"},
            {"[]", "not a JSON object"},
            {"{\"leaf\":\"x\",\"leaf\":\"y\"}", "not valid JSON"},
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            err[0] = 0;
            CHECK(evidence_proof_parse((const uint8_t *)bad[i].json, strlen(bad[i].json), &pr, err,
                                       sizeof(err)) == PS_E_INVAL &&
                      strstr(err, bad[i].words) && pr.ncerts == 0,
                  "bad proof %zu refused: %s", i, err);
        }
    }
    evidence_proof_free(&pr);
    buf_free(&b);
}

static void collect(void *ctx, const char *kind, const char *number)
{
    if (buf_printf(ctx, "%s:%s;", kind, number) != PS_OK)
        abort();
}

static void test_marks(void)
{
    const char *m = "{\"rights_holder\":\"A\",\"patents\":[\"CN2020101\"],\"goods\":\"g\","
                    "\"hs_code\":\"6404\",\"submitter\":\"s\",\"trademarks\":[\"T1\",\"T2\"]}";
    struct buf b;

    buf_init(&b, 1024);
    CHECK(evidence_metadata_marks((const uint8_t *)m, strlen(m), 0, collect, &b) == PS_OK &&
              strcmp((char *)b.data, "trademark:T1;trademark:T2;patent:CN2020101;") == 0,
          "marks for the search index: %s", (char *)b.data);
    CHECK(evidence_metadata_marks((const uint8_t *)m, strlen(m), 1, collect, &b) == PS_E_INVAL,
          "sealed metadata needs sealed_at");
    buf_free(&b);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void write_all(const char *dir, const struct buf *zip, const struct buf *note8)
{
    struct buf b;
    char *pem;

    buf_init(&b, 1 << 16);
    mkdir(dir, 0755);
    write_file(dir, "bundle.asice", zip->data, zip->len);
    pem = pem_of(root);
    write_file(dir, "root.pem", pem, strlen(pem));
    free(pem);
    pem = pem_of(log_cert);
    write_file(dir, "log-cert.pem", pem, strlen(pem));
    free(pem);
    write_file(dir, "checkpoint-8.txt", note8->data, note8->len);
    checkpoint_of(6, &b);
    write_file(dir, "checkpoint-6.txt", b.data, b.len);
    consistency_json(6, 8, &b);
    write_file(dir, "consistency-6-8.json", b.data, b.len);
    consistency_json(5, 8, &b);
    write_file(dir, "consistency-5-8.json", b.data, b.len);
    buf_free(&b);
}

int main(int argc, char **argv)
{
    struct buf zip, note8;
    char id[65];

    for (size_t i = 0; i < sizeof(pdf); i++)
        pdf[i] = (uint8_t)(i * 7 + 3);
    memcpy(pdf, "%PDF-1.7\n", 9);
    randombytes_buf(jpg, sizeof(jpg));
    setup_pki();
    buf_init(&zip, 64 << 20);
    buf_init(&note8, 4096);
    seal(&zip, id, &note8);
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        write_all(argv[2], &zip, &note8);
    test_valid(&zip, id);
    test_messages(&zip);
    test_tamper(&zip);
    test_bad_uploads();
    test_formats();
    test_marks();
    test_checkpoints(&zip, &note8);
    buf_free(&zip);
    buf_free(&note8);
    sk_X509_pop_free(roots, X509_free);
    X509_free(root);
    X509_free(sig_cert);
    X509_free(tsa_cert);
    X509_free(log_cert);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(sig_key);
    EVP_PKEY_free(tsa_key);
    EVP_PKEY_free(log_key);
    return unit_done();
}
