#include "privsep.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

void privsep_harden(void)
{
    struct rlimit rl = {0, 0};

    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        log_warn("setrlimit(RLIMIT_CORE)");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        log_warn("PR_SET_DUMPABLE");
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

    if (geteuid() != 0 || user == NULL)
        return PS_OK;
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
