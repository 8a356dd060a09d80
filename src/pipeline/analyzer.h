/*
 * analyzer.h - the one interface through which a model plugs into the
 * indexing pipeline (indexer.h). The indexer decodes each file once; for
 * every sample (an image, a sampled video frame) each analyzer the file
 * needs gets its own representation, prepared on the decode thread into a
 * slot of that analyzer's pool (the image encoder: the S x S 8-bit crop;
 * OCR: a gray image up to max_side). Slots travel through the analyzer's
 * own bounded queue to its worker threads, which take them in batches, and
 * on to the writer, which collects each file's results per analyzer and,
 * once every analyzer it needed is done, commits them together.
 *
 *   decode --prepare--> [pool + queue of analyzer A] --run--> A's workers --+
 *          --prepare--> [pool + queue of analyzer B] --run--> B's workers --+--> writer: collect,
 *                                                                               finish, commit
 *
 * Memory: each analyzer owns a fixed pool of slots (in_bytes + out_bytes
 * each); a decoder waits for a free slot, so a slow analyzer throttles
 * decoding once its pool is full and never holds memory beyond it. The
 * runtime (stage.c) owns pools, queues, threads and counters; an analyzer
 * implements only the ops below.
 *
 * Threading: prepare runs on decode threads (several at once; per-file
 * decode state in *dstate); worker_open/run/worker_close on the analyzer's
 * worker threads (one worker object each); collect/finish/file_free on the
 * writer thread; open/close on the indexer's thread.
 */
#ifndef MG_ANALYZER_H
#define MG_ANALYZER_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"
#include "media/image.h"
#include "store/store.h"
#include "store/texts.h"

#define MG_AN_MAX 4          /* analyzers in one run */
#define MG_AN_MAX_WORKERS 32 /* worker threads of one analyzer */

/* One sample in flight: a slot of an analyzer's pool. */
#define MG_AN_SLOT_TAG 0x616e7321
typedef struct mg_an_slot {
    int tag;                 /* MG_AN_SLOT_TAG (the indexer's results queue also carries its own messages) */
    uint8_t *in;             /* in_bytes: the prepared input */
    int w, h;                /* its dimensions (analyzer-defined) */
    void *out;               /* out_bytes: the result, written by run */
    int64_t frame_index, pts_ms;
    int video;               /* a frame of a video (set by the decoder before prepare) */
    int skip;                /* prepare: same as the previous sample, run passes it through */
    int dropped;             /* not analyzed (cancel, a fatal error) */
    int failed;              /* run failed on this sample; message in error */
    char error[256];
    void *job;               /* the indexer's file */
    int an;                  /* index of the analyzer in the run */
    struct mg_an_slot *next_free;
} mg_an_slot;

/* What a file was, for finish. */
typedef struct mg_an_file_info {
    const char *path;
    int is_video;
    int64_t duration_ms;
} mg_an_file_info;

/* What an analyzer made of one file (owned by its file state until
 * file_free). Vectors (the image encoder) or text segments (OCR). */
typedef struct mg_an_output {
    const mg_store_item *items;
    const float *vecs;       /* n_vecs x dim */
    int n_vecs;
    const mg_text_seg *segs;
    int n_segs;
    const char *lang;
    int failed;              /* the analyzer failed on this file (others may still succeed) */
    char error[512];
} mg_an_output;

typedef struct mg_analyzer mg_analyzer;

typedef struct mg_analyzer_ops {
    /* decode thread: fills s->in, s->w, s->h from a decoded sample; may set
     * s->skip. *dstate starts NULL for each file; decode_end frees it. */
    int (*prepare)(mg_analyzer *a, const mg_image *img, void **dstate, mg_an_slot *s, mg_error *err);
    void (*decode_end)(mg_analyzer *a, void *dstate);
    /* worker threads */
    int (*worker_open)(mg_analyzer *a, int idx, void **w, mg_error *err);
    /* Analyzes batch[0..n) (skipped slots excepted). A failure of one
     * sample sets its failed/error; a non-MG_OK return is fatal for the run. */
    int (*run)(mg_analyzer *a, void *w, mg_an_slot **batch, int n, mg_error *err);
    void (*worker_close)(mg_analyzer *a, void *w);
    /* writer thread: take s's result into the file's state (*fstate starts
     * NULL), then finish the file into *out. Non-MG_OK: out of memory. */
    int (*collect)(mg_analyzer *a, void **fstate, const mg_an_slot *s);
    int (*finish)(mg_analyzer *a, void **fstate, const mg_an_file_info *fi, mg_an_output *out, mg_error *err);
    void (*file_free)(mg_analyzer *a, void *fstate);
    void (*close)(mg_analyzer *a);
    /* decode thread, instead of prepare, for an analyzer with per_file set:
     * one slot per file, whose input is the file itself (the speech
     * analyzer reads the audio track). kind: mg_media_kind. */
    int (*prepare_file)(mg_analyzer *a, const char *path, int kind, int64_t duration_ms, mg_an_slot *s,
                        mg_error *err);
} mg_analyzer_ops;

/* The part every analyzer shares; an analyzer embeds it first. */
struct mg_analyzer {
    const mg_analyzer_ops *ops;
    char name[16];           /* the store's name: "clip", "ocr" */
    char version[64];        /* recorded per file with settings */
    char settings[256];      /* JSON of what changes results; a change re-runs the analyzer */
    size_t in_bytes, out_bytes;
    int batch;               /* largest batch run takes */
    double flush_ms;         /* a partial batch runs after this idle time */
    int n_workers;
    int n_slots;             /* pool size wanted (the runtime caps it by memory) */
    int nice;                /* worker thread niceness (0: unchanged) */
    int is_encoder;          /* its vectors are the file's items (the image encoder) */
    int per_file;            /* one slot per file through prepare_file (not one per sample) */
    unsigned kinds;          /* bit (1 << mg_media_kind) of each kind it analyzes; 0 = images and videos */
    /* set by the indexer before workers start: non-zero when the run is
     * being cancelled (a long per-file analysis polls it and drops its slots) */
    int (*cancelled)(void *arg);
    void *cancel_arg;
    char worker_device[MG_AN_MAX_WORKERS][72];
    /* video decoding this analyzer needs (the decoder takes the largest) */
    int image_shrink_target; /* shrink-on-load short side / 2 (image.h) */
    int video_short_side;
};

/* The analyzers (an_clip.c, an_ocr.c). */
struct mg_model;
typedef struct mg_model mg_model;
/* models[0..n_models): one per device (all the same checkpoint). */
int mg_an_clip_open(mg_model *const *models, int n_models, int batch, double flush_ms,
                    void (*batch_hook)(void *, int, int), void *hook_arg, mg_analyzer **out, mg_error *err);

typedef struct mg_ocr_params mg_ocr_params;
/* threads: OCR workers (0: one per 4 CPUs, at least 1); device must be
 * NULL or "cpu" (Tesseract runs on CPU threads). */
int mg_an_ocr_open(const mg_ocr_params *p, int threads, const char *device, mg_analyzer **out, mg_error *err);

/* Settings JSON of an OCR configuration (what the store compares). */
void mg_an_ocr_settings(const mg_ocr_params *p, char *buf, size_t cap);

/* Speech (an_speech.c): Whisper transcription of audio files and of the
 * audio track of videos, files batched (see whisper/transcribe.h). */
struct mg_whisper;
struct mg_transcribe_params;
int mg_an_speech_open(struct mg_whisper *w, const struct mg_transcribe_params *p, mg_analyzer **out, mg_error *err);

/* 1 when analyzer a analyzes files of kind k (mg_media_kind). */
static inline int mg_analyzer_takes(const mg_analyzer *a, int k) {
    unsigned m = a->kinds ? a->kinds : (1u << 1) | (1u << 2); /* MG_MEDIA_IMAGE | MG_MEDIA_VIDEO */
    return (m >> k) & 1u;
}

void mg_analyzer_close(mg_analyzer *a); /* NULL is a no-op */

#endif
