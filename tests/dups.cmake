# `mediagrep dups` (src/search/dups.c, src/cli/cli_dups.c, src/server/dups_api.c):
# tests/dups_check.py indexes generated photos and videos (exact copies,
# re-encoded and resized copies, unrelated pictures, two videos sharing a black
# intro) with the tiny test model and checks the groups, the keep file, --exact
# (and a sampled hash), --kind, --min-group, --threshold, JSON / CSV / table,
# the same groups without a usable index, errors, the store left unchanged,
# GET /api/duplicates against the CLI's JSON, and `bench dups` at small N.
if(DEFINED ENV{MG_PYTHON})
  set(_mg_dups_py $ENV{MG_PYTHON})
else()
  set(_mg_dups_py /usr/bin/python3)
endif()
add_test(NAME dups_cli COMMAND ${_mg_dups_py} ${CMAKE_SOURCE_DIR}/tests/dups_check.py
  ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(dups_cli PROPERTIES LABELS "dups;search;server" TIMEOUT 600)
