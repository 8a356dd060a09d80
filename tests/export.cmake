# `mediagrep export` (src/export). test_parquet: the Parquet writer read back
# by an independent reader (hyparquet, JavaScript, installed with npm into
# build/npm-hyparquet; skipped, 77, when npm cannot fetch it). export_cli
# (tests/export_check.py): a store made by `mediagrep index` with a tiny
# model, exported in the three formats and checked with numpy, faiss,
# sqlite3 and hyparquet.
mg_test(NAME test_parquet SOURCES test_parquet.c LIBS mg_export_fmt mg_core PkgConfig::JSONC LABELS export)
set_tests_properties(test_parquet PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 RESOURCE_LOCK npm_hyparquet)
if(DEFINED ENV{MG_PYTHON})
  set(_mg_export_py $ENV{MG_PYTHON})
else()
  set(_mg_export_py /usr/bin/python3)
endif()
add_test(NAME export_cli COMMAND ${_mg_export_py} ${CMAKE_SOURCE_DIR}/tests/export_check.py
  ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(export_cli PROPERTIES LABELS "export" SKIP_RETURN_CODE 77 TIMEOUT 600 RESOURCE_LOCK npm_hyparquet)
# The writer under ASan+UBSan (it is not a parser, but cheap to check).
if(MG_SANITIZE_TESTS)
  add_executable(test_parquet_asan test_parquet.c ${CMAKE_SOURCE_DIR}/src/export/parquet.c)
  target_compile_options(test_parquet_asan PRIVATE ${MG_SAN_FLAGS})
  target_link_libraries(test_parquet_asan PRIVATE mg_testlib_asan mg_parsers_asan PkgConfig::JSONC)
  target_compile_definitions(test_parquet_asan PRIVATE MG_ASAN_BUILD=1 MG_BUILD_DIR="${CMAKE_BINARY_DIR}"
    MG_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  set_target_properties(test_parquet_asan PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME test_parquet_asan COMMAND test_parquet_asan)
  set_tests_properties(test_parquet_asan PROPERTIES LABELS "asan;export" SKIP_RETURN_CODE 77 TIMEOUT 600 RESOURCE_LOCK npm_hyparquet
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()
