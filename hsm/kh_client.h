/*
 * kh_client.h - the worker's non-blocking stub for talking to the keyholder.
 *
 * Requests are queued into an output buffer (many per write) and answered asynchronously:
 * each reply calls the callback given with the request, exactly once. If the keyholder goes
 * away every pending callback gets PS_E_UNAVAIL and later requests fail at once until a new
 * socket is installed with kh_client_set_fd.
 */
#ifndef PS_KH_CLIENT_H
#define PS_KH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "../protocol/alg.h"
#include "../protocol/err.h"

struct kh_client;

/* status: PS_OK or a negative PS_E_*; on error payload is a short message (not NUL-ended). */
typedef void (*kh_cb)(void *ctx, int status, const uint8_t *payload, size_t len);

struct kh_client *kh_client_new(void);
void kh_client_free(struct kh_client *c);
/* Install a new keyholder socket (-1 for none). The old one is closed; pending requests fail. */
void kh_client_set_fd(struct kh_client *c, int fd);
int kh_client_fd(const struct kh_client *c);
int kh_client_connected(const struct kh_client *c);
/* Queue requests. On PS_OK the callback will be called later, never from inside these calls. */
int kh_sign(struct kh_client *c, const char *tenant, const char *key, enum ps_alg alg,
            const uint8_t *const *digests, const uint8_t *dlens, uint16_t count, kh_cb cb,
            void *ctx) PS_WUR;
int kh_status(struct kh_client *c, kh_cb cb, void *ctx) PS_WUR;
/* A ledger request (hsm/ipc.h, IPC_LEDGER); the reply payload decodes with
 * ipc_ledger_reply_decode. */
int kh_ledger(struct kh_client *c, uint8_t op, uint64_t a, uint64_t b, const void *text, size_t len,
              kh_cb cb, void *ctx) PS_WUR;
/* Write what is queued. Returns 1 if bytes remain (wait for writability), 0 if all sent. */
int kh_client_flush(struct kh_client *c);
/* Read and dispatch replies. */
void kh_client_on_readable(struct kh_client *c);
size_t kh_client_pending(const struct kh_client *c);
/* The event loop's clock (monotonic seconds), stamped on new requests. */
void kh_client_set_time(struct kh_client *c, double now);
/* Seconds a sign request (default 30) and a status request (default 2) may wait. */
void kh_client_set_timeouts(struct kh_client *c, double sign, double status);
/* Fail requests past their deadline with PS_E_AGAIN (a stuck HSM must not hang clients);
 * their late replies are dropped. */
void kh_client_expire(struct kh_client *c);

#endif
