/*
 * safetensors.h - a hardened, memory-mapped reader (and a small writer) for
 * the safetensors format: 8-byte little-endian header length N, N bytes of
 * JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}, then the tensor bytes.
 *
 * Validation on open (any failure is MG_EFORMAT naming the file, and the
 * tensor where there is one): 8 <= N <= 100 MiB and N <= file size - 8; the
 * header is valid JSON (json-c) and an object; every entry has a known dtype,
 * a shape of at most 8 non-negative dims, offsets with begin <= end inside
 * the data section; prod(shape) * dtype size == end - begin (overflow
 * checked); tensors do not overlap.
 *
 * Ownership: the handle owns the mapping; tensor structs and their data
 * pointers stay valid until mg_st_close. Thread safety: immutable after
 * open; lookups and reads may run concurrently.
 */
#ifndef MG_SAFETENSORS_H
#define MG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"
#include "core/half.h"

typedef enum {
    MG_DT_F32 = 0, MG_DT_F16, MG_DT_BF16, MG_DT_F64,
    MG_DT_I8, MG_DT_U8, MG_DT_I16, MG_DT_U16, MG_DT_I32, MG_DT_U32,
    MG_DT_I64, MG_DT_U64, MG_DT_BOOL, MG_DT_F8_E4M3, MG_DT_F8_E5M2,
    MG_DT_COUNT
} mg_dtype;

#define MG_ST_MAX_DIMS 8

typedef struct mg_st_tensor {
    const char *name;              /* NUL-terminated, owned by the file handle */
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_ST_MAX_DIMS];
    int64_t numel;                 /* product of shape (1 for a scalar) */
    const void *data;              /* inside the mapping; not aligned in general */
    size_t nbytes;
} mg_st_tensor;

typedef struct mg_safetensors mg_safetensors;

const char *mg_dtype_name(mg_dtype dt);   /* "F32", ... */
size_t mg_dtype_size(mg_dtype dt);        /* bytes per element */

/* Maps and validates a file. */
int mg_st_open(const char *path, mg_safetensors **out, mg_error *err);
/* Validates a buffer in memory (not copied: it must outlive the handle).
 * `name` is used in messages. For tests and fuzzing. */
int mg_st_open_mem(const void *buf, size_t len, const char *name,
                   mg_safetensors **out, mg_error *err);
/* Unmaps; NULL is a no-op. */
void mg_st_close(mg_safetensors *st);

int mg_st_count(const mg_safetensors *st);
const mg_st_tensor *mg_st_at(const mg_safetensors *st, int i); /* sorted by name */
/* Binary search by name; NULL when absent. */
const mg_st_tensor *mg_st_find(const mg_safetensors *st, const char *name);
const char *mg_st_path(const mg_safetensors *st);
/* Copies the string value of key in the header's __metadata__ into buf;
 * returns 1, or 0 when there is no such string. */
int mg_st_metadata(const mg_safetensors *st, const char *key, char *buf, size_t n);

/* Formats a shape as "[a, b, c]" into buf; returns buf. */
char *mg_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

/* Converts a F32/F16/BF16 tensor to float32 into dst (numel floats).
 * Other dtypes: MG_EUNSUPPORTED naming the tensor. */
int mg_st_to_f32(const mg_st_tensor *t, float *dst, mg_error *err);

/* --- writer --- */
typedef struct mg_st_write_tensor {
    const char *name;
    mg_dtype dtype;          /* F32, F16 or BF16; data is converted from f32 */
    int ndim;
    int64_t shape[MG_ST_MAX_DIMS];
    const float *data;       /* numel float32 values */
    const void *raw;         /* or, when not NULL: the bytes as stored, in dtype (any dtype) */
} mg_st_write_tensor;

/* Writes tensors (in the given order) to path atomically (path.tmp then
 * rename). metadata_json may be NULL or a JSON object text. */
int mg_st_write(const char *path, const mg_st_write_tensor *tensors, int n,
                const char *metadata_json, mg_error *err);


#endif
