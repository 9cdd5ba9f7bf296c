/* addrtab_test.c - connections per address (appliance/addrtab.c): counts, the size bound, and
 * deletion inside probe runs, against a plain array as the reference. */
#include "../../../appliance/addrtab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"

static void test_basic(void)
{
    struct addrtab *t = addrtab_new(3);

    CHECK(t != NULL, "a table for 3 addresses");
    CHECK(addrtab_count(t, "127.0.0.1") == 0, "an unknown address has 0 connections");
    CHECK(addrtab_add(t, "127.0.0.1") == 1 && addrtab_add(t, "127.0.0.1") == 2,
          "two connections of 127.0.0.1");
    CHECK(addrtab_add(t, "::1") == 1 && addrtab_add(t, "10.0.0.1") == 1, "two more addresses");
    CHECK(addrtab_add(t, "10.0.0.2") == 0, "a fourth address does not fit (0)");
    CHECK(addrtab_add(t, "::1") == 2, "a known one still counts up when the table is full");
    addrtab_remove(t, "::1");
    addrtab_remove(t, "::1");
    CHECK(addrtab_count(t, "::1") == 0, "::1 is gone with its last connection");
    CHECK(addrtab_add(t, "10.0.0.2") == 1, "which makes room for another address");
    addrtab_remove(t, "192.0.2.9");
    CHECK(addrtab_count(t, "127.0.0.1") == 2, "removing an unknown address changes nothing");
    addrtab_remove(t, "10.0.0.1");
    CHECK(addrtab_add(t, "") == 1 && addrtab_count(t, "?") == 1, "an empty address counts as ?");
    addrtab_free(t);
    addrtab_free(NULL);
    CHECK(addrtab_add(NULL, "::1") == 1 && addrtab_count(NULL, "::1") == 0,
          "no table (the cap is off): every add passes, nothing is counted");
    addrtab_remove(NULL, "::1");
}

/* Random adds and removes over 300 addresses in a table for 256: the table always agrees with
 * a plain array, through every kind of probe-run deletion. */
static void test_random(void)
{
    enum { ADDRS = 300, CAP = 256 };
    static unsigned ref[ADDRS];
    struct addrtab *t = addrtab_new(CAP);
    unsigned seed = 12345, live = 0;
    int bad = 0;
    char a[64];

    for (int step = 0; step < 200000 && !bad; step++) {
        int k = (int)((seed = seed * 1103515245u + 12345u) >> 8) % ADDRS;
        int add = (seed >> 4) & 1;

        snprintf(a, sizeof(a), "10.%d.%d.%d", k % 7, k / 7, k);
        if (add) {
            unsigned got = addrtab_add(t, a);

            if (ref[k] == 0 && live == CAP)
                bad |= got != 0;
            else {
                live += ref[k] == 0;
                bad |= got != ++ref[k];
            }
        } else if (ref[k] > 0) {
            addrtab_remove(t, a);
            live -= --ref[k] == 0;
        }
        if (step % 997 == 0)
            for (int j = 0; j < ADDRS && !bad; j++) {
                snprintf(a, sizeof(a), "10.%d.%d.%d", j % 7, j / 7, j);
                bad |= addrtab_count(t, a) != ref[j];
            }
    }
    CHECK(!bad, "200000 random adds and removes agree with the reference (%u addresses live)",
          live);
    addrtab_free(t);
}

int main(void)
{
    test_basic();
    test_random();
    return unit_done();
}
