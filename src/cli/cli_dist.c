/*
 * cli_dist.c - the handshake that starts a distributed index run (see
 * cli_dist.h).
 */
#include "cli/cli_dist.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_READY = 100, TAG_GO = 101 };

static int send_json(mg_dist *d, int dest, int tag, json_object *o) {
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    mg_error e = {0};
    int rc = mg_dist_send(d, dest, tag, s, strlen(s), &e);
    if (rc) fprintf(stderr, "mediagrep index: rank %d: %s\n", mg_dist_rank(d), e.msg);
    return rc ? 2 : 0;
}

/* Receives one JSON message (src, tag) into a parsed object, or NULL;
 * waits up to wait_s (<= 0: forever). */
static json_object *recv_json(mg_dist *d, int src, int tag, int *src_out, double wait_s) {
    mg_error e = {0};
    int s, t;
    size_t n;
    int pr = mg_dist_probe(d, src, tag, wait_s > 0 ? (int)(wait_s * 1000) : -1, &s, &t, &n, &e);
    if (pr == 0) { /* a rank that never answers (stopped, hung while loading): the job ends */
        fprintf(stderr, "mediagrep index: rank %d: no answer within %.0f s from %s: aborting the job\n",
                mg_dist_rank(d), wait_s, src >= 0 ? "rank 0" : "every rank (one did not become ready)");
        fflush(NULL);
        mg_dist_abort(d, 1);
    }
    if (pr != 1) {
        fprintf(stderr, "mediagrep index: rank %d: %s\n", mg_dist_rank(d), e.msg[0] ? e.msg : "no message");
        return NULL;
    }
    char *buf = malloc(n + 1);
    if (!buf || mg_dist_recv(d, s, t, buf, n + 1, &n, &e) != MG_OK) {
        free(buf);
        fprintf(stderr, "mediagrep index: rank %d: %s\n", mg_dist_rank(d), e.msg[0] ? e.msg : "out of memory");
        return NULL;
    }
    buf[n] = 0;
    json_object *o = json_tokener_parse(buf);
    free(buf);
    if (src_out) *src_out = s;
    return o;
}

static const char *jstr(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int jint(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int(v) : 0;
}

int mg_cli_dist_spec_send(mg_dist *d, int code, const char *model_dir, const char *fingerprint,
                          const char *analyzers) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "code", json_object_new_int(code));
    json_object_object_add(o, "model_dir", json_object_new_string(model_dir ? model_dir : ""));
    json_object_object_add(o, "fingerprint", json_object_new_string(fingerprint ? fingerprint : ""));
    json_object_object_add(o, "analyzers", json_object_new_string(analyzers ? analyzers : "{}"));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    void *buf = (void *)s;
    size_t n = strlen(s);
    mg_error e = {0};
    int rc = mg_dist_bcast(d, &buf, &n, &e);
    json_object_put(o);
    if (rc) fprintf(stderr, "mediagrep index: %s\n", e.msg);
    return rc ? 2 : 0;
}

int mg_cli_dist_spec_recv(mg_dist *d, char *model_dir, size_t md_cap, char *fingerprint, size_t fp_cap,
                          char *analyzers, size_t an_cap) {
    void *buf = NULL;
    size_t n = 0;
    mg_error e = {0};
    if (mg_dist_bcast(d, &buf, &n, &e) != MG_OK) {
        fprintf(stderr, "mediagrep index: rank %d: %s\n", mg_dist_rank(d), e.msg);
        return 2;
    }
    char *s = malloc(n + 1);
    if (!s) {
        free(buf);
        return 2;
    }
    memcpy(s, buf, n);
    s[n] = 0;
    free(buf);
    json_object *o = json_tokener_parse(s);
    free(s);
    if (!o) {
        fprintf(stderr, "mediagrep index: rank %d: a garbled start message from rank 0\n", mg_dist_rank(d));
        return 2;
    }
    int code = jint(o, "code");
    snprintf(model_dir, md_cap, "%s", jstr(o, "model_dir"));
    snprintf(fingerprint, fp_cap, "%s", jstr(o, "fingerprint"));
    snprintf(analyzers, an_cap, "%s", jstr(o, "analyzers"));
    json_object_put(o);
    return code;
}

int mg_cli_dist_ready(mg_dist *d, const char *why, const char *fingerprint, const char *an_json, double wait_s) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(why == NULL));
    if (why) json_object_object_add(o, "why", json_object_new_string(why));
    json_object_object_add(o, "host", json_object_new_string(mg_dist_host(d)));
    json_object_object_add(o, "fingerprint", json_object_new_string(fingerprint ? fingerprint : ""));
    json_object_object_add(o, "analyzers", json_object_new_string(an_json ? an_json : ""));
    int rc = send_json(d, 0, TAG_READY, o);
    json_object_put(o);
    if (rc) return rc;
    json_object *g = recv_json(d, 0, TAG_GO, NULL, wait_s);
    if (!g) return 2;
    int code = jint(g, "code");
    json_object_put(g);
    return code;
}

int mg_cli_dist_gather(mg_dist *d, int code_self, const char *fingerprint, const char *an_json, double wait_s) {
    int n = mg_dist_size(d), code = code_self;
    for (int i = 1; i < n; i++) {
        int src = -1;
        json_object *o = recv_json(d, -1, TAG_READY, &src, wait_s);
        if (!o) {
            code = code ? code : 2;
            continue;
        }
        json_object *v;
        int ok = json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v);
        const char *host = jstr(o, "host");
        if (!ok) {
            fprintf(stderr, "mediagrep index: rank %d on %s cannot start: %s\n", src, host, jstr(o, "why"));
            code = code ? code : 2;
        } else if (strcmp(jstr(o, "fingerprint"), fingerprint)) {
            fprintf(stderr, "mediagrep index: rank %d on %s loaded another model (fingerprint %s, rank 0 has %s): "
                            "the model path must hold the same files on every node\n",
                    src, host, jstr(o, "fingerprint"), fingerprint);
            code = code ? code : 4;
        } else if (strcmp(jstr(o, "analyzers"), an_json)) {
            fprintf(stderr, "mediagrep index: rank %d on %s runs other analyzers (%s; rank 0: %s)\n", src, host,
                    jstr(o, "analyzers"), an_json);
            code = code ? code : 4;
        }
        json_object_put(o);
    }
    json_object *g = json_object_new_object();
    json_object_object_add(g, "code", json_object_new_int(code));
    for (int i = 1; i < n; i++)
        if (send_json(d, i, TAG_GO, g)) code = code ? code : 2;
    json_object_put(g);
    return code;
}
