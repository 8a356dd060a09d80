/*
 * cli_search.c - `mediagrep search QUERY...`: parse the query expression and
 * options, open the store (read-only) with its model, run mg_search and print
 * a table, JSON or bare paths. Exit status like grep: 0 results printed,
 * 1 nothing matched (or no good match), 2 usage or a bad query, 4 the store
 * was made by another model, other errors 1 with a message.
 */
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "search/search.h"
#include "search/search_json.h"
#include "search/search_request.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep search QUERY... [options]\n"
            "\n"
            "QUERY is text, an image file, or a weighted combination:\n"
            "  mediagrep search \"a dog catching a frisbee\"\n"
            "  mediagrep search --image product.jpg\n"
            "  mediagrep search \"2:golden retriever\" + ./pool.jpg - \"leash\"\n"
            "Terms are joined by + and - (steer away); \"W:term\" weights a term; an existing\n"
            "file is an example image (\"image:PATH\" forces it); \"like:PATH\" uses a file\n"
            "already in the store.\n"
            "\n"
            "  --image PATH        add an example image term\n"
            "  --like PATH         add a stored file's vector as a term\n"
            "  -k N                results (default 10)\n"
            "  --per-video N       moments per video (default 1)\n"
            "  --kind image|video|audio  only photos, videos or audio files\n"
            "  --path GLOB         only paths matching GLOB (fnmatch, e.g. '*/2020/*')\n"
            "  --min-score S       cosine floor\n"
            "  --larger-than SIZE, --smaller-than SIZE   file size bounds (e.g. 500K, 2M)\n"
            "  --after DATE, --before DATE   modification date bounds (YYYY-MM-DD)\n"
            "  --taken-after DATE, --taken-before DATE   the date the photo or video was taken\n"
            "                      (EXIF DateTimeOriginal, a video's creation time; its own local date)\n"
            "  --near LAT,LON      taken within --radius KM (default 5) of a place (GPS, degrees)\n"
            "  --camera TEXT, --lens TEXT   camera make/model or lens containing TEXT (any case)\n"
            "                      (files without the field a filter asks about are left out and counted)\n"
            "  --no-cutoff         keep results below the adaptive relevance cutoff\n"
            "  --only visual|text|speech  rank by one list only: what files show (CLIP), the text read in\n"
            "                      them (OCR), or the words spoken in them (speech)\n"
            "                      (OCR, `index --ocr`). Default: both, fused by reciprocal rank (k = 60;\n"
            "                      weights visual 1, text 1.5; see README \"Search\")\n"
            "  --text-weight W, --visual-weight W, --speech-weight W   the fusion weights\n"
            "  --exact             scan every vector even when an approximate index exists\n"
            "  --json              JSON output;  --paths  one path per line\n"
            "  --store PATH        store (default ./.mediagrep);  --model M  model (default: the store's)\n"
            "  --threads N         threads for the exact scan and encoders (default: all CPUs)\n"
            "  --device D          cpu (default), cuda, cuda:N, or auto (a GPU when there is one)\n"
            "  --precision P       GEMM precision: auto (default: int8 images / fp32 text where the CPU has\n"
            "                      VNNI), fp32, bf16 or int8 (see README \"CPU precisions\")\n"
            "\n"
            "Exit status: 0 results, 1 no (good) match, 2 usage or bad query, 4 model mismatch.\n");
}

static void fmt_ms(int64_t ms, char *buf, size_t cap) {
    int64_t s = ms / 1000;
    if (s >= 3600) snprintf(buf, cap, "%lld:%02lld:%02lld.%lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                            (long long)(s % 60), (long long)(ms % 1000 / 100));
    else snprintf(buf, cap, "%lld:%02lld.%lld", (long long)(s / 60), (long long)(s % 60), (long long)(ms % 1000 / 100));
}

int mg_cli_search(int argc, char **argv) {
    const char *precision = NULL, *device = NULL;
    const char *store_dir = NULL, *model_arg = NULL;
    const char **words = calloc((size_t)argc * 2 + 2, sizeof *words);
    int n_words = 0, json = 0, paths = 0, threads = 0, rc = 2, cf;
    mg_search_params p = mg_search_default_params();
    if (!words) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE() do { if (!v) { fprintf(stderr, "mediagrep search: %s needs a value\n", a); goto done; } i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--store")) { VALUE(); store_dir = v; }
        else if (!strcmp(a, "--model")) { VALUE(); model_arg = v; }
        else if (!strcmp(a, "-k")) { if ((p.k = mg_cli_int(a, v, 1, 100000)) < 0) goto done; i++; }
        else if (!strcmp(a, "--per-video")) { if ((p.per_video = mg_cli_int(a, v, 1, 64)) < 0) goto done; i++; }
        else if (!strcmp(a, "--precision") && v) precision = argv[++i];
        else if (!strcmp(a, "--device") && v) device = argv[++i];
        else if (!strcmp(a, "--threads")) { if ((threads = mg_cli_int(a, v, 1, 1024)) < 0) goto done; i++; }
        else if (!strcmp(a, "--kind")) {
            VALUE();
            if (strcmp(v, "image") && strcmp(v, "video") && strcmp(v, "audio")) {
                fprintf(stderr, "mediagrep search: --kind is image, video or audio\n");
                goto done;
            }
            p.kind = v;
        } else if (!strcmp(a, "--path")) { VALUE(); p.path_glob = v; }
        else if (!strcmp(a, "--min-score")) {
            VALUE();
            char *e;
            p.min_score = strtof(v, &e);
            if (*e) { fprintf(stderr, "mediagrep search: --min-score: '%s' is not a number\n", v); goto done; }
        } else if (!strcmp(a, "--larger-than") || !strcmp(a, "--smaller-than")) {
            VALUE();
            int64_t b = mg_parse_size(v);
            if (b < 0) { fprintf(stderr, "mediagrep search: %s: '%s' is not a size\n", a, v); goto done; }
            if (a[2] == 'l') p.min_size = b; else p.max_size = b;
        } else if (!strcmp(a, "--after") || !strcmp(a, "--before")) {
            VALUE();
            int64_t t = mg_parse_date(v);
            if (t < 0) { fprintf(stderr, "mediagrep search: %s: '%s' is not YYYY-MM-DD\n", a, v); goto done; }
            if (a[2] == 'a') p.mtime_after = t; else p.mtime_before = t + 86400;
        } else if ((cf = mg_cli_capture_flag("search", argc, argv, &i, &p.capture)) != 0) {
            if (cf < 0) goto done;
        } else if (!strcmp(a, "--only")) {
            VALUE();
            if (!strcmp(v, "visual")) p.only = MG_SEARCH_VISUAL;
            else if (!strcmp(v, "text")) p.only = MG_SEARCH_TEXT;
            else if (!strcmp(v, "speech")) p.only = MG_SEARCH_SPEECH;
            else {
                fprintf(stderr, "mediagrep search: --only is visual, text or speech\n");
                goto done;
            }
        } else if (!strcmp(a, "--text-weight") || !strcmp(a, "--visual-weight") || !strcmp(a, "--speech-weight")) {
            VALUE();
            char *e;
            float w = strtof(v, &e);
            if (*e || !(w >= 0 && w <= 100)) {
                fprintf(stderr, "mediagrep search: %s: '%s' is not a weight from 0 to 100\n", a, v);
                goto done;
            }
            if (a[2] == 't') p.text_weight = w;
            else if (a[2] == 's') p.speech_weight = w;
            else p.visual_weight = w;
        } else if (!strcmp(a, "--no-cutoff")) p.cutoff = 0;
        else if (!strcmp(a, "--exact")) p.exact = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--paths")) paths = 1;
        else if (!strcmp(a, "--image") || !strcmp(a, "--like")) {
            VALUE();
            if (n_words) words[n_words++] = "+";
            size_t l = strlen(v) + 8;
            char *t = malloc(l);
            if (!t) goto done;
            snprintf(t, l, "%s%s", a[2] == 'i' ? "image:" : "like:", v);
            words[n_words++] = t; /* leaked on purpose: lives until exit */
        } else if (a[0] == '-' && a[1] && strcmp(a, "-")) {
            fprintf(stderr, "mediagrep search: unknown option '%s' (see --help)\n", a);
            goto done;
        } else words[n_words++] = a;
#undef VALUE
    }
    if (!n_words) {
        usage(stderr);
        goto done;
    }
    mg_query_term *terms = NULL;
    int n_terms = 0;
    mg_error err = {0};
    if (mg_query_parse(n_words, words, &terms, &n_terms, &err) != MG_OK) {
        fprintf(stderr, "mediagrep search: %s\n", err.msg);
        goto done;
    }
    int need_text = 0, need_vision = 0;
    for (int i = 0; i < n_terms; i++) {
        if (terms[i].kind == MG_TERM_TEXT) need_text = 1;
        if (terms[i].kind == MG_TERM_IMAGE) need_vision = 1;
    }
    mg_cli_model_opts mo = {threads, need_text, need_vision, NULL, 0, NULL, 0, precision, 0, device};
    mg_store *store = NULL;
    mg_model *model = NULL;
    double t_open = mg_now();
    int orc = mg_cli_open_store_model(store_dir, model_arg, 0, 0, &mo, &store, &model);
    if (getenv("MEDIAGREP_TRACE")) fprintf(stderr, "trace: store+model open %.1f ms\n", (mg_now() - t_open) * 1e3);
    if (orc) {
        rc = orc == MG_EMISMATCH ? 4 : 1;
        free(terms);
        goto done;
    }
    mg_searcher *s = NULL;
    mg_search_hit *hits = calloc((size_t)p.k, sizeof *hits);
    int n_hits = 0;
    mg_search_info info;
    int src = hits ? mg_searcher_open(store, model, threads, &s, &err) : MG_ENOMEM;
    double t_s = mg_now();
    if (!src) src = mg_search(s, terms, n_terms, &p, hits, &n_hits, &info, &err);
    if (getenv("MEDIAGREP_TRACE"))
        fprintf(stderr, "trace: searcher open + embed + search %.1f ms (search alone %.1f ms)\n", (mg_now() - t_s) * 1e3,
                src ? 0 : info.seconds * 1e3);
    if (src) {
        fprintf(stderr, "mediagrep search: %s\n", err.msg);
        rc = src == MG_EINVAL || src == MG_ENOTFOUND || src == MG_EFORMAT || src == MG_EUNSUPPORTED ? 2 : 1;
    } else if (json) {
        json_object *o = mg_search_result_json(terms, n_terms, hits, n_hits, &info);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        rc = n_hits ? 0 : 1;
    } else if (paths) {
        for (int i = 0; i < n_hits; i++) printf("%s\n", hits[i].path);
        rc = n_hits ? 0 : 1;
    } else {
        if (n_hits) printf("  #  score  relevance  kind   path\n");
        for (int i = 0; i < n_hits; i++) {
            mg_search_hit *h = &hits[i];
            printf("%3d  %.3f  %+9.3f  %-5s  %s", i + 1, h->score, h->relevance, h->kind, h->path);
            if (!strcmp(h->kind, "video") || !strcmp(h->kind, "audio")) {
                char a[32], b[32], c[32];
                fmt_ms(h->peak_ms, a, sizeof a);
                fmt_ms(h->start_ms, b, sizeof b);
                fmt_ms(h->end_ms, c, sizeof c);
                if (h->speech_rank && (!h->text_rank || h->speech_rank < h->text_rank)) printf("  said at %s-%s", b, c);
                else if (h->text_rank) printf("  text at %s-%s", b, c);
                else printf("  at %s (%s-%s, %d frame%s)", a, b, c, h->frames, h->frames == 1 ? "" : "s");
            }
            printf("\n");
            if (h->has_capture && (h->capture.has_taken || h->capture.has_gps || h->capture.make[0])) {
                char when[48];
                mg_capture_format_taken(&h->capture, when, sizeof when);
                printf("     taken:");
                if (when[0]) printf(" %s", when);
                if (h->capture.has_gps) printf(" at %.5f,%.5f", h->capture.lat, h->capture.lon);
                if (h->capture.make[0] || h->capture.model[0]) { /* "Canon Canon EOS R5" reads as "Canon EOS R5" */
                    int dup = h->capture.make[0] && !strncasecmp(h->capture.model, h->capture.make, strlen(h->capture.make));
                    printf(" with %s%s%s", dup ? "" : h->capture.make, dup || !h->capture.make[0] ? "" : " ",
                           h->capture.model);
                }
                printf("\n");
            }
            if (h->text_rank) printf("     text: %s\n", h->snippet);
            if (h->speech_rank) printf("     said: %s\n", h->speech_snippet);
        }
        if (info.no_capture)
            printf("(%lld files left out: they do not record the date, place, camera or lens asked for)\n",
                   (long long)info.no_capture);
        if (!n_hits)
            printf(info.no_good_match ? "no good match: %d candidates scored below the relevance cutoff "
                                        "(--no-cutoff shows them)\n"
                                      : "no match%.0d\n",
                   info.dropped_by_cutoff);
        rc = n_hits ? 0 : 1;
    }
    mg_searcher_close(s);
    free(hits);
    free(terms);
    mg_model_close(model);
    mg_store_close(store);
done:
    free(words);
    return rc;
}
