/*
 * export.h - `mediagrep export`: the vectors and metadata of a store in
 * formats other tools read.
 *
 *   clip-retrieval (default)  DIR/img_emb/img_emb_<k>.npy (N x dim, float16 by
 *                             default, L2-normalised rows, C order),
 *                             DIR/metadata/metadata_<k>.parquet (one row per
 *                             vector row, same order) for shards k = 0, 1, ...
 *                             of shard_rows rows, and DIR/index/image.index, a
 *                             plain FAISS IndexFlatIP (in an IndexIDMap)
 *                             whose ids are the export rows 0..N-1 over all
 *                             shards in order.
 *   npy                       DIR/embeddings.npy (embeddings_<k>.npy when
 *                             sharded) + DIR/metadata.jsonl, one JSON object
 *                             per row.
 *   jsonl                     DIR/embeddings.jsonl: one JSON object per row,
 *                             the metadata fields plus "embedding": [floats].
 *
 * Rows are the store's items that have a vector of their own: photos and
 * video frames (items.frame_index >= 0, not a video's pooled vector), in
 * items.id order, optionally only of some kinds. Metadata per row:
 * image_path (absolute path of the photo or video), media_id, item_id, kind,
 * frame (frame index; NULL for photos), time_ms (frame time; NULL for
 * photos), width, height, size (bytes), mtime (seconds since the epoch, a
 * double with the file's nanoseconds), ocr_text and speech_text (the text
 * segments of the file overlapping the frame's time, joined by "\n"; all of
 * a photo's; NULL when the store has none).
 *
 * The store is opened read-only and read inside one SQLite read
 * transaction (a consistent snapshot while an index run writes). Output is
 * written into a temporary folder beside DIR (DIR's parent/.DIR.export-XXXXXX)
 * and renamed onto DIR at the end, so DIR never holds a half-written
 * export; an existing non-empty DIR is refused unless force (then it is
 * replaced as a whole after the new export is complete).
 *
 * Ownership: the caller owns params and stats.
 * Errors: MG_EINVAL (bad params), MG_ENOTFOUND (no store), MG_EEMPTY (a
 * store without a model), MG_EIO naming the path and errno (unwritable or
 * full DIR; nothing is left under DIR), and the store's errors.
 * Threading: one call per thread; independent calls may run concurrently.
 */
#ifndef MG_EXPORT_H
#define MG_EXPORT_H

#include <stdint.h>
#include "core/common.h"

typedef enum { MG_EXPORT_CLIP_RETRIEVAL = 0, MG_EXPORT_NPY, MG_EXPORT_JSONL } mg_export_format;

#define MG_EXPORT_KIND_IMAGE 1
#define MG_EXPORT_KIND_VIDEO 2
#define MG_EXPORT_KIND_AUDIO 4

typedef struct mg_export_params {
    mg_export_format format;   /* CLIP_RETRIEVAL */
    int fp32;                  /* 0: float16 vectors (.npy); 1: float32 */
    int kinds;                 /* MG_EXPORT_KIND_* bits; 0 = all */
    int64_t shard_rows;        /* 1,000,000 rows per shard (>= 1) */
    int force;                 /* replace a non-empty out_dir */
    int build_index;           /* 1: clip-retrieval's index/image.index */
} mg_export_params;

mg_export_params mg_export_default_params(void);

/* "clip-retrieval", "npy", "jsonl" -> *out; MG_EINVAL otherwise. */
int mg_export_format_parse(const char *s, mg_export_format *out);
/* A comma list of image, video, audio -> OR-ed bits into *kinds. */
int mg_export_kinds_parse(const char *s, int *kinds, mg_error *err);

#define MG_EXPORT_MAX_FILES 64
typedef struct mg_export_stats {
    int64_t rows;
    int shards;
    int dim;
    const char *dtype;         /* "float16" or "float32" (static) */
    int n_files;               /* files written (relative to out_dir), the first MG_EXPORT_MAX_FILES */
    char files[MG_EXPORT_MAX_FILES][128];
    int64_t files_total;
    double seconds;
} mg_export_stats;

/* Exports the store at store_dir into out_dir (see above). stats may be NULL. */
int mg_export_run(const char *store_dir, const char *out_dir, const mg_export_params *p, mg_export_stats *stats,
                  mg_error *err);

#endif
