/*
 * conn.h - one client connection: non-blocking TLS, then HTTP/2 driven with nghttp2's
 * mem_recv/mem_send (as nghttpd does), with a bounded output buffer.
 */
#ifndef PS_CONN_H
#define PS_CONN_H

#include "worker.h"

enum ev_kind { EV_LISTEN = 1, EV_CTL, EV_KH, EV_CONN };

struct ev_item {
    enum ev_kind kind;
};

/* Accept one connection on fd (already accepted); takes ownership. */
void conn_new(struct worker *w, int fd);

struct sockaddr_storage;
/*
 * The client a connection counts as, for connection_rate, max_connections_per_address and the
 * request_rate of clients without a certificate: an IPv4 address ("192.0.2.7", also when it
 * comes IPv4-mapped), or an IPv6 address's /64 ("2001:db8:1:2::/64": a single IPv6 client
 * usually holds a whole /64, so counting its addresses one by one would count nothing); "?"
 * for anything else. out holds at least CONN_PEER_MAX bytes.
 */
#define CONN_PEER_MAX 48
void conn_peer_key(const struct sockaddr_storage *ss, char *out, size_t outlen);
void conn_on_event(struct conn *c, unsigned events);
/* Close connections whose deadline passed. */
void conn_sweep(struct worker *w, double now);
/* Write what responses queued outside the connection's own I/O (keyholder replies). */
void conn_flush_queued(struct worker *w);
void conn_close_all(struct worker *w);
/* Free the connections closed during this loop turn (call once per turn, at its end). */
void conn_reap(struct worker *w);

#endif
