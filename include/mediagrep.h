/*
 * mediagrep.h - the public C API of libmediagrep.so.1: open a store that
 * `mediagrep index` made and search it (text, example images, stored items,
 * weighted combinations, the CLI's filters), classify its files into labels,
 * read its vectors in place, and embed texts and images with a CLIP model
 * into caller-provided buffers. Python's `mediagrep` package (python/) is a
 * thin ctypes layer over exactly these functions.
 *
 * Versioning: the library's SONAME is libmediagrep.so.1; every symbol below
 * carries the version node MEDIAGREP_1 and only these symbols are exported.
 * MEDIAGREP_API_VERSION grows when functions are added; existing functions
 * keep their meaning. Structs passed across the API begin with a `size`
 * field the caller sets (the *_init functions do): the library reads or
 * writes only the fields that fit, so a struct can grow at its end without
 * breaking callers built against an older header.
 *
 * Errors: functions returning int return MEDIAGREP_OK (0) or a negative
 * MEDIAGREP_E* code; the message (naming the file, option or value) is then
 * in mediagrep_last_error(), which is per thread and stays until the next
 * failing call in that thread. Nothing here calls exit() or prints, except
 * notices on stderr that mediagrep_options.quiet silences (for example that
 * the model has random weights and its results mean nothing).
 *
 * Ownership: handles are opaque, opened with *_open and closed with *_close
 * (closing NULL is a no-op). Strings and buffers the library returns through
 * `char **` are the caller's, freed with mediagrep_free. Pointers inside
 * structs the library fills (paths, kinds) stay valid as long as the object
 * they came from (results, store).
 *
 * Threading: every function may be called from any thread. Calls on one
 * handle are serialized by a lock inside it (open one handle per thread for
 * parallel searches); different handles run in parallel. Long calls do not
 * hold any global lock.
 */
#ifndef MEDIAGREP_H
#define MEDIAGREP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEDIAGREP_API_VERSION 1

#if defined(__GNUC__)
#define MEDIAGREP_EXPORT __attribute__((visibility("default")))
#else
#define MEDIAGREP_EXPORT
#endif

/* Status codes (the library's own codes, README "Exit status"). */
enum {
    MEDIAGREP_OK = 0,
    MEDIAGREP_EINVAL = -1,        /* bad argument, option, query or request */
    MEDIAGREP_ENOMEM = -2,
    MEDIAGREP_EIO = -3,           /* a file could not be read or written */
    MEDIAGREP_EFORMAT = -4,       /* corrupt or malformed file */
    MEDIAGREP_EUNSUPPORTED = -5,
    MEDIAGREP_ELIMIT = -6,
    MEDIAGREP_ENOTFOUND = -7,     /* no such store, model, file or stored item */
    MEDIAGREP_EBACKEND = -11,     /* the compute backend (e.g. CUDA) failed */
    MEDIAGREP_EBUSY = -13,
    MEDIAGREP_EMISMATCH = -14,    /* the store was made by another model */
    MEDIAGREP_EEMPTY = -15        /* the store has no committed data yet */
};

/* The library's version ("0.1.0") and MEDIAGREP_API_VERSION it was built with. */
MEDIAGREP_EXPORT const char *mediagrep_version(void);
MEDIAGREP_EXPORT int mediagrep_api_version(void);

/* The message of this thread's last failed call ("" if none). Valid until
 * this thread's next failing call. */
MEDIAGREP_EXPORT const char *mediagrep_last_error(void);

/* Frees a string or buffer the library returned (NULL is a no-op). */
MEDIAGREP_EXPORT void mediagrep_free(void *p);

/* ---- options for opening stores and models ---- */
typedef struct mediagrep_options {
    size_t size;             /* sizeof(mediagrep_options) of the caller's header */
    const char *model;       /* model directory or pulled name; NULL: the store's own model
                                (mediagrep_model_open: the default model, else the random fallback) */
    int threads;             /* CPU threads; 0: all CPUs */
    const char *device;      /* "cpu" (NULL), "cuda", "cuda:N", "auto" */
    const char *precision;   /* "fp32", "bf16", "int8", "auto" (NULL) */
    int quiet;               /* 1: no notices on stderr */
} mediagrep_options;

/* Fills *o with the defaults and o->size = sizeof *o. */
MEDIAGREP_EXPORT void mediagrep_options_init(mediagrep_options *o);

/* ---- stores ---- */
typedef struct mediagrep_store mediagrep_store;

/* Opens the store in folder dir (read-only: indexing goes on in other
 * processes and each search sees their last commit) with the model it was
 * made with, or o->model (MEDIAGREP_EMISMATCH if that is another model).
 * o may be NULL (defaults). Errors: MEDIAGREP_ENOTFOUND (no store there, no
 * vectors yet, its model moved), MEDIAGREP_EMISMATCH, MEDIAGREP_EIO,
 * MEDIAGREP_EFORMAT. */
MEDIAGREP_EXPORT int mediagrep_store_open(const char *dir, const mediagrep_options *o, mediagrep_store **out);
MEDIAGREP_EXPORT void mediagrep_store_close(mediagrep_store *s);

/* The store's model as a model handle, to embed texts and images with the
 * model the store's vectors came from (queries for FAISS over the store's
 * index or an export). Owned by the store: valid until
 * mediagrep_store_close, and mediagrep_model_close on it does nothing. */
typedef struct mediagrep_model mediagrep_model;
MEDIAGREP_EXPORT mediagrep_model *mediagrep_store_model(mediagrep_store *s);

/* 1 when the store's model has random weights (results mean nothing). */
MEDIAGREP_EXPORT int mediagrep_store_random_weights(const mediagrep_store *s);

/* Embedding size of the store's vectors. */
MEDIAGREP_EXPORT int mediagrep_store_dim(const mediagrep_store *s);

/* Searches the store. request is a JSON object:
 *   {"query": "a dog" | ["2:golden retriever", "+", "pool.jpg", "-", "leash"],
 *    "image": PATH | [PATH...], "like": PATH | [PATH...],
 *    "k": 10, "per_video": 1, "kind": "image"|"video"|"audio", "path": GLOB,
 *    "min_score": S, "larger_than": "500K"|bytes, "smaller_than": ...,
 *    "after": "YYYY-MM-DD", "before": "YYYY-MM-DD", "cutoff": true,
 *    "only": "visual"|"text"|"speech", "visual_weight": 1, "text_weight": 1.5,
 *    "speech_weight": 1.5, "exact": false}
 * "query" is split and parsed as the CLI's QUERY words (a list is the
 * words; a string is one word); "image"/"like" add terms as --image/--like.
 * *result gets the JSON document `mediagrep search --json` prints (query,
 * results with the same fields, no_good_match, dropped_by_cutoff, method,
 * text_hits, speech_hits, search_ms); free it with mediagrep_free.
 * Errors: MEDIAGREP_EINVAL (bad JSON, unknown option, bad value, bad query
 * term), MEDIAGREP_ENOTFOUND (an example image or like: path that does not
 * exist), MEDIAGREP_EFORMAT (an example image that does not decode). */
MEDIAGREP_EXPORT int mediagrep_search_json(mediagrep_store *s, const char *request, char **result);

/* The same search with results as compact structs. */
typedef struct mediagrep_hit {
    size_t size;             /* sizeof(mediagrep_hit) of the caller's header */
    int64_t media_id;        /* the file's id in the store's catalog */
    const char *path;        /* absolute path as indexed */
    const char *kind;        /* "image", "video" or "audio" */
    float score;             /* cosine of the query with the file's best frame */
    float relevance;         /* > 0: passed the relevance cutoff (README "Search") */
    int64_t peak_ms, start_ms, end_ms; /* videos and audio: the moment; 0 for photos */
    int frames;              /* matching frames merged into the moment */
    int width, height;
    int64_t bytes, mtime_ns; /* file size and modification time as indexed */
    int visual_rank, text_rank, speech_rank; /* rank in each fused list, 0 = not in it */
    const char *text;        /* matched text read in the file ("" when text_rank is 0) */
    const char *speech;      /* matched words spoken ("" when speech_rank is 0) */
} mediagrep_hit;

typedef struct mediagrep_results mediagrep_results;

/* request as for mediagrep_search_json. *out gets the results (free with
 * mediagrep_results_free). */
MEDIAGREP_EXPORT int mediagrep_search(mediagrep_store *s, const char *request, mediagrep_results **out);
MEDIAGREP_EXPORT int mediagrep_results_count(const mediagrep_results *r);
/* 1 when candidates existed but none passed the relevance cutoff. */
MEDIAGREP_EXPORT int mediagrep_results_no_good_match(const mediagrep_results *r);
/* Copies hit i (0-based) into *out, as many fields as out->size holds. */
MEDIAGREP_EXPORT int mediagrep_results_get(const mediagrep_results *r, int i, mediagrep_hit *out);
MEDIAGREP_EXPORT void mediagrep_results_free(mediagrep_results *r);

/* Zero-shot classification of the store's files (as `mediagrep classify
 * --json`, without bins). request: {"labels": ["cat", "dog"], "templates":
 * ["a photo of a {}."], "min_score": S, "margin": M, "kind": "image"|"video",
 * "scores": false}. *result: the JSON document classify --json prints. */
MEDIAGREP_EXPORT int mediagrep_classify_json(mediagrep_store *s, const char *request, char **result);

/* The store's vector file, to memory-map it read-only: row r of the
 * embeddings is at offset + r * row_bytes, dim values of dtype (0: float32,
 * 1: float16, little-endian), L2-normalised. Rows whose item was removed
 * are tombstones (not listed by mediagrep_store_rows_json). Rows only grow
 * while the store lives, and rows below `rows` never change. */
typedef struct mediagrep_vectors {
    size_t size;             /* sizeof(mediagrep_vectors) of the caller's header */
    const char *path;        /* the vector file (valid while the store is open) */
    int64_t offset;          /* bytes before row 0 (the file's 64-byte header) */
    int64_t rows;            /* committed rows */
    int dim;
    int dtype;               /* 0 float32, 1 float16 */
    int64_t row_bytes;
} mediagrep_vectors;

MEDIAGREP_EXPORT int mediagrep_store_vectors(mediagrep_store *s, mediagrep_vectors *out);

/* What each live vector row holds, in row order: a JSON array of
 * {"row", "item_id", "media_id", "path", "kind", "frame" (-1: a video's
 * pooled vector), "time_ms"}. */
MEDIAGREP_EXPORT int mediagrep_store_rows_json(mediagrep_store *s, char **result);

/* ---- models ---- */

/* Opens a CLIP model: o->model a directory in the Hugging Face layout or a
 * pulled name; NULL: the default pulled model, else a random-weight model
 * (written once under the models folder; mediagrep_model_random_weights
 * says so). o may be NULL. */
MEDIAGREP_EXPORT int mediagrep_model_open(const mediagrep_options *o, mediagrep_model **out);
MEDIAGREP_EXPORT void mediagrep_model_close(mediagrep_model *m);
MEDIAGREP_EXPORT int mediagrep_model_dim(const mediagrep_model *m);
MEDIAGREP_EXPORT int mediagrep_model_random_weights(const mediagrep_model *m);

/* Embeds n texts into out (n x dim floats, out_len >= n * dim), each row
 * L2-normalised, equal to `mediagrep embed --text`. Errors name the text. */
MEDIAGREP_EXPORT int mediagrep_embed_texts(mediagrep_model *m, const char *const *texts, int n, float *out,
                                           size_t out_len);

/* Embeds n image files into out (n x dim floats), equal to `mediagrep
 * embed --image` (shrink-on-load, EXIF orientation applied). A file that
 * cannot be read or decoded fails the call with a message naming it. */
MEDIAGREP_EXPORT int mediagrep_embed_images(mediagrep_model *m, const char *const *paths, int n, float *out,
                                            size_t out_len);

#ifdef __cplusplus
}
#endif
#endif
