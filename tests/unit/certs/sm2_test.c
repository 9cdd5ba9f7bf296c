/* sm2_test - e = SM3(Z || M) for the public E-port vectors, checked by verifying the
 * public signatures over e alone (digest-level SM2 verification). */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../../../certs/sm2.h"
#include "../unit.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = malloc(1 << 16);

    if (f == NULL || p == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    *len = fread(p, 1, 1 << 16, f);
    fclose(f);
    return p;
}

static int verify_e(EVP_PKEY *pub, const uint8_t e[32], const uint8_t *sig, size_t sl)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
    int ok = c && EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_verify(c, sig, sl, e, 32) == 1;

    EVP_PKEY_CTX_free(c);
    return ok;
}

int main(void)
{
    size_t cl, ml, sl, pl, psl;
    uint8_t *cert = slurp("tests/data/chinaport/sm2-signer-cert.der", &cl);
    uint8_t *msg = slurp("tests/data/chinaport/ceb621-signedinfo-sm2.xml", &ml);
    uint8_t *sig = slurp("tests/data/chinaport/ceb621-signedinfo-sm2.sig.der", &sl);
    uint8_t *pay = slurp("tests/data/chinaport/pay179-signing-string.txt", &pl);
    uint8_t *psig = slurp("tests/data/chinaport/pay179-sm2.sig.der", &psl);
    const unsigned char *cp = cert;
    X509 *x = d2i_X509(NULL, &cp, (long)cl);
    EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
    uint8_t e[32];

    CHECK(pub != NULL && EVP_PKEY_is_a(pub, "SM2"), "the vector certificate holds an SM2 key");
    CHECK(sm2_digest_e(pub, msg, ml, e) == PS_OK, "e for the CEB621 SignedInfo");
    CHECK(verify_e(pub, e, sig, sl), "the public CEB621 signature verifies over e alone");
    e[0] ^= 1;
    CHECK(!verify_e(pub, e, sig, sl), "a changed e does not verify");
    CHECK(sm2_digest_e(pub, pay, pl, e) == PS_OK, "e for the 179 signing string");
    CHECK(verify_e(pub, e, psig, psl), "the public 179 signature verifies over e alone");
    {
        uint8_t z[32], e2[32];

        /* the registry's cached Z gives the same e (what api_ceb.c signs) */
        CHECK(sm2_z(pub, z) == PS_OK && sm2_digest_e_z(z, pay, pl, e2) == PS_OK &&
                  memcmp(e, e2, 32) == 0,
              "e from a cached Z equals e computed whole");
        CHECK(sm2_digest_e_z(z, msg, ml, e2) == PS_OK && verify_e(pub, e2, sig, sl),
              "the CEB621 signature verifies over e from the cached Z");
    }
    X509_free(x);
    free(cert);
    free(msg);
    free(sig);
    free(pay);
    free(psig);
    return unit_done();
}
