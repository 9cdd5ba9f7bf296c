/*
 * p2pstore.h - the point-to-point channel's durable store (DESIGN §6): the inbox (messages
 * partners sent us, with the receipt we answered) and the outbox (messages our officers queued,
 * with the partner's receipt once the courier has one).
 *
 * state_dir/p2p/p2p.db (made by the parent, owned by the workers' user, mode 0700): SQLite,
 * WAL, synchronous=FULL, shared by the workers. Every write is one transaction that is durable
 * when the function returns, so nothing acknowledged is lost on kill -9.
 *
 *   inbox(n, peer, id, seq, type, priority, created, expires, digest, payload, jws,
 *         received_ms, ledger_index, receipt, gap_before)
 *       (peer, id) and (peer, seq) unique: a message is stored once, a seq names one message
 *   outbox(n, id, peer, seq, type, priority, created, expires, payload, officer, status,
 *          attempts, next_ms, lease_ms, last_error, jws, sent_ms, acked_ms, receipt,
 *          receipt_ledger_index)
 *       status: queued -> sending (claimed by a courier, leased) -> sent -> acknowledged;
 *               queued/sending -> expired; queued/sending -> refused (by the partner, for good).
 * The next per-channel seq is given when a message is queued, in the same transaction. n is the
 * local order of arrival (for ?after=). Times: created/expires in unix seconds (as in the
 * envelope), *_ms in unix milliseconds.
 *
 * JSON returned by the readers is owned by the caller (json_decref).
 */
#ifndef PS_P2PSTORE_H
#define PS_P2PSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../protocol/buf.h"
#include "../protocol/err.h"
#include "../protocol/p2p.h"

struct p2pstore;

/* dir is the folder (state_dir/p2p); the database is dir/p2p.db. */
int p2pstore_open(const char *dir, struct p2pstore **out, char *err, size_t errlen) PS_WUR;
void p2pstore_close(struct p2pstore *s);

/* ---- inbox ---- */

/* An inbound message as verified, and the receipt answered for it. */
struct p2p_in {
    const struct p2p_envelope *e; /* e->from is the peer */
    const uint8_t *payload;       /* the JWS payload (the envelope's signed bytes) */
    size_t payload_len;
    const uint8_t *jws; /* the JWS as received */
    size_t jws_len;
    const char *digest_hex; /* SHA-256 of payload, 64 lower-case hex */
    int64_t received_ms;
    int64_t ledger_index;   /* -1: none */
    const uint8_t *receipt; /* the receipt JWS we answer */
    size_t receipt_len;
};

enum p2p_in_state {
    P2P_IN_NEW,          /* no such message yet */
    P2P_IN_SAME,         /* stored already with the same digest: *receipt holds its receipt */
    P2P_IN_ID_CONFLICT,  /* the id is stored with another digest */
    P2P_IN_SEQ_CONFLICT, /* the seq is another message's (other_id) */
};

/* What storing (peer, id, seq, digest) would meet, without storing. receipt (may be NULL) is
 * reset and receives the stored receipt for P2P_IN_SAME; other_id (65 bytes) the message
 * holding the seq for P2P_IN_SEQ_CONFLICT. */
int p2pstore_in_check(struct p2pstore *s, const char *peer, const char *id, uint64_t seq,
                      const char *digest_hex, enum p2p_in_state *state, struct buf *receipt,
                      char other_id[65]) PS_WUR;
/* Store m unless it meets something (*state as above; P2P_IN_NEW = stored now). On
 * P2P_IN_NEW, *gap_before is how many seqs were missing just before it when it arrived
 * (seq - 1 - highest seq stored before, 0 when in order or late). */
int p2pstore_in_put(struct p2pstore *s, const struct p2p_in *m, enum p2p_in_state *state,
                    struct buf *receipt, char other_id[65], uint64_t *gap_before) PS_WUR;
/* p2pstore_in_put for m[0..n) in order, in one durable transaction: state, receipt, other_id
 * and gap_before have n entries each (as above). A storage error stores none of them. */
int p2pstore_in_put_many(struct p2pstore *s, const struct p2p_in *m, size_t n,
                         enum p2p_in_state *state, struct buf *receipt, char (*other_id)[65],
                         uint64_t *gap_before) PS_WUR;

/* ---- outbox ---- */

/* Queue e (to, type, priority, body, expires filled; id, from, created filled by the caller):
 * gives e->seq the next seq of the channel from -> to, formats the envelope and stores it as
 * queued, durably. */
int p2pstore_out_add(struct p2pstore *s, struct p2p_envelope *e, const char *officer,
                     int64_t now_ms, char *err, size_t errlen) PS_WUR;

/* For the courier: a message claimed for delivery. payload is the envelope to sign (or already
 * signed: jws non-empty, from an earlier attempt, to be sent as is). Free with
 * p2p_claim_free. */
struct p2p_claim {
    char id[P2P_ID_MAX + 1];
    char peer[P2P_ID_MAX + 1];
    uint64_t seq;
    enum p2p_priority priority;
    unsigned attempts; /* including this one */
    struct buf payload;
    struct buf jws;
};
void p2p_claim_free(struct p2p_claim *c);

/* Claim the next message to deliver to peer (NULL: any peer): urgent before routine, then by
 * seq; only queued messages whose next attempt is due, or claimed ones whose lease ran out, and
 * not expired. The message becomes "sending" until now_ms + lease_ms. PS_E_NOTFOUND: none. */
int p2pstore_out_claim(struct p2pstore *s, const char *peer, int64_t now_ms, int64_t lease_ms,
                       struct p2p_claim *c) PS_WUR;
/* Up to max claims at once (one transaction), in the same order; *n receives how many (0 when
 * none is due). Each of c[0..*n) is freed with p2p_claim_free. */
int p2pstore_out_claim_many(struct p2pstore *s, const char *peer, int64_t now_ms, int64_t lease_ms,
                            struct p2p_claim *c, size_t max, size_t *n) PS_WUR;
/* Give back every claim (a courier that starts is the only one: claims left by a courier that
 * died need not wait for their leases). *count (may be NULL) receives how many. */
int p2pstore_out_release(struct p2pstore *s, unsigned *count) PS_WUR;
/* Group the updates below (set_jws, retry, sent, refused, acked) into one durable transaction:
 * each alone is its own. Between begin and commit nothing else may use the store. */
int p2pstore_batch_begin(struct p2pstore *s) PS_WUR;
int p2pstore_batch_commit(struct p2pstore *s) PS_WUR;
/* Keep the signed envelope so that every retry sends the same bytes. */
int p2pstore_out_set_jws(struct p2pstore *s, const char *id, const uint8_t *jws, size_t len) PS_WUR;
/* Delivery failed: queued again, next attempt at next_ms, the reason kept (shown in status). */
int p2pstore_out_retry(struct p2pstore *s, const char *id, int64_t next_ms, const char *why) PS_WUR;
/* The partner took the message but its receipt was not usable (why): status sent. */
int p2pstore_out_sent(struct p2pstore *s, const char *id, int64_t now_ms, const char *why) PS_WUR;
/* The partner refused the message for good (a 4xx naming why, e.g. a schema error): status
 * refused, never sent again. */
int p2pstore_out_refused(struct p2pstore *s, const char *id, int64_t now_ms,
                         const char *why) PS_WUR;
/* The partner's receipt (JWS, checked by the caller with p2p_receipt_matches): acknowledged. */
int p2pstore_out_acked(struct p2pstore *s, const char *id, int64_t now_ms, const uint8_t *receipt,
                       size_t len, int64_t receipt_ledger_index) PS_WUR;
/* Mark queued messages (and claimed ones whose lease ran out) past their expiry as expired;
 * *count (may be NULL) receives how many. */
int p2pstore_out_expire(struct p2pstore *s, int64_t now_ms, unsigned *count) PS_WUR;

/* ---- readers (officers) ---- */

/* Messages of one direction ("in" or "out") with n > after, oldest first, at most limit; a
 * JSON array of message objects (status computed at now_ms: a queued message past its expiry
 * reads "expired"). NULL on a storage error. */
json_t *p2pstore_list(struct p2pstore *s, const char *dir, uint64_t after, int limit,
                      int64_t now_ms);
/* One message by id: the outbox's, else the inbox's (newest). NULL if unknown. */
json_t *p2pstore_get(struct p2pstore *s, const char *id, int64_t now_ms);
/* Open sequence gaps of the inbox, per peer: [{"from","first","last"}] (seqs missing below the
 * highest received). */
json_t *p2pstore_gaps(struct p2pstore *s);
/* The inbox's highest local arrival number n (0 when empty): one index lookup, cheap enough to
 * poll (GET /v1/p2p/stream asks it every tick to learn what other workers stored). */
int p2pstore_in_top(struct p2pstore *s, uint64_t *n) PS_WUR;

/* ---- for /metrics ---- */

/* One peer's figures: the outbox's pending messages (queued or being sent, not expired) and
 * when the oldest of them was queued, and the inbox's stored messages. */
struct p2p_peer_stats {
    char peer[P2P_ID_MAX + 1];
    uint64_t out_pending;
    int64_t out_oldest_ms; /* queued_ms of the oldest pending message; 0 when none */
    uint64_t in_messages;
};
/* Add the store's figures to st[0..*n): the caller may fill in peers first (their figures
 * zero); peers found in the store but not in st are appended while *n < max. The outbox part
 * reads the pending messages only (index outbox_due); the inbox count is an index scan. */
int p2pstore_stats(struct p2pstore *s, int64_t now_ms, struct p2p_peer_stats *st, size_t max,
                   size_t *n) PS_WUR;

#endif
