/*
 * keyholder.h - the only process that loads the PKCS#11 module or knows the PIN.
 * keyholder_main never returns: it serves the worker sockets until they all close
 * or it is told to stop, then wipes its secrets and exits.
 */
#ifndef PS_KEYHOLDER_H
#define PS_KEYHOLDER_H

#include "../appliance/config.h"

/*
 * fds: one socketpair end per worker (index = worker number).
 * ready_fd: written once: "OK\n" when serving, or "ERR <reason>\n" before exiting 1.
 * ctl_fd: from the parent; each message is one byte (worker slot) with a new socket for it.
 */
void keyholder_main(const struct config *cfg, const int *fds, int nfds, int ready_fd, int ctl_fd)
    __attribute__((noreturn));

/*
 * portseald -t: the keyholder's start-up up to the ledger, which it leaves alone (nothing in
 * state_dir is opened): the module loads, the token is there, the PIN logs in, and every key
 * is on the token and matches its certificate (SM2: unwraps and matches). Writes "OK <n keys>\n"
 * or "ERR <reason>\n" to ready_fd, then exits (0 or 1). Run it in a child of its own.
 */
void keyholder_check(const struct config *cfg, int ready_fd) __attribute__((noreturn));

#endif
