/*
 * safetensors.c - hardened safetensors reader (mmap) and writer. See
 * safetensors.h for the format and the checks made on open. The header JSON
 * is parsed with json-c; everything derived from it is bounds- and
 * overflow-checked before any tensor byte is touched.
 */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MG_ST_MAX_HEADER (100u << 20)

struct mg_safetensors {
    char *path;
    void *map;          /* mmap base (NULL for mem) */
    size_t map_len;
    const uint8_t *base;
    size_t len;
    mg_st_tensor *tensors; /* sorted by name */
    int n;
    char *names;        /* all names, NUL-separated */
    char *metadata;     /* the __metadata__ object as JSON text, or NULL */
};

static const struct { const char *name; size_t size; } k_dtypes[MG_DT_COUNT] = {
    [MG_DT_F32] = {"F32", 4},  [MG_DT_F16] = {"F16", 2},   [MG_DT_BF16] = {"BF16", 2},
    [MG_DT_F64] = {"F64", 8},  [MG_DT_I8] = {"I8", 1},     [MG_DT_U8] = {"U8", 1},
    [MG_DT_I16] = {"I16", 2},  [MG_DT_U16] = {"U16", 2},   [MG_DT_I32] = {"I32", 4},
    [MG_DT_U32] = {"U32", 4},  [MG_DT_I64] = {"I64", 8},   [MG_DT_U64] = {"U64", 8},
    [MG_DT_BOOL] = {"BOOL", 1}, [MG_DT_F8_E4M3] = {"F8_E4M3", 1},
    [MG_DT_F8_E5M2] = {"F8_E5M2", 1},
};

const char *mg_dtype_name(mg_dtype dt) {
    return (dt >= 0 && dt < MG_DT_COUNT) ? k_dtypes[dt].name : "?";
}
size_t mg_dtype_size(mg_dtype dt) {
    return (dt >= 0 && dt < MG_DT_COUNT) ? k_dtypes[dt].size : 0;
}

static int dtype_from_name(const char *s, mg_dtype *out) {
    for (int i = 0; i < MG_DT_COUNT; i++)
        if (!strcmp(s, k_dtypes[i].name)) { *out = (mg_dtype)i; return 0; }
    return -1;
}

char *mg_shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const mg_st_tensor *)a)->name, ((const mg_st_tensor *)b)->name);
}
static int cmp_tensor_off(const void *a, const void *b) {
    const mg_st_tensor *x = *(const mg_st_tensor *const *)a, *y = *(const mg_st_tensor *const *)b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Reads a JSON integer that must be a non-negative int64. */
static int json_u64(json_object *o, uint64_t *out) {
    if (!o || !json_object_is_type(o, json_type_int)) return -1;
    errno = 0;
    int64_t v = json_object_get_int64(o);
    if (errno == ERANGE || v < 0) return -1;
    /* json-c clamps out-of-range values; reject values that were clamped */
    if (v == INT64_MAX) return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse(mg_safetensors *st, const char *name, mg_error *err) {
    if (st->len < 8)
        return mg_err_set(err, MG_EFORMAT, "%s: not a safetensors file: %zu bytes, need at least 8",
                          name, st->len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | st->base[i];
    if (hlen < 2 || hlen > MG_ST_MAX_HEADER)
        return mg_err_set(err, MG_EFORMAT, "%s: safetensors header length %llu out of range [2, %u]",
                          name, (unsigned long long)hlen, MG_ST_MAX_HEADER);
    if (hlen > st->len - 8)
        return mg_err_set(err, MG_EFORMAT,
                          "%s: safetensors header length %llu exceeds the file (%zu bytes): truncated?",
                          name, (unsigned long long)hlen, st->len);
    const char *hdr = (const char *)st->base + 8;
    const uint8_t *data = st->base + 8 + hlen;
    size_t data_len = st->len - 8 - (size_t)hlen;

    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", name);
    json_object *root = json_tokener_parse_ex(tok, hdr, (int)hlen);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t consumed = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        if (root) json_object_put(root);
        return mg_err_set(err, MG_EFORMAT, "%s: safetensors header is not valid JSON: %s", name,
                          jerr == json_tokener_continue ? "unexpected end of header"
                                                        : json_tokener_error_desc(jerr));
    }
    /* only whitespace (the format pads with spaces) may follow the object */
    for (size_t i = consumed; i < hlen; i++) {
        char c = hdr[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != 0) {
            json_object_put(root);
            return mg_err_set(err, MG_EFORMAT, "%s: trailing bytes after the safetensors header JSON", name);
        }
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return mg_err_set(err, MG_EFORMAT, "%s: safetensors header is not a JSON object", name);
    }

    int count = 0;
    size_t names_len = 0;
    json_object_object_foreach(root, key0, val0) {
        (void)val0;
        if (!strcmp(key0, "__metadata__")) continue;
        count++;
        names_len += strlen(key0) + 1;
    }
    st->tensors = calloc((size_t)(count ? count : 1), sizeof *st->tensors);
    st->names = malloc(names_len ? names_len : 1);
    if (!st->tensors || !st->names) {
        json_object_put(root);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory for %d tensors", name, count);
    }
    int rc = MG_OK;
    size_t npos = 0;
    int i = 0;
    json_object_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_object_is_type(val, json_type_object)) {
                rc = mg_err_set(err, MG_EFORMAT, "%s: __metadata__ is not an object", name);
                break;
            }
            free(st->metadata);
            st->metadata = strdup(json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
            continue;
        }
        mg_st_tensor *t = &st->tensors[i++];
        size_t kl = strlen(key);
        memcpy(st->names + npos, key, kl + 1);
        t->name = st->names + npos;
        npos += kl + 1;
        json_object *jd, *js, *jo;
        if (!json_object_is_type(val, json_type_object) ||
            !json_object_object_get_ex(val, "dtype", &jd) ||
            !json_object_object_get_ex(val, "shape", &js) ||
            !json_object_object_get_ex(val, "data_offsets", &jo)) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: tensor '%s': entry needs dtype, shape and data_offsets",
                            name, key);
            break;
        }
        if (!json_object_is_type(jd, json_type_string) ||
            dtype_from_name(json_object_get_string(jd), &t->dtype)) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: tensor '%s': unknown dtype %s", name, key,
                            json_object_to_json_string(jd));
            break;
        }
        if (!json_object_is_type(js, json_type_array) ||
            json_object_array_length(js) > MG_ST_MAX_DIMS) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: tensor '%s': shape must be an array of at most %d dims",
                            name, key, MG_ST_MAX_DIMS);
            break;
        }
        t->ndim = (int)json_object_array_length(js);
        size_t numel = 1;
        int bad = 0;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t v;
            if (json_u64(json_object_array_get_idx(js, (size_t)d), &v) || v > INT64_MAX / 2) { bad = 1; break; }
            t->shape[d] = (int64_t)v;
            if (mg_mul_size(numel, (size_t)v, &numel)) { bad = 2; break; }
        }
        if (bad) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: tensor '%s': %s", name, key,
                            bad == 1 ? "shape dims must be non-negative integers" : "shape overflows");
            break;
        }
        t->numel = (int64_t)numel;
        uint64_t b, e;
        if (!json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2 ||
            json_u64(json_object_array_get_idx(jo, 0), &b) ||
            json_u64(json_object_array_get_idx(jo, 1), &e) || b > e) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: tensor '%s': data_offsets must be [begin, end] with begin <= end",
                            name, key);
            break;
        }
        if (e > data_len) {
            rc = mg_err_set(err, MG_EFORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] outside the data section (%zu bytes): truncated?",
                            name, key, (unsigned long long)b, (unsigned long long)e, data_len);
            break;
        }
        size_t want;
        if (mg_mul_size(numel, mg_dtype_size(t->dtype), &want) || want != e - b) {
            char sh[128];
            rc = mg_err_set(err, MG_EFORMAT,
                            "%s: tensor '%s': %s %s needs %zu bytes but data_offsets span %llu",
                            name, key, mg_dtype_name(t->dtype), mg_shape_str(t->shape, t->ndim, sh, sizeof sh),
                            want, (unsigned long long)(e - b));
            break;
        }
        t->data = data + b;
        t->nbytes = (size_t)(e - b);
    }
    json_object_put(root);
    if (rc) return rc;
    st->n = count;

    /* overlap check: sort pointers by offset */
    if (count > 1) {
        const mg_st_tensor **byoff = malloc((size_t)count * sizeof *byoff);
        if (!byoff) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", name);
        for (int k = 0; k < count; k++) byoff[k] = &st->tensors[k];
        qsort(byoff, (size_t)count, sizeof *byoff, cmp_tensor_off);
        for (int k = 1; k < count; k++) {
            const uint8_t *pe = (const uint8_t *)byoff[k - 1]->data + byoff[k - 1]->nbytes;
            if ((const uint8_t *)byoff[k]->data < pe && byoff[k]->nbytes && byoff[k - 1]->nbytes) {
                rc = mg_err_set(err, MG_EFORMAT, "%s: tensors '%s' and '%s' overlap", name,
                                byoff[k - 1]->name, byoff[k]->name);
                break;
            }
        }
        free(byoff);
        if (rc) return rc;
    }
    qsort(st->tensors, (size_t)count, sizeof *st->tensors, cmp_tensor_name);
    for (int k = 1; k < count; k++)
        if (!strcmp(st->tensors[k - 1].name, st->tensors[k].name))
            return mg_err_set(err, MG_EFORMAT, "%s: duplicate tensor '%s'", name, st->tensors[k].name);
    return MG_OK;
}

static int finish_open(mg_safetensors *st, const char *name, mg_safetensors **out, mg_error *err) {
    st->path = strdup(name);
    int rc = st->path ? parse(st, name, err) : mg_err_set(err, MG_ENOMEM, "out of memory");
    if (rc) {
        mg_st_close(st);
        return rc;
    }
    *out = st;
    return MG_OK;
}

int mg_st_open(const char *path, mg_safetensors **out, mg_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return mg_err_set(err, MG_EIO, "%s: not a regular file", path);
    }
    mg_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        close(fd);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    st->len = (size_t)sb.st_size;
    if (st->len > 0) {
        void *m = mmap(NULL, st->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(st);
            return mg_err_set(err, MG_EIO, "%s: mmap failed: %s", path, strerror(e));
        }
        st->map = m;
        st->map_len = st->len;
        st->base = m;
    }
    close(fd);
    return finish_open(st, path, out, err);
}

int mg_st_open_mem(const void *buf, size_t len, const char *name, mg_safetensors **out, mg_error *err) {
    *out = NULL;
    mg_safetensors *st = calloc(1, sizeof *st);
    if (!st) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", name);
    st->base = buf;
    st->len = len;
    return finish_open(st, name ? name : "(memory)", out, err);
}

void mg_st_close(mg_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    free(st->tensors);
    free(st->names);
    free(st->metadata);
    free(st->path);
    free(st);
}

int mg_st_metadata(const mg_safetensors *st, const char *key, char *buf, size_t n) {
    if (!st->metadata || !n) return 0;
    json_object *o = json_tokener_parse(st->metadata), *v;
    int found = o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string);
    if (found) snprintf(buf, n, "%s", json_object_get_string(v));
    json_object_put(o);
    return found;
}

int mg_st_count(const mg_safetensors *st) { return st->n; }
const mg_st_tensor *mg_st_at(const mg_safetensors *st, int i) {
    return (i >= 0 && i < st->n) ? &st->tensors[i] : NULL;
}
const char *mg_st_path(const mg_safetensors *st) { return st->path; }

const mg_st_tensor *mg_st_find(const mg_safetensors *st, const char *name) {
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->tensors[mid].name);
        if (!c) return &st->tensors[mid];
        if (c < 0) hi = mid - 1; else lo = mid + 1;
    }
    return NULL;
}

int mg_st_to_f32(const mg_st_tensor *t, float *dst, mg_error *err) {
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case MG_DT_F32: memcpy(dst, p, n * 4); return MG_OK;
    case MG_DT_F16: mg_f16_to_f32_n(p, dst, n); return MG_OK;
    case MG_DT_BF16: mg_bf16_to_f32_n(p, dst, n); return MG_OK;
    default:
        return mg_err_set(err, MG_EUNSUPPORTED, "tensor '%s': dtype %s is not a float type (need F32, F16 or BF16)",
                          t->name, mg_dtype_name(t->dtype));
    }
}

int mg_st_write(const char *path, const mg_st_write_tensor *tensors, int n, const char *metadata_json,
                mg_error *err) {
    json_object *root = json_object_new_object();
    if (!root) return mg_err_set(err, MG_ENOMEM, "out of memory");
    if (metadata_json) {
        json_object *md = json_tokener_parse(metadata_json);
        if (!md || !json_object_is_type(md, json_type_object)) {
            if (md) json_object_put(md);
            json_object_put(root);
            return mg_err_set(err, MG_EINVAL, "%s: metadata must be a JSON object", path);
        }
        json_object_object_add(root, "__metadata__", md);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const mg_st_write_tensor *t = &tensors[i];
        if (!t->raw && t->dtype != MG_DT_F32 && t->dtype != MG_DT_F16 && t->dtype != MG_DT_BF16) {
            json_object_put(root);
            return mg_err_set(err, MG_EINVAL, "%s: tensor '%s': writer converts to F32, F16, BF16 only (pass raw "
                              "data for others)", path, t->name);
        }
        uint64_t numel = 1;
        json_object *shape = json_object_new_array();
        for (int d = 0; d < t->ndim; d++) {
            numel *= (uint64_t)t->shape[d];
            json_object_array_add(shape, json_object_new_int64(t->shape[d]));
        }
        uint64_t nb = numel * mg_dtype_size(t->dtype);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "dtype", json_object_new_string(mg_dtype_name(t->dtype)));
        json_object_object_add(e, "shape", shape);
        json_object *offs = json_object_new_array();
        json_object_array_add(offs, json_object_new_int64((int64_t)off));
        json_object_array_add(offs, json_object_new_int64((int64_t)(off + nb)));
        json_object_object_add(e, "data_offsets", offs);
        json_object_object_add(root, t->name, e);
        off += nb;
    }
    const char *js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    size_t jl = strlen(js);
    size_t padded = (jl + 7) & ~(size_t)7; /* keep the data section 8-byte aligned */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()); /* writers racing on one path each own a tmp */
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        json_object_put(root);
        return mg_err_set(err, MG_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    uint8_t lenb[8];
    for (int k = 0; k < 8; k++) lenb[k] = (uint8_t)((uint64_t)padded >> (8 * k));
    int ok = fwrite(lenb, 1, 8, f) == 8 && fwrite(js, 1, jl, f) == jl;
    for (size_t k = jl; ok && k < padded; k++) ok = fputc(' ', f) != EOF;
    json_object_put(root);
    enum { CHUNK = 1 << 14 };
    uint16_t *buf16 = malloc(CHUNK * sizeof *buf16);
    ok = ok && buf16;
    for (int i = 0; ok && i < n; i++) {
        const mg_st_write_tensor *t = &tensors[i];
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        if (t->raw) {
            size_t nb = numel * mg_dtype_size(t->dtype);
            ok = fwrite(t->raw, 1, nb, f) == nb;
            continue;
        }
        if (t->dtype == MG_DT_F32) {
            ok = fwrite(t->data, 4, numel, f) == numel;
            continue;
        }
        for (size_t s = 0; ok && s < numel; s += CHUNK) {
            size_t c = numel - s < CHUNK ? numel - s : CHUNK;
            for (size_t k = 0; k < c; k++)
                buf16[k] = t->dtype == MG_DT_F16 ? mg_f32_to_f16(t->data[s + k]) : mg_f32_to_bf16(t->data[s + k]);
            ok = fwrite(buf16, 2, c, f) == c;
        }
    }
    free(buf16);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) ok = 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return mg_err_set(err, MG_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return MG_OK;
}
