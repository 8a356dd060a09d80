# Store module (src/store): vector file, content hashes, SQLite catalog and
# the store's write protocol (crash cut-back, writer lock, tombstones,
# compaction, FAISS index upkeep). Crash and second-writer cases run this
# test binary again as a child process (argv[1] == "--child").
mg_test(NAME test_store SOURCES test_store.c LIBS mg_store mg_vindex mg_core LABELS store)

# The same test with the store sources (which read vector-file headers and
# catalog rows from disk) built with ASan+UBSan. FAISS and SQLite themselves
# are not instrumented.
if(MG_SANITIZE_TESTS)
  add_executable(test_store_asan test_store.c
    ${CMAKE_SOURCE_DIR}/src/store/vecfile.c ${CMAKE_SOURCE_DIR}/src/store/catalog.c
    ${CMAKE_SOURCE_DIR}/src/store/store.c ${CMAKE_SOURCE_DIR}/src/store/filehash.c ${CMAKE_SOURCE_DIR}/src/store/texts.c
    ${CMAKE_SOURCE_DIR}/src/store/vindex.cpp ${CMAKE_SOURCE_DIR}/src/core/threadpool.c)
  target_compile_options(test_store_asan PRIVATE ${MG_SAN_FLAGS})
  target_compile_features(test_store_asan PRIVATE cxx_std_17)
  target_link_libraries(test_store_asan PRIVATE mg_testlib_asan mg_parsers_asan
    PkgConfig::SQLITE PkgConfig::JSONC PkgConfig::XXHASH faiss OpenMP::OpenMP_CXX Threads::Threads)
  target_compile_definitions(test_store_asan PRIVATE MG_ASAN_BUILD=1 MG_TEST_DATA="${MG_TEST_DATA}"
    MG_SOURCE_DIR="${CMAKE_SOURCE_DIR}" MG_BUILD_DIR="${CMAKE_BINARY_DIR}")
  set_target_properties(test_store_asan PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME test_store_asan COMMAND test_store_asan)
  set_tests_properties(test_store_asan PROPERTIES LABELS "asan;parser;store" TIMEOUT 900
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()
