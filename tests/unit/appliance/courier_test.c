/* courier_test.c - the courier's backoff and which failures it logs (appliance/courier.c). */
#include "../../../appliance/courier.h"

#include "../unit.h"

static void test_failure_logged(void)
{
    uint64_t last = 0;
    int n = 0;

    CHECK(courier_failure_logged(1, "connection refused", &last), "the first failure is logged");
    for (unsigned f = 2; f <= 9; f++)
        n += courier_failure_logged(f, "connection refused", &last);
    CHECK(n == 0, "the same reason again, attempts 2-9: not logged (%d)", n);
    CHECK(courier_failure_logged(10, "connection refused", &last), "the tenth is logged");
    CHECK(!courier_failure_logged(11, "connection refused", &last), "the eleventh is not");
    CHECK(courier_failure_logged(12, "TLS handshake: certificate verify failed", &last),
          "a new reason is logged at once (the partner came back with a wrong certificate)");
    CHECK(!courier_failure_logged(13, "TLS handshake: certificate verify failed", &last),
          "and then not again while it stays the same");
    CHECK(courier_failure_logged(14, "connection refused", &last), "going back is a change too");
    CHECK(courier_failure_logged(1, "connection refused", &last),
          "after a success, the first failure is logged even with the last reason");
    CHECK(courier_failure_logged(2, "", &last), "an empty reason after a real one is a change");
    CHECK(!courier_failure_logged(3, "", &last), "and repeats quietly");
}

static void test_backoff(void)
{
    int ok = 1;

    for (unsigned f = 1; f <= 40; f++) {
        int64_t want = 1000, d;

        for (unsigned i = 1; i < f && want < 60000; i++)
            want *= 2;
        if (want > 60000)
            want = 60000;
        for (int k = 0; k < 50; k++) {
            d = courier_backoff_ms(f, 1000, 60000);
            if (d < want / 2 || d > want) {
                CHECK(0, "failure %u: %lld ms is outside %lld..%lld", f, (long long)d,
                      (long long)(want / 2), (long long)want);
                ok = 0;
            }
        }
    }
    CHECK(ok, "backoff doubles from 1 s, stays under the 60 s cap, jitter 0.5..1.0 (40 counts)");
}

int main(void)
{
    test_failure_logged();
    test_backoff();
    return unit_done();
}
