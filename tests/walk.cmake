# File walker of `mediagrep index` (src/pipeline/walk.c): globs, kind
# sniffing, and walks over a built tree (symlink loops, hard links, a FIFO,
# hidden entries, include/exclude, max_depth). Compiled against walk.c alone
# so it does not depend on the rest of the pipeline module.
mg_test(NAME test_walk
  SOURCES test_walk.c ${CMAKE_SOURCE_DIR}/src/pipeline/walk.c
  LIBS mg_media mg_core
  LABELS pipeline)

# walk.c (directory entries, link targets and sniffed bytes are untrusted)
# under ASan+UBSan.
if(MG_SANITIZE_TESTS)
  add_executable(test_walk_asan test_walk.c ${CMAKE_SOURCE_DIR}/src/pipeline/walk.c)
  target_compile_options(test_walk_asan PRIVATE ${MG_SAN_FLAGS})
  target_link_libraries(test_walk_asan PRIVATE mg_testlib_asan mg_parsers_asan Threads::Threads)
  target_compile_definitions(test_walk_asan PRIVATE MG_ASAN_BUILD=1 MG_TEST_DATA="${MG_TEST_DATA}"
    MG_SOURCE_DIR="${CMAKE_SOURCE_DIR}" MG_BUILD_DIR="${CMAKE_BINARY_DIR}")
  set_target_properties(test_walk_asan PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME test_walk_asan COMMAND test_walk_asan)
  set_tests_properties(test_walk_asan PROPERTIES LABELS "asan;parser;pipeline" TIMEOUT 900
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()

# Removal decisions and root checks (src/pipeline/removal.c,
# src/store/roots.c) on a real folder and catalog.
mg_test(NAME test_removal SOURCES test_removal.c LIBS libmediagrep LABELS pipeline)
