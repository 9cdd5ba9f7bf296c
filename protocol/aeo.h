/*
 * aeo.h - the AEO mutual-recognition register: records, identifier rules per country, the
 * importer for the local register (CSV or JSON lines), the signed feed's batch payload, the
 * register digest and an operator's status at a given time. Pure format code: bytes in,
 * structs out; the batch is signed and checked with protocol/jws.h. docs/formats.md has
 * examples of everything below.
 *
 * Record (one change of one operator; the feed's records are exactly this JSON object, keys in
 * this order, no white space):
 *   {"seq":N,"aeo_id":"AEOCN…","name":"…","address":"…","status":"valid|suspended|revoked",
 *    "valid_from":"YYYY-MM-DD","valid_until":"YYYY-MM-DD","updated_at":"YYYY-MM-DDTHH:MM:SSZ"}
 *   - seq: 1..2^53-1, the origin's sequence number of this change (strictly increasing)
 *   - aeo_id: matches a rule of the caller's table (aeo_id_rules): a prefix then exactly n
 *     characters A-Z or 0-9; defaults AEOCN + 10, AEOSG + 12
 *   - name (1..AEO_NAME_MAX bytes), address (1..AEO_ADDRESS_MAX bytes): UTF-8 without control
 *     characters (U+0000-001F, U+007F-009F), without leading or trailing spaces
 *   - valid_from <= valid_until, both inclusive calendar days in UTC (timefmt.h)
 *   - updated_at: when the origin recorded the change (timefmt.h timestamp); the change
 *     applies from then on
 *
 * Import (the local register's input; seq and updated_at are given by the register later):
 *   - CSV (RFC 4180): first line exactly "aeo_id,name,address,status,valid_from,valid_until";
 *     fields may be quoted ("" for a quote inside); lines end in LF or CRLF; a UTF-8 BOM at
 *     the start is skipped; an empty line only as the last line
 *   - JSON lines: one object per line with exactly these six members, all strings
 *   - aeo_import picks JSON lines when the first byte (after a BOM) is "{", else CSV
 *   - at most AEO_IMPORT_MAX_LEN bytes, AEO_IMPORT_MAX_RECORDS records, AEO_LINE_MAX bytes per
 *     record; an aeo_id may appear once per file
 *   - errors name the line and field: "line 7, field valid_until: not a date YYYY-MM-DD"
 *
 * Batch (the feed's JWS payload): {"origin":O,"from":F,"to":T,"records":[record...]}
 *   - origin: 1..AEO_ORIGIN_MAX characters A-Z a-z 0-9 . _ : / -
 *   - the records carry seq F, F+1, ..., T in this order (no gap, no repeat); T = F - 1 for an
 *     empty batch ("nothing after F - 1"); F >= 1; at most AEO_BATCH_MAX_RECORDS records
 *   - exactly these members everywhere (unknown or repeated members are refused)
 *
 * Register digest: SHA-256 over the register's current state: for each aeo_id, in ascending
 * byte order, its latest record (highest seq) written as in the feed (aeo_record_format),
 * each followed by one LF. An empty register's digest is SHA-256 of nothing. Two sides that
 * applied the same changes compute the same digest; a different one means divergence.
 *
 * Status at a time: the latest record (highest seq) of the operator with updated_at <= at
 * decides: revoked or suspended as recorded; valid only if at's UTC day is within
 * valid_from..valid_until, else expired or not yet valid; no such record: unknown.
 *
 * Errors: PS_E_INVAL with a reason in err, PS_E_LIMIT beyond a limit, PS_E_NOMEM.
 */
#ifndef PS_AEO_H
#define PS_AEO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define AEO_ID_MAX             32
#define AEO_PREFIX_MAX         16
#define AEO_NAME_MAX           256
#define AEO_ADDRESS_MAX        512
#define AEO_ORIGIN_MAX         64
#define AEO_MAX_RULES          16
#define AEO_LINE_MAX           4096
#define AEO_IMPORT_MAX_LEN     (64 * 1024 * 1024)
#define AEO_IMPORT_MAX_RECORDS 200000
#define AEO_BATCH_MAX_RECORDS  10000
#define AEO_BATCH_MAX_LEN      (AEO_BATCH_MAX_RECORDS * 2 * AEO_LINE_MAX)
#define AEO_SEQ_MAX            9007199254740991ULL /* 2^53 - 1: exact in every JSON reader */
#define AEO_DIGEST_LEN         32
#define AEO_BATCH_TYP          "aeo-batch+jws" /* the JWS header typ of a feed batch */

enum aeo_status { AEO_STATUS_NONE = 0, AEO_VALID, AEO_SUSPENDED, AEO_REVOKED };

/* What aeo_status_at answers. */
enum aeo_state {
    AEO_STATE_UNKNOWN = 0,
    AEO_STATE_VALID,
    AEO_STATE_SUSPENDED,
    AEO_STATE_REVOKED,
    AEO_STATE_EXPIRED,
    AEO_STATE_NOT_YET_VALID
};

struct aeo_record {
    uint64_t seq; /* 0 until the register gives it one */
    char aeo_id[AEO_ID_MAX + 1];
    char name[AEO_NAME_MAX + 1];
    char address[AEO_ADDRESS_MAX + 1];
    enum aeo_status status;
    int64_t valid_from;  /* days since 1970-01-01 */
    int64_t valid_until; /* days since 1970-01-01, inclusive */
    int64_t updated_at;  /* seconds since the epoch; 0 until the register sets it */
};

/* A growable array of records; owns rec. Zero-initialise, release with aeo_list_free. */
struct aeo_list {
    struct aeo_record *rec;
    size_t n, cap;
};

/* An identifier rule: prefix, then exactly len characters A-Z or 0-9. */
struct aeo_id_rule {
    char prefix[AEO_PREFIX_MAX + 1];
    unsigned len;
};

struct aeo_id_rules {
    struct aeo_id_rule rule[AEO_MAX_RULES];
    size_t n;
};

/* A batch. Owns records (aeo_batch_free). */
struct aeo_batch {
    char origin[AEO_ORIGIN_MAX + 1];
    uint64_t from, to;
    struct aeo_list records;
};

const char *aeo_status_name(enum aeo_status s);                /* "valid", ..; NULL for NONE */
enum aeo_status aeo_status_from_name(const char *s, size_t n); /* AEO_STATUS_NONE if unknown */
const char *aeo_state_name(enum aeo_state s); /* "unknown", "valid", "suspended", "revoked",
                                                 "expired", "not_yet_valid" */

/* The default table (AEOCN + 10, AEOSG + 12). */
void aeo_id_rules_default(struct aeo_id_rules *t);
/* Add (or replace, for the same prefix) a rule. prefix: 1..AEO_PREFIX_MAX characters A-Z or
 * 0-9; len >= 1 and prefix + len <= AEO_ID_MAX. PS_E_LIMIT when the table is full. */
int aeo_id_rules_add(struct aeo_id_rules *t, const char *prefix, unsigned len) PS_WUR;
/* Check an identifier id[0..n) against the table; err says why not, e.g.
 * "AEOCN needs 10 letters or digits after the prefix". */
int aeo_id_check(const struct aeo_id_rules *t, const char *id, size_t n, char *err,
                 size_t errlen) PS_WUR;

void aeo_list_free(struct aeo_list *l);
int aeo_list_push(struct aeo_list *l, const struct aeo_record *r) PS_WUR;

/* Import p[0..len) into out (emptied first; empty again on failure). Records have seq 0 and
 * updated_at 0. */
int aeo_import_csv(const uint8_t *p, size_t len, const struct aeo_id_rules *t, struct aeo_list *out,
                   char *err, size_t errlen) PS_WUR;
int aeo_import_jsonl(const uint8_t *p, size_t len, const struct aeo_id_rules *t,
                     struct aeo_list *out, char *err, size_t errlen) PS_WUR;
int aeo_import(const uint8_t *p, size_t len, const struct aeo_id_rules *t, struct aeo_list *out,
               char *err, size_t errlen) PS_WUR;

/* Append the record's JSON (format above) to out. The record must be valid (seq >= 1, the
 * fields as checked on input): PS_E_INVAL otherwise. */
int aeo_record_format(const struct aeo_record *r, struct buf *out) PS_WUR;

/* Check one record's fields (not seq): err names the field. */
int aeo_record_check(const struct aeo_record *r, const struct aeo_id_rules *t, char *err,
                     size_t errlen) PS_WUR;

/* The batch payload of origin with records rec[0..n) (their seq must run from, from+1, ...;
 * for n == 0, from is the first seq not yet written) into out (reset first). */
int aeo_batch_format(const char *origin, uint64_t from, const struct aeo_record *rec, size_t n,
                     struct buf *out, char *err, size_t errlen) PS_WUR;

/* Parse a batch payload strictly (rules above); b is emptied first and empty on failure. */
int aeo_batch_parse(const uint8_t *p, size_t len, const struct aeo_id_rules *t, struct aeo_batch *b,
                    char *err, size_t errlen) PS_WUR;
void aeo_batch_free(struct aeo_batch *b);

/* Does b continue a copy of origin's register whose last applied seq is last? Refuses another
 * origin, a gap ("gap: expected seq 8, batch starts at 10") and a replay or rollback
 * ("replay: batch starts at 5, already have up to 7"). */
int aeo_batch_continues(const struct aeo_batch *b, const char *origin, uint64_t last, char *err,
                        size_t errlen) PS_WUR;

/* The register digest (above) of rec[0..n) (any order; history allowed). */
int aeo_register_digest(const struct aeo_record *rec, size_t n, uint8_t out[AEO_DIGEST_LEN]) PS_WUR;

/* The status of aeo_id at time at (seconds since the epoch) from records rec[0..n) (any order;
 * other operators' records are skipped). *used (if not NULL) is the deciding record or NULL. */
enum aeo_state aeo_status_at(const struct aeo_record *rec, size_t n, const char *aeo_id, int64_t at,
                             const struct aeo_record **used);

#endif
