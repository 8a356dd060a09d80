/*
 * parquet.h - a small Apache Parquet writer (no Arrow needed): flat schemas
 * of REQUIRED or OPTIONAL columns of UTF-8 strings (BYTE_ARRAY with the
 * STRING logical type and UTF8 converted type), INT32, INT64 and DOUBLE.
 * Values are PLAIN-encoded in data pages v1 (UNCOMPRESSED), at most
 * max_page_bytes of values per page; OPTIONAL columns carry RLE-encoded
 * definition levels. Rows are buffered in memory and written as one row
 * group when row_group_rows rows are buffered (0: only at close). The
 * footer is a Thrift compact-protocol FileMetaData (schema, row groups,
 * column chunk metadata with null counts, created_by "mediagrep <ver>").
 *
 * The file is written to "<path>.tmp", fsynced at close and renamed onto
 * path, so path never holds a half-written file; mg_pq_abort (or a failed
 * close) removes the temporary.
 *
 * Ownership: the writer copies the schema and every value it is given.
 * Errors: MG_EINVAL (bad schema, wrong value type for the column, a
 * REQUIRED column left NULL, a row with a column missing), MG_ELIMIT (a
 * value or page too large for Parquet's 32-bit sizes, size overflow),
 * MG_ENOMEM, MG_EIO naming the file and errno (a full disk included).
 * After an error the writer only accepts mg_pq_abort.
 * Threading: one thread per writer.
 */
#ifndef MG_PARQUET_H
#define MG_PARQUET_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

typedef enum { MG_PQ_STRING = 0, MG_PQ_INT32, MG_PQ_INT64, MG_PQ_DOUBLE } mg_pq_type;

typedef struct mg_pq_column {
    const char *name;   /* copied; non-empty */
    mg_pq_type type;
    int optional;       /* 1: OPTIONAL (NULLs allowed), 0: REQUIRED */
} mg_pq_column;

typedef struct mg_pq_params {
    int64_t row_group_rows;   /* 0: one row group, written at close */
    size_t max_page_bytes;    /* values per data page (1 MiB); a page holds at least one value */
} mg_pq_params;

mg_pq_params mg_pq_default_params(void);

typedef struct mg_pq_writer mg_pq_writer;

/* Opens a writer on path (writes path.tmp) for n columns. p may be NULL. */
int mg_pq_open(const char *path, const mg_pq_column *cols, int n, const mg_pq_params *p, mg_pq_writer **out,
               mg_error *err);

/* One value of the current row for column col (in any column order, each
 * column exactly once per row). s may be NULL (a NULL value) and holds len
 * bytes (need not be NUL-terminated; should be UTF-8). */
int mg_pq_str(mg_pq_writer *w, int col, const char *s, size_t len, mg_error *err);
int mg_pq_i32(mg_pq_writer *w, int col, int32_t v, mg_error *err);
int mg_pq_i64(mg_pq_writer *w, int col, int64_t v, mg_error *err);
int mg_pq_f64(mg_pq_writer *w, int col, double v, mg_error *err);
int mg_pq_null(mg_pq_writer *w, int col, mg_error *err);   /* OPTIONAL columns only */

/* Ends the current row: every column must have had its value. Writes a row
 * group when row_group_rows are buffered. */
int mg_pq_end_row(mg_pq_writer *w, mg_error *err);

/* Rows ended so far. */
int64_t mg_pq_rows(const mg_pq_writer *w);

/* Writes the buffered rows as a row group, the footer, fsyncs, renames
 * path.tmp onto path and frees the writer (also on error, which removes the
 * temporary). A row begun but not ended is MG_EINVAL. */
int mg_pq_close(mg_pq_writer *w, mg_error *err);

/* Frees the writer and removes the temporary. NULL is a no-op. */
void mg_pq_abort(mg_pq_writer *w);

#endif
