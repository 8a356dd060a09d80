# Tests for the hub module (src/hub/pull.c, `mediagrep model pull`) and the
# `mediagrep model` CLI (src/cli/cli_model.c is compiled into the test). The
# test starts tests/fake_hub.py (with /usr/bin/python3) on 127.0.0.1 and
# skips, passing, when that interpreter is missing.
mg_test(NAME test_pull
  SOURCES test_pull.c ${CMAKE_SOURCE_DIR}/src/cli/cli_model.c
  LIBS mg_hub mg_core
  LABELS hub network)
set_tests_properties(test_pull PROPERTIES TIMEOUT 180)
