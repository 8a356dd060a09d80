/* fuzz_searchreq.c - libFuzzer target: any bytes as a search request of
 * libmediagrep's mediagrep_search_json (search/search_request.h): the JSON
 * text is parsed and its options read with the CLI's names and ranges; the
 * bytes also go through the size and date parsers alone. Whatever is
 * accepted must be within the documented ranges, and a refusal must come
 * with a message. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "search/search_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    int64_t b = mg_parse_size(s);
    if (b < -1) abort();
    int64_t t = mg_parse_date(s);
    if (t < -1) abort();
    json_object *req = json_tokener_parse(s);
    if (req) {
        mg_search_params p;
        memset(&p, 0, sizeof p);
        p.k = 10;
        p.per_video = 1;
        p.min_score = -2;
        p.cutoff = 1;
        p.visual_weight = 1;
        p.text_weight = p.speech_weight = 1.5f;
        p.capture.radius_km = 5;
        static const char *const ignore[] = {"query", "image", "like", NULL};
        mg_error err = {0};
        int rc = mg_search_params_from_json(req, ignore, &p, &err);
        if (rc && (rc != MG_EINVAL || !err.msg[0])) abort();
        if (!rc) {
            if (p.k < 1 || p.k > 100000 || p.per_video < 1 || p.per_video > 64) abort();
            if (!(p.min_score >= -2 && p.min_score <= 2)) abort();
            if (p.min_size < 0 || p.max_size < 0 || p.mtime_after < 0 || p.mtime_before < 0) abort();
            if (!(p.visual_weight >= 0 && p.visual_weight <= 100 && p.text_weight >= 0 && p.text_weight <= 100 &&
                  p.speech_weight >= 0 && p.speech_weight <= 100))
                abort();
            if (p.kind && strcmp(p.kind, "image") && strcmp(p.kind, "video") && strcmp(p.kind, "audio")) abort();
            if (p.path_glob && strlen(p.path_glob) > size) abort();
            const mg_capture_filter *f = &p.capture;
            if (f->near && !(f->lat >= -90 && f->lat <= 90 && f->lon >= -180 && f->lon <= 180)) abort();
            if (!(f->radius_km >= 0 && f->radius_km <= 20040)) abort();
            if ((f->has_after && f->taken_after < 0) || (f->has_before && f->taken_before < 86400)) abort();
        }
        json_object_put(req);
    }
    free(s);
    return 0;
}
