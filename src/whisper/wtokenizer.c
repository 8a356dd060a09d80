/*
 * wtokenizer.c - Whisper's tokenizer (see wtokenizer.h): a rank table (token
 * bytes -> rank == id) loaded from a tiktoken file or from a Hugging Face
 * vocabulary (GPT-2 byte-to-unicode strings), the GPT-2 pre-tokenizer pattern
 * evaluated by hand over code points with the `regex` module's classes
 * (\p{L}, \p{N}, \s = White_Space, from utf8proc), tiktoken's rank-based byte
 * pair merge (a heap keyed by rank then position, so a long piece costs
 * O(n log n) rather than tiktoken's O(n^2) scan, with the same result), the
 * special tokens laid out by rule from n_vocab, non_speech_tokens, the
 * language table, and decoding with CPython's UTF-8 "replace" semantics
 * (one U+FFFD per maximal subpart of an ill-formed sequence).
 *
 * Input text that is not valid UTF-8 is first decoded the same "replace" way
 * (as tiktoken does with a Python str holding lone surrogates), so any bytes
 * encode. Files are size-capped and fully validated: every rank 0..n-1
 * exactly once, distinct byte strings, all 256 single bytes present.
 */
#include "whisper/wtokenizer.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#define WT_MAX_FILE ((size_t)64 << 20)  /* tokenizer.json is 2.4 MB */
#define WT_MAX_TOKEN 1024               /* bytes of one token (the longest real one is 128) */
#define WT_MAX_TEXT ((size_t)64 << 20)  /* bytes of text one encode accepts */
#define WT_NONE UINT32_MAX

struct mg_wtok {
    mg_wtok_specials sp;
    int n_ranks;
    uint8_t *blob;     /* token bytes in rank order */
    uint32_t *off;     /* n_ranks + 1 offsets into blob */
    int32_t *table;    /* open addressing: rank or -1 */
    uint32_t mask;
    size_t max_len;    /* longest token */
};

/* ---- languages --------------------------------------------------------- */

static const char *const lang_codes[100] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha",
    "ba", "jw", "su", "yue"};
static const char *const lang_names[100] = {
    "english", "chinese", "german", "spanish", "russian", "korean", "french", "japanese",
    "portuguese", "turkish", "polish", "catalan", "dutch", "arabic", "swedish", "italian",
    "indonesian", "hindi", "finnish", "vietnamese", "hebrew", "ukrainian", "greek", "malay",
    "czech", "romanian", "danish", "hungarian", "tamil", "norwegian", "thai", "urdu", "croatian",
    "bulgarian", "lithuanian", "latin", "maori", "malayalam", "welsh", "slovak", "telugu",
    "persian", "latvian", "bengali", "serbian", "azerbaijani", "slovenian", "kannada", "estonian",
    "macedonian", "breton", "basque", "icelandic", "armenian", "nepali", "mongolian", "bosnian",
    "kazakh", "albanian", "swahili", "galician", "marathi", "punjabi", "sinhala", "khmer", "shona",
    "yoruba", "somali", "afrikaans", "occitan", "georgian", "belarusian", "tajik", "sindhi",
    "gujarati", "amharic", "yiddish", "lao", "uzbek", "faroese", "haitian creole", "pashto",
    "turkmen", "nynorsk", "maltese", "sanskrit", "luxembourgish", "myanmar", "tibetan", "tagalog",
    "malagasy", "assamese", "tatar", "hawaiian", "lingala", "hausa", "bashkir", "javanese",
    "sundanese", "cantonese"};
/* TO_LANGUAGE_CODE's aliases */
static const char *const lang_alias[][2] = {
    {"burmese", "my"}, {"valencian", "ca"}, {"flemish", "nl"}, {"haitian", "ht"},
    {"letzeburgesch", "lb"}, {"pushto", "ps"}, {"panjabi", "pa"}, {"moldavian", "ro"},
    {"moldovan", "ro"}, {"sinhalese", "si"}, {"castilian", "es"}, {"mandarin", "zh"}};

const char *mg_wtok_lang_code(int i) { return i >= 0 && i < 100 ? lang_codes[i] : NULL; }
const char *mg_wtok_lang_name(int i) { return i >= 0 && i < 100 ? lang_names[i] : NULL; }

static int ascii_ieq(const char *a, const char *b) {
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return 0;
        if (!x) return 1;
    }
}

static int code_index(const char *code) {
    for (int i = 0; i < 100; i++)
        if (ascii_ieq(code, lang_codes[i])) return i;
    return -1;
}

int mg_wtok_lang_index(const mg_wtok_specials *sp, const char *s) {
    if (!s) return -1;
    int n = sp ? sp->n_langs : 100, i = code_index(s);
    for (int k = 0; i < 0 && k < 100; k++)
        if (ascii_ieq(s, lang_names[k])) i = k;
    for (size_t k = 0; i < 0 && k < sizeof lang_alias / sizeof lang_alias[0]; k++)
        if (ascii_ieq(s, lang_alias[k][0])) i = code_index(lang_alias[k][1]);
    return i >= 0 && i < n ? i : -1;
}

/* ---- special tokens ---------------------------------------------------- */

int mg_wtok_layout(int n_vocab, mg_wtok_specials *o, mg_error *err) {
    if (!o) return mg_err_set(err, MG_EINVAL, "wtokenizer: no output");
    if (n_vocab != 51864 && n_vocab != 51865 && n_vocab != 51866)
        return mg_err_set(err, MG_EUNSUPPORTED, "wtokenizer: n_vocab %d is none of Whisper's "
                          "layouts (51864 English-only, 51865 multilingual, 51866 v3)", n_vocab);
    memset(o, 0, sizeof *o);
    o->n_vocab = n_vocab;
    o->multilingual = n_vocab >= 51865;
    o->n_langs = n_vocab - 51765 - (n_vocab >= 51865); /* model.py's num_languages */
    o->eot = o->multilingual ? 50257 : 50256;           /* the rank table's size */
    o->sot = o->eot + 1;
    o->lang_begin = o->sot + 1;
    o->translate = o->lang_begin + o->n_langs;
    o->transcribe = o->translate + 1;
    o->sot_lm = o->transcribe + 1;
    o->sot_prev = o->sot_lm + 1;
    o->no_speech = o->sot_prev + 1;
    o->no_timestamps = o->no_speech + 1;
    o->timestamp_begin = o->no_timestamps + 1;
    MG_ASSERT(o->timestamp_begin + 1501 == n_vocab);
    return MG_OK;
}

int mg_wtok_special_name(const mg_wtok_specials *sp, int id, char *buf, size_t cap) {
    if (!sp || id < sp->eot || id >= sp->n_vocab) return -1;
    const char *name = NULL;
    if (id == sp->eot) name = "endoftext";
    else if (id == sp->sot) name = "startoftranscript";
    else if (id < sp->translate) name = lang_codes[id - sp->lang_begin];
    else if (id == sp->translate) name = "translate";
    else if (id == sp->transcribe) name = "transcribe";
    else if (id == sp->sot_lm) name = "startoflm";
    else if (id == sp->sot_prev) name = "startofprev";
    else if (id == sp->no_speech) name = "nospeech";
    else if (id == sp->no_timestamps) name = "notimestamps";
    /* f"<|{i * 0.02:.2f}|>": glibc's %.2f rounds the double exactly as Python */
    if (name) return snprintf(buf, cap, "<|%s|>", name);
    return snprintf(buf, cap, "<|%.2f|>", (double)(id - sp->timestamp_begin) * 0.02);
}

/* ---- rank table -------------------------------------------------------- */

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint32_t rank_of(const mg_wtok *t, const uint8_t *p, size_t n) {
    if (n > t->max_len) return WT_NONE;
    for (uint32_t i = (uint32_t)hash_bytes(p, n) & t->mask;; i = (i + 1) & t->mask) {
        int32_t r = t->table[i];
        if (r < 0) return WT_NONE;
        if (t->off[r + 1] - t->off[r] == n && memcmp(t->blob + t->off[r], p, n) == 0)
            return (uint32_t)r;
    }
}

/* Loader state: tokens in file order, then sorted into rank order. */
typedef struct {
    int n_ranks, count;
    uint8_t *bytes;     /* appended token bytes */
    size_t len, cap;
    uint32_t *start;    /* per rank: offset into bytes, or WT_NONE */
    uint16_t *tlen;
} builder;

static int builder_init(builder *b, int n_ranks, mg_error *err) {
    memset(b, 0, sizeof *b);
    b->n_ranks = n_ranks;
    b->start = malloc((size_t)n_ranks * sizeof *b->start);
    b->tlen = calloc((size_t)n_ranks, sizeof *b->tlen);
    if (!b->start || !b->tlen) return mg_err_set(err, MG_ENOMEM, "wtokenizer: out of memory");
    memset(b->start, 0xFF, (size_t)n_ranks * sizeof *b->start);
    return MG_OK;
}

static void builder_free(builder *b) {
    free(b->bytes);
    free(b->start);
    free(b->tlen);
}

static int builder_add(builder *b, int rank, const uint8_t *p, size_t n, const char *src,
                       mg_error *err) {
    if (rank < 0 || rank >= b->n_ranks)
        return mg_err_set(err, MG_EFORMAT, "%s: rank %d outside 0..%d", src, rank, b->n_ranks - 1);
    if (n > WT_MAX_TOKEN)
        return mg_err_set(err, MG_ELIMIT, "%s: token %d is %zu bytes (limit %d)", src, rank, n,
                          WT_MAX_TOKEN);
    if (b->start[rank] != WT_NONE)
        return mg_err_set(err, MG_EFORMAT, "%s: rank %d appears twice", src, rank);
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->len + n) cap *= 2;
        uint8_t *nb = realloc(b->bytes, cap);
        if (!nb) return mg_err_set(err, MG_ENOMEM, "wtokenizer: out of memory");
        b->bytes = nb;
        b->cap = cap;
    }
    if (n) memcpy(b->bytes + b->len, p, n);
    b->start[rank] = (uint32_t)b->len;
    b->tlen[rank] = (uint16_t)n;
    b->len += n;
    b->count++;
    return MG_OK;
}

/* Builds the tokenizer from a complete builder (consumed either way). */
static int builder_finish(builder *b, const mg_wtok_specials *sp, const char *src, mg_wtok **out,
                          mg_error *err) {
    int rc = MG_OK, n = b->n_ranks;
    mg_wtok *t = calloc(1, sizeof *t);
    if (!t) {
        builder_free(b);
        return mg_err_set(err, MG_ENOMEM, "wtokenizer: out of memory");
    }
    t->sp = *sp;
    t->n_ranks = n;
    uint32_t cap = 1;
    while (cap < 2u * (uint32_t)n) cap <<= 1;
    t->mask = cap - 1;
    t->blob = malloc(b->len ? b->len : 1);
    t->off = malloc(((size_t)n + 1) * sizeof *t->off);
    t->table = malloc((size_t)cap * sizeof *t->table);
    if (!t->blob || !t->off || !t->table) {
        rc = mg_err_set(err, MG_ENOMEM, "wtokenizer: out of memory");
        goto done;
    }
    memset(t->table, 0xFF, (size_t)cap * sizeof *t->table);
    size_t o = 0;
    for (int r = 0; r < n; r++) {
        if (b->start[r] == WT_NONE) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: %d ranks, expected %d for n_vocab %d (rank %d "
                            "is missing)", src, b->count, n, sp->n_vocab, r);
            goto done;
        }
        t->off[r] = (uint32_t)o;
        memcpy(t->blob + o, b->bytes + b->start[r], b->tlen[r]);
        o += b->tlen[r];
        if (b->tlen[r] > t->max_len) t->max_len = b->tlen[r];
    }
    t->off[n] = (uint32_t)o;
    for (int r = 0; r < n; r++) {
        const uint8_t *p = t->blob + t->off[r];
        size_t len = t->off[r + 1] - t->off[r];
        uint32_t i = (uint32_t)hash_bytes(p, len) & t->mask;
        for (; t->table[i] >= 0; i = (i + 1) & t->mask) {
            int32_t q = t->table[i];
            if (t->off[q + 1] - t->off[q] == len && memcmp(t->blob + t->off[q], p, len) == 0) {
                rc = mg_err_set(err, MG_EFORMAT, "%s: ranks %d and %d have the same bytes", src,
                                q, r);
                goto done;
            }
        }
        t->table[i] = r;
    }
    for (int c = 0; c < 256; c++) {
        uint8_t byte = (uint8_t)c;
        if (rank_of(t, &byte, 1) == WT_NONE) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: byte 0x%02x is not a token (byte-level BPE "
                            "needs all 256)", src, c);
            goto done;
        }
    }
done:
    builder_free(b);
    if (rc) {
        mg_wtok_close(t);
        return rc;
    }
    *out = t;
    return MG_OK;
}

void mg_wtok_close(mg_wtok *t) {
    if (!t) return;
    free(t->blob);
    free(t->off);
    free(t->table);
    free(t);
}

const mg_wtok_specials *mg_wtok_get_specials(const mg_wtok *t) { return t ? &t->sp : NULL; }

const uint8_t *mg_wtok_token_bytes(const mg_wtok *t, int id, size_t *len) {
    if (len) *len = 0;
    if (!t || id < 0 || id >= t->n_ranks) return NULL;
    if (len) *len = t->off[id + 1] - t->off[id];
    return t->blob + t->off[id];
}

/* ---- tiktoken files ---------------------------------------------------- */

static int b64_val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with optional '=' padding ("=" alone is the empty token
 * of multilingual.tiktoken). Returns the length or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out) {
    size_t pad = 0;
    while (n > 0 && s[n - 1] == '=' && pad < 2) n--, pad++;
    if (n % 4 == 1) return -1;
    uint32_t acc = 0;
    int bits = 0;
    long o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o;
}

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

int mg_wtok_open_tiktoken_mem(const void *data, size_t len, int n_vocab, mg_wtok **out,
                              mg_error *err) {
    mg_wtok_specials sp;
    if (!out || (!data && len)) return mg_err_set(err, MG_EINVAL, "wtokenizer: bad arguments");
    *out = NULL;
    int rc = mg_wtok_layout(n_vocab, &sp, err);
    if (rc) return rc;
    if (len > WT_MAX_FILE)
        return mg_err_set(err, MG_ELIMIT, "tiktoken: %zu bytes (limit %zu)", len, WT_MAX_FILE);
    builder b;
    if ((rc = builder_init(&b, sp.eot, err))) {
        builder_free(&b);
        return rc;
    }
    const char *s = data, *end = s + len;
    uint8_t tok[WT_MAX_TOKEN + 3]; /* what (WT_MAX_TOKEN / 3 + 1) * 4 base64 characters decode to */
    for (long line = 1; s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s)), *e = nl ? nl : end;
        while (s < e && is_ws(*s)) s++;
        const char *f1 = s;
        while (s < e && !is_ws(*s)) s++;
        size_t n1 = (size_t)(s - f1);
        while (s < e && is_ws(*s)) s++;
        const char *f2 = s;
        while (s < e && !is_ws(*s)) s++;
        size_t n2 = (size_t)(s - f2);
        while (s < e && is_ws(*s)) s++;
        if (n1 == 0 && n2 == 0 && s == e) { /* blank line */
            s = e + (nl != NULL);
            continue;
        }
        long r = n2 > 0 && n2 <= 9 ? 0 : -1;
        for (size_t k = 0; r >= 0 && k < n2; k++)
            r = f2[k] >= '0' && f2[k] <= '9' ? r * 10 + (f2[k] - '0') : -1;
        long tl = n1 <= (WT_MAX_TOKEN / 3 + 1) * 4 ? b64_decode(f1, n1, tok) : -2;
        if (s != e || r < 0 || tl < 0) {
            rc = mg_err_set(err, tl == -2 ? MG_ELIMIT : MG_EFORMAT, "tiktoken: line %ld: expected "
                            "\"<base64> <rank>\"%s", line, tl == -2 ? " (token too long)" : "");
            break;
        }
        if ((rc = builder_add(&b, (int)(r > INT32_MAX ? -1 : r), tok, (size_t)tl, "tiktoken", err)))
            break;
        s = e + (nl != NULL);
    }
    if (rc) {
        builder_free(&b);
        return rc;
    }
    return builder_finish(&b, &sp, "tiktoken", out, err);
}

int mg_wtok_open_tiktoken(const char *path, int n_vocab, mg_wtok **out, mg_error *err) {
    if (!path || !out) return mg_err_set(err, MG_EINVAL, "wtokenizer: bad arguments");
    char *buf = NULL;
    size_t len = 0;
    int rc = mg_read_file(path, WT_MAX_FILE, &buf, &len, err);
    if (rc) return rc;
    rc = mg_wtok_open_tiktoken_mem(buf, len, n_vocab, out, err);
    free(buf);
    if (rc) mg_err_prefix(err, "%s", path);
    return rc;
}

/* ---- Hugging Face files ------------------------------------------------ */

/* Inverse of GPT-2's bytes_to_unicode (code points 0..323 -> byte or -1). */
static void unicode_to_bytes(int16_t inv[324]) {
    int extra = 0;
    for (int c = 0; c < 324; c++) inv[c] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        inv[printable ? b : 256 + extra++] = (int16_t)b;
    }
}

/* A byte-level string back to bytes; -1 when a character is outside the map. */
static long hf_to_bytes(const int16_t inv[324], const char *s, size_t n, uint8_t *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0 || c < 0 || c >= 324 || inv[c] < 0 || o >= cap) return -1;
        out[o++] = (uint8_t)inv[c];
        i += (size_t)k;
    }
    return (long)o;
}

static int parse_json(const char *buf, size_t len, const char *src, json_object **out,
                      mg_error *err) {
    *out = NULL;
    if (len > WT_MAX_FILE || len > INT32_MAX - 1)
        return mg_err_set(err, MG_ELIMIT, "%s: %zu bytes (limit %zu)", src, len, WT_MAX_FILE);
    json_tokener *tk = json_tokener_new();
    if (!tk) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", src);
    json_tokener_set_flags(tk, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tk, buf, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t end = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    if (je != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return mg_err_set(err, MG_EFORMAT, "%s: %s at byte %zu", src,
                          je != json_tokener_success ? json_tokener_error_desc(je)
                                                     : "not a JSON object", end);
    }
    *out = o;
    return MG_OK;
}

/* An id the file gives a special token must be where the layout puts it. */
static int check_special(const mg_wtok_specials *sp, const char *name, int64_t id, const char *src,
                         int *seen, mg_error *err) {
    char want[32];
    if (id < sp->eot || id >= sp->n_vocab)
        return mg_err_set(err, MG_EFORMAT, "%s: added token \"%.64s\" has id %lld, outside the "
                          "special range %d..%d of n_vocab %d", src, name, (long long)id, sp->eot,
                          sp->n_vocab - 1, sp->n_vocab);
    mg_wtok_special_name(sp, (int)id, want, sizeof want);
    if (strcmp(name, want) != 0 && !(id == sp->no_speech && strcmp(name, "<|nocaptions|>") == 0))
        return mg_err_set(err, MG_EFORMAT, "%s: token %lld is \"%.64s\" but the layout for n_vocab "
                          "%d puts %s there", src, (long long)id, name, sp->n_vocab, want);
    if (id == sp->eot) seen[0] = 1;
    if (id == sp->sot) seen[1] = 1;
    return MG_OK;
}

/* Adds the ranks of a vocab object (string -> id); ids at or above the
 * ranks must be the layout's specials. */
static int add_vocab(builder *b, const mg_wtok_specials *sp, json_object *vocab, const char *src,
                     int *seen, mg_error *err) {
    int16_t inv[324];
    uint8_t tok[WT_MAX_TOKEN];
    unicode_to_bytes(inv);
    json_object_object_foreach(vocab, key, val) {
        if (!json_object_is_type(val, json_type_int))
            return mg_err_set(err, MG_EFORMAT, "%s: the id of \"%.64s\" is not an integer", src, key);
        int64_t id = json_object_get_int64(val);
        if (id >= b->n_ranks) {
            int rc = check_special(sp, key, id, src, seen, err);
            if (rc) return rc;
            continue;
        }
        long n = hf_to_bytes(inv, key, strlen(key), tok, sizeof tok);
        if (n < 0)
            return mg_err_set(err, MG_EFORMAT, "%s: token \"%.64s\" is not a byte-level string", src,
                              key);
        int rc = builder_add(b, (int)(id < 0 ? -1 : id), tok, (size_t)n, src, err);
        if (rc) return rc;
    }
    return MG_OK;
}

/* Rank-based merging equals Hugging Face's merge-list BPE when every merge
 * yields a token ranked after the previous merge's: checked line by line. */
static int check_merge(const mg_wtok *t, const int16_t *inv, const char *a, size_t na,
                       const char *bb, size_t nb, uint32_t *prev, long line, const char *src,
                       mg_error *err) {
    uint8_t buf[2 * WT_MAX_TOKEN];
    long la = hf_to_bytes(inv, a, na, buf, WT_MAX_TOKEN);
    long lb = la < 0 ? -1 : hf_to_bytes(inv, bb, nb, buf + la, WT_MAX_TOKEN);
    uint32_t r = lb < 0 ? WT_NONE : rank_of(t, buf, (size_t)(la + lb));
    if (lb < 0 || rank_of(t, buf, (size_t)la) == WT_NONE ||
        rank_of(t, buf + la, (size_t)lb) == WT_NONE || r == WT_NONE)
        return mg_err_set(err, MG_EFORMAT, "%s: merge %ld (\"%.*s %.*s\") is not made of tokens",
                          src, line, (int)(na > 64 ? 64 : na), a, (int)(nb > 64 ? 64 : nb), bb);
    if (*prev != WT_NONE && r <= *prev)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: merge %ld yields rank %u after rank %u: the "
                          "merge order differs from the vocabulary ids", src, line, r, *prev);
    *prev = r;
    return MG_OK;
}

static int check_merges_json(const mg_wtok *t, json_object *merges, mg_error *err) {
    int16_t inv[324];
    unicode_to_bytes(inv);
    uint32_t prev = WT_NONE;
    size_t n = json_object_array_length(merges);
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(merges, i);
        const char *a = NULL, *bb = NULL;
        size_t na = 0, nb = 0;
        if (json_object_is_type(m, json_type_string)) {
            a = json_object_get_string(m);
            const char *sp = strchr(a, ' ');
            if (sp) na = (size_t)(sp - a), bb = sp + 1, nb = strlen(bb);
        } else if (json_object_is_type(m, json_type_array) && json_object_array_length(m) == 2 &&
                   json_object_is_type(json_object_array_get_idx(m, 0), json_type_string) &&
                   json_object_is_type(json_object_array_get_idx(m, 1), json_type_string)) {
            a = json_object_get_string(json_object_array_get_idx(m, 0));
            bb = json_object_get_string(json_object_array_get_idx(m, 1));
            na = strlen(a), nb = strlen(bb);
        }
        if (!bb) return mg_err_set(err, MG_EFORMAT, "tokenizer.json: merge %zu is malformed", i + 1);
        int rc = check_merge(t, inv, a, na, bb, nb, &prev, (long)i + 1, "tokenizer.json", err);
        if (rc) return rc;
    }
    return MG_OK;
}

static int check_merges_txt(const mg_wtok *t, const char *s, size_t len, mg_error *err) {
    int16_t inv[324];
    unicode_to_bytes(inv);
    uint32_t prev = WT_NONE;
    const char *end = s + len;
    for (long line = 1; s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s)), *e = nl ? nl : end;
        size_t n = (size_t)(e - s);
        if (n && s[n - 1] == '\r') n--;
        if (n && !(line == 1 && n >= 8 && memcmp(s, "#version", 8) == 0)) {
            const char *sp = memchr(s, ' ', n);
            if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
                return mg_err_set(err, MG_EFORMAT, "merges.txt: line %ld is not \"a b\"", line);
            int rc = check_merge(t, inv, s, (size_t)(sp - s), sp + 1, (size_t)(s + n - sp - 1),
                                 &prev, line, "merges.txt", err);
            if (rc) return rc;
        }
        s = e + (nl != NULL);
    }
    return MG_OK;
}

/* Common tail of the Hugging Face loaders: added tokens, then the table. */
static int hf_finish(builder *b, const mg_wtok_specials *sp, json_object *added, int added_is_map,
                     const char *src, int *seen, mg_wtok **out, mg_error *err) {
    int rc = MG_OK;
    if (added && added_is_map) { /* added_tokens.json: content -> id */
        json_object_object_foreach(added, key, val) {
            if (!json_object_is_type(val, json_type_int)) {
                rc = mg_err_set(err, MG_EFORMAT, "added_tokens.json: \"%.64s\" has no integer id", key);
                break;
            }
            if ((rc = check_special(sp, key, json_object_get_int64(val), "added_tokens.json", seen, err)))
                break;
        }
    } else if (added) { /* tokenizer.json: [{"id": .., "content": ..}, ...] */
        size_t n = json_object_array_length(added);
        for (size_t i = 0; i < n && !rc; i++) {
            json_object *a = json_object_array_get_idx(added, i), *jid, *jc;
            if (!json_object_object_get_ex(a, "id", &jid) || !json_object_is_type(jid, json_type_int) ||
                !json_object_object_get_ex(a, "content", &jc) ||
                !json_object_is_type(jc, json_type_string)) {
                rc = mg_err_set(err, MG_EFORMAT, "%s: added token %zu lacks an id or content", src, i);
                break;
            }
            rc = check_special(sp, json_object_get_string(jc), json_object_get_int64(jid), src, seen, err);
        }
    }
    /* a list of added tokens must hold the two every layout has */
    if (!rc && added && (!seen[0] || !seen[1]))
        rc = mg_err_set(err, MG_EFORMAT, "%s: lists no %s", src,
                        seen[0] ? "<|startoftranscript|>" : "<|endoftext|>");
    if (rc) {
        builder_free(b);
        return rc;
    }
    return builder_finish(b, sp, src, out, err);
}

int mg_wtok_open_hf_mem(const char *json, size_t len, int n_vocab, mg_wtok **out, mg_error *err) {
    mg_wtok_specials sp;
    if (!out || (!json && len)) return mg_err_set(err, MG_EINVAL, "wtokenizer: bad arguments");
    *out = NULL;
    int rc = mg_wtok_layout(n_vocab, &sp, err), seen[2] = {0, 0};
    json_object *root = NULL, *model, *vocab, *added = NULL, *merges = NULL, *type;
    if (rc || (rc = parse_json(json, len, "tokenizer.json", &root, err))) return rc;
    if (!json_object_object_get_ex(root, "model", &model) ||
        !json_object_object_get_ex(model, "vocab", &vocab) ||
        !json_object_is_type(vocab, json_type_object)) {
        json_object_put(root);
        return mg_err_set(err, MG_EFORMAT, "tokenizer.json: no model.vocab object");
    }
    if (json_object_object_get_ex(model, "type", &type) &&
        (!json_object_is_type(type, json_type_string) ||
         strcmp(json_object_get_string(type), "BPE") != 0)) {
        json_object_put(root);
        return mg_err_set(err, MG_EUNSUPPORTED, "tokenizer.json: model type is not BPE");
    }
    if (json_object_object_get_ex(root, "added_tokens", &added) &&
        !json_object_is_type(added, json_type_array))
        added = NULL;
    if (json_object_object_get_ex(model, "merges", &merges) &&
        !json_object_is_type(merges, json_type_array))
        merges = NULL;
    builder b;
    if ((rc = builder_init(&b, sp.eot, err)) ||
        (rc = add_vocab(&b, &sp, vocab, "tokenizer.json", seen, err))) {
        builder_free(&b);
        json_object_put(root);
        return rc;
    }
    rc = hf_finish(&b, &sp, added, 0, "tokenizer.json", seen, out, err);
    if (!rc && merges && (rc = check_merges_json(*out, merges, err))) {
        mg_wtok_close(*out);
        *out = NULL;
    }
    json_object_put(root);
    return rc;
}

int mg_wtok_open_vocab_mem(const char *vocab_json, size_t vocab_len, const char *added_json,
                           size_t added_len, const char *merges, size_t merges_len, int n_vocab,
                           mg_wtok **out, mg_error *err) {
    mg_wtok_specials sp;
    if (!out || (!vocab_json && vocab_len) || (!merges && merges_len))
        return mg_err_set(err, MG_EINVAL, "wtokenizer: bad arguments");
    *out = NULL;
    int rc = mg_wtok_layout(n_vocab, &sp, err), seen[2] = {0, 0};
    json_object *vocab = NULL, *added = NULL;
    if (rc || (rc = parse_json(vocab_json, vocab_len, "vocab.json", &vocab, err))) return rc;
    if (added_json && (rc = parse_json(added_json, added_len, "added_tokens.json", &added, err))) {
        json_object_put(vocab);
        return rc;
    }
    builder b;
    if ((rc = builder_init(&b, sp.eot, err)) ||
        (rc = add_vocab(&b, &sp, vocab, "vocab.json", seen, err))) {
        builder_free(&b);
    } else {
        rc = hf_finish(&b, &sp, added, 1, "vocab.json", seen, out, err);
        if (!rc && merges && (rc = check_merges_txt(*out, merges, merges_len, err))) {
            mg_wtok_close(*out);
            *out = NULL;
        }
    }
    json_object_put(vocab);
    json_object_put(added);
    return rc;
}

/* Reads dir/name into *buf (NULL and MG_OK when the file does not exist). */
static int read_opt(const char *dir, const char *name, char **buf, size_t *len, mg_error *err) {
    char path[4096];
    *buf = NULL;
    *len = 0;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return mg_err_set(err, MG_ELIMIT, "wtokenizer: path too long");
    if (access(path, F_OK) != 0) return MG_OK;
    return mg_read_file(path, WT_MAX_FILE, buf, len, err);
}

int mg_wtok_open_dir(const char *dir, int n_vocab, mg_wtok **out, mg_error *err) {
    if (!dir || !out) return mg_err_set(err, MG_EINVAL, "wtokenizer: bad arguments");
    *out = NULL;
    char *tj, *vj = NULL, *aj = NULL, *mt = NULL;
    size_t tl, vl = 0, al = 0, ml = 0;
    int rc = read_opt(dir, "tokenizer.json", &tj, &tl, err);
    if (!rc && tj) {
        rc = mg_wtok_open_hf_mem(tj, tl, n_vocab, out, err);
    } else if (!rc) {
        rc = read_opt(dir, "vocab.json", &vj, &vl, err);
        if (!rc && !vj)
            rc = mg_err_set(err, MG_ENOTFOUND, "no tokenizer.json or vocab.json");
        if (!rc) rc = read_opt(dir, "added_tokens.json", &aj, &al, err);
        if (!rc) rc = read_opt(dir, "merges.txt", &mt, &ml, err);
        if (!rc) rc = mg_wtok_open_vocab_mem(vj, vl, aj, al, mt, ml, n_vocab, out, err);
    }
    free(tj);
    free(vj);
    free(aj);
    free(mt);
    if (rc) mg_err_prefix(err, "%s", dir);
    return rc;
}

/* ---- UTF-8 with CPython's errors="replace" ----------------------------- */

/* Length of the well-formed sequence at s[0..n), or 0 when ill-formed; *sub
 * gets the length of its maximal subpart (>= 1 bytes replaced by one U+FFFD). */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *sub) {
    uint8_t b = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    *sub = 1;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) need = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4) need = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    for (size_t k = 1; k < need; k++) {
        if (k >= n || s[k] < lo || s[k] > hi) {
            *sub = k;
            return 0;
        }
        lo = 0x80, hi = 0xBF;
    }
    return need;
}

/* Output with snprintf semantics, cut only at character boundaries. */
typedef struct {
    char *out;
    size_t cap, o, total;
    int full;
} writer;

static void w_put(writer *w, const void *p, size_t n) {
    w->total += n;
    if (!w->full && w->o + n < w->cap) {
        memcpy(w->out + w->o, p, n);
        w->o += n;
    } else {
        w->full = 1;
    }
}

/* Streaming replace-decoder: holds an unfinished sequence across tokens. */
typedef struct {
    uint8_t pend[4];
    size_t np;
} u8stream;

static void u8_feed(u8stream *u, writer *w, const uint8_t *p, size_t n) {
    static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
    size_t i = 0;
    while (i < n) {
        if (u->np) { /* complete the pending sequence */
            while (u->np < 4 && i < n) {
                u->pend[u->np++] = p[i++];
                size_t sub, k = utf8_seq(u->pend, u->np, &sub);
                if (k) {
                    w_put(w, u->pend, k);
                    u->np = 0;
                    break;
                }
                if (sub < u->np) { /* ill-formed: replace the subpart, rescan the byte */
                    w_put(w, fffd, 3);
                    u->np = 0;
                    i--;
                    break;
                }
            }
            continue;
        }
        size_t sub, k = utf8_seq(p + i, n - i, &sub);
        if (k) {
            w_put(w, p + i, k);
            i += k;
        } else if (i + sub == n && p[i] >= 0xC2 && p[i] <= 0xF4) { /* may continue in next token */
            memcpy(u->pend, p + i, sub);
            u->np = sub;
            i = n;
        } else {
            w_put(w, fffd, 3);
            i += sub;
        }
    }
}

static void u8_flush(u8stream *u, writer *w) {
    if (u->np) w_put(w, "\xEF\xBF\xBD", 3);
    u->np = 0;
}

/* mode 0: text only; 1: text and timestamps; 2: every id (specials by name) */
static size_t decode_mode(const mg_wtok *t, const int32_t *ids, int n, char *out, size_t cap,
                          int mode) {
    writer w = {out, out ? cap : 0, 0, 0, 0};
    u8stream u = {{0}, 0};
    char name[32];
    for (int i = 0; t && ids && i < n; i++) {
        int id = ids[i];
        if (id >= 0 && id < t->n_ranks) {
            u8_feed(&u, &w, t->blob + t->off[id], t->off[id + 1] - t->off[id]);
        } else if ((mode == 2 || (mode == 1 && id >= t->sp.timestamp_begin)) &&
                   mg_wtok_special_name(&t->sp, id, name, sizeof name) > 0) {
            u8_feed(&u, &w, (const uint8_t *)name, strlen(name));
        }
    }
    u8_flush(&u, &w);
    if (w.cap) w.out[w.o] = 0;
    return w.total;
}

size_t mg_wtok_decode(const mg_wtok *t, const int32_t *ids, int n, char *out, size_t cap) {
    return decode_mode(t, ids, n, out, cap, 0);
}
size_t mg_wtok_decode_with_timestamps(const mg_wtok *t, const int32_t *ids, int n, char *out,
                                      size_t cap) {
    return decode_mode(t, ids, n, out, cap, 1);
}
size_t mg_wtok_decode_all(const mg_wtok *t, const int32_t *ids, int n, char *out, size_t cap) {
    return decode_mode(t, ids, n, out, cap, 2);
}

size_t mg_wtok_utf8_replace(const void *in, size_t len, char *out, size_t cap) {
    writer w = {out, out ? cap : 0, 0, 0, 0};
    u8stream u = {{0}, 0};
    if (in) u8_feed(&u, &w, in, len);
    u8_flush(&u, &w);
    if (w.cap) w.out[w.o] = 0;
    return w.total;
}

/* ---- encoding ---------------------------------------------------------- */

enum { CL_SPACE, CL_LETTER, CL_NUMBER, CL_OTHER };

/* The pattern's classes as the `regex` module has them: \s is White_Space
 * (TAB..CR, space, NEL, Zs, Zl, Zp), \p{L} is L*, \p{N} is N*. */
static uint8_t char_class(uint32_t c) {
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CL_LETTER;
        if (c >= '0' && c <= '9') return CL_NUMBER;
        return c == ' ' || (c >= 0x09 && c <= 0x0D) ? CL_SPACE : CL_OTHER;
    }
    if (c == 0x85) return CL_SPACE;
    int k = utf8proc_category((utf8proc_int32_t)c);
    if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) return CL_LETTER;
    if (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) return CL_NUMBER;
    if (k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP)
        return CL_SPACE;
    return CL_OTHER;
}

int mg_wtok_char_class(uint32_t c) { return char_class(c); }

typedef struct { uint32_t rank, pos; } heap_ent;

/* Scratch for one encode call, grown to the longest piece. */
typedef struct {
    int32_t *nxt, *prv;
    uint32_t *prank;
    heap_ent *heap;
    size_t cap;
} bpe_scratch;

static int scratch_grow(bpe_scratch *s, size_t n) {
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    free(s->nxt), free(s->prv), free(s->prank), free(s->heap);
    s->nxt = malloc(cap * sizeof *s->nxt);
    s->prv = malloc(cap * sizeof *s->prv);
    s->prank = malloc(cap * sizeof *s->prank);
    s->heap = malloc(cap * 3 * sizeof *s->heap);
    s->cap = cap;
    if (!s->nxt || !s->prv || !s->prank || !s->heap) {
        s->cap = 0;
        return -1;
    }
    return 0;
}

static int ent_less(heap_ent a, heap_ent b) {
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(heap_ent *h, size_t *n, heap_ent e) {
    size_t i = (*n)++;
    while (i > 0 && ent_less(e, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], e = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && ent_less(h[c + 1], h[c])) c++;
        if (!ent_less(h[c], e)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = e;
    return top;
}

/* Rank of the pair starting at node i (bytes up to the end of its next). */
static uint32_t pair_rank(const mg_wtok *t, const uint8_t *p, size_t n, const int32_t *nxt, int32_t i) {
    int32_t j = nxt[i];
    if (j < 0) return WT_NONE;
    size_t end = nxt[j] < 0 ? n : (size_t)nxt[j];
    return rank_of(t, p + i, end - (size_t)i);
}

/* tiktoken's byte pair merge of one piece; emits ids through the sink. */
static int bpe_piece(const mg_wtok *t, const uint8_t *p, size_t n, bpe_scratch *s, int32_t *ids,
                     int cap, int *count) {
    uint32_t r = rank_of(t, p, n);
    if (r != WT_NONE) {
        if (*count < cap) ids[*count] = (int32_t)r;
        (*count)++;
        return 0;
    }
    if (scratch_grow(s, n)) return -1;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        s->nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        s->prv[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        s->prank[i] = rank_of(t, p + i, 2);
        if (s->prank[i] != WT_NONE) heap_push(s->heap, &hn, (heap_ent){s->prank[i], (uint32_t)i});
    }
    s->prank[n - 1] = WT_NONE;
    while (hn) {
        heap_ent e = heap_pop(s->heap, &hn);
        int32_t i = (int32_t)e.pos;
        if (s->prv[i] == -2 || s->prank[i] != e.rank) continue; /* stale */
        int32_t j = s->nxt[i];
        s->nxt[i] = s->nxt[j];
        if (s->nxt[j] >= 0) s->prv[s->nxt[j]] = i;
        s->prv[j] = -2;
        s->prank[i] = pair_rank(t, p, n, s->nxt, i);
        if (s->prank[i] != WT_NONE) heap_push(s->heap, &hn, (heap_ent){s->prank[i], (uint32_t)i});
        int32_t h = s->prv[i];
        if (h >= 0) {
            s->prank[h] = pair_rank(t, p, n, s->nxt, h);
            if (s->prank[h] != WT_NONE) heap_push(s->heap, &hn, (heap_ent){s->prank[h], (uint32_t)h});
        }
    }
    for (int32_t i = 0; i >= 0; i = s->nxt[i]) {
        size_t end = s->nxt[i] < 0 ? n : (size_t)s->nxt[i];
        r = rank_of(t, p + i, end - (size_t)i);
        MG_ASSERT(r != WT_NONE); /* every part is a token: single bytes always are */
        if (*count < cap) ids[*count] = (int32_t)r;
        (*count)++;
    }
    return 0;
}

int mg_wtok_encode(const mg_wtok *t, const char *text, size_t len, int32_t *ids, int cap,
                   mg_error *err) {
    if (!t || (!text && len) || cap < 0 || (cap > 0 && !ids))
        return mg_err_set(err, MG_EINVAL, "wtokenizer: bad arguments");
    if (len > WT_MAX_TEXT)
        return mg_err_set(err, MG_ELIMIT, "wtokenizer: %zu bytes of text (limit %zu)", len, WT_MAX_TEXT);
    const uint8_t *s = (const uint8_t *)text;
    uint8_t *fixed = NULL;
    size_t n = len;
    for (size_t i = 0, sub; i < len; i += utf8_seq(s + i, len - i, &sub)) {
        if (!utf8_seq(s + i, len - i, &sub)) { /* invalid: encode its replace-decoding */
            fixed = malloc(3 * len + 1);
            if (!fixed) return mg_err_set(err, MG_ENOMEM, "wtokenizer: out of memory");
            n = mg_wtok_utf8_replace(text, len, (char *)fixed, 3 * len + 1);
            s = fixed;
            break;
        }
    }
    /* code points: class and byte offset */
    uint8_t *cl = malloc(n + 1);
    uint32_t *bo = malloc((n + 1) * sizeof *bo);
    bpe_scratch sc = {0};
    int rc = MG_OK, count = 0;
    if (!cl || !bo) {
        rc = mg_err_set(err, MG_ENOMEM, "wtokenizer: out of memory");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0, sub; i < n; m++) {
        size_t k = utf8_seq(s + i, n - i, &sub);
        utf8proc_int32_t c;
        utf8proc_iterate(s + i, (utf8proc_ssize_t)k, &c);
        cl[m] = char_class((uint32_t)c);
        bo[m] = (uint32_t)i;
        i += k;
    }
    bo[m] = (uint32_t)n;
    for (size_t i = 0; i < m;) {
        size_t e, b = bo[i];
        if (s[b] == '\'' && i + 1 < m && (s[b + 1] == 's' || s[b + 1] == 't' || s[b + 1] == 'm' ||
                                           s[b + 1] == 'd')) {
            e = i + 2;
        } else if (s[b] == '\'' && i + 2 < m &&
                   ((s[b + 1] == 'r' && s[b + 2] == 'e') || (s[b + 1] == 'v' && s[b + 2] == 'e') ||
                    (s[b + 1] == 'l' && s[b + 2] == 'l'))) {
            e = i + 3;
        } else {
            size_t j = i + (s[b] == ' ' && i + 1 < m && cl[i + 1] != CL_SPACE);
            uint8_t k = cl[j];
            for (e = j + 1; e < m && cl[e] == k; e++) {
            }
            /* \s+(?!\S) leaves the last space before a non-space; \s+ takes a lone one */
            if (k == CL_SPACE && e < m && e - i >= 2) e--;
        }
        if (bpe_piece(t, s + b, bo[e] - b, &sc, ids, cap, &count)) {
            rc = mg_err_set(err, MG_ENOMEM, "wtokenizer: out of memory");
            goto done;
        }
        i = e;
    }
done:
    free(sc.nxt), free(sc.prv), free(sc.prank), free(sc.heap);
    free(cl);
    free(bo);
    free(fixed);
    return rc ? rc : count;
}

/* ---- non_speech_tokens ------------------------------------------------- */

static int cmp_i32(const void *a, const void *b) {
    return (*(const int32_t *)a > *(const int32_t *)b) - (*(const int32_t *)a < *(const int32_t *)b);
}

int mg_wtok_non_speech_tokens(const mg_wtok *t, int32_t *ids, int cap) {
    static const char *const symbols[] = {
        "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_",
        "`", "{", "|", "}", "~", "\u300c", "\u300d", "\u300e", "\u300f", "<<", ">>", "<<<", ">>>",
        "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[", "]]", "{{", "}}",
        "\u266a\u266a", "\u266a\u266a\u266a",
        /* the miscellaneous symbols U+2640..U+267F: always their first token */
        "\u2669", "\u266a", "\u266b", "\u266c", "\u266d", "\u266e", "\u266f"};
    enum { N_SYM = sizeof symbols / sizeof symbols[0], N_MISC = 7 };
    int32_t set[2 * N_SYM + 2], tok[16];
    char buf[32];
    int n = 0;
    if (!t) return 0;
    /* " -" and " '": hyphens and quotes only inside words */
    if (mg_wtok_encode(t, " -", 2, tok, 16, NULL) > 0) set[n++] = tok[0];
    if (mg_wtok_encode(t, " '", 2, tok, 16, NULL) > 0) set[n++] = tok[0];
    for (int k = 0; k < N_SYM; k++) {
        for (int sp = 0; sp < 2; sp++) {
            int len = snprintf(buf, sizeof buf, "%s%s", sp ? " " : "", symbols[k]);
            int c = mg_wtok_encode(t, buf, (size_t)len, tok, 16, NULL);
            if (c == 1 || (c > 0 && k >= N_SYM - N_MISC)) set[n++] = tok[0];
        }
    }
    qsort(set, (size_t)n, sizeof set[0], cmp_i32);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || set[i] != set[u - 1]) set[u++] = set[i];
    for (int i = 0; i < u && i < cap && ids; i++) ids[i] = set[i];
    return u;
}
