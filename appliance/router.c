#include "router.h"

#include <string.h>

#include "../protocol/aeo.h"
#include "api.h"

#define BODY_CFG      ((size_t)-1)
#define BODY_EVIDENCE ROUTE_BODY_EVIDENCE
/* a TimeStampReq is a few hundred bytes (hash, nonce, policy, a few extensions) */
#define TSA_MAX_BODY 16384

const struct route routes[] = {
    {"GET", "/healthz", 0, api_healthz, 0, ROUTE_PUBLIC, "healthz"},
    {"GET", "/readyz", 0, api_readyz, 0, 0, "readyz"},
    {"GET", "/metrics", 0, api_metrics, 0, 0, "metrics"},
    {"GET", "/v1/whoami", 0, api_whoami, 0, ROUTE_PARTNER_OK, "whoami"},
    {"GET", "/v1/partners", 0, api_partners, 0, ROUTE_OFFICER, "partners"},
    {"GET", "/v1/keys", 0, api_keys_list, 0, ROUTE_TENANT, "keys"},
    {"GET", "/v1/keys/", 1, api_keys_get, 0, ROUTE_TENANT, "key"},
    {"POST", "/v1/sign/hash", 0, api_sign_hash, BODY_CFG, ROUTE_TENANT, "sign_hash"},
    {"POST", "/v1/sign/cms", 0, api_sign_cms, BODY_CFG, ROUTE_TENANT, "sign_cms"},
    {"POST", "/v1/sign/ceb", 0, api_sign_ceb, BODY_CFG, ROUTE_TENANT | ROUTE_BODY_GROWS,
     "sign_ceb"},
    {"POST", "/v1/verify/ceb", 0, api_verify_ceb, BODY_CFG, ROUTE_PARTNER_OK, "verify_ceb"},
    {"POST", "/v1/sign/179", 0, api_sign_179, BODY_CFG, ROUTE_TENANT, "sign_179"},
    {"POST", "/v1/verify/cms", 0, api_verify_cms, BODY_CFG, ROUTE_PARTNER_OK, "verify_cms"},
    {"POST", "/v1/tsa", 0, api_tsa, TSA_MAX_BODY, ROUTE_PARTNER_OK, "tsa"},
    {"GET", "/v1/ledger/checkpoint", 0, api_ledger_checkpoint, 0, ROUTE_PARTNER_OK,
     "ledger_checkpoint"},
    {"POST", "/v1/ledger/checkpoint", 0, api_ledger_checkpoint, 0, 0, "ledger_checkpoint_new"},
    {"GET", "/v1/ledger/proof/inclusion", 0, api_ledger_inclusion, 0, ROUTE_PARTNER_OK,
     "ledger_inclusion"},
    {"GET", "/v1/ledger/proof/consistency", 0, api_ledger_consistency, 0, ROUTE_PARTNER_OK,
     "ledger_consistency"},
    {"POST", "/v1/evidence", 0, api_evidence_post, BODY_EVIDENCE, 0, "evidence_post"},
    {"GET", "/v1/evidence", 0, api_evidence_search, 0, 0, "evidence_search"},
    {"GET", "/v1/evidence/", 1, api_evidence_get, 0, ROUTE_SUBPATH, "evidence_get"},
    /* AEO mutual recognition (api_aeo.c) */
    {"POST", "/v1/aeo/register", 0, api_aeo_register, AEO_IMPORT_MAX_LEN, ROUTE_OFFICER,
     "aeo_register"},
    {"GET", "/v1/aeo/feed", 0, api_aeo_feed, 0, ROUTE_PARTNER, "aeo_feed"},
    {"POST", "/v1/aeo/notify", 0, api_aeo_notify, 4096, ROUTE_PARTNER, "aeo_notify"},
    {"GET", "/v1/aeo/digest", 0, api_aeo_digest, 0, ROUTE_PARTNER, "aeo_digest"},
    {"GET", "/v1/aeo/operators/", 1, api_aeo_operator, 0, ROUTE_OFFICER, "aeo_operator"},
    /* point-to-point channel: envelopes carry x5c chains, so allow 1 MiB around 256 KiB */
    {"POST", "/v1/p2p/inbound", 0, api_p2p_inbound, 1024 * 1024, ROUTE_PARTNER, "p2p_inbound"},
    /* up to 64 envelopes; the courier sends batches of at most 32 and 2 MiB */
    {"POST", "/v1/p2p/inbound/batch", 0, api_p2p_inbound_batch, 4 * 1024 * 1024, ROUTE_PARTNER,
     "p2p_inbound_batch"},
    {"POST", "/v1/p2p/outbox", 0, api_p2p_outbox, 256 * 1024, ROUTE_OFFICER, "p2p_outbox"},
    {"GET", "/v1/p2p/messages", 0, api_p2p_messages, 0, ROUTE_OFFICER, "p2p_messages"},
    {"GET", "/v1/p2p/messages/", 1, api_p2p_message, 0, ROUTE_OFFICER, "p2p_message"},
    {"GET", "/v1/p2p/stream", 0, api_p2p_stream, 0, ROUTE_OFFICER, "p2p_stream"},
    /* the status page (api_ui.c): local identities, as /metrics which it reads */
    {"GET", "/ui/", 0, api_ui, 0, 0, "ui"},
    {"GET", "/ui/", 1, api_ui, 0, 0, "ui_file"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

const struct route *router_match(const char *method, const char *path, const char **tail,
                                 int *status)
{
    int path_seen = 0;

    for (const struct route *rt = routes; rt->method; rt++) {
        size_t n = strlen(rt->path);
        int hit;

        if (rt->prefix)
            hit = strncmp(path, rt->path, n) == 0 && path[n] != 0 &&
                  ((rt->flags & ROUTE_SUBPATH) || strchr(path + n, '/') == NULL);
        else
            hit = strcmp(path, rt->path) == 0;
        if (!hit)
            continue;
        path_seen = 1;
        if (strcmp(method, rt->method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            *tail = rt->prefix ? path + n : "";
            return rt;
        }
    }
    *status = path_seen ? 405 : 404;
    return NULL;
}
