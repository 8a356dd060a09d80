/*
 * backend.c - backend selection by device name. Only the CPU backend exists
 * in this build; "cuda" arrives with the CUDA backend.
 */
#include "backend/backend.h"
#include "backend/cpu/quant.h"

#include <string.h>

mg_backend_params mg_backend_default_params(void) {
    mg_backend_params p = {.device = "cpu", .n_threads = 0};
    return p;
}

int mg_backend_open(const mg_backend_params *p, mg_backend **out, mg_error *err) {
    mg_backend_params d = mg_backend_default_params();
    if (!p) p = &d;
    *out = NULL;
    const char *dev = p->device ? p->device : "cpu";
    if (!strcmp(dev, "cpu") || !strcmp(dev, "auto")) return mg_backend_cpu_open(p->n_threads, out, err);
    if (!strncmp(dev, "cuda", 4))
        return mg_err_set(err, MG_EUNSUPPORTED, "device '%s': this build has no CUDA backend", dev);
    return mg_err_set(err, MG_EINVAL, "unknown device '%s' (expected cpu, cuda or auto)", dev);
}

const char *mg_precision_name(int prec) {
    switch (prec) {
    case MG_PREC_FP32: return "fp32";
    case MG_PREC_BF16: return "bf16";
    case MG_PREC_INT8: return "int8";
    default: return "?";
    }
}

int mg_precision_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "fp32")) return MG_PREC_FP32;
    if (!strcmp(s, "bf16")) return MG_PREC_BF16;
    if (!strcmp(s, "int8")) return MG_PREC_INT8;
    return -1;
}

void mg_quantize_rows_s8(const float *w, int rows, int cols, int8_t *q, float *scale) {
    for (int r = 0; r < rows; r++) scale[r] = mg_k_quant_row_s8(w + (size_t)r * cols, q + (size_t)r * cols, cols);
}

void mg_backend_close(mg_backend *b) {
    if (b) b->ops->destroy(b);
}
