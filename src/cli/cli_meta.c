/*
 * cli_meta.c - `mediagrep meta FILE...`: what mediagrep reads from each
 * file about its capture (date taken, GPS, camera, lens, orientation;
 * media/capture.h), the fields `index` stores and the search filters
 * --taken-after/--near/--camera/--lens use. One line per file, or JSON
 * lines with --json. Exit 0, 1 when a file could not be read, 2 usage.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "media/capture.h"

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
