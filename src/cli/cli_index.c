/*
 * cli_index.c - `mediagrep index DIR...`: parse options, open the store and
 * its model, run the indexing pipeline (pipeline/indexer.h) with SIGINT as a
 * graceful stop, and print the summary. Exit status: 0 all files indexed,
 * 3 some files failed (recorded; see `mediagrep status --failed`), 6 a
 * root or folder was unavailable and its files were kept (offline), 7
 * removals held back by the mass-delete guard, 130 interrupted (run again to
 * resume), 4 store/model mismatch, 5 store locked by another writer, 2 usage
 * (also: none of the paths exists; no store is created then), 1 other.
 * With --watch (pipeline/watch.h) the first run is followed by one run per
 * batch of changes until SIGINT/SIGTERM, which ends it with 0.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/cli_dist.h"
#include "core/threadpool.h"
#include "ocr/ocr.h"
#include "whisper/transcribe.h"
#include "whisper/whisper.h"
#include "pipeline/indexer.h"
#include "pipeline/watch.h"
#include "store/texts.h"
#include "store/store.h"

static volatile sig_atomic_t g_cancel;

static volatile sig_atomic_t g_first_s;
static int g_wake_fd = -1; /* --watch: the write end of its wakeup pipe */

/* First SIGINT/SIGTERM: stop gracefully. Another one more than a second
 * later: quit at once (the last checkpoint stays). One within the second is
 * the same request delivered twice (timeout(1) and process-group signals do
 * that) and is ignored. */
static void on_sigint(int sig) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (g_wake_fd >= 0) {
        int saved = errno;
        ssize_t w = write(g_wake_fd, "", 1);
        (void)w;
        errno = saved;
    }
    if (g_cancel) {
        if ((sig_atomic_t)ts.tv_sec - g_first_s > 1) {
            signal(sig, SIG_DFL);
            raise(sig);
        }
        return;
    }
    g_cancel = 1;
    g_first_s = (sig_atomic_t)ts.tv_sec;
    static const char msg[] = "\nmediagrep: stopping after the files in flight (Ctrl-C again to quit now)...\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep index DIR|FILE... [options]\n"
            "\n"
            "Walks the folders, encodes new and changed photos and videos with CLIP and stores\n"
            "their vectors; safe to interrupt (Ctrl-C or kill) and run again to resume.\n"
            "\n"
            "  --store PATH        store directory (default ./.mediagrep)\n"
            "  --model NAME|DIR    model (default: the store's model, else the default model)\n"
            "  --threads N         decode threads (default: number of CPUs)\n"
            "  --device D          cpu (default), cuda, cuda:N, a list such as cuda:0,1 (one encoder per\n"
            "                      device, fed from one decode pool), or auto (every GPU, else the CPU)\n"
            "  --precision P       GEMM precision: auto (default: int8 images / fp32 text where the CPU has\n"
            "                      VNNI), fp32, bf16 or int8 (see README \"CPU precisions\")\n"
            "  --batch N           encoder batch size (default 32)\n"
            "  --mem-limit SIZE    bytes for samples in flight, e.g. 256M, 2G (default 512M)\n"
            "  --frames N          video: N evenly spaced frames (default 8)\n"
            "  --every SECONDS     video: one frame every SECONDS\n"
            "  --scene             video: one frame per scene change\n"
            "  --include GLOB      only files matching (repeatable); `*.jpg`, `raw/**`\n"
            "  --exclude GLOB      skip matching files and folders (repeatable)\n"
            "  --hidden            include hidden files and folders\n"
            "  --no-follow         do not follow symbolic links\n"
            "  --exact-preprocess  decode at full size (bit-exact preprocessing, slower)\n"
            "  --fp16              store vectors as fp16 (new stores only)\n"
            "  --index-type T      auto (default), flat, hnsw, ivfpq\n"
            "  --no-index          do not update the FAISS index at the end\n"
            "  --retry-failed      retry files that failed before even if unchanged\n"
            "  --keep-missing      keep files that disappeared from the folders\n"
            "  --allow-mass-delete remove files gone from a folder even when more than the threshold of\n"
            "                      its indexed files are gone (default: such a drop removes nothing)\n"
            "  --mass-delete-threshold F  share of a folder's files that may go in one run (default 0.5)\n"
            "  --allow-root-change accept a folder that is now on another filesystem with none of its\n"
            "                      recorded entries (e.g. copied to a new drive)\n"
            "  --checkpoint SEC    seconds between commits (default 2)\n"
            "  --ocr               also read the text in photos and video frames (Tesseract), searchable\n"
            "                      with `mediagrep search`; the store remembers it, so later runs keep it up\n"
            "                      to date. On a store indexed without it, only OCR runs (no re-encoding)\n"
            "  --ocr-lang L        OCR languages: eng (default), eng+deu, ... (installed tessdata)\n"
            "  --ocr-threads N     OCR worker threads (default: one per 4 CPUs, at least 1)\n"
            "  --ocr-device D      cpu (the only one: Tesseract runs on CPU threads)\n"
            "  --ocr-max-side N    longest side images are read at (default 2048)\n"
            "  --no-ocr            turn OCR off for this and later runs; the text already stored stays\n"
            "                      searchable (a changed file loses its old text); add --drop-text to delete it\n"
            "  --speech            also transcribe speech (Whisper): audio files (wav, flac, mp3, m4a, ogg/opus)\n"
            "                      are indexed as kind audio, videos get their audio track transcribed; spoken\n"
            "                      words become searchable as time ranges (on for later runs too)\n"
            "  --asr-model M       Whisper model (directory or pulled name; default openai/whisper-base, else\n"
            "                      a random-weight whisper-base: transcripts not meaningful)\n"
            "  --language L        spoken language code, or auto (default: detected per file)\n"
            "  --asr-batch N       files transcribed at once (default 8)\n"
            "  --asr-threads N     threads of the speech model (default: all CPUs)\n"
            "  --asr-precision P   fp32 (default), bf16, int8\n"
            "  --asr-device D      cpu (default) or cuda[:N] for the speech model\n"
            "  --no-speech         turn speech off for this and later runs (--drop-text deletes its text)\n"
            "  --hang-timeout SEC  many machines: abort the job when a rank sends nothing for SEC (default\n"
            "                      300; 0 = never)\n"
            "  --quiet             no progress output and no summary (errors still print)\n"
            "  --progress MODE     bar or lines (default: bar on a terminal)\n"
            "  --json              print the summary as JSON on stdout (--watch: one line per run)\n"
            "  --watch             after indexing, follow changes (inotify) and index them as they come,\n"
            "                      until Ctrl-C or SIGTERM (exit 0); each batch is committed at once\n"
            "  --poll SEC          --watch: rescan every SEC seconds instead of inotify (network filesystems)\n"
            "  --debounce MS       --watch: a changed file waits for MS quiet milliseconds (default 1000)\n"
            "\n"
            "A folder that is missing, unreadable, not a folder, empty while the store holds files under\n"
            "it (an unmounted drive), or on another filesystem than before is unavailable: nothing under\n"
            "it is removed or changed (`mediagrep status` lists its files as offline). Files leave the\n"
            "store only when gone from an available folder, or excluded now; `mediagrep forget` removes\n"
            "on purpose.\n"
            "\n"
            "Many machines: the same command started by `mpirun -n N` or `srun --mpi=pmix` runs as N\n"
            "ranks (Open MPI, loaded only then): rank 0 walks, decides and writes the store; every rank\n"
            "decodes and analyzes the files rank 0 hands it on request with all its devices. Only rank 0\n"
            "prints; --json adds \"ranks\". Killed or stopped, the same command (any N, or one process)\n"
            "resumes. See the README's \"Many machines\".\n"
            "\n"
            "Exit status: 0 ok, 3 some files failed, 6 a folder was unavailable (its files were kept),\n"
            "7 removals withheld (more than the threshold gone; see --allow-mass-delete), 130\n"
            "interrupted, 4 the store was made by another model, 5 another process is writing the\n"
            "store, 2 usage (also: none of the paths exists), 1 other errors.\n");
}

/* "512M", "2G", "1000000" -> bytes; -1 on bad input. */
static int64_t parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return -1;
    int64_t mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': mul = 1024; end++; break;
    case 'M': mul = 1024 * 1024; end++; break;
    case 'G': mul = (int64_t)1024 * 1024 * 1024; end++; break;
    default: return -1;
    }
    if (toupper((unsigned char)*end) == 'B' || toupper((unsigned char)*end) == 'I') end++;
    if (*end && toupper((unsigned char)*end) == 'B') end++;
    if (*end) return -1;
    return (int64_t)(v * (double)mul);
}

/* json: 0 text on stderr, 1 JSON on stdout, 2 the same on one line */
static void print_summary(const mg_index_stats *st, const char *store, int rc, int json) {
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "store", json_object_new_string(store));
        json_object_object_add(o, "run", json_object_new_int64(st->run_id));
        json_object_object_add(o, "status", json_object_new_string(rc == MG_EINTERRUPTED ? "interrupted"
                                                                  : rc ? "failed" : "done"));
#define I(name) json_object_object_add(o, #name, json_object_new_int64(st->name))
        I(files_seen); I(files_new); I(files_changed); I(files_unchanged); I(files_touched); I(files_reused); I(files_deferred); I(files_settling); I(files_ok);
        I(files_failed); I(files_skipped_failed); I(files_aborted); I(files_removed); I(images); I(videos);
        I(frames); I(items); I(walk_problems); I(checkpoints); I(compacted_rows);
        I(roots_unavailable); I(files_offline); I(files_kept); I(removals_withheld); I(files_analyzed);
        I(files_text_dropped); I(captures_read); I(captures_found); I(captures_failed);
#undef I
        json_object *ja = json_object_new_array();
        for (int a = 0; a < st->n_analyzers; a++) {
            const mg_index_analyzer_stats *x = &st->analyzers[a];
            json_object *e = json_object_new_object();
            json_object_object_add(e, "name", json_object_new_string(x->name));
            json_object_object_add(e, "items", json_object_new_int64(x->items));
            json_object_object_add(e, "skipped", json_object_new_int64(x->skipped));
            json_object_object_add(e, "files_ok", json_object_new_int64(x->files_ok));
            json_object_object_add(e, "files_failed", json_object_new_int64(x->files_failed));
            json_object_object_add(e, "results", json_object_new_int64(x->results));
            json_object_object_add(e, "busy_s", json_object_new_double(x->busy_s));
            json_object_object_add(e, "items_per_s", json_object_new_double(st->pipeline_seconds > 0 ? (double)x->items / st->pipeline_seconds : 0));
            json_object_object_add(e, "slot_wait_s", json_object_new_double(x->slot_wait_s));
            json_object_object_add(e, "max_queue", json_object_new_int(x->max_queue));
            json_object_object_add(e, "workers", json_object_new_int(x->workers));
            json_object_array_add(ja, e);
        }
        json_object_object_add(o, "analyzers", ja);
        json_object *jr = json_object_new_array();
        for (int i = 0; i < st->n_root_reports; i++) {
            const mg_index_root_report *r = &st->roots[i];
            json_object *e = json_object_new_object();
            json_object_object_add(e, "path", json_object_new_string(r->path));
            json_object_object_add(e, "available", json_object_new_boolean(r->status == MG_ROOT_AVAILABLE));
            json_object_object_add(e, "status", json_object_new_string(mg_root_status_name(r->status)));
            if (r->reason[0]) json_object_object_add(e, "reason", json_object_new_string(r->reason));
            json_object_object_add(e, "files", json_object_new_int64(r->files));
            json_object_object_add(e, "removed", json_object_new_int64(r->removed));
            json_object_object_add(e, "withheld", json_object_new_int64(r->withheld));
            json_object_object_add(e, "kept", json_object_new_int64(r->kept));
            json_object_array_add(jr, e);
        }
        json_object_object_add(o, "roots", jr);
#define D(name) json_object_object_add(o, #name, json_object_new_double(st->name))
        D(seconds); D(pipeline_seconds); D(frames_per_s); D(walk_busy_s); D(decode_busy_s); D(encode_busy_s);
        D(write_busy_s); D(index_s); D(decode_wait_s); D(decode_cpu_s);
#undef D
        json_object_object_add(o, "index", json_object_new_string(st->index_summary));
        json_object *encs = json_object_new_array();
        for (int i = 0; i < st->n_encoders; i++) {
            json_object *e = json_object_new_object();
            json_object_object_add(e, "device", json_object_new_string(st->encoders[i].device));
            json_object_object_add(e, "frames", json_object_new_int64(st->encoders[i].frames));
            json_object_object_add(e, "batches", json_object_new_int64(st->encoders[i].batches));
            json_object_object_add(e, "busy_s", json_object_new_double(st->encoders[i].busy_s));
            json_object_array_add(encs, e);
        }
        json_object_object_add(o, "encoders", encs);
        if (st->n_ranks) {
            json_object *rk = json_object_new_array();
            for (int i = 0; i < st->n_ranks; i++) {
                const mg_index_rank_stats *r = &st->ranks[i];
                json_object *e = json_object_new_object();
                json_object_object_add(e, "rank", json_object_new_int(r->rank));
                json_object_object_add(e, "host", json_object_new_string(r->host));
                json_object_object_add(e, "files", json_object_new_int64(r->files));
                json_object_object_add(e, "frames", json_object_new_int64(r->frames));
                json_object_object_add(e, "busy_s", json_object_new_double(r->busy_s));
                json_object_object_add(e, "result_bytes", json_object_new_int64(r->bytes));
                json_object *dv = json_object_new_array();
                char dcopy[sizeof r->devices], *save = NULL;
                snprintf(dcopy, sizeof dcopy, "%s", r->devices);
                for (char *t = strtok_r(dcopy, ";", &save); t; t = strtok_r(NULL, ";", &save))
                    json_object_array_add(dv, json_object_new_string(t + (*t == ' ')));
                json_object_object_add(e, "devices", dv);
                json_object_object_add(e, "finished", json_object_new_boolean(r->finished));
                json_object_array_add(rk, e);
            }
            json_object_object_add(o, "ranks", rk);
            json_object_object_add(o, "files_resent", json_object_new_int64(st->files_resent));
            json_object_object_add(o, "files_duplicated", json_object_new_int64(st->files_duplicated));
        }
        json_object_object_add(o, "config_hash", json_object_new_string(st->config_hash));
        printf("%s\n", json_object_to_json_string_ext(o, (json == 2 ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY) |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
        fflush(stdout);
        json_object_put(o);
        return;
    }
    FILE *f = stderr;
    fprintf(f, "%s %lld files (%lld images, %lld videos; %lld frames, %lld vectors) in %.1f s, %.1f frames/s\n",
            rc == MG_EINTERRUPTED ? "interrupted after indexing" : "indexed", (long long)st->files_ok,
            (long long)st->images, (long long)st->videos, (long long)st->frames, (long long)st->items, st->seconds,
            st->frames_per_s);
    fprintf(f, "  found %lld: %lld new, %lld changed, %lld unchanged", (long long)st->files_seen,
            (long long)st->files_new, (long long)st->files_changed, (long long)st->files_unchanged);
    if (st->files_touched) fprintf(f, ", %lld touched (same content)", (long long)st->files_touched);
    if (st->files_reused)
        fprintf(f, ", %lld moved or copied (stored results reused)", (long long)st->files_reused);
    if (st->files_deferred) fprintf(f, ", %lld left to the next run", (long long)st->files_deferred);
    if (st->files_settling)
        fprintf(f, ", %lld still being written (indexed once they settle)", (long long)st->files_settling);
    if (st->files_removed) fprintf(f, "; %lld removed (gone)", (long long)st->files_removed);
    fprintf(f, "\n");
    if (st->files_failed)
        fprintf(f, "  %lld files failed (recorded; `mediagrep status --failed --store %s` lists them)\n",
                (long long)st->files_failed, store);
    if (st->files_skipped_failed)
        fprintf(f, "  %lld files that failed before were skipped (--retry-failed to try again)\n",
                (long long)st->files_skipped_failed);
    if (st->walk_problems) fprintf(f, "  %lld paths could not be walked (see above)\n", (long long)st->walk_problems);
    for (int i = 0; i < st->n_root_reports; i++)
        if (st->roots[i].status != MG_ROOT_AVAILABLE)
            fprintf(f, "  UNAVAILABLE %s (%lld files kept, offline)\n", st->roots[i].reason,
                    (long long)st->roots[i].files);
    if (st->files_kept)
        fprintf(f, "  %lld files that look gone were kept: their folder could not be read or their drive is not "
                   "mounted\n",
                (long long)st->files_kept);
    if (st->removals_withheld)
        fprintf(f, "  %lld removals WITHHELD: more than the threshold of a folder's files are gone; nothing was "
                   "removed (--allow-mass-delete removes them; `mediagrep forget` drops a folder)\n",
                (long long)st->removals_withheld);
    for (int i = 0; i < st->n_ranks; i++)
        fprintf(f, "  rank %d on %s: %lld files, %lld frames, %.1f s busy (%s)%s\n", st->ranks[i].rank,
                st->ranks[i].host, (long long)st->ranks[i].files, (long long)st->ranks[i].frames, st->ranks[i].busy_s,
                st->ranks[i].devices, st->ranks[i].finished ? "" : " - did not report its end");
    if (st->files_resent)
        fprintf(f, "  %lld files were handed to another rank after theirs ended early\n", (long long)st->files_resent);
    if (st->n_encoders > 1)
        for (int i = 0; i < st->n_encoders; i++)
            fprintf(f, "  encoder %d on %s: %lld frames in %lld batches, %.1f s busy\n", i, st->encoders[i].device,
                    (long long)st->encoders[i].frames, (long long)st->encoders[i].batches, st->encoders[i].busy_s);
    for (int a = 1; a < st->n_analyzers; a++) {
        const mg_index_analyzer_stats *x = &st->analyzers[a];
        fprintf(f, "  %s: %lld files (%lld text segments), %lld samples read, %lld skipped as repeats, %.1f s busy on "
                   "%d threads (%.2f samples/s)",
                x->name, (long long)x->files_ok, (long long)x->results, (long long)x->items, (long long)x->skipped,
                x->busy_s, x->workers, st->pipeline_seconds > 0 ? (double)x->items / st->pipeline_seconds : 0);
        if (x->files_failed) fprintf(f, "; %lld files FAILED (recorded)", (long long)x->files_failed);
        fprintf(f, "\n");
    }
    if (st->files_analyzed)
        fprintf(f, "  %lld unchanged files got only the analyzers they lacked (their vectors were kept)\n",
                (long long)st->files_analyzed);
    if (st->captures_read)
        fprintf(f, "  capture metadata read from %lld files (%lld with a date, GPS or camera)%s\n",
                (long long)st->captures_read, (long long)st->captures_found,
                st->captures_failed ? "; some could not be opened (retried next run)" : "");
    if (st->files_text_dropped) fprintf(f, "  text of %lld files deleted (--drop-text)\n", (long long)st->files_text_dropped);
    if (st->index_summary[0]) fprintf(f, "  %s\n", st->index_summary);
    if (rc == MG_EINTERRUPTED)
        fprintf(f, "  %lld files in flight were dropped; run the same command again to resume (finished files are "
                   "kept)\n",
                (long long)st->files_aborted);
    fprintf(f, "  store %s, run %lld\n", store, (long long)st->run_id);
}

/* MEDIAGREP_TEST_SLOW="RANK:MS" (tests only; RANK -1: all): that rank sleeps MS before
 * each file, to show that a slow rank takes a smaller share. */
static void slow_hook(void *arg, const char *path) {
    (void)path;
    int ms = *(int *)arg;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --watch: what each run prints (the first as a plain run does; later ones
 * as JSON lines with --json, else watch.c's one line). */
typedef struct {
    const char *store;
    int json, progress;
} watch_print;

static void on_watch_pass(void *arg, int64_t pass, int rc, const mg_index_stats *st) {
    const watch_print *wp = arg;
    if (rc && rc != MG_EINTERRUPTED) return; /* the error is printed by the caller */
    if (wp->json) print_summary(st, wp->store, rc, 2);
    else if (pass == 0 && wp->progress) print_summary(st, wp->store, rc, 0);
}

static int64_t analyzer_failures(const mg_index_stats *st) {
    int64_t n = 0;
    for (int a = 1; a < st->n_analyzers; a++) n += st->analyzers[a].files_failed;
    return n;
}

/* OCR on or off for this run: on_flag 1/0 from --ocr/--no-ocr, -1 as the
 * store's enabled analyzers say (cur: texts.h's JSON), whose settings also fill what
 * the flags leave open. Opens the analyzer (a missing language is a usage
 * error naming the Debian package) and writes the enabled list to an_json.
 * Returns an exit code (0 ok). */
static int setup_ocr(const char *cur, int on_flag, const char *lang, int max_side, int threads, const char *device,
                     mg_analyzer **out, char *an_json, size_t cap) {
    *out = NULL;
    mg_error err = {0};
    json_object *j = json_tokener_parse(cur), *o = NULL;
    int stored_on = j && json_object_object_get_ex(j, "ocr", &o);
    int on = on_flag >= 0 ? on_flag : stored_on;
    char lang_buf[64] = "eng";
    int side = 0;
    if (stored_on) {
        json_object *v;
        if (json_object_object_get_ex(o, "lang", &v)) snprintf(lang_buf, sizeof lang_buf, "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "max_side", &v)) side = json_object_get_int(v);
    }
    json_object_put(j);
    if (lang) snprintf(lang_buf, sizeof lang_buf, "%s", lang);
    if (max_side) side = max_side;
    if (!on) {
        snprintf(an_json, cap, "{}");
        if (stored_on)
            fprintf(stderr, "mediagrep index: OCR is off from now on; the text already stored stays searchable "
                            "(--drop-text deletes it)\n");
        return 0;
    }
    mg_ocr_params op = mg_ocr_default_params();
    op.lang = lang_buf;
    if (side) op.max_side = side;
    if (mg_an_ocr_open(&op, threads, device, out, &err) != MG_OK) {
        fprintf(stderr, "mediagrep index: %s\n", err.msg);
        return 2;
    }
    snprintf(an_json, cap, "{\"ocr\":{\"lang\":\"%s\",\"max_side\":%d}}", lang_buf, op.max_side);
    return 0;
}

/* Speech on or off for this run, as setup_ocr: on_flag 1/0 from
 * --speech/--no-speech, -1 as the store says; the stored model and
 * language fill what the flags leave open. Opens the Whisper model and the
 * analyzer; writes the "speech" entry of the enabled list to frag ("" when
 * off). Returns an exit code (0 ok). */
static int setup_speech(const char *cur, int on_flag, const char *model, const char *language, int batch,
                        int threads, const char *precision, const char *device, mg_whisper **wout,
                        mg_analyzer **out, char *frag, size_t cap) {
    *out = NULL;
    *wout = NULL;
    frag[0] = 0;
    mg_error err = {0};
    json_object *j = json_tokener_parse(cur), *o = NULL;
    int stored_on = j && json_object_object_get_ex(j, "speech", &o);
    int on = on_flag >= 0 ? on_flag : stored_on;
    char model_buf[1024] = "", lang_buf[32] = "auto", prec_buf[16] = "fp32";
    if (stored_on) {
        json_object *v;
        if (json_object_object_get_ex(o, "model", &v)) snprintf(model_buf, sizeof model_buf, "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "language", &v)) snprintf(lang_buf, sizeof lang_buf, "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "precision", &v)) snprintf(prec_buf, sizeof prec_buf, "%s", json_object_get_string(v));
    }
    json_object_put(j);
    if (model) snprintf(model_buf, sizeof model_buf, "%s", model);
    if (language) snprintf(lang_buf, sizeof lang_buf, "%s", language);
    if (precision) snprintf(prec_buf, sizeof prec_buf, "%s", precision);
    if (!on) {
        if (stored_on)
            fprintf(stderr, "mediagrep index: speech is off from now on; the transcripts already stored stay "
                            "searchable (--drop-text deletes them)\n");
        return 0;
    }
    int random = 0;
    if (mg_cli_open_whisper(model_buf[0] ? model_buf : NULL, threads, prec_buf, device, 0, wout, &random) != MG_OK)
        return 2;
    mg_transcribe_params tp = mg_transcribe_default_params();
    tp.language = strcmp(lang_buf, "auto") ? lang_buf : NULL;
    if (batch > 0) tp.batch = batch;
    if (mg_an_speech_open(*wout, &tp, out, &err) != MG_OK) {
        fprintf(stderr, "mediagrep index: %s\n", err.msg);
        mg_whisper_close(*wout);
        *wout = NULL;
        return 2;
    }
    json_object *f = json_object_new_object();
    json_object_object_add(f, "model", json_object_new_string(model_buf));
    json_object_object_add(f, "language", json_object_new_string(lang_buf));
    json_object_object_add(f, "precision", json_object_new_string(prec_buf));
    snprintf(frag, cap, "\"speech\":%s", json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN));
    json_object_put(f);
    return 0;
}

/* Closes what a run opened (the extra devices' models from index 1; store may be NULL). */
static void close_run(json_object *cfg, mg_analyzer *ocr_an, mg_analyzer *speech_an, mg_whisper *whisper,
                      mg_model **models, int n_models, mg_model *model, mg_store *store) {
    json_object_put(cfg);
    mg_analyzer_close(ocr_an);
    mg_analyzer_close(speech_an);
    mg_whisper_close(whisper);
    for (int k = 1; k < n_models; k++) mg_model_close(models[k]);
    mg_model_close(model);
    mg_store_close(store);
}

int mg_cli_index(int argc, char **argv) {
    const char *precision = NULL, *device = NULL;
    /* From the start: a Ctrl-C while the model loads stops the run as soon
     * as it begins (recorded as interrupted) instead of killing the process. */
    g_cancel = 0;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    const char *store_dir = NULL, *model_arg = NULL;
    const char **roots = calloc((size_t)argc, sizeof *roots);
    const char **inc = calloc((size_t)argc + 1, sizeof *inc), **exc = calloc((size_t)argc + 1, sizeof *exc);
    int n_roots = 0, n_inc = 0, n_exc = 0, json = 0, fp16 = 0, exact = 0;
    int ocr_on = -1, drop_text = 0, ocr_threads = 0, ocr_max_side = 0; /* ocr_on -1: as the store says */
    const char *ocr_lang = NULL, *ocr_device = NULL;
    mg_analyzer *ocr_an = NULL, *speech_an = NULL;
    mg_whisper *whisper = NULL;
    int speech_on = -1, asr_batch = 0, asr_threads = 0;
    const char *asr_model = NULL, *asr_lang = NULL, *asr_prec = NULL, *asr_device = NULL;
    char an_json[2048] = "{}", speech_frag[1280] = "";
    mg_index_params p = mg_index_default_params();
    mg_watch_params wpar = mg_watch_default_params();
    int watch = 0, poll_given = 0, debounce_given = 0, wake[2] = {-1, -1};
    int rc = 2;
    if (!roots || !inc || !exc) goto done;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) { fprintf(stderr, "mediagrep index: %s needs a value\n", a); goto done; } i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--store")) { NEED_VALUE(); store_dir = v; }
        else if (!strcmp(a, "--model")) { NEED_VALUE(); model_arg = v; }
        else if (!strcmp(a, "--precision") && v) precision = argv[++i];
        else if (!strcmp(a, "--device") && v) device = argv[++i];
        else if (!strcmp(a, "--threads")) { if ((p.threads = mg_cli_int(a, v, 1, 1024)) < 0) goto done; i++; }
        else if (!strcmp(a, "--batch")) { if ((p.batch = mg_cli_int(a, v, 1, 4096)) < 0) goto done; i++; }
        else if (!strcmp(a, "--frames")) {
            if ((p.media.video.frames = mg_cli_int(a, v, 1, 100000)) < 0) goto done;
            p.media.video.policy = MG_VSAMPLE_FRAMES;
            i++;
        } else if (!strcmp(a, "--every")) {
            NEED_VALUE();
            char *end;
            p.media.video.every_s = strtod(v, &end);
            if (*end || !(p.media.video.every_s > 0)) {
                fprintf(stderr, "mediagrep index: --every: '%s' is not a positive number of seconds\n", v);
                goto done;
            }
            p.media.video.policy = MG_VSAMPLE_EVERY;
        } else if (!strcmp(a, "--scene")) p.media.video.policy = MG_VSAMPLE_SCENE;
        else if (!strcmp(a, "--include")) { NEED_VALUE(); inc[n_inc++] = v; }
        else if (!strcmp(a, "--exclude")) { NEED_VALUE(); exc[n_exc++] = v; }
        else if (!strcmp(a, "--hidden")) p.walk.hidden = 1;
        else if (!strcmp(a, "--no-follow")) p.walk.follow_symlinks = 0;
        else if (!strcmp(a, "--exact-preprocess")) exact = 1;
        else if (!strcmp(a, "--fp16")) fp16 = 1;
        else if (!strcmp(a, "--mem-limit")) {
            NEED_VALUE();
            if ((p.mem_limit = parse_size(v)) <= 0) {
                fprintf(stderr, "mediagrep index: --mem-limit: '%s' is not a size like 512M or 2G\n", v);
                goto done;
            }
        } else if (!strcmp(a, "--index-type")) {
            NEED_VALUE();
            if (mg_vindex_type_parse(v, &p.index.type) != MG_OK) {
                fprintf(stderr, "mediagrep index: --index-type: '%s' is not auto, flat, hnsw or ivfpq\n", v);
                goto done;
            }
        } else if (!strcmp(a, "--no-index")) p.update_index = 0;
        else if (!strcmp(a, "--retry-failed")) p.retry_failed = 1;
        else if (!strcmp(a, "--keep-missing")) p.remove_missing = 0;
        else if (!strcmp(a, "--allow-mass-delete")) p.allow_mass_delete = 1;
        else if (!strcmp(a, "--allow-root-change")) p.allow_root_change = 1;
        else if (!strcmp(a, "--mass-delete-threshold")) {
            NEED_VALUE();
            char *end;
            p.mass_delete_fraction = strtod(v, &end);
            if (*end || !(p.mass_delete_fraction >= 0 && p.mass_delete_fraction <= 1)) {
                fprintf(stderr, "mediagrep index: --mass-delete-threshold: '%s' is not a number from 0 to 1\n", v);
                goto done;
            }
        }
        else if (!strcmp(a, "--checkpoint")) {
            NEED_VALUE();
            char *end;
            p.checkpoint_s = strtod(v, &end);
            if (*end || !(p.checkpoint_s > 0)) {
                fprintf(stderr, "mediagrep index: --checkpoint: '%s' is not a positive number\n", v);
                goto done;
            }
        } else if (!strcmp(a, "--hang-timeout")) {
            NEED_VALUE();
            char *end;
            p.hang_s = strtod(v, &end);
            if (*end || !(p.hang_s >= 0)) {
                fprintf(stderr, "mediagrep index: --hang-timeout: '%s' is not a number of seconds\n", v);
                goto done;
            }
            if (p.hang_s > 0 && p.hang_s < 4 * p.heartbeat_s) p.heartbeat_s = p.hang_s / 4;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) p.progress = 0;
        else if (!strcmp(a, "--progress")) {
            NEED_VALUE();
            if (!strcmp(v, "bar")) p.progress = 3;
            else if (!strcmp(v, "lines")) p.progress = 2;
            else {
                fprintf(stderr, "mediagrep index: --progress: bar or lines\n");
                goto done;
            }
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--watch")) watch = 1;
        else if (!strcmp(a, "--poll")) {
            NEED_VALUE();
            char *end;
            wpar.poll_s = strtod(v, &end);
            if (*end || !(wpar.poll_s > 0) || wpar.poll_s > 86400 * 7) {
                fprintf(stderr, "mediagrep index: --poll: '%s' is not a number of seconds (> 0)\n", v);
                goto done;
            }
            poll_given = 1;
        } else if (!strcmp(a, "--debounce")) {
            if ((wpar.debounce_ms = mg_cli_int(a, v, 0, 3600000)) < 0) goto done;
            debounce_given = 1;
            i++;
        }
        else if (!strcmp(a, "--ocr")) ocr_on = 1;
        else if (!strcmp(a, "--no-ocr")) ocr_on = 0;
        else if (!strcmp(a, "--drop-text")) drop_text = 1;
        else if (!strcmp(a, "--speech")) speech_on = 1;
        else if (!strcmp(a, "--no-speech")) speech_on = 0;
        else if (!strcmp(a, "--asr-model")) { NEED_VALUE(); asr_model = v; }
        else if (!strcmp(a, "--language")) { NEED_VALUE(); asr_lang = v; }
        else if (!strcmp(a, "--asr-precision")) { NEED_VALUE(); asr_prec = v; }
        else if (!strcmp(a, "--asr-device")) { NEED_VALUE(); asr_device = v; }
        else if (!strcmp(a, "--asr-batch")) { if ((asr_batch = mg_cli_int(a, v, 1, 256)) < 0) goto done; i++; }
        else if (!strcmp(a, "--asr-threads")) { if ((asr_threads = mg_cli_int(a, v, 1, 1024)) < 0) goto done; i++; }
        else if (!strcmp(a, "--ocr-lang")) { NEED_VALUE(); ocr_lang = v; }
        else if (!strcmp(a, "--ocr-device")) { NEED_VALUE(); ocr_device = v; }
        else if (!strcmp(a, "--ocr-threads")) { if ((ocr_threads = mg_cli_int(a, v, 1, 256)) < 0) goto done; i++; }
        else if (!strcmp(a, "--ocr-max-side")) { if ((ocr_max_side = mg_cli_int(a, v, 256, 16384)) < 0) goto done; i++; }
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mediagrep index: unknown option '%s' (see --help)\n", a);
            goto done;
        } else roots[n_roots++] = a;
#undef NEED_VALUE
    }
    if (!n_roots) {
        usage(stderr);
        goto done;
    }
    if ((poll_given || debounce_given) && !watch) {
        fprintf(stderr, "mediagrep index: --poll and --debounce go with --watch\n");
        goto done;
    }
    if (drop_text && ocr_on != 0 && speech_on != 0) {
        fprintf(stderr, "mediagrep index: --drop-text goes with --no-ocr or --no-speech\n");
        goto done;
    }
    if (drop_text && ocr_on == 0 && speech_on == 0) {
        fprintf(stderr, "mediagrep index: --drop-text deletes one analyzer's text at a time: --no-ocr or --no-speech\n");
        goto done;
    }
    /* a path that exists nowhere is a usage error, before any store is made */
    {
        int exists = 0;
        for (int i = 0; i < n_roots; i++) {
            struct stat sb;
            if (stat(roots[i], &sb) == 0) exists = 1;
            else fprintf(stderr, "mediagrep index: %s: %s\n", roots[i], strerror(errno));
        }
        if (!exists) {
            fprintf(stderr, "mediagrep index: none of the paths given exists; nothing was indexed%s\n",
                    n_roots > 1 ? "" : " (check the path)");
            rc = 2;
            goto done;
        }
    }
    p.roots = roots;
    p.n_roots = n_roots;
    p.walk.include = n_inc ? inc : NULL;
    p.walk.exclude = n_exc ? exc : NULL;
    if (exact) {
        p.media.image = mg_image_exact_params();
        p.media.image.shrink_target = 0;
        p.media.video.target_short_side = 0;
    } else {
        p.media.image.shrink_target = 1;      /* the indexer sets the model's size */
        p.media.video.target_short_side = 1;
    }
    p.log = stderr;

    /* started by mpirun or srun: one rank of a distributed run (dist/dist.h) */
    mg_dist *dist = NULL;
    int rank = 0;
    {
        char launcher[64];
        if (mg_dist_launched(launcher, sizeof launcher)) {
            mg_error de = {0};
            if (mg_dist_open(&dist, &de) != MG_OK) {
                fprintf(stderr, "mediagrep index: started by %s, but MPI cannot start: %s\n", launcher, de.msg);
                rc = 2;
                goto done;
            }
            rank = mg_dist_rank(dist);
            if (rank > 0) { /* only rank 0 prints */
                p.progress = 0;
                json = 0;
            }
            if (mg_dist_size(dist) > 1) p.dist = dist;
        }
    }
    if (watch && p.dist) {
        fprintf(stderr, "mediagrep index: --watch runs in one process, not under MPI\n");
        rc = 2;
        goto done;
    }
    static int slow_ms;
    {
        const char *t = getenv("MEDIAGREP_TEST_SLOW");
        int r, ms;
        if (t && sscanf(t, "%d:%d", &r, &ms) == 2 && (r == rank || r < 0) && ms > 0) { /* -1: every rank */
            slow_ms = ms;
            p.job_hook = slow_hook;
            p.job_hook_arg = &slow_ms;
        }
    }

    {
        /* MEDIAGREP_BENCH_SYNTHETIC=F (bench/dist_capacity.sh): every rank
         * answers each job with F made-up vectors instead of decoding */
        const char *t = getenv("MEDIAGREP_BENCH_SYNTHETIC");
        int f = t ? atoi(t) : 0;
        if (f > 0) {
            p.synthetic_frames = f > 100000 ? 100000 : f;
            if (rank <= 0)
                fprintf(stderr, "mediagrep index: MEDIAGREP_BENCH_SYNTHETIC=%d: no file is decoded or analyzed; the "
                                "store gets made-up vectors (a benchmark of the writer, not meaningful)\n",
                        p.synthetic_frames);
        }
    }

    mg_store *store = NULL;
    mg_model *model = NULL;
    mg_model *models[MG_MAX_DEVICES] = {NULL};
    int n_models = 1;
    mg_device_name devs[MG_MAX_DEVICES];
    {
        char notice[256];
        mg_error derr = {0};
        int nd = mg_backend_device_list(device, devs, MG_MAX_DEVICES, notice, sizeof notice, &derr);
        if (nd < 0) {
            fprintf(stderr, "mediagrep index: --device: %s\n", derr.msg);
            rc = 2;
            goto done;
        }
        if (notice[0]) fprintf(stderr, "mediagrep: %s\n", notice);
        n_models = nd;
    }
    /* The encoder always uses every CPU: --threads sizes the decoders only.
     * (The backend's thread count decides how GEMMs are split, which moves
     * the last bits of the vectors; a resumed run must match the first.) */
    mg_cli_model_opts mo = {0, 0, 1, NULL, 0, NULL, 0, precision, 0, devs[0]};
    char mdir[PATH_MAX];
    int random = 0;
    mo.dir_out = mdir;
    mo.dir_cap = sizeof mdir;
    mo.random_out = &random;
    /* what the store has enabled (rank 0 reads it; the others get it from rank 0) */
    char cur_an[1024] = "{}", fp[128] = "";
    const char *not_ready = NULL; /* a worker that cannot go on says why */
    if (rank == 0) {
        rc = mg_cli_open_store_model(store_dir, model_arg, 1, fp16, &mo, &store, &model);
        if (rc) {
            rc = mg_cli_exit_code(rc);
            if (p.dist) mg_cli_dist_spec_send(dist, rc, NULL, NULL, NULL);
            goto done;
        }
        mg_error ae = {0};
        if (mg_analyzers_get(mg_store_catalog(store), cur_an, sizeof cur_an, &ae) != MG_OK ||
            (p.dist && mg_store_fingerprint(mdir, fp, sizeof fp, &ae) != MG_OK)) {
            fprintf(stderr, "mediagrep index: %s\n", ae.msg);
            mg_model_close(model);
            mg_store_close(store);
            rc = 1;
            if (p.dist) mg_cli_dist_spec_send(dist, rc, NULL, NULL, NULL);
            goto done;
        }
        if (p.dist && (rc = mg_cli_dist_spec_send(dist, 0, mdir, fp, cur_an))) {
            mg_model_close(model);
            mg_store_close(store);
            goto done;
        }
    } else {
        char want_fp[128];
        if ((rc = mg_cli_dist_spec_recv(dist, mdir, sizeof mdir, want_fp, sizeof want_fp, cur_an, sizeof cur_an)))
            goto done; /* rank 0 could not start: its exit code */
        mo.dir_out = NULL;
        mo.quiet_random = 1;
        mg_error fe = {0};
        if (mg_cli_open_model_ex(mdir, &mo, &model) != MG_OK) {
            not_ready = "cannot load the model (see its error output)";
        } else if (mg_store_fingerprint(mdir, fp, sizeof fp, &fe) != MG_OK) {
            not_ready = "cannot read the model's files";
        }
        if (not_ready) {
            rc = mg_cli_dist_ready(dist, not_ready, fp, "", p.hang_s);
            mg_model_close(model);
            if (!rc) rc = 2;
            goto done;
        }
    }
    /* the other devices: the same checkpoint, one model (copy of the weights) each */
    models[0] = model;
    for (int i = 1; i < n_models; i++) {
        mg_cli_model_opts mo2 = mo;
        mo2.load_text = 0;
        mo2.quiet_random = 1;
        mo2.dir_out = NULL;
        mo2.random_out = NULL;
        mo2.device = devs[i];
        if ((rc = mg_cli_open_model_ex(mdir, &mo2, &models[i])) != MG_OK) {
            for (int k = 1; k < i; k++) mg_model_close(models[k]);
            mg_model_close(model);
            mg_store_close(store);
            rc = mg_cli_exit_code(rc);
            goto done;
        }
    }
    if (n_models > 1) {
        p.models = models;
        p.n_models = n_models;
    }
    /* analyzers besides the image encoder: what the store has enabled, changed by the flags */
    if ((rc = setup_ocr(cur_an, ocr_on, ocr_lang, ocr_max_side, ocr_threads, ocr_device, &ocr_an, an_json,
                        sizeof an_json))) {
        for (int k = 1; k < n_models; k++) mg_model_close(models[k]);
        mg_model_close(model);
        mg_store_close(store);
        goto done;
    }
    if ((rc = setup_speech(cur_an, speech_on, asr_model, asr_lang, asr_batch, asr_threads, asr_prec, asr_device,
                           &whisper, &speech_an, speech_frag, sizeof speech_frag))) {
        mg_analyzer_close(ocr_an);
        for (int k = 1; k < n_models; k++) mg_model_close(models[k]);
        mg_model_close(model);
        mg_store_close(store);
        goto done;
    }
    mg_analyzer *ans[2];
    int n_ans = 0;
    if (ocr_an) ans[n_ans++] = ocr_an;
    if (speech_an) ans[n_ans++] = speech_an;
    if (n_ans) {
        p.analyzers = ans;
        p.n_analyzers = n_ans;
    }
    if (speech_frag[0]) { /* {"ocr":{...}} + "speech":{...} */
        size_t l = strlen(an_json);
        if (l >= 2 && l + strlen(speech_frag) + 2 < sizeof an_json) {
            snprintf(an_json + l - 1, sizeof an_json - (l - 1), "%s%s}", l > 2 ? "," : "", speech_frag);
        }
    }
    p.analyzers_json = an_json;
    if (drop_text) p.drop_text_of = ocr_on == 0 ? "ocr" : "speech";
    /* the run's configuration, recorded with a hash in the runs table */
    json_object *cfg = json_object_new_object();
    json_object *jr = json_object_new_array();
    for (int i = 0; i < n_roots; i++) json_object_array_add(jr, json_object_new_string(roots[i]));
    json_object_object_add(cfg, "roots", jr);
    json_object_object_add(cfg, "model", json_object_new_string(mdir));
    json_object_object_add(cfg, "batch", json_object_new_int(p.batch ? p.batch : 32));
    json_object_object_add(cfg, "precision", json_object_new_string(mg_precision_name(mg_model_precision(model, 1))));
    json_object_object_add(cfg, "threads", json_object_new_int(p.threads ? p.threads : mg_cpu_count()));
    json_object_object_add(cfg, "video_policy", json_object_new_int((int)p.media.video.policy));
    json_object_object_add(cfg, "frames", json_object_new_int(p.media.video.frames));
    json_object_object_add(cfg, "every_s", json_object_new_double(p.media.video.every_s));
    json_object_object_add(cfg, "exact_preprocess", json_object_new_boolean(exact));
    json_object_object_add(cfg, "hidden", json_object_new_boolean(p.walk.hidden));
    json_object_object_add(cfg, "follow_symlinks", json_object_new_boolean(p.walk.follow_symlinks));
    json_object *ji = json_object_new_array(), *je = json_object_new_array();
    for (int i = 0; i < n_inc; i++) json_object_array_add(ji, json_object_new_string(inc[i]));
    for (int i = 0; i < n_exc; i++) json_object_array_add(je, json_object_new_string(exc[i]));
    json_object_object_add(cfg, "include", ji);
    json_object_object_add(cfg, "exclude", je);
    json_object_object_add(cfg, "index_type", json_object_new_string(mg_vindex_type_name(p.index.type)));
    json_object_object_add(cfg, "analyzers", json_tokener_parse(an_json));
    p.config_json = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN);

    p.cancel = &g_cancel;
    /* every rank ready with the same model and analyzers, or none starts */
    if (p.dist) {
        rc = rank == 0 ? mg_cli_dist_gather(dist, 0, fp, an_json, p.hang_s)
                       : mg_cli_dist_ready(dist, NULL, fp, an_json, p.hang_s);
        if (rc) {
            close_run(cfg, ocr_an, speech_an, whisper, models, n_models, model, store);
            goto done;
        }
    }
    if (rank > 0) { /* a worker: its share of the files, then its exit status */
        mg_index_stats st;
        mg_error err = {0};
        rc = mg_index_run(model, NULL, &p, &st, &err);
        if (rc && rc != MG_EINTERRUPTED) fprintf(stderr, "mediagrep index: rank %d: %s\n", rank, err.msg);
        close_run(cfg, ocr_an, speech_an, whisper, models, n_models, model, NULL);
        mg_index_stats_free(&st);
        rc = rc ? mg_cli_exit_code(rc) : 0;
        goto done;
    }
    if (random)
        fprintf(stderr, "mediagrep: indexing with a RANDOM-WEIGHT model: the store works, but its search results "
                        "are not meaningful\n");
    if (watch) { /* the first run, then one per batch of changes, until a signal */
        watch_print wpr = {mg_store_dir(store), json, p.progress};
        mg_watch_stats ws;
        mg_error err = {0};
        if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) == 0) {
            g_wake_fd = wake[1];
            wpar.wake_fd = wake[0];
        }
        const char *lim = getenv("MEDIAGREP_TEST_MAX_WATCHES"); /* tests: the inotify limit reached early */
        if (lim) wpar.max_watches = atoll(lim);
        wpar.quiet = !p.progress;
        wpar.log = stderr;
        wpar.on_pass = on_watch_pass;
        wpar.on_pass_arg = &wpr;
        rc = mg_watch_run(model, store, &p, &wpar, &ws, &err);
        g_wake_fd = -1;
        if (rc) fprintf(stderr, "mediagrep index: %s\n", err.msg);
        else if (p.progress)
            fprintf(stderr, "mediagrep index: stopped watching after %lld runs (%lld frames encoded, %lld files "
                            "moved or copied without encoding)\n",
                    (long long)ws.passes, (long long)ws.frames, (long long)ws.files_reused);
        close_run(cfg, ocr_an, speech_an, whisper, models, n_models, model, store);
        rc = rc ? mg_cli_exit_code(rc) : 0;
        goto done;
    }
    mg_index_stats st;
    mg_error err = {0};
    rc = mg_index_run(model, store, &p, &st, &err);
    if (rc && rc != MG_EINTERRUPTED) fprintf(stderr, "mediagrep index: %s\n", err.msg);
    if (json || p.progress || (rc && rc != MG_EINTERRUPTED)) print_summary(&st, mg_store_dir(store), rc, json);
    if (!p.progress && !rc) { /* --quiet: what was kept or withheld still says so */
        for (int i = 0; i < st.n_root_reports; i++)
            if (st.roots[i].status != MG_ROOT_AVAILABLE)
                fprintf(stderr, "mediagrep index: unavailable: %s (%lld files kept, offline)\n", st.roots[i].reason,
                        (long long)st.roots[i].files);
        if (st.removals_withheld)
            fprintf(stderr, "mediagrep index: %lld removals withheld (more than the threshold gone; "
                            "--allow-mass-delete)\n", (long long)st.removals_withheld);
    }
    close_run(cfg, ocr_an, speech_an, whisper, models, n_models, model, store);
    rc = rc ? mg_cli_exit_code(rc)
            : st.roots_unavailable || st.files_kept ? 6
            : st.removals_withheld ? 7
            : st.files_failed || analyzer_failures(&st) ? 3 : 0;
    mg_index_stats_free(&st);
done:
    if (wake[0] >= 0) close(wake[0]);
    if (wake[1] >= 0) close(wake[1]);
    mg_dist_close(dist);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(roots);
    free(inc);
    free(exc);
    return rc;
}
