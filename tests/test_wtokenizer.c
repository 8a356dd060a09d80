/*
 * test_wtokenizer.c - tests for Whisper's tokenizer (src/whisper/wtokenizer.c).
 *
 * - layouts: the special ids of n_vocab 51864/51865/51866 against the
 *   reference's rules (tests/golden/wtok/specials.json from
 *   scripts/ref_whisper_tokenizer.py) and hand-checked values;
 * - loading: multilingual.tiktoken and gpt2.tiktoken; whisper-base-hf's
 *   tokenizer.json and vocab.json + merges.txt give exactly the tiktoken
 *   ranks; a wrong layout for the HF files fails naming the mismatch;
 * - encode: the golden corpus on both rank tables; random text and random
 *   (often invalid) bytes against the live Python reference when
 *   /usr/bin/python3 has `regex`; the pre-tokenizer classes of every code
 *   point against the `regex` module's (golden); long pieces;
 * - decode: round trips, UTF-8 replacement against CPython (golden), across
 *   token boundaries, truncation, timestamps and specials by name;
 * - non_speech_tokens and languages (aliases, yue only for v3);
 * - hostile rank files and JSON (no crash, MG_EFORMAT / MG_ELIMIT);
 * - concurrent encodes.
 */
#include "testlib.h"
#include "whisper/wtokenizer.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define SHARED MG_SHARED_DIR "/whisper"
#define GOLD MG_TEST_GOLDEN "/wtok"
#define REF "/usr/bin/python3 " MG_SOURCE_DIR "/scripts/ref_whisper_tokenizer.py"

static mg_wtok *g_ml, *g_en;
static int32_t g_ids[1 << 20];
static int32_t g_byte_rank[256];

static json_object *read_json(const char *path) {
    size_t len = 0;
    char *buf = mg_test_read(path, &len);
    json_object *o = buf ? json_tokener_parse(buf) : NULL;
    free(buf);
    return o;
}

static int json_ids(json_object *arr, int32_t *ids, int cap) {
    int n = (int)json_object_array_length(arr);
    for (int i = 0; i < n && i < cap; i++) ids[i] = json_object_get_int(json_object_array_get_idx(arr, i));
    return n;
}

static int ids_eq(const int32_t *a, int na, const int32_t *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    fprintf(stderr, "    %s (%d):", label, n);
    for (int i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

/* Each line of a file into a callback. */
typedef void (*line_fn)(char *line, int lineno, void *ctx);
static int for_lines(const char *path, line_fn fn, void *ctx) {
    size_t len = 0;
    char *buf = mg_test_read(path, &len);
    if (!buf) return -1;
    int k = 0;
    for (char *s = buf; *s;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = 0;
        if (!nl && !*s) break; /* after the last newline */
        fn(s, k++, ctx);
        if (!nl) break;
        s = nl + 1;
    }
    free(buf);
    return k;
}

/* ------------------------------------------------------------------ */

static void test_layouts(void) {
    mg_wtok_specials sp;
    mg_error err;
    CHECK_EQ_INT(mg_wtok_layout(51865, &sp, &err), MG_OK);
    CHECK_EQ_INT(sp.eot, 50257);
    CHECK_EQ_INT(sp.sot, 50258);
    CHECK_EQ_INT(sp.lang_begin, 50259);
    CHECK_EQ_INT(sp.translate, 50358);
    CHECK_EQ_INT(sp.transcribe, 50359);
    CHECK_EQ_INT(sp.sot_lm, 50360);
    CHECK_EQ_INT(sp.sot_prev, 50361);
    CHECK_EQ_INT(sp.no_speech, 50362);
    CHECK_EQ_INT(sp.no_timestamps, 50363);
    CHECK_EQ_INT(sp.timestamp_begin, 50364);
    CHECK_EQ_INT(sp.n_langs, 99);
    CHECK_EQ_INT(sp.multilingual, 1);
    CHECK_EQ_INT(mg_wtok_layout(51864, &sp, &err), MG_OK);
    CHECK_EQ_INT(sp.eot, 50256);
    CHECK_EQ_INT(sp.multilingual, 0);
    CHECK_EQ_INT(sp.timestamp_begin, 50363);
    CHECK_EQ_INT(mg_wtok_layout(51866, &sp, &err), MG_OK);
    CHECK_EQ_INT(sp.n_langs, 100);
    CHECK_EQ_INT(sp.translate, 50359);
    CHECK_EQ_INT(sp.timestamp_begin, 50365);
    CHECK_EQ_INT(mg_wtok_layout(51863, &sp, &err), MG_EUNSUPPORTED);
    CHECK_EQ_INT(mg_wtok_layout(0, &sp, &err), MG_EUNSUPPORTED);
    CHECK_EQ_INT(mg_wtok_layout(51865, NULL, &err), MG_EINVAL);

    /* every named special of the golden against the layout and its name */
    json_object *g = read_json(GOLD "/specials.json");
    REQUIRE_V(g != NULL);
    const int sizes[3] = {51864, 51865, 51866};
    for (int s = 0; s < 3; s++) {
        char key[16], name[32];
        snprintf(key, sizeof key, "%d", sizes[s]);
        json_object *o, *names;
        REQUIRE_V(json_object_object_get_ex(g, key, &o) && json_object_object_get_ex(o, "specials", &names));
        mg_wtok_layout(sizes[s], &sp, NULL);
        int checked = 0;
        json_object_object_foreach(names, k, v) {
            int id = json_object_get_int(v);
            CHECK_MSG(mg_wtok_special_name(&sp, id, name, sizeof name) > 0 && strcmp(name, k) == 0,
                      "n_vocab %d: id %d is %s, reference %s", sizes[s], id, name, k);
            checked++;
        }
        CHECK(checked >= 14);
        CHECK_EQ_INT(mg_wtok_special_name(&sp, sp.eot - 1, name, sizeof name), -1);
        CHECK_EQ_INT(mg_wtok_special_name(&sp, sizes[s], name, sizeof name), -1);
        mg_wtok_special_name(&sp, sizes[s] - 1, name, sizeof name);
        CHECK(strcmp(name, "<|30.00|>") == 0);
    }
    json_object_put(g);
}

static void test_languages(void) {
    mg_wtok_specials v2, v3;
    mg_wtok_layout(51865, &v2, NULL);
    mg_wtok_layout(51866, &v3, NULL);
    CHECK(strcmp(mg_wtok_lang_code(0), "en") == 0 && strcmp(mg_wtok_lang_name(0), "english") == 0);
    CHECK(strcmp(mg_wtok_lang_code(1), "zh") == 0);
    CHECK(strcmp(mg_wtok_lang_code(98), "su") == 0 && strcmp(mg_wtok_lang_name(98), "sundanese") == 0);
    CHECK(strcmp(mg_wtok_lang_code(99), "yue") == 0 && strcmp(mg_wtok_lang_name(99), "cantonese") == 0);
    CHECK(strcmp(mg_wtok_lang_code(80), "ht") == 0 && strcmp(mg_wtok_lang_name(80), "haitian creole") == 0);
    CHECK(mg_wtok_lang_code(100) == NULL && mg_wtok_lang_code(-1) == NULL && mg_wtok_lang_name(100) == NULL);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "en"), 0);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "EN"), 0);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "English"), 0);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "german"), 2);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "burmese"), mg_wtok_lang_index(&v2, "my"));
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "my"), 87);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "Mandarin"), 1);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "castilian"), 3);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "moldovan"), mg_wtok_lang_index(&v2, "ro"));
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "valencian"), 11);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "haitian"), 80);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "haitian creole"), 80);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "sinhalese"), mg_wtok_lang_index(&v2, "si"));
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "jw"), 97);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "haw"), 93);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "yue"), -1);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "cantonese"), -1);
    CHECK_EQ_INT(mg_wtok_lang_index(&v3, "yue"), 99);
    CHECK_EQ_INT(mg_wtok_lang_index(&v3, "Cantonese"), 99);
    CHECK_EQ_INT(mg_wtok_lang_index(NULL, "yue"), 99);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, "klingon"), -1);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, ""), -1);
    CHECK_EQ_INT(mg_wtok_lang_index(&v2, NULL), -1);
    /* codes are distinct, and the language token of "en" is <|en|> */
    int dup = 0;
    for (int i = 0; i < 100; i++)
        for (int j = i + 1; j < 100; j++) dup += strcmp(mg_wtok_lang_code(i), mg_wtok_lang_code(j)) == 0;
    CHECK_EQ_INT(dup, 0);
    char name[32];
    mg_wtok_special_name(&v2, v2.lang_begin + mg_wtok_lang_index(&v2, "french"), name, sizeof name);
    CHECK(strcmp(name, "<|fr|>") == 0);
}

/* ------------------------------------------------------------------ */

typedef struct {
    int cases, bad, roundtrip_bad;
} enc_ctx;

static void golden_line(char *line, int k, void *vctx) {
    enc_ctx *c = vctx;
    json_object *o = json_tokener_parse(line), *jt, *jm, *jg;
    if (!o || !json_object_object_get_ex(o, "text", &jt) ||
        !json_object_object_get_ex(o, "multilingual", &jm) || !json_object_object_get_ex(o, "gpt2", &jg)) {
        c->bad++;
        json_object_put(o);
        return;
    }
    const char *text = json_object_get_string(jt);
    size_t len = (size_t)json_object_get_string_len(jt);
    static int32_t want[8192];
    mg_wtok *toks[2] = {g_ml, g_en};
    json_object *exp[2] = {jm, jg};
    for (int t = 0; t < 2; t++) {
        int nw = json_ids(exp[t], want, 8192);
        mg_error err;
        int n = mg_wtok_encode(toks[t], text, len, g_ids, 1 << 20, &err);
        if (!ids_eq(g_ids, n, want, nw)) {
            c->bad++;
            fprintf(stderr, "golden %d (%s): \"%.60s\" differs\n", k, t ? "gpt2" : "multilingual", text);
            print_ids("got", g_ids, n);
            print_ids("want", want, nw);
        }
        static char out[1 << 16];
        size_t dl = mg_wtok_decode(toks[t], g_ids, n, out, sizeof out);
        if (dl != len || memcmp(out, text, len) != 0) c->roundtrip_bad++;
    }
    c->cases++;
    json_object_put(o);
}

static void test_encode_golden(void) {
    enc_ctx c = {0, 0, 0};
    CHECK(for_lines(GOLD "/encode.jsonl", golden_line, &c) > 50);
    CHECK(c.cases > 50);
    CHECK_EQ_INT(c.bad, 0);
    CHECK_EQ_INT(c.roundtrip_bad, 0);
}

static void test_encode_basics(void) {
    mg_error err;
    int32_t ids[64];
    /* the empty text, a cap smaller than the count, bad arguments */
    CHECK_EQ_INT(mg_wtok_encode(g_ml, "", 0, ids, 64, &err), 0);
    CHECK_EQ_INT(mg_wtok_encode(g_ml, NULL, 0, NULL, 0, &err), 0);
    int n = mg_wtok_encode(g_ml, "Hello world, again and again", 28, ids, 64, &err);
    CHECK(n > 3);
    int32_t few[2] = {-7, -7};
    CHECK_EQ_INT(mg_wtok_encode(g_ml, "Hello world, again and again", 28, few, 1, &err), n);
    CHECK(few[0] == ids[0] && few[1] == -7);
    CHECK_EQ_INT(mg_wtok_encode(g_ml, "Hello", 5, NULL, 0, &err), 1);
    CHECK_EQ_INT(mg_wtok_encode(NULL, "x", 1, ids, 64, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_wtok_encode(g_ml, NULL, 3, ids, 64, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_wtok_encode(g_ml, "x", 1, NULL, 5, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_wtok_encode(g_ml, "x", 1, ids, -1, &err), MG_EINVAL);
    /* " Hello" is one token (tiktoken: 15947 in the multilingual table) */
    CHECK_EQ_INT(mg_wtok_encode(g_ml, " Hello", 6, ids, 64, &err), 1);
    size_t tl;
    const uint8_t *tb = mg_wtok_token_bytes(g_ml, ids[0], &tl);
    CHECK(tb && tl == 6 && memcmp(tb, " Hello", 6) == 0);
    CHECK(mg_wtok_token_bytes(g_ml, 50257, &tl) == NULL && tl == 0);
    CHECK(mg_wtok_token_bytes(g_ml, -1, &tl) == NULL);
    /* multilingual's rank 50256 is the empty token */
    CHECK(mg_wtok_token_bytes(g_ml, 50256, &tl) != NULL && tl == 0);
    /* NUL bytes are text like any other */
    n = mg_wtok_encode(g_ml, "a\0b", 3, ids, 64, &err);
    char out[16];
    CHECK(n >= 2 && mg_wtok_decode(g_ml, ids, n, out, sizeof out) == 3 && memcmp(out, "a\0b", 3) == 0);

    /* a long single piece: a MB of letters (heap merge, no quadratic scan) */
    size_t big = 1 << 20;
    char *s = malloc(big);
    uint32_t x = 12345;
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        s[i] = (char)('a' + (x >> 16) % 26);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = mg_wtok_encode(g_ml, s, big, g_ids, 1 << 20, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "1 MiB single-piece encode: %d ids, %.3f s\n", n,
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    CHECK(n > 100000 && n < (int)big);
    char *back = malloc(big + 1);
    CHECK(mg_wtok_decode(g_ml, g_ids, n, back, big + 1) == big && memcmp(back, s, big) == 0);
    /* a MB of spaces, then a word: whitespace runs split as the pattern says */
    memset(s, ' ', big);
    memcpy(s + big - 3, "end", 3);
    n = mg_wtok_encode(g_en, s, big, g_ids, 1 << 20, &err);
    CHECK(n > 0 && mg_wtok_decode(g_en, g_ids, n, back, big + 1) == big && memcmp(back, s, big) == 0);
    int32_t end_id;
    CHECK(mg_wtok_encode(g_en, " end", 4, &end_id, 1, &err) == 1 && g_ids[n - 1] == end_id);
    free(back);
    free(s);
}

/* ------------------------------------------------------------------ */

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

typedef struct {
    int cases, bad, bad_stream, bad_encode;
} dec_ctx;

static void invalid_line(char *line, int k, void *vctx) {
    dec_ctx *c = vctx;
    json_object *o = json_tokener_parse(line), *jh, *jt;
    if (!o || !json_object_object_get_ex(o, "hex", &jh) || !json_object_object_get_ex(o, "text", &jt)) {
        c->bad++;
        json_object_put(o);
        return;
    }
    const char *hex = json_object_get_string(jh), *want = json_object_get_string(jt);
    size_t wl = (size_t)json_object_get_string_len(jt), n = strlen(hex) / 2;
    uint8_t bytes[256];
    int32_t ids[256];
    for (size_t i = 0; i < n && i < 256; i++) {
        bytes[i] = (uint8_t)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
        ids[i] = g_byte_rank[bytes[i]];
    }
    char out[1024];
    size_t ol = mg_wtok_utf8_replace(bytes, n, out, sizeof out);
    if (ol != wl || memcmp(out, want, wl) != 0) {
        c->bad++;
        fprintf(stderr, "replace %d: %s -> %zu bytes, python %zu\n", k, hex, ol, wl);
    }
    /* the same bytes as single-byte tokens: the decoder streams across tokens */
    ol = mg_wtok_decode(g_ml, ids, (int)n, out, sizeof out);
    if (ol != wl || memcmp(out, want, wl) != 0) c->bad_stream++;
    /* encoding invalid bytes encodes their replacement */
    int na = mg_wtok_encode(g_ml, (const char *)bytes, n, g_ids, 4096, NULL);
    int nb = mg_wtok_encode(g_ml, want, wl, g_ids + 4096, 4096, NULL);
    if (!ids_eq(g_ids, na, g_ids + 4096, nb)) c->bad_encode++;
    c->cases++;
    json_object_put(o);
}

static void test_decode(void) {
    dec_ctx c = {0, 0, 0, 0};
    for (int r = 0; r < 50257; r++) {
        size_t tl = 0;
        const uint8_t *tb = mg_wtok_token_bytes(g_ml, r, &tl);
        if (tl == 1) g_byte_rank[tb[0]] = r;
    }
    CHECK(for_lines(GOLD "/decode_invalid.jsonl", invalid_line, &c) > 300);
    CHECK(c.cases > 300);
    CHECK_EQ_INT(c.bad, 0);
    CHECK_EQ_INT(c.bad_stream, 0);
    CHECK_EQ_INT(c.bad_encode, 0);

    /* "é" split over two byte tokens decodes whole; cut off, one U+FFFD */
    mg_error err;
    int32_t ids[64];
    int n = mg_wtok_encode(g_ml, "\xe6\x97\xa5", 3, ids, 64, &err); /* 日 */
    char out[128];
    CHECK(n >= 1 && mg_wtok_decode(g_ml, ids, n, out, sizeof out) == 3);
    /* truncation: NUL-terminated, cut at a character boundary, full length returned */
    n = mg_wtok_encode(g_ml, "ab\xc3\xa9", 4, ids, 64, &err);
    char small[4] = {'x', 'x', 'x', 'x'};
    CHECK_EQ_INT(mg_wtok_decode(g_ml, ids, n, small, sizeof small), 4);
    CHECK(strcmp(small, "ab") == 0);
    CHECK_EQ_INT(mg_wtok_decode(g_ml, ids, n, NULL, 0), 4);
    CHECK_EQ_INT(mg_wtok_decode(g_ml, ids, n, small, 1), 4);
    CHECK(small[0] == 0);
    /* specials and out-of-range ids are skipped by decode */
    const mg_wtok_specials *sp = mg_wtok_get_specials(g_ml);
    int32_t ta, tb;
    CHECK(mg_wtok_encode(g_ml, "a", 1, &ta, 1, &err) == 1 && mg_wtok_encode(g_ml, "b", 1, &tb, 1, &err) == 1);
    int32_t mix[] = {sp->sot, sp->lang_begin, sp->transcribe, sp->no_timestamps, ta, -5, 999999,
                     sp->timestamp_begin + 54, tb, sp->eot};
    CHECK_EQ_INT(mg_wtok_decode(g_ml, mix, 10, out, sizeof out), 2);
    CHECK(strcmp(out, "ab") == 0);
    mg_wtok_decode_with_timestamps(g_ml, mix, 10, out, sizeof out);
    CHECK(strcmp(out, "a<|1.08|>b") == 0);
    mg_wtok_decode_all(g_ml, mix, 10, out, sizeof out);
    CHECK(strcmp(out, "<|startoftranscript|><|en|><|transcribe|><|notimestamps|>a<|1.08|>b<|endoftext|>") == 0);

    /* timestamps of every layout against the reference's strings */
    json_object *g = read_json(GOLD "/specials.json");
    REQUIRE_V(g != NULL);
    mg_wtok *toks[3] = {g_en, g_ml, NULL};
    mg_wtok *v3 = NULL;
    CHECK_EQ_INT(mg_wtok_open_tiktoken(SHARED "/multilingual.tiktoken", 51866, &v3, &err), MG_OK);
    toks[2] = v3;
    const char *keys[3] = {"51864", "51865", "51866"};
    static char buf[1 << 16];
    static int32_t all[2048];
    for (int s = 0; s < 3 && toks[s]; s++) {
        json_object *o, *jt, *js, *jw;
        REQUIRE_V(json_object_object_get_ex(g, keys[s], &o) && json_object_object_get_ex(o, "timestamps", &jt) &&
                  json_object_object_get_ex(o, "sample_ids", &js) &&
                  json_object_object_get_ex(o, "sample_with_timestamps", &jw));
        const mg_wtok_specials *p = mg_wtok_get_specials(toks[s]);
        for (int i = 0; i < 1501; i++) all[i] = p->timestamp_begin + i;
        size_t l = mg_wtok_decode_with_timestamps(toks[s], all, 1501, buf, sizeof buf);
        CHECK_MSG(l == (size_t)json_object_get_string_len(jt) && strcmp(buf, json_object_get_string(jt)) == 0,
                  "timestamps of %s differ", keys[s]);
        CHECK_EQ_INT(mg_wtok_decode(toks[s], all, 1501, buf, sizeof buf), 0);
        int ns = json_ids(js, all, 2048);
        mg_wtok_decode_with_timestamps(toks[s], all, ns, buf, sizeof buf);
        CHECK_MSG(strcmp(buf, json_object_get_string(jw)) == 0, "%s: \"%s\" vs \"%s\"", keys[s], buf,
                  json_object_get_string(jw));
    }
    mg_wtok_close(v3);
    json_object_put(g);
}

static void test_non_speech(void) {
    json_object *g = read_json(GOLD "/specials.json");
    REQUIRE_V(g != NULL);
    mg_wtok *toks[2] = {g_en, g_ml};
    const char *keys[2] = {"51864", "51865"};
    for (int s = 0; s < 2; s++) {
        json_object *o, *jn;
        REQUIRE_V(json_object_object_get_ex(g, keys[s], &o) && json_object_object_get_ex(o, "non_speech", &jn));
        int32_t want[256], got[256];
        int nw = json_ids(jn, want, 256);
        int n = mg_wtok_non_speech_tokens(toks[s], got, 256);
        CHECK_MSG(ids_eq(got, n, want, nw), "%s: non_speech_tokens %d ids, reference %d", keys[s], n, nw);
        if (!ids_eq(got, n, want, nw)) print_ids("got", got, n), print_ids("want", want, nw);
        CHECK(n > 50);
        CHECK_EQ_INT(mg_wtok_non_speech_tokens(toks[s], got, 3), n);
        CHECK_EQ_INT(mg_wtok_non_speech_tokens(toks[s], NULL, 0), n);
    }
    json_object_put(g);
}

/* The pre-tokenizer's classes of all code points against `regex`'s. */
static void test_classes(void) {
    size_t len = 0;
    char *buf = mg_test_read(GOLD "/classes.txt", &len);
    REQUIRE_V(buf != NULL);
    int ranges = 0, bad = 0;
    uint32_t next = 0;
    for (char *s = buf; *s;) {
        unsigned lo, hi;
        char k;
        if (sscanf(s, "%x %x %c", &lo, &hi, &k) != 3) break;
        CHECK(lo == next);
        int want = k == 's' ? 0 : k == 'L' ? 1 : k == 'N' ? 2 : 3;
        for (uint32_t c = lo; c <= hi; c++) {
            if (c >= 0xD800 && c <= 0xDFFF) continue;
            if (mg_wtok_char_class(c) != want && bad++ < 10)
                fprintf(stderr, "U+%04X: class %d, regex %d\n", c, mg_wtok_char_class(c), want);
        }
        next = hi + 1;
        ranges++;
        char *nl = strchr(s, '\n');
        if (!nl) break;
        s = nl + 1;
    }
    free(buf);
    CHECK(ranges > 1000);
    CHECK_EQ_INT(next, 0x110000);
    CHECK_EQ_INT(bad, 0);
}

/* ------------------------------------------------------------------ */

static int same_ranks(const mg_wtok *a, const mg_wtok *b) {
    for (int r = 0;; r++) {
        size_t la, lb;
        const uint8_t *pa = mg_wtok_token_bytes(a, r, &la), *pb = mg_wtok_token_bytes(b, r, &lb);
        if (!pa || !pb) return !pa && !pb && r == mg_wtok_get_specials(a)->eot;
        if (la != lb || memcmp(pa, pb, la) != 0) {
            fprintf(stderr, "rank %d differs\n", r);
            return 0;
        }
    }
}

static void test_hf(void) {
    mg_error err;
    mg_wtok *hf = NULL, *vj = NULL;
    int rc = mg_wtok_open_dir(SHARED "/whisper-base-hf", 51865, &hf, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    if (hf) CHECK(same_ranks(hf, g_ml));
    /* vocab.json + merges.txt (+ added_tokens.json) */
    char *dir = mg_test_tmpdir("wtok");
    REQUIRE_V(dir != NULL);
    CHECK_EQ_INT(mg_test_sh("ln -s %s/whisper-base-hf/vocab.json %s/vocab.json && ln -s "
                            "%s/whisper-base-hf/merges.txt %s/merges.txt", SHARED, dir, SHARED, dir), 0);
    rc = mg_wtok_open_dir(dir, 51865, &vj, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    if (vj) CHECK(same_ranks(vj, g_ml));
    mg_wtok_close(vj);
    vj = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    const char *good = "{\"<|endoftext|>\": 50257, \"<|startoftranscript|>\": 50258, \"<|en|>\": 50259, "
                       "\"<|transcribe|>\": 50359, \"<|nocaptions|>\": 50362, \"<|notimestamps|>\": 50363, "
                       "\"<|0.00|>\": 50364, \"<|30.00|>\": 51864}";
    mg_test_write(path, good, strlen(good));
    CHECK_EQ_INT(mg_wtok_open_dir(dir, 51865, &vj, &err), MG_OK);
    mg_wtok_close(vj);
    vj = NULL;
    const char *bad = "{\"<|endoftext|>\": 50257, \"<|startoftranscript|>\": 50258, \"<|notimestamps|>\": 50364}";
    mg_test_write(path, bad, strlen(bad));
    CHECK_EQ_INT(mg_wtok_open_dir(dir, 51865, &vj, &err), MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "50364");
    CHECK_STR_CONTAINS(err.msg, "<|notimestamps|>");
    CHECK(vj == NULL);
    mg_test_sh("rm -rf %s", dir);
    free(dir);

    /* a layout the files do not have */
    mg_wtok *x = NULL;
    CHECK_EQ_INT(mg_wtok_open_dir(SHARED "/whisper-base-hf", 51866, &x, &err), MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "<|translate|>");
    fprintf(stderr, "HF files as v3: %s\n", err.msg);
    CHECK_EQ_INT(mg_wtok_open_dir(SHARED "/whisper-base-hf", 51864, &x, &err), MG_EFORMAT);
    fprintf(stderr, "HF files as English-only: %s\n", err.msg);
    CHECK_EQ_INT(mg_wtok_open_dir(SHARED "/whisper-base-hf", 50000, &x, &err), MG_EUNSUPPORTED);
    CHECK_EQ_INT(mg_wtok_open_dir(SHARED "/no-such-dir", 51865, &x, &err), MG_ENOTFOUND);
    CHECK(x == NULL);
    /* the English-only table as multilingual: rank count mismatch */
    CHECK_EQ_INT(mg_wtok_open_tiktoken(SHARED "/gpt2.tiktoken", 51865, &x, &err), MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "50257");
    CHECK(mg_wtok_open_tiktoken(SHARED "/none.tiktoken", 51865, &x, &err) < 0 && x == NULL);
    mg_wtok_close(hf);
}

/* Hostile inputs: each must fail cleanly (ASan/UBSan watch the rest). */
static void test_hostile(void) {
    mg_error err;
    mg_wtok *t = NULL;
    size_t len = 0;
    char *real = mg_test_read(SHARED "/multilingual.tiktoken", &len);
    REQUIRE_V(real != NULL);
    CHECK_EQ_INT(mg_wtok_open_tiktoken_mem(real, len, 51865, &t, &err), MG_OK);
    mg_wtok_close(t);
    t = NULL;
    /* \r\n line ends are accepted */
    char *crlf = malloc(2 * len);
    size_t cl = 0;
    for (size_t i = 0; i < len; i++) {
        if (real[i] == '\n') crlf[cl++] = '\r';
        crlf[cl++] = real[i];
    }
    CHECK_EQ_INT(mg_wtok_open_tiktoken_mem(crlf, cl, 51865, &t, &err), MG_OK);
    mg_wtok_close(t);
    t = NULL;
    free(crlf);
    struct { const char *text; int rc; const char *msg; } cases[] = {
        {"", MG_EFORMAT, "rank 0 is missing"},
        {"IQ== 0\n", MG_EFORMAT, "missing"},
        {"IQ== 0\nIQ== 1\n", MG_EFORMAT, "missing"},
        {"IQ== 0\nIg== 0\n", MG_EFORMAT, "twice"},
        {"IQ== 99999\n", MG_EFORMAT, "outside"},
        {"IQ== -1\n", MG_EFORMAT, "line 1"},
        {"IQ==\n", MG_EFORMAT, "line 1"},
        {"IQ== 1 2\n", MG_EFORMAT, "line 1"},
        {"I*== 1\n", MG_EFORMAT, "line 1"},
        {"I 1\n", MG_EFORMAT, "line 1"},
        {"IQ== 99999999999999999999\n", MG_EFORMAT, "line 1"},
        {"IQ== 0\n\nIg== x\n", MG_EFORMAT, "line 3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = mg_wtok_open_tiktoken_mem(cases[i].text, strlen(cases[i].text), 51865, &t, &err);
        CHECK_MSG(rc == cases[i].rc && strstr(err.msg, cases[i].msg) && t == NULL, "case %zu: %d %s", i, rc, err.msg);
    }
    /* a token longer than the limit */
    size_t bl = 8000;
    char *big = malloc(bl + 8);
    memset(big, 'Q', bl);
    memcpy(big + bl, " 5\n", 4);
    CHECK_EQ_INT(mg_wtok_open_tiktoken_mem(big, bl + 3, 51865, &t, &err), MG_ELIMIT);
    /* the longest accepted base64 field (1368 characters) decodes to 1026 bytes: over the limit */
    memcpy(big + 1368, " 5\n", 4);
    CHECK_EQ_INT(mg_wtok_open_tiktoken_mem(big, 1368 + 3, 51865, &t, &err), MG_ELIMIT);
    CHECK_STR_CONTAINS(err.msg, "1026 bytes");
    memcpy(big + 1364, " 5\n", 4); /* 1023 bytes: accepted, then rank 0 is missing */
    CHECK_EQ_INT(mg_wtok_open_tiktoken_mem(big, 1364 + 3, 51865, &t, &err), MG_EFORMAT);
    free(big);
    /* the real file with one byte token dropped (rank renumbered): byte missing */
    {
        char *copy = malloc(len + 1);
        memcpy(copy, real, len);
        copy[len] = 0;
        /* line 1 is "IQ== 0": turn it into a 2-byte token "!!" (IyE= is "#!", use "ISE=") */
        CHECK(memcmp(copy, "IQ== 0", 6) == 0);
        memcpy(copy, "ISE= 0", 6);
        int rc = mg_wtok_open_tiktoken_mem(copy, len, 51865, &t, &err);
        CHECK_MSG(rc == MG_EFORMAT, "%d %s", rc, err.msg); /* "!!" is already rank 1432 */
        free(copy);
    }
    free(real);
    /* JSON */
    const char *jcases[] = {
        "", "{", "[]", "{\"model\": 1}", "{\"model\": {\"vocab\": []}}",
        "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
        "{\"model\": {\"vocab\": {\"a\": \"x\"}}}", "{\"model\": {\"vocab\": {\"a\": 1e9}}}",
        "{\"model\": {\"vocab\": {\"\\u4e2d\": 0}}}", "{\"model\": {\"vocab\": {\"a\": -3}}}",
        "{\"model\": {\"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": 50257}]}",
        "{\"model\": {\"vocab\": {\"<|endoftext|>\": 50258}}}",
        "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 0}}}",
        "{\"model\": {\"vocab\": {\"a\": 0}}}",
    };
    for (size_t i = 0; i < sizeof jcases / sizeof jcases[0]; i++) {
        int rc = mg_wtok_open_hf_mem(jcases[i], strlen(jcases[i]), 51865, &t, &err);
        CHECK_MSG(rc < 0 && t == NULL && err.msg[0], "json case %zu: %d", i, rc);
        rc = mg_wtok_open_vocab_mem(jcases[i], strlen(jcases[i]), "{\"x\": 3}", 8, "#version\na b\n", 13,
                                    51865, &t, &err);
        CHECK_MSG(rc < 0 && t == NULL, "vocab case %zu: %d", i, rc);
    }
    /* merges out of rank order are refused */
    size_t vl = 0;
    char *voc = mg_test_read(SHARED "/whisper-base-hf/vocab.json", &vl);
    REQUIRE_V(voc != NULL);
    const char *m1 = "#version: 0.2\n\xc4\xa0 t\n\xc4\xa0 a\n";
    const char *m2 = "#version: 0.2\n\xc4\xa0 a\n\xc4\xa0 t\n";
    const char *m3 = "#version: 0.2\nzzq zzq\n";
    int rc1 = mg_wtok_open_vocab_mem(voc, vl, NULL, 0, m1, strlen(m1), 51865, &t, &err);
    CHECK_MSG(rc1 == MG_OK, "%s", err.msg);
    mg_wtok_close(t);
    t = NULL;
    CHECK_EQ_INT(mg_wtok_open_vocab_mem(voc, vl, NULL, 0, m2, strlen(m2), 51865, &t, &err), MG_EUNSUPPORTED);
    CHECK_EQ_INT(mg_wtok_open_vocab_mem(voc, vl, NULL, 0, m3, strlen(m3), 51865, &t, &err), MG_EFORMAT);
    free(voc);
    /* bad arguments */
    CHECK_EQ_INT(mg_wtok_open_tiktoken(NULL, 51865, &t, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_wtok_open_dir(NULL, 51865, &t, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_wtok_open_tiktoken_mem(NULL, 5, 51865, &t, &err), MG_EINVAL);
    mg_wtok_close(NULL);
    CHECK(mg_wtok_get_specials(NULL) == NULL);
}

/* ------------------------------------------------------------------ */
/* the live Python reference                                          */

typedef struct {
    char **texts;
    size_t *lens;
    int n, cap;
} texts;

static void text_line(char *line, int k, void *vctx) {
    (void)k;
    texts *t = vctx;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->texts = realloc(t->texts, (size_t)t->cap * sizeof *t->texts);
        t->lens = realloc(t->lens, (size_t)t->cap * sizeof *t->lens);
    }
    size_t n = strlen(line) / 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
    s[n] = 0;
    t->texts[t->n] = s;
    t->lens[t->n++] = n;
}

typedef struct {
    const mg_wtok *tok;
    texts *tx;
    int bad;
} cmp_ctx;

static void ids_line(char *line, int k, void *vctx) {
    cmp_ctx *c = vctx;
    static int32_t want[16384];
    json_object *o = json_tokener_parse(line);
    int nw = o ? json_ids(o, want, 16384) : -1;
    json_object_put(o);
    int n = k < c->tx->n ? mg_wtok_encode(c->tok, c->tx->texts[k], c->tx->lens[k], g_ids, 1 << 20, NULL) : -2;
    if (!ids_eq(g_ids, n, want, nw)) {
        if (c->bad++ < 5) {
            fprintf(stderr, "live case %d differs (%zu bytes)\n", k, k < c->tx->n ? c->tx->lens[k] : 0);
            print_ids("got", g_ids, n);
            print_ids("want", want, nw);
        }
    }
}

static void test_live_reference(void) {
    if (access("/usr/bin/python3", X_OK) != 0 || mg_test_sh("/usr/bin/python3 -c 'import regex' 2>/dev/null") != 0) {
        fprintf(stderr, "SKIP live reference: /usr/bin/python3 with regex not available\n");
        return;
    }
    char *dir = mg_test_tmpdir("wtoklive");
    REQUIRE_V(dir != NULL);
    /* random texts from the reference's generator, as hex of UTF-8 */
    CHECK_EQ_INT(mg_test_sh(REF " random 20240930 600 | /usr/bin/python3 -c 'import sys,json\n"
                            "for l in sys.stdin: print(json.loads(l).encode().hex())' > %s/in.hex", dir), 0);
    /* plus random bytes (mostly invalid UTF-8), long words and mixed runs made here */
    char path[512];
    snprintf(path, sizeof path, "%s/in.hex", dir);
    FILE *f = fopen(path, "a");
    REQUIRE_V(f != NULL);
    uint32_t x = 77;
    for (int k = 0; k < 300; k++) {
        int n = 1 + k % 48;
        for (int i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            int b = (int)(x >> 24);
            if (k % 3 == 0) b = " a'sb\t\n.0\xc3\xa9\xe2\x99\xaa"[b % 14] & 0xFF;
            fprintf(f, "%02x", b);
        }
        fputc('\n', f);
    }
    const char *words[] = {"the", "nation", "x", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "12", " ", "  ", "'s"};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 3000; i++) {
            x = x * 1664525u + 1013904223u;
            if (k == 0) fprintf(f, "%02x", 'a' + (x >> 16) % 26);
            else {
                const char *w = words[(x >> 16) % 9];
                for (const char *p = w; *p; p++) fprintf(f, "%02x", (unsigned char)*p);
                if (k == 2 && i % 7 == 0) fprintf(f, "%02x", ' ');
            }
        }
        fputc('\n', f);
    }
    fclose(f);
    texts tx = {0};
    CHECK(for_lines(path, text_line, &tx) == 903);
    const char *tables[2] = {"multilingual", "gpt2"};
    mg_wtok *toks[2] = {g_ml, g_en};
    for (int t = 0; t < 2; t++) {
        CHECK_EQ_INT(mg_test_sh(REF " encode-hex %s/%s.tiktoken < %s/in.hex > %s/%s.ids", SHARED, tables[t], dir,
                                dir, tables[t]), 0);
        char ip[512];
        snprintf(ip, sizeof ip, "%s/%s.ids", dir, tables[t]);
        cmp_ctx c = {toks[t], &tx, 0};
        CHECK_EQ_INT(for_lines(ip, ids_line, &c), tx.n);
        CHECK_MSG(c.bad == 0, "%s: %d of %d live cases differ", tables[t], c.bad, tx.n);
    }
    for (int i = 0; i < tx.n; i++) free(tx.texts[i]);
    free(tx.texts);
    free(tx.lens);
    mg_test_sh("rm -rf %s", dir);
    free(dir);
}

/* ------------------------------------------------------------------ */

static void *thread_main(void *arg) {
    const char *text = arg;
    int32_t ids[256], ref[256];
    int nr = mg_wtok_encode(g_ml, text, strlen(text), ref, 256, NULL);
    long bad = 0;
    for (int i = 0; i < 300; i++) {
        int n = mg_wtok_encode(g_ml, text, strlen(text), ids, 256, NULL);
        bad += !ids_eq(ids, n, ref, nr);
    }
    return (void *)bad;
}

static void test_threads(void) {
    const char *texts[4] = {" And so my fellow Americans, ask not", "日本語のテキスト 123 ♪♪♪",
                            "I'm here,   they'll see\n\n", "Café naïve 👍🏽 (laughs)"};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread_main, (void *)texts[i]);
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void) {
    if (mg_test_skip_unless_exists(SHARED "/multilingual.tiktoken")) return 77;
    mg_error err;
    test_layouts();
    test_languages();
    REQUIRE(mg_wtok_open_tiktoken(SHARED "/multilingual.tiktoken", 51865, &g_ml, &err) == MG_OK);
    REQUIRE(mg_wtok_open_tiktoken(SHARED "/gpt2.tiktoken", 51864, &g_en, &err) == MG_OK);
    CHECK_EQ_INT(mg_wtok_get_specials(g_ml)->eot, 50257);
    CHECK_EQ_INT(mg_wtok_get_specials(g_en)->eot, 50256);
    test_classes();
    test_encode_golden();
    test_encode_basics();
    test_decode();
    test_non_speech();
    test_hf();
    test_hostile();
    test_live_reference();
    test_threads();
    mg_wtok_close(g_ml);
    mg_wtok_close(g_en);
    return mg_test_finish();
}
