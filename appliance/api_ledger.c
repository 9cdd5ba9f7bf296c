/*
 * api_ledger.c - the ledger (DESIGN §4): the latest signed checkpoint, a fresh one on demand,
 * inclusion and consistency proofs. The keyholder owns the log; these handlers only ask it.
 *
 *   GET  /v1/ledger/checkpoint    text/plain: the latest C2SP checkpoint (signed note)
 *   POST /v1/ledger/checkpoint    sign one now if the log grew; answers it like GET
 *   GET  /v1/ledger/proof/inclusion?index=I[&size=N]
 *        {"index","size","leaf_hash","proof":[b64...]}   (size: default the latest checkpoint's)
 *   GET  /v1/ledger/proof/consistency?old=M&new=N
 *        {"old","new","proof":[b64...]}
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "worker.h"
#include "../hsm/ipc.h"
#include "../hsm/kh_client.h"
#include "../protocol/merkle.h"
#include "../protocol/strnum.h"

static void ledger_error(struct request *r, int status, const uint8_t *msg, size_t len)
{
    int n = len > 200 ? 200 : (int)len;

    if (status == PS_E_INVAL)
        http_error(r, 400, "invalid_request", "%.*s", n, (const char *)msg);
    else if (status == PS_E_AGAIN)
        http_error(r, 504, "keyholder_timeout", "%.*s", n, (const char *)msg);
    else
        http_error(r, 503, "ledger_unavailable", "%.*s", n, (const char *)msg);
}

/* Decode a reply, answering the error itself; 0 on success. */
static int ledger_reply(struct request *r, int status, const uint8_t *p, size_t len,
                        struct ipc_ledger *out)
{
    if (status != PS_OK) {
        ledger_error(r, status, p, len);
        return -1;
    }
    if (ipc_ledger_reply_decode(p, len, out) != PS_OK) {
        http_error(r, 502, "keyholder_error", "malformed ledger reply from the keyholder");
        return -1;
    }
    return 0;
}

static json_t *hash_array(const uint8_t *h, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        char b64[sodium_base64_ENCODED_LEN(MERKLE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)];

        sodium_bin2base64(b64, sizeof(b64), h + i * MERKLE_HASH_LEN, MERKLE_HASH_LEN,
                          sodium_base64_VARIANT_ORIGINAL);
        json_array_append_new(a, json_string(b64));
    }
    return a;
}

static void checkpoint_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct request *r = ctx;
    struct ipc_ledger l;

    if (ledger_reply(r, status, p, len, &l) == 0)
        http_respond(r, 200, "text/plain; charset=utf-8", l.text, l.text_len);
    http_release(r);
}

static void ask(struct request *r, uint8_t op, uint64_t a, uint64_t b, kh_cb cb)
{
    static const char msg[] = "keyholder unavailable";

    http_hold(r);
    if (kh_ledger(r->w->kh, op, a, b, NULL, 0, cb, r) != PS_OK)
        cb(r, PS_E_UNAVAIL, (const uint8_t *)msg, sizeof(msg) - 1);
}

void api_ledger_checkpoint(struct request *r, const char *tail)
{
    (void)tail;
    ask(r, IPC_LEDGER_CHECKPOINT, strcmp(r->method, "POST") == 0, 0, checkpoint_done);
}

/* A query parameter as a tree size or index: 0..2^63-1. *out untouched when absent. */
static int size_param(struct request *r, const char *name, int required, uint64_t *out)
{
    char v[32];
    long long n;

    if (http_query_param(r, name, v, sizeof(v)) != 0) {
        if (!required)
            return 0;
        http_error(r, 400, "invalid_request", "query parameter %s= is required", name);
        return -1;
    }
    if (strnum_ll(v, 0, INT64_MAX, &n) != PS_OK) {
        http_error(r, 400, "invalid_request", "%s= must be a number from 0 to 2^63-1", name);
        return -1;
    }
    *out = (uint64_t)n;
    return 0;
}

static void inclusion_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct request *r = ctx;
    struct ipc_ledger l;

    if (ledger_reply(r, status, p, len, &l) == 0) {
        if (l.nhash < 1) {
            http_error(r, 502, "keyholder_error", "inclusion reply without the leaf hash");
        } else {
            char b64[sodium_base64_ENCODED_LEN(MERKLE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)];

            sodium_bin2base64(b64, sizeof(b64), l.hash, MERKLE_HASH_LEN,
                              sodium_base64_VARIANT_ORIGINAL);
            http_respond_json(r, 200,
                              json_pack("{s:I,s:I,s:s,s:o}", "index", (json_int_t)l.a, "size",
                                        (json_int_t)l.b, "leaf_hash", b64, "proof",
                                        hash_array(l.hash + MERKLE_HASH_LEN, l.nhash - 1u)));
        }
    }
    http_release(r);
}

/* Inclusion proof to the latest checkpoint's size: ask for it first. */
static void inclusion_latest_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct request *r = ctx;
    struct ipc_ledger l;

    uint64_t index = 0;

    /* the index was checked before the first request */
    if (ledger_reply(r, status, p, len, &l) == 0 && size_param(r, "index", 1, &index) == 0)
        ask(r, IPC_LEDGER_INCLUSION, index, l.a, inclusion_done);
    http_release(r);
}

void api_ledger_inclusion(struct request *r, const char *tail)
{
    uint64_t index = 0, size = UINT64_MAX;

    (void)tail;
    if (size_param(r, "index", 1, &index) != 0 || size_param(r, "size", 0, &size) != 0)
        return;
    if (size != UINT64_MAX) {
        ask(r, IPC_LEDGER_INCLUSION, index, size, inclusion_done);
        return;
    }
    ask(r, IPC_LEDGER_CHECKPOINT, 0, 0, inclusion_latest_done);
}

static void consistency_done(void *ctx, int status, const uint8_t *p, size_t len)
{
    struct request *r = ctx;
    struct ipc_ledger l;

    if (ledger_reply(r, status, p, len, &l) == 0)
        http_respond_json(r, 200,
                          json_pack("{s:I,s:I,s:o}", "old", (json_int_t)l.a, "new", (json_int_t)l.b,
                                    "proof", hash_array(l.hash, l.nhash)));
    http_release(r);
}

void api_ledger_consistency(struct request *r, const char *tail)
{
    uint64_t old_size = 0, new_size = 0;

    (void)tail;
    if (size_param(r, "old", 1, &old_size) != 0 || size_param(r, "new", 1, &new_size) != 0)
        return;
    ask(r, IPC_LEDGER_CONSISTENCY, old_size, new_size, consistency_done);
}
