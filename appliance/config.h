/*
 * config.h - portseald.conf: one directive per line, '#' starts a comment.
 * Every directive is documented in portseald.conf.example (checked by a unit test).
 * config_parse/config_load fill a struct config the caller frees with config_free.
 */
#ifndef PS_CONFIG_H
#define PS_CONFIG_H

#include <stddef.h>
#include "../protocol/err.h"

#define CFG_MAX_KEYS     256
#define CFG_MAX_TENANTS  256
#define CFG_MAX_ENV      16
#define CFG_MAX_PARTNERS 32
#define CFG_MAX_OFFICERS 256
/*
 * Owner of the key named by tsa_key. Such a key is configured without tenant= (it belongs to
 * the appliance, not to a tenant); the parser gives it this owner, which no tenant id can
 * equal ('@' is not allowed in ids). The worker's /v1/tsa handler asks the keyholder as this
 * owner, so tenants can neither list nor use the TSA key, and the audit rows say "@tsa".
 */
#define CFG_OWNER_TSA "@tsa"
/* Owner of the key named by ledger_key (Ed25519, signs the ledger's checkpoints), likewise. */
#define CFG_OWNER_LEDGER "@ledger"
/* Owner of the key named by evidence_key (seals evidence bundles), likewise. */
#define CFG_OWNER_EVIDENCE "@evidence"
/* Owner of the key named by exchange_key (signs AEO feeds, P2P envelopes and receipts). */
#define CFG_OWNER_EXCHANGE "@exchange"

/* tenant ID CN [sign_rate=N] [sign_burst=N]: the keyholder's token bucket for the tenant's
 * signatures (hsm/tenantlimit.h); sign_rate 0 = unlimited, sign_burst defaults to sign_rate. */
#define CFG_MAX_SIGN_RATE  1000000
#define CFG_MAX_SIGN_BURST 10000000
struct cfg_tenant {
    char *id;
    char *cn;            /* client certificate subject CN that maps to this tenant */
    unsigned sign_rate;  /* signatures per second; 0: no limit */
    unsigned sign_burst; /* bucket size (signatures); 0 when sign_rate is 0 */
};

/* A partner administration (another customs): its certificates must chain to root (pinned,
 * only for this partner) and carry subject CN cn. url is its appliance, for outbound calls. */
struct cfg_partner {
    char *id;
    char *root; /* PEM file: the partner's root CA certificate(s) */
    char *cn;   /* subject CN of the partner appliance's client certificate */
    char *url;  /* https://host:port of the partner appliance, or NULL */
    char *crl;  /* the partner's CRLs (PEM), or NULL: no revocation check for this partner */
    int line;
    char *aeo_origin;    /* origin of its AEO feed (aeo_origin=, default: the id in upper case) */
    char *aeo_id_prefix; /* identifier prefixes its feed may carry, comma-separated, or "any" */
};

/* route_limit NAME [body=BYTES] [headers=BYTES]: one route's own limits (-1: not set). */
#define CFG_MAX_ROUTE_LIMITS 64
struct cfg_route_limit {
    char *route; /* a route name of appliance/router.c */
    long long body, headers;
};

/* A local customs officer: a client certificate from client_ca with this subject CN. */
struct cfg_officer {
    char *id;
    char *cn;
};

struct cfg_key {
    char *id;
    char *tenant;    /* owning tenant id, or CFG_OWNER_TSA for the key named by tsa_key */
    char *label;     /* CKA_LABEL of the private key on the token */
    char *cert_file; /* certificate chain, leaf first */
    unsigned algs;   /* bit (1 << enum ps_alg) per allowed algorithm; 0 = key type's defaults */
    char *profile;   /* XML signature profile for /v1/sign/ceb (NULL = the key type's default) */
    char *sm2_file;  /* SM2 keys: the wrapped key file (hsm/sm2wrap.h); label names the binding */
    int line;        /* line of the config file it was defined on */
};

struct config {
    char *listen_host;
    int listen_port;
    int workers;
    char *user; /* children drop to this user when started as root */
    char *pid_file;
    char *state_dir;
    char *tls_cert, *tls_key, *client_ca, *crl;
    char *pkcs11_module, *pkcs11_token, *pin_file;
    char *sm2_wrap_key; /* label of the token's AES key that wraps SM2 keys */
    char *pkcs11_env[CFG_MAX_ENV];
    size_t n_env;
    int keyholder_threads;
    size_t max_body;                      /* request body limit, bytes */
    size_t max_hashes;                    /* /v1/sign/hash batch limit */
    unsigned max_streams;                 /* concurrent HTTP/2 streams per connection */
    unsigned max_connections;             /* per worker */
    unsigned max_connections_per_address; /* per worker and client address; 0 = no cap */
    unsigned idle_timeout;                /* seconds without a request before a connection closes */
    unsigned handshake_timeout;           /* seconds for TLS handshake and the first request */
    unsigned tls_ticket_lifetime;         /* seconds a session ticket resumes; 0 = no resumption */
    unsigned keyholder_timeout;           /* seconds a request may wait for the keyholder */
    /* limits against hostile clients (docs/hardening.md) */
    unsigned max_header_size;     /* request header block, RFC 9113 accounting, bytes */
    unsigned header_timeout;      /* seconds from a request's start to its complete headers */
    unsigned body_timeout;        /* seconds from a request's start to its complete body */
    unsigned send_timeout;        /* seconds to deliver a response once it is queued */
    unsigned request_rate;        /* requests per second per client and worker; 0 = no limit */
    unsigned request_burst;       /* token bucket size for request_rate */
    unsigned control_frame_rate;  /* SETTINGS/PING/WINDOW_UPDATE/... per second per connection */
    unsigned reset_rate;          /* RST_STREAM per second per connection (nghttp2 limiter) */
    unsigned reset_burst;         /* its bucket size */
    unsigned max_continuations;   /* CONTINUATION frames after one HEADERS */
    unsigned connection_rate;     /* new connections per second per address and worker; 0 = off */
    char *verify_ca;              /* trust anchors for /v1/verify/cms (NULL: client_ca) */
    char *tsa_key;                /* key id of the RFC 3161 time-stamping key, or NULL */
    char *tsa_policy;             /* TSA policy OID, dotted (required with tsa_key) */
    unsigned tsa_accuracy_ms;     /* accuracy stated in tokens, ms; 0 = no accuracy field */
    char *ledger_key;             /* key id of the Ed25519 checkpoint key, or NULL */
    char *ledger_origin;          /* checkpoint origin line (and note key name) */
    unsigned checkpoint_interval; /* seconds between checkpoints while the log grows */
    char *evidence_key;           /* key id that signs evidence bundles (CAdES), or NULL */
    char *exchange_key;           /* key id that signs JWS for partners (ES256), or NULL */
    char *partner_cert, *partner_key; /* what we present when we call partners (PEM) */
    char *p2p_name;                   /* this office in P2P envelopes (from/to), or NULL: no P2P */
    size_t evidence_max_files;        /* files in one upload */
    size_t evidence_max_file;         /* bytes of one file */
    size_t evidence_max_total;        /* bytes of all files of one upload */
    struct cfg_tenant tenants[CFG_MAX_TENANTS];
    size_t ntenants;
    struct cfg_key keys[CFG_MAX_KEYS];
    size_t nkeys;
    struct cfg_partner partners[CFG_MAX_PARTNERS];
    size_t npartners;
    struct cfg_officer officers[CFG_MAX_OFFICERS];
    size_t nofficers;
    struct cfg_route_limit route_limits[CFG_MAX_ROUTE_LIMITS];
    size_t nroute_limits;
    char *aeo_origin;    /* our AEO feed's origin (default: ledger_origin before its first '/') */
    char *aeo_id_prefix; /* identifier prefixes of our register, comma-separated, or "any" */
    unsigned aeo_poll_interval;   /* seconds between feed pulls per partner, without notify */
    unsigned aeo_digest_interval; /* seconds between register digest comparisons */
    unsigned p2p_stream_max;      /* open GET /v1/p2p/stream responses per worker; 0: none */
    char *admin_socket;           /* the parent's admin socket (NULL: state_dir/admin.sock) */
    char *log_format;             /* "text" (default) or "json": one JSON object per log line */
};

/* Parse text; on error returns PS_E_CONFIG with "line N: reason" in err. */
int config_parse(const char *text, size_t len, struct config *cfg, char *err, size_t errlen) PS_WUR;
int config_load(const char *path, struct config *cfg, char *err, size_t errlen) PS_WUR;
void config_free(struct config *cfg);
const struct cfg_key *config_key(const struct config *cfg, const char *id);
const struct cfg_tenant *config_tenant_by_cn(const struct config *cfg, const char *cn);
const struct cfg_officer *config_officer_by_cn(const struct config *cfg, const char *cn);
const struct cfg_partner *config_partner(const struct config *cfg, const char *id);
/* The route_limit line for route name, or NULL. */
const struct cfg_route_limit *config_route_limit(const struct config *cfg, const char *name);
/* 1 if s is a dotted-decimal OBJECT IDENTIFIER (at least two arcs, first 0-2, second < 40
 * under 0 and 1, no leading zeros, at most 127 characters). */
int config_oid_valid(const char *s);
/* 1 if s can be a checkpoint origin and note key name: 1-255 of 0x21-0x7e except '+'. */
int config_origin_valid(const char *s);
/* 1 if s can be an AEO feed origin: 1-64 of A-Z a-z 0-9 . _ : / - (protocol/aeo.h). */
int config_aeo_origin_valid(const char *s);
/* May the AEO register of origin (ours or a partner's) hold identifier aeo_id? The origin whose
 * aeo_id_prefix matches aeo_id alone may (the longest matching prefix decides); an identifier
 * that no origin's prefixes match may be held by an origin whose aeo_id_prefix is "any". */
int config_aeo_id_allowed(const struct config *cfg, const char *origin, const char *aeo_id);
/* The same with cfg as a const void * (for aeostore_set_id_owner). */
int config_aeo_id_owner(const void *cfg, const char *origin, const char *aeo_id);
/* Names of all directives, NULL-terminated (for the documentation check). */
extern const char *const config_directives[];

#endif
