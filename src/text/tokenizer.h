/*
 * tokenizer.h - CLIP's byte-level BPE tokenizer, exact to OpenAI's
 * SimpleTokenizer (clip/simple_tokenizer.py) and Hugging Face CLIPTokenizer,
 * minus ftfy's mojibake repair (out of scope, documented in README).
 *
 * Pipeline (the order of simple_tokenizer.py): NFC (standing in for
 * ftfy.fix_text) -> html.unescape twice -> strip -> collapse whitespace, strip
 * -> lower-case -> split with CLIP's pattern -> byte-level encode -> BPE merges
 * by rank -> [SOT] + ids + [EOT], truncated to the context length with the
 * last id forced to EOT. Every step follows Python's semantics (html.unescape,
 * str.strip/str.lower incl. final sigma, the `regex` module's \s, \p{L},
 * \p{N} under IGNORECASE); Unicode data comes from utf8proc.
 *
 * Known, deliberate differences from OpenAI's tokenizer: ftfy.fix_text is
 * replaced by NFC only, so ftfy's other repairs (mojibake / wrong-codec
 * text, curly quotes -> straight, full-width -> half-width, ligatures,
 * control-character removal, its own HTML unescaping, ...) are not done.
 * Unicode tables are utf8proc's (15.0 for utf8proc 2.8), so characters new
 * since the Python build's Unicode version may be classified differently
 * from that Python: against Python 3.11 (Unicode 14.0) the only difference
 * found (all code points checked) is str.lower()'s final-sigma rule next to
 * the 105 case-ignorable characters new in Unicode 15.0.
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

/* CLIP's context length (clip.tokenize's default). */
#define MG_TOKENIZER_CONTEXT 77
/* Longest text mg_tokenizer_encode accepts (bytes); longer is MG_ELIMIT. */
#define MG_TOKENIZER_MAX_TEXT_BYTES (16u << 20)

/* Loads vocab.json (token string -> id) and merges.txt ("#version" line
 * optional, then one "a b" merge per line, rank = line order). Errors name
 * the file and the reason (MG_ENOTFOUND, MG_EFORMAT, MG_ENOMEM).
 * Validation: vocab.json must be one JSON object whose values are distinct
 * integers 0..N-1 and which holds <|startoftext|>, <|endoftext|> and all
 * 512 byte symbols (with and without </w>); every merges.txt line must have
 * exactly two symbols, both and their concatenation in the vocabulary
 * (blank lines only at the end; CRLF accepted; a repeated pair takes the
 * later rank, like Python's dict). *out is NULL on error. */
int mg_tokenizer_open(const char *vocab_json_path, const char *merges_txt_path,
                      mg_tokenizer **out, mg_error *err);
/* Frees the tokenizer; NULL is a no-op. */
void mg_tokenizer_close(mg_tokenizer *tok);

/* Encodes UTF-8 text. Writes at most context_len ids into ids (SOT first,
 * EOT last; when the text is longer, the first context_len ids are kept and
 * the last is set to EOT) and their count to *n_ids. Invalid UTF-8 is an
 * MG_EFORMAT error. Returns MG_OK or an error code.
 * Details: context_len must be >= 1 (MG_EINVAL otherwise); context_len 1
 * gives [EOT], as clip.tokenize would. Empty or all-whitespace text gives
 * [SOT, EOT]. Text longer than MG_TOKENIZER_MAX_TEXT_BYTES is MG_ELIMIT.
 * On error *n_ids is 0 and ids[0..context_len) may have been overwritten.
 * Cost is linear in the text (BPE O(n log n) per word); a short query
 * takes microseconds. */
int mg_tokenizer_encode(const mg_tokenizer *tok, const char *text,
                        int32_t *ids, int context_len, int *n_ids,
                        mg_error *err);

int32_t mg_tokenizer_sot(const mg_tokenizer *tok); /* <|startoftext|> id */
int32_t mg_tokenizer_eot(const mg_tokenizer *tok); /* <|endoftext|> id */
int mg_tokenizer_vocab_size(const mg_tokenizer *tok);

#endif
