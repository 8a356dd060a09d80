# `mediagrep export` (src/export). test_parquet: the Parquet writer read back
# by an independent reader (hyparquet, JavaScript, installed with npm into
# build/npm-hyparquet; skipped, 77, when npm cannot fetch it). export_cli
# (tests/export_check.py): a store made by `mediagrep index` with a tiny
# model, exported in the three formats and checked with numpy, faiss,
# sqlite3 and hyparquet.
mg_test(NAME test_parquet SOURCES test_parquet.c LIBS mg_export_fmt mg_core PkgConfig::JSONC LABELS export)
set_tests_properties(test_parquet PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
if(DEFINED ENV{MG_PYTHON})
  set(_mg_export_py $ENV{MG_PYTHON})
else()
  set(_mg_export_py /usr/bin/python3)
endif()
add_test(NAME export_cli COMMAND ${_mg_export_py} ${CMAKE_SOURCE_DIR}/tests/export_check.py
  ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(export_cli PROPERTIES LABELS "export" SKIP_RETURN_CODE 77 TIMEOUT 600)
