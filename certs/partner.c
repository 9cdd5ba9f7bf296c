#include "partner.h"

#include <stdio.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "trust.h"

int partner_trust_load(const struct config *cfg, struct partner_trust *pt, char *err, size_t errlen)
{
    memset(pt, 0, sizeof(*pt));
    for (size_t i = 0; i < cfg->npartners; i++) {
        char why[256];

        pt->store[i] =
            trust_store_new(cfg->partners[i].root, cfg->partners[i].crl, why, sizeof(why));
        if (pt->store[i] == NULL) {
            snprintf(err, errlen, "partner %s: %s", cfg->partners[i].id, why);
            partner_trust_free(pt);
            return PS_E_CONFIG;
        }
        pt->cfg[i] = &cfg->partners[i];
        pt->n = i + 1;
    }
    return PS_OK;
}

void partner_trust_free(struct partner_trust *pt)
{
    for (size_t i = 0; i < pt->n; i++)
        X509_STORE_free(pt->store[i]);
    memset(pt, 0, sizeof(*pt));
}

static int chains_to(X509_STORE *store, X509 *leaf, STACK_OF(X509) * chain)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ctx && X509_STORE_CTX_init(ctx, store, leaf, chain) == 1 &&
             X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1 &&
             X509_verify_cert(ctx) == 1;

    X509_STORE_CTX_free(ctx);
    return ok;
}

const struct cfg_partner *partner_identify(const struct partner_trust *pt, X509 *leaf,
                                           STACK_OF(X509) * chain, const char **why)
{
    char cn[256];

    *why = NULL;
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn)) < 0)
        cn[0] = 0;
    for (size_t i = 0; i < pt->n; i++) {
        if (!chains_to(pt->store[i], leaf, chain))
            continue;
        if (strcmp(cn, pt->cfg[i]->cn) != 0) {
            *why = "certificate chains to a partner's root but is not that partner's (wrong CN)";
            return NULL;
        }
        return pt->cfg[i];
    }
    return NULL;
}
