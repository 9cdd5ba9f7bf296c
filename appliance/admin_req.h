/*
 * admin_req.h - requests of the local admin socket (appliance/admin.c), pure: one line of JSON
 * in, a checked struct out; and the configuration edits they ask for as text transformations
 * (the file's text in, the candidate text out). No socket, no file, no clock.
 *
 * A request is one JSON object on one line: {"cmd":"NAME", members...}. Commands and their
 * members (all strings; required unless in brackets):
 *   status, reload, config-check      (none)
 *   tenant-add                        id cn [sign_rate] [sign_burst]
 *   tenant-limit                      id sign_rate [sign_burst]
 *   officer-add                       id cn
 *   partner-add                       id root cn [url] [crl] [aeo_origin]
 *   key-add                           id label cert [tenant] [sm2] [algs] [profile]
 * (root, crl, cert and sm2 are absolute paths.)
 *   key-retire                        id
 * tenant-limit rewrites the tenant's line with the new sign_rate= and sign_burst= (sign_rate
 * "unlimited", without sign_burst, removes both); numbers are checked by config_parse.
 * Unknown commands or members, non-string values, values with blanks or control characters
 * (they would change the file's structure), over-long values are refused with a reason.
 */
#ifndef PS_ADMIN_REQ_H
#define PS_ADMIN_REQ_H

#include <stddef.h>

#include "../protocol/buf.h"
#include "../protocol/err.h"

#define ADMIN_REQ_MAX   16384 /* bytes of one request line */
#define ADMIN_VALUE_MAX 1024  /* bytes of one member's value */

enum admin_cmd {
    ADMIN_STATUS,
    ADMIN_RELOAD,
    ADMIN_CONFIG_CHECK,
    ADMIN_TENANT_ADD,
    ADMIN_OFFICER_ADD,
    ADMIN_PARTNER_ADD,
    ADMIN_KEY_ADD,
    ADMIN_KEY_RETIRE,
    ADMIN_TENANT_LIMIT,
};

/* The members a request may carry; unset ones are "". */
enum admin_field {
    AF_ID,
    AF_CN,
    AF_ROOT,
    AF_URL,
    AF_CRL,
    AF_AEO_ORIGIN,
    AF_LABEL,
    AF_CERT,
    AF_TENANT,
    AF_SM2,
    AF_ALGS,
    AF_PROFILE,
    AF_SIGN_RATE,
    AF_SIGN_BURST,
    AF_COUNT
};

struct admin_req {
    enum admin_cmd cmd;
    const char *name; /* the command's name (static) */
    char f[AF_COUNT][ADMIN_VALUE_MAX + 1];
};

/* Parse one request line (without its newline). On error returns PS_E_INVAL with the reason. */
int admin_req_parse(const char *line, size_t len, struct admin_req *rq, char *err,
                    size_t errlen) PS_WUR;
/* 1 if the command changes the configuration file. */
int admin_req_edits(const struct admin_req *rq);
/*
 * The configuration text after the change rq asks for: an added directive line at the end, for
 * key-retire the key's line turned into a comment ("# retired: key ..."), for tenant-limit the
 * tenant's line with its new limits (and its comment, if any, kept). out is
 * initialised here (hard maximum max bytes) and the caller frees it. The result is not parsed
 * here: the caller checks it with config_parse like any configuration.
 */
int admin_req_edit(const struct admin_req *rq, const char *text, size_t len, struct buf *out,
                   size_t max, char *err, size_t errlen) PS_WUR;

#endif
