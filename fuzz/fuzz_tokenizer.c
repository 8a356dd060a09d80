/* fuzz_tokenizer.c - libFuzzer target: tokenize any bytes with the real CLIP
 * vocabulary; output must be SOT ... EOT within the context. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "text/tokenizer.h"

static mg_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    mg_error err;
    if (mg_tokenizer_open(MG_SOURCE_DIR "/assets/clip-tokenizer/vocab.json",
                          MG_SOURCE_DIR "/assets/clip-tokenizer/merges.txt", &tok, &err) != MG_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    int32_t ids[77];
    int n = 0;
    mg_error err;
    if (mg_tokenizer_encode(tok, s, ids, 77, &n, &err) == MG_OK) {
        if (n < 2 || n > 77 || ids[0] != mg_tokenizer_sot(tok) || ids[n - 1] != mg_tokenizer_eot(tok)) abort();
    }
    free(s);
    return 0;
}
