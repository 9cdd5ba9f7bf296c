/*
 * log_test.c - appliance/log.c: text lines by default; with log_set_json(1) (log_format json)
 * every line is one JSON object {"ts","level","proc","pid","func","msg"[,"error"]} that a JSON
 * parser reads back to the same text, whatever bytes the message holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../../appliance/log.h"
#include "../unit.h"

static char lines[64][8192];
static int nlines;

/* Run fn with stderr going to a temporary file; its lines into lines[]. */
static void capture(void (*fn)(void))
{
    FILE *tmp = tmpfile();
    int saved = dup(2);

    nlines = 0;
    if (tmp == NULL || saved < 0)
        return;
    fflush(stderr);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    while (nlines < 64 && fgets(lines[nlines], sizeof(lines[0]), tmp))
        nlines++;
    fclose(tmp);
}

static void text_lines(void)
{
    log_set_json(0);
    log_info("plain %d", 42);
}

static void json_lines(void)
{
    char bad[] = {'b',        'y',        't',        'e', 's',
                  ' ',        (char)0xff, (char)0xc3, '(', ' ',
                  (char)0xed, (char)0xa0, (char)0x80, ' ', (char)0xf4,
                  (char)0x90, (char)0x80, (char)0x80, 0};
    char big[2000];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    log_set_json(1);
    log_info("quote \" backslash \\ newline\n tab\t bell\a del\x7f end");
    log_warnx("%s", bad);
    log_info("utf-8 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x94\x92 ok");
    errno = ENOENT;
    log_warn("open %s", "/nonexistent");
    log_info("%s", big);
    log_set_json(0);
}

static json_t *line_json(int i)
{
    json_error_t e;
    size_t n = strlen(lines[i]);

    if (n == 0 || lines[i][n - 1] != '\n')
        return NULL;
    return json_loadb(lines[i], n - 1, 0, &e);
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "";
}

static void test_text(void)
{
    capture(text_lines);
    CHECK(nlines == 1 && strstr(lines[0], "Z log_test[") != NULL &&
              strstr(lines[0], "] info text_lines: plain 42\n") != NULL,
          "text: time, process[pid], level, function: message");
}

static void test_json(void)
{
    json_t *o[5] = {NULL};
    int all = 1;

    capture(json_lines);
    CHECK(nlines == 5, "json: one line per message (%d)", nlines);
    for (int i = 0; i < nlines && i < 5; i++) {
        o[i] = line_json(i);
        all &= o[i] != NULL;
    }
    CHECK(all, "json: every line is one JSON object");
    if (!all || nlines != 5)
        goto out;
    CHECK(
        strlen(str(o[0], "ts")) == 24 && str(o[0], "ts")[23] == 'Z' &&
            strcmp(str(o[0], "level"), "info") == 0 && strcmp(str(o[0], "proc"), "log_test") == 0 &&
            json_integer_value(json_object_get(o[0], "pid")) == getpid() &&
            strcmp(str(o[0], "func"), "json_lines") == 0 && json_object_get(o[0], "error") == NULL,
        "json: ts (UTC, ms), level, proc, pid, func");
    CHECK(strcmp(str(o[0], "msg"), "quote \" backslash \\ newline\n tab\t bell\a del\x7f end") == 0,
          "json: quotes, backslashes and control characters come back as they were");
    CHECK(strcmp(str(o[1], "level"), "warn") == 0 &&
              strcmp(str(o[1], "msg"), "bytes \xef\xbf\xbd\xef\xbf\xbd( \xef\xbf\xbd\xef\xbf\xbd"
                                       "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                       "\xef\xbf\xbd") == 0,
          "json: bytes that are not UTF-8 (stray, truncated, surrogates, > U+10FFFF) are U+FFFD: "
          "%s",
          str(o[1], "msg"));
    CHECK(strcmp(str(o[2], "msg"), "utf-8 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x94\x92 ok") == 0,
          "json: UTF-8 is kept as it is");
    CHECK(strcmp(str(o[3], "msg"), "open /nonexistent") == 0 &&
              strcmp(str(o[3], "error"), strerror(ENOENT)) == 0,
          "json: log_warn puts strerror(errno) in \"error\"");
    CHECK(strlen(str(o[4], "msg")) == 1023, "json: a long message is cut as in text (1023 bytes)");
out:
    for (int i = 0; i < 5; i++)
        json_decref(o[i]);
}

int main(void)
{
    log_init("log_test", 0);
    test_text();
    test_json();
    return unit_done();
}
