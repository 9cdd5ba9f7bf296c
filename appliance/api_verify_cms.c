/*
 * api_verify_cms.c - POST /v1/verify/cms: check a detached CMS signature over its content.
 *
 * Body (application/json): {"signature": base64 of the DER CMS, "content": base64 of the
 * signed bytes}; both are needed, base64 may be wrapped. Answer 200
 * {"valid": bool, "signer": {"subject","issuer","certNo"} or null, "reason": "..."} (reason
 * only when not valid). Trust: the certificates in verify_ca (default client_ca), CRLs from
 * crl. A body that is not such a request, or a signature that is not a detached CMS
 * SignedData, gets 400. Any client with a valid certificate may ask.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../certs/cmsverify.h"
#include "../protocol/b64.h"
#include "api.h"
#include "worker.h"

/* Decode field name of root (base64, line breaks allowed) into a malloc'd buffer; answers the
 * error itself and returns -1 on failure. */
static int b64_field(struct request *r, json_t *root, const char *name, uint8_t **out, size_t *len)
{
    const char *s = json_string_value(json_object_get(root, name));
    size_t sl;

    if (s == NULL) {
        http_error(r, 400, "invalid_request",
                   "\"%s\" must be a base64 string (want {\"signature\": b64, \"content\": b64})",
                   name);
        return -1;
    }
    sl = strlen(s);
    if ((*out = malloc(sl / 4 * 3 + 3)) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return -1;
    }
    if (!b64_ascii(s, sl) || sodium_base642bin(*out, sl / 4 * 3 + 3, s, sl, " \r\n", len, NULL,
                                               sodium_base64_VARIANT_ORIGINAL) != 0) {
        http_error(r, 400, "invalid_base64", "\"%s\" is not standard base64", name);
        return -1;
    }
    return 0;
}

static json_t *signer_json(const struct cms_check *c)
{
    if (!c->have_signer)
        return json_null();
    return json_pack("{s:s,s:s,s:s}", "subject", c->subject, "issuer", c->issuer, "certNo",
                     c->certno);
}

void api_verify_cms(struct request *r, const char *tail)
{
    json_t *root = NULL;
    uint8_t *sig = NULL, *content = NULL;
    size_t sl = 0, cl = 0;
    struct cms_check c;
    char err[256];

    (void)tail;
    if ((root = api_json_body(r, "{\"signature\": b64, \"content\": b64}")) == NULL)
        return;
    if (b64_field(r, root, "signature", &sig, &sl) != 0 ||
        b64_field(r, root, "content", &content, &cl) != 0)
        goto out;
    if (cms_verify_detached(sig, sl, content, cl, r->w->doc_trust, &c, err, sizeof(err)) != PS_OK) {
        http_error(r, 400, "invalid_cms", "%s", err);
        goto out;
    }
    http_respond_json(r, 200,
                      json_pack("{s:b,s:o,s:s*}", "valid", c.valid, "signer", signer_json(&c),
                                "reason", c.valid ? NULL : c.reason));
out:
    free(sig);
    free(content);
    json_decref(root);
}
