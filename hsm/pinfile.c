#include "pinfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define PIN_MAX 256

int pin_read(const char *path, struct pin *out, char *err, size_t errlen)
{
    struct stat st;
    ssize_t n;
    size_t len = 0;
    int fd;

    out->data = NULL;
    out->len = 0;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return PS_E_NOMEM;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        snprintf(err, errlen, "cannot open PIN file %s: %s", path, strerror(errno));
        return PS_E_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        snprintf(err, errlen, "PIN file %s must be a regular file readable by its owner only",
                 path);
        close(fd);
        return PS_E_DENIED;
    }
    if ((out->data = sodium_malloc(PIN_MAX + 1)) == NULL) {
        close(fd);
        snprintf(err, errlen, "cannot allocate locked memory for the PIN");
        return PS_E_NOMEM;
    }
    while (len < PIN_MAX && (n = read(fd, out->data + len, PIN_MAX - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (len && out->data[len - 1] == '\n')
        len--;
    if (len && out->data[len - 1] == '\r')
        len--;
    out->data[len] = 0;
    out->len = len;
    if (len == 0) {
        pin_wipe(out);
        snprintf(err, errlen, "PIN file %s is empty", path);
        return PS_E_INVAL;
    }
    return PS_OK;
}

void pin_wipe(struct pin *p)
{
    if (p->data) {
        sodium_memzero(p->data, PIN_MAX + 1);
        sodium_free(p->data);
    }
    p->data = NULL;
    p->len = 0;
}
