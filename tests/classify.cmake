# Zero-shot classification (src/search/classify.c) and `mediagrep classify`:
# stores built with the library from injected vectors (exact labels, scores,
# margins, the unsure rules, templates averaged, a video's pooled vector),
# bins as links, hard links, copies and moves (idempotent re-runs, name
# collisions, a user's file never overwritten, a move across file systems),
# and the CLI end to end on generated media (CSV, JSON, bins, errors).
mg_test(NAME test_classify SOURCES test_classify.c LIBS libmediagrep LABELS search)
add_dependencies(test_classify mediagrep)
set_tests_properties(test_classify PROPERTIES FIXTURES_REQUIRED test_models)
