/* peerkey_test.c - the client a connection counts as for the limits per address
 * (appliance/conn.c, conn_peer_key): IPv4 as it is, IPv4-mapped as IPv4, IPv6 by its /64. */
#include "../../../appliance/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "../unit.h"

static const char *key_of(int family, const char *text)
{
    static char out[CONN_PEER_MAX];
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET)
        inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr);
    else if (family == AF_INET6)
        inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr);
    conn_peer_key(&ss, out, sizeof(out));
    return out;
}

int main(void)
{
    char small[8];
    struct sockaddr_storage ss;

    CHECK(strcmp(key_of(AF_INET, "192.0.2.7"), "192.0.2.7") == 0, "IPv4: the address");
    CHECK(strcmp(key_of(AF_INET6, "::ffff:192.0.2.7"), "192.0.2.7") == 0,
          "IPv4-mapped IPv6: the same key as the IPv4 address");
    CHECK(strcmp(key_of(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64") == 0,
          "IPv6: its /64 (%s)", key_of(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
    CHECK(strcmp(key_of(AF_INET6, "2001:db8:1:2::1"), key_of(AF_INET6, "2001:db8:1:2:ffff::9")) ==
              0,
          "two addresses of one /64 count as one client");
    CHECK(strcmp(key_of(AF_INET6, "2001:db8:1:3::1"), "2001:db8:1:3::/64") == 0,
          "the next /64 is another client");
    CHECK(strcmp(key_of(AF_INET6, "::1"), "::/64") == 0, "::1 is ::/64");
    CHECK(strcmp(key_of(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                 "ffff:ffff:ffff:ffff::/64") == 0 &&
              strlen(key_of(AF_INET6, "ffff:ffff:ffff:ffff::")) < CONN_PEER_MAX,
          "the longest key fits CONN_PEER_MAX");
    CHECK(strcmp(key_of(AF_UNIX, ""), "?") == 0, "another family: ?");
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8:1:2::1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
    conn_peer_key(&ss, small, sizeof(small));
    CHECK(strcmp(small, "?") == 0, "a buffer too small for the key: ? (%s)", small);
    return unit_done();
}
