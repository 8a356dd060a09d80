# `mediagrep index --watch` (src/pipeline/watch.c): tests/watch_check.py runs
# the CLI on generated photos and a video with the tiny test model while
# files are added, rewritten, renamed, moved (a whole folder), deleted and
# written slowly, checks that the store ends equal to a fresh `index` of the
# final folder, that moves and a slow copy cost no extra encoding, that
# hidden and excluded files start no pass, SIGKILL + restart, SIGINT/SIGTERM
# exit 0, an emptied root and an unmounted drive (tmpfs, as root) lose
# nothing, --poll, and the fallback to polling at the inotify watch limit.
# About 35 s on 2 cores.
if(DEFINED ENV{MG_PYTHON})
  set(_mg_watch_py $ENV{MG_PYTHON})
else()
  set(_mg_watch_py /usr/bin/python3)
endif()
add_test(NAME watch_cli COMMAND ${_mg_watch_py} ${CMAKE_SOURCE_DIR}/tests/watch_check.py
  $<TARGET_FILE:mediagrep> ${MG_TEST_MODELS})
set_tests_properties(watch_cli PROPERTIES LABELS "watch" TIMEOUT 300 SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED test_models)
