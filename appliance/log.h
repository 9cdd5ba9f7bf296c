/*
 * log.h - log lines carry the process name and the function (after OpenBSD log.c).
 * log_warn appends strerror(errno); log_warnx does not. Never log a PIN, a key or a token.
 * Lines go to stderr: the parent's stderr is the daemon log.
 */
#ifndef PS_LOG_H
#define PS_LOG_H

#include <stdarg.h>

void log_init(const char *procname, int debug);
void log_setproc(const char *procname);
/* 1: from now on each line is one JSON object {"ts","level","proc","pid","func","msg"} (and
 * "error": strerror(errno) for log_warn), for the log_format json directive; 0: text lines. */
void log_set_json(int on);
void log_msg(int level, const char *func, int with_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fatal_impl(const char *func, int with_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

enum { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

#define log_warn(...)  log_msg(LOG_LVL_WARN, __func__, 1, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LVL_WARN, __func__, 0, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __func__, 0, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __func__, 0, __VA_ARGS__)
#define fatal(...)     fatal_impl(__func__, 1, __VA_ARGS__)
#define fatalx(...)    fatal_impl(__func__, 0, __VA_ARGS__)

#endif
