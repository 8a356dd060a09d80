/*
 * tokenizer.h - CLIP's byte-level BPE tokenizer, exact to OpenAI's
 * SimpleTokenizer (clip/simple_tokenizer.py) and Hugging Face CLIPTokenizer,
 * minus ftfy's mojibake repair (out of scope, documented in README).
 *
 * Pipeline: html.unescape twice -> collapse whitespace, strip -> NFC ->
 * lower-case -> split with CLIP's pattern -> byte-level encode -> BPE merges by
 * rank -> [SOT] + ids + [EOT], truncated to the context length with the last
 * id forced to EOT.
 *
 * Ownership: mg_tokenizer_open copies everything it needs; the files can be
 * deleted afterwards. Thread safety: an open tokenizer is immutable; encode
 * may be called concurrently from any number of threads.
 */
#ifndef MG_TOKENIZER_H
#define MG_TOKENIZER_H

#include <stdint.h>
#include "core/common.h"

typedef struct mg_tokenizer mg_tokenizer;

/* Loads vocab.json (token string -> id) and merges.txt ("#version" line
 * optional, then one "a b" merge per line, rank = line order). Errors name
 * the file and the reason (MG_ENOTFOUND, MG_EFORMAT, MG_ENOMEM). */
int mg_tokenizer_open(const char *vocab_json_path, const char *merges_txt_path,
                      mg_tokenizer **out, mg_error *err);
/* Frees the tokenizer; NULL is a no-op. */
void mg_tokenizer_close(mg_tokenizer *tok);

/* Encodes UTF-8 text. Writes at most context_len ids into ids (SOT first,
 * EOT last; when the text is longer, the first context_len ids are kept and
 * the last is set to EOT) and their count to *n_ids. Invalid UTF-8 is an
 * MG_EFORMAT error. Returns MG_OK or an error code. */
int mg_tokenizer_encode(const mg_tokenizer *tok, const char *text,
                        int32_t *ids, int context_len, int *n_ids,
                        mg_error *err);

int32_t mg_tokenizer_sot(const mg_tokenizer *tok); /* <|startoftext|> id */
int32_t mg_tokenizer_eot(const mg_tokenizer *tok); /* <|endoftext|> id */
int mg_tokenizer_vocab_size(const mg_tokenizer *tok);

#endif
