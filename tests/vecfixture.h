/*
 * vecfixture.h - controlled vectors for search tests: given a query
 * embedding q, hands out unit directions orthogonal to q and (the first dim - 1) to each other,
 * so a*q + sqrt(1-a^2)*u has score exactly a against q (and scores between
 * such vectors are known too). One process-wide fixture; not thread-safe.
 */
#ifndef MG_VECFIXTURE_H
#define MG_VECFIXTURE_H

#include <stdint.h>

/* Uniform in [-1, 1) from a fixed xorshift stream (deterministic data). */
float mg_vf_rand(void);
/* Starts the fixture for dim-sized vectors around q (borrowed; must stay
 * valid), with room for max_dirs directions. */
void mg_vf_init(int dim, const float *q, int max_dirs);
/* A new unit vector orthogonal to q and, while there is room (the first
 * dim - 1), to every earlier one. */
const float *mg_vf_orth(void);
/* out = a*q + sqrt(1 - a^2)*u: score a against q. */
void mg_vf_with_score(float a, const float *u, float *out);
void mg_vf_free(void);

/* Encodes text with model into a new malloc'd normalized query vector
 * (the caller frees it) and inits the fixture around it (mg_vf_init with
 * room for max directions); NULL on failure. */
struct mg_model;
float *mg_vf_setup(struct mg_model *model, const char *text, int max);

/* Puts one file into the store with n vectors (a video's last one is its
 * pooled vector, frame -1; times: the frames' times in ms, or NULL) and
 * fixed catalog fields (status ok, a fixed hash, mtime 2020-09-13). CHECKs
 * that it worked. */
struct mg_store;
void mg_vf_put(struct mg_store *s, const char *path, const char *kind, int64_t size, const float *vecs, int n,
               const int64_t *times, int width, int height, int64_t duration_ms);

#endif
