/*
 * test_wrules.c - tests for Whisper's decoding/transcription rules
 * (src/whisper/wrules.c) against openai/whisper 20240930's semantics:
 *
 * - every logit filter on constructed cases (multilingual 51865, English-only
 *   51864, v3 51866): <|notimestamps|>, the pairs rule (last/penultimate),
 *   monotonic timestamps (timestamp_last with and without +1), the initial
 *   rule with max_initial_timestamp_index 50 / none, the forced-timestamp
 *   rule triggered and not, SuppressBlank only at sample_begin, the suppress
 *   list; each time the whole logit vector is compared with the expected one;
 * - 240 randomized filter cases against tests/golden/wrules/filters.txt
 *   (scripts/ref_wrules.py, torch): the -inf mask, the argmax, its float32
 *   log-probability, the no-speech probability;
 * - argmax's first maximum and NaN, logprob vs a double computation;
 * - sampling: chi-square over 200k draws at T = 0.5 and 1.0, -inf never
 *   drawn, determinism for a seed, seeds that differ per file/seek/T;
 * - language detection (constructed and lang.txt goldens), no_speech_prob;
 * - compression ratio vs Python's zlib (compress.txt);
 * - fallback / needs_fallback / should_skip truth tables, NAN = off;
 * - avg_logprob / rank score / time_offset / Python's str.strip;
 * - window splitting on constructed sequences and 220 golden sequences
 *   (split.txt: tokens ranges, start/end bit-exact, seek advance);
 * - mg_wrules_init with the real tokenizer when it loads (else SKIP line),
 *   and the hand-made layouts against mg_wtok_layout.
 */
#include "testlib.h"
#include "whisper/wrules.h"
#include "whisper/wtokenizer.h"

#include <stdint.h>

#define GOLD MG_TEST_GOLDEN "/wrules"

/* The layout of tokenizer.py, by hand (checked against mg_wtok_layout). */
static mg_wtok_specials lay(int n_vocab) {
    mg_wtok_specials s;
    memset(&s, 0, sizeof s);
    s.n_vocab = n_vocab;
    s.multilingual = n_vocab >= 51865;
    s.n_langs = n_vocab == 51866 ? 100 : 99;
    s.eot = n_vocab == 51864 ? 50256 : 50257;
    s.sot = s.eot + 1;
    s.lang_begin = s.eot + 2;
    int k = s.lang_begin + s.n_langs;
    s.translate = k++;
    s.transcribe = k++;
    s.sot_lm = k++;
    s.sot_prev = k++;
    s.no_speech = k++;
    s.no_timestamps = k++;
    s.timestamp_begin = k;
    return s;
}

#define NV_MAX 51866
static float g_logits[NV_MAX], g_expect[NV_MAX], g_scratch[NV_MAX];

static uint32_t hash32(uint32_t x) {
    x = ((x >> 16) ^ x) * 0x45D9F3Bu;
    x = ((x >> 16) ^ x) * 0x45D9F3Bu;
    return (x >> 16) ^ x;
}

/* The logits of scripts/ref_wrules.py's make_logits. */
static void make_logits(float *l, int n_vocab, uint32_t seed, int tb, int text_q, int ts_q) {
    uint32_t base = (uint32_t)((uint64_t)seed * 2654435761u);
    for (int i = 0; i < n_vocab; i++) {
        uint32_t h = hash32(base + (uint32_t)i);
        int q = i < tb ? text_q : ts_q;
        l[i] = (float)((int)(h & 4095) - 2048 + 64 * q) / 256.0f;
    }
}

static void fill(float *l, int a, int b, float v) {
    for (int i = a; i < b; i++) l[i] = v;
}

/* Compares logits with expect; prints the first few differences. */
static int same_logits(const char *what, const float *got, const float *want, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int eq = (isinf(got[i]) && isinf(want[i]) && (got[i] < 0) == (want[i] < 0)) || got[i] == want[i];
        if (!eq) {
            if (bad < 5) fprintf(stderr, "  %s: logit[%d] = %g, expected %g\n", what, i, got[i], want[i]);
            bad++;
        }
    }
    if (bad) fprintf(stderr, "  %s: %d logits differ\n", what, bad);
    CHECK_MSG(bad == 0, "%s", what);
    return bad == 0;
}

static mg_wrules rules_for(const mg_wtok_specials *sp, int sample_begin) {
    mg_wrules r;
    memset(&r, 0, sizeof r);
    r.sp = sp;
    r.n_vocab = sp->n_vocab;
    r.sample_begin = sample_begin;
    r.suppress_blank = 1;
    r.blank[0] = 220;
    r.blank[1] = sp->eot;
    r.n_blank = 2;
    r.max_initial_timestamp_index = 50;
    return r;
}

/* ------------------------------------------------------------------ */
/* constructed filter cases                                           */
/* ------------------------------------------------------------------ */

/* Flat logits: text tokens 0, timestamps -10 (so the forced rule does not
 * fire: logsumexp of the timestamps = -10 + ln 1501 < 0). */
static void flat(const mg_wtok_specials *sp) {
    fill(g_logits, 0, sp->timestamp_begin, 0.0f);
    fill(g_logits, sp->timestamp_begin, sp->n_vocab, -10.0f);
}

static void test_filters_constructed(int n_vocab) {
    char what[128];
    mg_wtok_specials sp = lay(n_vocab);
    const int tb = sp.timestamp_begin, V = n_vocab, eot = sp.eot;
    int32_t toks[16] = {sp.sot_prev, 1000, 2000, sp.sot, sp.lang_begin, sp.transcribe};
    const int sb = 6; /* prompt (3) + sot sequence (3) */
    mg_wrules r = rules_for(&sp, sb);

    /* 1. at sample_begin: blank, non-timestamps, the 1.00 s limit */
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, 0, tb, -INFINITY);              /* no text at the beginning (covers blank) */
    fill(g_expect, tb + 51, V, -INFINITY);         /* max_initial_timestamp_index 50 */
    mg_wrules_apply(&r, toks, sb, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] initial rule", V);
    same_logits(what, g_logits, g_expect, V);

    /* 1b. no max_initial_timestamp */
    r.max_initial_timestamp_index = -1;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, 0, tb, -INFINITY);
    mg_wrules_apply(&r, toks, sb, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] initial rule, no limit", V);
    same_logits(what, g_logits, g_expect, V);
    r.max_initial_timestamp_index = 50;

    /* 2. seq = [<|0.20|>]: one timestamp, "penultimate" counts as timestamp
     * -> only text/eot; timestamps <= 0.20 (+1 rule) also gone */
    toks[sb] = tb + 10;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, tb, V, -INFINITY);
    g_expect[sp.no_timestamps] = -INFINITY;
    mg_wrules_apply(&r, toks, sb + 1, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] single first timestamp", V);
    same_logits(what, g_logits, g_expect, V);
    CHECK(!isinf(g_logits[220]) && !isinf(g_logits[eot])); /* blank only at sample_begin */

    /* 3. seq = [<|0.20|>, text]: monotonic, timestamps <= 0.20 suppressed */
    toks[sb + 1] = 400;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, tb, tb + 11, -INFINITY);
    g_expect[sp.no_timestamps] = -INFINITY;
    mg_wrules_apply(&r, toks, sb + 2, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] monotonic after text", V);
    same_logits(what, g_logits, g_expect, V);

    /* 4. seq = [<|0.20|>, text, <|0.60|>]: lone timestamp after text: no text
     * tokens, eot allowed, timestamps < 0.60 suppressed but 0.60 allowed */
    toks[sb + 2] = tb + 30;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, 0, eot, -INFINITY);
    fill(g_expect, tb, tb + 30, -INFINITY);
    g_expect[sp.no_timestamps] = -INFINITY;
    mg_wrules_apply(&r, toks, sb + 3, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] pair open (penultimate text)", V);
    same_logits(what, g_logits, g_expect, V);
    CHECK(!isinf(g_logits[eot]) && !isinf(g_logits[tb + 30]) && isinf(g_logits[tb + 29]));

    /* 5. seq = [.., <|0.60|>, <|0.60|>]: pair closed: no timestamps */
    toks[sb + 3] = tb + 30;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, tb, V, -INFINITY);
    g_expect[sp.no_timestamps] = -INFINITY;
    mg_wrules_apply(&r, toks, sb + 4, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] pair closed", V);
    same_logits(what, g_logits, g_expect, V);

    /* 6. seq = [.., <|0.60|>, <|0.60|>, text]: timestamps <= 0.60 gone */
    toks[sb + 4] = 401;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, tb, tb + 31, -INFINITY);
    g_expect[sp.no_timestamps] = -INFINITY;
    mg_wrules_apply(&r, toks, sb + 5, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] monotonic after pair", V);
    same_logits(what, g_logits, g_expect, V);

    /* 7. forced timestamp: a text token at 5, timestamps at 2 each:
     * logsumexp = 2 + ln(1501 - 31) > 5 -> every text token -inf */
    fill(g_logits, 0, tb, 0.0f);
    g_logits[777] = 5.0f;
    fill(g_logits, tb, V, 2.0f);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, tb, tb + 31, -INFINITY);
    g_expect[sp.no_timestamps] = -INFINITY;
    fill(g_expect, 0, tb, -INFINITY);
    mg_wrules_apply(&r, toks, sb + 5, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] forced timestamp", V);
    same_logits(what, g_logits, g_expect, V);
    CHECK(mg_wrules_argmax(g_logits, V) == tb + 31);

    /* 7b. not forced: timestamps at -3: -3 + ln(1470) = 4.29 < 5 */
    fill(g_logits, 0, tb, 0.0f);
    g_logits[777] = 5.0f;
    fill(g_logits, tb, V, -3.0f);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    fill(g_expect, tb, tb + 31, -INFINITY);
    g_expect[sp.no_timestamps] = -INFINITY;
    mg_wrules_apply(&r, toks, sb + 5, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] not forced", V);
    same_logits(what, g_logits, g_expect, V);
    CHECK(mg_wrules_argmax(g_logits, V) == 777);

    /* 7c. the threshold: timestamps at v with v + ln(1470) just above / below
     * 5 (the text logprob max also counts the other text tokens' mass, which
     * is the same on both sides: the comparison is logsumexp vs max) */
    double v_eq = 5.0 - log(1470.0);
    for (int side = -1; side <= 1; side += 2) {
        fill(g_logits, 0, tb, 0.0f);
        g_logits[777] = 5.0f;
        fill(g_logits, tb, V, (float)(v_eq + side * 1e-3));
        mg_wrules_apply(&r, toks, sb + 5, g_logits, g_scratch);
        CHECK_MSG((isinf(g_logits[777]) != 0) == (side > 0), "[%d] forced threshold side %d", V, side);
    }

    /* 8. blank only at sample_begin, and the suppress list, without timestamps */
    int32_t supp[3] = {5, 77, sp.no_speech};
    r.suppress = supp;
    r.n_suppress = 3;
    r.without_timestamps = 1;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    g_expect[220] = g_expect[eot] = -INFINITY;
    g_expect[5] = g_expect[77] = g_expect[sp.no_speech] = -INFINITY;
    mg_wrules_apply(&r, toks, sb, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] blank + suppress at sample_begin", V);
    same_logits(what, g_logits, g_expect, V);
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    g_expect[5] = g_expect[77] = g_expect[sp.no_speech] = -INFINITY;
    mg_wrules_apply(&r, toks, sb + 1, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] suppress after sample_begin (no blank)", V);
    same_logits(what, g_logits, g_expect, V);
    r.suppress_blank = 0;
    flat(&sp);
    memcpy(g_expect, g_logits, sizeof(float) * V);
    g_expect[5] = g_expect[77] = g_expect[sp.no_speech] = -INFINITY;
    mg_wrules_apply(&r, toks, sb, g_logits, g_scratch);
    snprintf(what, sizeof what, "[%d] suppress_blank off", V);
    same_logits(what, g_logits, g_expect, V);
}

/* ------------------------------------------------------------------ */
/* golden files                                                       */
/* ------------------------------------------------------------------ */

typedef struct { char *buf, *line, *save; } lines;

static int lines_open(lines *L, const char *path) {
    size_t len;
    memset(L, 0, sizeof *L);
    L->buf = mg_test_read(path, &len);
    return L->buf ? 0 : -1;
}
static char *lines_next(lines *L) {
    L->line = strtok_r(L->line ? NULL : L->buf, "\n", &L->save);
    return L->line;
}
static long next_int(char **s) {
    char *end;
    long v = strtol(*s, &end, 10);
    *s = end;
    return v;
}
static double next_dbl(char **s) {
    char *end;
    double v = strtod(*s, &end);
    *s = end;
    return v;
}
static void next_word(char **s, char *w, size_t cap) {
    while (**s == ' ') (*s)++;
    size_t n = 0;
    while (**s && **s != ' ' && n + 1 < cap) w[n++] = *(*s)++;
    w[n] = 0;
}

static void test_filters_golden(void) {
    lines L;
    if (lines_open(&L, GOLD "/filters.txt")) {
        CHECK_MSG(0, "cannot read %s", GOLD "/filters.txt");
        return;
    }
    int n_cases = 0, n_bad = 0, n_forced = 0;
    double max_lp_err = 0, max_ns_err = 0;
    static int32_t toks[64], supp[256];
    char word[32];
    for (char *s; (s = lines_next(&L));) {
        next_word(&s, word, sizeof word);
        if (strcmp(word, "case")) continue;
        int id = (int)next_int(&s), V = (int)next_int(&s);
        uint32_t seed = (uint32_t)next_int(&s);
        int text_q = (int)next_int(&s), ts_q = (int)next_int(&s);
        int sb = (int)next_int(&s), blank = (int)next_int(&s), wts = (int)next_int(&s);
        int max_idx = (int)next_int(&s), nt = (int)next_int(&s);
        for (int i = 0; i < nt; i++) toks[i] = (int32_t)next_int(&s);
        int ns = (int)next_int(&s);
        for (int i = 0; i < ns; i++) supp[i] = (int32_t)next_int(&s);
        mg_wtok_specials sp = lay(V);
        make_logits(g_logits, V, seed, sp.timestamp_begin, text_q, ts_q);
        float ns_prob = mg_wrules_no_speech_prob(&sp, g_logits, V);
        mg_wrules r = rules_for(&sp, sb);
        r.suppress_blank = blank;
        r.without_timestamps = wts;
        r.max_initial_timestamp_index = max_idx;
        r.suppress = supp;
        r.n_suppress = ns;
        mg_wrules_apply(&r, toks, nt, g_logits, g_scratch);
        for (int i = 0; i < V; i++) g_expect[i] = g_logits[i];
        int nr = (int)next_int(&s);
        /* expected: exactly the listed ranges are -inf */
        static unsigned char want[NV_MAX];
        memset(want, 0, sizeof want);
        for (int k = 0; k < nr; k++) {
            int a = (int)next_int(&s), b = (int)next_int(&s);
            for (int i = a; i < b && i < V; i++) want[i] = 1;
        }
        int diff = 0, first = -1;
        for (int i = 0; i < V; i++)
            if ((isinf(g_logits[i]) != 0) != want[i]) { if (first < 0) first = i; diff++; }
        int am_want = (int)next_int(&s);
        double lp_want = next_dbl(&s), ns_want = next_dbl(&s);
        int am = mg_wrules_argmax(g_logits, V);
        float lp = mg_wrules_logprob(g_logits, V, am);
        double lp_err = fabs((double)lp - lp_want), ns_err = fabs(ns_prob - ns_want) / (ns_want > 0 ? ns_want : 1);
        if (lp_err > max_lp_err) max_lp_err = lp_err;
        if (ns_err > max_ns_err) max_ns_err = ns_err;
        if (!wts && nt > sb && isinf(g_logits[0]) && isinf(g_logits[sp.eot - 1])) n_forced++;
        if (diff || am != am_want || lp_err > 2e-5 || ns_err > 2e-5) {
            n_bad++;
            fprintf(stderr, "  filters case %d (n_vocab %d): %d mask differences (first id %d: ours %s), "
                    "argmax %d vs %d, logprob %.9g vs %.9g, no_speech %.9g vs %.9g\n", id, V, diff, first,
                    first >= 0 ? (isinf(g_logits[first]) ? "-inf" : "kept") : "-", am, am_want, lp, lp_want,
                    ns_prob, ns_want);
        }
        n_cases++;
    }
    free(L.buf);
    printf("filters golden: %d cases, %d differ, %d with text masked after sample_begin, max |logprob err| %.3g, "
           "max no_speech rel err %.3g\n", n_cases, n_bad, n_forced, max_lp_err, max_ns_err);
    CHECK(n_cases >= 200);
    CHECK_EQ_INT(n_bad, 0);
    CHECK(n_forced > 10); /* the forced-timestamp/pairs rules were exercised */
}

static void test_split_golden(void) {
    lines L;
    if (lines_open(&L, GOLD "/split.txt")) {
        CHECK_MSG(0, "cannot read %s", GOLD "/split.txt");
        return;
    }
    int n_cases = 0, n_bad = 0, kinds[4] = {0};
    static int32_t toks[512];
    mg_wseg segs[256], want[256];
    char word[32];
    for (char *s; (s = lines_next(&L));) {
        next_word(&s, word, sizeof word);
        if (strcmp(word, "split")) continue;
        int id = (int)next_int(&s), V = (int)next_int(&s), seek = (int)next_int(&s);
        int size = (int)next_int(&s), nt = (int)next_int(&s);
        for (int i = 0; i < nt; i++) toks[i] = (int32_t)next_int(&s);
        int nw = (int)next_int(&s);
        for (int k = 0; k < nw; k++) {
            want[k].tok0 = (int)next_int(&s);
            want[k].tok1 = (int)next_int(&s);
            want[k].start = next_dbl(&s);
            want[k].end = next_dbl(&s);
        }
        int adv_want = (int)next_int(&s);
        mg_wtok_specials sp = lay(V);
        int adv = -12345;
        int ng = mg_wrules_split(&sp, toks, nt, mg_wrules_time_offset(seek), size, segs, 256, &adv);
        int ok = ng == nw && adv == adv_want;
        for (int k = 0; ok && k < ng; k++)
            ok = segs[k].tok0 == want[k].tok0 && segs[k].tok1 == want[k].tok1 && segs[k].start == want[k].start &&
                 segs[k].end == want[k].end;
        if (!ok) {
            n_bad++;
            fprintf(stderr, "  split case %d: %d segments (want %d), advance %d (want %d)\n", id, ng, nw, adv,
                    adv_want);
            for (int k = 0; k < ng && k < 256; k++)
                fprintf(stderr, "    ours [%d,%d) %a..%a | want [%d,%d) %a..%a\n", segs[k].tok0, segs[k].tok1,
                        segs[k].start, segs[k].end, k < nw ? want[k].tok0 : -1, k < nw ? want[k].tok1 : -1,
                        k < nw ? want[k].start : 0.0, k < nw ? want[k].end : 0.0);
        }
        int single = nt >= 2 && toks[nt - 2] < sp.timestamp_begin && toks[nt - 1] >= sp.timestamp_begin;
        kinds[ng > 1 ? 0 : single ? 1 : nt == 0 ? 2 : 3]++;
        n_cases++;
    }
    free(L.buf);
    printf("split golden: %d cases (%d multi-segment, %d single-ending, %d empty, %d other), %d differ\n", n_cases,
           kinds[0], kinds[1], kinds[2], kinds[3], n_bad);
    CHECK(n_cases >= 200);
    CHECK_EQ_INT(n_bad, 0);
}

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static void test_compress_golden(void) {
    lines L;
    if (lines_open(&L, GOLD "/compress.txt")) {
        CHECK_MSG(0, "cannot read %s", GOLD "/compress.txt");
        return;
    }
    int n_cases = 0, n_bad = 0;
    char unit_hex[8192], word[8];
    for (char *s; (s = lines_next(&L));) {
        next_word(&s, word, sizeof word);
        if (strcmp(word, "cr")) continue;
        next_word(&s, unit_hex, sizeof unit_hex);
        int count = (int)next_int(&s), clen = (int)next_int(&s);
        double ratio = next_dbl(&s);
        size_t ulen = strcmp(unit_hex, "-") ? strlen(unit_hex) / 2 : 0;
        size_t len = ulen * (size_t)count;
        char *text = malloc(len + 1);
        for (int c = 0; c < count; c++)
            for (size_t i = 0; i < ulen; i++)
                text[c * ulen + i] = (char)(hexval(unit_hex[2 * i]) << 4 | hexval(unit_hex[2 * i + 1]));
        double got = mg_wrules_compression_ratio(text, len);
        if (got != ratio) {
            n_bad++;
            fprintf(stderr, "  compression ratio of %zu bytes: %.17g, Python %.17g (zlib.compress: %d bytes)\n",
                    len, got, ratio, clen);
        }
        free(text);
        n_cases++;
    }
    free(L.buf);
    printf("compression golden: %d texts, %d differ\n", n_cases, n_bad);
    CHECK(n_cases >= 40);
    CHECK_EQ_INT(n_bad, 0);
    CHECK(mg_wrules_compression_ratio("", 0) == 0.0);
}

static void test_lang_golden(void) {
    lines L;
    if (lines_open(&L, GOLD "/lang.txt")) {
        CHECK_MSG(0, "cannot read %s", GOLD "/lang.txt");
        return;
    }
    int n_cases = 0, n_bad = 0;
    double max_err = 0;
    char word[8];
    float probs[100];
    for (char *s; (s = lines_next(&L));) {
        next_word(&s, word, sizeof word);
        if (strcmp(word, "lang")) continue;
        int V = (int)next_int(&s);
        uint32_t seed = (uint32_t)next_int(&s);
        int best_want = (int)next_int(&s);
        mg_wtok_specials sp = lay(V);
        make_logits(g_logits, V, seed, sp.timestamp_begin, 0, 0);
        int best = mg_wrules_detect_language(&sp, g_logits, V, probs);
        int bad = best != best_want;
        for (int i = 0; i < sp.n_langs; i++) {
            double w = next_dbl(&s), e = fabs(probs[i] - w) / (w > 1e-30 ? w : 1e-30);
            if (e > max_err) max_err = e;
            if (e > 1e-5) bad = 1;
        }
        for (int i = 0; i < V; i++)
            if ((i < sp.lang_begin || i >= sp.lang_begin + sp.n_langs) && !isinf(g_logits[i])) { bad = 1; break; }
        if (bad) fprintf(stderr, "  lang case %d: best %d (want %d)\n", n_cases, best, best_want);
        n_bad += bad;
        n_cases++;
    }
    free(L.buf);
    printf("language golden: %d cases, %d differ, max prob rel err %.3g\n", n_cases, n_bad, max_err);
    CHECK(n_cases >= 10);
    CHECK_EQ_INT(n_bad, 0);
}

/* ------------------------------------------------------------------ */
/* choosing tokens                                                    */
/* ------------------------------------------------------------------ */

static void test_argmax_logprob(void) {
    float a[6] = {1, 3, 3, 2, -INFINITY, 3};
    CHECK_EQ_INT(mg_wrules_argmax(a, 6), 1);
    float b[3] = {-INFINITY, -INFINITY, -INFINITY};
    CHECK_EQ_INT(mg_wrules_argmax(b, 3), 0);
    float c[4] = {1, NAN, 5, NAN};
    CHECK_EQ_INT(mg_wrules_argmax(c, 4), 1);
    float d[2] = {-1, -1};
    CHECK_EQ_INT(mg_wrules_argmax(d, 2), 0);

    /* logprob vs double precision on the hash logits (51865) */
    mg_wtok_specials sp = lay(51865);
    double maxerr = 0;
    for (int t = 0; t < 4; t++) {
        make_logits(g_logits, 51865, 1234 + t, sp.timestamp_begin, 0, t * 8 - 16);
        if (t == 3) fill(g_logits, 100, 30000, -INFINITY);
        double m = -INFINITY, s = 0;
        for (int i = 0; i < 51865; i++) m = g_logits[i] > m ? g_logits[i] : m;
        for (int i = 0; i < 51865; i++) s += exp((double)g_logits[i] - m);
        int ids[5] = {0, 50, 220, sp.timestamp_begin + 7, 51864};
        for (int k = 0; k < 5; k++) {
            double want = (double)g_logits[ids[k]] - m - log(s);
            float got = mg_wrules_logprob(g_logits, 51865, ids[k]);
            double e = fabs(got - want);
            if (e > maxerr) maxerr = e;
        }
        CHECK((isinf(mg_wrules_logprob(g_logits, 51865, 200)) != 0) == (t == 3));
    }
    printf("logprob vs double: max abs error %.3g\n", maxerr);
    CHECK(maxerr < 4e-6);

    /* avg_logprob: sum / (n + 1) (eot counted); rank score sum / n */
    float sum = 0;
    float lps[4] = {-0.25f, -0.5f, -0.125f, -1.0f}; /* 3 tokens and eot */
    for (int i = 0; i < 4; i++) sum += lps[i];
    CHECK(mg_wrules_avg_logprob(sum, 3) == -1.875 / 4);
    CHECK(mg_wrules_rank_score(sum, 3) == -1.875 / 3);
    CHECK(isinf(mg_wrules_rank_score(sum, 0)));
    CHECK(mg_wrules_avg_logprob(0.1f, 2) == (double)0.1f / 3);
    CHECK(mg_wrules_time_offset(0) == 0.0);
    CHECK(mg_wrules_time_offset(3000) == 30.0);
    CHECK(mg_wrules_time_offset(1234) == 1234 * 160 / 16000.0);
    CHECK(mg_wrules_time_offset(2000000) == 20000.0);
}

static void chi_square(float T) {
    float l[8] = {0.0f, 1.0f, 2.0f, -1.0f, 0.5f, -INFINITY, 3.0f, 1.5f};
    double p[8], s = 0;
    for (int i = 0; i < 8; i++) s += p[i] = isinf(l[i]) ? 0 : exp((double)(l[i] / T));
    for (int i = 0; i < 8; i++) p[i] /= s;
    mg_wrng g;
    mg_wrng_seed(&g, mg_wrules_seed(42, 0, T));
    const int N = 200000;
    int cnt[8] = {0};
    float scratch[8];
    for (int i = 0; i < N; i++) {
        int k = mg_wrules_sample(l, 8, T, &g, scratch);
        if (k >= 0 && k < 8) cnt[k]++;
    }
    double chi = 0;
    for (int i = 0; i < 8; i++)
        if (p[i] > 0) chi += (cnt[i] - N * p[i]) * (cnt[i] - N * p[i]) / (N * p[i]);
    /* 7 categories with mass: df = 6; p = 0.001 critical value 22.46 */
    printf("sampling T=%.1f: chi-square %.2f (df 6), counts %d %d %d %d %d %d %d %d\n", T, chi, cnt[0], cnt[1],
           cnt[2], cnt[3], cnt[4], cnt[5], cnt[6], cnt[7]);
    CHECK_MSG(chi < 22.46, "T=%.1f chi-square %.2f", T, chi);
    CHECK_EQ_INT(cnt[5], 0);
}

static void test_sampling(void) {
    chi_square(0.5f);
    chi_square(1.0f);
    /* deterministic for a seed; different seeds differ */
    mg_wtok_specials sp = lay(51865);
    make_logits(g_logits, 51865, 99, sp.timestamp_begin, 0, 0);
    int seqa[64], seqb[64], seqc[64];
    mg_wrng a, b, c;
    mg_wrng_seed(&a, mg_wrules_seed(7, 3000, 0.2f));
    mg_wrng_seed(&b, mg_wrules_seed(7, 3000, 0.2f));
    mg_wrng_seed(&c, mg_wrules_seed(7, 3000, 0.4f));
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 64; i++) {
        seqa[i] = mg_wrules_sample(g_logits, 51865, 1.0f, &a, g_scratch);
        seqb[i] = mg_wrules_sample(g_logits, 51865, 1.0f, &b, g_scratch);
        seqc[i] = mg_wrules_sample(g_logits, 51865, 1.0f, &c, g_scratch);
        same_ab &= seqa[i] == seqb[i];
        same_ac &= seqa[i] == seqc[i];
    }
    CHECK(same_ab);
    CHECK(!same_ac);
    CHECK(mg_wrules_seed(7, 3000, 0.2f) != mg_wrules_seed(8, 3000, 0.2f));
    CHECK(mg_wrules_seed(7, 3000, 0.2f) != mg_wrules_seed(7, 3002, 0.2f));
    CHECK(mg_wrules_seed(7, 3000, 0.2f) != mg_wrules_seed(7, 3000, 0.4f));
    /* uniform in [0, 1) */
    double lo = 1, hi = 0, mean = 0;
    for (int i = 0; i < 100000; i++) {
        double u = mg_wrng_uniform(&a);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        mean += u / 100000;
    }
    CHECK(lo >= 0 && hi < 1 && fabs(mean - 0.5) < 0.01);
    /* a very low temperature is (almost) greedy; -inf everywhere but one id */
    fill(g_logits, 0, 51865, -INFINITY);
    g_logits[31337] = 0;
    CHECK_EQ_INT(mg_wrules_sample(g_logits, 51865, 1.0f, &a, g_scratch), 31337);
}

/* ------------------------------------------------------------------ */
/* measures and decisions                                             */
/* ------------------------------------------------------------------ */

static void test_language_and_no_speech(void) {
    int sizes[2] = {51865, 51866};
    for (int k = 0; k < 2; k++) {
        mg_wtok_specials sp = lay(sizes[k]);
        int V = sizes[k];
        fill(g_logits, 0, V, 0.0f);
        g_logits[sp.eot] = 50.0f; /* non-language tokens never win */
        g_logits[sp.lang_begin + 1] = 3.0f;
        g_logits[sp.lang_begin + sp.n_langs - 1] = 3.0f; /* tie: the first wins */
        g_logits[sp.lang_begin + 5] = 2.0f;
        float probs[100];
        int best = mg_wrules_detect_language(&sp, g_logits, V, probs);
        CHECK_EQ_INT(best, 1);
        double s = 0, z = 2 * exp(3.0) + exp(2.0) + (sp.n_langs - 3);
        for (int i = 0; i < sp.n_langs; i++) s += probs[i];
        CHECK(fabs(s - 1) < 1e-5);
        CHECK(fabs(probs[1] - exp(3.0) / z) < 1e-6 && fabs(probs[5] - exp(2.0) / z) < 1e-6);
        CHECK(fabs(probs[0] - 1 / z) < 1e-7);
        CHECK(isinf(g_logits[sp.eot]) && isinf(g_logits[sp.lang_begin + sp.n_langs]));
        CHECK_EQ_INT(mg_wrules_detect_language(&sp, g_logits, V, NULL), 1);

        /* no_speech_prob: plain softmax of the raw logits, unchanged */
        fill(g_logits, 0, V, -2.0f);
        g_logits[sp.no_speech] = 4.0f;
        g_logits[10] = 4.5f;
        double zz = (V - 2) * exp(-2.0) + exp(4.0) + exp(4.5);
        float ns = mg_wrules_no_speech_prob(&sp, g_logits, V);
        CHECK(fabs(ns - exp(4.0) / zz) < 1e-6);
        CHECK(g_logits[sp.no_speech] == 4.0f && g_logits[10] == 4.5f);
    }
}

static void test_decisions(void) {
    const double N = NAN;
    /* fallback(cr, avg, nsp, crt, lpt, nst) */
    CHECK(!mg_wrules_fallback(1.5, -0.5, 0.1, 2.4, -1.0, 0.6));
    CHECK(mg_wrules_fallback(2.5, -0.5, 0.1, 2.4, -1.0, 0.6));  /* too repetitive */
    CHECK(!mg_wrules_fallback(2.4, -0.5, 0.1, 2.4, -1.0, 0.6)); /* > not >= */
    CHECK(mg_wrules_fallback(1.5, -1.5, 0.1, 2.4, -1.0, 0.6));  /* logprob too low */
    CHECK(!mg_wrules_fallback(1.5, -1.0, 0.1, 2.4, -1.0, 0.6)); /* < not <= */
    CHECK(!mg_wrules_fallback(2.5, -1.5, 0.7, 2.4, -1.0, 0.6)); /* silence: no fallback */
    CHECK(!mg_wrules_fallback(2.5, -0.5, 0.7, 2.4, -1.0, 0.6)); /* silence also with a good logprob (20240930) */
    CHECK(mg_wrules_fallback(2.5, -0.5, 0.6, 2.4, -1.0, 0.6));  /* 0.6 is not > 0.6 */
    CHECK(!mg_wrules_fallback(9.0, -0.5, 0.1, N, -1.0, 0.6));   /* thresholds off */
    CHECK(!mg_wrules_fallback(1.0, -9.0, 0.1, 2.4, N, 0.6));
    CHECK(mg_wrules_fallback(9.0, -9.0, 0.99, 2.4, -1.0, N));   /* no silence override */
    CHECK(!mg_wrules_fallback(9.0, -9.0, 0.99, N, N, N));
    CHECK(!mg_wrules_fallback(N, N, N, 2.4, -1.0, 0.6));        /* NAN measures compare false */
    CHECK(mg_wrules_fallback(N, -2.0, N, 2.4, -1.0, 0.6));
    /* needs_fallback: the failure tests alone */
    CHECK(mg_wrules_needs_fallback(2.5, -0.5, 2.4, -1.0));
    CHECK(mg_wrules_needs_fallback(1.5, -1.5, 2.4, -1.0));
    CHECK(!mg_wrules_needs_fallback(2.4, -1.0, 2.4, -1.0));
    CHECK(!mg_wrules_needs_fallback(9.0, -9.0, N, N));
    /* should_skip(nsp, avg, nst, lpt) */
    CHECK(mg_wrules_should_skip(0.7, -1.5, 0.6, -1.0));
    CHECK(!mg_wrules_should_skip(0.7, -0.5, 0.6, -1.0)); /* logprob high enough */
    CHECK(mg_wrules_should_skip(0.7, -1.0, 0.6, -1.0));  /* -1.0 is not > -1.0 */
    CHECK(!mg_wrules_should_skip(0.6, -1.5, 0.6, -1.0));
    CHECK(!mg_wrules_should_skip(0.5, -1.5, 0.6, -1.0));
    CHECK(mg_wrules_should_skip(0.7, -0.5, 0.6, N));     /* no logprob threshold */
    CHECK(!mg_wrules_should_skip(0.99, -9.0, N, -1.0));  /* no_speech off */
    CHECK(!mg_wrules_should_skip(N, -9.0, 0.6, -1.0));

    /* Python's str.strip */
    size_t off = 99;
    CHECK_EQ_INT(mg_wrules_py_strip("  hi there \n", 12, &off), 8);
    CHECK_EQ_INT(off, 2);
    CHECK_EQ_INT(mg_wrules_py_strip("", 0, &off), 0);
    CHECK_EQ_INT(mg_wrules_py_strip(" \t\r\n\x0b\x0c\x1c\x1f", 8, &off), 0);
    const char *u = "\xc2\xa0\xe3\x80\x80" "a\xe2\x80\x8a" "b\xe2\x80\xa8\xc2\x85"; /* NBSP IDSP a HAIR b LS NEL */
    CHECK_EQ_INT(mg_wrules_py_strip(u, strlen(u), &off), 5);
    CHECK_EQ_INT(off, 5);
    const char *z = "\xe2\x80\x8b" "a"; /* ZERO WIDTH SPACE is not whitespace in Python */
    CHECK_EQ_INT(mg_wrules_py_strip(z, strlen(z), &off), 4);
    CHECK_EQ_INT(off, 0);
    const char *m = "\xe1\xa0\x8e"; /* U+180E is not whitespace since Python 3.7 */
    CHECK_EQ_INT(mg_wrules_py_strip(m, strlen(m), &off), 3);
}

static void test_split_constructed(void) {
    mg_wtok_specials sp = lay(51865);
    const int tb = sp.timestamp_begin;
    mg_wseg s[8];
    int adv;
    /* two pairs + single timestamp ending: 3 segments, the whole window */
    int32_t a[] = {tb + 0, 100, 101, tb + 50, tb + 50, 102, tb + 120, tb + 130, 103, tb + 200};
    int n = mg_wrules_split(&sp, a, 10, 30.0, 3000, s, 8, &adv);
    CHECK_EQ_INT(n, 3);
    CHECK(s[0].tok0 == 0 && s[0].tok1 == 4 && s[0].start == 30.0 && s[0].end == 30.0 + 50 * 0.02);
    CHECK(s[1].tok0 == 4 && s[1].tok1 == 7 && s[1].start == 30.0 + 50 * 0.02 && s[1].end == 30.0 + 120 * 0.02);
    CHECK(s[2].tok0 == 7 && s[2].tok1 == 10 && s[2].end == 30.0 + 200 * 0.02);
    CHECK_EQ_INT(adv, 3000);
    /* ending with a pair: unfinished tail dropped, seek to the last timestamp */
    int32_t b[] = {tb + 0, 100, tb + 50, tb + 60, 101, 102};
    n = mg_wrules_split(&sp, b, 6, 0.0, 3000, s, 8, &adv);
    CHECK_EQ_INT(n, 1);
    CHECK(s[0].tok0 == 0 && s[0].tok1 == 3 && s[0].end == 50 * 0.02);
    CHECK_EQ_INT(adv, 100);
    int32_t b2[] = {tb + 0, 100, tb + 50, tb + 50};
    n = mg_wrules_split(&sp, b2, 4, 0.0, 3000, s, 8, &adv);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(adv, 100);
    /* no pair, a last timestamp: duration from it */
    int32_t c[] = {tb + 0, 100, 101, tb + 75};
    n = mg_wrules_split(&sp, c, 4, 12.34, 2500, s, 8, &adv);
    CHECK_EQ_INT(n, 1);
    CHECK(s[0].tok0 == 0 && s[0].tok1 == 4 && s[0].start == 12.34 && s[0].end == 12.34 + 75 * 0.02);
    CHECK_EQ_INT(adv, 2500);
    /* no pair, the last timestamp <|0.00|>: the window's duration */
    int32_t d[] = {100, 101, tb};
    n = mg_wrules_split(&sp, d, 3, 0.0, 2500, s, 8, &adv);
    CHECK(n == 1 && s[0].end == 25.0 && adv == 2500);
    /* only text */
    int32_t e[] = {100, 101, 102};
    n = mg_wrules_split(&sp, e, 3, 60.0, 3000, s, 8, &adv);
    CHECK(n == 1 && s[0].start == 60.0 && s[0].end == 90.0 && s[0].tok1 == 3 && adv == 3000);
    /* empty result */
    n = mg_wrules_split(&sp, e, 0, 0.0, 1234, s, 8, &adv);
    CHECK(n == 1 && s[0].tok0 == 0 && s[0].tok1 == 0 && s[0].end == 12.34 && adv == 1234);
    /* cap smaller than the count */
    n = mg_wrules_split(&sp, a, 10, 30.0, 3000, s, 1, &adv);
    CHECK(n == 3 && s[0].tok1 == 4);
    /* English-only and v3 layouts */
    int sizes[2] = {51864, 51866};
    for (int k = 0; k < 2; k++) {
        mg_wtok_specials q = lay(sizes[k]);
        int t = q.timestamp_begin;
        int32_t f[] = {t + 10, 100, t + 40, t + 40, 101, t + 90};
        n = mg_wrules_split(&q, f, 6, 0.0, 3000, s, 8, &adv);
        CHECK(n == 2 && s[0].start == 10 * 0.02 && s[1].end == 90 * 0.02 && adv == 3000);
        int32_t g[] = {t - 1, 100, t + 40, t + 40, 101, 102};
        n = mg_wrules_split(&q, g, 6, 0.0, 3000, s, 8, &adv);
        CHECK(n == 1 && s[0].start == -1 * 0.02 && adv == 80);
    }
}

/* ------------------------------------------------------------------ */
/* with the real tokenizer                                            */
/* ------------------------------------------------------------------ */

static void test_layouts(void) {
    int sizes[3] = {51864, 51865, 51866};
    for (int k = 0; k < 3; k++) {
        mg_wtok_specials a = lay(sizes[k]), b;
        mg_error err = {0};
        int rc = mg_wtok_layout(sizes[k], &b, &err);
        CHECK_MSG(rc == MG_OK, "mg_wtok_layout(%d): %s", sizes[k], err.msg);
        if (rc) continue;
        CHECK(a.eot == b.eot && a.sot == b.sot && a.lang_begin == b.lang_begin && a.n_langs == b.n_langs &&
              a.translate == b.translate && a.transcribe == b.transcribe && a.sot_lm == b.sot_lm &&
              a.sot_prev == b.sot_prev && a.no_speech == b.no_speech && a.no_timestamps == b.no_timestamps &&
              a.timestamp_begin == b.timestamp_begin && a.n_vocab == b.n_vocab && a.multilingual == b.multilingual);
        CHECK_EQ_INT(b.timestamp_begin + 1501, sizes[k]);
    }
}

static void test_init(void) {
    const char *path = MG_SHARED_DIR "/whisper/multilingual.tiktoken";
    mg_wtok *tok = NULL;
    mg_error err = {0};
    if (mg_wtok_open_tiktoken(path, 51865, &tok, &err) != MG_OK) {
        printf("SKIP: mg_wrules_init: the tokenizer does not load %s (%s)\n", path, err.msg);
        return;
    }
    const mg_wtok_specials *sp = mg_wtok_get_specials(tok);
    static int32_t buf[2048], ns[2048];
    int n_ns = mg_wtok_non_speech_tokens(tok, ns, 2048);
    CHECK(n_ns > 50 && n_ns < 2048);
    mg_wrules r;
    int rc = mg_wrules_init(&r, tok, 4, 0, 1.0, NULL, -1, buf, 2048, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    if (rc == MG_OK) {
        CHECK(r.n_blank == 2 && r.blank[0] == 220 && r.blank[1] == sp->eot && r.suppress_blank == 1);
        CHECK_EQ_INT(r.max_initial_timestamp_index, 50);
        CHECK_EQ_INT(r.n_suppress, n_ns + 6);
        int sorted = 1;
        for (int i = 1; i < r.n_suppress; i++) sorted &= r.suppress[i - 1] < r.suppress[i];
        CHECK(sorted);
        int want[6] = {sp->transcribe, sp->translate, sp->sot, sp->sot_prev, sp->sot_lm, sp->no_speech};
        for (int k = 0; k < 6; k++) {
            int found = 0;
            for (int i = 0; i < r.n_suppress; i++) found |= r.suppress[i] == want[k];
            CHECK_MSG(found, "special %d not suppressed", want[k]);
        }
        CHECK(r.sample_begin == 4 && r.without_timestamps == 0 && r.n_vocab == 51865);
    }
    int32_t ex[3] = {5, 3, 5};
    rc = mg_wrules_init(&r, tok, 4, 1, 0.0, ex, 3, buf, 2048, &err);
    CHECK(rc == MG_OK && r.n_suppress == 8 && r.suppress[0] == 3 && r.suppress[1] == 5);
    CHECK(rc == MG_OK && r.max_initial_timestamp_index == -1 && r.without_timestamps == 1);
    int32_t ex2[2] = {5, -1};
    rc = mg_wrules_init(&r, tok, 4, 0, 0.01, ex2, 2, buf, 2048, &err);
    int five_in_ns = 0;
    for (int i = 0; i < n_ns; i++) five_in_ns |= ns[i] == 5;
    CHECK(rc == MG_OK && r.n_suppress == n_ns + 6 + !five_in_ns);
    CHECK_EQ_INT(r.max_initial_timestamp_index, 0); /* round(0.5) = 0 */
    rc = mg_wrules_init(&r, tok, 4, 0, 0.03, NULL, 0, buf, 2048, &err);
    /* 0.03 / 0.02 == 1.5 in double: round() -> 2 (ties to even) */
    CHECK_MSG(rc == MG_OK && r.n_suppress == 0 && r.max_initial_timestamp_index == 2, "rc %d (%s), n_suppress %d, "
              "max_initial_timestamp_index %d", rc, err.msg, r.n_suppress, r.max_initial_timestamp_index);
    int32_t bad[1] = {51865};
    CHECK_EQ_INT(mg_wrules_init(&r, tok, 4, 0, 1.0, bad, 1, buf, 2048, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_wrules_init(&r, tok, 4, 0, 1.0, NULL, -1, buf, 10, &err), MG_ELIMIT);
    int32_t dup[2] = {sp->sot, 7}; /* a special given explicitly is kept once */
    rc = mg_wrules_init(&r, tok, 4, 0, 1.0, dup, 2, buf, 2048, &err);
    CHECK(rc == MG_OK && r.n_suppress == 7 && r.suppress[0] == 7);
    mg_wtok_close(tok);

    /* English-only: blank = [220, 50256] */
    const char *en = MG_SHARED_DIR "/whisper/gpt2.tiktoken";
    if (mg_wtok_open_tiktoken(en, 51864, &tok, &err) != MG_OK) {
        printf("SKIP: mg_wrules_init (English-only): %s does not load (%s)\n", en, err.msg);
        return;
    }
    rc = mg_wrules_init(&r, tok, 3, 0, 1.0, NULL, -1, buf, 2048, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(rc == MG_OK && r.n_blank == 2 && r.blank[0] == 220 && r.blank[1] == 50256 && r.n_vocab == 51864);
    CHECK(rc == MG_OK && r.sp->timestamp_begin == 50363 && r.n_suppress > 56);
    mg_wtok_close(tok);
}

int main(void) {
    test_filters_constructed(51865);
    test_filters_constructed(51864);
    test_filters_constructed(51866);
    test_filters_golden();
    test_argmax_logprob();
    test_sampling();
    test_language_and_no_speech();
    test_lang_golden();
    test_compress_golden();
    test_decisions();
    test_split_constructed();
    test_split_golden();
    test_layouts();
    test_init();
    return mg_test_finish();
}
