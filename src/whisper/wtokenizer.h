/*
 * wtokenizer.h - Whisper's tokenizer: byte-level BPE with tiktoken's
 * semantics (the GPT-2 pre-tokenizer pattern, then rank-based merging where
 * a token's rank is its id: repeatedly merge the adjacent pair whose
 * concatenation has the lowest rank), and the special tokens laid out by
 * rule from the model's vocabulary size, as openai/whisper's tokenizer.py
 * does:
 *   n_vocab 51864: English-only ("gpt2" ranks, 50256 of them), 99 languages
 *   n_vocab 51865: multilingual ("multilingual" ranks, 50257), 99 languages
 *   n_vocab 51866: v3 (multilingual ranks), 100 languages (adds "yue")
 * specials in order after the ranks: <|endoftext|>, <|startoftranscript|>,
 * one <|lang|> per language, <|translate|>, <|transcribe|>, <|startoflm|>,
 * <|startofprev|>, <|nospeech|>, <|notimestamps|>, <|0.00|> ... <|30.00|>.
 * (For the English-only layout <|endoftext|> is rank 50256.)
 *
 * Sources: a model directory's Hugging Face files (tokenizer.json, or
 * vocab.json + merges.txt with added_tokens.json), or a tiktoken rank file
 * (base64 token, space, rank per line). Either way the specials are checked
 * against the file's added tokens where it lists them (MG_EFORMAT naming the
 * first mismatch).
 *
 * Decoding concatenates the tokens' bytes (specials and timestamps are left
 * out by mg_wtok_decode) and replaces invalid UTF-8 as Python's
 * bytes.decode("utf-8", errors="replace") does (one U+FFFD per maximal
 * invalid subsequence).
 *
 * Threading: a loaded tokenizer is immutable; every function is reentrant.
 */
#ifndef MG_WTOKENIZER_H
#define MG_WTOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

typedef struct mg_wtok mg_wtok;

typedef struct mg_wtok_specials {
    int n_vocab;          /* the model's vocabulary size (51864, 51865, 51866) */
    int multilingual;     /* n_vocab >= 51865 */
    int n_langs;          /* 99 or 100 */
    int eot, sot, lang_begin /* <|en|> */, translate, transcribe, sot_lm, sot_prev, no_speech, no_timestamps;
    int timestamp_begin;  /* <|0.00|>; the last timestamp is timestamp_begin + 1500 */
} mg_wtok_specials;

/* Computes the special ids for a vocabulary size (MG_EUNSUPPORTED for sizes
 * other than the three layouts). Needs no files. */
int mg_wtok_layout(int n_vocab, mg_wtok_specials *out, mg_error *err);

/* Loads from a model directory (tokenizer.json, or vocab.json + merges.txt
 * [+ added_tokens.json]) for a model of n_vocab tokens. */
int mg_wtok_open_dir(const char *dir, int n_vocab, mg_wtok **out, mg_error *err);
/* Loads a tiktoken rank file (e.g. ../shared/whisper/multilingual.tiktoken). */
int mg_wtok_open_tiktoken(const char *path, int n_vocab, mg_wtok **out, mg_error *err);
void mg_wtok_close(mg_wtok *t); /* NULL is a no-op */

const mg_wtok_specials *mg_wtok_get_specials(const mg_wtok *t);

/* Encodes UTF-8 text (no specials: "<|...|>" in text is plain text) into at
 * most cap ids; returns the number of ids (which may exceed cap: then only
 * cap were written) or a negative MG_E* code. */
int mg_wtok_encode(const mg_wtok *t, const char *text, size_t len, int32_t *ids, int cap, mg_error *err);

/* Decodes the text tokens (id < eot) of ids, skipping specials/timestamps,
 * into out (NUL-terminated, truncated to cap). Returns the full length in
 * bytes (as snprintf). */
size_t mg_wtok_decode(const mg_wtok *t, const int32_t *ids, int n, char *out, size_t cap);
/* As decode, but timestamps are written as "<|1.08|>" (decode_with_timestamps). */
size_t mg_wtok_decode_with_timestamps(const mg_wtok *t, const int32_t *ids, int n, char *out, size_t cap);
/* The bytes of one token (NULL for specials); *len set. */
const uint8_t *mg_wtok_token_bytes(const mg_wtok *t, int id, size_t *len);

/* Languages in the reference's order (LANGUAGES in tokenizer.py): code of
 * language i ("en", "zh", ...), its English name ("english"), and the index
 * of a code or a name (case-insensitive; also the reference's aliases such
 * as "burmese" -> "my"), or -1. The token of language i is lang_begin + i. */
const char *mg_wtok_lang_code(int i);
const char *mg_wtok_lang_name(int i);
int mg_wtok_lang_index(const mg_wtok_specials *sp, const char *code_or_name);

/* The reference's non_speech_tokens (the ids suppressed by
 * suppress_tokens="-1": symbols, and their space-prefixed forms when they
 * are single tokens), sorted ascending, written to ids (cap); returns the
 * count. */
int mg_wtok_non_speech_tokens(const mg_wtok *t, int32_t *ids, int cap);


/* ---- additions (wtok) ---------------------------------------------------- */

/* The text of special id ("<|endoftext|>", "<|en|>", "<|1.08|>", ...) as
 * get_encoding names it, written as snprintf does; returns its length, or
 * -1 when id is not a special of the layout. */
int mg_wtok_special_name(const mg_wtok_specials *sp, int id, char *buf, size_t cap);

/* In-memory loaders (what the file loaders and the fuzz target use): a
 * tiktoken rank file; a tokenizer.json; a vocab.json with an optional
 * added_tokens.json and merges.txt (NULL when absent). The merge list, where
 * given, must yield tokens in increasing rank order (then rank-based merging
 * equals Hugging Face's merge-list BPE): MG_EUNSUPPORTED otherwise. Inputs
 * are borrowed; sizes over 64 MiB give MG_ELIMIT; malformed or inconsistent
 * content MG_EFORMAT naming the line, token or id at fault. */
int mg_wtok_open_tiktoken_mem(const void *data, size_t len, int n_vocab, mg_wtok **out, mg_error *err);
int mg_wtok_open_hf_mem(const char *tokenizer_json, size_t len, int n_vocab, mg_wtok **out, mg_error *err);
int mg_wtok_open_vocab_mem(const char *vocab_json, size_t vocab_len, const char *added_json,
                           size_t added_len, const char *merges, size_t merges_len, int n_vocab,
                           mg_wtok **out, mg_error *err);

/* tiktoken's Encoding.decode: every id, specials written by name, ids
 * outside 0..n_vocab-1 skipped; output as mg_wtok_decode. */
size_t mg_wtok_decode_all(const mg_wtok *t, const int32_t *ids, int n, char *out, size_t cap);

/* bytes.decode("utf-8", errors="replace") of in[0..len) into out (as
 * mg_wtok_decode: NUL-terminated, cut at a character boundary to fit cap);
 * returns the full length. */
size_t mg_wtok_utf8_replace(const void *in, size_t len, char *out, size_t cap);

/* The pre-tokenizer's class of a code point: 0 \s, 1 \p{L}, 2 \p{N}, 3 other. */
int mg_wtok_char_class(uint32_t c);

#endif
