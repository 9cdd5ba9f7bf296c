/*
 * p11.h - the raw PKCS#11 layer of the keyholder (and of portseal-keytool).
 *
 * portseal talks to the module directly instead of through libp11: libp11 0.4.12 cannot use
 * EdDSA keys and does PSS as raw RSA (CKM_RSA_X_509), which real HSMs refuse and which would
 * make the keyholder a decryption oracle. Here every signature uses a padding mechanism
 * (CKM_RSA_PKCS over a DigestInfo, CKM_RSA_PKCS_PSS, CKM_ECDSA, CKM_EDDSA); raw RSA is never
 * requested.
 *
 * Ownership: p11_open returns a module the caller releases with p11_close (which finalizes
 * the library). Sessions are plain handles; one per thread.
 */
#ifndef PS_P11_H
#define PS_P11_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTOKI_COMPAT 1
#include <p11-kit/pkcs11.h>

#include "../protocol/alg.h"
#include "../protocol/err.h"

struct p11_module;

struct p11_key {
    CK_OBJECT_HANDLE priv;
    enum ps_keytype type;
    unsigned bits; /* RSA modulus or curve size */
};

/*
 * dlopen the module, C_Initialize, find the slot whose token has this label. serialize 0: the
 * library locks itself (CKF_OS_LOCKING_OK), for threads that sign in parallel. serialize 1:
 * the library is initialised without locking and every call through this module takes one
 * mutex instead, for a process with a single signing thread (SoftHSM's own locking costs
 * more than one uncontended mutex per call).
 */
int p11_open(const char *module_path, const char *token_label, int serialize,
             struct p11_module **out, char *err, size_t errlen) PS_WUR;
void p11_close(struct p11_module *m);
/* Open a read-only serial session. */
int p11_session(struct p11_module *m, CK_SESSION_HANDLE *out) PS_WUR;
void p11_session_close(struct p11_module *m, CK_SESSION_HANDLE s);
/* Log the user in (once, for all sessions of this process). CKR_USER_ALREADY_LOGGED_IN is ok. */
int p11_login(struct p11_module *m, CK_SESSION_HANDLE s, const char *pin, size_t pinlen, char *err,
              size_t errlen) PS_WUR;
/* Find the private key with CKA_LABEL label and learn its type and size. */
int p11_find_key(struct p11_module *m, CK_SESSION_HANDLE s, const char *label,
                 struct p11_key *out) PS_WUR;
/*
 * Sign a digest (for Ed25519: the bytes given, as the message) with alg.
 * ECDSA signatures are raw r||s as PKCS#11 returns them. *siglen is in/out.
 */
int p11_sign(struct p11_module *m, CK_SESSION_HANDLE s, const struct p11_key *key, enum ps_alg alg,
             const uint8_t *dgst, size_t dlen, uint8_t *sig, size_t *siglen) PS_WUR;
/* A read-write session (for creating objects at set-up time; never on the serving path). */
int p11_session_rw(struct p11_module *m, CK_SESSION_HANDLE *out) PS_WUR;
/*
 * The AES-256 key with CKA_LABEL label, used to wrap software keys (SM2). With create set
 * and no such key, generate one inside the token: sensitive, never extractable.
 */
int p11_aes_key(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, int create,
                CK_OBJECT_HANDLE *out) PS_WUR;
/*
 * AES-256-GCM inside the token with a 12-byte IV and a 16-byte tag. Encrypt: out = ct || tag
 * (inlen + 16 bytes). Decrypt: in = ct || tag, out = plaintext. *outlen is in/out.
 */
int p11_aes_gcm(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, int encrypt,
                const uint8_t iv[12], const uint8_t *aad, size_t aadlen, const uint8_t *in,
                size_t inlen, uint8_t *out, size_t *outlen) PS_WUR;
/* DER SubjectPublicKeyInfo of the public key with CKA_LABEL label; free() the result. */
int p11_pubkey_spki(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, uint8_t **der,
                    size_t *derlen) PS_WUR;
/* 1 if the session still answers C_GetSessionInfo and the user is logged in. */
/* Private token data objects (CKO_DATA) by label: find up to max (*n of them), read one's
 * value (*len: room in, length out), create one (R/W session), destroy an object. */
int p11_data_find(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *h,
                  size_t max, size_t *n) PS_WUR;
int p11_data_value(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, uint8_t *out,
                   size_t *len) PS_WUR;
int p11_data_create(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, const uint8_t *v,
                    size_t len, CK_OBJECT_HANDLE *h) PS_WUR;
int p11_object_destroy(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h) PS_WUR;
int p11_session_alive(struct p11_module *m, CK_SESSION_HANDLE s);
/* Human-readable name of a CK_RV (static). */
const char *p11_rv_str(CK_RV rv);
/* Last CK_RV seen by this thread (for error messages). */
CK_RV p11_last_rv(void);

#endif
