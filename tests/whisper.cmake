# Whisper end to end: the tiny random models and test audio are regenerated
# deterministically by scripts/gen_tiny_whisper.py (numpy + the ffmpeg CLI)
# as a fixture, checked against the sha256s its goldens record
# (tests/golden/whisper, from the float64 PyTorch reference whisper_ref.py).
add_test(NAME gen_whisper_models
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/scripts/gen_tiny_whisper.py --out ${MG_TEST_MODELS} --check)
set_tests_properties(gen_whisper_models PROPERTIES FIXTURES_SETUP whisper_models LABELS "unit;whisper" TIMEOUT 300)

# Model, decoding and transcribe() against the reference's goldens; batch
# and thread independence; bf16/int8 against fp32.
mg_test(NAME test_whisper SOURCES test_whisper.c LABELS whisper)
set_tests_properties(test_whisper PROPERTIES FIXTURES_REQUIRED whisper_models SKIP_RETURN_CODE 77 TIMEOUT 900)

# `mediagrep index --speech` and search by what is said, through the CLI:
# audio kinds, bad audio files, speech added later, SIGKILLs then a resume.
mg_test(NAME test_speech_index SOURCES test_speech_index.c storedump.c LIBS libmediagrep LABELS "whisper;index")
add_dependencies(test_speech_index mediagrep)
set_tests_properties(test_speech_index PROPERTIES FIXTURES_REQUIRED "whisper_models;test_models"
                     SKIP_RETURN_CODE 77 TIMEOUT 900)
