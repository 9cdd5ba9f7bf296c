/* privsep_test.c - the seccomp filters of the workers, the keyholder and the courier
 * (appliance/privsep.c), tried in child processes. */
#include "../../../appliance/privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit.h"

enum { T_LOOP, T_SOCKET, T_EXEC, K_THREAD, K_SOCKET, K_FORK, C_INET, C_UNIX, C_BIND };

static void *thread_fn(void *arg)
{
    return arg;
}

/* The keyholder's and the courier's filters: threads yes, processes no; the courier's sockets
 * only for TCP/IP, and nothing may listen. */
static int child_ext(int what)
{
    pthread_t t;
    void *ret = NULL;
    int fd;

    if ((what <= K_FORK ? privsep_sandbox_keyholder() : privsep_sandbox_courier()) != PS_OK)
        _exit(90);
    switch (what) {
    case K_THREAD:
        _exit(pthread_create(&t, NULL, thread_fn, (void *)1) == 0 && pthread_join(t, &ret) == 0 &&
                      ret == (void *)1
                  ? 0
                  : 96);
    case K_SOCKET: _exit(socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM ? 0 : 94);
    case K_FORK: _exit(fork() < 0 && errno == EPERM ? 0 : 97);
    case C_INET: _exit(socket(AF_INET6, SOCK_STREAM, 0) >= 0 ? 0 : 94);
    case C_UNIX: _exit(socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EAFNOSUPPORT ? 0 : 94);
    case C_BIND: {
        struct sockaddr_in a = {.sin_family = AF_INET};

        fd = socket(AF_INET, SOCK_STREAM, 0);
        _exit(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EPERM ? 0 : 98);
    }
    }
    _exit(99);
}

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
        what >= K_THREAD ? child_ext(what) : child(what);
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
    rc = run(K_THREAD, &sig);
    CHECK(rc == 0, "keyholder filter: threads start and join (%d, signal %d)", rc, sig);
    rc = run(K_SOCKET, &sig);
    CHECK(rc == 0, "keyholder filter: socket(AF_INET) fails with EPERM (%d, signal %d)", rc, sig);
    rc = run(K_FORK, &sig);
    CHECK(rc == 0, "keyholder filter: fork (clone without CLONE_THREAD) fails with EPERM (%d, %d)",
          rc, sig);
    rc = run(C_INET, &sig);
    CHECK(rc == 0, "courier filter: socket(AF_INET6) works (%d, signal %d)", rc, sig);
    rc = run(C_UNIX, &sig);
    CHECK(rc == 0, "courier filter: socket(AF_UNIX) fails with EAFNOSUPPORT (%d, signal %d)", rc,
          sig);
    rc = run(C_BIND, &sig);
    CHECK(rc == 0, "courier filter: bind fails with EPERM: it cannot listen (%d, signal %d)", rc,
          sig);
    CHECK(socket(AF_INET, SOCK_STREAM, 0) >= 0, "the parent (no filter) can still open a socket");
    return unit_done();
}
