# Store module (src/store): vector file, content hashes, SQLite catalog and
# the store's write protocol (crash cut-back, writer lock, tombstones,
# compaction, FAISS index upkeep). Crash and second-writer cases run this
# test binary again as a child process (argv[1] == "--child").
mg_test(NAME test_store SOURCES test_store.c LIBS mg_store mg_vindex mg_core LABELS store)
