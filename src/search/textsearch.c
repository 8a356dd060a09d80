/*
 * textsearch.c - FTS5 queries over recognised text (see textsearch.h).
 */
#include "search/textsearch.h"

#include <ctype.h>
#include <json-c/json.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A word character: ASCII letters and digits, and every byte of a
 * multi-byte UTF-8 sequence (letters of other scripts). */
static int wordc(unsigned char ch) { return isalnum(ch) || ch >= 0x80; }

static int append(char *dst, size_t cap, const char *s) {
    size_t n = strlen(dst), m = strlen(s);
    if (n + m + 1 > cap) return -1;
    memcpy(dst + n, s, m + 1);
    return 0;
}

/* Appends the phrase "w1 w2 ..." as one more term of both expressions. */
static int add_term(mg_text_query *q, char words[][64], int nw, int *no_tri) {
    char phrase[600] = "\"";
    for (int i = 0; i < nw; i++) {
        if (i) append(phrase, sizeof phrase, " ");
        if (append(phrase, sizeof phrase, words[i])) return -1; /* words hold no '"': nothing to escape */
        if (strlen(words[i]) < 3) *no_tri = 1;
        if (q->n_words < (int)(sizeof q->words / sizeof q->words[0]))
            snprintf(q->words[q->n_words++], sizeof q->words[0], "%s", words[i]);
    }
    append(phrase, sizeof phrase, "\"");
    if ((q->fts[0] && append(q->fts, sizeof q->fts, " ")) || append(q->fts, sizeof q->fts, phrase)) return -1;
    if ((q->tri[0] && append(q->tri, sizeof q->tri, " ")) || append(q->tri, sizeof q->tri, phrase)) *no_tri = 1;
    q->n_terms++;
    return 0;
}

int mg_text_query_parse(const char *text, mg_text_query *q, mg_error *err) {
    memset(q, 0, sizeof *q);
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    char words[MG_TEXT_MAX_TERMS][64];
    int no_tri = 0;
    while (*s && q->n_terms < MG_TEXT_MAX_TERMS) {
        while (*s && !wordc(*s) && *s != '"') s++;
        if (!*s) break;
        int quoted = *s == '"', nw = 0;
        if (quoted) s++;
        do { /* one word, or the words up to the closing quote */
            while (quoted && *s && !wordc(*s) && *s != '"') s++;
            if (!*s || *s == '"') break;
            int len = 0;
            while (*s && wordc(*s)) {
                if (len < 63) words[nw][len++] = (char)tolower(*s);
                s++;
            }
            words[nw++][len] = 0;
        } while (quoted && nw < MG_TEXT_MAX_TERMS);
        if (quoted && *s == '"') s++;
        if (nw && add_term(q, words, nw, &no_tri) != 0) break;
    }
    if (no_tri) q->tri[0] = 0;
    if (!q->n_terms) return mg_err_set(err, MG_EINVAL, "the query has no words to look for in the text");
    return MG_OK;
}

/* Boxes of the segment's words that contain a query word. */
static void match_boxes(const char *words_json, const mg_text_query *q, mg_text_hit *h) {
    if (!words_json) return;
    json_object *arr = json_tokener_parse(words_json);
    if (!arr || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        return;
    }
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n && h->n_boxes < MG_TEXT_MAX_BOXES; i++) {
        json_object *w = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(w, json_type_array) || json_object_array_length(w) < 6) continue;
        char t[96];
        snprintf(t, sizeof t, "%s", json_object_get_string(json_object_array_get_idx(w, 0)));
        for (char *c = t; *c; c++) *c = (char)tolower((unsigned char)*c);
        int hit = 0;
        for (int k = 0; k < q->n_words && !hit; k++) hit = q->words[k][0] && strstr(t, q->words[k]) != NULL;
        if (!hit) continue;
        for (int k = 0; k < 4; k++)
            h->boxes[h->n_boxes][k] = (float)json_object_get_double(json_object_array_get_idx(w, (size_t)(2 + k)));
        h->n_boxes++;
    }
    json_object_put(arr);
}

static int have_texts(sqlite3 *db) {
    sqlite3_stmt *st;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name='texts_fts'", -1, &st, NULL) == SQLITE_OK) {
        ok = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return ok;
}

static int seen(const mg_text_hit *h, int n, int64_t media_id) {
    for (int i = 0; i < n; i++)
        if (h[i].media_id == media_id) return 1;
    return 0;
}

/* One index: best segment per file, appended to hits[*n..max). */
static int run_index(sqlite3 *db, const char *table, const char *match, const mg_text_query *q, int substring,
                     const char *analyzer, int max, mg_text_hit *hits, int *n, mg_error *err) {
    char sql[700];
    snprintf(sql, sizeof sql,
             "SELECT t.id, t.media_id, t.start_ms, t.end_ms, bm25(%s), snippet(%s, 0, '[', ']', '...', 12), t.words"
             " FROM %s JOIN texts t ON t.id = %s.rowid WHERE %s MATCH ?1%s ORDER BY bm25(%s) LIMIT ?2",
             table, table, table, table, table, analyzer ? " AND t.analyzer = ?3" : "", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "text search: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, 4 * max + 16); /* segments; several may belong to one file */
    if (analyzer) sqlite3_bind_text(st, 3, analyzer, -1, SQLITE_STATIC);
    int rc;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t mid = sqlite3_column_int64(st, 1);
        if (seen(hits, *n, mid)) continue;
        mg_text_hit *h = &hits[*n];
        memset(h, 0, sizeof *h);
        h->text_id = sqlite3_column_int64(st, 0);
        h->media_id = mid;
        h->start_ms = sqlite3_column_int64(st, 2);
        h->end_ms = sqlite3_column_int64(st, 3);
        h->score = (float)-sqlite3_column_double(st, 4);
        h->substring = substring;
        const unsigned char *sn = sqlite3_column_text(st, 5);
        snprintf(h->snippet, sizeof h->snippet, "%s", sn ? (const char *)sn : "");
        for (char *c = h->snippet; *c; c++)
            if (*c == '\n') *c = ' ';
        match_boxes((const char *)sqlite3_column_text(st, 6), q, h);
        (*n)++;
    }
    sqlite3_finalize(st);
    return MG_OK;
}

int mg_text_search_an(sqlite3 *db, const mg_text_query *q, const char *analyzer, int max, mg_text_hit *hits, int *n,
                      mg_error *err) {
    *n = 0;
    if (max <= 0 || !have_texts(db)) return MG_OK;
    int rc = run_index(db, "texts_fts", q->fts, q, 0, analyzer, max, hits, n, err);
    if (!rc && q->tri[0] && *n < max) rc = run_index(db, "texts_tri", q->tri, q, 1, analyzer, max, hits, n, err);
    return rc;
}

int mg_text_search(sqlite3 *db, const mg_text_query *q, int max, mg_text_hit *hits, int *n, mg_error *err) {
    return mg_text_search_an(db, q, NULL, max, hits, n, err);
}
