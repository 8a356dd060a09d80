/*
 * cli_transcribe.c - `mediagrep transcribe FILE... [options]`: speech to
 * text with our Whisper (whisper/transcribe.h), with openai/whisper's
 * transcribe() defaults and its output writers (txt, srt, vtt, tsv, json).
 * Many files are transcribed at once (--batch: their windows are encoded
 * together and their decodes run in lockstep); results print in input
 * order. Also mg_cli_open_whisper, the model opener the indexer uses too:
 * --model DIR|NAME, else the pulled openai/whisper-base, else a random-weight
 * whisper-base in the real layout, announced as not meaningful.
 * Exit status: 0; 1 when some input failed (its error is printed, the others
 * still are); 2 usage or a fatal error.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "hub/pull.h"
#include "whisper/transcribe.h"
#include "whisper/wrules.h"

#define MG_DEFAULT_ASR_MODEL "openai/whisper-base"
#define MG_RANDOM_ASR_NAME "mediagrep-random-whisper-base"

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int mg_cli_open_whisper(const char *model_arg, int n_threads, const char *precision, const char *device, int quiet,
                        mg_whisper **out, int *random_out) {
    char dir[PATH_MAX + 64], path[PATH_MAX + 200];
    mg_error err = {0};
    int rc, random = 0;
    *out = NULL;
    if (model_arg && is_dir(model_arg)) {
        snprintf(dir, sizeof dir, "%s", model_arg);
    } else {
        const char *name = model_arg ? model_arg : MG_DEFAULT_ASR_MODEL;
        if ((rc = mg_model_local_dir(name, NULL, dir, sizeof dir, &err))) {
            fprintf(stderr, "mediagrep: %s\n", err.msg);
            return rc;
        }
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!is_file(path)) {
            if (model_arg) {
                fprintf(stderr, "mediagrep: Whisper model '%s' not found (no %s); run `mediagrep model pull %s`\n",
                        model_arg, path, model_arg);
                return MG_ENOTFOUND;
            }
            char models[PATH_MAX / 2];
            mg_models_dir(models, sizeof models);
            snprintf(dir, sizeof dir, "%s/%s", models, MG_RANDOM_ASR_NAME);
            snprintf(path, sizeof path, "%s/model.safetensors", dir);
            if (!is_file(path)) {
                char tok[PATH_MAX];
                snprintf(tok, sizeof tok, "%s/whisper-tokenizer", mg_cli_assets_dir());
                fprintf(stderr, "mediagrep: writing a random-weight whisper-base model to %s (once)...\n", dir);
                mg_whisper_dims d;
                mg_whisper_dims_named("base", &d, &err);
                if ((rc = mg_mkdir_p(models, &err)) != MG_OK || (rc = mg_whisper_write_random(dir, &d, 42, tok, &err))) {
                    fprintf(stderr, "mediagrep: cannot create the random Whisper model: %s\n",
                            err.msg[0] ? err.msg : strerror(errno));
                    return rc ? rc : MG_EIO;
                }
                snprintf(path, sizeof path, "%s/RANDOM_WEIGHTS_NOT_MEANINGFUL", dir);
                FILE *f = fopen(path, "w");
                if (f) {
                    fputs("This model has random weights. Its transcripts mean nothing.\n", f);
                    fclose(f);
                }
            }
            random = 1;
        }
    }
    snprintf(path, sizeof path, "%s/RANDOM_WEIGHTS_NOT_MEANINGFUL", dir);
    if (random || is_file(path)) {
        random = 1;
        if (!quiet)
            fprintf(stderr,
                    "mediagrep: WARNING: no real Whisper model is available, so a model with RANDOM WEIGHTS is used.\n"
                    "mediagrep: WARNING: its transcripts are NOT meaningful (they only exercise the pipeline).\n"
                    "mediagrep: WARNING: With internet access run `mediagrep model pull %s`.\n",
                    MG_DEFAULT_ASR_MODEL);
    }
    if (random_out) *random_out = random;
    mg_whisper_params wp = mg_whisper_default_params();
    wp.n_threads = n_threads;
    if (device) wp.device = device;
    if (precision && strcmp(precision, "auto")) {
        wp.precision = mg_precision_parse(precision);
        if (wp.precision < 0) {
            fprintf(stderr, "mediagrep: unknown --precision '%s' (expected fp32, bf16, int8 or auto)\n", precision);
            return MG_EINVAL;
        }
    }
    rc = mg_whisper_load(dir, &wp, out, &err);
    if (rc) fprintf(stderr, "mediagrep: %s\n", err.msg);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep transcribe FILE... [--model DIR|NAME] [--language CODE|auto] [--task transcribe|translate]\n"
            "         [--temperature T|LIST] [--temperature-increment-on-fallback X|off]\n"
            "         [--compression-ratio-threshold X|off] [--logprob-threshold X|off] [--no-speech-threshold X|off]\n"
            "         [--no-condition-on-previous-text] [--initial-prompt TEXT] [--without-timestamps]\n"
            "         [--format txt|srt|vtt|tsv|json|all] [--output-dir D] [--json]\n"
            "         [--precision fp32|bf16|int8|auto] [--device cpu] [--batch N] [--threads N]\n"
            "\n"
            "Transcribes speech in audio files and in the audio track of videos with Whisper (our C\n"
            "implementation of openai/whisper's transcribe(), with its defaults: temperature 0 with fallback\n"
            "to 0.2 ... 1.0, compression-ratio threshold 2.4, log-probability threshold -1, no-speech threshold\n"
            "0.6, conditioning on the previous text). Files are transcribed together (--batch, default 8).\n"
            "\n"
            "  --json            one JSON object per input, in input order: {\"input\", \"language\", \"text\",\n"
            "                    \"segments\": [{\"id\", \"seek\", \"start\", \"end\", \"text\", \"tokens\", \"temperature\",\n"
            "                    \"avg_logprob\", \"compression_ratio\", \"no_speech_prob\"}]} (times in seconds),\n"
            "                    or {\"input\", \"error\"} for a file that failed\n"
            "  --format F        what to print (default txt), or with --output-dir what to write\n"
            "                    (default all), as openai-whisper's writers: DIR/NAME.txt, .srt, .vtt, .tsv, .json\n"
            "  --temperature T   a start value (0) that falls back in steps of\n"
            "                    --temperature-increment-on-fallback (0.2) up to 1.0, or a list \"0,0.4,0.8\"\n"
            "Exit status: 0; 1 some inputs failed; 2 usage or fatal error.\n");
}

/* ---------------- writers (openai-whisper utils.py) ---------------- */

static void fmt_ts(char *buf, size_t cap, double seconds, int always_hours, char dec) {
    long long ms = (long long)nearbyint(seconds * 1000.0);
    if (ms < 0) ms = 0;
    long long h = ms / 3600000;
    ms -= h * 3600000;
    long long m = ms / 60000;
    ms -= m * 60000;
    long long s = ms / 1000;
    ms -= s * 1000;
    if (always_hours || h > 0) snprintf(buf, cap, "%02lld:%02lld:%02lld%c%03lld", h, m, s, dec, ms);
    else snprintf(buf, cap, "%02lld:%02lld%c%03lld", m, s, dec, ms);
}

/* segment["text"].strip() with "-->" replaced by "->" (iterate_result) or tabs by spaces (tsv). */
static char *seg_text(const char *t, int tsv) {
    size_t off = 0, n = mg_wrules_py_strip(t, strlen(t), &off);
    char *o = malloc(n + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *c = t + off + i;
        if (!tsv && i + 2 < n && c[0] == '-' && c[1] == '-' && c[2] == '>') {
            *p++ = '-';
            *p++ = '>';
            i += 2;
        } else if (tsv && *c == '\t') {
            *p++ = ' ';
        } else {
            *p++ = *c;
        }
    }
    *p = 0;
    return o;
}

static void write_format(FILE *f, const char *fmt, const mg_tr_result *r) {
    char a[32], b[32];
    if (!strcmp(fmt, "txt")) {
        for (int i = 0; i < r->n_segs; i++) {
            size_t off = 0, n = mg_wrules_py_strip(r->segs[i].text, strlen(r->segs[i].text), &off);
            fprintf(f, "%.*s\n", (int)n, r->segs[i].text + off);
        }
    } else if (!strcmp(fmt, "vtt") || !strcmp(fmt, "srt")) {
        int srt = fmt[0] == 's';
        if (!srt) fputs("WEBVTT\n\n", f);
        for (int i = 0; i < r->n_segs; i++) {
            fmt_ts(a, sizeof a, r->segs[i].start, srt, srt ? ',' : '.');
            fmt_ts(b, sizeof b, r->segs[i].end, srt, srt ? ',' : '.');
            char *t = seg_text(r->segs[i].text, 0);
            if (srt) fprintf(f, "%d\n", i + 1);
            fprintf(f, "%s --> %s\n%s\n\n", a, b, t ? t : "");
            free(t);
        }
    } else if (!strcmp(fmt, "tsv")) {
        fputs("start\tend\ttext\n", f);
        for (int i = 0; i < r->n_segs; i++) {
            char *t = seg_text(r->segs[i].text, 1);
            fprintf(f, "%lld\t%lld\t%s\n", (long long)nearbyint(1000 * r->segs[i].start),
                    (long long)nearbyint(1000 * r->segs[i].end), t ? t : "");
            free(t);
        }
    } else if (!strcmp(fmt, "json")) {
        char *j = mg_tr_result_json(r);
        if (j) fprintf(f, "%s\n", j);
        free(j);
    }
}

/* ---------------- command ---------------- */

typedef struct {
    int json;
    const char *format;
    const char *outdir;
    int failed, random;
    int n_inputs;
} out_ctx;

static int on_done(const mg_tr_result *r, void *vctx) {
    out_ctx *o = vctx;
    if (r->status) {
        o->failed++;
        if (o->json) {
            char *j = mg_tr_result_json(r);
            if (j) printf("%s\n", j);
            free(j);
        }
        fprintf(stderr, "mediagrep: %s: %s\n", r->input, r->error.msg[0] ? r->error.msg : mg_strerror(r->status));
        fflush(stdout);
        return 0;
    }
    if (o->json) {
        char *j = mg_tr_result_json(r);
        if (j) printf("%s\n", j);
        free(j);
    }
    if (o->outdir) {
        const char *all[5] = {"txt", "vtt", "srt", "tsv", "json"};
        int nf = 5;
        const char **fmts = all;
        const char *one[1];
        if (o->format && strcmp(o->format, "all")) {
            one[0] = o->format;
            fmts = one;
            nf = 1;
        }
        const char *base = strrchr(r->input, '/');
        base = base ? base + 1 : r->input;
        const char *dot = strrchr(base, '.');
        int bl = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
        for (int i = 0; i < nf; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%.*s.%s", o->outdir, bl, base, fmts[i]);
            FILE *f = fopen(path, "w");
            if (!f) {
                fprintf(stderr, "mediagrep: %s: cannot write: %s\n", path, strerror(errno));
                o->failed++;
                continue;
            }
            write_format(f, fmts[i], r);
            if (fclose(f)) {
                fprintf(stderr, "mediagrep: %s: write failed: %s\n", path, strerror(errno));
                o->failed++;
            }
        }
    } else if (!o->json) {
        if (o->n_inputs > 1) printf("==> %s <==\n", r->input);
        write_format(stdout, o->format ? o->format : "txt", r);
    }
    fflush(stdout);
    return 0;
}

static int parse_threshold(const char *opt, const char *v, double *out) {
    if (!strcmp(v, "off") || !strcmp(v, "none") || !strcmp(v, "None")) {
        *out = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !isfinite(x)) {
        fprintf(stderr, "mediagrep: %s expects a number or 'off', got '%s'\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

int mg_cli_transcribe(int argc, char **argv) {
    mg_transcribe_params tp = mg_transcribe_default_params();
    const char *model = NULL, *precision = NULL, *device = NULL, *temp = NULL;
    double incr = 0.2;
    int threads = 0;
    out_ctx o = {0};
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n_in = 0;
    if (!inputs) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT()                                                                 \
    do {                                                                       \
        if (i + 1 >= argc) {                                                   \
            fprintf(stderr, "mediagrep: %s needs a value\n", a);               \
            free(inputs);                                                      \
            return 2;                                                          \
        }                                                                      \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(inputs);
            return 0;
        } else if (!strcmp(a, "--model")) { NEXT(); model = argv[++i]; }
        else if (!strcmp(a, "--language")) { NEXT(); tp.language = argv[++i]; }
        else if (!strcmp(a, "--task")) { NEXT(); tp.task = argv[++i]; }
        else if (!strcmp(a, "--temperature")) { NEXT(); temp = argv[++i]; }
        else if (!strcmp(a, "--temperature-increment-on-fallback")) {
            NEXT();
            if (parse_threshold(a, argv[++i], &incr)) { free(inputs); return 2; }
        } else if (!strcmp(a, "--compression-ratio-threshold")) {
            NEXT();
            if (parse_threshold(a, argv[++i], &tp.compression_ratio_threshold)) { free(inputs); return 2; }
        } else if (!strcmp(a, "--logprob-threshold")) {
            NEXT();
            if (parse_threshold(a, argv[++i], &tp.logprob_threshold)) { free(inputs); return 2; }
        } else if (!strcmp(a, "--no-speech-threshold")) {
            NEXT();
            if (parse_threshold(a, argv[++i], &tp.no_speech_threshold)) { free(inputs); return 2; }
        } else if (!strcmp(a, "--no-condition-on-previous-text")) tp.condition_on_previous_text = 0;
        else if (!strcmp(a, "--initial-prompt")) { NEXT(); tp.initial_prompt = argv[++i]; }
        else if (!strcmp(a, "--without-timestamps")) tp.without_timestamps = 1;
        else if (!strcmp(a, "--format")) { NEXT(); o.format = argv[++i]; }
        else if (!strcmp(a, "--output-dir")) { NEXT(); o.outdir = argv[++i]; }
        else if (!strcmp(a, "--json")) o.json = 1;
        else if (!strcmp(a, "--precision")) { NEXT(); precision = argv[++i]; }
        else if (!strcmp(a, "--device")) { NEXT(); device = argv[++i]; }
        else if (!strcmp(a, "--batch")) {
            NEXT();
            if ((tp.batch = mg_cli_int(a, argv[++i], 1, 256)) < 0) { free(inputs); return 2; }
        } else if (!strcmp(a, "--threads")) {
            NEXT();
            if ((threads = mg_cli_int(a, argv[++i], 1, 1024)) < 0) { free(inputs); return 2; }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mediagrep: unknown option '%s'\n\n", a);
            usage(stderr);
            free(inputs);
            return 2;
        } else inputs[n_in++] = a;
#undef NEXT
    }
    if (!n_in) {
        usage(stderr);
        free(inputs);
        return 2;
    }
    if (o.format && strcmp(o.format, "txt") && strcmp(o.format, "srt") && strcmp(o.format, "vtt") &&
        strcmp(o.format, "tsv") && strcmp(o.format, "json") && strcmp(o.format, "all")) {
        fprintf(stderr, "mediagrep: unknown --format '%s' (txt, srt, vtt, tsv, json, all)\n", o.format);
        free(inputs);
        return 2;
    }
    if (o.format && !strcmp(o.format, "all") && !o.outdir) {
        fprintf(stderr, "mediagrep: --format all needs --output-dir\n");
        free(inputs);
        return 2;
    }
    if (temp) {
        if (strchr(temp, ',')) {
            tp.n_temperatures = 0;
            for (const char *p = temp; *p && tp.n_temperatures < MG_TR_MAX_TEMPS;) {
                char *end;
                double t = strtod(p, &end);
                if (end == p || !(t >= 0) || t > 100) {
                    fprintf(stderr, "mediagrep: bad --temperature list '%s'\n", temp);
                    free(inputs);
                    return 2;
                }
                tp.temperatures[tp.n_temperatures++] = t;
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') {
                    fprintf(stderr, "mediagrep: bad --temperature list '%s'\n", temp);
                    free(inputs);
                    return 2;
                }
            }
        } else {
            double t0;
            if (parse_threshold("--temperature", temp, &t0) || isnan(t0) || t0 < 0) {
                free(inputs);
                return 2;
            }
            tp.n_temperatures = 0;
            /* np.arange(t0, 1.0 + 1e-6, increment), or just t0 */
            if (isnan(incr) || incr <= 0) tp.temperatures[tp.n_temperatures++] = t0;
            else
                for (int k = 0; t0 + k * incr < 1.0 + 1e-6 && tp.n_temperatures < MG_TR_MAX_TEMPS; k++)
                    tp.temperatures[tp.n_temperatures++] = t0 + k * incr;
            if (!tp.n_temperatures) tp.temperatures[tp.n_temperatures++] = t0;
        }
    } else if (isnan(incr) || incr <= 0) {
        tp.n_temperatures = 1;
    }
    if (o.outdir) {
        mg_error e = {0};
        if (mg_mkdir_p(o.outdir, &e)) {
            fprintf(stderr, "mediagrep: %s\n", e.msg);
            free(inputs);
            return 2;
        }
    }
    mg_whisper *w = NULL;
    int rc = mg_cli_open_whisper(model, threads, precision, device, 0, &w, &o.random);
    if (rc) {
        free(inputs);
        return 2;
    }
    o.n_inputs = n_in;
    mg_error err = {0};
    rc = mg_transcribe(w, inputs, n_in, &tp, on_done, &o, NULL, &err);
    if (rc) fprintf(stderr, "mediagrep: %s\n", err.msg);
    if (o.random)
        fprintf(stderr, "mediagrep: note: these transcripts come from a RANDOM-WEIGHT model and are not meaningful.\n");
    mg_whisper_close(w);
    free(inputs);
    return rc ? 2 : o.failed ? 1 : 0;
}
