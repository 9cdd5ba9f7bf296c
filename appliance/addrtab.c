/*
 * addrtab.c - connections per address: open addressing with linear probing, at most half full
 * (the slots are twice max_addrs, rounded up to a power of two), and deletion by moving later
 * entries of the run back, so that no tombstones accumulate.
 */
#include "addrtab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct addr_slot {
    char key[ADDRTAB_KEY]; /* "" when empty */
    unsigned count;
};

struct addrtab {
    size_t mask, used, max;
    uint64_t seed; /* random: addresses chosen to collide cannot be worked out offline */
    struct addr_slot *slots;
};

static size_t hash(const struct addrtab *t, const char *s)
{
    uint64_t h = 1469598103934665603u ^ t->seed; /* FNV-1a from a random start */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)(h ^ h >> 29);
}

struct addrtab *addrtab_new(size_t max_addrs)
{
    struct addrtab *t = calloc(1, sizeof(*t));
    size_t n = 8;

    if (t == NULL || max_addrs > SIZE_MAX / 4 / sizeof(*t->slots)) {
        free(t);
        return NULL;
    }
    if (getrandom(&t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed))
        t->seed = (uint64_t)(uintptr_t)t; /* no randomness: still a working table */
    while (n < 2 * max_addrs)
        n *= 2;
    if ((t->slots = calloc(n, sizeof(*t->slots))) == NULL) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    t->max = max_addrs;
    return t;
}

void addrtab_free(struct addrtab *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}

/* The slot of key, or the empty slot where it would go. */
static size_t find(const struct addrtab *t, const char *key)
{
    size_t i = hash(t, key) & t->mask;

    while (t->slots[i].key[0] != '\0' && strcmp(t->slots[i].key, key) != 0)
        i = (i + 1) & t->mask;
    return i;
}

/* addr as a key (cut to ADDRTAB_KEY - 1 bytes; "" is "?"), and the slot it has or would get */
static size_t slot_of(const struct addrtab *t, const char *addr, char key[ADDRTAB_KEY])
{
    snprintf(key, ADDRTAB_KEY, "%.*s", ADDRTAB_KEY - 1, addr[0] ? addr : "?");
    return find(t, key);
}

unsigned addrtab_count(const struct addrtab *t, const char *addr)
{
    char key[ADDRTAB_KEY];
    size_t i;

    if (t == NULL)
        return 0;
    i = slot_of(t, addr, key);
    return t->slots[i].key[0] ? t->slots[i].count : 0;
}

unsigned addrtab_add(struct addrtab *t, const char *addr)
{
    char key[ADDRTAB_KEY];
    size_t i;

    if (t == NULL)
        return 1;
    i = slot_of(t, addr, key);
    if (t->slots[i].key[0] == '\0') {
        if (t->used >= t->max)
            return 0;
        memcpy(t->slots[i].key, key, sizeof(key));
        t->slots[i].count = 0;
        t->used++;
    }
    return ++t->slots[i].count;
}

void addrtab_remove(struct addrtab *t, const char *addr)
{
    char key[ADDRTAB_KEY];
    size_t i, j;

    if (t == NULL)
        return;
    i = slot_of(t, addr, key);
    if (t->slots[i].key[0] == '\0' || --t->slots[i].count > 0)
        return;
    /* empty slot i, then move back every later entry of the run whose home is not in (i, j] */
    t->slots[i].key[0] = '\0';
    t->used--;
    for (j = (i + 1) & t->mask; t->slots[j].key[0] != '\0'; j = (j + 1) & t->mask) {
        size_t home = hash(t, t->slots[j].key) & t->mask;

        if (((j - home) & t->mask) < ((j - i) & t->mask))
            continue; /* its home lies after the hole: it stays */
        t->slots[i] = t->slots[j];
        t->slots[j].key[0] = '\0';
        i = j;
    }
}
