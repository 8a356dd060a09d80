/*
 * test_cuda.c - the CUDA backend against the CPU references, op by op (like
 * ggml's test-backend-ops: normalized max error per op), then whole models:
 * the tiny test models and a full-size random ViT-B/32, CUDA vs CPU fp32,
 * cosine >= 0.9999 per embedding. Built when the CUDA backend is; without a
 * usable GPU (CI has none) it reports the reason and exits 77, which ctest
 * counts as skipped.
 */
#include "testlib.h"
#include "backend/backend.h"
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
static double nerr(const float *a, const float *ref, size_t n) {
    double mx = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > mx || d != d) mx = d != d ? 1e30 : d;
        if (fabs(ref[i]) > den) den = fabs(ref[i]);
    }
    return mx / den;
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
            double e = nerr(y, ref, (size_t)m * n);
            CHECK_MSG(e < 3e-3, "linear m=%d k=%d n=%d act=%d: normalized error %.3g", m, k, n, act, e);
            free(y);
        }
        b->ops->upload(b, dy, r, (size_t)m * n * 4);
        memcpy(ref, r, (size_t)m * n * 4);
        b->ops->linear(b, l, dx, dy, m, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        float *y = host(b, dy, (size_t)m * n);
        mg_ref_linear(x, w, bias, ref, m, n, k, MG_ACT_NONE, 1);
        CHECK_MSG(nerr(y, ref, (size_t)m * n) < 3e-3, "linear+residual m=%d k=%d n=%d", m, k, n);
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
        CHECK_MSG(nerr(y, ref, (size_t)m * n) < 1e-5, "layernorm n=%d: %.3g", n, nerr(y, ref, (size_t)m * n));
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
            double e = nerr(y, ref, (size_t)B * S * D);
            CHECK_MSG(e < 1e-5, "attention B=%d S=%d H=%d hd=%d causal=%d: %.3g", B, S, H, hd, causal, e);
            free(y), free(qkv), free(ref);
            b->ops->free(b, dq), b->ops->free(b, dout);
        }
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
    mg_backend_close(b);
    test_models();
    /* a device number that does not exist */
    p.device = "cuda:999";
    CHECK(mg_backend_open(&p, &b, &err) == MG_EINVAL);
    return mg_test_finish();
}
