/* config_fuzz - libFuzzer target for the configuration parser (appliance/config.c). */
#include <stdint.h>

#include "appliance/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[256];

    if (config_parse((const char *)data, size, &cfg, err, sizeof(err)) == PS_OK)
        config_free(&cfg);
    return 0;
}
