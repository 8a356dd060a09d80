# Image decoding (PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC, AVIF) and CLIP
# preprocessing tests. The data and goldens come from
# scripts/gen_image_tests.py (Pillow 9.4 as reference; HEIC/AVIF written by
# ImageMagick through libheif). test_image runs everything (sniffing,
# malformed inputs of every format, every format vs Pillow's decode, EXIF
# orientations, shrink-on-load scale choice and accuracy, bad inputs, limits,
# PNG writer, exact crops vs Pillow, normalization, a bounded fuzz loop over
# all formats); test_image_asan runs the same under ASan+UBSan.
# `test_image --bench FILE...` times load+preprocess, full vs shrink-on-load.
mg_parser_test(NAME test_image
  SOURCES test_image.c test_preprocess.c
  LIBS mg_media mg_core
  LABELS image)
