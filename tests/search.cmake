# Search (src/search): scan kernels vs reference, top-k, query parsing, and
# rankings / video moments / filters / both cutoff rules / FAISS path on a
# store filled with controlled vectors; CLI exit codes.
mg_test(NAME test_search SOURCES test_search.c vecfixture.c LIBS libmediagrep LABELS search)
add_dependencies(test_search mediagrep)
set_tests_properties(test_search PROPERTIES FIXTURES_REQUIRED test_models)

# The text list (FTS5) and its fusion with the visual list (test_textsearch.c):
# query parsing, matching rules, exact RRF order, filters, video moments,
# text leaving with replaced/removed files.
mg_test(NAME test_textsearch SOURCES test_textsearch.c vecfixture.c LIBS libmediagrep LABELS search)
set_tests_properties(test_textsearch PROPERTIES FIXTURES_REQUIRED test_models)
