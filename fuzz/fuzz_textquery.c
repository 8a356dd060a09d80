/* fuzz_textquery.c - libFuzzer target: any bytes as a search query for the
 * text list (search/textsearch.h). Whatever parses must give FTS5 MATCH
 * expressions that SQLite accepts (user input never breaks the FTS syntax)
 * on both indexes the store uses, unicode61 and trigram. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "search/textsearch.h"

static sqlite3 *db;

static void run(const char *table, const char *match) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT rowid, bm25(%s), snippet(%s, 0, '[', ']', '...', 12) FROM %s WHERE %s MATCH ?",
             table, table, table, table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) abort();
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) abort(); /* a syntax error from user input */
    sqlite3_finalize(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!db) {
        if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
            sqlite3_exec(db,
                         "CREATE VIRTUAL TABLE f USING fts5(text, tokenize='unicode61 remove_diacritics 2');"
                         "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='trigram');"
                         "INSERT INTO f VALUES ('Harbor MUSEUM near the café, INV-2041 \"quoted\" NEAR AND OR');"
                         "INSERT INTO t SELECT text FROM f;",
                         NULL, NULL, NULL) != SQLITE_OK)
            abort();
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    mg_text_query q;
    mg_error err;
    if (mg_text_query_parse(s, &q, &err) == MG_OK) {
        if (q.n_terms < 1 || !q.fts[0]) abort();
        run("f", q.fts);
        if (q.tri[0]) run("t", q.tri);
    }
    free(s);
    return 0;
}
