/*
 * p11.c - raw PKCS#11: load the module, find the token, log in, find keys, sign.
 */
#include "p11.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

struct p11_module {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    int serial;           /* initialised without the library's locking: calls take lock */
    pthread_mutex_t lock; /* when serial */
};

static void call_begin(struct p11_module *m)
{
    if (m->serial)
        pthread_mutex_lock(&m->lock);
}

static CK_RV call_end(struct p11_module *m, CK_RV rv)
{
    if (m->serial)
        pthread_mutex_unlock(&m->lock);
    return rv;
}

/* One call into the module (m->f->fn(...)), one at a time when m->serial. Calls, not
 * sequences, are serialized: PKCS#11 without locking only asks that no two threads be in the
 * library at once, and each session belongs to one thread. */
#define CALL(m, fn, ...) call_end((m), (call_begin(m), (m)->f->fn(__VA_ARGS__)))

static __thread CK_RV last_rv;

static int find_one(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                    const char *label, CK_OBJECT_HANDLE *out);

CK_RV p11_last_rv(void)
{
    return last_rv;
}

const char *p11_rv_str(CK_RV rv)
{
    switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_DATA_LEN_RANGE: return "CKR_DATA_LEN_RANGE";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    }
    return "CKR_(other)";
}

static int rv_ok(CK_RV rv)
{
    last_rv = rv;
    return rv == CKR_OK;
}

/* Token labels are blank-padded to 32 bytes. */
static int label_eq(const unsigned char padded[32], const char *label)
{
    size_t n = strlen(label);

    if (n > 32 || memcmp(padded, label, n) != 0)
        return 0;
    for (size_t i = n; i < 32; i++)
        if (padded[i] != ' ')
            return 0;
    return 1;
}

int p11_open(const char *module_path, const char *token_label, int serialize,
             struct p11_module **out, char *err, size_t errlen)
{
    CK_C_GetFunctionList gfl;
    CK_C_INITIALIZE_ARGS args;
    CK_SLOT_ID slots[64];
    CK_ULONG nslots = 64;
    struct p11_module *m;
    int found = 0;

    if ((m = calloc(1, sizeof(*m))) == NULL)
        return PS_E_NOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return PS_E_NOMEM;
    }
    m->serial = serialize;
    if ((m->dl = dlopen(module_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        snprintf(err, errlen, "cannot load PKCS#11 module %s: %s", module_path, dlerror());
        pthread_mutex_destroy(&m->lock);
        free(m);
        return PS_E_HSM;
    }
    if ((gfl = (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList")) == NULL ||
        !rv_ok(gfl(&m->f))) {
        snprintf(err, errlen, "%s is not a PKCS#11 module", module_path);
        goto fail;
    }
    /* serialize: no CKF_OS_LOCKING_OK and no mutex callbacks ("not from several threads at
     * once"), so the library skips its own locks (SoftHSM: many per C_Sign) */
    memset(&args, 0, sizeof(args));
    args.flags = serialize ? 0 : CKF_OS_LOCKING_OK;
    if (!rv_ok(CALL(m, C_Initialize, &args))) {
        snprintf(err, errlen, "C_Initialize failed: %s", p11_rv_str(last_rv));
        goto fail;
    }
    if (!rv_ok(CALL(m, C_GetSlotList, CK_TRUE, slots, &nslots))) {
        snprintf(err, errlen, "C_GetSlotList failed: %s", p11_rv_str(last_rv));
        goto fail_fin;
    }
    for (CK_ULONG i = 0; i < nslots && !found; i++) {
        CK_TOKEN_INFO ti;

        if (rv_ok(CALL(m, C_GetTokenInfo, slots[i], &ti)) && label_eq(ti.label, token_label)) {
            m->slot = slots[i];
            found = 1;
        }
    }
    if (!found) {
        snprintf(err, errlen, "no token labelled '%s' in %s", token_label, module_path);
        goto fail_fin;
    }
    *out = m;
    return PS_OK;
fail_fin:
    CALL(m, C_Finalize, NULL);
fail:
    dlclose(m->dl);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return PS_E_HSM;
}

void p11_close(struct p11_module *m)
{
    if (m == NULL)
        return;
    CALL(m, C_Finalize, NULL);
    dlclose(m->dl);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int p11_session(struct p11_module *m, CK_SESSION_HANDLE *out)
{
    return rv_ok(CALL(m, C_OpenSession, m->slot, CKF_SERIAL_SESSION, NULL, NULL, out)) ? PS_OK
                                                                                       : PS_E_HSM;
}

int p11_session_rw(struct p11_module *m, CK_SESSION_HANDLE *out)
{
    return rv_ok(CALL(m, C_OpenSession, m->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                      out))
               ? PS_OK
               : PS_E_HSM;
}

int p11_aes_key(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, int create,
                CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},
        {CKA_DECRYPT, &yes, sizeof(yes)},
    };
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    int r = find_one(m, s, CKO_SECRET_KEY, label, out);

    if (r != PS_E_NOTFOUND || !create)
        return r;
    return rv_ok(CALL(m, C_GenerateKey, s, &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), out))
               ? PS_OK
               : PS_E_HSM;
}

int p11_data_find(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *h,
                  size_t max, size_t *n)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_ULONG got = 0;
    int r = PS_E_HSM;

    *n = 0;
    if (!rv_ok(CALL(m, C_FindObjectsInit, s, tmpl, 2)))
        return PS_E_HSM;
    if (rv_ok(CALL(m, C_FindObjects, s, h, max, &got))) {
        *n = got;
        r = PS_OK;
    }
    CALL(m, C_FindObjectsFinal, s);
    return r;
}

int p11_data_value(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, uint8_t *out,
                   size_t *len)
{
    CK_ATTRIBUTE a = {CKA_VALUE, out, *len};

    if (!rv_ok(CALL(m, C_GetAttributeValue, s, h, &a, 1)) ||
        a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return PS_E_HSM;
    *len = a.ulValueLen;
    return PS_OK;
}

int p11_data_create(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, const uint8_t *v,
                    size_t len, CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    static const char app[] = "portseal";
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_APPLICATION, (void *)app, sizeof(app) - 1},
        {CKA_VALUE, (void *)v, len},
    };

    return rv_ok(CALL(m, C_CreateObject, s, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), h)) ? PS_OK
                                                                                      : PS_E_HSM;
}

int p11_object_destroy(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
    return rv_ok(CALL(m, C_DestroyObject, s, h)) ? PS_OK : PS_E_HSM;
}

int p11_aes_gcm(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, int encrypt,
                const uint8_t iv[12], const uint8_t *aad, size_t aadlen, const uint8_t *in,
                size_t inlen, uint8_t *out, size_t *outlen)
{
    CK_GCM_PARAMS gcm = {(CK_BYTE_PTR)iv, 12, 96, (CK_BYTE_PTR)aad, aadlen, 128};
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    CK_ULONG ol = *outlen;
    CK_RV rv;

    if (encrypt)
        rv = CALL(m, C_EncryptInit, s, &mech, key) == CKR_OK
                 ? CALL(m, C_Encrypt, s, (CK_BYTE_PTR)in, inlen, out, &ol)
                 : CKR_FUNCTION_FAILED;
    else
        rv = CALL(m, C_DecryptInit, s, &mech, key) == CKR_OK
                 ? CALL(m, C_Decrypt, s, (CK_BYTE_PTR)in, inlen, out, &ol)
                 : CKR_FUNCTION_FAILED;
    if (!rv_ok(rv))
        return PS_E_HSM;
    *outlen = ol;
    return PS_OK;
}

void p11_session_close(struct p11_module *m, CK_SESSION_HANDLE s)
{
    CALL(m, C_CloseSession, s);
}

int p11_session_alive(struct p11_module *m, CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;

    return rv_ok(CALL(m, C_GetSessionInfo, s, &si)) &&
           (si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS);
}

int p11_login(struct p11_module *m, CK_SESSION_HANDLE s, const char *pin, size_t pinlen, char *err,
              size_t errlen)
{
    CK_RV rv = CALL(m, C_Login, s, CKU_USER, (CK_UTF8CHAR_PTR)pin, pinlen);

    last_rv = rv;
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
        return PS_OK;
    snprintf(err, errlen, "login to the token failed: %s%s", p11_rv_str(rv),
             rv == CKR_PIN_INCORRECT ? " (wrong PIN)" : "");
    return PS_E_HSM;
}

static int find_one(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                    const char *label, CK_OBJECT_HANDLE *out)
{
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    int r = PS_E_HSM;

    if (!rv_ok(CALL(m, C_FindObjectsInit, s, tmpl, 2)))
        return PS_E_HSM;
    if (rv_ok(CALL(m, C_FindObjects, s, h, 2, &n)))
        r = n == 1 ? PS_OK : n == 0 ? PS_E_NOTFOUND : PS_E_INVAL;
    CALL(m, C_FindObjectsFinal, s);
    if (r == PS_OK)
        *out = h[0];
    return r;
}

/* Read one attribute into a malloc'd buffer. */
static int get_attr(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                    CK_ATTRIBUTE_TYPE t, uint8_t **val, size_t *len)
{
    CK_ATTRIBUTE a = {t, NULL, 0};

    if (!rv_ok(CALL(m, C_GetAttributeValue, s, o, &a, 1)) || a.ulValueLen == (CK_ULONG)-1 ||
        a.ulValueLen > 65536)
        return PS_E_HSM;
    if ((a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1)) == NULL)
        return PS_E_NOMEM;
    if (!rv_ok(CALL(m, C_GetAttributeValue, s, o, &a, 1))) {
        free(a.pValue);
        return PS_E_HSM;
    }
    *val = a.pValue;
    *len = a.ulValueLen;
    return PS_OK;
}

static enum ps_keytype ec_type(const uint8_t *params, size_t len, unsigned *bits)
{
    /* DER OIDs of the named curves portseal accepts */
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

    if (len == sizeof(p256) && memcmp(params, p256, len) == 0) {
        *bits = 256;
        return KT_EC_P256;
    }
    if (len == sizeof(p384) && memcmp(params, p384, len) == 0) {
        *bits = 384;
        return KT_EC_P384;
    }
    return KT_NONE;
}

int p11_find_key(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, struct p11_key *out)
{
    CK_KEY_TYPE kt;
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &kt, sizeof(kt)};
    uint8_t *v = NULL;
    size_t vl;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = find_one(m, s, CKO_PRIVATE_KEY, label, &out->priv)) != PS_OK)
        return r;
    if (!rv_ok(CALL(m, C_GetAttributeValue, s, out->priv, &a, 1)))
        return PS_E_HSM;
    switch (kt) {
    case CKK_RSA:
        if ((r = get_attr(m, s, out->priv, CKA_MODULUS, &v, &vl)) != PS_OK)
            return r;
        out->type = KT_RSA;
        out->bits = (unsigned)vl * 8;
        break;
    case CKK_EC:
        if ((r = get_attr(m, s, out->priv, CKA_EC_PARAMS, &v, &vl)) != PS_OK)
            return r;
        out->type = ec_type(v, vl, &out->bits);
        break;
    case CKK_EC_EDWARDS:
        out->type = KT_ED25519;
        out->bits = 256;
        break;
    default: out->type = KT_NONE;
    }
    free(v);
    return out->type == KT_NONE ? PS_E_UNSUPPORTED : PS_OK;
}

/* DigestInfo prefixes (RFC 8017 section 9.2, note 1). */
static const uint8_t di_sha1[] = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                  0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
static const uint8_t di_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t di_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
static const uint8_t di_sha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

int p11_sign(struct p11_module *m, CK_SESSION_HANDLE s, const struct p11_key *key, enum ps_alg alg,
             const uint8_t *dgst, size_t dlen, uint8_t *sig, size_t *siglen)
{
    const struct ps_alg_info *ai = alg_info(alg);
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_MECHANISM mech = {0, NULL, 0};
    uint8_t di[19 + 64];
    const uint8_t *in = dgst;
    size_t inlen = dlen;
    CK_ULONG outlen = *siglen;

    /* Digest sizes are policy (keyholder); here only what would overflow or mislead. */
    if (ai == NULL || !alg_fits_key(alg, key->type) ||
        (ai->hash != HASH_NONE && dlen != hash_len(ai->hash)))
        return PS_E_INVAL;
    if (ai->family == KT_EC_P256) {
        mech.mechanism = CKM_ECDSA;
    } else if (ai->family == KT_ED25519) {
        mech.mechanism = CKM_EDDSA;
    } else if (ai->pss) {
        static const CK_MECHANISM_TYPE hm[] = {0, CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512};
        static const CK_RSA_PKCS_MGF_TYPE mg[] = {0, CKG_MGF1_SHA1, CKG_MGF1_SHA256,
                                                  CKG_MGF1_SHA384, CKG_MGF1_SHA512};
        pss.hashAlg = hm[ai->hash];
        pss.mgf = mg[ai->hash];
        pss.sLen = dlen;
        mech.mechanism = CKM_RSA_PKCS_PSS;
        mech.pParameter = &pss;
        mech.ulParameterLen = sizeof(pss);
    } else {
        const uint8_t *pre = ai->hash == HASH_SHA1     ? di_sha1
                             : ai->hash == HASH_SHA256 ? di_sha256
                             : ai->hash == HASH_SHA384 ? di_sha384
                                                       : di_sha512;
        size_t plen = ai->hash == HASH_SHA1 ? sizeof(di_sha1) : sizeof(di_sha256);

        memcpy(di, pre, plen);
        memcpy(di + plen, dgst, dlen);
        in = di;
        inlen = plen + dlen;
        mech.mechanism = CKM_RSA_PKCS;
    }
    if (!rv_ok(CALL(m, C_SignInit, s, &mech, key->priv)))
        return PS_E_HSM;
    if (!rv_ok(CALL(m, C_Sign, s, (CK_BYTE_PTR)in, inlen, sig, &outlen)))
        return PS_E_HSM;
    *siglen = outlen;
    return PS_OK;
}

/* SoftHSM and most tokens wrap CKA_EC_POINT in a DER OCTET STRING. */
static int unwrap_point(const uint8_t *v, size_t vl, ASN1_OCTET_STRING **os)
{
    const unsigned char *p = v;

    *os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)vl);
    return *os != NULL && p == v + vl ? PS_OK : PS_E_INVAL;
}

static EVP_PKEY *pub_ec(const uint8_t *params, size_t pl, const uint8_t *point, size_t ptl)
{
    const unsigned char *p = params;
    ASN1_OCTET_STRING *os = NULL;
    EC_GROUP *g = NULL;
    EC_KEY *ec = NULL;
    EVP_PKEY *pk = NULL;

    if ((g = d2i_ECPKParameters(NULL, &p, (long)pl)) == NULL ||
        unwrap_point(point, ptl, &os) != PS_OK || (ec = EC_KEY_new()) == NULL ||
        !EC_KEY_set_group(ec, g))
        goto out;
    p = os->data;
    if (o2i_ECPublicKey(&ec, &p, os->length) == NULL || (pk = EVP_PKEY_new()) == NULL)
        goto out;
    if (!EVP_PKEY_assign_EC_KEY(pk, ec)) {
        EVP_PKEY_free(pk);
        pk = NULL;
        goto out;
    }
    ec = NULL;
out:
    EC_KEY_free(ec);
    EC_GROUP_free(g);
    ASN1_OCTET_STRING_free(os);
    return pk;
}

static EVP_PKEY *pub_rsa(const uint8_t *n, size_t nl, const uint8_t *e, size_t el)
{
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    RSA *rsa = RSA_new();
    EVP_PKEY *pk = NULL;

    if (bn == NULL || be == NULL || rsa == NULL || !RSA_set0_key(rsa, bn, be, NULL))
        goto fail;
    bn = be = NULL;
    if ((pk = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_RSA(pk, rsa))
        goto fail;
    return pk;
fail:
    EVP_PKEY_free(pk);
    RSA_free(rsa);
    BN_free(bn);
    BN_free(be);
    return NULL;
}

static EVP_PKEY *pub_ed(const uint8_t *point, size_t ptl)
{
    ASN1_OCTET_STRING *os = NULL;
    EVP_PKEY *pk = NULL;

    if (ptl == 32) /* some tokens store the raw point */
        return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, point, 32);
    if (unwrap_point(point, ptl, &os) == PS_OK && os->length == 32)
        pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, os->data, 32);
    ASN1_OCTET_STRING_free(os);
    return pk;
}

int p11_pubkey_spki(struct p11_module *m, CK_SESSION_HANDLE s, const char *label, uint8_t **der,
                    size_t *derlen)
{
    CK_OBJECT_HANDLE h;
    CK_KEY_TYPE kt;
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &kt, sizeof(kt)};
    uint8_t *v1 = NULL, *v2 = NULL;
    size_t l1 = 0, l2 = 0;
    EVP_PKEY *pk = NULL;
    unsigned char *out = NULL;
    int r, n;

    if ((r = find_one(m, s, CKO_PUBLIC_KEY, label, &h)) != PS_OK)
        return r;
    if (!rv_ok(CALL(m, C_GetAttributeValue, s, h, &a, 1)))
        return PS_E_HSM;
    r = PS_E_UNSUPPORTED;
    if (kt == CKK_RSA) {
        if ((r = get_attr(m, s, h, CKA_MODULUS, &v1, &l1)) != PS_OK ||
            (r = get_attr(m, s, h, CKA_PUBLIC_EXPONENT, &v2, &l2)) != PS_OK)
            goto out;
        pk = pub_rsa(v1, l1, v2, l2);
    } else if (kt == CKK_EC) {
        if ((r = get_attr(m, s, h, CKA_EC_PARAMS, &v1, &l1)) != PS_OK ||
            (r = get_attr(m, s, h, CKA_EC_POINT, &v2, &l2)) != PS_OK)
            goto out;
        pk = pub_ec(v1, l1, v2, l2);
    } else if (kt == CKK_EC_EDWARDS) {
        if ((r = get_attr(m, s, h, CKA_EC_POINT, &v2, &l2)) != PS_OK)
            goto out;
        pk = pub_ed(v2, l2);
    } else
        goto out;
    r = PS_E_CRYPTO;
    if (pk == NULL || (n = i2d_PUBKEY(pk, &out)) <= 0)
        goto out;
    *der = malloc((size_t)n);
    if (*der == NULL) {
        r = PS_E_NOMEM;
        goto out;
    }
    memcpy(*der, out, (size_t)n);
    *derlen = (size_t)n;
    r = PS_OK;
out:
    OPENSSL_free(out);
    EVP_PKEY_free(pk);
    free(v1);
    free(v2);
    return r;
}
