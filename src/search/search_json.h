/*
 * search_json.h - the JSON side of search, shared by `mediagrep search
 * --json` and libmediagrep's mediagrep_search_json: the result document
 * (query terms, hits, cutoff and fusion counts), a search request's options
 * read from a JSON object with the CLI's option names, and the CLI's size
 * and date syntax.
 *
 * Ownership: returned json_objects belong to the caller (json_object_put).
 * Errors: MG_EINVAL with a message naming the option and the bad value.
 * Threading: pure functions.
 */
#ifndef MG_SEARCH_JSON_H
#define MG_SEARCH_JSON_H
#include <stdint.h>
#include "search/search.h"

/* "500K", "2M", "1.5G", "1234" (bytes; K/M/G are 1024-based, an optional
 * trailing B): the byte count, or -1 when it is not a size. */
int64_t mg_parse_size(const char *s);

/* "YYYY-MM-DD" as seconds since the epoch (UTC midnight), or -1. */
int64_t mg_parse_date(const char *s);

/* The --json document: {"query":[{kind,weight,value}], "results":[hit...],
 * "no_good_match", "dropped_by_cutoff", "method", "text_hits",
 * "speech_hits", "search_ms"}; hits as mg_search_hit_json. */
struct json_object *mg_search_result_json(const mg_query_term *terms, int n_terms, const mg_search_hit *hits,
                                          int n_hits, const mg_search_info *info);

/* Reads a request's options into *p (which holds the defaults): "k",
 * "per_video", "kind" ("image"|"video"|"audio"), "path" (glob),
 * "min_score", "larger_than"/"smaller_than" (bytes or a size string),
 * "after"/"before" ("YYYY-MM-DD", before inclusive), "cutoff" (bool),
 * "only" ("visual"|"text"|"speech"), "visual_weight"/"text_weight"/
 * "speech_weight" (0..100), "exact" (bool). Other keys listed in ignore
 * (NULL-terminated, may be NULL) are skipped; any other key is MG_EINVAL.
 * Strings in *p point into req (keep it alive while p is used). */
int mg_search_params_from_json(struct json_object *req, const char *const *ignore, mg_search_params *p,
                               mg_error *err);
#endif
