/*
 * cli_bench.c - `mediagrep bench encoder`: throughput of the CLIP image
 * encoder and latency of the text encoder on a full-size model with random
 * weights built in memory (ViT-B/32 unless --config names a config.json),
 * with achieved GFLOP/s and the share of the CPU's fp32 peak; with --torch,
 * PyTorch (bench/bench_torch.py) is measured in the same run on the same
 * machine and the ratios are printed. Timings are wall-clock means over at
 * least --seconds per point after one warm-up pass.
 */
#include "cli/cli.h"
#include "cli/cli_common.h"
#include "core/threadpool.h"
#include "media/image.h"
#include "media/preprocess.h"
#include "media/video.h"

#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Multiply-adds x2 of one tower forward for seq tokens. */
static double tower_flops(const mg_tower_config *t, int seq, int causal) {
    double D = t->hidden_size, I = t->intermediate_size, S = seq;
    double att = 2.0 * 2.0 * S * S * D * (causal ? 0.5 : 1.0);
    double per_layer = 2.0 * S * D * 3 * D + att + 2.0 * S * D * D + 2.0 * 2.0 * S * D * I;
    return per_layer * t->num_layers;
}

static double image_flops(const mg_clip_config *c) {
    const mg_tower_config *v = &c->vision;
    int g = v->image_size / v->patch_size;
    double patch = 2.0 * g * g * (double)v->num_channels * v->patch_size * v->patch_size * v->hidden_size;
    return patch + tower_flops(v, g * g + 1, 0) + 2.0 * v->hidden_size * c->projection_dim;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep bench encoder [options]\n"
            "       mediagrep bench decode [--dir D] [--seconds S] [--no-python]\n"
            "       mediagrep bench index [--images N] [--videos N] [--batch B] ... (--help)\n"
            "       mediagrep bench search [--n 100000] [--large 1000000] ... (--help)\n"
            "       mediagrep bench dups [--n 1000000] [--index auto|flat|hnsw] ... (--help)\n"
            "       mediagrep bench transcribe [--size tiny|base|small] [--torch] ... (--help)\n"
            "\n"
            "bench decode: JPEG load+preprocess (1920x1080, 4000x3000; full decode vs\n"
            "shrink-on-load vs Pillow with and without draft()), 8 frames from a 60 s 720p\n"
            "H.264 video with a keyframe every 8.3 s (seek-based vs every frame vs PyAV vs\n"
            "one ffmpeg -ss process per frame), peak RSS. Test media are generated with\n"
            "ffmpeg into D (default /tmp/mediagrep-bench-decode) once.\n"
            "\nbench encoder options:\n"
            "\n"
            "  --threads N        compute threads (default: all CPUs)\n"
            "  --batches LIST     image batch sizes (default 1,8,32,64)\n"
            "  --seconds S        minimum timed seconds per point (default 5)\n"
            "  --config FILE      model config.json (default: ViT-B/32)\n"
            "  --peak-gflops G    fp32 peak per thread for the %% column (default 116, this dev CPU)\n"
            "  --peak-tflops T    a GPU's dense fp16 peak for the %% column (default 989: H100 SXM; H200 the\n"
            "                     same); on a GPU, images go in as 8-bit crops from pinned memory and the\n"
            "                     backend's streams (2) encode at once\n"
            "  --precision LIST   GEMM precisions to measure, of fp32,bf16,int8 (default fp32); with a\n"
            "                     reduced one, accuracy against fp32 is measured too: embedding cosines\n"
            "                     and top-10 retrieval overlap (100 text queries over --agree-images)\n"
            "  --agree-images N   images for the accuracy check (default 1000; 0 = skip)\n"
            "  --device D         cpu (default), cuda, cuda:N or auto (the fp32 reference always on the CPU)\n"
            "  --torch            also run bench/bench_torch.py (PyTorch, same precisions) and print ratios\n"
            "  --json FILE        also write the results as JSON\n");
}

typedef struct { int n; int v[16]; } int_list;

static int parse_list(const char *s, int_list *l) {
    l->n = 0;
    while (*s && l->n < 16) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 4096) return -1;
        l->v[l->n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return l->n ? 0 : -1;
}

/* Runs a command that prints one JSON object; returns it parsed, or NULL
 * (after printing what the command said) when it fails. */
static json_object *run_json(const char *cmd, const char *what) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int rc = pclose(p);
    if (rc != 0) {
        fprintf(stderr, "mediagrep bench: %s failed (exit %d): %s\n", what, rc, buf);
        return NULL;
    }
    return json_tokener_parse(buf);
}

static json_object *run_torch(int threads, const char *batches, double seconds, const char *precisions,
                              int cuda) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "env LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=PASSIVE "
             "/usr/bin/python3 %s/bench/bench_torch.py --threads %d --batches %s --seconds %g --precisions %s%s",
             MG_SOURCE_DIR, threads, batches, seconds, precisions, cuda ? " --device cuda" : "");
    return run_json(cmd, "PyTorch benchmark");
}

/* Throughput on a device that takes several callers (a GPU: one stream
 * each): `streams` threads, each with its own encoder, encode batches of b
 * 8-bit images from pinned host memory for `seconds`; images per second. */
typedef struct {
    mg_model *m;
    const uint8_t *rgb;
    int b;
    double seconds;
    int64_t images;
    int rc;
} stream_job;

static void *stream_main(void *arg) {
    stream_job *j = arg;
    mg_error err;
    mg_encoder *e;
    mg_preprocess_params pp = mg_preprocess_default_params(mg_model_image_size(j->m));
    float *out = malloc((size_t)j->b * mg_model_dim(j->m) * sizeof(float));
    j->rc = out ? mg_encoder_open(j->m, j->b, &e, &err) : MG_ENOMEM;
    if (j->rc) {
        free(out);
        return NULL;
    }
    mg_encode_images_u8(e, j->rgb, j->b, pp.mean, pp.std, out, 0, &err); /* warm-up: plans, scratch */
    double st = mg_now();
    while ((j->rc = mg_encode_images_u8(e, j->rgb, j->b, pp.mean, pp.std, out, 0, &err)) == MG_OK) {
        j->images += j->b;
        if (mg_now() - st >= j->seconds) break;
    }
    mg_encoder_close(e);
    free(out);
    return NULL;
}

static double streams_rate(mg_model *m, int streams, int b, double seconds) {
    int S = mg_model_image_size(m);
    size_t nb = (size_t)b * S * S * 3;
    uint8_t *rgb = mg_model_host_alloc(m, nb);
    if (!rgb) return 0;
    for (size_t i = 0; i < nb; i++) rgb[i] = (uint8_t)((i * 2654435761u) >> 13);
    stream_job jobs[8];
    pthread_t t[8];
    if (streams > 8) streams = 8;
    int started = 0;
    double st = mg_now();
    for (; started < streams; started++) {
        jobs[started] = (stream_job){m, rgb, b, seconds, 0, 0};
        if (pthread_create(&t[started], NULL, stream_main, &jobs[started]) != 0) break;
    }
    int64_t total = 0;
    int ok = started > 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        total += jobs[i].images;
        ok &= jobs[i].rc == MG_OK;
    }
    double el = mg_now() - st;
    mg_model_host_free(m, rgb);
    return ok && el > 0 ? total / el : 0;
}

/* Deterministic, varied test images (normalized pixels): a few coloured
 * gratings of random frequency and orientation plus noise, so the
 * retrieval-agreement check ranks images that differ. */
static void synth_image(float *px, int S, uint64_t seed) {
    uint64_t r = seed * 0x9E3779B97F4A7C15ull + 1;
#define RND() (r ^= r << 13, r ^= r >> 7, r ^= r << 17, (double)(r >> 11) / 9007199254740992.0)
    double fx[3][3], fy[3][3], ph[3][3], amp[3][3];
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 3; k++) {
            double a = RND() * 6.2831853, f = 0.01 + RND() * 0.2;
            fx[c][k] = f * cos(a);
            fy[c][k] = f * sin(a);
            ph[c][k] = RND() * 6.2831853;
            amp[c][k] = RND();
        }
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double v = 0;
                for (int k = 0; k < 3; k++) v += amp[c][k] * sin(fx[c][k] * x + fy[c][k] * y + ph[c][k]);
                px[((size_t)c * S + y) * S + x] = (float)(0.6 * v + 0.3 * (RND() - 0.5));
            }
#undef RND
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb + 1e-30);
}

/* Indices of the k best rows of db [n][d] for q. */
static void topk(const float *db, int n, int d, const float *q, int k, int *out) {
    double best[64];
    for (int i = 0; i < k; i++) best[i] = -1e30, out[i] = -1;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)db[(size_t)i * d + j] * q[j];
        if (s <= best[k - 1]) continue;
        int p = k - 1;
        while (p > 0 && best[p - 1] < s) best[p] = best[p - 1], out[p] = out[p - 1], p--;
        best[p] = s;
        out[p] = i;
    }
}

typedef struct {
    int prec;                 /* asked */
    int ran;                  /* 0 when the CPU lacks it */
    double img_s[16];
    double text_ms, text_qps;
    float *agree_img, *agree_txt;  /* embeddings of the agreement sets */
    double img_cos_min, img_cos_mean, txt_cos_min, overlap;
} prec_run;

static int bench_encoder(int argc, char **argv) {
    int threads = 0, torch = 0, agree_n = 1000, n_queries = 100;
    double seconds = 5, peak_per_thread = 116, peak_tflops = 989;
    int gpu = 0, streams = 1;
    const char *batches = "1,8,32,64", *config = NULL, *json_out = NULL, *precs = NULL, *device = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads")) {
            if ((threads = mg_cli_int(a, v, 1, 1024)) < 0) return 2;
            i++;
        } else if (!strcmp(a, "--agree-images")) {
            if ((agree_n = mg_cli_int(a, v, 0, 100000)) < 0) return 2;
            i++;
        } else if (!strcmp(a, "--batches") && v) batches = argv[++i];
        else if (!strcmp(a, "--seconds") && v) seconds = atof(argv[++i]);
        else if (!strcmp(a, "--config") && v) config = argv[++i];
        else if (!strcmp(a, "--peak-gflops") && v) peak_per_thread = atof(argv[++i]);
        else if (!strcmp(a, "--peak-tflops") && v) peak_tflops = atof(argv[++i]);
        else if (!strcmp(a, "--json") && v) json_out = argv[++i];
        else if (!strcmp(a, "--precision") && v) precs = argv[++i];
        else if (!strcmp(a, "--device") && v) device = argv[++i];
        else if (!strcmp(a, "--torch")) torch = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "mediagrep bench encoder: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    int_list bl;
    if (parse_list(batches, &bl)) {
        fprintf(stderr, "mediagrep bench: bad --batches '%s'\n", batches);
        return 2;
    }
    prec_run runs[3];
    int n_runs = 0;
    {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", precs ? precs : "fp32");
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int p = mg_precision_parse(tok);
            if (p < 0 || n_runs == 3) {
                fprintf(stderr, "mediagrep bench: bad --precision '%s' (a list of fp32, bf16, int8)\n", precs);
                return 2;
            }
            memset(&runs[n_runs], 0, sizeof runs[n_runs]);
            runs[n_runs++].prec = p;
        }
    }
    if (threads == 0) threads = mg_cpu_count();
    mg_error err = {0};
    mg_clip_config cfg = mg_clip_config_default();
    cfg.text.eos_token_id = 49407;
    if (config && mg_clip_config_load(config, &cfg, &err)) {
        fprintf(stderr, "mediagrep bench: %s\n", err.msg);
        return 2;
    }
    char tok[4096];
    snprintf(tok, sizeof tok, "%s/clip-tokenizer", mg_cli_assets_dir());
    double peak = peak_per_thread * threads;
    const int S = cfg.vision.image_size, P = cfg.projection_dim;
    int maxb = 1;
    for (int i = 0; i < bl.n; i++) maxb = bl.v[i] > maxb ? bl.v[i] : maxb;
    /* an accuracy check against the CPU at fp32 whenever something else runs */
    const int any_reduced = runs[0].prec != MG_PREC_FP32 || n_runs > 1 || (device && strcmp(device, "cpu"));
    if (!any_reduced) agree_n = 0;
    int enc_b = maxb > 32 ? maxb : 32;
    float *pix = malloc((size_t)enc_b * 3 * S * S * sizeof(float)), *out = malloc((size_t)enc_b * P * sizeof(float));
    if (!pix || !out) return 2;
    for (size_t i = 0; i < (size_t)maxb * 3 * S * S; i++) pix[i] = (float)((i * 2654435761u) % 1000) / 500.f - 1.f;
    /* the query texts of the agreement check */
    static const char *adj[10] = {"red", "small", "old", "happy", "wet", "striped", "wooden", "bright", "broken", "fluffy"};
    static const char *noun[10] = {"dog", "car", "house", "bicycle", "beach", "cake", "guitar", "forest", "cat", "boat"};
    char qtext[100][64];
    const char *qptr[100];
    for (int i = 0; i < n_queries; i++) {
        snprintf(qtext[i], sizeof qtext[i], "a photo of a %s %s", adj[i / 10], noun[i % 10]);
        qptr[i] = qtext[i];
    }
    const double fl = image_flops(&cfg);
    /* fp32 reference embeddings first when any reduced precision runs */
    float *ref_img = NULL, *ref_txt = NULL;
    for (int pass = any_reduced ? -1 : 0; pass < n_runs; pass++) {
        int prec = pass < 0 ? MG_PREC_FP32 : runs[pass].prec;
        mg_model_params mp = mg_model_default_params();
        mp.n_threads = threads;
        mp.precision = prec;
        if (device && pass >= 0) mp.device = device; /* the reference stays on the CPU */
        mg_model *m;
        double t0 = mg_now();
        if (mg_model_open_random(&cfg, 1, tok, &mp, &m, &err)) {
            fprintf(stderr, "mediagrep bench: %s\n", err.msg);
            return 2;
        }
        if (pass >= 0 && mg_model_precision(m, 1) != prec) {
            printf("%s: %s; skipped\n", mg_precision_name(prec), mg_model_precision_notice(m));
            mg_model_close(m);
            continue;
        }
        if (pass >= 0 && !strncmp(mg_model_backend_name(m), "cuda", 4)) {
            gpu = 1;
            streams = mg_model_max_callers(m);
            peak = peak_tflops * 1000;
        }
        if (pass <= 0)
            printf("mediagrep bench encoder: ViT %dx%d/%d, D=%d, %d layers; text D=%d, %d layers; random weights; "
                   "backend: %s; fp32 peak assumed %.0f GFLOP/s\n", cfg.vision.image_size, cfg.vision.image_size,
                   cfg.vision.patch_size, cfg.vision.hidden_size, cfg.vision.num_layers, cfg.text.hidden_size,
                   cfg.text.num_layers, mg_model_backend_name(m), peak);
        printf("%s%s: model built in %.1f s\n", pass < 0 ? "fp32 reference for the accuracy check; " : "",
               mg_precision_name(prec), mg_now() - t0);
        fflush(stdout);
        mg_encoder *enc;
        if (mg_encoder_open(m, enc_b, &enc, &err)) {
            fprintf(stderr, "mediagrep bench: %s\n", err.msg);
            mg_model_close(m);
            return 2;
        }
        /* accuracy sets */
        float *ai = agree_n ? malloc((size_t)agree_n * P * sizeof(float)) : NULL;
        float *at = agree_n ? malloc((size_t)n_queries * P * sizeof(float)) : NULL;
        for (int done = 0; done < agree_n;) {
            int b = agree_n - done < 32 ? agree_n - done : 32;
            for (int i = 0; i < b; i++) synth_image(pix + (size_t)i * 3 * S * S, S, (uint64_t)(done + i + 1));
            mg_encode_images(enc, pix, b, ai + (size_t)done * P, MG_EMBED_NORMALIZE, &err);
            done += b;
        }
        if (agree_n) mg_encode_texts(enc, qptr, n_queries, at, MG_EMBED_NORMALIZE, &err);
        if (pass < 0) {
            ref_img = ai;
            ref_txt = at;
            mg_encoder_close(enc);
            mg_model_close(m);
            continue;
        }
        prec_run *R = &runs[pass];
        R->ran = 1;
        R->agree_img = ai;
        R->agree_txt = at;
        for (size_t i = 0; i < (size_t)maxb * 3 * S * S; i++) pix[i] = (float)((i * 2654435761u) % 1000) / 500.f - 1.f;
        for (int i = 0; i < bl.n && gpu; i++) {
            int b = bl.v[i];
            R->img_s[i] = streams_rate(m, streams, b, seconds);
            printf("  %s batch %d: %.1f img/s (%d streams)\n", mg_model_backend_name(m), b, R->img_s[i], streams);
            fflush(stdout);
        }
        for (int i = 0; i < bl.n && !gpu; i++) {
            int b = bl.v[i];
            mg_encode_images(enc, pix, b, out, MG_EMBED_NORMALIZE, &err); /* warm-up: primitives */
            int it = 0;
            double st = mg_now(), el;
            do {
                mg_encode_images(enc, pix, b, out, MG_EMBED_NORMALIZE, &err);
                it++;
                el = mg_now() - st;
            } while (it < 2 || el < seconds);
            R->img_s[i] = b * it / el;
        }
        /* text: a 7-token query, batch 1 */
        const char *q = "a dog catching a frisbee";
        float emb[4096];
        mg_encode_texts(enc, &q, 1, emb, MG_EMBED_NORMALIZE, &err);
        int nq = 0;
        double lat[2000], tot = 0;
        double st = mg_now();
        while (nq < 2000 && (nq < 20 || mg_now() - st < seconds)) {
            double a = mg_now();
            mg_encode_texts(enc, &q, 1, emb, MG_EMBED_NORMALIZE, &err);
            lat[nq] = mg_now() - a;
            tot += lat[nq++];
        }
        for (int i = 1; i < nq; i++) /* insertion sort for the median */
            for (int k = i; k > 0 && lat[k] < lat[k - 1]; k--) {
                double t = lat[k]; lat[k] = lat[k - 1]; lat[k - 1] = t;
            }
        R->text_ms = 1000 * lat[nq / 2];
        R->text_qps = nq / tot;
        if (agree_n) {
            R->img_cos_min = 1;
            double sum = 0;
            for (int i = 0; i < agree_n; i++) {
                double c = cosine(ai + (size_t)i * P, ref_img + (size_t)i * P, P);
                sum += c;
                if (c < R->img_cos_min) R->img_cos_min = c;
            }
            R->img_cos_mean = sum / agree_n;
            R->txt_cos_min = 1;
            int k = agree_n < 10 ? agree_n : 10, hits = 0;
            for (int i = 0; i < n_queries; i++) {
                double c = cosine(at + (size_t)i * P, ref_txt + (size_t)i * P, P);
                if (c < R->txt_cos_min) R->txt_cos_min = c;
                int a[64], b[64];
                topk(ref_img, agree_n, P, ref_txt + (size_t)i * P, k, a);
                topk(ai, agree_n, P, at + (size_t)i * P, k, b);
                for (int x = 0; x < k; x++)
                    for (int y = 0; y < k; y++) hits += a[x] == b[y];
            }
            R->overlap = (double)hits / (n_queries * k);
        }
        mg_encoder_close(enc);
        mg_model_close(m);
    }
    json_object *tj = NULL;
    if (torch) {
        char tp[64] = "";
        for (int r = 0; r < n_runs; r++)
            snprintf(tp + strlen(tp), sizeof tp - strlen(tp), "%s%s", r ? "," : "",
                     runs[r].prec == MG_PREC_INT8 ? "int8,int8_mlp" : mg_precision_name(runs[r].prec));
        printf("running PyTorch (bench/bench_torch.py --precisions %s, %d threads)...\n", tp, threads);
        fflush(stdout);
        if (gpu) snprintf(tp, sizeof tp, "fp16");
        tj = run_torch(threads, batches, seconds, tp, gpu);
    }
    printf("\n| image encoder%s | batch | img/s | ms/batch | G(FL)OP/s | %% of %s peak |%s\n",
           gpu ? " (GPU, fp16 GEMMs)" : "", gpu ? "fp16" : "fp32", tj ? gpu ? " PyTorch fp16 img/s | ratio |"
                                                                              : " PyTorch img/s | ratio |" : "");
    printf("|---|---|---|---|---|---|%s\n", tj ? "---|---|" : "");
    json_object *res = json_object_new_object(), *jr = json_object_new_object();
    for (int r = 0; r < n_runs; r++) {
        prec_run *R = &runs[r];
        if (!R->ran) continue;
        const char *pn = mg_precision_name(R->prec);
        json_object *tv = NULL, *ri = json_object_new_object();
        if (tj) {
            char key[32];
            snprintf(key, sizeof key, gpu ? "image_fp16" : R->prec == MG_PREC_FP32 ? "image" : "image_%s", pn);
            json_object_object_get_ex(tj, key, &tv);
        }
        for (int i = 0; i < bl.n; i++) {
            double g = R->img_s[i] * fl / 1e9;
            printf("| %s | %d | %.2f | %.1f | %.1f | %.1f%% |", pn, bl.v[i], R->img_s[i], 1000.0 * bl.v[i] / R->img_s[i],
                   g, 100 * g / peak);
            char key[16];
            snprintf(key, sizeof key, "%d", bl.v[i]);
            json_object *t1;
            if (tv && json_object_object_get_ex(tv, key, &t1)) {
                double t = json_object_get_double(t1);
                printf(" %.2f | %.2fx |", t, R->img_s[i] / t);
            }
            json_object *t2, *tm;
            if (R->prec == MG_PREC_INT8 && tj && json_object_object_get_ex(tj, "image_int8_mlp", &tm) &&
                json_object_object_get_ex(tm, key, &t2))
                printf(" (PyTorch default MLP-only int8: %.2f) |", json_object_get_double(t2));
            printf("\n");
            json_object_object_add(ri, key, json_object_new_double(R->img_s[i]));
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "image_img_per_s", ri);
        json_object_object_add(o, "text_latency_ms", json_object_new_double(R->text_ms));
        if (agree_n && (R->prec != MG_PREC_FP32 || (device && strcmp(device, "cpu")))) {
            json_object_object_add(o, "image_cosine_min", json_object_new_double(R->img_cos_min));
            json_object_object_add(o, "image_cosine_mean", json_object_new_double(R->img_cos_mean));
            json_object_object_add(o, "text_cosine_min", json_object_new_double(R->txt_cos_min));
            json_object_object_add(o, "top10_overlap", json_object_new_double(R->overlap));
        }
        json_object_object_add(jr, pn, o);
    }
    printf("\n| text encoder (7-token query, batch 1) | latency p50 ms | queries/s |\n|---|---|---|\n");
    for (int r = 0; r < n_runs; r++)
        if (runs[r].ran)
            printf("| %s | %.2f | %.1f |\n", mg_precision_name(runs[r].prec), runs[r].text_ms, runs[r].text_qps);
    json_object *tl;
    if (tj && json_object_object_get_ex(tj, "text_latency_ms", &tl))
        printf("| PyTorch fp32 (77 positions) | %.2f | |\n", json_object_get_double(tl));
    if (agree_n) {
        printf("\n| accuracy vs fp32 (%d images, %d text queries) | image cosine min | image cosine mean | text cosine "
               "min | top-10 overlap |\n|---|---|---|---|---|\n", agree_n, n_queries);
        for (int r = 0; r < n_runs; r++)
            if (runs[r].ran && (runs[r].prec != MG_PREC_FP32 || (device && strcmp(device, "cpu"))))
                printf("| %s | %.5f | %.5f | %.5f | %.3f |\n", mg_precision_name(runs[r].prec), runs[r].img_cos_min,
                       runs[r].img_cos_mean, runs[r].txt_cos_min, runs[r].overlap);
    }
    if (json_out) {
        json_object_object_add(res, "threads", json_object_new_int(threads));
        json_object_object_add(res, "image_gflop_per_img", json_object_new_double(fl / 1e9));
        json_object_object_add(res, "precisions", jr);
        if (tj) json_object_object_add(res, "torch", json_object_get(tj));
        if (json_object_to_file_ext(json_out, res, JSON_C_TO_STRING_PRETTY))
            fprintf(stderr, "mediagrep bench: cannot write %s\n", json_out);
    } else {
        json_object_put(jr);
    }
    json_object_put(res);
    if (tj) json_object_put(tj);
    for (int r = 0; r < n_runs; r++) {
        free(runs[r].agree_img);
        free(runs[r].agree_txt);
    }
    free(ref_img);
    free(ref_txt);
    free(pix);
    free(out);
    return 0;
}

/* ---------------- bench decode ---------------- */

static int run_sh(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

/* images/s for load + CLIP preprocess of one file, one thread. */
static double bench_image(const char *path, const mg_image_params *ip, double seconds) {
    mg_preprocess_params pp = mg_preprocess_default_params(224);
    static float chw[3 * 224 * 224];
    mg_error err;
    int n = 0;
    double t0 = mg_now(), el;
    do {
        mg_image img = {0};
        if (mg_image_load(path, ip, &img, &err) || mg_preprocess_image(&img, &pp, NULL, chw, &err)) {
            fprintf(stderr, "mediagrep bench: %s\n", err.msg);
            mg_image_free(&img);
            return 0;
        }
        mg_image_free(&img);
        n++;
        el = mg_now() - t0;
    } while (n < 3 || el < seconds);
    return n / el;
}

/* Samples a video in a child process; returns seconds, the child's peak RSS
 * (MiB) and the number of frames. */
static double bench_video(const char *path, int sequential, double *rss_mb, int *frames) {
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        mg_video_params vp = mg_video_default_params();
        vp.sequential = sequential;
        vp.target_short_side = 224;
        vp.time_limit_s = 600;
        double t0 = mg_now();
        mg_video *v;
        mg_error err;
        int n = 0;
        if (mg_video_open(path, &vp, &v, &err) == MG_OK) {
            mg_video_sample smp;
            while (mg_video_next(v, &smp, &err) == MG_OK) {
                mg_image_free(&smp.image);
                n++;
            }
            mg_video_close(v);
        }
        double r[2] = {mg_now() - t0, n};
        if (write(fd[1], r, sizeof r) != sizeof r) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    double r[2] = {-1, 0};
    if (read(fd[0], r, sizeof r) != sizeof r) r[0] = -1;
    close(fd[0]);
    struct rusage ru;
    int st;
    wait4(pid, &st, 0, &ru);
    *rss_mb = ru.ru_maxrss / 1024.0;
    *frames = (int)r[1];
    return r[0];
}

static int bench_decode(int argc, char **argv) {
    const char *dir = "/tmp/mediagrep-bench-decode";
    double seconds = 3;
    int python = 1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--no-python")) python = 0;
        else {
            fprintf(stderr, "mediagrep bench decode: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    char cmd[4096], j1080[1024], j12m[1024], vid[1024];
    snprintf(j1080, sizeof j1080, "%s/photo-1920x1080.jpg", dir);
    snprintf(j12m, sizeof j12m, "%s/photo-4000x3000.jpg", dir);
    snprintf(vid, sizeof vid, "%s/h264-720p-60s-gop166.mp4", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    run_sh(cmd);
    const char *src = MG_SOURCE_DIR "/samples/images/astronaut.png";
    struct { const char *out, *size; } jp[2] = {{j1080, "1920:1080"}, {j12m, "4000:3000"}};
    for (int k = 0; k < 2; k++)
        if (!exists(jp[k].out)) { /* a real photo scaled up, with film grain so it compresses like one */
            snprintf(cmd, sizeof cmd,
                     "ffmpeg -v error -y -i '%s' -vf scale=%s,noise=alls=5:allf=t -q:v 4 '%s'", src, jp[k].size,
                     jp[k].out);
            if (run_sh(cmd)) return fprintf(stderr, "mediagrep bench: ffmpeg failed: %s\n", cmd), 2;
        }
    if (!exists(vid)) {
        printf("generating %s (60 s 720p H.264, keyframe every 166 frames at 20 fps)...\n", vid);
        fflush(stdout);
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=20 -t 60 -c:v libx264 -preset veryfast "
                 "-g 166 -keyint_min 166 -sc_threshold 0 -pix_fmt yuv420p '%s'", vid);
        if (run_sh(cmd)) return fprintf(stderr, "mediagrep bench: ffmpeg failed: %s\n", cmd), 2;
    }
    mg_image_params full = mg_image_exact_params(), fast = mg_image_default_params();
    double r1080_full = bench_image(j1080, &full, seconds), r1080_fast = bench_image(j1080, &fast, seconds);
    double r12_full = bench_image(j12m, &full, seconds), r12_fast = bench_image(j12m, &fast, seconds);
    double rss_seek, rss_seq;
    int n_seek, n_seq;
    double t_seek = bench_video(vid, 0, &rss_seek, &n_seek);
    double t_seq = bench_video(vid, 1, &rss_seq, &n_seq);
    /* one ffmpeg process per frame, seeking with -ss before -i */
    double t0 = mg_now();
    for (int k = 0; k < 8; k++) {
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -v error -ss %.3f -i '%s' -frames:v 1 -vf scale=-2:224 -f rawvideo -pix_fmt rgb24 -y /dev/null",
                 (k + 0.5) * 60.0 / 8, vid);
        run_sh(cmd);
    }
    double t_ffmpeg = mg_now() - t0;
    json_object *py = NULL;
    if (python) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/bench/bench_decode_py.py --jpeg '%s' --jpeg '%s' --video '%s' "
                 "--seconds %g", MG_SOURCE_DIR, j1080, j12m, vid, seconds);
        py = run_json(cmd, "Python side (Pillow, PyAV)");
    }
    double pil[2][2] = {{0, 0}, {0, 0}}, pyav = -1;
    if (py) {
        json_object *jj, *f, *v;
        const char *names[2] = {j1080, j12m};
        for (int k = 0; k < 2; k++)
            if (json_object_object_get_ex(py, "jpeg", &jj) && json_object_object_get_ex(jj, names[k], &f)) {
                if (json_object_object_get_ex(f, "pillow_draft", &v)) pil[k][0] = json_object_get_double(v);
                if (json_object_object_get_ex(f, "pillow_full", &v)) pil[k][1] = json_object_get_double(v);
            }
        if (json_object_object_get_ex(py, "pyav_seek_s", &v) && json_object_get_type(v) == json_type_double)
            pyav = json_object_get_double(v);
        json_object_put(py);
    }
    printf("\n| JPEG -> 224x224 CLIP input, 1 thread | mediagrep full decode | mediagrep shrink-on-load | "
           "Pillow draft() | Pillow full |\n|---|---|---|---|---|\n");
    printf("| 1920x1080 | %.1f img/s | %.1f img/s | %.1f img/s | %.1f img/s |\n", r1080_full, r1080_fast, pil[0][0],
           pil[0][1]);
    printf("| 4000x3000 | %.1f img/s | %.1f img/s | %.1f img/s | %.1f img/s |\n", r12_full, r12_fast, pil[1][0],
           pil[1][1]);
    printf("\n| 8 frames from a 60 s 720p H.264 video (keyframe every 8.3 s) | seconds | frames | peak RSS |\n"
           "|---|---|---|---|\n");
    printf("| mediagrep seek-based | %.3f | %d | %.0f MiB |\n", t_seek, n_seek, rss_seek);
    printf("| mediagrep decoding every frame | %.3f | %d | %.0f MiB |\n", t_seq, n_seq, rss_seq);
    if (pyav >= 0) printf("| PyAV seeking | %.3f | 8 | |\n", pyav);
    printf("| ffmpeg -ss, one process per frame | %.3f | 8 | |\n", t_ffmpeg);
    return 0;
}

int mg_cli_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "encoder")) return bench_encoder(argc, argv);
    if (!strcmp(argv[1], "decode")) return bench_decode(argc, argv);
    if (!strcmp(argv[1], "index")) return mg_cli_bench_index(argc, argv);
    if (!strcmp(argv[1], "search")) return mg_cli_bench_search(argc, argv);
    if (!strcmp(argv[1], "dups")) return mg_cli_bench_dups(argc, argv);
    if (!strcmp(argv[1], "ocr")) return mg_cli_bench_ocr(argc, argv);
    if (!strcmp(argv[1], "transcribe")) return mg_cli_bench_transcribe(argc, argv);
    fprintf(stderr, "mediagrep bench: unknown benchmark '%s' (available: encoder, decode, index, search, dups, ocr, transcribe)\n", argv[1]);
    return 2;
}
