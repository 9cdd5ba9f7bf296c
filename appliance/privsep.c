#include "privsep.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "log.h"

void privsep_nodump(void)
{
    struct rlimit rl = {0, 0};

    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        log_warn("setrlimit(RLIMIT_CORE)");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        log_warn("PR_SET_DUMPABLE");
}

void privsep_harden(void)
{
    privsep_nodump();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        log_warn("PR_SET_NO_NEW_PRIVS");
}

void privsep_child_signals(void (*on_term)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int privsep_drop(const char *user)
{
    struct passwd *pw;

    if (geteuid() != 0)
        return PS_OK;
    if (user == NULL)
        user = "nobody"; /* never serve the network as root */
    if ((pw = getpwnam(user)) == NULL) {
        log_warnx("no such user: %s", user);
        return PS_E_CONFIG;
    }
    if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
        log_warn("cannot drop privileges to %s", user);
        return PS_E_IO;
    }
    /* setuid clears the dumpable flag's effect only partly; set it again */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return PS_OK;
}

/*
 * The workers' seccomp filter: an allow-list of what the event loop needs once it serves
 * (sockets it was given or accepts, memory, time, randomness, files it may open read-only
 * as the unprivileged user). execve, ptrace and reading other processes' memory kill the
 * process; any other system call fails with EPERM. Syscalls missing on an architecture
 * are left out by the #ifdefs.
 */
#if defined(__x86_64__)
#define PS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef PS_AUDIT_ARCH
#define SC_LOAD(field)    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define SC_RET(action)    BPF_STMT(BPF_RET | BPF_K, (action))
#define SC_IS(nr, action) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), SC_RET(action)
#define SC_ALLOW(nr)      SC_IS(nr, SECCOMP_RET_ALLOW)
#define SC_KILL(nr)       SC_IS(nr, SECCOMP_RET_KILL_PROCESS)

static const struct sock_filter worker_filter[] = {
    SC_LOAD(arch),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PS_AUDIT_ARCH, 1, 0),
    SC_RET(SECCOMP_RET_KILL_PROCESS),
    SC_LOAD(nr),
#ifdef __x86_64__
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), /* x32 ABI */
    SC_RET(SECCOMP_RET_KILL_PROCESS),
#endif
    SC_KILL(__NR_execve),
    SC_KILL(__NR_execveat),
    SC_KILL(__NR_ptrace),
    SC_KILL(__NR_process_vm_readv),
    SC_KILL(__NR_process_vm_writev),
    /* the event loop */
    SC_ALLOW(__NR_read),
    SC_ALLOW(__NR_write),
    SC_ALLOW(__NR_readv),
    SC_ALLOW(__NR_writev),
    SC_ALLOW(__NR_close),
    SC_ALLOW(__NR_epoll_pwait),
#ifdef __NR_epoll_wait
    SC_ALLOW(__NR_epoll_wait),
#endif
    SC_ALLOW(__NR_epoll_ctl),
    SC_ALLOW(__NR_accept4),
    SC_ALLOW(__NR_recvfrom),
    SC_ALLOW(__NR_sendto),
    SC_ALLOW(__NR_recvmsg),
    SC_ALLOW(__NR_sendmsg),
    SC_ALLOW(__NR_shutdown),
    SC_ALLOW(__NR_setsockopt),
    SC_ALLOW(__NR_getsockopt),
    SC_ALLOW(__NR_getpeername),
    SC_ALLOW(__NR_getsockname),
    SC_ALLOW(__NR_fcntl),
    /* memory */
    SC_ALLOW(__NR_brk),
    SC_ALLOW(__NR_mmap),
    SC_ALLOW(__NR_munmap),
    SC_ALLOW(__NR_mremap),
    SC_ALLOW(__NR_mprotect),
    SC_ALLOW(__NR_madvise),
    /* files, as the unprivileged user: libraries (time zone, CA files), the evidence store
     * (temporary file, fsync, rename) and its SQLite index (WAL, locks, shared memory) */
    SC_ALLOW(__NR_openat),
    SC_ALLOW(__NR_fstat),
    SC_ALLOW(__NR_newfstatat),
    SC_ALLOW(__NR_statx),
    SC_ALLOW(__NR_lseek),
    SC_ALLOW(__NR_pread64),
    SC_ALLOW(__NR_pwrite64),
    SC_ALLOW(__NR_ftruncate),
    SC_ALLOW(__NR_fallocate),
    SC_ALLOW(__NR_fsync),
    SC_ALLOW(__NR_fdatasync),
    SC_ALLOW(__NR_flock),
    SC_ALLOW(__NR_fchmod),
    SC_ALLOW(__NR_fchown),
    SC_ALLOW(__NR_faccessat),
    SC_ALLOW(__NR_readlinkat),
    SC_ALLOW(__NR_getcwd),
    SC_ALLOW(__NR_getdents64),
    SC_ALLOW(__NR_renameat),
    SC_ALLOW(__NR_unlinkat),
    SC_ALLOW(__NR_mkdirat),
    SC_ALLOW(__NR_fstatfs),
    SC_ALLOW(__NR_uname),
#ifdef __NR_faccessat2
    SC_ALLOW(__NR_faccessat2),
#endif
#ifdef __NR_renameat2
    SC_ALLOW(__NR_renameat2),
#endif
#ifdef __NR_open /* the legacy calls, where the architecture has them */
    SC_ALLOW(__NR_open),
    SC_ALLOW(__NR_stat),
    SC_ALLOW(__NR_lstat),
    SC_ALLOW(__NR_access),
    SC_ALLOW(__NR_readlink),
    SC_ALLOW(__NR_rename),
    SC_ALLOW(__NR_unlink),
    SC_ALLOW(__NR_mkdir),
    SC_ALLOW(__NR_rmdir),
    SC_ALLOW(__NR_fchmodat),
    SC_ALLOW(__NR_poll),
#endif
    SC_ALLOW(__NR_ppoll),
    /* time, randomness, process */
    SC_ALLOW(__NR_clock_gettime),
    SC_ALLOW(__NR_gettimeofday),
    SC_ALLOW(__NR_clock_nanosleep),
    SC_ALLOW(__NR_nanosleep),
    SC_ALLOW(__NR_getrandom),
    SC_ALLOW(__NR_futex),
    SC_ALLOW(__NR_sched_yield),
    SC_ALLOW(__NR_getpid),
    SC_ALLOW(__NR_gettid),
    SC_ALLOW(__NR_getuid),
    SC_ALLOW(__NR_geteuid),
    SC_ALLOW(__NR_getgid),
    SC_ALLOW(__NR_getegid),
    SC_ALLOW(__NR_getppid),
    SC_ALLOW(__NR_prlimit64),
    SC_ALLOW(__NR_rt_sigaction),
    SC_ALLOW(__NR_rt_sigprocmask),
    SC_ALLOW(__NR_rt_sigreturn),
    SC_ALLOW(__NR_sigaltstack),
    SC_ALLOW(__NR_restart_syscall),
    SC_ALLOW(__NR_tgkill), /* abort() */
    SC_ALLOW(__NR_exit),
    SC_ALLOW(__NR_exit_group),
    SC_RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
};

static int install(const struct sock_filter *f, size_t n)
{
    struct sock_fprog prog = {(unsigned short)n, (struct sock_filter *)f};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        log_warn("seccomp");
        return PS_E_IO;
    }
    return PS_OK;
}

#define SC_ARG0 offsetof(struct seccomp_data, args[0])

/*
 * Threads (the keyholder's signers and committer, libcurl's resolver in the courier): clone
 * only with CLONE_THREAD; clone3 answers ENOSYS so that glibc falls back to clone, whose flags
 * a filter can read. Inserted before the worker filter's final "EPERM"; the syscall number is
 * still loaded after it unless clone matched.
 */
static const struct sock_filter thread_extra[] = {
    SC_ALLOW(__NR_set_robust_list),
    SC_ALLOW(__NR_sched_getaffinity), /* pthread_getattr_np (sanitizers, new threads) */
#ifdef __NR_rseq
    SC_ALLOW(__NR_rseq),
#endif
#ifdef __NR_clone3
    SC_IS(__NR_clone3, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
#endif
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SC_ARG0),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
    SC_RET(SECCOMP_RET_ALLOW),
    SC_RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)), /* a process, not a thread */
};

/* The courier's outbound TCP: socket for AF_INET/AF_INET6 only, connect, connected pairs.
 * Last before the final "EPERM" (it loads an argument). */
static const struct sock_filter net_extra[] = {
    SC_ALLOW(__NR_connect),
    SC_ALLOW(__NR_socketpair),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SC_ARG0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0),
    SC_RET(SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)),
    SC_RET(SECCOMP_RET_ALLOW),
};

#define NWORKER (sizeof(worker_filter) / sizeof(worker_filter[0]))
#define NTHREAD (sizeof(thread_extra) / sizeof(thread_extra[0]))
#define NNET    (sizeof(net_extra) / sizeof(net_extra[0]))

/* The worker filter with the thread rules (and the network rules) before its final EPERM. */
static int install_extended(int net)
{
    struct sock_filter f[NWORKER + NTHREAD + NNET];
    size_t n = NWORKER - 1;

    memcpy(f, worker_filter, n * sizeof(f[0]));
    memcpy(f + n, thread_extra, sizeof(thread_extra));
    n += NTHREAD;
    if (net) {
        memcpy(f + n, net_extra, sizeof(net_extra));
        n += NNET;
    }
    f[n++] = worker_filter[NWORKER - 1];
    return install(f, n);
}
#endif

int privsep_sandbox_worker(void)
{
#ifdef PS_AUDIT_ARCH
    return install(worker_filter, sizeof(worker_filter) / sizeof(worker_filter[0]));
#else
    log_warnx("no seccomp filter for this architecture; workers run without one");
    return PS_OK;
#endif
}

int privsep_sandbox_courier(void)
{
#ifdef PS_AUDIT_ARCH
    return install_extended(1);
#else
    log_warnx("no seccomp filter for this architecture; the courier runs without one");
    return PS_OK;
#endif
}

int privsep_sandbox_keyholder(void)
{
#ifdef PS_AUDIT_ARCH
    return install_extended(0);
#else
    log_warnx("no seccomp filter for this architecture; the keyholder runs without one");
    return PS_OK;
#endif
}

int privsep_recv_fd(int sock, uint8_t *tag, int *fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {tag, 1};
    struct msghdr msg = {0};
    struct cmsghdr *cm;
    ssize_t n;

    *fd = -1;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(cm), sizeof(int));
    return 1;
}
