/* admin_req: the admin socket's request lines and the configuration edits they ask for. */
#include <stdlib.h>
#include <string.h>

#include "../../../appliance/admin_req.h"
#include "../unit.h"

static struct admin_req rq;
static char err[512];

static int parse(const char *line)
{
    err[0] = 0;
    return admin_req_parse(line, strlen(line), &rq, err, sizeof(err));
}

static int refused(const char *line, const char *why)
{
    int ok = parse(line) == PS_E_INVAL && strstr(err, why) != NULL;

    if (!ok)
        printf("# %s: '%s'\n", line, err);
    return ok;
}

/* The edit of text for line; "" when refused (err says why). */
static char *edit(const char *line, const char *text)
{
    static char out[4096];
    struct buf b;

    out[0] = 0;
    if (parse(line) != PS_OK)
        return out;
    if (admin_req_edit(&rq, text, strlen(text), &b, 4000, err, sizeof(err)) == PS_OK)
        snprintf(out, sizeof(out), "%s", (const char *)b.data);
    buf_free(&b);
    return out;
}

static void test_parse(void)
{
    CHECK(parse("{\"cmd\":\"status\"}") == PS_OK && rq.cmd == ADMIN_STATUS && !admin_req_edits(&rq),
          "status parses and changes nothing");
    CHECK(parse(" { \"cmd\" : \"reload\" } ") == PS_OK && rq.cmd == ADMIN_RELOAD,
          "blanks around JSON are fine");
    CHECK(parse("{\"cmd\":\"config-check\"}") == PS_OK && rq.cmd == ADMIN_CONFIG_CHECK,
          "config-check");
    CHECK(parse("{\"cmd\":\"tenant-add\",\"id\":\"acme\",\"cn\":\"acme.example\"}") == PS_OK &&
              rq.cmd == ADMIN_TENANT_ADD && strcmp(rq.f[AF_ID], "acme") == 0 &&
              strcmp(rq.f[AF_CN], "acme.example") == 0 && admin_req_edits(&rq),
          "tenant-add with id and cn");
    CHECK(parse("{\"cn\":\"x\",\"cmd\":\"officer-add\",\"id\":\"o\"}") == PS_OK &&
              rq.cmd == ADMIN_OFFICER_ADD,
          "members in any order");
    CHECK(parse("{\"cmd\":\"partner-add\",\"id\":\"sg\",\"root\":\"/r.pem\",\"cn\":\"p\","
                "\"url\":\"https://sg:1\",\"aeo_origin\":\"SG\",\"crl\":\"/c.pem\"}") == PS_OK,
          "partner-add with every member");
    CHECK(parse("{\"cmd\":\"key-add\",\"id\":\"k\",\"label\":\"k\",\"cert\":\"/k.pem\","
                "\"tenant\":\"t\",\"algs\":\"ecdsa-sha256\",\"profile\":\"ceb-sm2\","
                "\"sm2\":\"/k.wrapped\"}") == PS_OK,
          "key-add with every member");
    CHECK(parse("{\"cmd\":\"key-retire\",\"id\":\"k\"}") == PS_OK && rq.cmd == ADMIN_KEY_RETIRE,
          "key-retire");

    CHECK(refused("", "not JSON"), "an empty line");
    CHECK(refused("status", "not JSON"), "a bare word");
    CHECK(refused("[\"status\"]", "JSON object"), "an array");
    CHECK(refused("{}", "no \"cmd\""), "no cmd");
    CHECK(refused("{\"cmd\":1}", "no \"cmd\""), "cmd not a string");
    CHECK(refused("{\"cmd\":\"shutdown\"}", "unknown command"), "an unknown command");
    CHECK(refused("{\"cmd\":\"status\",\"id\":\"x\"}", "takes no member 'id'"),
          "status with a member");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\"}", "needs member cn"), "a missing member");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"b\",\"root\":\"/x\"}",
                  "takes no member 'root'"),
          "a member of another command");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"b\",\"cn\":\"c\"}", "not JSON"),
          "a duplicate member");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":7}", "must be a string"),
          "a number");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"b c\"}", "without blanks"),
          "a blank in a value");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"b\\nkey x label=y\"}",
                  "without blanks"),
          "a newline in a value (no second directive smuggled in)");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"b\\u0000\"}", "not JSON"),
          "a NUL in a value");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"\"}", "without blanks"),
          "an empty value");
    CHECK(refused("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"#x\"}", "'#'"),
          "a value that would start a comment");
    CHECK(refused("{\"cmd\":\"partner-add\",\"id\":\"sg\",\"root\":\"r.pem\",\"cn\":\"p\"}",
                  "absolute path"),
          "a relative root path");
    {
        char line[ADMIN_REQ_MAX + 64];

        snprintf(line, sizeof(line), "{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"%0*d\"}",
                 ADMIN_VALUE_MAX + 1, 0);
        CHECK(refused(line, "without blanks"), "a value over %d bytes", ADMIN_VALUE_MAX);
        memset(line, ' ', sizeof(line));
        memcpy(line, "{\"cmd\":\"status\"}", 16);
        line[ADMIN_REQ_MAX + 1] = 0;
        CHECK(refused(line, "longer than"), "a request line over %d bytes", ADMIN_REQ_MAX);
    }
}

/* tenant-add with limits, tenant-limit (set, change, remove) */
static void test_tenant_limit(void)
{
    const char *conf = "tenant a a.example\n"
                       "  tenant   ab ab.example sign_rate=5 sign_burst=9 # platform AB\r\n"
                       "tenant b b.example sign_rate=7\n";

    CHECK(strcmp(edit("{\"cmd\":\"tenant-add\",\"id\":\"c\",\"cn\":\"c.example\","
                      "\"sign_burst\":\"20\",\"sign_rate\":\"10\"}",
                      ""),
                 "tenant c c.example sign_rate=10 sign_burst=20\n") == 0,
          "tenant-add with sign_rate and sign_burst writes them after the CN");
    CHECK(parse("{\"cmd\":\"tenant-limit\",\"id\":\"a\"}") == PS_E_INVAL &&
              strstr(err, "needs member sign_rate") != NULL,
          "tenant-limit needs sign_rate (a number or unlimited)");
    CHECK(refused("{\"cmd\":\"tenant-limit\",\"id\":\"a\",\"sign_rate\":\"unlimited\","
                  "\"sign_burst\":\"3\"}",
                  "takes no sign_burst"),
          "tenant-limit: unlimited with a burst is refused");
    CHECK(refused("{\"cmd\":\"tenant-limit\",\"id\":\"a\",\"cn\":\"x\",\"sign_rate\":\"1\"}",
                  "takes no member 'cn'"),
          "tenant-limit takes no cn");
    CHECK(strcmp(edit("{\"cmd\":\"tenant-limit\",\"id\":\"a\",\"sign_rate\":\"3\"}", conf),
                 "tenant a a.example sign_rate=3\n"
                 "  tenant   ab ab.example sign_rate=5 sign_burst=9 # platform AB\r\n"
                 "tenant b b.example sign_rate=7\n") == 0,
          "tenant-limit sets a limit on exactly that tenant's line (not ab's)");
    CHECK(strcmp(edit("{\"cmd\":\"tenant-limit\",\"id\":\"ab\",\"sign_rate\":\"50\","
                      "\"sign_burst\":\"100\"}",
                      conf),
                 "tenant a a.example\n"
                 "tenant ab ab.example sign_rate=50 sign_burst=100 # platform AB\r\n"
                 "tenant b b.example sign_rate=7\n") == 0,
          "tenant-limit replaces both options and keeps the comment and the line end");
    CHECK(strcmp(edit("{\"cmd\":\"tenant-limit\",\"id\":\"b\",\"sign_rate\":\"unlimited\"}", conf),
                 "tenant a a.example\n"
                 "  tenant   ab ab.example sign_rate=5 sign_burst=9 # platform AB\r\n"
                 "tenant b b.example\n") == 0,
          "tenant-limit unlimited removes the options");
    CHECK(strcmp(edit("{\"cmd\":\"tenant-limit\",\"id\":\"b\",\"sign_rate\":\"4\"}",
                      "tenant b b.example sign_rate=7"),
                 "tenant b b.example sign_rate=4") == 0,
          "tenant-limit on a last line without newline");
    CHECK(edit("{\"cmd\":\"tenant-limit\",\"id\":\"zz\",\"sign_rate\":\"4\"}", conf)[0] == 0 &&
              strstr(err, "no tenant zz") != NULL,
          "tenant-limit of a tenant not in the file says so");
}

static void test_edit(void)
{
    const char *conf = "listen 127.0.0.1:1\nkey k1 tenant=a label=k1 cert=/k1.pem\n"
                       "  key   k1-old tenant=a label=x cert=/x.pem # old\n";

    CHECK(strcmp(edit("{\"cmd\":\"tenant-add\",\"id\":\"acme\",\"cn\":\"acme.example\"}", conf),
                 "listen 127.0.0.1:1\nkey k1 tenant=a label=k1 cert=/k1.pem\n"
                 "  key   k1-old tenant=a label=x cert=/x.pem # old\n"
                 "tenant acme acme.example\n") == 0,
          "tenant-add appends its line");
    CHECK(strcmp(edit("{\"cmd\":\"officer-add\",\"id\":\"o\",\"cn\":\"c\"}", "a 1"),
                 "a 1\nofficer o c\n") == 0,
          "a file without a final newline gets one before the new line");
    CHECK(strcmp(edit("{\"cmd\":\"partner-add\",\"cn\":\"p\",\"url\":\"https://h:1\",\"id\":\"sg\","
                      "\"root\":\"/r.pem\"}",
                      ""),
                 "partner sg root=/r.pem cn=p url=https://h:1\n") == 0,
          "partner-add writes its options in a fixed order");
    CHECK(strcmp(edit("{\"cmd\":\"key-add\",\"id\":\"k2\",\"cert\":\"/k2.pem\",\"label\":\"L\","
                      "\"tenant\":\"t\"}",
                      ""),
                 "key k2 tenant=t label=L cert=/k2.pem\n") == 0,
          "key-add");
    CHECK(strcmp(edit("{\"cmd\":\"key-retire\",\"id\":\"k1\"}", conf),
                 "listen 127.0.0.1:1\n# retired: key k1 tenant=a label=k1 cert=/k1.pem\n"
                 "  key   k1-old tenant=a label=x cert=/x.pem # old\n") == 0,
          "key-retire comments out exactly that key's line (not k1-old)");
    CHECK(strcmp(edit("{\"cmd\":\"key-retire\",\"id\":\"k1-old\"}", conf),
                 "listen 127.0.0.1:1\nkey k1 tenant=a label=k1 cert=/k1.pem\n"
                 "# retired:   key   k1-old tenant=a label=x cert=/x.pem # old\n") == 0,
          "key-retire finds a line with blanks around the words");
    CHECK(edit("{\"cmd\":\"key-retire\",\"id\":\"k3\"}", conf)[0] == 0 &&
              strstr(err, "no key k3") != NULL,
          "key-retire of a key not in the file says so");
    CHECK(edit("{\"cmd\":\"key-retire\",\"id\":\"k\"}", "# key k x\nkeyk k\n")[0] == 0,
          "comments and other words are no key lines");
    {
        char big[4000];

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        CHECK(edit("{\"cmd\":\"tenant-add\",\"id\":\"a\",\"cn\":\"b\"}", big)[0] == 0 &&
                  strstr(err, "larger than") != NULL,
              "an edit over the size limit is refused");
    }
    test_tenant_limit();
    CHECK(parse("{\"cmd\":\"status\"}") == PS_OK, "status");
    {
        struct buf b;

        CHECK(admin_req_edit(&rq, "", 0, &b, 100, err, sizeof(err)) == PS_E_INVAL,
              "status is no edit");
        buf_free(&b);
    }
}

int main(void)
{
    test_parse();
    test_edit();
    return unit_done();
}
