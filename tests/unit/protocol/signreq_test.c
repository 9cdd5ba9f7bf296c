/*
 * signreq_test - the fast /v1/sign/hash body reader against jansson (the full parser the
 * worker falls back to): whatever signreq_parse accepts, jansson reads the same way.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../../protocol/signreq.h"
#include "../unit.h"

static int str_eq(const struct signreq_str *s, const char *v)
{
    if (s->p == NULL || v == NULL)
        return s->p == NULL && v == NULL;
    return strlen(v) == s->len && memcmp(v, s->p, s->len) == 0;
}

/* 1: fast path, same as jansson; 0: fast path refused; -1: fast path disagrees. */
static int agree(const char *body, size_t len, size_t max)
{
    struct signreq q;
    json_t *root, *hashes = NULL;
    const char *key = NULL, *alg = NULL, *format = NULL;
    const char *pos;
    int ok;

    if (signreq_parse(body, len, max, &q) != PS_OK)
        return 0;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    ok = root && json_is_object(root) && json_object_size(root) == 2u + !!q.alg.p + !!q.format.p &&
         json_unpack(root, "{s:s,s?s,s:o,s?s}", "key", &key, "alg", &alg, "hashes", &hashes,
                     "format", &format) == 0 &&
         json_is_array(hashes) && json_array_size(hashes) == q.n && q.n >= 1 && q.n <= max &&
         str_eq(&q.key, key) && str_eq(&q.alg, alg) && str_eq(&q.format, format);
    pos = q.hashes;
    for (size_t i = 0; ok && i < q.n; i++) {
        struct signreq_str h;

        signreq_next(&pos, &h);
        ok = str_eq(&h, json_string_value(json_array_get(hashes, i)));
    }
    json_decref(root);
    return ok ? 1 : -1;
}

static int fast(const char *s)
{
    return agree(s, strlen(s), 1000) == 1;
}

static int slow(const char *s)
{
    return agree(s, strlen(s), 1000) == 0;
}

static void test_accepts(void)
{
    CHECK(fast("{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha256\",\"hashes\":[\"AAAA\"]}"),
          "the usual body");
    CHECK(fast(" \r\n{ \"hashes\" : [ \"a\" , \"b\",\"c\" ] ,\t\"key\" : \"k\" , "
               "\"format\":\"raw\" }\n"),
          "white space anywhere, members in any order");
    CHECK(fast("{\"key\":\"\",\"hashes\":[\"\"]}"), "empty strings");
    CHECK(fast("{\"key\":\"k\",\"hashes\":[\"a+/=\"],\"alg\":\"x\",\"format\":\"der\"}"),
          "all four members");
}

static void test_refuses(void)
{
    static const char *const bodies[] = {
        "",
        " ",
        "[]",
        "{}",
        "{\"key\":\"k\"}",
        "{\"hashes\":[\"a\"]}",
        "{\"key\":\"k\",\"hashes\":[]}",
        "{\"key\":\"k\",\"hashes\":[\"a\",]}",
        "{\"key\":\"k\",\"hashes\":[\"a\"],}",
        "{\"key\":\"k\",\"hashes\":\"a\"}",
        "{\"key\":\"k\",\"hashes\":[1]}",
        "{\"key\":\"k\",\"hashes\":[\"a\"],\"key\":\"k\"}",
        "{\"key\":\"k\",\"hashes\":[\"a\"],\"hashes\":[\"a\"]}",
        "{\"key\":\"k\",\"hashes\":[\"a\"],\"extra\":1}",
        "{\"key\":\"k\",\"hashes\":[\"a\"],\"alg\":null}",
        "{\"key\":\"k\\u0031\",\"hashes\":[\"a\"]}",
        "{\"key\":\"k\\\"\",\"hashes\":[\"a\"]}",
        "{\"key\":\"\xc3\xa9\",\"hashes\":[\"a\"]}",
        "{\"key\":\"k\tk\",\"hashes\":[\"a\"]}",
        "{\"key\":\"k\",\"hashes\":[\"a\"]} x",
        "{\"key\":\"k\",\"hashes\":[\"a\"]}{}",
        "{\"key\":\"k\",\"hashes\":[\"a\"]",
        "{\"key\":\"k\",\"hashes\":[\"a\"}",
        "{\"key\":\"k\" \"hashes\":[\"a\"]}",
        "{\"key\" \"k\",\"hashes\":[\"a\"]}",
        "{key:\"k\",\"hashes\":[\"a\"]}",
        "\xef\xbb\xbf{\"key\":\"k\",\"hashes\":[\"a\"]}",
    };
    int ok = 1;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        if (!slow(bodies[i])) {
            printf("# not refused: %s\n", bodies[i]);
            ok = 0;
        }
    CHECK(ok, "%zu unusual or malformed bodies go to the full parser",
          sizeof(bodies) / sizeof(bodies[0]));
    CHECK(agree("{\"key\":\"k\",\"hashes\":[\"a\"]}\0", 28, 1000) == 0, "a NUL after the object");
    {
        static const char three[] = "{\"key\":\"k\",\"hashes\":[\"a\",\"b\",\"c\"]}";

        CHECK(agree(three, strlen(three), 2) == 0, "more hashes than max_hashes");
        CHECK(agree(three, strlen(three), 3) == 1, "max_hashes exactly");
    }
}

/* Every prefix and every one-byte change of a few bodies: the reader never disagrees. */
static void test_mutations(void)
{
    static const char *const seeds[] = {
        "{\"key\":\"t1-ec\",\"alg\":\"ecdsa-sha256\",\"hashes\":[\"AAAA\",\"BBBB\"],\"format\":"
        "\"der\"}",
        " { \"hashes\" : [ \"x\" ] , \"key\" : \"k\" } ",
    };
    static const char subst[] = "{}[]\",: \t\n\\a0\x01\x7f\xc3";
    int bad = 0, n = 0;

    for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
        char b[256];
        size_t len = strlen(seeds[si]);

        for (size_t cut = 0; cut <= len; cut++, n++)
            bad += agree(seeds[si], cut, 1000) < 0;
        for (size_t i = 0; i < len; i++)
            for (size_t k = 0; k < sizeof(subst) - 1; k++, n++) {
                memcpy(b, seeds[si], len);
                b[i] = subst[k];
                bad += agree(b, len, 1000) < 0;
            }
    }
    CHECK(bad == 0, "%d prefixes and one-byte changes: the fast reader agrees with jansson", n);
}

int main(void)
{
    test_accepts();
    test_refuses();
    test_mutations();
    return unit_done();
}
