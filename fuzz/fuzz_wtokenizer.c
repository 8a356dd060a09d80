/* fuzz_wtokenizer.c - libFuzzer target for Whisper's tokenizer
 * (src/whisper/wtokenizer.c). The first byte picks what the rest is:
 *   0: a tiktoken rank file;  1: a tokenizer.json;
 *   2: vocab.json NUL added_tokens.json NUL merges.txt;
 *   3: lines spliced into the real multilingual.tiktoken (reaching the
 *      rank/duplicate/byte checks past the parser);
 *   4: little-endian int32 ids for the three decoders;
 *   else: text to encode with the real multilingual table, where
 *      decode(encode(x)) must equal x's UTF-8 "replace" decoding.
 * The second byte of modes 0-3 picks the layout (51864, 51865, 51866). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "whisper/wtokenizer.h"

static mg_wtok *tok;
static char *real;
static size_t real_len;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    mg_error err;
    const char *path = MG_SOURCE_DIR "/../shared/whisper/multilingual.tiktoken";
    if (mg_read_file(path, 0, &real, &real_len, &err) != MG_OK ||
        mg_wtok_open_tiktoken_mem(real, real_len, 51865, &tok, &err) != MG_OK)
        abort();
    return 0;
}

static void check_open(int rc, mg_wtok *t) {
    if ((rc == MG_OK) != (t != NULL)) abort();
    mg_wtok_close(t);
}

static const char *part(const uint8_t **p, const uint8_t *end, size_t *len) {
    if (*p >= end) return NULL;
    const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
    const char *s = (const char *)*p;
    *len = (size_t)((z ? z : end) - *p);
    *p = z ? z + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int mode = data[0], n_vocab = 51864 + data[1] % 3;
    mg_error err;
    mg_wtok *t = NULL;
    if (mode == 0) {
        check_open(mg_wtok_open_tiktoken_mem(data + 2, size - 2, n_vocab, &t, &err), t);
    } else if (mode == 1) {
        check_open(mg_wtok_open_hf_mem((const char *)data + 2, size - 2, n_vocab, &t, &err), t);
    } else if (mode == 2) {
        const uint8_t *p = data + 2, *end = data + size;
        size_t vl = 0, al = 0, ml = 0;
        const char *v = part(&p, end, &vl), *a = part(&p, end, &al), *m = part(&p, end, &ml);
        check_open(mg_wtok_open_vocab_mem(v ? v : "", vl, a, al, m, ml, n_vocab, &t, &err), t);
    } else if (mode == 3) {
        /* replace the lines from a fuzz-chosen offset on with the input */
        size_t at = size > 4 ? ((size_t)data[2] << 8 | data[3]) * 12 % real_len : 0;
        while (at > 0 && real[at - 1] != '\n') at--;
        size_t skip = at, body = size > 4 ? size - 4 : 0;
        for (size_t k = 0; skip < real_len && k < 1 + body / 8; skip++) k += real[skip] == '\n';
        char *buf = malloc(real_len + body + 1);
        if (!buf) return 0;
        memcpy(buf, real, at);
        memcpy(buf + at, data + 4, body);
        memcpy(buf + at + body, real + skip, real_len - skip);
        check_open(mg_wtok_open_tiktoken_mem(buf, real_len - skip + at + body, n_vocab, &t, &err), t);
        free(buf);
    } else if (mode == 4) {
        int n = (int)((size - 1) / 4);
        int32_t *ids = malloc((size_t)n * sizeof *ids + 1);
        char out[256];
        if (!ids) return 0;
        for (int i = 0; i < n; i++) memcpy(&ids[i], data + 1 + 4 * (size_t)i, 4);
        size_t (*fns[3])(const mg_wtok *, const int32_t *, int, char *, size_t) = {
            mg_wtok_decode, mg_wtok_decode_with_timestamps, mg_wtok_decode_all};
        for (int f = 0; f < 3; f++) {
            size_t full = fns[f](tok, ids, n, NULL, 0), cut = fns[f](tok, ids, n, out, sizeof out);
            if (full != cut || strlen(out) >= sizeof out) abort();
        }
        free(ids);
    } else {
        const char *text = (const char *)data + 1;
        size_t len = size - 1;
        int32_t *ids = malloc((len + 1) * 3 * sizeof *ids);
        char *a = malloc(3 * len + 1), *b = malloc(3 * len + 1);
        if (ids && a && b) {
            int n = mg_wtok_encode(tok, text, len, ids, (int)(len * 3 + 1), &err);
            if (n < 0 || n > (int)(len * 3)) abort();
            size_t la = mg_wtok_utf8_replace(text, len, a, 3 * len + 1);
            size_t lb = mg_wtok_decode(tok, ids, n, b, 3 * len + 1);
            if (la != lb || memcmp(a, b, la) != 0) abort();
        }
        free(ids);
        free(a);
        free(b);
    }
    return 0;
}
