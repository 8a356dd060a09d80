/*
 * testlib.h - a tiny assertion library for mediagrep's C tests.
 * Each failed CHECK prints file:line and the expression and marks the test
 * failed; the test's main() returns mg_test_finish(), which prints
 * "N passed, N failed" and returns non-zero if anything failed.
 */
#ifndef MG_TESTLIB_H
#define MG_TESTLIB_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

extern int mg_test_passed, mg_test_failed;

#define CHECK(cond) do { if (cond) mg_test_passed++; else { mg_test_failed++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { if (cond) mg_test_passed++; else { mg_test_failed++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    CHECK_MSG(_a == _b, "%s = %lld, %s = %lld", #a, _a, #b, _b); } while (0)
#define CHECK_STR_CONTAINS(hay, needle) do { const char *_h = (hay); \
    CHECK_MSG(_h && strstr(_h, (needle)), "\"%s\" does not contain \"%s\"", _h ? _h : "(null)", (needle)); } while (0)
/* Stops the test immediately (for conditions later checks depend on). */
#define REQUIRE(cond) do { if (!(cond)) { mg_test_failed++; \
    fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
    return mg_test_finish(); } else mg_test_passed++; } while (0)

/* REQUIRE for void helper functions: returns from the helper. */
#define REQUIRE_V(cond) do { if (!(cond)) { mg_test_failed++; \
    fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
    return; } else mg_test_passed++; } while (0)

int mg_test_finish(void);
/* Returns 1 and prints a SKIP line if path does not exist. */
int mg_test_skip_unless_exists(const char *path);
/* Reads a whole file (caller frees); NULL on failure. */
char *mg_test_read(const char *path, size_t *len);
/* Writes bytes to a file; 0 on success. */
int mg_test_write(const char *path, const void *data, size_t len);
/* Cosine similarity of two float vectors (double accumulation). */
double mg_test_cosine(const float *a, const float *b, int n);
/* Largest |a[i] - b[i]|; a NaN anywhere counts as 1e30. */
double mg_test_maxabs(const float *a, const float *b, int n);
/* Normalized max error, as ggml's backend-ops test: max|a - ref| / max|ref|
 * (1e30 when a holds a NaN). */
double mg_test_nerr(const float *a, const float *ref, size_t n);
/* Runs a printf-formatted shell command; returns its exit status (128 +
 * signal when killed). */
int mg_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Makes a fresh temporary directory (caller frees the string). */
char *mg_test_tmpdir(const char *tag);

/* Starts `BIN index ROOT --store STORE --model MODEL --quiet --json EXTRA...`
 * (EXTRA split at spaces) with its stdout (the JSON summary) in out_json
 * (NULL: discarded) and stderr discarded unless $MG_TEST_VERBOSE; returns
 * the pid. */
#include <sys/types.h>
pid_t mg_test_start_index(const char *bin, const char *root, const char *store, const char *model,
                          const char *extra, const char *out_json);
/* Waits for pid: its exit status, or 256 + the signal that killed it (told
 * apart from exit 130). */
int mg_test_wait_exit(pid_t pid);
#endif
