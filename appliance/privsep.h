/* privsep.h - process hardening shared by the keyholder and the workers. */
#ifndef PS_PRIVSEP_H
#define PS_PRIVSEP_H

#include "../protocol/err.h"

/* No core dumps, not dumpable (no ptrace by the same user), no_new_privs. */
void privsep_harden(void);
/* Signals of a child process: SIGTERM/SIGINT call on_term; SIGPIPE and SIGHUP ignored. */
void privsep_child_signals(void (*on_term)(int));
/* If running as root: drop to user (NULL: nobody): its uid/gid, no supplementary groups. */
int privsep_drop(const char *user) PS_WUR;
/* Workers, once set up: a seccomp allow-list (privsep.c); a worker cannot exec, ptrace, open
 * sockets or connect. Fails only if the kernel refuses the filter. */
int privsep_sandbox_worker(void) PS_WUR;

#endif
