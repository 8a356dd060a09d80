/*
 * family.c - what kind of model a directory or a config.json holds (CLIP or
 * Whisper, from model_type / architectures / the keys), whether a model
 * directory has every file its family needs, and the resolution of a
 * --model argument (a directory or a pulled name) for a family. Split from
 * pull.c (the downloader), which decides what to fetch with the same
 * scanner.
 */
#include "hub/pull.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MG_PATH_MAX 4096

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}
/* ------------------------------------------------------------------------ */
/* model families                                                           */
/* ------------------------------------------------------------------------ */

const char *mg_family_name(mg_family f) {
    return f == MG_FAMILY_CLIP ? "clip" : f == MG_FAMILY_WHISPER ? "whisper" : "unknown";
}

/* A shallow JSON scanner: enough to walk a top-level object's keys and skip
 * their values (strings are kept raw, escapes included). */
typedef struct {
    const char *p, *end;
} jscan;

static void js_ws(jscan *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

/* A string at j->p; copies at most n-1 raw bytes into out (if non-NULL). */
static int js_str(jscan *j, char *out, size_t n) {
    if (j->p >= j->end || *j->p != '"') return -1;
    size_t o = 0;
    for (j->p++; j->p < j->end && *j->p != '"'; j->p++) {
        if ((unsigned char)*j->p < 0x20) return -1;
        if (*j->p == '\\') {
            if (j->end - j->p < 2) return -1;
            if (out && o + 1 < n) out[o++] = *j->p;
            j->p++;
        }
        if (out && o + 1 < n) out[o++] = *j->p;
    }
    if (j->p >= j->end) return -1;
    j->p++;
    if (out && n) out[o] = '\0';
    return 0;
}

/* Skips one value (nesting is counted, not matched bracket by bracket). */
static int js_skip(jscan *j) {
    js_ws(j);
    if (j->p >= j->end) return -1;
    if (*j->p == '"') return js_str(j, NULL, 0);
    if (*j->p == '{' || *j->p == '[') {
        int depth = 0;
        while (j->p < j->end) {
            char ch = *j->p;
            if (ch == '"') {
                if (js_str(j, NULL, 0)) return -1;
                continue;
            }
            if ((ch == '{' || ch == '[') && ++depth > 512) return -1;
            if ((ch == '}' || ch == ']') && --depth == 0) {
                j->p++;
                return 0;
            }
            j->p++;
        }
        return -1;
    }
    const char *s = j->p;
    while (j->p < j->end && (isalnum((unsigned char)*j->p) || strchr("+-.", *j->p))) j->p++;
    return j->p > s ? 0 : -1;
}

int mg_model_family_of_config(const char *json, size_t len, mg_family *out, char *model_type,
                              size_t mt_n, mg_error *err) {
    MG_ASSERT(out);
    *out = MG_FAMILY_UNKNOWN;
    if (model_type && mt_n) model_type[0] = '\0';
    if (!json) return mg_err_set(err, MG_EINVAL, "config.json: no text");
    jscan j = {json, json + len};
    char key[64], mt[64] = "", arch[64] = "";
    int clip_keys = 0, n_mels = 0, n_audio_ctx = 0;
    js_ws(&j);
    if (j.p >= j.end || *j.p != '{') return mg_err_set(err, MG_EFORMAT, "config.json: not a JSON object");
    j.p++;
    js_ws(&j);
    if (j.p < j.end && *j.p == '}') j.p++;
    else for (;;) {
        js_ws(&j);
        if (js_str(&j, key, sizeof key)) goto bad;
        js_ws(&j);
        if (j.p >= j.end || *j.p != ':') goto bad;
        j.p++;
        js_ws(&j);
        if (!strcmp(key, "model_type") && j.p < j.end && *j.p == '"') {
            if (js_str(&j, mt, sizeof mt)) goto bad;
        } else if (!strcmp(key, "architectures") && j.p < j.end && *j.p == '[') {
            jscan a = {j.p + 1, j.end};
            js_ws(&a);
            if (a.p < a.end && *a.p == '"' && js_str(&a, arch, sizeof arch)) goto bad;
            if (js_skip(&j)) goto bad;
        } else {
            clip_keys |= !strcmp(key, "text_config") || !strcmp(key, "vision_config") ||
                         !strcmp(key, "text_config_dict") || !strcmp(key, "vision_config_dict");
            n_mels |= !strcmp(key, "n_mels");
            n_audio_ctx |= !strcmp(key, "n_audio_ctx");
            if (js_skip(&j)) goto bad;
        }
        js_ws(&j);
        if (j.p < j.end && *j.p == ',') { j.p++; continue; }
        if (j.p < j.end && *j.p == '}') { j.p++; break; }
        goto bad;
    }
    if (model_type && mt_n) snprintf(model_type, mt_n, "%s", mt);
    if (mt[0]) {
        *out = !strcmp(mt, "clip") ? MG_FAMILY_CLIP
             : !strcmp(mt, "whisper") ? MG_FAMILY_WHISPER : MG_FAMILY_UNKNOWN;
    } else if (!strncmp(arch, "CLIP", 4) || (!arch[0] && clip_keys)) {
        *out = MG_FAMILY_CLIP;
    } else if (!strncmp(arch, "Whisper", 7) || (!arch[0] && n_mels && n_audio_ctx)) {
        *out = MG_FAMILY_WHISPER;
    }
    return MG_OK;
bad:
    return mg_err_set(err, MG_EFORMAT, "config.json: invalid JSON near byte %lld",
                      (long long)(j.p - json));
}

int mg_model_family(const char *dir, mg_family *out, mg_error *err) {
    MG_ASSERT(dir && out);
    *out = MG_FAMILY_UNKNOWN;
    char path[MG_PATH_MAX + 16];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return mg_err_set(err, MG_ELIMIT, "%s: path too long", dir);
    if (!is_file(path)) return mg_err_set(err, MG_ENOTFOUND, "%s: no config.json", dir);
    char *txt = NULL;
    size_t len = 0;
    int rc = mg_read_file(path, 1 << 20, &txt, &len, err);
    if (rc) return rc;
    rc = mg_model_family_of_config(txt, len, out, NULL, 0, err);
    free(txt);
    if (rc) mg_err_prefix(err, "%s", dir);
    return rc;
}

static int has_file(const char *dir, const char *file) {
    char path[MG_PATH_MAX + 64];
    return snprintf(path, sizeof path, "%s/%s", dir, file) < (int)sizeof path && is_file(path);
}

int mg_model_complete(const char *dir, mg_family f, const char **missing_or_null) {
    const char *miss = NULL;
    if (f == MG_FAMILY_CLIP) {
        for (int i = 0; i < MG_PULL_NFILES && !miss; i++)
            if (!has_file(dir, mg_pull_files[i])) miss = mg_pull_files[i];
    } else if (f == MG_FAMILY_WHISPER) {
        if (!has_file(dir, "config.json")) {
            miss = "config.json";
        } else if (!has_file(dir, "tokenizer.json") &&
                   !(has_file(dir, "vocab.json") && has_file(dir, "merges.txt"))) {
            miss = "tokenizer.json (or vocab.json + merges.txt)";
            char pat[MG_PATH_MAX + 16];
            glob_t g;
            if (snprintf(pat, sizeof pat, "%s/*.tiktoken", dir) < (int)sizeof pat &&
                glob(pat, 0, NULL, &g) == 0) {
                if (g.gl_pathc > 0) miss = NULL;
                globfree(&g);
            }
        }
        if (!miss && !has_file(dir, "model.safetensors")) miss = "model.safetensors";
    } else {
        miss = has_file(dir, "config.json") ? "a config.json of a CLIP or Whisper model" : "config.json";
    }
    if (missing_or_null) *missing_or_null = miss;
    return miss == NULL;
}

int mg_resolve_model(const char *arg, const char *models_dir_or_null, char *out_dir, size_t out_n,
                     mg_error *err) {
    return mg_resolve_model_family(arg, models_dir_or_null, MG_FAMILY_CLIP, out_dir, out_n, err);
}

int mg_resolve_model_family(const char *arg, const char *models_dir_or_null, mg_family want,
                            char *out_dir, size_t out_n, mg_error *err) {
    mg_err_clear(err);
    if (!arg || !*arg) return mg_err_set(err, MG_EINVAL, "empty --model argument");
    char path[MG_PATH_MAX + 32];
    if (is_dir(arg)) {
        snprintf(path, sizeof path, "%s/config.json", arg);
        if (is_file(path)) {
            if (snprintf(out_dir, out_n, "%s", arg) >= (int)out_n)
                return mg_err_set(err, MG_ELIMIT, "%s: path does not fit the output buffer", arg);
            return MG_OK;
        }
    }
    char dir[MG_PATH_MAX];
    mg_error nerr = {0};
    int named = 0;
    if (mg_model_name_check(arg, &nerr) == MG_OK) {
        if (mg_model_local_dir(arg, models_dir_or_null, dir, sizeof dir, &nerr) == MG_OK) named = 1;
    } else if (strstr(arg, "--") && !strchr(arg, '/') && arg[0] != '.' && arg[0] != '-') {
        /* the on-disk form, e.g. openai--clip-vit-base-patch32 */
        char def[MG_PATH_MAX];
        const char *md = models_dir_or_null ? models_dir_or_null : mg_models_dir(def, sizeof def);
        if (snprintf(dir, sizeof dir, "%s/%s", md, arg) < (int)sizeof dir) named = 1;
    }
    if (named && is_dir(dir)) {
        mg_family fam = MG_FAMILY_UNKNOWN;
        mg_error ferr = {0};
        mg_model_family(dir, &fam, &ferr); /* unreadable: judged as want (or CLIP) */
        if (want != MG_FAMILY_UNKNOWN && fam != MG_FAMILY_UNKNOWN && fam != want)
            return mg_err_set(err, MG_EUNSUPPORTED,
                              "model '%s' in %s is a %s model, not a %s model%s%s%s", arg, dir,
                              fam == MG_FAMILY_WHISPER ? "Whisper (speech to text)" : "CLIP",
                              want == MG_FAMILY_WHISPER ? "Whisper" : "CLIP",
                              fam == MG_FAMILY_WHISPER ? "; use it with `mediagrep transcribe --model " : "",
                              fam == MG_FAMILY_WHISPER ? arg : "", fam == MG_FAMILY_WHISPER ? "`" : "");
        if (fam == MG_FAMILY_UNKNOWN) fam = want != MG_FAMILY_UNKNOWN ? want : MG_FAMILY_CLIP;
        const char *missing = NULL;
        if (!mg_model_complete(dir, fam, &missing))
            return mg_err_set(err, MG_ENOTFOUND,
                              "model '%s' in %s is incomplete (no %s); run `mediagrep model pull %s` "
                              "again to finish it", arg, dir, missing, arg);
        if (snprintf(out_dir, out_n, "%s", dir) >= (int)out_n)
            return mg_err_set(err, MG_ELIMIT, "%s: path does not fit the output buffer", dir);
        return MG_OK;
    }
    if (is_dir(arg))
        return mg_err_set(err, MG_ENOTFOUND, "%s: directory has no config.json (not a model directory)", arg);
    if (named)
        return mg_err_set(err, MG_ENOTFOUND,
                          "model '%s' not found: no such directory and not pulled into %s; run "
                          "`mediagrep model pull %s` first", arg, dir, arg);
    return mg_err_set(err, MG_ENOTFOUND,
                      "model '%s' not found: no such directory, and not a valid model name (%s)",
                      arg, nerr.msg);
}
