#include <stdlib.h>
#include <string.h>

#include "../../../hsm/ipc.h"
#include "../unit.h"

/* A decode that should fail must also leave no digest array behind. */
static int req_bad(const uint8_t *p, size_t len)
{
    struct ipc_sign_req r;
    int rc = ipc_sign_req_decode(p, len, &r);

    if (rc == PS_OK) {
        free(r.digests);
        return 0;
    }
    return rc == PS_E_INVAL && r.digests == NULL;
}

/* Append an id (u8 len, bytes) to a hand-built payload. */
static size_t put_raw_id(uint8_t *p, const char *s, size_t n)
{
    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return 1 + n;
}

static void test_hdr(void)
{
    struct ipc_hdr h = {0x01020304u, 0xa0b0c0d0u, IPC_SIGN, 0xfff3u}, d;
    uint8_t b[IPC_HDR_LEN];
    static const uint8_t want[IPC_HDR_LEN] = {1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 0, 1, 0xff, 0xf3};

    h.len = 0x00010203u;
    ipc_hdr_encode(b, &h);
    CHECK(memcmp(b, "\x00\x01\x02\x03", 4) == 0 && memcmp(b + 4, want + 4, 8) == 0,
          "header is big-endian len|id|type|status");
    CHECK(ipc_hdr_decode(b, &d) == PS_OK && d.len == h.len && d.id == h.id && d.type == h.type &&
              d.status == h.status,
          "header round trip");

    h.type = IPC_STATUS;
    h.len = IPC_MAX_PAYLOAD;
    ipc_hdr_encode(b, &h);
    CHECK(ipc_hdr_decode(b, &d) == PS_OK && d.len == IPC_MAX_PAYLOAD && d.type == IPC_STATUS,
          "len == IPC_MAX_PAYLOAD accepted");
    h.len = IPC_MAX_PAYLOAD + 1;
    ipc_hdr_encode(b, &h);
    CHECK(ipc_hdr_decode(b, &d) == PS_E_INVAL, "len > IPC_MAX_PAYLOAD rejected");
    h.len = 0xffffffffu;
    ipc_hdr_encode(b, &h);
    CHECK(ipc_hdr_decode(b, &d) == PS_E_INVAL, "len 0xffffffff rejected");
    h.len = 0;
    for (unsigned t = 0; t < 8; t++) {
        h.type = (uint16_t)t;
        ipc_hdr_encode(b, &h);
        int known = t == IPC_SIGN || t == IPC_STATUS || t == IPC_LEDGER;

        CHECK((ipc_hdr_decode(b, &d) == PS_OK) == known, "type %u %s", t,
              known ? "accepted" : "rejected");
    }
    h.type = 0xffff;
    ipc_hdr_encode(b, &h);
    CHECK(ipc_hdr_decode(b, &d) == PS_E_INVAL, "type 0xffff rejected");
}

static void test_frame_append(void)
{
    struct buf b;
    struct ipc_hdr h;

    buf_init(&b, 64);
    CHECK(ipc_frame_append(&b, 7, IPC_STATUS, 0, "abc", 3) == PS_OK && b.len == IPC_HDR_LEN + 3,
          "frame_append writes header + payload");
    CHECK(ipc_hdr_decode(b.data, &h) == PS_OK && h.len == 3 && h.id == 7 && h.type == IPC_STATUS &&
              memcmp(b.data + IPC_HDR_LEN, "abc", 3) == 0,
          "frame_append frame decodes");
    CHECK(ipc_frame_append(&b, 8, IPC_STATUS, 0, NULL, 0) == PS_OK && b.len == 2 * IPC_HDR_LEN + 3,
          "frame_append with an empty payload");
    {
        uint8_t big[64] = {0};
        size_t was = b.len;

        CHECK(ipc_frame_append(&b, 9, IPC_SIGN, 0, big, sizeof(big)) == PS_E_LIMIT && b.len == was,
              "frame_append past the buffer max fails and leaves the buffer unchanged");
        CHECK(ipc_frame_append(&b, 9, IPC_SIGN, 0, big, (size_t)IPC_MAX_PAYLOAD + 1) ==
                      PS_E_LIMIT &&
                  b.len == was,
              "frame_append refuses payloads > IPC_MAX_PAYLOAD");
    }
    buf_free(&b);
}

static void test_req_roundtrip(void)
{
    static const char tenant[] = "platform-a";
    char key[IPC_MAX_ID + 1];
    uint8_t d0[32], d1[64], d2[1], d3[48];
    const uint8_t *digests[] = {d0, d1, d2, d3};
    const uint8_t dlens[] = {32, 64, 1, 48};
    struct buf b;
    struct ipc_hdr h;
    struct ipc_sign_req r;
    const uint8_t *pl;
    int all = 1;

    memset(key, 'k', IPC_MAX_ID);
    key[IPC_MAX_ID] = 0; /* exactly 64 characters: the maximum */
    for (size_t i = 0; i < sizeof(d1); i++) {
        if (i < sizeof(d0))
            d0[i] = (uint8_t)(i * 7 + 1);
        if (i < sizeof(d3))
            d3[i] = (uint8_t)(0xff - i);
        d1[i] = (uint8_t)(i ^ 0x5a);
    }
    d2[0] = 0;

    buf_init(&b, 4096);
    CHECK(buf_append(&b, "XY", 2) == PS_OK, "prefix bytes before the frame");
    CHECK(ipc_sign_req_encode(&b, 0xdeadbeefu, tenant, key, 0xfe, 0x81, digests, dlens, 4) == PS_OK,
          "encode a 4-digest request with a 64-character key id");
    CHECK(memcmp(b.data, "XY", 2) == 0, "encode appends after existing data");
    CHECK(ipc_hdr_decode(b.data + 2, &h) == PS_OK, "request header decodes");
    CHECK(h.len == b.len - 2 - IPC_HDR_LEN && h.id == 0xdeadbeefu && h.type == IPC_SIGN &&
              h.status == 0,
          "request header: len %u, id, type IPC_SIGN, status 0", (unsigned)h.len);
    CHECK(h.len ==
              1 + strlen(tenant) + 1 + IPC_MAX_ID + 4 + (1 + 32) + (1 + 64) + (1 + 1) + (1 + 48),
          "payload length is exactly the documented layout");
    pl = b.data + 2 + IPC_HDR_LEN;
    CHECK(ipc_sign_req_decode(pl, h.len, &r) == PS_OK, "request decodes");
    CHECK(strcmp(r.tenant, tenant) == 0 && strcmp(r.key, key) == 0, "tenant and key round trip");
    CHECK(r.alg == 0xfe && r.flags == 0x81 && r.count == 4, "alg, flags, count round trip");
    for (int i = 0; i < 4 && r.digests; i++)
        all &= r.digests[i].len == dlens[i] && memcmp(r.digests[i].p, digests[i], dlens[i]) == 0 &&
               r.digests[i].p >= pl && r.digests[i].p + dlens[i] <= pl + h.len;
    CHECK(r.digests != NULL && all, "each digest round trips and points into the payload");
    free(r.digests);

    /* Every proper prefix of the payload is truncated and must fail. */
    {
        int bad = 0;

        for (size_t n = 0; n < h.len; n++)
            if (!req_bad(pl, n)) {
                bad++;
                printf("# prefix of %zu bytes accepted\n", n);
            }
        CHECK(bad == 0, "all %u truncated prefixes are rejected", (unsigned)h.len);
    }
    {
        uint8_t *t = malloc(h.len + 1);

        memcpy(t, pl, h.len);
        t[h.len] = 0;
        CHECK(req_bad(t, h.len + 1), "a trailing byte is rejected");
        t[h.len] = 0x20;
        CHECK(req_bad(t, h.len + 1), "a trailing non-zero byte is rejected");
        free(t);
    }
    buf_free(&b);
}

/* Hand-built payloads that a valid encoder never produces. */
static void test_req_reject(void)
{
    uint8_t p[512];
    size_t n;
    char long_id[IPC_MAX_ID + 1];
    struct ipc_sign_req r;

    memset(long_id, 'a', sizeof(long_id));

#define TAIL(alg, cnt)                                                                             \
    do {                                                                                           \
        p[n++] = (alg);                                                                            \
        p[n++] = 0;                                                                                \
        p[n++] = (uint8_t)((cnt) >> 8);                                                            \
        p[n++] = (uint8_t)(cnt);                                                                   \
    } while (0)

    /* sanity: the hand-built form is accepted when valid */
    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 1);
    p[n++] = 2;
    p[n++] = 0xaa;
    p[n++] = 0xbb;
    CHECK(ipc_sign_req_decode(p, n, &r) == PS_OK && r.count == 1 && r.digests[0].len == 2 &&
              strcmp(r.tenant, "t") == 0 && strcmp(r.key, "k") == 0,
          "hand-built minimal request is accepted");
    free(r.digests);

    n = put_raw_id(p, "", 0);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "zero-length tenant rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "", 0);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "zero-length key rejected");

    n = put_raw_id(p, long_id, IPC_MAX_ID + 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "65-byte tenant rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, long_id, IPC_MAX_ID + 1);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "65-byte key rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, long_id, IPC_MAX_ID);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(ipc_sign_req_decode(p, n, &r) == PS_OK && strlen(r.key) == IPC_MAX_ID,
          "64-byte key accepted");
    free(r.digests);

    n = put_raw_id(p, "t\0x", 3);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "NUL inside the tenant rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k\0", 2);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "NUL at the end of the key rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "\0k", 2);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "NUL at the start of the key rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 0);
    CHECK(req_bad(p, n), "count 0 rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, IPC_MAX_DIGESTS + 1);
    p[n++] = 1;
    p[n++] = 1;
    CHECK(req_bad(p, n), "count > IPC_MAX_DIGESTS rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 2);
    p[n++] = 1;
    p[n++] = 1;
    p[n++] = 0;
    CHECK(req_bad(p, n), "digest length 0 rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 1);
    p[n++] = IPC_MAX_DIGEST + 1;
    memset(p + n, 0x11, IPC_MAX_DIGEST + 1);
    n += IPC_MAX_DIGEST + 1;
    CHECK(req_bad(p, n), "digest length 65 rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 1);
    p[n++] = IPC_MAX_DIGEST;
    memset(p + n, 0x11, IPC_MAX_DIGEST);
    n += IPC_MAX_DIGEST;
    CHECK(ipc_sign_req_decode(p, n, &r) == PS_OK && r.digests[0].len == IPC_MAX_DIGEST,
          "digest length 64 accepted");
    free(r.digests);

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 3);
    p[n++] = 1;
    p[n++] = 1;
    p[n++] = 1;
    p[n++] = 2;
    CHECK(req_bad(p, n), "fewer digests than count rejected");

    n = put_raw_id(p, "t", 1);
    n += put_raw_id(p + n, "k", 1);
    TAIL(1, 1);
    p[n++] = 1;
    p[n++] = 1;
    p[n++] = 1;
    p[n++] = 2;
    CHECK(req_bad(p, n), "more digests than count (trailing bytes) rejected");
#undef TAIL
}

static int buf_same(const struct buf *b, const uint8_t *want, size_t len)
{
    return b->len == len && memcmp(b->data, want, len) == 0 && b->data[b->len] == 0;
}

static void test_req_encode_refuses(void)
{
    uint8_t d[32] = {1}, big[IPC_MAX_DIGEST + 1] = {2};
    const uint8_t *dp[] = {d, d};
    const uint8_t *bp[] = {d, big};
    const uint8_t dl[] = {32, 32}, bl0[] = {32, 0}, blbig[] = {32, IPC_MAX_DIGEST + 1};
    char long_id[IPC_MAX_ID + 2];
    struct buf b;
    static const uint8_t pre[] = "prefix";

    memset(long_id, 'x', IPC_MAX_ID + 1);
    long_id[IPC_MAX_ID + 1] = 0;
    buf_init(&b, 4096);
    CHECK(buf_append(&b, pre, 6) == PS_OK, "buffer holds a prefix");
    CHECK(ipc_sign_req_encode(&b, 1, "t", "k", 1, 0, dp, dl, 0) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses count 0, buffer unchanged");
    CHECK(ipc_sign_req_encode(&b, 1, "t", "k", 1, 0, dp, dl, IPC_MAX_DIGESTS + 1) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses count > IPC_MAX_DIGESTS, buffer unchanged");
    CHECK(ipc_sign_req_encode(&b, 1, long_id, "k", 1, 0, dp, dl, 2) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses a 65-character tenant, buffer unchanged");
    CHECK(ipc_sign_req_encode(&b, 1, "t", long_id, 1, 0, dp, dl, 2) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses a 65-character key, buffer unchanged");
    CHECK(ipc_sign_req_encode(&b, 1, "", "k", 1, 0, dp, dl, 2) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses an empty tenant, buffer unchanged");
    CHECK(ipc_sign_req_encode(&b, 1, "t", "", 1, 0, dp, dl, 2) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses an empty key, buffer unchanged");
    CHECK(ipc_sign_req_encode(&b, 1, "t", "k", 1, 0, bp, bl0, 2) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses a zero-length digest (after a good one), buffer unchanged");
    CHECK(ipc_sign_req_encode(&b, 1, "t", "k", 1, 0, bp, blbig, 2) == PS_E_INVAL &&
              buf_same(&b, pre, 6),
          "encode refuses a 65-byte digest, buffer unchanged");
    buf_free(&b);

    buf_init(&b, IPC_HDR_LEN + 6 + 40);
    CHECK(buf_append(&b, pre, 6) == PS_OK, "small buffer holds a prefix");
    CHECK(ipc_sign_req_encode(&b, 1, "t", "k", 1, 0, dp, dl, 2) == PS_E_LIMIT &&
              buf_same(&b, pre, 6),
          "encode past the buffer max fails with PS_E_LIMIT, buffer unchanged");
    buf_free(&b);
}

static void test_reply(void)
{
    static uint8_t s0[1], s1[71], s2[IPC_MAX_SIG];
    const uint8_t *in[] = {s0, s1, s2};
    const size_t inl[] = {sizeof(s0), sizeof(s1), sizeof(s2)};
    const uint64_t seq = 0x0123456789abcdefULL;
    const uint8_t *sigs[4];
    uint16_t lens[4], count = 0;
    uint64_t fs = 0;
    struct buf b;
    struct ipc_hdr h;
    size_t start = 0;
    const uint8_t *pl;
    int all = 1;

    for (size_t i = 0; i < sizeof(s2); i++) {
        s2[i] = (uint8_t)(i * 13);
        if (i < sizeof(s1))
            s1[i] = (uint8_t)~i;
    }
    s0[0] = 0x42;
    buf_init(&b, 8192);
    CHECK(buf_append(&b, "ZZZ", 3) == PS_OK, "prefix before the reply");
    CHECK(ipc_sign_reply_begin(&b, 0x11223344u, seq, 3, &start) == PS_OK && start == 3,
          "reply_begin returns the frame start");
    for (int i = 0; i < 3; i++)
        CHECK(ipc_sign_reply_add(&b, in[i], inl[i]) == PS_OK, "reply_add sig %d (%zu bytes)", i,
              inl[i]);
    {
        size_t was = b.len;
        static uint8_t toobig[IPC_MAX_SIG + 1];

        CHECK(ipc_sign_reply_add(&b, toobig, sizeof(toobig)) == PS_E_INVAL && b.len == was,
              "reply_add refuses a signature > IPC_MAX_SIG, buffer unchanged");
    }
    ipc_sign_reply_finish(&b, start);
    CHECK(ipc_hdr_decode(b.data + start, &h) == PS_OK, "reply header decodes");
    CHECK(h.len == b.len - start - IPC_HDR_LEN && h.id == 0x11223344u && h.type == IPC_SIGN &&
              h.status == 0,
          "reply header: patched len %u, id, type, status", (unsigned)h.len);
    CHECK(h.len == 10 + (2 + 1) + (2 + 71) + (2 + IPC_MAX_SIG),
          "reply payload is the documented layout");
    pl = b.data + start + IPC_HDR_LEN;
    CHECK(ipc_sign_reply_decode(pl, h.len, &fs, &count, sigs, lens, 4) == PS_OK, "reply decodes");
    CHECK(fs == seq, "first_seq keeps all 64 bits (got %016llx)", (unsigned long long)fs);
    CHECK(count == 3, "count round trips");
    for (int i = 0; i < 3; i++)
        all &= lens[i] == inl[i] && memcmp(sigs[i], in[i], inl[i]) == 0;
    CHECK(all, "each signature round trips");
    CHECK(ipc_sign_reply_decode(pl, h.len, &fs, &count, sigs, lens, 3) == PS_OK,
          "count == max accepted");
    CHECK(ipc_sign_reply_decode(pl, h.len, &fs, &count, sigs, lens, 2) == PS_E_INVAL,
          "count > max rejected");
    {
        int bad = 0;

        for (size_t n = 0; n < h.len; n++)
            if (ipc_sign_reply_decode(pl, n, &fs, &count, sigs, lens, 4) != PS_E_INVAL) {
                bad++;
                printf("# reply prefix of %zu bytes accepted\n", n);
            }
        CHECK(bad == 0, "all %u truncated reply prefixes are rejected", (unsigned)h.len);
    }
    {
        uint8_t *t = malloc(h.len + 1);

        memcpy(t, pl, h.len);
        t[h.len] = 0;
        CHECK(ipc_sign_reply_decode(t, h.len + 1, &fs, &count, sigs, lens, 4) == PS_E_INVAL,
              "reply with a trailing byte rejected");
        free(t);
    }
    buf_free(&b);

    /* Empty reply and the all-ones sequence number. */
    buf_init(&b, 64);
    CHECK(ipc_sign_reply_begin(&b, 1, UINT64_MAX, 0, &start) == PS_OK && start == 0, "empty reply");
    ipc_sign_reply_finish(&b, start);
    CHECK(ipc_hdr_decode(b.data, &h) == PS_OK && h.len == 10, "empty reply header len 10");
    CHECK(ipc_sign_reply_decode(b.data + IPC_HDR_LEN, h.len, &fs, &count, sigs, lens, 0) == PS_OK &&
              fs == UINT64_MAX && count == 0,
          "empty reply decodes, first_seq UINT64_MAX");
    buf_free(&b);

    /* A length field above IPC_MAX_SIG is rejected even if the bytes are there. */
    {
        static uint8_t p[10 + 2 + IPC_MAX_SIG + 1];

        memset(p, 0, sizeof(p));
        p[9] = 1;
        p[10] = (IPC_MAX_SIG + 1) >> 8;
        p[11] = (uint8_t)(IPC_MAX_SIG + 1);
        CHECK(ipc_sign_reply_decode(p, sizeof(p), &fs, &count, sigs, lens, 4) == PS_E_INVAL,
              "reply signature length > IPC_MAX_SIG rejected");
    }
}

/*
 * The keyholder sizes its reply buffer as count * (IPC_MAX_SIG + 2) and the configuration
 * allows max_hashes well above 1000. A reply it can build must be one the worker accepts:
 * either building fails, or the header decodes (len <= IPC_MAX_PAYLOAD). 2100 RSA-4096
 * signatures (512 bytes each) are 10 + 2100 * 514 = 1,079,410 payload bytes.
 */
static void test_reply_size_limit(void)
{
    static uint8_t sig[512];
    const uint16_t count = 2100;
    struct buf b;
    struct ipc_hdr h;
    size_t start;
    int built = 1;

    buf_init(&b, IPC_HDR_LEN + 10 + (size_t)count * (IPC_MAX_SIG + 2));
    if (ipc_sign_reply_begin(&b, 5, 0, count, &start) != PS_OK)
        built = 0;
    for (uint16_t i = 0; i < count && built; i++)
        if (ipc_sign_reply_add(&b, sig, sizeof(sig)) != PS_OK)
            built = 0;
    if (built) {
        ipc_sign_reply_finish(&b, start);
        CHECK(ipc_hdr_decode(b.data + start, &h) == PS_OK,
              "a sign reply the encoder builds (%u x 512-byte sigs, payload %zu) has a header the "
              "decoder accepts",
              (unsigned)count, b.len - start - IPC_HDR_LEN);
    } else {
        CHECK(1, "the encoder refuses a sign reply larger than IPC_MAX_PAYLOAD");
    }
    buf_free(&b);
}

static void test_ledger(void)
{
    struct buf b;
    struct ipc_hdr h;
    struct ipc_ledger l;
    uint8_t hashes[3 * 32];
    static const char leaf[] = "bundle 1 a b c\n";

    buf_init(&b, 4096);
    CHECK(ipc_ledger_req_encode(&b, 7, IPC_LEDGER_APPEND, 1, 2, leaf, sizeof(leaf) - 1) == PS_OK &&
              ipc_hdr_decode(b.data, &h) == PS_OK && h.type == IPC_LEDGER && h.id == 7 &&
              h.len == IPC_LEDGER_REQ_HDR + sizeof(leaf) - 1,
          "ledger request: header");
    CHECK(ipc_ledger_req_decode(b.data + IPC_HDR_LEN, h.len, &l) == PS_OK &&
              l.op == IPC_LEDGER_APPEND && l.a == 1 && l.b == 2 && l.text_len == sizeof(leaf) - 1 &&
              memcmp(l.text, leaf, l.text_len) == 0,
          "ledger request: round trip");
    CHECK(ipc_ledger_req_decode(b.data + IPC_HDR_LEN, IPC_LEDGER_REQ_HDR - 1, &l) == PS_E_INVAL,
          "a short ledger request is refused");
    CHECK(ipc_ledger_req_decode(b.data + IPC_HDR_LEN, IPC_LEDGER_REQ_HDR, &l) == PS_E_INVAL,
          "an append without a leaf is refused");
    b.data[IPC_HDR_LEN] = IPC_LEDGER_INCLUSION;
    CHECK(ipc_ledger_req_decode(b.data + IPC_HDR_LEN, h.len, &l) == PS_E_INVAL,
          "a read request with text is refused");
    CHECK(ipc_ledger_req_decode(b.data + IPC_HDR_LEN, IPC_LEDGER_REQ_HDR, &l) == PS_OK &&
              l.op == IPC_LEDGER_INCLUSION,
          "a read request without text is accepted");
    b.data[IPC_HDR_LEN] = 0;
    CHECK(ipc_ledger_req_decode(b.data + IPC_HDR_LEN, IPC_LEDGER_REQ_HDR, &l) == PS_E_INVAL,
          "op 0 is refused");
    b.data[IPC_HDR_LEN] = 5;
    CHECK(ipc_ledger_req_decode(b.data + IPC_HDR_LEN, IPC_LEDGER_REQ_HDR, &l) == PS_E_INVAL,
          "op 5 is refused");

    for (int i = 0; i < (int)sizeof(hashes); i++)
        hashes[i] = (uint8_t)i;
    buf_reset(&b);
    CHECK(ipc_ledger_reply_append(&b, 9, 5, 8, hashes, 3, "note\n", 5) == PS_OK &&
              ipc_hdr_decode(b.data, &h) == PS_OK && h.len == 17 + 96 + 5,
          "ledger reply: header");
    CHECK(ipc_ledger_reply_decode(b.data + IPC_HDR_LEN, h.len, &l) == PS_OK && l.a == 5 &&
              l.b == 8 && l.nhash == 3 && memcmp(l.hash, hashes, 96) == 0 && l.text_len == 5 &&
              memcmp(l.text, "note\n", 5) == 0,
          "ledger reply: round trip");
    CHECK(ipc_ledger_reply_decode(b.data + IPC_HDR_LEN, 17 + 95, &l) == PS_E_INVAL,
          "a reply shorter than its hashes is refused");
    CHECK(ipc_ledger_reply_append(&b, 9, 0, 0, hashes, IPC_MAX_HASHES + 1, NULL, 0) == PS_E_LIMIT,
          "more than IPC_MAX_HASHES hashes are refused");
    buf_free(&b);
}

int main(void)
{
    test_hdr();
    test_frame_append();
    test_req_roundtrip();
    test_req_reject();
    test_req_encode_refuses();
    test_reply();
    test_reply_size_limit();
    test_ledger();
    return unit_done();
}
