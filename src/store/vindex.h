/*
 * vindex.h - approximate nearest-neighbour index over L2-normalized
 * embeddings: a C interface over FAISS (libfaiss 1.7.3, C++), inner-product
 * metric, searched with the caller's own 64-bit ids.
 *
 * Three index types, chosen by mg_vindex_choose() unless the caller asks:
 *   FLAT   exact search (faiss IndexFlatIP inside an IndexIDMap).
 *   HNSW   graph search over flat float storage (IndexHNSWFlat, inner
 *          product, inside an IndexIDMap). Cannot remove vectors.
 *   IVFPQ  inverted lists over product-quantized codes (IndexIVFPQ with an
 *          exact IndexFlatIP coarse quantizer; the lists store the caller's
 *          ids themselves, so there is no id map: faiss's id map assumes
 *          removal renumbers the sub-index, which IVF does not).
 * The id map is IndexIDMap, not IndexIDMap2: nothing here looks vectors up
 * by id, and IndexIDMap2's reverse hash map costs ~50 bytes per vector.
 * Files: the index file is exactly faiss::write_index's output, so
 * faiss.read_index (Python or C++), autofaiss and clip-retrieval's back end
 * open it; its ids are the caller's (in a store: catalog items.id). Its
 * checks live in a 64-byte sidecar `<path>.sum` (magic "MGVIDX02", type,
 * dim, count, file size and XXH3-64 of the file; see vindex.cpp), verified
 * before faiss parses a byte. The search knobs efSearch and nprobe travel
 * in the file.
 *
 * Ownership: mg_vindex_build/mg_vindex_load return a handle that owns every
 * faiss object; the caller's vectors and ids are copied, never kept.
 * Errors: MG_EINVAL for bad arguments (dim outside 1..MG_VINDEX_MAX_DIM,
 * k <= 0, n < 0, NULL arrays with n > 0, id -1, bad parameters), MG_ELIMIT
 * when n x dim overflows, MG_ENOMEM, MG_EUNSUPPORTED (removal from HNSW),
 * MG_EIO / MG_ENOTFOUND / MG_EFORMAT for files (naming the file),
 * MG_EBACKEND for any other exception faiss throws; the message carries
 * faiss's text. No C++ exception ever crosses this interface. Vectors and
 * queries carry no dimension of their own: the caller passes rows of
 * mg_vindex_dim() floats (a mismatch cannot be detected here).
 * Threading: mg_vindex_search and mg_vindex_search_filtered may run
 * concurrently on one index from any number of threads (each call passes its
 * own faiss search parameters; nothing in the handle is written), and so may
 * mg_vindex_save. add, remove, set_search and close need exclusive access
 * to the index. Different indexes are independent. Inside one call
 * faiss parallelizes with OpenMP; n_threads (when > 0) sets the calling
 * thread's OpenMP thread count for the duration of the call only. HNSW
 * graphs built with several threads differ slightly from run to run
 * (insertion order races); FLAT and IVFPQ results are reproducible.
 */
#ifndef MG_VINDEX_H
#define MG_VINDEX_H

#include <stdint.h>
#include "core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MG_VINDEX_MAX_DIM 65536

/* Size thresholds of mg_vindex_choose (see there). */
#define MG_VINDEX_FLAT_MAX_N 100000            /* below: exact search */
#define MG_VINDEX_HNSW_MAX_N 5000000           /* up to: HNSW */
#define MG_VINDEX_HNSW_MAX_FLOATS 2560000000LL /* n*dim cap for HNSW: 5M x 512 = 10 GiB */
/* IVF-PQ needs this many vectors to train (39 x 256: faiss's minimum for a
 * 256-centroid k-means of each PQ sub-quantizer); fewer falls back to FLAT. */
#define MG_VINDEX_IVFPQ_MIN_N 9984

typedef struct mg_vindex mg_vindex; /* opaque */

typedef enum {
    MG_VINDEX_AUTO = 0, /* chosen from n and dim by mg_vindex_choose */
    MG_VINDEX_FLAT,
    MG_VINDEX_HNSW,
    MG_VINDEX_IVFPQ
} mg_vindex_type;

/* Index parameters; for hnsw_m, ef_construction and ef_search 0 also means
 * the default. ef_search 128 rather than 64: on 20k x 64 clustered unit
 * vectors (tests/test_vindex.c) recall@10 is 0.97 at 64 and 0.99 at 128,
 * and larger, higher-dimensional sets need a wider beam for the same
 * recall; it costs about twice the distance evaluations of 64. */
typedef struct mg_vindex_params {
    mg_vindex_type type; /* AUTO: mg_vindex_choose(n, dim) at build time */
    int hnsw_m;          /* HNSW neighbours per node (32; 2..256) */
    int ef_construction; /* HNSW build beam (80) */
    int ef_search;       /* HNSW search beam (128); raised to k when smaller */
    int ivf_nlist;       /* 0 = 4*sqrt(n) capped at n/39 (>= 1) */
    int pq_m;            /* 0 = dim/8 sub-quantizers (largest divisor of dim
                            not above dim/8), 8 bits each; must divide dim */
    int nprobe;          /* 0 = max(8, nlist/16), at most nlist */
    int n_threads;       /* 0 = OpenMP default; else threads for this index's
                            build, add and search calls */
} mg_vindex_params;

/* The defaults above (type AUTO). */
mg_vindex_params mg_vindex_default_params(void);

/* Picks the index type for n vectors of dim values, like autofaiss:
 *   n < 100,000 (MG_VINDEX_FLAT_MAX_N): FLAT. Exact search costs n*dim
 *     multiply-adds per query (51M at 100k x 512: milliseconds), so an
 *     approximate index buys little and exact results need no tuning.
 *   n <= 5,000,000 (MG_VINDEX_HNSW_MAX_N) and n*dim <= 2.56e9 floats (10 GiB
 *     of float storage, 5M x 512): HNSW. Best recall per query cost, but it
 *     keeps every float plus ~2*M links per vector in RAM and builds slowly.
 *   above: IVFPQ. dim/8 code bytes + an 8-byte id per vector (72 B at 512:
 *     100M vectors in ~7 GiB), at the price of recall (quantized scores).
 * dim <= 0 is treated as 512. Never returns AUTO. */
mg_vindex_type mg_vindex_choose(int64_t n, int dim);

/* "flat", "hnsw", "ivfpq" or "auto"; "?" for values outside the enum. */
const char *mg_vindex_type_name(mg_vindex_type t);

/* Parses one of the names above (ASCII case-insensitive) into *out.
 * MG_EINVAL (out untouched) on NULL or an unknown name. */
int mg_vindex_type_parse(const char *s, mg_vindex_type *out);

/* Builds an index over n vectors (row-major n x dim floats, assumed
 * L2-normalized: scores are inner products) carrying ids[i]. p may be NULL
 * (defaults). IVFPQ trains on a deterministic sample of at most 256*nlist
 * vectors (all when fewer); when n < MG_VINDEX_IVFPQ_MIN_N it cannot be
 * trained and the index is FLAT instead (mg_vindex_get_type says so). n may
 * be 0: an empty index (an empty IVFPQ request also gives FLAT). Ids should
 * be unique and must not be -1 (which marks "no result"). */
int mg_vindex_build(int dim, const mg_vindex_params *p, const float *vecs, const int64_t *ids, int64_t n,
                    mg_vindex **out, mg_error *err);

/* Adds n vectors (n x dim) with their ids; every type. IVFPQ encodes them
 * with the centroids and codebooks trained at build. If faiss fails midway
 * (out of memory) part of the batch may be in: close and rebuild. */
int mg_vindex_add(mg_vindex *ix, const float *vecs, const int64_t *ids, int64_t n, mg_error *err);

/* Removes every vector whose id is among ids[0..n). FLAT and IVFPQ only:
 * HNSW returns MG_EUNSUPPORTED (rebuild it instead). *removed (may be NULL)
 * gets the number of vectors removed (ids not present are ignored). */
int mg_vindex_remove(mg_vindex *ix, const int64_t *ids, int64_t n, int64_t *removed, mg_error *err);

/* Top-k search for nq queries (nq x dim). scores (nq x k) gets inner
 * products in descending order, ids (nq x k) the matching ids; where fewer
 * than k vectors exist (or pass the search), the remaining slots get id -1
 * and score -INFINITY. Thread-safe (see the top of this file). */
int mg_vindex_search(const mg_vindex *ix, const float *q, int64_t nq, int k, float *scores, int64_t *ids,
                     mg_error *err);

/* As mg_vindex_search, considering only ids for which allow(ctx, id) returns
 * nonzero. allow is called from faiss's OpenMP worker threads, concurrently
 * and many times per query: it must be thread-safe and cheap. Exact for
 * FLAT; for HNSW a restrictive filter lowers recall (and can return fewer
 * than k results) because the graph walk still passes through rejected
 * nodes; IVFPQ filters inside the probed lists only. */
int mg_vindex_search_filtered(const mg_vindex *ix, const float *q, int64_t nq, int k,
                              int (*allow)(void *ctx, int64_t id), void *ctx, float *scores, int64_t *ids,
                              mg_error *err);

/* As mg_vindex_search with this call's own HNSW beam (ef_search) and IVF
 * probe count (nprobe); 0 = the index's. The index is not changed, so calls
 * with different settings may run concurrently. */
int mg_vindex_search_with(const mg_vindex *ix, const float *q, int64_t nq, int k, int ef_search, int nprobe,
                          float *scores, int64_t *ids, mg_error *err);

/* Sets the HNSW search beam and/or the IVF probe count (0 = keep; a value
 * that does not apply to the index type is ignored). Saved with the index.
 * Not to be called while a search runs on ix. */
void mg_vindex_set_search(mg_vindex *ix, int ef_search, int nprobe);

/* Saves atomically: writes path.tmp (faiss's serialization) and
 * path.sum.tmp (its sidecar), fsyncs both, renames the index then the
 * sidecar into place and fsyncs the directory. A crash between the two
 * renames leaves a pair that fails mg_vindex_load's check (MG_EFORMAT),
 * never one that loads wrong data. MG_EIO (naming the file and errno) on
 * failure; the temporaries are removed. */
int mg_vindex_save(const mg_vindex *ix, const char *path, mg_error *err);

/* As mg_vindex_save without the sidecar: path alone, a plain FAISS file for
 * other tools (mediagrep export). mg_vindex_load does not open it. */
int mg_vindex_save_plain(const mg_vindex *ix, const char *path, mg_error *err);

/* Loads an index saved by mg_vindex_save. MG_ENOTFOUND when path does not
 * exist, MG_EIO when it cannot be read, MG_EUNSUPPORTED for another sidecar
 * version, MG_EFORMAT (naming the file) when the sidecar is missing or
 * damaged, the file is an index of the old single-file format (MGVIDX01),
 * is truncated, fails its checksum (checked before faiss parses anything,
 * since faiss's reader trusts counts in its input), cannot be parsed by
 * faiss, holds an inconsistent structure or does not match its sidecar.
 * A mismatch seen while a writer replaced the pair (the files' identity
 * changed during the read) is retried with the new pair, so a reader racing
 * a save gets one index or the other. Reads the file twice (hash, then
 * parse) and keeps it in memory: faiss 1.7.3 can map only IVF lists kept in
 * separate files (IO_FLAG_MMAP), not flat or HNSW storage. */
int mg_vindex_load(const char *path, mg_vindex **out, mg_error *err);

/* HNSW only: the level-0 graph neighbours of the stored vectors at
 * positions [first, first + n) (0 .. count-1, in insertion order):
 * self_ids[i] gets the id of vector first + i, nbr_ids[i * max_deg ..] the
 * ids of up to max_deg of its neighbours, -1 padded. The links are the
 * near neighbours the build kept (faiss's diversity heuristic: a vector
 * links to its nearest, and to others only when no kept link is nearer to
 * them), so a chain of links joins vectors much nearer to each other than
 * to the rest, without any search (mediagrep dups). MG_EUNSUPPORTED for
 * other types, MG_EINVAL for a bad range. Reads only: thread-safe. */
int mg_vindex_hnsw_neighbors(const mg_vindex *ix, int64_t first, int64_t n, int max_deg, int64_t *self_ids,
                             int64_t *nbr_ids, mg_error *err);
/* The HNSW graph's level-0 degree (2 x M); 0 when not HNSW (or NULL). */
int mg_vindex_hnsw_degree(const mg_vindex *ix);

int64_t mg_vindex_count(const mg_vindex *ix);          /* vectors; 0 for NULL */
int mg_vindex_dim(const mg_vindex *ix);                /* 0 for NULL */
mg_vindex_type mg_vindex_get_type(const mg_vindex *ix); /* AUTO for NULL */

/* Another reference to ix (searchers sharing one loaded index); each
 * reference is released by mg_vindex_close, the last one frees the index.
 * Returns ix. Thread-safe. */
mg_vindex *mg_vindex_ref(mg_vindex *ix);

/* Releases a reference (frees the index with the last one). NULL is a no-op. */
void mg_vindex_close(mg_vindex *ix);

#ifdef __cplusplus
}
#endif
#endif
