/*
 * pinfile.h - read the token PIN from a file into locked memory (sodium_malloc).
 * The caller wipes it with pin_wipe as soon as it has logged in.
 */
#ifndef PS_PINFILE_H
#define PS_PINFILE_H

#include <stddef.h>
#include "../protocol/err.h"

struct pin {
    char *data; /* sodium_malloc'd, NUL-terminated */
    size_t len;
};

/* Reads at most 256 bytes, strips one trailing newline; refuses a group/world-readable file. */
int pin_read(const char *path, struct pin *out, char *err, size_t errlen) PS_WUR;
void pin_wipe(struct pin *p);

#endif
