/* privsep.h - process hardening shared by the keyholder and the workers. */
#ifndef PS_PRIVSEP_H
#define PS_PRIVSEP_H

#include <stdint.h>

#include "../protocol/err.h"

/* No core dumps, not dumpable (no ptrace by the same user), no_new_privs. */
void privsep_harden(void);
/* The first two only (the parent: it holds the TLS ticket secret the workers inherit). */
void privsep_nodump(void);
/* Signals of a child process: SIGTERM/SIGINT call on_term; SIGPIPE and SIGHUP ignored. */
void privsep_child_signals(void (*on_term)(int));
/* If running as root: drop to user (NULL: nobody): its uid/gid, no supplementary groups. */
int privsep_drop(const char *user) PS_WUR;
/* Workers, once set up: a seccomp allow-list (privsep.c); a worker cannot exec, ptrace, open
 * sockets or connect. Fails only if the kernel refuses the filter. */
int privsep_sandbox_worker(void) PS_WUR;
/* The courier (courier.h): the workers' list plus outbound TCP (socket AF_INET/AF_INET6,
 * connect), socketpair and threads; still no listening socket, exec or ptrace. */
int privsep_sandbox_courier(void) PS_WUR;
/* The keyholder, once logged in and before its threads start: the workers' list plus threads;
 * no socket, connect, bind, exec or ptrace. */
int privsep_sandbox_keyholder(void) PS_WUR;
/* Receive one tag byte and maybe a descriptor (SCM_RIGHTS; *fd = -1 if none) from a control
 * socket, without blocking. Returns 1 when a message came, 0 when none is waiting, -1 when the
 * other end is gone (or on error). */
int privsep_recv_fd(int sock, uint8_t *tag, int *fd) PS_WUR;

#endif
