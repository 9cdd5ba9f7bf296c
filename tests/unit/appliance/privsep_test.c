/* privsep_test.c - the workers' seccomp filter (appliance/privsep.c), tried in child processes. */
#include "../../../appliance/privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit.h"

enum { T_LOOP, T_SOCKET, T_EXEC };

/* In a child: install the filter, do one thing, report through the exit status. */
static int child(int what)
{
    char *argv[] = {"true", NULL};
    int fds[2], fd;
    char b;

    if (privsep_sandbox_worker() != PS_OK)
        _exit(90);
    switch (what) {
    case T_LOOP: /* what the event loop does: pipes it was given, memory, time, files */
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0)
            _exit(91); /* socketpair is not on the list either */
        if ((fd = open("/dev/null", O_RDONLY)) < 0 || read(fd, &b, 1) != 0 || close(fd) != 0)
            _exit(92);
        free(malloc(4 << 20)); /* mmap and munmap */
        if (getpid() <= 0)
            _exit(93);
        _exit(0);
    case T_SOCKET: _exit(socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM ? 0 : 94);
    case T_EXEC: execv("/bin/true", argv); _exit(95);
    }
    _exit(99);
}

static int run(int what, int *sig)
{
    int st;
    pid_t p = fork();

    if (p == 0)
        child(what);
    if (p < 0 || waitpid(p, &st, 0) != p)
        return -1;
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
    int sig = 0, rc;

    rc = run(T_LOOP, &sig);
    CHECK(rc == 0, "with the filter: files, memory, getpid work; socketpair fails (%d, signal %d)",
          rc, sig);
    rc = run(T_SOCKET, &sig);
    CHECK(rc == 0, "with the filter: socket(AF_INET) fails with EPERM (%d, signal %d)", rc, sig);
    rc = run(T_EXEC, &sig);
    CHECK(rc == -1 && sig == SIGSYS,
          "with the filter: execve kills the process with SIGSYS (%d, %d)", rc, sig);
    CHECK(socket(AF_INET, SOCK_STREAM, 0) >= 0, "the parent (no filter) can still open a socket");
    return unit_done();
}
