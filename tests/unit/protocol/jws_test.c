/*
 * jws_test - protocol/jws.c: signing in two steps (digest or input to the key, then the
 * signature), compact and flattened JSON, ES256 / EdDSA / RS256, and every rejection of the
 * strict verifier; then an independent JOSE library (Python jwcrypto) checks our JWS and we
 * check one it made.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <sodium.h>

#include "../testdata.h"
#include "../unit.h"
#include "../certs/testpki.h"
#include "../../../protocol/jws.h"

#define B64U sodium_base64_VARIANT_URLSAFE_NO_PADDING

struct signer {
    EVP_PKEY *key;
    X509 *cert;
    enum jws_alg alg;
};

static EVP_PKEY *root_key, *other_key;
static X509 *root, *other_root, *inter;
static EVP_PKEY *inter_key;
static struct signer es, ed, rs, es_deep;
static STACK_OF(X509) * chain_inter;
static X509_STORE *store;
static char err[512];

/* The keyholder stand-in: ECDSA raw r||s over the digest, Ed25519 over the input, RSA
 * PKCS#1 v1.5 over a SHA-256 DigestInfo. */
static int soft_sign(void *ctx, enum jws_alg alg, const uint8_t *tbs, size_t len, uint8_t *sig,
                     size_t cap, size_t *siglen)
{
    struct signer *s = ctx;
    EVP_MD_CTX *mc;
    int ok;

    if (alg != JWS_EDDSA) {
        if (len != 32)
            return PS_E_INVAL;
        *siglen = pki_sign_digest(s->key, EVP_sha256(), tbs, len, sig, cap);
        return *siglen ? PS_OK : PS_E_CRYPTO;
    }
    mc = EVP_MD_CTX_new();
    *siglen = cap;
    ok = mc && EVP_DigestSignInit(mc, NULL, NULL, NULL, s->key) == 1 &&
         EVP_DigestSign(mc, sig, siglen, tbs, len) == 1;
    EVP_MD_CTX_free(mc);
    return ok ? PS_OK : PS_E_CRYPTO;
}

static void make_signer(struct signer *s, const char *kind, enum jws_alg alg, X509 *issuer,
                        EVP_PKEY *ikey, const char *eku, long serial)
{
    s->key = pki_key(kind);
    s->cert = pki_cert("signer", s->key, issuer, ikey, 0, "critical,digitalSignature", eku, serial);
    s->alg = alg;
}

static void setup(void)
{
    root_key = pki_key("P-256");
    root = pki_cert("jws test root", root_key, NULL, root_key, 1, "critical,keyCertSign,cRLSign",
                    NULL, 1);
    other_key = pki_key("P-256");
    other_root = pki_cert("jws test root", other_key, NULL, other_key, 1,
                          "critical,keyCertSign,cRLSign", NULL, 2);
    inter_key = pki_key("P-256");
    inter = pki_cert("jws test issuing CA", inter_key, root, root_key, 1,
                     "critical,keyCertSign,cRLSign", NULL, 3);
    make_signer(&es, "P-256", JWS_ES256, root, root_key, "clientAuth,emailProtection", 10);
    make_signer(&ed, "ed25519", JWS_EDDSA, root, root_key, "clientAuth", 11);
    make_signer(&rs, "rsa", JWS_RS256, root, root_key, "clientAuth", 12);
    make_signer(&es_deep, "P-256", JWS_ES256, inter, inter_key, "clientAuth", 13);
    chain_inter = sk_X509_new_null();
    sk_X509_push(chain_inter, inter);
    store = X509_STORE_new();
    X509_STORE_add_cert(store, root);
}

static struct jws_verify_opts opts(void)
{
    struct jws_verify_opts o = {JWS_ES256 | JWS_EDDSA | JWS_RS256, store, 0, 0, NULL, NULL, 0};
    return o;
}

static char *sign_with(struct signer *s, const char *payload, enum jws_form form,
                       STACK_OF(X509) * chain)
{
    struct jws_params p = {s->alg, s->cert, chain, "key-1", "aeo-batch+jws", NULL};
    struct buf out;
    char *r;

    buf_init(&out, JWS_MAX_LEN);
    if (jws_sign(&p, (const uint8_t *)payload, strlen(payload), soft_sign, s, form, &out, err,
                 sizeof(err)) != PS_OK) {
        buf_free(&out);
        return NULL;
    }
    r = (char *)buf_steal(&out, NULL);
    return r;
}

static int verify_str(const char *jws, const struct jws_verify_opts *o, struct jws_result *r)
{
    err[0] = 0;
    return jws_verify((const uint8_t *)jws, strlen(jws), o, r, err, sizeof(err));
}

static void test_round_trips(void)
{
    struct signer *all[] = {&es, &ed, &rs};
    struct jws_verify_opts o = opts();
    struct jws_result r;

    for (int i = 0; i < 3; i++) {
        for (int f = 0; f < 2; f++) {
            char *j = sign_with(all[i], "{\"hello\":\"世界\"}", (enum jws_form)f, NULL);
            int rc = j ? verify_str(j, &o, &r) : -99;
            CHECK(rc == PS_OK && r.alg == all[i]->alg && r.payload_len == 18 &&
                      strcmp((char *)r.payload, "{\"hello\":\"世界\"}") == 0 &&
                      strcmp(r.kid, "key-1") == 0 && strcmp(r.typ, "aeo-batch+jws") == 0 &&
                      r.cty[0] == 0 && X509_cmp(r.leaf, all[i]->cert) == 0 &&
                      sk_X509_num(r.x5c) == 1,
                  "%s %s: signed and verified, payload, kid, typ and leaf returned (%s)",
                  jws_alg_name(all[i]->alg), f ? "flattened JSON" : "compact", err);
            if (i == 0 && f == 0)
                CHECK(j && strchr(j, '{') == NULL && strchr(j, '=') == NULL,
                      "compact form is base64url without padding: %.40s...", j);
            jws_result_free(&r);
            free(j);
        }
    }
    {
        /* a byte >= 0x80 in a base64url part: libsodium 1.0.18 would decode it as a digit */
        char *h = sign_with(&es, "{\"a\":1}", JWS_COMPACT, NULL);
        char *dot = h ? strrchr(h, '.') : NULL;

        if (dot && dot[1] && dot[2]) {
            dot[2] = (char)0xc1;
            CHECK(verify_str(h, &o, &r) == PS_E_INVAL,
                  "a signature part with a non-ASCII byte is refused (%s)", err);
        } else {
            CHECK(0, "signed a JWS to alter");
        }
        free(h);
    }
    /* a chain through an intermediate in x5c */
    char *j = sign_with(&es_deep, "{\"a\":1}", JWS_COMPACT, chain_inter);
    CHECK(j && verify_str(j, &o, &r) == PS_OK && sk_X509_num(r.x5c) == 2,
          "leaf + intermediate in x5c chain to the pinned root (%s)", err);
    jws_result_free(&r);
    free(j);
    j = sign_with(&es_deep, "{\"a\":1}", JWS_COMPACT, NULL);
    CHECK(j && verify_str(j, &o, &r) == PS_E_INVAL &&
              strcmp(err, "x5c chain: unable to get local issuer certificate") == 0,
          "without the intermediate: %s", err);
    free(j);
}

static void test_two_steps(void)
{
    struct jws_params p = {JWS_ES256, es.cert, NULL, NULL, NULL, NULL};
    struct jws_verify_opts o = opts();
    struct jws_signing s;
    struct jws_result r;
    struct buf out;
    uint8_t want[32], sig[600], der[80];
    const uint8_t *tbs;
    size_t tl, sl, dl;
    EVP_PKEY_CTX *pc;

    buf_init(&out, JWS_MAX_LEN);
    CHECK(jws_sign_begin(&s, &p, (const uint8_t *)"x", 1, err, sizeof(err)) == PS_OK,
          "ES256 begin");
    jws_sign_tbs(&s, &tbs, &tl);
    crypto_hash_sha256(want, s.input.data, s.input.len);
    CHECK(tl == 32 && memcmp(tbs, want, 32) == 0 && s.input.data[s.input.len - 3] == '.' &&
              memcmp(s.input.data + s.input.len - 2, "eA", 2) == 0,
          "ES256: the key signs SHA-256 of the signing input \"%.20s...\"", s.input.data);
    /* a DER signature (what OpenSSL or /v1/sign/hash returns by default) is accepted too */
    pc = EVP_PKEY_CTX_new(es.key, NULL);
    dl = sizeof(der);
    CHECK(pc && EVP_PKEY_sign_init(pc) == 1 && EVP_PKEY_sign(pc, der, &dl, tbs, 32) == 1 &&
              jws_sign_finish(&s, der, dl, JWS_COMPACT, &out, err, sizeof(err)) == PS_OK &&
              verify_str((char *)out.data, &o, &r) == PS_OK,
          "ES256 finished later with a DER signature verifies (%s)", err);
    EVP_PKEY_CTX_free(pc);
    jws_result_free(&r);
    memset(sig, 0, 64);
    CHECK(jws_sign_finish(&s, sig, 64, JWS_COMPACT, &out, err, sizeof(err)) == PS_E_CRYPTO &&
              out.len == 0,
          "a signature that does not verify is refused before use: %s", err);
    jws_signing_free(&s);

    p.alg = JWS_EDDSA;
    p.cert = ed.cert;
    CHECK(jws_sign_begin(&s, &p, (const uint8_t *)"payload", 7, err, sizeof(err)) == PS_OK,
          "EdDSA begin");
    jws_sign_tbs(&s, &tbs, &tl);
    CHECK(tbs == s.input.data && tl == s.input.len, "EdDSA: the key signs the whole input");
    CHECK(soft_sign(&ed, JWS_EDDSA, tbs, tl, sig, sizeof(sig), &sl) == PS_OK &&
              jws_sign_finish(&s, sig, sl, JWS_FLATTENED, &out, err, sizeof(err)) == PS_OK &&
              strncmp((char *)out.data, "{\"protected\":\"", 14) == 0 &&
              verify_str((char *)out.data, &o, &r) == PS_OK && r.payload_len == 7,
          "EdDSA finished later, flattened JSON verifies (%s)", err);
    jws_result_free(&r);
    jws_signing_free(&s);

    p.alg = JWS_ES256; /* an Ed25519 certificate */
    CHECK(jws_sign_begin(&s, &p, (const uint8_t *)"x", 1, err, sizeof(err)) == PS_E_INVAL,
          "begin refuses an alg that does not fit the key: %s", err);
    jws_signing_free(&s);
    p.cert = es.cert;
    CHECK(jws_sign_begin(&s, &p, (const uint8_t *)"", 0, err, sizeof(err)) == PS_E_INVAL,
          "begin refuses an empty payload: %s", err);
    jws_signing_free(&s);
    buf_free(&out);
}

/* A compact JWS with any header text, really signed by s (so the check under test fails). */
static char *craft(const char *header, const char *payload, struct signer *s)
{
    size_t hl = strlen(header), pl = strlen(payload), sl = 0, il;
    char *in = malloc(2 * (hl + pl) + 8), *outp;
    uint8_t sig[600], dg[32];
    const uint8_t *tbs;

    sodium_bin2base64(in, sodium_base64_ENCODED_LEN(hl, B64U), (const uint8_t *)header, hl, B64U);
    il = strlen(in);
    in[il++] = '.';
    sodium_bin2base64(in + il, sodium_base64_ENCODED_LEN(pl, B64U), (const uint8_t *)payload, pl,
                      B64U);
    il = strlen(in);
    crypto_hash_sha256(dg, (uint8_t *)in, il);
    tbs = s->alg == JWS_EDDSA ? (uint8_t *)in : dg;
    if (soft_sign(s, s->alg, tbs, s->alg == JWS_EDDSA ? il : 32, sig, sizeof(sig), &sl) != 0)
        sl = 0;
    outp = malloc(il + 2 + sl * 2);
    memcpy(outp, in, il);
    outp[il] = '.';
    sodium_bin2base64(outp + il + 1, sodium_base64_ENCODED_LEN(sl, B64U), sig, sl, B64U);
    free(in);
    return outp;
}

static char *x5c_of(X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    size_t el = sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_ORIGINAL);
    char *b = malloc(el);

    sodium_bin2base64(b, el, der, (size_t)n, sodium_base64_VARIANT_ORIGINAL);
    OPENSSL_free(der);
    return b;
}

static void expect_header(const char *header, struct signer *s, int code, const char *want)
{
    struct jws_verify_opts o = opts();
    struct jws_result r;
    char *j = craft(header, "{}", s);
    int rc = verify_str(j, &o, &r);

    CHECK(rc == code && strstr(err, want) != NULL && r.payload == NULL && r.leaf == NULL,
          "header %.60s refused: %s", header, err);
    free(j);
}

static void test_header_rejections(void)
{
    char *x = x5c_of(es.cert), *xe = x5c_of(ed.cert), h[8192];

    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", x);
    {
        struct jws_verify_opts o = opts();
        struct jws_result r;
        char *j = craft(h, "{}", &es);
        CHECK(verify_str(j, &o, &r) == PS_OK, "a crafted minimal header verifies (%s)", err);
        jws_result_free(&r);
        free(j);
    }
    expect_header("{\"alg\":\"none\"}", &es, PS_E_DENIED, "alg \"none\" is not supported");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"x5c\":[\"%s\"],\"crit\":[\"exp\"]}", x);
    expect_header(h, &es, PS_E_INVAL, "header member \"crit\" is not accepted");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"x5c\":[\"%s\"],\"jwk\":{}}", x);
    expect_header(h, &es, PS_E_INVAL, "header member \"jwk\" is not accepted");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", x);
    expect_header(h, &es, PS_E_INVAL, "duplicate object key");
    snprintf(h, sizeof(h), "{\"alg\":\"HS256\",\"x5c\":[\"%s\"]}", x);
    expect_header(h, &es, PS_E_DENIED, "alg \"HS256\" is not supported");
    snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"x5c\":[\"%s\"]}", x);
    expect_header(h, &es, PS_E_INVAL, "alg RS256 does not fit the signer's key");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", xe);
    expect_header(h, &ed, PS_E_INVAL, "alg ES256 does not fit the signer's key");
    expect_header("{\"alg\":\"ES256\"}", &es, PS_E_INVAL, "header x5c is missing");
    expect_header("{\"alg\":\"ES256\",\"x5c\":[]}", &es, PS_E_INVAL, "non-empty array");
    expect_header("{\"alg\":\"ES256\",\"x5c\":[\"AAAA\"]}", &es, PS_E_INVAL,
                  "x5c[0] is not one DER certificate");
    expect_header("{\"alg\":\"ES256\",\"x5c\":[\"AA\"]}", &es, PS_E_INVAL,
                  "x5c[0] is not strict base64");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"x5c\":[\"%.*s\"]}", (int)strlen(x) - 4, x);
    expect_header(h, &es, PS_E_INVAL, "x5c[0] is not");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"\",\"x5c\":[\"%s\"]}", x);
    expect_header(h, &es, PS_E_INVAL, "header kid must be a string of 1..255 bytes");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"a\\nb\",\"x5c\":[\"%s\"]}", x);
    expect_header(h, &es, PS_E_INVAL, "header kid has a control character");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":7,\"x5c\":[\"%s\"]}", x);
    expect_header(h, &es, PS_E_INVAL, "header kid must be a string");
    expect_header("[\"alg\"]", &es, PS_E_INVAL, "protected header is not a JSON object");
    expect_header("{\"alg\":\"ES256\",", &es, PS_E_INVAL, "protected header: ");
    expect_header("{\"x5c\":1}", &es, PS_E_INVAL, "header alg is missing");
    {
        struct jws_verify_opts o = opts();
        struct jws_result r;
        char *j;
        snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", x);
        j = craft(h, "{}", &es);
        o.algs = JWS_EDDSA | JWS_RS256;
        CHECK(verify_str(j, &o, &r) == PS_E_DENIED &&
                  strcmp(err, "alg ES256 is not allowed here") == 0,
              "an alg outside the caller's allow-list: %s", err);
        o = opts();
        o.typ = "p2p+jws";
        CHECK(verify_str(j, &o, &r) == PS_E_INVAL && strcmp(err, "header typ is not p2p+jws") == 0,
              "a required typ: %s", err);
        free(j);
    }
    free(x);
    free(xe);
}

static void expect(const char *jws, const struct jws_verify_opts *o, int code, const char *want,
                   const char *what)
{
    struct jws_result r;
    int rc = verify_str(jws, o, &r);

    CHECK(rc == code && strstr(err, want) != NULL && r.payload == NULL, "%s: %s", what, err);
    jws_result_free(&r);
}

static void test_verify_rejections(void)
{
    struct jws_verify_opts o = opts();
    char *j = sign_with(&es, "{\"seq\":1}", JWS_COMPACT, NULL), *t, *d1, *d2;
    char *jf = sign_with(&ed, "{\"seq\":1}", JWS_FLATTENED, NULL);
    size_t n = strlen(j);
    X509_STORE *st2;

    d1 = strchr(j, '.');
    d2 = strchr(d1 + 1, '.');
    /* payload changed: {"seq":2} */
    t = strdup(j);
    {
        char pay[sodium_base64_ENCODED_LEN(9, B64U)];
        sodium_bin2base64(pay, sizeof(pay), (const uint8_t *)"{\"seq\":2}", 9,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        memcpy(t + (d1 - j) + 1, pay, strlen(pay));
    }
    expect(t, &o, PS_E_INVAL, "signature does not verify", "a changed payload");
    free(t);
    t = malloc(n + 3);
    snprintf(t, n + 3, "%s==", j);
    expect(t, &o, PS_E_INVAL, "outside base64url", "padding after the signature");
    snprintf(t, n + 3, "%s.", j);
    expect(t, &o, PS_E_INVAL, "exactly three parts", "four parts");
    snprintf(t, n + 3, "%s\n", j);
    expect(t, &o, PS_E_INVAL, "outside base64url", "a trailing newline");
    free(t);
    t = strdup(j);
    t[n - 1] = t[n - 1] == 'A' ? 'B' : 'A';
    expect(t, &o, PS_E_INVAL, "", "a changed last signature character");
    free(t);
    /* the signature's last character with non-zero unused bits (64 bytes = 86 chars, 4 bits) */
    t = strdup(j);
    t[n - 1] = t[n - 1] == 'B' ? 'C' : 'B';
    expect(t, &o, PS_E_INVAL, "", "non-zero unused bits in the signature");
    free(t);
    t = strdup(j);
    memmove(t + (d1 - j) + 1, d2, strlen(d2) + 1);
    expect(t, &o, PS_E_INVAL, "payload is empty (detached payloads are refused)", "no payload");
    free(t);
    /* verification time, pinned root, EKU, purpose */
    o.at = time(NULL) + 3 * 86400;
    expect(j, &o, PS_E_INVAL, "x5c chain: certificate has expired", "checked 3 days later");
    o = opts();
    o.at = time(NULL) - 86400;
    expect(j, &o, PS_E_INVAL, "x5c chain: certificate is not yet valid", "checked a day ago");
    o = opts();
    st2 = X509_STORE_new();
    X509_STORE_add_cert(st2, other_root);
    o.roots = st2;
    expect(j, &o, PS_E_INVAL, "x5c chain: ", "another partner's root with the same name");
    X509_STORE_free(st2);
    o = opts();
    o.eku = "codeSigning";
    expect(j, &o, PS_E_INVAL, "extendedKeyUsage lacks codeSigning", "a required EKU missing");
    o.eku = "1.3.6.1.5.5.7.3.4";
    {
        struct jws_result r;
        CHECK(verify_str(j, &o, &r) == PS_OK, "a required EKU by OID present (%s)", err);
        jws_result_free(&r);
    }
    o = opts();
    o.purpose = X509_PURPOSE_SSL_SERVER;
    expect(j, &o, PS_E_INVAL, "x5c chain: unsuitable certificate purpose", "purpose sslserver");
    o = opts();
    o.max_len = n - 1;
    expect(j, &o, PS_E_LIMIT, "JWS larger than", "over max_len");
    o = opts();
    o.roots = NULL;
    expect(j, &o, PS_E_INVAL, "no pinned roots", "no store");
    /* flattened JSON forms */
    o = opts();
    t = replace(jf, "{", "{\"header\":{\"kid\":\"x\"},");
    expect(t, &o, PS_E_INVAL, "unprotected header is not accepted", "an unprotected header");
    free(t);
    t = replace(jf, "{", "{\"signatures\":[],");
    expect(t, &o, PS_E_INVAL, "general JWS JSON serialisation", "general serialisation");
    free(t);
    t = replace(jf, "{", "{\"payload\":\"e30\",");
    expect(t, &o, PS_E_INVAL, "duplicate object key", "a duplicate payload member");
    free(t);
    t = replace(jf, "\"}", "=\"}");
    expect(t, &o, PS_E_INVAL, "must be a base64url string", "padding in JSON form");
    free(t);
    t = replace(jf, "\"payload\"", "\"payload_\"");
    expect(t, &o, PS_E_INVAL, "JWS member \"payload_\" is not accepted", "an unknown member");
    free(t);
    expect("{\"protected\":1}", &o, PS_E_INVAL, "must be a base64url string", "a number");
    expect("{\"protected\":\"e30\",\"signature\":\"AA\"}", &o, PS_E_INVAL, "no \"payload\"",
           "no payload member");
    expect("", &o, PS_E_INVAL, "exactly three parts", "empty input");
    expect("..", &o, PS_E_INVAL, "empty protected header", "empty parts");
    free(j);
    free(jf);
}

/* ---- the independent check: Python jwcrypto ---- */

static const char *py_script =
    "import sys, json\n"
    "from jwcrypto import jwk, jws\n"
    "mode = sys.argv[1]\n"
    "if mode == 'verify':\n"
    "    key = jwk.JWK.from_pem(open(sys.argv[2], 'rb').read())\n"
    "    t = jws.JWS()\n"
    "    t.allowed_algs = ['ES256', 'RS256', 'EdDSA']\n"
    "    t.deserialize(open(sys.argv[3]).read())\n"
    "    t.verify(key)\n"
    "    h = t.jose_header\n"
    "    print('ok', h['alg'], h.get('kid'), t.payload.decode())\n"
    "else:\n"
    "    alg, keyfile, x5c, form = sys.argv[2:6]\n"
    "    key = jwk.JWK.from_pem(open(keyfile, 'rb').read())\n"
    "    t = jws.JWS(b'{\"from\":\"jwcrypto\"}')\n"
    "    t.add_signature(key, None, json.dumps({'alg': alg, 'kid': 'py', 'x5c': [x5c]}))\n"
    "    print(t.serialize(compact=(form == 'compact')))\n";

static const char *python;

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;

    if (f && fclose(f) != 0)
        ok = 0;
    return ok;
}

static int run(const char *cmd, char *outp, size_t cap)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;

    outp[0] = 0;
    if (p == NULL)
        return -1;
    n = fread(outp, 1, cap - 1, p);
    outp[n] = 0;
    if (n && outp[n - 1] == '\n')
        outp[n - 1] = 0;
    return pclose(p);
}

static void pem_files(const char *dir, struct signer *s)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    if ((f = fopen(path, "w")) != NULL) {
        PEM_write_X509(f, s->cert);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    if ((f = fopen(path, "w")) != NULL) {
        PEM_write_PrivateKey(f, s->key, NULL, NULL, 0, NULL, NULL);
        fclose(f);
    }
}

static void test_jwcrypto(const char *dir)
{
    struct signer *all[] = {&es, &ed, &rs};
    struct jws_verify_opts o = opts();
    static char outp[65536], cmd[8192];
    char path[512];

    if (system("python3 -c 'import jwcrypto' >/dev/null 2>&1") == 0)
        python = "python3";
    else if (system("/usr/bin/python3 -c 'import jwcrypto' >/dev/null 2>&1") == 0)
        python = "/usr/bin/python3";
    if (python == NULL) {
        printf("ok - # skip python3 with jwcrypto (Debian python3-jwcrypto) not available\n");
        return;
    }
    snprintf(path, sizeof(path), "%s/check.py", dir);
    if (!write_file(path, py_script, strlen(py_script)))
        return;
    for (int i = 0; i < 3; i++) {
        for (int f = 0; f < 2; f++) {
            const char *name = jws_alg_name(all[i]->alg), *form = f ? "json" : "compact";
            char *j = sign_with(all[i], "{\"to\":\"jwcrypto\"}", (enum jws_form)f, NULL), *x;
            struct jws_result r;
            int rc;

            pem_files(dir, all[i]);
            snprintf(path, sizeof(path), "%s/jws", dir);
            write_file(path, j, strlen(j));
            snprintf(cmd, sizeof(cmd), "%s %s/check.py verify %s/cert.pem %s/jws 2>&1", python, dir,
                     dir, dir);
            rc = run(cmd, outp, sizeof(outp));
            snprintf(path, sizeof(path), "ok %s key-1 {\"to\":\"jwcrypto\"}", name);
            CHECK(rc == 0 && strcmp(outp, path) == 0, "jwcrypto verifies our %s %s JWS: %s", name,
                  form, outp);
            free(j);
            x = x5c_of(all[i]->cert);
            snprintf(cmd, sizeof(cmd), "%s %s/check.py sign %s %s/key.pem %s %s 2>&1", python, dir,
                     name, dir, x, form);
            free(x);
            rc = run(cmd, outp, sizeof(outp));
            CHECK(rc == 0 && verify_str(outp, &o, &r) == PS_OK &&
                      strcmp((char *)r.payload, "{\"from\":\"jwcrypto\"}") == 0 &&
                      strcmp(r.kid, "py") == 0,
                  "we verify a %s %s JWS made by jwcrypto (%s)", name, form, err);
            jws_result_free(&r);
            if (f == 0 && i == 0) {
                size_t l = strlen(outp);
                outp[l - 2] = outp[l - 2] == 'A' ? 'B' : 'A';
                CHECK(verify_str(outp, &o, &r) == PS_E_INVAL, "... and refuse it changed: %s", err);
                jws_result_free(&r);
            }
        }
    }
}

/* openssl's command line checks our compact JWS: the signing input and the signature (ES256
 * turned from r||s into DER, as openssl wants it) with the certificate's public key. */
static void test_openssl(const char *dir)
{
    struct signer *all[] = {&es, &ed, &rs};
    char cmd[2048], path[512];

    if (system("openssl pkeyutl -help 2>&1 | grep -q -- -rawin") != 0) {
        printf("ok - # skip openssl pkeyutl without -rawin\n");
        return;
    }
    for (int i = 0; i < 3; i++) {
        char *j = sign_with(all[i], "{\"receipt\":1}", JWS_COMPACT, NULL), *dot2;
        uint8_t sig[600], der[80];
        size_t sl = 0, dl = 0;
        FILE *f;
        int ok;

        if (j == NULL)
            continue;
        dot2 = strrchr(j, '.');
        ok = sodium_base642bin(sig, sizeof(sig), dot2 + 1, strlen(dot2 + 1), NULL, &sl, NULL,
                               B64U) == 0;
        if (ok && all[i]->alg == JWS_ES256)
            ok = ecdsa_raw_to_der(sig, sl, der, sizeof(der), &dl) == PS_OK;
        snprintf(path, sizeof(path), "%s/input", dir);
        ok = ok && write_file(path, j, (size_t)(dot2 - j));
        snprintf(path, sizeof(path), "%s/sig", dir);
        ok = ok &&
             (all[i]->alg == JWS_ES256 ? write_file(path, der, dl) : write_file(path, sig, sl));
        snprintf(path, sizeof(path), "%s/pub.pem", dir);
        if (ok && (f = fopen(path, "w")) != NULL) {
            ok = PEM_write_PUBKEY(f, X509_get0_pubkey(all[i]->cert)) == 1;
            fclose(f);
        }
        if (all[i]->alg == JWS_EDDSA)
            snprintf(cmd, sizeof(cmd),
                     "openssl pkeyutl -verify -pubin -inkey %s/pub.pem -rawin -in %s/input "
                     "-sigfile %s/sig >/dev/null 2>&1",
                     dir, dir, dir);
        else
            snprintf(cmd, sizeof(cmd),
                     "openssl dgst -sha256 -verify %s/pub.pem -signature %s/sig %s/input "
                     ">/dev/null 2>&1",
                     dir, dir, dir);
        CHECK(ok && system(cmd) == 0, "openssl verifies our %s signature over the signing input",
              jws_alg_name(all[i]->alg));
        free(j);
    }
}

int main(void)
{
    char dir[] = "/tmp/jws_test.XXXXXX", rm[128];

    if (sodium_init() < 0)
        return 1;
    setup();
    test_round_trips();
    test_two_steps();
    test_header_rejections();
    test_verify_rejections();
    if (mkdtemp(dir) != NULL) {
        test_jwcrypto(dir);
        test_openssl(dir);
        snprintf(rm, sizeof(rm), "rm -rf %s", dir);
        if (system(rm) != 0)
            printf("# could not remove %s\n", dir);
    }
    return unit_done();
}
