/*
 * ceb_fuzz - libFuzzer target for the XML a platform submits (protocol/ceb.c): parse and
 * prepare under each profile, then read any signature the input claims to have.
 */
#include <stdint.h>
#include <stdlib.h>

#include "protocol/ceb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"ceb-sm2", "ceb-rsa-sha1", "xmldsig-ecdsa-sha256"};
    static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    const struct ceb_limits lim = {256 * 1024, 64};
    struct ceb_sig sig;
    char err[256];

    ceb_library_init();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct ceb_doc *d = NULL;
        struct buf si, out;

        buf_init(&si, 1 << 20);
        buf_init(&out, 1 << 21);
        if (ceb_parse(data, size, ceb_profile_by_name(names[i]), &lim, &d, err, sizeof(err)) ==
            PS_OK) {
            uint8_t fake[64] = {0};

            if (ceb_prepare(d, "01", cert, sizeof(cert), &si) != PS_OK ||
                ceb_finish(d, fake, sizeof(fake), &out) != PS_OK)
                abort(); /* a document that parsed must sign */
            ceb_free(d);
        }
        buf_free(&si);
        buf_free(&out);
    }
    (void)ceb_read_signature(data, size, &lim, &sig, err, sizeof(err));
    ceb_sig_free(&sig); /* safe whatever the result */
    return 0;
}
