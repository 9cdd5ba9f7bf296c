#include <string.h>

#include "../../../hsm/policy.h"
#include "../unit.h"

#define NOW    ((time_t)1700000000)
#define BIT(a) (1u << (a))

static struct cfg_key ck[7] = {
    {"t1-ec", "platform-a", "t1-ec", NULL, 0},    {"t1-rsa", "platform-a", "t1-rsa", NULL, 0},
    {"t1-ed", "platform-a", "t1-ed", NULL, 0},    {"t2-ec", "platform-b", "t2-ec", NULL, 0},
    {"old", "platform-a", "old", NULL, 0},        {"future", "platform-a", "future", NULL, 0},
    {"tsa-ec", CFG_OWNER_TSA, "tsa-ec", NULL, 0},
};
static struct key_entry keys[7];
static struct keyreg reg = {keys, 7};

static uint8_t dig[IPC_MAX_DIGEST];
static struct ipc_digest digs[8];

static void setup(void)
{
    for (int i = 0; i < 7; i++) {
        keys[i].cfg = &ck[i];
        keys[i].not_before = NOW - 1000;
        keys[i].not_after = NOW + 1000;
    }
    keys[0].type = KT_EC_P256;
    keys[0].algs = BIT(ALG_ECDSA_SHA256);
    keys[1].type = KT_RSA;
    keys[1].algs = BIT(ALG_RSA_PKCS1_SHA256) | BIT(ALG_RSA_PSS_SHA256) | BIT(ALG_RSA_PSS_SHA384);
    keys[2].type = KT_ED25519;
    keys[2].algs = BIT(ALG_ED25519);
    keys[3].type = KT_EC_P384;
    keys[3].algs = BIT(ALG_ECDSA_SHA256) | BIT(ALG_ECDSA_SHA384);
    keys[4].type = KT_EC_P256;
    keys[4].algs = BIT(ALG_ECDSA_SHA256);
    keys[4].not_before = NOW - 2000;
    keys[4].not_after = NOW - 1;
    keys[5].type = KT_EC_P256;
    keys[5].algs = BIT(ALG_ECDSA_SHA256);
    keys[6].type = KT_EC_P256;
    keys[6].algs = BIT(ALG_ECDSA_SHA256) | BIT(ALG_ECDSA_SHA384);
    keys[5].not_before = NOW + 1;
    keys[5].not_after = NOW + 2000;
    for (size_t i = 0; i < sizeof(dig); i++)
        dig[i] = (uint8_t)i;
}

/* A request for count digests, all of length dlen. */
static struct ipc_sign_req mkreq(const char *tenant, const char *key, int alg, uint16_t count,
                                 uint8_t dlen)
{
    struct ipc_sign_req r;

    memset(&r, 0, sizeof(r));
    memcpy(r.tenant, tenant, strlen(tenant) + 1);
    memcpy(r.key, key, strlen(key) + 1);
    r.alg = (uint8_t)alg;
    r.count = count;
    r.digests = digs;
    for (int i = 0; i < 8; i++) {
        digs[i].p = dig;
        digs[i].len = dlen;
    }
    return r;
}

static const struct key_entry sentinel;

/* Run the check; returns its result and verifies *key is untouched on failure and why is set. */
static int run(const struct ipc_sign_req *r, size_t max, time_t now, const struct key_entry **k)
{
    const char *why = NULL;
    int rc;

    *k = &sentinel;
    rc = policy_check_sign(&reg, r, max, now, k, &why);
    if (rc != PS_OK && (why == NULL || *why == 0 || *k != &sentinel)) {
        printf("# failure without a reason, or *key changed on failure\n");
        return 1000;
    }
    if (rc != PS_OK)
        printf("# why: %s\n", why);
    return rc;
}

int main(void)
{
    struct ipc_sign_req r;
    const struct key_entry *k;

    setup();

    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA256, 2, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_OK && k == &keys[0],
          "good ecdsa-sha256 request passes, sets *key");
    r = mkreq("platform-a", "t1-rsa", ALG_RSA_PSS_SHA384, 1, 48);
    CHECK(run(&r, 10, NOW, &k) == PS_OK && k == &keys[1], "good rsa-pss-sha384 request passes");
    r = mkreq("platform-b", "t2-ec", ALG_ECDSA_SHA384, 1, 48);
    CHECK(run(&r, 10, NOW, &k) == PS_OK && k == &keys[3], "ecdsa-sha384 on a P-384 key passes");

    /* unknown / other tenant */
    r = mkreq("platform-a", "nope", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND, "unknown key -> PS_E_NOTFOUND");
    r = mkreq("platform-a", "t1-e", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND, "key id prefix is not a match");
    r = mkreq("platform-a", "t2-ec", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND,
          "another tenant's key -> PS_E_NOTFOUND (not DENIED)");
    r = mkreq("platform-b", "t1-ec", ALG_ED25519, 1, 7);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND,
          "another tenant's key with a bad alg and digest is still PS_E_NOTFOUND");
    r = mkreq("platform", "t1-ec", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND, "tenant prefix is not a match");
    r = mkreq("platform-a", "old", ALG_ECDSA_SHA256, 1, 32);
    r.tenant[0] = 0;
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND, "empty tenant -> PS_E_NOTFOUND");

    /* algorithm vs key type */
    r = mkreq("platform-a", "t1-ec", ALG_ED25519, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_UNSUPPORTED, "ed25519 on an EC key -> PS_E_UNSUPPORTED");
    r = mkreq("platform-a", "t1-ec", ALG_RSA_PKCS1_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_UNSUPPORTED,
          "rsa-pkcs1-sha256 on an EC key -> PS_E_UNSUPPORTED");
    r = mkreq("platform-a", "t1-rsa", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_UNSUPPORTED, "ecdsa on an RSA key -> PS_E_UNSUPPORTED");
    r = mkreq("platform-a", "t1-ed", ALG_RSA_PSS_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_UNSUPPORTED,
          "rsa-pss on an Ed25519 key -> PS_E_UNSUPPORTED");
    r = mkreq("platform-a", "t1-ec", ALG_NONE, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_UNSUPPORTED, "ALG_NONE -> PS_E_UNSUPPORTED");
    r = mkreq("platform-a", "t1-ec", ALG_MAX, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_UNSUPPORTED, "ALG_MAX -> PS_E_UNSUPPORTED");
    r = mkreq("platform-a", "t1-ec", 255, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_UNSUPPORTED, "alg 255 -> PS_E_UNSUPPORTED");

    /* fits but not allowed */
    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA384, 1, 48);
    CHECK(run(&r, 10, NOW, &k) == PS_E_DENIED, "ecdsa-sha384 not in algs -> PS_E_DENIED");
    r = mkreq("platform-a", "t1-rsa", ALG_RSA_PKCS1_SHA1, 1, 20);
    CHECK(run(&r, 10, NOW, &k) == PS_E_DENIED, "rsa-pkcs1-sha1 not in algs -> PS_E_DENIED");
    r = mkreq("platform-a", "t1-rsa", ALG_RSA_PSS_SHA512, 1, 64);
    CHECK(run(&r, 10, NOW, &k) == PS_E_DENIED, "rsa-pss-sha512 not in algs -> PS_E_DENIED");

    /* validity */
    r = mkreq("platform-a", "old", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_DENIED, "expired key -> PS_E_DENIED");
    CHECK(run(&r, 10, NOW - 1, &k) == PS_OK && k == &keys[4],
          "at not_after exactly it is still valid");
    r = mkreq("platform-a", "future", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_DENIED, "not yet valid key -> PS_E_DENIED");
    CHECK(run(&r, 10, NOW + 1, &k) == PS_OK && k == &keys[5], "at not_before exactly it is valid");
    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW + 1001, &k) == PS_E_DENIED, "one second after not_after -> PS_E_DENIED");
    CHECK(run(&r, 10, NOW - 1001, &k) == PS_E_DENIED,
          "one second before not_before -> PS_E_DENIED");

    /* batch size */
    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA256, 5, 32);
    CHECK(run(&r, 4, NOW, &k) == PS_E_INVAL, "count > max_batch -> PS_E_INVAL");
    CHECK(run(&r, 5, NOW, &k) == PS_OK, "count == max_batch passes");
    r.count = 0;
    CHECK(run(&r, 5, NOW, &k) == PS_E_INVAL, "count 0 -> PS_E_INVAL");

    /* digest lengths */
    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA256, 1, 31);
    CHECK(run(&r, 10, NOW, &k) == PS_E_INVAL, "31-byte digest for ecdsa-sha256 -> PS_E_INVAL");
    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA256, 1, 33);
    CHECK(run(&r, 10, NOW, &k) == PS_E_INVAL, "33-byte digest for ecdsa-sha256 -> PS_E_INVAL");
    r = mkreq("platform-a", "t1-rsa", ALG_RSA_PSS_SHA256, 1, 20);
    CHECK(run(&r, 10, NOW, &k) == PS_E_INVAL, "20-byte digest for rsa-pss-sha256 -> PS_E_INVAL");
    r = mkreq("platform-a", "t1-rsa", ALG_RSA_PSS_SHA384, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_INVAL, "32-byte digest for rsa-pss-sha384 -> PS_E_INVAL");
    r = mkreq("platform-a", "t1-ed", ALG_ED25519, 1, 48);
    CHECK(run(&r, 10, NOW, &k) == PS_E_INVAL, "48-byte digest for ed25519 -> PS_E_INVAL");
    r = mkreq("platform-a", "t1-ed", ALG_ED25519, 2, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_OK && k == &keys[2], "ed25519 accepts 32-byte digests");
    r = mkreq("platform-a", "t1-ed", ALG_ED25519, 2, 64);
    CHECK(run(&r, 10, NOW, &k) == PS_OK && k == &keys[2], "ed25519 accepts 64-byte digests");
    r = mkreq("platform-a", "t1-ed", ALG_ED25519, 2, 32);
    digs[1].len = 64;
    CHECK(run(&r, 10, NOW, &k) == PS_OK, "ed25519 accepts a 32/64 mix");
    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA256, 8, 32);
    digs[7].len = 48;
    CHECK(run(&r, 10, NOW, &k) == PS_E_INVAL,
          "one wrong digest at the end of a batch -> PS_E_INVAL");
    r = mkreq("platform-a", "t1-ec", ALG_ECDSA_SHA256, 8, 32);
    digs[3].len = 31;
    CHECK(run(&r, 10, NOW, &k) == PS_E_INVAL,
          "one wrong digest in the middle of a batch -> PS_E_INVAL");

    /* key_alg_allowed */
    {
        struct key_entry e;

        memset(&e, 0, sizeof(e));
        e.algs = BIT(ALG_ECDSA_SHA256) | BIT(ALG_ED25519);
        CHECK(key_alg_allowed(&e, ALG_ECDSA_SHA256) && key_alg_allowed(&e, ALG_ED25519),
              "key_alg_allowed: listed algorithms");
        CHECK(!key_alg_allowed(&e, ALG_ECDSA_SHA384) && !key_alg_allowed(&e, ALG_RSA_PSS_SHA256),
              "key_alg_allowed: unlisted algorithms");
        e.algs = ~0u;
        CHECK(!key_alg_allowed(&e, ALG_NONE),
              "key_alg_allowed: ALG_NONE never, even with bit 0 set");
        CHECK(!key_alg_allowed(&e, ALG_MAX),
              "key_alg_allowed: ALG_MAX never, even with its bit set");
        CHECK(!key_alg_allowed(&e, (enum ps_alg) - 1), "key_alg_allowed: negative alg never");
        CHECK(!key_alg_allowed(&e, (enum ps_alg)40),
              "key_alg_allowed: alg 40 never (no shift overflow)");
        {
            int all = 1;

            for (int a = ALG_NONE + 1; a < ALG_MAX; a++)
                all &= key_alg_allowed(&e, (enum ps_alg)a) != 0;
            CHECK(all, "key_alg_allowed: every real algorithm with all bits set");
        }
        e.algs = 0;
        {
            int none = 1;

            for (int a = ALG_NONE; a <= ALG_MAX; a++)
                none &= key_alg_allowed(&e, (enum ps_alg)a) == 0;
            CHECK(none, "key_alg_allowed: nothing with algs 0 (defaults are applied at load)");
        }
    }
    /* the appliance's time-stamping key (owner CFG_OWNER_TSA) */
    r = mkreq(CFG_OWNER_TSA, "tsa-ec", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_OK && k == &keys[6], CFG_OWNER_TSA " may use tsa-ec");
    r = mkreq("platform-a", "tsa-ec", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND, "a tenant cannot use the TSA key (not found)");
    r = mkreq("tsa", "tsa-ec", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND, "'tsa' is not " CFG_OWNER_TSA);
    r = mkreq(CFG_OWNER_TSA, "t1-ec", ALG_ECDSA_SHA256, 1, 32);
    CHECK(run(&r, 10, NOW, &k) == PS_E_NOTFOUND, CFG_OWNER_TSA " cannot use a tenant's key");
    return unit_done();
}
