/*
 * metrics_doc_test.c - every metric name in the code is documented in docs/metrics.md, and every
 * name documented there is in the code.
 *
 * The code's names are the words portseal_[a-z0-9_]+ in the .c files of appliance/ and hsm/ (only
 * the metrics text uses that prefix there); a histogram's _bucket, _sum and _count series count as
 * its family name. The documented names are the `portseal_...` words in the first cell of the
 * table rows ("| `name` | type | ..."). tests/integration/metrics.sh checks the same against a
 * running appliance. Run from the repository root (tests/run does).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"

#define DOC       "docs/metrics.md"
#define MAX_NAMES 256
#define NAME_MAX_ 128

struct names {
    char v[MAX_NAMES][NAME_MAX_];
    char type[MAX_NAMES][16]; /* doc only: the type column */
    int n;
};

static int has(const struct names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return i;
    return -1;
}

static void add(struct names *s, const char *name, size_t len, const char *type)
{
    char tmp[NAME_MAX_];

    if (len >= sizeof(tmp) || s->n == MAX_NAMES)
        return;
    memcpy(tmp, name, len);
    tmp[len] = 0;
    if (has(s, tmp) >= 0)
        return;
    memcpy(s->v[s->n], tmp, len + 1);
    snprintf(s->type[s->n], sizeof(s->type[0]), "%s", type ? type : "");
    s->n++;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Every portseal_... word of the file at path. */
static void scan_file(const char *path, struct names *out)
{
    FILE *f = fopen(path, "r");
    char line[4096];

    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        for (char *p = line; (p = strstr(p, "portseal_")) != NULL;) {
            size_t n = 0;

            if (p > line && name_char(p[-1])) {
                p += 9;
                continue;
            }
            while (name_char(p[n]))
                n++;
            if (n > 9)
                add(out, p, n, NULL);
            p += n;
        }
    }
    fclose(f);
}

static int scan_dir(const char *dir, struct names *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[512];

        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        scan_file(path, out);
        files++;
    }
    closedir(d);
    return files;
}

/* The table rows: "| `portseal_x` | type | ...". */
static int read_doc(struct names *out)
{
    FILE *f = fopen(DOC, "r");
    char line[4096];

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        char *name, *end, *type, *tend;

        if (strncmp(line, "| `portseal_", 12) != 0)
            continue;
        name = line + 3;
        if ((end = strchr(name, '`')) == NULL || strncmp(end, "` | ", 4) != 0)
            continue;
        type = end + 4;
        if ((tend = strchr(type, ' ')) == NULL)
            continue;
        *tend = 0;
        add(out, name, (size_t)(end - name), type);
    }
    fclose(f);
    return 0;
}

/* The family a series name belongs to: a documented histogram's _bucket/_sum/_count. */
static int documented(const struct names *doc, const char *name)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t n = strlen(name);
    int i;

    if (has(doc, name) >= 0)
        return 1;
    for (size_t k = 0; k < 3; k++) {
        size_t sl = strlen(sfx[k]);
        char base[NAME_MAX_];

        if (n <= sl || strcmp(name + n - sl, sfx[k]) != 0 || n - sl >= sizeof(base))
            continue;
        memcpy(base, name, n - sl);
        base[n - sl] = 0;
        if ((i = has(doc, base)) >= 0 && strcmp(doc->type[i], "histogram") == 0)
            return 1;
    }
    return 0;
}

static void test_names(void)
{
    static struct names code, doc;
    int files;

    if (read_doc(&doc) != 0) {
        printf("ok - # skip %s not found in the current directory (run from the repo root)\n", DOC);
        return;
    }
    files = scan_dir("appliance", &code) + scan_dir("hsm", &code);
    CHECK(files > 0 && code.n > 10, "the code (%d files) has %d metric names", files, code.n);
    CHECK(doc.n > 10, "%s documents %d metrics", DOC, doc.n);
    for (int i = 0; i < code.n; i++)
        CHECK(documented(&doc, code.v[i]), "%s is documented in %s", code.v[i], DOC);
    for (int i = 0; i < doc.n; i++) {
        const char *t = doc.type[i];
        size_t n = strlen(doc.v[i]);
        int counter = n > 6 && strcmp(doc.v[i] + n - 6, "_total") == 0;

        CHECK(has(&code, doc.v[i]) >= 0, "documented %s is in the code", doc.v[i]);
        CHECK(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 || strcmp(t, "histogram") == 0,
              "%s: type '%s' is counter, gauge or histogram", doc.v[i], t);
        CHECK(counter == (strcmp(t, "counter") == 0), "%s: _total if and only if a counter",
              doc.v[i]);
    }
}

/* The checker's own rules. */
static void test_rules(void)
{
    static struct names doc;

    add(&doc, "portseal_h_seconds", 18, "histogram");
    add(&doc, "portseal_g", 10, "gauge");
    CHECK(documented(&doc, "portseal_h_seconds_bucket") && documented(&doc, "portseal_h_seconds"),
          "a histogram's series are documented by its family");
    CHECK(!documented(&doc, "portseal_g_sum") && !documented(&doc, "portseal_x"),
          "a gauge has no _sum; unknown names are not documented");
}

int main(void)
{
    test_rules();
    test_names();
    return unit_done();
}
