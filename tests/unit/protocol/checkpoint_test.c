/*
 * checkpoint_test - signed notes, checkpoints and vkeys (protocol/checkpoint.c): the Go
 * sumdb/note example (golang.org/x/mod/sumdb/note, "PeterNeumann") reproduced byte for byte,
 * round trips with a fixed libsodium key, every rejection rule with its reason, and
 * cross-checks of our notes by `openssl pkeyutl -verify -rawin` and by an independent Python
 * verifier (tests/data/ledger/verify_note.py) when those are available.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../../protocol/checkpoint.h"
#include "../testdata.h"
#include "../unit.h"

#define ORIGIN "example.com/portseal-test"

/* golang.org/x/mod/sumdb/note: the package documentation's example */
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_SKEY "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz" /* 0x01 || seed */
#define GO_TEXT                                                                                    \
    "If you think cryptography is the answer to your problem,\n"                                   \
    "then you don't know what your problem is.\n"
#define GO_NOTE                                                                                    \
    GO_TEXT                                                                                        \
    "\n\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC"        \
    "2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

static char err[256];
static struct buf out, tmp;

struct key {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    int mode; /* 0 sign, 1 fail with PS_E_HSM, 2 return a wrong signature */
};

static int sign_cb(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    struct key *k = ctx;

    if (k->mode == 1)
        return PS_E_HSM;
    crypto_sign_ed25519_detached(sig, NULL, msg, len, k->sk);
    if (k->mode == 2)
        sig[10] ^= 1;
    return PS_OK;
}

static struct key key, witness_key;
static struct note_signer signer, witness;
static struct note_verifier verifier;

static void make_key(struct key *k, struct note_signer *s, const char *name, uint8_t seed0)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (uint8_t)(seed0 + i);
    crypto_sign_ed25519_seed_keypair(k->pk, k->sk, seed);
    if (note_verifier_init(&s->key, name, k->pk) != PS_OK) {
        fprintf(stderr, "note_verifier_init failed\n");
        exit(1);
    }
    s->sign = sign_cb;
    s->ctx = k;
}

static const uint8_t *u8(const char *s)
{
    return (const uint8_t *)s;
}

/* a checkpoint of size with a root made from seed, signed by signer, into out */
static char *signed_checkpoint(uint64_t size, uint8_t seed, const char *ext)
{
    struct checkpoint cp;

    memset(&cp, 0, sizeof(cp));
    memcpy(cp.origin, ORIGIN, sizeof(ORIGIN));
    cp.size = size;
    for (int i = 0; i < MERKLE_HASH_LEN; i++)
        cp.root[i] = (uint8_t)(seed * 31 + i);
    cp.ext = ext;
    cp.ext_len = ext ? strlen(ext) : 0;
    if (checkpoint_sign(&cp, &signer, &out, err, sizeof(err)) != PS_OK) {
        fprintf(stderr, "checkpoint_sign: %s\n", err);
        exit(1);
    }
    return (char *)out.data;
}

/* text signed as a generic note by s (so that checkpoint rules are what fails) */
static char *signed_note(const char *text, const struct note_signer *s)
{
    if (note_sign(u8(text), strlen(text), s, &out, err, sizeof(err)) != PS_OK) {
        fprintf(stderr, "note_sign: %s\n", err);
        exit(1);
    }
    return (char *)out.data;
}

static int open_note(const char *note, size_t len, struct checkpoint *cp)
{
    err[0] = 0;
    return checkpoint_open(u8(note), len, &verifier, cp, err, sizeof(err));
}

/* note must be rejected with code and a reason containing why */
static void reject(const char *note, size_t len, int code, const char *why, const char *what)
{
    struct checkpoint cp;
    int r = open_note(note, len, &cp);

    CHECK(r == code && strstr(err, why) != NULL && cp.size == 0 && cp.origin[0] == 0,
          "rejects %s: %s", what, err);
}

static void test_go_vector(void)
{
    struct note_verifier v;
    struct note_signer s;
    struct key k;
    uint8_t sk[64];
    size_t skl = 0, tl = 0;

    CHECK(note_vkey_parse(GO_VKEY, strlen(GO_VKEY), &v, err, sizeof(err)) == PS_OK &&
              strcmp(v.name, "PeterNeumann") == 0 && v.key_id == 0xc74f20a3,
          "Go vkey parses: PeterNeumann, key ID c74f20a3 (from SHA-256(name || 0x0A || 0x01 || "
          "key))");
    CHECK(note_vkey_format(&v, &tmp) == PS_OK && strcmp((char *)tmp.data, GO_VKEY) == 0,
          "Go vkey formats back to the same text");
    CHECK(note_open(u8(GO_NOTE), strlen(GO_NOTE), &v, &tl, err, sizeof(err)) == PS_OK &&
              tl == strlen(GO_TEXT),
          "Go signed note verifies; the text is everything before the blank line");

    /* the Go signing key's seed gives the same key, and our note is Go's, byte for byte */
    memset(&k, 0, sizeof(k));
    if (sodium_base642bin(sk, sizeof(sk), GO_SKEY, strlen(GO_SKEY), NULL, &skl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        skl != 33)
        skl = 0;
    crypto_sign_ed25519_seed_keypair(k.pk, k.sk, sk + 1);
    s.key = v;
    s.sign = sign_cb;
    s.ctx = &k;
    CHECK(skl == 33 && memcmp(k.pk, v.pubkey, 32) == 0, "Go signing key matches the vkey");
    CHECK(note_sign(u8(GO_TEXT), strlen(GO_TEXT), &s, &out, err, sizeof(err)) == PS_OK &&
              out.len == strlen(GO_NOTE) && memcmp(out.data, GO_NOTE, out.len) == 0,
          "note_sign reproduces the Go signed note byte for byte");
    /* c2sp.org/signed-note: the text may have empty lines; the last blank line separates */
    {
        static const char poem[] = "Ognuno sta solo sul cuor della terra\n"
                                   "trafitto da un raggio di sole:\n\ned \xC3\xA8 subito sera.\n";
        CHECK(note_sign(u8(poem), strlen(poem), &signer, &out, err, sizeof(err)) == PS_OK &&
                  note_open(out.data, out.len, &signer.key, &tl, err, sizeof(err)) == PS_OK &&
                  tl == strlen(poem),
              "a note text with an empty line signs and opens (text up to the last blank line)");
    }
    CHECK(checkpoint_open(u8(GO_NOTE), strlen(GO_NOTE), &v, &(struct checkpoint){0}, err,
                          sizeof(err)) == PS_E_INVAL &&
              strstr(err, "fewer than three lines") != NULL,
          "the Go note verifies but is not a checkpoint: %s", err);
}

static void test_round_trip(void)
{
    static const uint64_t sizes[] = {0, 1, 12345, MERKLE_MAX_SIZE};
    char want[512], b64[64];
    struct checkpoint cp;
    const char *note;
    int ok = 1;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t root[32];
        note = signed_checkpoint(sizes[i], (uint8_t)i, NULL);
        for (int j = 0; j < 32; j++)
            root[j] = (uint8_t)(i * 31 + (size_t)j);
        sodium_bin2base64(b64, sizeof(b64), root, 32, sodium_base64_VARIANT_ORIGINAL);
        snprintf(want, sizeof(want), ORIGIN "\n%llu\n%s\n\n\xE2\x80\x94 " ORIGIN " ",
                 (unsigned long long)sizes[i], b64);
        if (strncmp(note, want, strlen(want)) != 0 || out.len != strlen(want) + 92 + 1 ||
            note[out.len - 1] != '\n')
            ok = 0;
        if (open_note(note, out.len, &cp) != PS_OK || strcmp(cp.origin, ORIGIN) != 0 ||
            cp.size != sizes[i] || memcmp(cp.root, root, 32) != 0 || cp.ext != NULL) {
            printf("# size %llu: %s\n", (unsigned long long)sizes[i], err);
            ok = 0;
        }
    }
    CHECK(ok, "checkpoints of sizes 0, 1, 12345, 2^63-1 are origin, size, base64 root, blank "
              "line, one em-dash signature line of 92 base64 characters, and open again");

    note = signed_checkpoint(7, 9, "ext one\n\xC3\xBC two\n");
    CHECK(open_note(note, out.len, &cp) == PS_OK && cp.ext == note + (strstr(note, "ext") - note) &&
              cp.ext_len == strlen("ext one\n\xC3\xBC two\n"),
          "extension lines round trip and point into the note");
    CHECK(checkpoint_parse(out.data, (size_t)(strstr(note, "\n\n") - note) + 1, &cp, err,
                           sizeof(err)) == PS_OK &&
              cp.size == 7,
          "checkpoint_parse reads the text alone");
}

/* the note with its first signature line's blob decoded, changed by fn, and encoded again */
static char *reblob(const char *note, void (*fn)(uint8_t *blob, size_t *len))
{
    const char *b = strstr(note, "\xE2\x80\x94 ");
    char b64[128], old[128];
    uint8_t blob[80];
    size_t bl = 0, ol;

    b = strchr(b + 4, ' ') + 1;
    ol = (size_t)(strchr(b, '\n') - b);
    memcpy(old, b, ol);
    old[ol] = 0;
    if (sodium_base642bin(blob, sizeof(blob), old, ol, NULL, &bl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        exit(1);
    fn(blob, &bl);
    sodium_bin2base64(b64, sizeof(b64), blob, bl, sodium_base64_VARIANT_ORIGINAL);
    return replace(note, old, b64);
}

static void flip_sig(uint8_t *blob, size_t *len)
{
    (void)len;
    blob[40] ^= 0x04;
}

static void flip_id(uint8_t *blob, size_t *len)
{
    (void)len;
    blob[3] ^= 0x01;
}

static void cut_sig(uint8_t *blob, size_t *len)
{
    (void)blob;
    (*len)--;
}

static void cut_all(uint8_t *blob, size_t *len)
{
    (void)blob;
    *len = 4;
}

/* every way a note can be broken */
static void test_note_rejections(void)
{
    char *good = strdup(signed_checkpoint(42, 1, NULL)), *n, *big;
    size_t gl = strlen(good);
    const char *sigline = strstr(good, "\xE2\x80\x94");
    char line[1024], *body;

    reject(good, gl - 1, PS_E_INVAL, "does not end with a newline", "a note without final newline");
    n = replace(good, "\n42\n", "\r\n42\n");
    reject(n, strlen(n), PS_E_INVAL, "control character 0x0d", "a CR");
    free(n);
    n = replace(good, "42", "4\t2");
    reject(n, strlen(n), PS_E_INVAL, "control character 0x09", "a TAB");
    free(n);
    reject(good, gl + 1, PS_E_INVAL, "control character 0x00", "a NUL byte");
    n = replace(good, "portseal", "port\xFFseal");
    reject(n, strlen(n), PS_E_INVAL, "not well-formed UTF-8", "a 0xFF byte");
    free(n);
    n = replace(good, "portseal", "port\xC0\xAFseal");
    reject(n, strlen(n), PS_E_INVAL, "not well-formed UTF-8", "an overlong encoding");
    free(n);
    n = replace(good, "portseal", "port\xED\xA0\x80seal");
    reject(n, strlen(n), PS_E_INVAL, "not well-formed UTF-8", "an encoded surrogate");
    free(n);
    n = replace(good, "portseal", "port\xF4\x90\x80\x80seal");
    reject(n, strlen(n), PS_E_INVAL, "not well-formed UTF-8", "a code point over U+10FFFF");
    free(n);
    n = replace(good, "\n\n", "\n");
    reject(n, strlen(n), PS_E_INVAL, "no blank line", "a note without the blank line");
    free(n);
    n = malloc(gl + 2);
    memcpy(n, good, gl);
    memcpy(n + gl, "\n", 2);
    reject(n, gl + 1, PS_E_INVAL, "no signature line after", "a blank line after the signature");
    free(n);
    n = replace(good, "\n\n", "\n\n\n");
    reject(n, strlen(n), PS_E_INVAL, "does not verify", "an extra blank line before it");
    free(n);
    n = replace(good, "\xE2\x80\x94 ", "-- ");
    reject(n, strlen(n), PS_E_INVAL, "em dash", "ASCII dashes for the em dash");
    free(n);
    n = replace(good, "\xE2\x80\x94 ", "\xE2\x80\x93 ");
    reject(n, strlen(n), PS_E_INVAL, "em dash", "an en dash");
    free(n);
    n = replace(good, "\xE2\x80\x94 ", "\xE2\x80\x94");
    reject(n, strlen(n), PS_E_INVAL, "em dash", "no space after the em dash");
    free(n);
    n = replace(good, ORIGIN " ", ORIGIN "  ");
    reject(n, strlen(n), PS_E_INVAL, "not base64", "two spaces after the key name");
    free(n);
    n = replace(good, "\xE2\x80\x94 " ORIGIN " ", "\xE2\x80\x94 " ORIGIN);
    reject(n, strlen(n), PS_E_INVAL, "no space after the key name", "no space after the name");
    free(n);
    n = replace(good, "\xE2\x80\x94 " ORIGIN, "\xE2\x80\x94 exa+mple.com");
    reject(n, strlen(n), PS_E_INVAL, "invalid key name", "a \"+\" in the key name");
    free(n);
    n = replace(good, "\xE2\x80\x94 " ORIGIN, "\xE2\x80\x94 ex\xC2\xA0mple");
    reject(n, strlen(n), PS_E_INVAL, "invalid key name", "a no-break space in the key name");
    free(n);
    n = replace(good, "\xE2\x80\x94 " ORIGIN " ", "\xE2\x80\x94  ");
    reject(n, strlen(n), PS_E_INVAL, "invalid key name", "an empty key name");
    free(n);

    /* the signature's base64 */
    n = reblob(good, cut_all);
    reject(n, strlen(n), PS_E_INVAL, "shorter than 5 bytes", "a 4-byte signature blob");
    free(n);
    n = strdup(good); /* the note ends with the signature's "=\n" */
    memcpy(n + gl - 2, "\n", 2);
    reject(n, strlen(n), PS_E_INVAL, "not base64", "signature base64 without padding");
    memcpy(n, good, gl + 1);
    n[gl - 3] = '!';
    reject(n, strlen(n), PS_E_INVAL, "not base64", "a character outside the alphabet");
    n[gl - 3] = '-';
    reject(n, strlen(n), PS_E_INVAL, "not base64", "a base64url character");
    free(n);
    {
        /* 68 bytes = 22 full groups + "xxx=": the last character carries 2 unused bits */
        static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *last;
        n = replace(good, "=\n", "=\n");
        last = n + strlen(n) - 3;
        *last = al[(strchr(al, *last) - al) ^ 1];
        reject(n, strlen(n), PS_E_INVAL, "not base64", "non-zero unused bits in the base64");
        free(n);
    }
    n = reblob(good, flip_sig);
    reject(n, strlen(n), PS_E_INVAL, "does not verify", "a changed signature");
    free(n);
    n = replace(good, "\n42\n", "\n43\n");
    reject(n, strlen(n), PS_E_INVAL, "does not verify", "a changed tree size");
    free(n);
    n = replace(good, "portseal-test\n", "portseal-tesT\n");
    reject(n, strlen(n), PS_E_INVAL, "does not verify", "a changed origin");
    free(n);

    /* the key ID and name */
    n = reblob(good, flip_id);
    reject(n, strlen(n), PS_E_INVAL, "has key ID", "our name with another key ID");
    free(n);
    n = reblob(good, cut_sig);
    reject(n, strlen(n), PS_E_INVAL, "is 63 bytes, not 64", "a 63-byte signature by our key");
    free(n);
    n = replace(good, "\xE2\x80\x94 " ORIGIN, "\xE2\x80\x94 example.com/other");
    reject(n, strlen(n), PS_E_INVAL, "no signature by " ORIGIN, "only another key's name");
    free(n);

    /* a witness cosignature is ignored, before or after ours, and ours may repeat */
    body = strndup(good, (size_t)(sigline - good) - 1);
    n = strdup(signed_note(body, &witness));
    snprintf(line, sizeof(line), "%s%s", n, sigline);
    CHECK(open_note(line, strlen(line), &(struct checkpoint){0}) == PS_OK,
          "a witness signature before ours is ignored");
    snprintf(line, sizeof(line), "%s%s", good, strstr(n, "\xE2\x80\x94"));
    CHECK(open_note(line, strlen(line), &(struct checkpoint){0}) == PS_OK,
          "a witness signature after ours is ignored");
    snprintf(line, sizeof(line), "%s%s", good, sigline);
    CHECK(open_note(line, strlen(line), &(struct checkpoint){0}) == PS_OK,
          "our signature twice verifies");
    CHECK(open_note(n, strlen(n), &(struct checkpoint){0}) == PS_E_INVAL &&
              strstr(err, "no signature by") != NULL,
          "a note signed by the witness only is rejected: %s", err);
    snprintf(line, sizeof(line), "%s\n%s", good, strstr(n, "\xE2\x80\x94"));
    reject(line, strlen(line), PS_E_INVAL, "no signature by",
           "a blank line between our signature and the witness's");
    snprintf(line, sizeof(line), "%s\n%s", n, sigline);
    reject(line, strlen(line), PS_E_INVAL, "does not verify",
           "a blank line between the witness's signature and ours");
    {
        char *badsig = reblob(good, flip_sig);
        snprintf(line, sizeof(line), "%s%s", good, strstr(badsig, "\xE2\x80\x94"));
        reject(line, strlen(line), PS_E_INVAL, "does not verify",
               "one good and one bad signature by our key");
        free(badsig);
    }
    free(n);
    free(body);

    /* limits */
    {
        size_t sl = strlen(sigline), cap = gl + 40 * sl;
        big = malloc(cap + 1);
        memcpy(big, good, gl);
        for (int i = 1; i < NOTE_MAX_SIGS; i++)
            memcpy(big + gl + (size_t)(i - 1) * sl, sigline, sl);
        big[gl + (NOTE_MAX_SIGS - 1) * sl] = 0;
        CHECK(open_note(big, strlen(big), &(struct checkpoint){0}) == PS_OK,
              "%d signature lines are accepted", NOTE_MAX_SIGS);
        memcpy(big + gl + (NOTE_MAX_SIGS - 1) * sl, sigline, sl + 1);
        reject(big, strlen(big), PS_E_LIMIT, "more than", "too many signature lines");
        free(big);
        big = malloc(NOTE_MAX_LEN + 2);
        memset(big, 'a', NOTE_MAX_LEN + 1);
        reject(big, NOTE_MAX_LEN + 1, PS_E_LIMIT, "longer than", "a note over NOTE_MAX_LEN");
        free(big);
    }
    free(good);
}

/* checkpoint text rules: the text is signed correctly, so the checkpoint rules are what fail */
static void test_checkpoint_rejections(void)
{
    static const struct {
        const char *text, *why, *what;
    } bad[] = {
        {"o\n012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "a leading zero"},
        {"o\n00\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "size 00"},
        {"o\n+12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "a plus sign"},
        {"o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "a minus sign"},
        {"o\n 12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "a leading space"},
        {"o\n12 \nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "a trailing space"},
        {"o\n1e3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "an exponent"},
        {"o\n0x10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "hex"},
        {"o\n\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size", "an empty size"},
        {"o\n9223372036854775808\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size",
         "size 2^63"},
        {"o\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size",
         "size 2^64"},
        {"o\n99999999999999999999\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "tree size",
         "a 20-digit size"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "root hash",
         "a root without padding"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n", "root hash",
         "non-zero unused bits in the root"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", "root hash", "a 31-byte root"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "root hash", "a 33-byte root"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_=\n", "root hash", "base64url"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAA=\n", "root hash",
         "a space in the root"},
        {"o\n1\n\n", "root hash", "an empty root line"},
        {"\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "origin line is empty",
         "an empty origin"},
        {"o\n1\n", "fewer than three lines", "two lines"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\next\n",
         "line 4 of the checkpoint is empty", "an empty line before an extension"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n\n",
         "line 5 of the checkpoint is empty", "an empty line after an extension"},
        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
         "line 4 of the checkpoint is empty", "a signed extra blank line before the signatures"},
    };
    static const char tail[] = "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    const char *max = "o\n9223372036854775807\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    const char *nonl = "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    struct checkpoint cp;
    char longo[400];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *note = signed_note(bad[i].text, &signer);
        reject(note, out.len, PS_E_INVAL, bad[i].why, bad[i].what);
    }
    memset(longo, 'o', 256);
    memcpy(longo + 256, tail, sizeof(tail));
    signed_note(longo, &signer);
    reject((char *)out.data, out.len, PS_E_LIMIT, "origin longer than 255", "a 256-byte origin");
    longo[1] = ' ';
    CHECK(checkpoint_parse(u8(longo + 1), strlen(longo + 1), &cp, err, sizeof(err)) == PS_OK &&
              strlen(cp.origin) == 255 && cp.origin[0] == ' ' && cp.size == 1,
          "parsing takes a 255-byte origin with a space (only the format recommends none)");
    CHECK(checkpoint_parse(u8(max), strlen(max), &cp, err, sizeof(err)) == PS_OK &&
              cp.size == MERKLE_MAX_SIZE,
          "size 2^63 - 1 parses");
    CHECK(checkpoint_parse(u8(nonl), strlen(nonl), &cp, err, sizeof(err)) == PS_E_INVAL &&
              strstr(err, "newline") != NULL,
          "checkpoint_parse wants the final newline");
}

static void test_format_and_sign_errors(void)
{
    struct checkpoint cp;
    struct buf small;
    int r;

    memset(&cp, 0, sizeof(cp));
    cp.size = 5;
    r = checkpoint_format(&cp, &out, err, sizeof(err));
    CHECK(r == PS_E_INVAL && out.len == 0, "format refuses an empty origin: %s", err);
    memcpy(cp.origin, "a b", 4);
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses a space in the origin: %s", err);
    memcpy(cp.origin, "a+b", 4);
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses a \"+\" in the origin: %s", err);
    memcpy(cp.origin, "a\nb", 4);
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses a newline in the origin: %s", err);
    memset(cp.origin, 'x', sizeof(cp.origin));
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses an origin that is not NUL-terminated: %s", err);
    memcpy(cp.origin, "o", 2);
    cp.size = MERKLE_MAX_SIZE + 1;
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses size 2^63: %s", err);
    cp.size = 3;
    cp.ext = "x";
    cp.ext_len = 1;
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses extension lines without final newline: %s", err);
    cp.ext = "x\n\ny\n";
    cp.ext_len = 5;
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses an empty extension line: %s", err);
    cp.ext = "\n";
    cp.ext_len = 1;
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses a lone newline as extension: %s", err);
    cp.ext = "x\ty\n";
    cp.ext_len = 4;
    CHECK(checkpoint_format(&cp, &out, err, sizeof(err)) == PS_E_INVAL,
          "format refuses a control character in an extension: %s", err);
    cp.ext = NULL;
    cp.ext_len = 0;

    key.mode = 1;
    r = checkpoint_sign(&cp, &signer, &out, err, sizeof(err));
    CHECK(r == PS_E_HSM && out.len == 0, "a failing signer's error is returned: %s", err);
    key.mode = 2;
    r = checkpoint_sign(&cp, &signer, &out, err, sizeof(err));
    CHECK(r == PS_E_CRYPTO && out.len == 0,
          "a signature that does not verify with the signer's key is not published: %s", err);
    key.mode = 0;
    buf_init(&small, 100);
    r = checkpoint_sign(&cp, &signer, &small, err, sizeof(err));
    CHECK(r == PS_E_LIMIT && small.len == 0, "an output buffer too small is PS_E_LIMIT: %s", err);
    buf_free(&small);
    CHECK(note_sign(u8("no newline"), 10, &signer, &out, err, sizeof(err)) == PS_E_INVAL &&
              note_sign(u8("a\rb\n"), 4, &signer, &out, err, sizeof(err)) == PS_E_INVAL &&
              note_sign(u8(""), 0, &signer, &out, err, sizeof(err)) == PS_E_INVAL && out.len == 0,
          "note_sign refuses text without final newline, with CR, or empty");
}

static void vkey_bad(const char *vk, int code, const char *what)
{
    struct note_verifier v;
    int r = note_vkey_parse(vk, strlen(vk), &v, err, sizeof(err));

    CHECK(r == code, "vkey with %s is refused: %s", what, err);
}

static void test_vkeys(void)
{
    struct note_verifier v;
    char vk[200], *m;
    size_t n;
    int bad = 0, mangled = 0;

    CHECK(note_vkey_format(&verifier, &tmp) == PS_OK &&
              note_vkey_parse((char *)tmp.data, tmp.len, &v, err, sizeof(err)) == PS_OK &&
              memcmp(&v, &verifier, sizeof(v)) == 0,
          "our vkey round trips: %s", (char *)tmp.data);
    snprintf(vk, sizeof(vk), "%s", GO_VKEY);
    memcpy(vk + 13, "C74F20A3", 8);
    CHECK(note_vkey_parse(vk, strlen(vk), &v, err, sizeof(err)) == PS_OK && v.key_id == 0xc74f20a3,
          "upper-case key ID hex is accepted");
    vkey_bad("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", PS_E_INVAL,
             "a wrong key ID");
    vkey_bad("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", PS_E_INVAL,
             "7 hex digits");
    vkey_bad("PeterNeumann+c74f20g3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", PS_E_INVAL,
             "a non-hex digit");
    vkey_bad("PeterNeumann+c74f20a3", PS_E_INVAL, "no key");
    vkey_bad("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", PS_E_INVAL, "no name");
    vkey_bad("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", PS_E_INVAL,
             "a space in the name");
    vkey_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n", PS_E_INVAL,
             "a trailing newline");
    vkey_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10", PS_E_INVAL,
             "a truncated key");
    {
        /* the Go key as type 0x02, with the key ID that type would have */
        uint8_t k[33];
        char b64[64];
        size_t kl;
        sodium_base642bin(k, sizeof(k), &GO_VKEY[22], strlen(&GO_VKEY[22]), NULL, &kl, NULL,
                          sodium_base64_VARIANT_ORIGINAL);
        k[0] = 0x02;
        sodium_bin2base64(b64, sizeof(b64), k, 33, sodium_base64_VARIANT_ORIGINAL);
        snprintf(vk, sizeof(vk), "PeterNeumann+%08x+%s",
                 (unsigned)note_key_id("PeterNeumann", 12, 0x02, k + 1, 32), b64);
        vkey_bad(vk, PS_E_UNSUPPORTED, "key type 0x02");
    }
    /* the identity point (small order): 0x01 || 01 00 .. 00, with its own correct key ID */
    {
        uint8_t k[33] = {0x01, 0x01};
        char b64[64];
        sodium_bin2base64(b64, sizeof(b64), k, 33, sodium_base64_VARIANT_ORIGINAL);
        snprintf(vk, sizeof(vk), "small+%08x+%s",
                 (unsigned)note_key_id("small", 5, 0x01, k + 1, 32), b64);
        vkey_bad(vk, PS_E_INVAL, "a small-order public key");
    }
    {
        char longname[400];
        memset(longname, 'n', sizeof(longname));
        snprintf(longname + 100, sizeof(longname) - 100, "%s", &GO_VKEY[12]);
        vkey_bad(longname, PS_E_INVAL, "another name for the key");
        memset(longname, 'n', sizeof(longname));
        snprintf(longname + 256, sizeof(longname) - 256, "%s", &GO_VKEY[12]);
        vkey_bad(longname, PS_E_LIMIT, "a 256-byte name");
    }

    /* as golang.org/x/mod/sumdb/note's TestNewVerifier: every proper substring and every
     * single-byte change of a valid vkey is refused */
    n = strlen(GO_VKEY);
    m = malloc(n + 1);
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i + 1; j <= n; j++)
            if (i != 0 || j != n)
                bad += note_vkey_parse(&GO_VKEY[i], j - i, &v, NULL, 0) == PS_OK;
    for (size_t i = 0; i < n; i++) {
        memcpy(m, GO_VKEY, n + 1);
        m[i]++;
        mangled += note_vkey_parse(m, n, &v, NULL, 0) == PS_OK;
    }
    free(m);
    CHECK(bad == 0 && mangled == 0,
          "every substring and every byte change of the Go vkey is "
          "refused (%d, %d accepted)",
          bad, mangled);

    CHECK(note_verifier_init(&v, "a b", key.pk) == PS_E_INVAL &&
              note_verifier_init(&v, "", key.pk) == PS_E_INVAL &&
              note_verifier_init(&v, "ok", (const uint8_t[32]){1}) == PS_E_INVAL,
          "note_verifier_init refuses a bad name or a small-order key");
}

/* ---- cross-checks with other implementations ---- */

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;

    if (f && fclose(f) != 0)
        ok = 0;
    return ok;
}

static void test_openssl(const char *dir)
{
    /* SubjectPublicKeyInfo DER prefix for an Ed25519 key (RFC 8410) */
    static const uint8_t spki[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                     0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    char cmd[1024], body[256], pub[256], sig[256];
    uint8_t der[44], blob[68];
    const char *note, *line;
    size_t tl, bl;
    int ok;

    if (system("openssl pkeyutl -help 2>&1 | grep -q -- -rawin") != 0) {
        printf("ok - # skip openssl pkeyutl without -rawin\n");
        return;
    }
    note = signed_checkpoint(777, 7, NULL);
    tl = (size_t)(strstr(note, "\n\n") - note) + 1;
    line = strstr(note, "\xE2\x80\x94 " ORIGIN " ") + strlen("\xE2\x80\x94 " ORIGIN " ");
    sodium_base642bin(blob, sizeof(blob), line, 92, NULL, &bl, NULL,
                      sodium_base64_VARIANT_ORIGINAL);
    memcpy(der, spki, 12);
    memcpy(der + 12, key.pk, 32);
    snprintf(body, sizeof(body), "%s/body", dir);
    snprintf(pub, sizeof(pub), "%s/pub.der", dir);
    snprintf(sig, sizeof(sig), "%s/sig", dir);
    ok = bl == 68 && write_file(body, note, tl) && write_file(pub, der, sizeof(der)) &&
         write_file(sig, blob + 4, 64);
    snprintf(cmd, sizeof(cmd),
             "openssl pkeyutl -verify -pubin -keyform DER -inkey %s -rawin -in %s -sigfile %s "
             ">/dev/null 2>&1",
             pub, body, sig);
    CHECK(ok && system(cmd) == 0, "openssl pkeyutl -verify -rawin accepts the checkpoint's "
                                  "Ed25519 signature over the note text");
    ok = write_file(body, note, tl - 1);
    CHECK(ok && system(cmd) != 0, "... and refuses it over the text without its final newline");
}

static void test_python(const char *dir)
{
    char cmd[1024], path[256], expect[200], got[200] = "";
    const char *note;
    FILE *p;
    size_t nl;

    if (access("tests/data/ledger/verify_note.py", R_OK) != 0 ||
        system("python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' "
               ">/dev/null 2>&1") != 0) {
        printf("ok - # skip python3 with the cryptography package not available\n");
        return;
    }
    note = signed_checkpoint(31337, 3, "ext\n");
    snprintf(path, sizeof(path), "%s/note", dir);
    if (note_vkey_format(&verifier, &tmp) != PS_OK || !write_file(path, note, out.len))
        tmp.len = 0;
    snprintf(cmd, sizeof(cmd), "python3 tests/data/ledger/verify_note.py '%s' %s", (char *)tmp.data,
             path);
    if ((p = popen(cmd, "r")) != NULL) {
        if (fgets(got, sizeof(got), p) == NULL)
            got[0] = 0;
        pclose(p);
    }
    if ((nl = strlen(got)) > 0 && got[nl - 1] == '\n')
        got[nl - 1] = 0;
    snprintf(expect, sizeof(expect), "ok " ORIGIN " 31337 ");
    for (int i = 0; i < 32; i++)
        snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect), "%02x",
                 (unsigned)(uint8_t)(3 * 31 + i));
    CHECK(strcmp(got, expect) == 0,
          "an independent Python verifier (cryptography) accepts our "
          "signed checkpoint and reads the same fields: %s",
          got);
    snprintf(cmd, sizeof(cmd),
             "sed -i 's/^31337$/31338/' %s && python3 "
             "tests/data/ledger/verify_note.py '%s' %s >/dev/null",
             path, (char *)tmp.data, path);
    CHECK(system(cmd) != 0, "... and refuses it with a changed size");
}

int main(void)
{
    char dir[] = "/tmp/checkpoint_test.XXXXXX";

    if (sodium_init() < 0)
        return 1;
    buf_init(&out, 1024 * 1024);
    buf_init(&tmp, 4096);
    make_key(&key, &signer, ORIGIN, 1);
    make_key(&witness_key, &witness, "witness.example/w1", 100);
    verifier = signer.key;

    test_go_vector();
    test_round_trip();
    test_note_rejections();
    test_checkpoint_rejections();
    test_format_and_sign_errors();
    test_vkeys();
    if (mkdtemp(dir) != NULL) {
        test_openssl(dir);
        test_python(dir);
        char rm[128];
        snprintf(rm, sizeof(rm), "rm -rf %s", dir);
        if (system(rm) != 0)
            printf("# could not remove %s\n", dir);
    }
    buf_free(&out);
    buf_free(&tmp);
    return unit_done();
}
