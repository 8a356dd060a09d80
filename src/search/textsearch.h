/*
 * textsearch.h - the lexical list of a search: recognised text (texts.h)
 * matched through SQLite FTS5 and ranked by BM25, one hit per file (its
 * best segment), with a snippet that marks the matched words and the boxes
 * of those words.
 *
 * Query syntax (user input can never break the FTS5 syntax: every word is
 * quoted before it reaches FTS5): words are separated by anything that is
 * not a letter or digit; "double-quoted words" must appear as a phrase.
 * Every word and phrase must match (AND), so a lexical hit matches every
 * term (the relevance cutoff for text). Words match whole tokens of the
 * unicode61 index (case and diacritics ignored); files that match every
 * term only as substrings (a query "museum" in "MUSEUMSHOP", codes split
 * differently) come after them from the trigram index, when every term has
 * at least 3 characters.
 *
 * Ownership: hits are caller memory. Errors: MG_EINVAL for a query with no
 * words (*n = 0 and MG_OK instead when allow_empty), MG_EIO from SQLite.
 * Threading: one connection per thread.
 */
#ifndef MG_TEXTSEARCH_H
#define MG_TEXTSEARCH_H

#include <stdint.h>
#include "core/common.h"

typedef struct sqlite3 sqlite3;

#define MG_TEXT_MAX_TERMS 16
#define MG_TEXT_MAX_BOXES 8

typedef struct mg_text_hit {
    int64_t media_id, text_id;
    int64_t start_ms, end_ms;   /* the segment's time (0, 0 for photos) */
    float score;                /* -bm25: higher is better */
    int substring;              /* matched through the trigram index only */
    char snippet[320];          /* the segment's text around the match, matched words in [brackets] */
    int n_boxes;
    float boxes[MG_TEXT_MAX_BOXES][4]; /* matched words' boxes, 0..1: x0, y0, x1, y1 */
} mg_text_hit;

/* The parsed query: FTS5 MATCH expressions for both indexes and the terms
 * (lowercased words) for box matching. */
typedef struct mg_text_query {
    char fts[1024];             /* for texts_fts (unicode61) */
    char tri[1024];             /* for texts_tri; "" when some term is shorter than 3 characters */
    char words[MG_TEXT_MAX_TERMS * 4][64];
    int n_words, n_terms;
} mg_text_query;

/* Parses text into q. Returns MG_OK, or MG_EINVAL when it has no words. */
int mg_text_query_parse(const char *text, mg_text_query *q, mg_error *err);

/* Up to max hits, best first, into hits. A catalog older than schema 3
 * has no text: *n = 0. */
int mg_text_search(sqlite3 *db, const mg_text_query *q, int max, mg_text_hit *hits, int *n, mg_error *err);
/* As mg_text_search over one analyzer's text only ("ocr", "speech"; NULL = all). */
int mg_text_search_an(sqlite3 *db, const mg_text_query *q, const char *analyzer, int max, mg_text_hit *hits, int *n,
                      mg_error *err);

#endif
