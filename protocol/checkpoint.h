/*
 * checkpoint.h - ledger checkpoints: C2SP tlog-checkpoint text inside a C2SP signed note with
 * an Ed25519 key, and C2SP verifier keys (vkeys). Pure format code: bytes in, structs out.
 * Signing is a callback (the key stays in the HSM); verification uses libsodium.
 *
 * Signed note (c2sp.org/signed-note), as implemented here:
 *   note      = text "\n" 1*sigline                   (the "\n" is the blank line)
 *   sigline   = U+2014 (EM DASH, bytes E2 80 94) " " keyname " " base64(keyid || sig) "\n"
 *   - The whole note is UTF-8 (well-formed: no overlong forms, surrogates or code points over
 *     U+10FFFF) without ASCII control characters other than "\n" (so no TAB, CR or NUL).
 *   - The text ends with "\n" and is everything up to the *last* blank line ("\n\n"); the
 *     signature is over these text bytes exactly, final newline included.
 *   - keyname is 1..n bytes with no Unicode White_Space (U+0009-000D, U+0020, U+0085, U+00A0,
 *     U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000) and no "+".
 *   - base64 is RFC 4648 §4 (standard alphabet, "=" padding required, no white space) and is
 *     decoded strictly: the unused bits of the last character must be zero. It decodes to at
 *     least 5 bytes: a 4-byte big-endian key ID, then the signature.
 *   - Ed25519 (signature type 0x01): key ID = first 4 bytes of
 *     SHA-256(keyname || 0x0A || 0x01 || 32-byte public key); the signature is the 64-byte
 *     RFC 8032 Ed25519 signature of the text.
 *   - Verification against one known key (name, key ID, public key): a signature line whose
 *     name and key ID both match is the key's and must be 64 bytes and verify, or the note is
 *     rejected; every other line (witness cosignatures, other keys, a key ID that matches but
 *     a name that does not, or the reverse) is checked for syntax only and then ignored. At
 *     least one signature by the known key is required. At most NOTE_MAX_SIGS signature lines
 *     and NOTE_MAX_LEN bytes (PS_E_LIMIT beyond).
 *
 * Checkpoint text (c2sp.org/tlog-checkpoint), the note text of a checkpoint:
 *   origin "\n" tree-size "\n" base64(root hash) "\n" *(extension-line "\n")
 *   - origin: non-empty, at most CHECKPOINT_MAX_ORIGIN bytes. Parsing takes any such line;
 *     checkpoint_format also requires what the spec recommends: no Unicode White_Space, no "+".
 *   - tree-size: ASCII decimal, no sign, no leading zero unless the tree is empty ("0"),
 *     at most MERKLE_MAX_SIZE (2^63 - 1).
 *   - root hash: strict base64 (as above) of exactly 32 bytes (44 characters).
 *   - extension lines: optional, opaque, each non-empty. No line of a checkpoint is empty, so a
 *     blank line anywhere in the text (or between signature lines, which puts a signature
 *     line into the text) makes the note invalid.
 * The spec says the log's key name SHOULD match the origin; callers that want this compare
 * checkpoint.origin with their verifier's name.
 *
 * Verifier key (vkey) text, as golang.org/x/mod/sumdb/note writes it:
 *   keyname "+" 8 hex digits (the key ID) "+" base64(0x01 || 32-byte Ed25519 public key)
 *   The key ID must equal the one computed from the name and key; hex digits may be upper or
 *   lower case on input and are lower case on output. The whole string is the key: no
 *   surrounding white space or newline. The public key must be a valid Ed25519 point
 *   (canonical, not of small order).
 *
 * Malformed input is PS_E_INVAL; err (if not NULL) then holds a NUL-terminated reason such as
 * "tree size is not canonical decimal" or "signature by example.com/log does not verify".
 * Functions that fill a struct buf reset it first; on failure it is empty. The caller owns
 * the buffer and frees it with buf_free.
 */
#ifndef PS_CHECKPOINT_H
#define PS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "merkle.h"

#define NOTE_MAX_LEN          (128 * 1024) /* a note we parse */
#define NOTE_MAX_SIGS         32           /* signature lines in a note (the spec: at least 16) */
#define NOTE_MAX_NAME         255          /* bytes in a key name we keep (verifier, signer) */
#define NOTE_SIG_ED25519      0x01         /* signature type byte */
#define NOTE_ED25519_KEY_LEN  32
#define NOTE_ED25519_SIG_LEN  64
#define CHECKPOINT_MAX_ORIGIN 255

/* A known Ed25519 key: name, key ID and public key. Plain data. */
struct note_verifier {
    char name[NOTE_MAX_NAME + 1];
    uint32_t key_id;
    uint8_t pubkey[NOTE_ED25519_KEY_LEN];
};

/* Sign msg[0..len) with the Ed25519 key into sig; return PS_OK or a PS_E_* code. */
typedef int (*note_sign_fn)(void *ctx, const uint8_t *msg, size_t len,
                            uint8_t sig[NOTE_ED25519_SIG_LEN]);

/* A signing key: its public half (name, key ID, public key) and the callback that signs. */
struct note_signer {
    struct note_verifier key;
    note_sign_fn sign;
    void *ctx;
};

/* A checkpoint. ext/ext_len: extension lines, each ending in "\n" (NULL/0 for none); after
 * parsing they point into the caller's note (borrowed, valid as long as the note is). */
struct checkpoint {
    char origin[CHECKPOINT_MAX_ORIGIN + 1];
    uint64_t size;
    uint8_t root[MERKLE_HASH_LEN];
    const char *ext;
    size_t ext_len;
};

/* The key ID: the first 4 bytes (big-endian) of SHA-256(name || 0x0A || type || key). */
uint32_t note_key_id(const char *name, size_t name_len, uint8_t type, const uint8_t *key,
                     size_t key_len);

/* Fill v from a key name (NUL-terminated, a valid key name of at most NOTE_MAX_NAME bytes) and
 * an Ed25519 public key; computes the key ID. PS_E_INVAL for a bad name or key. */
int note_verifier_init(struct note_verifier *v, const char *name,
                       const uint8_t pubkey[NOTE_ED25519_KEY_LEN]) PS_WUR;

/* Parse vkey[0..len) (format above) into v. PS_E_UNSUPPORTED for a key type other than 0x01,
 * PS_E_LIMIT for a name over NOTE_MAX_NAME bytes. */
int note_vkey_parse(const char *vkey, size_t len, struct note_verifier *v, char *err,
                    size_t errlen) PS_WUR;

/* The vkey text of v into out (no newline). */
int note_vkey_format(const struct note_verifier *v, struct buf *out) PS_WUR;

/*
 * Sign text[0..len) (non-empty, ends with "\n", UTF-8 without control characters other than
 * "\n") into the note text "\n" sigline. The signature from the callback is checked against
 * s->key.pubkey before it is used (PS_E_CRYPTO if it does not verify). text must not point
 * into out.
 */
int note_sign(const uint8_t *text, size_t len, const struct note_signer *s, struct buf *out,
              char *err, size_t errlen) PS_WUR;

/* Verify note[0..len) against v (rules above); on success *text_len is the length of the
 * signed text, which starts at note[0]. */
int note_open(const uint8_t *note, size_t len, const struct note_verifier *v, size_t *text_len,
              char *err, size_t errlen) PS_WUR;

/* The checkpoint text of cp into out. */
int checkpoint_format(const struct checkpoint *cp, struct buf *out, char *err,
                      size_t errlen) PS_WUR;

/* The signed checkpoint note of cp, signed by s, into out. */
int checkpoint_sign(const struct checkpoint *cp, const struct note_signer *s, struct buf *out,
                    char *err, size_t errlen) PS_WUR;

/* Parse checkpoint text[0..len) (the text of a note, without the signatures) into *cp. */
int checkpoint_parse(const uint8_t *text, size_t len, struct checkpoint *cp, char *err,
                     size_t errlen) PS_WUR;

/* Verify the signed note[0..len) against v and parse its text into *cp. */
int checkpoint_open(const uint8_t *note, size_t len, const struct note_verifier *v,
                    struct checkpoint *cp, char *err, size_t errlen) PS_WUR;

#endif
