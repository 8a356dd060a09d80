/*
 * cli_embed.c - `mediagrep embed`: encodes images and texts given on the
 * command line and prints their embeddings, one line per input in input
 * order. This exact interface is relied on by tests and other tools:
 *
 *   mediagrep embed --model DIR [--image PATH]... [--text TEXT]... [--raw]
 *                   [--tokens] [--json] [--threads N] [--batch N]
 *                   [--crop-out FILE.png]
 *
 * --json prints {"type":"image","input":PATH,"embedding":[...]} or
 * {"type":"text","input":TEXT,"tokens":[...],"embedding":[...]}; a bad input
 * prints {"type":...,"input":...,"error":"..."} instead, the others still
 * print, and the exit status is 1.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "media/image.h"
#include "media/preprocess.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int is_text;
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
            "  --image PATH       an image file (PNG, JPEG); repeatable\n"
            "  --text TEXT        a text; repeatable\n"
            "  --raw              print raw embeddings (default: L2-normalized)\n"
            "  --tokens           include the token ids (SOT..EOT) of texts\n"
            "  --json             one JSON object per line\n"
            "  --threads N        compute threads (default: all CPUs)\n"
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
    const char *type = it->is_text ? "text" : "image";
    if (json) {
        printf("{\"type\":\"%s\",\"input\":", type);
        print_json_string(stdout, it->input);
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

int mg_cli_embed(int argc, char **argv) {
    const char *model_arg = NULL, *crop_out = NULL;
    int raw = 0, tokens = 0, json = 0, threads = 0, batch = 32, similarity = 0;
    item *items = calloc((size_t)argc, sizeof *items);
    int n = 0, n_img = 0;
    if (!items) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(items);
            return 0;
        } else if (!strcmp(a, "--model") && v) model_arg = argv[++i];
        else if (!strcmp(a, "--image") && v) { items[n].input = argv[++i]; n_img++; n++; }
        else if (!strcmp(a, "--text") && v) { items[n].input = argv[++i]; items[n].is_text = 1; n++; }
        else if (!strcmp(a, "--raw")) raw = 1;
        else if (!strcmp(a, "--tokens")) tokens = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--similarity")) similarity = 1;
        else if (!strcmp(a, "--crop-out") && v) crop_out = argv[++i];
        else if (!strcmp(a, "--threads")) {
            if ((threads = mg_cli_int(a, v, 1, 1024)) < 0) { free(items); return 2; }
            i++;
        } else if (!strcmp(a, "--batch")) {
            if ((batch = mg_cli_int(a, v, 1, 4096)) < 0) { free(items); return 2; }
            i++;
        } else {
            fprintf(stderr, "mediagrep embed: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            free(items);
            return 2;
        }
    }
    if (n == 0) {
        fprintf(stderr, "mediagrep embed: give at least one --image or --text\n\n");
        usage(stderr);
        free(items);
        return 2;
    }
    if (crop_out && n_img != 1) {
        fprintf(stderr, "mediagrep embed: --crop-out needs exactly one --image (got %d)\n", n_img);
        free(items);
        return 2;
    }
    mg_model *m;
    if (mg_cli_open_model(model_arg, threads, &m) != MG_OK) {
        free(items);
        return 2;
    }
    const int dim = mg_model_dim(m), S = mg_model_image_size(m);
    const int ctx = mg_model_config(m)->text.max_position_embeddings;
    const int flags = raw ? MG_EMBED_RAW : MG_EMBED_NORMALIZE;
    mg_encoder *enc;
    mg_error err = {0};
    int status = 0;
    if (mg_encoder_open(m, batch, &enc, &err) != MG_OK) {
        fprintf(stderr, "mediagrep embed: %s\n", err.msg);
        mg_model_close(m);
        free(items);
        return 2;
    }
    float *emb = calloc((size_t)n * dim, sizeof(float));
    float *pix = malloc((size_t)batch * 3 * S * S * sizeof(float));
    int32_t *ids = calloc((size_t)n * ctx, sizeof(int32_t));
    int *lens = calloc((size_t)n, sizeof(int));
    int *slot = calloc((size_t)n, sizeof(int));
    uint8_t *crop = crop_out ? malloc((size_t)S * S * 3) : NULL;
    if (!emb || !pix || !ids || !lens || !slot || (crop_out && !crop)) {
        fprintf(stderr, "mediagrep embed: out of memory\n");
        status = 2;
        goto done;
    }
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    mg_image_params ip = mg_image_default_params();
    /* images: decode + preprocess into batches, encode each full batch */
    int nb = 0;
    for (int i = 0; i <= n; i++) {
        if (i < n && !items[i].is_text) {
            mg_image img = {0};
            mg_err_clear(&err);
            int rc = mg_image_load(items[i].input, &ip, &img, &err);
            if (!rc) rc = mg_preprocess_image(&img, &pp, crop, pix + (size_t)nb * 3 * S * S, &err);
            mg_image_free(&img);
            if (rc) {
                snprintf(items[i].error, sizeof items[i].error, "%s", err.msg);
            } else {
                if (crop_out) {
                    mg_error e2;
                    if (mg_image_write_png_rgb(crop_out, crop, S, S, &e2) != MG_OK) {
                        fprintf(stderr, "mediagrep embed: %s\n", e2.msg);
                        status = 1;
                    }
                }
                slot[nb++] = i;
            }
        }
        if (nb == batch || (i == n && nb > 0)) {
            float *tmp = malloc((size_t)nb * dim * sizeof(float));
            if (!tmp || mg_encode_images(enc, pix, nb, tmp, flags, &err) != MG_OK) {
                for (int k = 0; k < nb; k++)
                    snprintf(items[slot[k]].error, sizeof items[slot[k]].error, "%s",
                             tmp ? err.msg : "out of memory");
            } else {
                for (int k = 0; k < nb; k++) {
                    items[slot[k]].emb = emb + (size_t)slot[k] * dim;
                    memcpy(items[slot[k]].emb, tmp + (size_t)k * dim, (size_t)dim * sizeof(float));
                }
            }
            free(tmp);
            nb = 0;
        }
    }
    /* texts: tokenize all, encode in batches */
    int nt = 0;
    for (int i = 0; i < n; i++) {
        if (!items[i].is_text) continue;
        items[i].ids = ids + (size_t)i * ctx;
        if (mg_tokenizer_encode(mg_model_tokenizer(m), items[i].input, items[i].ids, ctx, &items[i].n_ids, &err)) {
            snprintf(items[i].error, sizeof items[i].error, "%s", err.msg);
            items[i].ids = NULL;
            continue;
        }
        slot[nt] = i;
        lens[nt] = items[i].n_ids;
        nt++;
    }
    for (int s = 0; s < nt; s += batch) {
        int b = nt - s < batch ? nt - s : batch;
        int32_t *bids = calloc((size_t)b * ctx, sizeof(int32_t));
        float *tmp = malloc((size_t)b * dim * sizeof(float));
        if (!bids || !tmp) {
            free(bids);
            free(tmp);
            fprintf(stderr, "mediagrep embed: out of memory\n");
            status = 2;
            goto done;
        }
        for (int k = 0; k < b; k++) memcpy(bids + (size_t)k * ctx, items[slot[s + k]].ids, (size_t)ctx * 4);
        if (mg_encode_token_ids(enc, bids, lens + s, ctx, b, tmp, flags, &err) != MG_OK) {
            for (int k = 0; k < b; k++) snprintf(items[slot[s + k]].error, MG_ERRMSG_MAX, "%s", err.msg);
        } else {
            for (int k = 0; k < b; k++) {
                item *it = &items[slot[s + k]];
                it->emb = emb + (size_t)slot[s + k] * dim;
                memcpy(it->emb, tmp + (size_t)k * dim, (size_t)dim * sizeof(float));
            }
        }
        free(bids);
        free(tmp);
    }
    for (int i = 0; i < n; i++) {
        print_item(&items[i], dim, json, tokens);
        if (!items[i].emb) {
            status = status ? status : 1;
            fprintf(stderr, "mediagrep embed: %s: %s\n", items[i].is_text ? "text" : "image", items[i].error);
        }
    }
    if (similarity) print_similarity(items, n, dim, mg_model_logit_scale(m));
done:
    fflush(stdout);
    free(emb);
    free(pix);
    free(ids);
    free(lens);
    free(slot);
    free(crop);
    mg_encoder_close(enc);
    mg_model_close(m);
    free(items);
    return status;
}
