/* multipart/form-data parser: well-formed forms, every refusal with its message, limits. */
#include <stdlib.h>
#include <string.h>

#include "../../../protocol/multipart.h"
#include "../unit.h"

static const struct mp_limits lim = {1 << 20, 8, 512};

static int parse(const char *body, struct mp_form *f, char *err, size_t errlen)
{
    return mp_parse((const uint8_t *)body, strlen(body), "b0undary", &lim, f, err, errlen);
}

static void test_boundary(void)
{
    char b[MP_MAX_BOUNDARY + 1], err[200];

    CHECK(mp_boundary("multipart/form-data; boundary=abc123", b, sizeof(b), err, sizeof(err)) ==
                  PS_OK &&
              strcmp(b, "abc123") == 0,
          "plain boundary");
    CHECK(mp_boundary("Multipart/Form-Data;boundary=\"a b:c\"; charset=utf-8", b, sizeof(b), err,
                      sizeof(err)) == PS_OK &&
              strcmp(b, "a b:c") == 0,
          "quoted boundary, case-insensitive type");
    CHECK(mp_boundary("application/json", b, sizeof(b), err, sizeof(err)) == PS_E_INVAL &&
              strstr(err, "multipart/form-data"),
          "other type: %s", err);
    CHECK(mp_boundary("multipart/form-data", b, sizeof(b), err, sizeof(err)) == PS_E_INVAL &&
              strstr(err, "no boundary"),
          "no boundary: %s", err);
    CHECK(mp_boundary("multipart/form-data; boundary=\"\"", b, sizeof(b), err, sizeof(err)) ==
              PS_E_INVAL,
          "empty boundary: %s", err);
    CHECK(mp_boundary("multipart/form-data; boundary="
                      "12345678901234567890123456789012345678901234567890123456789012345678901",
                      b, sizeof(b), err, sizeof(err)) == PS_E_INVAL,
          "71-character boundary: %s", err);
    CHECK(mp_boundary("multipart/form-data; boundary=a; boundary=b", b, sizeof(b), err,
                      sizeof(err)) == PS_E_INVAL,
          "two boundaries: %s", err);
    CHECK(mp_boundary("multipart/form-datax; boundary=a", b, sizeof(b), err, sizeof(err)) ==
              PS_E_INVAL,
          "a longer type name is not form-data");
}

static void test_good(void)
{
    struct mp_form f;
    char err[200] = "";
    const char *body =
        "preamble to ignore\r\n"
        "--b0undary  \r\n"
        "Content-Disposition: form-data; name=\"metadata\"\r\n"
        "Content-Type: application/json\r\n"
        "\r\n"
        "{\"a\":1}\r\n"
        "--b0undary\r\n"
        "content-disposition: form-data; filename=\"r\xc3\xa9sum\xc3\xa9 1.pdf\"; name=file\r\n"
        "X-Other: ignored\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "\r\n"
        "line1\r\n--b0undar\r\nnot a boundary\r\n"
        "--b0undary\r\n"
        "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n"
        "\r\n"
        "\r\n"
        "--b0undary--\r\nepilogue\r\n";

    CHECK(parse(body, &f, err, sizeof(err)) == PS_OK && f.n == 3, "three parts (%s)", err);
    if (f.n == 3) {
        CHECK(strcmp(f.parts[0].name, "metadata") == 0 && !f.parts[0].has_filename &&
                  strcmp(f.parts[0].content_type, "application/json") == 0 && f.parts[0].len == 7 &&
                  memcmp(f.parts[0].data, "{\"a\":1}", 7) == 0,
              "metadata part");
        CHECK(strcmp(f.parts[1].name, "file") == 0 && f.parts[1].has_filename &&
                  strcmp(f.parts[1].filename, "r\xc3\xa9sum\xc3\xa9 1.pdf") == 0 &&
                  f.parts[1].content_type[0] == 0 && f.parts[1].len == 32,
              "file part, data keeps a near-boundary line (%zu bytes)", f.parts[1].len);
        CHECK(f.parts[2].has_filename && f.parts[2].filename[0] == 0 && f.parts[2].len == 0,
              "empty file name and empty data are reported as such");
    }
    mp_form_free(&f);
    CHECK(parse("--b0undary--", &f, err, sizeof(err)) == PS_OK && f.n == 0, "a form without parts");
}

static void test_bad(void)
{
    static const struct {
        const char *what, *body, *words;
        int rc;
    } cases[] = {
        {"empty body", "", "no multipart boundary", PS_E_INVAL},
        {"other boundary", "--other\r\n\r\n--other--", "no multipart boundary", PS_E_INVAL},
        {"no closing boundary",
         "--b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata",
         "without a closing boundary", PS_E_INVAL},
        {"no CRLF after boundary", "--b0undaryX\r\n", "expected CRLF", PS_E_INVAL},
        {"headers not ended", "--b0undary\r\nContent-Disposition: form-data; name=a\r\n",
         "ends inside the part headers", PS_E_INVAL},
        {"no disposition", "--b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0undary--",
         "no Content-Disposition", PS_E_INVAL},
        {"no headers", "--b0undary\r\n\r\nx\r\n--b0undary--", "no Content-Disposition", PS_E_INVAL},
        {"no name",
         "--b0undary\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n"
         "--b0undary--",
         "no name parameter", PS_E_INVAL},
        {"not form-data",
         "--b0undary\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b0undary--",
         "must be form-data", PS_E_INVAL},
        {"filename*",
         "--b0undary\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''x\r\n\r\nx\r\n"
         "--b0undary--",
         "filename* is not supported", PS_E_INVAL},
        {"repeated name",
         "--b0undary\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--b0undary--",
         "repeats name", PS_E_INVAL},
        {"two dispositions",
         "--b0undary\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: "
         "form-data; name=b\r\n\r\nx\r\n--b0undary--",
         "two Content-Disposition", PS_E_INVAL},
        {"folded header",
         "--b0undary\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b0undary--",
         "folded", PS_E_INVAL},
        {"control character",
         "--b0undary\r\nContent-Disposition: form-data; name=\"a\x01\"\r\n\r\nx\r\n--b0undary--",
         "control character", PS_E_INVAL},
        {"bare LF in headers",
         "--b0undary\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\nx\r\n--b0undary--",
         "control character", PS_E_INVAL},
        {"base64 transfer encoding",
         "--b0undary\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: "
         "base64\r\n\r\neA==\r\n--b0undary--",
         "Content-Transfer-Encoding", PS_E_INVAL},
        {"unterminated quote",
         "--b0undary\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b0undary--",
         "unterminated", PS_E_INVAL},
        {"header without colon",
         "--b0undary\r\nContent-Disposition form-data\r\n\r\nx\r\n"
         "--b0undary--",
         "malformed header line", PS_E_INVAL},
    };
    struct mp_form f;
    char err[200];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = 0;
        CHECK(parse(cases[i].body, &f, err, sizeof(err)) == cases[i].rc && f.n == 0 &&
                  f.parts == NULL && strstr(err, cases[i].words),
              "%s: %s", cases[i].what, err);
    }
}

static void test_limits(void)
{
    struct mp_form f;
    char err[200], *body = malloc(1 << 21);
    size_t n = 0;
    const struct mp_limits small = {100, 8, 512};

    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(body + n, (1 << 21) - n,
                              "--b0undary\r\nContent-Disposition: form-data; name=p%d\r\n\r\nx\r\n",
                              i);
    memcpy(body + n, "--b0undary--", 13);
    CHECK(parse(body, &f, err, sizeof(err)) == PS_E_LIMIT && strstr(err, "more than 8 parts"),
          "part count: %s", err);
    n = (size_t)snprintf(body, 1 << 21,
                         "--b0undary\r\nContent-Disposition: form-data; name=a\r\nX: ");
    memset(body + n, 'y', 600);
    n += 600;
    memcpy(body + n, "\r\n\r\nx\r\n--b0undary--", 20);
    CHECK(parse(body, &f, err, sizeof(err)) == PS_E_LIMIT && strstr(err, "headers larger than 512"),
          "header size: %s", err);
    CHECK(mp_parse((const uint8_t *)body, 101, "b0undary", &small, &f, err, sizeof(err)) ==
                  PS_E_LIMIT &&
              strstr(err, "larger than 100 bytes"),
          "total size: %s", err);
    free(body);
}

int main(void)
{
    test_boundary();
    test_good();
    test_bad();
    test_limits();
    return unit_done();
}
