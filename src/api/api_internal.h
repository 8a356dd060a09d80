/*
 * api_internal.h - what the files of libmediagrep's public API (api.c,
 * api_store.c, api_model.c) share: the handles behind mediagrep.h's opaque
 * types, and the per-thread last-error message.
 */
#ifndef MG_API_INTERNAL_H
#define MG_API_INTERNAL_H
#include <pthread.h>
#include "mediagrep.h"
#include "core/common.h"
#include "model/clip.h"
#include "search/search.h"
#include "store/store.h"

struct mediagrep_model {
    pthread_mutex_t lock;
    mg_model *model;
    mg_encoder *enc;            /* opened on first use */
    int batch;
    int random;
    int borrowed;               /* a store's model (mediagrep_store_model): the store closes it */
};

struct mediagrep_store {
    pthread_mutex_t lock;       /* one call at a time on this handle */
    mg_store *store;
    mg_model *model;
    mg_searcher *searcher;
    int random;
    mediagrep_model view;       /* the store's model as a model handle (borrowed) */
    char dir[4096];
};

/* Sets up m as a borrowed handle on model (batch, lock). */
void mg_api_model_view(mediagrep_model *m, mg_model *model, int random);
/* Releases what a borrowed handle opened (its encoder). */
void mg_api_model_view_release(mediagrep_model *m);

/* Records err as this thread's last error; returns its code. */
int mg_api_fail(const mg_error *err);
/* Records a message built here; returns code. */
int mg_api_failf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opening options from the caller's (possibly older, smaller) struct. */
mediagrep_options mg_api_options(const mediagrep_options *o);
/* A json-c string owned by the caller (malloc), or NULL. */
char *mg_api_strdup(const char *s);
#endif
