/*
 * p11-sign-loop - raw PKCS#11 C_Sign throughput reference benchmark.
 *
 * Loads a PKCS#11 module with dlopen(), logs into the token with the given
 * label, looks up a private key by CKA_LABEL and calls C_SignInit/C_Sign in
 * a tight loop on a single session.  The result is the upper bound that a
 * signing server using the same module and key type can hope to reach per
 * session/thread.
 *
 * Build:
 *   cc -O2 -Wall -Wextra -Werror -std=gnu11 -I/usr/include/p11-kit-1 \
 *      -o /tmp/p11-sign-loop tests/bench/p11-sign-loop.c -ldl
 *
 * Output (one line on stdout):
 *   signs=N seconds=F sign_per_s=F cpu_s=F cpu_us_per_sign=F
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#ifndef CKK_EC_EDWARDS
#define CKK_EC_EDWARDS 0x40UL
#endif
#ifndef CKM_EDDSA
#define CKM_EDDSA 0x1057UL
#endif

#define PIN_MAX 256
#define SIG_MAX 4096

/* DER prefix of DigestInfo for SHA-256 (RFC 8017, section 9.2 note 1). */
static const unsigned char sha256_digestinfo_prefix[19] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};

struct options {
    const char *module;
    const char *token;
    const char *pin_file;
    const char *label;
    double duration;        /* seconds, 0 if -n is used */
    unsigned long long count; /* 0 if -d is used */
};

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
        "Usage: %s --module PATH --token LABEL --pin-file FILE --label KEYLABEL\n"
        "          (-d SECONDS | -n COUNT)\n"
        "\n"
        "Raw PKCS#11 C_Sign loop on one session (reference for portseal).\n"
        "\n"
        "  --module PATH     PKCS#11 module to dlopen (e.g. /usr/lib/softhsm/libsofthsm2.so)\n"
        "  --token LABEL     token label of the slot to use\n"
        "  --pin-file FILE   file holding the user PIN (trailing newline stripped)\n"
        "  --label L         CKA_LABEL of the private key\n"
        "  -d SECONDS        sign for this many seconds (may be fractional)\n"
        "  -n COUNT          sign exactly COUNT times\n"
        "  -h, --help        this help\n"
        "\n"
        "Mechanisms: EC -> CKM_ECDSA over a 32-byte digest; RSA -> CKM_RSA_PKCS\n"
        "over a SHA-256 DigestInfo; EC Edwards -> CKM_EDDSA over 32 bytes.\n"
        "\n"
        "Output: signs=N seconds=F sign_per_s=F cpu_s=F cpu_us_per_sign=F\n",
        prog);
}

static double now_mono(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cpu_seconds(double *out)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    *out = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min) || !(v <= max))
        return -1;
    *out = v;
    return 0;
}

static int parse_ull(const char *s, unsigned long long min,
                     unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] == '-' || s[0] == '+' || s[0] == '\0')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/*
 * Read the PIN file into buf (NUL terminated), strip trailing CR/LF.
 * The PIN itself is never printed.
 */
static int read_pin(const char *path, char *buf, size_t bufsz, size_t *len)
{
    int fd = -1;
    int ret = -1;
    size_t off = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "p11-sign-loop: cannot open PIN file %s: %s\n",
                path, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t n;

        if (off >= bufsz - 1) {
            fprintf(stderr, "p11-sign-loop: PIN file %s too large\n", path);
            goto out;
        }
        n = read(fd, buf + off, bufsz - 1 - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "p11-sign-loop: read %s: %s\n", path,
                    strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    while (off > 0 && (buf[off - 1] == '\n' || buf[off - 1] == '\r'))
        off--;
    buf[off] = '\0';
    if (off == 0) {
        fprintf(stderr, "p11-sign-loop: PIN file %s is empty\n", path);
        goto out;
    }
    *len = off;
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    return ret;
}

/* Compare a blank-padded 32-byte token label against a C string. */
static int label_matches(const CK_UTF8CHAR *padded, size_t padded_len,
                         const char *want)
{
    size_t wlen = strlen(want);
    size_t i;

    if (wlen > padded_len)
        return 0;
    if (memcmp(padded, want, wlen) != 0)
        return 0;
    for (i = wlen; i < padded_len; i++) {
        if (padded[i] != ' ' && padded[i] != '\0')
            return 0;
    }
    return 1;
}

static const char *keytype_name(CK_KEY_TYPE kt)
{
    switch (kt) {
    case CKK_RSA:
        return "RSA";
    case CKK_EC:
        return "EC";
    case CKK_EC_EDWARDS:
        return "EC_EDWARDS";
    default:
        return "unsupported";
    }
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "module", required_argument, NULL, 'M' },
        { "token", required_argument, NULL, 'T' },
        { "pin-file", required_argument, NULL, 'P' },
        { "label", required_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    int have_d = 0, have_n = 0;

    memset(o, 0, sizeof(*o));
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "d:n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'M':
            o->module = optarg;
            break;
        case 'T':
            o->token = optarg;
            break;
        case 'P':
            o->pin_file = optarg;
            break;
        case 'L':
            o->label = optarg;
            break;
        case 'd':
            if (parse_double(optarg, 0.001, 86400.0, &o->duration) != 0) {
                fprintf(stderr, "p11-sign-loop: bad -d value '%s'\n", optarg);
                return -1;
            }
            have_d = 1;
            break;
        case 'n':
            if (parse_ull(optarg, 1, 1000000000000ULL, &o->count) != 0) {
                fprintf(stderr, "p11-sign-loop: bad -n value '%s'\n", optarg);
                return -1;
            }
            have_n = 1;
            break;
        case 'h':
            return 1;
        default:
            fprintf(stderr, "p11-sign-loop: unknown or incomplete option\n");
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "p11-sign-loop: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    if (o->module == NULL || o->token == NULL || o->pin_file == NULL ||
        o->label == NULL) {
        fprintf(stderr, "p11-sign-loop: --module, --token, --pin-file and "
                "--label are required\n");
        return -1;
    }
    if (have_d == have_n) {
        fprintf(stderr, "p11-sign-loop: exactly one of -d or -n is required\n");
        return -1;
    }
    if (strlen(o->token) > 32) {
        fprintf(stderr, "p11-sign-loop: token label longer than 32 bytes\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    void *dl = NULL;
    CK_C_GetFunctionList getfl = NULL;
    CK_FUNCTION_LIST_PTR p11 = NULL;
    CK_RV rv;
    int initialized = 0, logged_in = 0, find_active = 0;
    CK_SESSION_HANDLE sess = CK_INVALID_HANDLE;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG nslots = 0, i;
    CK_SLOT_ID slot = 0;
    int slot_found = 0;
    char pin[PIN_MAX];
    size_t pin_len = 0;
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE, extra = CK_INVALID_HANDLE;
    CK_ULONG nfound = 0;
    CK_KEY_TYPE ktype = 0;
    CK_MECHANISM mech = { 0, NULL, 0 };
    unsigned char data[64];
    CK_ULONG data_len = 0;
    size_t digest_off = 0;
    unsigned char sig[SIG_MAX];
    unsigned long long signs = 0;
    double t0, t1, c0, c1, elapsed, cpu;
    int ret = 1;
    int pr;

    pr = parse_args(argc, argv, &opt);
    if (pr == 1) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (pr != 0) {
        usage(stderr, argv[0]);
        return 2;
    }

    memset(pin, 0, sizeof(pin));
    if (read_pin(opt.pin_file, pin, sizeof(pin), &pin_len) != 0)
        goto out;

    dl = dlopen(opt.module, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "p11-sign-loop: dlopen %s: %s\n", opt.module,
                dlerror());
        goto out;
    }
    getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
    if (getfl == NULL) {
        fprintf(stderr, "p11-sign-loop: C_GetFunctionList not found in %s\n",
                opt.module);
        goto out;
    }
    rv = getfl(&p11);
    if (rv != CKR_OK || p11 == NULL) {
        fprintf(stderr, "p11-sign-loop: C_GetFunctionList failed: 0x%lx\n",
                (unsigned long)rv);
        goto out;
    }

    rv = p11->C_Initialize(NULL);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        fprintf(stderr, "p11-sign-loop: C_Initialize failed: 0x%lx\n",
                (unsigned long)rv);
        goto out;
    }
    initialized = (rv == CKR_OK);

    rv = p11->C_GetSlotList(CK_TRUE, NULL, &nslots);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11-sign-loop: C_GetSlotList failed: 0x%lx\n",
                (unsigned long)rv);
        goto out;
    }
    if (nslots == 0) {
        fprintf(stderr, "p11-sign-loop: no slots with a token present\n");
        goto out;
    }
    slots = calloc(nslots, sizeof(*slots));
    if (slots == NULL) {
        fprintf(stderr, "p11-sign-loop: out of memory\n");
        goto out;
    }
    rv = p11->C_GetSlotList(CK_TRUE, slots, &nslots);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11-sign-loop: C_GetSlotList failed: 0x%lx\n",
                (unsigned long)rv);
        goto out;
    }
    for (i = 0; i < nslots; i++) {
        CK_TOKEN_INFO ti;

        rv = p11->C_GetTokenInfo(slots[i], &ti);
        if (rv != CKR_OK)
            continue;
        if (label_matches(ti.label, sizeof(ti.label), opt.token)) {
            slot = slots[i];
            slot_found = 1;
            break;
        }
    }
    if (!slot_found) {
        fprintf(stderr, "p11-sign-loop: no token with label '%s'\n",
                opt.token);
        goto out;
    }

    rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &sess);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11-sign-loop: C_OpenSession failed: 0x%lx\n",
                (unsigned long)rv);
        goto out;
    }

    rv = p11->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
    explicit_bzero(pin, sizeof(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        fprintf(stderr, "p11-sign-loop: C_Login failed: 0x%lx\n",
                (unsigned long)rv);
        goto out;
    }
    logged_in = (rv == CKR_OK);

    {
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE tmpl[2];

        tmpl[0].type = CKA_CLASS;
        tmpl[0].pValue = &cls;
        tmpl[0].ulValueLen = sizeof(cls);
        tmpl[1].type = CKA_LABEL;
        tmpl[1].pValue = (void *)opt.label;
        tmpl[1].ulValueLen = (CK_ULONG)strlen(opt.label);

        rv = p11->C_FindObjectsInit(sess, tmpl, 2);
        if (rv != CKR_OK) {
            fprintf(stderr, "p11-sign-loop: C_FindObjectsInit failed: 0x%lx\n",
                    (unsigned long)rv);
            goto out;
        }
        find_active = 1;
        rv = p11->C_FindObjects(sess, &key, 1, &nfound);
        if (rv != CKR_OK) {
            fprintf(stderr, "p11-sign-loop: C_FindObjects failed: 0x%lx\n",
                    (unsigned long)rv);
            goto out;
        }
        if (nfound == 0) {
            fprintf(stderr, "p11-sign-loop: no private key with label '%s'\n",
                    opt.label);
            goto out;
        }
        rv = p11->C_FindObjects(sess, &extra, 1, &nfound);
        if (rv == CKR_OK && nfound > 0)
            fprintf(stderr, "p11-sign-loop: warning: several private keys "
                    "labelled '%s', using the first\n", opt.label);
        rv = p11->C_FindObjectsFinal(sess);
        find_active = 0;
        if (rv != CKR_OK) {
            fprintf(stderr, "p11-sign-loop: C_FindObjectsFinal failed: 0x%lx\n",
                    (unsigned long)rv);
            goto out;
        }
    }

    {
        CK_ATTRIBUTE a;

        a.type = CKA_KEY_TYPE;
        a.pValue = &ktype;
        a.ulValueLen = sizeof(ktype);
        rv = p11->C_GetAttributeValue(sess, key, &a, 1);
        if (rv != CKR_OK) {
            fprintf(stderr, "p11-sign-loop: C_GetAttributeValue(CKA_KEY_TYPE) "
                    "failed: 0x%lx\n", (unsigned long)rv);
            goto out;
        }
    }

    /* Deterministic filler; the first 8 digest bytes carry a counter. */
    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(0xA5u ^ (unsigned)(i * 7u));

    switch (ktype) {
    case CKK_EC:
        mech.mechanism = CKM_ECDSA;
        data_len = 32;
        digest_off = 0;
        break;
    case CKK_RSA:
        mech.mechanism = CKM_RSA_PKCS;
        memcpy(data, sha256_digestinfo_prefix, sizeof(sha256_digestinfo_prefix));
        digest_off = sizeof(sha256_digestinfo_prefix);
        data_len = (CK_ULONG)(digest_off + 32);
        break;
    case CKK_EC_EDWARDS:
        mech.mechanism = CKM_EDDSA;
        data_len = 32;
        digest_off = 0;
        break;
    default:
        fprintf(stderr, "p11-sign-loop: unsupported key type 0x%lx\n",
                (unsigned long)ktype);
        goto out;
    }
    fprintf(stderr, "p11-sign-loop: key '%s' type %s, mechanism 0x%lx, "
            "%lu-byte input\n", opt.label, keytype_name(ktype),
            (unsigned long)mech.mechanism, (unsigned long)data_len);

    if (cpu_seconds(&c0) != 0) {
        fprintf(stderr, "p11-sign-loop: getrusage: %s\n", strerror(errno));
        goto out;
    }
    t0 = now_mono();
    t1 = t0;
    for (;;) {
        CK_ULONG siglen = sizeof(sig);
        uint64_t ctr = signs;

        if (opt.count > 0) {
            if (signs >= opt.count)
                break;
        } else if ((signs & 7u) == 0) {
            t1 = now_mono();
            if (t1 - t0 >= opt.duration)
                break;
        }
        memcpy(data + digest_off, &ctr, sizeof(ctr));

        rv = p11->C_SignInit(sess, &mech, key);
        if (rv != CKR_OK) {
            fprintf(stderr, "p11-sign-loop: C_SignInit failed after %llu "
                    "signs: 0x%lx\n", signs, (unsigned long)rv);
            goto out;
        }
        rv = p11->C_Sign(sess, data, data_len, sig, &siglen);
        if (rv != CKR_OK) {
            fprintf(stderr, "p11-sign-loop: C_Sign failed after %llu signs: "
                    "0x%lx\n", signs, (unsigned long)rv);
            goto out;
        }
        if (siglen == 0 || siglen > sizeof(sig)) {
            fprintf(stderr, "p11-sign-loop: bogus signature length %lu\n",
                    (unsigned long)siglen);
            goto out;
        }
        signs++;
    }
    t1 = now_mono();
    if (cpu_seconds(&c1) != 0) {
        fprintf(stderr, "p11-sign-loop: getrusage: %s\n", strerror(errno));
        goto out;
    }
    elapsed = t1 - t0;
    cpu = c1 - c0;
    printf("signs=%llu seconds=%.3f sign_per_s=%.1f cpu_s=%.3f "
           "cpu_us_per_sign=%.1f\n",
           signs, elapsed, elapsed > 0.0 ? (double)signs / elapsed : 0.0,
           cpu, signs > 0 ? cpu * 1e6 / (double)signs : 0.0);
    if (fflush(stdout) != 0)
        goto out;
    ret = 0;
out:
    explicit_bzero(pin, sizeof(pin));
    if (p11 != NULL) {
        if (find_active)
            (void)p11->C_FindObjectsFinal(sess);
        if (logged_in)
            (void)p11->C_Logout(sess);
        if (sess != CK_INVALID_HANDLE)
            (void)p11->C_CloseSession(sess);
        if (initialized)
            (void)p11->C_Finalize(NULL);
    }
    free(slots);
    if (dl != NULL)
        dlclose(dl);
    return ret;
}
