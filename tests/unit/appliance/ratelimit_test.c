/* ratelimit_test.c - token buckets and the per-client table (appliance/ratelimit.c). */
#include "../../../appliance/ratelimit.h"

#include <stdio.h>

#include "../unit.h"

static void test_bucket(void)
{
    struct rl_bucket b = {0, 0};
    int n = 0;

    for (int i = 0; i < 100; i++)
        n += rl_take(&b, 10, 20, 100.0);
    CHECK(n == 20, "a fresh bucket gives its burst (20), then nothing (%d)", n);
    CHECK(rl_take(&b, 10, 20, 100.05) == 0, "0.05 s at 10/s is not a whole token");
    CHECK(rl_take(&b, 10, 20, 100.2) == 1, "0.2 s at 10/s refills one token or two");
    n = 0;
    for (int i = 0; i < 100; i++)
        n += rl_take(&b, 10, 20, 1000.0);
    CHECK(n == 20, "a long pause refills to the burst, not beyond (%d)", n);
    CHECK(rl_take(&b, 10, 20, 999.0) == 0, "a clock going back adds nothing");
}

/* rl_take_n: n tokens, all or none, and how long until they are there */
static void test_bucket_n(void)
{
    struct rl_bucket b = {0, 0};
    double wait = -1;

    CHECK(rl_take_n(&b, 8, 5, 10, 50.0, &wait) == 1 && wait == 0, "8 of a fresh bucket of 10");
    CHECK(rl_take_n(&b, 3, 5, 10, 50.0, &wait) == 0 && wait > 0.19 && wait < 0.21,
          "3 more: refused, 1 token missing at 5/s is 0.2 s (%g)", wait);
    CHECK(rl_take_n(&b, 2, 5, 10, 50.0, NULL) == 1, "the 2 left are still there (nothing taken)");
    CHECK(rl_take_n(&b, 1, 5, 10, 50.1, &wait) == 0 && wait > 0.09 && wait < 0.11,
          "half a token after 0.1 s: refused, wait 0.1 s (%g)", wait);
    CHECK(rl_take_n(&b, 10, 5, 10, 60.0, &wait) == 1, "after 10 s the whole burst again");
    CHECK(rl_take_n(&b, 10, 5, 10, 61.0, &wait) == 0 && wait > 0.99 && wait < 1.01,
          "10 after 1 s at 5/s: 5 missing, 1 s (%g)", wait);
}

static void test_table(void)
{
    struct rl_table *t = rl_table_new(64);
    char key[32];
    int a = 0, b = 0, again = 0;

    CHECK(t != NULL, "table of 64");
    if (t == NULL)
        return;
    for (int i = 0; i < 10; i++) {
        a += rl_table_take(t, "cn:a", 1, 5, 10.0);
        b += rl_table_take(t, "cn:b", 1, 5, 10.0);
    }
    CHECK(a == 5 && b == 5, "each client has its own bucket (%d, %d)", a, b);
    /* many other clients push "cn:a" out; it then starts full again (a forgotten client is
     * one that was idle longest) */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "ip:10.0.%d.%d", i / 256, i % 256);
        rl_table_take(t, key, 1, 5, 11.0 + i * 0.001);
    }
    for (int i = 0; i < 10; i++)
        again += rl_table_take(t, "cn:a", 1, 5, 12.0);
    CHECK(again >= 2 && again <= 5, "an evicted client gets at most a fresh burst (%d)", again);
    {
        char longkey[300];

        for (size_t i = 0; i < sizeof(longkey) - 1; i++)
            longkey[i] = 'x';
        longkey[sizeof(longkey) - 1] = 0;
        CHECK(rl_table_take(t, longkey, 1, 1, 20.0) == 1 &&
                  rl_table_take(t, longkey, 1, 1, 20.0) == 0,
              "a long key is cut, and still one client");
    }
    rl_table_free(t);
    CHECK(rl_table_new(2) == NULL, "a table smaller than the probe window is refused");
    rl_table_free(NULL);
}

int main(void)
{
    test_bucket();
    test_bucket_n();
    test_table();
    return unit_done();
}
