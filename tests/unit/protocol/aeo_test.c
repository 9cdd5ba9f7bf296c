/*
 * aeo_test - protocol/aeo.c: identifier rules, the CSV and JSON-lines importers (every error
 * names its line and field), the feed batch written and parsed strictly, gaps and replays,
 * the register digest and an operator's status at a time.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../testdata.h"
#include "../unit.h"
#include "../../../protocol/aeo.h"
#include "../../../protocol/timefmt.h"

static struct aeo_id_rules rules;
static char err[512];

#define HDR "aeo_id,name,address,status,valid_from,valid_until\n"

static int import_csv(const char *s, struct aeo_list *l)
{
    err[0] = 0;
    return aeo_import_csv((const uint8_t *)s, strlen(s), &rules, l, err, sizeof(err));
}

static void test_ids(void)
{
    struct aeo_id_rules t;

    aeo_id_rules_default(&t);
    CHECK(t.n == 2 && aeo_id_check(&t, "AEOCN4403123456", 15, err, sizeof(err)) == PS_OK &&
              aeo_id_check(&t, "AEOSG20231234567X", 17, err, sizeof(err)) == PS_OK,
          "defaults: AEOCN + 10 and AEOSG + 12 letters or digits");
    CHECK(aeo_id_check(&t, "AEOCN440312345", 14, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "AEOCN needs 10 letters (A-Z) or digits after the prefix") == 0,
          "9 characters after AEOCN: %s", err);
    CHECK(aeo_id_check(&t, "AEOCN440312345a", 15, err, sizeof(err)) == PS_E_INVAL,
          "a lower-case letter is refused");
    CHECK(aeo_id_check(&t, "AEOHK1234567890", 15, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "no identifier rule for this prefix") == 0,
          "an unknown country: %s", err);
    CHECK(aeo_id_rules_add(&t, "AEOHK", 8) == PS_OK && t.n == 3 &&
              aeo_id_check(&t, "AEOHK12345678", 13, err, sizeof(err)) == PS_OK,
          "the table is extensible (AEOHK + 8)");
    CHECK(aeo_id_rules_add(&t, "AEOCN", 11) == PS_OK && t.n == 3 &&
              aeo_id_check(&t, "AEOCN44031234567", 16, err, sizeof(err)) == PS_OK,
          "adding a known prefix replaces its rule");
    CHECK(aeo_id_rules_add(&t, "aeo", 3) == PS_E_INVAL &&
              aeo_id_rules_add(&t, "X", 0) == PS_E_INVAL &&
              aeo_id_rules_add(&t, "AEOXX", 40) == PS_E_INVAL,
          "bad rules are refused");
    for (int i = 0; i < AEO_MAX_RULES; i++) {
        char p[8];
        snprintf(p, sizeof(p), "P%d", i);
        if (aeo_id_rules_add(&t, p, 4) != PS_OK)
            break;
    }
    CHECK(aeo_id_rules_add(&t, "FULL", 4) == PS_E_LIMIT, "a full table says so");
}

static void test_csv(void)
{
    struct aeo_list l = {0};
    const char *csv = "\xEF\xBB\xBF" HDR
                      "AEOCN4403123456,\"Shenzhen Ocean Freight Co., Ltd.\",\"Futian, Shenzhen\","
                      "valid,2024-01-01,2027-12-31\r\n"
                      "AEOCN440312345A,深圳市前海供应链有限公司,\"Qianhai \"\"Block A\"\"\","
                      "suspended,2020-02-29,2026-06-30\r\n"
                      "AEOSG20231234567X,Lion City Logistics Pte,1 Harbourfront Ave,revoked,"
                      "2019-05-01,2025-04-30";
    char d[TIME_DATE_LEN + 1];

    CHECK(import_csv(csv, &l) == PS_OK && l.n == 3,
          "CSV with BOM, CRLF, quotes, UTF-8 and no "
          "final newline: 3 records (%s)",
          err);
    if (l.n == 3) {
        CHECK(strcmp(l.rec[0].name, "Shenzhen Ocean Freight Co., Ltd.") == 0 &&
                  strcmp(l.rec[0].address, "Futian, Shenzhen") == 0 &&
                  l.rec[0].status == AEO_VALID && l.rec[0].seq == 0 && l.rec[0].updated_at == 0,
              "quoted fields with commas");
        CHECK(strcmp(l.rec[1].address, "Qianhai \"Block A\"") == 0 &&
                  strcmp(l.rec[1].name, "深圳市前海供应链有限公司") == 0 &&
                  l.rec[1].status == AEO_SUSPENDED,
              "doubled quotes and UTF-8 names");
        CHECK(time_format_date(l.rec[1].valid_from, d) == PS_OK && strcmp(d, "2020-02-29") == 0 &&
                  l.rec[2].status == AEO_REVOKED,
              "a leap day and revoked status");
    }
    CHECK(import_csv(HDR, &l) == PS_OK && l.n == 0, "only the header: no records");
    CHECK(import_csv(HDR "AEOCN4403123456,A,B,valid,2024-01-01,2024-01-01\n\n", &l) == PS_OK &&
              l.n == 1,
          "a final empty line is tolerated");
    aeo_list_free(&l);
}

static void csv_refused(const char *body, int code, const char *want)
{
    struct aeo_list l = {0};
    char *s = malloc(strlen(HDR) + strlen(body) + 1);

    memcpy(s, HDR, strlen(HDR));
    memcpy(s + strlen(HDR), body, strlen(body) + 1);
    CHECK(import_csv(s, &l) == code && strcmp(err, want) == 0 && l.n == 0 && l.rec == NULL,
          "CSV refused: %s", err);
    free(s);
}

#define OK1 "AEOCN4403123456,Acme,Somewhere,valid,2024-01-01,2027-12-31\n"

static void test_csv_errors(void)
{
    struct aeo_list l = {0};
    char big[AEO_LINE_MAX + 200];

    CHECK(import_csv("aeo_id,name,address,status,valid_from\n", &l) == PS_E_INVAL &&
              strcmp(err, "line 1: header must be "
                          "aeo_id,name,address,status,valid_from,valid_until") == 0,
          "a wrong header: %s", err);
    CHECK(import_csv("", &l) == PS_E_INVAL, "an empty file has no header");
    csv_refused(OK1 "AEOCN4403123457,Acme,Somewhere,valid,2024-01-01,2027-02-30\n", PS_E_INVAL,
                "line 3, field valid_until: not a date YYYY-MM-DD");
    csv_refused(OK1 "AEOCN4403123457,Acme,Somewhere,Valid,2024-01-01,2027-02-03\n", PS_E_INVAL,
                "line 3, field status: not valid, suspended or revoked");
    csv_refused("AEOCN4403123457,Acme,Somewhere,valid,2024-01-01,2023-12-31\n", PS_E_INVAL,
                "line 2, field valid_until: before valid_from");
    csv_refused("AEOCN440312345,Acme,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field aeo_id: AEOCN needs 10 letters (A-Z) or digits after the prefix");
    csv_refused("AEOCN4403123457,Acme,Somewhere,valid,2024-01-01,2027-12-31,x\n", PS_E_INVAL,
                "line 2: more than 6 fields");
    csv_refused("AEOCN4403123457,Acme,Somewhere,valid,2024-01-01\n", PS_E_INVAL,
                "line 2: 5 fields, expected 6");
    csv_refused("AEOCN4403123457,Ac\"me,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: quote inside an unquoted field");
    csv_refused("AEOCN4403123457,\"Acme,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: no closing quote");
    csv_refused("AEOCN4403123457,\"Acme\"x,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: text after the closing quote");
    csv_refused("AEOCN4403123457,Acme,Some\rwhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field address: bare carriage return");
    csv_refused(OK1 "\nAEOCN4403123457,Acme,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 3: empty line");
    csv_refused(OK1 "AEOCN4403123457,Acme,Somewhere,valid,2024-01-01,2027-12-31\n" OK1, PS_E_INVAL,
                "line 4, field aeo_id: AEOCN4403123456 already on line 2");
    csv_refused("AEOCN4403123457,Ac\tme,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: control character");
    csv_refused("AEOCN4403123457,\"Two\nlines\",Somewhere,valid,2024-01-01,2027-12-31\n" OK1,
                PS_E_INVAL, "line 2, field name: control character");
    csv_refused("AEOCN4403123457,\"A\",\"B\nC\",valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field address: control character");
    csv_refused("AEOCN4403123457,Ac\xC3me,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: not UTF-8");
    csv_refused("AEOCN4403123457,Ac\xC0\xAFme,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: not UTF-8");
    csv_refused("AEOCN4403123457, Acme,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: leading or trailing space");
    csv_refused("AEOCN4403123457,,Somewhere,valid,2024-01-01,2027-12-31\n", PS_E_INVAL,
                "line 2, field name: empty");
    memset(big, 'x', sizeof(big));
    memcpy(big, "AEOCN4403123457,", 16);
    memcpy(big + sizeof(big) - 40, ",Somewhere,valid,2024-01-01,2027-12-31\n", 40);
    csv_refused(big, PS_E_LIMIT, "line 2: record longer than 4096 bytes");
    memset(big, 'x', 300);
    memcpy(big, "AEOCN4403123457,", 16);
    memcpy(big + 300, ",Somewhere,valid,2024-01-01,2027-12-31\n", 40);
    csv_refused(big, PS_E_INVAL, "line 2, field name: too long");
}

static void test_jsonl(void)
{
    struct aeo_list l = {0};
    const char *ok =
        "{\"aeo_id\":\"AEOSG20231234567X\",\"name\":\"Lion City\",\"address\":\"1 Quay\","
        "\"status\":\"valid\",\"valid_from\":\"2024-01-01\",\"valid_until\":"
        "\"2026-12-31\"}\r\n"
        "{\"name\":\"Merlion \\u00e9\",\"aeo_id\":\"AEOSG20231234567Y\",\"address\":"
        "\"2 Quay\",\"status\":\"revoked\",\"valid_from\":\"2024-01-01\","
        "\"valid_until\":\"2026-12-31\"}\n";
    struct {
        const char *line, *want;
    } bad[] = {
        {"{\"aeo_id\":\"AEOSG20231234567X\",\"name\":\"L\",\"address\":\"A\",\"status\":\"valid\","
         "\"valid_from\":\"2024-01-01\",\"valid_until\":\"2026-12-31\",\"extra\":1}",
         "line 1, unknown field \"extra\""},
        {"{\"aeo_id\":\"AEOSG20231234567X\",\"name\":\"L\",\"address\":\"A\",\"status\":\"valid\","
         "\"valid_from\":\"2024-01-01\"}",
         "line 1, field valid_until: missing"},
        {"{\"aeo_id\":\"AEOSG20231234567X\",\"name\":7,\"address\":\"A\",\"status\":\"valid\","
         "\"valid_from\":\"2024-01-01\",\"valid_until\":\"2026-12-31\"}",
         "line 1, field name: not a string"},
        {"{\"aeo_id\":\"AEOSG20231234567X\",\"name\":\"L\\u0000\",\"address\":\"A\",\"status\":"
         "\"valid\",\"valid_from\":\"2024-01-01\",\"valid_until\":\"2026-12-31\"}",
         "line 1: \\u0000 is not allowed without JSON_ALLOW_NUL"},
        {"{\"aeo_id\":\"AEOSG20231234567X\",\"aeo_id\":\"AEOSG20231234567X\"}",
         "line 1: duplicate object key"},
        {"[1]", "line 1: not a JSON object"},
        {"{\"aeo_id\":\"AEOSG20231234567X\",\"name\":\"L\",\"address\":\"A\",\"status\":\"valid\","
         "\"valid_from\":\"2024-1-01\",\"valid_until\":\"2026-12-31\"}",
         "line 1, field valid_from: not a date YYYY-MM-DD"},
    };

    err[0] = 0;
    CHECK(aeo_import((const uint8_t *)ok, strlen(ok), &rules, &l, err, sizeof(err)) == PS_OK &&
              l.n == 2 && strcmp(l.rec[1].name, "Merlion \xC3\xA9") == 0 &&
              l.rec[1].status == AEO_REVOKED,
          "JSON lines (detected), members in any order, CRLF: 2 records (%s)", err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = aeo_import_jsonl((const uint8_t *)bad[i].line, strlen(bad[i].line), &rules, &l,
                                  err, sizeof(err));
        CHECK(rc == PS_E_INVAL && strncmp(err, bad[i].want, strlen(bad[i].want)) == 0 && l.n == 0,
              "JSON line refused: %s", err);
    }
    {
        char *two = malloc(2 * strlen(ok) + 2);
        size_t n = strlen(ok);
        memcpy(two, ok, n);
        two[n] = '\n';
        memcpy(two + n + 1, ok, n + 1);
        CHECK(aeo_import_jsonl((const uint8_t *)two, strlen(two), &rules, &l, err, sizeof(err)) ==
                      PS_E_INVAL &&
                  strcmp(err, "line 3: empty line") == 0,
              "an empty JSON line: %s", err);
        memcpy(two + n, ok, n + 1);
        CHECK(aeo_import_jsonl((const uint8_t *)two, strlen(two), &rules, &l, err, sizeof(err)) ==
                      PS_E_INVAL &&
                  strcmp(err, "line 3, field aeo_id: AEOSG20231234567X already on line 1") == 0,
              "a repeated aeo_id in JSON lines: %s", err);
        free(two);
    }
    aeo_list_free(&l);
}

static struct aeo_record rec(uint64_t seq, const char *id, enum aeo_status st, const char *from,
                             const char *until, const char *upd)
{
    struct aeo_record r;

    memset(&r, 0, sizeof(r));
    r.seq = seq;
    snprintf(r.aeo_id, sizeof(r.aeo_id), "%s", id);
    snprintf(r.name, sizeof(r.name), "Name \"%s\"", id + 5);
    snprintf(r.address, sizeof(r.address), "Pier %llu, 港", (unsigned long long)seq);
    r.status = st;
    if (time_parse_date(from, 10, &r.valid_from) != PS_OK ||
        time_parse_date(until, 10, &r.valid_until) != PS_OK ||
        time_parse_stamp(upd, 20, &r.updated_at) != PS_OK)
        abort();
    return r;
}

static void test_batch(void)
{
    struct aeo_record rs[3] = {
        rec(7, "AEOCN4403123456", AEO_VALID, "2024-01-01", "2027-12-31", "2026-11-01T08:00:00Z"),
        rec(8, "AEOCN4403123457", AEO_SUSPENDED, "2024-01-01", "2027-12-31",
            "2026-11-02T08:00:00Z"),
        rec(9, "AEOCN4403123456", AEO_REVOKED, "2024-01-01", "2027-12-31", "2026-11-03T09:30:15Z")};
    const char *want =
        "{\"origin\":\"customs.cn/shenzhen\",\"from\":7,\"to\":9,\"records\":["
        "{\"seq\":7,\"aeo_id\":\"AEOCN4403123456\",\"name\":\"Name \\\"4403123456\\\"\","
        "\"address\":\"Pier 7, 港\",\"status\":\"valid\",\"valid_from\":\"2024-01-01\","
        "\"valid_until\":\"2027-12-31\",\"updated_at\":\"2026-11-01T08:00:00Z\"},";
    struct aeo_batch b;
    struct buf out;
    char *s;

    buf_init(&out, AEO_BATCH_MAX_LEN);
    CHECK(aeo_batch_format("customs.cn/shenzhen", 7, rs, 3, &out, err, sizeof(err)) == PS_OK &&
              strncmp((char *)out.data, want, strlen(want)) == 0,
          "batch written in the documented form: %.120s...", out.data);
    CHECK(aeo_batch_parse(out.data, out.len, &rules, &b, err, sizeof(err)) == PS_OK &&
              b.from == 7 && b.to == 9 && b.records.n == 3 &&
              memcmp(b.records.rec, rs, sizeof(rs)) == 0 &&
              strcmp(b.origin, "customs.cn/shenzhen") == 0,
          "and parsed back to the same records (%s)", err);
    CHECK(aeo_batch_continues(&b, "customs.cn/shenzhen", 6, err, sizeof(err)) == PS_OK,
          "continues a copy that has up to 6");
    CHECK(aeo_batch_continues(&b, "customs.cn/shenzhen", 5, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "gap: expected seq 6, batch starts at 7") == 0,
          "%s", err);
    CHECK(aeo_batch_continues(&b, "customs.cn/shenzhen", 8, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "replay: batch starts at 7, already have up to 8") == 0,
          "%s", err);
    CHECK(aeo_batch_continues(&b, "customs.sg", 6, err, sizeof(err)) == PS_E_INVAL &&
              strcmp(err, "batch is from origin customs.cn/shenzhen, not customs.sg") == 0,
          "%s", err);
    aeo_batch_free(&b);
    CHECK(aeo_batch_format("cn", 10, NULL, 0, &out, err, sizeof(err)) == PS_OK &&
              strcmp((char *)out.data, "{\"origin\":\"cn\",\"from\":10,\"to\":9,\"records\":[]}") ==
                  0 &&
              aeo_batch_parse(out.data, out.len, &rules, &b, err, sizeof(err)) == PS_OK &&
              b.records.n == 0 && b.to == 9,
          "an empty batch: to = from - 1 (%s)", out.data);
    aeo_batch_free(&b);
    CHECK(aeo_batch_format("cn", 8, rs, 3, &out, err, sizeof(err)) == PS_E_INVAL && out.len == 0 &&
              strcmp(err, "record 0 has seq 7, expected 8") == 0,
          "format refuses records out of sequence: %s", err);
    CHECK(aeo_batch_format("c n", 7, rs, 3, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses a bad origin: %s", err);

    /* strict parsing */
    if (aeo_batch_format("cn", 7, rs, 3, &out, err, sizeof(err)) != PS_OK)
        return;
    struct {
        const char *from, *to, *want;
    } bad[] = {
        {"\"seq\":8", "\"seq\":10", "records[1]: seq 10, expected 8"},
        {"\"to\":9", "\"to\":10", "from 7 and to 10 do not match 3 records"},
        {"\"to\":9", "\"to\":9,\"extra\":true", "unknown field \"extra\""},
        {"\"to\":9", "\"to\":9,\"to\":9", "batch JSON: duplicate object key"},
        {"\"from\":7", "\"from\":7.0", "field from: missing or not an integer 1..2^53-1"},
        {"\"from\":7", "\"from\":0", "field from: missing or not an integer 1..2^53-1"},
        {"\"origin\":\"cn\"", "\"origin\":\"c\\u0000n\"", "batch JSON: \\u0000 is not allowed"},
        {"\"origin\":\"cn\"", "\"origin\":\"\"", "field origin: missing or not 1..64"},
        {"\"status\":\"suspended\"", "\"status\":\"gone\"",
         "records[1], field status: not valid, suspended or revoked"},
        {"\"seq\":9,", "\"seq\":9,\"note\":1,", "records[2], unknown field \"note\""},
        {"\"updated_at\":\"2026-11-03T09:30:15Z\"", "\"updated_at\":\"2026-11-03 09:30:15\"",
         "records[2], field updated_at: missing or not a time YYYY-MM-DDTHH:MM:SSZ"},
        {"\"seq\":7", "\"seq\":\"7\"", "records[0], field seq: missing or not an integer"},
        {"\"aeo_id\":\"AEOCN4403123457\"", "\"aeo_id\":\"AEOSG4403123457\"",
         "records[1], field aeo_id: AEOSG needs 12 letters"},
        {"{\"origin\"", "[{\"origin\"", "batch JSON: "},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = replace((char *)out.data, bad[i].from, bad[i].to);
        CHECK(aeo_batch_parse((uint8_t *)s, strlen(s), &rules, &b, err, sizeof(err)) != PS_OK &&
                  strncmp(err, bad[i].want, strlen(bad[i].want)) == 0 && b.records.n == 0,
              "batch refused: %s", err);
        free(s);
    }
    {
        struct aeo_id_rules cn_only;
        memset(&cn_only, 0, sizeof(cn_only));
        CHECK(aeo_id_rules_add(&cn_only, "AEOCN", 10) == PS_OK &&
                  aeo_batch_parse(out.data, out.len, &cn_only, &b, err, sizeof(err)) == PS_OK,
              "a partner's batch checked with only its country's rule");
        aeo_batch_free(&b);
    }
    buf_free(&out);
}

static void test_digest(void)
{
    struct aeo_record rs[3] = {
        rec(1, "AEOCN4403123457", AEO_VALID, "2024-01-01", "2027-12-31", "2026-11-01T08:00:00Z"),
        rec(2, "AEOCN4403123456", AEO_VALID, "2024-01-01", "2027-12-31", "2026-11-02T08:00:00Z"),
        rec(3, "AEOCN4403123457", AEO_REVOKED, "2024-01-01", "2027-12-31", "2026-11-03T08:00:00Z")};
    struct aeo_record sw[3] = {rs[2], rs[0], rs[1]};
    uint8_t d1[32], d2[32], want[32];
    crypto_hash_sha256_state st;
    struct buf line;

    buf_init(&line, 1 << 16);
    crypto_hash_sha256_init(&st);
    /* by hand: AEOCN...56 (seq 2) then AEOCN...57 at its latest (seq 3) */
    if (aeo_record_format(&rs[1], &line) != PS_OK || buf_append(&line, "\n", 1) != PS_OK ||
        aeo_record_format(&rs[2], &line) != PS_OK || buf_append(&line, "\n", 1) != PS_OK)
        line.len = 0;
    crypto_hash_sha256_update(&st, line.data, line.len);
    crypto_hash_sha256_final(&st, want);
    CHECK(aeo_register_digest(rs, 3, d1) == PS_OK && memcmp(d1, want, 32) == 0,
          "digest = SHA-256 of the latest record per aeo_id, sorted, LF-terminated");
    CHECK(aeo_register_digest(sw, 3, d2) == PS_OK && memcmp(d1, d2, 32) == 0,
          "the order of the input does not matter");
    sw[0].name[0] = 'X';
    CHECK(aeo_register_digest(sw, 3, d2) == PS_OK && memcmp(d1, d2, 32) != 0,
          "a changed name changes the digest");
    sw[0] = rs[2];
    sw[1].name[0] = 'X'; /* rs[0]: superseded by seq 3 */
    CHECK(aeo_register_digest(sw, 3, d2) == PS_OK && memcmp(d1, d2, 32) == 0,
          "a superseded record does not count");
    crypto_hash_sha256(want, (const uint8_t *)"", 0);
    CHECK(aeo_register_digest(NULL, 0, d2) == PS_OK && memcmp(d2, want, 32) == 0,
          "the empty register's digest is SHA-256 of nothing");
    buf_free(&line);
}

static void test_status_at(void)
{
    struct aeo_record h[5] = {
        rec(3, "AEOSG20231234567X", AEO_VALID, "2024-01-01", "2026-12-31", "2024-01-01T00:00:00Z"),
        rec(4, "AEOSG20231234567Y", AEO_REVOKED, "2024-01-01", "2026-12-31",
            "2024-02-01T00:00:00Z"),
        rec(10, "AEOSG20231234567X", AEO_SUSPENDED, "2024-01-01", "2026-12-31",
            "2025-03-01T12:00:00Z"),
        rec(12, "AEOSG20231234567X", AEO_VALID, "2025-06-01", "2028-05-31", "2025-05-20T00:00:00Z"),
        rec(20, "AEOSG20231234567X", AEO_REVOKED, "2025-06-01", "2028-05-31",
            "2027-01-01T00:00:00Z")};
    const char *id = "AEOSG20231234567X";
    const struct aeo_record *used;
    struct {
        const char *at;
        enum aeo_state want;
        uint64_t seq;
    } q[] = {
        {"2023-12-31T23:59:59Z", AEO_STATE_UNKNOWN, 0},
        {"2024-01-01T00:00:00Z", AEO_STATE_VALID, 3},
        {"2025-03-01T11:59:59Z", AEO_STATE_VALID, 3},
        {"2025-03-01T12:00:00Z", AEO_STATE_SUSPENDED, 10},
        {"2025-05-25T00:00:00Z", AEO_STATE_NOT_YET_VALID, 12},
        {"2025-06-01T00:00:00Z", AEO_STATE_VALID, 12},
        {"2026-12-31T23:59:59Z", AEO_STATE_VALID, 12},
        {"2027-01-01T00:00:00Z", AEO_STATE_REVOKED, 20},
    };
    int64_t at;

    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        enum aeo_state s;
        if (time_parse_stamp(q[i].at, 20, &at) != PS_OK)
            abort();
        s = aeo_status_at(h, 5, id, at, &used);
        CHECK(s == q[i].want && (used ? used->seq : 0) == q[i].seq, "%s at %s: %s (seq %llu)", id,
              q[i].at, aeo_state_name(s), (unsigned long long)(used ? used->seq : 0));
    }
    h[4].updated_at = INT64_MAX; /* without the revocation: expiry by date */
    if (time_parse_stamp("2028-06-01T00:00:00Z", 20, &at) != PS_OK)
        abort();
    CHECK(aeo_status_at(h, 5, id, at, NULL) == AEO_STATE_EXPIRED, "after valid_until: expired");
    CHECK(aeo_status_at(h, 5, "AEOSG20231234567Y", at, NULL) == AEO_STATE_REVOKED &&
              aeo_status_at(h, 5, "AEOSG20231234567Z", at, &used) == AEO_STATE_UNKNOWN &&
              used == NULL,
          "other operators in the same history are kept apart");
}

static void test_time(void)
{
    char s[TIME_STAMP_LEN + 1];
    int64_t t;

    CHECK(time_parse_stamp("1970-01-01T00:00:00Z", 20, &t) == PS_OK && t == 0 &&
              time_parse_stamp("2000-02-29T23:59:59Z", 20, &t) == PS_OK && t == 951868799 &&
              time_format_stamp(t, s) == PS_OK && strcmp(s, "2000-02-29T23:59:59Z") == 0,
          "RFC 3339 stamps both ways");
    CHECK(time_parse_stamp("1969-12-31T23:59:59Z", 20, &t) == PS_OK && t == -1 &&
              time_format_stamp(-1, s) == PS_OK && strcmp(s, "1969-12-31T23:59:59Z") == 0,
          "before 1970");
    CHECK(time_parse_stamp("2001-02-29T00:00:00Z", 20, &t) == PS_E_INVAL &&
              time_parse_stamp("2001-02-28T24:00:00Z", 20, &t) == PS_E_INVAL &&
              time_parse_stamp("2001-02-28t00:00:00Z", 20, &t) == PS_E_INVAL &&
              time_parse_stamp("2001-02-28T00:00:00+00:00", 25, &t) == PS_E_INVAL &&
              time_parse_stamp("2001-02-28T00:00:60Z", 20, &t) == PS_E_INVAL,
          "no Feb 29 in 2001, no hour 24, lower-case t, offsets or leap seconds");
    CHECK(time_parse_stamp("9999-12-31T23:59:59Z", 20, &t) == PS_OK &&
              time_format_stamp(t, s) == PS_OK && strcmp(s, "9999-12-31T23:59:59Z") == 0 &&
              time_format_stamp(t + 1, s) == PS_E_INVAL &&
              time_parse_stamp("0001-01-01T00:00:00Z", 20, &t) == PS_OK &&
              time_format_stamp(t, s) == PS_OK && time_format_stamp(t - 1, s) == PS_E_INVAL &&
              time_format_stamp(INT64_MAX, s) == PS_E_INVAL &&
              time_format_stamp(INT64_MIN, s) == PS_E_INVAL &&
              time_parse_stamp("0000-01-01T00:00:00Z", 20, &t) == PS_E_INVAL,
          "years 0001-9999 only, and no overflow at the ends of int64");
}

/* An independent reading of the register digest: Python's json and hashlib over our batch. */
static void test_python_digest(void)
{
    struct aeo_record rs[3] = {
        rec(5, "AEOSG20231234567X", AEO_VALID, "2024-01-01", "2027-12-31", "2026-11-01T08:00:00Z"),
        rec(6, "AEOCN4403123456", AEO_SUSPENDED, "2024-01-01", "2027-12-31",
            "2026-11-02T08:00:00Z"),
        rec(7, "AEOCN440312345A", AEO_VALID, "2024-01-01", "2027-12-31", "2026-11-03T08:00:00Z")};
    char path[] = "/tmp/aeo_test.XXXXXX", cmd[512], got[128] = "", hex[65];
    uint8_t d[32];
    struct buf out;
    FILE *f, *p;
    int fd;

    if (system("python3 -c 'import json, hashlib' >/dev/null 2>&1") != 0) {
        printf("ok - # skip python3 not available\n");
        return;
    }
    buf_init(&out, 1 << 20);
    snprintf(rs[2].name, sizeof(rs[2].name), "Back\\slash \"q\" 深圳 \xF0\x9F\x9A\x9A");
    if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL ||
        aeo_batch_format("cn", 5, rs, 3, &out, err, sizeof(err)) != PS_OK ||
        fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0 ||
        aeo_register_digest(rs, 3, d) != PS_OK) {
        CHECK(0, "cannot prepare the Python digest check");
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import sys, json, hashlib\n"
             "b = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
             "r = sorted(b[\"records\"], key=lambda x: x[\"aeo_id\"].encode())\n"
             "t = \"\".join(json.dumps(x, ensure_ascii=False, separators=(\",\", \":\")) + "
             "\"\\n\" for x in r)\n"
             "print(hashlib.sha256(t.encode()).hexdigest())' %s",
             path);
    if ((p = popen(cmd, "r")) != NULL) {
        if (fgets(got, sizeof(got), p) == NULL)
            got[0] = 0;
        pclose(p);
    }
    got[strcspn(got, "\n")] = 0;
    sodium_bin2hex(hex, sizeof(hex), d, 32);
    CHECK(strcmp(got, hex) == 0,
          "Python json + hashlib compute the same register digest from the batch: %s", got);
    unlink(path);
    buf_free(&out);
}

int main(void)
{
    aeo_id_rules_default(&rules);
    test_ids();
    test_csv();
    test_csv_errors();
    test_jsonl();
    test_batch();
    test_digest();
    test_status_at();
    test_time();
    test_python_digest();
    return unit_done();
}
