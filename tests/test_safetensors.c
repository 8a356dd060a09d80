/*
 * test_safetensors.c - the safetensors reader's validation (every malformed
 * header class is rejected with MG_EFORMAT and a message naming the tensor),
 * dtype conversions (F16/BF16 exhaustively), the writer round trip, and a
 * bounded mutation loop that must never crash (run under ASan+UBSan too).
 */
#include "testlib.h"
#include "model/safetensors.h"

#include <stdint.h>

/* Builds header + data into buf; returns total length. */
static size_t make_file(uint8_t *buf, size_t cap, const char *header, size_t data_len) {
    size_t hl = strlen(header);
    MG_ASSERT(8 + hl + data_len <= cap);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) buf[8 + hl + i] = (uint8_t)(i * 7 + 3);
    return 8 + hl + data_len;
}

static int open_hdr(const char *header, size_t data_len, mg_error *err) {
    static uint8_t buf[1 << 16];
    size_t n = make_file(buf, sizeof buf, header, data_len);
    mg_safetensors *st = NULL;
    int rc = mg_st_open_mem(buf, n, "t.safetensors", &st, err);
    mg_st_close(st);
    return rc;
}

static void test_valid(void) {
    uint8_t buf[4096];
    float f[6] = {1.5f, -2.f, 0.25f, 3.f, 1e-3f, -7.f};
    uint16_t h[2] = {mg_f32_to_f16(0.5f), mg_f32_to_f16(-3.25f)};
    uint16_t bf[2] = {mg_f32_to_bf16(2.f), mg_f32_to_bf16(-0.125f)};
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]},"
                      "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
                      "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[40,40]}}";
    size_t n = make_file(buf, sizeof buf, hdr, 40);
    size_t hl = strlen(hdr);
    memcpy(buf + 8 + hl, f, 24);
    memcpy(buf + 8 + hl + 24, h, 4);
    memcpy(buf + 8 + hl + 28, bf, 4);
    mg_safetensors *st;
    mg_error err;
    REQUIRE_V(mg_st_open_mem(buf, n, "v", &st, &err) == MG_OK);
    CHECK_EQ_INT(mg_st_count(st), 5);
    const mg_st_tensor *a = mg_st_find(st, "a");
    CHECK(a && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->numel == 6 && a->dtype == MG_DT_F32);
    CHECK(mg_st_find(st, "zzz") == NULL);
    CHECK(!strcmp(mg_st_at(st, 0)->name, "a")); /* sorted */
    float out[6];
    CHECK(mg_st_to_f32(a, out, &err) == MG_OK && !memcmp(out, f, 24));
    CHECK(mg_st_to_f32(mg_st_find(st, "b"), out, &err) == MG_OK && out[0] == 0.5f && out[1] == -3.25f);
    CHECK(mg_st_to_f32(mg_st_find(st, "c"), out, &err) == MG_OK && out[0] == 2.f && out[1] == -0.125f);
    const mg_st_tensor *s = mg_st_find(st, "s");
    CHECK(s && s->ndim == 0 && s->numel == 1);
    CHECK(mg_st_to_f32(s, out, &err) == MG_EUNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "'s'");
    CHECK(mg_st_find(st, "e")->numel == 0);
    mg_st_close(st);
}

static void expect_bad(const char *hdr, size_t data_len, const char *needle) {
    mg_error err = {0};
    int rc = open_hdr(hdr, data_len, &err);
    CHECK_MSG(rc == MG_EFORMAT, "header %s gave %d (%s)", hdr, rc, err.msg);
    if (needle) CHECK_STR_CONTAINS(err.msg, needle);
    CHECK_STR_CONTAINS(err.msg, "t.safetensors");
}

static void test_malformed(void) {
    mg_error err;
    mg_safetensors *st;
    uint8_t tiny[4] = {1, 2, 3, 4};
    CHECK(mg_st_open_mem(tiny, 4, "t.safetensors", &st, &err) == MG_EFORMAT);
    uint8_t big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    CHECK(mg_st_open_mem(big, 16, "t.safetensors", &st, &err) == MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "header length");
    uint8_t over[16] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(mg_st_open_mem(over, 16, "t.safetensors", &st, &err) == MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "truncated");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, "JSON");
    expect_bad("[1,2,3]", 0, "object");
    expect_bad("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'a'");
    expect_bad("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "'a'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dims");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}", 8, "outside");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin <= end");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "overflow");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "trailing");
    expect_bad("{\"__metadata__\":[1]}", 0, "__metadata__");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets");
    /* padding with spaces is legal */
    CHECK(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}      ", 8, &err) == MG_OK);
    /* missing file */
    CHECK(mg_st_open("/nonexistent/x.safetensors", &st, &err) == MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent/x.safetensors");
}

static void test_conversions(void) {
    int bad = 0;
    /* the bulk (F16C/AVX-512) widening is bit-identical to the scalar one
     * for every non-NaN pattern (the hardware quiets signaling NaNs, so a NaN
     * only has to stay a NaN); odd offset and length */
    {
        static uint16_t all[65536 + 3];
        static float a[65536 + 3], b[65536 + 3];
        for (uint32_t h = 0; h < 65536; h++) all[h + 1] = (uint16_t)h;
        mg_f16_to_f32_n(all + 1, a, 65535);
        mg_bf16_to_f32_n(all + 1, b, 65535);
        int diff = 0;
        for (uint32_t h = 0; h < 65535; h++) {
            float x = mg_f16_to_f32((uint16_t)h), y = mg_bf16_to_f32((uint16_t)h);
            diff += x == x ? memcmp(&a[h], &x, 4) != 0 : a[h] == a[h];
            diff += y == y ? memcmp(&b[h], &y, 4) != 0 : b[h] == b[h];
        }
        CHECK_EQ_INT(diff, 0);
    }
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mg_f16_to_f32((uint16_t)h);
        if (f != f) continue; /* NaN */
        if (mg_f32_to_f16(f) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(mg_f16_to_f32(0x3c00) == 1.f && mg_f16_to_f32(0xc000) == -2.f && mg_f16_to_f32(0x0001) == 5.9604645e-8f);
    CHECK(mg_f32_to_f16(65520.f) == 0x7c00);              /* rounds to inf */
    CHECK(mg_f32_to_f16(1.f + 1.f / 2048) == 0x3c00);     /* tie to even */
    CHECK(mg_f32_to_f16(1.f + 3.f / 2048) == 0x3c02);
    CHECK(mg_f32_to_bf16(1.f + 1.f / 256) == 0x3f80);     /* tie to even */
    CHECK(mg_f32_to_bf16(1.f + 3.f / 256) == 0x3f82);
    for (uint32_t b = 0; b < 65536; b++) {
        float f = mg_bf16_to_f32((uint16_t)b);
        if (f == f && mg_f32_to_bf16(f) != b) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_writer(void) {
    char *dir = mg_test_tmpdir("st");
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    float a[12], b[5];
    for (int i = 0; i < 12; i++) a[i] = (float)i * 0.37f - 2.f;
    for (int i = 0; i < 5; i++) b[i] = (float)i * 1.001f;
    int8_t q[6] = {-128, -1, 0, 1, 7, 127};
    mg_st_write_tensor t[4] = {{"x.weight", MG_DT_F32, 2, {3, 4}, a, NULL},
                               {"y", MG_DT_F16, 1, {5}, b, NULL},
                               {"z", MG_DT_BF16, 1, {5}, b, NULL},
                               {"q", MG_DT_I8, 2, {2, 3}, NULL, q}};
    mg_error err;
    REQUIRE_V(mg_st_write(path, t, 4, "{\"k\":\"v\",\"n\":3}", &err) == MG_OK);
    mg_safetensors *st;
    REQUIRE_V(mg_st_open(path, &st, &err) == MG_OK);
    float o[12];
    CHECK(mg_st_to_f32(mg_st_find(st, "x.weight"), o, &err) == MG_OK && !memcmp(o, a, sizeof a));
    CHECK(mg_st_to_f32(mg_st_find(st, "y"), o, &err) == MG_OK);
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= o[i] == mg_f16_to_f32(mg_f32_to_f16(b[i]));
    CHECK(ok);
    CHECK(mg_st_to_f32(mg_st_find(st, "z"), o, &err) == MG_OK);
    ok = 1;
    for (int i = 0; i < 5; i++) ok &= o[i] == mg_bf16_to_f32(mg_f32_to_bf16(b[i]));
    CHECK(ok);
    /* raw (I8) data as given; metadata strings */
    const mg_st_tensor *tq = mg_st_find(st, "q");
    CHECK(tq && tq->dtype == MG_DT_I8 && tq->nbytes == 6 && !memcmp(tq->data, q, 6));
    char mv[16];
    CHECK(mg_st_metadata(st, "k", mv, sizeof mv) == 1 && !strcmp(mv, "v"));
    CHECK(mg_st_metadata(st, "n", mv, sizeof mv) == 0);      /* not a string */
    CHECK(mg_st_metadata(st, "absent", mv, sizeof mv) == 0);
    mg_st_close(st);
    CHECK(mg_st_write(path, t, 3, "[1]", &err) == MG_EINVAL);
    mg_st_write_tensor bad = {"q", MG_DT_I8, 1, {2}, a, NULL}; /* I8 cannot be converted from floats */
    CHECK(mg_st_write(path, &bad, 1, NULL, &err) == MG_EINVAL);
    free(dir);
}

static void test_mutations(void) {
    uint8_t base[2048], buf[2048];
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                      "\"__metadata__\":{\"format\":\"pt\"}}";
    size_t n = make_file(base, sizeof base, hdr, 32);
    uint64_t s = 12345;
    int opened = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, base, n);
        size_t len = n;
        int muts = 1 + (int)(s % 4);
        for (int k = 0; k < muts; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(s >> 33) % len;
            switch ((s >> 20) % 4) {
            case 0: buf[pos] = (uint8_t)(s >> 40); break;
            case 1: buf[pos] ^= (uint8_t)(1u << ((s >> 45) % 8)); break;
            case 2: len = pos + 1; break;                    /* truncate */
            default: buf[pos] = "{}[],:\"0123456789-"[(s >> 50) % 18]; break;
            }
        }
        mg_safetensors *st = NULL;
        mg_error err;
        if (mg_st_open_mem(buf, len, "fuzz", &st, &err) == MG_OK) {
            opened++;
            float tmp[64];
            for (int i = 0; i < mg_st_count(st); i++) {
                const mg_st_tensor *t = mg_st_at(st, i);
                if (t->numel <= 64) mg_st_to_f32(t, tmp, &err);
            }
            mg_st_close(st);
        }
    }
    CHECK(opened > 0); /* some mutations leave the file valid */
    printf("mutations: %d of 20000 still valid\n", opened);
}

int main(void) {
    test_valid();
    test_malformed();
    test_conversions();
    test_writer();
    test_mutations();
    return mg_test_finish();
}
