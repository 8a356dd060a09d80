/*
 * whisper_internal.h - the in-memory layout of a loaded Whisper model,
 * shared by the loader (whisper.c) and the forward passes
 * (whisper_model.c). Not a public header.
 *
 * Shapes (Da = audio state, Dt = text state, F = MLP width):
 *   encoder layer: qkv [3Da][Da] (+ bias, k's part 0), out [Da][Da], fc1 [F][Da], fc2 [Da][F]
 *   decoder layer: qkv [3Dt][Dt], out [Dt][Dt]; xq [Dt][Dt], xkv [2Dt][Da] (k | v), xout [Dt][Dt];
 *                  fc1 [F][Dt], fc2 [Dt][F]
 *   conv1 [Da][n_mels*3], conv2 [Da][Da*3] (a conv weight [out][in][3] flattened, + bias)
 *   enc_pos [n_audio_ctx][Da], tok [V][Dt], dec_pos [n_text_ctx][Dt] (backend memory)
 *   logits: [V][Dt] linear over tok, no bias
 */
#ifndef MG_WHISPER_INTERNAL_H
#define MG_WHISPER_INTERNAL_H

#include "whisper/whisper.h"

typedef struct {
    float *ln1_g, *ln1_b, *ln2_g, *ln2_b, *lnx_g, *lnx_b;  /* [D] backend memory (lnx: decoder) */
    mg_linear *qkv, *out, *fc1, *fc2;
    mg_linear *xq, *xkv, *xout;                            /* decoder cross-attention */
} mg_wlayer;

struct mg_whisper {
    mg_whisper_dims d;
    mg_backend *backend;
    mg_wtok *tok;
    mg_linear *conv1, *conv2;
    float *enc_pos, *enc_ln_g, *enc_ln_b;
    mg_wlayer *enc;                   /* [n_audio_layer] */
    float *tok_emb, *dec_pos, *dec_ln_g, *dec_ln_b;
    mg_wlayer *dec;                   /* [n_text_layer] */
    mg_linear *logits;
    float *tok_host;                  /* the fp32 token table the logits linear borrows */
    int prec;
    char naming[16];
    char fingerprint[160];
    char dir[4096];
};

#define MG_WHISPER_LN_EPS 1e-5f

#endif
