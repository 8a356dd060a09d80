# Search (src/search): scan kernels vs reference, top-k, query parsing, and
# rankings / video moments / filters / both cutoff rules / FAISS path on a
# store filled with controlled vectors; CLI exit codes.
mg_test(NAME test_search SOURCES test_search.c vecfixture.c LIBS libmediagrep LABELS search)
add_dependencies(test_search mediagrep)
set_tests_properties(test_search PROPERTIES FIXTURES_REQUIRED test_models)
