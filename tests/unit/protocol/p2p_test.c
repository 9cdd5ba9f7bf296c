/*
 * p2p_test - protocol/p2p.c: envelopes written and parsed strictly, every body schema (one
 * valid example per type and a refusal naming the field), the outbox request, expiry, and
 * receipts.
 */
#include <stdlib.h>
#include <string.h>

#include "../testdata.h"
#include "../unit.h"
#include "../../../protocol/p2p.h"
#include "../../../protocol/timefmt.h"

static char err[512];

static const struct {
    enum p2p_type type;
    const char *body;
} good[] = {
    {P2P_ALERT, "{\"severity\":\"critical\",\"category\":\"smuggling\",\"title\":\"Truck left "
                "the lane\",\"text\":\"Seen at 10:02.\\nPlease stop it.\",\"location\":"
                "\"Huanggang\",\"refs\":[\"msg-1\"]}"},
    {P2P_ELOCK_EVENT, "{\"lock_id\":\"EL-4401-0099\",\"truck_plate\":\"粤Z1234港\",\"event\":"
                      "\"tamper\",\"at\":\"2026-11-28T09:15:00Z\",\"location\":\"Lok Ma Chau\"}"},
    {P2P_INSPECTION_REQUEST, "{\"reason\":\"X-ray anomaly\",\"requested_by\":\"Officer Chan\","
                             "\"container_no\":\"MSCU1234567\",\"deadline\":"
                             "\"2026-11-28T12:00:00Z\"}"},
    {P2P_INSPECTION_RESPONSE, "{\"request_id\":\"sz-000123\",\"result\":\"cleared\",\"officer\":"
                              "\"Officer Li\",\"inspected_at\":\"2026-11-28T11:00:00Z\"}"},
    {P2P_PREARRIVAL_NOTICE, "{\"truck_plate\":\"FV1234\",\"eta\":\"2026-11-28T14:30:00Z\","
                            "\"crossing\":\"Shenzhen Bay\",\"goods\":\"electronics\"}"},
    {P2P_NOTE, "{\"subject\":\"Shift change\",\"text\":\"Night shift\\tstarts at 22:00\"}"},
};

static const struct {
    enum p2p_type type;
    const char *body, *want;
} bad[] = {
    {P2P_ALERT, "{\"severity\":\"high\",\"category\":\"c\",\"title\":\"t\",\"text\":\"x\"}",
     "body.severity: must be one of info, warning, critical"},
    {P2P_ALERT, "{\"severity\":\"info\",\"category\":\"c\",\"title\":\"t\"}",
     "body.text: required for alert"},
    {P2P_ALERT, "{\"severity\":\"info\",\"category\":\"c\",\"title\":\"a\\nb\",\"text\":\"x\"}",
     "body.title: control character"},
    {P2P_ALERT,
     "{\"severity\":\"info\",\"category\":\"c\",\"title\":\"t\",\"text\":\"x\","
     "\"refs\":[\"ok\",\"not an id\"]}",
     "body.refs[1]: must be an id"},
    {P2P_ALERT, "{\"severity\":\"info\",\"category\":\"\",\"title\":\"t\",\"text\":\"x\"}",
     "body.category: must not be empty"},
    {P2P_ELOCK_EVENT,
     "{\"lock_id\":\"L1\",\"truck_plate\":\"AB\",\"event\":\"open\",\"at\":"
     "\"2026-11-28T09:15:00Z\",\"location\":\"x\"}",
     "body.event: must be one of seal, unseal, tamper"},
    {P2P_ELOCK_EVENT,
     "{\"lock_id\":\"L1\",\"truck_plate\":\"AB\",\"event\":\"seal\",\"at\":"
     "\"2026-11-28 09:15\",\"location\":\"x\"}",
     "body.at: must be a time YYYY-MM-DDTHH:MM:SSZ"},
    {P2P_ELOCK_EVENT,
     "{\"lock_id\":\"L1\",\"truck_plate\":\"ABCDEFGHIJKLMNOPQ\",\"event\":"
     "\"seal\",\"at\":\"2026-11-28T09:15:00Z\",\"location\":\"x\"}",
     "body.truck_plate: longer than 16 bytes"},
    {P2P_ELOCK_EVENT,
     "{\"lock_id\":\"L1\",\"truck_plate\":\"AB\",\"event\":\"seal\",\"at\":"
     "\"2026-11-28T09:15:00Z\",\"location\":\"x\",\"speed\":\"80\"}",
     "body.speed: unknown field for elock.event"},
    {P2P_ELOCK_EVENT,
     "{\"lock_id\":7,\"truck_plate\":\"AB\",\"event\":\"seal\",\"at\":"
     "\"2026-11-28T09:15:00Z\",\"location\":\"x\"}",
     "body.lock_id: must be a string"},
    {P2P_INSPECTION_REQUEST, "{\"reason\":\"r\",\"requested_by\":\"me\"}",
     "body: inspection.request needs one of truck_plate, container_no, declaration_no, lock_id"},
    {P2P_INSPECTION_RESPONSE, "{\"request_id\":\"a b\",\"result\":\"cleared\",\"officer\":\"x\"}",
     "body.request_id: must be 1..64 characters A-Z a-z 0-9 . _ : -"},
    {P2P_PREARRIVAL_NOTICE, "{\"truck_plate\":\"FV1234\",\"crossing\":\"x\"}",
     "body.eta: required for prearrival.notice"},
    {P2P_NOTE, "[\"subject\"]", "body: must be a JSON object"},
    {P2P_NOTE, "{\"subject\":\"s\",\"text\":\"\\u0000\"}", "JSON: "},
};

static struct p2p_envelope make(enum p2p_type t, const char *body)
{
    struct p2p_envelope e;
    json_error_t je;

    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "sz-000124");
    snprintf(e.from, sizeof(e.from), "cn-sz-huanggang");
    snprintf(e.to, sizeof(e.to), "hk-lmc");
    e.seq = 124;
    e.type = t;
    e.priority = P2P_URGENT;
    if (time_parse_stamp("2026-11-28T09:16:00Z", 20, &e.created) != PS_OK ||
        time_parse_stamp("2026-11-28T21:16:00Z", 20, &e.expires) != PS_OK)
        abort();
    e.has_expires = 1;
    e.body = json_loads(body, JSON_REJECT_DUPLICATES, &je);
    return e;
}

static void test_schemas(void)
{
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct p2p_envelope e = make(good[i].type, good[i].body), back;
        struct buf out;
        int ok;

        buf_init(&out, P2P_MAX_LEN);
        ok = p2p_envelope_format(&e, &out, err, sizeof(err)) == PS_OK &&
             p2p_envelope_parse(out.data, out.len, &back, err, sizeof(err)) == PS_OK;
        CHECK(ok && back.type == e.type && back.seq == 124 && back.priority == P2P_URGENT &&
                  back.created == e.created && back.has_expires && back.expires == e.expires &&
                  strcmp(back.id, e.id) == 0 && strcmp(back.from, e.from) == 0 &&
                  strcmp(back.to, e.to) == 0 && json_equal(back.body, e.body),
              "%s: written and parsed back (%s)", p2p_type_name(good[i].type), err);
        if (ok && i == 1)
            CHECK(strcmp((char *)out.data,
                         "{\"id\":\"sz-000124\",\"from\":\"cn-sz-huanggang\",\"to\":\"hk-lmc\","
                         "\"seq\":124,\"type\":\"elock.event\",\"priority\":\"urgent\","
                         "\"created\":\"2026-11-28T09:16:00Z\",\"expires\":"
                         "\"2026-11-28T21:16:00Z\",\"body\":{\"at\":\"2026-11-28T09:15:00Z\","
                         "\"event\":\"tamper\",\"location\":\"Lok Ma Chau\",\"lock_id\":"
                         "\"EL-4401-0099\",\"truck_plate\":\"粤Z1234港\"}}") == 0,
                  "the documented form, body members sorted: %s", out.data);
        p2p_envelope_free(&back);
        p2p_envelope_free(&e);
        buf_free(&out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t je;
        json_t *b = json_loads(bad[i].body, JSON_REJECT_DUPLICATES, &je);
        int rc = b ? p2p_body_check(bad[i].type, b, err, sizeof(err)) : PS_E_INVAL;
        if (b == NULL)
            snprintf(err, sizeof(err), "JSON: %s", je.text);
        CHECK(rc == PS_E_INVAL && strncmp(err, bad[i].want, strlen(bad[i].want)) == 0,
              "%s body refused: %s", p2p_type_name(bad[i].type), err);
        json_decref(b);
    }
}

static void test_envelope_rejections(void)
{
    struct p2p_envelope e = make(P2P_NOTE, good[5].body), back;
    struct buf out;
    struct {
        const char *from, *to, *want;
    } cases[] = {
        {"\"seq\":124", "\"seq\":0", "seq: must be an integer 1..2^53-1"},
        {"\"seq\":124", "\"seq\":124.0", "seq: must be an integer"},
        {"\"seq\":124", "\"seq\":9007199254740992", "seq: must be an integer"},
        {"\"type\":\"note\"", "\"type\":\"memo\"", "type: must be one of alert"},
        {"\"priority\":\"urgent\"", "\"priority\":\"high\"", "priority: must be urgent or routine"},
        {"\"expires\":\"2026-11-28T21:16:00Z\"", "\"expires\":\"2026-11-28T09:16:00Z\"",
         "expires: must be later than created"},
        {"\"expires\":\"2026-11-28T21:16:00Z\"", "\"expires\":1", "expires: must be a time"},
        {"\"created\":\"2026-11-28T09:16:00Z\"", "\"created\":null", "created: must be a time"},
        {"\"id\":\"sz-000124\"", "\"id\":\"sz/000124\"", "id: must be 1..64 characters"},
        {"\"id\":\"sz-000124\",", "", "id: missing"},
        {"\"to\":\"hk-lmc\"", "\"to\":\"hk-lmc\",\"cc\":\"x\"", "unknown member \"cc\""},
        {"\"to\":\"hk-lmc\"", "\"to\":\"hk-lmc\",\"to\":\"hk-lmc\"", "JSON: duplicate object key"},
        {"\"subject\":\"Shift change\"", "\"subject\":\"Shift change\",\"x\":\"y\"",
         "body.x: unknown field for note"},
        {"{\"id\"", "[{\"id\"", "JSON: "},
    };

    buf_init(&out, P2P_MAX_LEN);
    if (p2p_envelope_format(&e, &out, err, sizeof(err)) != PS_OK)
        abort();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = replace((char *)out.data, cases[i].from, cases[i].to);
        CHECK(p2p_envelope_parse((uint8_t *)s, strlen(s), &back, err, sizeof(err)) == PS_E_INVAL &&
                  strncmp(err, cases[i].want, strlen(cases[i].want)) == 0 && back.body == NULL,
              "envelope refused: %s", err);
        free(s);
    }
    {
        char *s =
            replace((char *)out.data, "\"expires\":\"2026-11-28T21:16:00Z\"", "\"expires\":null");
        CHECK(p2p_envelope_parse((uint8_t *)s, strlen(s), &back, err, sizeof(err)) == PS_OK &&
                  back.has_expires == 0 && !p2p_expired(&back, INT64_MAX),
              "expires null: never expires (%s)", err);
        p2p_envelope_free(&back);
        free(s);
    }
    /* time checks */
    CHECK(p2p_envelope_check_time(&e, e.created + 10, 300, err, sizeof(err)) == PS_OK &&
              p2p_envelope_check_time(&e, e.created - 200, 300, err, sizeof(err)) == PS_OK,
          "in time, and a clock 200 s behind is tolerated with 300 s skew");
    CHECK(p2p_envelope_check_time(&e, e.expires + 1, 300, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "expired at 2026-11-28T21:16:00Z") == 0 &&
              p2p_expired(&e, e.expires + 1) && !p2p_expired(&e, e.expires),
          "%s", err);
    CHECK(p2p_envelope_check_time(&e, e.created - 301, 300, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "created in the future: 2026-11-28T09:16:00Z") == 0,
          "%s", err);
    /* format refuses bad structs */
    e.priority = P2P_PRIORITY_NONE;
    CHECK(p2p_envelope_format(&e, &out, err, sizeof(err)) == PS_E_INVAL && out.len == 0,
          "format checks the envelope: %s", err);
    p2p_envelope_free(&e);
    buf_free(&out);
}

static void test_outbox(void)
{
    struct p2p_envelope e;
    const char *req = "{\"to\":\"hk-lmc\",\"type\":\"note\",\"body\":{\"subject\":\"s\",\"text\":"
                      "\"t\"},\"expires\":\"2026-12-01T00:00:00Z\"}";

    CHECK(p2p_outbox_parse((const uint8_t *)req, strlen(req), &e, err, sizeof(err)) == PS_OK &&
              e.type == P2P_NOTE && e.priority == P2P_ROUTINE && e.has_expires &&
              strcmp(e.to, "hk-lmc") == 0 && e.id[0] == 0 && e.seq == 0,
          "outbox request: priority defaults to routine (%s)", err);
    p2p_envelope_free(&e);
    req = "{\"to\":\"hk-lmc\",\"type\":\"alert\",\"priority\":\"urgent\",\"body\":{}}";
    CHECK(p2p_outbox_parse((const uint8_t *)req, strlen(req), &e, err, sizeof(err)) == PS_E_INVAL &&
              strncmp(err, "body.severity: required for alert", 33) == 0 && e.body == NULL,
          "outbox body checked against its schema: %s", err);
    req = "{\"to\":\"hk-lmc\",\"type\":\"note\",\"id\":\"x\",\"body\":{}}";
    CHECK(p2p_outbox_parse((const uint8_t *)req, strlen(req), &e, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "unknown member \"id\"") == 0,
          "outbox refuses an id from the client: %s", err);
}

static void test_receipts(void)
{
    struct p2p_receipt r = {"sz-000124", {0}, 0, 42}, back;
    const char *payload = "{\"id\":\"sz-000124\"}";
    struct buf out;
    char *s;

    buf_init(&out, 4096);
    p2p_digest((const uint8_t *)payload, strlen(payload), r.digest);
    if (time_parse_stamp("2026-11-28T09:16:02Z", 20, &r.received_at) != PS_OK)
        abort();
    CHECK(p2p_receipt_format(&r, &out, err, sizeof(err)) == PS_OK &&
              strncmp((char *)out.data, "{\"message_id\":\"sz-000124\",\"digest\":\"", 36) == 0 &&
              strstr((char *)out.data,
                     "\",\"received_at\":\"2026-11-28T09:16:02Z\",\"ledger_index\":42}") != NULL,
          "receipt written: %s", out.data);
    CHECK(p2p_receipt_parse(out.data, out.len, &back, err, sizeof(err)) == PS_OK &&
              strcmp(back.message_id, r.message_id) == 0 &&
              memcmp(back.digest, r.digest, 32) == 0 && back.received_at == r.received_at &&
              back.ledger_index == 42 &&
              p2p_receipt_matches(&back, "sz-000124", (const uint8_t *)payload, strlen(payload),
                                  err, sizeof(err)) == PS_OK,
          "parsed back, and it matches the message (%s)", err);
    CHECK(p2p_receipt_matches(&back, "sz-000124", (const uint8_t *)payload, 5, err, sizeof(err)) ==
                  PS_E_INVAL &&
              strcmp(err, "receipt digest does not match the message sent") == 0,
          "%s", err);
    CHECK(p2p_receipt_matches(&back, "sz-000125", (const uint8_t *)payload, strlen(payload), err,
                              sizeof(err)) == PS_E_INVAL,
          "%s", err);
    r.ledger_index = -1;
    CHECK(p2p_receipt_format(&r, &out, err, sizeof(err)) == PS_OK &&
              strstr((char *)out.data, "\"ledger_index\":null}") != NULL &&
              p2p_receipt_parse(out.data, out.len, &back, err, sizeof(err)) == PS_OK &&
              back.ledger_index == -1,
          "no ledger: ledger_index null");
    s = replace((char *)out.data, "\"digest\":\"", "\"digest\":\"A");
    s[strlen(s) - 1] = 0;
    CHECK(p2p_receipt_parse((uint8_t *)s, strlen(s), &back, err, sizeof(err)) == PS_E_INVAL,
          "a broken receipt is refused: %s", err);
    free(s);
    s = replace((char *)out.data, "\"digest\":\"", "\"digest\":\"x");
    CHECK(p2p_receipt_parse((uint8_t *)s, strlen(s), &back, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "digest: must be 64 lower-case hex digits") == 0,
          "%s", err);
    free(s);
    s = replace((char *)out.data, "null", "-3");
    CHECK(p2p_receipt_parse((uint8_t *)s, strlen(s), &back, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "ledger_index: must be an integer >= 0 or null") == 0,
          "%s", err);
    free(s);
    buf_free(&out);
}

int main(void)
{
    test_schemas();
    test_envelope_rejections();
    test_outbox();
    test_receipts();
    return unit_done();
}
