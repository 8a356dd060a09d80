/*
 * test_cli.c - end-to-end tests of the `mediagrep` binary: `embed --json`
 * on real photos and texts against the golden reference outputs (Pillow
 * preprocessing + float64 forward), token ids, input order, a bad input
 * that yields an error line and exit status 1 while the others still print,
 * --crop-out equal to Pillow's crop, usage errors (exit 2), and the offline
 * fallback to a random-weight model with its warning.
 */
#include "testlib.h"
#include "media/image.h"
#include "model/safetensors.h"

#include <json-c/json.h>
#include <sys/wait.h>

static char out_buf[1 << 22], err_path[512];

/* Runs a shell command, capturing stdout into out_buf; returns exit status. */
static int run(const char *cmd) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>%s", cmd, err_path);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out_buf, 1, sizeof out_buf - 1, p);
    out_buf[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int emb_of(json_object *o, float *v, int cap) {
    json_object *e;
    if (!json_object_object_get_ex(o, "embedding", &e)) return -1;
    int n = (int)json_object_array_length(e);
    for (int i = 0; i < n && i < cap; i++) v[i] = (float)json_object_get_double(json_object_array_get_idx(e, i));
    return n;
}

int main(void) {
    char *tmp = mg_test_tmpdir("cli");
    snprintf(err_path, sizeof err_path, "%s/stderr", tmp);
    char model[1024], golden[1024], photo[1024], cmd[8192];
    snprintf(model, sizeof model, "%s/tiny-p32", MG_TEST_MODELS);
    snprintf(golden, sizeof golden, "%s/models/tiny-p32.safetensors", MG_TEST_GOLDEN);
    snprintf(photo, sizeof photo, "%s/samples/images/chelsea.png", MG_SOURCE_DIR);
    mg_safetensors *g;
    mg_error err;
    REQUIRE(mg_st_open(golden, &g, &err) == MG_OK);
    const mg_st_tensor *ir = mg_st_find(g, "image_raw"), *tr = mg_st_find(g, "text_raw"),
                       *ids = mg_st_find(g, "text_ids"), *tl = mg_st_find(g, "text_len"), *px = mg_st_find(g, "pixels_u8");
    int P = (int)ir->shape[1];
    float *iw = malloc(ir->nbytes), *tw = malloc(tr->nbytes), got[1024];
    mg_st_to_f32(ir, iw, &err);
    mg_st_to_f32(tr, tw, &err);

    /* 1. embed: image, two texts, a missing image; raw embeddings vs golden */
    snprintf(cmd, sizeof cmd,
             "%s/mediagrep embed --model %s --json --raw --tokens --threads 2 --precision fp32 --image %s "
             "--text 'a photo of a cat' "
             "--image %s/nope.png --text 'a dog catching a frisbee'",
             MG_BUILD_DIR, model, photo, tmp);
    int rc = run(cmd);
    CHECK_EQ_INT(rc, 1); /* one input failed */
    char *save = NULL, *line = strtok_r(out_buf, "\n", &save);
    const char *types[4] = {"image", "text", "image", "text"};
    int golden_text[4] = {-1, 0, -1, 1};
    for (int i = 0; i < 4; i++, line = strtok_r(NULL, "\n", &save)) {
        REQUIRE(line);
        json_object *o = json_tokener_parse(line);
        REQUIRE(o);
        json_object *t, *e;
        CHECK(json_object_object_get_ex(o, "type", &t) && !strcmp(json_object_get_string(t), types[i]));
        if (i == 2) {
            CHECK(json_object_object_get_ex(o, "error", &e));
            CHECK_STR_CONTAINS(json_object_get_string(e), "nope.png");
            CHECK(!json_object_object_get_ex(o, "embedding", &e));
        } else if (i == 0) {
            CHECK(emb_of(o, got, 1024) == P);
            double c = mg_test_cosine(got, iw + 2 * P, P), mx = mg_test_maxabs(got, iw + 2 * P, P);
            CHECK_MSG(c >= 0.9999 && mx <= 1e-4, "photo embedding: cosine %.7f max abs %.3g", c, mx);
        } else {
            int k = golden_text[i];
            CHECK(emb_of(o, got, 1024) == P);
            double c = mg_test_cosine(got, tw + k * P, P), mx = mg_test_maxabs(got, tw + k * P, P);
            CHECK_MSG(c >= 0.9999 && mx <= 1e-4, "text %d: cosine %.7f max abs %.3g", k, c, mx);
            json_object *tk;
            REQUIRE(json_object_object_get_ex(o, "tokens", &tk));
            int n = (int)json_object_array_length(tk), ok = n == ((const int32_t *)tl->data)[k];
            for (int j = 0; ok && j < n; j++)
                ok = json_object_get_int(json_object_array_get_idx(tk, j)) ==
                     ((const int32_t *)ids->data)[k * ids->shape[1] + j];
            CHECK_MSG(ok, "token ids of text %d differ from the reference tokenizer", k);
        }
        json_object_put(o);
    }
    CHECK(line == NULL);
    /* reduced precisions (the default, auto, is int8 for images where the
     * CPU has VNNI): close to the reference, not equal; a CPU without the
     * instructions (simulated) falls back to fp32 with a notice */
    const char *precs[4] = {"bf16", "int8", "auto", NULL};
    const double min_cos[4] = {0.999, 0.99, 0.99};
    for (int pi = 0; precs[pi]; pi++) {
        snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --json --raw --precision %s --image %s --text "
                 "'a photo of a cat'", MG_BUILD_DIR, model, precs[pi], photo);
        CHECK_EQ_INT(run(cmd), 0);
        char *sv = NULL, *l1 = strtok_r(out_buf, "\n", &sv), *l2 = strtok_r(NULL, "\n", &sv);
        json_object *oi = l1 ? json_tokener_parse(l1) : NULL, *ot = l2 ? json_tokener_parse(l2) : NULL;
        REQUIRE(oi && ot && emb_of(oi, got, 1024) == P);
        double c = mg_test_cosine(got, iw + 2 * P, P);
        CHECK_MSG(c >= min_cos[pi], "%s photo embedding: cosine %.6f vs the fp32 reference", precs[pi], c);
        REQUIRE(emb_of(ot, got, 1024) == P);
        c = mg_test_cosine(got, tw, P);
        CHECK_MSG(c >= min_cos[pi], "%s text embedding: cosine %.6f vs the fp32 reference", precs[pi], c);
        json_object_put(oi);
        json_object_put(ot);
    }
    snprintf(cmd, sizeof cmd, "MEDIAGREP_CPU_PRECISIONS=fp32 %s/mediagrep embed --model %s --json --raw --precision "
             "int8 --image %s", MG_BUILD_DIR, model, photo);
    CHECK_EQ_INT(run(cmd), 0);
    {
        json_object *oi = json_tokener_parse(out_buf);
        REQUIRE(oi && emb_of(oi, got, 1024) == P);
        CHECK(mg_test_maxabs(got, iw + 2 * P, P) <= 1e-4); /* ran fp32 */
        json_object_put(oi);
        char *e = mg_test_read(err_path, NULL);
        CHECK(e && strstr(e, "int8 was asked for") && strstr(e, "AVX512_VNNI") && strstr(e, "running fp32"));
        free(e);
    }
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --precision fp16 --text x", MG_BUILD_DIR, model);
    CHECK_EQ_INT(run(cmd), 2);
    {
        char *e = mg_test_read(err_path, NULL);
        CHECK(e && strstr(e, "unknown --precision 'fp16'"));
        free(e);
    }
    /* the crop equals Pillow's */
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --image %s --crop-out %s/crop.png", MG_BUILD_DIR, model,
             photo, tmp);
    CHECK_EQ_INT(run(cmd), 0);
    char crop[1024];
    snprintf(crop, sizeof crop, "%s/crop.png", tmp);
    mg_image ci;
    if (mg_image_load(crop, NULL, &ci, &err) == MG_OK) {
        size_t n = (size_t)ci.width * ci.height * 3;
        CHECK(ci.width == 224 && ci.height == 224 && ci.channels == 3 &&
              !memcmp(ci.pixels, (const uint8_t *)px->data + 2 * n, n));
        mg_image_free(&ci);
    } else {
        CHECK_MSG(0, "crop not written: %s", err.msg);
    }
    /* 2. normalized by default: unit norm */
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --json --text hello", MG_BUILD_DIR, model);
    CHECK_EQ_INT(run(cmd), 0);
    json_object *o = json_tokener_parse(out_buf);
    REQUIRE(o && emb_of(o, got, 1024) == P);
    double nn = 0;
    for (int d = 0; d < P; d++) nn += (double)got[d] * got[d];
    CHECK(fabs(nn - 1) < 1e-5);
    json_object_put(o);
    /* 3. usage errors */
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s", MG_BUILD_DIR, model);
    CHECK_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --batch 0 --text x", MG_BUILD_DIR, model);
    CHECK_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model /nonexistent/m --text x", MG_BUILD_DIR);
    CHECK_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s/mediagrep frobnicate", MG_BUILD_DIR);
    CHECK_EQ_INT(run(cmd), 2);
    /* a text with invalid UTF-8 is an error line, not a crash */
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --json --text $'\\xff\\xfe' --text ok", MG_BUILD_DIR,
             model);
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s", "");
    char bcmd[8300];
    snprintf(bcmd, sizeof bcmd, "bash -c \"%s\"", cmd);
    CHECK_EQ_INT(run(bcmd), 1);
    CHECK_STR_CONTAINS(out_buf, "\"error\"");
    CHECK_STR_CONTAINS(out_buf, "\"input\":\"ok\",\"embedding\"");
    /* 4. videos: one line per sampled frame, in time order, with frame and time */
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i testsrc2=size=160x120:rate=10 -t 4 -c:v mpeg4 "
             "-g 10 %s/clip.avi", tmp);
    if (system(cmd) == 0) {
        snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --json --video %s/clip.avi --frames 3 --text x",
                 MG_BUILD_DIR, model, tmp);
        CHECK_EQ_INT(run(cmd), 0);
        int frames = 0;
        long long last_t = -1;
        char *sv = NULL;
        for (char *l = strtok_r(out_buf, "\n", &sv); l; l = strtok_r(NULL, "\n", &sv)) {
            json_object *vo = json_tokener_parse(l), *t, *ms, *fr;
            REQUIRE(vo);
            if (json_object_object_get_ex(vo, "type", &t) && !strcmp(json_object_get_string(t), "video")) {
                CHECK(json_object_object_get_ex(vo, "time_ms", &ms) && json_object_object_get_ex(vo, "frame", &fr));
                long long tm = json_object_get_int64(ms);
                CHECK(tm > last_t && tm < 4000);
                CHECK(json_object_get_int64(fr) == (tm + 50) / 100); /* 10 fps */
                last_t = tm;
                CHECK(emb_of(vo, got, 1024) == P);
                frames++;
            }
            json_object_put(vo);
        }
        CHECK_EQ_INT(frames, 3);
        snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --json --video %s/clip.avi --every 1", MG_BUILD_DIR,
                 model, tmp);
        CHECK_EQ_INT(run(cmd), 0);
        int lines = 0;
        for (char *q = out_buf; (q = strchr(q, '\n')); q++) lines++;
        CHECK_EQ_INT(lines, 4);
        /* a video given as --image is an error naming the file */
        snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --json --image %s/clip.avi", MG_BUILD_DIR, model, tmp);
        CHECK_EQ_INT(run(cmd), 1);
        CHECK_STR_CONTAINS(out_buf, "is a video");
    } else {
        printf("SKIP: ffmpeg cannot generate a test clip\n");
    }
    /* exact mode gives the same embedding for a PNG (nothing to shrink, no EXIF) */
    snprintf(cmd, sizeof cmd, "%s/mediagrep embed --model %s --json --raw --exact-preprocess --precision fp32 --image %s",
             MG_BUILD_DIR, model, photo);
    CHECK_EQ_INT(run(cmd), 0);
    o = json_tokener_parse(out_buf);
    REQUIRE(o && emb_of(o, got, 1024) == P);
    double mxe = mg_test_maxabs(got, iw + 2 * P, P);
    CHECK_MSG(mxe <= 1e-4, "exact mode photo: max abs %.3g", mxe);
    json_object_put(o);
    /* 5. offline fallback: no --model and nothing pulled -> random model, warned */
    snprintf(cmd, sizeof cmd, "MEDIAGREP_MODELS=%s/models %s/mediagrep embed --json --text 'a cat' --image %s",
             tmp, MG_BUILD_DIR, photo);
    CHECK_EQ_INT(run(cmd), 0);
    char *errs = mg_test_read(err_path, NULL);
    CHECK_STR_CONTAINS(errs, "RANDOM WEIGHTS");
    CHECK_STR_CONTAINS(errs, "NOT meaningful");
    free(errs);
    o = json_tokener_parse(out_buf);
    CHECK(o && emb_of(o, got, 1024) == 512);
    json_object_put(o);
    snprintf(cmd, sizeof cmd, "%s/models/mediagrep-random-vit-b-32/model.safetensors", tmp);
    CHECK(mg_test_skip_unless_exists(cmd) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    mg_st_close(g);
    free(iw);
    free(tw);
    free(tmp);
    return mg_test_finish();
}
