# Audio decoding tests (src/media/audio.c): test_audio generates a few
# seconds of media per format with the ffmpeg CLI (into build/test-audio)
# and checks that mg_audio's 16 kHz mono samples equal, sample for sample,
# what `ffmpeg -i FILE -f s16le -ac 1 -ar 16000 -` writes (whisper's
# load_audio), plus rewind, errors, damaged files and the load limit.
mg_test(NAME test_audio
  SOURCES test_audio.c
  LIBS mg_video mg_media mg_core
  LABELS audio)
