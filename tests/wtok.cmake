# Whisper tokenizer tests: encode goldens from scripts/ref_whisper_tokenizer.py
# on both rank tables, a live comparison with the reference on random text
# (when /usr/bin/python3 has `regex`), decode and UTF-8 replacement, special
# layouts, Hugging Face loading against tiktoken loading, non_speech_tokens,
# languages and hostile files. Also built with ASan+UBSan (test_wtokenizer_asan,
# where wtokenizer.c comes from the sanitized parser library's copy or this
# source list, compiled with the sanitizers either way). wtokenizer.c is
# compiled in directly: the mg_whisper module also holds the model and
# transcription code, with their dependencies.
mg_parser_test(NAME test_wtokenizer
  SOURCES test_wtokenizer.c ${CMAKE_SOURCE_DIR}/src/whisper/wtokenizer.c
  LIBS mg_core PkgConfig::JSONC PkgConfig::UTF8PROC
  LABELS wtok)
