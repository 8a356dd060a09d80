/* fuzz_safetensors.c - libFuzzer target: validate any bytes as a
 * safetensors file and convert every float tensor it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_safetensors *st;
    mg_error err;
    if (mg_st_open_mem(data, size, "fuzz", &st, &err) != MG_OK) return 0;
    for (int i = 0; i < mg_st_count(st); i++) {
        const mg_st_tensor *t = mg_st_at(st, i);
        if (t->numel > (1 << 20)) continue;
        float *f = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
        if (f) mg_st_to_f32(t, f, &err);
        free(f);
        mg_st_find(st, t->name);
    }
    mg_st_close(st);
    return 0;
}
