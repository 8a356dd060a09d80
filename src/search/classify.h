/*
 * classify.h - zero-shot classification of a store's files into labels
 * ("cat", "dog", "car"), computed from the stored embeddings without
 * re-encoding any media, and materialization of the result as folders.
 * One implementation shared by the CLI (`mediagrep classify`) and the HTTP
 * server.
 *
 * Label embeddings are CLIP's zero-shot classifier: each label is put into
 * every prompt template ("a photo of a {}." by default; "{}" is replaced by
 * the label), the prompts are encoded and L2-normalized, averaged over the
 * templates and normalized again. Each file is scored by the cosine between
 * its vector and each label: a photo's single vector, a video's pooled
 * vector (the normalized mean of its frames, frame -1). Failed files have no
 * vectors and are skipped.
 *
 * Binning: a file gets its best label unless its best score is below
 * min_score or its margin (best score minus second best) is below margin;
 * then it goes to the "unsure" bin (label -1). Ties go to the lower label
 * index (margin 0). With a single label there is no second: margin is
 * +INFINITY and only min_score applies.
 *
 * Labels (mg_classify_check_labels) must be non-empty, unique ignoring
 * ASCII case (CLIP's tokenizer lower-cases, so "Cat" and "cat" are the same
 * prompt) and must not be "unsure" in any case: that name is the bin of the
 * files no label fits.
 *
 * Vectors are streamed from the store's vector file in chunks of
 * chunk_rows files; memory holds one chunk plus the per-file results.
 *
 * Ownership: mg_classify borrows the store and model; results are owned by
 * the caller (mg_classify_result_free) and keep copies of the labels.
 * Errors: MG_EINVAL (bad labels, templates, kind, thresholds), MG_ENOTFOUND
 * (the store has no model or no vectors yet), MG_EMISMATCH (the model's
 * embedding size differs from the store's: the caller is expected to have
 * bound the model to the store, e.g. mg_cli_open_store_model, which also
 * compares fingerprints), MG_EIO / MG_EFORMAT from the catalog and vector
 * file, MG_ENOMEM.
 * Threading: one call at a time per store handle and per model encoder
 * (mg_classify opens its own encoder); results are plain data.
 */
#ifndef MG_CLASSIFY_H
#define MG_CLASSIFY_H

#include <stdint.h>
#include "core/common.h"
#include "model/clip.h"
#include "search/capture_filter.h"
#include "store/store.h"

#define MG_CLASSIFY_DEFAULT_TEMPLATE "a photo of a {}."
#define MG_CLASSIFY_UNSURE "unsure"
#define MG_CLASSIFY_MAX_LABELS 4096

typedef struct mg_classify_params {
    const char *const *labels;      /* n_labels >= 1 label strings (see above) */
    int n_labels;
    const char *const *templates;   /* prompt templates, each with "{}"; NULL/0: the default one */
    int n_templates;
    float min_score;                /* best cosine below this -> unsure (-2 = no floor, the default) */
    float margin;                   /* best - second below this -> unsure (0 = never, the default) */
    const char *kind;               /* NULL (all), "image" or "video" */
    int chunk_rows;                 /* files scored per chunk (1024) */
    int keep_scores;                /* 1: keep every label's score per file (n_items x n_labels) */
    mg_capture_filter capture;      /* only files taken when/where/with what (capture_filter.h); zero = all */
} mg_classify_params;

mg_classify_params mg_classify_default_params(void);

typedef struct mg_classify_item {
    int64_t media_id;
    char *path;                     /* absolute path as indexed (owned by the result) */
    char kind[8];                   /* "image" or "video" */
    int64_t size, mtime_ns;         /* as indexed */
    int label;                      /* label index, or -1: unsure */
    int best, second;               /* best and second-best label (second -1 with one label) */
    float score;                    /* cosine to the best label */
    float margin;                   /* score - second's score (+INFINITY with one label) */
} mg_classify_item;

typedef struct mg_classify_result {
    int n_labels;
    char **labels;                  /* copies of the labels */
    int dim;
    float *label_vecs;              /* n_labels x dim, the normalized label embeddings */
    int64_t n_items;
    mg_classify_item *items;        /* in path order */
    float *scores;                  /* keep_scores: n_items x n_labels cosines, else NULL */
    int64_t *counts;                /* n_labels + 1: files per label, counts[n_labels] = unsure */
    int64_t no_capture;             /* files a capture filter left out for lacking the field */
} mg_classify_result;

/* Checks a label list (non-empty, unique ignoring ASCII case, not "unsure").
 * MG_EINVAL naming the offending label. */
int mg_classify_check_labels(const char *const *labels, int n, mg_error *err);

/* Splits text into labels: on sep (',' for a --labels list) or on newlines
 * (sep == '\n': a labels file; blank lines and lines starting with '#' are
 * skipped, "\r\n" accepted). Each label is trimmed of white space; an empty
 * one (e.g. "cat,,dog") is MG_EINVAL. The labels are then checked with
 * mg_classify_check_labels. *out is one malloc'd block (array and strings):
 * free(*out). */
int mg_classify_parse_labels(const char *text, char sep, char ***out, int *n, mg_error *err);

/* The label embeddings: n_labels x mg_model_dim(model) floats into out
 * (templates averaged and normalized, see above). */
int mg_classify_embed_labels(mg_model *model, const mg_classify_params *p, float *out, mg_error *err);

/* Classifies every file of the store (see above). *out is set only on
 * success; free it with mg_classify_result_free. */
int mg_classify(mg_store *store, mg_model *model, const mg_classify_params *p, mg_classify_result **out,
                mg_error *err);
void mg_classify_result_free(mg_classify_result *r); /* NULL is a no-op */

/* Name of a label's folder: the label with '/', NUL and control characters
 * replaced by '_', a leading '.' replaced by '_', cut to 200 bytes (at a
 * UTF-8 boundary). "unsure" for label -1. */
void mg_classify_folder_name(const char *label, char *out, size_t cap);

/* ---- bins: the result as folders DIR/<label>/<file name> ---- */

typedef enum {
    MG_BINS_SYMLINK = 0,            /* symbolic link to the absolute source path (default) */
    MG_BINS_HARDLINK,               /* hard link (same file system only) */
    MG_BINS_COPY,                   /* copy (mode and mtime kept) */
    MG_BINS_MOVE                    /* rename(2); across file systems copy, then unlink the source */
} mg_bins_mode;

typedef struct mg_bins_stats {
    int64_t created;                /* links/copies made, files moved */
    int64_t already;                /* the target already was this file (re-runs) */
    int64_t renamed;                /* of created: put under "name~N.ext" (another file held "name.ext") */
    int64_t missing;                /* sources gone since indexing (e.g. moved by an earlier run) */
    int64_t failed;                 /* per-file errors (the first is in err) */
} mg_bins_stats;

/* Materializes r under dir (created when missing): each file goes to
 * dir/<folder name>/<base name>. When that name holds another file, the
 * next free "stem~2.ext", "stem~3.ext", ... is used, so a user's file is
 * never overwritten or removed (every creation is atomic and fails if the
 * name appeared meanwhile). Re-runs are idempotent: a name that already is
 * this file (a symlink resolving to it, a hard link to its inode, a copy
 * with the same size and bytes, or, for a source gone after a move, a file
 * with the indexed size and mtime) is left as it is and counted as
 * "already". Files are visited in r's (path) order, so the suffixes are
 * deterministic. Moved files disappear from their indexed location: the
 * next `mediagrep index` of those roots drops them (unless dir is under an
 * indexed root, where they are found again, unchanged, at the new path).
 * Per-file problems do not stop the run: MG_OK when stats->failed == 0,
 * else MG_EIO with the first failure in err. stats may be NULL. */
int mg_classify_bins(const mg_classify_result *r, const char *dir, mg_bins_mode mode, mg_bins_stats *stats,
                     mg_error *err);

#endif
