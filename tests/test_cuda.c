/*
 * test_cuda.c - the CUDA backend against the CPU references, op by op (like
 * ggml's test-backend-ops: normalized max error per op), then whole models:
 * the tiny test models and a full-size random ViT-B/32, CUDA vs CPU fp32,
 * cosine >= 0.9999 per embedding; then the CUDA-specific machinery: 8-bit
 * images normalized on the device, two threads encoding at once on one
 * model (a stream each), pinned host batches, lanes reused by many
 * short-lived threads, every visible GPU, and `mediagrep index --device
 * cuda` end to end. Built when the CUDA backend is; without a
 * usable GPU (CI has none) it reports the reason and exits 77, which ctest
 * counts as skipped.
 */
#include "testlib.h"
#include <pthread.h>
#include "backend/backend.h"
#include "media/preprocess.h"
#include "backend/cpu/kernels.h"
#include "model/clip.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
}
static float *rnd(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

/* device copy of a host array */
static float *dev(mg_backend *b, const float *h, size_t n) {
    float *d = b->ops->alloc(b, n * sizeof(float));
    if (!d) {
        CHECK_MSG(0, "cannot allocate %zu floats on the device", n);
        exit(mg_test_finish());
    }
    b->ops->upload(b, d, h, n * sizeof(float));
    return d;
}
static float *host(mg_backend *b, const float *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    b->ops->download(b, h, d, n * sizeof(float));
    return h;
}

static void test_ops(mg_backend *b) {
    mg_error err;
    /* linear: fp16 weights and inputs, fp32 sums: errors of a few 1e-4 */
    int shapes[][3] = {{1, 64, 64}, {7, 100, 40}, {50, 768, 2304}, {600, 96, 200}, {3, 48, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *x = rnd((size_t)m * k, 1.f), *w = rnd((size_t)n * k, 1.f / sqrtf((float)k)), *bias = rnd(n, 0.5f);
        float *r = rnd((size_t)m * n, 1.f), *ref = malloc((size_t)m * n * 4);
        mg_linear *l;
        REQUIRE_V(b->ops->linear_prepare(b, w, bias, n, k, MG_PREC_FP32, &l, &err) == MG_OK);
        float *dx = dev(b, x, (size_t)m * k), *dy = dev(b, r, (size_t)m * n);
        for (int act = MG_ACT_NONE; act <= MG_ACT_GELU; act++) {
            b->ops->linear(b, l, dx, dy, m, act, 0);
            float *y = host(b, dy, (size_t)m * n);
            mg_ref_linear(x, w, bias, ref, m, n, k, act, 0);
            double e = mg_test_nerr(y, ref, (size_t)m * n);
            CHECK_MSG(e < 3e-3, "linear m=%d k=%d n=%d act=%d: normalized error %.3g", m, k, n, act, e);
            free(y);
        }
        b->ops->upload(b, dy, r, (size_t)m * n * 4);
        memcpy(ref, r, (size_t)m * n * 4);
        b->ops->linear(b, l, dx, dy, m, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        float *y = host(b, dy, (size_t)m * n);
        mg_ref_linear(x, w, bias, ref, m, n, k, MG_ACT_NONE, 1);
        CHECK_MSG(mg_test_nerr(y, ref, (size_t)m * n) < 3e-3, "linear+residual m=%d k=%d n=%d", m, k, n);
        free(y);
        b->ops->linear_free(b, l);
        b->ops->free(b, dx);
        b->ops->free(b, dy);
        free(x), free(w), free(bias), free(r), free(ref);
    }
    /* LayerNorm, in place too */
    for (int n = 33; n <= 1024; n *= 3) {
        int m = 37;
        float *x = rnd((size_t)m * n, 3.f), *g = rnd(n, 1.f), *be = rnd(n, 1.f), *ref = malloc((size_t)m * n * 4);
        float *dx = dev(b, x, (size_t)m * n), *dg = dev(b, g, n), *db = dev(b, be, n);
        b->ops->layernorm(b, dx, dx, dg, db, m, n, 1e-5f);
        float *y = host(b, dx, (size_t)m * n);
        mg_ref_layernorm(x, ref, g, be, m, n, 1e-5f);
        CHECK_MSG(mg_test_nerr(y, ref, (size_t)m * n) < 1e-5, "layernorm n=%d: %.3g", n, mg_test_nerr(y, ref, (size_t)m * n));
        free(y), free(x), free(g), free(be), free(ref);
        b->ops->free(b, dx), b->ops->free(b, dg), b->ops->free(b, db);
    }
    /* attention: CLIP's sequence lengths and head sizes, causal or not */
    int at[][4] = {{2, 50, 12, 64}, {1, 197, 12, 64}, {3, 7, 8, 64}, {1, 257, 16, 64}, {2, 77, 8, 64}, {1, 5, 2, 40}};
    for (size_t s = 0; s < sizeof at / sizeof at[0]; s++)
        for (int causal = 0; causal <= 1; causal++) {
            int B = at[s][0], S = at[s][1], H = at[s][2], hd = at[s][3], D = H * hd;
            float *qkv = rnd((size_t)B * S * 3 * D, 1.f), *ref = malloc((size_t)B * S * D * 4);
            float *dq = dev(b, qkv, (size_t)B * S * 3 * D), *dout = b->ops->alloc(b, (size_t)B * S * D * 4);
            b->ops->attention(b, dq, dout, B, S, H, hd, causal);
            float *y = host(b, dout, (size_t)B * S * D);
            mg_ref_attention(qkv, ref, B, S, H, hd, causal);
            double e = mg_test_nerr(y, ref, (size_t)B * S * D);
            CHECK_MSG(e < 1e-5, "attention B=%d S=%d H=%d hd=%d causal=%d: %.3g", B, S, H, hd, causal, e);
            free(y), free(qkv), free(ref);
            b->ops->free(b, dq), b->ops->free(b, dout);
        }
}

static void test_normalize(mg_backend *b) {
    const int n = 5, S = 224;
    size_t px = (size_t)S * S, nb = (size_t)n * px * 3;
    uint8_t *rgb = malloc(nb);
    for (size_t i = 0; i < nb; i++) rgb[i] = (uint8_t)(frand() * 128 + 128);
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    float lut[768], *want = malloc(nb * 4);
    mg_preprocess_lut(pp.mean, pp.std, lut);
    for (int i = 0; i < n; i++) mg_preprocess_normalize(rgb + (size_t)i * px * 3, &pp, want + (size_t)i * px * 3);
    uint8_t *drgb = b->ops->alloc(b, nb);
    float *dout = b->ops->alloc(b, nb * 4);
    REQUIRE_V(drgb && dout);
    b->ops->upload(b, drgb, rgb, nb);
    b->ops->normalize_u8(b, drgb, dout, n, S, lut);
    float *got = host(b, dout, nb);
    CHECK_MSG(memcmp(got, want, nb * 4) == 0, "normalize_u8 differs from mg_preprocess_normalize");
    free(got), free(want), free(rgb);
    b->ops->free(b, drgb), b->ops->free(b, dout);
}

/* Whole models: CUDA against the CPU at fp32. */
static void check_model(mg_model *gpu, mg_model *cpu, const char *what) {
    mg_error err;
    mg_encoder *eg, *ec;
    REQUIRE_V(mg_encoder_open(gpu, 4, &eg, &err) == MG_OK && mg_encoder_open(cpu, 4, &ec, &err) == MG_OK);
    int S = mg_model_image_size(cpu), P = mg_model_dim(cpu), n = 5;
    float *px = rnd((size_t)n * 3 * S * S, 1.5f), *a = malloc((size_t)n * P * 4), *c = malloc((size_t)n * P * 4);
    REQUIRE_V(mg_encode_images(eg, px, n, a, MG_EMBED_NORMALIZE, &err) == MG_OK);
    REQUIRE_V(mg_encode_images(ec, px, n, c, MG_EMBED_NORMALIZE, &err) == MG_OK);
    for (int i = 0; i < n; i++) {
        double cs = mg_test_cosine(a + (size_t)i * P, c + (size_t)i * P, P);
        CHECK_MSG(cs >= 0.9999, "%s image %d: cosine %.6f CUDA vs CPU", what, i, cs);
    }
    const char *texts[3] = {"a photo of a cat", "a dog catching a frisbee", "x"};
    if (mg_model_tokenizer(cpu)) {
        REQUIRE_V(mg_encode_texts(eg, texts, 3, a, MG_EMBED_NORMALIZE, &err) == MG_OK);
        REQUIRE_V(mg_encode_texts(ec, texts, 3, c, MG_EMBED_NORMALIZE, &err) == MG_OK);
        for (int i = 0; i < 3; i++) {
            double cs = mg_test_cosine(a + (size_t)i * P, c + (size_t)i * P, P);
            CHECK_MSG(cs >= 0.9999, "%s text %d: cosine %.6f CUDA vs CPU", what, i, cs);
        }
    }
    mg_encoder_close(eg);
    mg_encoder_close(ec);
    free(px), free(a), free(c);
}

/* ---- several threads on one model: a lane (stream) each ---- */

typedef struct {
    mg_model *m;
    const uint8_t *rgb;
    int n, rounds;
    float *out;
    int rc;
} enc_job;

static void *enc_thread(void *arg) {
    enc_job *j = arg;
    mg_error err;
    mg_encoder *e;
    mg_preprocess_params pp = mg_preprocess_default_params(mg_model_image_size(j->m));
    j->rc = mg_encoder_open(j->m, j->n, &e, &err);
    for (int r = 0; r < j->rounds && !j->rc; r++)
        j->rc = mg_encode_images_u8(e, j->rgb, j->n, pp.mean, pp.std, j->out, MG_EMBED_NORMALIZE, &err);
    mg_encoder_close(e);
    return NULL;
}

static void test_lanes(void) {
    mg_error err;
    mg_clip_config cfg = mg_clip_config_default();
    mg_model_params pg = mg_model_default_params(), pc = mg_model_default_params();
    pg.device = "cuda";
    pg.load_text = pc.load_text = 0;
    pc.precision = MG_PREC_FP32;
    mg_model *g, *c;
    REQUIRE_V(mg_model_open_random(&cfg, 11, NULL, &pg, &g, &err) == MG_OK);
    REQUIRE_V(mg_model_open_random(&cfg, 11, NULL, &pc, &c, &err) == MG_OK);
    CHECK_EQ_INT(mg_model_max_callers(g), 2);
    const int n = 16, S = mg_model_image_size(g), P = mg_model_dim(g);
    size_t nb = (size_t)n * S * S * 3;
    /* the batch in pinned memory, as the indexer holds it */
    uint8_t *rgb = mg_model_host_alloc(g, nb);
    REQUIRE_V(rgb != NULL);
    for (size_t i = 0; i < nb; i++) rgb[i] = (uint8_t)(frand() * 128 + 128);
    float *ref = malloc((size_t)n * P * 4), *cpu = malloc((size_t)n * P * 4);
    enc_job one = {g, rgb, n, 1, ref, 0};
    enc_thread(&one);
    REQUIRE_V(one.rc == MG_OK);
    enc_job cj = {c, rgb, n, 1, cpu, 0};
    enc_thread(&cj);
    for (int i = 0; i < n; i++) {
        double cs = mg_test_cosine(ref + (size_t)i * P, cpu + (size_t)i * P, P);
        CHECK_MSG(cs >= 0.9999, "u8 image %d: cosine %.6f CUDA vs CPU", i, cs);
    }
    /* two threads at once, several rounds each: every result equals the lone one */
    enc_job jobs[2];
    pthread_t t[2];
    for (int k = 0; k < 2; k++) {
        jobs[k] = (enc_job){g, rgb, n, 8, malloc((size_t)n * P * 4), 0};
        pthread_create(&t[k], NULL, enc_thread, &jobs[k]);
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(t[k], NULL);
        CHECK_EQ_INT(jobs[k].rc, MG_OK);
        CHECK_MSG(mg_test_maxabs(jobs[k].out, ref, (size_t)n * P) < 1e-6, "thread %d: results differ from one thread",
                  k);
        free(jobs[k].out);
    }
    /* more short-lived threads than lanes: lanes are given back when a thread exits */
    for (int k = 0; k < 20; k++) {
        enc_job j = {g, rgb, 2, 1, malloc((size_t)2 * P * 4), 0};
        pthread_t th;
        pthread_create(&th, NULL, enc_thread, &j);
        pthread_join(th, NULL);
        CHECK_EQ_INT(j.rc, MG_OK);
        CHECK(mg_test_maxabs(j.out, ref, (size_t)2 * P) < 1e-4);
        free(j.out);
    }
    mg_model_host_free(g, rgb);
    free(ref), free(cpu);
    mg_model_close(g);
    mg_model_close(c);
}

/* every visible GPU: "auto" lists them all, and each runs the same model */
static void test_all_devices(void) {
    mg_device_name d[MG_MAX_DEVICES];
    char notice[256];
    mg_error err;
    int n = mg_backend_device_list("auto", d, MG_MAX_DEVICES, notice, sizeof notice, &err);
    printf("%s\n", notice);
    REQUIRE_V(n >= 1 && !strcmp(d[0], "cuda:0"));
    mg_clip_config cfg = mg_clip_config_default();
    cfg.vision.num_layers = 2;
    mg_model_params mp = mg_model_default_params();
    mp.load_text = 0;
    mp.device = "cpu";
    mp.precision = MG_PREC_FP32;
    mg_model *c;
    REQUIRE_V(mg_model_open_random(&cfg, 5, NULL, &mp, &c, &err) == MG_OK);
    for (int i = 0; i < n; i++) {
        mp.device = d[i];
        mg_model *g;
        REQUIRE_V(mg_model_open_random(&cfg, 5, NULL, &mp, &g, &err) == MG_OK);
        check_model(g, c, d[i]);
        mg_model_close(g);
    }
    mg_model_close(c);
}

/* `mediagrep index --device cuda` (and `auto`) end to end on generated photos */
static void test_index_cli(void) {
    if (mg_test_sh("command -v ffmpeg > /dev/null") != 0) {
        printf("no ffmpeg: index run skipped\n");
        return;
    }
    char *tmp = mg_test_tmpdir("cuda-index");
    int rc = 0;
    for (int i = 0; i < 40 && !rc; i++)
        rc = mg_test_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=640x480 -vf hue=h=%d "
                        "-frames:v 1 %s/p%02d.jpg", i * 9, tmp, i);
    REQUIRE_V(rc == 0);
    const char *devs[2] = {"cuda", "auto"};
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(mg_test_sh("%s/mediagrep index %s --store %s/store-%d --model %s/tiny-p32 --device %s "
                                "--batch 8 --quiet --json > %s/sum-%d.json",
                                MG_BUILD_DIR, tmp, tmp, k, MG_TEST_MODELS, devs[k], tmp, k),
                     0);
        CHECK_EQ_INT(mg_test_sh("grep -q '\"frames\":40' %s/sum-%d.json || grep -q '\"frames\": *40' %s/sum-%d.json",
                                tmp, k, tmp, k),
                     0);
    }
    mg_test_sh("rm -rf %s", tmp);
    free(tmp);
}

static void test_models(void) {
    mg_error err;
    mg_model_params pg = mg_model_default_params(), pc = mg_model_default_params();
    pg.device = "cuda";
    pc.precision = MG_PREC_FP32;
    const char *tiny[3] = {"tiny-p32", "tiny-p16-gelu", "tiny-p32-openai-f16"};
    for (int i = 0; i < 3; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", MG_TEST_MODELS, tiny[i]);
        mg_model *g, *c;
        if (mg_test_skip_unless_exists(dir)) continue;
        REQUIRE_V(mg_model_open(dir, &pg, &g, &err) == MG_OK);
        REQUIRE_V(mg_model_open(dir, &pc, &c, &err) == MG_OK);
        check_model(g, c, tiny[i]);
        mg_model_close(g);
        mg_model_close(c);
    }
    mg_clip_config cfg = mg_clip_config_default();
    cfg.text.eos_token_id = 49407;
    char tok[4096];
    snprintf(tok, sizeof tok, "%s/assets/clip-tokenizer", MG_SOURCE_DIR);
    mg_model *g, *c;
    REQUIRE_V(mg_model_open_random(&cfg, 7, tok, &pg, &g, &err) == MG_OK);
    REQUIRE_V(mg_model_open_random(&cfg, 7, tok, &pc, &c, &err) == MG_OK);
    check_model(g, c, "ViT-B/32 (random weights)");
    mg_model_close(g);
    mg_model_close(c);
}

int main(void) {
    mg_backend_params p = mg_backend_default_params();
    p.device = "cuda";
    mg_backend *b;
    mg_error err;
    int rc = mg_backend_open(&p, &b, &err);
    if (rc == MG_EUNSUPPORTED) {
        printf("SKIP: %s\n", err.msg);
        return 77;
    }
    REQUIRE(rc == MG_OK);
    printf("backend: %s\n", b->name);
    test_ops(b);
    test_normalize(b);
    mg_backend_close(b);
    test_models();
    test_lanes();
    test_all_devices();
    test_index_cli();
    /* a device number that does not exist */
    p.device = "cuda:999";
    CHECK(mg_backend_open(&p, &b, &err) == MG_EINVAL);
    return mg_test_finish();
}
