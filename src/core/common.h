/*
 * common.h - status codes, error messages, assertions and checked size
 * arithmetic shared by every mediagrep module.
 *
 * Conventions (see README "Library conventions"):
 *   - Library functions return int status codes: MG_OK (0) or a negative
 *     MG_E* value. mg_strerror() turns a code into a static string.
 *   - Functions that can fail take an optional `mg_error *err` (may be NULL)
 *     which receives the code and a human-readable message naming the file,
 *     tensor or input at fault. Handles keep their own last message.
 *   - Library code never calls exit(). A broken internal invariant aborts
 *     through MG_ASSERT, which prints file and line.
 * Thread safety: everything here is thread-safe (no global mutable state).
 */
#ifndef MG_COMMON_H
#define MG_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MG_OK = 0,
    MG_EINVAL = -1,       /* invalid argument or option */
    MG_ENOMEM = -2,       /* allocation failed */
    MG_EIO = -3,          /* read/write/open failure */
    MG_EFORMAT = -4,      /* malformed or corrupt input */
    MG_EUNSUPPORTED = -5, /* valid input we do not handle */
    MG_ELIMIT = -6,       /* input exceeds a configured limit */
    MG_ENOTFOUND = -7,    /* missing file, tensor or key */
    MG_ESHAPE = -8,       /* tensor shape mismatch */
    MG_ENETWORK = -9,     /* network / HTTP failure */
    MG_ECHECKSUM = -10,   /* checksum mismatch */
    MG_EBACKEND = -11,    /* compute backend failure */
    MG_EINTERRUPTED = -12,/* stopped by a signal or request */
    MG_EBUSY = -13,       /* a lock held by another process (store writer) */
    MG_EMISMATCH = -14,   /* a store made by a different model than the one given */
    MG_EEMPTY = -15       /* a store created but never committed (no schema yet) */
};

/* Static description of a status code; never NULL. */
const char *mg_strerror(int code);

#define MG_ERRMSG_MAX 512
typedef struct mg_error {
    int code;                  /* MG_OK when no error */
    char msg[MG_ERRMSG_MAX];   /* "" when no error */
} mg_error;

/* Sets err (if non-NULL) to code and a printf-style message; returns code so
 * callers can `return mg_err_set(err, MG_EIO, "...")`. */
int mg_err_set(mg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mg_err_vset(mg_error *err, int code, const char *fmt, va_list ap);
/* Clears err (if non-NULL). */
void mg_err_clear(mg_error *err);
/* Prepends "prefix: " to an existing message (e.g. a file name). */
void mg_err_prefix(mg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Aborts with file/line and message. Used for broken invariants only. */
void mg_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define MG_ASSERT(cond)                                                  \
    do {                                                                 \
        if (!(cond)) mg_panic(__FILE__, __LINE__, "assertion failed: %s", #cond); \
    } while (0)

/* Checked arithmetic: return 0 on success, -1 on overflow. */
static inline int mg_mul_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int mg_add_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* 64-byte aligned allocation (for SIMD and oneDNN); free with mg_free_aligned.
 * Returns NULL on failure or overflow of n*size. */
void *mg_alloc_aligned(size_t n, size_t size);
void mg_free_aligned(void *p);

/* Monotonic clock in seconds. */
double mg_now(void);

/* mkdir -p with mode 0755: creates path and its missing parents. MG_EIO
 * (naming the directory) when one cannot be created or is not a directory,
 * MG_ELIMIT when the path is too long. */
int mg_mkdir_p(const char *path, mg_error *err);

/* fsync()s the directory holding path, so that a rename or create there is
 * durable. MG_EIO naming the directory on failure (EINVAL from a filesystem
 * that cannot sync directories is not a failure). Thread-safe. */
int mg_fsync_parent_dir(const char *path, mg_error *err);

/* The absolute form of path, also when it does not exist: the longest
 * existing leading part is resolved with realpath(3) (links, "..") and the
 * rest is appended with "." and ".." applied lexically. MG_ELIMIT when it
 * does not fit in cap, MG_EIO when the working directory is unknown. */
int mg_path_absolute(const char *path, char *out, size_t cap, mg_error *err);

/* Where a module loaded at run time (the CUDA backend, the MPI transport) is
 * looked for, in order: $env_var (when set), file_name beside the
 * executable, build_path (may be NULL: the build tree's copy), then the
 * bare file_name (the loader's search path). Fills cands[0..n) with
 * pointers to env, beside (a caller buffer of cap bytes), build_path and
 * file_name; returns n (at most 4). */
int mg_module_candidates(const char *env_var, const char *file_name, const char *build_path, char *beside, size_t cap,
                         const char *cands[4]);

/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees).
 * max_bytes caps the size (0 = no cap). */
int mg_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                 mg_error *err);

#ifdef __cplusplus
}
#endif
#endif
