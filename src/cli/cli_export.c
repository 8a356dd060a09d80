/*
 * cli_export.c - `mediagrep export --out DIR`: the store's vectors and
 * metadata for other tools (clip-retrieval's layout with a FAISS index,
 * plain .npy + JSON lines, or JSON lines with the vectors), through
 * mg_export_run (export/export.h). Exit status: 0 done, 2 usage or a
 * refused output folder, 1 other errors (the message names the path).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "export/export.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep export --out DIR [options]\n"
            "\n"
            "Writes the store's photo and video-frame vectors (one row each, in catalog order)\n"
            "with their metadata into DIR, for FAISS, clip-retrieval, numpy or other pipelines.\n"
            "\n"
            "  --out DIR           output folder (created; refused when not empty, see --force)\n"
            "  --format F          clip-retrieval (default): img_emb/img_emb_N.npy,\n"
            "                      metadata/metadata_N.parquet and index/image.index (FAISS,\n"
            "                      ids = export rows); npy: embeddings.npy + metadata.jsonl;\n"
            "                      jsonl: embeddings.jsonl, metadata and \"embedding\" per line\n"
            "  --kind K            only image, video or audio rows (repeatable or a comma list)\n"
            "  --fp16 | --fp32     vector type in the .npy files and JSON (default fp16)\n"
            "  --shard-rows N      rows per shard (default 1000000): img_emb_0.npy, img_emb_1.npy, ...\n"
            "  --no-index          clip-retrieval format without index/image.index\n"
            "  --force             replace a non-empty DIR (once the new export is complete)\n"
            "  --store PATH        store (default ./.mediagrep)\n"
            "  --json              print a JSON summary (rows, shards, files, dim, dtype, seconds)\n"
            "\n"
            "Metadata columns: image_path, media_id, item_id, kind, frame, time_ms (NULL for\n"
            "photos), width, height, size (bytes), mtime (s), mtime_ns, ocr_text, speech_text.\n"
            "A video frame's image_path is the video; time_ms says where (ffmpeg -ss).\n");
}

int mg_cli_export(int argc, char **argv) {
    const char *store = NULL, *out = NULL;
    int json = 0;
    mg_export_params p = mg_export_default_params();
    mg_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && more) {
            out = argv[++i];
        } else if (!strcmp(a, "--store") && more) {
            store = argv[++i];
        } else if (!strcmp(a, "--format") && more) {
            if (mg_export_format_parse(argv[++i], &p.format)) {
                fprintf(stderr, "mediagrep export: unknown --format '%s' (clip-retrieval, npy or jsonl)\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--kind") && more) {
            if (mg_export_kinds_parse(argv[++i], &p.kinds, &err)) {
                fprintf(stderr, "mediagrep export: --kind: %s\n", err.msg);
                return 2;
            }
        } else if (!strcmp(a, "--fp16")) {
            p.fp32 = 0;
        } else if (!strcmp(a, "--fp32")) {
            p.fp32 = 1;
        } else if (!strcmp(a, "--shard-rows") && more) {
            char *end;
            long long n = strtoll(argv[++i], &end, 10);
            if (*end || n < 1) {
                fprintf(stderr, "mediagrep export: --shard-rows needs a positive number, not '%s'\n", argv[i]);
                return 2;
            }
            p.shard_rows = n;
        } else if (!strcmp(a, "--no-index")) {
            p.build_index = 0;
        } else if (!strcmp(a, "--force")) {
            p.force = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "mediagrep export: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "mediagrep export: --out DIR is required\n\n");
        usage(stderr);
        return 2;
    }
    mg_export_stats st;
    int rc = mg_export_run(store, out, &p, &st, &err);
    if (rc) {
        fprintf(stderr, "mediagrep export: %s\n", err.msg[0] ? err.msg : mg_strerror(rc));
        return mg_cli_exit_code(rc);
    }
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "out", json_object_new_string(out));
        json_object_object_add(o, "format", json_object_new_string(p.format == MG_EXPORT_NPY ? "npy"
                                                                  : p.format == MG_EXPORT_JSONL ? "jsonl"
                                                                                               : "clip-retrieval"));
        json_object_object_add(o, "rows", json_object_new_int64(st.rows));
        json_object_object_add(o, "shards", json_object_new_int(st.shards));
        json_object_object_add(o, "dim", json_object_new_int(st.dim));
        json_object_object_add(o, "dtype", json_object_new_string(st.dtype));
        json_object *f = json_object_new_array();
        for (int i = 0; i < st.n_files; i++) json_object_array_add(f, json_object_new_string(st.files[i]));
        json_object_object_add(o, "files", f);
        json_object_object_add(o, "files_total", json_object_new_int64(st.files_total));
        json_object_object_add(o, "seconds", json_object_new_double(st.seconds));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else {
        printf("exported %lld rows (%d-d %s) in %d shard%s to %s (%.1f s)\n", (long long)st.rows, st.dim, st.dtype,
               st.shards, st.shards == 1 ? "" : "s", out, st.seconds);
    }
    return 0;
}
