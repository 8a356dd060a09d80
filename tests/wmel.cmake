# Whisper log-mel tests (src/whisper/mel.c, compiled into the test so its
# FFT can be checked on its own): filters vs mel_filters.npz bit for bit,
# mg_log_mel vs openai/whisper's torch computation (scripts/gen_mel_golden.py
# run at test time with /usr/bin/python3, float32 and float64) and vs the
# committed float64 frames in tests/golden/mel, the bounded-memory reader
# (bit-equal windows, errors, one hour in a few MB). `test_mel --bench [reps]`
# prints ms per 30 s of audio.
mg_test(NAME test_mel SOURCES test_mel.c
  LIBS mg_video mg_media mg_core PkgConfig::ZLIB
  LABELS wmel)
