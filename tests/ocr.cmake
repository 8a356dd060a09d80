# OCR engine (src/ocr) with Tesseract's real English model on the generated
# corpus: accuracy floors per category, the region pass's gain, nothing on
# text-free photos, threads, bad input, `mediagrep ocr --json`.
mg_test(NAME test_ocr SOURCES test_ocr.c LIBS libmediagrep LABELS ocr)
add_dependencies(test_ocr mediagrep)
set_tests_properties(test_ocr PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
