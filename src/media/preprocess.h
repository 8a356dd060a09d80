/*
 * preprocess.h - CLIP image preprocessing, bit-exact to OpenAI's
 * torchvision/Pillow pipeline:
 *   Resize(size, BICUBIC)  short side -> size, long side int(size*long/short)
 *                          (Pillow's separable antialiased bicubic, a=-0.5,
 *                          horizontal then vertical pass, each rounded and
 *                          clamped to uint8; RGBA/LA resized premultiplied as
 *                          Pillow does; palette images use NEAREST as Pillow
 *                          does for mode "P")
 *   CenterCrop(size)       offset int(round((dim - size) / 2)), half-to-even
 *   convert("RGB")         gray replicated, alpha dropped
 *   ToTensor + Normalize   /255, (x - mean) / std per channel, CHW float
 * Errors: MG_EINVAL (bad image/size), MG_ELIMIT, MG_ENOMEM; messages via err.
 * Thread safety: reentrant. Scratch: each call mallocs and frees its own
 * window buffers (O(size * rows touched)), never the full resized image.
 */
#ifndef MG_PREPROCESS_H
#define MG_PREPROCESS_H

#include <stdint.h>
#include "core/common.h"
#include "media/image.h"

typedef struct mg_preprocess_params {
    int size;          /* crop size, e.g. 224 (from the model's image_size) */
    float mean[3];     /* CLIP: 0.48145466, 0.4578275, 0.40821073 */
    float std[3];      /* CLIP: 0.26862954, 0.26130258, 0.27577711 */
} mg_preprocess_params;

mg_preprocess_params mg_preprocess_default_params(int size);

/* Resize + center crop to an 8-bit RGB crop of size*size*3 bytes (the
 * `--crop-out` image). */
int mg_preprocess_crop(const mg_image *img, int size, uint8_t *crop_rgb, mg_error *err);

/* The normalization table: lut[c*256 + v] = (v / 255 - mean[c]) / std[c]
 * in float32 (ToTensor then Normalize), what mg_preprocess_normalize and
 * the backends' normalize_u8 apply. */
void mg_preprocess_lut(const float mean[3], const float std[3], float lut[768]);

/* Normalizes an 8-bit RGB crop into CHW floats (3*size*size). */
void mg_preprocess_normalize(const uint8_t *crop_rgb, const mg_preprocess_params *p, float *out_chw);

/* Both steps: crop (optional out, may be NULL) and normalized CHW floats. */
int mg_preprocess_image(const mg_image *img, const mg_preprocess_params *p,
                        uint8_t *crop_rgb_or_null, float *out_chw, mg_error *err);

/* Addition: torchvision's geometry for a w x h image and crop `size`: the
 * Resize output (*out_w x *out_h; short side = size, long side
 * int(size*long/short)) and the CenterCrop offsets (*left, *top; half to
 * even). Any output pointer may be NULL. Returns MG_OK, MG_EINVAL (bad
 * arguments; size must be 1..16384) or MG_ELIMIT (resized long side would
 * not fit an int). Only the crop window of the resize is ever computed, so
 * extreme aspect ratios cost no extra memory. */
int mg_preprocess_geometry(int w, int h, int size, int *out_w, int *out_h, int *left,
                           int *top);

#endif
