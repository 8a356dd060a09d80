# OCR engine (src/ocr) with Tesseract's real English model on the generated
# corpus: accuracy floors per category, the region pass's gain, nothing on
# text-free photos, threads, bad input, `mediagrep ocr --json`.
mg_test(NAME test_ocr SOURCES test_ocr.c LIBS libmediagrep LABELS ocr)
add_dependencies(test_ocr mediagrep)
set_tests_properties(test_ocr PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)

# Text in videos (src/ocr/ocr_segments.c, `mediagrep ocr VIDEO`): the
# near-identical frame test (a caption change is a change, compression noise
# is not), segment merging on synthetic readings, and the real pipeline on
# generated caption videos (scripts/gen_caption_videos.py): caption recall,
# one segment per caption, no segment without a caption, skipped frames.
mg_test(NAME test_ocr_video SOURCES test_ocr_video.c LIBS libmediagrep LABELS ocr)
add_dependencies(test_ocr_video mediagrep)
set_tests_properties(test_ocr_video PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
