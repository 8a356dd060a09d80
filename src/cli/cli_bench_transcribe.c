/*
 * cli_bench_transcribe.c - `mediagrep bench transcribe`: speed and memory of
 * our Whisper (whisper/whisper.h, whisper/transcribe.h) on full-size models
 * with random weights (the real tiny/base/small dimensions, written once into
 * <models>/mediagrep-bench-whisper/), and, with --torch, of a PyTorch
 * implementation of the same model loading the same model.safetensors
 * (bench/bench_whisper_torch.py), measured in the same run with the same
 * thread count:
 *   - encoder ms per 30 s window at batch 1, 8, 32 (mg_wctx_encode on
 *     pseudo-random mel windows, cross-attention K/V of every decoder layer
 *     included: ours computes them there); best of --repeats after a warm-up;
 *   - decoder: a prompt of --prompt tokens per sequence (prefill), then
 *     --steps teacher-forced single-token steps over the KV cache, for 1 and
 *     N sequences in lockstep (each on its own window): ms per step and per
 *     token, logits of the stepped row (and argmax) included;
 *   - the whole file: mg_transcribe on a WAV (default jfk.flac looped to
 *     --seconds, written once with the ffmpeg CLI) in a fresh child process
 *     (greedy, T=0 without fallback, thresholds off, language en, without
 *     timestamps: so the work per window is bounded and known): wall, x real
 *     time, tokens/s and peak RSS; the token sequences it produced are handed
 *     to PyTorch, which teacher-forces them (identical decoder work); and the
 *     peak RSS of 60 s and 600 s runs (flat memory);
 *   - agreement of the two implementations on one window (encoder cosine,
 *     argmax of teacher-forced logits), so the numbers compare one model.
 * Transcripts of random weights are meaningless and marked so.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "core/threadpool.h"
#include "hub/pull.h"
#include "whisper/transcribe.h"

#define BT_MAX_LIST 8

typedef struct { int n; int v[BT_MAX_LIST]; } bt_list;

typedef struct {
    const char *size, *precision, *audio;
    int threads, torch, torch_int8, json, repeats, prompt, steps;
    double seconds;
    bt_list batches, seqs, rss;
    /* child mode (the whole-file run in a fresh process) */
    const char *child_wav, *child_model, *child_replay;
} bt_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep bench transcribe [--size tiny|base|small] [--precision fp32|bf16|int8] [--threads N]\n"
            "         [--torch] [--no-torch-int8] [--audio FILE] [--seconds S] [--batches 1,8,32] [--seqs 1,8]\n"
            "         [--prompt P] [--steps G] [--repeats R] [--rss 60,600|none] [--json]\n"
            "\n"
            "Our Whisper on a full-size model with RANDOM weights (real dimensions; written once under the\n"
            "models folder), and with --torch PyTorch (bench/bench_whisper_torch.py: the same architecture\n"
            "loading the same model.safetensors, fp32, and dynamic int8 as a reference) in the same run:\n"
            "  encoder     ms per 30 s window at each --batches size (incl. the decoder's cross-attention K/V)\n"
            "  decoder     prefill of P prompt tokens, then G single-token steps over the KV cache, for each\n"
            "              --seqs count in lockstep: ms per step and per token (logits + argmax included)\n"
            "  whole file  mg_transcribe of FILE (default jfk.flac) looped to S seconds (default 120), greedy,\n"
            "              no fallback, language en, without timestamps, in a child process: x real time,\n"
            "              tokens/s, peak RSS; PyTorch teacher-forces the same token sequences\n"
            "  memory      peak RSS of whole-file runs of each --rss length (default 60,600 s)\n"
            "  agreement   encoder cosine (> 0.9999) and argmax of teacher-forced logits, ours fp32 vs PyTorch\n"
            "Defaults: --size tiny, --precision fp32, --threads all CPUs, --batches 1,8,32, --seqs 1,8,\n"
            "--prompt 64, --steps 32, --repeats 3. Transcripts of random weights are meaningless.\n"
            "  --json    one JSON object instead of the tables\n"
            "Exit status: 0; 1 the implementations disagree or a run failed; 2 usage or fatal error.\n");
}

static int parse_list(const char *opt, const char *s, bt_list *l, int lo, int hi) {
    l->n = 0;
    if (!s) goto bad;
    if (!strcmp(s, "none")) return 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < lo || v > hi || l->n == BT_MAX_LIST || (*end && *end != ',')) goto bad;
        l->v[l->n++] = (int)v;
        s = *end ? end + 1 : end;
    }
    if (l->n) return 0;
bad:
    fprintf(stderr, "bench transcribe: %s expects a list like 1,8,32 (each %d..%d, at most %d)\n", opt, lo, hi,
            BT_MAX_LIST);
    return -1;
}

static int list_max(const bt_list *l) {
    int m = 0;
    for (int i = 0; i < l->n; i++) m = l->v[i] > m ? l->v[i] : m;
    return m;
}

/* ---------------- processes and files ---------------- */

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Runs argv (PATH searched) with the environment additions env ("K=V",
 * NULL-terminated, may be NULL); its stdout into a malloc'd *out (NULL: to
 * stderr); stderr passes through. Returns the exit status, or -1 when it
 * could not run. */
static int run_proc(char *const argv[], char *const env[], char **out) {
    int fd[2] = {-1, -1};
    if (out) {
        *out = NULL;
        if (pipe(fd)) return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        if (out) close(fd[0]), close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        dup2(out ? fd[1] : 2, 1);
        if (out) close(fd[0]), close(fd[1]);
        for (int i = 0; env && env[i]; i++) putenv(env[i]);
        execvp(argv[0], argv);
        fprintf(stderr, "bench transcribe: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int rc = 0;
    if (out) {
        close(fd[1]);
        size_t n = 0, cap = 0;
        char *b = NULL;
        for (;;) {
            if (n + 65537 > cap) {
                size_t c = cap ? cap * 2 : 1 << 20;
                char *nb = realloc(b, c);
                if (!nb) {
                    rc = -1;
                    break;
                }
                b = nb;
                cap = c;
            }
            ssize_t k = read(fd[0], b + n, 65536);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            n += (size_t)k;
        }
        close(fd[0]);
        if (b) b[n] = 0;
        *out = b;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (rc) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The random-weight model of a size, written once (into a temporary folder
 * renamed into place, so an interrupted write is never used). */
static int ensure_model(const char *size, char *dir, size_t cap) {
    char models[PATH_MAX / 2], path[PATH_MAX + 64], tmp[PATH_MAX + 64], tok[PATH_MAX];
    mg_models_dir(models, sizeof models);
    snprintf(dir, cap, "%s/mediagrep-bench-whisper/random-%s", models, size);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (is_file(path)) return 0;
    mg_error err = {0};
    mg_whisper_dims d;
    if (mg_whisper_dims_named(size, &d, &err)) {
        fprintf(stderr, "bench transcribe: %s\n", err.msg);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir, (long)getpid());
    snprintf(tok, sizeof tok, "%s/whisper-tokenizer", mg_cli_assets_dir());
    fprintf(stderr, "bench transcribe: writing a random-weight whisper-%s model to %s (once)...\n", size, dir);
    if (mg_whisper_write_random(tmp, &d, 42, tok, &err)) {
        fprintf(stderr, "bench transcribe: %s\n", err.msg);
        return -1;
    }
    snprintf(path, sizeof path, "%s/RANDOM_WEIGHTS_NOT_MEANINGFUL", tmp);
    FILE *f = fopen(path, "w");
    if (f) fputs("This model has random weights (mediagrep bench transcribe). Its transcripts mean nothing.\n", f);
    if (!f || fclose(f) || rename(tmp, dir)) {
        fprintf(stderr, "bench transcribe: cannot finish %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* src looped to `seconds` as a 16 kHz mono 16-bit WAV in the cache, once. */
static int ensure_audio(const char *src, int seconds, char *out, size_t cap) {
    char models[PATH_MAX / 2], tmp[PATH_MAX + 64], t[32];
    mg_models_dir(models, sizeof models);
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    const char *dot = strrchr(base, '.');
    int bl = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    snprintf(out, cap, "%s/mediagrep-bench-whisper/audio/%.*s-loop-%ds.wav", models, bl, base, seconds);
    if (is_file(out)) return 0;
    snprintf(tmp, sizeof tmp, "%s/mediagrep-bench-whisper/audio", models);
    mg_error err = {0};
    if (mg_mkdir_p(tmp, &err)) {
        fprintf(stderr, "bench transcribe: %s\n", err.msg);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld.wav", out, (long)getpid());
    snprintf(t, sizeof t, "%d", seconds);
    char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", (char *)src, "-t", t,
                    "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", tmp, NULL};
    if (run_proc(argv, NULL, NULL) != 0 || rename(tmp, out)) {
        fprintf(stderr, "bench transcribe: could not write %s with the ffmpeg CLI from %s\n", out, src);
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int write_f32(const char *path, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = fwrite(v, sizeof *v, n, f);
    return fclose(f) || k != n ? -1 : 0;
}

static double kb_to_mb(long kb) { return kb / 1024.0; }

/* A "Vm...:" value of /proc/self/status in KiB, or -1. */
static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) v = strtol(line + kl, NULL, 10);
    if (f) fclose(f);
    return v;
}
/* ---------------- our engine: encoder, decoder, agreement ---------------- */

/* Pseudo-random log-mel windows in the range real ones take ([-1, 1.5]). */
static void fill_mel(float *m, size_t n, uint64_t seed) {
    uint64_t r = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        double u = (double)(r >> 11) / 9007199254740992.0;
        m[i] = (float)(0.25 + 0.6 * sin(0.013 * (double)(i % 3000) + 0.7 * (double)(i / 3000 % 80)) + 0.5 * (u - 0.5));
    }
}

/* Text tokens for the decoder benchmark (the same on both sides: handed to
 * PyTorch in work.json). */
static int32_t text_token(int s, int k) { return (int32_t)(100 + ((long)s * 7919 + (long)k * 104729) % 50000); }

typedef struct {
    double enc_ms[BT_MAX_LIST];                       /* per window, per batch */
    double prefill_ms[BT_MAX_LIST], step_ms[BT_MAX_LIST]; /* per seqs count */
} engine_res;

static int time_encoder(mg_wctx *c, const float *mel, const bt_list *bl, int repeats, engine_res *r) {
    mg_error err = {0};
    int slots[256];
    for (int i = 0; i < 256; i++) slots[i] = i;
    for (int k = 0; k < bl->n; k++) {
        int b = bl->v[k];
        if (mg_wctx_encode(c, mel, b, slots, &err)) goto fail; /* warm-up */
        double best = INFINITY;
        for (int rep = 0; rep < repeats; rep++) {
            double t0 = mg_now();
            if (mg_wctx_encode(c, mel, b, slots, &err)) goto fail;
            double el = mg_now() - t0;
            best = el < best ? el : best;
        }
        r->enc_ms[k] = 1e3 * best / b;
    }
    return 0;
fail:
    fprintf(stderr, "bench transcribe: encoder: %s\n", err.msg);
    return -1;
}

/* prompt[s][P], steps[s][G] for s < max_seqs */
static int time_decoder(mg_wctx *c, const mg_whisper_dims *d, int n_win, const bt_list *sl, int P, int G, int repeats,
                        const int32_t *prompt, const int32_t *steps, engine_res *r) {
    int N = list_max(sl);
    mg_wdec_item *items = calloc((size_t)N, sizeof *items);
    float *logits = malloc((size_t)2 * N * d->n_vocab * sizeof(float));
    int rows[2] = {P - 3, P - 1}, row0[1] = {0};
    mg_error err = {0};
    int rc = -1;
    if (!items || !logits) goto out;
    for (int k = 0; k < sl->n; k++) {
        int n = sl->v[k];
        double bp = INFINITY, bs = INFINITY;
        for (int rep = -1; rep < repeats; rep++) { /* rep -1: warm-up */
            for (int i = 0; i < n; i++)
                items[i] = (mg_wdec_item){i, i % n_win, 0, prompt + (size_t)i * P, P, rows, 2};
            double t0 = mg_now();
            if (mg_wctx_decode(c, items, n, logits, &err)) goto out;
            double el = mg_now() - t0;
            if (rep >= 0) bp = el < bp ? el : bp;
            volatile int sink = 0;
            t0 = mg_now();
            for (int g = 0; g < G; g++) {
                for (int i = 0; i < n; i++)
                    items[i] = (mg_wdec_item){i, i % n_win, P + g, steps + (size_t)i * G + g, 1, row0, 1};
                if (mg_wctx_decode(c, items, n, logits, &err)) goto out;
                for (int i = 0; i < n; i++) { /* the argmax the greedy decoder does */
                    const float *l = logits + (size_t)i * d->n_vocab;
                    int best = 0;
                    for (int v = 1; v < d->n_vocab; v++) best = l[v] > l[best] ? v : best;
                    sink += best;
                }
            }
            el = mg_now() - t0;
            (void)sink;
            if (rep >= 0) bs = el < bs ? el : bs;
        }
        r->prefill_ms[k] = 1e3 * bp;
        r->step_ms[k] = 1e3 * bs / G;
    }
    rc = 0;
out:
    if (rc) fprintf(stderr, "bench transcribe: decoder: %s\n", err.msg[0] ? err.msg : "out of memory");
    free(items);
    free(logits);
    return rc;
}

/* One window and a teacher-forced token sequence through model w; writes
 * mel.f32, enc<tag>.f32 and logits<tag>.f32 into run and the tokens and our
 * argmax into *agree (when tag is ""). */
static int agreement_dump(mg_whisper *w, const float *mel, const char *run, const char *tag, json_object **agree) {
    const mg_whisper_dims *d = mg_whisper_get_dims(w);
    const mg_wtok_specials *sp = mg_wtok_get_specials(mg_whisper_tokenizer(w));
    mg_error err = {0};
    mg_wctx *c = NULL;
    int32_t tok[64];
    int n = 0, rc = -1, slot = 0;
    tok[n++] = sp->sot;
    tok[n++] = sp->lang_begin;
    tok[n++] = sp->transcribe;
    tok[n++] = sp->no_timestamps;
    const char *text = " And so my fellow Americans, ask not what your country can do";
    int k = mg_wtok_encode(mg_whisper_tokenizer(w), text, strlen(text), tok + n, 48, &err);
    if (k < 0) k = 0;
    n += k;
    int rows[64];
    for (int i = 0; i < n; i++) rows[i] = i;
    size_t ne = (size_t)d->n_audio_ctx * d->n_audio_state;
    float *enc = malloc(ne * sizeof *enc), *logits = malloc((size_t)n * d->n_vocab * sizeof *logits);
    char path[PATH_MAX];
    if (!enc || !logits || mg_wctx_open(w, 1, 1, &c, &err) || mg_wctx_encode(c, mel, 1, &slot, &err) ||
        mg_wctx_encoder_output(c, 0, enc, &err))
        goto out;
    mg_wdec_item it = {0, 0, 0, tok, n, rows, n};
    if (mg_wctx_decode(c, &it, 1, logits, &err)) goto out;
    snprintf(path, sizeof path, "%s/enc%s.f32", run, tag);
    if (write_f32(path, enc, ne)) goto io;
    snprintf(path, sizeof path, "%s/logits%s.f32", run, tag);
    if (write_f32(path, logits, (size_t)n * d->n_vocab)) goto io;
    if (!*tag) {
        snprintf(path, sizeof path, "%s/mel.f32", run);
        if (write_f32(path, mel, (size_t)d->n_mels * 3000)) goto io;
        json_object *a = json_object_new_object(), *jt = json_object_new_array(), *am = json_object_new_array();
        for (int i = 0; i < n; i++) {
            const float *l = logits + (size_t)i * d->n_vocab;
            int best = 0;
            for (int v = 1; v < d->n_vocab; v++) best = l[v] > l[best] ? v : best;
            json_object_array_add(jt, json_object_new_int(tok[i]));
            json_object_array_add(am, json_object_new_int(best));
        }
        json_object_object_add(a, "tokens", jt);
        json_object_object_add(a, "argmax", am);
        *agree = a;
    }
    rc = 0;
    goto out;
io:
    mg_err_set(&err, MG_EIO, "%s: cannot write", path);
out:
    if (rc) fprintf(stderr, "bench transcribe: agreement check: %s\n", err.msg[0] ? err.msg : "out of memory");
    mg_wctx_close(c);
    free(enc);
    free(logits);
    return rc;
}

/* ---------------- the whole file, in a child process ---------------- */

typedef struct {
    json_object *windows;   /* the replay: [{seek, tokens_in, sampled}], one per decode */
    long replay_tokens;
    char text_head[161];
    double duration;
    int status;
} child_ctx;

static json_object *jints(const int32_t *v, int n) {
    json_object *a = json_object_new_array_ext(n);
    for (int i = 0; i < n; i++) json_object_array_add(a, json_object_new_int(v[i]));
    return a;
}

/* Every decode as mg_transcribe ran it: the decoder input and the sampled
 * tokens (the end-of-text included when it was sampled), for PyTorch to
 * replay the same steps. */
static void child_decode(void *arg, int input, int seek, double temperature, const int32_t *toks, int n_in, int n) {
    child_ctx *c = arg;
    (void)input;
    (void)temperature;
    json_object *w = json_object_new_object();
    json_object_object_add(w, "seek", json_object_new_int(seek));
    json_object_object_add(w, "tokens_in", jints(toks, n_in));
    json_object_object_add(w, "sampled", jints(toks + n_in, n - n_in));
    json_object_array_add(c->windows, w);
    c->replay_tokens += n - n_in;
}

static int child_done(const mg_tr_result *r, void *vctx) {
    child_ctx *c = vctx;
    c->status = r->status;
    if (r->status) {
        fprintf(stderr, "bench transcribe: %s: %s\n", r->input, r->error.msg);
        return 0;
    }
    c->duration = r->duration_s;
    snprintf(c->text_head, sizeof c->text_head, "%s", r->text ? r->text : "");
    return 0;
}

static int child_main(const bt_opts *o) {
    struct rusage ru;
    mg_error err = {0};
    mg_whisper_params wp = mg_whisper_default_params();
    wp.n_threads = o->threads;
    wp.precision = mg_precision_parse(o->precision);
    mg_whisper *w = NULL;
    double t0 = mg_now();
    if (mg_whisper_load(o->child_model, &wp, &w, &err)) {
        fprintf(stderr, "bench transcribe: %s\n", err.msg);
        return 2;
    }
    double load_s = mg_now() - t0;
    /* the current RSS after loading; then the peak counter is reset (Linux clear_refs 5), so VmHWM at the
     * end is the peak of the transcription alone, not the load's transient one (the file's pages) */
    getrusage(RUSAGE_SELF, &ru);
    long load_peak = ru.ru_maxrss, rss_load = status_kb("VmRSS:");
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    int reset = cr && fputs("5", cr) >= 0;
    if (cr && fclose(cr)) reset = 0;
    mg_transcribe_params tp = mg_transcribe_default_params();
    tp.language = "en";
    tp.n_temperatures = 1;
    tp.temperatures[0] = 0;
    tp.compression_ratio_threshold = NAN;
    tp.logprob_threshold = NAN;
    tp.no_speech_threshold = NAN;
    tp.without_timestamps = 1;
    tp.batch = 1;
    child_ctx c = {0};
    c.windows = json_object_new_array();
    c.status = -1;
    tp.on_decode = child_decode;
    tp.on_decode_arg = &c;
    mg_tr_stats st;
    const char *paths[1] = {o->child_wav};
    t0 = mg_now();
    int rc = mg_transcribe(w, paths, 1, &tp, child_done, &c, &st, &err);
    double wall = mg_now() - t0;
    getrusage(RUSAGE_SELF, &ru);
    if (rc || c.status) {
        fprintf(stderr, "bench transcribe: transcribe: %s\n", rc ? err.msg : "the file failed");
        return 2;
    }
    json_object *rep = json_object_new_object();
    json_object_object_add(rep, "audio", json_object_new_string(o->child_wav));
    json_object_object_add(rep, "windows", c.windows);
    if (o->child_replay && json_object_to_file_ext(o->child_replay, rep, JSON_C_TO_STRING_PLAIN)) {
        fprintf(stderr, "bench transcribe: cannot write %s\n", o->child_replay);
        return 2;
    }
    long hwm = reset ? status_kb("VmHWM:") : -1;
    const struct { const char *k; double v; } num[] = {
        {"wall_s", wall}, {"load_s", load_s}, {"duration_s", c.duration}, {"windows", (double)st.windows},
        {"decoder_steps", (double)st.decoder_steps}, {"tokens", (double)st.tokens}, {"encode_s", st.encode_s},
        {"decode_s", st.decode_s}, {"mel_s", st.mel_s}, {"rss_after_load_mb", kb_to_mb(rss_load)},
        {"load_peak_rss_mb", kb_to_mb(load_peak)}, {"peak_rss_mb", kb_to_mb(hwm > 0 ? hwm : ru.ru_maxrss)}};
    json_object *j = json_object_new_object();
    for (size_t i = 0; i < sizeof num / sizeof *num; i++) json_object_object_add(j, num[i].k, json_object_new_double(num[i].v));
    json_object_object_add(j, "peak_rss_is_transcription_only", json_object_new_boolean(hwm > 0));
    json_object_object_add(j, "process_peak_rss_mb", json_object_new_double(kb_to_mb(ru.ru_maxrss)));
    json_object_object_add(j, "replay_windows", json_object_new_int((int)json_object_array_length(c.windows)));
    json_object_object_add(j, "replay_tokens", json_object_new_int64(c.replay_tokens));
    json_object_object_add(j, "replay_exact", json_object_new_boolean(c.replay_tokens == st.tokens &&
        (long)json_object_array_length(c.windows) == st.decodes && st.decoder_steps == st.tokens));
    json_object_object_add(j, "transcript_head", json_object_new_string(c.text_head));
    printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
    json_object_put(j);
    json_object_put(rep);
    mg_whisper_close(w);
    return 0;
}

/* Runs the whole-file child on wav; its JSON or NULL. */
static json_object *whole_file(const bt_opts *o, const char *model_dir, const char *wav, const char *replay) {
    char exe[PATH_MAX], th[16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    snprintf(th, sizeof th, "%d", o->threads);
    char *argv[] = {exe, "bench", "transcribe", "--child", (char *)wav, "--child-model", (char *)model_dir,
                    "--child-replay", (char *)(replay ? replay : "/dev/null"), "--threads", th, "--precision",
                    (char *)o->precision, NULL};
    char *out = NULL;
    int rc = run_proc(argv, NULL, &out);
    json_object *j = rc == 0 && out ? json_tokener_parse(out) : NULL;
    if (!j) fprintf(stderr, "bench transcribe: the whole-file run on %s failed (exit %d)\n", wav, rc);
    free(out);
    return j;
}

/* ---------------- output ---------------- */

static double jget(json_object *o, const char *path) {
    /* "a.b.c" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_object *cur = o;
    for (char *t = strtok(buf, "."); t && cur; t = strtok(NULL, "."))
        if (!json_object_object_get_ex(cur, t, &cur)) cur = NULL;
    if (!cur || (!json_object_is_type(cur, json_type_double) && !json_object_is_type(cur, json_type_int)))
        return NAN;
    return json_object_get_double(cur);
}

static json_object *jd(double v) { return isfinite(v) ? json_object_new_double(v) : NULL; }
static const char *ikey(char *b, int v) { return snprintf(b, 16, "%d", v), b; }

static const char *fmt(char *b, double v, const char *f) { return snprintf(b, 32, isfinite(v) ? f : "-", v), b; }

/* ---------------- the command ---------------- */

static int parse(int argc, char **argv, bt_opts *o) {
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--torch")) o->torch = 1;
        else if (!strcmp(a, "--no-torch-int8")) o->torch_int8 = 0;
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!v) {
            fprintf(stderr, "bench transcribe: unknown or incomplete option '%s' (see --help)\n", a);
            return -1;
        } else if (!strcmp(a, "--size")) o->size = argv[++i];
        else if (!strcmp(a, "--precision")) o->precision = argv[++i];
        else if (!strcmp(a, "--audio")) o->audio = argv[++i];
        else if (!strcmp(a, "--child")) o->child_wav = argv[++i];
        else if (!strcmp(a, "--child-model")) o->child_model = argv[++i];
        else if (!strcmp(a, "--child-replay")) o->child_replay = argv[++i];
        else if (!strcmp(a, "--threads")) {
            if ((o->threads = mg_cli_int(a, argv[++i], 1, 1024)) < 0) return -1;
        } else if (!strcmp(a, "--seconds")) {
            if ((o->seconds = mg_cli_int(a, argv[++i], 1, 36000)) < 0) return -1;
        } else if (!strcmp(a, "--repeats")) {
            if ((o->repeats = mg_cli_int(a, argv[++i], 1, 1000)) < 0) return -1;
        } else if (!strcmp(a, "--prompt")) {
            if ((o->prompt = mg_cli_int(a, argv[++i], 5, 224)) < 0) return -1;
        } else if (!strcmp(a, "--steps")) {
            if ((o->steps = mg_cli_int(a, argv[++i], 1, 220)) < 0) return -1;
        } else if (!strcmp(a, "--batches")) {
            if (parse_list(a, argv[++i], &o->batches, 1, 256) || !o->batches.n) return -1;
        } else if (!strcmp(a, "--seqs")) {
            if (parse_list(a, argv[++i], &o->seqs, 1, 256) || !o->seqs.n) return -1;
        } else if (!strcmp(a, "--rss")) {
            if (parse_list(a, argv[++i], &o->rss, 1, 36000)) return -1;
        } else {
            fprintf(stderr, "bench transcribe: unknown option '%s' (see --help)\n", a);
            return -1;
        }
    }
    if (mg_precision_parse(o->precision) < 0) {
        fprintf(stderr, "bench transcribe: --precision '%s' (fp32, bf16 or int8)\n", o->precision);
        return -1;
    }
    if (o->prompt + o->steps > 448) {
        fprintf(stderr, "bench transcribe: --prompt + --steps must fit the 448-token context\n");
        return -1;
    }
    return 0;
}

static void rm_run(const char *run) {
    static const char *const files[] = {"mel.f32", "enc.f32", "enc_prec.f32", "logits.f32", "logits_prec.f32",
                                        "work.json", "replay.json", "agree.json"};
    char p[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", run, files[i]);
        unlink(p);
    }
    rmdir(run);
}

/* work.json for PyTorch: the decoder benchmark's token sequences. */
static int write_work(const char *path, int N, int P, int G, const int32_t *prompt, const int32_t *steps) {
    json_object *j = json_object_new_object(), *pr = json_object_new_array(), *st = json_object_new_array();
    for (int s = 0; s < N; s++) {
        json_object_array_add(pr, jints(prompt + (size_t)s * P, P));
        json_object_array_add(st, jints(steps + (size_t)s * G, G));
    }
    json_object_object_add(j, "prompt", pr);
    json_object_object_add(j, "steps", st);
    int rc = json_object_to_file_ext(path, j, JSON_C_TO_STRING_PLAIN);
    json_object_put(j);
    return rc;
}

static json_object *run_torch(const bt_opts *o, const char *model_dir, const char *run, int have_replay, int prec_tag) {
    char script[PATH_MAX], th[16], rep[16], bl[96] = "", sl[96] = "", work[PATH_MAX + 16], replay[PATH_MAX + 16];
    snprintf(script, sizeof script, "%s/bench/bench_whisper_torch.py", MG_SOURCE_DIR);
    snprintf(th, sizeof th, "%d", o->threads);
    snprintf(rep, sizeof rep, "%d", o->repeats);
    for (int i = 0; i < o->batches.n; i++) snprintf(bl + strlen(bl), sizeof bl - strlen(bl), "%s%d", i ? "," : "", o->batches.v[i]);
    for (int i = 0; i < o->seqs.n; i++) snprintf(sl + strlen(sl), sizeof sl - strlen(sl), "%s%d", i ? "," : "", o->seqs.v[i]);
    snprintf(work, sizeof work, "%s/work.json", run);
    snprintf(replay, sizeof replay, "%s/replay.json", run);
    char *argv[24];
    int n = 0;
    argv[n++] = "/usr/bin/python3";
    argv[n++] = script;
    argv[n++] = "--model", argv[n++] = (char *)model_dir;
    argv[n++] = "--threads", argv[n++] = th;
    argv[n++] = "--batches", argv[n++] = bl;
    argv[n++] = "--seqs", argv[n++] = sl;
    argv[n++] = "--repeats", argv[n++] = rep;
    argv[n++] = "--work", argv[n++] = work;
    argv[n++] = "--agree", argv[n++] = (char *)run;
    if (have_replay) argv[n++] = "--replay", argv[n++] = replay;
    if (o->torch_int8) argv[n++] = "--int8";
    if (prec_tag) argv[n++] = "--prec-tag";
    argv[n] = NULL;
    /* as bench encoder --torch runs PyTorch: OpenBLAS with OpenMP, passive waiting */
    char *env[] = {"LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp", "OMP_WAIT_POLICY=PASSIVE", NULL};
    char *out = NULL;
    int rc = run_proc(argv, env, &out);
    json_object *j = rc == 0 && out ? json_tokener_parse(out) : NULL;
    if (!j) fprintf(stderr, "bench transcribe: %s failed (exit %d)\n", script, rc);
    free(out);
    return j;
}

typedef struct {
    const bt_opts *o;
    const mg_whisper_dims *d;  /* points at dims (the model is closed before the output) */
    mg_whisper_dims dims;
    char backend[64];
    const char *prec_used;
    engine_res *ours;
    json_object *torch, *whole, *rss_runs[BT_MAX_LIST];
    int agree_ok;
} report;

/* t's "<path>.<n>", NAN when absent (t may be NULL) */
static double jgeti(json_object *t, const char *path, int n) {
    char k[96];
    snprintf(k, sizeof k, "%s.%d", path, n);
    return t ? jget(t, k) : NAN;
}

static int agreement_ok(json_object *t) {
    if (!t) return -1;
    double cos = jget(t, "agreement.encoder_cosine"), same = jget(t, "agreement.argmax_same"),
           rows = jget(t, "agreement.argmax_rows");
    return cos > 0.9999 && same == rows && rows > 0;
}

static void print_table(const report *R) {
    const bt_opts *o = R->o;
    const mg_whisper_dims *d = R->d;
    json_object *t = R->torch;
    char a[32], b[32], c[32], e[32], f[32], g[32];
    printf("mediagrep bench transcribe: whisper-%s dimensions (D=%d, %d encoder + %d decoder layers, vocab %d), "
           "RANDOM weights; ours: %s backend, %s, %d threads%s\n", o->size, d->n_audio_state, d->n_audio_layer,
           d->n_text_layer, d->n_vocab, R->backend, R->prec_used, o->threads,
           t ? "; PyTorch (bench/bench_whisper_torch.py) same threads" : "");
    printf("ratio = PyTorch fp32 time / ours (> 1: ours is faster)\n");
    if (t) {
        printf("\nmodel agreement (ours fp32 vs PyTorch fp32, one window + %d teacher-forced tokens): encoder cosine "
               "%.7f (max |diff| %.2g), logits argmax %d/%d rows the same, logits cosine min %.7f: %s\n",
               (int)jget(t, "agreement.argmax_rows"), jget(t, "agreement.encoder_cosine"),
               jget(t, "agreement.encoder_max_abs"), (int)jget(t, "agreement.argmax_same"),
               (int)jget(t, "agreement.argmax_rows"), jget(t, "agreement.logits_cosine_min"),
               R->agree_ok > 0 ? "SAME MODEL" : "MISMATCH (the comparison is meaningless)");
        if (isfinite(jget(t, "agreement.prec_encoder_cosine")))
            printf("ours %s vs PyTorch fp32: encoder cosine %.6f, argmax %d/%d\n", R->prec_used,
                   jget(t, "agreement.prec_encoder_cosine"), (int)jget(t, "agreement.prec_argmax_same"),
                   (int)jget(t, "agreement.argmax_rows"));
        if (isfinite(jget(t, "agreement.int8_encoder_cosine")))
            printf("PyTorch int8 vs PyTorch fp32: encoder cosine %.6f\n", jget(t, "agreement.int8_encoder_cosine"));
    }
    printf("\n| encoder, ms per 30 s window (incl. cross-attention K/V) | batch | ours %s | PyTorch fp32 | ratio | "
           "PyTorch int8 |\n|---|---|---|---|---|---|\n", R->prec_used);
    for (int i = 0; i < o->batches.n; i++) {
        double tf = jgeti(t, "fp32.encoder_ms", o->batches.v[i]), ti = jgeti(t, "int8.encoder_ms", o->batches.v[i]);
        printf("| | %d | %s | %s | %s | %s |\n", o->batches.v[i], fmt(a, R->ours->enc_ms[i], "%.1f"),
               fmt(b, tf, "%.1f"), fmt(c, tf / R->ours->enc_ms[i], "%.2fx"), fmt(e, ti, "%.1f"));
    }
    printf("\n| decoder, KV cache %d -> %d positions | seqs | ours prefill ms | ours ms/step | ours ms/token | "
           "PyTorch prefill ms | PyTorch ms/step | ms/token | ratio | PyTorch int8 ms/token |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n", o->prompt, o->prompt + o->steps);
    for (int i = 0; i < o->seqs.n; i++) {
        int n = o->seqs.v[i];
        double tp = jgeti(t, "fp32.prefill_ms", n), ts = jgeti(t, "fp32.step_ms", n), ti = jgeti(t, "int8.step_ms", n);
        double os = R->ours->step_ms[i];
        char h[32], x[32];
        printf("| | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, fmt(a, R->ours->prefill_ms[i], "%.1f"),
               fmt(b, os, "%.2f"), fmt(c, os / n, "%.2f"), fmt(e, tp, "%.1f"), fmt(f, ts, "%.2f"),
               fmt(g, ts / n, "%.2f"), fmt(h, ts / os, "%.2fx"), fmt(x, ti / n, "%.2f"));
    }
    json_object *w = R->whole;
    if (w) {
        double dur = jget(w, "duration_s"), wall = jget(w, "wall_s"), tok = jget(w, "tokens");
        double twall = t ? jget(t, "whole.wall_s") : NAN;
        printf("\n| whole file: %s looped to %.0f s; greedy T=0, no fallback, thresholds off, language en, without "
               "timestamps | ours %s | PyTorch fp32 (teacher-forced on our tokens) |\n|---|---|---|\n",
               o->audio, dur, R->prec_used);
        printf("| wall s | %.2f | %s |\n", wall, fmt(a, twall, "%.2f"));
        printf("| x real time | %.2f | %s |\n", dur / wall, fmt(a, dur / twall, "%.2f"));
        printf("| windows | %.0f | %s |\n", jget(w, "windows"), fmt(a, t ? jget(t, "whole.windows") : NAN, "%.0f"));
        printf("| decoder steps = tokens | %.0f | %s |\n", jget(w, "decoder_steps"),
               fmt(a, t ? jget(t, "whole.steps") : NAN, "%.0f"));
        printf("| tokens/s | %.1f | %s |\n", tok / wall, fmt(a, t ? jget(t, "whole.tokens") / twall : NAN, "%.1f"));
        printf("| mel s | %.2f | %s |\n", jget(w, "mel_s"), fmt(a, t ? jget(t, "whole.mel_s") : NAN, "%.2f"));
        printf("| encode s | %.2f | %s |\n", jget(w, "encode_s"), fmt(a, t ? jget(t, "whole.encode_s") : NAN, "%.2f"));
        printf("| decode s | %.2f | %s |\n", jget(w, "decode_s"), fmt(a, t ? jget(t, "whole.decode_s") : NAN, "%.2f"));
        printf("| peak RSS MiB of transcribing | %.0f (after loading %.0f; process peak with the load %.0f) | %s "
               "(process peak, all tests) |\n", jget(w, "peak_rss_mb"), jget(w, "rss_after_load_mb"),
               jget(w, "process_peak_rss_mb"), fmt(a, t ? jget(t, "peak_rss_mb") : NAN, "%.0f"));
        json_object *ex, *hd;
        json_object_object_get_ex(w, "replay_exact", &ex);
        printf("replay for PyTorch: %s", json_object_get_boolean(ex) ? "exact (same windows, decoder inputs and steps)"
                                                                     : "NOT EXACT (the recorded decodes miss some steps)");
        if (t && isfinite(jget(t, "whole.argmax_agree")))
            printf("; PyTorch's raw argmax = our (rule-filtered) token at %.1f%% of the steps", 100 * jget(t, "whole.argmax_agree"));
        json_object_object_get_ex(w, "transcript_head", &hd);
        printf("\ntranscript (RANDOM WEIGHTS: MEANINGLESS): \"%.100s...\"\n", json_object_get_string(hd));
    }
    if (o->rss.n) {
        printf("\n| memory: whole file, fresh process each | audio s | peak RSS MiB of transcribing | after load MiB |"
               " wall s |\n|---|---|---|---|---|\n");
        for (int i = 0; i < o->rss.n; i++) {
            json_object *r = R->rss_runs[i];
            printf("| | %d | %s | %s | %s |\n", o->rss.v[i], fmt(a, r ? jget(r, "peak_rss_mb") : NAN, "%.0f"),
                   fmt(b, r ? jget(r, "rss_after_load_mb") : NAN, "%.0f"), fmt(c, r ? jget(r, "wall_s") : NAN, "%.1f"));
        }
        json_object *r0 = R->rss_runs[0], *r1 = R->rss_runs[o->rss.n - 1];
        if (o->rss.n > 1 && r0 && r1)
            printf("peak RSS %d s -> %d s: %+.1f MiB (%+.1f%%)\n", o->rss.v[0], o->rss.v[o->rss.n - 1],
                   jget(r1, "peak_rss_mb") - jget(r0, "peak_rss_mb"),
                   100 * (jget(r1, "peak_rss_mb") / jget(r0, "peak_rss_mb") - 1));
    }
}

static void print_json(const report *R) {
    const bt_opts *o = R->o;
    json_object *j = json_object_new_object(), *enc = json_object_new_object(), *dec = json_object_new_object();
    json_object_object_add(j, "size", json_object_new_string(o->size));
    json_object_object_add(j, "random_weights", json_object_new_boolean(1));
    json_object_object_add(j, "backend", json_object_new_string(R->backend));
    json_object_object_add(j, "precision", json_object_new_string(R->prec_used));
    json_object_object_add(j, "threads", json_object_new_int(o->threads));
    char k[16];
    for (int i = 0; i < o->batches.n; i++) json_object_object_add(enc, ikey(k, o->batches.v[i]), jd(R->ours->enc_ms[i]));
    json_object_object_add(j, "encoder_ms_per_window", enc);
    json_object_object_add(dec, "prompt", json_object_new_int(o->prompt));
    json_object_object_add(dec, "steps", json_object_new_int(o->steps));
    for (int i = 0; i < o->seqs.n; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "prefill_ms", jd(R->ours->prefill_ms[i]));
        json_object_object_add(e, "step_ms", jd(R->ours->step_ms[i]));
        json_object_object_add(e, "token_ms", jd(R->ours->step_ms[i] / o->seqs.v[i]));
        json_object_object_add(dec, ikey(k, o->seqs.v[i]), e);
    }
    json_object_object_add(j, "decoder", dec);
    if (R->whole) json_object_object_add(j, "whole_file", json_object_get(R->whole));
    json_object *m = json_object_new_object();
    for (int i = 0; i < o->rss.n; i++) json_object_object_add(m, ikey(k, o->rss.v[i]), json_object_get(R->rss_runs[i]));
    json_object_object_add(j, "memory_runs", m);
    if (R->torch) {
        json_object_object_add(j, "torch", json_object_get(R->torch));
        json_object_object_add(j, "same_model", json_object_new_boolean(R->agree_ok > 0));
    }
    printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(j);
}

int mg_cli_bench_transcribe(int argc, char **argv) {
    bt_opts o = {0};
    o.size = "tiny", o.precision = "fp32";
    o.audio = MG_SOURCE_DIR "/../shared/whisper/jfk.flac";
    o.torch_int8 = 1;
    o.repeats = 3, o.prompt = 64, o.steps = 32, o.seconds = 120;
    o.batches = (bt_list){3, {1, 8, 32}}, o.seqs = (bt_list){2, {1, 8}}, o.rss = (bt_list){2, {60, 600}};
    int pr = parse(argc, argv, &o);
    if (pr) return pr > 0 ? 0 : 2;
    if (!o.threads) o.threads = mg_cpu_count();
    if (o.child_wav) {
        if (!o.child_model) return 2;
        return child_main(&o);
    }
    char model_dir[PATH_MAX], run[] = "/tmp/mediagrep-bench-transcribe-XXXXXX", path[PATH_MAX + 32];
    if (ensure_model(o.size, model_dir, sizeof model_dir)) return 2;
    if (!mkdtemp(run)) {
        fprintf(stderr, "bench transcribe: cannot create a temporary folder: %s\n", strerror(errno));
        return 2;
    }
    int rc = 2, prec = mg_precision_parse(o.precision);
    mg_error err = {0};
    mg_whisper *w = NULL, *w32 = NULL;
    mg_wctx *c = NULL;
    float *mel = NULL;
    int32_t *prompt = NULL, *steps = NULL;
    json_object *agree = NULL;
    engine_res ours;
    memset(&ours, 0, sizeof ours);
    report R;
    memset(&R, 0, sizeof R);
    R.o = &o;
    R.ours = &ours;
    mg_whisper_params wp = mg_whisper_default_params();
    wp.n_threads = o.threads;
    wp.precision = prec;
    if (mg_whisper_load(model_dir, &wp, &w, &err)) {
        fprintf(stderr, "bench transcribe: %s\n", err.msg);
        goto out;
    }
    const mg_whisper_dims *d = mg_whisper_get_dims(w);
    const mg_wtok_specials *sp = mg_wtok_get_specials(mg_whisper_tokenizer(w));
    R.dims = *d;
    R.d = &R.dims;
    snprintf(R.backend, sizeof R.backend, "%s", mg_whisper_backend_name(w));
    R.prec_used = mg_precision_name(mg_whisper_precision(w));
    if (mg_whisper_precision(w) != prec)
        fprintf(stderr, "bench transcribe: %s is not available on this CPU; measuring %s\n", o.precision, R.prec_used);
    int maxb = list_max(&o.batches), maxs = list_max(&o.seqs), P = o.prompt, G = o.steps;
    const size_t per = (size_t)d->n_mels * 3000;
    mel = malloc((size_t)maxb * per * sizeof *mel);
    prompt = malloc((size_t)maxs * P * sizeof *prompt);
    steps = malloc((size_t)maxs * G * sizeof *steps);
    if (!mel || !prompt || !steps) goto out;
    fill_mel(mel, (size_t)maxb * per, 1);
    for (int s = 0; s < maxs; s++) {
        int32_t *p = prompt + (size_t)s * P;
        p[0] = sp->sot_prev;
        for (int k = 1; k < P - 3; k++) p[k] = text_token(s, k);
        p[P - 3] = sp->sot;
        p[P - 2] = sp->lang_begin;
        p[P - 1] = sp->transcribe;
        for (int k = 0; k < G; k++) steps[(size_t)s * G + k] = text_token(s + 1000, k);
    }
    if (!o.json)
        fprintf(stderr, "bench transcribe: whisper-%s, %s, %d threads: encoder at batches", o.size, R.prec_used, o.threads);
    if (mg_wctx_open(w, maxb, maxs, &c, &err)) {
        fprintf(stderr, "bench transcribe: %s\n", err.msg);
        goto out;
    }
    if (time_encoder(c, mel, &o.batches, o.repeats, &ours)) goto out;
    if (time_decoder(c, d, maxb, &o.seqs, P, G, o.repeats, prompt, steps, &ours)) goto out;
    mg_wctx_close(c);
    c = NULL;
    if (!o.json) fprintf(stderr, " done; decoder done\n");
    /* agreement files (the fp32 model; also the measured precision's) */
    if (prec != MG_PREC_FP32 || mg_whisper_precision(w) != MG_PREC_FP32) {
        mg_whisper_params p32 = wp;
        p32.precision = MG_PREC_FP32;
        if (mg_whisper_load(model_dir, &p32, &w32, &err)) {
            fprintf(stderr, "bench transcribe: %s\n", err.msg);
            goto out;
        }
    }
    if (agreement_dump(w32 ? w32 : w, mel, run, "", &agree)) goto out;
    if (w32 && agreement_dump(w, mel, run, "_prec", NULL)) goto out;
    snprintf(path, sizeof path, "%s/work.json", run);
    if (write_work(path, maxs, P, G, prompt, steps)) goto out;
    json_object_to_file_ext(strcat(strcpy(path, run), "/agree.json"), agree, JSON_C_TO_STRING_PLAIN);
    mg_whisper_close(w32);
    mg_whisper_close(w);
    w = w32 = NULL;
    /* whole files, each in a fresh process */
    char wav[PATH_MAX], replay[PATH_MAX + 16];
    snprintf(replay, sizeof replay, "%s/replay.json", run);
    if (!o.json) fprintf(stderr, "bench transcribe: whole file (%.0f s)...\n", o.seconds);
    if (ensure_audio(o.audio, (int)o.seconds, wav, sizeof wav) == 0) R.whole = whole_file(&o, model_dir, wav, replay);
    for (int i = 0; i < o.rss.n; i++) {
        if (o.rss.v[i] == (int)o.seconds && R.whole) {
            R.rss_runs[i] = json_object_get(R.whole);
            continue;
        }
        if (!o.json) fprintf(stderr, "bench transcribe: memory run (%d s)...\n", o.rss.v[i]);
        if (ensure_audio(o.audio, o.rss.v[i], wav, sizeof wav) == 0)
            R.rss_runs[i] = whole_file(&o, model_dir, wav, NULL);
    }
    if (o.torch) {
        if (!o.json) fprintf(stderr, "bench transcribe: PyTorch...\n");
        R.torch = run_torch(&o, model_dir, run, R.whole != NULL, prec != MG_PREC_FP32);
        R.agree_ok = agreement_ok(R.torch);
    }
    if (o.json) print_json(&R);
    else print_table(&R);
    rc = (o.torch && R.agree_ok <= 0) || !R.whole ? 1 : 0;
    for (int i = 0; i < o.rss.n; i++) rc |= !R.rss_runs[i];
out:
    if (rc == 2 && err.msg[0]) fprintf(stderr, "bench transcribe: %s\n", err.msg);
    mg_wctx_close(c);
    mg_whisper_close(w32);
    mg_whisper_close(w);
    free(mel);
    free(prompt);
    free(steps);
    json_object_put(agree);
    json_object_put(R.torch);
    json_object_put(R.whole);
    for (int i = 0; i < o.rss.n; i++) json_object_put(R.rss_runs[i]);
    rm_run(run);
    return rc;
}
