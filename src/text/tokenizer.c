/*
 * tokenizer.c - CLIP's byte-level BPE tokenizer (API in tokenizer.h), written
 * to give exactly the ids of OpenAI's clip/simple_tokenizer.py with
 * ftfy.fix_text replaced by NFC. Python semantics are reproduced step by
 * step on arrays of code points:
 *
 *   NFC (utf8proc) -> html.unescape twice (HTML5 tables generated from
 *   Python's html module into html_entities.inc) -> str.strip() ->
 *   regex.sub(r'\s+', ' ') -> str.strip() -> str.lower() (full mapping:
 *   U+0130 -> "i" U+0307, final sigma) -> regex.findall(CLIP pattern,
 *   IGNORECASE) -> UTF-8 bytes -> GPT-2 byte symbols -> BPE by merge rank.
 *
 * Unicode properties come from utf8proc; the few that utf8proc lacks are
 * derived from what it has (see the comments at each). BPE runs in
 * O(n log n) with a heap and merges all occurrences of the best pair in one
 * left-to-right round, exactly like the Python loop, so MB-long words are
 * fine. Everything encode needs is immutable after mg_tokenizer_open; encode
 * keeps its scratch memory on its own stack/heap, so it is thread-safe.
 */
#include "text/tokenizer.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "html_entities.inc"

/* Largest vocab.json / merges.txt we read, and the most tokens we accept. */
#define TOK_MAX_FILE_BYTES ((size_t)256 << 20)
#define TOK_MAX_VOCAB (1 << 24)

static const char SOT_STR[] = "<|startoftext|>";
static const char EOT_STR[] = "<|endoftext|>";

/* ------------------------------------------------------------------------ */
/* Hash tables                                                              */
/* ------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x) { /* splitmix64 finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(const char *p, size_t n) { /* FNV-1a, then mixed */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ n);
}

/* Smallest power of two >= 2n (at least 16); 0 on overflow. */
static size_t table_cap(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) {
        if (cap > SIZE_MAX / 4) return 0;
        cap <<= 1;
    }
    return cap;
}

/* Token string -> id; used only while loading. Keys are borrowed (json-c's
 * key strings), so the map must not outlive the parsed JSON object. */
typedef struct {
    const char *key; /* NULL: empty slot */
    size_t len;
    int32_t id;
} strslot;

typedef struct {
    strslot *slots;
    size_t mask;
} strmap;

static int strmap_init(strmap *m, size_t n) {
    size_t cap = table_cap(n);
    m->slots = cap ? calloc(cap, sizeof *m->slots) : NULL;
    m->mask = cap - 1;
    return m->slots ? MG_OK : MG_ENOMEM;
}

static int32_t strmap_get(const strmap *m, const char *key, size_t len) {
    size_t i = (size_t)hash_bytes(key, len) & m->mask;
    for (;;) {
        const strslot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->len == len && memcmp(s->key, key, len) == 0) return s->id;
        i = (i + 1) & m->mask;
    }
}

/* Inserts or replaces; the table is sized so it never fills. */
static void strmap_put(strmap *m, const char *key, size_t len, int32_t id) {
    size_t i = (size_t)hash_bytes(key, len) & m->mask;
    for (;;) {
        strslot *s = &m->slots[i];
        if (!s->key || (s->len == len && memcmp(s->key, key, len) == 0)) {
            s->key = key;
            s->len = len;
            s->id = id;
            return;
        }
        i = (i + 1) & m->mask;
    }
}

/* (left id, right id) -> (rank, merged id). rank < 0 marks an empty slot. */
typedef struct {
    uint64_t key;
    int32_t rank;
    int32_t merged;
} mergeslot;

struct mg_tokenizer {
    int32_t vocab_size;
    int32_t sot, eot;
    int32_t byte_id[256];     /* id of the byte's symbol */
    int32_t byte_end_id[256]; /* id of the byte's symbol + "</w>" */
    mergeslot *merges;
    size_t merge_mask;
    int32_t n_merges;
};

static uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static const mergeslot *merge_find(const mg_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = pair_key(a, b);
    size_t i = (size_t)mix64(key) & t->merge_mask;
    for (;;) {
        const mergeslot *s = &t->merges[i];
        if (s->rank < 0) return NULL;
        if (s->key == key) return s;
        i = (i + 1) & t->merge_mask;
    }
}

/* A later duplicate replaces the earlier rank, like Python's dict(zip(...)). */
static void merge_put(mg_tokenizer *t, int32_t a, int32_t b, int32_t rank,
                      int32_t merged) {
    uint64_t key = pair_key(a, b);
    size_t i = (size_t)mix64(key) & t->merge_mask;
    for (;;) {
        mergeslot *s = &t->merges[i];
        if (s->rank < 0 || s->key == key) {
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            return;
        }
        i = (i + 1) & t->merge_mask;
    }
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                    */
/* ------------------------------------------------------------------------ */

static size_t utf8_put(uint32_t c, uint8_t *o) {
    if (c < 0x80) {
        o[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | (c >> 6));
        o[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (c >> 12));
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (c >> 18));
    o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/* Strict UTF-8 check (what Python's decoder accepts: no overlongs, no
 * surrogates, nothing above U+10FFFF). Returns the offset of the first bad
 * byte, or n when all is well. */
static size_t utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t min, c;
        if (b >= 0xC2 && b <= 0xDF) { len = 2; c = b & 0x1F; min = 0x80; }
        else if (b >= 0xE0 && b <= 0xEF) { len = 3; c = b & 0x0F; min = 0x800; }
        else if (b >= 0xF0 && b <= 0xF4) { len = 4; c = b & 0x07; min = 0x10000; }
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

/* Decodes trusted, valid UTF-8 (our generated tables). */
static size_t utf8_get(const char *p, uint32_t *c) {
    const uint8_t *s = (const uint8_t *)p;
    if (s[0] < 0x80) { *c = s[0]; return 1; }
    if (s[0] < 0xE0) { *c = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F); return 2; }
    if (s[0] < 0xF0) {
        *c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *c = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
         ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * others to 256, 257, ... in byte order. */
static int byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static void bytes_to_unicode(uint32_t table[256]) {
    uint32_t extra = 0;
    for (int b = 0; b < 256; b++)
        table[b] = byte_is_printable(b) ? (uint32_t)b : 256 + extra++;
}

/* ------------------------------------------------------------------------ */
/* Unicode properties with Python / `regex` semantics                       */
/* ------------------------------------------------------------------------ */

static int cat_of(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c); }

static int cat_is_letter(int k) {
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int cat_is_number(int k) {
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. */
static int py_isspace(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* The `regex` module's \s on str: the White_Space property, which is
 * Zs + Zl + Zp plus the controls TAB..CR and NEL. */
static int re_isspace(uint32_t c) {
    if ((c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85) return 1;
    if (c < 0x80) return 0;
    int k = cat_of(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/* Classes of the CLIP pattern's last three alternatives. */
enum { CL_SPACE, CL_LETTER, CL_NUMBER, CL_OTHER, CL_NONE };

/* \p{L}, \p{N}, \s and [^\s\p{L}\p{N}] as the `regex` module evaluates them
 * under IGNORECASE: a character that is none of the three but has a case
 * variant that is a letter or number (only U+0345 COMBINING GREEK
 * YPOGEGRAMMENI, whose upper case is U+0399) is matched by no alternative
 * and skipped, like a space (checked against `regex` for every code point). */
static int split_class(uint32_t c) {
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CL_LETTER;
        if (c >= '0' && c <= '9') return CL_NUMBER;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CL_SPACE;
        return CL_OTHER;
    }
    int k = cat_of(c);
    if (cat_is_letter(k)) return CL_LETTER;
    if (cat_is_number(k)) return CL_NUMBER;
    if (re_isspace(c)) return CL_SPACE;
    utf8proc_int32_t v[3] = {utf8proc_tolower((utf8proc_int32_t)c),
                             utf8proc_toupper((utf8proc_int32_t)c),
                             utf8proc_totitle((utf8proc_int32_t)c)};
    for (int i = 0; i < 3; i++) {
        if ((uint32_t)v[i] == c) continue;
        int kv = cat_of((uint32_t)v[i]);
        if (cat_is_letter(kv) || cat_is_number(kv)) return CL_NONE;
    }
    return CL_OTHER;
}

/* Case-insensitive match of c against a lower-case ASCII letter or a
 * symbol, as `regex` does with simple case folding (for 's' this accepts
 * U+017F LATIN SMALL LETTER LONG S). */
static int ci_match(uint32_t c, char lit) {
    if (c == (unsigned char)lit) return 1;
    if (lit < 'a' || lit > 'z') return 0;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)c) == (unsigned char)lit ||
           (uint32_t)utf8proc_toupper((utf8proc_int32_t)c) == (unsigned char)(lit - 32);
}

/* Unicode Cased (Lowercase | Uppercase | Lt): utf8proc has no Other_Lowercase
 * / Other_Uppercase, so characters with a case mapping stand in for them,
 * plus U+00AA and U+00BA (Lo, Other_Lowercase, no mapping). The remaining
 * Other_* characters are modifier letters (Lm), which are case-ignorable and
 * so never reach this test in the final-sigma rule. */
static int is_cased(uint32_t c) {
    int k = cat_of(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return 1;
    if (c == 0xAA || c == 0xBA) return 1;
    utf8proc_int32_t u = (utf8proc_int32_t)c;
    return utf8proc_tolower(u) != u || utf8proc_toupper(u) != u || utf8proc_totitle(u) != u;
}

/* Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter,
 * MidNumLet or Single_Quote (utf8proc has no word-break property; these
 * are the 17 characters of those three classes). */
static int is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F:
    case 0x5F4: case 0x2018: case 0x2019: case 0x2024: case 0x2027:
    case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E:
    case 0xFF1A:
        return 1;
    default:
        break;
    }
    int k = cat_of(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* CPython's handle_capital_sigma: U+03A3 at s[i] lowers to final sigma when
 * preceded by a cased letter (skipping case-ignorables) and not followed by
 * one (again skipping case-ignorables). */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    uint32_t c = 0;
    while (j > 0) {
        c = s[--j];
        if (!is_case_ignorable(c)) break;
        c = 0;
    }
    if (c == 0 || !is_cased(c)) return 0;
    for (j = i + 1; j < n; j++) {
        if (!is_case_ignorable(s[j])) return !is_cased(s[j]);
    }
    return 1;
}

/* str.lower(): full lower-case mapping (the only multi-character one is
 * U+0130 -> U+0069 U+0307) with the final-sigma rule. out holds >= 2n. */
static size_t py_lower(const uint32_t *s, size_t n, uint32_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c < 0x80) {
            out[o++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        } else if (c == 0x130) {
            out[o++] = 0x69;
            out[o++] = 0x307;
        } else if (c == 0x3A3) {
            out[o++] = final_sigma(s, n, i) ? 0x3C2 : 0x3C3;
        } else {
            out[o++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        }
    }
    return o;
}

/* ------------------------------------------------------------------------ */
/* html.unescape                                                            */
/* ------------------------------------------------------------------------ */

/* strcmp(name, s[0..n)) with s as code points. */
static int entity_cmp(const char *name, const uint32_t *s, size_t n) {
    for (size_t k = 0;; k++) {
        uint32_t nc = (unsigned char)name[k];
        if (k == n) return nc ? 1 : 0;
        if (!nc) return -1;
        if (nc != s[k]) return nc < s[k] ? -1 : 1;
    }
}

static const char *entity_find(const uint32_t *s, size_t n) {
    size_t lo = 0, hi = MG_HTML_ENTITY_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = entity_cmp(mg_html_entities[mid].name, s, n);
        if (c == 0) return mg_html_entities[mid].value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static size_t put_utf8_value(const char *v, uint32_t *out) {
    size_t o = 0;
    while (*v) v += utf8_get(v, &out[o++]);
    return o;
}

/* html._replace_charref for a numeric reference (num saturated above
 * U+10FFFF). Writes 0 or 1 code point. */
static size_t numeric_ref(uint64_t num, uint32_t *out) {
    size_t lo = 0, hi = MG_HTML_INVALID_CHARREF_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mg_html_invalid_charrefs[mid][0] == num) {
            out[0] = mg_html_invalid_charrefs[mid][1];
            return 1;
        }
        if (mg_html_invalid_charrefs[mid][0] < num) lo = mid + 1;
        else hi = mid;
    }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
        out[0] = 0xFFFD;
        return 1;
    }
    lo = 0;
    hi = MG_HTML_INVALID_CODEPOINT_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mg_html_invalid_codepoints[mid] == num) return 0;
        if (mg_html_invalid_codepoints[mid] < num) lo = mid + 1;
        else hi = mid;
    }
    out[0] = (uint32_t)num;
    return 1;
}

static int hex_val(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* One match of Python's
 *   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
 * at p[0] == '&' and its replacement. Returns the code points consumed (0:
 * no match) and sets *wrote. Never writes more than it consumes. */
static size_t charref(const uint32_t *p, size_t avail, uint32_t *out, size_t *wrote) {
    *wrote = 0;
    if (avail >= 2 && p[1] == '#') {
        int base = 10;
        size_t j = 2;
        if (avail >= 3 && (p[2] == 'x' || p[2] == 'X') && avail >= 4 && hex_val(p[3]) >= 0) {
            base = 16;
            j = 3;
        } else if (!(avail >= 3 && p[2] >= '0' && p[2] <= '9')) {
            return 0; /* '#' cannot start a name either */
        }
        uint64_t num = 0;
        while (j < avail) {
            int d = base == 16 ? hex_val(p[j]) : (p[j] >= '0' && p[j] <= '9' ? (int)(p[j] - '0') : -1);
            if (d < 0) break;
            num = num * (uint64_t)base + (uint64_t)d;
            if (num > 0x110000) num = 0x110000; /* saturate: any value > 0x10FFFF acts alike */
            j++;
        }
        if (j < avail && p[j] == ';') j++;
        *wrote = numeric_ref(num, out);
        return j;
    }
    size_t j = 1;
    while (j < avail && j <= 32) {
        uint32_t c = p[j];
        if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' ||
            c == '#' || c == ';')
            break;
        j++;
    }
    if (j == 1) return 0;
    if (j < avail && p[j] == ';') j++;
    const uint32_t *s = p + 1;
    size_t slen = j - 1;
    const char *v = entity_find(s, slen);
    if (v) {
        *wrote = put_utf8_value(v, out);
        return j;
    }
    /* longest prefix (length >= 2) that is a name; only names without ';'
     * can be prefixes, and those are at most MG_HTML_ENTITY_MAX_NOSEMI long */
    size_t x = slen - 1;
    if (x > MG_HTML_ENTITY_MAX_NOSEMI) x = MG_HTML_ENTITY_MAX_NOSEMI;
    for (; x >= 2; x--) {
        v = entity_find(s, x);
        if (v) {
            size_t o = put_utf8_value(v, out);
            memcpy(out + o, s + x, (slen - x) * sizeof *out);
            *wrote = o + slen - x;
            return j;
        }
    }
    memcpy(out, p, j * sizeof *out); /* '&' + s, unchanged */
    *wrote = j;
    return j;
}

/* Python's html.unescape on n code points; out holds >= n. Returns the
 * output length. */
static size_t html_unescape(const uint32_t *in, size_t n, uint32_t *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        if (in[i] != '&') {
            out[o++] = in[i++];
            continue;
        }
        size_t wrote;
        size_t used = charref(in + i, n - i, out + o, &wrote);
        if (!used) {
            out[o++] = in[i++];
            continue;
        }
        MG_ASSERT(wrote <= used);
        i += used;
        o += wrote;
    }
    return o;
}

/* basic_clean's .strip(), whitespace_clean's regex.sub(r'\s+', ' ') and
 * .strip(), in place. Returns the new length. */
static size_t clean_whitespace(uint32_t *s, size_t n) {
    size_t b = 0, e = n;
    while (b < e && py_isspace(s[b])) b++;
    while (e > b && py_isspace(s[e - 1])) e--;
    size_t o = 0;
    int in_run = 0;
    for (size_t i = b; i < e; i++) {
        if (re_isspace(s[i])) {
            if (!in_run) s[o++] = ' ';
            in_run = 1;
        } else {
            s[o++] = s[i];
            in_run = 0;
        }
    }
    b = 0;
    e = o;
    while (b < e && py_isspace(s[b])) b++;
    while (e > b && py_isspace(s[e - 1])) e--;
    if (b) memmove(s, s + b, (e - b) * sizeof *s);
    return e - b;
}

/* ------------------------------------------------------------------------ */
/* BPE                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint64_t key; /* rank << 32 | left position: pops by rank, then position */
    uint32_t right, gl, gr;
    int32_t merged;
} heap_ent;

/* Per-call scratch memory (never shared between calls). */
typedef struct {
    uint8_t *bytes;
    size_t bytes_cap;
    int32_t *sym;
    uint32_t *prev, *next, *gen, *touched;
    uint8_t *alive;
    heap_ent *heap;
    size_t word_cap, heap_n;
    int32_t *body; /* ids between SOT and EOT: the caller's ids + 1 */
    size_t body_n, body_cap; /* body_n counts all, the first body_cap are kept */
} workspace;

static void ws_free(workspace *w) {
    free(w->bytes);
    free(w->sym);
    free(w->prev);
    free(w->next);
    free(w->gen);
    free(w->touched);
    free(w->alive);
    free(w->heap);
}

static int ws_reserve_word(workspace *w, size_t n) {
    if (n <= w->word_cap) return MG_OK;
    size_t cap = w->word_cap ? w->word_cap : 64;
    while (cap < n) cap *= 2;
    size_t heap_cap;
    if (mg_mul_size(cap, 3, &heap_cap) || heap_cap > SIZE_MAX / sizeof(heap_ent)) return MG_ENOMEM;
#define GROW(ptr, count)                                                  \
    do {                                                                  \
        void *p_ = realloc((ptr), (count) * sizeof *(ptr));               \
        if (!p_) return MG_ENOMEM;                                        \
        (ptr) = p_;                                                       \
    } while (0)
    GROW(w->sym, cap);
    GROW(w->prev, cap);
    GROW(w->next, cap);
    GROW(w->gen, cap);
    GROW(w->touched, cap);
    GROW(w->alive, cap);
    GROW(w->heap, heap_cap);
#undef GROW
    w->word_cap = cap;
    return MG_OK;
}

static void body_push(workspace *w, int32_t id) {
    if (w->body_n < w->body_cap) w->body[w->body_n] = id;
    w->body_n++;
}

static void heap_push(workspace *w, heap_ent e) {
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (w->heap[parent].key <= e.key) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = e;
}

static heap_ent heap_pop(workspace *w) {
    heap_ent top = w->heap[0];
    heap_ent last = w->heap[--w->heap_n];
    size_t n = w->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && w->heap[c + 1].key < w->heap[c].key) c++;
        if (last.key <= w->heap[c].key) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* Queues the pair (left, right) if it is a known merge. */
static void push_pair(const mg_tokenizer *t, workspace *w, uint32_t left, uint32_t right) {
    const mergeslot *m = merge_find(t, w->sym[left], w->sym[right]);
    if (!m) return;
    heap_ent e = {((uint64_t)(uint32_t)m->rank << 32) | left, right, w->gen[left],
                  w->gen[right], m->merged};
    heap_push(w, e);
}

static int pair_valid(const workspace *w, const heap_ent *e) {
    uint32_t left = (uint32_t)e->key;
    return w->alive[left] && w->gen[left] == e->gl && w->next[left] == e->right &&
           w->gen[e->right] == e->gr;
}

/* BPE of one pre-token (n >= 1 bytes), ids appended to w->body. Same result
 * as SimpleTokenizer.bpe: repeatedly take the lowest-ranked adjacent pair
 * and merge all its non-overlapping occurrences left to right. Pairs made by
 * a round are queued only after the round, as Python recomputes them. */
static int bpe_word(const mg_tokenizer *t, workspace *w, const uint8_t *b, size_t n) {
    if (n == 1) {
        body_push(w, t->byte_end_id[b[0]]);
        return MG_OK;
    }
    if (n > UINT32_MAX / 2) return MG_ELIMIT;
    int rc = ws_reserve_word(w, n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        w->sym[i] = i + 1 < n ? t->byte_id[b[i]] : t->byte_end_id[b[i]];
        w->prev[i] = (uint32_t)i - 1; /* wraps for i == 0: unused */
        w->next[i] = (uint32_t)(i + 1);
        w->gen[i] = 0;
        w->alive[i] = 1;
    }
    w->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(t, w, (uint32_t)i, (uint32_t)(i + 1));
    while (w->heap_n) {
        heap_ent e = heap_pop(w);
        if (!pair_valid(w, &e)) continue;
        uint32_t rank = (uint32_t)(e.key >> 32);
        size_t nt = 0;
        for (;;) {
            if (pair_valid(w, &e)) {
                uint32_t left = (uint32_t)e.key, right = e.right;
                w->sym[left] = e.merged;
                w->gen[left]++;
                w->alive[right] = 0;
                w->next[left] = w->next[right];
                if (w->next[right] < n) w->prev[w->next[right]] = left;
                w->touched[nt++] = left;
            }
            if (!w->heap_n || (uint32_t)(w->heap[0].key >> 32) != rank) break;
            e = heap_pop(w);
        }
        for (size_t k = 0; k < nt; k++) {
            uint32_t s = w->touched[k];
            if (!w->alive[s]) continue;
            if (s > 0) push_pair(t, w, w->prev[s], s);
            if (w->next[s] < n) push_pair(t, w, s, w->next[s]);
        }
    }
    for (uint32_t i = 0; i < n; i = w->next[i]) body_push(w, w->sym[i]);
    return MG_OK;
}

/* ------------------------------------------------------------------------ */
/* Pre-tokenization (regex.findall with CLIP's pattern)                     */
/* ------------------------------------------------------------------------ */

/* Length of the literal (case-insensitively, like `regex`) at s, or 0. */
static size_t match_literal(const uint32_t *s, size_t n, const char *lit) {
    size_t len = strlen(lit);
    if (n < len) return 0;
    for (size_t k = 0; k < len; k++)
        if (!ci_match(s[k], lit[k])) return 0;
    return len;
}

static size_t match_special_or_contraction(const uint32_t *s, size_t n) {
    static const char *const alts[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t",
                                       "'re", "'ve", "'m", "'ll", "'d"};
    if (s[0] != '<' && s[0] != '\'') return 0;
    for (size_t a = 0; a < sizeof alts / sizeof alts[0]; a++) {
        size_t len = match_literal(s, n, alts[a]);
        if (len) return len;
    }
    return 0;
}

/* Encodes one pre-token: the special tokens map straight to their ids (the
 * Python cache), anything else goes through BPE. */
static int encode_token(const mg_tokenizer *t, workspace *w, const uint32_t *s, size_t len) {
    size_t need;
    if (mg_mul_size(len, 4, &need)) return MG_ENOMEM;
    if (need > w->bytes_cap) {
        uint8_t *p = realloc(w->bytes, need);
        if (!p) return MG_ENOMEM;
        w->bytes = p;
        w->bytes_cap = need;
    }
    size_t nb = 0;
    for (size_t i = 0; i < len; i++) nb += utf8_put(s[i], w->bytes + nb);
    if (nb == sizeof SOT_STR - 1 && memcmp(w->bytes, SOT_STR, nb) == 0) {
        body_push(w, t->sot);
        return MG_OK;
    }
    if (nb == sizeof EOT_STR - 1 && memcmp(w->bytes, EOT_STR, nb) == 0) {
        body_push(w, t->eot);
        return MG_OK;
    }
    return bpe_word(t, w, w->bytes, nb);
}

/* Splits s into CLIP pre-tokens and encodes them, stopping once the body is
 * full (body_n >= body_cap: whatever follows is truncated away). */
static int split_and_encode(const mg_tokenizer *t, workspace *w, const uint32_t *s, size_t n) {
    size_t i = 0;
    while (i < n && w->body_n < w->body_cap) {
        size_t len = match_special_or_contraction(s + i, n - i);
        if (!len) {
            int cl = split_class(s[i]);
            if (cl == CL_NUMBER) {
                len = 1;
            } else if (cl == CL_LETTER || cl == CL_OTHER) {
                len = 1;
                while (i + len < n && split_class(s[i + len]) == cl) len++;
            } else {
                i++; /* space, or a character no alternative matches */
                continue;
            }
        }
        int rc = encode_token(t, w, s + i, len);
        if (rc) return rc;
        i += len;
    }
    return MG_OK;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */
/* ------------------------------------------------------------------------ */

int mg_tokenizer_encode(const mg_tokenizer *tok, const char *text, int32_t *ids,
                        int context_len, int *n_ids, mg_error *err) {
    if (n_ids) *n_ids = 0;
    if (!tok || !text || !ids || !n_ids)
        return mg_err_set(err, MG_EINVAL, "tokenizer: encode: NULL argument");
    if (context_len < 1)
        return mg_err_set(err, MG_EINVAL, "tokenizer: encode: context length %d < 1", context_len);
    size_t len = strlen(text);
    if (len > MG_TOKENIZER_MAX_TEXT_BYTES)
        return mg_err_set(err, MG_ELIMIT, "tokenizer: text is %zu bytes, limit is %u", len,
                          (unsigned)MG_TOKENIZER_MAX_TEXT_BYTES);
    size_t bad = utf8_check((const uint8_t *)text, len);
    if (bad != len)
        return mg_err_set(err, MG_EFORMAT, "tokenizer: text is not valid UTF-8 (byte 0x%02X at offset %zu)",
                          (unsigned char)text[bad], bad);

    int rc = MG_OK;
    uint32_t *a = NULL, *b = NULL;
    workspace w;
    memset(&w, 0, sizeof w);

    /* NFC (ftfy.fix_text's normalization) */
    const utf8proc_option_t nfc = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t m = utf8proc_decompose((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
                                            NULL, 0, nfc);
    if (m < 0) {
        rc = mg_err_set(err, MG_EFORMAT, "tokenizer: NFC failed: %s", utf8proc_errmsg(m));
        goto done;
    }
    size_t cap = (size_t)m * 2 + 1; /* lower() at most doubles the length */
    a = malloc(cap * sizeof *a);
    b = malloc(cap * sizeof *b);
    if (!a || !b) {
        rc = mg_err_set(err, MG_ENOMEM, "tokenizer: out of memory for %zu code points", cap);
        goto done;
    }
    m = utf8proc_decompose((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
                           (utf8proc_int32_t *)a, m, nfc);
    if (m >= 0) m = utf8proc_normalize_utf32((utf8proc_int32_t *)a, m, nfc);
    if (m < 0) {
        rc = mg_err_set(err, MG_EFORMAT, "tokenizer: NFC failed: %s", utf8proc_errmsg(m));
        goto done;
    }
    size_t n = (size_t)m;

    n = html_unescape(a, n, b); /* html.unescape(html.unescape(text)) */
    n = html_unescape(b, n, a);
    n = clean_whitespace(a, n);
    n = py_lower(a, n, b);

    /* The ids go straight into ids[1..context_len-1]; any beyond those are
     * never needed: they only tell that the text is truncated. */
    w.body = ids + 1;
    w.body_cap = (size_t)context_len - 1;
    rc = split_and_encode(tok, &w, b, n);
    if (rc) {
        rc = mg_err_set(err, rc, "tokenizer: %s while encoding", mg_strerror(rc));
        goto done;
    }
    if (context_len == 1) {
        ids[0] = tok->eot; /* [SOT, ..., EOT][:1] with the last set to EOT */
        *n_ids = 1;
    } else {
        size_t keep = w.body_n;
        if (keep + 2 > (size_t)context_len) keep = (size_t)context_len - 2;
        ids[0] = tok->sot;
        ids[keep + 1] = tok->eot;
        *n_ids = (int)keep + 2;
    }
done:
    free(a);
    free(b);
    ws_free(&w);
    return rc;
}

/* Reads and validates vocab.json into map (keys borrowed from *root, which
 * the caller frees with json_object_put after use). */
static int load_vocab(mg_tokenizer *t, const char *path, strmap *map, json_object **root,
                      mg_error *err) {
    char *buf = NULL;
    size_t len = 0;
    int rc = mg_read_file(path, TOK_MAX_FILE_BYTES, &buf, &len, err);
    if (rc) return rc;
    json_tokener *tk = json_tokener_new();
    if (!tk) {
        free(buf);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    json_tokener_set_flags(tk, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* len + 1 hands json-c the terminating NUL, which ends a bare number */
    json_object *obj = json_tokener_parse_ex(tk, buf, (int)len + 1);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t end = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    free(buf);
    if (je != json_tokener_success) {
        json_object_put(obj);
        return mg_err_set(err, MG_EFORMAT, "%s: invalid JSON at byte %zu: %s", path, end,
                          json_tokener_error_desc(je));
    }
    *root = obj;
    if (!json_object_is_type(obj, json_type_object))
        return mg_err_set(err, MG_EFORMAT, "%s: top-level JSON value is %s, expected an object "
                          "mapping tokens to ids", path,
                          obj ? json_type_to_name(json_object_get_type(obj)) : "null");
    int n = json_object_object_length(obj);
    if (n <= 0) return mg_err_set(err, MG_EFORMAT, "%s: the vocabulary is empty", path);
    if (n > TOK_MAX_VOCAB)
        return mg_err_set(err, MG_ELIMIT, "%s: %d tokens, limit is %d", path, n, TOK_MAX_VOCAB);
    const char **keys = calloc((size_t)n, sizeof *keys);
    if (!keys || strmap_init(map, (size_t)n)) {
        free(keys);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory for %d tokens", path, n);
    }
    rc = MG_OK;
    json_object_object_foreach(obj, key, val) {
        if (!json_object_is_type(val, json_type_int)) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: id of token \"%.60s\" is %s, expected an integer",
                            path, key, json_type_to_name(json_object_get_type(val)));
            break;
        }
        int64_t id = json_object_get_int64(val);
        if (id < 0 || id >= n) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: id %lld of token \"%.60s\" is out of range "
                            "[0, %d) (ids must be 0..number of tokens - 1)",
                            path, (long long)id, key, n);
            break;
        }
        if (keys[id]) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: duplicate id %lld (tokens \"%.60s\" and \"%.60s\")",
                            path, (long long)id, keys[id], key);
            break;
        }
        keys[id] = key;
        strmap_put(map, key, strlen(key), (int32_t)id);
    }
    free(keys);
    if (rc) return rc;
    t->vocab_size = n;

    t->sot = strmap_get(map, SOT_STR, sizeof SOT_STR - 1);
    t->eot = strmap_get(map, EOT_STR, sizeof EOT_STR - 1);
    if (t->sot < 0 || t->eot < 0)
        return mg_err_set(err, MG_EFORMAT, "%s: special token %s is missing", path,
                          t->sot < 0 ? SOT_STR : EOT_STR);
    uint32_t b2u[256];
    bytes_to_unicode(b2u);
    for (int byte = 0; byte < 256; byte++) {
        char s[16];
        size_t l = utf8_put(b2u[byte], (uint8_t *)s);
        memcpy(s + l, "</w>", 4);
        t->byte_id[byte] = strmap_get(map, s, l);
        t->byte_end_id[byte] = strmap_get(map, s, l + 4);
        if (t->byte_id[byte] < 0 || t->byte_end_id[byte] < 0)
            return mg_err_set(err, MG_EFORMAT, "%s: byte symbol \"%.*s\" (byte 0x%02X) is missing",
                              path, (int)(t->byte_id[byte] < 0 ? l : l + 4), s, byte);
    }
    return MG_OK;
}

static int is_field_sep(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

/* Reads merges.txt: optional "#version" first line, then "a b" per line
 * (rank = order). Every symbol and every merge result must be in map. */
static int load_merges(mg_tokenizer *t, const char *path, const strmap *map, mg_error *err) {
    char *buf = NULL;
    size_t len = 0;
    int rc = mg_read_file(path, TOK_MAX_FILE_BYTES, &buf, &len, err);
    if (rc) return rc;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    size_t cap = table_cap(lines);
    char *tmp = malloc(len + 1);
    t->merges = cap ? malloc(cap * sizeof *t->merges) : NULL;
    if (!tmp || !t->merges) {
        free(buf);
        free(tmp);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory for %zu lines", path, lines);
    }
    for (size_t i = 0; i < cap; i++) t->merges[i].rank = -1;
    t->merge_mask = cap - 1;

    size_t pos = 0, line_no = 0;
    int32_t rank = 0;
    while (pos < len && rc == MG_OK) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        line_no++;
        if (ll && line[ll - 1] == '\r') ll--;
        if (line_no == 1 && ll >= 8 && memcmp(line, "#version", 8) == 0) continue;
        if (memchr(line, '\0', ll)) {
            rc = mg_err_set(err, MG_EFORMAT, "%s:%zu: NUL byte in line", path, line_no);
            break;
        }
        const char *f[3];
        size_t fl[3], nf = 0;
        for (size_t i = 0; i < ll;) {
            while (i < ll && is_field_sep(line[i])) i++;
            if (i == ll) break;
            size_t s = i;
            while (i < ll && !is_field_sep(line[i])) i++;
            if (nf < 3) {
                f[nf] = line + s;
                fl[nf] = i - s;
            }
            nf++;
        }
        if (nf == 0) {
            /* blank lines are allowed only at the end of the file */
            size_t k = pos;
            while (k < len && (buf[k] == '\n' || buf[k] == '\r' || is_field_sep(buf[k]))) k++;
            if (k == len) break;
            rc = mg_err_set(err, MG_EFORMAT, "%s:%zu: empty line before the last merge", path,
                            line_no);
            break;
        }
        if (nf != 2) {
            rc = mg_err_set(err, MG_EFORMAT, "%s:%zu: expected two symbols separated by a space, "
                            "found %zu field(s): \"%.*s\"", path, line_no, nf,
                            (int)(ll > 60 ? 60 : ll), line);
            break;
        }
        if (rank == INT32_MAX) {
            rc = mg_err_set(err, MG_ELIMIT, "%s: too many merges", path);
            break;
        }
        int32_t ia = strmap_get(map, f[0], fl[0]);
        int32_t ib = strmap_get(map, f[1], fl[1]);
        memcpy(tmp, f[0], fl[0]);
        memcpy(tmp + fl[0], f[1], fl[1]);
        int32_t iab = strmap_get(map, tmp, fl[0] + fl[1]);
        if (ia < 0 || ib < 0) {
            int k = ia < 0 ? 0 : 1;
            rc = mg_err_set(err, MG_EFORMAT, "%s:%zu: unknown symbol \"%.*s\" (not in the vocabulary)",
                            path, line_no, (int)(fl[k] > 60 ? 60 : fl[k]), f[k]);
            break;
        }
        if (iab < 0) {
            size_t l = fl[0] + fl[1];
            rc = mg_err_set(err, MG_EFORMAT, "%s:%zu: merge result \"%.*s\" is not in the vocabulary",
                            path, line_no, (int)(l > 60 ? 60 : l), tmp);
            break;
        }
        merge_put(t, ia, ib, rank++, iab);
    }
    free(buf);
    free(tmp);
    if (rc == MG_OK && rank == 0)
        rc = mg_err_set(err, MG_EFORMAT, "%s: no merges found", path);
    t->n_merges = rank;
    return rc;
}

int mg_tokenizer_open(const char *vocab_json_path, const char *merges_txt_path,
                      mg_tokenizer **out, mg_error *err) {
    if (out) *out = NULL;
    if (!vocab_json_path || !merges_txt_path || !out)
        return mg_err_set(err, MG_EINVAL, "tokenizer: open: NULL argument");
    mg_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return mg_err_set(err, MG_ENOMEM, "tokenizer: out of memory");
    strmap map = {NULL, 0};
    json_object *root = NULL;
    int rc = load_vocab(t, vocab_json_path, &map, &root, err);
    if (rc == MG_OK) rc = load_merges(t, merges_txt_path, &map, err);
    free(map.slots);
    json_object_put(root);
    if (rc) {
        mg_tokenizer_close(t);
        return rc;
    }
    *out = t;
    return MG_OK;
}

void mg_tokenizer_close(mg_tokenizer *tok) {
    if (!tok) return;
    free(tok->merges);
    free(tok);
}

int32_t mg_tokenizer_sot(const mg_tokenizer *tok) { return tok->sot; }
int32_t mg_tokenizer_eot(const mg_tokenizer *tok) { return tok->eot; }
int mg_tokenizer_vocab_size(const mg_tokenizer *tok) { return tok->vocab_size; }
