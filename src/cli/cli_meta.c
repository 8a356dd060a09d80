/*
 * cli_meta.c - `mediagrep meta FILE...`: what mediagrep reads from each
 * file about its capture (date taken, GPS, camera, lens, orientation;
 * media/capture.h), the fields `index` stores and the search filters
 * --taken-after/--near/--camera/--lens use. One line per file, or JSON
 * lines with --json. Exit 0, 1 when a file could not be read, 2 usage.
 * Also the parsing of the capture filter flags that `search` and
 * `classify` share (mg_cli_capture_flag).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "media/capture.h"
#include "search/capture_filter.h"
#include "search/search_request.h"

int mg_cli_capture_flag(const char *cmd, int argc, char **argv, int *i, mg_capture_filter *f) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    int is_date = !strcmp(a, "--taken-after") || !strcmp(a, "--taken-before");
    if (!is_date && strcmp(a, "--near") && strcmp(a, "--radius") && strcmp(a, "--camera") && strcmp(a, "--lens"))
        return 0;
    if (!v) {
        fprintf(stderr, "mediagrep %s: %s needs a value\n", cmd, a);
        return -1;
    }
    ++*i;
    if (is_date) {
        int64_t t = mg_parse_date(v);
        if (t < 0) {
            fprintf(stderr, "mediagrep %s: %s: '%s' is not a date YYYY-MM-DD (1970 or later)\n", cmd, a, v);
            return -1;
        }
        if (a[8] == 'a') f->has_after = 1, f->taken_after = t;
        else f->has_before = 1, f->taken_before = t + 86400; /* inclusive: the whole day */
    } else if (!strcmp(a, "--near")) {
        if (mg_capture_parse_latlon(v, &f->lat, &f->lon)) {
            fprintf(stderr, "mediagrep %s: --near: '%s' is not LAT,LON in degrees (e.g. 48.8584,2.2945)\n", cmd, v);
            return -1;
        }
        f->near = 1;
    } else if (!strcmp(a, "--radius")) {
        char *e;
        double r = strtod(v, &e);
        if (e == v || *e || !(r >= 0 && r <= 20040)) {
            fprintf(stderr, "mediagrep %s: --radius: '%s' is not a distance in km (0 to 20040)\n", cmd, v);
            return -1;
        }
        f->radius_km = r;
    } else if (!strcmp(a, "--camera")) f->camera = v;
    else f->lens = v;
    return 1;
}

int mg_cli_meta(int argc, char **argv) {
    int json = 0, n_files = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: mediagrep meta FILE... [--json]\n\n"
                   "Prints what mediagrep reads from each file about its capture: the date and time\n"
                   "it was taken (EXIF DateTimeOriginal with OffsetTimeOriginal; a video's\n"
                   "creation_time), GPS position, camera make and model, lens, orientation.\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "mediagrep meta: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        } else n_files++;
    }
    if (!n_files) {
        fprintf(stderr, "usage: mediagrep meta FILE... [--json]\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) continue;
        mg_capture c;
        mg_error err = {0};
        if (mg_capture_read(argv[i], &c, &err)) {
            fprintf(stderr, "mediagrep: %s\n", err.msg);
            failed = 1;
            continue;
        }
        json_object *o = mg_capture_to_json(&c);
        if (json) {
            json_object *line = json_object_new_object();
            json_object_object_add(line, "path", json_object_new_string(argv[i]));
            json_object_object_foreach(o, k, v) json_object_object_add(line, k, json_object_get(v));
            printf("%s\n", json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(line);
        } else {
            printf("%s:", argv[i]);
            if (!json_object_object_length(o)) printf(" (no capture metadata)");
            json_object_object_foreach(o, k, v) printf(" %s=%s", k, json_object_get_string(v));
            printf("\n");
        }
        json_object_put(o);
    }
    return failed;
}
