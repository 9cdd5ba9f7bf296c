/*
 * tickets_test.c - session resumption (certs/tls.c, tls_tickets_*): real TLS handshakes over
 * socket pairs. Two server contexts in one process play two workers (they share the keys, as
 * the workers do); tls_tickets_rotate plays the parent's new key every lifetime, and a clock
 * offset the passing of time for the checks a ticket carries.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "../../../certs/tls.h"
#include "../unit.h"
#include "testpki.h"

static EVP_PKEY *ca_key, *srv_key, *cli_key;
static X509 *ca, *srv_cert, *cli_cert, *outsider, *short_ca, *short_leaf;

/* what the parent does every lifetime (and, after tls_tickets_forget, at a reload) */
static void new_key(void)
{
    unsigned char secret[TLS_TICKET_SECRET];

    RAND_bytes(secret, sizeof(secret));
    CHECK(tls_tickets_rotate(secret) == PS_OK, "(a new ticket key)");
}

static int accept_all(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1; /* like tls.c: the verdict is read after the handshake */
}

static SSL_CTX *server(unsigned lifetime)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    SSL_CTX_use_certificate(ctx, srv_cert);
    SSL_CTX_use_PrivateKey(ctx, srv_key);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), short_ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_all);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"portseal", 8);
    CHECK(tls_tickets_install(ctx, lifetime) == PS_OK, "tls_tickets_install(%u)", lifetime);
    return ctx;
}

static SSL_CTX *client(X509 *cert, int tls12)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (cert == short_leaf) {
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, cli_key);
        SSL_CTX_add1_chain_cert(ctx, short_ca);
    } else if (cert) {
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, cli_key);
    }
    if (tls12)
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
    return ctx;
}

/*
 * One connection: handshake (offering sess if any), one byte each way so that a TLS 1.3
 * ticket reaches the client; returns the client's session to resume next (or NULL), and
 * whether this one was resumed and the server saw a verified peer certificate.
 */
static SSL_SESSION *connect_once(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *sess, int *reused,
                                 int *peer_ok)
{
    int fd[2], done = 0;
    SSL *s, *c;
    SSL_SESSION *out = NULL;
    unsigned char b;

    *reused = *peer_ok = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0)
        return NULL;
    fcntl(fd[0], F_SETFL, O_NONBLOCK);
    fcntl(fd[1], F_SETFL, O_NONBLOCK);
    s = SSL_new(sctx);
    c = SSL_new(cctx);
    SSL_set_fd(s, fd[0]);
    SSL_set_fd(c, fd[1]);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    if (sess)
        SSL_set_session(c, sess);
    for (int i = 0; i < 1000 && !done; i++) {
        int a = SSL_do_handshake(s), z = SSL_do_handshake(c);

        done = a == 1 && z == 1;
        if ((a != 1 && SSL_get_error(s, a) != SSL_ERROR_WANT_READ) ||
            (z != 1 && SSL_get_error(c, z) != SSL_ERROR_WANT_READ))
            break;
    }
    if (done && SSL_write(s, "x", 1) == 1) {
        for (int i = 0; i < 100 && SSL_read(c, &b, 1) != 1; i++)
            ;
        *reused = SSL_session_reused(s);
        *peer_ok = SSL_get0_peer_certificate(s) != NULL && SSL_get_verify_result(s) == X509_V_OK;
        out = SSL_get1_session(c);
    }
    SSL_shutdown(c); /* a session freed without it is marked not resumable */
    SSL_shutdown(s);
    SSL_free(s);
    SSL_free(c);
    close(fd[0]);
    close(fd[1]);
    return out;
}

/* Resume sess against sctx; 1 if resumed. The new session replaces *next when given. */
static int resumes(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *sess, SSL_SESSION **next)
{
    int reused, peer_ok;
    SSL_SESSION *n = connect_once(sctx, cctx, sess, &reused, &peer_ok);

    if (next) {
        SSL_SESSION_free(*next);
        *next = n;
    } else {
        SSL_SESSION_free(n);
    }
    return reused == 1 && peer_ok == 1;
}

static SSL_SESSION *fresh(SSL_CTX *sctx, SSL_CTX *cctx)
{
    int reused, peer_ok;

    return connect_once(sctx, cctx, NULL, &reused, &peer_ok);
}

static void test_workers(void)
{
    SSL_CTX *w1 = server(3600), *w2 = server(3600), *cc = client(cli_cert, 0),
            *c12 = client(cli_cert, 1);
    SSL_SESSION *s = fresh(w1, cc), *a = fresh(w1, cc), *b = fresh(w1, cc), *s12 = fresh(w1, c12),
                *renewed = NULL;

    /* (a TLS 1.3 client uses a ticket once: each resumption offers the newest session) */
    CHECK(s != NULL && SSL_SESSION_has_ticket(s), "worker 1 gives the client a ticket");
    CHECK(SSL_SESSION_get_ticket_lifetime_hint(s) == 3600, "valid for the lifetime (%lu s)",
          SSL_SESSION_get_ticket_lifetime_hint(s));
    CHECK(resumes(w2, cc, s, &s), "worker 2 resumes it: the workers share the keys (TLS 1.3)");
    CHECK(resumes(w1, cc, s, &s), "and worker 1 the ticket worker 2 gave");
    CHECK(resumes(w2, c12, s12, NULL), "a TLS 1.2 ticket resumes on the other worker too");

    new_key();
    CHECK(resumes(w2, cc, a, &renewed), "after the next key: a ticket of the previous resumes");
    CHECK(renewed && SSL_SESSION_has_ticket(renewed), "with a new ticket under the new key");
    new_key();
    CHECK(!resumes(w1, cc, b, NULL), "two keys later, a ticket of the first key is refused");
    CHECK(resumes(w1, cc, renewed, &renewed), "one of the second key is not");

    tls_tickets_forget(); /* what a reload does, then a new key */
    new_key();
    CHECK(!resumes(w1, cc, s, NULL), "after a reload, no old ticket resumes");
    SSL_SESSION_free(s);
    SSL_SESSION_free(a);
    SSL_SESSION_free(b);
    SSL_SESSION_free(s12);
    SSL_SESSION_free(renewed);
    SSL_CTX_free(w1);
    SSL_CTX_free(w2);
    SSL_CTX_free(cc);
    SSL_CTX_free(c12);
}

/* A full handshake is needed every lifetime, however often the ticket was renewed (TLS 1.3
 * restarts a session's own timeout with each new ticket). */
static void test_age(void)
{
    SSL_CTX *w = server(600), *cc = client(cli_cert, 0);
    SSL_SESSION *s = fresh(w, cc);

    tls_tickets_set_clock_offset(300);
    CHECK(resumes(w, cc, s, &s), "5 minutes after the full handshake: resumed (lifetime 10)");
    tls_tickets_set_clock_offset(590);
    CHECK(resumes(w, cc, s, &s), "9:50 after it, with a ticket renewed at 5:00: resumed");
    tls_tickets_set_clock_offset(610);
    CHECK(!resumes(w, cc, s, &s), "10:10 after it: a full handshake, though the ticket is new");
    CHECK(resumes(w, cc, s, &s), "whose ticket then resumes again");
    tls_tickets_set_clock_offset(0);
    SSL_SESSION_free(s);
    SSL_CTX_free(w);
    SSL_CTX_free(cc);
}

static void test_who_resumes(void)
{
    SSL_CTX *w = server(3600), *none = client(NULL, 0), *out = SSL_CTX_new(TLS_client_method()),
            *cc = client(cli_cert, 0);
    SSL_SESSION *s;
    int reused, peer_ok;

    SSL_CTX_use_certificate(out, outsider);
    SSL_CTX_use_PrivateKey(out, cli_key);
    s = fresh(w, none);
    CHECK(s != NULL, "a client without a certificate connects");
    SSL_SESSION_free(connect_once(w, none, s, &reused, &peer_ok));
    CHECK(reused == 0, "but its session does not resume");
    SSL_SESSION_free(s);

    s = fresh(w, out);
    CHECK(s != NULL, "a certificate not under the client CA connects (a partner's, say)");
    SSL_SESSION_free(connect_once(w, out, s, &reused, &peer_ok));
    CHECK(reused == 0, "its session does not resume (its chain would be gone)");
    SSL_SESSION_free(s);

    SSL_CTX_free(w);
    w = server(86400);
    s = fresh(w, cc);
    tls_tickets_set_clock_offset(2 * 86400); /* the client certificate is valid for a day */
    SSL_SESSION_free(connect_once(w, cc, s, &reused, &peer_ok));
    CHECK(reused == 0, "a ticket whose certificate has expired since does not resume");
    tls_tickets_set_clock_offset(0);
    SSL_SESSION_free(s);
    {
        SSL_CTX *cs = client(short_leaf, 0);

        s = fresh(w, cs);
        CHECK(resumes(w, cs, s, &s), "(control: a leaf under a CA valid 2 hours resumes)");
        tls_tickets_set_clock_offset(3 * 3600);
        SSL_SESSION_free(connect_once(w, cs, s, &reused, &peer_ok));
        CHECK(reused == 0, "not once its CA has expired (the leaf has not)");
        tls_tickets_set_clock_offset(0);
        SSL_CTX_free(cs);
    }
    SSL_SESSION_free(s);
    SSL_CTX_free(w);
    SSL_CTX_free(none);
    SSL_CTX_free(out);
    SSL_CTX_free(cc);
}

static void test_off(void)
{
    SSL_CTX *w = server(0), *cc = client(cli_cert, 0), *c12 = client(cli_cert, 1);
    SSL_SESSION *s = fresh(w, cc), *s12 = fresh(w, c12);

    CHECK(s != NULL && !SSL_SESSION_has_ticket(s), "tls_ticket_lifetime 0: no ticket (TLS 1.3)");
    CHECK(!resumes(w, cc, s, NULL), "and no resumption");
    CHECK(s12 != NULL && !resumes(w, c12, s12, NULL), "nor with TLS 1.2 (no session cache)");
    SSL_SESSION_free(s);
    SSL_SESSION_free(s12);
    SSL_CTX_free(w);
    SSL_CTX_free(cc);
    SSL_CTX_free(c12);
}

int main(void)
{
    ca_key = pki_key("P-256");
    srv_key = pki_key("P-256");
    cli_key = pki_key("P-256");
    ca = pki_cert("tickets test CA", ca_key, NULL, ca_key, 1, "critical,keyCertSign,cRLSign", NULL,
                  1);
    srv_cert = pki_cert("server.test", srv_key, ca, ca_key, 0, "digitalSignature", "serverAuth", 2);
    cli_cert =
        pki_cert("platform.test", cli_key, ca, ca_key, 0, "digitalSignature", "clientAuth", 3);
    outsider =
        pki_cert("partner.test", cli_key, NULL, cli_key, 0, "digitalSignature", "clientAuth", 4);
    short_ca =
        pki_cert("short CA", ca_key, NULL, ca_key, 1, "critical,keyCertSign,cRLSign", NULL, 5);
    X509_gmtime_adj(X509_getm_notAfter(short_ca), 7200);
    X509_sign(short_ca, ca_key, EVP_sha256());
    short_leaf = pki_cert("platform-b.test", cli_key, short_ca, ca_key, 0, "digitalSignature",
                          "clientAuth", 6);
    {
        SSL_CTX *w = server(3600), *cc = client(cli_cert, 0);
        SSL_SESSION *s = fresh(w, cc);

        CHECK(s != NULL && !resumes(w, cc, s, NULL),
              "before any key: connections work, nothing resumes");
        SSL_SESSION_free(s);
        SSL_CTX_free(w);
        SSL_CTX_free(cc);
    }
    new_key();
    test_workers();
    test_age();
    test_who_resumes();
    test_off();
    X509_free(ca);
    X509_free(srv_cert);
    X509_free(cli_cert);
    X509_free(outsider);
    X509_free(short_ca);
    X509_free(short_leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    return unit_done();
}
