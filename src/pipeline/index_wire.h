/*
 * index_wire.h - the byte form of what the ranks of a distributed index run
 * exchange (index_dist.c): jobs (rank 0 -> worker: what the walk decided
 * about a file) and finished files (worker -> rank 0: what the decoder
 * found and every analyzer's output, so that rank 0's writer commits them
 * exactly as it commits its own). Little-endian fixed-width integers,
 * length-prefixed strings, floats as their IEEE bits: the vectors arrive
 * bit for bit. Not a public interface.
 *
 * Decoding checks every length against the buffer (a truncated or garbled
 * message is an error, never a read past the end).
 */
#ifndef MG_INDEX_WIRE_H
#define MG_INDEX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/indexer_internal.h"

typedef struct mg_wbuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} mg_wbuf;

typedef struct mg_rbuf {
    const uint8_t *p;
    size_t n, off;
    int bad;
} mg_rbuf;

void mg_wb_u32(mg_wbuf *b, uint32_t v);
void mg_wb_i64(mg_wbuf *b, int64_t v);
void mg_wb_f64(mg_wbuf *b, double v);
void mg_wb_str(mg_wbuf *b, const char *s); /* NULL and "" differ */
void mg_wb_free(mg_wbuf *b);
uint32_t mg_rb_u32(mg_rbuf *b);
int64_t mg_rb_i64(mg_rbuf *b);
double mg_rb_f64(mg_rbuf *b);
/* A string (malloc'd, NUL-terminated; NULL when NULL was sent or on error). */
char *mg_rb_str(mg_rbuf *b);
/* Into a fixed buffer (truncated to cap - 1). */
void mg_rb_strbuf(mg_rbuf *b, char *dst, size_t cap);

/* A job as the walk made it (path, size, mtime, dev, previous row and
 * hash, which analyzers it needs), tagged with rank 0's sequence number. */
void mg_ixw_put_job(mg_wbuf *b, int64_t seq, const job *j);
/* A new job from the wire (calloc'd; mg_ix_free_job frees it); NULL on a
 * bad message or out of memory. */
job *mg_ixw_get_job(mg_rbuf *b, int64_t *seq);

/* What a worker made of a job: the decoder's fields and outs[a] for each
 * analyzer a < n_an (vectors of dim floats). MG_OK or MG_ENOMEM. */
int mg_ixw_put_result(mg_wbuf *b, int64_t seq, const job *j, const mg_an_output *outs, int n_an, int dim);

/* A finished file's outputs as rank 0 keeps them until its writer commits
 * them (owned by the job: j->remote). */
typedef struct mg_ix_remote {
    int rank;                     /* the worker that made it */
    mg_an_output outs[MG_AN_MAX];
    mg_store_item *items[MG_AN_MAX];
    float *vecs[MG_AN_MAX];
    mg_text_seg *segs[MG_AN_MAX];
    char *lang[MG_AN_MAX];
} mg_ix_remote;

/* Reads a result into the job j that rank 0 sent as seq (the decoder's
 * fields are set and j->remote filled), after mg_ixw_result_seq read the
 * sequence number. MG_OK, or MG_EINVAL on a bad message (message in err),
 * MG_ENOMEM. */
int mg_ixw_result_seq(mg_rbuf *b, int64_t *seq);
int mg_ixw_get_result(mg_rbuf *b, job *j, int n_an, int dim, int rank, mg_error *err);
void mg_ix_remote_free(mg_ix_remote *r); /* NULL is a no-op */

#endif
