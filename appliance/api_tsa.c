/*
 * api_tsa.c - POST /v1/tsa: RFC 3161 time-stamping over HTTP (RFC 3161 3.4).
 *
 * Body application/timestamp-query (a DER TimeStampReq); answer application/timestamp-reply
 * (a DER TimeStampResp). Any client with a valid certificate may ask (tenants, partners,
 * officers). OpenSSL builds the response with a capture proxy key (certs/tsa.c); the keyholder
 * signs the captured digest with the key named by tsa_key, owned by CFG_OWNER_TSA, and writes
 * its audit row like for every signature; then the signature goes into the token.
 *
 * A body that is not a DER TimeStampReq gets 400 JSON (there is no request to answer). A
 * well-formed request the TSA declines gets 200 with a TimeStampResp whose status is rejection
 * and whose failInfo says why (badAlg, unacceptedPolicy, ...), as RFC 3161 clients expect.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "../certs/tsa.h"
#include "api.h"
#include "worker.h"

#define TSA_REPLY "application/timestamp-reply"

struct tsa_job {
    struct request *r;
    struct tsa_resp t;
};

static int tsa_content_type(const struct request *r)
{
    return r->content_type[0] == 0 ||
           strncmp(r->content_type, "application/timestamp-query", 27) == 0;
}

static void tsa_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct tsa_job *j = ctx;
    struct request *r = j->r;
    struct one_sig os;
    uint8_t *der = NULL;
    size_t dl;

    if (api_one_signature(r, status, p, len, 0, &os) != 0) {
        /* answered */
    } else if (tsa_finish(&j->t, os.sig, os.len, &der, &dl) != PS_OK) {
        http_error(r, 502, "keyholder_error", "cannot put the signature into the time-stamp token");
    } else {
        r->w->m.signatures++;
        http_respond(r, 200, TSA_REPLY, der, dl);
    }
    OPENSSL_free(der);
    tsa_resp_free(&j->t);
    http_release(r);
    free(j);
}

void api_tsa(struct request *r, const char *tail)
{
    const struct config *cfg = r->w->cfg;
    const struct key_entry *k;
    struct tsa_params prm;
    struct tsa_job *j = NULL;
    const uint8_t *dp[1];
    uint8_t dl[1], *der = NULL;
    size_t derlen;
    char err[256];
    int rc;

    (void)tail;
    if (cfg->tsa_key == NULL || (k = keyreg_find(&r->w->reg, cfg->tsa_key)) == NULL) {
        http_error(r, 404, "tsa_not_configured", "time-stamping is not configured (tsa_key)");
        return;
    }
    if (!tsa_content_type(r)) {
        http_error(r, 415, "unsupported_media_type",
                   "send a DER TimeStampReq as Content-Type: application/timestamp-query (got "
                   "%.64s)",
                   r->content_type);
        return;
    }
    if (time(NULL) < k->not_before || time(NULL) > k->not_after) {
        http_error(r, 503, "tsa_unavailable", "the TSA certificate is not valid now");
        return;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    prm.key = k;
    prm.policy = cfg->tsa_policy;
    prm.accuracy_ms = cfg->tsa_accuracy_ms;
    rc = tsa_respond(&prm, r->body.data, r->body.len, &j->t, err, sizeof(err));
    if (rc == PS_E_INVAL) {
        http_error(r, 400, "invalid_timestamp_query", "%s", err);
        goto out;
    }
    if (rc != PS_OK) {
        http_error(r, 500, "internal", "%s", err);
        goto out;
    }
    if (!j->t.granted) { /* a rejection: a TimeStampResp without a token, nothing to sign */
        if (tsa_der(&j->t, &der, &derlen) != PS_OK) {
            http_error(r, 500, "internal", "cannot encode the time-stamp response");
            goto out;
        }
        http_respond(r, 200, TSA_REPLY, der, derlen);
        goto out;
    }
    dp[0] = j->t.digest;
    dl[0] = (uint8_t)j->t.dlen;
    j->r = r;
    http_hold(r);
    if (kh_sign(r->w->kh, CFG_OWNER_TSA, k->cfg->id, j->t.alg, dp, dl, 1, tsa_done, j) != PS_OK) {
        http_release(r);
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable");
        goto out;
    }
    return;
out:
    OPENSSL_free(der);
    tsa_resp_free(&j->t);
    free(j);
}
