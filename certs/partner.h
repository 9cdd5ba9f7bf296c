/*
 * partner.h - pinned trust for partner administrations (DESIGN §7).
 *
 * Each configured partner has its own X509_STORE holding only its root (and its CRLs when
 * crl= is given). A client certificate is the partner's when it chains to that partner's root
 * and its subject CN is the partner's configured cn; one that chains to a partner's root with
 * another CN is refused (a partner cannot speak for another, nor for a local tenant). The
 * local store (client_ca) never makes anyone a partner.
 */
#ifndef PS_PARTNER_H
#define PS_PARTNER_H

#include <stddef.h>

#include <openssl/x509.h>

#include "../appliance/config.h"

struct partner_trust {
    size_t n;
    X509_STORE *store[CFG_MAX_PARTNERS];
    const struct cfg_partner *cfg[CFG_MAX_PARTNERS];
};

/* Build one store per configured partner; PS_E_CONFIG with the reason in err. */
int partner_trust_load(const struct config *cfg, struct partner_trust *pt, char *err,
                       size_t errlen);
void partner_trust_free(struct partner_trust *pt);

/*
 * Which partner presented leaf (with untrusted intermediates chain, may be NULL)? Returns the
 * partner, or NULL with *why set: NULL when the certificate chains to no partner root, or a
 * static reason when it chains to one but is not that partner's (wrong CN, no clientAuth).
 */
const struct cfg_partner *partner_identify(const struct partner_trust *pt, X509 *leaf,
                                           STACK_OF(X509) * chain, const char **why);

#endif
