/*
 * cli_model.c - `mediagrep model`: pull CLIP and Whisper checkpoints from
 * the Hugging Face hub into the models folder, list what was pulled (with
 * each model's family), and print where a `--model` argument resolves to. The work is done by src/hub/pull.c; this
 * file parses options and prints.
 *
 *   mediagrep model pull NAME [--dir D] [--revision R] [--endpoint URL] [--quiet]
 *   mediagrep model list [--dir D]
 *   mediagrep model path NAME [--dir D]
 *
 * Exit status: 0 ok, 1 failure (network, checksum, not found), 2 usage.
 * Progress and messages go to stderr; results (a path, the list) to stdout.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "hub/pull.h"

static void usage_model(FILE *f) {
    fprintf(f,
        "usage: mediagrep model <pull|list|path> [options]\n"
        "\n"
        "  pull NAME   download a CLIP model (image search) or a Whisper model\n"
        "              (speech to text) from the Hugging Face hub\n"
        "  list        list pulled models, their family (clip/whisper) and size\n"
        "  path NAME   print the directory a --model argument resolves to\n"
        "\n"
        "Models are kept in $MEDIAGREP_MODELS, else $XDG_CACHE_HOME/mediagrep/models,\n"
        "else ~/.cache/mediagrep/models (override with --dir). Example:\n"
        "  mediagrep model pull openai/clip-vit-base-patch32\n"
        "  mediagrep model pull openai/whisper-base\n"
        "Run `mediagrep model <command> --help` for a command's options.\n");
}

static void usage_pull(FILE *f) {
    fprintf(f,
        "usage: mediagrep model pull NAME [--dir D] [--revision R] [--endpoint URL] [--quiet]\n"
        "\n"
        "Downloads NAME (e.g. openai/clip-vit-base-patch32, openai/whisper-base) into\n"
        "D/NAME-with-'/'-as-'--'. config.json is fetched first and its model_type says\n"
        "which files follow: CLIP: vocab.json, merges.txt, model.safetensors; Whisper:\n"
        "tokenizer.json (or vocab.json + merges.txt), model.safetensors and the small\n"
        "optional JSON files the repo has (generation_config.json, ...). Checkpoints\n"
        "published only as shards or as pytorch_model.bin are not supported.\n"
        "Interrupted downloads resume; files are verified against the hub's sha256 /\n"
        "git sha1 before they are put in place; files already verified are skipped.\n"
        "\n"
        "  --dir D          models folder (default: see `mediagrep model --help`)\n"
        "  --revision R     branch, tag or commit (default: main)\n"
        "  --endpoint URL   hub URL (default: $HF_ENDPOINT or https://huggingface.co)\n"
        "  --quiet, -q      no progress output\n"
        "\n"
        "Private or gated models need an access token in $HF_TOKEN.\n"
        "Prints the model directory on stdout when done.\n");
}

static void usage_list(FILE *f) {
    fprintf(f,
        "usage: mediagrep model list [--dir D]\n"
        "\n"
        "Lists the models in the models folder with their family (clip, whisper, or\n"
        "unknown) and size on disk; models whose pull did not finish are marked\n"
        "(incomplete).\n");
}

static void usage_path(FILE *f) {
    fprintf(f,
        "usage: mediagrep model path NAME [--dir D]\n"
        "\n"
        "Prints the model directory for NAME: an existing directory with a\n"
        "config.json is printed as is, else NAME is looked up among pulled models\n"
        "(CLIP or Whisper), which must be complete.\n");
}

static int is_help(const char *a) {
    return !strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help");
}

/* Options common to the subcommands; returns 0, or 2 after a usage message. */
typedef struct {
    const char *name, *dir, *revision, *endpoint;
    int quiet, help;
} model_opts;

static int parse_opts(int argc, char **argv, int allow_name, int allow_pull_opts,
                      void (*usage)(FILE *), model_opts *o) {
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (is_help(a)) {
            o->help = 1;
            return 0;
        } else if (!strcmp(a, "--dir")) {
            dst = &o->dir;
        } else if (allow_pull_opts && !strcmp(a, "--revision")) {
            dst = &o->revision;
        } else if (allow_pull_opts && !strcmp(a, "--endpoint")) {
            dst = &o->endpoint;
        } else if (allow_pull_opts && (!strcmp(a, "--quiet") || !strcmp(a, "-q"))) {
            o->quiet = 1;
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "mediagrep model %s: unknown option '%s'\n\n", argv[0], a);
            usage(stderr);
            return 2;
        } else if (allow_name && !o->name) {
            o->name = a;
            continue;
        } else {
            fprintf(stderr, "mediagrep model %s: unexpected argument '%s'\n\n", argv[0], a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mediagrep model %s: %s needs a value\n\n", argv[0], a);
            usage(stderr);
            return 2;
        }
        *dst = argv[++i];
    }
    if (allow_name && !o->name) {
        fprintf(stderr, "mediagrep model %s: missing model NAME\n\n", argv[0]);
        usage(stderr);
        return 2;
    }
    return 0;
}

static int cmd_pull(int argc, char **argv) {
    model_opts o;
    int rc = parse_opts(argc, argv, 1, 1, usage_pull, &o);
    if (rc || o.help) {
        if (o.help) usage_pull(stdout);
        return rc;
    }
    mg_error err = {0};
    if (mg_model_name_check(o.name, &err) != MG_OK) {
        fprintf(stderr, "mediagrep model pull: %s\n", err.msg);
        return 2;
    }
    mg_pull_params p = mg_pull_default_params();
    p.models_dir = o.dir;
    p.revision = o.revision;
    p.endpoint = o.endpoint;
    p.quiet = o.quiet;
    char dir[4096];
    mg_family fam = MG_FAMILY_UNKNOWN;
    rc = mg_pull_model_ex(o.name, &p, dir, sizeof dir, &fam, &err);
    if (rc != MG_OK) {
        fprintf(stderr, "mediagrep model pull: %s\n", err.msg[0] ? err.msg : mg_strerror(rc));
        return rc == MG_EINVAL ? 2 : 1;
    }
    if (!o.quiet)
        fprintf(stderr, "pulled %s (%s)%s%s%s\n", o.name, mg_family_name(fam),
                fam == MG_FAMILY_WHISPER ? "; use it with `mediagrep transcribe --model " : "",
                fam == MG_FAMILY_WHISPER ? o.name : "", fam == MG_FAMILY_WHISPER ? "`" : "");
    printf("%s\n", dir);
    return 0;
}

static int cmd_path(int argc, char **argv) {
    model_opts o;
    int rc = parse_opts(argc, argv, 1, 0, usage_path, &o);
    if (rc || o.help) {
        if (o.help) usage_path(stdout);
        return rc;
    }
    mg_error err = {0};
    char dir[4096];
    rc = mg_resolve_model_family(o.name, o.dir, MG_FAMILY_UNKNOWN, dir, sizeof dir, &err);
    if (rc != MG_OK) {
        fprintf(stderr, "mediagrep model path: %s\n", err.msg[0] ? err.msg : mg_strerror(rc));
        return 1;
    }
    printf("%s\n", dir);
    return 0;
}

/* Adds up the sizes of the regular files in dir; *partial is set if a
 * download is unfinished (a .part file, or a file the family needs missing;
 * a model of unknown family counts as unfinished). */
static long long dir_size(const char *dir, mg_family fam, int *partial) {
    long long total = 0;
    char path[8192];
    *partial = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        total += (long long)st.st_size;
        size_t n = strlen(de->d_name);
        if (n > 5 && !strcmp(de->d_name + n - 5, ".part")) *partial = 1;
    }
    closedir(d);
    if (!mg_model_complete(dir, fam, NULL)) *partial = 1;
    return total;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_list(int argc, char **argv) {
    model_opts o;
    int rc = parse_opts(argc, argv, 0, 0, usage_list, &o);
    if (rc || o.help) {
        if (o.help) usage_list(stdout);
        return rc;
    }
    char defdir[4096];
    const char *md = o.dir ? o.dir : mg_models_dir(defdir, sizeof defdir);
    DIR *d = opendir(md);
    if (!d) {
        fprintf(stderr, "no models pulled yet (%s does not exist); try `mediagrep model pull "
                        "openai/clip-vit-base-patch32`\n", md);
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[4352];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", md, de->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (names[n]) n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, name_cmp);
    if (n == 0) fprintf(stderr, "no models in %s\n", md);
    for (size_t i = 0; i < n; i++) {
        char path[4352], name[512];
        snprintf(path, sizeof path, "%s/%s", md, names[i]);
        /* on-disk "org--model" back to the hub name "org/model" */
        const char *sep = strstr(names[i], "--");
        if (sep)
            snprintf(name, sizeof name, "%.*s/%s", (int)(sep - names[i]), names[i], sep + 2);
        else
            snprintf(name, sizeof name, "%s", names[i]);
        mg_family fam = MG_FAMILY_UNKNOWN;
        mg_error ferr = {0};
        mg_model_family(path, &fam, &ferr);
        int partial = 0;
        long long bytes = dir_size(path, fam, &partial);
        printf("%-50s %-8s %10.1f MB%s\n", name, mg_family_name(fam), (double)bytes / 1e6,
               partial ? "  (incomplete)" : "");
        free(names[i]);
    }
    free(names);
    return 0;
}

int mg_cli_model(int argc, char **argv) {
    if (argc < 2) {
        usage_model(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (is_help(sub)) {
        usage_model(stdout);
        return 0;
    }
    if (!strcmp(sub, "pull")) return cmd_pull(argc - 1, argv + 1);
    if (!strcmp(sub, "list")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(sub, "path")) return cmd_path(argc - 1, argv + 1);
    fprintf(stderr, "mediagrep model: unknown command '%s'\n\n", sub);
    usage_model(stderr);
    return 2;
}
