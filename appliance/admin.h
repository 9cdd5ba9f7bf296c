/*
 * admin.h - the parent's local admin socket (the `portseal` CLI talks to it).
 *
 * A unix stream socket (admin_socket, default state_dir/admin.sock), mode 0600, owned by the
 * parent's user. Only peers with uid 0 or the parent's own euid (SO_PEERCRED) are served;
 * others are closed at once and logged. One JSON request line in, one JSON answer line out
 * (appliance/admin_req.h); everything non-blocking with a per-client deadline, so a stuck or
 * slow client never holds up the parent's loop.
 *
 * The parent polls the fds admin_pollfds() gives it (with its own timeout) and hands the
 * results to admin_serve(). Children call admin_child_close() right after fork: no child ever
 * holds the socket.
 */
#ifndef PS_ADMIN_H
#define PS_ADMIN_H

#include <poll.h>
#include <stddef.h>

#include <jansson.h>

#include "../protocol/err.h"
#include "config.h"

#define ADMIN_MAX_CLIENTS 8
#define ADMIN_TIMEOUT     5.0 /* seconds a client has to send its line and read the answer */

/* What the admin socket needs from the parent (portseald.c). */
struct admin_hooks {
    const char *cfg_path;
    const struct config *(*config)(void); /* the running configuration */
    /* everything the children will load must load (the reload check) */
    int (*usable)(const struct config *cfg, char *err, size_t errlen);
    /* reload as on SIGHUP: PS_OK when the new configuration was taken (note says what was not,
     * e.g. listen changes), else the reason it was refused */
    int (*reload)(char *note, size_t notelen);
    json_t *(*children)(void); /* {"keyholder":{...},"workers":[...],"courier":{...}|null} */
};

/* The socket's path for cfg (admin_socket, or state_dir/admin.sock) into out. */
int admin_socket_path(const struct config *cfg, char *out, size_t cap) PS_WUR;
/* Bind and listen; a stale socket file is replaced, a live one (another daemon) is an error. */
int admin_open(const struct config *cfg, const struct admin_hooks *h, char *err,
               size_t errlen) PS_WUR;
/* Fill pf (room for 1 + ADMIN_MAX_CLIENTS) with what to poll; returns how many. */
int admin_pollfds(struct pollfd *pf, int max);
/* Act on poll's results for the n fds admin_pollfds gave (n may be 0: deadlines only). */
void admin_serve(const struct pollfd *pf, int n);
/* In a new child: close the listening socket and the clients. */
void admin_child_close(void);
/* At exit: close everything and remove the socket file. */
void admin_shutdown(void);

#endif
