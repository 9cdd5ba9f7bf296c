/*
 * tls.h - the server's TLS context and the client identity of a connection.
 *
 * TLS 1.2+ only, ALPN selects "h2" and nothing else. A client certificate is requested and
 * verified against client_ca and the CRLs, but the handshake does not fail on a missing or
 * bad certificate: the request then gets a JSON 401/403 that names the problem, and only
 * routes marked public (/healthz) are served. (nginx's "ssl_verify_client optional" model.)
 */
#ifndef PS_TLS_H
#define PS_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "../appliance/config.h"
#include "../appliance/http.h"

/* New server context; NULL with a reason in err. SSL_CTX_free it. */
SSL_CTX *tls_server_ctx(const struct config *cfg, char *err, size_t errlen);
/*
 * Session resumption (tls_ticket_lifetime). A client that reconnects with a ticket skips the
 * certificate exchange and its verification, whichever worker it reaches. The parent makes a
 * random secret at start, at each reload (which may bring a new CRL: every ticket ends) and
 * every lifetime seconds, and hands it to the workers (portseald.c); a process holds the
 * current and the previous key, nothing else, and accepts tickets under either. Only sessions
 * whose client certificate was verified under client_ca resume; not when that full handshake
 * is older than lifetime (however often the ticket was renewed) nor once a certificate of its
 * chain has expired. Stateless: no server session cache. Single-threaded use.
 */
#define TLS_TICKET_SECRET 32
/* A new current key from secret (the old one stays as the previous); PS_OK or an error. */
int tls_tickets_rotate(const unsigned char secret[TLS_TICKET_SECRET]) PS_WUR;
/* Wipe both keys: no tickets issued or accepted until the next rotate. */
void tls_tickets_forget(void);
/* On ctx: tickets under those keys, or for lifetime 0 no resumption at all. tls_server_ctx
 * calls it. */
int tls_tickets_install(SSL_CTX *ctx, unsigned lifetime) PS_WUR;
/* Tests: seconds added to the clocks the ticket checks read. */
void tls_tickets_set_clock_offset(int64_t seconds);

/* PS_OK if the PEM chain in cert_file and the key in key_file load and belong together (the
 * courier's partner_cert and partner_key); else a reason in err. */
int tls_pair_check(const char *cert_file, const char *key_file, char *err, size_t errlen);

struct client_id {
    enum cert_state cert;
    const char *cert_error; /* static string, when cert == CERT_BAD */
    char cn[128];
    const char *tenant;  /* points into cfg, or NULL */
    const char *officer; /* a local officer's id (cfg), or NULL */
    const char *partner; /* a partner's id (cfg), or NULL */
};

struct partner_trust;
/*
 * After the handshake: who is the peer? A certificate from client_ca (and not revoked) may be
 * a tenant's or an officer's, by CN; one that chains to a partner's pinned root instead is
 * that partner's if its CN is the partner's, else it is refused.
 */
void tls_client_id(SSL *ssl, const struct config *cfg, const struct partner_trust *pt,
                   struct client_id *out);
/* 1 if ALPN selected h2. */
int tls_is_h2(SSL *ssl);

/*
 * Attach a non-blocking socket to a server SSL: reads go straight to it; the records TLS writes
 * collect in a buffer that tls_send flushes in one send() (one write per loop turn and
 * connection rather than one per 16 KiB record). The buffer is allocated while it holds
 * something and freed when it empties, so an idle connection holds none. Up to TLS_UNSENT_MAX
 * bytes may wait for the socket; beyond that SSL_write reports SSL_ERROR_WANT_WRITE.
 */
#define TLS_UNSENT_MAX (96 * 1024)
int tls_attach_socket(SSL *ssl, int fd);
/* Bytes written by TLS and not yet taken by the socket. */
size_t tls_unsent(SSL *ssl);
/* Send what is buffered: 1 when all went, 0 when the socket is full (wait for EPOLLOUT and
 * call again), -1 if the connection failed. */
int tls_send(SSL *ssl);

#endif
