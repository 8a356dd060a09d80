# Whisper decoding/transcription rules (src/whisper/wrules.c): constructed
# cases for every filter and decision, and goldens from scripts/ref_wrules.py
# (torch statement of openai/whisper 20240930's rules) in tests/golden/wrules.
mg_test(NAME test_wrules SOURCES test_wrules.c)
