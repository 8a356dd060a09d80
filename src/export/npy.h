/*
 * npy.h - a streaming writer of NumPy .npy files (format version 1.0) for
 * 2-D little-endian float16 or float32 matrices in C order: rows are
 * appended as they come and the header's shape is rewritten at close. The
 * header dict is `{'descr': '<f2', 'fortran_order': False, 'shape': (n, d), }`
 * padded with spaces and a final '\n' so that the data starts at a multiple
 * of 64 bytes (numpy.load and np.lib.format read it; so does clip-retrieval).
 *
 * The file is written to "<path>.tmp", fsynced and renamed onto path at
 * close; mg_npy_abort (or a failed close) removes the temporary.
 *
 * Ownership: the writer copies what it is given.
 * Errors: MG_EINVAL (dim <= 0), MG_ENOMEM, MG_EIO naming the file and errno
 * (a full disk included). After an error only mg_npy_abort is useful.
 * Threading: one thread per writer.
 */
#ifndef MG_NPY_H
#define MG_NPY_H

#include <stdint.h>
#include "core/common.h"

typedef struct mg_npy_writer mg_npy_writer;

/* Opens a writer of rows of dim values; fp16: float16 ('<f2') else float32. */
int mg_npy_open(const char *path, int dim, int fp16, mg_npy_writer **out, mg_error *err);

/* Appends n rows (n x dim floats; converted to float16 with round to
 * nearest even, as numpy's astype(np.float16)). */
int mg_npy_write(mg_npy_writer *w, const float *rows, int64_t n, mg_error *err);

int64_t mg_npy_rows(const mg_npy_writer *w);

/* Rewrites the header with the row count, fsyncs, renames into place and
 * frees the writer (also on error, removing the temporary). */
int mg_npy_close(mg_npy_writer *w, mg_error *err);

/* Frees the writer and removes the temporary. NULL is a no-op. */
void mg_npy_abort(mg_npy_writer *w);

/* The header for shape (rows, dim) into out (cap >= 128): returns its length
 * (a multiple of 64, padded to at least min_len), or -1 when it does not fit. */
int mg_npy_header(char *out, size_t cap, int64_t rows, int dim, int fp16, int min_len);

#endif
