#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *ps_strerror(int err)
{
    switch (err) {
    case PS_OK: return "success";
    case PS_E_NOMEM: return "out of memory";
    case PS_E_LIMIT: return "size limit exceeded";
    case PS_E_INVAL: return "invalid input";
    case PS_E_IO: return "system error";
    case PS_E_EOF: return "peer closed the connection";
    case PS_E_NOTFOUND: return "not found";
    case PS_E_DENIED: return "denied by policy";
    case PS_E_UNSUPPORTED: return "not supported";
    case PS_E_HSM: return "HSM error";
    case PS_E_CRYPTO: return "cryptographic library error";
    case PS_E_AGAIN: return "try again";
    case PS_E_UNAVAIL: return "service unavailable";
    case PS_E_STORAGE: return "storage error";
    case PS_E_CONFIG: return "configuration error";
    case PS_E_RATE: return "rate limit reached";
    }
    return "unknown error";
}

int ps_errf(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
