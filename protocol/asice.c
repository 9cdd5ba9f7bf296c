/* asice.c - ASiC-E zip writer and strict reader, ASiCManifest writer and reader; see asice.h. */
#include "asice.h"
#include "b64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sodium.h>
#include <zlib.h>

#include "strnum.h"

/* ---- names ---- */

/* Length of the UTF-8 sequence at s (well-formed, shortest form, no surrogates), 0 if bad. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0], n, cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (unsigned i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return n;
}

int asice_name_check(const char *name, char *err, size_t errlen)
{
    size_t len = strlen(name);

    if (len == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "empty file name");
    if (len > ASICE_MAX_NAME)
        return ps_errf(PS_E_INVAL, err, errlen, "file name longer than %d bytes", ASICE_MAX_NAME);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len((const unsigned char *)name + i);

        if (n == 0)
            return ps_errf(PS_E_INVAL, err, errlen,
                           "file name is not valid UTF-8 or has a control character");
        if (n == 1 && ((unsigned char)name[i] < 0x20 || name[i] == 0x7f))
            return ps_errf(PS_E_INVAL, err, errlen, "file name has a control character");
        if (n == 1 && strchr("/\\:*?\"<>|", name[i]))
            return ps_errf(PS_E_INVAL, err, errlen,
                           "file name \"%s\" has a path separator or one "
                           "of \\ : * ? \" < > |",
                           name);
        i += n;
    }
    if (strstr(name, ".."))
        return ps_errf(PS_E_INVAL, err, errlen, "file name \"%s\" contains \"..\"", name);
    if (strcmp(name, ".") == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "file name \".\" is not allowed");
    if (name[0] == ' ' || name[len - 1] == ' ')
        return ps_errf(PS_E_INVAL, err, errlen, "file name \"%s\" starts or ends with a space",
                       name);
    if (strcmp(name, "mimetype") == 0 || strcasecmp(name, "META-INF") == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "file name \"%s\" is reserved", name);
    return PS_OK;
}

static int is_mime_char(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$-^_.+", c) != NULL); /* RFC 6838 but "&" (XML) */
}

void asice_mime_clean(const char *in, char out[ASICE_MAX_MIME + 1])
{
    size_t i = 0, slash = 0;

    for (; in[i] && in[i] != ';' && in[i] != ' '; i++) {
        if (i >= ASICE_MAX_MIME || (in[i] == '/' ? slash++ > 0 : !is_mime_char(in[i])))
            goto dflt;
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    }
    out[i] = 0;
    if (slash == 1 && out[0] != '/' && out[i - 1] != '/')
        return;
dflt:
    snprintf(out, ASICE_MAX_MIME + 1, "application/octet-stream");
}

/* ---- writer ---- */

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
    if (buf_append(ctx, p, n) != PS_OK) {
        archive_set_error(a, 12, "archive larger than its limit");
        return -1;
    }
    return (la_ssize_t)n;
}

static int add_entry(struct archive *a, const char *name, const uint8_t *data, size_t len,
                     int64_t mtime)
{
    struct archive_entry *e = archive_entry_new();
    int ok;

    if (e == NULL)
        return 0;
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_mtime(e, (time_t)mtime, 0);
    ok = archive_write_header(a, e) == ARCHIVE_OK &&
         (len == 0 || archive_write_data(a, data, len) == (la_ssize_t)len) &&
         archive_write_finish_entry(a) == ARCHIVE_OK;
    archive_entry_free(e);
    return ok;
}

int asice_write(const struct asice_entry *e, size_t n, int64_t mtime, struct buf *out, char *err,
                size_t errlen)
{
    struct archive *a = archive_write_new();
    int rc = PS_E_INVAL;

    buf_reset(out);
    if (a == NULL)
        return ps_errf(PS_E_NOMEM, err, errlen, "out of memory");
    if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
        archive_write_set_format_option(a, "zip", "compression", "store") != ARCHIVE_OK ||
        archive_write_set_format_option(a, "zip", "zip64", NULL) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open2(a, out, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
        ps_errf(0, err, errlen, "cannot start the zip: %s", archive_error_string(a));
        goto out;
    }
    if (!add_entry(a, "mimetype", (const uint8_t *)ASICE_MIMETYPE, strlen(ASICE_MIMETYPE), mtime)) {
        ps_errf(0, err, errlen, "cannot write mimetype: %s", archive_error_string(a));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!add_entry(a, e[i].name, e[i].data, e[i].len, mtime)) {
            rc = out->len + e[i].len > out->max ? PS_E_LIMIT : PS_E_INVAL;
            ps_errf(0, err, errlen, "cannot write %s: %s", e[i].name, archive_error_string(a));
            goto out;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        ps_errf(0, err, errlen, "cannot finish the zip: %s", archive_error_string(a));
        goto out;
    }
    rc = PS_OK;
out:
    archive_write_free(a);
    if (rc != PS_OK)
        buf_reset(out);
    return rc;
}

/* ---- reader ---- */

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END     0x06054b50u
#define SIG_DESC    0x08074b50u

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct zent {
    uint16_t made_by, needed, flags, method, time, date, nlen, xlen, iattr;
    uint32_t crc, csize, usize, eattr, offset;
    const uint8_t *name, *extra;
};

static void parse_central(const uint8_t *p, struct zent *z)
{
    z->made_by = rd16(p + 4);
    z->needed = rd16(p + 6);
    z->flags = rd16(p + 8);
    z->method = rd16(p + 10);
    z->time = rd16(p + 12);
    z->date = rd16(p + 14);
    z->crc = rd32(p + 16);
    z->csize = rd32(p + 20);
    z->usize = rd32(p + 24);
    z->nlen = rd16(p + 28);
    z->xlen = rd16(p + 30);
    z->iattr = rd16(p + 36);
    z->eattr = rd32(p + 38);
    z->offset = rd32(p + 42);
    z->name = p + 46;
    z->extra = p + 46 + z->nlen;
}

/* Only "UT" (0x5455) and "ux" (0x7875), well-formed. */
static int extra_ok(const uint8_t *x, size_t len)
{
    while (len > 0) {
        uint16_t id, n;

        if (len < 4)
            return 0;
        id = rd16(x);
        n = rd16(x + 2);
        if ((id != 0x5455 && id != 0x7875) || n > len - 4)
            return 0;
        x += 4 + n;
        len -= 4 + (size_t)n;
    }
    return 1;
}

static int meta_inf_known(const char *name)
{
    return strcmp(name, ASICE_MANIFEST) == 0 || strcmp(name, ASICE_SIGNATURE) == 0 ||
           strcmp(name, ASICE_TIMESTAMP) == 0 || strcmp(name, ASICE_LEDGER_PROOF) == 0;
}

/* Entry i's name: NUL-terminated copy, checked for its place. 1: a directory to skip. */
static int entry_name(const struct zent *z, size_t i, char *name, char *err, size_t errlen)
{
    char why[160];

    if (z->nlen == 0 || z->nlen > ASICE_MAX_PATH || memchr(z->name, 0, z->nlen))
        return ps_errf(-1, err, errlen, "entry %zu: empty, overlong or NUL in its name", i + 1);
    memcpy(name, z->name, z->nlen);
    name[z->nlen] = 0;
    if (i == 0)
        return strcmp(name, "mimetype") == 0
                   ? 0
                   : ps_errf(-1, err, errlen, "the first entry is \"%.64s\", not mimetype", name);
    if (strcmp(name, "META-INF/") == 0)
        return 1;
    if (strncmp(name, "META-INF/", 9) == 0) {
        if (!meta_inf_known(name))
            return ps_errf(-1, err, errlen, "unexpected file %s", name);
        return 0;
    }
    if (asice_name_check(name, why, sizeof(why)) != PS_OK)
        return ps_errf(-1, err, errlen, "entry %zu: %s", i + 1, why);
    return 0;
}

static int inflate_entry(const uint8_t *src, size_t clen, uint8_t *dst, size_t ulen)
{
    z_stream zs;
    int zr;

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -15) != Z_OK)
        return -1;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)clen;
    zs.next_out = dst;
    zs.avail_out = (uInt)ulen + 1; /* one spare byte catches an entry longer than declared */
    zr = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    return zr == Z_STREAM_END && zs.avail_in == 0 && zs.total_out == ulen ? 0 : -1;
}

/* Check local header, data and descriptor of entry i at *pos against z; fill f. */
static int read_entry(const uint8_t *zip, size_t end, size_t *pos, const struct zent *z, size_t i,
                      const char *name, struct asice_file *f, int keep_bad_crc, char *err,
                      size_t errlen)
{
    const uint8_t *l = zip + *pos;
    size_t p = *pos, data;
    int desc = (z->flags & 8) != 0;

    if (z->offset != p)
        return ps_errf(-1, err, errlen,
                       "entry %zu (%s): local header is not where the directory "
                       "says (gap or overlap)",
                       i + 1, name);
    if (end - p < 30 || rd32(l) != SIG_LOCAL)
        return ps_errf(-1, err, errlen, "entry %zu (%s): bad local header", i + 1, name);
    if (rd16(l + 4) != z->needed || rd16(l + 6) != z->flags || rd16(l + 8) != z->method ||
        rd16(l + 10) != z->time || rd16(l + 12) != z->date || rd16(l + 26) != z->nlen ||
        rd16(l + 28) != z->xlen)
        return ps_errf(-1, err, errlen,
                       "entry %zu (%s): local header differs from the central directory", i + 1,
                       name);
    if ((rd32(l + 14) != z->crc && !(desc && rd32(l + 14) == 0)) ||
        (rd32(l + 18) != z->csize && !(desc && rd32(l + 18) == 0)) ||
        (rd32(l + 22) != z->usize && !(desc && rd32(l + 22) == 0)))
        return ps_errf(-1, err, errlen, "entry %zu (%s): local CRC or sizes differ", i + 1, name);
    data = p + 30 + z->nlen + z->xlen;
    if (data > end || memcmp(l + 30, z->name, z->nlen) != 0 ||
        memcmp(l + 30 + z->nlen, z->extra, z->xlen) != 0)
        return ps_errf(-1, err, errlen,
                       "entry %zu (%s): local name or extra field differs from the directory",
                       i + 1, name);
    if (z->csize > end - data)
        return ps_errf(-1, err, errlen, "entry %zu (%s): data runs past the end", i + 1, name);
    if ((f->data = malloc((size_t)z->usize + 1)) == NULL)
        return ps_errf(-1, err, errlen, "out of memory");
    f->len = z->usize;
    if (z->method == 0) {
        memcpy(f->data, zip + data, z->usize);
    } else if (inflate_entry(zip + data, z->csize, f->data, z->usize) != 0) {
        return ps_errf(-1, err, errlen,
                       "entry %zu (%s): deflate data is corrupt or not of the declared size", i + 1,
                       name);
    }
    f->data[f->len] = 0;
    f->crc_bad = crc32(crc32(0, NULL, 0), f->data, (uInt)f->len) != z->crc;
    if (f->crc_bad && (!keep_bad_crc || i == 0))
        return ps_errf(-1, err, errlen, "entry %zu (%s): CRC mismatch", i + 1, name);
    p = data + z->csize;
    if (desc) {
        if (end - p >= 4 && rd32(zip + p) == SIG_DESC)
            p += 4;
        if (end - p < 12 || rd32(zip + p) != z->crc || rd32(zip + p + 4) != z->csize ||
            rd32(zip + p + 8) != z->usize)
            return ps_errf(-1, err, errlen,
                           "entry %zu (%s): data descriptor differs from the directory", i + 1,
                           name);
        p += 12;
    }
    *pos = p;
    return 0;
}

/* The fields the central directory alone holds must be canonical. */
static int central_ok(const struct zent *z, size_t i, const char *name, int dir, char *err,
                      size_t errlen)
{
    unsigned mode = z->eattr >> 16;

    if (z->flags & 0x41)
        return ps_errf(-1, err, errlen, "entry %zu (%s): encrypted", i + 1, name);
    if (z->method != 0 && z->method != 8)
        return ps_errf(-1, err, errlen, "entry %zu (%s): compression method %u is not supported",
                       i + 1, name, z->method);
    if (z->csize == 0xffffffffu || z->usize == 0xffffffffu || z->offset == 0xffffffffu)
        return ps_errf(-1, err, errlen, "entry %zu (%s): zip64 is not supported", i + 1, name);
    if ((z->flags & ~(z->method == 8 ? 0x080eu : 0x0808u)) != 0 || z->needed > 20 ||
        z->made_by >> 8 != 3 || (z->made_by & 0xff) != (z->needed & 0xff) || z->iattr != 0 ||
        (z->eattr & 0xffff) != 0)
        return ps_errf(-1, err, errlen, "entry %zu (%s): non-canonical zip header fields", i + 1,
                       name);
    if (z->method == 0 && z->csize != z->usize)
        return ps_errf(-1, err, errlen, "entry %zu (%s): stored sizes differ", i + 1, name);
    if (S_ISLNK(mode))
        return ps_errf(-1, err, errlen, "entry %zu (%s): symbolic links are not allowed", i + 1,
                       name);
    if (dir ? (!S_ISDIR(mode) || z->usize != 0) : mode != (S_IFREG | 0644))
        return ps_errf(-1, err, errlen, "entry %zu (%s): not a regular file with mode 0644", i + 1,
                       name);
    if (!extra_ok(z->extra, z->xlen))
        return ps_errf(-1, err, errlen, "entry %zu (%s): unexpected extra field", i + 1, name);
    return 0;
}

static int limits_ok(const struct zent *z, size_t i, const char *name, size_t *total,
                     const struct asice_limits *lim, char *err, size_t errlen)
{
    if (z->usize > lim->max_entry)
        return ps_errf(-1, err, errlen, "entry %zu (%s): larger than %zu bytes", i + 1, name,
                       lim->max_entry);
    if (z->usize > lim->max_total - *total)
        return ps_errf(-1, err, errlen, "the files are larger than %zu bytes in total",
                       lim->max_total);
    if (z->method == 8 && z->usize > 65536 &&
        z->usize / (z->csize ? z->csize : 1) >= lim->max_ratio)
        return ps_errf(-1, err, errlen, "entry %zu (%s): compression ratio over %u (zip bomb?)",
                       i + 1, name, lim->max_ratio);
    *total += z->usize;
    return 0;
}

static int check_mimetype(const struct zent *z, const struct asice_file *f, char *err,
                          size_t errlen)
{
    if (z->method != 0)
        return ps_errf(-1, err, errlen, "mimetype is compressed (it must be stored)");
    if (f->len != strlen(ASICE_MIMETYPE) || memcmp(f->data, ASICE_MIMETYPE, f->len) != 0)
        return ps_errf(-1, err, errlen, "mimetype is not %s", ASICE_MIMETYPE);
    return 0;
}

int asice_read(const uint8_t *zip, size_t len, const struct asice_limits *lim, struct asice *out,
               char *err, size_t errlen)
{
    const uint8_t *e;
    size_t count, cd_off, cd_size, pos, total = 0;
    struct zent *z = NULL;
    int rc = PS_E_INVAL;

    out->files = NULL;
    out->n = 0;
    if (len < 22 || rd32(zip + len - 22) != SIG_END)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "not a zip: no end-of-directory record at the end (trailing bytes, a "
                       "comment or truncation?)");
    e = zip + len - 22;
    count = rd16(e + 10);
    cd_size = rd32(e + 12);
    cd_off = rd32(e + 16);
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != count || rd16(e + 20) != 0 ||
        cd_off > len - 22 || cd_size != len - 22 - cd_off)
        return ps_errf(PS_E_INVAL, err, errlen, "zip end record is inconsistent");
    if (count == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "the zip is empty");
    if (count > lim->max_entries)
        return ps_errf(PS_E_LIMIT, err, errlen, "more than %zu entries", lim->max_entries);
    if ((z = calloc(count, sizeof(*z))) == NULL ||
        (out->files = calloc(count, sizeof(*out->files))) == NULL) {
        rc = ps_errf(PS_E_NOMEM, err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0, p = cd_off; i < count; i++) {
        if (len - 22 - p < 46 || rd32(zip + p) != SIG_CENTRAL) {
            ps_errf(0, err, errlen, "central directory entry %zu is malformed", i + 1);
            goto out;
        }
        parse_central(zip + p, &z[i]);
        if (rd16(zip + p + 32) != 0 || rd16(zip + p + 34) != 0 ||
            (size_t)46 + z[i].nlen + z[i].xlen > len - 22 - p) {
            ps_errf(0, err, errlen, "central directory entry %zu is malformed", i + 1);
            goto out;
        }
        p += 46 + (size_t)z[i].nlen + z[i].xlen;
        if (i + 1 == count && p != len - 22) {
            ps_errf(0, err, errlen, "bytes after the central directory");
            goto out;
        }
    }
    pos = 0;
    for (size_t i = 0; i < count; i++) {
        struct asice_file *f = &out->files[out->n];
        int dir = entry_name(&z[i], i, f->name, err, errlen);

        if (dir < 0 || central_ok(&z[i], i, f->name, dir, err, errlen) != 0)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (z[j].nlen == z[i].nlen && memcmp(z[j].name, z[i].name, z[i].nlen) == 0) {
                ps_errf(0, err, errlen, "duplicate entry %s", f->name);
                goto out;
            }
        if (limits_ok(&z[i], i, f->name, &total, lim, err, errlen) != 0) {
            rc = PS_E_LIMIT;
            goto out;
        }
        if (read_entry(zip, cd_off, &pos, &z[i], i, f->name, f, lim->keep_bad_crc, err, errlen) !=
            0)
            goto out;
        if (i == 0) {
            if (check_mimetype(&z[i], f, err, errlen) != 0)
                goto out;
            free(f->data);
            f->data = NULL;
        } else if (!dir) {
            f->meta_inf = strncmp(f->name, "META-INF/", 9) == 0;
            out->n++;
        } else {
            free(f->data);
            f->data = NULL;
        }
    }
    if (pos != cd_off) {
        ps_errf(0, err, errlen, "bytes between the last entry and the central directory");
        goto out;
    }
    rc = PS_OK;
out:
    free(z);
    if (rc != PS_OK)
        asice_free(out);
    return rc;
}

const struct asice_file *asice_find(const struct asice *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->files[i].name, name) == 0)
            return &a->files[i];
    return NULL;
}

void asice_free(struct asice *a)
{
    /* files has one slot more than n is ever counted to (the mimetype is not listed); slot n
     * may hold the data of an entry that failed */
    if (a->files) {
        for (size_t i = 0; i <= a->n; i++)
            free(a->files[i].data);
        free(a->files);
    }
    a->files = NULL;
    a->n = 0;
}

/* ---- manifest ---- */

#define NS_ASIC "http://uri.etsi.org/02918/v1.2.1#"
#define NS_DS   "http://www.w3.org/2000/09/xmldsig#"

/* A name as a URI: RFC 3986 unreserved characters as they are, every other byte %XX. The
 * result has no XML special characters. */
static int put_uri(struct buf *out, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        int rc = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                         strchr("-._~/", *p)
                     ? buf_append(out, p, 1)
                     : buf_printf(out, "%%%02X", *p);

        if (rc != PS_OK)
            return rc;
    }
    return PS_OK;
}

int asice_manifest_write(const struct asice_ref *refs, size_t n, struct buf *out)
{
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    int rc;

    buf_reset(out);
    rc = buf_append_str(out,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                        "<asic:ASiCManifest xmlns:asic=\"" NS_ASIC "\" xmlns:ds=\"" NS_DS "\">\n"
                        "  <asic:SigReference URI=\"" ASICE_SIGNATURE
                        "\" MimeType=\"application/pkcs7-signature\"/>\n");
    for (size_t i = 0; rc == PS_OK && i < n; i++) {
        char mime[ASICE_MAX_MIME + 1];

        asice_mime_clean(refs[i].mime[0] ? refs[i].mime : "application/octet-stream", mime);
        sodium_bin2base64(b64, sizeof(b64), refs[i].sha256, 32, sodium_base64_VARIANT_ORIGINAL);
        if ((rc = buf_append_str(out, "  <asic:DataObjectReference URI=\"")) != PS_OK ||
            (rc = put_uri(out, refs[i].name)) != PS_OK)
            break;
        rc = buf_printf(out,
                        "\" MimeType=\"%s\">\n"
                        "    <ds:DigestMethod Algorithm=\"" ASICE_DIGEST_SHA256 "\"/>\n"
                        "    <ds:DigestValue>%s</ds:DigestValue>\n"
                        "  </asic:DataObjectReference>\n",
                        mime, b64);
    }
    if (rc == PS_OK)
        rc = buf_append_str(out, "</asic:ASiCManifest>\n");
    if (rc != PS_OK)
        buf_reset(out);
    return rc;
}

/* Percent-decode a relative URI into out (ASICE_MAX_PATH + 1); -1 if malformed or too long. */
static int uri_decode(const char *uri, char *out)
{
    size_t n = 0;

    for (const char *p = uri; *p; p++) {
        int c = (unsigned char)*p;

        if (c == '%') {
            int h = strnum_hexval(p[1]), l = h < 0 ? -1 : strnum_hexval(p[2]);

            if (l < 0)
                return -1;
            c = h << 4 | l;
            p += 2;
        } else if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}#?", c)) {
            return -1;
        }
        if (c == 0 || n == ASICE_MAX_PATH)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = 0;
    return n ? 0 : -1;
}

static int is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, name) == 0;
}

/* Element children only: white-space text is skipped, anything else is refused. */
static int next_el(xmlNode **pn, char *err, size_t errlen)
{
    xmlNode *n = *pn;

    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            break;
        if (n->type == XML_TEXT_NODE && n->content &&
            strspn((const char *)n->content, " \t\r\n") == strlen((const char *)n->content))
            continue;
        return ps_errf(-1, err, errlen, "manifest: unexpected text, comment or instruction");
    }
    *pn = n;
    return 0;
}

/* The attributes of n must be among allowed (no namespace); values into vals (or NULL). */
static int attrs(const xmlNode *n, const char *const *allowed, size_t na, char **vals, size_t vlen,
                 char *err, size_t errlen)
{
    for (size_t i = 0; i < na; i++)
        vals[i] = NULL;
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        size_t i;

        for (i = 0; i < na; i++)
            if (a->ns == NULL && strcmp((const char *)a->name, allowed[i]) == 0)
                break;
        if (i == na)
            return ps_errf(-1, err, errlen, "manifest: unexpected attribute %s on %s",
                           (const char *)a->name, (const char *)n->name);
        vals[i] = (char *)xmlNodeGetContent((const xmlNode *)a);
        if (vals[i] == NULL || strlen(vals[i]) > vlen)
            return ps_errf(-1, err, errlen, "manifest: attribute %s too long", allowed[i]);
    }
    return 0;
}

static void free_vals(char **vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xmlFree(vals[i]);
}

static int read_sigref(xmlNode *n, struct asice_manifest *m, char *err, size_t errlen)
{
    static const char *const names[] = {"URI", "MimeType"};
    char *v[2];
    int rc = -1;

    if (attrs(n, names, 2, v, ASICE_MAX_PATH * 3, err, errlen) != 0)
        goto out;
    if (v[0] == NULL || uri_decode(v[0], m->sigref) != 0) {
        ps_errf(0, err, errlen, "manifest: SigReference needs a valid URI");
        goto out;
    }
    if (v[1] && strlen(v[1]) <= ASICE_MAX_MIME)
        memcpy(m->sigref_mime, v[1], strlen(v[1]) + 1);
    if (n->children && (next_el(&n->children, err, errlen) != 0 || n->children)) {
        ps_errf(0, err, errlen, "manifest: SigReference must be empty");
        goto out;
    }
    rc = 0;
out:
    free_vals(v, 2);
    return rc;
}

static int read_digest(xmlNode *c, struct asice_ref *r, char *err, size_t errlen)
{
    static const char *const alg[] = {"Algorithm"};
    char *v[1];
    xmlChar *text = NULL;
    size_t bl;
    int rc = -1;

    if (next_el(&c, err, errlen) != 0 || c == NULL || !is_el(c, NS_DS, "DigestMethod"))
        return ps_errf(-1, err, errlen, "manifest: %s: DigestMethod expected", r->name);
    if (attrs(c, alg, 1, v, 256, err, errlen) != 0)
        goto out;
    if (v[0] == NULL || strcmp(v[0], ASICE_DIGEST_SHA256) != 0) {
        ps_errf(0, err, errlen, "manifest: %s: digest method is not SHA-256", r->name);
        goto out;
    }
    if (c->children || c->properties->next) {
        ps_errf(0, err, errlen, "manifest: %s: DigestMethod must be empty", r->name);
        goto out;
    }
    c = c->next;
    if (next_el(&c, err, errlen) != 0 || c == NULL || !is_el(c, NS_DS, "DigestValue") ||
        c->properties) {
        ps_errf(0, err, errlen, "manifest: %s: DigestValue expected", r->name);
        goto out;
    }
    if (c->children && (c->children->type != XML_TEXT_NODE || c->children->next)) {
        ps_errf(0, err, errlen, "manifest: %s: DigestValue must be text", r->name);
        goto out;
    }
    text = xmlNodeGetContent(c);
    if (text == NULL ||
        b64_decode(r->sha256, 32, (const char *)text, strlen((const char *)text), &bl) != PS_OK ||
        bl != 32) {
        ps_errf(0, err, errlen, "manifest: %s: DigestValue is not base64 of 32 bytes", r->name);
        goto out;
    }
    c = c->next;
    if (next_el(&c, err, errlen) != 0 || c) {
        ps_errf(0, err, errlen, "manifest: %s: unexpected element after DigestValue", r->name);
        goto out;
    }
    rc = 0;
out:
    xmlFree(text);
    free_vals(v, 1);
    return rc;
}

static int read_ref(xmlNode *n, struct asice_manifest *m, char *err, size_t errlen)
{
    static const char *const names[] = {"URI", "MimeType"};
    struct asice_ref *r = &m->refs[m->n];
    char *v[2];
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (attrs(n, names, 2, v, ASICE_MAX_PATH * 3, err, errlen) != 0)
        goto out;
    if (v[0] == NULL || uri_decode(v[0], r->name) != 0) {
        ps_errf(0, err, errlen, "manifest: DataObjectReference %zu needs a valid URI", m->n + 1);
        goto out;
    }
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->refs[i].name, r->name) == 0) {
            ps_errf(0, err, errlen, "manifest: %s is listed twice", r->name);
            goto out;
        }
    if (v[1]) {
        if (strlen(v[1]) > ASICE_MAX_MIME) {
            ps_errf(0, err, errlen, "manifest: %s: MimeType too long", r->name);
            goto out;
        }
        memcpy(r->mime, v[1], strlen(v[1]) + 1);
    }
    if (read_digest(n->children, r, err, errlen) != 0)
        goto out;
    m->n++;
    rc = 0;
out:
    free_vals(v, 2);
    return rc;
}

int asice_manifest_read(const uint8_t *xml, size_t len, struct asice_manifest *m, char *err,
                        size_t errlen)
{
    xmlDoc *doc = NULL;
    xmlNode *root, *n;
    int rc = PS_E_INVAL, have_sig = 0;

    memset(m, 0, sizeof(*m));
    if (len == 0 || len > (1u << 20))
        return ps_errf(PS_E_INVAL, err, errlen, "manifest: empty or larger than 1 MiB");
    doc = xmlReadMemory((const char *)xml, (int)len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        ps_errf(0, err, errlen, "manifest: not well-formed XML");
        goto out;
    }
    if (doc->intSubset || doc->extSubset) {
        ps_errf(0, err, errlen, "manifest: a DTD is not allowed");
        goto out;
    }
    if (doc->encoding && strcasecmp((const char *)doc->encoding, "UTF-8") != 0) {
        ps_errf(0, err, errlen, "manifest: encoding must be UTF-8");
        goto out;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_el(root, NS_ASIC, "ASiCManifest") || root->properties) {
        ps_errf(0, err, errlen, "manifest: the root is not asic:ASiCManifest");
        goto out;
    }
    if ((m->refs = calloc(ASICE_MAX_REFS, sizeof(*m->refs))) == NULL) {
        rc = ps_errf(PS_E_NOMEM, err, errlen, "out of memory");
        goto out;
    }
    for (n = root->children;; n = n->next) {
        if (next_el(&n, err, errlen) != 0)
            goto out;
        if (n == NULL)
            break;
        if (is_el(n, NS_ASIC, "SigReference")) {
            if (have_sig++ || m->n) {
                ps_errf(0, err, errlen, "manifest: one SigReference, before the data objects");
                goto out;
            }
            if (read_sigref(n, m, err, errlen) != 0)
                goto out;
        } else if (is_el(n, NS_ASIC, "DataObjectReference")) {
            if (m->n == ASICE_MAX_REFS) {
                rc = ps_errf(PS_E_LIMIT, err, errlen, "manifest: more than %d references",
                             ASICE_MAX_REFS);
                goto out;
            }
            if (read_ref(n, m, err, errlen) != 0)
                goto out;
        } else {
            ps_errf(0, err, errlen, "manifest: unexpected element %s", (const char *)n->name);
            goto out;
        }
    }
    if (!have_sig || m->n == 0) {
        ps_errf(0, err, errlen, "manifest: needs a SigReference and at least one data object");
        goto out;
    }
    rc = PS_OK;
out:
    xmlFreeDoc(doc);
    if (rc != PS_OK)
        asice_manifest_free(m);
    return rc;
}

void asice_manifest_free(struct asice_manifest *m)
{
    free(m->refs);
    memset(m, 0, sizeof(*m));
}
