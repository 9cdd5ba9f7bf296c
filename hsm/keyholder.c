/*
 * keyholder.c - signs digests for workers, after checking policy and writing the audit record.
 *
 * Threads:
 *   main      polls the worker sockets, decodes frames, checks policy, queues the sign jobs
 *             of one poll round at once, answers status requests and flushes replies the
 *             committer could not write.
 *   signer*N  one PKCS#11 session each; take the jobs waiting (up to KH_SIGN_BATCH
 *             signatures, so that the others get some; a lone signer takes up to
 *             KH_COMMIT_MAX), sign them, and pass them on together: at the end of the batch,
 *             or earlier once the first unpassed one has waited KH_HANDOVER_MS.
 *   committer takes every signed job waiting, writes all their audit records and ledger
 *             leaves in one transaction (group commit), signs a checkpoint when one is due
 *             (a bundle leaf needs one at once; else every checkpoint_interval seconds
 *             while the log grows), and only then sends the replies.
 * Hand-offs and commits are per batch, not per request: a commit (fsync) costs about as
 * much CPU as an RSA signature, and each thread wake-up several microseconds.
 * Ledger reads (the latest checkpoint, inclusion and consistency proofs) are answered by the
 * main thread from its own read connection, without waiting for the committer.
 * A worker that sends a malformed frame is cut off (its socket is closed).
 */
#include "keyholder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../appliance/log.h"
#include "../appliance/privsep.h"
#include "../certs/keyreg.h"
#include "audit.h"
#include "ledger.h"
#include "ledgerhead.h"
#include "../protocol/checkpoint.h"
#include "ipc.h"
#include "p11.h"
#include "pinfile.h"
#include "policy.h"
#include "sm2wrap.h"
#include "tenantlimit.h"
#include "../protocol/sigfmt.h"

#define KH_MAX_WORKERS 64
#define KH_OUT_MAX     (64 * 1024 * 1024)
#define KH_COMMIT_MAX  4096 /* signatures in one transaction, at most */
#define KH_SIGN_BATCH  512  /* signatures a signer takes at once, at most (one job may be more) */
/* A signed job waits at most this long for the rest of its batch: a commit costs ~0.2 ms of
 * CPU (fdatasync through virtio, WAL writes, wake-ups), so 60 ms keeps it at ~0.35% of the
 * signing time and lets a whole ECDSA batch (512 x ~110 us) go in one commit. */
#define KH_HANDOVER_MS 60

struct kh_peer {
    int fd;
    unsigned gen; /* bumped when the parent installs a new socket for this worker slot */
    int dirty;    /* committer only: replies queued, not yet pushed */
    struct buf in;
    struct buf out; /* guarded by lock */
    pthread_mutex_t lock;
};

enum kh_job_kind {
    JOB_SIGN,       /* sign digests, then commit their audit records */
    JOB_LEAF,       /* append one leaf; reply with its proof to a fresh checkpoint */
    JOB_CHECKPOINT, /* sign a checkpoint if the log grew (peer NULL: the interval timer) */
};

struct kh_job {
    struct kh_job *next;
    enum kh_job_kind kind;
    struct kh_peer *peer;
    unsigned peer_gen;
    uint32_t id;
    struct ipc_sign_req req;
    uint8_t *payload; /* owns the bytes req.digests point into */
    const struct key_entry *key;
    struct p11_key *p11key;
    EVP_PKEY *sm2key; /* set for SM2 keys instead of p11key */
    struct buf reply;
    size_t reply_start;
    int failed; /* reply holds an error frame; no audit records */
    int64_t ts_ms;
    size_t leaf_len;     /* JOB_LEAF: the leaf is payload[IPC_LEDGER_REQ_HDR..] */
    uint64_t leaf_index; /* JOB_LEAF: set by the commit */
};

struct kh_queue {
    struct kh_job *head, *tail;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static struct kh {
    const struct config *cfg;
    struct keyreg reg;
    struct p11_module *p11;
    struct p11_key *p11keys; /* parallel to reg.keys */
    EVP_PKEY **sm2keys;      /* parallel to reg.keys: unwrapped SM2 keys (secure heap) */
    struct audit *audit;
    struct ledger_reader *ledger_rd; /* main thread: its own connection, for reads */
    const struct key_entry *ledger_key;
    struct p11_key *ledger_p11;
    struct note_signer ledger_signer;
    CK_SESSION_HANDLE commit_session;
    CK_SESSION_HANDLE head_session; /* R/W: the ledger head object (setup, then the committer) */
    unsigned long long n_checkpoints, n_leaves;
    struct kh_peer peers[KH_MAX_WORKERS];
    int npeers;
    struct kh_queue signq, commitq;
    int wake_fd; /* eventfd: replies are waiting to be flushed */
    CK_SESSION_HANDLE status_session;
    volatile sig_atomic_t stop;
    /* counters (atomic adds) */
    unsigned long long n_sig, n_req, n_denied, n_hsm_err, n_commits;
    unsigned long long *n_sig_by; /* [key index * ALG_MAX + alg]: signatures committed */
    int storage_ok;
    struct kh_job *batch_head, *batch_tail; /* main thread: decoded, not yet queued */
    struct tenant_limits limits;            /* main thread: sign_rate buckets per tenant */
} kh;

/* Append a list of jobs (head..tail, linked by next) with one lock and one wake-up. */
static void q_push_list(struct kh_queue *q, struct kh_job *head, struct kh_job *tail)
{
    tail->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = head;
    else
        q->head = head;
    q->tail = tail;
    if (head != tail)
        pthread_cond_broadcast(&q->cond);
    else
        pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static void q_push(struct kh_queue *q, struct kh_job *j)
{
    q_push_list(q, j, j);
}

/* Pop one job (all = 0) or the whole list (all = 1); blocks until there is one. */
static struct kh_job *q_pop(struct kh_queue *q, int all)
{
    struct kh_job *j;

    pthread_mutex_lock(&q->lock);
    while (q->head == NULL)
        pthread_cond_wait(&q->cond, &q->lock);
    j = q->head;
    if (all) {
        q->head = q->tail = NULL;
    } else {
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        j->next = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    return j;
}

/* Pop the jobs at the head of q up to max_sigs signatures (at least one job); blocks until
 * there is one. What is left wakes another signer. */
static struct kh_job *q_pop_batch(struct kh_queue *q, size_t max_sigs)
{
    struct kh_job *head, *last;
    size_t sigs;

    pthread_mutex_lock(&q->lock);
    while (q->head == NULL)
        pthread_cond_wait(&q->cond, &q->lock);
    head = last = q->head;
    sigs = head->req.count;
    while (last->next && sigs + last->next->req.count <= max_sigs) {
        last = last->next;
        sigs += last->req.count;
    }
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    else
        pthread_cond_signal(&q->cond);
    last->next = NULL;
    pthread_mutex_unlock(&q->lock);
    return head;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write as much of p->out as the socket takes now; p->lock is held. */
static void peer_write_locked(struct kh_peer *p)
{
    while (p->fd >= 0 && buf_unread(&p->out)) {
        ssize_t n =
            send(p->fd, buf_rptr(&p->out), buf_unread(&p->out), MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n <= 0)
            break;
        buf_consume(&p->out, (size_t)n);
    }
}

/*
 * Append bytes to a peer's output without writing them yet (peer_push writes).
 * A reply for an earlier generation of this worker slot (a restarted worker) is dropped.
 */
static void peer_queue(struct kh_peer *p, unsigned gen, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&p->lock);
    if (gen == p->gen && p->fd >= 0 && buf_append(&p->out, data, len) != PS_OK) {
        log_warnx("worker output buffer full; dropping the worker");
        shutdown(p->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Write what is queued for p, in as few writes as the socket allows; the main thread
 * flushes what the socket does not take now. */
static void peer_push(struct kh_peer *p)
{
    int pending;

    pthread_mutex_lock(&p->lock);
    peer_write_locked(p);
    pending = p->fd >= 0 && buf_unread(&p->out) > 0;
    pthread_mutex_unlock(&p->lock);
    if (pending) {
        uint64_t one = 1;

        if (write(kh.wake_fd, &one, sizeof(one)) < 0)
            log_warn("eventfd");
    }
}

static void peer_send(struct kh_peer *p, unsigned gen, const uint8_t *data, size_t len)
{
    peer_queue(p, gen, data, len);
    peer_push(p);
}

static void send_error(struct kh_peer *p, unsigned gen, uint32_t id, uint16_t type, int err,
                       const char *msg)
{
    struct buf b;

    buf_init(&b, 512);
    if (ipc_frame_append(&b, id, type, (uint16_t)-err, msg, strlen(msg)) == PS_OK)
        peer_send(p, gen, b.data, b.len);
    buf_free(&b);
}

static void job_free(struct kh_job *j)
{
    free(j->req.digests);
    free(j->payload);
    buf_free(&j->reply);
    free(j);
}

/* SM2 over a 32-byte e; the signature is returned raw r||s like PKCS#11 ECDSA. */
static int sm2_sign(EVP_PKEY *k, const uint8_t *e, size_t elen, uint8_t *sig, size_t *siglen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    uint8_t der[80];
    size_t dl = sizeof(der);
    int r = PS_E_CRYPTO;

    if (c && elen == 32 && *siglen >= 64 && EVP_PKEY_sign_init(c) == 1 &&
        EVP_PKEY_sign(c, der, &dl, e, elen) == 1 && ecdsa_der_to_raw(der, dl, 32, sig) == PS_OK) {
        *siglen = 64;
        r = PS_OK;
    }
    EVP_PKEY_CTX_free(c);
    return r;
}

/* Sign every digest of j; on failure its reply becomes the error. */
static void sign_job(CK_SESSION_HANDLE s, struct kh_job *j)
{
    const struct ps_alg_info *ai = alg_info(j->req.alg);
    uint8_t sig[IPC_MAX_SIG];

    buf_init(&j->reply, IPC_HDR_LEN + 10 + (size_t)j->req.count * (IPC_MAX_SIG + 2));
    if (ipc_sign_reply_begin(&j->reply, j->id, 0, j->req.count, &j->reply_start) != PS_OK)
        fatalx("reply buffer");
    for (uint16_t i = 0; i < j->req.count && !j->failed; i++) {
        size_t sl = sizeof(sig);

        if ((j->sm2key ? sm2_sign(j->sm2key, j->req.digests[i].p, j->req.digests[i].len, sig, &sl)
                       : p11_sign(kh.p11, s, j->p11key, j->req.alg, j->req.digests[i].p,
                                  j->req.digests[i].len, sig, &sl)) != PS_OK ||
            ipc_sign_reply_add(&j->reply, sig, sl) != PS_OK) {
            CK_RV rv = p11_last_rv();
            char msg[128];

            __atomic_add_fetch(&kh.n_hsm_err, 1, __ATOMIC_RELAXED);
            log_warnx("signing with key %s (%s) failed: %s", j->key->cfg->id, ai->name,
                      p11_rv_str(rv));
            snprintf(msg, sizeof(msg), "HSM refused to sign: %s", p11_rv_str(rv));
            buf_reset(&j->reply);
            if (ipc_frame_append(&j->reply, j->id, IPC_SIGN, (uint16_t)-PS_E_HSM, msg,
                                 strlen(msg)) != PS_OK)
                fatalx("reply buffer");
            j->failed = 1;
        }
    }
    if (!j->failed)
        ipc_sign_reply_finish(&j->reply, j->reply_start);
}

static void *signer_thread(void *arg)
{
    CK_SESSION_HANDLE s;

    (void)arg;
    if (p11_session(kh.p11, &s) != PS_OK)
        fatalx("cannot open a PKCS#11 session for a signer thread: %s", p11_rv_str(p11_last_rv()));
    for (;;) {
        /* a lone signer has nobody to share with: the hand-off time alone bounds its groups */
        struct kh_job *j = q_pop_batch(&kh.signq, kh.cfg->keyholder_threads == 1 ? KH_COMMIT_MAX
                                                                                 : KH_SIGN_BATCH),
                      *done = NULL, *tail = NULL;
        double since = 0;

        while (j) {
            struct kh_job *next = j->next;

            sign_job(s, j);
            if (done == NULL) {
                done = j;
                since = mono_s();
            } else {
                tail->next = j;
            }
            tail = j;
            /* one hand-off for the batch, unless it takes long: then what is signed goes */
            if (next == NULL || mono_s() - since >= KH_HANDOVER_MS / 1000.0) {
                q_push_list(&kh.commitq, done, tail);
                done = NULL;
            }
            j = next;
        }
    }
    return NULL;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Write the audit records and leaves of a list of jobs in one transaction; set each sign
 * reply's seq and each leaf job's index (in a->b of its reply, filled later). */
static int commit_jobs(struct kh_job *list, struct audit_rec *recs)
{
    size_t n = 0;
    uint64_t index = 0;

    for (struct kh_job *j = list; j; j = j->next) {
        if (j->failed || j->kind == JOB_CHECKPOINT)
            continue;
        if (j->kind == JOB_LEAF) {
            memset(&recs[n], 0, sizeof(recs[n]));
            recs[n].leaf = j->payload + IPC_LEDGER_REQ_HDR;
            recs[n].leaf_len = j->leaf_len;
            n++;
            continue;
        }
        for (uint16_t i = 0; i < j->req.count; i++) {
            recs[n].ts_ms = j->ts_ms;
            recs[n].tenant = j->req.tenant;
            recs[n].key = j->req.key;
            recs[n].alg = alg_info(j->req.alg)->name;
            recs[n].digest = j->req.digests[i].p;
            recs[n].dlen = j->req.digests[i].len;
            recs[n].leaf = NULL;
            n++;
        }
    }
    if (n == 0)
        return PS_OK;
    if (audit_append(kh.audit, recs, n, &index) != PS_OK)
        return PS_E_STORAGE;
    __atomic_add_fetch(&kh.n_commits, 1, __ATOMIC_RELAXED);
    /* records are leaves in list order: a sign job's seq is its first signature's index */
    for (struct kh_job *j = list; j; j = j->next) {
        if (j->failed || j->kind == JOB_CHECKPOINT)
            continue;
        if (j->kind == JOB_LEAF) {
            j->leaf_index = index++;
            continue;
        }
        put64(j->reply.data + j->reply_start + IPC_HDR_LEN, index);
        index += j->req.count;
    }
    return PS_OK;
}

/* note_sign_fn: Ed25519 in the HSM, on the committer's session. */
static int ledger_sign_cb(void *ctx, const uint8_t *msg, size_t len,
                          uint8_t sig[NOTE_ED25519_SIG_LEN])
{
    size_t sl = NOTE_ED25519_SIG_LEN;

    (void)ctx;
    if (p11_sign(kh.p11, kh.commit_session, kh.ledger_p11, ALG_ED25519, msg, len, sig, &sl) !=
            PS_OK ||
        sl != NOTE_ED25519_SIG_LEN) {
        __atomic_add_fetch(&kh.n_hsm_err, 1, __ATOMIC_RELAXED);
        return PS_E_HSM;
    }
    return PS_OK;
}

static void ready_fail(int ready_fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* After a checkpoint: record it as the ledger head in the token (hsm/ledgerhead.h). */
static void head_record(uint64_t size, const uint8_t root[MERKLE_HASH_LEN])
{
    if (ledger_head_write(kh.p11, kh.head_session, size, root) != PS_OK) {
        __atomic_add_fetch(&kh.n_hsm_err, 1, __ATOMIC_RELAXED);
        log_warnx("the ledger head (size %" PRIu64 ") could not be written to the token: %s", size,
                  p11_rv_str(p11_last_rv()));
    }
}

/* At start: the stored tree must extend the head recorded in the token (hsm/ledgerhead.h). */
static void head_check(int ready_fd)
{
    struct ledger *l = audit_ledger(kh.audit);
    struct merkle_proof proof;
    uint8_t root[MERKLE_HASH_LEN], cur[MERKLE_HASH_LEN];
    uint64_t size = 0;
    char err[256];
    int r = ledger_head_read(kh.p11, kh.head_session, &size, root);

    if (r == PS_E_NOTFOUND) {
        log_info("the token has no ledger head yet; it is recorded from the next checkpoint");
        return;
    }
    if (r != PS_OK)
        ready_fail(ready_fd, "the ledger head in token %s cannot be read (%s)",
                   kh.cfg->pkcs11_token, r == PS_E_INVAL ? "malformed" : "token error");
    ledger_root(l, cur);
    if (ledger_size(l) < size)
        ready_fail(ready_fd,
                   "the ledger in %s/audit.db has %" PRIu64 " leaves, but token %s recorded a "
                   "checkpoint of %" PRIu64 ": state_dir was restored from an older copy or "
                   "replaced. Serving would fork the ledger; restore the latest state_dir (see "
                   "docs/backup-restore.md, 'The ledger head')",
                   kh.cfg->state_dir, ledger_size(l), kh.cfg->pkcs11_token, size);
    proof.len = 0;
    if (ledger_consistency(kh.ledger_rd, size, ledger_size(l), &proof, err, sizeof(err)) != PS_OK ||
        merkle_verify_consistency(size, ledger_size(l), &proof, root, cur) != PS_OK)
        ready_fail(ready_fd,
                   "the ledger in %s/audit.db does not extend the checkpoint of %" PRIu64
                   " leaves that token %s recorded: it was replaced or rewritten (see "
                   "docs/backup-restore.md, 'The ledger head')",
                   kh.cfg->state_dir, size, kh.cfg->pkcs11_token);
    log_info("the ledger extends the head recorded in the token (%" PRIu64 " of %" PRIu64
             " leaves)",
             size, ledger_size(l));
}

/*
 * Sign and store a checkpoint of the committed tree if it grew since the last one (or none
 * exists). Only committed leaves are covered, so a checkpoint can never disagree with an
 * earlier one; it is stored before anyone sees it. PS_OK also when nothing was due.
 */
static int checkpoint_now(void)
{
    struct ledger *l = audit_ledger(kh.audit);
    struct checkpoint cp;
    struct buf note;
    char err[256];
    int r;

    if (kh.ledger_key == NULL)
        return PS_E_UNAVAIL;
    if (ledger_has_checkpoint(l) && ledger_size(l) == ledger_checkpoint_size(l))
        return PS_OK;
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), "%s", kh.cfg->ledger_origin);
    cp.size = ledger_size(l);
    ledger_root(l, cp.root);
    buf_init(&note, 4096);
    r = checkpoint_sign(&cp, &kh.ledger_signer, &note, err, sizeof(err));
    if (r == PS_OK)
        r = ledger_checkpoint_store(l, cp.size, cp.root, now_ms(), note.data, note.len);
    if (r != PS_OK)
        log_warnx("checkpoint at size %" PRIu64 " not issued: %s", cp.size,
                  r == PS_E_STORAGE ? "storage failed" : err);
    else
        __atomic_add_fetch(&kh.n_checkpoints, 1, __ATOMIC_RELAXED);
    if (r == PS_OK)
        head_record(cp.size, cp.root);
    buf_free(&note);
    return r;
}

/* The reply of a leaf or checkpoint job, after checkpoint_now. */
static void ledger_job_reply(struct kh_job *j, int cp_status)
{
    struct ledger_reader *db = ledger_writer_reader(audit_ledger(kh.audit));
    struct merkle_proof proof;
    struct buf note;
    uint64_t size = 0;
    char err[256];
    int r = cp_status;
    const char *msg = r == PS_E_UNAVAIL ? "no ledger_key is configured: no checkpoints"
                                        : "checkpoint could not be signed or stored";

    buf_init(&note, 4096);
    buf_reset(&j->reply);
    if (r == PS_OK && (r = ledger_checkpoint_latest(db, &note, &size)) != PS_OK)
        msg = "checkpoint could not be read back";
    proof.len = 0;
    if (r == PS_OK && j->kind == JOB_LEAF &&
        (r = ledger_inclusion(db, j->leaf_index, size, &proof, err, sizeof(err))) != PS_OK)
        msg = err;
    if (r == PS_OK)
        r = ipc_ledger_reply_append(&j->reply, j->id, j->kind == JOB_LEAF ? j->leaf_index : size,
                                    size, proof.hash[0], (uint8_t)proof.len, note.data, note.len);
    if (r != PS_OK && ipc_frame_append(&j->reply, j->id, IPC_LEDGER, (uint16_t)-PS_E_UNAVAIL, msg,
                                       strlen(msg)) != PS_OK)
        fatalx("reply buffer");
    buf_free(&note);
}

static void *committer_thread(void *arg)
{
    struct audit_rec *recs = malloc(sizeof(*recs) * (KH_COMMIT_MAX + IPC_MAX_DIGESTS));

    (void)arg;
    if (recs == NULL)
        fatalx("out of memory");
    if (kh.ledger_key && p11_session(kh.p11, &kh.commit_session) != PS_OK)
        fatalx("cannot open a PKCS#11 session for the committer: %s", p11_rv_str(p11_last_rv()));
    for (;;) {
        struct kh_job *list = q_pop(&kh.commitq, 1), *rest = NULL, *j, *last = NULL;
        size_t total = 0;
        int ok, want_cp = 0, cp_status = PS_OK;

        /* bound one transaction; put the remainder back in front */
        for (j = list; j; last = j, j = j->next) {
            total += j->kind == JOB_SIGN ? j->req.count : 1;
            if (total > KH_COMMIT_MAX && last) {
                rest = j;
                last->next = NULL;
                break;
            }
        }
        ok = commit_jobs(list, recs) == PS_OK;
        kh.storage_ok = ok;
        for (j = list; j; j = j->next)
            want_cp |= j->kind != JOB_SIGN;
        if (ok && want_cp)
            cp_status = checkpoint_now();
        for (j = list; j;) {
            struct kh_job *next = j->next;

            if (j->kind != JOB_SIGN) {
                if (j->kind == JOB_LEAF && ok)
                    __atomic_add_fetch(&kh.n_leaves, 1, __ATOMIC_RELAXED);
                if (j->peer == NULL) { /* the timer's checkpoint job */
                    job_free(j);
                    j = next;
                    continue;
                }
                ledger_job_reply(j, ok ? cp_status : PS_E_STORAGE);
            } else if (!ok && !j->failed) {
                static const char msg[] = "audit record could not be written";

                log_warnx("audit record could not be written; signature withheld");
                buf_reset(&j->reply);
                if (ipc_frame_append(&j->reply, j->id, IPC_SIGN, (uint16_t)-PS_E_STORAGE, msg,
                                     sizeof(msg) - 1) != PS_OK)
                    fatalx("reply buffer");
            } else if (!j->failed) {
                __atomic_add_fetch(&kh.n_sig, j->req.count, __ATOMIC_RELAXED);
                __atomic_add_fetch(
                    &kh.n_sig_by[(size_t)(j->key - kh.reg.keys) * ALG_MAX + j->req.alg],
                    j->req.count, __ATOMIC_RELAXED);
            }
            peer_queue(j->peer, j->peer_gen, j->reply.data, j->reply.len);
            j->peer->dirty = 1;
            job_free(j);
            j = next;
        }
        /* one write per worker for the whole group */
        for (int i = 0; i < kh.npeers; i++)
            if (kh.peers[i].dirty) {
                kh.peers[i].dirty = 0;
                peer_push(&kh.peers[i]);
            }
        while (rest) {
            struct kh_job *next = rest->next;

            q_push(&kh.commitq, rest);
            rest = next;
        }
    }
    return NULL;
}

static void handle_status(struct kh_peer *p, uint32_t id)
{
    struct buf b;
    uint64_t leaves = 0, cp_size = 0;
    int64_t cp_ms = 0;
    uint8_t flags[2];
    int hsm_ok, st_ok, have_cp;

    hsm_ok = p11_session_alive(kh.p11, kh.status_session);
    st_ok = kh.storage_ok && ledger_committed_size(kh.ledger_rd, &leaves) == PS_OK;
    have_cp =
        kh.storage_ok && ledger_checkpoint_latest_time(kh.ledger_rd, &cp_size, &cp_ms) == PS_OK;
    flags[0] = (uint8_t)hsm_ok;
    flags[1] = (uint8_t)st_ok;
    buf_init(&b, 256 * 1024); /* up to 256 keys with a few algorithms each */
    /* metric names and help texts: docs/metrics.md (checked by
     * tests/unit/appliance/metrics_doc_test) */
    if (buf_append(&b, flags, 2) != PS_OK ||
        buf_printf(
            &b,
            "# HELP portseal_signatures_total Signatures made and recorded (all keys).\n"
            "# TYPE portseal_signatures_total counter\n"
            "portseal_signatures_total %llu\n"
            "# HELP portseal_keyholder_requests_total Signing requests the keyholder received.\n"
            "# TYPE portseal_keyholder_requests_total counter\n"
            "portseal_keyholder_requests_total %llu\n"
            "# HELP portseal_keyholder_denied_total Signing requests refused by policy.\n"
            "# TYPE portseal_keyholder_denied_total counter\n"
            "portseal_keyholder_denied_total %llu\n"
            "# HELP portseal_hsm_errors_total Signing operations that failed in the HSM.\n"
            "# TYPE portseal_hsm_errors_total counter\n"
            "portseal_hsm_errors_total %llu\n"
            "# HELP portseal_audit_commits_total Audit and ledger transactions committed.\n"
            "# TYPE portseal_audit_commits_total counter\n"
            "portseal_audit_commits_total %llu\n"
            "# HELP portseal_hsm_up 1 if the keyholder's PKCS#11 session answers.\n"
            "# TYPE portseal_hsm_up gauge\n"
            "portseal_hsm_up %d\n"
            "# HELP portseal_ledger_leaves Leaves in the ledger (committed).\n"
            "# TYPE portseal_ledger_leaves gauge\n"
            "portseal_ledger_leaves %llu\n"
            "# HELP portseal_ledger_checkpoints_total Checkpoints signed since the "
            "keyholder started.\n"
            "# TYPE portseal_ledger_checkpoints_total counter\n"
            "portseal_ledger_checkpoints_total %llu\n",
            __atomic_load_n(&kh.n_sig, __ATOMIC_RELAXED),
            __atomic_load_n(&kh.n_req, __ATOMIC_RELAXED),
            __atomic_load_n(&kh.n_denied, __ATOMIC_RELAXED),
            __atomic_load_n(&kh.n_hsm_err, __ATOMIC_RELAXED),
            __atomic_load_n(&kh.n_commits, __ATOMIC_RELAXED), hsm_ok, (unsigned long long)leaves,
            __atomic_load_n(&kh.n_checkpoints, __ATOMIC_RELAXED)) != PS_OK ||
        (have_cp &&
         buf_printf(&b,
                    "# HELP portseal_ledger_checkpoint_leaves Ledger size the latest checkpoint "
                    "covers.\n"
                    "# TYPE portseal_ledger_checkpoint_leaves gauge\n"
                    "portseal_ledger_checkpoint_leaves %llu\n"
                    "# HELP portseal_ledger_checkpoint_timestamp_seconds When the latest "
                    "checkpoint was signed (unix time).\n"
                    "# TYPE portseal_ledger_checkpoint_timestamp_seconds gauge\n"
                    "portseal_ledger_checkpoint_timestamp_seconds %.3f\n",
                    (unsigned long long)cp_size, (double)cp_ms / 1000.0) != PS_OK) ||
        buf_printf(&b, "# HELP portseal_signatures_by_key_total Signatures by tenant, key and "
                       "algorithm.\n"
                       "# TYPE portseal_signatures_by_key_total counter\n") != PS_OK) {
        buf_free(&b);
        return;
    }
    for (size_t k = 0; k < kh.reg.n; k++)
        for (int a = 1; a < ALG_MAX; a++) {
            unsigned long long v =
                __atomic_load_n(&kh.n_sig_by[k * ALG_MAX + (size_t)a], __ATOMIC_RELAXED);

            if (v && buf_printf(&b,
                                "portseal_signatures_by_key_total{tenant=\"%s\",key=\"%s\","
                                "alg=\"%s\"} %llu\n",
                                kh.reg.keys[k].cfg->tenant, kh.reg.keys[k].cfg->id,
                                alg_info((enum ps_alg)a)->name, v) != PS_OK)
                break;
        }
    if (tenant_limits_metrics(&kh.limits, &b) != PS_OK)
        log_warnx("status reply: the tenant limits do not fit");
    {
        struct buf f;

        buf_init(&f, b.len + 64);
        if (ipc_frame_append(&f, id, IPC_STATUS, 0, b.data, b.len) == PS_OK)
            peer_send(p, p->gen, f.data, f.len);
        buf_free(&f);
    }
    buf_free(&b);
}

static struct kh_job *job_new(enum kh_job_kind kind, struct kh_peer *p, uint32_t id,
                              const uint8_t *payload, size_t len)
{
    struct kh_job *j = calloc(1, sizeof(*j));

    if (j == NULL || (j->payload = malloc(len ? len : 1)) == NULL) {
        free(j);
        return NULL;
    }
    if (len)
        memcpy(j->payload, payload, len);
    j->kind = kind;
    j->peer = p;
    j->peer_gen = p ? p->gen : 0;
    j->id = id;
    j->ts_ms = now_ms();
    buf_init(&j->reply, 64 * 1024);
    return j;
}

/* The slot after the workers' is the courier's (appliance/courier.h): it talks to partners,
 * so it may sign only as @exchange and append only partner leaves. */
static int is_courier(const struct kh_peer *p)
{
    return p - kh.peers == (ptrdiff_t)kh.cfg->workers;
}

static int courier_leaf(const uint8_t *t, size_t n)
{
    static const char *const ok[] = {"p2p-message ", "p2p-receipt ", "aeo-batch "};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (n > strlen(ok[i]) && memcmp(t, ok[i], strlen(ok[i])) == 0)
            return 1;
    return 0;
}

/* Ledger reads, answered here from the read connection; appends and fresh checkpoints go to
 * the committer. */
static int handle_ledger(struct kh_peer *p, const struct ipc_hdr *h, const uint8_t *payload)
{
    struct ipc_ledger q;
    struct merkle_proof proof;
    uint8_t hashes[IPC_MAX_HASHES * MERKLE_HASH_LEN];
    struct buf b, note;
    uint64_t size = 0;
    char err[256] = "";
    int r = PS_OK;
    uint8_t n = 0;

    if (ipc_ledger_req_decode(payload, h->len, &q) != PS_OK)
        return PS_E_INVAL;
    if (q.op == IPC_LEDGER_APPEND || (q.op == IPC_LEDGER_CHECKPOINT && q.a == 1)) {
        struct kh_job *j;

        if (q.op == IPC_LEDGER_APPEND && !ledger_leaf_valid(q.text, q.text_len)) {
            send_error(p, p->gen, h->id, IPC_LEDGER, PS_E_INVAL, "not a leaf a worker may append");
            return PS_OK;
        }
        if (q.op == IPC_LEDGER_APPEND && is_courier(p) && !courier_leaf(q.text, q.text_len)) {
            send_error(p, p->gen, h->id, IPC_LEDGER, PS_E_INVAL,
                       "not a leaf the courier may append");
            return PS_OK;
        }
        if (kh.ledger_key == NULL) {
            send_error(p, p->gen, h->id, IPC_LEDGER, PS_E_UNAVAIL,
                       "no ledger_key is configured: no checkpoints");
            return PS_OK;
        }
        if ((j = job_new(q.op == IPC_LEDGER_APPEND ? JOB_LEAF : JOB_CHECKPOINT, p, h->id, payload,
                         h->len)) == NULL)
            return PS_E_NOMEM;
        j->leaf_len = q.text_len;
        q_push(&kh.commitq, j);
        return PS_OK;
    }
    buf_init(&note, 64 * 1024);
    buf_init(&b, 128 * 1024);
    proof.len = 0;
    switch (q.op) {
    case IPC_LEDGER_CHECKPOINT:
        r = ledger_checkpoint_latest(kh.ledger_rd, &note, &size);
        if (r == PS_E_NOTFOUND && kh.ledger_key) { /* none yet: the committer makes one */
            struct kh_job *j = job_new(JOB_CHECKPOINT, p, h->id, payload, h->len);

            buf_free(&note);
            buf_free(&b);
            if (j == NULL)
                return PS_E_NOMEM;
            q_push(&kh.commitq, j);
            return PS_OK;
        }
        if (r == PS_E_NOTFOUND)
            snprintf(err, sizeof(err), "no ledger_key is configured: no checkpoints");
        q.a = size;
        q.b = size;
        break;
    case IPC_LEDGER_INCLUSION:
        if ((r = ledger_leaf_hash_at(kh.ledger_rd, q.a, hashes)) == PS_OK &&
            (r = ledger_inclusion(kh.ledger_rd, q.a, q.b, &proof, err, sizeof(err))) == PS_OK) {
            memcpy(hashes + MERKLE_HASH_LEN, proof.hash, proof.len * MERKLE_HASH_LEN);
            n = (uint8_t)(proof.len + 1);
        } else if (r == PS_E_NOTFOUND) {
            snprintf(err, sizeof(err), "the ledger has no leaf %" PRIu64, q.a);
            r = PS_E_INVAL;
        }
        break;
    case IPC_LEDGER_CONSISTENCY:
        if ((r = ledger_consistency(kh.ledger_rd, q.a, q.b, &proof, err, sizeof(err))) == PS_OK) {
            memcpy(hashes, proof.hash, proof.len * MERKLE_HASH_LEN);
            n = (uint8_t)proof.len;
        }
        break;
    default: r = PS_E_INVAL;
    }
    if (r == PS_OK)
        r = ipc_ledger_reply_append(&b, h->id, q.a, q.b, hashes, n, note.data, note.len);
    if (r == PS_OK) {
        peer_send(p, p->gen, b.data, b.len);
    } else {
        if (err[0] == 0)
            snprintf(err, sizeof(err), "ledger storage unavailable");
        send_error(p, p->gen, h->id, IPC_LEDGER, r == PS_E_INVAL ? PS_E_INVAL : PS_E_UNAVAIL, err);
    }
    buf_free(&note);
    buf_free(&b);
    return PS_OK;
}

/* One complete frame from a worker. Returns PS_E_INVAL if the peer must be cut off. */
static int handle_frame(struct kh_peer *p, const struct ipc_hdr *h, const uint8_t *payload)
{
    struct kh_job *j;
    const char *why = NULL;
    int r;

    if (h->status != 0)
        return PS_E_INVAL;
    if (h->type == IPC_STATUS) {
        if (h->len != 0)
            return PS_E_INVAL;
        handle_status(p, h->id);
        return PS_OK;
    }
    if (h->type == IPC_LEDGER)
        return handle_ledger(p, h, payload);
    if ((j = calloc(1, sizeof(*j))) == NULL || (j->payload = malloc(h->len ? h->len : 1)) == NULL) {
        free(j);
        return PS_E_NOMEM;
    }
    memcpy(j->payload, payload, h->len);
    if (ipc_sign_req_decode(j->payload, h->len, &j->req) != PS_OK) {
        job_free(j);
        return PS_E_INVAL;
    }
    __atomic_add_fetch(&kh.n_req, 1, __ATOMIC_RELAXED);
    if (is_courier(p) && strcmp(j->req.tenant, CFG_OWNER_EXCHANGE) != 0) {
        r = PS_E_DENIED;
        why = "the courier signs with the exchange key only";
    } else {
        r = policy_check_sign(&kh.reg, &j->req, kh.cfg->max_hashes, time(NULL), &j->key, &why);
    }
    if (r != PS_OK) {
        __atomic_add_fetch(&kh.n_denied, 1, __ATOMIC_RELAXED);
        send_error(p, p->gen, h->id, IPC_SIGN, r, why);
        job_free(j);
        return PS_OK;
    }
    { /* the tenant's sign_rate (hsm/tenantlimit.h): refused before anything is signed */
        char lim[256];

        if ((r = tenant_limits_take(&kh.limits, j->req.tenant, j->req.count, mono_s(), lim,
                                    sizeof(lim))) != PS_OK) {
            send_error(p, p->gen, h->id, IPC_SIGN, r, lim);
            job_free(j);
            return PS_OK;
        }
    }
    j->peer = p;
    j->peer_gen = p->gen;
    j->id = h->id;
    j->p11key = &kh.p11keys[j->key - kh.reg.keys];
    j->sm2key = kh.sm2keys[j->key - kh.reg.keys];
    j->ts_ms = now_ms();
    /* collected, and handed to the signers at once after this poll round */
    if (kh.batch_tail)
        kh.batch_tail->next = j;
    else
        kh.batch_head = j;
    kh.batch_tail = j;
    return PS_OK;
}

static void peer_drop(struct kh_peer *p, const char *why)
{
    log_warnx("closing worker channel: %s", why);
    pthread_mutex_lock(&p->lock);
    close(p->fd);
    p->fd = -1;
    buf_reset(&p->out);
    buf_reset(&p->in);
    pthread_mutex_unlock(&p->lock);
}

static void peer_read(struct kh_peer *p)
{
    uint8_t chunk[65536];
    ssize_t n = recv(p->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        peer_drop(p, n == 0 ? "worker closed it" : strerror(errno));
        return;
    }
    if (n < 0)
        return;
    if (buf_append(&p->in, chunk, (size_t)n) != PS_OK) {
        peer_drop(p, "input too large");
        return;
    }
    while (buf_unread(&p->in) >= IPC_HDR_LEN) {
        struct ipc_hdr h;

        if (ipc_hdr_decode(buf_rptr(&p->in), &h) != PS_OK) {
            peer_drop(p, "malformed frame header");
            return;
        }
        if (buf_unread(&p->in) < IPC_HDR_LEN + (size_t)h.len)
            break;
        if (handle_frame(p, &h, buf_rptr(&p->in) + IPC_HDR_LEN) != PS_OK) {
            peer_drop(p, "malformed request");
            return;
        }
        buf_consume(&p->in, IPC_HDR_LEN + h.len);
    }
}

static void peer_flush(struct kh_peer *p)
{
    pthread_mutex_lock(&p->lock);
    peer_write_locked(p);
    pthread_mutex_unlock(&p->lock);
}

/* The parent installs a new socket for worker slot `idx` (after restarting that worker). */
static void on_ctl(int ctl_fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    uint8_t idx;
    struct iovec iov = {&idx, 1};
    struct msghdr msg = {0};
    struct cmsghdr *cm;
    int fd = -1;
    ssize_t n;

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    n = recvmsg(ctl_fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n == 0) {
        log_info("parent is gone");
        kh.stop = 1;
        return;
    }
    if (n < 0)
        return;
    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    if (fd < 0)
        return;
    if (idx >= kh.npeers) {
        close(fd);
        return;
    }
    {
        struct kh_peer *p = &kh.peers[idx];

        pthread_mutex_lock(&p->lock);
        if (p->fd >= 0)
            close(p->fd);
        p->fd = fd;
        p->gen++;
        buf_reset(&p->out);
        buf_reset(&p->in);
        pthread_mutex_unlock(&p->lock);
        log_info("worker %u reconnected", idx);
    }
}

static void on_term(int sig)
{
    (void)sig;
    kh.stop = 1;
}

static void ready_fail(int ready_fd, const char *fmt, ...)
{
    char msg[512], line[600];
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warnx("%s", msg);
    n = snprintf(line, sizeof(line), "ERR %s\n", msg);
    if (write(ready_fd, line, (size_t)n) < 0)
        log_warn("ready pipe");
    exit(1);
}

/* Unwrap an SM2 key with the token's AES key; check it matches its certificate. */
static void load_sm2(int ready_fd, CK_SESSION_HANDLE s, size_t i)
{
    const struct key_entry *k = &kh.reg.keys[i];
    CK_OBJECT_HANDLE aes;
    uint8_t file[1024];
    ssize_t n;
    int fd;

    if (k->type != KT_SM2)
        ready_fail(ready_fd, "key %s: sm2= is set but the certificate's key is not SM2",
                   k->cfg->id);
    if ((fd = open(k->cfg->sm2_file, O_RDONLY | O_CLOEXEC)) < 0 ||
        (n = read(fd, file, sizeof(file))) <= 0) {
        if (fd >= 0)
            close(fd);
        ready_fail(ready_fd, "key %s: cannot read the wrapped SM2 key %s", k->cfg->id,
                   k->cfg->sm2_file);
    }
    close(fd);
    if (p11_aes_key(kh.p11, s, kh.cfg->sm2_wrap_key, 0, &aes) != PS_OK)
        ready_fail(ready_fd, "key %s: no AES key '%s' on the token to unwrap SM2 keys", k->cfg->id,
                   kh.cfg->sm2_wrap_key);
    if (sm2wrap_open(kh.p11, s, aes, k->cfg->label, file, (size_t)n, &kh.sm2keys[i]) != PS_OK)
        ready_fail(ready_fd, "key %s: cannot unwrap %s (wrong token, label or file)", k->cfg->id,
                   k->cfg->sm2_file);
    if (EVP_PKEY_eq(kh.sm2keys[i], k->pub) != 1)
        ready_fail(ready_fd, "key %s: certificate %s does not match the SM2 key in %s", k->cfg->id,
                   k->cfg->cert_file, k->cfg->sm2_file);
}

/* Load the module, log in, find every configured key and check it matches its certificate;
 * then (unless token_only) open the audit database and check the ledger head. */
static void kh_setup(int ready_fd, int token_only)
{
    char err[512], path[4096];
    struct pin pin;
    CK_SESSION_HANDLE s;

    for (size_t i = 0; i < kh.cfg->n_env; i++)
        if (putenv(kh.cfg->pkcs11_env[i]) != 0)
            ready_fail(ready_fd, "cannot set %s", kh.cfg->pkcs11_env[i]);
    if (keyreg_load(kh.cfg, &kh.reg, err, sizeof(err)) != PS_OK)
        ready_fail(ready_fd, "%s", err);
    if (pin_read(kh.cfg->pin_file, &pin, err, sizeof(err)) != PS_OK)
        ready_fail(ready_fd, "%s", err);
    /* one signer thread: the committer's and the status calls wait for one C_Sign at most,
     * and the library's own locks (SoftHSM: many per signature) are skipped (hsm/p11.h) */
    if (p11_open(kh.cfg->pkcs11_module, kh.cfg->pkcs11_token, kh.cfg->keyholder_threads == 1,
                 &kh.p11, err, sizeof(err)) != PS_OK) {
        pin_wipe(&pin);
        ready_fail(ready_fd, "%s", err);
    }
    if (p11_session(kh.p11, &s) != PS_OK) {
        pin_wipe(&pin);
        ready_fail(ready_fd, "cannot open a session on token %s: %s", kh.cfg->pkcs11_token,
                   p11_rv_str(p11_last_rv()));
    }
    if (p11_login(kh.p11, s, pin.data, pin.len, err, sizeof(err)) != PS_OK) {
        pin_wipe(&pin);
        ready_fail(ready_fd, "token %s: %s", kh.cfg->pkcs11_token, err);
    }
    pin_wipe(&pin);
    kh.status_session = s;
    if ((kh.p11keys = calloc(kh.reg.n ? kh.reg.n : 1, sizeof(*kh.p11keys))) == NULL)
        ready_fail(ready_fd, "out of memory");
    if ((kh.sm2keys = calloc(kh.reg.n ? kh.reg.n : 1, sizeof(*kh.sm2keys))) == NULL ||
        (kh.n_sig_by = calloc((kh.reg.n ? kh.reg.n : 1) * ALG_MAX, sizeof(*kh.n_sig_by))) == NULL)
        ready_fail(ready_fd, "out of memory");
    for (size_t i = 0; i < kh.reg.n; i++) {
        const struct key_entry *k = &kh.reg.keys[i];
        uint8_t *spki = NULL, *cspki = NULL;
        size_t sl = 0;
        int cl, same;

        if (k->cfg->sm2_file) {
            load_sm2(ready_fd, s, i);
            continue;
        }
        if (p11_find_key(kh.p11, s, k->cfg->label, &kh.p11keys[i]) != PS_OK)
            ready_fail(ready_fd, "key %s: no usable private key labelled '%s' on token %s",
                       k->cfg->id, k->cfg->label, kh.cfg->pkcs11_token);
        if (p11_pubkey_spki(kh.p11, s, k->cfg->label, &spki, &sl) != PS_OK)
            ready_fail(ready_fd, "key %s: no public key labelled '%s' on the token", k->cfg->id,
                       k->cfg->label);
        cl = i2d_PUBKEY(k->pub, &cspki);
        same = cl > 0 && (size_t)cl == sl && memcmp(spki, cspki, sl) == 0;
        free(spki);
        OPENSSL_free(cspki);
        if (!same)
            ready_fail(ready_fd, "key %s: certificate %s does not match the token's key '%s'",
                       k->cfg->id, k->cfg->cert_file, k->cfg->label);
    }
    if (token_only)
        return;
    snprintf(path, sizeof(path), "%s/audit.db", kh.cfg->state_dir);
    if (audit_open(path, &kh.audit, err, sizeof(err)) != PS_OK)
        ready_fail(ready_fd, "%s", err);
    {
        sqlite3 *rd = NULL;

        if (sqlite3_open_v2(path, &rd, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            ledger_reader_open(rd, &kh.ledger_rd) != PS_OK)
            ready_fail(ready_fd, "audit database %s: cannot open a reader", path);
        sqlite3_busy_timeout(rd, 2000);
    }
    kh.storage_ok = 1;
    if (tenant_limits_init(&kh.limits, kh.cfg) != PS_OK)
        ready_fail(ready_fd, "out of memory");
    if (kh.cfg->ledger_key) {
        const struct key_entry *k = keyreg_find(&kh.reg, kh.cfg->ledger_key);
        uint8_t pub[NOTE_ED25519_KEY_LEN];
        size_t pl = sizeof(pub);

        if (k == NULL || k->type != KT_ED25519 || k->cfg->sm2_file ||
            EVP_PKEY_get_raw_public_key(k->pub, pub, &pl) != 1 || pl != sizeof(pub))
            ready_fail(ready_fd, "ledger_key %s: must be an Ed25519 key in the token",
                       kh.cfg->ledger_key);
        if (note_verifier_init(&kh.ledger_signer.key, kh.cfg->ledger_origin, pub) != PS_OK)
            ready_fail(ready_fd, "ledger_origin '%s' cannot be a note key name",
                       kh.cfg->ledger_origin);
        kh.ledger_key = k;
        kh.ledger_p11 = &kh.p11keys[k - kh.reg.keys];
        kh.ledger_signer.sign = ledger_sign_cb;
        if (p11_session_rw(kh.p11, &kh.head_session) != PS_OK)
            ready_fail(ready_fd, "cannot open a read/write session on token %s: %s",
                       kh.cfg->pkcs11_token, p11_rv_str(p11_last_rv()));
        head_check(ready_fd);
    }
}

void keyholder_check(const struct config *cfg, int ready_fd)
{
    char line[64];
    int n;

    log_setproc("keyholder");
    privsep_harden();
    if (CRYPTO_secure_malloc_init(256 * 1024, 32) != 1)
        log_warnx("no secure heap: SM2 private keys live in ordinary memory");
    kh.cfg = cfg;
    kh_setup(ready_fd, 1);
    n = snprintf(line, sizeof(line), "OK %zu\n", kh.reg.n);
    if (write(ready_fd, line, (size_t)n) != n)
        log_warn("ready pipe");
    exit(0);
}

void keyholder_main(const struct config *cfg, const int *fds, int nfds, int ready_fd, int ctl_fd)
{
    struct pollfd pfd[KH_MAX_WORKERS + 2];
    pthread_t tid;
    time_t next_cp = 0;

    log_setproc("keyholder");
    privsep_harden();
    /* OpenSSL keeps private key numbers (the unwrapped SM2 keys) in this locked heap */
    if (CRYPTO_secure_malloc_init(256 * 1024, 32) != 1)
        log_warnx("no secure heap: SM2 private keys live in ordinary memory");
    privsep_child_signals(on_term);

    kh.cfg = cfg;
    if (nfds > KH_MAX_WORKERS)
        ready_fail(ready_fd, "too many workers");
    kh_setup(ready_fd, 0);
    pthread_mutex_init(&kh.signq.lock, NULL);
    pthread_cond_init(&kh.signq.cond, NULL);
    pthread_mutex_init(&kh.commitq.lock, NULL);
    pthread_cond_init(&kh.commitq.cond, NULL);
    if ((kh.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        ready_fail(ready_fd, "eventfd: %s", strerror(errno));
    kh.npeers = nfds;
    for (int i = 0; i < nfds; i++) {
        kh.peers[i].fd = fds[i];
        buf_init(&kh.peers[i].in, IPC_MAX_PAYLOAD + IPC_HDR_LEN + 65536);
        buf_init(&kh.peers[i].out, KH_OUT_MAX);
        pthread_mutex_init(&kh.peers[i].lock, NULL);
    }
    /* logged in, keys and storage open: from here on only what serving needs */
    if (privsep_sandbox_keyholder() != PS_OK)
        ready_fail(ready_fd, "cannot install the seccomp filter");
    for (int i = 0; i < cfg->keyholder_threads; i++)
        if (pthread_create(&tid, NULL, signer_thread, NULL) != 0)
            ready_fail(ready_fd, "cannot start signer threads");
    if (pthread_create(&tid, NULL, committer_thread, NULL) != 0)
        ready_fail(ready_fd, "cannot start the committer thread");
    if (write(ready_fd, "OK\n", 3) != 3)
        log_warn("ready pipe");
    close(ready_fd);
    log_info("serving %d workers with %zu keys, %d signer threads", nfds, kh.reg.n,
             cfg->keyholder_threads);

    while (!kh.stop) {
        struct timespec mono;

        clock_gettime(CLOCK_MONOTONIC, &mono);
        if (kh.ledger_key && mono.tv_sec >= next_cp) {
            struct kh_job *j = job_new(JOB_CHECKPOINT, NULL, 0, NULL, 0);

            next_cp = mono.tv_sec + (time_t)cfg->checkpoint_interval;
            if (j)
                q_push(&kh.commitq, j);
        }
        for (int i = 0; i < kh.npeers; i++) {
            pfd[i].fd = kh.peers[i].fd;
            pfd[i].events = POLLIN;
            pthread_mutex_lock(&kh.peers[i].lock);
            if (buf_unread(&kh.peers[i].out))
                pfd[i].events |= POLLOUT;
            pthread_mutex_unlock(&kh.peers[i].lock);
        }
        pfd[kh.npeers].fd = kh.wake_fd;
        pfd[kh.npeers].events = POLLIN;
        pfd[kh.npeers + 1].fd = ctl_fd;
        pfd[kh.npeers + 1].events = POLLIN;
        if (poll(pfd, (nfds_t)kh.npeers + 2, 1000) < 0) {
            if (errno == EINTR)
                continue;
            fatal("poll");
        }
        if (pfd[kh.npeers].revents & POLLIN) {
            uint64_t v;

            if (read(kh.wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("eventfd");
        }
        if (pfd[kh.npeers + 1].revents & (POLLIN | POLLHUP))
            on_ctl(ctl_fd);
        for (int i = 0; i < kh.npeers; i++) {
            if (kh.peers[i].fd < 0 || kh.peers[i].fd != pfd[i].fd)
                continue;
            if (pfd[i].revents & POLLOUT)
                peer_flush(&kh.peers[i]);
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                peer_read(&kh.peers[i]);
        }
        if (kh.batch_head) {
            q_push_list(&kh.signq, kh.batch_head, kh.batch_tail);
            kh.batch_head = kh.batch_tail = NULL;
        }
    }
    log_info("stopping");
    /* Threads may be mid-sign; exiting the process ends them. The module is not finalized
     * under their feet; the PIN was wiped right after login. */
    _exit(0);
}
