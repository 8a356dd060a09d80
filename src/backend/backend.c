/*
 * backend.c - backend selection by device name. Only the CPU backend exists
 * in this build; "cuda" arrives with the CUDA backend.
 */
#include "backend/backend.h"

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

void mg_backend_close(mg_backend *b) {
    if (b) b->ops->destroy(b);
}
