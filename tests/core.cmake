# libFuzzer targets (clang, ASan+UBSan), each run briefly on its seed corpus.
add_test(NAME fuzz_parsers
  COMMAND ${CMAKE_SOURCE_DIR}/tests/run_fuzzers.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR} 20)
set_tests_properties(fuzz_parsers PROPERTIES LABELS "asan;fuzz" TIMEOUT 600)
