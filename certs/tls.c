#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "../protocol/buf.h"
#include "partner.h"

static int verify_err_idx = -1;

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    /* Keep going, and remember the first error (the root cause: an untrusted issuer rather
     * than the missing CRL that follows from it). The request is then refused with that
     * message instead of a bare TLS alert. */
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());

    if (!ok && ssl && SSL_get_ex_data(ssl, verify_err_idx) == NULL)
        SSL_set_ex_data(ssl, verify_err_idx,
                        (void *)X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    return 1;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned int i = 0; i < inlen;) {
        unsigned int n = in[i];

        if (i + 1 + n > inlen)
            break;
        if (n == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    /* No h2 offered: finish the handshake without ALPN; the connection then only gets an
     * HTTP/1.1 error response telling the client to use HTTP/2. */
    return SSL_TLSEXT_ERR_NOACK;
}

static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char es[256];

    ERR_error_string_n(e, es, sizeof(es));
    snprintf(err, errlen, "%s %s: %s", what, file ? file : "", es);
    ERR_clear_error();
}

/* ---- session tickets, one key set for all workers ---- */

struct ticket_keys {
    unsigned char name[16], aes[32], mac[32];
};

/* What a ticket carries besides the session (its app data): when the client last made a full
 * handshake (CLOCK_BOOTTIME seconds: the same for every process of the machine, never stepped)
 * and the earliest notAfter of its verified chain (wall clock). */
struct ticket_auth {
    unsigned char version; /* 1; 0: the session may not resume */
    unsigned char auth_time[8], not_after[8];
};

static struct {
    struct ticket_keys cur, prev;
    int have_cur, have_prev;
} T;
static int64_t clock_offset; /* tests */

static int64_t boot_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec + clock_offset;
}

static int64_t wall_now(void)
{
    return (int64_t)time(NULL) + clock_offset;
}

static void put64(unsigned char b[8], int64_t v)
{
    for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
        b[i] = (unsigned char)v;
}

static int64_t get64(const unsigned char b[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}

int tls_tickets_rotate(const unsigned char secret[TLS_TICKET_SECRET])
{
    static const char *const label[3] = {"portseal ticket name", "portseal ticket aes",
                                         "portseal ticket mac"};
    struct ticket_keys k;
    unsigned char *out[3] = {k.name, k.aes, k.mac}, h[32];
    size_t len[3] = {sizeof(k.name), sizeof(k.aes), sizeof(k.mac)}, hl;
    int ok = 1;

    for (int i = 0; i < 3 && ok; i++) {
        ok =
            EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, TLS_TICKET_SECRET,
                      (const unsigned char *)label[i], strlen(label[i]), h, sizeof(h), &hl) != NULL;
        memcpy(out[i], h, len[i]);
    }
    if (ok) {
        T.prev = T.cur;
        T.have_prev = T.have_cur;
        T.cur = k;
        T.have_cur = 1;
    }
    OPENSSL_cleanse(h, sizeof(h));
    OPENSSL_cleanse(&k, sizeof(k));
    return ok ? PS_OK : PS_E_CRYPTO;
}

void tls_tickets_forget(void)
{
    OPENSSL_cleanse(&T, sizeof(T));
}

void tls_tickets_set_clock_offset(int64_t seconds)
{
    clock_offset = seconds;
}

static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    const struct ticket_keys *k = &T.cur;
    OSSL_PARAM params[3];

    (void)ssl;
    if (!T.have_cur)
        return 0; /* no keys (yet): no ticket, or a full handshake */
    if (enc) {
        memcpy(name, k->name, sizeof(k->name));
        if (RAND_bytes(iv, 16) != 1)
            return 0; /* no ticket this time */
    } else if (CRYPTO_memcmp(name, T.cur.name, sizeof(T.cur.name)) != 0) {
        if (!T.have_prev || CRYPTO_memcmp(name, T.prev.name, sizeof(T.prev.name)) != 0)
            return 0; /* an older key, or another appliance's: a full handshake */
        k = &T.prev;
    }
    params[0] =
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->mac, sizeof(k->mac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    if (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1
            : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
        return -1;
    return 1; /* the decrypt callback below renews every ticket anyway */
}

/* The earliest notAfter of the chain verified in this handshake; 0 if it cannot be read. */
static int64_t chain_not_after(SSL *ssl)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
    int64_t min = 0;

    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        struct tm tm;
        int64_t t;

        if (ASN1_TIME_to_tm(X509_get0_notAfter(sk_X509_value(chain, i)), &tm) != 1)
            return 0;
        t = (int64_t)timegm(&tm);
        if (min == 0 || t < min)
            min = t;
    }
    return min;
}

/*
 * A ticket records whether the session's client certificate was verified under client_ca, when
 * that full handshake was and when its chain expires. Only such sessions resume: a partner's
 * certificate is identified with its whole chain (partner_identify), which a resumed session
 * no longer has. A resumed session's new ticket keeps what the first one said (TLS 1.3
 * restarts a session's own timeout with each ticket; this does not).
 */
static int ticket_gen_cb(SSL *ssl, void *arg)
{
    SSL_SESSION *sess = SSL_get0_session(ssl);
    struct ticket_auth a;
    void *old = NULL;
    size_t len = 0;

    (void)arg;
    if (SSL_session_reused(ssl) && SSL_SESSION_get0_ticket_appdata(sess, &old, &len) == 1 &&
        len == sizeof(a))
        return 1;
    memset(&a, 0, sizeof(a));
    if (!SSL_session_reused(ssl) && SSL_get0_peer_certificate(ssl) != NULL &&
        SSL_get_verify_result(ssl) == X509_V_OK) {
        int64_t na = chain_not_after(ssl);

        a.version = na > 0;
        put64(a.auth_time, boot_now());
        put64(a.not_after, na);
    }
    return SSL_SESSION_set1_ticket_appdata(sess, &a, sizeof(a));
}

static SSL_TICKET_RETURN ticket_dec_cb(SSL *ssl, SSL_SESSION *ss, const unsigned char *keyname,
                                       size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
    int64_t lifetime = (int64_t)(uintptr_t)arg;
    struct ticket_auth a;
    void *data = NULL;
    size_t len = 0;

    (void)ssl;
    (void)keyname;
    (void)keyname_len;
    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW)
        return status == SSL_TICKET_EMPTY || status == SSL_TICKET_NO_DECRYPT
                   ? SSL_TICKET_RETURN_IGNORE_RENEW
                   : SSL_TICKET_RETURN_ABORT;
    if (SSL_SESSION_get0_ticket_appdata(ss, &data, &len) != 1 || len != sizeof(a))
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    memcpy(&a, data, sizeof(a));
    /* not verified; a full handshake longer ago than the lifetime (the CRL and the chain are
     * checked again then); a chain that has expired since: a full handshake, which then
     * refuses it with its reason */
    if (a.version != 1 || boot_now() - get64(a.auth_time) > lifetime ||
        wall_now() >= get64(a.not_after))
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    /* always a new ticket: TLS 1.3 clients use each one once (RFC 8446 C.4), and a server
     * that resumes without renewing sends none */
    return SSL_TICKET_RETURN_USE_RENEW;
}

int tls_tickets_install(SSL_CTX *ctx, unsigned lifetime)
{
    /* no server-side session cache: it would hold a session per handshake (a flood's too),
     * and each worker its own */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (lifetime == 0) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        return SSL_CTX_set_num_tickets(ctx, 0) == 1 ? PS_OK : PS_E_CONFIG;
    }
    SSL_CTX_set_timeout(ctx, (long)lifetime);
    /* one ticket after a full handshake, not OpenSSL's two: each is a serialised session with
     * the client's certificate; measured 12% of a full handshake's CPU (resume bench) */
    SSL_CTX_set_num_tickets(ctx, 1);
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb) != 1 ||
        SSL_CTX_set_session_ticket_cb(ctx, ticket_gen_cb, ticket_dec_cb,
                                      (void *)(uintptr_t)lifetime) != 1)
        return PS_E_CONFIG;
    return PS_OK;
}

SSL_CTX *tls_server_ctx(const struct config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    STACK_OF(X509_NAME) * names;
    X509_STORE *store;
    X509_LOOKUP *lu;

    if (ctx == NULL) {
        ssl_err(err, errlen, "SSL_CTX_new", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* c->out (appliance/conn.c) may grow, and so move, between a write that the socket
     * refused and its retry */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* one read() takes what the socket holds, not a record header and then its body: half
     * the reads for request bodies (conn.c's do_read drains what OpenSSL holds) */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20")) {
        ssl_err(err, errlen, "cipher list", NULL);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        ssl_err(err, errlen, "cannot load TLS certificate", cfg->tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "cannot load TLS key", cfg->tls_key);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1) {
        ssl_err(err, errlen, "cannot load client CA", cfg->client_ca);
        goto fail;
    }
    if ((names = SSL_load_client_CA_file(cfg->client_ca)) == NULL) {
        ssl_err(err, errlen, "cannot read CA names", cfg->client_ca);
        goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    store = SSL_CTX_get_cert_store(ctx);
    if (cfg->crl) {
        if ((lu = X509_STORE_add_lookup(store, X509_LOOKUP_file())) == NULL ||
            X509_load_cert_crl_file(lu, cfg->crl, X509_FILETYPE_PEM) <= 0) {
            ssl_err(err, errlen, "cannot load CRL", cfg->crl);
            goto fail;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    if (verify_err_idx < 0)
        verify_err_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_verify_depth(ctx, 4);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"portseal", 8);
    if (tls_tickets_install(ctx, cfg->tls_ticket_lifetime) != PS_OK) {
        ssl_err(err, errlen, "session tickets", NULL);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_pair_check(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int rc = PS_E_CONFIG;

    if (ctx == NULL)
        ssl_err(err, errlen, "SSL_CTX_new", NULL);
    else if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        ssl_err(err, errlen, "cannot load certificate", cert_file);
    else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
             SSL_CTX_check_private_key(ctx) != 1)
        ssl_err(err, errlen, "cannot load its key (or it is another certificate's)", key_file);
    else
        rc = PS_OK;
    SSL_CTX_free(ctx);
    return rc;
}

static int has_client_auth_eku(X509 *x)
{
    uint32_t xku = X509_get_extended_key_usage(x);

    return (xku & XKU_SSL_CLIENT) != 0;
}

void tls_client_id(SSL *ssl, const struct config *cfg, const struct partner_trust *pt,
                   struct client_id *out)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    const struct cfg_tenant *t;
    const struct cfg_officer *o;
    long v;

    memset(out, 0, sizeof(*out));
    if (peer == NULL) {
        out->cert = CERT_NONE;
        return;
    }
    v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK && pt && pt->n) {
        const char *why = NULL;
        const struct cfg_partner *p =
            partner_identify(pt, peer, SSL_get_peer_cert_chain(ssl), &why);

        if (p || why) {
            out->cert = p ? CERT_OK : CERT_BAD;
            out->cert_error = why;
            out->partner = p ? p->id : NULL;
            snprintf(out->cn, sizeof(out->cn), "%s", p ? p->cn : "");
            return;
        }
    }
    if (v != X509_V_OK) {
        const char *first = SSL_get_ex_data(ssl, verify_err_idx);

        out->cert = CERT_BAD;
        out->cert_error = first ? first : X509_verify_cert_error_string(v);
        return;
    }
    if (!has_client_auth_eku(peer)) {
        out->cert = CERT_BAD;
        out->cert_error = "certificate is not for client authentication";
        return;
    }
    out->cert = CERT_OK;
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, out->cn,
                                  sizeof(out->cn)) < 0)
        out->cn[0] = 0;
    if (out->cn[0] && (t = config_tenant_by_cn(cfg, out->cn)) != NULL)
        out->tenant = t->id;
    if (out->cn[0] && (o = config_officer_by_cn(cfg, out->cn)) != NULL)
        out->officer = o->id;
}

int tls_is_h2(SSL *ssl)
{
    const unsigned char *p;
    unsigned int n;

    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

/* ---- the write buffer of a server connection (tls_attach_socket) ---- */

struct wire {
    int fd;
    struct buf out; /* allocated while it holds bytes the socket has not taken */
};

/*
 * The records of one flush are written into a buffer the thread shares between its
 * connections, and sent from there: most flushes leave whole, and a connection needs no
 * buffer of its own. Only what the socket refuses moves to the connection's own buffer. The
 * owner is the connection whose bytes wait in it; while one does, the others use their own.
 */
static __thread struct {
    struct wire *owner;
    struct buf b;
} shared = {NULL, {NULL, 0, 0, TLS_UNSENT_MAX, 0}};

/* Where w's unsent bytes are. */
static struct buf *pending(struct wire *w)
{
    return shared.owner == w ? &shared.b : &w->out;
}

static void shared_release(void)
{
    buf_reset(&shared.b);
    shared.owner = NULL;
}

/* 1 when all is sent, 0 when the socket is full, -1 on error; frees the emptied buffer */
static int tls_send_wire(struct wire *w)
{
    struct buf *o = pending(w);

    while (buf_unread(o)) {
        ssize_t n = send(w->fd, buf_rptr(o), buf_unread(o), MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            buf_consume(o, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (o == &shared.b) { /* the rest waits in the connection's own buffer */
                int r = buf_append(&w->out, buf_rptr(o), buf_unread(o));

                shared_release();
                if (r != PS_OK)
                    return -1;
            }
            return 0;
        }
        if (o == &shared.b)
            shared_release();
        return -1;
    }
    if (o == &shared.b)
        shared_release();
    else
        buf_free(&w->out);
    return 1;
}

static int wire_write(BIO *b, const char *p, int n)
{
    struct wire *w = BIO_get_data(b);
    struct buf *o;

    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    if (buf_unread(pending(w)) + (size_t)n > TLS_UNSENT_MAX) {
        /* the socket has not taken what waits: make room, or make TLS wait */
        if (tls_send_wire(w) < 0)
            return -1;
        if (buf_unread(pending(w)) + (size_t)n > TLS_UNSENT_MAX) {
            BIO_set_retry_write(b);
            return -1;
        }
    }
    if (shared.owner == NULL && buf_unread(&w->out) == 0)
        shared.owner = w;
    o = pending(w);
    buf_compact(o);
    if (buf_append(o, p, (size_t)n) != PS_OK)
        return -1;
    return n;
}

static long wire_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct wire *w = BIO_get_data(b);
    int r;

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        BIO_clear_retry_flags(b);
        if ((r = tls_send_wire(w)) == 0)
            BIO_set_retry_write(b);
        return r > 0;
    case BIO_CTRL_WPENDING: return (long)buf_unread(pending(w));
    case BIO_CTRL_PENDING: return 0;
    default: return 0;
    }
}

static int wire_destroy(BIO *b)
{
    struct wire *w = BIO_get_data(b);

    if (w) {
        if (shared.owner == w)
            shared_release();
        buf_free(&w->out);
        free(w);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *wire_method(void)
{
    static BIO_METHOD *m;

    if (m == NULL && (m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                       "portseal socket writer")) != NULL) {
        if (!BIO_meth_set_write(m, wire_write) || !BIO_meth_set_ctrl(m, wire_ctrl) ||
            !BIO_meth_set_destroy(m, wire_destroy)) {
            BIO_meth_free(m);
            m = NULL;
        }
    }
    return m;
}

int tls_attach_socket(SSL *ssl, int fd)
{
    BIO_METHOD *m = wire_method();
    BIO *rb = BIO_new_socket(fd, BIO_NOCLOSE), *wb = m ? BIO_new(m) : NULL;
    struct wire *w = calloc(1, sizeof(*w));

    if (rb == NULL || wb == NULL || w == NULL) {
        BIO_free(rb);
        BIO_free(wb);
        free(w);
        return PS_E_NOMEM;
    }
    w->fd = fd;
    buf_init(&w->out, TLS_UNSENT_MAX);
    BIO_set_data(wb, w);
    BIO_set_init(wb, 1);
    SSL_set_bio(ssl, rb, wb);
    return PS_OK;
}

size_t tls_unsent(SSL *ssl)
{
    return (size_t)BIO_wpending(SSL_get_wbio(ssl));
}

int tls_send(SSL *ssl)
{
    BIO *wb = SSL_get_wbio(ssl);

    if (BIO_wpending(wb) == 0)
        return 1;
    if (BIO_flush(wb) > 0)
        return 1;
    return BIO_should_retry(wb) ? 0 : -1;
}
