#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../appliance/config.h"
#include "../../../protocol/alg.h"
#include "../../../protocol/strnum.h"
#include "../unit.h"

#define EXAMPLE "portseald.conf.example"

/* Required directives plus one tenant and one key; a line appended after these is line 13. */
static const char *const head_lines[] = {
    "# test config",
    "",
    "listen 127.0.0.1:8443",
    "state_dir /var/lib/portseal",
    "tls_cert /etc/c.pem",
    "tls_key /etc/k.pem",
    "client_ca /etc/ca.pem",
    "pkcs11_module /usr/lib/m.so",
    "pkcs11_token tok",
    "pin_file /etc/pin",
    "tenant ta cn-a",
    "key k0 tenant=ta label=l0 cert=/c0.pem",
    NULL,
};
#define EXTRA_LINE 13

static char *join(const char *skip, const char *extra, const char *tail)
{
    size_t n = 1 + (extra ? strlen(extra) + 1 : 0) + (tail ? strlen(tail) : 0);
    char *t, *p;

    for (int i = 0; head_lines[i]; i++)
        n += strlen(head_lines[i]) + 1;
    p = t = malloc(n);
    for (int i = 0; head_lines[i]; i++) {
        size_t l = strlen(head_lines[i]);

        if (skip && strncmp(head_lines[i], skip, strlen(skip)) == 0 &&
            head_lines[i][strlen(skip)] == ' ')
            continue;
        memcpy(p, head_lines[i], l);
        p += l;
        *p++ = '\n';
    }
    if (extra) {
        memcpy(p, extra, strlen(extra));
        p += strlen(extra);
        *p++ = '\n';
    }
    if (tail) {
        memcpy(p, tail, strlen(tail));
        p += strlen(tail);
    }
    *p = 0;
    return t;
}

/* Parse len bytes; expect PS_E_CONFIG with err starting "line N:" (N > 0) or with prefix. */
static int fails_len(const char *text, size_t len, int line, const char *prefix, const char *needle)
{
    struct config cfg;
    char err[512] = "", want[32];
    int rc;

    rc = config_parse(text, len, &cfg, err, sizeof(err));
    if (rc == PS_OK) {
        printf("# parsed OK, expected an error\n");
        config_free(&cfg);
        return 0;
    }
    config_free(&cfg); /* must be safe after a failed parse */
    printf("# err: %s\n", err);
    if (line > 0) {
        snprintf(want, sizeof(want), "line %d: ", line);
        prefix = want;
    }
    return rc == PS_E_CONFIG && strncmp(err, prefix, strlen(prefix)) == 0 &&
           (needle == NULL || strstr(err, needle) != NULL);
}

static int fails_at(const char *extra, const char *needle)
{
    char *t = join(NULL, extra, "# end\n");
    int ok = fails_len(t, strlen(t), EXTRA_LINE, NULL, needle);

    free(t);
    return ok;
}

static int parses_with(const char *extra, struct config *cfg)
{
    char *t = join(NULL, extra, NULL), err[512] = "";
    int rc = config_parse(t, strlen(t), cfg, err, sizeof(err));

    if (rc != PS_OK)
        printf("# err: %s\n", err);
    free(t);
    return rc == PS_OK;
}

static const char full[] = "# a full configuration\n"
                           "listen 192.0.2.7:9443\n"
                           "workers 8\n"
                           "user portseal\n"
                           "pid_file /run/portseald.pid\n"
                           "state_dir /var/lib/ps\n"
                           "tls_cert /etc/ps/server.pem\n"
                           "tls_key /etc/ps/server.key\n"
                           "client_ca /etc/ps/ca.pem\n"
                           "crl /etc/ps/crl.pem\n"
                           "pkcs11_module /usr/lib/softhsm/libsofthsm2.so\n"
                           "pkcs11_token my-token\n"
                           "pin_file /etc/ps/pin\n"
                           "sm2_wrap_key my-wrap\n"
                           "pkcs11_env SOFTHSM2_CONF=/etc/ps/softhsm2.conf\n"
                           "pkcs11_env OTHER=a=b\n"
                           "keyholder_threads 4\n"
                           "max_body 2048\n"
                           "max_hashes 5000\n"
                           "max_streams 50\n"
                           "max_connections 999\n"
                           "max_connections_per_address 17\n"
                           "idle_timeout 300\n"
                           "handshake_timeout 7\n"
                           "tls_ticket_lifetime 600\n"
                           "keyholder_timeout 9\n"
                           "max_header_size 8192\n"
                           "header_timeout 3\n"
                           "body_timeout 4\n"
                           "send_timeout 5\n"
                           "request_rate 0\n"
                           "request_burst 6\n"
                           "control_frame_rate 7\n"
                           "reset_rate 8\n"
                           "reset_burst 9\n"
                           "max_continuations 2\n"
                           "connection_rate 11\n"
                           "tenant platform-a platform-a.cn.test\n"
                           "tenant Plat_B.2 b-cn\n"
                           "key t1-ec tenant=platform-a label=t1-ec-label cert=/etc/ps/t1.pem "
                           "algs=ecdsa-sha256,ecdsa-sha384\n"
                           "key t2.rsa tenant=Plat_B.2 label=rsa cert=/etc/ps/t2.pem\n"
                           "key K_3 cert=/c3.pem label=l3 tenant=platform-a algs=rsa-pkcs1-sha1\n"
                           "verify_ca /etc/ps/doc-ca.pem\n"
                           "tsa_key tsa-1\n"
                           "key tsa-1 label=tsa cert=/etc/ps/tsa.pem\n"
                           "tsa_policy 1.3.6.1.4.1.4146.2.3\n"
                           "tsa_accuracy_ms 250\n"
                           "key log-ed label=ledger cert=/etc/ps/ledger.pem\n"
                           "ledger_key log-ed\n"
                           "ledger_origin cn.example/log\n"
                           "checkpoint_interval 30\n"
                           "officer off-1 officer.cn.test\n"
                           "route_limit tsa body=4096 headers=2048\n"
                           "key seal-1 label=seal cert=/etc/ps/seal.pem\n"
                           "evidence_key seal-1\n"
                           "evidence_max_files 7\n"
                           "evidence_max_file 1000\n"
                           "evidence_max_total 5000\n"
                           "key xk label=x cert=/etc/ps/x.pem\n"
                           "exchange_key xk\n"
                           "partner_cert /etc/ps/partner.pem\n"
                           "partner_key /etc/ps/partner.key\n"
                           "p2p_name cn-sz\n"
                           "p2p_stream_max 7\n"
                           "partner sg root=/etc/ps/sg-root.pem cn=partner.sg url=https://sg:8443 "
                           "crl=/etc/ps/sg.crl\n"
                           "aeo_origin CN\n"
                           "aeo_id_prefix AEOCN,AEOX\n"
                           "aeo_poll_interval 5\n"
                           "aeo_digest_interval 60\n"
                           "admin_socket /run/ps/admin.sock\n"
                           "log_format json\n";

static int streq(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

static void test_full(void)
{
    struct config c;
    char err[256] = "";
    int seen[64] = {0}, all = 1;

    CHECK(config_parse(full, sizeof(full) - 1, &c, err, sizeof(err)) == PS_OK,
          "full config parses (%s)", err);
    CHECK(streq(c.listen_host, "192.0.2.7") && c.listen_port == 9443, "listen host and port");
    CHECK(c.workers == 8 && c.keyholder_threads == 4, "workers, keyholder_threads");
    CHECK(streq(c.user, "portseal") && streq(c.pid_file, "/run/portseald.pid") &&
              streq(c.state_dir, "/var/lib/ps"),
          "user, pid_file, state_dir");
    CHECK(streq(c.tls_cert, "/etc/ps/server.pem") && streq(c.tls_key, "/etc/ps/server.key") &&
              streq(c.client_ca, "/etc/ps/ca.pem") && streq(c.crl, "/etc/ps/crl.pem"),
          "tls_cert, tls_key, client_ca, crl");
    CHECK(streq(c.pkcs11_module, "/usr/lib/softhsm/libsofthsm2.so") &&
              streq(c.pkcs11_token, "my-token") && streq(c.pin_file, "/etc/ps/pin"),
          "pkcs11_module, pkcs11_token, pin_file");
    CHECK(c.n_env == 2 && streq(c.pkcs11_env[0], "SOFTHSM2_CONF=/etc/ps/softhsm2.conf") &&
              streq(c.pkcs11_env[1], "OTHER=a=b"),
          "pkcs11_env (repeatable, kept in order)");
    CHECK(c.max_body == 2048 && c.max_hashes == 5000 && c.max_streams == 50 &&
              c.max_connections == 999 && c.idle_timeout == 300 && c.handshake_timeout == 7 &&
              c.keyholder_timeout == 9 && c.tls_ticket_lifetime == 600 &&
              c.max_connections_per_address == 17,
          "numeric limits");
    CHECK(c.max_header_size == 8192 && c.header_timeout == 3 && c.body_timeout == 4 &&
              c.send_timeout == 5 && c.request_rate == 0 && c.request_burst == 6 &&
              c.control_frame_rate == 7 && c.reset_rate == 8 && c.reset_burst == 9 &&
              c.max_continuations == 2 && c.connection_rate == 11,
          "hardening limits");
    CHECK(c.ntenants == 2 && streq(c.tenants[0].id, "platform-a") &&
              streq(c.tenants[0].cn, "platform-a.cn.test") && streq(c.tenants[1].id, "Plat_B.2") &&
              streq(c.tenants[1].cn, "b-cn"),
          "tenants");
    CHECK(c.nkeys == 7, "seven keys");
    if (c.nkeys == 7) {
        CHECK(streq(c.keys[0].id, "t1-ec") && streq(c.keys[0].tenant, "platform-a") &&
                  streq(c.keys[0].label, "t1-ec-label") &&
                  streq(c.keys[0].cert_file, "/etc/ps/t1.pem") &&
                  c.keys[0].algs == ((1u << ALG_ECDSA_SHA256) | (1u << ALG_ECDSA_SHA384)),
              "key t1-ec with algs");
        CHECK(streq(c.keys[1].id, "t2.rsa") && streq(c.keys[1].tenant, "Plat_B.2") &&
                  c.keys[1].algs == 0,
              "key without algs= has algs 0 (type defaults)");
        CHECK(streq(c.keys[2].id, "K_3") && streq(c.keys[2].tenant, "platform-a") &&
                  streq(c.keys[2].label, "l3") && streq(c.keys[2].cert_file, "/c3.pem") &&
                  c.keys[2].algs == (1u << ALG_RSA_PKCS1_SHA1),
              "key options in any order");
    }
    {
        int tsa_line = 1; /* the line of "key tsa-1" in full */

        for (const char *p = full; p < strstr(full, "key tsa-1 "); p++)
            tsa_line += *p == '\n';
        CHECK(c.nkeys == 7 && streq(c.keys[3].id, "tsa-1") &&
                  streq(c.keys[3].tenant, CFG_OWNER_TSA) && streq(c.keys[3].label, "tsa") &&
                  c.keys[3].line == tsa_line,
              "the tsa_key (named before its key line) is owned by " CFG_OWNER_TSA
              " and knows its line");
    }
    CHECK(streq(c.verify_ca, "/etc/ps/doc-ca.pem") && streq(c.tsa_key, "tsa-1") &&
              streq(c.tsa_policy, "1.3.6.1.4.1.4146.2.3") && c.tsa_accuracy_ms == 250,
          "verify_ca, tsa_key, tsa_policy, tsa_accuracy_ms");
    CHECK(streq(c.ledger_key, "log-ed") && streq(c.ledger_origin, "cn.example/log") &&
              c.checkpoint_interval == 30 && c.aeo_poll_interval == 5 &&
              c.aeo_digest_interval == 60 &&
              streq(config_key(&c, "log-ed")->tenant, CFG_OWNER_LEDGER),
          "ledger_key (owner " CFG_OWNER_LEDGER "), ledger_origin, checkpoint_interval");
    CHECK(streq(c.evidence_key, "seal-1") && c.evidence_max_files == 7 &&
              c.evidence_max_file == 1000 && c.evidence_max_total == 5000 &&
              streq(config_key(&c, "seal-1")->tenant, CFG_OWNER_EVIDENCE),
          "evidence_key (owner " CFG_OWNER_EVIDENCE ") and the upload limits");
    CHECK(streq(c.exchange_key, "xk") && streq(config_key(&c, "xk")->tenant, CFG_OWNER_EXCHANGE),
          "exchange_key (owner " CFG_OWNER_EXCHANGE ")");
    CHECK(streq(c.p2p_name, "cn-sz") && c.p2p_stream_max == 7, "p2p_name, p2p_stream_max");
    CHECK(streq(c.admin_socket, "/run/ps/admin.sock"), "admin_socket");
    CHECK(c.nofficers == 1 && streq(c.officers[0].id, "off-1") &&
              config_officer_by_cn(&c, "officer.cn.test") == &c.officers[0],
          "officer");
    CHECK(c.npartners == 1 && config_partner(&c, "sg") == &c.partners[0] &&
              streq(c.partners[0].root, "/etc/ps/sg-root.pem") &&
              streq(c.partners[0].cn, "partner.sg") &&
              streq(c.partners[0].url, "https://sg:8443") &&
              streq(c.partners[0].crl, "/etc/ps/sg.crl"),
          "partner with root, cn, url, crl");
    CHECK(streq(c.aeo_origin, "CN") && streq(c.partners[0].aeo_origin, "SG"),
          "aeo_origin, and a partner's AEO origin defaults to its id in upper case");
    CHECK(streq(c.aeo_id_prefix, "AEOCN,AEOX") && streq(c.partners[0].aeo_id_prefix, "AEOSG"),
          "aeo_id_prefix, and a partner's defaults to AEO + its origin when the table has it");
    CHECK(config_aeo_id_allowed(&c, "CN", "AEOCN4403123456") &&
              config_aeo_id_allowed(&c, "CN", "AEOX1") &&
              !config_aeo_id_allowed(&c, "SG", "AEOCN4403123456"),
          "an identifier under our prefixes is ours alone");
    CHECK(config_aeo_id_allowed(&c, "SG", "AEOSG2019123456KA") &&
              !config_aeo_id_allowed(&c, "CN", "AEOSG2019123456KA"),
          "an identifier under a partner's prefix is that partner's alone");
    CHECK(!config_aeo_id_allowed(&c, "CN", "AEOKR123") &&
              !config_aeo_id_allowed(&c, "SG", "AEOKR1"),
          "an identifier no prefix claims: no origin here may hold it (none is \"any\")");
    CHECK(!config_aeo_id_allowed(&c, "HK", "AEOSG2019123456KA"), "an origin we do not know");
    CHECK(config_key(&c, "t2.rsa") == &c.keys[1] && config_key(&c, "t2") == NULL &&
              config_key(&c, "T1-EC") == NULL,
          "config_key finds by exact id");
    CHECK(config_tenant_by_cn(&c, "b-cn") == &c.tenants[1] &&
              config_tenant_by_cn(&c, "platform-a") == NULL,
          "config_tenant_by_cn finds by exact CN");

    /* The full config above uses every directive. */
    for (const char *const *d = config_directives; *d; d++) {
        char pat[64];
        int i = (int)(d - config_directives);

        snprintf(pat, sizeof(pat), "\n%s ", *d);
        if (i < 64)
            seen[i] = strstr(full, pat) != NULL;
        all &= i < 64 && seen[i];
        if (!(i < 64 && seen[i]))
            printf("# full config lacks directive %s\n", *d);
    }
    CHECK(all, "the full config in this test uses every directive in config_directives");
    config_free(&c);
    config_free(&c);
    CHECK(1, "config_free twice is safe");
}

static void test_defaults(void)
{
    struct config c;

    CHECK(parses_with(NULL, &c), "minimal config parses");
    CHECK(c.workers == 2, "default workers 2");
    CHECK(c.keyholder_threads == 2, "default keyholder_threads 2");
    CHECK(c.max_hashes == 1000, "default max_hashes 1000");
    CHECK(c.max_body == 1024 * 1024, "default max_body 1 MiB");
    CHECK(c.max_streams == 100, "default max_streams 100");
    CHECK(c.max_connections == 4096, "default max_connections 4096");
    CHECK(c.idle_timeout == 120, "default idle_timeout 120");
    CHECK(c.handshake_timeout == 10, "default handshake_timeout 10");
    CHECK(c.tls_ticket_lifetime == 3600, "default tls_ticket_lifetime 3600");
    CHECK(c.max_connections_per_address == 256, "default max_connections_per_address 256");
    CHECK(c.keyholder_timeout == 30, "default keyholder_timeout 30");
    CHECK(c.tsa_accuracy_ms == 1000, "default tsa_accuracy_ms 1000");
    CHECK(c.pid_file == NULL && c.crl == NULL && c.n_env == 0 && c.verify_ca == NULL &&
              c.tsa_key == NULL && c.tsa_policy == NULL && c.ledger_key == NULL &&
              c.evidence_key == NULL && c.admin_socket == NULL,
          "optional strings default to unset");
    CHECK(streq(c.user, "nobody"), "user defaults to nobody (workers never keep root)");
    CHECK(streq(c.ledger_origin, "portseal/ledger") && c.checkpoint_interval == 10 &&
              c.evidence_max_files == 100 && c.evidence_max_total == 64 * 1024 * 1024,
          "ledger and evidence defaults");
    CHECK(streq(c.aeo_origin, "portseal"), "aeo_origin defaults to ledger_origin before its '/'");
    CHECK(c.p2p_stream_max == 64, "default p2p_stream_max 64");
    CHECK(c.ntenants == 1 && c.nkeys == 1 && streq(c.keys[0].id, "k0"), "one tenant, one key");
    config_free(&c);
}

static void test_syntax_ok(void)
{
    struct config c;
    static const char crlf[] =
        "# crlf\r\n\r\nlisten [::1]:8443\r\n"
        "state_dir /s\r\ntls_cert /c\r\ntls_key /k\r\nclient_ca /ca\r\n"
        "   \t pkcs11_module\t/m.so   # trailing comment\r\n"
        "pkcs11_token tok\r\npin_file /p\r\nworkers 3\r\n"
        "tenant ta cn\r\nkey k tenant=ta label=l cert=/c.pem algs=ecdsa-sha256\r\n"
        "#last line without a newline";
    char err[256] = "";

    CHECK(config_parse(crlf, sizeof(crlf) - 1, &c, err, sizeof(err)) == PS_OK,
          "CRLF, blank lines, comments, tabs, leading blanks, no final newline (%s)", err);
    CHECK(streq(c.listen_host, "::1") && c.listen_port == 8443,
          "listen [::1]:8443 -> host ::1 port 8443");
    CHECK(streq(c.pkcs11_module, "/m.so") && streq(c.pkcs11_token, "tok") && c.workers == 3,
          "values have no CR or comment attached");
    CHECK(c.nkeys == 1 && streq(c.keys[0].cert_file, "/c.pem") &&
              c.keys[0].algs == (1u << ALG_ECDSA_SHA256),
          "CR stripped from the last word of a key line");
    config_free(&c);

    CHECK(parses_with("listen [2001:db8::5]:1", &c) && streq(c.listen_host, "2001:db8::5") &&
              c.listen_port == 1,
          "listen [2001:db8::5]:1");
    config_free(&c);
    CHECK(parses_with("listen localhost:65535", &c) && streq(c.listen_host, "localhost") &&
              c.listen_port == 65535,
          "listen localhost:65535");
    config_free(&c);
    CHECK(parses_with("listen 0.0.0.0:443", &c) && streq(c.listen_host, "0.0.0.0") &&
              c.listen_port == 443,
          "a later listen overrides the earlier one");
    config_free(&c);
    CHECK(parses_with("workers 1", &c) && c.workers == 1, "workers 1 (lower bound)");
    config_free(&c);
    CHECK(parses_with("workers 64", &c) && c.workers == 64, "workers 64 (upper bound)");
    config_free(&c);
    CHECK(parses_with("max_body 1073741824", &c) && c.max_body == 1073741824u,
          "max_body 1 GiB (upper bound)");
    config_free(&c);
    CHECK(parses_with("key k9 tenant=ta label=l cert=/c algs=ed25519", &c) && c.nkeys == 2 &&
              c.keys[1].algs == (1u << ALG_ED25519),
          "second key with algs=ed25519");
    config_free(&c);
    {
        char *line = malloc(4096);

        line[0] = '#';
        memset(line + 1, 'x', 4094);
        line[4095] = 0;
        CHECK(parses_with(line, &c), "a 4095-character comment line is fine");
        config_free(&c);
        free(line);
    }
}

static void test_errors(void)
{
    CHECK(fails_at("bogus 1", "unknown directive"), "unknown directive, with its line");
    CHECK(fails_at("Workers 2", "unknown directive"), "directives are case-sensitive");
    CHECK(fails_at("workers 2x", "workers"), "workers 2x");
    CHECK(fails_at("workers 0", "workers"), "workers 0");
    CHECK(fails_at("workers 65", "workers"), "workers 65");
    CHECK(fails_at("workers -1", NULL), "workers -1");
    CHECK(fails_at("workers +2", NULL), "workers +2");
    CHECK(fails_at("workers 0x10", NULL), "workers 0x10");
    CHECK(fails_at("workers 99999999999999999999", NULL), "workers with overflow");
    CHECK(fails_at("workers", NULL), "workers without a value");
    CHECK(fails_at("workers 2 3", NULL), "workers with two values");
    CHECK(fails_at("keyholder_threads 65", NULL), "keyholder_threads 65");
    CHECK(fails_at("max_body 1023", NULL), "max_body 1023");
    CHECK(fails_at("max_body 1073741825", NULL), "max_body 1 GiB + 1");
    CHECK(fails_at("max_hashes 0", NULL), "max_hashes 0");
    CHECK(fails_at("max_hashes 100001", NULL), "max_hashes 100001");
    CHECK(fails_at("max_streams 1001", NULL), "max_streams 1001");
    CHECK(fails_at("max_connections 1000001", NULL), "max_connections 1000001");
    CHECK(fails_at("idle_timeout 86401", NULL), "idle_timeout 86401");
    CHECK(fails_at("handshake_timeout 0", NULL), "handshake_timeout 0");
    CHECK(fails_at("tls_ticket_lifetime 59", "60 to 86400"), "tls_ticket_lifetime 59 (0 or 60+)");
    CHECK(fails_at("tls_ticket_lifetime 1", "no resumption"), "tls_ticket_lifetime 1");
    CHECK(fails_at("tls_ticket_lifetime 86401", NULL), "tls_ticket_lifetime 86401");
    CHECK(fails_at("keyholder_timeout 3601", NULL), "keyholder_timeout 3601");
    CHECK(fails_at("user", NULL), "user without a value");
    CHECK(fails_at("state_dir /a /b", NULL), "state_dir with two values");

    CHECK(fails_at("listen 127.0.0.1", "listen"), "listen without a port");
    CHECK(fails_at("listen 127.0.0.1:", "listen"), "listen with an empty port");
    CHECK(fails_at("listen :8443", "listen"), "listen without a host");
    CHECK(fails_at("listen host:0", "listen"), "listen port 0");
    CHECK(fails_at("listen host:65536", "listen"), "listen port 65536");
    CHECK(fails_at("listen host:80x", "listen"), "listen port 80x");
    CHECK(fails_at("listen host:-80", "listen"), "listen port -80");
    CHECK(fails_at("listen [::1]", "listen"), "listen [::1] without a port");
    CHECK(fails_at("listen [::1]:", "listen"), "listen [::1]: with an empty port");
    CHECK(fails_at("listen ::1", "listen"), "listen ::1 (unbracketed IPv6, no port)");
    CHECK(fails_at("listen []:8443", "listen"), "listen []:8443 (empty host)");
    CHECK(fails_at("listen", NULL), "listen without a value");

    CHECK(fails_at("key", "key"), "key without an id");
    CHECK(fails_at("key k1", "needs tenant"), "key without options");
    CHECK(fails_at("key k1 label=l cert=/c", "needs tenant"), "key without tenant=");
    CHECK(fails_at("key k1 tenant=ta cert=/c", "needs tenant"), "key without label=");
    CHECK(fails_at("key k1 tenant=ta label=l", "needs tenant"), "key without cert=");
    CHECK(fails_at("key k1 tenant=ta label=l cert=/c color=red", "unknown key option"),
          "key with an unknown option");
    CHECK(fails_at("key k1 tenant=ta label=l cert=/c bare", "name=value"),
          "key with an option without =");
    CHECK(fails_at("key k1 tenant=ta label=l cert=/c algs=ecdsa-sha256,foo", "algorithm"),
          "key with an unknown alg in algs=");
    CHECK(fails_at("key k1 tenant=ta label=l cert=/c algs=ECDSA-SHA256", "algorithm"),
          "algs names are case-sensitive");
    CHECK(fails_at("key k1 tenant=ta label=l cert=/c algs=", "algorithm"),
          "key with an empty algs=");
    CHECK(fails_at("key k1 tenant=ta label=l cert=/c algs=ecdsa-sha256,", "algorithm"),
          "key with a trailing comma in algs=");
    CHECK(fails_at("key k0 tenant=ta label=l cert=/c", "duplicate"), "duplicate key id");
    CHECK(fails_at("key bad/id tenant=ta label=l cert=/c", "key id"), "key id with '/'");
    CHECK(fails_at("key bad:id tenant=ta label=l cert=/c", "key id"), "key id with ':'");
    CHECK(fails_at("key k\xc3\xa9 tenant=ta label=l cert=/c", "key id"),
          "key id with a non-ASCII letter");
    CHECK(fails_at("key aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
                   "tenant=ta label=l cert=/c",
                   "key id"),
          "key id of 65 characters");
    {
        struct config c;

        CHECK(parses_with("key aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
                          "tenant=ta label=l cert=/c",
                          &c),
              "key id of 64 characters is fine");
        config_free(&c);
    }
    CHECK(fails_at("tenant ta cn-other", "duplicate"), "duplicate tenant id");
    CHECK(fails_at("tenant tb cn-a", "duplicate"), "duplicate tenant CN");
    CHECK(fails_at("tenant t/b cn-b", "tenant id"), "tenant id with '/'");
    CHECK(fails_at("tenant tb", "tenant"), "tenant without a CN");
    CHECK(fails_at("tenant tb cn extra", "tenant"), "tenant with three values");
    CHECK(fails_at("pkcs11_env NOEQUALS", "pkcs11_env"), "pkcs11_env without =");
    {
        char many[17 * 16 + 1];
        char *t;
        size_t o = 0;

        for (int i = 0; i < 17; i++) {
            memcpy(many + o, "pkcs11_env A=1\n", 15);
            o += 15;
        }
        many[o - 1] = 0; /* join adds the last newline */
        t = join(NULL, many, NULL);
        CHECK(fails_len(t, strlen(t), EXTRA_LINE + 16, NULL, "pkcs11_env"),
              "a 17th pkcs11_env is refused on its own line");
        free(t);
    }
    CHECK(fails_at("a b c d e f g h i j k l m n o p q", "words"), "more than 16 words on a line");

    {
        char *t = join(NULL, "key k2 tenant=nobody label=l cert=/c", NULL);

        CHECK(fails_len(t, strlen(t), 0, "key k2 names unknown tenant nobody", NULL),
              "a key naming an unknown tenant (no line number)");
        free(t);
    }
    {
        static const char *const req[] = {"listen",       "state_dir", "tls_cert",
                                          "tls_key",      "client_ca", "pkcs11_module",
                                          "pkcs11_token", "pin_file",  NULL};

        for (int i = 0; req[i]; i++) {
            char *t = join(req[i], NULL, NULL), want[64], pat[64];

            snprintf(want, sizeof(want), "missing directive '%s'", req[i]);
            snprintf(pat, sizeof(pat), "\n%s ", req[i]);
            if (strstr(t, pat) != NULL)
                printf("# test text still has %s\n", req[i]);
            CHECK(fails_len(t, strlen(t), 0, want, NULL), "missing %s is an error", req[i]);
            free(t);
        }
    }
    {
        char *t = join(NULL, "workers 2", NULL);
        size_t l = strlen(t);
        char *u = malloc(l + 3);

        /* rebuild with an embedded NUL in line 13: "workers 2<NUL>x" */
        memcpy(u, t, l - 1);
        memcpy(u + l - 1, "\0x\n", 3);
        CHECK(fails_len(u, l + 2, EXTRA_LINE, NULL, "NUL"), "NUL byte in the text, with its line");
        free(u);
        free(t);
    }
    {
        char *line = malloc(4098);
        char *t;

        line[0] = '#';
        memset(line + 1, 'x', 4096);
        line[4097] = 0;
        t = join(NULL, line, "workers 3\n");
        CHECK(fails_len(t, strlen(t), EXTRA_LINE, NULL, "too long"),
              "a 4097-character line fails (even a comment), with its line");
        free(t);
        free(line);
    }
    {
        struct config c;
        char err[64];

        memset(&c, 0, sizeof(c));
        CHECK(config_parse("nonsense\n", 9, &c, err, sizeof(err)) == PS_E_CONFIG &&
                  strncmp(err, "line 1: ", 8) == 0,
              "error on line 1 (%s)", err);
        config_free(&c);
        config_free(&c);
        CHECK(1, "config_free twice after a failed parse is safe");
        CHECK(config_parse("", 0, &c, err, sizeof(err)) == PS_E_CONFIG &&
                  strstr(err, "missing directive") != NULL,
              "empty text: missing directives (%s)", err);
        config_free(&c);
    }
}

/* The time-stamping directives and appliance-owned keys. */
static void test_tsa(void)
{
    static const char tsa_ok[] = "key ts label=ts cert=/ts.pem\ntsa_key ts\ntsa_policy 1.2.3.4.1";
    static const char *const good_oids[] = {
        "0.0", "0.39", "1.2", "2.40", "2.999.1", "1.2.840.113549.1.9.16.1.4", "1.2.4294967295",
        NULL};
    static const char *const bad_oids[] = {
        "1",    "3.1", "1.40", "0.40", "1..2",           "1.2.", ".1.2",   "01.2",
        "1.02", "a.b", "1.2a", "1.-2", "1.2.4294967296", "1,2",  "1.2.3 ", NULL};
    struct config c;
    char line[160];

    CHECK(parses_with(tsa_ok, &c) && c.nkeys == 2 && streq(c.keys[1].tenant, CFG_OWNER_TSA) &&
              streq(c.tsa_key, "ts") && streq(c.tsa_policy, "1.2.3.4.1"),
          "a key without tenant= named by tsa_key belongs to " CFG_OWNER_TSA);
    CHECK(config_key(&c, "ts") == &c.keys[1] && streq(c.keys[0].tenant, "ta"),
          "the tenant's key keeps its tenant");
    config_free(&c);
    CHECK(fails_at("key ts label=ts cert=/ts.pem", "needs tenant"),
          "a key without tenant= that tsa_key does not name fails on its own line");
    {
        char *t = join(NULL, "tsa_key k0\ntsa_policy 1.2.3", NULL);

        CHECK(fails_len(t, strlen(t), 0, "tsa_key k0 belongs to tenant ta", NULL),
              "tsa_key naming a tenant's key is refused (the tenant could forge time-stamps)");
        free(t);
        t = join(NULL, "ledger_key k0", NULL);
        CHECK(fails_len(t, strlen(t), 0, "ledger_key k0 belongs to tenant ta", NULL),
              "ledger_key naming a tenant's key is refused (the tenant could sign checkpoints)");
        free(t);
        CHECK(fails_at("partner p1 cn=x", "needs root= and cn="), "partner without root=");
        CHECK(fails_at("aeo_origin CN+1", "aeo_origin"), "aeo_origin with a '+' is refused");
        CHECK(fails_at("partner p1 root=/r.pem cn=x aeo_origin=S+G", "aeo_origin"),
              "a partner's aeo_origin= is checked");
        CHECK(fails_at("partner p1 root=/r.pem cn=x aeo_origin=portseal", "already ours"),
              "a partner cannot have our AEO origin");
        CHECK(fails_at("aeo_id_prefix aeocn", "aeo_id_prefix"), "aeo_id_prefix in lower case");
        CHECK(fails_at("aeo_id_prefix AEOCN,", "aeo_id_prefix"), "aeo_id_prefix: empty item");
        CHECK(fails_at("aeo_id_prefix A,B,C,D,E,F,G,H,I", "aeo_id_prefix"), "more than 8");
        CHECK(fails_at("aeo_id_prefix ABCDEFGHIJKLMNOPQ", "aeo_id_prefix"),
              "a 17-character prefix");
        CHECK(fails_at("partner p1 root=/r.pem cn=x aeo_id_prefix=AE-O", "aeo_id_prefix"),
              "a partner's aeo_id_prefix= is checked");
        t = join(NULL, "aeo_id_prefix AEOCN,AEOXX\npartner p1 root=/r.pem cn=x aeo_id_prefix=AEOXX",
                 NULL);
        CHECK(fails_len(t, strlen(t), EXTRA_LINE + 1, NULL, "overlap ours"),
              "a partner's prefixes may not overlap ours (an identifier belongs to one origin)");
        free(t);
        t = join(NULL,
                 "partner p1 root=/r.pem cn=x aeo_id_prefix=AEOP\n"
                 "partner p2 root=/r.pem cn=y aeo_id_prefix=AEOQ,AEOP",
                 NULL);
        CHECK(fails_len(t, strlen(t), EXTRA_LINE + 1, NULL, "overlap p1's"),
              "nor another partner's");
        free(t);
        {
            struct config c2;

            CHECK(parses_with("partner p1 root=/r.pem cn=x aeo_id_prefix=any\n"
                              "partner p2 root=/r.pem cn=y aeo_id_prefix=AEOP,AEOPQ",
                              &c2),
                  "\"any\" overlaps nothing; AEOP and AEOPQ are two prefixes");
            CHECK(streq(c2.aeo_id_prefix, "any") && config_aeo_id_allowed(&c2, "P1", "AEOKR1") &&
                      !config_aeo_id_allowed(&c2, "P1", "AEOP1") &&
                      config_aeo_id_allowed(&c2, "P2", "AEOPQ1") &&
                      !config_aeo_id_allowed(&c2, "portseal", "AEOP1") &&
                      config_aeo_id_allowed(&c2, "portseal", "AEOKR1"),
                  "an \"any\" origin holds what no prefix claims, and nothing a prefix claims");
            config_free(&c2);
        }
        CHECK(fails_at("partner p1 root=/r.pem cn=x url=http://h:1", "url="),
              "partner url must be https://HOST:PORT");
        CHECK(fails_at("partner p1 root=/r.pem cn=x url=https://h:1/path", "url="),
              "partner url without a path");
        t = join(NULL, "partner p1 root=/r.pem cn=x\npartner p2 root=/r.pem cn=x", "# end\n");
        CHECK(fails_len(t, strlen(t), EXTRA_LINE + 1, NULL, "already"), "two partners with one CN");
        free(t);
        t = join(NULL, "officer o1 cn-a", NULL);
        CHECK(fails_len(t, strlen(t), 0, "officer o1: CN cn-a is already a tenant's", NULL),
              "an officer CN that is a tenant's");
        free(t);
        CHECK(fails_at("route_limit nosuchroute body=2048", "no route is named nosuchroute"),
              "route_limit names a real route");
        CHECK(fails_at("route_limit keys body=2048", "takes no body"),
              "route_limit body= on a route without a body is refused");
        CHECK(fails_at("route_limit tsa body=10", "body= wants"), "route_limit body= range");
        CHECK(fails_at("route_limit tsa size=10", "unknown route_limit option"),
              "route_limit unknown option");
        CHECK(fails_at("route_limit tsa", "usage: route_limit"), "route_limit without limits");
        t = join(NULL, "route_limit tsa body=2048\nroute_limit tsa headers=512", "# end\n");
        CHECK(fails_len(t, strlen(t), EXTRA_LINE + 1, NULL, "duplicate"),
              "one route_limit per route");
        free(t);
        t = join(NULL, "route_limit tsa headers=999999", NULL);
        CHECK(fails_len(t, strlen(t), 0, "route_limit tsa: headers=999999", "max_header_size"),
              "route_limit headers= above max_header_size is refused");
        free(t);
        CHECK(fails_at("ledger_origin a+b", "ledger_origin wants"),
              "ledger_origin with '+' is refused (it is the note key name)");
        t = join(NULL, "p2p_name a/b", NULL);
        CHECK(fails_len(t, strlen(t), 0, "p2p_name a/b: 1-64 characters", NULL),
              "a p2p_name that is no id is refused");
        free(t);
        t = join(NULL, "tsa_key nope\ntsa_policy 1.2.3", NULL);
        CHECK(fails_len(t, strlen(t), 0, "tsa_key names unknown key nope", NULL),
              "tsa_key naming no key");
        free(t);
        t = join(NULL, "key ts label=ts cert=/ts.pem\ntsa_key ts", NULL);
        CHECK(fails_len(t, strlen(t), 0, "tsa_key needs tsa_policy", NULL),
              "tsa_key without tsa_policy");
        free(t);
        t = join(NULL, "tsa_policy 1.2.3", NULL);
        CHECK(fails_len(t, strlen(t), 0, "tsa_policy is set but tsa_key is not", NULL),
              "tsa_policy without tsa_key");
        free(t);
    }
    CHECK(fails_at("key k9 tenant=@tsa label=l cert=/c", "tenant= must be a tenant id"),
          "a key line cannot claim the reserved owner " CFG_OWNER_TSA);
    CHECK(fails_at("tenant @tsa cn-tsa", "tenant id"), "no tenant can be called " CFG_OWNER_TSA);
    CHECK(fails_at("tsa_key", NULL), "tsa_key without a value");
    CHECK(fails_at("tsa_key a b", NULL), "tsa_key with two values");
    CHECK(fails_at("tsa_policy 1.2.3 4", NULL), "tsa_policy with two values");
    CHECK(fails_at("tsa_accuracy_ms 3600001", "tsa_accuracy_ms"), "tsa_accuracy_ms 3600001");
    CHECK(fails_at("tsa_accuracy_ms -1", "tsa_accuracy_ms"), "tsa_accuracy_ms -1");
    CHECK(parses_with("tsa_accuracy_ms 0", &c) && c.tsa_accuracy_ms == 0,
          "tsa_accuracy_ms 0 (no accuracy field)");
    config_free(&c);
    for (int i = 0; good_oids[i]; i++)
        CHECK(config_oid_valid(good_oids[i]), "OID '%s' is valid", good_oids[i]);
    for (int i = 0; bad_oids[i]; i++)
        CHECK(!config_oid_valid(bad_oids[i]), "OID '%s' is not valid", bad_oids[i]);
    CHECK(!config_oid_valid(""), "empty OID is not valid");
    memset(line, 0, sizeof(line));
    memcpy(line, "1.2", 3);
    for (size_t i = 3; i + 2 < 130; i += 2)
        memcpy(line + i, ".1", 2);
    CHECK(!config_oid_valid(line), "an OID of %zu characters is not valid", strlen(line));
    line[127] = 0;
    CHECK(config_oid_valid(line), "an OID of 127 characters is valid");
    CHECK(fails_at("tsa_policy 1.2.3.x", "OID"), "tsa_policy with a bad OID, with its line");
    CHECK(fails_at("tsa_policy tsa_policy1", "OID"), "tsa_policy by name is refused");
}

/* Every directive appears (as an active directive line) in the example configuration. */
static void test_example(void)
{
    FILE *f = fopen(EXAMPLE, "r");
    char *text;
    size_t len = 0, cap = 1 << 16, n;
    struct config ex, def;
    char err[256] = "";

    if (f == NULL) {
        printf("ok - # skip %s not found in the current directory (run from the repo root)\n",
               EXAMPLE);
        return;
    }
    text = malloc(cap + 1);
    while ((n = fread(text + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            text = realloc(text, cap + 1);
        }
    }
    fclose(f);
    text[len] = 0;

    for (const char *const *d = config_directives; *d; d++) {
        int found = 0;
        size_t dl = strlen(*d);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
            const char *q = p;

            while (*q == ' ' || *q == '\t')
                q++;
            if (strncmp(q, *d, dl) == 0 && (q[dl] == ' ' || q[dl] == '\t')) {
                found = 1;
                break;
            }
        }
        CHECK(found, "directive %s is shown in %s", *d, EXAMPLE);
    }
    CHECK(config_parse(text, len, &ex, err, sizeof(err)) == PS_OK, "%s parses (%s)", EXAMPLE, err);
    CHECK(parses_with(NULL, &def), "minimal config parses (for the defaults)");
    CHECK(
        ex.workers == def.workers && ex.keyholder_threads == def.keyholder_threads &&
            ex.max_body == def.max_body && ex.max_hashes == def.max_hashes &&
            ex.max_streams == def.max_streams && ex.max_connections == def.max_connections &&
            ex.idle_timeout == def.idle_timeout && ex.handshake_timeout == def.handshake_timeout &&
            ex.tls_ticket_lifetime == def.tls_ticket_lifetime &&
            ex.max_connections_per_address == def.max_connections_per_address &&
            ex.keyholder_timeout == def.keyholder_timeout &&
            ex.tsa_accuracy_ms == def.tsa_accuracy_ms &&
            ex.max_header_size == def.max_header_size && ex.header_timeout == def.header_timeout &&
            ex.body_timeout == def.body_timeout && ex.send_timeout == def.send_timeout &&
            ex.request_rate == def.request_rate && ex.request_burst == def.request_burst &&
            ex.control_frame_rate == def.control_frame_rate && ex.reset_rate == def.reset_rate &&
            ex.reset_burst == def.reset_burst && ex.max_continuations == def.max_continuations &&
            ex.connection_rate == def.connection_rate,
        "numbers in %s are the built-in defaults it says they are", EXAMPLE);
    config_free(&ex);
    config_free(&def);
    free(text);
}

/*
 * docs/configuration.md against the parser: one "### `name`" section per directive of
 * config_directives and no other; in each, "- Required: yes" or "- Default: `V`" / "- Default:
 * none ..."; numeric directives with "- Range: LO to HI". Defaults are the parser's, ranges
 * are what it accepts, and required directives are refused when missing.
 */
#define REFERENCE "docs/configuration.md"
#define REF_MAX   128

struct ref_entry {
    char name[64];
    int required, repeatable, has_default, has_range;
    char def[128]; /* the `value` of "- Default:", "" for none */
    long long lo, hi;
};

enum { F_INT, F_UINT, F_SIZE };
#define NUMF(n, f, k)                                                                              \
    {                                                                                              \
        n, offsetof(struct config, f), k                                                           \
    }
/* Numeric directives and their fields: every one must be documented with a default and a
 * range; a new numeric directive fails this test until it is added here. */
static const struct {
    const char *name;
    size_t off;
    int kind;
} num_fields[] = {
    NUMF("workers", workers, F_INT),
    NUMF("keyholder_threads", keyholder_threads, F_INT),
    NUMF("max_body", max_body, F_SIZE),
    NUMF("max_hashes", max_hashes, F_SIZE),
    NUMF("max_streams", max_streams, F_UINT),
    NUMF("max_connections", max_connections, F_UINT),
    NUMF("max_connections_per_address", max_connections_per_address, F_UINT),
    NUMF("idle_timeout", idle_timeout, F_UINT),
    NUMF("handshake_timeout", handshake_timeout, F_UINT),
    NUMF("tls_ticket_lifetime", tls_ticket_lifetime, F_UINT),
    NUMF("keyholder_timeout", keyholder_timeout, F_UINT),
    NUMF("max_header_size", max_header_size, F_UINT),
    NUMF("header_timeout", header_timeout, F_UINT),
    NUMF("body_timeout", body_timeout, F_UINT),
    NUMF("send_timeout", send_timeout, F_UINT),
    NUMF("request_rate", request_rate, F_UINT),
    NUMF("request_burst", request_burst, F_UINT),
    NUMF("control_frame_rate", control_frame_rate, F_UINT),
    NUMF("reset_rate", reset_rate, F_UINT),
    NUMF("reset_burst", reset_burst, F_UINT),
    NUMF("max_continuations", max_continuations, F_UINT),
    NUMF("connection_rate", connection_rate, F_UINT),
    NUMF("tsa_accuracy_ms", tsa_accuracy_ms, F_UINT),
    NUMF("checkpoint_interval", checkpoint_interval, F_UINT),
    NUMF("aeo_poll_interval", aeo_poll_interval, F_UINT),
    NUMF("aeo_digest_interval", aeo_digest_interval, F_UINT),
    NUMF("p2p_stream_max", p2p_stream_max, F_UINT),
    NUMF("evidence_max_files", evidence_max_files, F_SIZE),
    NUMF("evidence_max_file", evidence_max_file, F_SIZE),
    NUMF("evidence_max_total", evidence_max_total, F_SIZE),
};
/* String directives with a built-in default. */
static const struct {
    const char *name;
    size_t off;
} str_fields[] = {
    {"user", offsetof(struct config, user)},
    {"sm2_wrap_key", offsetof(struct config, sm2_wrap_key)},
    {"ledger_origin", offsetof(struct config, ledger_origin)},
    {"aeo_origin", offsetof(struct config, aeo_origin)},
    {"aeo_id_prefix", offsetof(struct config, aeo_id_prefix)},
    {"log_format", offsetof(struct config, log_format)},
};

static long long num_of(const struct config *c, size_t i)
{
    const char *p = (const char *)c + num_fields[i].off;

    switch (num_fields[i].kind) {
    case F_INT: return *(const int *)p;
    case F_UINT: return *(const unsigned *)p;
    default: return (long long)*(const size_t *)p;
    }
}

static int num_index(const char *name)
{
    for (size_t i = 0; i < sizeof(num_fields) / sizeof(num_fields[0]); i++)
        if (strcmp(num_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int str_index(const char *name)
{
    for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++)
        if (strcmp(str_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Read the sections of the reference; -1 if the file is missing. */
static int read_reference(struct ref_entry *e, int max)
{
    FILE *f = fopen(REFERENCE, "r");
    char line[1024];
    int n = 0;
    struct ref_entry *cur = NULL;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "### `", 5) == 0) {
            size_t l = strcspn(line + 5, "`");

            cur = NULL;
            if (line[5 + l] != '`' || line[6 + l] != 0 || l == 0 || l >= sizeof(e->name)) {
                printf("# %s: bad directive heading: %s\n", REFERENCE, line);
                continue;
            }
            if (n == max)
                break;
            cur = &e[n++];
            memset(cur, 0, sizeof(*cur));
            memcpy(cur->name, line + 5, l);
        } else if (strncmp(line, "#", 1) == 0) {
            cur = NULL; /* another heading ends the directive's section */
        } else if (cur && strcmp(line, "- Required: yes") == 0) {
            cur->required = 1;
        } else if (cur && strcmp(line, "- Repeatable: yes") == 0) {
            cur->repeatable = 1;
        } else if (cur && strncmp(line, "- Default: ", 11) == 0) {
            const char *v = line + 11;

            cur->has_default = 1;
            if (v[0] == '`') {
                size_t l = strcspn(v + 1, "`");

                if (v[1 + l] == '`' && l > 0 && l < sizeof(cur->def))
                    memcpy(cur->def, v + 1, l);
                else
                    printf("# %s: bad default for %s: %s\n", REFERENCE, cur->name, v);
            } else if (strncmp(v, "none", 4) != 0) {
                printf("# %s: default for %s is neither `value` nor none\n", REFERENCE, cur->name);
                cur->has_default = 0;
            }
        } else if (cur && strncmp(line, "- Range: ", 9) == 0) {
            if (sscanf(line + 9, "%lld to %lld", &cur->lo, &cur->hi) == 2)
                cur->has_range = 1;
            else
                printf("# %s: bad range for %s: %s\n", REFERENCE, cur->name, line + 9);
        }
    }
    fclose(f);
    return n;
}

static const struct ref_entry *ref_find(const struct ref_entry *e, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return &e[i];
    return NULL;
}

static int is_directive(const char *name)
{
    for (const char *const *d = config_directives; *d; d++)
        if (strcmp(*d, name) == 0)
            return 1;
    return 0;
}

/* Does the minimal config without directive d fail with "missing directive 'd'"? */
static int required_by_parser(const char *d)
{
    char *t = join(d, NULL, NULL), err[512] = "", want[96];
    struct config c;
    int rc = config_parse(t, strlen(t), &c, err, sizeof(err));

    free(t);
    if (rc == PS_OK) {
        config_free(&c);
        return 0;
    }
    snprintf(want, sizeof(want), "missing directive '%s'", d);
    return strstr(err, want) != NULL;
}

static int in_head_lines(const char *d)
{
    for (int i = 0; head_lines[i]; i++)
        if (strncmp(head_lines[i], d, strlen(d)) == 0 && head_lines[i][strlen(d)] == ' ')
            return 1;
    return 0;
}

static void check_range(const struct ref_entry *r, int ni)
{
    char line[160];
    struct config c;
    int ok;

    snprintf(line, sizeof(line), "%s %lld", r->name, r->lo);
    ok = parses_with(line, &c) && num_of(&c, (size_t)ni) == r->lo;
    config_free(&c);
    snprintf(line, sizeof(line), "%s %lld", r->name, r->hi);
    ok = ok && parses_with(line, &c) && num_of(&c, (size_t)ni) == r->hi;
    config_free(&c);
    snprintf(line, sizeof(line), "%s %lld", r->name, r->hi + 1);
    ok = ok && fails_at(line, r->name);
    snprintf(line, sizeof(line), "%s %lld", r->name, r->lo - 1);
    ok = ok && fails_at(line, r->name);
    CHECK(ok, "%s: the parser takes %lld to %lld and refuses %lld and %lld, as %s says", r->name,
          r->lo, r->hi, r->lo - 1, r->hi + 1, REFERENCE);
}

static void check_default(const struct ref_entry *r, const struct config *def)
{
    int ni = num_index(r->name), si = str_index(r->name);

    if (r->def[0] == 0) {
        CHECK(ni < 0 && si < 0, "%s: documented without a default (none)%s", r->name,
              ni >= 0 || si >= 0 ? ", but the parser has one" : "");
        return;
    }
    if (ni >= 0) {
        long long want;

        CHECK(strnum_ll(r->def, 0, INT64_MAX, &want) == PS_OK && num_of(def, (size_t)ni) == want,
              "%s: default %s is the parser's (%lld)", r->name, r->def, num_of(def, (size_t)ni));
    } else if (si >= 0) {
        const char *v = *(char *const *)((const char *)def + str_fields[si].off);

        CHECK(streq(v, r->def), "%s: default %s is the parser's (%s)", r->name, r->def,
              v ? v : "(none)");
    } else {
        CHECK(0,
              "%s: default `%s` documented; add the directive to num_fields or str_fields in "
              "this test so that it is checked",
              r->name, r->def);
    }
}

static void test_reference(void)
{
    struct ref_entry e[REF_MAX];
    struct config def;
    int n = read_reference(e, REF_MAX);

    if (n < 0) {
        printf("ok - # skip %s not found in the current directory (run from the repo root)\n",
               REFERENCE);
        return;
    }
    CHECK(parses_with(NULL, &def), "minimal config parses (for the defaults)");
    for (const char *const *d = config_directives; *d; d++) {
        int count = 0;

        for (int i = 0; i < n; i++)
            count += strcmp(e[i].name, *d) == 0;
        CHECK(count == 1, "directive %s has one section in %s (%d)", *d, REFERENCE, count);
    }
    for (int i = 0; i < n; i++) {
        const struct ref_entry *r = &e[i];
        int ni = num_index(r->name);

        CHECK(is_directive(r->name), "%s documents %s, a directive of the parser", REFERENCE,
              r->name);
        if (!is_directive(r->name))
            continue;
        CHECK(r->required != r->has_default, "%s: \"- Required: yes\" or \"- Default: ...\"",
              r->name);
        if (r->required)
            CHECK(required_by_parser(r->name),
                  "%s: documented as required, and the parser "
                  "refuses a configuration without it",
                  r->name);
        else if (in_head_lines(r->name))
            CHECK(!required_by_parser(r->name), "%s: not required, and the parser agrees", r->name);
        if (r->has_default)
            check_default(r, &def);
        if (ni >= 0) {
            CHECK(r->has_range, "%s: numeric, with a documented range", r->name);
            if (r->has_range)
                check_range(r, ni);
        } else {
            CHECK(!r->has_range, "%s: a range only for numeric directives", r->name);
        }
    }
    for (size_t i = 0; i < sizeof(num_fields) / sizeof(num_fields[0]); i++)
        CHECK(is_directive(num_fields[i].name), "num_fields entry %s is a directive",
              num_fields[i].name);
    /* every required directive of the parser is documented as such */
    for (int i = 0; head_lines[i]; i++) {
        char d[64];
        const struct ref_entry *r;

        if (sscanf(head_lines[i], "%63s", d) != 1 || d[0] == '#' || !required_by_parser(d))
            continue;
        r = ref_find(e, n, d);
        CHECK(r && r->required, "%s is required by the parser and documented so", d);
    }
    config_free(&def);
}

/* log_format text|json (appliance/log.c writes the lines; log_test checks them) */
static void test_log_format(void)
{
    struct config c;

    CHECK(parses_with(NULL, &c) && strcmp(c.log_format, "text") == 0,
          "log_format: text by default");
    config_free(&c);
    CHECK(parses_with("log_format json", &c) && strcmp(c.log_format, "json") == 0,
          "log_format json");
    config_free(&c);
    CHECK(fails_at("log_format xml", "text or json") && fails_at("log_format", "one value") &&
              fails_at("log_format json text", "one value"),
          "log_format: other values are refused");
}

/* tenant ID CN [sign_rate=N] [sign_burst=N] (hsm/tenantlimit.h enforces them) */
static void test_tenant_limits(void)
{
    struct config c;
    FILE *f;

    CHECK(parses_with("tenant tb cn-b", &c) && c.ntenants == 2 && c.tenants[1].sign_rate == 0 &&
              c.tenants[1].sign_burst == 0,
          "tenant without options: no limit");
    config_free(&c);
    CHECK(parses_with("tenant tb cn-b sign_rate=5", &c) && c.tenants[1].sign_rate == 5 &&
              c.tenants[1].sign_burst == 5,
          "sign_rate alone: the burst is the rate");
    config_free(&c);
    CHECK(parses_with("tenant tb cn-b sign_burst=1000 sign_rate=100", &c) &&
              c.tenants[1].sign_rate == 100 && c.tenants[1].sign_burst == 1000,
          "sign_burst and sign_rate in any order");
    config_free(&c);
    CHECK(parses_with("tenant tb cn-b sign_rate=1000000 sign_burst=10000000", &c) &&
              c.tenants[1].sign_rate == 1000000 && c.tenants[1].sign_burst == 10000000,
          "the largest values");
    config_free(&c);
    CHECK(parses_with("tenant tb cn-b sign_rate=1 sign_burst=1", &c) &&
              c.tenants[1].sign_rate == 1 && c.tenants[1].sign_burst == 1,
          "the smallest values");
    config_free(&c);
    CHECK(fails_at("tenant tb cn-b sign_rate=0", "sign_rate= must be a number from 1 to 1000000"),
          "sign_rate=0 is refused, naming the line (no limit: leave it out)");
    CHECK(fails_at("tenant tb cn-b sign_rate=1000001", "sign_rate= must be a number"),
          "sign_rate above the range");
    CHECK(fails_at("tenant tb cn-b sign_rate=-3", "sign_rate= must be a number"),
          "a negative sign_rate");
    CHECK(fails_at("tenant tb cn-b sign_rate=5x", "sign_rate= must be a number"),
          "sign_rate with junk after the number");
    CHECK(fails_at("tenant tb cn-b sign_rate=", "sign_rate= must be a number"),
          "an empty sign_rate");
    CHECK(fails_at("tenant tb cn-b sign_rate=5 sign_burst=0", "sign_burst= must be a number"),
          "sign_burst=0");
    CHECK(fails_at("tenant tb cn-b sign_rate=5 sign_burst=10000001",
                   "sign_burst= must be a number from 1 to 10000000"),
          "sign_burst above the range");
    CHECK(fails_at("tenant tb cn-b sign_burst=5", "sign_burst= needs sign_rate="),
          "sign_burst without sign_rate");
    CHECK(fails_at("tenant tb cn-b sign_rate=5 sign_rate=6", "sign_rate= given twice"),
          "sign_rate twice");
    CHECK(fails_at("tenant tb cn-b sign_rate=5 color=red", "unknown tenant option 'color=red'"),
          "an unknown option");
    CHECK(fails_at("tenant tb cn-b 5", "unknown tenant option '5'"), "an option without name=");
    CHECK(fails_at("tenant tb sign_rate=5", "usage: tenant ID CLIENT_CERT_CN"),
          "an option in the CN's place");
    CHECK(fails_at("tenant tb cn-b sign_rate=5 sign_burst=5 x=1", "usage: tenant"),
          "too many words");
    /* the options are documented and shown in the example */
    f = fopen(EXAMPLE, "r");
    if (f) {
        char line[1024];
        int shown = 0;

        while (fgets(line, sizeof(line), f))
            shown |= strncmp(line, "tenant ", 7) == 0 && strstr(line, " sign_rate=") &&
                     strstr(line, " sign_burst=");
        fclose(f);
        CHECK(shown, "%s has a tenant line with sign_rate= and sign_burst=", EXAMPLE);
    }
    f = fopen(REFERENCE, "r");
    if (f) {
        char line[1024];
        int rate = 0, burst = 0;

        while (fgets(line, sizeof(line), f)) {
            rate |= strstr(line, "`sign_rate=") != NULL;
            burst |= strstr(line, "`sign_burst=") != NULL;
        }
        fclose(f);
        CHECK(rate && burst, "%s documents sign_rate= and sign_burst=", REFERENCE);
    }
}

int main(void)
{
    test_tenant_limits();
    test_log_format();
    test_full();
    test_defaults();
    test_syntax_ok();
    test_errors();
    test_tsa();
    test_example();
    test_reference();
    return unit_done();
}
