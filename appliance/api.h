/* api.h - the handlers, one file per API area. */
#ifndef PS_API_H
#define PS_API_H

#include "http.h"

/* api_ops.c */
void api_healthz(struct request *r, const char *tail);
void api_readyz(struct request *r, const char *tail);
void api_metrics(struct request *r, const char *tail);
void api_whoami(struct request *r, const char *tail);
void api_partners(struct request *r, const char *tail);
/* api_keys.c */
void api_keys_list(struct request *r, const char *tail);
void api_keys_get(struct request *r, const char *tail);
/* api_sign.c */
void api_sign_hash(struct request *r, const char *tail);
void api_sign_cms(struct request *r, const char *tail);
/* helpers shared by the signing handlers (api_sign.c); each answers the error itself */
struct key_entry;
const struct key_entry *api_tenant_key(struct request *r, const char *id);
int api_pick_alg(struct request *r, const struct key_entry *k, const char *name);
void api_kh_error(struct request *r, int status, const uint8_t *msg, size_t len);
/* The signature of a one-digest keyholder reply (answers the error itself and returns -1).
 * to_der converts an ECDSA/SM2 r||s to DER. */
struct one_sig {
    const uint8_t *sig;
    size_t len;
    uint64_t seq;
    uint8_t der[160];
};
int api_one_signature(struct request *r, int status, const uint8_t *p, size_t len, int to_der,
                      struct one_sig *out);
/* JSON bodies: content type check, and the body as an object (else answered 415/400, NULL) */
int api_content_type_json(const struct request *r);
json_t *api_json_body(struct request *r, const char *what);
/* api_keys.c: an X.509 name as a JSON string ("/CN=.../O=...") */
typedef struct X509_name_st X509_NAME;
json_t *api_name_json(const X509_NAME *n);
/* api_ceb.c */
void api_sign_ceb(struct request *r, const char *tail);
void api_verify_ceb(struct request *r, const char *tail);
void api_sign_179(struct request *r, const char *tail);
/* api_verify_cms.c */
void api_verify_cms(struct request *r, const char *tail);
/* api_ledger.c */
void api_ledger_checkpoint(struct request *r, const char *tail);
void api_ledger_inclusion(struct request *r, const char *tail);
void api_ledger_consistency(struct request *r, const char *tail);
/* api_evidence.c */
void api_evidence_post(struct request *r, const char *tail);
void api_evidence_get(struct request *r, const char *tail);
void api_evidence_search(struct request *r, const char *tail);
struct worker;
/* After the privilege drop: open the evidence store (or say in the log why it cannot be). */
void api_evidence_init(struct worker *w);
/* api_jws.c: sign payload as a JWS (ES256) with exchange_key, asynchronously. On PS_OK the
 * callback runs later, exactly once: status PS_OK with the JWS in jws (valid during the call)
 * and the signature's audit seq (= ledger index), or an error with a reason in err. Otherwise
 * the callback is never called and err says why. */
#include "../protocol/jws.h"
typedef void (*api_jws_cb)(void *ctx, int status, const struct buf *jws, uint64_t seq,
                           const char *err);
int api_jws_sign(struct worker *w, const uint8_t *payload, size_t len, const char *typ,
                 enum jws_form form, api_jws_cb cb, void *ctx, char *err, size_t errlen);
/* The same with any keyholder client (the courier's). */
struct config;
struct keyreg;
struct kh_client;
int api_jws_sign_kh(const struct config *cfg, const struct keyreg *reg, struct kh_client *kh,
                    const uint8_t *payload, size_t len, const char *typ, enum jws_form form,
                    api_jws_cb cb, void *ctx, char *err, size_t errlen);
/* api_tsa.c */
void api_tsa(struct request *r, const char *tail);
/* api_aeo.c: AEO register import, signed feed, partner notifications, operator lookups */
void api_aeo_register(struct request *r, const char *tail);
void api_aeo_feed(struct request *r, const char *tail);
void api_aeo_digest(struct request *r, const char *tail);
void api_aeo_notify(struct request *r, const char *tail);
void api_aeo_operator(struct request *r, const char *tail);
/* api_p2p.c */
void api_p2p_inbound(struct request *r, const char *tail);
void api_p2p_inbound_batch(struct request *r, const char *tail);
void api_p2p_outbox(struct request *r, const char *tail);
void api_p2p_messages(struct request *r, const char *tail);
void api_p2p_message(struct request *r, const char *tail);
/* api_p2p.c, for api_p2p_stream.c: the worker's store (NULL if it cannot be opened), and the
 * same after the checks of the P2P routes (else answered 503 and NULL) */
struct p2pstore;
struct p2pstore *api_p2p_store(struct worker *w);
struct p2pstore *api_p2p_ready(struct request *r);
/* api_p2p_stream.c: GET /v1/p2p/stream (server-sent events), and the worker loop's tick that
 * pushes what other workers stored to the open streams (every ~200 ms; cheap when none is) */
void api_p2p_stream(struct request *r, const char *tail);
void api_p2p_stream_tick(struct worker *w);
/* open streams of this worker (for /metrics) */
unsigned api_p2p_stream_count(void);
/* api_aeo.c: the worker's AEO store (NULL if it cannot be opened; for /metrics) */
struct aeostore;
struct aeostore *api_aeo_store(struct worker *w);
/* api_ui.c: the status page (GET /ui/ and its files, compiled in from appliance/ui/) */
void api_ui(struct request *r, const char *tail);

#endif
