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
 * Thread safety: reentrant. No allocation beyond the documented scratch.
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

/* Normalizes an 8-bit RGB crop into CHW floats (3*size*size). */
void mg_preprocess_normalize(const uint8_t *crop_rgb, const mg_preprocess_params *p, float *out_chw);

/* Both steps: crop (optional out, may be NULL) and normalized CHW floats. */
int mg_preprocess_image(const mg_image *img, const mg_preprocess_params *p,
                        uint8_t *crop_rgb_or_null, float *out_chw, mg_error *err);

#endif
