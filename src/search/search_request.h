/*
 * search_request.h - a search request's options read from a JSON object
 * with the CLI's option names (libmediagrep's mediagrep_search_json), and
 * the CLI's size and date syntax.
 *
 * Errors: MG_EINVAL with a message naming the option and the bad value.
 * Threading: pure functions.
 */
#ifndef MG_SEARCH_REQUEST_H
#define MG_SEARCH_REQUEST_H
#include <stdint.h>
#include "search/search.h"

/* "500K", "2M", "1.5G", "1234" (bytes; K/M/G are 1024-based, an optional
 * trailing B): the byte count, or -1 when it is not a size. */
int64_t mg_parse_size(const char *s);

/* "YYYY-MM-DD" as seconds since the epoch (UTC midnight), or -1 (also for
 * dates before 1970-01-01). */
int64_t mg_parse_date(const char *s);

/* Reads a request's options into *p (which holds the defaults): "k",
 * "per_video", "kind" ("image"|"video"|"audio"), "path" (glob),
 * "min_score", "larger_than"/"smaller_than" (bytes or a size string),
 * "after"/"before" ("YYYY-MM-DD", before inclusive), "cutoff" (bool),
 * "only" ("visual"|"text"|"speech"), "visual_weight"/"text_weight"/
 * "speech_weight" (0..100), "exact" (bool); capture filters
 * "taken_after"/"taken_before" ("YYYY-MM-DD", before inclusive), "near"
 * ("LAT,LON" or [lat, lon]), "radius_km" (0..20040; p->capture.radius_km
 * keeps its default when absent), "camera", "lens" (substrings). Other keys listed in ignore
 * (NULL-terminated, may be NULL) are skipped; any other key is MG_EINVAL.
 * Strings in *p point into req (keep it alive while p is used). */
/* One capture filter key of a request ("taken_after", "taken_before",
 * "near", "radius_km", "camera", "lens"; as above) into *f: 1 when key is
 * not one of them, else MG_OK or MG_EINVAL (< 0) naming the key. Strings in *f
 * point into v. Shared by search and classify requests. */
int mg_capture_filter_from_json(const char *key, struct json_object *v, mg_capture_filter *f, mg_error *err);

int mg_search_params_from_json(struct json_object *req, const char *const *ignore, mg_search_params *p,
                               mg_error *err);
#endif
