# Tokenizer tests: golden ids from OpenAI's tokenizer (NFC for ftfy), edge
# cases, malformed vocab/merges files and a randomized robustness loop. Also
# built with ASan+UBSan (test_tokenizer_asan).
mg_parser_test(NAME test_tokenizer SOURCES test_tokenizer.c LIBS mg_text mg_core)
