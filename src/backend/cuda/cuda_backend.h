/*
 * cuda_backend.h - the CUDA backend's entry points. The backend is a
 * separate module, libmediagrep_cuda.so (cuda_backend.cu), that
 * backend.c loads with dlopen the first time a CUDA device is asked for, so
 * commands on the CPU never load the CUDA runtime and cuBLASLt (about 70 ms
 * of start-up) and the binary runs on machines without them. The module
 * exports these two C symbols; backend.c resolves them with dlsym.
 */
#ifndef MG_CUDA_BACKEND_H
#define MG_CUDA_BACKEND_H

#include "backend/backend.h"

/* "mg_cuda_device_count": visible CUDA devices (0 without a driver or device). */
typedef int (*mg_cuda_device_count_fn)(void);

/* "mg_backend_cuda_open": opens device N. MG_EUNSUPPORTED when no device is
 * visible, MG_EINVAL for a device number that does not exist. */
typedef int (*mg_backend_cuda_open_fn)(int device, mg_backend **out, mg_error *err);

#endif
