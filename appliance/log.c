#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_proc[32] = "portseal";
static int log_debug_on;

void log_init(const char *procname, int debug)
{
    log_setproc(procname);
    log_debug_on = debug;
}

void log_setproc(const char *procname)
{
    snprintf(log_proc, sizeof(log_proc), "%s", procname);
}

static void log_vmsg(int level, const char *func, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void log_vmsg(int level, const char *func, int err, const char *fmt, va_list ap)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    char msg[1024], ts[32];
    struct timespec now;
    struct tm tm;

    if (level == LOG_LVL_DEBUG && !log_debug_on)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    if (err)
        fprintf(stderr, "%s.%03ldZ %s[%d] %s %s: %s: %s\n", ts, now.tv_nsec / 1000000, log_proc,
                (int)getpid(), names[level], func, msg, strerror(err));
    else
        fprintf(stderr, "%s.%03ldZ %s[%d] %s %s: %s\n", ts, now.tv_nsec / 1000000, log_proc,
                (int)getpid(), names[level], func, msg);
}

void log_msg(int level, const char *func, int with_errno, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, func, with_errno ? saved : 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

void fatal_impl(const char *func, int with_errno, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_ERR, func, with_errno ? saved : 0, fmt, ap);
    va_end(ap);
    exit(1);
}
