/*
 * test_tokenizer.c - tests for the CLIP tokenizer (src/text/tokenizer.c).
 *
 * - golden: every record of tests/golden/tokenizer_golden.jsonl (ids made by
 *   scripts/gen_tokenizer_golden.py from OpenAI's tokenizer with ftfy -> NFC)
 *   must come out exactly, using assets/clip-tokenizer/ from the source tree;
 * - edge cases: empty/whitespace text, truncation to 77 and small contexts,
 *   bad arguments, invalid UTF-8, the text size limit, MB-long text;
 * - a tiny hand-made vocabulary whose merge ranks are not monotonic, to pin
 *   down the round-by-round BPE semantics (expected ids from
 *   scripts/ref_tokenizer.py --vocab/--merges on the same files);
 * - malformed vocab.json / merges.txt files written to a temp dir;
 * - concurrent encodes from several threads;
 * - a deterministic randomized robustness loop (20,000 random and mutated
 *   inputs; run under ASan+UBSan as test_tokenizer_asan).
 */
#include "testlib.h"
#include "text/tokenizer.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define ASSETS MG_SOURCE_DIR "/assets/clip-tokenizer"
#define GOLDEN MG_TEST_GOLDEN "/tokenizer_golden.jsonl"

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    char *text;
    size_t text_len;
    int context;
    int32_t *ids;
    int n_ids;
} golden_case;

static golden_case *g_cases;
static int g_n_cases;

static void print_ids(const char *label, const int32_t *ids, int n) {
    fprintf(stderr, "    %s (%d): [", label, n);
    for (int i = 0; i < n; i++) fprintf(stderr, i ? ", %d" : "%d", ids[i]);
    fprintf(stderr, "]\n");
}

static int ids_equal(const int32_t *a, int na, const int32_t *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* Loads the golden JSONL file; returns 0 on success. */
static int load_golden(void) {
    size_t len = 0;
    char *buf = mg_test_read(GOLDEN, &len);
    if (!buf) return -1;
    int cap = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line) {
            json_object *o = json_tokener_parse(line);
            json_object *jt, *ji, *jc;
            if (!o || !json_object_object_get_ex(o, "text", &jt) ||
                !json_object_object_get_ex(o, "ids", &ji)) {
                fprintf(stderr, "bad golden line: %.80s\n", line);
                json_object_put(o);
                free(buf);
                return -1;
            }
            if (g_n_cases == cap) {
                cap = cap ? cap * 2 : 256;
                g_cases = realloc(g_cases, (size_t)cap * sizeof *g_cases);
            }
            golden_case *c = &g_cases[g_n_cases++];
            c->text_len = (size_t)json_object_get_string_len(jt);
            c->text = malloc(c->text_len + 1);
            memcpy(c->text, json_object_get_string(jt), c->text_len + 1);
            c->context = json_object_object_get_ex(o, "context", &jc) ? json_object_get_int(jc) : 77;
            c->n_ids = (int)json_object_array_length(ji);
            c->ids = malloc((size_t)(c->n_ids ? c->n_ids : 1) * sizeof *c->ids);
            for (int i = 0; i < c->n_ids; i++)
                c->ids[i] = json_object_get_int(json_object_array_get_idx(ji, (size_t)i));
            json_object_put(o);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
    return 0;
}

static void free_golden(void) {
    for (int i = 0; i < g_n_cases; i++) {
        free(g_cases[i].text);
        free(g_cases[i].ids);
    }
    free(g_cases);
}

/* Encodes with context 77; returns the status. */
static int enc(const mg_tokenizer *t, const char *s, int32_t *ids, int ctx, int *n) {
    mg_error e;
    return mg_tokenizer_encode(t, s, ids, ctx, n, &e);
}

/* Checks that s encodes to exactly the given ids (variadic, -1 terminated). */
static void check_ids(const mg_tokenizer *t, const char *s, int ctx, ...) {
    int32_t exp[128], got[128];
    int ne = 0, ng = 0;
    va_list ap;
    va_start(ap, ctx);
    for (int v; (v = va_arg(ap, int)) >= 0;) exp[ne++] = v;
    va_end(ap);
    mg_error e = {0};
    int rc = mg_tokenizer_encode(t, s, got, ctx, &ng, &e);
    CHECK_MSG(rc == MG_OK, "encode(\"%s\") failed: %s", s, e.msg);
    int same = rc == MG_OK && ids_equal(exp, ne, got, ng);
    CHECK_MSG(same, "ids of \"%s\" (context %d)", s, ctx);
    if (!same) {
        print_ids("expected", exp, ne);
        print_ids("got", got, ng);
    }
}

/* ------------------------------------------------------------------ */
/* golden                                                             */
/* ------------------------------------------------------------------ */

static void test_golden(const mg_tokenizer *t) {
    int bad = 0;
    int32_t got[256];
    for (int i = 0; i < g_n_cases; i++) {
        golden_case *c = &g_cases[i];
        int n = -1;
        mg_error e = {0};
        if (strlen(c->text) != c->text_len || c->context > 256) {
            CHECK_MSG(0, "golden case %d unusable (NUL in text or context > 256)", i);
            continue;
        }
        int rc = mg_tokenizer_encode(t, c->text, got, c->context, &n, &e);
        int ok = rc == MG_OK && ids_equal(c->ids, c->n_ids, got, n);
        CHECK_MSG(ok, "golden case %d (context %d) mismatch: text \"%.300s\"%s", i, c->context,
                  c->text, c->text_len > 300 ? "..." : "");
        if (!ok) {
            bad++;
            if (rc) fprintf(stderr, "    error: %s\n", e.msg);
            print_ids("expected", c->ids, c->n_ids);
            if (!rc) print_ids("got", got, n);
        }
    }
    printf("golden: %d cases, %d mismatches\n", g_n_cases, bad);
    CHECK(g_n_cases >= 250);
}

/* ------------------------------------------------------------------ */
/* edge cases                                                         */
/* ------------------------------------------------------------------ */

static void test_edges(const mg_tokenizer *t) {
    CHECK_EQ_INT(mg_tokenizer_vocab_size(t), 49408);
    CHECK_EQ_INT(mg_tokenizer_sot(t), 49406);
    CHECK_EQ_INT(mg_tokenizer_eot(t), 49407);

    check_ids(t, "", 77, 49406, 49407, -1);
    check_ids(t, " \t\n\r \xe3\x80\x80\xc2\xa0", 77, 49406, 49407, -1);
    check_ids(t, "a photo of a cat", 77, 49406, 320, 1125, 539, 320, 2368, 49407, -1);
    check_ids(t, "a photo of a cat", 5, 49406, 320, 1125, 539, 49407, -1);
    check_ids(t, "a photo of a cat", 7, 49406, 320, 1125, 539, 320, 2368, 49407, -1);
    check_ids(t, "a photo of a cat", 6, 49406, 320, 1125, 539, 320, 49407, -1);
    check_ids(t, "a photo of a cat", 2, 49406, 49407, -1);
    check_ids(t, "a photo of a cat", 1, 49407, -1);
    check_ids(t, "", 1, 49407, -1);
    check_ids(t, "<|endoftext|>", 77, 49406, 49407, 49407, -1);

    /* truncation to 77: 100 words of "a" */
    char buf[512] = "";
    for (int i = 0; i < 100; i++) strcat(buf, "a ");
    int32_t ids[80];
    int n = 0;
    CHECK_EQ_INT(enc(t, buf, ids, 77, &n), MG_OK);
    CHECK_EQ_INT(n, 77);
    CHECK_EQ_INT(ids[0], 49406);
    CHECK_EQ_INT(ids[75], 320);
    CHECK_EQ_INT(ids[76], 49407);
    /* exactly 75 words fit, 76 do not */
    buf[0] = 0;
    for (int i = 0; i < 75; i++) strcat(buf, "a ");
    CHECK_EQ_INT(enc(t, buf, ids, 77, &n), MG_OK);
    CHECK_EQ_INT(n, 77);
    CHECK_EQ_INT(ids[75], 320);
    strcat(buf, "cat");
    CHECK_EQ_INT(enc(t, buf, ids, 77, &n), MG_OK);
    CHECK_EQ_INT(n, 77);
    CHECK_EQ_INT(ids[76], 49407);

    /* bad arguments */
    mg_error e = {0};
    n = 123;
    CHECK_EQ_INT(mg_tokenizer_encode(t, "x", ids, 0, &n, &e), MG_EINVAL);
    CHECK_EQ_INT(n, 0);
    CHECK_STR_CONTAINS(e.msg, "context");
    CHECK_EQ_INT(mg_tokenizer_encode(t, "x", ids, -5, &n, NULL), MG_EINVAL);
    CHECK_EQ_INT(mg_tokenizer_encode(t, NULL, ids, 77, &n, &e), MG_EINVAL);
    CHECK_EQ_INT(mg_tokenizer_encode(NULL, "x", ids, 77, &n, &e), MG_EINVAL);
    CHECK_EQ_INT(mg_tokenizer_encode(t, "x", NULL, 77, &n, &e), MG_EINVAL);
    CHECK_EQ_INT(mg_tokenizer_encode(t, "x", ids, 77, NULL, &e), MG_EINVAL);
    mg_tokenizer_close(NULL);
}

static void test_invalid_utf8(const mg_tokenizer *t) {
    static const char *const bad[] = {
        "\xff", "\xfe", "\x80", "abc\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",
        "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80",
        "abc\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc3\x28", "\xe2\x28\xa1", "ok \xe2\x82\xac \xa0",
        "&amp;\xff", "caf\xe9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t ids[77];
        int n = 99;
        mg_error e = {0};
        int rc = mg_tokenizer_encode(t, bad[i], ids, 77, &n, &e);
        CHECK_MSG(rc == MG_EFORMAT, "invalid UTF-8 case %zu gave %d", i, rc);
        CHECK_EQ_INT(n, 0);
        CHECK_EQ_INT(e.code, MG_EFORMAT);
        CHECK_STR_CONTAINS(e.msg, "UTF-8");
    }
    /* valid edge code points */
    int32_t ids[77];
    int n;
    CHECK_EQ_INT(enc(t, "\xf4\x8f\xbf\xbf \xef\xbf\xbf \xc2\x80 \xed\x9f\xbf \xee\x80\x80", ids, 77, &n), MG_OK);
}

static void test_long_text(const mg_tokenizer *t) {
    int32_t ids[77];
    int n = 0;
    mg_error e = {0};
    /* one byte over the limit */
    size_t big = (size_t)MG_TOKENIZER_MAX_TEXT_BYTES + 1;
    char *s = malloc(big + 1);
    if (!s) {
        CHECK(s != NULL);
        return;
    }
    memset(s, 'a', big);
    s[big] = 0;
    CHECK_EQ_INT(mg_tokenizer_encode(t, s, ids, 77, &n, &e), MG_ELIMIT);
    CHECK_STR_CONTAINS(e.msg, "limit");

    /* ~5 MB of sentences: truncated, fast */
    const char *sent = "The quick brown fox jumps over the lazy dog &amp; it's 42. ";
    size_t sl = strlen(sent), total = 0;
#ifdef MG_ASAN_BUILD
    size_t target = (size_t)1 << 20;
#else
    size_t target = (size_t)5 << 20;
#endif
    while (total + sl < target) {
        memcpy(s + total, sent, sl);
        total += sl;
    }
    s[total] = 0;
    double t0 = mg_now();
    int rc = mg_tokenizer_encode(t, s, ids, 77, &n, &e);
    double dt = mg_now() - t0;
    CHECK_EQ_INT(rc, MG_OK);
    CHECK_EQ_INT(n, 77);
    CHECK_EQ_INT(ids[76], 49407);
    CHECK_EQ_INT(ids[1], 518); /* "the" */
    printf("long text: %zu bytes in %.1f ms\n", total, dt * 1e3);

    /* one word of 1 MB (BPE must not be quadratic) */
    size_t wl = (size_t)1 << 20;
    for (size_t i = 0; i < wl; i++) s[i] = "abcab"[i % 5];
    s[wl] = 0;
    t0 = mg_now();
    rc = mg_tokenizer_encode(t, s, ids, 77, &n, &e);
    dt = mg_now() - t0;
    CHECK_EQ_INT(rc, MG_OK);
    CHECK_EQ_INT(n, 77);
    printf("1 MB word: %.1f ms\n", dt * 1e3);
    free(s);
}

/* ------------------------------------------------------------------ */
/* tiny vocabulary and malformed files                                */
/* ------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->buf = realloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->n, s, len);
    b->n += len;
    b->buf[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

#define TINY_N 518
static char g_tiny_keys[TINY_N][24];
static char g_tiny_vals[TINY_N][32];

/* GPT-2 bytes_to_unicode as UTF-8 text. */
static void byte_symbol(int b, char *out) {
    int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    unsigned cp = (unsigned)b;
    if (!printable) {
        int extra = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
                extra++;
        cp = 256u + (unsigned)extra;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* The tiny vocabulary: 512 byte symbols, xyx xy ab bb</w>, SOT, EOT. */
static void tiny_reset(void) {
    for (int b = 0; b < 256; b++) {
        byte_symbol(b, g_tiny_keys[b]);
        byte_symbol(b, g_tiny_keys[256 + b]);
        strcat(g_tiny_keys[256 + b], "</w>");
    }
    const char *rest[] = {"xyx", "xy", "ab", "bb</w>", "<|startoftext|>", "<|endoftext|>"};
    for (int i = 0; i < 6; i++) strcpy(g_tiny_keys[512 + i], rest[i]);
    for (int i = 0; i < TINY_N; i++) snprintf(g_tiny_vals[i], sizeof g_tiny_vals[0], "%d", i);
}

static const char *TINY_MERGES = "#version: 0.2\nxy x\nx y\na b\nb b</w>\na b\n";

static char *tiny_json(void) {
    sbuf b = {0};
    sb_str(&b, "{");
    for (int i = 0; i < TINY_N; i++) {
        if (!g_tiny_keys[i][0] && i) continue; /* dropped entry */
        sb_str(&b, i ? ",\n\"" : "\"");
        for (const char *k = g_tiny_keys[i]; *k; k++) {
            if (*k == '"' || *k == '\\') sb_put(&b, "\\", 1);
            sb_put(&b, k, 1);
        }
        sb_str(&b, "\": ");
        sb_str(&b, g_tiny_vals[i]);
    }
    sb_str(&b, "}\n");
    return b.buf;
}

static char *g_dir;

static char *path_in(const char *name) {
    static char p[2][1024];
    static int which;
    which ^= 1;
    snprintf(p[which], sizeof p[0], "%s/%s", g_dir, name);
    return p[which];
}

static void write_text(const char *name, const char *text, size_t len) {
    CHECK_MSG(mg_test_write(path_in(name), text, len) == 0, "cannot write %s", name);
}

/* Opens vocab.json/merges.txt from the temp dir and expects status want with
 * a message containing needle (and the file name). */
static void expect_open(int want, const char *needle, const char *file) {
    mg_tokenizer *t = (mg_tokenizer *)0x1;
    mg_error e = {0};
    int rc = mg_tokenizer_open(path_in("vocab.json"), path_in("merges.txt"), &t, &e);
    CHECK_MSG(rc == want, "open: expected %d, got %d (%s) [%s]", want, rc, e.msg, needle);
    if (want != MG_OK) {
        CHECK(t == NULL);
        CHECK_EQ_INT(e.code, rc);
        CHECK_STR_CONTAINS(e.msg, needle);
        CHECK_STR_CONTAINS(e.msg, file);
        /* also without an error struct */
        mg_tokenizer *t2 = NULL;
        CHECK_EQ_INT(mg_tokenizer_open(path_in("vocab.json"), path_in("merges.txt"), &t2, NULL), rc);
        CHECK(t2 == NULL);
    }
    if (rc == MG_OK) mg_tokenizer_close(t);
}

static void write_vocab_variant(void) {
    char *j = tiny_json();
    write_text("vocab.json", j, strlen(j));
    free(j);
}

static void test_tiny(void) {
    tiny_reset();
    write_vocab_variant();
    write_text("merges.txt", TINY_MERGES, strlen(TINY_MERGES));
    mg_tokenizer *t = NULL;
    mg_error e = {0};
    int rc = mg_tokenizer_open(path_in("vocab.json"), path_in("merges.txt"), &t, &e);
    CHECK_MSG(rc == MG_OK, "tiny vocab: %s", e.msg);
    if (rc) return;
    CHECK_EQ_INT(mg_tokenizer_vocab_size(t), 518);
    CHECK_EQ_INT(mg_tokenizer_sot(t), 516);
    CHECK_EQ_INT(mg_tokenizer_eot(t), 517);
    /* expected ids from scripts/ref_tokenizer.py --vocab --merges */
    check_ids(t, "xyxyy", 77, 516, 513, 513, 377, 517, -1);  /* round semantics */
    check_ids(t, "abb", 77, 516, 97, 515, 517, -1);          /* repeated pair: later rank */
    check_ids(t, "xyx", 77, 516, 513, 376, 517, -1);
    check_ids(t, "xyxa", 77, 516, 512, 353, 517, -1);
    check_ids(t, "xyxyxyxy", 77, 516, 513, 513, 512, 377, 517, -1);
    check_ids(t, "aabbabb", 77, 516, 97, 514, 98, 97, 515, 517, -1);
    check_ids(t, "Xy xY, ab!", 77, 516, 120, 377, 120, 377, 300, 97, 354, 289, 517, -1);
    check_ids(t, "<|endoftext|>", 77, 516, 517, 517, -1);
    check_ids(t, "xy's", 77, 516, 120, 377, 39, 371, 517, -1);
    check_ids(t, "xyxyxyxy ab abb", 5, 516, 513, 513, 512, 517, -1);
    mg_tokenizer_close(t);

    /* accepted variants: CRLF, no #version line, tabs, trailing blank lines */
    const char *ok_merges[] = {
        "#version: 0.2\r\nxy x\r\nx y\r\na b\r\nb b</w>\r\na b\r\n",
        "xy x\nx y\na b\nb b</w>\na b",
        "#version: 0.2\nxy\tx\n  x y  \na b\nb b</w>\na b\n\n\n  \n",
    };
    for (size_t i = 0; i < sizeof ok_merges / sizeof ok_merges[0]; i++) {
        write_text("merges.txt", ok_merges[i], strlen(ok_merges[i]));
        t = NULL;
        rc = mg_tokenizer_open(path_in("vocab.json"), path_in("merges.txt"), &t, &e);
        CHECK_MSG(rc == MG_OK, "merges variant %zu: %s", i, e.msg);
        if (rc == MG_OK) check_ids(t, "xyxyy abb", 77, 516, 513, 513, 377, 97, 515, 517, -1);
        mg_tokenizer_close(t);
    }
}

static void test_bad_files(void) {
    tiny_reset();
    write_vocab_variant();
    write_text("merges.txt", TINY_MERGES, strlen(TINY_MERGES));
    expect_open(MG_OK, "", "");

    /* missing files, directory, NULL arguments */
    mg_tokenizer *t = NULL;
    mg_error e = {0};
    CHECK_EQ_INT(mg_tokenizer_open(path_in("nope.json"), path_in("merges.txt"), &t, &e), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(e.msg, "nope.json");
    CHECK_EQ_INT(mg_tokenizer_open(path_in("vocab.json"), path_in("nope.txt"), &t, &e), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(e.msg, "nope.txt");
    CHECK(t == NULL);
    CHECK_EQ_INT(mg_tokenizer_open(g_dir, path_in("merges.txt"), &t, &e), MG_EIO);
    CHECK_EQ_INT(mg_tokenizer_open(NULL, path_in("merges.txt"), &t, &e), MG_EINVAL);
    CHECK_EQ_INT(mg_tokenizer_open(path_in("vocab.json"), NULL, &t, &e), MG_EINVAL);
    CHECK_EQ_INT(mg_tokenizer_open(path_in("vocab.json"), path_in("merges.txt"), NULL, &e), MG_EINVAL);

    /* malformed / non-object JSON */
    static const char *const bad_json[] = {"", "   \n", "{", "{\"a\": 1,}", "not json", "{\"a\": 1} trailing",
                                           "{\"a\": 1}{", "{\"a\" 1}", "\xef\xbb\xbf{\"a\": 0}",
                                           "{\"a\": 0, \"\xff\": 1}"};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        write_text("vocab.json", bad_json[i], strlen(bad_json[i]));
        expect_open(MG_EFORMAT, "JSON", "vocab.json");
    }
    static const char nul_json[] = "{\"a\": 0,\0 \"b\": 1}";
    write_text("vocab.json", nul_json, sizeof nul_json - 1);
    expect_open(MG_EFORMAT, "JSON", "vocab.json");
    static const char *const non_obj[] = {"[1, 2]", "42", "null", "\"str\"", "true", "[]"};
    for (size_t i = 0; i < sizeof non_obj / sizeof non_obj[0]; i++) {
        write_text("vocab.json", non_obj[i], strlen(non_obj[i]));
        expect_open(MG_EFORMAT, "expected an object", "vocab.json");
    }
    write_text("vocab.json", "{}", 2);
    expect_open(MG_EFORMAT, "empty", "vocab.json");

    /* bad ids */
    static const struct { const char *val; const char *msg; } bad_ids[] = {
        {"5.5", "expected an integer"}, {"\"5\"", "expected an integer"},
        {"true", "expected an integer"}, {"null", "expected an integer"},
        {"[5]", "expected an integer"}, {"{}", "expected an integer"},
        {"-1", "out of range"}, {"518", "out of range"}, {"99999999999999999999", "out of range"},
        {"-99999999999999999999", "out of range"}, {"6", "duplicate id"}, {"5e0", "expected an integer"},
    };
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        tiny_reset();
        strcpy(g_tiny_vals[5], bad_ids[i].val);
        write_vocab_variant();
        expect_open(MG_EFORMAT, bad_ids[i].msg, "vocab.json");
    }
    /* missing special tokens and byte symbols (ids stay dense) */
    tiny_reset();
    strcpy(g_tiny_keys[516], "<|start|>");
    write_vocab_variant();
    expect_open(MG_EFORMAT, "<|startoftext|>", "vocab.json");
    tiny_reset();
    strcpy(g_tiny_keys[517], "<|end|>");
    write_vocab_variant();
    expect_open(MG_EFORMAT, "<|endoftext|>", "vocab.json");
    tiny_reset();
    strcpy(g_tiny_keys['a'], "zzz"); /* byte 'a' has id 'a' */
    write_vocab_variant();
    expect_open(MG_EFORMAT, "byte symbol", "vocab.json");
    tiny_reset();
    strcpy(g_tiny_keys[256 + 'q'], "zzz");
    write_vocab_variant();
    expect_open(MG_EFORMAT, "q</w>", "vocab.json");

    /* malformed merges */
    tiny_reset();
    write_vocab_variant();
    static const struct { const char *text; const char *msg; } bad_merges[] = {
        {"#version: 0.2\nxy x\nx\n", "merges.txt:3: expected two symbols"},
        {"#version: 0.2\nxy x y\n", "merges.txt:2: expected two symbols"},
        {"#version: 0.2\nxy x\n\nx y\n", "merges.txt:3: empty line"},
        {"#version: 0.2\nq zz\n", "unknown symbol \"zz\""},
        {"#version: 0.2\nxy x\nx z\n", "merges.txt:3: merge result \"xz\""},
        {"#version: 0.2\n", "no merges"},
        {"", "no merges"},
        {"\n\n", "no merges"},
        {"x y\n#version: 0.2\n", "merges.txt:2: unknown symbol \"#version:\""},
        {"x y\na \xff\n", "unknown symbol"},
    };
    for (size_t i = 0; i < sizeof bad_merges / sizeof bad_merges[0]; i++) {
        write_text("merges.txt", bad_merges[i].text, strlen(bad_merges[i].text));
        expect_open(MG_EFORMAT, bad_merges[i].msg, "merges.txt");
    }
    static const char nul_merges[] = "#version: 0.2\nx y\na\0b c\n";
    write_text("merges.txt", nul_merges, sizeof nul_merges - 1);
    expect_open(MG_EFORMAT, "merges.txt:3: NUL", "merges.txt");
    unlink(path_in("vocab.json"));
    unlink(path_in("merges.txt"));
}

/* ------------------------------------------------------------------ */
/* threads                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    const mg_tokenizer *t;
    int start, mismatches;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    int32_t got[256];
    for (int k = 0; k < g_n_cases; k++) {
        golden_case *c = &g_cases[(k + a->start) % g_n_cases];
        int n;
        if (c->context > 256 || strlen(c->text) != c->text_len) continue;
        if (mg_tokenizer_encode(a->t, c->text, got, c->context, &n, NULL) != MG_OK ||
            !ids_equal(c->ids, c->n_ids, got, n))
            a->mismatches++;
    }
    return NULL;
}

static void test_threads(const mg_tokenizer *t) {
    enum { NT = 4 };
    pthread_t th[NT];
    thread_arg a[NT];
    for (int i = 0; i < NT; i++) {
        a[i] = (thread_arg){t, i * 37, 0};
        CHECK(pthread_create(&th[i], NULL, thread_main, &a[i]) == 0);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(a[i].mismatches, 0);
    }
}

/* ------------------------------------------------------------------ */
/* randomized robustness                                              */
/* ------------------------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static void test_random(const mg_tokenizer *t) {
    static const char *const pieces[] = {
        "&", "&amp;", "&amp", "&#", "&#x", "&#38;", "&#x26;", "&#0;", "&#128;", "&#xD800;", "&#1114112;",
        "&notin", "&not", ";", "#", "x", "<|startoftext|>", "<|endoftext|>", "<|", "|>", "'s", "'LL", "'",
        "\xce\xa3", "\xc4\xb0", "\xc5\xbf", "\xcd\x85", "\xcc\x81", " ", "\t", "\n", "\xc2\xa0", "\xe3\x80\x80",
        "\xe2\x80\x8b", "\x1c", "\x7f", "a", "Z", "9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xe2\x80\x8d",
        "\xf0\x9f\x87\xa9", "\xd9\xa3", "!", "...", "\xef\xbb\xbf", "\xe1\x84\x80", "\xe1\x85\xa1",
    };
    enum { NPIECES = sizeof pieces / sizeof pieces[0] };
    char buf[1024];
    int32_t ids[80], ids2[80];
    int n_ok = 0, n_fmt = 0, bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 0;
        int mode = (int)(rnd() % 3);
        if (mode == 0) { /* random bytes */
            size_t n = rnd() % 64;
            for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t)rnd();
                buf[len++] = (char)(c ? c : 'a');
            }
        } else if (mode == 1) { /* pieces */
            int n = (int)(rnd() % 40);
            for (int i = 0; i < n; i++) {
                const char *p = pieces[rnd() % NPIECES];
                size_t pl = strlen(p);
                if (len + pl >= sizeof buf - 1) break;
                memcpy(buf + len, p, pl);
                len += pl;
            }
        } else if (g_n_cases) { /* mutated golden text */
            golden_case *c = &g_cases[rnd() % (uint32_t)g_n_cases];
            len = c->text_len < sizeof buf - 1 ? c->text_len : sizeof buf - 1;
            memcpy(buf, c->text, len);
            int muts = 1 + (int)(rnd() % 4);
            for (int m = 0; m < muts && len; m++) {
                size_t at = rnd() % len;
                switch (rnd() % 4) {
                case 0: buf[at] = (char)(rnd() % 255 + 1); break;         /* overwrite */
                case 1: len = at; break;                                   /* truncate */
                case 2: buf[at] = "&#;<|'\xce"[rnd() % 7]; break;          /* syntax char */
                default: buf[at] = (char)(buf[at] ^ (1 << (rnd() % 8))); /* bit flip */
                    if (!buf[at]) buf[at] = 'a';
                }
            }
        }
        buf[len] = 0;
        int ctx = 1 + (int)(rnd() % 79);
        int n = -1, n2 = -1;
        mg_error e = {0};
        int rc = mg_tokenizer_encode(t, buf, ids, ctx, &n, &e);
        if (rc == MG_OK) {
            n_ok++;
            int ok = n >= 1 && n <= ctx && ids[n - 1] == 49407 && (ctx == 1 || (n >= 2 && ids[0] == 49406));
            for (int i = 0; i < n; i++) ok = ok && ids[i] >= 0 && ids[i] < 49408;
            ok = ok && mg_tokenizer_encode(t, buf, ids2, ctx, &n2, NULL) == MG_OK &&
                 ids_equal(ids, n, ids2, n2);
            if (!ok && bad++ < 5) CHECK_MSG(0, "random case %d: bad output for \"%s\"", iter, buf);
        } else {
            n_fmt++;
            if (!(rc == MG_EFORMAT && n == 0 && strstr(e.msg, "UTF-8")) && bad++ < 5)
                CHECK_MSG(0, "random case %d: rc %d (%s)", iter, rc, e.msg);
        }
    }
    CHECK_EQ_INT(bad, 0);
    printf("random: %d encoded, %d rejected as invalid UTF-8\n", n_ok, n_fmt);
}

/* ------------------------------------------------------------------ */

static void test_timing(const mg_tokenizer *t) {
    int32_t ids[77];
    int n;
    const char *q = "a photo of a dog playing in the snow";
    enum { REPS = 2000 };
    double t0 = mg_now();
    for (int i = 0; i < REPS; i++) enc(t, q, ids, 77, &n);
    double per = (mg_now() - t0) / REPS;
    printf("encode \"%s\": %.2f us\n", q, per * 1e6);
#ifndef MG_ASAN_BUILD
    CHECK_MSG(per < 1e-3, "short query took %.3f ms", per * 1e3);
#endif
}

int main(void) {
    if (load_golden() != 0) {
        fprintf(stderr, "cannot read %s\n", GOLDEN);
        CHECK(0);
    }
    mg_tokenizer *t = NULL;
    mg_error e = {0};
    double t0 = mg_now();
    int rc = mg_tokenizer_open(ASSETS "/vocab.json", ASSETS "/merges.txt", &t, &e);
    double load = mg_now() - t0;
    CHECK_MSG(rc == MG_OK, "open: %s", e.msg);
    if (rc == MG_OK) {
        printf("vocab load: %.1f ms\n", load * 1e3);
        test_edges(t);
        test_golden(t);
        test_invalid_utf8(t);
        test_long_text(t);
        test_threads(t);
        test_random(t);
        test_timing(t);
        mg_tokenizer_close(t);
    }
    g_dir = mg_test_tmpdir("tokenizer");
    CHECK(g_dir != NULL);
    if (g_dir) {
        test_tiny();
        test_bad_files();
        rmdir(g_dir);
        free(g_dir);
    }
    free_golden();
    return mg_test_finish();
}
