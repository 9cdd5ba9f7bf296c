/*
 * p2p.h - the point-to-point channel's documents: the message envelope (the JWS payload a
 * courier sends to the partner's /v1/p2p/inbound), the body schema of each message type, the
 * outbox request, and the receipt the partner signs. Pure format code: bytes in, structs out;
 * signing and checking go through protocol/jws.h. docs/formats.md has an example of each.
 *
 * Envelope (written with the members in this order, no white space; the body's members sorted):
 *   {"id":I,"from":F,"to":T,"seq":N,"type":Y,"priority":"urgent|routine",
 *    "created":"YYYY-MM-DDTHH:MM:SSZ","expires":"YYYY-MM-DDTHH:MM:SSZ"|null,"body":{...}}
 *   - id, from, to: 1..P2P_ID_MAX characters A-Z a-z 0-9 . _ : - (from/to name the offices)
 *   - seq: 1..2^53-1, per channel (from -> to), increasing by one per message
 *   - type: alert, elock.event, inspection.request, inspection.response, prearrival.notice, note
 *   - expires: null (never) or later than created
 *   - every member is required, nothing else is accepted, no member twice; at most
 *     P2P_MAX_LEN bytes
 * Body schemas (every field a JSON string unless said; "req" = required; lengths in bytes of
 * UTF-8; no control characters except LF and TAB in "text" fields; no unknown field):
 *   alert               severity (req; info|warning|critical), category (req, 64), title (req,
 *                       200), text (req, text 4000), location (200), refs (array of 0..20 ids)
 *   elock.event         lock_id (req, id), truck_plate (req, 16), event (req;
 *                       seal|unseal|tamper), at (req, timestamp), location (req, 200),
 *                       container_no (16), declaration_no (64), note (text 1000)
 *   inspection.request  reason (req, text 2000), requested_by (req, 128), truck_plate (16),
 *                       container_no (16), declaration_no (64), lock_id (id), deadline
 *                       (timestamp); at least one of truck_plate, container_no,
 *                       declaration_no, lock_id
 *   inspection.response request_id (req, id: the id of the inspection.request message), result
 *                       (req; cleared|discrepancy|seized|declined), officer (req, 128),
 *                       inspected_at (timestamp), findings (text 4000)
 *   prearrival.notice   truck_plate (req, 16), eta (req, timestamp), crossing (req, 64),
 *                       declaration_no (64), container_no (16), lock_id (id), goods (text
 *                       1000), driver (128)
 *   note                subject (req, 200), text (req, text 8000), refs (array of 0..20 ids)
 *   ("id" = 1..64 characters A-Z a-z 0-9 . _ : -)
 *
 * Outbox request (local officers): {"to","type","priority","body"} and optional "expires";
 * priority may be left out (routine).
 *
 * Receipt (written in this order):
 *   {"message_id":I,"digest":D,"received_at":"YYYY-MM-DDTHH:MM:SSZ","ledger_index":N|null}
 *   - digest: SHA-256 of the envelope as signed (the JWS payload bytes), 64 lower-case hex
 *   - ledger_index: the ledger leaf recording the message, null when there is no ledger
 *
 * Errors: PS_E_INVAL with err naming the member, e.g. "body.event: must be one of seal,
 * unseal, tamper", PS_E_LIMIT beyond a size limit, PS_E_NOMEM.
 */
#ifndef PS_P2P_H
#define PS_P2P_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"

#define P2P_ID_MAX       64
#define P2P_MAX_LEN      (256 * 1024) /* an envelope, outbox request or receipt */
#define P2P_SEQ_MAX      9007199254740991ULL
#define P2P_DIGEST_LEN   32
#define P2P_ENVELOPE_TYP "p2p-envelope+jws" /* JWS header typ of an envelope */
#define P2P_RECEIPT_TYP  "p2p-receipt+jws"  /* ... and of a receipt */

enum p2p_type {
    P2P_TYPE_NONE = 0,
    P2P_ALERT,
    P2P_ELOCK_EVENT,
    P2P_INSPECTION_REQUEST,
    P2P_INSPECTION_RESPONSE,
    P2P_PREARRIVAL_NOTICE,
    P2P_NOTE,
    P2P_TYPE_MAX
};

enum p2p_priority { P2P_PRIORITY_NONE = 0, P2P_URGENT, P2P_ROUTINE };

/* A message. body is owned (json_decref'd by p2p_envelope_free). has_expires = 0: none. */
struct p2p_envelope {
    char id[P2P_ID_MAX + 1];
    char from[P2P_ID_MAX + 1];
    char to[P2P_ID_MAX + 1];
    uint64_t seq;
    enum p2p_type type;
    enum p2p_priority priority;
    int64_t created;
    int64_t expires;
    int has_expires;
    json_t *body;
};

struct p2p_receipt {
    char message_id[P2P_ID_MAX + 1];
    uint8_t digest[P2P_DIGEST_LEN];
    int64_t received_at;
    int64_t ledger_index; /* -1: none (null) */
};

const char *p2p_type_name(enum p2p_type t);         /* NULL for NONE */
enum p2p_type p2p_type_from_name(const char *s);    /* P2P_TYPE_NONE if unknown */
const char *p2p_priority_name(enum p2p_priority p); /* "urgent", "routine"; NULL for NONE */
enum p2p_priority p2p_priority_from_name(const char *s);

/* Is s[0..n) an id (1..P2P_ID_MAX characters A-Z a-z 0-9 . _ : -)? */
int p2p_id_ok(const char *s, size_t n);

/* Check body against the schema of type t. err: "body.FIELD: why". */
int p2p_body_check(enum p2p_type t, json_t *body, char *err, size_t errlen) PS_WUR;

/* The envelope's JSON into out (reset first). Checks every member and the body first. */
int p2p_envelope_format(const struct p2p_envelope *e, struct buf *out, char *err,
                        size_t errlen) PS_WUR;

/* Parse an envelope strictly (rules above) into e (zeroed first; empty on failure). */
int p2p_envelope_parse(const uint8_t *p, size_t len, struct p2p_envelope *e, char *err,
                       size_t errlen) PS_WUR;

/* Parse an outbox request into e: to, type, priority, body, expires (id, from, seq, created
 * stay empty for the caller to fill). */
int p2p_outbox_parse(const uint8_t *p, size_t len, struct p2p_envelope *e, char *err,
                     size_t errlen) PS_WUR;

void p2p_envelope_free(struct p2p_envelope *e);

/* 1 if e has an expiry and now is past it. */
int p2p_expired(const struct p2p_envelope *e, int64_t now);

/* For inbound messages: refuses one that has expired ("expired at ...") or was created more
 * than max_skew seconds after now ("created in the future: ..."). */
int p2p_envelope_check_time(const struct p2p_envelope *e, int64_t now, int64_t max_skew, char *err,
                            size_t errlen) PS_WUR;

/* SHA-256 of an envelope's signed bytes (the JWS payload), for the receipt. */
void p2p_digest(const uint8_t *payload, size_t len, uint8_t out[P2P_DIGEST_LEN]);

int p2p_receipt_format(const struct p2p_receipt *r, struct buf *out, char *err,
                       size_t errlen) PS_WUR;
int p2p_receipt_parse(const uint8_t *p, size_t len, struct p2p_receipt *r, char *err,
                      size_t errlen) PS_WUR;

/* Does receipt r acknowledge the message id whose signed payload is payload[0..len)? */
int p2p_receipt_matches(const struct p2p_receipt *r, const char *id, const uint8_t *payload,
                        size_t len, char *err, size_t errlen) PS_WUR;

#endif
