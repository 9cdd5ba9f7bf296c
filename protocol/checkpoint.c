#include "checkpoint.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "strnum.h"

#define EM_DASH    "\xE2\x80\x94"
#define SIG_PREFIX EM_DASH " "
#define SIG_BLOB   (4 + NOTE_ED25519_SIG_LEN)
/* the longest base64 we write (the signature blob), with its NUL */
#define B64_MAX sodium_base64_ENCODED_LEN(SIG_BLOB, sodium_base64_VARIANT_ORIGINAL)

/* ---- characters ---- */

/* Length (1-4) of the well-formed UTF-8 character at p[0..n) and its code point, or 0. */
static size_t utf8_char(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint32_t v, min;
    size_t len, i;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2, v = p[0] & 0x1F, min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        len = 3, v = p[0] & 0x0F, min = 0x800;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4, v = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Unicode White_Space */
static int is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Note bytes: well-formed UTF-8, no control character but "\n". */
static int check_text(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    uint32_t c;
    size_t i, l;

    for (i = 0; i < n; i += l) {
        if ((l = utf8_char(p + i, n - i, &c)) == 0)
            return ps_errf(PS_E_INVAL, err, errlen, "byte %zu is not well-formed UTF-8", i);
        if (c < 0x20 && c != '\n')
            return ps_errf(PS_E_INVAL, err, errlen, "byte %zu is control character 0x%02x", i,
                           (unsigned)c);
    }
    return PS_OK;
}

/* Non-empty UTF-8 without control characters, Unicode spaces or "+" (a key name, and what
 * checkpoint_format wants of an origin). */
static int name_ok(const uint8_t *p, size_t n)
{
    uint32_t c;
    size_t i, l;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i += l)
        if ((l = utf8_char(p + i, n - i, &c)) == 0 || c < 0x20 || is_space(c) || c == '+')
            return 0;
    return 1;
}

/* ---- base64 (RFC 4648 §4), strict ---- */

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decode s[0..n): padded, no white space, zero unused bits. Writes the first cap bytes of the
 * result to out and its full length to *outlen. Returns 0, or -1 if s is not such base64.
 */
static int b64_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t pad = 0, i, o = 0, nchar;
    uint32_t acc = 0;
    int v, bits = 0;

    if (n % 4 != 0)
        return -1;
    if (n > 0 && s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    nchar = n - pad;
    for (i = 0; i < nchar; i++) {
        if ((v = b64_val(s[i])) < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < cap)
                out[o] = (uint8_t)(acc >> bits);
            o++;
        }
    }
    /* what is left over are the unused low bits of the last character */
    if ((acc & ((UINT32_C(1) << bits) - 1)) != 0)
        return -1;
    *outlen = o;
    return 0;
}

static int b64_append(struct buf *out, const uint8_t *p, size_t n)
{
    char tmp[B64_MAX];

    if (sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) > sizeof(tmp))
        return PS_E_LIMIT;
    sodium_bin2base64(tmp, sizeof(tmp), p, n, sodium_base64_VARIANT_ORIGINAL);
    return buf_append_str(out, tmp);
}

/* ---- keys ---- */

uint32_t note_key_id(const char *name, size_t name_len, uint8_t type, const uint8_t *key,
                     size_t key_len)
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];
    static const uint8_t nl = '\n';

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, name_len);
    crypto_hash_sha256_update(&st, &nl, 1);
    crypto_hash_sha256_update(&st, &type, 1);
    crypto_hash_sha256_update(&st, key, key_len);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static int verifier_set(struct note_verifier *v, const uint8_t *name, size_t name_len,
                        const uint8_t pubkey[NOTE_ED25519_KEY_LEN], char *err, size_t errlen)
{
    if (name_len > NOTE_MAX_NAME)
        return ps_errf(PS_E_LIMIT, err, errlen, "key name longer than %d bytes", NOTE_MAX_NAME);
    if (!name_ok(name, name_len))
        return ps_errf(PS_E_INVAL, err, errlen,
                       "key name is empty or has a space, \"+\", a control character or bad UTF-8");
    if (crypto_core_ed25519_is_valid_point(pubkey) != 1)
        return ps_errf(PS_E_INVAL, err, errlen, "public key is not a valid Ed25519 point");
    memset(v, 0, sizeof(*v));
    memcpy(v->name, name, name_len);
    memcpy(v->pubkey, pubkey, NOTE_ED25519_KEY_LEN);
    v->key_id = note_key_id(v->name, name_len, NOTE_SIG_ED25519, pubkey, NOTE_ED25519_KEY_LEN);
    return PS_OK;
}

int note_verifier_init(struct note_verifier *v, const char *name,
                       const uint8_t pubkey[NOTE_ED25519_KEY_LEN])
{
    return verifier_set(v, (const uint8_t *)name, strlen(name), pubkey, NULL, 0);
}

int note_vkey_parse(const char *vkey, size_t len, struct note_verifier *v, char *err, size_t errlen)
{
    const char *plus1, *plus2, *end = vkey + len;
    uint8_t key[1 + NOTE_ED25519_KEY_LEN];
    uint32_t id = 0;
    size_t kl;
    int i, h, r;

    if ((plus1 = memchr(vkey, '+', len)) == NULL ||
        (plus2 = memchr(plus1 + 1, '+', (size_t)(end - plus1 - 1))) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "verifier key is not name+keyid+key");
    if (plus2 - plus1 != 9)
        return ps_errf(PS_E_INVAL, err, errlen, "verifier key ID is not 8 hex digits");
    for (i = 1; i <= 8; i++) {
        if ((h = strnum_hexval(plus1[i])) < 0)
            return ps_errf(PS_E_INVAL, err, errlen, "verifier key ID is not 8 hex digits");
        id = id << 4 | (uint32_t)h;
    }
    if (b64_decode((const uint8_t *)plus2 + 1, (size_t)(end - plus2 - 1), key, sizeof(key), &kl) !=
            0 ||
        kl == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "verifier key is not base64");
    if (key[0] != NOTE_SIG_ED25519)
        return ps_errf(PS_E_UNSUPPORTED, err, errlen, "verifier key type 0x%02x is not Ed25519",
                       key[0]);
    if (kl != sizeof(key))
        return ps_errf(PS_E_INVAL, err, errlen, "Ed25519 verifier key is %zu bytes, not 32",
                       kl - 1);
    if ((r = verifier_set(v, (const uint8_t *)vkey, (size_t)(plus1 - vkey), key + 1, err,
                          errlen)) != PS_OK)
        return r;
    if (v->key_id != id) {
        memset(v, 0, sizeof(*v));
        return ps_errf(PS_E_INVAL, err, errlen,
                       "verifier key ID %08x does not match the key (%08x)", id,
                       note_key_id(vkey, (size_t)(plus1 - vkey), key[0], key + 1, kl - 1));
    }
    return PS_OK;
}

int note_vkey_format(const struct note_verifier *v, struct buf *out)
{
    uint8_t key[1 + NOTE_ED25519_KEY_LEN];
    int r;

    buf_reset(out);
    key[0] = NOTE_SIG_ED25519;
    memcpy(key + 1, v->pubkey, NOTE_ED25519_KEY_LEN);
    if ((r = buf_printf(out, "%s+%08x+", v->name, (unsigned)v->key_id)) != PS_OK ||
        (r = b64_append(out, key, sizeof(key))) != PS_OK)
        buf_reset(out);
    return r;
}

/* ---- signed notes ---- */

/* Sign out->data[0..out->len) (the text) and append the blank line and the signature line. */
static int append_signature(struct buf *out, const struct note_signer *s, char *err, size_t errlen)
{
    uint8_t blob[SIG_BLOB];
    size_t tl = out->len;
    int r;

    blob[0] = (uint8_t)(s->key.key_id >> 24);
    blob[1] = (uint8_t)(s->key.key_id >> 16);
    blob[2] = (uint8_t)(s->key.key_id >> 8);
    blob[3] = (uint8_t)s->key.key_id;
    if ((r = s->sign(s->ctx, out->data, tl, blob + 4)) != PS_OK)
        return ps_errf(r, err, errlen, "signing failed: %s", ps_strerror(r));
    /* a faulty or misconfigured signer must not get a bad signature published */
    if (crypto_sign_ed25519_verify_detached(blob + 4, out->data, tl, s->key.pubkey) != 0)
        return ps_errf(PS_E_CRYPTO, err, errlen,
                       "the signature does not verify with the public key of %s", s->key.name);
    if ((r = buf_append_str(out, "\n" SIG_PREFIX)) != PS_OK ||
        (r = buf_append_str(out, s->key.name)) != PS_OK || (r = buf_append(out, " ", 1)) != PS_OK ||
        (r = b64_append(out, blob, sizeof(blob))) != PS_OK ||
        (r = buf_append(out, "\n", 1)) != PS_OK)
        return ps_errf(r, err, errlen, "note too long: %s", ps_strerror(r));
    return PS_OK;
}

int note_sign(const uint8_t *text, size_t len, const struct note_signer *s, struct buf *out,
              char *err, size_t errlen)
{
    int r;

    buf_reset(out);
    if (len == 0 || text[len - 1] != '\n')
        return ps_errf(PS_E_INVAL, err, errlen, "note text does not end with a newline");
    if ((r = check_text(text, len, err, errlen)) != PS_OK)
        return r;
    if ((r = buf_append(out, text, len)) != PS_OK)
        return ps_errf(r, err, errlen, "note too long: %s", ps_strerror(r));
    if ((r = append_signature(out, s, err, errlen)) != PS_OK)
        buf_reset(out);
    return r;
}

/* Position of the last blank line ("\n\n") in p[0..n), or n if there is none. */
static size_t last_blank(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = n; i >= 2; i--)
        if (p[i - 1] == '\n' && p[i - 2] == '\n')
            return i - 2;
    return n;
}

/* What the signature lines said about the verifier's key. */
struct sigscan {
    int verified;      /* signatures by the key that verified */
    int name_seen;     /* a line with the key's name but another key ID */
    uint32_t other_id; /* ... and that key ID */
};

/* One signature line (without its "\n"), lineno counting from 1. */
static int check_sigline(const uint8_t *line, size_t n, int lineno, const uint8_t *text, size_t tl,
                         const struct note_verifier *v, struct sigscan *sc, char *err,
                         size_t errlen)
{
    const size_t pl = sizeof(SIG_PREFIX) - 1;
    uint8_t blob[SIG_BLOB];
    const uint8_t *name, *sp;
    size_t nl, bl;
    uint32_t id;

    if (n < pl || memcmp(line, SIG_PREFIX, pl) != 0)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "signature line %d does not start with an em dash and a space", lineno);
    name = line + pl;
    if ((sp = memchr(name, ' ', n - pl)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "signature line %d has no space after the key name",
                       lineno);
    nl = (size_t)(sp - name);
    if (!name_ok(name, nl))
        return ps_errf(PS_E_INVAL, err, errlen, "signature line %d has an invalid key name",
                       lineno);
    if (b64_decode(sp + 1, (size_t)(line + n - sp - 1), blob, sizeof(blob), &bl) != 0)
        return ps_errf(PS_E_INVAL, err, errlen, "signature line %d is not base64", lineno);
    if (bl < 5)
        return ps_errf(PS_E_INVAL, err, errlen, "signature line %d is shorter than 5 bytes",
                       lineno);
    id = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
    if (nl != strlen(v->name) || memcmp(name, v->name, nl) != 0)
        return PS_OK; /* another key: ignored */
    if (id != v->key_id) {
        sc->name_seen = 1;
        sc->other_id = id;
        return PS_OK;
    }
    if (bl != SIG_BLOB)
        return ps_errf(PS_E_INVAL, err, errlen, "signature by %s is %zu bytes, not 64", v->name,
                       bl - 4);
    if (crypto_sign_ed25519_verify_detached(blob + 4, text, tl, v->pubkey) != 0)
        return ps_errf(PS_E_INVAL, err, errlen, "signature by %s does not verify", v->name);
    sc->verified++;
    return PS_OK;
}

int note_open(const uint8_t *note, size_t len, const struct note_verifier *v, size_t *text_len,
              char *err, size_t errlen)
{
    struct sigscan sc = {0, 0, 0};
    size_t blank, pos, e;
    const uint8_t *nlp;
    int r, lines = 0;

    if (len > NOTE_MAX_LEN)
        return ps_errf(PS_E_LIMIT, err, errlen, "note longer than %d bytes", NOTE_MAX_LEN);
    if ((r = check_text(note, len, err, errlen)) != PS_OK)
        return r;
    if (len == 0 || note[len - 1] != '\n')
        return ps_errf(PS_E_INVAL, err, errlen, "note does not end with a newline");
    if ((blank = last_blank(note, len)) == len)
        return ps_errf(PS_E_INVAL, err, errlen, "no blank line before the signatures");
    if (blank + 2 == len)
        return ps_errf(PS_E_INVAL, err, errlen, "no signature line after the last blank line");
    for (pos = blank + 2; pos < len; pos = e + 1) {
        nlp = memchr(note + pos, '\n', len - pos); /* found: the note ends with "\n" */
        e = (size_t)(nlp - note);
        if (++lines > NOTE_MAX_SIGS)
            return ps_errf(PS_E_LIMIT, err, errlen, "more than %d signatures", NOTE_MAX_SIGS);
        if ((r = check_sigline(note + pos, e - pos, lines, note, blank + 1, v, &sc, err, errlen)) !=
            PS_OK)
            return r;
    }
    if (sc.verified == 0 && sc.name_seen)
        return ps_errf(PS_E_INVAL, err, errlen, "signature by %s has key ID %08x, not %08x",
                       v->name, sc.other_id, v->key_id);
    if (sc.verified == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "no signature by %s", v->name);
    *text_len = blank + 1;
    return PS_OK;
}

/* ---- checkpoints ---- */

/* Extension lines: empty, or non-empty lines each ending in "\n". */
static int check_ext(const char *ext, size_t n, char *err, size_t errlen)
{
    size_t i;
    int r;

    if (n == 0)
        return PS_OK;
    if (ext == NULL || ext[n - 1] != '\n')
        return ps_errf(PS_E_INVAL, err, errlen, "extension lines do not end with a newline");
    if ((r = check_text((const uint8_t *)ext, n, err, errlen)) != PS_OK)
        return r;
    for (i = 0; i < n; i++)
        if (ext[i] == '\n' && (i == 0 || ext[i - 1] == '\n'))
            return ps_errf(PS_E_INVAL, err, errlen, "empty extension line");
    return PS_OK;
}

int checkpoint_format(const struct checkpoint *cp, struct buf *out, char *err, size_t errlen)
{
    size_t ol = strnlen(cp->origin, sizeof(cp->origin));
    int r;

    buf_reset(out);
    if (ol > CHECKPOINT_MAX_ORIGIN)
        return ps_errf(PS_E_INVAL, err, errlen, "origin is not NUL-terminated");
    if (!name_ok((const uint8_t *)cp->origin, ol))
        return ps_errf(PS_E_INVAL, err, errlen,
                       "origin is empty or has a space, \"+\", a control character or bad UTF-8");
    if (cp->size > MERKLE_MAX_SIZE)
        return ps_errf(PS_E_INVAL, err, errlen, "tree size is 2^63 or more");
    if ((r = check_ext(cp->ext, cp->ext_len, err, errlen)) != PS_OK)
        return r;
    if ((r = buf_printf(out, "%s\n%llu\n", cp->origin, (unsigned long long)cp->size)) != PS_OK ||
        (r = b64_append(out, cp->root, MERKLE_HASH_LEN)) != PS_OK ||
        (r = buf_append(out, "\n", 1)) != PS_OK ||
        (cp->ext_len && (r = buf_append(out, cp->ext, cp->ext_len)) != PS_OK)) {
        buf_reset(out);
        return ps_errf(r, err, errlen, "checkpoint too long: %s", ps_strerror(r));
    }
    return PS_OK;
}

int checkpoint_sign(const struct checkpoint *cp, const struct note_signer *s, struct buf *out,
                    char *err, size_t errlen)
{
    int r;

    if ((r = checkpoint_format(cp, out, err, errlen)) != PS_OK)
        return r;
    if ((r = append_signature(out, s, err, errlen)) != PS_OK)
        buf_reset(out);
    return r;
}

/* Canonical decimal, at most MERKLE_MAX_SIZE. */
static int parse_size(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 19 || (n > 1 && p[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0'); /* 19 digits fit in 64 bits */
    }
    if (v > MERKLE_MAX_SIZE)
        return -1;
    *out = v;
    return 0;
}

/* The next line of p[*pos..n) (without its "\n"), or NULL at the end. */
static const uint8_t *next_line(const uint8_t *p, size_t n, size_t *pos, size_t *ll)
{
    const uint8_t *start = p + *pos, *nl;

    if (*pos >= n || (nl = memchr(start, '\n', n - *pos)) == NULL)
        return NULL;
    *ll = (size_t)(nl - start);
    *pos += *ll + 1;
    return start;
}

int checkpoint_parse(const uint8_t *text, size_t len, struct checkpoint *cp, char *err,
                     size_t errlen)
{
    const uint8_t *origin, *size, *root;
    size_t pos = 0, ol = 0, sl = 0, rl = 0, ll, hl, ext_at;
    struct checkpoint c;
    int r, lineno = 3;

    memset(cp, 0, sizeof(*cp));
    memset(&c, 0, sizeof(c));
    if ((r = check_text(text, len, err, errlen)) != PS_OK)
        return r;
    if (len == 0 || text[len - 1] != '\n')
        return ps_errf(PS_E_INVAL, err, errlen, "checkpoint does not end with a newline");
    origin = next_line(text, len, &pos, &ol);
    size = next_line(text, len, &pos, &sl);
    if ((root = next_line(text, len, &pos, &rl)) == NULL)
        return ps_errf(PS_E_INVAL, err, errlen, "checkpoint has fewer than three lines");
    if (ol == 0)
        return ps_errf(PS_E_INVAL, err, errlen, "origin line is empty");
    if (ol > CHECKPOINT_MAX_ORIGIN)
        return ps_errf(PS_E_LIMIT, err, errlen, "origin longer than %d bytes",
                       CHECKPOINT_MAX_ORIGIN);
    if (parse_size(size, sl, &c.size) != 0)
        return ps_errf(PS_E_INVAL, err, errlen,
                       "tree size is not canonical decimal or not below 2^63");
    if (b64_decode(root, rl, c.root, sizeof(c.root), &hl) != 0 || hl != MERKLE_HASH_LEN)
        return ps_errf(PS_E_INVAL, err, errlen, "root hash is not base64 of 32 bytes");
    for (ext_at = pos; next_line(text, len, &pos, &ll) != NULL;) {
        lineno++;
        if (ll == 0)
            return ps_errf(PS_E_INVAL, err, errlen, "line %d of the checkpoint is empty", lineno);
    }
    memcpy(c.origin, origin, ol);
    if (ext_at < len) {
        c.ext = (const char *)text + ext_at;
        c.ext_len = len - ext_at;
    }
    *cp = c;
    return PS_OK;
}

int checkpoint_open(const uint8_t *note, size_t len, const struct note_verifier *v,
                    struct checkpoint *cp, char *err, size_t errlen)
{
    size_t tl;
    int r;

    memset(cp, 0, sizeof(*cp));
    if ((r = note_open(note, len, v, &tl, err, errlen)) != PS_OK)
        return r;
    return checkpoint_parse(note, tl, cp, err, errlen);
}
