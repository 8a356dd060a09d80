/*
 * dups.h - exact and near-duplicate files of a store, found from what the
 * store already holds (content hashes, stored embeddings, the FAISS index):
 * nothing is decoded or encoded, and nothing is deleted or modified. One
 * implementation shared by the CLI (`mediagrep dups`, `mediagrep bench
 * dups`) and the HTTP server (GET /api/duplicates).
 *
 * Exact mode (params.exact): files whose content hashes (media.hash) are
 * equal. A hash of a file over 256 MiB is sampled ("x3s:": its size, first
 * and last 4 MiB and 64 spread 1 MiB chunks); such files are flagged
 * (sampled_hash): equal samples, not every byte compared.
 *
 * Near mode (the default): files of the same kind whose embeddings are
 * within the threshold T (cosine >= T).
 *   - photos: the cosine of their two vectors;
 *   - videos: durations must match (within max(duration_tol_ms,
 *     duration_tol x the longer)) and the frame sequences must agree: each
 *     sampled frame of either video is paired with the other video's frame
 *     nearest the same relative time, and at least frame_fraction of those
 *     pairs must have cosine >= T (so two videos sharing a black intro are
 *     not duplicates). The similarity is the mean cosine of the pairs. The
 *     pooled vector (frame -1) only proposes candidates.
 * Candidates come from k-nearest-neighbour searches of every photo and
 * frame vector in the store's FAISS index (flat or IVF-PQ; items committed
 * after the index was saved, or every item when there is no usable index,
 * go into a temporary exact index); with an HNSW index the level-0 links of
 * its graph stand for the searches of the vectors it holds (a link joins a
 * vector to its nearest neighbours at build time: near-duplicates are
 * linked, directly or through each other, at no search cost); from the
 * videos' pooled vectors (an exact index of them), and from equal content
 * hashes. Every candidate is re-scored exactly from the vector file.
 * Grouping: connected components of the pairs within T, then each component
 * is split around its suggested keep file: the group is the keep file and
 * every member within T of it (computed directly, not through the chain);
 * the members left over are grouped again the same way among themselves.
 * So every file of a group is itself a near-duplicate of the file it
 * suggests keeping (no chains A~B~C where C is unlike A).
 * Keep file: the largest resolution (width x height), then the largest
 * size, then the oldest mtime, then the lowest media id. A suggestion only.
 *
 * Groups are ordered by reclaimable bytes (the sizes of the files other
 * than the keep file), largest first, then by the keep file's media id;
 * within a group the keep file comes first, then by similarity (highest
 * first), size and media id. Only files with status "ok" are considered.
 *
 * Ownership: mg_dups borrows the store; the result is the caller's
 * (mg_dups_result_free) and owns its paths.
 * Errors: MG_EINVAL (a threshold outside (0, 1], a bad kind, min_group < 2,
 * k outside 2..1024, bad video tolerances), MG_ENOTFOUND (near mode on a
 * store with no model or no vectors yet), MG_EIO / MG_EFORMAT from the
 * catalog and vector file, MG_EBACKEND from FAISS, MG_ENOMEM.
 * Threading: one call at a time per store handle; FAISS searches use
 * n_threads OpenMP threads (0: all CPUs). Results are plain data.
 */
#ifndef MG_DUPS_H
#define MG_DUPS_H

#include <stdint.h>
#include "core/common.h"
#include "store/store.h"

/* The default cosine threshold (see README "Near-duplicates"). */
#define MG_DUPS_DEFAULT_THRESHOLD 0.95f

typedef struct mg_dups_params {
    float threshold;            /* near mode: cosine >= threshold (0.95) */
    const char *kind;           /* NULL (all), "image" or "video" */
    int exact;                  /* 1: equal content hashes only (no vectors needed) */
    int min_group;              /* smallest group reported (2) */
    int k;                      /* neighbours asked per vector (8; videos' frames get k + their frame count) */
    int ef_search, nprobe;      /* FAISS knobs for the neighbour searches (0: HNSW beam max(k, 32); the index's nprobe) */
    float frame_fraction;       /* videos: share of time-aligned frame pairs that must be within T (0.8) */
    float duration_tol;         /* videos: durations may differ by this share of the longer (0.05)... */
    int64_t duration_tol_ms;    /* ...or by this many ms, whichever is larger (1000) */
    int n_threads;              /* FAISS/OpenMP threads (0: all CPUs) */
    int batch;                  /* query vectors per FAISS call (4096) */
    int graph;                  /* 1 (default): with an HNSW index, its graph's links are the candidates of the
                                   vectors it holds instead of a k-NN search each (see README); 0: search */
    /* progress (may be NULL): vectors searched so far of total, from the calling thread */
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
} mg_dups_params;

mg_dups_params mg_dups_default_params(void);

typedef struct mg_dups_file {
    int64_t media_id;
    char *path;                 /* as indexed (owned by the result) */
    char kind[8];
    char hash[48];              /* "x3:..." or "x3s:..." ("" when none) */
    int sampled_hash;           /* the hash is the sampled one (file over 256 MiB) */
    int64_t size, mtime_ns, duration_ms;
    int width, height;
    int keep;                   /* 1: the suggested file to keep (the first of its group) */
    float similarity;           /* to the keep file: cosine (photos), mean aligned-frame cosine (videos); 1 for
                                   the keep file and in exact mode */
    int frames_matched, frames_compared; /* videos, near mode: aligned frame pairs within T / compared (0 else) */
} mg_dups_file;

typedef struct mg_dups_group {
    char kind[8];               /* the kind of its files */
    int exact;                  /* every file has the same content hash */
    int sampled_hash;           /* exact and that hash is sampled: not every byte compared */
    float min_similarity;       /* lowest similarity to the keep file */
    int64_t reclaimable;        /* bytes of the files other than the keep file */
    int n_files;
    mg_dups_file *files;        /* [n_files], the keep file first */
} mg_dups_group;

typedef struct mg_dups_result {
    int exact;                  /* the mode */
    float threshold;            /* near mode */
    const char *method;         /* "hash" (exact), or the neighbour search: "flat", "hnsw", "ivfpq", or
                                   "exact scan (no usable index)" */
    int64_t files;              /* files considered */
    int64_t vectors;            /* vectors searched (near mode) */
    int64_t candidates;         /* candidate pairs scored exactly (near mode) */
    int64_t pairs;              /* pairs within the threshold (near mode) */
    int64_t files_in_groups, reclaimable;
    double seconds;
    int n_groups;
    mg_dups_group *groups;
} mg_dups_result;

/* Finds the groups (see above). *out is set only on success. */
int mg_dups(mg_store *store, const mg_dups_params *p, mg_dups_result **out, mg_error *err);
void mg_dups_result_free(mg_dups_result *r); /* NULL is a no-op */

/* The result as the JSON object both `mediagrep dups --json` and GET
 * /api/duplicates print: {"mode", "threshold" (null in exact mode), "kind",
 * "min_group", "method", "files", "vectors", "candidates", "pairs",
 * "groups_count", "files_in_groups", "reclaimable_bytes", "seconds",
 * "note", "groups": [{"group", "kind", "exact", "sampled_hash",
 * "min_similarity", "reclaimable_bytes", "keep" (media id), "files": [{"media_id",
 * "path", "name", "kind", "size", "width", "height", "duration_ms",
 * "mtime" (ISO 8601 UTC), "mtime_ns", "hash", "sampled_hash", "keep",
 * "identical" (the same content hash as the keep file), "similarity", "frames_matched", "frames_compared"}]}]}. The caller owns
 * it (json_object_put); NULL when out of memory. */
struct json_object;
struct json_object *mg_dups_result_json(const mg_dups_result *r, const mg_dups_params *p);

#endif
