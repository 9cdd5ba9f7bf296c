/*
 * portseal-verify - the auditor's offline tool: verifies evidence bundles (ASiC-E with CAdES,
 * an RFC 3161 token and a ledger inclusion proof) and the consistency of ledger checkpoints,
 * with nothing but the files and the auditor's trust roots. See docs/auditor-guide.md.
 *
 *   portseal-verify [--json] --roots ROOTS.pem [--checkpoint TRUSTED] [--consistency-proof P]
 *                   BUNDLE.asice|DIR...
 *   portseal-verify consistency --roots ROOTS.pem --log-cert CERT.pem OLD NEW PROOF.json
 *
 * Exit status: 0 everything valid, 1 something invalid, 2 usage or I/O error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "../certs/evverify.h"

#define MAX_FILE ((size_t)2 << 30)

static int json_out;

static void usage(void)
{
    fprintf(
        stderr,
        "usage: portseal-verify [--json] --roots ROOTS.pem [--checkpoint TRUSTED_CHECKPOINT]\n"
        "                       [--consistency-proof PROOF.json] BUNDLE.asice|DIR...\n"
        "       portseal-verify consistency --roots ROOTS.pem --log-cert CERT.pem OLD_CHECKPOINT\n"
        "                       NEW_CHECKPOINT PROOF.json\n"
        "exit status: 0 all valid, 1 invalid, 2 usage or I/O error\n");
}

/* The whole file; NULL (message printed) on error. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *p = NULL;

    if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > MAX_FILE || (p = malloc((size_t)st.st_size + 1)) == NULL ||
        fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        fprintf(stderr, "portseal-verify: cannot read %s: %s\n", path,
                errno ? strerror(errno) : "not a regular file or too large");
        free(p);
        p = NULL;
    } else {
        p[st.st_size] = 0;
        *len = (size_t)st.st_size;
    }
    if (f)
        fclose(f);
    return p;
}

static STACK_OF(X509) * read_certs(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    STACK_OF(X509) *s = sk_X509_new_null();
    X509 *x;

    if (b == NULL || s == NULL) {
        fprintf(stderr, "portseal-verify: cannot read %s\n", path);
        BIO_free(b);
        sk_X509_free(s);
        return NULL;
    }
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(s, x))
            X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    if (sk_X509_num(s) == 0) {
        fprintf(stderr, "portseal-verify: no PEM certificate in %s\n", path);
        sk_X509_free(s);
        return NULL;
    }
    return s;
}

static const char *state_word(int st)
{
    return st == EVV_OK ? "ok" : st == EVV_FAIL ? "FAIL" : "-";
}

static void print_text(const char *path, const struct evv_report *r)
{
    const char *first = NULL;

    printf("%s\n", path);
    for (int c = 0; c < EVV_N; c++) {
        printf("  %-5s %-10s  %s\n", state_word(r->r[c].state), evv_check_name((enum evv_check)c),
               r->r[c].detail);
        if (first == NULL && r->r[c].state == EVV_FAIL)
            first = r->r[c].detail;
    }
    if (r->valid)
        printf("%s: VALID (bundle id %s)\n", path, r->bundle_id);
    else
        printf("%s: INVALID: %s\n", path, first ? first : "a check could not run");
}

static void print_json(const char *path, const struct evv_report *r)
{
    json_t *o = json_object(), *checks = json_object();
    char *s;

    for (int c = 0; c < EVV_N; c++)
        json_object_set_new(checks, evv_check_name((enum evv_check)c),
                            json_pack("{s:s, s:s}", "result",
                                      r->r[c].state == EVV_OK     ? "ok"
                                      : r->r[c].state == EVV_FAIL ? "fail"
                                                                  : "skipped",
                                      "detail", r->r[c].detail));
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "bundle_id", json_string(r->bundle_id));
    json_object_set_new(o, "valid", json_boolean(r->valid));
    json_object_set_new(o, "checks", checks);
    if (r->signer[0])
        json_object_set_new(o, "signer", json_string(r->signer));
    if (r->tsa[0])
        json_object_set_new(o, "tsa", json_string(r->tsa));
    if (r->gen_time[0])
        json_object_set_new(o, "gen_time", json_string(r->gen_time));
    if (r->origin[0]) {
        json_object_set_new(o, "log", json_string(r->origin));
        json_object_set_new(o, "leaf_index", json_integer((json_int_t)r->leaf_index));
        json_object_set_new(o, "tree_size", json_integer((json_int_t)r->tree_size));
    }
    if (r->meta.rights_holder[0])
        json_object_set_new(o, "rights_holder", json_string(r->meta.rights_holder));
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

/* 0 valid, 1 invalid, 2 I/O error */
static int verify_one(const char *path, const struct evv_trust *t)
{
    struct evv_report rep;
    size_t len;
    uint8_t *zip = slurp(path, &len);

    if (zip == NULL)
        return 2;
    if (evv_bundle(zip, len, t, &rep) != PS_OK) {
        fprintf(stderr, "portseal-verify: %s: out of memory\n", path);
        free(zip);
        return 2;
    }
    free(zip);
    if (json_out)
        print_json(path, &rep);
    else
        print_text(path, &rep);
    fflush(stdout);
    return rep.valid ? 0 : 1;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);

    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int asice_filter(const struct dirent *d)
{
    return has_suffix(d->d_name, ".asice") && d->d_name[0] != '.';
}

static void progress(size_t done, size_t total)
{
    int w = 40, fill = total ? (int)(done * (size_t)w / total) : w;

    fprintf(stderr, "\r[%.*s%*s] %zu/%zu", fill, "########################################",
            w - fill, "", done, total);
    if (done == total)
        fprintf(stderr, "\n");
}

static int verify_dir(const char *dir, const struct evv_trust *t)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, asice_filter, alphasort), worst = 0, bar = isatty(2);

    if (n < 0) {
        fprintf(stderr, "portseal-verify: cannot read folder %s: %s\n", dir, strerror(errno));
        return 2;
    }
    if (n == 0)
        fprintf(stderr, "portseal-verify: no *.asice in %s\n", dir);
    for (int i = 0; i < n; i++) {
        char path[4096];
        int r;

        if (bar)
            progress((size_t)i, (size_t)n);
        snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
        if (bar)
            fprintf(stderr, "\r\033[K"); /* the result lines go between bar updates */
        r = verify_one(path, t);
        worst = r > worst ? r : worst;
        free(list[i]);
    }
    if (bar && n > 0)
        progress((size_t)n, (size_t)n);
    free(list);
    return worst;
}

static int cmd_consistency(int argc, char **argv)
{
    static const struct option opts[] = {{"roots", required_argument, NULL, 'r'},
                                         {"log-cert", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    const char *roots_path = NULL, *cert_path = NULL;
    STACK_OF(X509) *roots = NULL, *lc = NULL;
    uint8_t *a = NULL, *b = NULL, *p = NULL;
    size_t al, bl, pl;
    char why[512];
    int c, rc = 2;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r')
            roots_path = optarg;
        else if (c == 'l')
            cert_path = optarg;
        else
            goto usage;
    }
    if (roots_path == NULL || cert_path == NULL || argc - optind != 3)
        goto usage;
    if ((roots = read_certs(roots_path)) == NULL || (lc = read_certs(cert_path)) == NULL ||
        (a = slurp(argv[optind], &al)) == NULL || (b = slurp(argv[optind + 1], &bl)) == NULL ||
        (p = slurp(argv[optind + 2], &pl)) == NULL)
        goto out;
    rc = evv_consistency(roots, lc, a, al, b, bl, p, pl, why, sizeof(why)) ? 0 : 1;
    if (json_out) {
        json_t *o = json_pack("{s:b, s:s}", "valid", rc == 0, "detail", why);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else
        printf("%s  consistency  %s\n%s\n", rc == 0 ? "ok  " : "FAIL", why,
               rc == 0 ? "VALID" : "INVALID");
    goto out;
usage:
    usage();
out:
    sk_X509_pop_free(roots, X509_free);
    sk_X509_pop_free(lc, X509_free);
    free(a);
    free(b);
    free(p);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"roots", required_argument, NULL, 'r'},
                                         {"checkpoint", required_argument, NULL, 'c'},
                                         {"consistency-proof", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *roots_path = NULL, *cp_path = NULL, *proof_path = NULL;
    struct evv_trust t;
    uint8_t *cp = NULL, *proof = NULL;
    int c, worst = 0;

    memset(&t, 0, sizeof(t));
    if (argc > 1 && strcmp(argv[1], "consistency") == 0) {
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--json") == 0) {
                json_out = 1;
                memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof(*argv));
                argc--;
                break;
            }
        return cmd_consistency(argc - 1, argv + 1);
    }
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json_out = 1; break;
        case 'r': roots_path = optarg; break;
        case 'c': cp_path = optarg; break;
        case 'p': proof_path = optarg; break;
        default: usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (roots_path == NULL || optind == argc || (proof_path && !cp_path)) {
        usage();
        return 2;
    }
    if ((t.roots = read_certs(roots_path)) == NULL ||
        (cp_path && (cp = slurp(cp_path, &t.checkpoint_len)) == NULL) ||
        (proof_path && (proof = slurp(proof_path, &t.consistency_len)) == NULL)) {
        worst = 2;
        goto out;
    }
    t.checkpoint = cp;
    t.consistency = proof;
    for (int i = optind; i < argc; i++) {
        struct stat st;
        int r = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? verify_dir(argv[i], &t)
                                                               : verify_one(argv[i], &t);

        worst = r > worst ? r : worst;
    }
out:
    sk_X509_pop_free(t.roots, X509_free);
    free(cp);
    free(proof);
    return worst;
}
