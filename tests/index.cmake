# End-to-end tests of `mediagrep index` (the CLI binary on generated media,
# tiny test model): catalog contents, >= 20 SIGKILLs at random moments then a
# resume that must equal an uninterrupted run, SIGINT, incremental runs,
# model mismatch. `test_index N` runs N kills (default 24).
mg_test(NAME test_index SOURCES test_index.c storedump.c LIBS libmediagrep LABELS index)
add_dependencies(test_index mediagrep)
set_tests_properties(test_index PROPERTIES FIXTURES_REQUIRED test_models)
