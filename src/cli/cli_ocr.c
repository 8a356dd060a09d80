/*
 * cli_ocr.c - `mediagrep ocr FILE... [--json]`: what the OCR analyzer reads
 * in images (ocr/ocr.h), as `embed` shows vectors: the text in reading
 * order, or with --json one object per file with its words, confidences and
 * boxes. Exit status: 0, 1 when a file could not be read (the others still
 * print), 2 usage (also: an OCR language that is not installed).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "ocr/ocr.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep ocr FILE... [--json] [--lang L] [--max-side N] [--min-conf C]\n"
            "                     [--no-page] [--no-regions]\n"
            "\n"
            "Recognises the text in images with Tesseract 5 (LSTM): a whole-page pass for documents and\n"
            "screenshots, and a pass over candidate text regions for signs and labels on photos.\n"
            "\n"
            "  --json          one JSON object per file: text, words with confidence (0-100), boxes\n"
            "                  normalised to 0-1 as [x0, y0, x1, y1], line numbers, timings\n"
            "  --lang L        Tesseract languages, e.g. eng (default) or eng+deu (installed: %s)\n"
            "  --max-side N    longest side the image is scaled to first (default 2048)\n"
            "  --min-conf C    drop words below this confidence (default 60)\n"
            "  --no-page       skip the whole-page pass\n"
            "  --no-regions    skip the text-region pass\n",
            "see /usr/share/tesseract-ocr/5/tessdata");
}

int mg_cli_ocr(int argc, char **argv) {
    mg_ocr_params p = mg_ocr_default_params();
    int json = 0, n = 0, rc = 0;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(files);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-page")) p.page_pass = 0;
        else if (!strcmp(a, "--no-regions")) p.region_pass = 0;
        else if (!strcmp(a, "--lang") && v) p.lang = argv[++i];
        else if (!strcmp(a, "--max-side")) {
            if ((p.max_side = mg_cli_int(a, v, 64, 16384)) < 0) goto usage_err;
            i++;
        } else if (!strcmp(a, "--min-conf")) {
            int c = mg_cli_int(a, v, 0, 100);
            if (c < 0) goto usage_err;
            p.min_conf = (float)c;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mediagrep ocr: unknown option '%s' (see --help)\n", a);
            goto usage_err;
        } else files[n++] = a;
    }
    if (!n) {
        usage(stderr);
        goto usage_err;
    }
    mg_ocr *o = NULL;
    mg_error err = {0};
    if (mg_ocr_open(&p, &o, &err) != MG_OK) {
        fprintf(stderr, "mediagrep ocr: %s\n", err.msg);
        free(files);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        mg_ocr_result r;
        if (mg_ocr_file(o, files[i], &r, &err) != MG_OK) {
            rc = 1;
            if (json) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "input", json_object_new_string(files[i]));
                json_object_object_add(e, "error", json_object_new_string(err.msg));
                printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(e);
            } else {
                fprintf(stderr, "mediagrep ocr: %s\n", err.msg);
            }
            continue;
        }
        if (json) {
            json_object *j = json_object_new_object(), *ws = json_object_new_array();
            json_object_object_add(j, "input", json_object_new_string(files[i]));
            json_object_object_add(j, "text", json_object_new_string(r.text));
            for (int k = 0; k < r.n_words; k++) {
                const mg_ocr_word *w = &r.words[k];
                json_object *jw = json_object_new_object(), *box = json_object_new_array();
                json_object_object_add(jw, "text", json_object_new_string(w->text));
                json_object_object_add(jw, "conf", json_object_new_double(round(w->conf * 10) / 10));
                json_object_array_add(box, json_object_new_double(round(w->x0 * 1e4) / 1e4));
                json_object_array_add(box, json_object_new_double(round(w->y0 * 1e4) / 1e4));
                json_object_array_add(box, json_object_new_double(round(w->x1 * 1e4) / 1e4));
                json_object_array_add(box, json_object_new_double(round(w->y1 * 1e4) / 1e4));
                json_object_object_add(jw, "box", box);
                json_object_object_add(jw, "line", json_object_new_int(w->line));
                json_object_object_add(jw, "pass", json_object_new_string(w->pass ? "region" : "page"));
                json_object_array_add(ws, jw);
            }
            json_object_object_add(j, "words", ws);
            json_object_object_add(j, "lines", json_object_new_int(r.n_lines));
            json_object_object_add(j, "regions", json_object_new_int(r.n_regions));
            json_object_object_add(j, "page_ms", json_object_new_double(round(r.page_ms * 10) / 10));
            json_object_object_add(j, "region_ms", json_object_new_double(round(r.region_ms * 10) / 10));
            printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(j);
        } else {
            if (n > 1) printf("== %s ==\n", files[i]);
            printf("%s\n", r.text);
        }
        mg_ocr_result_free(&r);
    }
    mg_ocr_close(o);
    free(files);
    return rc;
usage_err:
    free(files);
    return 2;
}
