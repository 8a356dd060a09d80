# Image decoding (PNG/JPEG) and CLIP preprocessing tests. The data and
# goldens come from scripts/gen_image_tests.py (Pillow 9.4 as reference).
# test_image runs everything (decoding, sniffing, malformed inputs, PNG
# writer, exact crops vs Pillow, normalization, a bounded fuzz loop);
# test_image_asan runs the same under ASan+UBSan.
mg_parser_test(NAME test_image
  SOURCES test_image.c test_preprocess.c
  LIBS mg_media mg_core
  LABELS image)
