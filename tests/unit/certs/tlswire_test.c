/*
 * tlswire_test.c - the server connection's TLS write buffer (certs/tls.c, tls_attach_socket):
 * a real TLS 1.3 session over a non-blocking socket pair whose reader stops reading.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../../../certs/tls.h"
#include "../unit.h"
#include "testpki.h"

#define TOTAL (4 * 1024 * 1024)

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Drive both handshakes to the end (each side may wait for the other). */
static int handshake(SSL *srv, SSL *cli)
{
    for (int i = 0; i < 1000; i++) {
        int a = SSL_do_handshake(srv), b = SSL_do_handshake(cli);

        if (a == 1 && b == 1)
            return 1;
        if (a != 1 && SSL_get_error(srv, a) != SSL_ERROR_WANT_READ &&
            SSL_get_error(srv, a) != SSL_ERROR_WANT_WRITE)
            return 0;
        if (b != 1 && SSL_get_error(cli, b) != SSL_ERROR_WANT_READ)
            return 0;
        if (tls_send(srv) < 0)
            return 0;
    }
    return 0;
}

/* Read what the client can now; returns bytes read (appended at got + *have). */
static size_t drain(SSL *cli, uint8_t *got, size_t *have)
{
    size_t n0 = *have;
    int n;

    while (*have < TOTAL && (n = SSL_read(cli, got + *have, (int)(TOTAL - *have))) > 0)
        *have += (size_t)n;
    return *have - n0;
}

/* A server connection (through the write buffer) and its client over a new socket pair. */
static int pair(SSL_CTX *sctx, SSL_CTX *cctx, SSL **s, SSL **c, int fd[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0)
        return 0;
    nonblock(fd[0]);
    nonblock(fd[1]);
    *s = SSL_new(sctx);
    *c = SSL_new(cctx);
    if (tls_attach_socket(*s, fd[0]) != PS_OK)
        return 0;
    SSL_set_accept_state(*s);
    SSL_set_fd(*c, fd[1]);
    SSL_set_connect_state(*c);
    return handshake(*s, *c);
}

/* Two connections of one thread share the buffer a flush is written into (certs/tls.c): while
 * one has bytes waiting there, the other's go through its own, and neither's are mixed up. */
static void two_connections(SSL_CTX *sctx, SSL_CTX *cctx)
{
    SSL *sa = NULL, *ca = NULL, *sb = NULL, *cb = NULL;
    int fa[2], fb[2];
    char got[64];
    int n, ok = pair(sctx, cctx, &sa, &ca, fa) && pair(sctx, cctx, &sb, &cb, fb);

    CHECK(ok, "two connections");
    if (!ok)
        return;
    CHECK(SSL_write(sa, "alpha ", 6) == 6 && tls_unsent(sa) > 0,
          "A's record waits, unsent, in the shared buffer");
    CHECK(SSL_write(sb, "beta", 4) == 4 && tls_unsent(sb) > 0 && tls_send(sb) == 1,
          "B writes and sends meanwhile");
    CHECK(tls_unsent(sa) > 0 && SSL_write(sa, "omega", 5) == 5 && tls_send(sa) == 1,
          "A writes again and sends both records");
    n = SSL_read(cb, got, sizeof(got));
    CHECK(n == 4 && memcmp(got, "beta", 4) == 0, "B's client reads only B's bytes");
    n = SSL_read(ca, got, sizeof(got));
    if (n == 6) {
        int m = SSL_read(ca, got + 6, (int)sizeof(got) - 6);

        n = m > 0 ? n + m : n;
    }
    CHECK(n == 11 && memcmp(got, "alpha omega", 11) == 0, "A's client reads A's, in order");
    CHECK(tls_unsent(sa) == 0 && tls_unsent(sb) == 0, "nothing is left unsent");
    /* A connection freed while its bytes wait in the shared buffer gives it back */
    CHECK(SSL_write(sa, "x", 1) == 1 && tls_unsent(sa) > 0, "A leaves a record unsent");
    SSL_free(sa);
    CHECK(SSL_write(sb, "after", 5) == 5 && tls_send(sb) == 1 &&
              SSL_read(cb, got, sizeof(got)) == 5 && memcmp(got, "after", 5) == 0,
          "after A is freed, B's bytes go out whole");
    SSL_free(ca);
    SSL_free(sb);
    SSL_free(cb);
    close(fa[0]);
    close(fa[1]);
    close(fb[0]);
    close(fb[1]);
}

int main(void)
{
    EVP_PKEY *k = pki_key("P-256");
    X509 *x = pki_cert("wire.test", k, NULL, k, 0, "digitalSignature", "serverAuth", 7);
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    uint8_t *data = malloc(TOTAL), *got = malloc(TOTAL);
    size_t sent = 0, have = 0, most = 0;
    int sv[2], want_write = 0, stuck = 0, send_failed = 0;
    SSL *srv, *cli;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socket pair");
    nonblock(sv[0]);
    nonblock(sv[1]);
    SSL_CTX_use_certificate(sctx, x);
    SSL_CTX_use_PrivateKey(sctx, k);
    SSL_CTX_set_mode(sctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    srv = SSL_new(sctx);
    cli = SSL_new(cctx);
    CHECK(tls_attach_socket(srv, sv[0]) == PS_OK, "tls_attach_socket");
    SSL_set_accept_state(srv);
    SSL_set_fd(cli, sv[1]);
    SSL_set_connect_state(cli);
    CHECK(handshake(srv, cli), "the handshake completes through the write buffer");
    CHECK(tls_unsent(srv) == 0, "nothing is left unsent after the handshake");

    for (size_t i = 0; i < TOTAL; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    /* the client does not read: the socket fills, then the buffer, then SSL_write waits */
    while (sent < TOTAL && !want_write) {
        int n = SSL_write(srv, data + sent, (int)(TOTAL - sent > 16384 ? 16384 : TOTAL - sent));

        if (n > 0) {
            sent += (size_t)n;
            if (tls_send(srv) < 0)
                break;
        } else {
            want_write = SSL_get_error(srv, n) == SSL_ERROR_WANT_WRITE;
            break;
        }
        if (tls_unsent(srv) > most)
            most = tls_unsent(srv);
    }
    CHECK(want_write, "a reader that stops makes SSL_write wait (WANT_WRITE) after %zu bytes",
          sent);
    CHECK(most > 0 && most <= TLS_UNSENT_MAX && tls_unsent(srv) <= TLS_UNSENT_MAX,
          "what waits for the socket stays within TLS_UNSENT_MAX (%zu at most)", most);
    CHECK(tls_send(srv) == 0, "tls_send says the socket is full");

    /* the reader resumes: everything arrives, in order */
    while (have < TOTAL && stuck < 100000) {
        size_t r = drain(cli, got, &have);
        int s = tls_send(srv);

        if (s < 0) {
            send_failed = 1;
            break;
        }
        if (sent < TOTAL && s == 1) {
            int n = SSL_write(srv, data + sent, (int)(TOTAL - sent > 16384 ? 16384 : TOTAL - sent));

            if (n > 0)
                sent += (size_t)n;
            else if (SSL_get_error(srv, n) != SSL_ERROR_WANT_WRITE)
                break;
        }
        stuck = r ? 0 : stuck + 1;
    }
    CHECK(!send_failed, "tls_send does not fail while the reader reads");
    CHECK(have == TOTAL && memcmp(got, data, TOTAL) == 0,
          "all %d bytes arrive, in order (%zu read)", TOTAL, have);
    CHECK(tls_unsent(srv) == 0, "nothing is left unsent at the end");

    /* close_notify goes through the buffer too */
    SSL_shutdown(srv);
    CHECK(tls_send(srv) == 1, "the close_notify is sent");
    {
        uint8_t b[16];
        int n = SSL_read(cli, b, sizeof(b));

        CHECK(n == 0 && SSL_get_error(cli, n) == SSL_ERROR_ZERO_RETURN,
              "the client reads the close_notify");
    }
    SSL_free(cli);
    close(sv[1]);
    /* a peer that is gone: what TLS wrote waits in the buffer, and tls_send reports it */
    {
        SSL *s2 = SSL_new(sctx), *c2 = SSL_new(cctx);
        int p2[2];

        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, p2) == 0, "second socket pair");
        nonblock(p2[0]);
        nonblock(p2[1]);
        CHECK(tls_attach_socket(s2, p2[0]) == PS_OK, "attach to the second pair");
        SSL_set_accept_state(s2);
        SSL_set_fd(c2, p2[1]);
        SSL_set_connect_state(c2);
        CHECK(handshake(s2, c2), "second handshake");
        SSL_free(c2);
        close(p2[1]);
        CHECK(SSL_write(s2, "gone", 4) == 4 && tls_unsent(s2) > 0,
              "a record written for a closed peer waits in the buffer");
        CHECK(tls_send(s2) == -1, "tls_send reports the closed peer");
        SSL_free(s2);
        close(p2[0]);
    }
    two_connections(sctx, cctx);
    SSL_free(srv);
    close(sv[0]);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    X509_free(x);
    EVP_PKEY_free(k);
    free(data);
    free(got);
    return unit_done();
}
