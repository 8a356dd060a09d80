# FAISS vector index shim (src/store/vindex.cpp).
mg_test(NAME test_vindex SOURCES test_vindex.c LIBS mg_vindex mg_core LABELS store)
