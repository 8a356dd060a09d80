/*
 * storedump.h - canonical store dumps shared by the end-to-end tests.
 */
#ifndef MG_TEST_STOREDUMP_H
#define MG_TEST_STOREDUMP_H
#include <stdint.h>

/* Dumps a store (caller frees; NULL on failure); also checks its internal
 * integrity (every vector row referenced once, inside the committed count;
 * with check_index, the saved FAISS index holds exactly the frame/image
 * items). A store killed before its model was recorded dumps as "" when
 * check_index is 0. */
char *mg_test_dump_store_ex(const char *dir, int check_index);
/* mg_test_dump_store_ex(dir, 1): for final states. */
char *mg_test_dump_store(const char *dir);
/* SELECT count(*)... on the store's catalog; -1 on error. */
int64_t mg_test_count_in(const char *dir, const char *sql);
#endif
