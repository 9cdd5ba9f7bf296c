/*
 * err.h - portseal's one error enum (after OpenSSH's ssherr.h).
 * Functions return 0 (PS_OK) on success or a negative PS_E_* code.
 */
#ifndef PS_ERR_H
#define PS_ERR_H

#define PS_WUR __attribute__((warn_unused_result))

enum ps_err {
    PS_OK = 0,
    PS_E_NOMEM = -1,       /* allocation failed */
    PS_E_LIMIT = -2,       /* a hard size limit was reached */
    PS_E_INVAL = -3,       /* malformed input */
    PS_E_IO = -4,          /* system call failed (see errno) */
    PS_E_EOF = -5,         /* peer closed */
    PS_E_NOTFOUND = -6,    /* no such object */
    PS_E_DENIED = -7,      /* policy refused */
    PS_E_UNSUPPORTED = -8, /* algorithm or mechanism not supported */
    PS_E_HSM = -9,         /* PKCS#11 call failed */
    PS_E_CRYPTO = -10,     /* OpenSSL failed */
    PS_E_AGAIN = -11,      /* would block; try later */
    PS_E_UNAVAIL = -12,    /* service (keyholder, storage) unavailable */
    PS_E_STORAGE = -13,    /* database failed */
    PS_E_CONFIG = -14,     /* configuration invalid */
    PS_E_RATE = -15,       /* a rate limit was reached (a tenant's sign_rate); try later */
};

/* Static string for an error code; never NULL. */
const char *ps_strerror(int err);

#include <stddef.h>
/* Format a reason into err (when err and errlen are set) and return code: the one helper for
 * "return ps_errf(PS_E_INVAL, err, errlen, "line %d: ...", n);". */
int ps_errf(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
