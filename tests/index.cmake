# End-to-end tests of `mediagrep index` (the CLI binary on generated media,
# tiny test model): catalog contents, >= 20 SIGKILLs at random moments then a
# resume that must equal an uninterrupted run, SIGINT, incremental runs,
# model mismatch. `test_index N` runs N kills (default 24).
mg_test(NAME test_index SOURCES test_index.c storedump.c LIBS libmediagrep LABELS index)
add_dependencies(test_index mediagrep)
add_executable(test_roots test_roots.c storedump.c)
target_link_libraries(test_roots PRIVATE mg_testlib libmediagrep)
target_compile_definitions(test_roots PRIVATE MG_BUILD_DIR="${CMAKE_BINARY_DIR}" MG_TEST_MODELS="${MG_TEST_MODELS}")
add_dependencies(test_roots mediagrep)
set_tests_properties(test_index PROPERTIES FIXTURES_REQUIRED test_models)

# Store safety (test_roots.c): unavailable roots never lose indexed files,
# unreadable folders and unmounted inner filesystems keep theirs, the
# mass-delete guard, `forget` with SIGKILLs at random moments. Each case is
# its own test; `unreadable` runs the CLI as nobody when root, `otherfs`
# mounts tmpfs (root only); both skip (77) where they cannot.
foreach(case basic unreadable otherfs forget)
  add_test(NAME test_roots_${case} COMMAND test_roots ${case})
  set_tests_properties(test_roots_${case} PROPERTIES FIXTURES_REQUIRED test_models SKIP_RETURN_CODE 77
                       LABELS index)
endforeach()

# OCR as an analyzer of `index` (test_ocr_index.c): made-up words on photos
# found by search with a random CLIP model, OCR added to an existing store
# without re-encoding, settings changes, --no-ocr/--drop-text, a video
# caption as a timed segment, per-analyzer failures, SIGKILLs with OCR on.
mg_test(NAME test_ocr_index SOURCES test_ocr_index.c storedump.c LIBS libmediagrep LABELS "ocr;index")
add_dependencies(test_ocr_index mediagrep)
set_tests_properties(test_ocr_index PROPERTIES FIXTURES_REQUIRED test_models SKIP_RETURN_CODE 77 TIMEOUT 900)

# Moves, renames and copies reuse stored results by content hash instead of
# decoding (tests/reuse_check.py): a moved folder, renames, a copy and a
# changed file each end equal to a fresh index of the final folder.
add_test(NAME reuse_by_content COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/reuse_check.py
         $<TARGET_FILE:mediagrep> ${MG_TEST_MODELS})
set_tests_properties(reuse_by_content PROPERTIES FIXTURES_REQUIRED test_models LABELS "index" TIMEOUT 300)
