/* api.h - the handlers, one file per API area. */
#ifndef PS_API_H
#define PS_API_H

#include "http.h"

/* api_ops.c */
void api_healthz(struct request *r, const char *tail);
void api_readyz(struct request *r, const char *tail);
void api_metrics(struct request *r, const char *tail);
/* api_keys.c */
void api_keys_list(struct request *r, const char *tail);
void api_keys_get(struct request *r, const char *tail);
/* api_sign.c */
void api_sign_hash(struct request *r, const char *tail);
void api_sign_cms(struct request *r, const char *tail);

#endif
