/*
 * search.h - queries over a store: text, example images, items already in
 * the store, and weighted combinations with negatives; results grouped per
 * file, video hits as moments (time ranges around the best frame); filters;
 * and an adaptive relevance cutoff. One implementation shared by the CLI
 * (`mediagrep search`) and the HTTP server.
 *
 * Retrieval: with a flat (or no) FAISS index the search scans every vector
 * of the memory-mapped vector file exactly (scan.h); with an HNSW or IVF-PQ
 * index it asks FAISS, and items committed after the index was saved are
 * scanned exactly and merged in, so a search always sees the last commit.
 *
 * Moments: the frames of a video whose score is within moment_tolerance of
 * that video's best frame (or at least its relevance cutoff) are "matching";
 * runs of consecutive matching sampled frames form moments [start, end] with
 * the peak frame's time; a video contributes its per_video best moments.
 *
 * Relevance cutoff (documented in README "Search"): for a text-only query,
 * relevance = score - max over a fixed set of neutral prompts ("a photo.",
 * "an image.", ...) of their score on the same item: above 0 the query
 * describes the item better than a caption that says nothing. For queries
 * with images, relevance = (score - mean) / std of the query's scores over
 * the collection (or a 4096-vector sample) minus z_min (3): the item stands
 * out from the collection. Hits with relevance <= 0 are dropped unless the
 * cutoff is off; when none is left the result says "no good match".
 *
 * Ownership: a searcher borrows its store and model (both must outlive it).
 * Threading: one search at a time per searcher; open one per thread.
 */
#ifndef MG_SEARCH_H
#define MG_SEARCH_H

#include <stdint.h>
#include "core/common.h"
#include "model/clip.h"
#include "store/store.h"
#include "search/capture_filter.h"

typedef struct mg_searcher mg_searcher;

typedef enum { MG_TERM_TEXT = 0, MG_TERM_IMAGE, MG_TERM_LIKE } mg_term_kind;

typedef struct mg_query_term {
    mg_term_kind kind;
    float weight;           /* negative: steer away */
    const char *value;      /* text, image path, or a path in the store (LIKE) */
} mg_query_term;

typedef struct mg_search_params {
    int k;                  /* results (10) */
    int per_video;          /* moments per video (1) */
    const char *kind;       /* NULL, "image" or "video" */
    const char *path_glob;  /* fnmatch(3) pattern on the full path, or NULL */
    float min_score;        /* raw cosine floor (-2 = none) */
    int cutoff;             /* 1: drop hits whose relevance <= 0 (default) */
    float z_min;            /* image-query cutoff in standard deviations (3) */
    float moment_tolerance; /* frames within this of a video's peak match (0.02) */
    int64_t min_size, max_size;     /* bytes; 0 = no bound */
    int64_t mtime_after, mtime_before; /* seconds since the epoch; 0 = no bound */
    int exact;              /* 1: ignore the FAISS index, scan every vector */
    int ef_search, nprobe;  /* FAISS search knobs; 0 = index defaults */
    int only;               /* MG_SEARCH_BOTH (0), MG_SEARCH_VISUAL, MG_SEARCH_TEXT (text read in
                               images) or MG_SEARCH_SPEECH (words spoken): one list only */
    float visual_weight;    /* fusion weight of the CLIP list (1.0) */
    float text_weight;      /* fusion weight of the OCR text (BM25) list (1.5): see mg_search_fuse */
    float speech_weight;    /* fusion weight of the speech (BM25) list (1.5) */
    mg_capture_filter capture; /* date taken, place, camera, lens (capture_filter.h); zero = none */
} mg_search_params;

enum { MG_SEARCH_BOTH = 0, MG_SEARCH_VISUAL = 1, MG_SEARCH_TEXT = 2, MG_SEARCH_SPEECH = 3 };
#define MG_RRF_K 60

mg_search_params mg_search_default_params(void);

typedef struct mg_search_hit {
    int64_t media_id, item_id;
    char path[4096];
    char kind[8];
    float score;            /* best cosine of the file (its peak frame) */
    float relevance;        /* > 0: a good match (see above) */
    int64_t peak_ms, start_ms, end_ms; /* videos: the moment; 0 for photos */
    int frames;             /* matching frames merged into the moment */
    int width, height;
    int64_t duration_ms, size, mtime_ns;
    /* fusion (mg_search_fuse): the ranks in each list (1-based, 0 = not in it) and the fused score */
    int visual_rank, text_rank;
    float fused;
    /* the text match, when text_rank > 0 */
    float text_score;       /* -BM25 of its best segment (higher is better) */
    int text_substring;     /* matched as substrings only (trigram index) */
    char snippet[320];      /* matched words in [brackets] */
    int n_boxes;
    float boxes[8][4];      /* the matched words' boxes, 0..1 (x0, y0, x1, y1) */
    int64_t text_start_ms, text_end_ms; /* videos: when the text is on screen */
    /* the speech match, when speech_rank > 0 */
    int speech_rank;
    float speech_score;
    char speech_snippet[320];
    int64_t speech_start_ms, speech_end_ms; /* the spoken segment's time */
    /* what the file says about its capture (store/captures.h), when it was read */
    int has_capture;
    mg_capture capture;
} mg_search_hit;

typedef struct mg_search_info {
    int64_t scanned;        /* vectors scored exactly */
    int64_t from_index;     /* candidates from FAISS */
    int dropped_by_cutoff;  /* hits the relevance cutoff removed */
    int no_good_match;      /* candidates existed but none passed the cutoff */
    const char *method;     /* "exact", "hnsw", "ivfpq" */
    int text_hits;          /* files the text list found (mg_search_fuse) */
    int speech_hits;        /* files the speech list found */
    int64_t no_capture;     /* files a capture filter excluded for lacking the field (visual list) */
    double seconds;
} mg_search_info;

/* Opens a searcher on a store (read-only is fine) bound to model (the
 * caller has checked they match: see mg_cli_open_store_model). n_threads
 * for the exact scan (0 = all CPUs). */
int mg_searcher_open(mg_store *store, mg_model *model, int n_threads, mg_searcher **out, mg_error *err);
void mg_searcher_close(mg_searcher *s); /* NULL is a no-op */
/* Maps the vectors and loads the store's FAISS index now instead of at the
 * first search (a server does it at start, so no early request waits for a
 * large index to load). */
int mg_searcher_warm(mg_searcher *s, mg_error *err);

/* Makes dst use src's loaded FAISS index instead of a copy of its own (both
 * searchers on the same store: a server's engines), so a large index is in
 * memory once. Searches on the shared index may run concurrently. When the
 * store's index later changes, each searcher loads the new one for itself.
 * Returns 1 when shared, 0 when src has no index. Call before dst searches
 * (or mg_searcher_warm), from one thread. */
int mg_searcher_share_index(mg_searcher *dst, const mg_searcher *src);

/* Parses CLI-style query words: terms separated by "+" or "-" words; a term
 * is "W:text" or text (weight W, default 1), an existing file path (an
 * example image), or "like:PATH" (a file in the store). "-" negates the
 * next term. Strings in *terms point into argv; free(*terms). */
int mg_query_parse(int argc, const char *const *argv, mg_query_term **terms, int *n, mg_error *err);

/* The query vector: sum of weight * embedding (normalized), normalized.
 * q: dim floats. *text_only (may be NULL) is 1 when every term is text.
 * Each searcher keeps the embeddings of its last 64 distinct text terms
 * (keyed by the exact text, least recently used evicted), so a repeated
 * text is not encoded again. */
int mg_search_embed(mg_searcher *s, const mg_query_term *terms, int n, float *q, int *text_only, mg_error *err);

/* Encodes the texts not yet in the searcher's cache of text embeddings in
 * batches (up to 16 texts per forward pass) and caches them, so that the
 * mg_search_embed calls that follow find them (a server batching
 * concurrent queries). At most the cache's 64 most recent texts stay. A
 * text that does not tokenize is skipped here (mg_search_embed reports it). */
int mg_search_prefetch_texts(mg_searcher *s, const char *const *texts, int n, mg_error *err);

/* Searches with a query vector. hits: room for p->k; *n_hits gets the
 * count. text_only selects the cutoff rule. */
int mg_search_vector(mg_searcher *s, const float *q, int text_only, const mg_search_params *p, mg_search_hit *hits,
                     int *n_hits, mg_search_info *info, mg_error *err);

/* Several query vectors at once (a server batching concurrent searches):
 * Q [nq][dim]; per query i: text_only[i], params p[i], hits[i] (room for
 * p[i]->k), and results n_hits[i], infos[i], rcs[i] (MG_OK or the error,
 * message in errs[i]). The store is refreshed once; the queries the exact
 * scan answers (no FAISS index, or p->exact) are scored in one pass over
 * the vectors (mg_scan_dot_multi), the others as mg_search_vector does.
 * Results equal nq mg_search_vector calls up to the last bits of the
 * scores (another summation order). Returns MG_OK or the first error. */
int mg_search_many(mg_searcher *s, int nq, const float *Q, const int *text_only, const mg_search_params *const *p,
                   mg_search_hit *const *hits, int *n_hits, mg_search_info *infos, int *rcs, mg_error *errs);

/* A hit as a JSON object (rank, media_id, score, relevance, path, kind, the
 * moment for videos, width, height, size): the one layout the CLI's --json
 * and the HTTP API share. The caller owns the result (json_object_put). */
struct json_object;
struct json_object *mg_search_hit_json(const mg_search_hit *h, int rank);

/* Fuses the visual hits in hits[0..*n_hits) (from mg_search_vector with
 * the same p; capacity p->k) with the text list of the query's positive
 * text terms (textsearch.h: FTS5, BM25, every term must match) by
 * reciprocal rank fusion: fused = visual_weight / (60 + visual rank) +
 * text_weight / (60 + text rank), a list the file is not in adding 0. The
 * text list weighs 1.5 by default: a file whose text holds every query
 * word ranks above one that only looks like it, unless the look-alike is
 * also a good text match. With no text hits the visual hits stay exactly as
 * they were; with p->only MG_SEARCH_TEXT pass *n_hits = 0. q (may be NULL)
 * is the query vector, used to give text-only hits their visual score.
 * Filters (kind, glob, size, mtime) apply to text hits too. */
int mg_search_fuse(mg_searcher *s, const mg_query_term *terms, int n, const float *q, const mg_search_params *p,
                   mg_search_hit *hits, int *n_hits, mg_search_info *info, mg_error *err);

/* Both steps, then the fusion (or one list with p->only). */
int mg_search(mg_searcher *s, const mg_query_term *terms, int n, const mg_search_params *p, mg_search_hit *hits,
              int *n_hits, mg_search_info *info, mg_error *err);

#endif
