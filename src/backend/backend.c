/*
 * backend.c - backend selection by device name: "cpu", "cuda", "cuda:N"
 * (builds with MG_HAVE_CUDA; otherwise MG_EUNSUPPORTED), "auto" (the first
 * GPU if any, else the CPU).
 */
#include "backend/backend.h"
#include "backend/cpu/quant.h"
#ifdef MG_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#endif

#include <stdlib.h>
#include <string.h>

#ifdef MG_HAVE_CUDA
/* The CUDA module (see cuda_backend.h), looked for in order:
 * $MEDIAGREP_CUDA_MODULE, beside the running executable, in the build tree,
 * then by name on the library path. Loaded once per process. */
static struct {
    pthread_once_t once;
    mg_cuda_device_count_fn count;
    mg_backend_cuda_open_fn open;
    char why[512];
} g_cuda = {PTHREAD_ONCE_INIT, NULL, NULL, ""};

static void cuda_load(void) {
    char exe[PATH_MAX], beside[PATH_MAX + 32];
    const char *cands[4];
    int n = 0;
    const char *env = getenv("MEDIAGREP_CUDA_MODULE");
    if (env && *env) cands[n++] = env;
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(beside, sizeof beside, "%s/libmediagrep_cuda.so", exe);
            cands[n++] = beside;
        }
    }
    cands[n++] = MG_CUDA_MODULE;
    cands[n++] = "libmediagrep_cuda.so";
    for (int i = 0; i < n; i++) {
        if (i < n - 1 && access(cands[i], R_OK) != 0) continue;
        void *h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            snprintf(g_cuda.why, sizeof g_cuda.why, "%s", dlerror());
            continue;
        }
        g_cuda.count = (mg_cuda_device_count_fn)dlsym(h, "mg_cuda_device_count");
        g_cuda.open = (mg_backend_cuda_open_fn)dlsym(h, "mg_backend_cuda_open");
        if (g_cuda.count && g_cuda.open) return;
        snprintf(g_cuda.why, sizeof g_cuda.why, "%s lacks the backend's entry points", cands[i]);
        g_cuda.count = NULL;
        g_cuda.open = NULL;
        dlclose(h);
    }
    if (!g_cuda.why[0]) snprintf(g_cuda.why, sizeof g_cuda.why, "libmediagrep_cuda.so not found");
}

static int cuda_device_count(void) {
    pthread_once(&g_cuda.once, cuda_load);
    return g_cuda.count ? g_cuda.count() : 0;
}

static int cuda_open(int device, mg_backend **out, mg_error *err) {
    pthread_once(&g_cuda.once, cuda_load);
    if (!g_cuda.open)
        return mg_err_set(err, MG_EUNSUPPORTED, "the CUDA backend cannot be loaded: %s", g_cuda.why);
    return g_cuda.open(device, out, err);
}
#endif

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
#ifdef MG_HAVE_CUDA
    if (!strcmp(dev, "auto")) /* the first GPU when there is one, else the CPU */
        return cuda_device_count() > 0 ? cuda_open(0, out, err) : mg_backend_cpu_open(p->n_threads, out, err);
    if (!strcmp(dev, "cuda")) return cuda_open(0, out, err);
    if (!strncmp(dev, "cuda:", 5)) {
        char *end;
        long n = strtol(dev + 5, &end, 10);
        if (end == dev + 5 || *end || n < 0 || n > 1024)
            return mg_err_set(err, MG_EINVAL, "device '%s': expected cuda:N with a device number", dev);
        return cuda_open((int)n, out, err);
    }
#endif
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
