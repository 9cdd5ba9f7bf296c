#include "trust.h"

#include <stdio.h>

#include <openssl/err.h>

static X509_STORE *fail(X509_STORE *st, char *err, size_t errlen, const char *what,
                        const char *file)
{
    char es[256];

    ERR_error_string_n(ERR_get_error(), es, sizeof(es));
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, file, es);
    X509_STORE_free(st);
    return NULL;
}

X509_STORE *trust_store_new(const char *cafile, const char *crlfile, char *err, size_t errlen)
{
    X509_STORE *st = X509_STORE_new();
    X509_LOOKUP *lu;

    if (st == NULL)
        return fail(st, err, errlen, "cannot make a trust store for", cafile);
    if ((lu = X509_STORE_add_lookup(st, X509_LOOKUP_file())) == NULL ||
        X509_load_cert_file(lu, cafile, X509_FILETYPE_PEM) <= 0)
        return fail(st, err, errlen, "cannot load trust anchors from", cafile);
    if (crlfile) {
        if (X509_load_crl_file(lu, crlfile, X509_FILETYPE_PEM) <= 0)
            return fail(st, err, errlen, "cannot load CRLs from", crlfile);
        X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    return st;
}
