/*
 * trust.h - X509_STOREs of trust anchors for checking signed documents.
 * trust_store_new reads every certificate in cafile as a trust anchor and, when crlfile is
 * given, its CRLs: then every certificate of a chain must have a CRL from its issuer and not be
 * listed (X509_V_FLAG_CRL_CHECK_ALL, as for client certificates). X509_STORE_free the result.
 */
#ifndef PS_TRUST_H
#define PS_TRUST_H

#include <stddef.h>

#include <openssl/x509.h>

X509_STORE *trust_store_new(const char *cafile, const char *crlfile, char *err, size_t errlen);

#endif
