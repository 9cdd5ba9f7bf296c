#include <string.h>

#include "../../../protocol/alg.h"
#include "../unit.h"

int main(void)
{
    static const struct {
        enum ps_alg alg;
        const char *name;
        enum ps_hash hash;
        int rsa, ec, ed;
        int pss, def;
        int sm2;
    } want[] = {
        {ALG_ECDSA_SHA256, "ecdsa-sha256", HASH_SHA256, 0, 1, 0, 0, 1},
        {ALG_ECDSA_SHA384, "ecdsa-sha384", HASH_SHA384, 0, 1, 0, 0, 1},
        {ALG_RSA_PKCS1_SHA1, "rsa-pkcs1-sha1", HASH_SHA1, 1, 0, 0, 0, 0},
        {ALG_RSA_PKCS1_SHA256, "rsa-pkcs1-sha256", HASH_SHA256, 1, 0, 0, 0, 1},
        {ALG_RSA_PKCS1_SHA384, "rsa-pkcs1-sha384", HASH_SHA384, 1, 0, 0, 0, 1},
        {ALG_RSA_PKCS1_SHA512, "rsa-pkcs1-sha512", HASH_SHA512, 1, 0, 0, 0, 1},
        {ALG_RSA_PSS_SHA256, "rsa-pss-sha256", HASH_SHA256, 1, 0, 0, 1, 1},
        {ALG_RSA_PSS_SHA384, "rsa-pss-sha384", HASH_SHA384, 1, 0, 0, 1, 1},
        {ALG_RSA_PSS_SHA512, "rsa-pss-sha512", HASH_SHA512, 1, 0, 0, 1, 1},
        {ALG_ED25519, "ed25519", HASH_NONE, 0, 0, 1, 0, 1},
        {ALG_SM2_SM3, "sm2-sm3", HASH_SM3, 0, 0, 0, 0, 1, 1},
    };
    const size_t nw = sizeof(want) / sizeof(want[0]);

    CHECK(nw == ALG_MAX - 1, "the test covers every algorithm (%zu of %d)", nw, ALG_MAX - 1);
    for (size_t i = 0; i < nw; i++) {
        const struct ps_alg_info *ai = alg_info(want[i].alg);
        int fits_ok;

        CHECK(ai != NULL && ai->alg == want[i].alg && strcmp(ai->name, want[i].name) == 0,
              "alg_info(%s)", want[i].name);
        CHECK(alg_from_name(want[i].name) == want[i].alg, "alg_from_name(\"%s\") round trip",
              want[i].name);
        if (ai == NULL)
            continue;
        CHECK(alg_from_name(ai->name) == ai->alg, "name -> alg -> name for %s", ai->name);
        CHECK(ai->hash == want[i].hash && ai->pss == want[i].pss &&
                  ai->default_allowed == want[i].def,
              "%s: hash %s, pss %d, default_allowed %d", ai->name, hash_name(ai->hash), ai->pss,
              ai->default_allowed);
        fits_ok = alg_fits_key(ai->alg, KT_RSA) == want[i].rsa &&
                  alg_fits_key(ai->alg, KT_EC_P256) == want[i].ec &&
                  alg_fits_key(ai->alg, KT_EC_P384) == want[i].ec &&
                  alg_fits_key(ai->alg, KT_ED25519) == want[i].ed &&
                  alg_fits_key(ai->alg, KT_SM2) == want[i].sm2 &&
                  alg_fits_key(ai->alg, KT_NONE) == 0 &&
                  alg_fits_key(ai->alg, (enum ps_keytype)99) == 0;
        CHECK(fits_ok, "alg_fits_key matrix row for %s (rsa %d, ec %d, ed %d, none 0)", ai->name,
              want[i].rsa, want[i].ec, want[i].ed);
        {
            int lens_ok = 1;

            for (size_t l = 0; l <= 130; l++) {
                int expect =
                    want[i].hash == HASH_NONE ? (l == 32 || l == 64) : l == hash_len(want[i].hash);

                if (alg_digest_len_ok(ai->alg, l) != expect) {
                    lens_ok = 0;
                    printf("# %s: alg_digest_len_ok(%zu) wrong\n", ai->name, l);
                }
            }
            CHECK(lens_ok, "alg_digest_len_ok(%s, 0..130) accepts only %s", ai->name,
                  want[i].hash == HASH_NONE ? "32 and 64" : hash_name(want[i].hash));
        }
        CHECK(!alg_digest_len_ok(ai->alg, (size_t)-1) && !alg_digest_len_ok(ai->alg, 32 + 65536),
              "%s: huge lengths rejected", ai->name);
    }
    CHECK(alg_info(ALG_NONE) == NULL && alg_info(ALG_MAX) == NULL &&
              alg_info((enum ps_alg) - 1) == NULL,
          "alg_info of ALG_NONE, ALG_MAX, -1 is NULL");
    CHECK(alg_from_name("") == ALG_NONE && alg_from_name("ECDSA-SHA256") == ALG_NONE &&
              alg_from_name("ecdsa-sha256 ") == ALG_NONE && alg_from_name("ecdsa") == ALG_NONE &&
              alg_from_name("ed25519x") == ALG_NONE && alg_from_name("none") == ALG_NONE,
          "alg_from_name rejects unknown, case-changed, prefix and padded names");
    CHECK(!alg_fits_key(ALG_NONE, KT_RSA) && !alg_fits_key(ALG_MAX, KT_RSA) &&
              !alg_fits_key(ALG_NONE, KT_NONE),
          "alg_fits_key of ALG_NONE / ALG_MAX is 0");
    CHECK(!alg_digest_len_ok(ALG_NONE, 32) && !alg_digest_len_ok(ALG_MAX, 32),
          "alg_digest_len_ok of ALG_NONE / ALG_MAX is 0");

    CHECK(hash_len(HASH_NONE) == 0 && hash_len(HASH_SHA1) == 20 && hash_len(HASH_SHA256) == 32 &&
              hash_len(HASH_SHA384) == 48 && hash_len(HASH_SHA512) == 64 &&
              hash_len((enum ps_hash)77) == 0,
          "hash_len");
    CHECK(strcmp(hash_name(HASH_SHA1), "sha1") == 0 &&
              strcmp(hash_name(HASH_SHA256), "sha256") == 0 &&
              strcmp(hash_name(HASH_SHA384), "sha384") == 0 &&
              strcmp(hash_name(HASH_SHA512), "sha512") == 0 &&
              strcmp(hash_name(HASH_NONE), "none") == 0 &&
              strcmp(hash_name((enum ps_hash)77), "none") == 0,
          "hash_name");
    CHECK(strcmp(keytype_name(KT_RSA), "rsa") == 0 &&
              strcmp(keytype_name(KT_EC_P256), "ec-p256") == 0 &&
              strcmp(keytype_name(KT_EC_P384), "ec-p384") == 0 &&
              strcmp(keytype_name(KT_ED25519), "ed25519") == 0 &&
              strcmp(keytype_name(KT_NONE), "unknown") == 0,
          "keytype_name");
    {
        int distinct = 1;

        for (int a = ALG_NONE + 1; a < ALG_MAX; a++)
            for (int b = a + 1; b < ALG_MAX; b++)
                if (alg_info((enum ps_alg)a) && alg_info((enum ps_alg)b) &&
                    strcmp(alg_info((enum ps_alg)a)->name, alg_info((enum ps_alg)b)->name) == 0)
                    distinct = 0;
        CHECK(distinct, "algorithm names are distinct");
    }
    CHECK(ALG_MAX <= 32, "every algorithm fits a bit of an unsigned bitmask");
    return unit_done();
}
