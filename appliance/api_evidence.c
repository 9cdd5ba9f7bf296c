/*
 * api_evidence.c - IP pre-confirmation evidence (DESIGN §4-5, protocol/evidence.h).
 *
 *   POST /v1/evidence              multipart/form-data: "metadata" (JSON) and the files
 *                                  -> 201 {"bundle_id","sha256","ledger_index","tree_size",
 *                                          "sealed_at"}
 *   GET  /v1/evidence/{id}         the bundle, application/vnd.etsi.asic-e+zip
 *   GET  /v1/evidence/{id}/proof   its inclusion proof to the ledger's latest checkpoint
 *   GET  /v1/evidence?trademark=&rights_holder=   search (exact numbers / names)
 *
 * Who: tenants (rights holders' platforms) and officers submit; an officer reads and searches
 * every bundle, a tenant only its own (another's is 404, as for keys). Partners: no.
 *
 * Sealing runs as a chain of keyholder calls, none blocking the worker:
 *   1. parse and check the upload, build metadata.json and the manifest (all 4xx come here);
 *   2. the CAdES signature over the manifest: OpenSSL builds the CMS with a capture proxy of
 *      evidence_key, the keyholder signs the digest (owner @evidence, an audit row and a leaf);
 *   3. an RFC 3161 token over the signature by tsa_key (certs/tsa.c, as /v1/tsa);
 *   4. the bundle's ledger leaf: the keyholder appends it and signs a checkpoint covering it,
 *      and returns the inclusion proof;
 *   5. the zip, stored durably (appliance/evstore.h) before the 201.
 * The file write is synchronous in the worker (a 64 MiB bundle costs one fsync); a worker
 * seals at most EV_MAX_INFLIGHT uploads at a time and answers 503 beyond.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "../certs/evseal.h"
#include "../certs/keyreg.h"
#include "../certs/proxykey.h"
#include "../certs/tsa.h"
#include "../protocol/evidence.h"
#include "../protocol/multipart.h"
#include "../protocol/timefmt.h"
#include "api.h"
#include "evstore.h"
#include "log.h"
#include "worker.h"

#define EV_MAX_INFLIGHT 4
#define ASICE_TYPE      "application/vnd.etsi.asic-e+zip"

static int ev_inflight; /* per worker process */

struct ev_job {
    struct request *r;
    struct mp_form form;
    struct evidence_seal seal;
    const struct key_entry *seal_key, *tsa_key, *log_key;
    CMS_ContentInfo *cms;
    struct buf p7s, tst, leaf;
    uint64_t nonce;
    struct tsa_resp t;
};

static void ev_free(struct ev_job *j)
{
    if (j == NULL)
        return;
    mp_form_free(&j->form);
    evidence_seal_free(&j->seal);
    CMS_ContentInfo_free(j->cms);
    buf_free(&j->p7s);
    buf_free(&j->tst);
    buf_free(&j->leaf);
    tsa_resp_free(&j->t);
    free(j);
}

/* End of the chain: answered already; drop the job and the request. */
static void ev_end(struct ev_job *j)
{
    struct request *r = j->r;

    ev_inflight--;
    ev_free(j);
    http_release(r);
}

static struct evstore *store(struct worker *w)
{
    static struct evstore *s;
    char err[512];

    (void)w;
    if (s == NULL && evstore_open(w->cfg->state_dir, &s, err, sizeof(err)) != PS_OK) {
        log_warnx("%s", err);
        s = NULL;
    }
    return s;
}

void api_evidence_init(struct worker *w)
{
    if (w->cfg->evidence_key && store(w) == NULL)
        log_warnx("evidence cannot be stored: POST /v1/evidence will answer 503 (is %s/evidence "
                  "reachable and writable for user %s?)",
                  w->cfg->state_dir, w->cfg->user);
}

static const struct key_entry *own_key(struct request *r, const char *id)
{
    return id ? keyreg_find(&r->w->reg, id) : NULL;
}

/* PEM text of a certificate into out (NUL-terminated). */
static int cert_pem(X509 *x, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n;
    int ok =
        b && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &p)) > 0 && (size_t)n < cap;

    if (ok) {
        memcpy(out, p, (size_t)n);
        out[n] = 0;
    }
    BIO_free(b);
    return ok ? PS_OK : PS_E_CRYPTO;
}

static void leaf_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct ev_job *j = ctx;
    struct request *r = j->r;
    struct ipc_ledger l;
    struct merkle_proof proof;
    static char pem[2][8192];
    const char *pems[2] = {pem[0], pem[1]};
    size_t npem = 1;
    struct buf pj, zip;
    char id[65], err[256];
    struct evstore *s;
    int rc;

    buf_init(&pj, EVIDENCE_MAX_PROOF_JSON);
    buf_init(&zip, r->w->cfg->evidence_max_total + 16 * 1024 * 1024);
    if (status != PS_OK) {
        int n = len > 200 ? 200 : (int)len;

        http_error(r, 503, "ledger_unavailable", "the bundle could not be recorded: %.*s", n,
                   (const char *)p);
        goto out;
    }
    if (ipc_ledger_reply_decode(p, len, &l) != PS_OK || l.nhash > MERKLE_MAX_PROOF) {
        http_error(r, 502, "keyholder_error", "malformed ledger reply");
        goto out;
    }
    proof.len = l.nhash;
    memcpy(proof.hash, l.hash, (size_t)l.nhash * MERKLE_HASH_LEN);
    if (cert_pem(j->log_key->cert, pem[0], sizeof(pem[0])) != PS_OK) {
        http_error(r, 500, "internal", "cannot encode the ledger certificate");
        goto out;
    }
    if (sk_X509_num(j->log_key->chain) > 0 &&
        cert_pem(sk_X509_value(j->log_key->chain, 0), pem[1], sizeof(pem[1])) == PS_OK)
        npem = 2;
    if ((rc = evidence_proof_json(j->leaf.data, j->leaf.len, l.a, l.b, &proof, l.text, l.text_len,
                                  pems, npem, &pj)) != PS_OK ||
        (rc = evidence_seal_finish(&j->seal, j->p7s.data, j->p7s.len, j->tst.data, j->tst.len,
                                   pj.data, pj.len, &zip, id, err, sizeof(err))) != PS_OK) {
        http_error(r, 500, "internal", "cannot assemble the bundle: %s", ps_strerror(rc));
        goto out;
    }
    {
        struct evidence_meta meta;
        struct evstore_rec rec;

        if (evidence_metadata_check(j->seal.metadata.data, j->seal.metadata.len, 1, &meta, err,
                                    sizeof(err)) != PS_OK) {
            http_error(r, 500, "internal", "sealed metadata does not check: %s", err);
            goto out;
        }
        memset(&rec, 0, sizeof(rec));
        rec.id = id;
        rec.ledger_index = l.a;
        rec.sealed_at_ms = j->seal.sealed_at_ms;
        rec.size = zip.len;
        rec.tenant = r->tenant;
        rec.officer = r->tenant ? NULL : r->officer;
        rec.rights_holder = meta.rights_holder;
        rec.metadata = j->seal.metadata.data;
        rec.metadata_len = j->seal.metadata.len;
        if ((s = store(r->w)) == NULL || evstore_put(s, &rec, zip.data, zip.len) != PS_OK) {
            log_warnx("evidence bundle %s: cannot be stored", id);
            http_error(r, 503, "storage_unavailable", "the bundle could not be stored");
            goto out;
        }
    }
    {
        char stamp[21], when[32];
        uint64_t ms = j->seal.sealed_at_ms;

        if (time_format_stamp((int64_t)(ms / 1000), stamp) != PS_OK)
            snprintf(stamp, sizeof(stamp), "?");
        snprintf(when, sizeof(when), "%.19s.%03uZ", stamp, (unsigned)(ms % 1000));
        log_info("evidence bundle %s sealed (%zu bytes, ledger leaf %llu)", id, zip.len,
                 (unsigned long long)l.a);
        http_respond_json(r, 201,
                          json_pack("{s:s,s:s,s:I,s:I,s:s}", "bundle_id", id, "sha256", id,
                                    "ledger_index", (json_int_t)l.a, "tree_size", (json_int_t)l.b,
                                    "sealed_at", when));
    }
out:
    buf_free(&pj);
    buf_free(&zip);
    ev_end(j);
}

static void tsa_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct ev_job *j = ctx;
    struct request *r = j->r;
    struct one_sig os;
    uint8_t *der = NULL;
    size_t dl;
    char err[256];

    if (api_one_signature(r, status, p, len, 0, &os) != 0)
        goto fail;
    if (tsa_finish(&j->t, os.sig, os.len, &der, &dl) != PS_OK ||
        evseal_tst_from_resp(der, dl, j->p7s.data, j->p7s.len, &j->nonce, &j->tst, err,
                             sizeof(err)) != PS_OK ||
        evidence_seal_leaf(&j->seal, j->p7s.data, j->p7s.len, j->tst.data, j->tst.len, &j->leaf) !=
            PS_OK) {
        http_error(r, 500, "internal", "cannot make the time-stamp token of the bundle");
        goto fail;
    }
    OPENSSL_free(der);
    if (kh_ledger(r->w->kh, IPC_LEDGER_APPEND, 0, 0, j->leaf.data, j->leaf.len, leaf_done, j) !=
        PS_OK) {
        http_error(r, 503, "keyholder_unavailable", "the ledger is unavailable");
        ev_end(j);
    }
    return;
fail:
    OPENSSL_free(der);
    ev_end(j);
}

static void cms_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct ev_job *j = ctx;
    struct request *r = j->r;
    const struct config *cfg = r->w->cfg;
    struct tsa_params prm;
    struct one_sig os;
    struct buf tsq;
    const uint8_t *dp[1];
    uint8_t dl[1];
    char err[256];

    buf_init(&tsq, 4096);
    if (api_one_signature(r, status, p, len, j->seal_key->type != KT_RSA, &os) != 0)
        goto fail;
    if (evseal_cms_der(j->cms, os.sig, os.len, &j->p7s, err, sizeof(err)) != PS_OK ||
        evseal_tsq(j->p7s.data, j->p7s.len, &j->nonce, &tsq) != PS_OK) {
        http_error(r, 500, "internal", "cannot encode the bundle signature: %s", err);
        goto fail;
    }
    prm.key = j->tsa_key;
    prm.policy = cfg->tsa_policy;
    prm.accuracy_ms = cfg->tsa_accuracy_ms;
    if (tsa_respond(&prm, tsq.data, tsq.len, &j->t, err, sizeof(err)) != PS_OK || !j->t.granted) {
        http_error(r, 500, "internal", "cannot time-stamp the bundle signature: %s", err);
        goto fail;
    }
    dp[0] = j->t.digest;
    dl[0] = (uint8_t)j->t.dlen;
    if (kh_sign(r->w->kh, CFG_OWNER_TSA, j->tsa_key->cfg->id, j->t.alg, dp, dl, 1, tsa_done, j) !=
        PS_OK) {
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable");
        goto fail;
    }
    buf_free(&tsq);
    return;
fail:
    buf_free(&tsq);
    ev_end(j);
}

/* The three keys sealing needs, valid now; else answered 503. */
static int ev_keys(struct request *r, struct ev_job *j)
{
    const struct config *cfg = r->w->cfg;
    time_t now = time(NULL);

    j->seal_key = own_key(r, cfg->evidence_key);
    j->tsa_key = own_key(r, cfg->tsa_key);
    j->log_key = own_key(r, cfg->ledger_key);
    if (j->seal_key == NULL || j->tsa_key == NULL || j->log_key == NULL) {
        http_error(r, 503, "evidence_not_configured",
                   "sealing evidence needs evidence_key, tsa_key and ledger_key");
        return -1;
    }
    if (j->seal_key->type != KT_RSA && j->seal_key->type != KT_EC_P256) {
        http_error(r, 503, "evidence_not_configured", "evidence_key must be RSA or ECDSA P-256");
        return -1;
    }
    if (now < j->seal_key->not_before || now > j->seal_key->not_after ||
        now < j->tsa_key->not_before || now > j->tsa_key->not_after) {
        http_error(r, 503, "evidence_unavailable", "a sealing certificate is not valid now");
        return -1;
    }
    return 0;
}

void api_evidence_post(struct request *r, const char *tail)
{
    const struct config *cfg = r->w->cfg;
    struct mp_limits ml = {r->max_body, cfg->evidence_max_files + 2, 8192};
    struct evidence_limits el = {cfg->evidence_max_files, cfg->evidence_max_file,
                                 cfg->evidence_max_total};
    struct ev_job *j;
    char boundary[MP_MAX_BOUNDARY + 1], err[512];
    EVP_PKEY *proxy = NULL;
    uint8_t dg[64];
    const uint8_t *dp[1] = {dg};
    uint8_t dl[1];
    size_t dlen;
    struct timespec ts;
    int rc, nid;

    (void)tail;
    if (r->tenant == NULL && r->officer == NULL) {
        http_error(r, 403, "forbidden", "only tenants and officers may submit evidence");
        return;
    }
    if (ev_inflight >= EV_MAX_INFLIGHT) {
        http_error(r, 503, "busy", "too many uploads being sealed; try again");
        return;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    buf_init(&j->p7s, 1024 * 1024);
    buf_init(&j->tst, 1024 * 1024);
    buf_init(&j->leaf, EVIDENCE_LEAF_MAX);
    if (ev_keys(r, j) != 0)
        goto out;
    if (mp_boundary(r->content_type, boundary, sizeof(boundary), err, sizeof(err)) != PS_OK) {
        http_error(r, 415, "unsupported_media_type", "%s", err);
        goto out;
    }
    if ((rc = mp_parse(r->body.data ? r->body.data : (const uint8_t *)"", r->body.len, boundary,
                       &ml, &j->form, err, sizeof(err))) != PS_OK ||
        (clock_gettime(CLOCK_REALTIME, &ts),
         rc = evidence_seal_begin(&j->seal, &j->form, &el,
                                  (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, err,
                                  sizeof(err))) != PS_OK) {
        if (rc == PS_E_LIMIT)
            http_error(r, 413, "payload_too_large", "%s", err);
        else if (rc == PS_E_INVAL)
            http_error(r, 400, "invalid_evidence", "%s", err);
        else
            http_error(r, 500, "internal", "%s", ps_strerror(rc));
        goto out;
    }
    if ((proxy = proxykey_new(j->seal_key->pub)) == NULL ||
        (proxykey_reset(),
         evseal_cms_build(j->seal.manifest.data, j->seal.manifest.len, j->seal_key->cert,
                          j->seal_key->chain, proxy, &j->cms, err, sizeof(err))) != PS_OK ||
        proxykey_take(dg, sizeof(dg), &dlen, &nid) != PS_OK || nid != NID_sha256) {
        ERR_clear_error();
        http_error(r, 500, "internal", "cannot build the bundle signature: %s", err);
        goto out;
    }
    EVP_PKEY_free(proxy);
    proxy = NULL;
    dl[0] = (uint8_t)dlen;
    j->r = r;
    http_hold(r);
    ev_inflight++;
    if (kh_sign(r->w->kh, CFG_OWNER_EVIDENCE, j->seal_key->cfg->id,
                j->seal_key->type == KT_RSA ? ALG_RSA_PKCS1_SHA256 : ALG_ECDSA_SHA256, dp, dl, 1,
                cms_done, j) != PS_OK) {
        http_error(r, 503, "keyholder_unavailable", "the signing service is unavailable");
        ev_end(j);
    }
    return;
out:
    EVP_PKEY_free(proxy);
    ev_free(j);
}

/* A bundle id in the path: 64 lowercase hex digits. */
static int parse_id(const char *s, char id[65])
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
    memcpy(id, s, 64);
    id[64] = 0;
    return 0;
}

/* The row of a bundle the caller may see; else answered 404 and NULL. */
static json_t *visible(struct request *r, const char *id)
{
    struct evstore *s = store(r->w);
    char owner[65];
    json_t *row = s ? evstore_get(s, id, owner) : NULL;

    if (s == NULL) {
        http_error(r, 503, "storage_unavailable", "the evidence store is unavailable");
        return NULL;
    }
    if (row == NULL || (r->officer == NULL && (r->tenant == NULL || strcmp(owner, r->tenant)))) {
        json_decref(row);
        http_error(r, 404, "not_found", "no such bundle: %s", id);
        return NULL;
    }
    return row;
}

struct proof_job {
    struct request *r;
    json_t *row;
    struct buf note;
    uint64_t size;
};

static void proof_incl_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct proof_job *j = ctx;
    struct request *r = j->r;
    struct ipc_ledger l;

    if (status != PS_OK || ipc_ledger_reply_decode(p, len, &l) != PS_OK || l.nhash < 1) {
        http_error(r, 503, "ledger_unavailable", "no inclusion proof for the bundle");
    } else {
        json_t *a = json_array();
        char b64[sodium_base64_ENCODED_LEN(MERKLE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)];

        for (uint8_t i = 0; i < l.nhash; i++) {
            sodium_bin2base64(b64, sizeof(b64), l.hash + (size_t)i * MERKLE_HASH_LEN,
                              MERKLE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL);
            if (i > 0)
                json_array_append_new(a, json_string(b64));
        }
        sodium_bin2base64(b64, sizeof(b64), l.hash, MERKLE_HASH_LEN,
                          sodium_base64_VARIANT_ORIGINAL);
        http_respond_json(r, 200,
                          json_pack("{s:O,s:I,s:I,s:s,s:o,s:s%}", "bundle_id",
                                    json_object_get(j->row, "bundle_id"), "leaf_index",
                                    (json_int_t)l.a, "tree_size", (json_int_t)l.b, "leaf_hash", b64,
                                    "inclusion", a, "checkpoint", (const char *)j->note.data,
                                    j->note.len));
    }
    json_decref(j->row);
    buf_free(&j->note);
    free(j);
    http_release(r);
}

static void proof_cp_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct proof_job *j = ctx;
    struct request *r = j->r;
    struct ipc_ledger l;
    json_int_t index = json_integer_value(json_object_get(j->row, "ledger_index"));

    if (status != PS_OK || ipc_ledger_reply_decode(p, len, &l) != PS_OK ||
        buf_append(&j->note, l.text, l.text_len) != PS_OK) {
        http_error(r, 503, "ledger_unavailable", "no checkpoint available");
    } else if (kh_ledger(r->w->kh, IPC_LEDGER_INCLUSION, (uint64_t)index, l.a, NULL, 0,
                         proof_incl_done, j) == PS_OK) {
        return; /* the request stays held for proof_incl_done */
    } else {
        http_error(r, 503, "keyholder_unavailable", "the ledger is unavailable");
    }
    json_decref(j->row);
    buf_free(&j->note);
    free(j);
    http_release(r);
}

static void send_file(struct request *r, const char *path)
{
    struct stat st;
    uint8_t *data = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0 || (data = malloc((size_t)st.st_size + 1)) == NULL) {
        http_error(r, 503, "storage_unavailable", "the bundle cannot be read");
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got != (size_t)st.st_size)
        http_error(r, 503, "storage_unavailable", "the bundle cannot be read");
    else
        http_respond(r, 200, ASICE_TYPE, data, got);
out:
    if (fd >= 0)
        close(fd);
    free(data);
}

void api_evidence_get(struct request *r, const char *tail)
{
    char id[65], path[4200];
    json_t *row;

    if (strlen(tail) < 64 || parse_id(tail, id) != 0 ||
        (tail[64] != 0 && strcmp(tail + 64, "/proof") != 0)) {
        http_error(r, 404, "not_found", "no such bundle path: %.100s", tail);
        return;
    }
    if ((row = visible(r, id)) == NULL)
        return;
    if (tail[64] == 0) {
        evstore_path(store(r->w), id, path, sizeof(path));
        send_file(r, path);
        json_decref(row);
        return;
    }
    {
        struct proof_job *j = calloc(1, sizeof(*j));

        if (j == NULL) {
            json_decref(row);
            http_error(r, 500, "internal", "out of memory");
            return;
        }
        j->r = r;
        j->row = row;
        buf_init(&j->note, 64 * 1024);
        http_hold(r);
        if (kh_ledger(r->w->kh, IPC_LEDGER_CHECKPOINT, 0, 0, NULL, 0, proof_cp_done, j) != PS_OK) {
            static const char msg[] = "keyholder unavailable";

            proof_cp_done(j, PS_E_UNAVAIL, (const uint8_t *)msg, sizeof(msg) - 1);
        }
    }
}

void api_evidence_search(struct request *r, const char *tail)
{
    char mark[128], holder[300];
    int has_mark = http_query_param(r, "trademark", mark, sizeof(mark)) == 0 ||
                   http_query_param(r, "patent", mark, sizeof(mark)) == 0;
    int has_holder = http_query_param(r, "rights_holder", holder, sizeof(holder)) == 0;
    struct evstore *s;

    (void)tail;
    if (r->tenant == NULL && r->officer == NULL) {
        http_error(r, 403, "forbidden", "only tenants and officers may search evidence");
        return;
    }
    if ((s = store(r->w)) == NULL) {
        http_error(r, 503, "storage_unavailable", "the evidence store is unavailable");
        return;
    }
    http_respond_json(
        r, 200,
        json_pack("{s:o}", "bundles",
                  evstore_search(s, has_mark ? mark : NULL, has_holder ? holder : NULL,
                                 r->officer ? NULL : r->tenant, 100)));
}
