/*
 * search_json.h - the result document of a search as JSON, shared by
 * `mediagrep search --json` and libmediagrep's mediagrep_search_json
 * (query terms, hits, cutoff and fusion counts).
 *
 * Ownership: the returned json_object belongs to the caller (json_object_put).
 * Threading: a pure function.
 */
#ifndef MG_SEARCH_JSON_H
#define MG_SEARCH_JSON_H
#include "search/search.h"

/* The --json document: {"query":[{kind,weight,value}], "results":[hit...],
 * "no_good_match", "dropped_by_cutoff", "method", "text_hits",
 * "speech_hits", "search_ms"}; hits as mg_search_hit_json. */
struct json_object *mg_search_result_json(const mg_query_term *terms, int n_terms, const mg_search_hit *hits,
                                          int n_hits, const mg_search_info *info);

#endif
