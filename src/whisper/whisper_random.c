/*
 * whisper_random.c - writes a Whisper model with deterministic random
 * weights in the real Hugging Face layout (config.json as transformers'
 * WhisperConfig, generation_config.json, model.safetensors with HF tensor
 * names stored as F16, and the tokenizer files), for the offline fallback
 * ("random weights: results are not meaningful") and for benchmarks at the
 * real sizes. Values come from mg_random_tensor (model/random_model.c), a
 * pure function of the tensor name and the seed.
 */
#include "whisper/whisper.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/clip_internal.h" /* mg_random_tensor */
#include "model/safetensors.h"

typedef struct {
    char name[160];
    int ndim;
    int64_t shape[3];
} wspec;

static int add(wspec *s, int *n, int cap, const char *name, int ndim, int64_t a, int64_t b, int64_t c) {
    if (*n >= cap) return -1;
    snprintf(s[*n].name, sizeof s[*n].name, "%s", name);
    s[*n].ndim = ndim;
    s[*n].shape[0] = a;
    s[*n].shape[1] = b;
    s[*n].shape[2] = c;
    (*n)++;
    return 0;
}

static int specs(const mg_whisper_dims *d, wspec *s, int cap) {
    int n = 0;
    char b[160];
    const int64_t Da = d->n_audio_state, Dt = d->n_text_state;
    add(s, &n, cap, "model.encoder.conv1.weight", 3, Da, d->n_mels, 3);
    add(s, &n, cap, "model.encoder.conv1.bias", 1, Da, 0, 0);
    add(s, &n, cap, "model.encoder.conv2.weight", 3, Da, Da, 3);
    add(s, &n, cap, "model.encoder.conv2.bias", 1, Da, 0, 0);
    add(s, &n, cap, "model.encoder.embed_positions.weight", 2, d->n_audio_ctx, Da, 0);
    for (int dec = 0; dec < 2; dec++) {
        int layers = dec ? d->n_text_layer : d->n_audio_layer;
        int64_t D = dec ? Dt : Da, F = dec ? d->n_text_ffn : d->n_audio_ffn;
        const char *stack = dec ? "decoder" : "encoder";
        for (int i = 0; i < layers; i++) {
            const char *att[2] = {"self_attn", "encoder_attn"};
            for (int a = 0; a < 1 + dec; a++) {
                const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
                for (int p = 0; p < 4; p++) {
                    int64_t in = (a == 1 && (p == 1 || p == 2)) ? Da : D;
                    snprintf(b, sizeof b, "model.%s.layers.%d.%s.%s.weight", stack, i, att[a], proj[p]);
                    add(s, &n, cap, b, 2, D, in, 0);
                    if (p != 1) {
                        snprintf(b, sizeof b, "model.%s.layers.%d.%s.%s.bias", stack, i, att[a], proj[p]);
                        add(s, &n, cap, b, 1, D, 0, 0);
                    }
                }
                snprintf(b, sizeof b, "model.%s.layers.%d.%s_layer_norm.weight", stack, i, att[a]);
                add(s, &n, cap, b, 1, D, 0, 0);
                snprintf(b, sizeof b, "model.%s.layers.%d.%s_layer_norm.bias", stack, i, att[a]);
                add(s, &n, cap, b, 1, D, 0, 0);
            }
            snprintf(b, sizeof b, "model.%s.layers.%d.fc1.weight", stack, i);
            add(s, &n, cap, b, 2, F, D, 0);
            snprintf(b, sizeof b, "model.%s.layers.%d.fc1.bias", stack, i);
            add(s, &n, cap, b, 1, F, 0, 0);
            snprintf(b, sizeof b, "model.%s.layers.%d.fc2.weight", stack, i);
            add(s, &n, cap, b, 2, D, F, 0);
            snprintf(b, sizeof b, "model.%s.layers.%d.fc2.bias", stack, i);
            add(s, &n, cap, b, 1, D, 0, 0);
            snprintf(b, sizeof b, "model.%s.layers.%d.final_layer_norm.weight", stack, i);
            add(s, &n, cap, b, 1, D, 0, 0);
            snprintf(b, sizeof b, "model.%s.layers.%d.final_layer_norm.bias", stack, i);
            add(s, &n, cap, b, 1, D, 0, 0);
        }
        snprintf(b, sizeof b, "model.%s.layer_norm.weight", stack);
        add(s, &n, cap, b, 1, D, 0, 0);
        snprintf(b, sizeof b, "model.%s.layer_norm.bias", stack);
        add(s, &n, cap, b, 1, D, 0, 0);
    }
    add(s, &n, cap, "model.decoder.embed_tokens.weight", 2, d->n_vocab, Dt, 0);
    add(s, &n, cap, "model.decoder.embed_positions.weight", 2, d->n_text_ctx, Dt, 0);
    return n;
}

static int copy_file(const char *src, const char *dst, mg_error *err) {
    FILE *in = fopen(src, "rb");
    if (!in) return mg_err_set(err, MG_EIO, "%s: cannot read", src);
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return mg_err_set(err, MG_EIO, "%s: cannot write", dst);
    }
    char buf[65536];
    size_t k;
    int rc = MG_OK;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k) {
            rc = mg_err_set(err, MG_EIO, "%s: write failed (disk full?)", dst);
            break;
        }
    fclose(in);
    if (fclose(out) && !rc) rc = mg_err_set(err, MG_EIO, "%s: write failed (disk full?)", dst);
    return rc;
}

static int write_text(const char *path, const char *text, mg_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return mg_err_set(err, MG_EIO, "%s: cannot write", path);
    int bad = fputs(text, f) < 0;
    if (fclose(f) || bad) return mg_err_set(err, MG_EIO, "%s: write failed (disk full?)", path);
    return MG_OK;
}

int mg_whisper_write_random(const char *dir, const mg_whisper_dims *d, uint64_t seed, const char *tokenizer_dir,
                            mg_error *err) {
    int rc = mg_mkdir_p(dir, err);
    if (rc) return rc;
    mg_wtok_specials sp;
    if ((rc = mg_wtok_layout(d->n_vocab, &sp, err))) return rc;
    char path[4200], buf[4096];
    /* config.json as transformers writes a WhisperConfig */
    snprintf(buf, sizeof buf,
             "{\n  \"_name_or_path\": \"mediagrep-random-whisper\",\n  \"architectures\": [\"WhisperForConditionalGeneration\"],\n"
             "  \"model_type\": \"whisper\",\n  \"activation_function\": \"gelu\",\n  \"d_model\": %d,\n"
             "  \"encoder_layers\": %d,\n  \"encoder_attention_heads\": %d,\n  \"encoder_ffn_dim\": %d,\n"
             "  \"decoder_layers\": %d,\n  \"decoder_attention_heads\": %d,\n  \"decoder_ffn_dim\": %d,\n"
             "  \"num_mel_bins\": %d,\n  \"max_source_positions\": %d,\n  \"max_target_positions\": %d,\n"
             "  \"vocab_size\": %d,\n  \"scale_embedding\": false,\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n"
             "  \"pad_token_id\": %d,\n  \"decoder_start_token_id\": %d,\n  \"tie_word_embeddings\": true,\n"
             "  \"torch_dtype\": \"float16\",\n  \"mediagrep_random_weights\": true\n}\n",
             d->n_text_state, d->n_audio_layer, d->n_audio_head, d->n_audio_ffn, d->n_text_layer, d->n_text_head,
             d->n_text_ffn, d->n_mels, d->n_audio_ctx, d->n_text_ctx, d->n_vocab, sp.eot, sp.eot, sp.eot, sp.sot);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = write_text(path, buf, err))) return rc;
    snprintf(buf, sizeof buf,
             "{\n  \"decoder_start_token_id\": %d,\n  \"eos_token_id\": %d,\n  \"pad_token_id\": %d,\n"
             "  \"no_timestamps_token_id\": %d,\n  \"is_multilingual\": %s,\n  \"max_length\": %d,\n"
             "  \"begin_suppress_tokens\": [220, %d]\n}\n",
             sp.sot, sp.eot, sp.eot, sp.no_timestamps, sp.multilingual ? "true" : "false", d->n_text_ctx, sp.eot);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if ((rc = write_text(path, buf, err))) return rc;
    /* tokenizer files */
    static const char *const files[] = {"tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json",
                                        "tokenizer_config.json", "special_tokens_map.json",
                                        "preprocessor_config.json", "normalizer.json"};
    int copied = 0;
    for (size_t i = 0; tokenizer_dir && i < sizeof files / sizeof files[0]; i++) {
        char src[4200];
        struct stat st;
        snprintf(src, sizeof src, "%s/%s", tokenizer_dir, files[i]);
        if (stat(src, &st)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if ((rc = copy_file(src, path, err))) return rc;
        copied++;
    }
    if (tokenizer_dir) {
        char pat[4200];
        glob_t g;
        snprintf(pat, sizeof pat, "%s/*.tiktoken", tokenizer_dir);
        if (glob(pat, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc && !rc; i++) {
                const char *base = strrchr(g.gl_pathv[i], '/');
                snprintf(path, sizeof path, "%s/%s", dir, base ? base + 1 : g.gl_pathv[i]);
                rc = copy_file(g.gl_pathv[i], path, err);
                copied++;
            }
        }
        globfree(&g);
        if (rc) return rc;
    }
    if (!copied)
        return mg_err_set(err, MG_ENOTFOUND, "%s: no Whisper tokenizer files to copy (tokenizer.json, vocab.json + "
                          "merges.txt, or *.tiktoken)", tokenizer_dir ? tokenizer_dir : "(none)");
    /* weights */
    int cap = 64 + 40 * (d->n_audio_layer + d->n_text_layer);
    wspec *s = calloc((size_t)cap, sizeof *s);
    mg_st_write_tensor *t = calloc((size_t)cap, sizeof *t);
    if (!s || !t) {
        free(s);
        free(t);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    int n = specs(d, s, cap);
    for (int i = 0; i < n && !rc; i++) {
        size_t numel = 1;
        for (int k = 0; k < s[i].ndim; k++) numel *= (size_t)s[i].shape[k];
        float *data = malloc(numel * sizeof(float));
        if (!data) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory for '%s'", s[i].name);
            break;
        }
        mg_random_tensor(s[i].name, s[i].ndim, s[i].shape, seed, data);
        t[i].name = s[i].name;
        t[i].dtype = MG_DT_F16;
        t[i].ndim = s[i].ndim;
        for (int k = 0; k < s[i].ndim; k++) t[i].shape[k] = s[i].shape[k];
        t[i].data = data;
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = mg_st_write(path, t, n, "{\"format\": \"pt\", \"mediagrep\": \"random weights\"}", err);
    }
    for (int i = 0; i < n; i++) free((void *)t[i].data);
    free(s);
    free(t);
    return rc;
}
