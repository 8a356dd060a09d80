/* fuzz_config.c - libFuzzer target: parse any bytes as a CLIP config.json;
 * whatever parses must be internally consistent. */
#include <stdint.h>
#include <stdlib.h>
#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_clip_config c;
    mg_error err;
    if (mg_clip_config_parse((const char *)data, size, "fuzz", &c, &err) == MG_OK) {
        if (c.vision.hidden_size % c.vision.num_heads || c.text.hidden_size % c.text.num_heads ||
            c.vision.image_size % c.vision.patch_size || c.projection_dim < 1)
            abort();
    }
    return 0;
}
