/*
 * cli_embed.c - `mediagrep embed`: encodes images and texts given on the
 * command line and prints their embeddings, one line per input in input
 * order. This exact interface is relied on by tests and other tools:
 *
 *   mediagrep embed --model DIR [--image PATH]... [--video PATH]...
 *                   [--text TEXT]... [--raw] [--tokens] [--json]
 *                   [--threads N] [--batch N] [--crop-out FILE.png]
 *                   [--frames N | --every SECONDS | --scene]
 *                   [--exact-preprocess]
 *
 * --json prints {"type":"image","input":PATH,"embedding":[...]},
 * {"type":"video","input":PATH,"frame":N,"time_ms":T,"embedding":[...]} (one
 * per sampled frame) or {"type":"text","input":TEXT,"tokens":[...],
 * "embedding":[...]}; a bad input prints {"type":...,"input":...,
 * "error":"..."} instead, the others still print, and the exit status is 1.
 * Images and videos are read through media.h: kinds are sniffed from the
 * bytes, so --image and --video differ only in what a wrong kind reports.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "media/image.h"
#include "media/media.h"
#include "media/preprocess.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int is_text;
    int is_video;        /* a sampled frame (or a video's error) */
    int64_t frame, time_ms;
    const char *input;
    char error[MG_ERRMSG_MAX];
    float *emb;          /* dim floats, NULL on error */
    int32_t *ids;        /* text: token ids */
    int n_ids;
} item;

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep embed [--model DIR|NAME] [--image PATH]... [--text TEXT]... [options]\n"
            "\n"
            "Encodes images and texts with CLIP and prints one embedding per input, in input order.\n"
            "\n"
            "  --model DIR|NAME   model directory or pulled name (default: %s if pulled,\n"
            "                     else a random-weight model, with a warning)\n"
            "  --image PATH       an image file (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF); repeatable\n"
            "  --video PATH       a video file; one embedding per sampled frame; repeatable\n"
            "  --frames N         sample N frames uniformly from each video (default 8)\n"
            "  --every SECONDS    sample one frame per interval instead\n"
            "  --scene            sample where the picture changes (at most --frames, default 32)\n"
            "  --exact-preprocess decode at full size without EXIF rotation: bit-identical to\n"
            "                     the reference preprocessing (default: shrink-on-load, EXIF applied)\n"
            "  --text TEXT        a text; repeatable\n"
            "  --raw              print raw embeddings (default: L2-normalized)\n"
            "  --tokens           include the token ids (SOT..EOT) of texts\n"
            "  --json             one JSON object per line\n"
            "  --threads N        compute threads (default: all CPUs)\n"
            "  --device D          cpu (default), cuda, cuda:N, or auto (a GPU when there is one)\n"
            "  --precision P       GEMM precision: auto (default: int8 images / fp32 text where the CPU has\n"
            "                      VNNI), fp32, bf16 or int8 (see README \"CPU precisions\")\n"
            "  --batch N          images per forward pass (default 32)\n"
            "  --crop-out FILE    write the preprocessed crop of the (single) image as PNG\n"
            "  --similarity       also print the image x text table of zero-shot probabilities\n"
            "                     (softmax over the texts of logit_scale * cosine), on stderr\n",
            MG_DEFAULT_MODEL);
}

static void print_json_string(FILE *f, const char *s) {
    json_object *o = json_object_new_string(s);
    fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), f);
    json_object_put(o);
}

static void print_item(const item *it, int dim, int json, int tokens) {
    const char *type = it->is_text ? "text" : it->is_video ? "video" : "image";
    if (json) {
        printf("{\"type\":\"%s\",\"input\":", type);
        print_json_string(stdout, it->input);
        if (it->is_video && it->emb)
            printf(",\"frame\":%lld,\"time_ms\":%lld", (long long)it->frame, (long long)it->time_ms);
        if (it->is_text && tokens && it->ids) {
            printf(",\"tokens\":[");
            for (int i = 0; i < it->n_ids; i++) printf(i ? ",%d" : "%d", it->ids[i]);
            printf("]");
        }
        if (it->emb) {
            printf(",\"embedding\":[");
            for (int d = 0; d < dim; d++) printf(d ? ",%.9g" : "%.9g", it->emb[d]);
            printf("]}\n");
        } else {
            printf(",\"error\":");
            print_json_string(stdout, it->error);
            printf("}\n");
        }
        return;
    }
    if (!it->emb) {
        printf("%s\t%s\terror: %s\n", type, it->input, it->error);
        return;
    }
    printf("%s\t%s\t", type, it->input);
    if (it->is_video) printf("frame=%lld\ttime_ms=%lld\t", (long long)it->frame, (long long)it->time_ms);
    if (it->is_text && tokens && it->ids) {
        printf("tokens=[");
        for (int i = 0; i < it->n_ids; i++) printf(i ? " %d" : "%d", it->ids[i]);
        printf("]\t");
    }
    printf("[");
    for (int d = 0; d < dim; d++) printf(d ? " %.6f" : "%.6f", it->emb[d]);
    printf("]\n");
}

/* Zero-shot table: for each image, softmax over texts of scale * cosine. */
static void print_similarity(const item *items, int n, int dim, float scale) {
    int nt = 0;
    for (int i = 0; i < n; i++) nt += items[i].is_text && items[i].emb;
    if (!nt) return;
    fprintf(stderr, "\nzero-shot (softmax of %.1f x cosine over the texts):\n", scale);
    for (int i = 0; i < n; i++) {
        if (items[i].is_text || !items[i].emb) continue;
        double mx = -1e30, sum = 0, cs[256];
        int k = 0;
        for (int j = 0; j < n && k < 256; j++) {
            if (!items[j].is_text || !items[j].emb) continue;
            double na = 0, nb = 0, ab = 0;
            for (int d = 0; d < dim; d++) {
                ab += (double)items[i].emb[d] * items[j].emb[d];
                na += (double)items[i].emb[d] * items[i].emb[d];
                nb += (double)items[j].emb[d] * items[j].emb[d];
            }
            cs[k] = scale * ab / sqrt(na * nb + 1e-30);
            if (cs[k] > mx) mx = cs[k];
            k++;
        }
        for (int j = 0; j < k; j++) sum += exp(cs[j] - mx);
        fprintf(stderr, "  %s\n", items[i].input);
        k = 0;
        for (int j = 0; j < n && k < 256; j++) {
            if (!items[j].is_text || !items[j].emb) continue;
            fprintf(stderr, "    %5.1f%%  cos %+.3f  %s\n", 100 * exp(cs[k] - mx) / sum, cs[k] / scale, items[j].input);
            k++;
        }
    }
}

typedef struct {
    item *v;
    int n, cap;
} item_list;

static item *push(item_list *l) {
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        item *v = realloc(l->v, (size_t)nc * sizeof *v);
        if (!v) return NULL;
        l->v = v;
        l->cap = nc;
    }
    item *it = &l->v[l->n++];
    memset(it, 0, sizeof *it);
    return it;
}

/* Batches preprocessed pixels and encodes them when full (or on flush). */
typedef struct {
    mg_encoder *enc;
    int batch, dim, S, flags, n;
    float *pix;
    int *slot;          /* item index per batch row */
    float *tmp;
} img_batcher;

static void batch_flush(img_batcher *b, item_list *items) {
    if (!b->n) return;
    mg_error err = {0};
    if (mg_encode_images(b->enc, b->pix, b->n, b->tmp, b->flags, &err) != MG_OK) {
        for (int k = 0; k < b->n; k++) snprintf(items->v[b->slot[k]].error, MG_ERRMSG_MAX, "%s", err.msg);
    } else {
        for (int k = 0; k < b->n; k++) {
            item *it = &items->v[b->slot[k]];
            it->emb = malloc((size_t)b->dim * sizeof(float));
            if (!it->emb) {
                snprintf(it->error, MG_ERRMSG_MAX, "out of memory");
                continue;
            }
            memcpy(it->emb, b->tmp + (size_t)k * b->dim, (size_t)b->dim * sizeof(float));
        }
    }
    b->n = 0;
}

/* Decodes one --image/--video input into items (one per sample). */
static void add_media(const char *path, int want_video, const mg_media_params *mp, const mg_preprocess_params *pp,
                      img_batcher *b, item_list *items, const char *crop_out, uint8_t *crop, int *status) {
    mg_error err = {0};
    mg_media *m = NULL;
    int rc = mg_media_open(path, mp, &m, &err);
    if (!rc && !want_video && mg_media_get_kind(m) == MG_MEDIA_VIDEO)
        rc = mg_err_set(&err, MG_EINVAL, "%s: is a video: use --video", path);
    if (rc) {
        item *it = push(items);
        if (!it) return;
        it->input = path;
        it->is_video = want_video;
        snprintf(it->error, MG_ERRMSG_MAX, "%s", err.msg);
        mg_media_close(m);
        return;
    }
    int samples = 0;
    for (;;) {
        mg_media_sample smp;
        rc = mg_media_next(m, &smp, &err);
        if (rc == 1) break;
        item *it = push(items);
        if (!it) {
            if (!rc) mg_image_free(&smp.image);
            break;
        }
        it->input = path;
        it->is_video = mg_media_get_kind(m) == MG_MEDIA_VIDEO;
        if (rc) {
            snprintf(it->error, MG_ERRMSG_MAX, "%s", err.msg);
            break;
        }
        samples++;
        it->frame = smp.frame_index;
        it->time_ms = smp.pts_ms;
        rc = mg_preprocess_image(&smp.image, pp, crop_out ? crop : NULL, b->pix + (size_t)b->n * 3 * b->S * b->S, &err);
        mg_image_free(&smp.image);
        if (rc) {
            snprintf(it->error, MG_ERRMSG_MAX, "%s", err.msg);
            continue;
        }
        if (crop_out) {
            mg_error e2;
            if (mg_image_write_png_rgb(crop_out, crop, b->S, b->S, &e2) != MG_OK) {
                fprintf(stderr, "mediagrep embed: %s\n", e2.msg);
                *status = 1;
            }
        }
        b->slot[b->n++] = items->n - 1;
        if (b->n == b->batch) batch_flush(b, items);
    }
    const char *w = mg_media_warnings(m);
    if (w && *w) fprintf(stderr, "mediagrep embed: %s: warning: %s\n", path, w);
    if (samples == 0 && mg_media_get_kind(m) == MG_MEDIA_VIDEO && rc == 1) {
        item *it = push(items);
        if (it) {
            it->input = path;
            it->is_video = 1;
            snprintf(it->error, MG_ERRMSG_MAX, "%s: no frame could be decoded", path);
        }
    }
    mg_media_close(m);
}

int mg_cli_embed(int argc, char **argv) {
    const char *precision = NULL, *device = NULL;
    const char *model_arg = NULL, *crop_out = NULL;
    int raw = 0, tokens = 0, json = 0, threads = 0, batch = 32, similarity = 0, exact = 0, n_img = 0, n_in = 0;
    mg_video_params vp = mg_video_default_params();
    /* inputs in command-line order: kind 't' text, 'i' image, 'v' video */
    char *kinds = calloc((size_t)argc, 1);
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!kinds || !inputs) return 2;
    int rc_usage = -1;
    for (int i = 1; i < argc && rc_usage < 0; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc_usage = 0;
        } else if (!strcmp(a, "--model") && v) model_arg = argv[++i];
        else if ((!strcmp(a, "--image") || !strcmp(a, "--video") || !strcmp(a, "--text")) && v) {
            kinds[n_in] = a[2];
            inputs[n_in++] = argv[++i];
            n_img += a[2] == 'i';
        } else if (!strcmp(a, "--raw")) raw = 1;
        else if (!strcmp(a, "--tokens")) tokens = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--similarity")) similarity = 1;
        else if (!strcmp(a, "--exact-preprocess")) exact = 1;
        else if (!strcmp(a, "--scene")) vp.policy = MG_VSAMPLE_SCENE;
        else if (!strcmp(a, "--crop-out") && v) crop_out = argv[++i];
        else if (!strcmp(a, "--every") && v) {
            char *end;
            vp.every_s = strtod(argv[++i], &end);
            vp.policy = MG_VSAMPLE_EVERY;
            if (*end || !(vp.every_s > 0) || vp.every_s > 1e6) {
                fprintf(stderr, "mediagrep embed: --every needs a positive number of seconds\n");
                rc_usage = 2;
            }
        } else if (!strcmp(a, "--device") && v) {
            device = argv[++i];
        } else if (!strcmp(a, "--precision") && v) {
            precision = argv[++i];
        } else if (!strcmp(a, "--frames") || !strcmp(a, "--threads") || !strcmp(a, "--batch")) {
            int x = mg_cli_int(a, v, 1, !strcmp(a, "--frames") ? 100000 : 4096);
            if (x < 0) rc_usage = 2;
            else if (a[2] == 'f') vp.frames = x;
            else if (a[2] == 't') threads = x;
            else batch = x;
            i++;
        } else {
            fprintf(stderr, "mediagrep embed: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            rc_usage = 2;
        }
    }
    if (rc_usage < 0 && n_in == 0) {
        fprintf(stderr, "mediagrep embed: give at least one --image, --video or --text\n\n");
        usage(stderr);
        rc_usage = 2;
    }
    if (rc_usage < 0 && crop_out && (n_img != 1 || memchr(kinds, 'v', (size_t)n_in))) {
        fprintf(stderr, "mediagrep embed: --crop-out needs exactly one --image and no --video (got %d images)\n",
                n_img);
        rc_usage = 2;
    }
    mg_model *m = NULL;
    if (rc_usage < 0 && mg_cli_open_model(model_arg, threads, precision, device, &m) != MG_OK) rc_usage = 2;
    if (rc_usage >= 0) {
        free(kinds);
        free(inputs);
        return rc_usage;
    }
    const int dim = mg_model_dim(m), S = mg_model_image_size(m);
    const int ctx = mg_model_config(m)->text.max_position_embeddings;
    const int flags = raw ? MG_EMBED_RAW : MG_EMBED_NORMALIZE;
    mg_error err = {0};
    int status = 0;
    item_list items = {0};
    img_batcher b = {.batch = batch, .dim = dim, .S = S, .flags = flags};
    int32_t *ids = calloc((size_t)batch * ctx, sizeof(int32_t));
    int *lens = calloc((size_t)batch, sizeof(int));
    int *tslot = calloc((size_t)batch, sizeof(int));
    uint8_t *crop = malloc((size_t)S * S * 3);
    b.pix = malloc((size_t)batch * 3 * S * S * sizeof(float));
    b.slot = calloc((size_t)batch, sizeof(int));
    b.tmp = malloc((size_t)batch * dim * sizeof(float));
    if (mg_encoder_open(m, batch, &b.enc, &err) != MG_OK || !ids || !lens || !tslot || !crop || !b.pix ||
        !b.slot || !b.tmp) {
        fprintf(stderr, "mediagrep embed: %s\n", err.msg[0] ? err.msg : "out of memory");
        status = 2;
        goto done;
    }
    mg_media_params mp = mg_media_default_params();
    mp.image = exact ? mg_image_exact_params() : mg_image_default_params();
    if (!exact) mp.image.shrink_target = S;
    mp.video = vp;
    mp.video.target_short_side = exact ? 0 : S;
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    /* images and video frames, in input order */
    int first_text = -1;
    for (int i = 0; i < n_in; i++) {
        if (kinds[i] == 't') {
            item *it = push(&items);
            if (!it) break;
            it->is_text = 1;
            it->input = inputs[i];
            if (first_text < 0) first_text = items.n - 1;
            continue;
        }
        add_media(inputs[i], kinds[i] == 'v', &mp, &pp, &b, &items, crop_out, crop, &status);
    }
    batch_flush(&b, &items);
    /* texts: tokenize, encode in batches */
    int nt = 0;
    for (int i = 0; i <= items.n; i++) {
        if (i < items.n) {
            item *it = &items.v[i];
            if (!it->is_text) continue;
            it->ids = malloc((size_t)ctx * sizeof(int32_t));
            if (!it->ids || mg_tokenizer_encode(mg_model_tokenizer(m), it->input, it->ids, ctx, &it->n_ids, &err)) {
                snprintf(it->error, MG_ERRMSG_MAX, "%s", it->ids ? err.msg : "out of memory");
                free(it->ids);
                it->ids = NULL;
                continue;
            }
            memcpy(ids + (size_t)nt * ctx, it->ids, (size_t)it->n_ids * sizeof(int32_t));
            lens[nt] = it->n_ids;
            tslot[nt++] = i;
        }
        if (nt == batch || (i == items.n && nt > 0)) {
            if (mg_encode_token_ids(b.enc, ids, lens, ctx, nt, b.tmp, flags, &err) != MG_OK) {
                for (int k = 0; k < nt; k++) snprintf(items.v[tslot[k]].error, MG_ERRMSG_MAX, "%s", err.msg);
            } else {
                for (int k = 0; k < nt; k++) {
                    item *it = &items.v[tslot[k]];
                    it->emb = malloc((size_t)dim * sizeof(float));
                    if (it->emb) memcpy(it->emb, b.tmp + (size_t)k * dim, (size_t)dim * sizeof(float));
                    else snprintf(it->error, MG_ERRMSG_MAX, "out of memory");
                }
            }
            nt = 0;
        }
    }
    for (int i = 0; i < items.n; i++) {
        const item *it = &items.v[i];
        print_item(it, dim, json, tokens);
        if (!it->emb) {
            status = status ? status : 1;
            fprintf(stderr, "mediagrep embed: %s: %s\n", it->is_text ? "text" : it->is_video ? "video" : "image",
                    it->error);
        }
    }
    if (similarity) print_similarity(items.v, items.n, dim, mg_model_logit_scale(m));
done:
    fflush(stdout);
    for (int i = 0; i < items.n; i++) {
        free(items.v[i].emb);
        free(items.v[i].ids);
    }
    free(items.v);
    free(ids);
    free(lens);
    free(tslot);
    free(crop);
    free(b.pix);
    free(b.slot);
    free(b.tmp);
    mg_encoder_close(b.enc);
    mg_model_close(m);
    free(kinds);
    free(inputs);
    return status;
}
