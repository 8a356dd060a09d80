/*
 * search_json.c - search results as JSON (see search_json.h): the one
 * document layout that the CLI's --json and the library's
 * mediagrep_search_json print.
 */
#include "search/search_json.h"

#include <json-c/json.h>

json_object *mg_search_result_json(const mg_query_term *terms, int n_terms, const mg_search_hit *hits, int n_hits,
                                   const mg_search_info *info) {
    json_object *o = json_object_new_object(), *arr = json_object_new_array(), *qa = json_object_new_array();
    for (int i = 0; i < n_terms; i++) {
        json_object *t = json_object_new_object();
        json_object_object_add(t, "kind", json_object_new_string(terms[i].kind == MG_TERM_TEXT    ? "text"
                                                                 : terms[i].kind == MG_TERM_IMAGE ? "image"
                                                                                                  : "like"));
        json_object_object_add(t, "weight", json_object_new_double(terms[i].weight));
        json_object_object_add(t, "value", json_object_new_string(terms[i].value));
        json_object_array_add(qa, t);
    }
    json_object_object_add(o, "query", qa);
    for (int i = 0; i < n_hits; i++) json_object_array_add(arr, mg_search_hit_json(&hits[i], i + 1));
    json_object_object_add(o, "results", arr);
    json_object_object_add(o, "no_good_match", json_object_new_boolean(info->no_good_match));
    json_object_object_add(o, "dropped_by_cutoff", json_object_new_int(info->dropped_by_cutoff));
    json_object_object_add(o, "method", json_object_new_string(info->method ? info->method : ""));
    json_object_object_add(o, "text_hits", json_object_new_int(info->text_hits));
    json_object_object_add(o, "speech_hits", json_object_new_int(info->speech_hits));
    if (info->no_capture) /* files a capture filter left out because they lack the field */
        json_object_object_add(o, "excluded_no_capture", json_object_new_int64(info->no_capture));
    json_object_object_add(o, "search_ms", json_object_new_double(info->seconds * 1000));
    return o;
}
