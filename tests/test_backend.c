/*
 * test_backend.c - per-op parity of the CPU backend against the scalar
 * references in backend/cpu/kernels.h (like ggml's test-backend-ops):
 * normalized max error |fast - ref| / max|ref| per op over shapes that
 * cover small and large M, widths that are not multiples of 16, causal and
 * full attention, CLIP's sequence lengths (1..257) and head sizes; and
 * Whisper's ops (attention_kv over KV caches and the audio, im2col1d and
 * conv1d end to end against a direct double convolution, add_rows,
 * copy_rows) at Whisper's shapes, with an item's attention output the same
 * bits alone as among other items and with 1 or 2 threads.
 */
#include "testlib.h"
#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/quant.h"
#include "backend/cpu/rowgemm.h"
#include "core/half.h"
#include "core/threadpool.h"
#include "media/preprocess.h"

#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
}
static float *rnd(size_t n, float scale) {
    float *p = mg_alloc_aligned(n, sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

static void test_linear(mg_backend *b) {
    int shapes[][3] = {{1, 64, 64}, {7, 100, 40}, {50, 768, 2304}, {50, 3072, 768}, {600, 96, 200}, {8, 512, 2048},
                       {3, 48, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *x = rnd((size_t)m * k, 1.f), *w = rnd((size_t)n * k, 1.f / sqrtf((float)k)), *bias = rnd(n, 0.5f);
        float *y = mg_alloc_aligned((size_t)m * n, 4), *ref = mg_alloc_aligned((size_t)m * n, 4);
        mg_linear *l;
        mg_error err;
        REQUIRE_V(b->ops->linear_prepare(b, w, bias, n, k, MG_PREC_FP32, &l, &err) == MG_OK);
        for (int act = MG_ACT_NONE; act <= MG_ACT_GELU; act++) {
            b->ops->linear(b, l, x, y, m, act, 0);
            mg_ref_linear(x, w, bias, ref, m, n, k, act, 0);
            double e = mg_test_nerr(y, ref, (size_t)m * n);
            CHECK_MSG(e < 2e-6, "linear m=%d k=%d n=%d act=%d: normalized error %.3g", m, k, n, act, e);
        }
        /* accumulate (residual): y = r + x W^T + b */
        float *r = rnd((size_t)m * n, 1.f);
        memcpy(y, r, (size_t)m * n * 4);
        memcpy(ref, r, (size_t)m * n * 4);
        b->ops->linear(b, l, x, y, m, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        mg_ref_linear(x, w, bias, ref, m, n, k, MG_ACT_NONE, 1);
        double e = mg_test_nerr(y, ref, (size_t)m * n);
        CHECK_MSG(e < 2e-6, "linear+residual m=%d k=%d n=%d: normalized error %.3g", m, k, n, e);
        b->ops->linear_free(b, l);
        /* no bias */
        REQUIRE_V(b->ops->linear_prepare(b, w, NULL, n, k, MG_PREC_FP32, &l, &err) == MG_OK);
        b->ops->linear(b, l, x, y, m, MG_ACT_NONE, 0);
        mg_ref_linear(x, w, NULL, ref, m, n, k, MG_ACT_NONE, 0);
        CHECK(mg_test_nerr(y, ref, (size_t)m * n) < 2e-6);
        b->ops->linear_free(b, l);
        mg_free_aligned(x); mg_free_aligned(w); mg_free_aligned(bias); mg_free_aligned(y);
        mg_free_aligned(ref); mg_free_aligned(r);
    }
}

static void test_layernorm(mg_backend *b) {
    int shapes[][2] = {{1, 768}, {100, 512}, {13, 33}, {257, 1024}};
    for (size_t s = 0; s < 4; s++) {
        int m = shapes[s][0], n = shapes[s][1];
        float *x = rnd((size_t)m * n, 3.f), *g = rnd(n, 1.f), *bb = rnd(n, 1.f);
        for (int i = 0; i < m * n; i++) x[i] += 5.f; /* a large mean tests the two-pass variance */
        float *y = mg_alloc_aligned((size_t)m * n, 4), *ref = mg_alloc_aligned((size_t)m * n, 4);
        b->ops->layernorm(b, x, y, g, bb, m, n, 1e-5f);
        mg_ref_layernorm(x, ref, g, bb, m, n, 1e-5f);
        double e = mg_test_nerr(y, ref, (size_t)m * n);
        CHECK_MSG(e < 1e-5, "layernorm %dx%d: normalized error %.3g", m, n, e);
        b->ops->layernorm(b, x, x, g, bb, m, n, 1e-5f); /* in place */
        CHECK(mg_test_nerr(x, ref, (size_t)m * n) < 1e-5);
        mg_free_aligned(x); mg_free_aligned(g); mg_free_aligned(bb); mg_free_aligned(y); mg_free_aligned(ref);
    }
}

static void test_attention(mg_backend *b) {
    int shapes[][4] = {{2, 50, 12, 64}, {1, 1, 4, 16}, {3, 7, 8, 64}, {1, 197, 12, 64}, {1, 257, 16, 64},
                       {4, 77, 8, 64}, {2, 5, 3, 16}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int B = shapes[s][0], S = shapes[s][1], H = shapes[s][2], hd = shapes[s][3], D = H * hd;
        float *qkv = rnd((size_t)B * S * 3 * D, 2.f);
        float *o = mg_alloc_aligned((size_t)B * S * D, 4), *ref = mg_alloc_aligned((size_t)B * S * D, 4);
        for (int causal = 0; causal <= 1; causal++) {
            b->ops->attention(b, qkv, o, B, S, H, hd, causal);
            mg_ref_attention(qkv, ref, B, S, H, hd, causal);
            double e = mg_test_nerr(o, ref, (size_t)B * S * D);
            CHECK_MSG(e < 1e-5, "attention B=%d S=%d H=%d hd=%d causal=%d: normalized error %.3g", B, S, H, hd,
                      causal, e);
        }
        mg_free_aligned(qkv); mg_free_aligned(o); mg_free_aligned(ref);
    }
}

static void test_expf(void) {
    double worst = 0;
    for (float x = -87.f; x <= 0.f; x += 0.001f) {
        double r = fabs(mg_k_expf(x) - exp((double)x)) / exp((double)x);
        if (r > worst) worst = r;
    }
    CHECK_MSG(worst < 3e-7, "expf relative error %.3g", worst);
    CHECK(mg_k_expf(-1000.f) == 0.f && mg_k_expf(0.f) == 1.f);
}

static void test_patchify_embed(mg_backend *b) {
    int B = 2, C = 3, S = 8, P = 4, g = 2, D = 5;
    float *px = rnd((size_t)B * C * S * S, 1.f), *pt = mg_alloc_aligned((size_t)B * C * S * S, 4);
    b->ops->patchify(b, px, pt, B, C, S, P);
    int ok = 1;
    for (int bi = 0; bi < B; bi++)
        for (int gy = 0; gy < g; gy++)
            for (int gx = 0; gx < g; gx++)
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < P; ky++)
                        for (int kx = 0; kx < P; kx++)
                            ok &= pt[((bi * g + gy) * g + gx) * C * P * P + (c * P + ky) * P + kx] ==
                                  px[((bi * C + c) * S + gy * P + ky) * S + gx * P + kx];
    CHECK(ok);
    float *po = rnd((size_t)B * g * g * D, 1.f), *cls = rnd(D, 1.f), *pos = rnd((size_t)(g * g + 1) * D, 1.f);
    float *x = mg_alloc_aligned((size_t)B * (g * g + 1) * D, 4);
    b->ops->embed_vision(b, po, cls, pos, x, B, g * g, D);
    CHECK(x[0] == cls[0] + pos[0] && x[(g * g + 1) * D + D + 2] == po[g * g * D + 2] + pos[D + 2]);
    int32_t ids[4] = {3, 1, 0, 2}, rows[2] = {3, 0};
    float *tok = rnd(4 * D, 1.f), *xt = mg_alloc_aligned(4 * D, 4), *gat = mg_alloc_aligned(2 * D, 4);
    b->ops->embed_text(b, ids, tok, pos, xt, 2, 2, D);
    CHECK(xt[D + 1] == tok[1 * D + 1] + pos[D + 1] && xt[2 * D] == tok[0] + pos[0]);
    b->ops->gather_rows(b, xt, rows, gat, 2, D);
    CHECK(!memcmp(gat, xt + 3 * D, D * 4) && !memcmp(gat + D, xt, D * 4));
    mg_free_aligned(px); mg_free_aligned(pt); mg_free_aligned(po); mg_free_aligned(cls); mg_free_aligned(pos);
    mg_free_aligned(x); mg_free_aligned(tok); mg_free_aligned(xt); mg_free_aligned(gat);
}

typedef struct { int *hits; } pool_arg;
static void pool_fn(void *a, int task, int thread) { __atomic_add_fetch(&((pool_arg *)a)->hits[task], 1, __ATOMIC_RELAXED); }

static void test_pool(void) {
    mg_pool *p;
    mg_error err;
    REQUIRE_V(mg_pool_open(3, NULL, NULL, &p, &err) == MG_OK);
    int hits[1000] = {0};
    pool_arg a = {hits};
    for (int r = 0; r < 200; r++) mg_pool_run(p, 1000, pool_fn, &a);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= hits[i] == 200;
    CHECK(ok);
    mg_pool_close(p);
    mg_pool_close(NULL);
}

/* Rows linears (linear_prepare_rows / rowgemm.c): against the double
 * reference on the widened weights; the fast kernel equal to the portable one
 * bit for bit; a row's result independent of M and of the other rows; q|k|v
 * segments; borrowed and copied weights. */
static void test_linear_rows(mg_backend *b) {
    int shapes[][3] = {{1, 64, 64}, {7, 100, 40}, {9, 512, 1536}, {3, 48, 33}, {20, 2048, 512}, {130, 96, 200},
                       {5, 17, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *x = rnd((size_t)m * k, 1.f), *w = rnd((size_t)n * k, 1.f / sqrtf((float)k)), *bias = rnd(n, 0.5f);
        float *y = mg_alloc_aligned((size_t)m * n, 4), *ref = mg_alloc_aligned((size_t)m * n, 4);
        float *y2 = mg_alloc_aligned((size_t)m * n, 4), *wide = mg_alloc_aligned((size_t)n * k, 4);
        uint16_t *h = mg_alloc_aligned((size_t)n * k, 2);
        for (int dt = 0; dt <= 2; dt++) {
            const void *wd = w;
            if (dt) {
                for (size_t i = 0; i < (size_t)n * k; i++) {
                    h[i] = dt == 1 ? mg_f32_to_f16(w[i]) : mg_f32_to_bf16(w[i]);
                    wide[i] = dt == 1 ? mg_f16_to_f32(h[i]) : mg_bf16_to_f32(h[i]);
                }
                wd = h;
            } else {
                memcpy(wide, w, (size_t)n * k * 4);
            }
            size_t esz = dt ? 2 : 4;
            /* three segments when n splits (q|k|v), else one */
            int nseg = n % 3 == 0 ? 3 : 1, rows = n / nseg;
            for (int borrow = 0; borrow <= 1; borrow++) {
                mg_linear_src src = {.n_out = n, .n_in = k, .dtype = dt, .n_seg = nseg, .bias = bias, .borrow = borrow};
                for (int i = 0; i < nseg; i++) {
                    src.seg[i] = (const uint8_t *)wd + (size_t)i * rows * k * esz;
                    src.seg_rows[i] = rows;
                }
                mg_linear *l;
                mg_error err;
                REQUIRE_V(b->ops->linear_prepare_rows(b, &src, &l, &err) == MG_OK);
                for (int act = MG_ACT_NONE; act <= MG_ACT_GELU; act++) {
                    b->ops->linear(b, l, x, y, m, act, 0);
                    mg_ref_linear(x, wide, bias, ref, m, n, k, act, 0);
                    double e = mg_test_nerr(y, ref, (size_t)m * n);
                    CHECK_MSG(e < 2e-6, "rows linear dt=%d m=%d k=%d n=%d act=%d: normalized error %.3g", dt, m, k,
                              n, act, e);
                    /* the portable kernel, bit for bit */
                    mg_rg_weights rw = {.n_out = n, .n_in = k, .dtype = dt, .n_seg = nseg, .bias = bias};
                    for (int i = 0; i < nseg; i++) {
                        rw.seg[i] = src.seg[i];
                        rw.seg_rows[i] = rows;
                    }
                    mg_rg_linear_ref(&rw, x, (size_t)k, y2, (size_t)n, m, 0, n, act, 0);
                    CHECK_MSG(!memcmp(y, y2, (size_t)m * n * 4), "rows linear dt=%d m=%d k=%d n=%d act=%d: fast "
                              "and portable kernels differ", dt, m, k, n, act);
                }
                /* each row alone (M = 1) gives the same bits as in the batch */
                int same = 1;
                b->ops->linear(b, l, x, y, m, MG_ACT_NONE, 0);
                for (int r = 0; r < m; r += r < 8 ? 1 : 13) {
                    b->ops->linear(b, l, x + (size_t)r * k, y2, 1, MG_ACT_NONE, 0);
                    same &= !memcmp(y2, y + (size_t)r * n, (size_t)n * 4);
                }
                CHECK_MSG(same, "rows linear dt=%d m=%d k=%d n=%d: a row differs between M=1 and M=%d", dt, m, k, n, m);
                /* accumulate */
                float *r = rnd((size_t)m * n, 1.f);
                memcpy(y, r, (size_t)m * n * 4);
                memcpy(ref, r, (size_t)m * n * 4);
                b->ops->linear(b, l, x, y, m, MG_ACT_NONE, MG_LIN_ACCUMULATE);
                mg_ref_linear(x, wide, bias, ref, m, n, k, MG_ACT_NONE, 1);
                CHECK_MSG(mg_test_nerr(y, ref, (size_t)m * n) < 2e-6, "rows linear+residual dt=%d m=%d k=%d n=%d", dt, m, k,
                          n);
                mg_free_aligned(r);
                b->ops->linear_free(b, l);
            }
        }
        mg_free_aligned(x); mg_free_aligned(w); mg_free_aligned(bias); mg_free_aligned(y);
        mg_free_aligned(ref); mg_free_aligned(y2); mg_free_aligned(wide); mg_free_aligned(h);
    }
    /* bad descriptions are refused */
    mg_linear *l;
    mg_error err;
    float w1[4] = {0};
    mg_linear_src bad = {.n_out = 2, .n_in = 2, .dtype = 0, .n_seg = 1, .seg = {w1}, .seg_rows = {3}};
    CHECK(b->ops->linear_prepare_rows(b, &bad, &l, &err) == MG_EINVAL);
    bad.seg_rows[0] = 2;
    bad.dtype = 7;
    CHECK(b->ops->linear_prepare_rows(b, &bad, &l, &err) == MG_EINVAL);
    printf("rowgemm: %s kernel\n", mg_rg_have_avx512() ? "AVX-512" : "portable");
}

/* The conversion kernels against their scalar references, bit for bit. */
static void test_quant_kernels(void) {
    int ns[] = {1, 7, 16, 33, 768, 3072};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int n = ns[t];
        float *x = rnd((size_t)n, 3.f);
        if (n > 5) x[5] = 0.f, x[3] = -x[3] * 40; /* an outlier */
        uint16_t *b1 = malloc((size_t)n * 2), *b2 = malloc((size_t)n * 2);
        mg_k_to_bf16(x, b1, (size_t)n);
        mg_ref_to_bf16(x, b2, (size_t)n);
        CHECK_MSG(!memcmp(b1, b2, (size_t)n * 2), "bf16 conversion n=%d", n);
        int8_t *q1 = malloc((size_t)n), *q2 = malloc((size_t)n);
        uint8_t *u1 = malloc((size_t)n), *u2 = malloc((size_t)n);
        float s1 = mg_k_quant_row_s8(x, q1, n), s2 = mg_ref_quant_row_s8(x, q2, n);
        CHECK_MSG(s1 == s2 && !memcmp(q1, q2, (size_t)n), "s8 quantization n=%d", n);
        float s3 = mg_k_quant_row_u8(x, u1, n), s4 = mg_ref_quant_row_u8(x, u2, n);
        CHECK_MSG(s3 == s4 && s3 == s1 && !memcmp(u1, u2, (size_t)n), "u8 quantization n=%d", n);
        int ok = 1;
        for (int i = 0; i < n; i++) ok &= u1[i] == (uint8_t)(q1[i] + 128) && fabsf(q1[i] * s1 - x[i]) <= s1 * 0.5001f;
        CHECK_MSG(ok, "quantization error above half a step (n=%d)", n);
        free(b1); free(b2); free(q1); free(q2); free(u1); free(u2);
        mg_free_aligned(x);
    }
    float z[4] = {0}, sz;
    int8_t qz[4];
    sz = mg_k_quant_row_s8(z, qz, 4);
    CHECK(sz == 1.f && qz[0] == 0 && qz[3] == 0);
    /* the int8 epilogue, every combination */
    int m = 5, n = 37;
    int32_t *acc = malloc((size_t)m * n * 4), comp[37];
    float sx[5], sw[37], *bias = rnd((size_t)n, 1.f), *y0 = rnd((size_t)m * n, 1.f);
    float *y1 = malloc((size_t)m * n * 4), *y2 = malloc((size_t)m * n * 4);
    for (int i = 0; i < m * n; i++) acc[i] = (int32_t)(frand() * 100000);
    for (int i = 0; i < n; i++) comp[i] = (int32_t)(frand() * 1000), sw[i] = 0.01f + fabsf(frand()) * 0.01f;
    for (int i = 0; i < m; i++) sx[i] = 0.001f + fabsf(frand()) * 0.01f;
    for (int act = MG_ACT_NONE; act <= MG_ACT_GELU; act++)
        for (int accu = 0; accu <= 1; accu++)
            for (int hb = 0; hb <= 1; hb++) {
                memcpy(y1, y0, (size_t)m * n * 4);
                memcpy(y2, y0, (size_t)m * n * 4);
                mg_k_dequant(acc, (size_t)n, m, n, comp, sx, sw, hb ? bias : NULL, act, accu, y1, (size_t)n);
                mg_ref_dequant(acc, (size_t)n, m, n, comp, sx, sw, hb ? bias : NULL, act, accu, y2, (size_t)n);
                CHECK_MSG(!memcmp(y1, y2, (size_t)m * n * 4), "dequant act=%d accumulate=%d bias=%d", act, accu, hb);
            }
    free(acc); free(y1); free(y2);
    mg_free_aligned(bias);
    mg_free_aligned(y0);
}

/* bf16 and int8 linears against the double reference: errors within what
 * the formats allow (bf16 has 8 mantissa bits, int8 ~7), int8 independent
 * of M bit for bit (int32 sums are exact). */
static void test_linear_reduced(mg_backend *b) {
    int shapes[][3] = {{1, 64, 64}, {7, 100, 40}, {50, 768, 2304}, {600, 96, 200}, {3, 48, 33}};
    for (int prec = MG_PREC_BF16; prec <= MG_PREC_INT8; prec++) {
        if (!(b->prec_mask & (1u << prec))) {
            printf("SKIP: %s GEMMs: this CPU lacks the instructions\n", mg_precision_name(prec));
            continue;
        }
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
            float *x = rnd((size_t)m * k, 1.f), *w = rnd((size_t)n * k, 1.f / sqrtf((float)k)), *bias = rnd(n, 0.5f);
            float *y = mg_alloc_aligned((size_t)m * n, 4), *ref = mg_alloc_aligned((size_t)m * n, 4);
            float *y1 = mg_alloc_aligned((size_t)n, 4);
            mg_linear *l;
            mg_error err;
            if (prec == MG_PREC_INT8) {
                int8_t *q = malloc((size_t)n * k);
                float *sc = malloc((size_t)n * 4);
                mg_quantize_rows_s8(w, n, k, q, sc);
                REQUIRE_V(b->ops->linear_prepare_q8(b, q, sc, bias, n, k, &l, &err) == MG_OK);
                free(q);
                free(sc);
            } else {
                REQUIRE_V(b->ops->linear_prepare(b, w, bias, n, k, prec, &l, &err) == MG_OK);
            }
            const double tol = prec == MG_PREC_BF16 ? 2e-2 : 3e-2;
            for (int act = MG_ACT_NONE; act <= MG_ACT_GELU; act++) {
                b->ops->linear(b, l, x, y, m, act, 0);
                mg_ref_linear(x, w, bias, ref, m, n, k, act, 0);
                double e = mg_test_nerr(y, ref, (size_t)m * n);
                CHECK_MSG(e < tol, "%s linear m=%d k=%d n=%d act=%d: normalized error %.3g", mg_precision_name(prec),
                          m, k, n, act, e);
            }
            float *r = rnd((size_t)m * n, 1.f);
            memcpy(y, r, (size_t)m * n * 4);
            memcpy(ref, r, (size_t)m * n * 4);
            b->ops->linear(b, l, x, y, m, MG_ACT_NONE, MG_LIN_ACCUMULATE);
            mg_ref_linear(x, w, bias, ref, m, n, k, MG_ACT_NONE, 1);
            CHECK_MSG(mg_test_nerr(y, ref, (size_t)m * n) < tol, "%s linear+residual m=%d k=%d n=%d", mg_precision_name(prec),
                      m, k, n);
            /* a row alone equals the row in the batch (bf16: also, via the 2-row GEMM for M = 1) */
            b->ops->linear(b, l, x, y, m, MG_ACT_NONE, 0);
            int same = 1;
            for (int row = 0; row < m; row += 1 + m / 4) {
                b->ops->linear(b, l, x + (size_t)row * k, y1, 1, MG_ACT_NONE, 0);
                same &= !memcmp(y1, y + (size_t)row * n, (size_t)n * 4);
            }
            if (prec == MG_PREC_INT8 || m <= 2 * 256)
                CHECK_MSG(same, "%s linear m=%d k=%d n=%d: a row differs between M=1 and M=%d", mg_precision_name(prec),
                          m, k, n, m);
            b->ops->linear_free(b, l);
            mg_free_aligned(x); mg_free_aligned(w); mg_free_aligned(bias); mg_free_aligned(y);
            mg_free_aligned(ref); mg_free_aligned(r); mg_free_aligned(y1);
        }
    }
    /* an unsupported precision is refused, not emulated */
    mg_linear *l;
    mg_error err;
    float w[16 * 16] = {0};
    if (!(b->prec_mask & (1u << MG_PREC_BF16)))
        CHECK(b->ops->linear_prepare(b, w, NULL, 16, 16, MG_PREC_BF16, &l, &err) == MG_EUNSUPPORTED);
    CHECK(b->ops->linear_prepare(b, w, NULL, 16, 16, MG_PREC_INT8, &l, &err) == MG_EINVAL);
}

/* normalize_u8 against mg_preprocess_normalize (the same table: bit for bit) */
static void test_normalize_u8(mg_backend *b) {
    const int n = 3, S = 37;
    size_t px = (size_t)S * S;
    uint8_t *rgb = malloc((size_t)n * px * 3);
    for (size_t i = 0; i < (size_t)n * px * 3; i++) rgb[i] = (uint8_t)(frand() * 128 + 128);
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    float lut[768], *got = mg_alloc_aligned((size_t)n * px * 3, sizeof(float)), *want = malloc((size_t)n * px * 3 * 4);
    mg_preprocess_lut(pp.mean, pp.std, lut);
    b->ops->normalize_u8(b, rgb, got, n, S, lut);
    for (int i = 0; i < n; i++) mg_preprocess_normalize(rgb + (size_t)i * px * 3, &pp, want + (size_t)i * px * 3);
    CHECK(memcmp(got, want, (size_t)n * px * 3 * sizeof(float)) == 0);
    free(rgb);
    mg_free_aligned(got);
    free(want);
}

/* ---------------- Whisper's ops ---------------- */

/* A set of attention_kv items laid out as Whisper's decoder holds them:
 * self-attention reads q from fused qkv rows (ld 3D) and K / V from separate
 * caches (ld D); cross-attention reads q rows (ld D) and K | V interleaved
 * per row (ld 2D, v = k + D). Outputs have ldo >= D; columns past D hold a
 * sentinel that no op may overwrite. */
#define KV_MAX 32
#define KV_SENTINEL 1234.5f
typedef struct {
    int n, heads, hd, causal, cross, ldq, ldkv, ldo;
    int nq[KV_MAX], nkv[KV_MAX];
    float *qb[KV_MAX], *kb[KV_MAX], *vb[KV_MAX];
    const float *q[KV_MAX], *k[KV_MAX], *v[KV_MAX];
    float *o[KV_MAX];
} kv_set;

static void kv_make(kv_set *s, int n, const int *nq, const int *nkv, int heads, int hd, int causal, int cross,
                    int ldo_pad) {
    memset(s, 0, sizeof *s);
    const int D = heads * hd;
    s->n = n, s->heads = heads, s->hd = hd, s->causal = causal, s->cross = cross;
    s->ldq = cross ? D : 3 * D;
    s->ldkv = cross ? 2 * D : D;
    s->ldo = D + ldo_pad;
    for (int i = 0; i < n; i++) {
        s->nq[i] = nq[i], s->nkv[i] = nkv[i];
        s->qb[i] = rnd((size_t)nq[i] * s->ldq, 2.f);
        s->q[i] = s->qb[i]; /* self: q is the first D columns of a qkv row */
        if (cross) {
            s->kb[i] = rnd((size_t)nkv[i] * s->ldkv, 2.f);
            s->k[i] = s->kb[i];
            s->v[i] = s->kb[i] + D;
        } else {
            s->kb[i] = rnd((size_t)nkv[i] * D, 2.f);
            s->vb[i] = rnd((size_t)nkv[i] * D, 2.f);
            s->k[i] = s->kb[i];
            s->v[i] = s->vb[i];
        }
        s->o[i] = mg_alloc_aligned((size_t)nq[i] * s->ldo, sizeof(float));
    }
}

static void kv_clear_out(kv_set *s, float **o) {
    for (int i = 0; i < s->n; i++)
        for (size_t t = 0; t < (size_t)s->nq[i] * s->ldo; t++) o[i][t] = KV_SENTINEL;
}

static mg_attn_kv kv_desc(const kv_set *s, float *const *o) {
    mg_attn_kv a = {s->n, s->q, s->k, s->v, o, s->nq, s->nkv, s->ldq, s->ldkv, s->ldo, s->heads, s->hd, s->causal};
    return a;
}

/* item i through mg_ref_attention_kv, head by head, into ref [nq][D] */
static void kv_ref(const kv_set *s, int i, float *ref) {
    const int D = s->heads * s->hd;
    for (int h = 0; h < s->heads; h++)
        mg_ref_attention_kv(s->q[i] + h * s->hd, s->ldq, s->k[i] + h * s->hd, s->v[i] + h * s->hd, s->ldkv,
                            ref + h * s->hd, D, s->nq[i], s->nkv[i], s->hd, s->causal);
}

static void kv_free(kv_set *s) {
    for (int i = 0; i < s->n; i++) {
        mg_free_aligned(s->qb[i]);
        mg_free_aligned(s->kb[i]);
        mg_free_aligned(s->vb[i]);
        mg_free_aligned(s->o[i]);
    }
}

typedef struct {
    int n, heads, hd, causal, cross, ldo_pad;
    int nq[KV_MAX], nkv[KV_MAX];
} kv_case;

/* Whisper's shapes: decode steps (n_q 1, n_kv 1..448 across the 16-key
 * padding boundaries), prompts (n_q 5, with and without a cached prefix),
 * cross-attention (n_kv 1500, not causal), head sizes 64, 32 and 24. */
static const kv_case kv_cases[] = {
    {16, 6, 64, 1, 0, 0, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
     {1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 448}},
    {4, 6, 64, 1, 0, 0, {5, 5, 3, 1}, {5, 12, 40, 448}},
    {3, 6, 64, 0, 1, 0, {1, 5, 2}, {1500, 1500, 1500}},
    {3, 4, 32, 1, 0, 0, {1, 4, 5}, {77, 4, 9}},
    {2, 8, 32, 0, 1, 0, {1, 5}, {1500, 1500}},
    {3, 5, 24, 1, 0, 8, {1, 3, 5}, {33, 200, 5}},
    {2, 5, 24, 0, 1, 3, {1, 3}, {1500, 1}},
    {1, 1, 24, 0, 0, 0, {4}, {10}},
};
#define N_KV_CASES (sizeof kv_cases / sizeof kv_cases[0])

/* attention_kv against mg_ref_attention_kv (normalized error as the other
 * attention tests), the padding columns untouched, each item's output the
 * same bits alone as among the others; with `other`, the same bits on a
 * backend with another thread count. */
static void test_attention_kv(mg_backend *b, mg_backend *other) {
    for (size_t c = 0; c < N_KV_CASES; c++) {
        const kv_case *kc = &kv_cases[c];
        kv_set s;
        kv_make(&s, kc->n, kc->nq, kc->nkv, kc->heads, kc->hd, kc->causal, kc->cross, kc->ldo_pad);
        const int D = s.heads * s.hd;
        kv_clear_out(&s, s.o);
        mg_attn_kv a = kv_desc(&s, s.o);
        b->ops->attention_kv(b, &a);
        float *alone[KV_MAX];
        for (int i = 0; i < s.n; i++) {
            float *ref = mg_alloc_aligned((size_t)s.nq[i] * D, sizeof(float));
            kv_ref(&s, i, ref);
            double worst = 0, mref = 0;
            int pad_ok = 1;
            for (int r = 0; r < s.nq[i]; r++) {
                for (int d = 0; d < D; d++) {
                    float g = s.o[i][(size_t)r * s.ldo + d], w = ref[(size_t)r * D + d];
                    double e = isnan(g) ? 1e30 : fabs((double)g - w);
                    worst = e > worst ? e : worst;
                    mref = fabs(w) > mref ? fabs(w) : mref;
                }
                for (int d = D; d < s.ldo; d++) pad_ok &= s.o[i][(size_t)r * s.ldo + d] == KV_SENTINEL;
            }
            double e = mref > 0 ? worst / mref : worst;
            CHECK_MSG(e < 1e-5, "attention_kv case %zu item %d (n_q %d, n_kv %d, H %d, hd %d, causal %d): normalized "
                      "error %.3g", c, i, s.nq[i], s.nkv[i], s.heads, s.hd, s.causal, e);
            CHECK_MSG(pad_ok, "attention_kv case %zu item %d: wrote past D columns", c, i);
            mg_free_aligned(ref);
            alone[i] = mg_alloc_aligned((size_t)s.nq[i] * s.ldo, sizeof(float));
        }
        /* each item alone (n = 1) gives the bits it got among the others */
        kv_clear_out(&s, alone);
        for (int i = 0; i < s.n; i++) {
            mg_attn_kv one = a;
            one.n = 1;
            one.q = s.q + i, one.k = s.k + i, one.v = s.v + i, one.out = alone + i;
            one.n_q = s.nq + i, one.n_kv = s.nkv + i;
            b->ops->attention_kv(b, &one);
            CHECK_MSG(!memcmp(alone[i], s.o[i], (size_t)s.nq[i] * s.ldo * sizeof(float)),
                      "attention_kv case %zu item %d: differs alone and among %d items", c, i, s.n);
        }
        if (other) {
            kv_clear_out(&s, alone);
            mg_attn_kv a2 = kv_desc(&s, alone);
            other->ops->attention_kv(other, &a2);
            for (int i = 0; i < s.n; i++)
                CHECK_MSG(!memcmp(alone[i], s.o[i], (size_t)s.nq[i] * s.ldo * sizeof(float)),
                          "attention_kv case %zu item %d: %d and %d threads differ", c, i, b->n_threads,
                          other->n_threads);
        }
        for (int i = 0; i < s.n; i++) mg_free_aligned(alone[i]);
        kv_free(&s);
    }
    /* no items: nothing happens */
    mg_attn_kv none = {0};
    none.heads = 1, none.head_dim = 8;
    b->ops->attention_kv(b, &none);
    CHECK(1);
}

/* Plain-loop im2col (conv1d k3 p1): cols[b][t][c*3 + j] = x[b][t*stride + j - 1][c]. */
static void ref_im2col1d(const float *x, float *cols, int batch, int t_in, int C, int stride) {
    const int t_out = (t_in - 1) / stride + 1;
    for (int bi = 0; bi < batch; bi++)
        for (int t = 0; t < t_out; t++)
            for (int c = 0; c < C; c++)
                for (int j = 0; j < 3; j++) {
                    int src = t * stride + j - 1;
                    cols[(((size_t)bi * t_out + t) * C + c) * 3 + j] =
                        src < 0 || src >= t_in ? 0.f : x[((size_t)bi * t_in + src) * C + c];
                }
}

static void test_im2col1d(mg_backend *b) {
    int cases[][4] = {{1, 3000, 80, 1}, {2, 3000, 64, 2}, {2, 11, 5, 2}, {1, 1, 3, 1}, {3, 7, 5, 1}, {1, 2, 4, 2},
                      {1, 1, 2, 2}, {5, 300, 17, 2}};
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        int B = cases[s][0], T = cases[s][1], C = cases[s][2], st = cases[s][3], t_out = (T - 1) / st + 1;
        size_t nc = (size_t)B * t_out * C * 3;
        float *x = rnd((size_t)B * T * C, 1.f), *got = mg_alloc_aligned(nc, 4), *want = mg_alloc_aligned(nc, 4);
        for (size_t i = 0; i < nc; i++) got[i] = NAN;
        b->ops->im2col1d(b, x, got, B, T, C, st);
        ref_im2col1d(x, want, B, T, C, st);
        CHECK_MSG(!memcmp(got, want, nc * 4), "im2col1d batch=%d t_in=%d C=%d stride=%d", B, T, C, st);
        mg_free_aligned(x); mg_free_aligned(got); mg_free_aligned(want);
    }
}

/* Conv1d (k3, p1, stride 1 or 2, + bias, optional GELU) end to end as
 * Whisper's encoder runs it: im2col1d + a linear over the weight
 * [out][C][3] flattened, against a direct double-precision convolution. */
static void test_conv1d(mg_backend *b) {
    int cases[][6] = {{2, 3000, 80, 48, 1, MG_ACT_GELU}, {2, 3000, 64, 64, 2, MG_ACT_GELU}, {1, 9, 7, 5, 2, MG_ACT_NONE},
                      {3, 10, 6, 33, 1, MG_ACT_NONE}};
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        int B = cases[s][0], T = cases[s][1], C = cases[s][2], O = cases[s][3], st = cases[s][4], act = cases[s][5];
        int t_out = (T - 1) / st + 1, K = C * 3;
        float *x = rnd((size_t)B * T * C, 1.f), *w = rnd((size_t)O * K, 1.f / sqrtf((float)K)), *bias = rnd(O, 0.5f);
        float *cols = mg_alloc_aligned((size_t)B * t_out * K, 4), *y = mg_alloc_aligned((size_t)B * t_out * O, 4);
        float *ref = mg_alloc_aligned((size_t)B * t_out * O, 4);
        mg_linear *l;
        mg_error err;
        REQUIRE_V(b->ops->linear_prepare(b, w, bias, O, K, MG_PREC_FP32, &l, &err) == MG_OK);
        b->ops->im2col1d(b, x, cols, B, T, C, st);
        b->ops->linear(b, l, cols, y, B * t_out, act, 0);
        for (int bi = 0; bi < B; bi++)
            for (int t = 0; t < t_out; t++)
                for (int o = 0; o < O; o++) {
                    double acc = bias[o];
                    for (int c = 0; c < C; c++)
                        for (int j = 0; j < 3; j++) {
                            int src = t * st + j - 1;
                            if (src >= 0 && src < T)
                                acc += (double)w[((size_t)o * C + c) * 3 + j] * x[((size_t)bi * T + src) * C + c];
                        }
                    if (act == MG_ACT_GELU) acc = 0.5 * acc * (1.0 + erf(acc / sqrt(2.0)));
                    ref[((size_t)bi * t_out + t) * O + o] = (float)acc;
                }
        double e = mg_test_nerr(y, ref, (size_t)B * t_out * O);
        CHECK_MSG(e < 2e-6, "conv1d batch=%d t_in=%d C=%d out=%d stride=%d act=%d: normalized error %.3g", B, T, C, O,
                  st, act, e);
        b->ops->linear_free(b, l);
        mg_free_aligned(x); mg_free_aligned(w); mg_free_aligned(bias); mg_free_aligned(cols);
        mg_free_aligned(y); mg_free_aligned(ref);
    }
}

/* add_rows: x[r] += y[r % y_rows], bit for bit the float sum */
static void test_add_rows(mg_backend *b) {
    int cases[][3] = {{7, 7, 64}, {3000, 1500, 48}, {5, 1, 3}, {1, 448, 384}, {9, 4, 17}};
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        int R = cases[s][0], Y = cases[s][1], D = cases[s][2];
        float *x = rnd((size_t)R * D, 1.f), *y = rnd((size_t)Y * D, 1.f), *want = mg_alloc_aligned((size_t)R * D, 4);
        for (int r = 0; r < R; r++)
            for (int d = 0; d < D; d++) want[(size_t)r * D + d] = x[(size_t)r * D + d] + y[(size_t)(r % Y) * D + d];
        b->ops->add_rows(b, x, y, R, Y, D);
        CHECK_MSG(!memcmp(x, want, (size_t)R * D * 4), "add_rows rows=%d y_rows=%d dim=%d", R, Y, D);
        mg_free_aligned(x); mg_free_aligned(y); mg_free_aligned(want);
    }
}

/* copy_rows as the decoder's KV-cache append uses it: the k and v parts of
 * qkv rows to scattered cache positions; other positions untouched. */
static void test_copy_rows(mg_backend *b) {
    enum { R = 9, D = 40, ctx = 32 };
    float *qkv = rnd((size_t)R * 3 * D, 1.f), *kc = mg_alloc_aligned((size_t)ctx * D, 4);
    float *vc = mg_alloc_aligned((size_t)ctx * D, 4);
    for (int i = 0; i < ctx * D; i++) kc[i] = vc[i] = KV_SENTINEL;
    const float *src[2 * R];
    float *dst[2 * R];
    int pos[R];
    for (int r = 0; r < R; r++) {
        pos[r] = (r * 7 + 3) % ctx; /* distinct positions */
        src[2 * r] = qkv + (size_t)r * 3 * D + D;
        dst[2 * r] = kc + (size_t)pos[r] * D;
        src[2 * r + 1] = qkv + (size_t)r * 3 * D + 2 * D;
        dst[2 * r + 1] = vc + (size_t)pos[r] * D;
    }
    b->ops->copy_rows(b, src, dst, 0, D); /* nothing */
    int untouched = 1;
    for (int i = 0; i < ctx * D; i++) untouched &= kc[i] == KV_SENTINEL && vc[i] == KV_SENTINEL;
    CHECK(untouched);
    b->ops->copy_rows(b, src, dst, 2 * R, D);
    int ok = 1;
    for (int p = 0; p < ctx; p++) {
        int r = -1;
        for (int k = 0; k < R; k++)
            if (pos[k] == p) r = k;
        for (int d = 0; d < D; d++) {
            float wk = r < 0 ? KV_SENTINEL : qkv[(size_t)r * 3 * D + D + d];
            float wv = r < 0 ? KV_SENTINEL : qkv[(size_t)r * 3 * D + 2 * D + d];
            ok &= kc[(size_t)p * D + d] == wk && vc[(size_t)p * D + d] == wv;
        }
    }
    CHECK_MSG(ok, "copy_rows: cache rows differ from the qkv rows copied (or untouched rows changed)");
    mg_free_aligned(qkv); mg_free_aligned(kc); mg_free_aligned(vc);
}

static void test_whisper_ops(mg_backend *b) {
    REQUIRE_V(b->ops->attention_kv && b->ops->im2col1d && b->ops->add_rows && b->ops->copy_rows);
    test_attention_kv(b, NULL);
    test_im2col1d(b);
    test_conv1d(b);
    test_add_rows(b);
    test_copy_rows(b);
}

/* Determinism across thread counts: 1 vs 2 threads, bit for bit. */
static void test_whisper_threads(void) {
    mg_backend *b1, *b2;
    mg_error err;
    REQUIRE_V(mg_backend_cpu_open(1, &b1, &err) == MG_OK);
    REQUIRE_V(mg_backend_cpu_open(2, &b2, &err) == MG_OK);
    test_attention_kv(b1, b2);
    /* im2col over many tasks: the same bits with either pool */
    int B = 3, T = 3000, C = 24;
    float *x = rnd((size_t)B * T * C, 1.f), *c1 = mg_alloc_aligned((size_t)B * 1500 * C * 3, 4);
    float *c2 = mg_alloc_aligned((size_t)B * 1500 * C * 3, 4);
    b1->ops->im2col1d(b1, x, c1, B, T, C, 2);
    b2->ops->im2col1d(b2, x, c2, B, T, C, 2);
    CHECK(!memcmp(c1, c2, (size_t)B * 1500 * C * 3 * 4));
    mg_free_aligned(x); mg_free_aligned(c1); mg_free_aligned(c2);
    mg_backend_close(b1);
    mg_backend_close(b2);
}

/* device specs -> device lists */
static void test_device_list(void) {
    mg_device_name d[MG_MAX_DEVICES];
    char notice[256];
    mg_error err;
    CHECK_EQ_INT(mg_backend_device_list("cpu", d, MG_MAX_DEVICES, notice, sizeof notice, &err), 1);
    CHECK_MSG(strcmp(d[0], "cpu") == 0, "got %s, want %s", d[0], "cpu");
    CHECK_MSG(strcmp(notice, "") == 0, "got %s, want %s", notice, "");
    CHECK_EQ_INT(mg_backend_device_list(NULL, d, MG_MAX_DEVICES, NULL, 0, &err), 1);
    CHECK_MSG(strcmp(d[0], "cpu") == 0, "got %s, want %s", d[0], "cpu");
    CHECK_EQ_INT(mg_backend_device_list("cuda", d, MG_MAX_DEVICES, NULL, 0, &err), 1);
    CHECK_MSG(strcmp(d[0], "cuda:0") == 0, "got %s, want %s", d[0], "cuda:0");
    CHECK_EQ_INT(mg_backend_device_list("cuda:0,1,3", d, MG_MAX_DEVICES, NULL, 0, &err), 3);
    CHECK_MSG(strcmp(d[1], "cuda:1") == 0, "got %s, want %s", d[1], "cuda:1");
    CHECK_MSG(strcmp(d[2], "cuda:3") == 0, "got %s, want %s", d[2], "cuda:3");
    CHECK_EQ_INT(mg_backend_device_list("cuda:2, cuda:0", d, MG_MAX_DEVICES, NULL, 0, &err), 2);
    CHECK_MSG(strcmp(d[0], "cuda:2") == 0, "got %s, want %s", d[0], "cuda:2");
    CHECK_MSG(strcmp(d[1], "cuda:0") == 0, "got %s, want %s", d[1], "cuda:0");
    CHECK_EQ_INT(mg_backend_device_list("cpu,cuda:1", d, MG_MAX_DEVICES, NULL, 0, &err), 2);
    CHECK_MSG(strcmp(d[1], "cuda:1") == 0, "got %s, want %s", d[1], "cuda:1");
    CHECK_EQ_INT(mg_backend_device_list("cpu,1", d, MG_MAX_DEVICES, NULL, 0, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "unknown device '1'");
    CHECK_EQ_INT(mg_backend_device_list("tpu", d, MG_MAX_DEVICES, NULL, 0, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_backend_device_list("cuda:x", d, MG_MAX_DEVICES, NULL, 0, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_backend_device_list("cuda:-1", d, MG_MAX_DEVICES, NULL, 0, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_backend_device_list(",", d, MG_MAX_DEVICES, NULL, 0, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_backend_device_list("cpu,cpu,cpu", d, 2, NULL, 0, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "too many devices");
    /* auto: every GPU, else the CPU, with a notice either way */
    int n = mg_backend_device_list("auto", d, MG_MAX_DEVICES, notice, sizeof notice, &err);
    CHECK(n >= 1);
    CHECK_STR_CONTAINS(notice, "device auto: ");
    if (!strcmp(d[0], "cpu")) {
        CHECK_EQ_INT(n, 1);
        CHECK_STR_CONTAINS(notice, "the CPU (");
    } else {
        for (int i = 0; i < n; i++) {
            char want[16];
            snprintf(want, sizeof want, "cuda:%d", i);
            CHECK_MSG(strcmp(d[i], want) == 0, "got %s, want %s", d[i], want);
        }
    }
}

int main(void) {
    test_expf();
    test_pool();
    test_quant_kernels();
    test_device_list();
    for (int nt = 1; nt <= 3; nt += 2) {
        mg_backend *b;
        mg_error err;
        REQUIRE(mg_backend_cpu_open(nt, &b, &err) == MG_OK);
        printf("backend: %s\n", b->name);
        test_linear(b);
        test_linear_rows(b);
        test_linear_reduced(b);
        test_layernorm(b);
        test_attention(b);
        test_patchify_embed(b);
        test_normalize_u8(b);
        test_whisper_ops(b);
        mg_backend_close(b);
    }
    test_whisper_threads();
    mg_backend *b;
    /* a CPU without bf16/VNNI (simulated): only fp32 offered, the others refused */
    setenv("MEDIAGREP_CPU_PRECISIONS", "fp32", 1);
    {
        mg_error e2;
        REQUIRE(mg_backend_cpu_open(2, &b, &e2) == MG_OK);
        CHECK(b->prec_mask == 1u << MG_PREC_FP32);
        test_linear_reduced(b);
        mg_backend_close(b);
    }
    unsetenv("MEDIAGREP_CPU_PRECISIONS");
    mg_backend_params bp = mg_backend_default_params();
    bp.device = "cuda:0";
    mg_error err;
    CHECK(mg_backend_open(&bp, &b, &err) == MG_EUNSUPPORTED);
    bp.device = "tpu";
    CHECK(mg_backend_open(&bp, &b, &err) == MG_EINVAL);
    return mg_test_finish();
}
