/*
 * pay179_test - the "179" signing string against the public China E-port vector
 * (tests/data/chinaport: the string and its SM2 signature), the escaping and number rules,
 * every rejection with the field it names, and every truncation of a valid request.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "../../../protocol/pay179.h"
#include "../testdata.h"
#include "../unit.h"

#define VEC    "tests/data/chinaport/"
#define MAX_IN (1024 * 1024)

/* A minimal valid request, fields already in the E-port's order and compact. */
#define HEAD                                                                                       \
    "{\"guid\":\"G\",\"initalRequest\":\"\",\"initalResponse\":\"ok\",\"ebpCode\":\"E\","          \
    "\"payCode\":\"P\",\"payTransactionId\":\"T\",\"totalAmount\":100,\"currency\":\"142\","       \
    "\"verDept\":\"3\",\"payType\":\"1\",\"tradingTime\":\"20181212041803\",\"note\":\"N\"}"
#define GOODS "{\"gname\":\"g\",\"itemLink\":\"L\"}"
#define LISTS                                                                                      \
    "[{\"orderNo\":\"O\",\"goodsInfo\":[" GOODS "],\"recpAccount\":\"A\",\"recpCode\":\"\","       \
    "\"recpName\":\"R\"}]"
#define BASE                                                                                       \
    "{\"sessionID\":\"s-1\",\"payExchangeInfoHead\":" HEAD ",\"payExchangeInfoLists\":" LISTS      \
    ",\"serviceTime\":\"1544519952469\"}"
#define BASE_OUT                                                                                   \
    "\"sessionID\":\"s-1\"||\"payExchangeInfoHead\":\"" HEAD                                       \
    "\"||\"payExchangeInfoLists\":\"" LISTS "\"||\"serviceTime\":\"1544519952469\""

static char err[256];
static struct buf out;

static int build_n(const char *json, size_t len)
{
    return pay179_build(json, len, MAX_IN, &out, err, sizeof(err));
}

static int build(const char *json)
{
    return build_n(json, strlen(json));
}

/* BASE with from replaced by to builds and the output contains want. */
static void builds_with(const char *from, const char *to, const char *want, const char *what)
{
    char *in = replace(BASE, from, to);
    int r = build(in);

    CHECK(r == PS_OK && strstr((const char *)out.data, want) != NULL, "%s (%s)", what,
          r == PS_OK ? (const char *)out.data : err);
    free(in);
}

/* json is refused with code and an error text containing want; out is left empty. */
static void refused_n(const char *json, size_t len, int code, const char *want, const char *what)
{
    int r = build_n(json, len);

    CHECK(r == code && strstr(err, want) != NULL && out.len == 0, "%s -> %d \"%s\"", what, r, err);
}

static void refused(const char *json, int code, const char *want, const char *what)
{
    refused_n(json, strlen(json), code, want, what);
}

static void refused_with(const char *from, const char *to, const char *want, const char *what)
{
    char *in = replace(BASE, from, to);

    refused(in, PS_E_INVAL, want, what);
    free(in);
}

static void test_vector(void)
{
    size_t rl, sl, dl, cl;
    uint8_t *req = slurp(VEC "pay179-request.json", &rl);
    uint8_t *want = slurp(VEC "pay179-signing-string.txt", &sl);
    uint8_t *sig = slurp(VEC "pay179-sm2.sig.der", &dl);
    uint8_t *cert_der = slurp(VEC "sm2-signer-cert.der", &cl);
    const unsigned char *cp = cert_der;
    X509 *cert = d2i_X509(NULL, &cp, (long)cl);
    char *as_int;
    int r;

    CHECK(cert != NULL, "signer certificate parses");
    r = build_n((const char *)req, rl);
    CHECK(r == PS_OK, "reordered, indented request with \\u and \\/ escapes builds (%s)", err);
    CHECK(out.len == sl && memcmp(out.data, want, sl) == 0,
          "signing string is byte-identical to pay179-signing-string.txt (%zu/%zu bytes)", out.len,
          sl);
    CHECK(sm2_verify(cert, out.data, out.len, sig, dl),
          "the E-port SM2 signature verifies over the built string");
    if (out.len > 0)
        out.data[out.len / 2] ^= 1;
    CHECK(!sm2_verify(cert, out.data, out.len, sig, dl), "and not over a string one bit off");

    as_int = replace((const char *)req, "\"serviceTime\": \"1544519952469\"",
                     "\"serviceTime\": 1544519952469");
    r = build(as_int);
    CHECK(r == PS_OK && out.len == sl && memcmp(out.data, want, sl) == 0 &&
              sm2_verify(cert, out.data, out.len, sig, dl),
          "serviceTime as a JSON integer gives the same signed string");
    free(as_int);

    X509_free(cert);
    free(req);
    free(want);
    free(sig);
    free(cert_der);
}

static void test_base(void)
{
    int r = build(BASE);

    CHECK(r == PS_OK && strcmp((const char *)out.data, BASE_OUT) == 0,
          "minimal request: empty strings allowed, output in E-port order (%s)", err);
}

static void test_numbers(void)
{
    builds_with("100", "100.50", "\"totalAmount\":100.50,\"currency\"", "100.50 stays 100.50");
    builds_with("100", "1e2", "\"totalAmount\":1e2,", "1e2 stays 1e2");
    builds_with("100", "1E+2", "\"totalAmount\":1E+2,", "1E+2 stays 1E+2");
    builds_with("100", "0.10", "\"totalAmount\":0.10,", "0.10 stays 0.10");
    builds_with("100", "-0", "\"totalAmount\":-0,", "-0 stays -0");
    builds_with("100", "123456789012345678901234567890.000000000000000000001",
                "\"totalAmount\":123456789012345678901234567890.000000000000000000001,",
                "a number no double can hold is copied exactly");
    builds_with("100", " \t\r\n100.00 \n", "\"totalAmount\":100.00,",
                "white space around a number");
}

static void test_strings(void)
{
    builds_with("\"note\":\"N\"", "\"note\":\"a\\u4e2d\\u4E2Db\"",
                "\"note\":\"a\xe4\xb8\xad\xe4\xb8\xad"
                "b\"}",
                "\\u4e2d becomes raw UTF-8 (either hex case)");
    builds_with("\"note\":\"N\"", "\"note\":\"\xe6\x89\xb9\xe9\x87\x8f\"",
                "\"note\":\"\xe6\x89\xb9\xe9\x87\x8f\"", "raw UTF-8 stays raw");
    builds_with("\"note\":\"N\"", "\"note\":\"http:\\/\\/x\\/y\"", "\"note\":\"http://x/y\"",
                "\\/ becomes /");
    builds_with("\"note\":\"N\"", "\"note\":\"q\\\"b\\\\e\"", "\"note\":\"q\\\"b\\\\e\"",
                "\\\" and \\\\ stay escaped");
    builds_with("\"note\":\"N\"", "\"note\":\"\\b\\f\\n\\r\\t\"", "\"note\":\"\\b\\f\\n\\r\\t\"",
                "\\b \\f \\n \\r \\t stay short escapes");
    builds_with("\"note\":\"N\"", "\"note\":\"\\u0008\\u000a\\u0009\"", "\"note\":\"\\b\\n\\t\"",
                "\\u0008 \\u000a \\u0009 become short escapes (as fastjson writes them)");
    builds_with("\"note\":\"N\"", "\"note\":\"\\u0000\\u0001\\u000b\\u001f\"",
                "\"note\":\"\\u0000\\u0001\\u000B\\u001F\"",
                "other C0 controls are \\u00XX, upper-case hex");
    builds_with("\"note\":\"N\"", "\"note\":\"\x7f\\u007f\\u0085\xc2\x9f\"",
                "\"note\":\"\\u007F\\u007F\\u0085\\u009F\"",
                "DEL and U+0080..U+009F are \\u escaped, raw or escaped in the input");
    builds_with("\"note\":\"N\"", "\"note\":\"\\u2028\xe2\x80\xa9\"", "\"note\":\"\\u2028\\u2029\"",
                "U+2028 and U+2029 are \\u escaped");
    builds_with("\"note\":\"N\"", "\"note\":\"\\u00a0\\u00e9<>&'\"",
                "\"note\":\"\xc2\xa0\xc3\xa9<>&'\"", "U+00A0, U+00E9 and <>&' stay raw");
    builds_with("\"note\":\"N\"", "\"note\":\"\\ud83d\\ude00\xf0\x9f\x98\x80\"",
                "\"note\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"",
                "a surrogate-pair escape becomes one 4-byte UTF-8 character");
    builds_with("\"guid\"", "\"gu\\u0069d\"", "{\"guid\":\"G\",", "keys are compared decoded");
    builds_with("\"s-1\"", "\"s\\u002d1\"", "\"sessionID\":\"s-1\"||", "sessionID is decoded");
    builds_with("\"1544519952469\"", "1544519952469", "||\"serviceTime\":\"1544519952469\"",
                "serviceTime as an integer");
    builds_with("\"1544519952469\"", "\"0000000000000000001\"",
                "||\"serviceTime\":\"0000000000000000001\"", "serviceTime string of 19 digits");
}

static void test_fields(void)
{
    refused_with("100", "\"100\"", "payExchangeInfoHead.totalAmount must be a number",
                 "totalAmount as a string");
    refused_with("100", "null", "payExchangeInfoHead.totalAmount must be a number",
                 "totalAmount null");
    refused_with("\"guid\":\"G\"", "\"guid\":1", "payExchangeInfoHead.guid must be a string",
                 "guid as a number");
    refused_with("\"note\":\"N\"", "\"note\":null", "payExchangeInfoHead.note must be a string",
                 "note null");
    refused_with("\"recpCode\":\"\"", "\"recpCode\":false",
                 "payExchangeInfoLists[0].recpCode must be a string", "recpCode false");
    refused_with(HEAD, "[]", "payExchangeInfoHead must be an object", "head as an array");
    refused_with(HEAD, "\"{}\"", "payExchangeInfoHead must be an object", "head as a string");
    refused_with(LISTS, "{}", "payExchangeInfoLists must be an array", "lists as an object");
    refused_with(LISTS, "[]", "payExchangeInfoLists must not be empty", "lists empty");
    refused_with(LISTS, "[1]", "payExchangeInfoLists[0] must be an object", "lists [1]");
    refused_with("\"R\"}]", "\"R\"},[]]", "payExchangeInfoLists[1] must be an object",
                 "lists [{..},[]]");
    refused_with("[" GOODS "]", "[]", "payExchangeInfoLists[0].goodsInfo must not be empty",
                 "goodsInfo empty");
    refused_with("[" GOODS "]", GOODS, "payExchangeInfoLists[0].goodsInfo must be an array",
                 "goodsInfo as an object");
    refused_with(",\"itemLink\":\"L\"", "",
                 "payExchangeInfoLists[0].goodsInfo[0].itemLink is missing", "itemLink missing");
    refused_with(GOODS, GOODS ",{\"gname\":\"h\"}",
                 "payExchangeInfoLists[0].goodsInfo[1].itemLink is missing",
                 "second goods entry without itemLink");
    refused_with(",\"note\":\"N\"", "", "payExchangeInfoHead.note is missing", "note missing");
    refused_with("\"initalRequest\":\"\",", "", "payExchangeInfoHead.initalRequest is missing",
                 "initalRequest missing (every field is required, empty strings are allowed)");
    refused_with("\"recpCode\":\"\",", "", "payExchangeInfoLists[0].recpCode is missing",
                 "recpCode missing");
    refused_with("\"sessionID\":\"s-1\",", "", "sessionID is missing", "sessionID missing");
    refused_with(",\"serviceTime\":\"1544519952469\"", "", "serviceTime is missing",
                 "serviceTime missing");
    refused_with(",\"payExchangeInfoLists\":" LISTS, "", "payExchangeInfoLists is missing",
                 "lists missing");
    refused_with("\"payExchangeInfoHead\":" HEAD ",", "", "payExchangeInfoHead is missing",
                 "head missing");
    refused("{}", PS_E_INVAL, "sessionID is missing", "empty object");

    refused_with("{\"sessionID\"", "{\"certNo\":\"1\",\"sessionID\"", "certNo is not a known field",
                 "unknown top-level field");
    refused_with("\"guid\":\"G\"", "\"guid\":\"G\",\"guId\":\"x\"",
                 "payExchangeInfoHead.guId is not a known field", "unknown head field");
    refused_with("\"recpName\":\"R\"", "\"recpName\":\"R\",\"extra\":{}",
                 "payExchangeInfoLists[0].extra is not a known field", "unknown list field");
    refused_with("\"itemLink\":\"L\"", "\"itemLink\":\"L\",\"price\":1",
                 "payExchangeInfoLists[0].goodsInfo[0].price is not a known field",
                 "unknown goods field");
    refused_with("\"guid\":\"G\"", "\"guid\":\"G\",\"a\\u0001\\u4e2d\":1",
                 "payExchangeInfoHead.a?? is not a known field",
                 "unknown key shown with non-printable characters replaced");

    refused_with("\"guid\":\"G\"", "\"guid\":\"G\",\"guid\":\"G\"",
                 "payExchangeInfoHead.guid appears twice", "duplicate head key");
    refused_with("\"guid\":\"G\"", "\"guid\":\"G\",\"gu\\u0069d\":\"H\"",
                 "payExchangeInfoHead.guid appears twice", "duplicate key spelt with an escape");
    refused_with("{\"sessionID\":\"s-1\"", "{\"sessionID\":\"s-1\",\"sessionID\":\"s-1\"",
                 "sessionID appears twice", "duplicate top-level key");
    refused_with("\"gname\":\"g\"", "\"gname\":\"g\",\"gname\":\"g\"",
                 "payExchangeInfoLists[0].goodsInfo[0].gname appears twice", "duplicate goods key");
}

static void test_session_time(void)
{
    refused_with("\"s-1\"", "\"\"", "sessionID must not be empty", "empty sessionID");
    refused_with("\"s-1\"", "1", "sessionID must be a string", "sessionID as a number");
    refused_with("\"s-1\"", "\"a\\\"b\"", "sessionID must be printable ASCII",
                 "quote in sessionID");
    refused_with("\"s-1\"", "\"a b\"", "sessionID must be printable ASCII", "space in sessionID");
    refused_with("\"s-1\"", "\"a\\\\b\"", "sessionID must be printable ASCII",
                 "backslash in sessionID");
    refused_with("\"s-1\"", "\"\\u4e2d\"", "sessionID must be printable ASCII",
                 "non-ASCII sessionID");
    refused_with("\"1544519952469\"", "\"\"", "serviceTime must be 1 to 19 decimal digits",
                 "empty serviceTime");
    refused_with("\"1544519952469\"", "\"2018-12-12\"",
                 "serviceTime must be 1 to 19 decimal digits", "serviceTime as a date");
    refused_with("\"1544519952469\"", "\"12345678901234567890\"",
                 "serviceTime must be 1 to 19 decimal digits", "serviceTime of 20 digits");
    refused_with("\"1544519952469\"", "1.5", "serviceTime must be an integer",
                 "serviceTime with a fraction");
    refused_with("\"1544519952469\"", "-1", "serviceTime must be an integer",
                 "negative serviceTime");
    refused_with("\"1544519952469\"", "1e3", "serviceTime must be an integer",
                 "serviceTime with an exponent");
    refused_with("\"1544519952469\"", "true", "serviceTime must be a string or an integer",
                 "serviceTime true");
}

/* BASE with a first member "x" holding that many nested arrays */
static char *with_nesting(int arrays)
{
    char pre[80] = "{\"x\":";
    size_t n = strlen(pre);
    int i;

    for (i = 0; i < arrays; i++)
        pre[n++] = '[';
    for (i = 0; i < arrays; i++)
        pre[n++] = ']';
    memcpy(pre + n, ",\"sessionID\"", 13);
    return replace(BASE, "{\"sessionID\"", pre);
}

static void test_malformed(void)
{
    char *in, *q;

    refused("", PS_E_INVAL, "malformed JSON at byte 0: unexpected end of input", "empty input");
    refused(" \n", PS_E_INVAL, "at byte 2: unexpected end of input", "white space only");
    refused_n(NULL, 0, PS_E_INVAL, "unexpected end of input", "NULL input");
    refused("[]", PS_E_INVAL, "the request must be a JSON object", "root array");
    refused("\"x\"", PS_E_INVAL, "the request must be a JSON object", "root string");
    refused("null", PS_E_INVAL, "the request must be a JSON object", "root null");
    refused(BASE "x", PS_E_INVAL, "data after the JSON value", "trailing garbage");
    refused(BASE "{}", PS_E_INVAL, "data after the JSON value", "two documents");
    refused("\xef\xbb\xbf" BASE, PS_E_INVAL, "at byte 0: unexpected character", "UTF-8 BOM");
    refused("{'sessionID':1}", PS_E_INVAL, "expected a string key", "single quotes");
    refused("{\"a\":1,}", PS_E_INVAL, "at byte 7: expected a string key", "trailing comma");
    refused("{\"a\" 1}", PS_E_INVAL, "expected ':'", "missing colon");
    refused("{\"a\":1 \"b\":2}", PS_E_INVAL, "expected ',' or '}'", "missing comma");
    refused("{\"a\":[1 2]}", PS_E_INVAL, "expected ',' or ']'", "missing comma in an array");
    refused("{\"a\":[1,]}", PS_E_INVAL, "unexpected character", "trailing comma in an array");
    refused("{\"a\":tru}", PS_E_INVAL, "unexpected character", "bad literal");
    refused("{/*c*/}", PS_E_INVAL, "expected a string key", "comment");
    refused_with("100", "0100", "leading zero in a number", "leading zero");
    refused_with("100", "1.", "bad number", "1.");
    refused_with("100", ".5", "unexpected character", ".5");
    refused_with("100", "+1", "unexpected character", "+1");
    refused_with("100", "1e", "bad number", "1e");
    refused_with("100", "NaN", "unexpected character", "NaN");
    refused_with("\"N\"", "\"\\x\"", "bad escape", "\\x escape");
    refused_with("\"N\"", "\"\\u12\"", "bad \\u escape", "short \\u escape");
    refused_with("\"N\"", "\"\\ud800\"", "unpaired surrogate", "lone high surrogate");
    refused_with("\"N\"", "\"\\udc00\"", "unpaired surrogate", "lone low surrogate");
    refused_with("\"N\"", "\"\\ud800\\u0041\"", "unpaired surrogate", "high surrogate + A");
    refused_with("\"N\"", "\"\\ud800\\ud800\"", "unpaired surrogate", "two high surrogates");
    refused_with("\"N\"", "\"a\tb\"", "control character in a string", "raw tab in a string");
    refused_with("\"N\"", "\"\xc0\xaf\"", "invalid UTF-8", "overlong UTF-8");
    refused_with("\"N\"", "\"\xed\xa0\x80\"", "invalid UTF-8", "UTF-8 encoded surrogate");
    refused_with("\"N\"", "\"\xf4\x90\x80\x80\"", "invalid UTF-8", "UTF-8 above U+10FFFF");
    refused_with("\"N\"", "\"\xff\"", "invalid UTF-8", "byte 0xFF");
    refused_with("\"N\"", "\"\xe4\xb8\"", "invalid UTF-8", "truncated UTF-8 sequence");
    refused_with("\"N\"", "\"\x80\"", "invalid UTF-8", "lone continuation byte");
    refused_with("100", "\xe4\xb8\xad", "unexpected character", "UTF-8 outside a string");
    refused_n(BASE, strlen(BASE) + 1, PS_E_INVAL, "NUL byte", "NUL byte after the document");
    in = replace(BASE, "\"N\"", "\"N?\"");
    q = strstr(in, "N?");
    q[1] = 0;
    refused_n(in, strlen(BASE) + 1, PS_E_INVAL, "NUL byte", "NUL byte inside a string");
    free(in);

    /* nesting: the root is level 1, so "x" may hold 15 arrays but not 16 */
    in = with_nesting(15);
    refused(in, PS_E_INVAL, "x is not a known field", "16 levels of nesting are read");
    free(in);
    in = with_nesting(16);
    refused(in, PS_E_LIMIT, "nesting deeper than 16", "17 levels of nesting are refused");
    free(in);
    in = malloc(100001);
    memset(in, '[', 100000);
    in[100000] = 0;
    refused(in, PS_E_LIMIT, "nesting deeper than 16", "100000 open brackets (no deep recursion)");
    free(in);
}

static void test_limits(void)
{
    struct buf small;
    int r;

    r = pay179_build(BASE, strlen(BASE), strlen(BASE) - 1, &out, err, sizeof(err));
    CHECK(r == PS_E_LIMIT && strstr(err, "request larger than") && out.len == 0,
          "input over max_len -> PS_E_LIMIT (%s)", err);
    r = pay179_build(BASE, strlen(BASE), strlen(BASE), &out, err, sizeof(err));
    CHECK(r == PS_OK, "input of exactly max_len is read");

    buf_init(&small, 50);
    r = pay179_build(BASE, strlen(BASE), MAX_IN, &small, err, sizeof(err));
    CHECK(r == PS_E_LIMIT && strstr(err, "signing string longer than 50 bytes") && small.len == 0,
          "output over the buffer's max -> PS_E_LIMIT, buffer empty (%s)", err);
    buf_free(&small);
    buf_init(&small, strlen(BASE_OUT));
    r = pay179_build(BASE, strlen(BASE), MAX_IN, &small, err, sizeof(err));
    CHECK(r == PS_OK && small.len == strlen(BASE_OUT), "output of exactly the buffer's max fits");
    buf_free(&small);

    r = pay179_build("[", 1, MAX_IN, &out, NULL, 0);
    CHECK(r == PS_E_INVAL, "err may be NULL");
    err[0] = 'x';
    r = pay179_build("[", 1, MAX_IN, &out, err, 1);
    CHECK(r == PS_E_INVAL && err[0] == 0, "a one-byte err holds the empty string");
}

/* Every proper prefix of the request is malformed JSON and refused; longer ones build. */
static void test_truncations(void)
{
    size_t rl, sl, n, end, bad_n = 0, nbad = 0;
    uint8_t *req = slurp(VEC "pay179-request.json", &rl);
    uint8_t *want = slurp(VEC "pay179-signing-string.txt", &sl);
    char *copy;
    int r;

    for (end = rl; end > 0 && req[end - 1] != '}'; end--)
        ;
    for (n = 0; n < rl; n++) {
        /* an exact-size copy, so ASan sees any read past the end */
        copy = malloc(n ? n : 1);
        memcpy(copy, req, n);
        r = build_n(copy, n);
        if (n < end ? r == PS_OK || out.len != 0 || strncmp(err, "malformed JSON", 14) != 0
                    : r != PS_OK || out.len != sl || memcmp(out.data, want, sl) != 0) {
            if (nbad++ == 0)
                bad_n = n;
        }
        free(copy);
    }
    CHECK(nbad == 0,
          "all %zu truncations: the %zu shorter than the document are malformed JSON, "
          "the rest build the vector (first wrong at %zu)",
          rl, end, bad_n);
    free(req);
    free(want);
}

int main(void)
{
    buf_init(&out, 1024 * 1024);
    test_vector();
    test_base();
    test_numbers();
    test_strings();
    test_fields();
    test_session_time();
    test_malformed();
    test_limits();
    test_truncations();
    buf_free(&out);
    return unit_done();
}
