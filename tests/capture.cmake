# Capture metadata (src/media/capture.c, src/store/captures.c,
# src/search/capture_filter.c, src/pipeline/index_capture.c). test_capture:
# the parsers on bytes built in the test (EXIF in both byte orders, JPEG/
# PNG/WebP containers, truncations and damage), times, ISO 6709, filters;
# test_capture_asan: the same under ASan+UBSan. capture_cli
# (tests/capture_check.py): files of every format tagged by exiftool read
# by `mediagrep meta` equal to exiftool's own reading, `index` storing them
# and reading them for an older store's files without re-encoding, the
# search filters (CLI, library JSON, HTTP), status counts.
mg_parser_test(NAME test_capture SOURCES test_capture.c LABELS capture)
if(DEFINED ENV{MG_PYTHON})
  set(_mg_cap_py $ENV{MG_PYTHON})
else()
  set(_mg_cap_py /usr/bin/python3)
endif()
add_test(NAME capture_cli COMMAND ${_mg_cap_py} ${CMAKE_SOURCE_DIR}/tests/capture_check.py ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(capture_cli PROPERTIES LABELS "capture" TIMEOUT 600 SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED test_models)
