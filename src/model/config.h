/*
 * config.h - the CLIP model configuration, read from a Hugging Face
 * config.json (CLIPConfig with "text_config" and "vision_config"; the legacy
 * "text_config_dict"/"vision_config_dict" keys are accepted too). Fields the
 * file omits take Hugging Face's CLIPTextConfig/CLIPVisionConfig defaults, as
 * transformers does. Nothing about ViT-B/32 is assumed: every size comes from
 * here, and head counts are never derived from weight shapes.
 *
 * Thread safety: plain data; parsing is reentrant.
 */
#ifndef MG_CONFIG_H
#define MG_CONFIG_H

#include <stddef.h>
#include "core/common.h"

typedef enum { MG_ACT_NONE = 0, MG_ACT_QUICK_GELU, MG_ACT_GELU } mg_act;

typedef struct mg_tower_config {
    int hidden_size;        /* D */
    int intermediate_size;  /* MLP width */
    int num_heads;
    int num_layers;
    mg_act hidden_act;
    float layer_norm_eps;
    /* vision only */
    int image_size, patch_size, num_channels;
    /* text only */
    int vocab_size, max_position_embeddings;
    int eos_token_id;       /* 2 = legacy HF value: pool at the highest id (EOT) */
} mg_tower_config;

typedef struct mg_clip_config {
    mg_tower_config vision;
    mg_tower_config text;
    int projection_dim;
    float logit_scale_init;
} mg_clip_config;

/* HF defaults (ViT-B/32 sized): what a config.json with empty sub-configs means. */
mg_clip_config mg_clip_config_default(void);

/* Parses config.json text. `name` appears in error messages. Validates that
 * every size is positive and in range, hidden_size % num_heads == 0 and
 * image_size % patch_size == 0; MG_EFORMAT naming the field otherwise. */
int mg_clip_config_parse(const char *json, size_t len, const char *name,
                         mg_clip_config *out, mg_error *err);
int mg_clip_config_load(const char *path, mg_clip_config *out, mg_error *err);

/* Writes cfg as a Hugging Face CLIPConfig config.json. */
int mg_clip_config_save(const mg_clip_config *cfg, const char *path, mg_error *err);

const char *mg_act_name(mg_act a);

/* Image tokens incl. the class token: (image_size / patch_size)^2 + 1. */
static inline int mg_vision_seq_len(const mg_tower_config *v) {
    int g = v->image_size / v->patch_size;
    return g * g + 1;
}

#endif
