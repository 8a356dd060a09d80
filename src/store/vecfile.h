/*
 * vecfile.h - the append-only vector file of a store: a 64-byte header
 * (magic, version, dimension, dtype, row count) followed by fixed-size rows
 * of fp32 or fp16 values, so the whole file can be memory-mapped and row r
 * found at a fixed offset.
 *
 * Durability protocol (see store.c): rows are appended with write(), made
 * durable with mg_vecfile_sync() BEFORE the catalog rows that point at them
 * commit, and the catalog keeps the authoritative committed row count. On
 * open the file is cut back to that count, so rows appended by a run that
 * was killed before its commit disappear. The header's row count is advisory
 * (rewritten at each sync) and only used by tools that read the file alone.
 *
 * Ownership: the handle owns its descriptor and mapping.
 * Errors: MG_EIO (naming the file and errno), MG_EFORMAT (bad header, or a
 * file shorter than the catalog says), MG_EINVAL (dimension/dtype mismatch).
 * Threading: one writer; mg_vecfile_read/map may be called from other
 * threads for rows below the count they observed, but not concurrently with
 * mg_vecfile_truncate.
 */
#ifndef MG_VECFILE_H
#define MG_VECFILE_H

#include <stdint.h>
#include "core/common.h"

#define MG_VECFILE_HEADER 64
#define MG_VECFILE_MAX_DIM 65536

typedef enum { MG_VEC_F32 = 0, MG_VEC_F16 = 1 } mg_vec_dtype;

typedef struct mg_vecfile mg_vecfile;

/* Opens (create = 1: creates when missing) the file at path for rows of dim
 * values of dtype. An existing file must have the same dim and dtype.
 * committed_rows >= 0 cuts the file back to that many rows (more rows than
 * that were never committed; fewer is MG_EFORMAT: the file lost data);
 * committed_rows < 0 keeps every whole row (a partial trailing row, from a
 * crash mid-write, is always cut). readonly opens O_RDONLY and never cuts. */
int mg_vecfile_open(const char *path, int dim, mg_vec_dtype dtype, int64_t committed_rows, int create,
                    int readonly, mg_vecfile **out, mg_error *err);
void mg_vecfile_close(mg_vecfile *vf); /* NULL is a no-op */

/* Reads only the header of path: dim, dtype and the advisory row count. */
int mg_vecfile_probe(const char *path, int *dim, mg_vec_dtype *dtype, int64_t *rows, mg_error *err);

int mg_vecfile_dim(const mg_vecfile *vf);
mg_vec_dtype mg_vecfile_dtype(const mg_vecfile *vf);
int64_t mg_vecfile_rows(const mg_vecfile *vf);      /* rows appended so far */
size_t mg_vecfile_row_bytes(const mg_vecfile *vf);
const char *mg_vecfile_path(const mg_vecfile *vf);

/* Appends n rows (n x dim floats, converted to the file's dtype). *first_row
 * (may be NULL) gets the row number of the first. Not durable until sync. */
int mg_vecfile_append(mg_vecfile *vf, const float *v, int64_t n, int64_t *first_row, mg_error *err);

/* fdatasync()s the rows appended so far and rewrites the header count. */
int mg_vecfile_sync(mg_vecfile *vf, mg_error *err);

/* Cuts the file back to rows rows (rows <= current). */
int mg_vecfile_truncate(mg_vecfile *vf, int64_t rows, mg_error *err);

/* Read-only handles: re-reads the file size so rows appended and committed
 * by a writer since the open become readable. Returns the new row count. */
int64_t mg_vecfile_refresh(mg_vecfile *vf);

/* Reads n rows from row as floats (converted from fp16 when needed). */
int mg_vecfile_read(const mg_vecfile *vf, int64_t row, int64_t n, float *out, mg_error *err);

/* Read-only mapping of the first rows rows (rows <= count): a pointer to row
 * 0 (MG_VECFILE_HEADER bytes into the file), valid until mg_vecfile_close
 * or the next map call. Returns NULL with err set on failure. */
const void *mg_vecfile_map(mg_vecfile *vf, int64_t rows, mg_error *err);

#endif
