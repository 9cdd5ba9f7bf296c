/*
 * addrtab.h - open connections per client address (max_connections_per_address): a fixed
 * hash table, sized once for the worker's connection cap, so nothing allocates per connection.
 * An address has an entry only while it has connections.
 */
#ifndef PS_ADDRTAB_H
#define PS_ADDRTAB_H

#include <stddef.h>

#define ADDRTAB_KEY 48 /* an address as text (INET6_ADDRSTRLEN is 46) */

struct addrtab;

/* A table for up to max_addrs addresses at once; NULL if out of memory. */
struct addrtab *addrtab_new(size_t max_addrs);
void addrtab_free(struct addrtab *t);
/* (A NULL table counts nothing: every add succeeds, every count is 0.) */
/* Connections of addr now (0 for an address without an entry). */
unsigned addrtab_count(const struct addrtab *t, const char *addr);
/* One more connection of addr: its new count, or 0 when the table holds max_addrs other
 * addresses already (the caller refuses the connection). */
unsigned addrtab_add(struct addrtab *t, const char *addr);
/* One fewer (the entry goes at 0; an unknown address is ignored). */
void addrtab_remove(struct addrtab *t, const char *addr);

#endif
