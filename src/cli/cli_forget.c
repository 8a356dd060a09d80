/*
 * cli_forget.c - `mediagrep forget PATH... [--store S] [--dry-run]`: the
 * deliberate way to take files out of a store (a folder that is gone for
 * good, a drive that will not come back, files indexed by mistake). Paths
 * are files or folders, given as they were indexed or relative to the
 * working directory; they need not exist any more. One crash-safe commit
 * (mg_store_forget). Exit status: 0 every path matched something, 1 some
 * path is not in the store (the others were forgotten) or an error, 2
 * usage, 5 another process is writing the store.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "store/store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep forget PATH... [--store PATH] [--dry-run] [--quiet] [--json]\n"
            "\n"
            "Removes the given files, or everything under the given folders, from the store: their\n"
            "rows, vectors and anything else derived from them, and the folders' root records, in one\n"
            "crash-safe commit. The files themselves are not touched and need not exist. This is how a\n"
            "folder or drive that is gone for good leaves the store (`index` never removes the files of\n"
            "a folder it cannot see).\n"
            "\n"
            "  --store PATH  store directory (default ./.mediagrep)\n"
            "  --dry-run     list what would be removed; change nothing\n"
            "  --quiet       print only the summary\n"
            "  --json        print the result as JSON on stdout\n"
            "\n"
            "Exit status: 0 every path matched, 1 a path is not in the store (the others were\n"
            "forgotten) or another error, 2 usage, 5 another process is writing the store.\n");
}

typedef struct {
    int quiet, dry, json;
    json_object *files;
} print_ctx;

static void on_file(void *arg, int path_index, const mg_media_rec *m) {
    print_ctx *pc = arg;
    (void)path_index;
    if (pc->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(m->path));
        json_object_object_add(o, "kind", json_object_new_string(m->kind));
        json_object_object_add(o, "vectors", json_object_new_int(m->n_items));
        json_object_array_add(pc->files, o);
    } else if (!pc->quiet) {
        printf("%s %s (%s, %d vectors)\n", pc->dry ? "would forget" : "forgot", m->path, m->kind[0] ? m->kind : "-",
               m->n_items);
    }
}

int mg_cli_forget(int argc, char **argv) {
    const char *dir = MG_STORE_DEFAULT_DIR;
    print_ctx pc = {0};
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    const char **given = calloc((size_t)argc + 1, sizeof *given);
    int n = 0, rc = 2;
    if (!paths || !given) goto done;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--store")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mediagrep forget: --store needs a value\n");
                goto done;
            }
            dir = argv[++i];
        } else if (!strcmp(a, "--dry-run") || !strcmp(a, "-n")) pc.dry = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) pc.quiet = 1;
        else if (!strcmp(a, "--json")) pc.json = 1;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mediagrep forget: unknown option '%s' (see --help)\n", a);
            goto done;
        } else {
            char ab[4096];
            mg_error e = {0};
            if (mg_path_absolute(a, ab, sizeof ab, &e) != MG_OK) {
                fprintf(stderr, "mediagrep forget: %s\n", e.msg);
                goto done;
            }
            given[n] = a;
            if (!(paths[n++] = strdup(ab))) goto done;
        }
    }
    if (!n) {
        usage(stderr);
        goto done;
    }
    mg_store_params sp = mg_store_default_params();
    sp.create = 0;
    sp.readonly = pc.dry;
    mg_store *s = NULL;
    mg_error err = {0};
    if ((rc = mg_store_open(dir, &sp, &s, &err)) != MG_OK) {
        fprintf(stderr, "mediagrep forget: %s\n", err.msg);
        rc = mg_cli_exit_code(rc);
        goto done;
    }
    json_object *cfg = json_object_new_object(), *jp = json_object_new_array();
    json_object_object_add(cfg, "command", json_object_new_string("forget"));
    for (int i = 0; i < n; i++) json_object_array_add(jp, json_object_new_string(paths[i]));
    json_object_object_add(cfg, "paths", jp);
    mg_forget_params fp = mg_forget_default_params();
    fp.dry_run = pc.dry;
    fp.config_json = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN);
    int64_t *matched = calloc((size_t)n, sizeof *matched);
    mg_forget_stats st;
    pc.files = json_object_new_array();
    rc = matched ? mg_store_forget(s, (const char *const *)paths, n, &fp, on_file, &pc, matched, &st, &err)
                 : mg_err_set(&err, MG_ENOMEM, "out of memory");
    mg_store_close(s);
    int missing = 0;
    if (rc == MG_OK)
        for (int i = 0; i < n; i++)
            if (!matched[i]) {
                missing++;
                fprintf(stderr, "mediagrep forget: %s: not in the store (nothing under it is indexed)\n", given[i]);
            }
    if (rc != MG_OK) {
        fprintf(stderr, "mediagrep forget: %s; nothing was removed\n", err.msg);
    } else if (pc.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "store", json_object_new_string(dir));
        json_object_object_add(o, "dry_run", json_object_new_boolean(pc.dry));
        json_object_object_add(o, "run", json_object_new_int64(st.run_id));
        json_object_object_add(o, "files", json_object_new_int64(st.files));
        json_object_object_add(o, "vectors", json_object_new_int64(st.items));
        json_object_object_add(o, "roots", json_object_new_int64(st.roots));
        json_object_object_add(o, "compacted_rows", json_object_new_int64(st.compacted_rows));
        json_object *jn = json_object_new_array();
        for (int i = 0; i < n; i++)
            if (!matched[i]) json_object_array_add(jn, json_object_new_string(given[i]));
        json_object_object_add(o, "not_in_store", jn);
        json_object_object_add(o, "removed", json_object_get(pc.files));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else {
        printf("%s %lld files (%lld vectors)", pc.dry ? "would forget" : "forgot", (long long)st.files,
               (long long)st.items);
        if (st.roots) printf("; %lld root records dropped", (long long)st.roots);
        printf("\n");
        if (!pc.dry && st.index_summary[0]) printf("  %s\n", st.index_summary);
    }
    json_object_put(pc.files);
    json_object_put(cfg);
    free(matched);
    rc = rc ? mg_cli_exit_code(rc) : missing ? 1 : 0;
done:
    for (int i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
    free(given);
    return rc;
}
