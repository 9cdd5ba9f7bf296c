#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_proc[32] = "portseal";
static int log_debug_on, log_json;

void log_init(const char *procname, int debug)
{
    log_setproc(procname);
    log_debug_on = debug;
}

void log_setproc(const char *procname)
{
    snprintf(log_proc, sizeof(log_proc), "%s", procname);
}

void log_set_json(int on)
{
    log_json = on;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* s as the inside of a JSON string into out (cap bytes, NUL-terminated; cut short if it does
 * not fit): quotes, backslashes and control characters escaped, invalid UTF-8 as U+FFFD. */
static void json_escape(char *out, size_t cap, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, n = strlen(s);

    while (*p && o + 7 < cap) {
        size_t l = utf8_len(p, n - (size_t)(p - (const unsigned char *)s));

        if (l == 0) {
            memcpy(out + o, "\\ufffd", 6);
            o += 6;
            p++;
        } else if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p++;
        } else if (*p == '\n' || *p == '\t') {
            out[o++] = '\\';
            out[o++] = *p++ == '\n' ? 'n' : 't';
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", *p++);
        } else {
            memcpy(out + o, p, l);
            o += l;
            p += l;
        }
    }
    out[o] = 0;
}

/* One JSON object per line: {"ts","level","proc","pid","func","msg"[,"error"]}. */
static void log_json_line(const char *ts, long ms, const char *level, const char *func,
                          const char *msg, int err)
{
    char emsg[6 * 1024 + 8], eerr[768], eproc[200], efunc[400];

    json_escape(emsg, sizeof(emsg), msg);
    json_escape(eproc, sizeof(eproc), log_proc);
    json_escape(efunc, sizeof(efunc), func);
    if (err)
        json_escape(eerr, sizeof(eerr), strerror(err));
    fprintf(stderr,
            "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"proc\":\"%s\",\"pid\":%d,\"func\":\"%s\","
            "\"msg\":\"%s\"%s%s%s}\n",
            ts, ms, level, eproc, (int)getpid(), efunc, emsg, err ? ",\"error\":\"" : "",
            err ? eerr : "", err ? "\"" : "");
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
    if (log_json)
        log_json_line(ts, now.tv_nsec / 1000000, names[level], func, msg, err);
    else if (err)
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
