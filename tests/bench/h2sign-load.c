/*
 * h2sign-load - HTTP/2 over TLS load generator that presents a client
 * certificate (h2load cannot).
 *
 * Single-threaded epoll loop, non-blocking sockets, OpenSSL for TLS and the
 * nghttp2 client API (mem_send/mem_recv) for HTTP/2.
 *
 * Build:
 *   cc -O2 -Wall -Wextra -Werror -std=gnu11 -o /tmp/h2sign-load \
 *      tests/bench/h2sign-load.c $(pkg-config --cflags --libs libnghttp2 openssl)
 *
 * Load mode output (one line on stdout):
 *   requests=N ok=N failed=N seconds=F rps=F p50_us=N p99_us=N max_us=N
 * Idle mode output (stdout):
 *   idle_connections=N      once every connection is established (or failed)
 *   idle_held=N             after --hold seconds, connections still alive
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define PROG "h2sign-load"

#define MAX_USER_HEADERS 32
#define MAX_NV (8 + MAX_USER_HEADERS)
#define FAIL_BODY_MAX 300
#define RBUF_SIZE 16384
#define WBUF_HIGH 65536
#define MAX_BODY_SIZE (64u * 1024u * 1024u)
#define MAX_CONNECTING 128
#define MAX_CONNS 200000
#define MAX_CONN_ERR_PRINT 5
#define PROGRESS_TIMEOUT_NS (30ULL * 1000000000ULL)
#define GRACE_NS (30ULL * 1000000000ULL)
#define READS_PER_EVENT 64
#define EPOLL_BATCH 256
#define LOCAL_WINDOW (1 << 20)

enum cstate {
    C_UNUSED = 0,
    C_CONNECTING,
    C_HANDSHAKE,
    C_OPEN,
    C_CLOSED
};

enum mode {
    MODE_LOAD = 0,
    MODE_IDLE
};

struct conn;

struct stream {
    struct stream *prev;
    struct stream *next;
    struct conn *c;
    int32_t id;
    int is_probe;
    int ended;
    int status;
    uint64_t t_submit;
    uint64_t t_end;
    size_t body_off;
    size_t resp_len;
    char resp[FAIL_BODY_MAX];
};

struct conn {
    int idx;
    int fd;
    SSL *ssl;
    nghttp2_session *h2;
    enum cstate st;
    int registered;
    uint32_t evmask;
    int hs_want_write;
    int wr_blocked;
    int rd_want_write;
    uint8_t *wbuf;
    size_t wcap;
    size_t wlen;
    size_t woff;
    struct stream *streams;
    unsigned inflight;
    int goaway;
    uint32_t goaway_code;
    int close_req;
    int was_open;
    int probe_done;
    unsigned long long submitted;
    char err[256];
};

static struct {
    /* configuration */
    enum mode mode;
    const char *url;
    const char *cacert;
    const char *cert;
    const char *key;
    const char *data_file;
    const char *method;
    char *host;
    char *port;
    char *authority;
    char *path;
    int host_is_ip;
    int nconns;
    unsigned max_streams;
    unsigned long long total;   /* -n, 0 when -d is used */
    double duration;            /* -d, 0 when -n is used */
    int idle_n;
    double hold;
    unsigned long long per_conn; /* --per-conn, 0: keep connections */
    int resume;                  /* --resume */
    unsigned char *body;
    size_t body_len;
    int send_body;
    char clen[32];
    char *uh_name[MAX_USER_HEADERS];
    char *uh_value[MAX_USER_HEADERS];
    size_t n_uh;
    int user_content_type;
    nghttp2_nv nva[MAX_NV];
    size_t n_nva;
    nghttp2_nv probe_nva[MAX_NV];
    size_t n_probe_nva;

    /* runtime */
    SSL_CTX *ctx;
    SSL_SESSION *session; /* the newest, for --resume */
    unsigned long long conns_opened, conns_resumed;
    struct addrinfo *ai;
    int epfd;
    nghttp2_session_callbacks *cbs;
    struct conn *conns;
    int nconn_slots;
    int next_start;
    int live;
    int connecting;
    int stopping;
    unsigned long long issued;
    unsigned long long ok;
    unsigned long long failed;
    unsigned long long retried;
    int need_kick;
    uint32_t *lat;
    size_t nlat;
    size_t caplat;
    int first_fail_printed;
    int conn_err_printed;
    int probe_warned;
    uint64_t t_start;
    uint64_t t_end;
    uint64_t t_hard;
    uint64_t t_progress;
    int idle_established;
    int idle_failed;
    int idle_alive;
    int idle_holding;
    uint8_t rbuf[RBUF_SIZE];
} g;

static volatile sig_atomic_t g_interrupted;

static void usage(FILE *f)
{
    fprintf(f,
        "Usage:\n"
        "  " PROG " --url https://HOST:PORT/PATH --cacert FILE [--cert FILE --key FILE]\n"
        "      [-c CONNECTIONS] [-m STREAMS] (-n REQUESTS | -d SECONDS)\n"
        "      [--method POST|GET] [--data-file FILE] [--header 'name: value']...\n"
        "  " PROG " --url https://HOST:PORT/PATH --cacert FILE [--cert FILE --key FILE]\n"
        "      --idle N --hold SECONDS [--header 'name: value']...\n"
        "\n"
        "HTTP/2 (ALPN h2 only) over TLS load generator with client certificate.\n"
        "\n"
        "  --url URL          target, https only; PATH defaults to /\n"
        "  --cacert FILE      CA bundle used to verify the server (hostname not checked)\n"
        "  --cert FILE        client certificate chain (PEM)\n"
        "  --key FILE         client private key (PEM); defaults to --cert\n"
        "  -c N               connections (default 1)\n"
        "  -m N               max concurrent streams per connection (default 1)\n"
        "  -n N               total requests\n"
        "  -d SECONDS         run for SECONDS (may be fractional)\n"
        "  --method M         POST or GET (default POST with --data-file, else GET)\n"
        "  --data-file FILE   request body, sent as content-type: application/json\n"
        "  --header 'n: v'    extra request header (repeatable, max %d)\n"
        "  --per-conn N       close a connection after N requests and open a new one\n"
        "                     (clients that reconnect; default: keep connections)\n"
        "  --resume           with --per-conn: offer the newest TLS session, so that new\n"
        "                     connections resume instead of making a full handshake\n"
        "  --idle N           open N connections, one GET of PATH on each, then idle\n"
        "  --hold SECONDS     how long to keep the idle connections open\n"
        "  -h, --help         this help\n"
        "\n"
        "Load output:  requests=N ok=N failed=N seconds=F rps=F p50_us=N p99_us=N max_us=N\n"
        "              connections=N resumed=N\n"
        "              (rps counts successful (2xx) responses; latencies cover every\n"
        "              complete response, from submit to END_STREAM)\n"
        "Idle output:  idle_connections=N, then idle_held=N after the hold period\n"
        "Exit status:  0 all good, 1 failures occurred, 2 usage/setup error\n",
        MAX_USER_HEADERS);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* ------------------------------------------------------------------ */
/* argument parsing helpers                                            */

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_ull(const char *s, unsigned long long min,
                     unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min) || !(v <= max))
        return -1;
    *out = v;
    return 0;
}

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* https://HOST[:PORT][/PATH], HOST may be [IPv6]. */
static int parse_url(const char *url)
{
    static const char scheme[] = "https://";
    const char *p, *auth_end, *host_b, *host_e, *port_b = NULL;
    size_t port_len = 0;
    long port;
    unsigned char tmp[sizeof(struct in6_addr)];

    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        fprintf(stderr, PROG ": --url must start with https://\n");
        return -1;
    }
    p = url + sizeof(scheme) - 1;
    auth_end = p + strcspn(p, "/?#");
    if (*auth_end == '#') {
        fprintf(stderr, PROG ": fragments are not allowed in --url\n");
        return -1;
    }
    if (auth_end == p) {
        fprintf(stderr, PROG ": --url has no host\n");
        return -1;
    }
    if (*p == '[') {
        host_b = p + 1;
        host_e = memchr(host_b, ']', (size_t)(auth_end - host_b));
        if (host_e == NULL) {
            fprintf(stderr, PROG ": bad IPv6 literal in --url\n");
            return -1;
        }
        if (host_e + 1 < auth_end) {
            if (host_e[1] != ':') {
                fprintf(stderr, PROG ": bad authority in --url\n");
                return -1;
            }
            port_b = host_e + 2;
            port_len = (size_t)(auth_end - port_b);
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));

        host_b = p;
        host_e = colon != NULL ? colon : auth_end;
        if (colon != NULL) {
            port_b = colon + 1;
            port_len = (size_t)(auth_end - port_b);
        }
    }
    if (host_e == host_b) {
        fprintf(stderr, PROG ": --url has an empty host\n");
        return -1;
    }
    g.host = dup_range(host_b, (size_t)(host_e - host_b));
    g.authority = dup_range(p, (size_t)(auth_end - p));
    if (port_b != NULL)
        g.port = dup_range(port_b, port_len);
    else
        g.port = dup_range("443", 3);
    if (*auth_end == '\0')
        g.path = dup_range("/", 1);
    else if (*auth_end == '?') {
        size_t n = strlen(auth_end);

        g.path = malloc(n + 2);
        if (g.path != NULL) {
            g.path[0] = '/';
            memcpy(g.path + 1, auth_end, n + 1);
        }
    } else
        g.path = dup_range(auth_end, strlen(auth_end));
    if (g.host == NULL || g.authority == NULL || g.port == NULL ||
        g.path == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    if (parse_long(g.port, 1, 65535, &port) != 0) {
        fprintf(stderr, PROG ": bad port '%s' in --url\n", g.port);
        return -1;
    }
    g.host_is_ip = inet_pton(AF_INET, g.host, tmp) == 1 ||
                   inet_pton(AF_INET6, g.host, tmp) == 1;
    return 0;
}

static int is_tchar(unsigned char ch)
{
    if (ch == '\0')
        return 0;
    if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
        return 1;
    return strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int add_user_header(const char *arg)
{
    const char *colon = strchr(arg, ':');
    const char *v;
    char *name, *value;
    size_t i, nlen;

    if (g.n_uh >= MAX_USER_HEADERS) {
        fprintf(stderr, PROG ": too many --header options (max %d)\n",
                MAX_USER_HEADERS);
        return -1;
    }
    if (colon == NULL || colon == arg) {
        fprintf(stderr, PROG ": --header must be 'name: value'\n");
        return -1;
    }
    nlen = (size_t)(colon - arg);
    name = dup_range(arg, nlen);
    if (name == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    for (i = 0; i < nlen; i++) {
        unsigned char ch = (unsigned char)name[i];

        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        if (!is_tchar(ch)) {
            fprintf(stderr, PROG ": invalid header name in --header '%s'\n",
                    arg);
            free(name);
            return -1;
        }
        name[i] = (char)ch;
    }
    v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    value = dup_range(v, strlen(v));
    if (value == NULL) {
        free(name);
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    for (i = 0; value[i] != '\0'; i++) {
        if (value[i] == '\r' || value[i] == '\n') {
            fprintf(stderr, PROG ": CR/LF not allowed in --header value\n");
            free(name);
            free(value);
            return -1;
        }
    }
    if (strcmp(name, "content-type") == 0)
        g.user_content_type = 1;
    if (strcmp(name, "content-length") == 0 || strcmp(name, "host") == 0 ||
        strcmp(name, "connection") == 0 ||
        strcmp(name, "transfer-encoding") == 0) {
        fprintf(stderr, PROG ": header '%s' is set automatically or not "
                "allowed in HTTP/2\n", name);
        free(name);
        free(value);
        return -1;
    }
    g.uh_name[g.n_uh] = name;
    g.uh_value[g.n_uh] = value;
    g.n_uh++;
    return 0;
}

static int load_file(const char *path, unsigned char **out, size_t *out_len)
{
    int fd = -1;
    struct stat sb;
    unsigned char *buf = NULL;
    size_t cap, off = 0;
    int ret = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, PROG ": open %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) != 0) {
        fprintf(stderr, PROG ": stat %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (sb.st_size < 0 || (unsigned long long)sb.st_size > MAX_BODY_SIZE) {
        fprintf(stderr, PROG ": %s is too large\n", path);
        goto out;
    }
    cap = (size_t)sb.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    for (;;) {
        ssize_t n;

        if (off == cap) {
            fprintf(stderr, PROG ": %s grew while reading\n", path);
            goto out;
        }
        n = read(fd, buf + off, cap - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, PROG ": read %s: %s\n", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    *out = buf;
    *out_len = off;
    buf = NULL;
    ret = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return ret;
}

static void set_nv(nghttp2_nv *nv, const char *name, const char *value)
{
    nv->name = (uint8_t *)(uintptr_t)name;
    nv->namelen = strlen(name);
    nv->value = (uint8_t *)(uintptr_t)value;
    nv->valuelen = strlen(value);
    nv->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
}

static int build_headers(void)
{
    size_t i, n;
    int rc;

    /* request headers */
    n = 0;
    set_nv(&g.nva[n++], ":method", g.method);
    set_nv(&g.nva[n++], ":scheme", "https");
    set_nv(&g.nva[n++], ":authority", g.authority);
    set_nv(&g.nva[n++], ":path", g.path);
    set_nv(&g.nva[n++], "user-agent", PROG);
    if (g.send_body) {
        rc = snprintf(g.clen, sizeof(g.clen), "%zu", g.body_len);
        if (rc < 0 || (size_t)rc >= sizeof(g.clen))
            return -1;
        if (g.data_file != NULL && !g.user_content_type)
            set_nv(&g.nva[n++], "content-type", "application/json");
        set_nv(&g.nva[n++], "content-length", g.clen);
    }
    for (i = 0; i < g.n_uh; i++)
        set_nv(&g.nva[n++], g.uh_name[i], g.uh_value[i]);
    g.n_nva = n;

    /* idle-mode probe: GET of the same path, user headers included */
    n = 0;
    set_nv(&g.probe_nva[n++], ":method", "GET");
    set_nv(&g.probe_nva[n++], ":scheme", "https");
    set_nv(&g.probe_nva[n++], ":authority", g.authority);
    set_nv(&g.probe_nva[n++], ":path", g.path);
    set_nv(&g.probe_nva[n++], "user-agent", PROG);
    for (i = 0; i < g.n_uh; i++) {
        if (strcmp(g.uh_name[i], "content-type") == 0)
            continue;
        set_nv(&g.probe_nva[n++], g.uh_name[i], g.uh_value[i]);
    }
    g.n_probe_nva = n;
    return 0;
}

/* Returns 0 ok, 1 help, -1 error. */
static int parse_args(int argc, char **argv)
{
    enum {
        O_URL = 1000, O_CACERT, O_CERT, O_KEY, O_METHOD, O_DATA, O_HEADER,
        O_IDLE, O_HOLD, O_PER_CONN, O_RESUME
    };
    static const struct option longopts[] = {
        { "url", required_argument, NULL, O_URL },
        { "cacert", required_argument, NULL, O_CACERT },
        { "cert", required_argument, NULL, O_CERT },
        { "key", required_argument, NULL, O_KEY },
        { "method", required_argument, NULL, O_METHOD },
        { "data-file", required_argument, NULL, O_DATA },
        { "header", required_argument, NULL, O_HEADER },
        { "idle", required_argument, NULL, O_IDLE },
        { "hold", required_argument, NULL, O_HOLD },
        { "per-conn", required_argument, NULL, O_PER_CONN },
        { "resume", no_argument, NULL, O_RESUME },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    long lv;
    int have_n = 0, have_d = 0, have_c = 0, have_m = 0, have_hold = 0;

    g.nconns = 1;
    g.max_streams = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:m:n:d:h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_URL:
            g.url = optarg;
            break;
        case O_CACERT:
            g.cacert = optarg;
            break;
        case O_CERT:
            g.cert = optarg;
            break;
        case O_KEY:
            g.key = optarg;
            break;
        case O_METHOD:
            if (strcmp(optarg, "POST") == 0)
                g.method = "POST";
            else if (strcmp(optarg, "GET") == 0)
                g.method = "GET";
            else {
                fprintf(stderr, PROG ": --method must be POST or GET\n");
                return -1;
            }
            break;
        case O_DATA:
            g.data_file = optarg;
            break;
        case O_HEADER:
            if (add_user_header(optarg) != 0)
                return -1;
            break;
        case O_IDLE:
            if (parse_long(optarg, 1, MAX_CONNS, &lv) != 0) {
                fprintf(stderr, PROG ": bad --idle value '%s'\n", optarg);
                return -1;
            }
            g.idle_n = (int)lv;
            g.mode = MODE_IDLE;
            break;
        case O_HOLD:
            if (parse_double(optarg, 0.0, 86400.0, &g.hold) != 0) {
                fprintf(stderr, PROG ": bad --hold value '%s'\n", optarg);
                return -1;
            }
            have_hold = 1;
            break;
        case O_PER_CONN:
            if (parse_ull(optarg, 1, 1000000000000ULL, &g.per_conn) != 0) {
                fprintf(stderr, PROG ": bad --per-conn value '%s'\n", optarg);
                return -1;
            }
            break;
        case O_RESUME:
            g.resume = 1;
            break;
        case 'c':
            if (parse_long(optarg, 1, MAX_CONNS, &lv) != 0) {
                fprintf(stderr, PROG ": bad -c value '%s'\n", optarg);
                return -1;
            }
            g.nconns = (int)lv;
            have_c = 1;
            break;
        case 'm':
            if (parse_long(optarg, 1, 100000, &lv) != 0) {
                fprintf(stderr, PROG ": bad -m value '%s'\n", optarg);
                return -1;
            }
            g.max_streams = (unsigned)lv;
            have_m = 1;
            break;
        case 'n':
            if (parse_ull(optarg, 1, 1000000000000ULL, &g.total) != 0) {
                fprintf(stderr, PROG ": bad -n value '%s'\n", optarg);
                return -1;
            }
            have_n = 1;
            break;
        case 'd':
            if (parse_double(optarg, 0.001, 86400.0, &g.duration) != 0) {
                fprintf(stderr, PROG ": bad -d value '%s'\n", optarg);
                return -1;
            }
            have_d = 1;
            break;
        case 'h':
            return 1;
        default:
            fprintf(stderr, PROG ": unknown option or missing argument\n");
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (g.url == NULL || g.cacert == NULL) {
        fprintf(stderr, PROG ": --url and --cacert are required\n");
        return -1;
    }
    if (g.key != NULL && g.cert == NULL) {
        fprintf(stderr, PROG ": --key given without --cert\n");
        return -1;
    }
    if (g.cert != NULL && g.key == NULL)
        g.key = g.cert;
    if (g.mode == MODE_IDLE) {
        if (!have_hold) {
            fprintf(stderr, PROG ": --idle requires --hold\n");
            return -1;
        }
        if (have_n || have_d || have_c || have_m || g.data_file != NULL ||
            g.method != NULL) {
            fprintf(stderr, PROG ": --idle cannot be combined with -n, -d, -c, "
                    "-m, --method or --data-file\n");
            return -1;
        }
        g.method = "GET";
    } else {
        if (have_hold) {
            fprintf(stderr, PROG ": --hold requires --idle\n");
            return -1;
        }
        if (have_n == have_d) {
            fprintf(stderr, PROG ": exactly one of -n or -d is required\n");
            return -1;
        }
        if (g.method == NULL)
            g.method = g.data_file != NULL ? "POST" : "GET";
        if (strcmp(g.method, "GET") == 0 && g.data_file != NULL) {
            fprintf(stderr, PROG ": --data-file cannot be used with GET\n");
            return -1;
        }
        g.send_body = strcmp(g.method, "POST") == 0;
    }
    if (parse_url(g.url) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

static void print_ssl_errors(const char *what)
{
    unsigned long e;
    char buf[256];

    fprintf(stderr, PROG ": %s\n", what);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "  %s\n", buf);
    }
}

static int setup_tls(void)
{
    static const unsigned char alpn[] = { 2, 'h', '2' };

    g.ctx = SSL_CTX_new(TLS_client_method());
    if (g.ctx == NULL) {
        print_ssl_errors("SSL_CTX_new failed");
        return -1;
    }
    if (SSL_CTX_set_min_proto_version(g.ctx, TLS1_2_VERSION) != 1) {
        print_ssl_errors("cannot set minimum TLS version");
        return -1;
    }
    SSL_CTX_set_options(g.ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(g.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                     SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_load_verify_locations(g.ctx, g.cacert, NULL) != 1) {
        print_ssl_errors("cannot load --cacert");
        return -1;
    }
    SSL_CTX_set_verify(g.ctx, SSL_VERIFY_PEER, NULL);
    if (g.cert != NULL) {
        if (SSL_CTX_use_certificate_chain_file(g.ctx, g.cert) != 1) {
            print_ssl_errors("cannot load --cert");
            return -1;
        }
        if (SSL_CTX_use_PrivateKey_file(g.ctx, g.key, SSL_FILETYPE_PEM) != 1) {
            print_ssl_errors("cannot load --key");
            return -1;
        }
        if (SSL_CTX_check_private_key(g.ctx) != 1) {
            print_ssl_errors("--key does not match --cert");
            return -1;
        }
    }
    /* SSL_CTX_set_alpn_protos returns 0 on success */
    if (SSL_CTX_set_alpn_protos(g.ctx, alpn, sizeof(alpn)) != 0) {
        print_ssl_errors("cannot set ALPN");
        return -1;
    }
    return 0;
}

static int resolve(void)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    rc = getaddrinfo(g.host, g.port, &hints, &g.ai);
    if (rc != 0) {
        fprintf(stderr, PROG ": cannot resolve %s: %s\n", g.host,
                gai_strerror(rc));
        return -1;
    }
    return 0;
}

static int raise_nofile(int conns)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)conns + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, PROG ": getrlimit: %s\n", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
        rl.rlim_cur = need;
    } else {
        struct rlimit r2 = { need, need };

        if (setrlimit(RLIMIT_NOFILE, &r2) == 0)
            return 0;
        fprintf(stderr, PROG ": RLIMIT_NOFILE hard limit %llu < %llu needed\n",
                (unsigned long long)rl.rlim_max, (unsigned long long)need);
        return -1;
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, PROG ": setrlimit(RLIMIT_NOFILE, %llu): %s\n",
                (unsigned long long)need, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* accounting                                                          */

static void print_sanitized(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch < 0x7f))
            fputc(ch, stderr);
        else
            fputc('.', stderr);
    }
}

static void report_first_failure(const struct stream *s, uint32_t h2err,
                                 const char *why)
{
    if (g.first_fail_printed)
        return;
    g.first_fail_printed = 1;
    if (s->ended) {
        fprintf(stderr, PROG ": first failure: HTTP status %d, body (%zu "
                "bytes shown): ", s->status, s->resp_len);
        print_sanitized(s->resp, s->resp_len);
        fputc('\n', stderr);
    } else if (why != NULL) {
        fprintf(stderr, PROG ": first failure: %s\n", why);
    } else {
        fprintf(stderr, PROG ": first failure: stream closed before the "
                "response completed (%s, code %u)\n",
                nghttp2_http2_strerror(h2err), (unsigned)h2err);
    }
}

static int record_latency(uint64_t ns)
{
    uint64_t us = ns / 1000u;

    if (g.nlat == g.caplat) {
        size_t ncap = g.caplat != 0 ? g.caplat * 2 : 65536;
        uint32_t *p = realloc(g.lat, ncap * sizeof(*p));

        if (p == NULL)
            return -1;
        g.lat = p;
        g.caplat = ncap;
    }
    g.lat[g.nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    return 0;
}

static void stream_unlink(struct conn *c, struct stream *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    if (c->inflight > 0)
        c->inflight--;
}

/* Final accounting for one stream; frees it. */
static void stream_done(struct conn *c, struct stream *s, uint32_t h2err,
                        const char *why)
{
    uint64_t t = now_ns();

    stream_unlink(c, s);
    if (s->is_probe) {
        if (s->ended) {
            c->probe_done = 1;
            g.idle_established++;
            g.idle_alive++;
            g.t_progress = t;
            if ((s->status < 200 || s->status > 299) && !g.probe_warned) {
                g.probe_warned = 1;
                fprintf(stderr, PROG ": warning: probe GET %s returned HTTP "
                        "%d (connection counted as established)\n", g.path,
                        s->status);
            }
        } else if (!c->close_req) {
            c->close_req = 1;
            if (why != NULL)
                snprintf(c->err, sizeof(c->err), "probe request failed: %s",
                         why);
            else
                snprintf(c->err, sizeof(c->err), "probe request failed: "
                         "stream closed with %s",
                         nghttp2_http2_strerror(h2err));
        }
        free(s);
        return;
    }
    if (!s->ended && h2err == NGHTTP2_REFUSED_STREAM && !g.stopping) {
        /*
         * Refused (RST_STREAM REFUSED_STREAM, above the GOAWAY
         * last-stream-id, or never sent): the server did not process it,
         * so hand it back to be issued again.  No progress is recorded, so
         * a server that refuses everything still trips the no-progress
         * timeout.
         */
        g.issued--;
        g.retried++;
        g.need_kick = 1;
        free(s);
        return;
    }
    if (s->ended && s->status >= 200 && s->status <= 299) {
        g.ok++;
    } else {
        g.failed++;
        report_first_failure(s, h2err, why);
    }
    if (s->ended && record_latency(s->t_end - s->t_submit) != 0) {
        fprintf(stderr, PROG ": out of memory recording latencies\n");
        g.stopping = 1;
    }
    g.t_progress = t;
    free(s);
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                   */

static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id,
                            uint8_t *buf, size_t length, uint32_t *data_flags,
                            nghttp2_data_source *source, void *user_data)
{
    struct stream *s = source->ptr;
    size_t rem, n;

    (void)session;
    (void)stream_id;
    (void)user_data;
    rem = g.body_len - s->body_off;
    n = rem < length ? rem : length;
    if (n > 0)
        memcpy(buf, g.body + s->body_off, n);
    s->body_off += n;
    if (s->body_off == g.body_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame,
                        const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user_data)
{
    struct stream *s;

    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (namelen != 7 || memcmp(name, ":status", 7) != 0)
        return 0;
    s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL)
        return 0;
    if (valuelen == 3 && value[0] >= '1' && value[0] <= '5' &&
        value[1] >= '0' && value[1] <= '9' &&
        value[2] >= '0' && value[2] <= '9')
        s->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 +
                    (value[2] - '0');
    else
        s->status = -1;
    return 0;
}

static int on_frame_recv_cb(nghttp2_session *session,
                            const nghttp2_frame *frame, void *user_data)
{
    struct conn *c = user_data;
    struct stream *s;

    switch (frame->hd.type) {
    case NGHTTP2_DATA:
    case NGHTTP2_HEADERS:
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0)
            break;
        s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (s != NULL && !s->ended) {
            s->ended = 1;
            s->t_end = now_ns();
        }
        break;
    case NGHTTP2_GOAWAY:
        c->goaway = 1;
        c->goaway_code = frame->goaway.error_code;
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv_cb(nghttp2_session *session, uint8_t flags,
                                 int32_t stream_id, const uint8_t *data,
                                 size_t len, void *user_data)
{
    struct stream *s;
    size_t room, n;

    (void)flags;
    (void)user_data;
    s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s == NULL)
        return 0;
    room = sizeof(s->resp) - s->resp_len;
    n = len < room ? len : room;
    if (n > 0) {
        memcpy(s->resp + s->resp_len, data, n);
        s->resp_len += n;
    }
    return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id,
                              uint32_t error_code, void *user_data)
{
    struct conn *c = user_data;
    struct stream *s;

    s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s == NULL)
        return 0;
    stream_done(c, s, error_code, NULL);
    return 0;
}

static int on_frame_not_send_cb(nghttp2_session *session,
                                const nghttp2_frame *frame, int lib_error_code,
                                void *user_data)
{
    struct conn *c = user_data;
    struct stream *s;
    char why[128];

    if (frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    for (s = c->streams; s != NULL; s = s->next) {
        if (s->id == frame->hd.stream_id)
            break;
    }
    if (s == NULL)
        return 0;
    /* If nghttp2 opened the stream it will report it via on_stream_close. */
    if (nghttp2_session_find_stream(session, frame->hd.stream_id) != NULL)
        return 0;
    snprintf(why, sizeof(why), "request not sent: %s",
             nghttp2_strerror(lib_error_code));
    stream_done(c, s, NGHTTP2_REFUSED_STREAM, why);
    return 0;
}

static int setup_callbacks(void)
{
    if (nghttp2_session_callbacks_new(&g.cbs) != 0) {
        fprintf(stderr, PROG ": nghttp2_session_callbacks_new failed\n");
        return -1;
    }
    nghttp2_session_callbacks_set_on_header_callback(g.cbs, on_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(g.cbs,
                                                         on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        g.cbs, on_data_chunk_recv_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(g.cbs,
                                                           on_stream_close_cb);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(
        g.cbs, on_frame_not_send_cb);
    return 0;
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

static int can_issue(void)
{
    if (g.mode != MODE_LOAD || g.stopping)
        return 0;
    if (g.total > 0)
        return g.issued < g.total;
    return now_ns() < g.t_end;
}

/* (Re)arm epoll for what the connection waits on. 0 ok, -1 error. */
static int conn_update_events(struct conn *c)
{
    struct epoll_event ev;
    uint32_t want = EPOLLIN;

    if (c->fd < 0)
        return 0;
    switch (c->st) {
    case C_CONNECTING:
        want = EPOLLOUT;
        break;
    case C_HANDSHAKE:
        if (c->hs_want_write)
            want |= EPOLLOUT;
        break;
    case C_OPEN:
        if (c->wr_blocked || c->rd_want_write)
            want |= EPOLLOUT;
        break;
    default:
        return 0;
    }
    if (c->registered && want == c->evmask)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.events = want;
    ev.data.ptr = c;
    if (epoll_ctl(g.epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                  c->fd, &ev) != 0) {
        snprintf(c->err, sizeof(c->err), "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    c->registered = 1;
    c->evmask = want;
    return 0;
}

static void note_conn_error(struct conn *c, const char *reason)
{
    if (g.conn_err_printed < MAX_CONN_ERR_PRINT) {
        fprintf(stderr, PROG ": connection %d: %s\n", c->idx, reason);
    } else if (g.conn_err_printed == MAX_CONN_ERR_PRINT) {
        fprintf(stderr, PROG ": (further connection errors suppressed)\n");
    }
    g.conn_err_printed++;
}

static int conn_start(struct conn *c);

/*
 * Tear a connection down.  reason != NULL means an error (printed, and any
 * in-flight requests are counted as failed with that reason).
 */
static void conn_close(struct conn *c, const char *reason)
{
    int reconnect;
    char why[300];

    if (c->st == C_UNUSED || c->st == C_CLOSED)
        return;
    if (reason != NULL) {
        snprintf(why, sizeof(why), "connection error: %s", reason);
        note_conn_error(c, reason);
    } else {
        snprintf(why, sizeof(why), "connection closed");
    }
    if (c->st == C_CONNECTING || c->st == C_HANDSHAKE)
        g.connecting--;
    if (c->h2 != NULL) {
        nghttp2_session_del(c->h2);
        c->h2 = NULL;
    }
    while (c->streams != NULL)
        stream_done(c, c->streams, NGHTTP2_CANCEL, why);
    /*
     * -d mode: a connection that dies before carrying a single request
     * (refused, TLS failure, ...) counts as one failed request so that the
     * failure is visible in the totals.  In -n mode unsent requests are
     * counted as failed at the end instead.
     */
    if (reason != NULL && g.mode == MODE_LOAD && g.total == 0 &&
        c->submitted == 0 && !g.stopping) {
        g.failed++;
        if (!g.first_fail_printed) {
            g.first_fail_printed = 1;
            fprintf(stderr, PROG ": first failure: %s\n", why);
        }
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    free(c->wbuf);
    c->wbuf = NULL;
    c->wcap = c->wlen = c->woff = 0;
    c->registered = 0;
    c->evmask = 0;
    c->st = C_CLOSED;
    g.live--;

    if (g.mode == MODE_IDLE) {
        if (c->probe_done) {
            g.idle_alive--;
            if (g.idle_holding && reason == NULL)
                note_conn_error(c, "closed by server during hold");
        } else {
            g.idle_failed++;
        }
        return;
    }
    /* Graceful GOAWAY (e.g. max requests per connection): reconnect. */
    reconnect = c->was_open && c->goaway && c->goaway_code == NGHTTP2_NO_ERROR &&
                !g_interrupted && can_issue();
    if (reconnect)
        (void)conn_start(c);
}

static void conn_fail(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void conn_fail(struct conn *c, const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    conn_close(c, buf);
}

static void ssl_error_text(SSL *ssl, int rv, int err, char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    long vr;

    if (e != 0) {
        char tmp[200];

        ERR_error_string_n(e, tmp, sizeof(tmp));
        vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr != X509_V_OK)
            snprintf(buf, len, "%s (verify: %s)", tmp,
                     X509_verify_cert_error_string(vr));
        else
            snprintf(buf, len, "%s", tmp);
        ERR_clear_error();
        return;
    }
    if (err == SSL_ERROR_SYSCALL) {
        if (rv == 0 || errno == 0)
            snprintf(buf, len, "unexpected EOF from server");
        else
            snprintf(buf, len, "%s", strerror(errno));
        return;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
        snprintf(buf, len, "server closed the TLS session");
        return;
    }
    snprintf(buf, len, "TLS error %d", err);
}

/* Pull frames from nghttp2 and push them through TLS. 0 ok, -1 fatal. */
static int conn_write(struct conn *c)
{
    for (;;) {
        int n, err;

        if (c->woff == c->wlen) {
            c->woff = c->wlen = 0;
            while (c->wlen < WBUF_HIGH) {
                const uint8_t *data;
                ssize_t got = nghttp2_session_mem_send(c->h2, &data);

                if (got < 0) {
                    snprintf(c->err, sizeof(c->err), "nghttp2 send: %s",
                             nghttp2_strerror((int)got));
                    return -1;
                }
                if (got == 0)
                    break;
                if (c->wlen + (size_t)got > c->wcap) {
                    size_t ncap = c->wcap != 0 ? c->wcap : 16384;
                    uint8_t *p;

                    while (ncap < c->wlen + (size_t)got)
                        ncap *= 2;
                    p = realloc(c->wbuf, ncap);
                    if (p == NULL) {
                        snprintf(c->err, sizeof(c->err), "out of memory");
                        return -1;
                    }
                    c->wbuf = p;
                    c->wcap = ncap;
                }
                memcpy(c->wbuf + c->wlen, data, (size_t)got);
                c->wlen += (size_t)got;
            }
            if (c->wlen == 0) {
                c->wr_blocked = 0;
                return 0;
            }
        }
        ERR_clear_error();
        errno = 0;
        n = SSL_write(c->ssl, c->wbuf + c->woff,
                      (int)(c->wlen - c->woff > INT_MAX ? INT_MAX
                                                        : c->wlen - c->woff));
        if (n > 0) {
            c->woff += (size_t)n;
            c->wr_blocked = 0;
            continue;
        }
        err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_WRITE) {
            c->wr_blocked = 1;
            return 0;
        }
        if (err == SSL_ERROR_WANT_READ) {
            /* EPOLLIN is always armed; we retry the write on any event. */
            c->wr_blocked = 0;
            return 0;
        }
        ssl_error_text(c->ssl, n, err, c->err, sizeof(c->err));
        return -1;
    }
}

/* Read everything TLS has for us and feed nghttp2. 0 ok, -1 fatal. */
static int conn_read(struct conn *c)
{
    int i;

    for (i = 0; i < READS_PER_EVENT || SSL_has_pending(c->ssl); i++) {
        int n, err;

        ERR_clear_error();
        errno = 0;
        n = SSL_read(c->ssl, g.rbuf, (int)sizeof(g.rbuf));
        if (n > 0) {
            ssize_t rv = nghttp2_session_mem_recv(c->h2, g.rbuf, (size_t)n);

            c->rd_want_write = 0;
            if (rv < 0) {
                snprintf(c->err, sizeof(c->err), "nghttp2 recv: %s",
                         nghttp2_strerror((int)rv));
                return -1;
            }
            if (c->close_req)
                return 0;
            continue;
        }
        err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ) {
            c->rd_want_write = 0;
            return 0;
        }
        if (err == SSL_ERROR_WANT_WRITE) {
            c->rd_want_write = 1;
            return 0;
        }
        ssl_error_text(c->ssl, n, err, c->err, sizeof(c->err));
        return -1;
    }
    return 0;
}

static int submit_one(struct conn *c, int probe)
{
    struct stream *s;
    nghttp2_data_provider prd;
    int32_t id;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return -1;
    }
    s->c = c;
    s->is_probe = probe;
    s->t_submit = now_ns();
    prd.source.ptr = s;
    prd.read_callback = body_read_cb;
    if (probe)
        id = nghttp2_submit_request(c->h2, NULL, g.probe_nva, g.n_probe_nva,
                                    NULL, s);
    else
        id = nghttp2_submit_request(c->h2, NULL, g.nva, g.n_nva,
                                    g.send_body ? &prd : NULL, s);
    if (id < 0) {
        snprintf(c->err, sizeof(c->err), "nghttp2_submit_request: %s",
                 nghttp2_strerror(id));
        free(s);
        return -1;
    }
    s->id = id;
    s->next = c->streams;
    if (c->streams != NULL)
        c->streams->prev = s;
    c->streams = s;
    c->inflight++;
    c->submitted++;
    if (!probe)
        g.issued++;
    return 0;
}

static int conn_fill(struct conn *c)
{
    uint32_t remote_max;
    unsigned limit;

    if (g.mode != MODE_LOAD || c->st != C_OPEN || c->goaway || c->close_req)
        return 0;
    remote_max = nghttp2_session_get_remote_settings(
        c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    limit = g.max_streams;
    if (remote_max < limit)
        limit = remote_max;
    while (c->inflight < limit && can_issue() &&
           (g.per_conn == 0 || c->submitted < g.per_conn)) {
        if (submit_one(c, 0) != 0)
            return -1;
    }
    return 0;
}

/* --per-conn: its requests are done; keep its newest session (--resume), close it cleanly
 * (a session freed without close_notify is not resumable) and open the next one. */
static void conn_recycle(struct conn *c)
{
    if (g.resume) {
        SSL_SESSION *s = SSL_get1_session(c->ssl);

        if (s != NULL) {
            SSL_SESSION_free(g.session);
            g.session = s;
        }
    }
    (void)SSL_shutdown(c->ssl);
    conn_close(c, NULL);
    if (can_issue() && !g_interrupted)
        (void)conn_start(c);
}

/* Drive an open connection after readiness. */
static void conn_io(struct conn *c)
{
    if (conn_read(c) != 0) {
        conn_close(c, c->err);
        return;
    }
    if (c->close_req) {
        conn_close(c, c->err[0] != '\0' ? c->err : "closed");
        return;
    }
    if (conn_fill(c) != 0) {
        conn_close(c, c->err);
        return;
    }
    if (conn_write(c) != 0) {
        conn_close(c, c->err);
        return;
    }
    if (c->close_req) {
        conn_close(c, c->err[0] != '\0' ? c->err : "closed");
        return;
    }
    if (g.per_conn && c->submitted >= g.per_conn && c->inflight == 0 && c->woff == c->wlen) {
        conn_recycle(c);
        return;
    }
    if (c->goaway && c->inflight == 0) {
        if (c->goaway_code == NGHTTP2_NO_ERROR) {
            conn_close(c, NULL);
        } else {
            char buf[96];

            snprintf(buf, sizeof(buf), "GOAWAY from server: %s",
                     nghttp2_http2_strerror(c->goaway_code));
            conn_close(c, buf);
        }
        return;
    }
    if (!nghttp2_session_want_read(c->h2) &&
        !nghttp2_session_want_write(c->h2) && c->woff == c->wlen) {
        conn_close(c, c->goaway ? "GOAWAY from server" : "HTTP/2 session ended");
        return;
    }
    if (conn_update_events(c) != 0)
        conn_close(c, c->err);
}

static void conn_established(struct conn *c)
{
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    nghttp2_settings_entry iv[2];
    int rv;

    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
        conn_fail(c, "server did not negotiate ALPN h2");
        return;
    }
    rv = nghttp2_session_client_new(&c->h2, g.cbs, c);
    if (rv != 0) {
        conn_fail(c, "nghttp2_session_client_new: %s", nghttp2_strerror(rv));
        return;
    }
    iv[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
    iv[0].value = 0;
    iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[1].value = LOCAL_WINDOW;
    rv = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
    if (rv != 0) {
        conn_fail(c, "nghttp2_submit_settings: %s", nghttp2_strerror(rv));
        return;
    }
    rv = nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
                                               LOCAL_WINDOW * 4);
    if (rv != 0) {
        conn_fail(c, "nghttp2_session_set_local_window_size: %s",
                  nghttp2_strerror(rv));
        return;
    }
    c->st = C_OPEN;
    c->was_open = 1;
    g.connecting--;
    g.conns_opened++;
    g.conns_resumed += SSL_session_reused(c->ssl) == 1;
    g.t_progress = now_ns();
    if (g.mode == MODE_IDLE) {
        if (submit_one(c, 1) != 0) {
            conn_close(c, c->err);
            return;
        }
    }
    conn_io(c);
}

static void conn_handshake(struct conn *c)
{
    int rv, err;

    ERR_clear_error();
    errno = 0;
    rv = SSL_do_handshake(c->ssl);
    if (rv == 1) {
        c->hs_want_write = 0;
        conn_established(c);
        return;
    }
    err = SSL_get_error(c->ssl, rv);
    if (err == SSL_ERROR_WANT_READ) {
        c->hs_want_write = 0;
    } else if (err == SSL_ERROR_WANT_WRITE) {
        c->hs_want_write = 1;
    } else {
        char buf[256];

        ssl_error_text(c->ssl, rv, err, buf, sizeof(buf));
        conn_fail(c, "TLS handshake: %s", buf);
        return;
    }
    if (conn_update_events(c) != 0)
        conn_close(c, c->err);
}

static void conn_tls_begin(struct conn *c)
{
    c->ssl = SSL_new(g.ctx);
    if (c->ssl == NULL) {
        conn_fail(c, "SSL_new failed");
        return;
    }
    if (SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_fail(c, "SSL_set_fd failed");
        return;
    }
    SSL_set_connect_state(c->ssl);
    if (g.resume && g.session != NULL && SSL_set_session(c->ssl, g.session) != 1) {
        conn_fail(c, "SSL_set_session failed");
        return;
    }
    if (!g.host_is_ip && SSL_set_tlsext_host_name(c->ssl, g.host) != 1) {
        conn_fail(c, "cannot set SNI");
        return;
    }
    c->st = C_HANDSHAKE;
    conn_handshake(c);
}

/* Start (or restart) a connection.  0 if started, -1 if it failed. */
static int conn_start(struct conn *c)
{
    int fd, one = 1, rc;

    c->fd = -1;
    c->ssl = NULL;
    c->h2 = NULL;
    c->registered = 0;
    c->evmask = 0;
    c->hs_want_write = c->wr_blocked = c->rd_want_write = 0;
    c->wbuf = NULL;
    c->wcap = c->wlen = c->woff = 0;
    c->streams = NULL;
    c->inflight = 0;
    c->goaway = 0;
    c->goaway_code = 0;
    c->close_req = 0;
    c->was_open = 0;
    c->probe_done = 0;
    c->submitted = 0;
    c->err[0] = '\0';
    c->st = C_CONNECTING;
    g.live++;
    g.connecting++;

    fd = socket(g.ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                g.ai->ai_protocol);
    if (fd < 0) {
        conn_fail(c, "socket: %s", strerror(errno));
        return -1;
    }
    c->fd = fd;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        conn_fail(c, "setsockopt(TCP_NODELAY): %s", strerror(errno));
        return -1;
    }
    rc = connect(fd, g.ai->ai_addr, g.ai->ai_addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect: %s", strerror(errno));
        return -1;
    }
    if (conn_update_events(c) != 0) {
        conn_close(c, c->err);
        return -1;
    }
    if (rc == 0)
        conn_tls_begin(c);
    return c->st == C_CLOSED ? -1 : 0;
}

static void conn_event(struct conn *c, uint32_t events)
{
    switch (c->st) {
    case C_CONNECTING: {
        int soerr = 0;
        socklen_t slen = sizeof(soerr);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0)
            soerr = errno;
        if (soerr != 0) {
            conn_fail(c, "connect: %s", strerror(soerr));
            return;
        }
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
            return;
        conn_tls_begin(c);
        return;
    }
    case C_HANDSHAKE:
        conn_handshake(c);
        return;
    case C_OPEN:
        conn_io(c);
        return;
    default:
        return;
    }
}

/* Best-effort graceful shutdown at the end of the run. */
static void conn_shutdown(struct conn *c)
{
    if (c->st == C_OPEN && c->h2 != NULL && c->ssl != NULL) {
        if (nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR) == 0)
            (void)conn_write(c);
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    conn_close(c, NULL);
}

/* ------------------------------------------------------------------ */
/* main loops                                                          */

static int wait_events(uint64_t wake_at)
{
    struct epoll_event evs[EPOLL_BATCH];
    uint64_t t = now_ns();
    int timeout_ms = 1000;
    int n, i;

    if (wake_at != 0) {
        if (wake_at <= t)
            timeout_ms = 0;
        else if (wake_at - t < 1000000000ULL)
            timeout_ms = (int)((wake_at - t + 999999ULL) / 1000000ULL);
    }
    n = epoll_wait(g.epfd, evs, EPOLL_BATCH, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
        return -1;
    }
    for (i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;

        conn_event(c, evs[i].events);
    }
    return 0;
}

static void start_pending(int total)
{
    while (g.next_start < total && g.connecting < MAX_CONNECTING &&
           !g_interrupted) {
        struct conn *c = &g.conns[g.next_start];

        c->idx = g.next_start;
        g.next_start++;
        (void)conn_start(c);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static uint32_t percentile(double p)
{
    size_t rank;

    if (g.nlat == 0)
        return 0;
    rank = (size_t)((p / 100.0) * (double)g.nlat + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > g.nlat)
        rank = g.nlat;
    return g.lat[rank - 1];
}

static int run_load(void)
{
    uint64_t t_finish, wake;
    double secs;
    int i, aborted = 0;
    const char *abort_reason = NULL;

    g.t_start = now_ns();
    g.t_progress = g.t_start;
    if (g.total == 0) {
        g.t_end = g.t_start + (uint64_t)(g.duration * 1e9);
        g.t_hard = g.t_end + GRACE_NS;
    }
    for (;;) {
        uint64_t t;

        start_pending(g.nconns);
        t = now_ns();
        if (g_interrupted) {
            aborted = 1;
            abort_reason = "interrupted";
            break;
        }
        if (!can_issue() && g.issued == g.ok + g.failed)
            break;
        if (g.live == 0 && g.next_start >= g.nconns)
            break;
        if (g.t_hard != 0 && t >= g.t_hard) {
            aborted = 1;
            abort_reason = "overall timeout (duration + 30 s)";
            break;
        }
        if (t - g.t_progress >= PROGRESS_TIMEOUT_NS) {
            aborted = 1;
            abort_reason = "no progress for 30 s";
            break;
        }
        /* in -n mode with no more work, any conn still waiting can't help */
        if (g.stopping) {
            aborted = 1;
            abort_reason = "stopping";
            break;
        }
        wake = g.t_progress + PROGRESS_TIMEOUT_NS;
        if (g.total == 0 && t < g.t_end && g.t_end < wake)
            wake = g.t_end;
        if (g.t_hard != 0 && g.t_hard < wake)
            wake = g.t_hard;
        if (wait_events(wake) != 0) {
            aborted = 1;
            abort_reason = "event loop error";
            break;
        }
        if (g.need_kick) {
            /* re-issued requests: let idle connections pick them up */
            g.need_kick = 0;
            for (i = 0; i < g.next_start; i++) {
                if (g.conns[i].st == C_OPEN)
                    conn_io(&g.conns[i]);
            }
        }
    }
    t_finish = now_ns();
    g.stopping = 1;
    if (aborted)
        fprintf(stderr, PROG ": aborting: %s\n", abort_reason);
    for (i = 0; i < g.next_start; i++) {
        struct conn *c = &g.conns[i];

        if (c->st == C_CLOSED || c->st == C_UNUSED)
            continue;
        if (c->inflight > 0)
            conn_close(c, abort_reason != NULL ? abort_reason : "aborted");
        else
            conn_shutdown(c);
    }
    if (g.total > 0 && g.issued < g.total) {
        if (!g.first_fail_printed) {
            g.first_fail_printed = 1;
            fprintf(stderr, PROG ": first failure: %llu request(s) could not "
                    "be sent (no usable connection)\n", g.total - g.issued);
        }
        g.failed += g.total - g.issued;
    }

    if (g.retried > 0)
        fprintf(stderr, PROG ": %llu refused stream(s) were re-issued\n",
                g.retried);
    secs = (double)(t_finish - g.t_start) / 1e9;
    if (g.nlat > 0)
        qsort(g.lat, g.nlat, sizeof(g.lat[0]), cmp_u32);
    printf("requests=%llu ok=%llu failed=%llu seconds=%.3f rps=%.1f "
           "p50_us=%" PRIu32 " p99_us=%" PRIu32 " max_us=%" PRIu32
           " connections=%llu resumed=%llu\n",
           g.ok + g.failed, g.ok, g.failed, secs,
           secs > 0.0 ? (double)g.ok / secs : 0.0,
           percentile(50.0), percentile(99.0),
           g.nlat > 0 ? g.lat[g.nlat - 1] : 0, g.conns_opened, g.conns_resumed);
    SSL_SESSION_free(g.session);
    if (fflush(stdout) != 0)
        return 2;
    return (g.failed == 0 && g.ok > 0) ? 0 : 1;
}

static int run_idle(void)
{
    uint64_t hold_end = 0;
    int i, ret = 0, held;

    g.t_start = now_ns();
    g.t_progress = g.t_start;
    /* establishment phase */
    for (;;) {
        uint64_t t;

        start_pending(g.idle_n);
        if (g.idle_established + g.idle_failed >= g.idle_n)
            break;
        if (g_interrupted) {
            fprintf(stderr, PROG ": interrupted\n");
            ret = 1;
            goto out;
        }
        t = now_ns();
        if (t - g.t_progress >= PROGRESS_TIMEOUT_NS) {
            fprintf(stderr, PROG ": no progress establishing connections for "
                    "30 s\n");
            for (i = 0; i < g.next_start; i++) {
                struct conn *c = &g.conns[i];

                if (c->st != C_CLOSED && c->st != C_UNUSED && !c->probe_done)
                    conn_close(c, "not established within 30 s");
            }
            g.idle_failed += g.idle_n - g.next_start;
            g.next_start = g.idle_n;
            continue;
        }
        if (wait_events(g.t_progress + PROGRESS_TIMEOUT_NS) != 0) {
            ret = 1;
            goto out;
        }
    }
    printf("idle_connections=%d\n", g.idle_alive);
    if (fflush(stdout) != 0) {
        ret = 2;
        goto out;
    }
    if (g.idle_alive < g.idle_n) {
        fprintf(stderr, PROG ": only %d of %d connections established\n",
                g.idle_alive, g.idle_n);
        ret = 1;
    }
    if (g.idle_alive == 0)
        goto out;

    /* hold phase */
    g.idle_holding = 1;
    hold_end = now_ns() + (uint64_t)(g.hold * 1e9);
    while (now_ns() < hold_end && g.idle_alive > 0 && !g_interrupted) {
        if (wait_events(hold_end) != 0) {
            ret = 1;
            break;
        }
    }
    g.idle_holding = 0;
    if (g_interrupted) {
        fprintf(stderr, PROG ": interrupted\n");
        ret = 1;
    }
    held = g.idle_alive;
    printf("idle_held=%d\n", held);
    if (fflush(stdout) != 0)
        ret = 2;
    if (held < g.idle_n && ret == 0)
        ret = 1;
out:
    for (i = 0; i < g.next_start; i++)
        conn_shutdown(&g.conns[i]);
    return ret;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int ret = 2, rc, nslots, i;

    g.epfd = -1;
    rc = parse_args(argc, argv);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc != 0) {
        usage(stderr);
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) {
        fprintf(stderr, PROG ": sigaction: %s\n", strerror(errno));
        goto out;
    }
    sa.sa_handler = on_signal;
    if (sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGTERM, &sa, NULL) != 0) {
        fprintf(stderr, PROG ": sigaction: %s\n", strerror(errno));
        goto out;
    }

    if (g.data_file != NULL && load_file(g.data_file, &g.body, &g.body_len) != 0)
        goto out;
    if (build_headers() != 0) {
        fprintf(stderr, PROG ": cannot build request headers\n");
        goto out;
    }
    if (resolve() != 0)
        goto out;
    if (setup_tls() != 0)
        goto out;
    if (setup_callbacks() != 0)
        goto out;

    nslots = g.mode == MODE_IDLE ? g.idle_n : g.nconns;
    if (raise_nofile(nslots) != 0)
        goto out;
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g.epfd < 0) {
        fprintf(stderr, PROG ": epoll_create1: %s\n", strerror(errno));
        goto out;
    }
    g.conns = calloc((size_t)nslots, sizeof(*g.conns));
    if (g.conns == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    g.nconn_slots = nslots;
    for (i = 0; i < nslots; i++) {
        g.conns[i].fd = -1;
        g.conns[i].idx = i;
    }

    if (g.mode == MODE_IDLE)
        ret = run_idle();
    else
        ret = run_load();
out:
    if (g.conns != NULL) {
        for (i = 0; i < g.nconn_slots; i++)
            conn_close(&g.conns[i], NULL);
    }
    free(g.conns);
    if (g.epfd >= 0)
        close(g.epfd);
    if (g.cbs != NULL)
        nghttp2_session_callbacks_del(g.cbs);
    SSL_CTX_free(g.ctx);
    if (g.ai != NULL)
        freeaddrinfo(g.ai);
    for (i = 0; i < (int)g.n_uh; i++) {
        free(g.uh_name[i]);
        free(g.uh_value[i]);
    }
    free(g.body);
    free(g.lat);
    free(g.host);
    free(g.port);
    free(g.authority);
    free(g.path);
    return ret;
}
