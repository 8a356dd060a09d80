/*
 * search_request.c - a search request's options from JSON, with the CLI's
 * option names, ranges and messages, and the CLI's size and date syntax
 * (see search_request.h). Reads untrusted input (library and HTTP callers):
 * fuzzed by fuzz/fuzz_searchreq.c.
 */
#include "search/search_request.h"
#include "search/capture_filter.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t mg_parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 9e18) return -1;
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024, end++;
    else if (*end == 'm' || *end == 'M') mul = 1048576, end++;
    else if (*end == 'g' || *end == 'G') mul = 1073741824.0, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v * mul > 9e18) return -1;
    return (int64_t)(v * mul);
}

int64_t mg_parse_date(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *e = strptime(s, "%Y-%m-%d", &tm);
    if (!e || *e) return -1;
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t)t;   /* before 1970: not a file date */
}

static int get_num(json_object *v, const char *key, double lo, double hi, double *out, mg_error *err) {
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return mg_err_set(err, MG_EINVAL, "%s: expected a number", key);
    double d = json_object_get_double(v);
    if (!(d >= lo && d <= hi)) return mg_err_set(err, MG_EINVAL, "%s: %g is not in [%g, %g]", key, d, lo, hi);
    *out = d;
    return MG_OK;
}

static int get_int(json_object *v, const char *key, int lo, int hi, int *out, mg_error *err) {
    double d = 0;
    int rc = get_num(v, key, lo, hi, &d, err);
    if (rc) return rc;
    if (d != floor(d)) return mg_err_set(err, MG_EINVAL, "%s: %g is not an integer", key, d);
    *out = (int)d;
    return MG_OK;
}

static int get_str(json_object *v, const char *key, const char **out, mg_error *err) {
    if (!json_object_is_type(v, json_type_string)) return mg_err_set(err, MG_EINVAL, "%s: expected a string", key);
    *out = json_object_get_string(v);
    return MG_OK;
}

static int get_bool(json_object *v, const char *key, int *out, mg_error *err) {
    if (!json_object_is_type(v, json_type_boolean)) return mg_err_set(err, MG_EINVAL, "%s: expected true or false", key);
    *out = json_object_get_boolean(v);
    return MG_OK;
}

int mg_capture_filter_from_json(const char *key, json_object *v, mg_capture_filter *f, mg_error *err) {
    int rc = MG_OK;
    const char *s = NULL;
    double d = 0;
    if (!strcmp(key, "taken_after") || !strcmp(key, "taken_before")) {
        if (!(rc = get_str(v, key, &s, err))) {
            int64_t t = mg_parse_date(s);
            if (t < 0) rc = mg_err_set(err, MG_EINVAL, "%s: '%s' is not YYYY-MM-DD", key, s);
            else if (key[6] == 'a') f->has_after = 1, f->taken_after = t;
            else f->has_before = 1, f->taken_before = t + 86400;
        }
    } else if (!strcmp(key, "near")) {
        double la, lo;
        if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2) {
            json_object *a = json_object_array_get_idx(v, 0), *b = json_object_array_get_idx(v, 1);
            if (!(rc = get_num(a, "near[0] (latitude)", -90, 90, &la, err)) &&
                !(rc = get_num(b, "near[1] (longitude)", -180, 180, &lo, err)))
                f->near = 1, f->lat = la, f->lon = lo;
        } else if (!(rc = get_str(v, key, &s, err))) {
            if (mg_capture_parse_latlon(s, &la, &lo))
                rc = mg_err_set(err, MG_EINVAL, "near: '%s' is not LAT,LON (degrees)", s);
            else f->near = 1, f->lat = la, f->lon = lo;
        }
    } else if (!strcmp(key, "radius_km")) {
        if (!(rc = get_num(v, key, 0, 20040, &d, err))) f->radius_km = d;
    } else if (!strcmp(key, "camera")) rc = get_str(v, key, &f->camera, err);
    else if (!strcmp(key, "lens")) rc = get_str(v, key, &f->lens, err);
    else return 1; /* not a capture key */
    return rc;
}

int mg_search_params_from_json(json_object *req, const char *const *ignore, mg_search_params *p, mg_error *err) {
    if (!json_object_is_type(req, json_type_object)) return mg_err_set(err, MG_EINVAL, "the request is not a JSON object");
    json_object_object_foreach(req, key, v) {
        int skip = 0;
        for (int i = 0; ignore && ignore[i]; i++) skip |= !strcmp(key, ignore[i]);
        if (skip || json_object_is_type(v, json_type_null)) continue;
        int rc = MG_OK;
        const char *s = NULL;
        double d = 0;
        if (!strcmp(key, "k")) rc = get_int(v, key, 1, 100000, &p->k, err);
        else if (!strcmp(key, "per_video")) rc = get_int(v, key, 1, 64, &p->per_video, err);
        else if (!strcmp(key, "kind")) {
            if (!(rc = get_str(v, key, &s, err))) {
                if (strcmp(s, "image") && strcmp(s, "video") && strcmp(s, "audio"))
                    rc = mg_err_set(err, MG_EINVAL, "kind is image, video or audio, not '%s'", s);
                p->kind = s;
            }
        } else if (!strcmp(key, "path")) rc = get_str(v, key, &p->path_glob, err);
        else if (!strcmp(key, "min_score")) {
            if (!(rc = get_num(v, key, -2, 2, &d, err))) p->min_score = (float)d;
        } else if (!strcmp(key, "larger_than") || !strcmp(key, "smaller_than")) {
            int64_t b = -1;
            if (json_object_is_type(v, json_type_string)) b = mg_parse_size(json_object_get_string(v));
            else if (!(rc = get_num(v, key, 0, 9e18, &d, err))) b = (int64_t)d;
            if (!rc && b < 0) rc = mg_err_set(err, MG_EINVAL, "%s: '%s' is not a size", key, json_object_get_string(v));
            if (!rc) *(key[0] == 'l' ? &p->min_size : &p->max_size) = b;
        } else if (!strcmp(key, "after") || !strcmp(key, "before")) {
            if (!(rc = get_str(v, key, &s, err))) {
                int64_t t = mg_parse_date(s);
                if (t < 0) rc = mg_err_set(err, MG_EINVAL, "%s: '%s' is not YYYY-MM-DD", key, s);
                else if (key[0] == 'a') p->mtime_after = t;
                else p->mtime_before = t + 86400;
            }
        } else if ((rc = mg_capture_filter_from_json(key, v, &p->capture, err)) != 1) {
            /* a capture filter key (rc: MG_OK or its error) */
        }
        else if (!strcmp(key, "cutoff")) rc = get_bool(v, key, &p->cutoff, err);
        else if (!strcmp(key, "exact")) rc = get_bool(v, key, &p->exact, err);
        else if (!strcmp(key, "only")) {
            if (!(rc = get_str(v, key, &s, err))) {
                if (!strcmp(s, "visual")) p->only = MG_SEARCH_VISUAL;
                else if (!strcmp(s, "text")) p->only = MG_SEARCH_TEXT;
                else if (!strcmp(s, "speech")) p->only = MG_SEARCH_SPEECH;
                else rc = mg_err_set(err, MG_EINVAL, "only is visual, text or speech, not '%s'", s);
            }
        } else if (!strcmp(key, "visual_weight") || !strcmp(key, "text_weight") || !strcmp(key, "speech_weight")) {
            if (!(rc = get_num(v, key, 0, 100, &d, err)))
                *(key[0] == 'v' ? &p->visual_weight : key[0] == 't' ? &p->text_weight : &p->speech_weight) = (float)d;
        } else rc = mg_err_set(err, MG_EINVAL, "unknown search option '%s'", key);
        if (rc) return rc;
    }
    return MG_OK;
}
