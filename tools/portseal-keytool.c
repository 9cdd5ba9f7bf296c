/*
 * portseal-keytool - key ceremony helper that talks to the token directly.
 *
 *   portseal-keytool csr --module M --token T --pin-file F --label L --subject /CN=.. --out CSR
 *   portseal-keytool pubkey --module M --token T --pin-file F --label L --out PEM
 *   portseal-keytool sm2-generate --module M --token T --pin-file F --label L --wrap-key W
 *                    --subject /CN=.. --out WRAPPED --csr CSR
 *
 * sm2-generate makes an SM2 key (SoftHSM has no SM2 mechanism), wraps it at once under the
 * token's AES-256 key W (generated inside the token if missing, never extractable) into
 * WRAPPED, and writes a CSR signed with it (SM2 with SM3, ID 1234567812345678). The clear key
 * exists only in this process's memory and is freed before exit.
 *
 *   portseal-keytool ledger-verify STATE_DIR/audit.db
 *
 * ledger-verify checks the ledger from leaf 0 (hsm/ledger.h, ledger_verify_all): every stored
 * node and every signed checkpoint's root are recomputed from the leaves. Exit 0 when all
 * agree, 1 when not (the reason is printed), 2 for usage errors. Run it on a copy or a
 * stopped appliance, or beside a running one (SQLite readers do not block the keyholder).
 *
 * The CSR is signed inside the HSM: the tool encodes CertificationRequestInfo itself and asks
 * the token to sign it (ECDSA/RSA over its SHA-256, Ed25519 over the bytes). The PIN is read
 * from a file and wiped after use; it is never taken from argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../hsm/ledger.h"
#include "../hsm/p11.h"
#include "../hsm/ledgerhead.h"
#include "../hsm/pinfile.h"
#include "../hsm/sm2wrap.h"
#include "../protocol/sigfmt.h"

struct opts {
    const char *cmd, *module, *token, *pin_file, *label, *subject, *out, *wrap_key, *csr;
};

static void usage(void)
{
    fprintf(
        stderr,
        "usage: portseal-keytool csr --module M --token T --pin-file F --label L "
        "--subject /CN=NAME[/O=ORG...] --out FILE\n"
        "       portseal-keytool pubkey --module M --token T --pin-file F --label L --out FILE\n"
        "       portseal-keytool sm2-generate --module M --token T --pin-file F --label L "
        "--wrap-key W --subject /CN=NAME --out WRAPPED --csr CSR\n"
        "       portseal-keytool ledger-verify AUDIT_DB\n"
        "       portseal-keytool ledger-head --module M --token T --pin-file F\n"
        "       portseal-keytool ledger-head-reset --module M --token T --pin-file F\n");
    exit(2);
}

static int cmd_ledger_verify(const char *path)
{
    sqlite3 *db = NULL;
    uint64_t leaves, cps;
    char err[512];
    int r;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "portseal-keytool: %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 2;
    }
    r = ledger_verify_all(db, &leaves, &cps, err, sizeof(err));
    sqlite3_close(db);
    if (r != PS_OK) {
        printf("ledger INVALID: %s\n", err);
        return 1;
    }
    printf("ledger OK: %llu leaves, %llu checkpoints, all consistent from leaf 0\n",
           (unsigned long long)leaves, (unsigned long long)cps);
    return 0;
}

static int parse_subject(const char *s, X509_NAME *name)
{
    char tmp[1024], *p, *next;

    if (strlen(s) >= sizeof(tmp) || s[0] != '/')
        return -1;
    memcpy(tmp, s + 1, strlen(s));
    for (p = tmp; p && *p; p = next) {
        char *eq;

        if ((next = strchr(p, '/')) != NULL)
            *next++ = 0;
        if ((eq = strchr(p, '=')) == NULL)
            return -1;
        *eq++ = 0;
        if (!X509_NAME_add_entry_by_txt(name, p, MBSTRING_UTF8, (unsigned char *)eq, -1, -1, 0))
            return -1;
    }
    return 0;
}

static int sign_tbs(struct p11_module *m, CK_SESSION_HANDLE s, const struct p11_key *k,
                    const uint8_t *tbs, size_t tbslen, X509_REQ *req)
{
    uint8_t md[32], raw[1024], der[160];
    size_t sl = sizeof(raw);
    unsigned int mdl = 0;
    X509_ALGOR *alg = X509_ALGOR_new();
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    const uint8_t *sig = raw;
    int nid, ptype = V_ASN1_UNDEF, rc = -1;
    enum ps_alg a;

    if (alg == NULL || bs == NULL)
        goto out;
    if (k->type == KT_ED25519) {
        a = ALG_ED25519;
        nid = NID_ED25519;
        if (p11_sign(m, s, k, a, tbs, tbslen, raw, &sl) != PS_OK)
            goto out;
    } else {
        if (!EVP_Digest(tbs, tbslen, md, &mdl, EVP_sha256(), NULL))
            goto out;
        a = k->type == KT_RSA ? ALG_RSA_PKCS1_SHA256 : ALG_ECDSA_SHA256;
        nid = k->type == KT_RSA ? NID_sha256WithRSAEncryption : NID_ecdsa_with_SHA256;
        ptype = k->type == KT_RSA ? V_ASN1_NULL : V_ASN1_UNDEF;
        if (p11_sign(m, s, k, a, md, mdl, raw, &sl) != PS_OK)
            goto out;
        if (k->type != KT_RSA) {
            if (ecdsa_raw_to_der(raw, sl, der, sizeof(der), &sl) != PS_OK)
                goto out;
            sig = der;
        }
    }
    if (!X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ptype, NULL) ||
        !ASN1_BIT_STRING_set(bs, (unsigned char *)sig, (int)sl))
        goto out;
    bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    if (!X509_REQ_set1_signature_algo(req, alg))
        goto out;
    X509_REQ_set0_signature(req, bs);
    bs = NULL;
    rc = 0;
out:
    X509_ALGOR_free(alg);
    ASN1_BIT_STRING_free(bs);
    return rc;
}

static int cmd_csr(struct p11_module *m, CK_SESSION_HANDLE s, const struct opts *o, EVP_PKEY *pub)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char *tbs = NULL;
    struct p11_key k;
    FILE *f = NULL;
    int n, rc = 1;

    if (o->subject == NULL)
        usage();
    if (req == NULL || name == NULL || parse_subject(o->subject, name) != 0) {
        fprintf(stderr, "portseal-keytool: bad subject '%s'\n", o->subject);
        goto out;
    }
    if (p11_find_key(m, s, o->label, &k) != PS_OK) {
        fprintf(stderr, "portseal-keytool: no usable private key labelled '%s'\n", o->label);
        goto out;
    }
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, pub) || (n = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
        goto out;
    if (sign_tbs(m, s, &k, tbs, (size_t)n, req) != 0) {
        fprintf(stderr, "portseal-keytool: signing in the token failed: %s\n",
                p11_rv_str(p11_last_rv()));
        goto out;
    }
    if (X509_REQ_verify(req, pub) != 1) {
        fprintf(stderr, "portseal-keytool: the token's signature does not verify\n");
        goto out;
    }
    if ((f = fopen(o->out, "w")) == NULL || !PEM_write_X509_REQ(f, req)) {
        fprintf(stderr, "portseal-keytool: cannot write %s: %s\n", o->out, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (f && fclose(f) != 0)
        rc = 1;
    OPENSSL_free(tbs);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

static int write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int ok = fd >= 0 && write(fd, p, n) == (ssize_t)n && fsync(fd) == 0;

    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/*
 * The ledger head the keyholder records in the token after every checkpoint ("SIZE ROOTHEX"):
 * print it, or delete it (an operator's deliberate acknowledgement that state_dir starts over or
 * was restored; docs/backup-restore.md). The keyholder must be stopped.
 */
static int cmd_ledger_head(struct p11_module *m, int reset)
{
    CK_SESSION_HANDLE rw;
    uint8_t root[MERKLE_HASH_LEN];
    uint64_t size = 0;
    unsigned n = 0;
    int r;

    if (p11_session_rw(m, &rw) != PS_OK) {
        fprintf(stderr, "portseal-keytool: cannot open a read/write session\n");
        return 1;
    }
    r = ledger_head_read(m, rw, &size, root);
    if (r == PS_E_NOTFOUND) {
        printf("no ledger head recorded in the token\n");
        return 0;
    }
    if (r != PS_OK)
        fprintf(stderr, "portseal-keytool: the ledger head cannot be read\n");
    if (r == PS_OK) {
        printf("ledger head: %" PRIu64 " ", size);
        for (size_t i = 0; i < sizeof(root); i++)
            printf("%02x", root[i]);
        printf("\n");
    }
    if (!reset)
        return r == PS_OK ? 0 : 1;
    if (ledger_head_reset(m, rw, &n) != PS_OK) {
        fprintf(stderr, "portseal-keytool: the ledger head cannot be deleted\n");
        return 1;
    }
    printf("deleted (%u object%s): the keyholder records a new head from its next checkpoint\n", n,
           n == 1 ? "" : "s");
    return 0;
}

static int cmd_sm2_generate(struct p11_module *m, const struct opts *o)
{
    CK_SESSION_HANDLE rw;
    CK_OBJECT_HANDLE aes;
    EVP_PKEY *k = NULL, *back = NULL;
    EVP_MD_CTX *mc = NULL;
    EVP_PKEY_CTX *pc = NULL;
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    struct buf wrapped;
    FILE *f = NULL;
    int rc = 1;

    buf_init(&wrapped, 4096);
    if (o->wrap_key == NULL || o->subject == NULL || o->csr == NULL)
        usage();
    if (p11_session_rw(m, &rw) != PS_OK || p11_aes_key(m, rw, o->wrap_key, 1, &aes) != PS_OK) {
        fprintf(stderr, "portseal-keytool: cannot find or make the AES key '%s': %s\n", o->wrap_key,
                p11_rv_str(p11_last_rv()));
        goto out;
    }
    if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "SM2")) == NULL ||
        sm2wrap_seal(m, rw, aes, o->label, k, &wrapped) != PS_OK ||
        sm2wrap_open(m, rw, aes, o->label, wrapped.data, wrapped.len, &back) != PS_OK ||
        EVP_PKEY_eq(k, back) != 1) {
        fprintf(stderr, "portseal-keytool: cannot make and wrap an SM2 key\n");
        goto out;
    }
    if (write_file(o->out, wrapped.data, wrapped.len, 0600) != 0) {
        fprintf(stderr, "portseal-keytool: cannot write %s: %s\n", o->out, strerror(errno));
        goto out;
    }
    if ((req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL ||
        parse_subject(o->subject, name) != 0 || !X509_REQ_set_version(req, 0) ||
        !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, k) ||
        (mc = EVP_MD_CTX_new()) == NULL || (pc = EVP_PKEY_CTX_new(k, NULL)) == NULL ||
        EVP_PKEY_CTX_set1_id(pc, "1234567812345678", 16) <= 0) {
        fprintf(stderr, "portseal-keytool: bad subject or CSR\n");
        goto out;
    }
    EVP_MD_CTX_set_pkey_ctx(mc, pc);
    if (EVP_DigestSignInit(mc, NULL, EVP_sm3(), NULL, k) != 1 || X509_REQ_sign_ctx(req, mc) <= 0 ||
        (f = fopen(o->csr, "w")) == NULL || !PEM_write_X509_REQ(f, req)) {
        fprintf(stderr, "portseal-keytool: cannot sign or write the CSR %s\n", o->csr);
        goto out;
    }
    rc = 0;
out:
    if (f && fclose(f) != 0)
        rc = 1;
    EVP_MD_CTX_free(mc);
    EVP_PKEY_CTX_free(pc); /* not owned by mc: set with EVP_MD_CTX_set_pkey_ctx */
    X509_REQ_free(req);
    X509_NAME_free(name);
    EVP_PKEY_free(k);
    EVP_PKEY_free(back);
    buf_free(&wrapped);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct p11_module *m = NULL;
    CK_SESSION_HANDLE s;
    struct pin pin;
    char err[256];
    uint8_t *der = NULL;
    const unsigned char *p;
    size_t derlen;
    EVP_PKEY *pub = NULL;
    FILE *f;
    int rc = 1, head;

    if (argc < 2)
        usage();
    if (strcmp(argv[1], "ledger-verify") == 0) {
        if (argc != 3)
            usage();
        return cmd_ledger_verify(argv[2]);
    }
    o.cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        static const struct {
            const char *flag;
            size_t off;
        } flags[] = {
            {"--module", offsetof(struct opts, module)},
            {"--token", offsetof(struct opts, token)},
            {"--pin-file", offsetof(struct opts, pin_file)},
            {"--label", offsetof(struct opts, label)},
            {"--subject", offsetof(struct opts, subject)},
            {"--out", offsetof(struct opts, out)},
            {"--wrap-key", offsetof(struct opts, wrap_key)},
            {"--csr", offsetof(struct opts, csr)},
        };
        const char **dst = NULL;

        if (i + 1 >= argc)
            usage();
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strcmp(argv[i], flags[k].flag) == 0)
                dst = (const char **)((char *)&o + flags[k].off);
        if (dst == NULL)
            usage();
        *dst = argv[++i];
    }
    head = strcmp(o.cmd, "ledger-head") == 0 || strcmp(o.cmd, "ledger-head-reset") == 0;
    if (o.module == NULL || o.token == NULL || o.pin_file == NULL ||
        (!head && (o.label == NULL || o.out == NULL ||
                   (strcmp(o.cmd, "csr") != 0 && strcmp(o.cmd, "pubkey") != 0 &&
                    strcmp(o.cmd, "sm2-generate") != 0))))
        usage();
    if (pin_read(o.pin_file, &pin, err, sizeof(err)) != PS_OK) {
        fprintf(stderr, "portseal-keytool: %s\n", err);
        return 1;
    }
    if (p11_open(o.module, o.token, 0, &m, err, sizeof(err)) != PS_OK ||
        p11_session(m, &s) != PS_OK ||
        p11_login(m, s, pin.data, pin.len, err, sizeof(err)) != PS_OK) {
        fprintf(stderr, "portseal-keytool: %s\n", err);
        goto out;
    }
    pin_wipe(&pin);
    if (head) {
        rc = cmd_ledger_head(m, strcmp(o.cmd, "ledger-head-reset") == 0);
        goto out;
    }
    if (strcmp(o.cmd, "sm2-generate") == 0) {
        rc = cmd_sm2_generate(m, &o);
        goto out;
    }
    if (p11_pubkey_spki(m, s, o.label, &der, &derlen) != PS_OK) {
        fprintf(stderr, "portseal-keytool: no usable public key labelled '%s'\n", o.label);
        goto out;
    }
    p = der;
    if ((pub = d2i_PUBKEY(NULL, &p, (long)derlen)) == NULL)
        goto out;
    if (strcmp(o.cmd, "csr") == 0) {
        rc = cmd_csr(m, s, &o, pub);
    } else if ((f = fopen(o.out, "w")) != NULL) {
        rc = PEM_write_PUBKEY(f, pub) ? 0 : 1;
        if (fclose(f) != 0)
            rc = 1;
    }
out:
    pin_wipe(&pin);
    EVP_PKEY_free(pub);
    free(der);
    p11_close(m);
    return rc;
}
