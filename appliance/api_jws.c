/*
 * api_jws.c - JWS signed by the appliance's exchange_key (protocol/jws.h), for AEO feed
 * batches, P2P envelopes and receipts. The keyholder signs the SHA-256 of the signing input
 * (ES256, owner @exchange: an audit row and a ledger leaf like every signature); the worker
 * never waits for it.
 */
#include <stdlib.h>
#include <string.h>

#include "../certs/keyreg.h"
#include "api.h"
#include "worker.h"

struct jws_job {
    struct jws_signing s;
    enum jws_form form;
    api_jws_cb cb;
    void *ctx;
};

static void jws_signed(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct jws_job *j = ctx;
    const uint8_t *sigs[1];
    uint16_t lens[1], count;
    uint64_t seq = 0;
    struct buf out;
    char err[256] = "";
    int rc = status;

    buf_init(&out, JWS_MAX_LEN);
    if (rc != PS_OK) {
        snprintf(err, sizeof(err), "%.*s", len > 200 ? 200 : (int)len, (const char *)p);
    } else if (ipc_sign_reply_decode(p, len, &seq, &count, sigs, lens, 1) != PS_OK || count != 1) {
        rc = PS_E_INVAL;
        snprintf(err, sizeof(err), "malformed reply from the keyholder");
    } else {
        rc = jws_sign_finish(&j->s, sigs[0], lens[0], j->form, &out, err, sizeof(err));
    }
    j->cb(j->ctx, rc, rc == PS_OK ? &out : NULL, seq, err);
    buf_free(&out);
    jws_signing_free(&j->s);
    free(j);
}

int api_jws_sign(struct worker *w, const uint8_t *payload, size_t len, const char *typ,
                 enum jws_form form, api_jws_cb cb, void *ctx, char *err, size_t errlen)
{
    return api_jws_sign_kh(w->cfg, &w->reg, w->kh, payload, len, typ, form, cb, ctx, err, errlen);
}

int api_jws_sign_kh(const struct config *cfg, const struct keyreg *reg, struct kh_client *kh,
                    const uint8_t *payload, size_t len, const char *typ, enum jws_form form,
                    api_jws_cb cb, void *ctx, char *err, size_t errlen)
{
    const struct key_entry *k = cfg->exchange_key ? keyreg_find(reg, cfg->exchange_key) : NULL;
    struct jws_params prm;
    struct jws_job *j;
    const uint8_t *tbs, *dp[1];
    uint8_t dl[1];
    size_t tl;
    int rc;

    if (k == NULL || k->type != KT_EC_P256) {
        snprintf(err, errlen, "no exchange_key (an ECDSA P-256 key) is configured");
        return PS_E_UNAVAIL;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PS_E_NOMEM;
    memset(&prm, 0, sizeof(prm));
    prm.alg = JWS_ES256;
    prm.cert = k->cert;
    prm.chain = k->chain;
    prm.kid = k->certno;
    prm.typ = typ;
    if ((rc = jws_sign_begin(&j->s, &prm, payload, len, err, errlen)) != PS_OK) {
        jws_signing_free(&j->s);
        free(j);
        return rc;
    }
    j->form = form;
    j->cb = cb;
    j->ctx = ctx;
    jws_sign_tbs(&j->s, &tbs, &tl);
    dp[0] = tbs;
    dl[0] = (uint8_t)tl;
    if ((rc = kh_sign(kh, CFG_OWNER_EXCHANGE, k->cfg->id, ALG_ECDSA_SHA256, dp, dl, 1, jws_signed,
                      j)) != PS_OK) {
        snprintf(err, errlen, "the signing service is unavailable");
        jws_signing_free(&j->s);
        free(j);
    }
    return rc;
}
