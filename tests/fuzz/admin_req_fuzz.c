/* admin_req_fuzz - libFuzzer target for the admin socket's request lines and the configuration
 * edits they ask for (appliance/admin_req.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/admin_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char conf[] = "listen 127.0.0.1:8443\nkey k1 tenant=a label=k1 cert=/k.pem\n"
                               "tenant a a.example sign_rate=5 # platform A\n";
    struct admin_req *rq = malloc(sizeof(*rq));
    char err[256];
    struct buf b;

    if (rq == NULL)
        return 0;
    if (admin_req_parse((const char *)data, size, rq, err, sizeof(err)) == PS_OK &&
        admin_req_edits(rq)) {
        int r = admin_req_edit(rq, conf, sizeof(conf) - 1, &b, 1 << 16, err, sizeof(err));

        if (r == PS_OK && rq->cmd == ADMIN_TENANT_LIMIT) {
            size_t lines = 0;

            for (size_t i = 0; i < b.len; i++)
                lines += b.data[i] == '\n';
            /* tenant-limit rewrites the tenant's line in place: the first two lines stay */
            if (lines != 3 || memcmp(b.data, conf, 59) != 0)
                __builtin_trap();
        } else if (r == PS_OK && rq->cmd != ADMIN_KEY_RETIRE &&
                   memchr(b.data + sizeof(conf) - 1, '\n', b.len - (sizeof(conf) - 1)) !=
                       (void *)(b.data + b.len - 1)) {
            __builtin_trap(); /* an add adds exactly one line */
        }
        buf_free(&b);
    }
    free(rq);
    return 0;
}
