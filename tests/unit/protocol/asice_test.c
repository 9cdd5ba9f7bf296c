/* ASiC-E containers: writer and strict reader (round trip, hostile zips: bombs, traversal,
 * duplicates, symlinks, unexpected META-INF files, trailing bytes), names, the manifest. */
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

#include "../../../protocol/asice.h"
#include "../testdata.h"
#include "../unit.h"

static const struct asice_limits lim = {16, 1 << 20, 2 << 20, 100, 0};

struct ent {
    const char *name;
    const void *data;
    size_t len;
    unsigned type; /* AE_IFREG, AE_IFLNK, AE_IFDIR */
    int deflate;
};

static la_ssize_t wr(struct archive *a, void *ctx, const void *p, size_t n)
{
    (void)a;
    return buf_append(ctx, p, n) == PS_OK ? (la_ssize_t)n : -1;
}

/* A zip made by libarchive directly, for what asice_write would never write. */
static void mkzip(const struct ent *e, size_t n, struct buf *out)
{
    struct archive *a = archive_write_new();

    buf_reset(out);
    archive_write_set_format_zip(a);
    archive_write_set_format_option(a, "zip", "zip64", NULL);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open2(a, out, NULL, wr, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();

        if (e[i].deflate)
            archive_write_zip_set_compression_deflate(a);
        else
            archive_write_zip_set_compression_store(a);
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_filetype(ae, e[i].type ? e[i].type : AE_IFREG);
        archive_entry_set_perm(ae, e[i].type == AE_IFDIR ? 0755 : 0644);
        if (e[i].type == AE_IFLNK)
            archive_entry_set_symlink(ae, "/etc/passwd");
        archive_entry_set_size(ae, e[i].type == AE_IFREG || !e[i].type ? (la_int64_t)e[i].len : 0);
        archive_entry_set_mtime(ae, 1700000000, 0);
        archive_write_header(a, ae);
        if ((e[i].type == AE_IFREG || !e[i].type) && e[i].len)
            archive_write_data(a, e[i].data, e[i].len);
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static int read_err(const struct buf *zip, const struct asice_limits *l, char *err, size_t el)
{
    struct asice a;
    int rc;

    err[0] = 0;
    rc = asice_read(zip->data, zip->len, l ? l : &lim, &a, err, el);
    if (rc == PS_OK)
        asice_free(&a);
    return rc;
}

static void test_round_trip(void)
{
    const struct asice_entry e[] = {{"a.txt", (const uint8_t *)"hello", 5},
                                    {"b.bin", (const uint8_t *)"\0\1\2", 3},
                                    {ASICE_MANIFEST, (const uint8_t *)"<x/>", 4}};
    struct buf zip, again;
    struct asice a;
    char err[200];

    buf_init(&zip, 1 << 20);
    buf_init(&again, 1 << 20);
    CHECK(asice_write(e, 3, 1700000000, &zip, err, sizeof(err)) == PS_OK, "written");
    CHECK(zip.len > 38 && memcmp(zip.data + 30, "mimetype", 8) == 0 && zip.data[8] == 0 &&
              zip.data[9] == 0,
          "mimetype is the first entry, stored");
    CHECK(asice_read(zip.data, zip.len, &lim, &a, err, sizeof(err)) == PS_OK && a.n == 3,
          "read back (%s)", err);
    if (a.n == 3) {
        CHECK(strcmp(a.files[0].name, "a.txt") == 0 && a.files[0].len == 5 &&
                  memcmp(a.files[0].data, "hello", 5) == 0 && !a.files[0].meta_inf,
              "a.txt");
        CHECK(a.files[1].len == 3 && a.files[2].meta_inf, "b.bin and the META-INF entry");
        CHECK(asice_find(&a, ASICE_MANIFEST) == &a.files[2] && asice_find(&a, "x") == NULL,
              "asice_find");
    }
    asice_free(&a);
    CHECK(asice_write(e, 3, 1700000000, &again, err, sizeof(err)) == PS_OK &&
              again.len == zip.len && memcmp(again.data, zip.data, zip.len) == 0,
          "the writer is deterministic");
    buf_free(&zip);
    buf_free(&again);
}

static void test_hostile(void)
{
    static uint8_t zeros[4 << 20];
    const char *mt = ASICE_MIMETYPE;
    size_t ml = strlen(ASICE_MIMETYPE);
    struct buf z;
    char err[300];
    struct asice_limits tight = lim;
    struct {
        const char *what;
        struct ent e[4];
        size_t n;
        int rc;
        const char *words;
    } cases[] = {
        {"zip bomb",
         {{"mimetype", mt, ml}, {"a.bin", zeros, 2 << 20, 0, 1}},
         2,
         PS_E_LIMIT,
         "larger than"},
        {"path traversal",
         {{"mimetype", mt, ml}, {"../evil", "x", 1}},
         2,
         PS_E_INVAL,
         "path separator"},
        {"absolute path",
         {{"mimetype", mt, ml}, {"/etc/x", "x", 1}},
         2,
         PS_E_INVAL,
         "path separator"},
        {"subfolder", {{"mimetype", mt, ml}, {"dir/x", "x", 1}}, 2, PS_E_INVAL, "path separator"},
        {"duplicate",
         {{"mimetype", mt, ml}, {"a", "x", 1}, {"a", "y", 1}},
         3,
         PS_E_INVAL,
         "duplicate entry a"},
        {"duplicate mimetype",
         {{"mimetype", mt, ml}, {"mimetype", mt, ml}},
         2,
         PS_E_INVAL,
         "reserved"},
        {"symlink",
         {{"mimetype", mt, ml}, {"link", "", 0, AE_IFLNK}},
         2,
         PS_E_INVAL,
         "symbolic links"},
        {"directory",
         {{"mimetype", mt, ml}, {"dir/", "", 0, AE_IFDIR}},
         2,
         PS_E_INVAL,
         "path separator"},
        {"unexpected META-INF file",
         {{"mimetype", mt, ml}, {"META-INF/manifest.xml", "x", 1}},
         2,
         PS_E_INVAL,
         "unexpected file META-INF/manifest.xml"},
        {"META-INF subfolder",
         {{"mimetype", mt, ml}, {"META-INF/x/../signature001.p7s", "x", 1}},
         2,
         PS_E_INVAL,
         "unexpected file"},
        {"mimetype not first",
         {{"a", "x", 1}, {"mimetype", mt, ml}},
         2,
         PS_E_INVAL,
         "not mimetype"},
        {"compressed mimetype", {{"mimetype", mt, ml, 0, 1}}, 1, PS_E_INVAL, "compressed"},
        {"wrong mimetype", {{"mimetype", "application/zip", 15}}, 1, PS_E_INVAL, "mimetype is not"},
    };

    buf_init(&z, 16 << 20);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mkzip(cases[i].e, cases[i].n, &z);
        CHECK(read_err(&z, NULL, err, sizeof(err)) == cases[i].rc && strstr(err, cases[i].words),
              "%s refused: %s", cases[i].what, err);
    }
    /* a bomb within the size limits is caught by the ratio */
    tight.max_entry = 8 << 20;
    tight.max_total = 8 << 20;
    mkzip((struct ent[]){{"mimetype", mt, ml}, {"a.bin", zeros, 4 << 20, 0, 1}}, 2, &z);
    CHECK(read_err(&z, &tight, err, sizeof(err)) == PS_E_LIMIT && strstr(err, "ratio"),
          "compression ratio: %s", err);
    /* a reasonable deflated entry from another tool is read */
    mkzip((struct ent[]){{"mimetype", mt, ml}, {"a.txt", "hello hello hello", 17, 0, 1}}, 2, &z);
    CHECK(read_err(&z, NULL, err, sizeof(err)) == PS_OK, "deflated entry read (%s)", err);
    /* the "META-INF/" folder entry is tolerated */
    mkzip((struct ent[]){{"mimetype", mt, ml}, {"META-INF/", "", 0, AE_IFDIR}}, 2, &z);
    CHECK(read_err(&z, NULL, err, sizeof(err)) == PS_OK, "META-INF/ directory entry (%s)", err);
    /* counts and totals */
    tight = lim;
    tight.max_entries = 2;
    mkzip((struct ent[]){{"mimetype", mt, ml}, {"a", "x", 1}, {"b", "x", 1}}, 3, &z);
    CHECK(read_err(&z, &tight, err, sizeof(err)) == PS_E_LIMIT && strstr(err, "more than 2"),
          "entry count: %s", err);
    tight = lim;
    tight.max_total = 40;
    mkzip((struct ent[]){{"mimetype", mt, ml}, {"a", "0123456789", 10}}, 2, &z);
    CHECK(read_err(&z, &tight, err, sizeof(err)) == PS_E_LIMIT && strstr(err, "in total"),
          "total size: %s", err);
    /* trailing bytes, prefix, truncation */
    mkzip((struct ent[]){{"mimetype", mt, ml}, {"a", "x", 1}}, 2, &z);
    if (buf_append(&z, "junk", 4) != PS_OK)
        abort();
    CHECK(read_err(&z, NULL, err, sizeof(err)) == PS_E_INVAL, "trailing bytes: %s", err);
    z.len -= 10;
    CHECK(read_err(&z, NULL, err, sizeof(err)) == PS_E_INVAL, "truncated: %s", err);
    z.len = 0;
    CHECK(read_err(&z, NULL, err, sizeof(err)) == PS_E_INVAL, "empty: %s", err);
    /* a declared size that lies: the data no longer fits its header */
    mkzip((struct ent[]){{"mimetype", mt, ml}, {"a", "hello", 5}}, 2, &z);
    for (size_t p = z.len - 22; p-- > 0;)
        if (memcmp(z.data + p, "PK\1\2", 4) == 0) {
            z.data[p + 24] = 200; /* uncompressed size in the directory */
            break;
        }
    CHECK(read_err(&z, NULL, err, sizeof(err)) == PS_E_INVAL, "size that lies: %s", err);
    buf_free(&z);
}

static void test_names(void)
{
    static const char *const bad[] = {
        "",     ".",     "..",       "a/b",      "a\\b",         "../x",
        "x..y", "a:b",   "mimetype", "META-INF", "meta-inf",     " a",
        "a ",   "a\x01", "a\x7f",    "\xc3\x28", "\xed\xa0\x80", "\xc2\x85"};
    char err[200], longname[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(asice_name_check(bad[i], err, sizeof(err)) == PS_E_INVAL, "name %zu refused: %s", i,
              err);
    memset(longname, 'a', 129);
    longname[129] = 0;
    CHECK(asice_name_check(longname, err, sizeof(err)) == PS_E_INVAL, "129 bytes: %s", err);
    longname[128] = 0;
    CHECK(asice_name_check(longname, err, sizeof(err)) == PS_OK, "128 bytes are fine");
    CHECK(asice_name_check("Rechnung 2026 (\xe5\x95\x86\xe6\xa0\x87).pdf", err, sizeof(err)) ==
              PS_OK,
          "UTF-8, spaces and parentheses are fine");
}

static void test_mime(void)
{
    char m[ASICE_MAX_MIME + 1];

    asice_mime_clean("Image/JPEG; q=1", m);
    CHECK(strcmp(m, "image/jpeg") == 0, "parameters dropped, lower case: %s", m);
    asice_mime_clean("text/html\"><x", m);
    CHECK(strcmp(m, "application/octet-stream") == 0, "markup refused: %s", m);
    asice_mime_clean("image/x&y", m);
    CHECK(strcmp(m, "application/octet-stream") == 0,
          "\"&\" refused (regression: it broke the manifest XML, found by multipart_fuzz)");
    asice_mime_clean("a/b/c", m);
    CHECK(strcmp(m, "application/octet-stream") == 0, "two slashes refused");
}

static void test_manifest(void)
{
    struct asice_ref refs[2];
    struct asice_manifest m;
    struct buf x;
    char err[300], *doc;

    memset(refs, 0, sizeof(refs));
    snprintf(refs[0].name, sizeof(refs[0].name), "metadata.json");
    snprintf(refs[0].mime, sizeof(refs[0].mime), "application/json");
    memset(refs[0].sha256, 0xab, 32);
    snprintf(refs[1].name, sizeof(refs[1].name), "photo 1 (\xe5\x95\x86).jpg");
    snprintf(refs[1].mime, sizeof(refs[1].mime), "image/jpeg");
    memset(refs[1].sha256, 0x01, 32);
    buf_init(&x, 1 << 16);
    CHECK(asice_manifest_write(refs, 2, &x) == PS_OK, "manifest written");
    CHECK(strstr((char *)x.data, "URI=\"photo%201%20%28%E5%95%86%29.jpg\"") != NULL,
          "names are percent-encoded in URIs");
    CHECK(asice_manifest_read(x.data, x.len, &m, err, sizeof(err)) == PS_OK && m.n == 2 &&
              strcmp(m.sigref, ASICE_SIGNATURE) == 0 && strcmp(m.refs[1].name, refs[1].name) == 0 &&
              memcmp(m.refs[0].sha256, refs[0].sha256, 32) == 0 &&
              strcmp(m.refs[1].mime, "image/jpeg") == 0,
          "read back (%s)", err);
    asice_manifest_free(&m);
    {
        static const struct {
            const char *what, *from, *to, *words;
        } cases[] = {
            {"DTD", "<asic:ASiCManifest", "<!DOCTYPE x [<!ENTITY e \"x\">]><asic:ASiCManifest",
             "DTD"},
            {"SHA-1", "xmlenc#sha256", "xmldsig#sha1", "not SHA-256"},
            {"short digest", "q6ur", "", "base64 of 32"},
            {"unknown element", "</asic:ASiCManifest>", "<asic:Extension/></asic:ASiCManifest>",
             "unexpected element"},
            {"unknown attribute", "MimeType=\"image/jpeg\"", "Foo=\"1\"", "unexpected attribute"},
            {"duplicate URI", "photo%201%20%28%E5%95%86%29.jpg", "metadata.json", "listed twice"},
            {"text", "</asic:ASiCManifest>", "hello</asic:ASiCManifest>", "unexpected text"},
            {"other namespace", "http://uri.etsi.org/02918/v1.2.1#", "urn:x", "root is not"},
            {"bad URI escape", "photo%201", "photo%2", "valid URI"},
            {"not XML", "</asic:ASiCManifest>", "", "not well-formed"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            doc = replace((char *)x.data, cases[i].from, cases[i].to);
            err[0] = 0;
            CHECK(asice_manifest_read((uint8_t *)doc, strlen(doc), &m, err, sizeof(err)) != PS_OK &&
                      strstr(err, cases[i].words) && m.refs == NULL,
                  "%s refused: %s", cases[i].what, err);
            free(doc);
        }
    }
    buf_free(&x);
}

int main(void)
{
    test_round_trip();
    test_hostile();
    test_names();
    test_mime();
    test_manifest();
    return unit_done();
}
