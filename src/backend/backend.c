/*
 * backend.c - backend selection by device name: "cpu", "cuda", "cuda:N"
 * (builds with MG_HAVE_CUDA; otherwise MG_EUNSUPPORTED), "auto" (the GPUs
 * if any, else the CPU), and device lists ("cuda:0,1") for the indexer.
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

#include <stdio.h>
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
    char beside[PATH_MAX + 32];
    const char *cands[4];
    int n = mg_module_candidates("MEDIAGREP_CUDA_MODULE", "libmediagrep_cuda.so", MG_CUDA_MODULE, beside,
                                 sizeof beside, cands);
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

mg_backend_params mg_backend_default_params(void) {
    mg_backend_params p = {.device = "cpu", .n_threads = 0};
    return p;
}

static int gpu_count(char *why, size_t cap) {
#ifdef MG_HAVE_CUDA
    int n = cuda_device_count();
    if (!n && why) {
        if (g_cuda.count) snprintf(why, cap, "no CUDA device is visible");
        else snprintf(why, cap, "the CUDA backend cannot be loaded: %s", g_cuda.why);
    }
    return n;
#else
    if (why) snprintf(why, cap, "this build has no CUDA backend");
    return 0;
#endif
}

static int add_dev(mg_device_name *devs, int max, int *n, const char *name, mg_error *err) {
    if (*n >= max) return mg_err_set(err, MG_EINVAL, "too many devices (at most %d)", max);
    snprintf(devs[(*n)++], sizeof devs[0], "%s", name);
    return MG_OK;
}

int mg_backend_device_list(const char *spec, mg_device_name *devs, int max, char *notice, size_t cap,
                           mg_error *err) {
    if (notice && cap) notice[0] = 0;
    if (!spec || !*spec) spec = "cpu";
    if (strlen(spec) > 512) return mg_err_set(err, MG_EINVAL, "device list too long");
    char buf[520], name[32];
    snprintf(buf, sizeof buf, "%s", spec);
    int n = 0, last_cuda = 0, rc;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ') t[--l] = 0;
        const char *num = NULL;
        if (!strcmp(t, "cpu")) {
            last_cuda = 0;
            if ((rc = add_dev(devs, max, &n, "cpu", err))) return rc;
            continue;
        }
        if (!strcmp(t, "auto")) {
            char why[600];
            int g = gpu_count(why, sizeof why);
            if (g > 0) {
                size_t o = 0;
                if (notice && cap) o = (size_t)snprintf(notice, cap, "device auto: %d GPU%s (", g, g > 1 ? "s" : "");
                for (int i = 0; i < g; i++) {
                    snprintf(name, sizeof name, "cuda:%d", i);
                    if ((rc = add_dev(devs, max, &n, name, err))) return rc;
                    if (notice && o < cap) o += (size_t)snprintf(notice + o, cap - o, "%s%s", i ? ", " : "", name);
                }
                if (notice && o < cap) snprintf(notice + o, cap - o, ")");
                last_cuda = 1;
            } else {
                if (notice && cap) snprintf(notice, cap, "device auto: the CPU (%s)", why);
                if ((rc = add_dev(devs, max, &n, "cpu", err))) return rc;
                last_cuda = 0;
            }
            continue;
        }
        if (!strcmp(t, "cuda")) num = "0";
        else if (!strncmp(t, "cuda:", 5)) num = t + 5;
        else if (last_cuda && t[0] >= '0' && t[0] <= '9') num = t;
        else
            return mg_err_set(err, MG_EINVAL, "unknown device '%s' in '%s' (expected cpu, cuda, cuda:N, cuda:0,1 or auto)",
                              t, spec);
        char *end;
        long d = strtol(num, &end, 10);
        if (end == num || *end || d < 0 || d > 1024)
            return mg_err_set(err, MG_EINVAL, "device '%s': expected cuda:N with a device number", t);
        snprintf(name, sizeof name, "cuda:%ld", d);
        if ((rc = add_dev(devs, max, &n, name, err))) return rc;
        last_cuda = 1;
    }
    if (!n) return mg_err_set(err, MG_EINVAL, "empty device list '%s'", spec);
    return n;
}

int mg_backend_open(const mg_backend_params *p, mg_backend **out, mg_error *err) {
    mg_backend_params d = mg_backend_default_params();
    if (!p) p = &d;
    *out = NULL;
    mg_device_name devs[MG_MAX_DEVICES];
    int n = mg_backend_device_list(p->device, devs, MG_MAX_DEVICES, NULL, 0, err);
    if (n < 0) return n;
    const char *dev = devs[0]; /* a list opens its first device */
    if (!strcmp(dev, "cpu")) return mg_backend_cpu_open(p->n_threads, out, err);
#ifdef MG_HAVE_CUDA
    return cuda_open(atoi(dev + 5), out, err);
#else
    return mg_err_set(err, MG_EUNSUPPORTED, "device '%s': this build has no CUDA backend", dev);
#endif
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
