/*
 * classify.c - zero-shot classification from stored embeddings and its
 * materialization as folders (see classify.h).
 *
 * The catalog is read with one SELECT (a consistent snapshot of the last
 * commit) in path order; files are gathered in chunks, their vectors read
 * from the vector file (runs of consecutive rows in one read), and scored
 * against the label embeddings with double accumulation.
 *
 * Bins never overwrite: symlink(2), link(2) and renameat2(RENAME_NOREPLACE)
 * fail when the name exists, copies are written to a temporary name in the
 * target folder and then renamed into place without replacing, so a file
 * that appears meanwhile is kept and the next "~N" name is tried.
 */
#include "search/classify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

mg_classify_params mg_classify_default_params(void) {
    mg_classify_params p;
    memset(&p, 0, sizeof p);
    p.min_score = -2.0f;
    p.margin = 0.0f;
    p.chunk_rows = 1024;
    p.capture.radius_km = 5; /* --near's default radius, as in search */
    return p;
}

/* ---------------- labels ---------------- */

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

static int ieq(const char *a, const char *b) {
    while (*a && *b && lower((unsigned char)*a) == lower((unsigned char)*b)) a++, b++;
    return *a == 0 && *b == 0;
}

/* Compares ignoring leading/trailing white space and ASCII case. */
static int label_eq(const char *a, const char *b) {
    while (is_space((unsigned char)*a)) a++;
    while (is_space((unsigned char)*b)) b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la && is_space((unsigned char)a[la - 1])) la--;
    while (lb && is_space((unsigned char)b[lb - 1])) lb--;
    if (la != lb) return 0;
    for (size_t i = 0; i < la; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

static int blank(const char *s) {
    while (*s && is_space((unsigned char)*s)) s++;
    return *s == 0;
}

int mg_classify_check_labels(const char *const *labels, int n, mg_error *err) {
    if (n < 1 || !labels) return mg_err_set(err, MG_EINVAL, "no labels given");
    if (n > MG_CLASSIFY_MAX_LABELS)
        return mg_err_set(err, MG_EINVAL, "%d labels: at most %d are supported", n, MG_CLASSIFY_MAX_LABELS);
    for (int i = 0; i < n; i++) {
        if (!labels[i] || blank(labels[i])) return mg_err_set(err, MG_EINVAL, "label %d is empty", i + 1);
        if (label_eq(labels[i], MG_CLASSIFY_UNSURE))
            return mg_err_set(err, MG_EINVAL,
                              "label '%s' is reserved: '" MG_CLASSIFY_UNSURE "' is the bin of the files no label "
                              "fits; use another word",
                              labels[i]);
        for (int j = 0; j < i; j++)
            if (label_eq(labels[i], labels[j]))
                return mg_err_set(err, MG_EINVAL, "label '%s' is given twice (as '%s' and '%s'; case is ignored)",
                                  labels[i], labels[j], labels[i]);
    }
    return MG_OK;
}

int mg_classify_parse_labels(const char *text, char sep, char ***out, int *n, mg_error *err) {
    *out = NULL;
    *n = 0;
    if (!text) return mg_err_set(err, MG_EINVAL, "no labels given");
    size_t len = strlen(text), max = 1;
    for (size_t i = 0; i < len; i++) max += text[i] == sep;
    char **arr = malloc(max * sizeof(char *) + len + 1);
    if (!arr) return mg_err_set(err, MG_ENOMEM, "out of memory");
    char *buf = (char *)(arr + max);
    memcpy(buf, text, len + 1);
    int cnt = 0, piece = 0;
    char *s = buf;
    for (;;) {
        char *e = strchr(s, sep);
        if (e) *e = 0;
        piece++;
        while (is_space((unsigned char)*s)) s++;
        size_t l = strlen(s);
        while (l && is_space((unsigned char)s[l - 1])) s[--l] = 0;
        if (sep == '\n') {
            if (l && s[0] != '#') arr[cnt++] = s;
        } else if (!l) {
            free(arr);
            if (len == 0 || blank(text)) return mg_err_set(err, MG_EINVAL, "no labels given");
            return mg_err_set(err, MG_EINVAL, "empty label at position %d of '%s'", piece, text);
        } else {
            arr[cnt++] = s;
        }
        if (!e) break;
        s = e + 1;
    }
    int rc = mg_classify_check_labels((const char *const *)arr, cnt, err);
    if (rc) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = cnt;
    return MG_OK;
}

void mg_classify_folder_name(const char *label, char *out, size_t cap) {
    if (cap == 0) return;
    if (!label) {
        snprintf(out, cap, "%s", MG_CLASSIFY_UNSURE);
        return;
    }
    size_t lim = cap - 1 < 200 ? cap - 1 : 200, o = 0;
    for (const unsigned char *c = (const unsigned char *)label; *c && o < lim; c++) {
        unsigned char ch = *c;
        if (ch == '/' || ch < 0x20 || ch == 0x7f) ch = '_';
        if (o == 0 && ch == '.') ch = '_';
        out[o++] = (char)ch;
    }
    /* do not cut a UTF-8 sequence in half */
    if (o == lim && label[o]) {
        size_t k = o;
        while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
        if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
            unsigned char lead = (unsigned char)out[k - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (o - (k - 1) < need) o = k - 1;
        }
    }
    if (o == 0) out[o++] = '_';
    out[o] = 0;
}

/* ---------------- parameters and label embeddings ---------------- */

static int check_params(const mg_classify_params *p, mg_error *err) {
    int rc = mg_classify_check_labels(p->labels, p->n_labels, err);
    if (rc) return rc;
    if (p->n_templates < 0 || (p->n_templates > 0 && !p->templates))
        return mg_err_set(err, MG_EINVAL, "bad template list");
    for (int t = 0; t < p->n_templates; t++)
        if (!p->templates[t] || !strstr(p->templates[t], "{}"))
            return mg_err_set(err, MG_EINVAL, "template '%s' has no {} where the label goes",
                              p->templates[t] ? p->templates[t] : "(null)");
    if (p->kind && strcmp(p->kind, "image") != 0 && strcmp(p->kind, "video") != 0)
        return mg_err_set(err, MG_EINVAL, "kind '%s': expected image or video", p->kind);
    if (isnan(p->min_score) || isnan(p->margin) || p->margin < 0)
        return mg_err_set(err, MG_EINVAL, "min_score must be a number and margin a number >= 0");
    return MG_OK;
}

/* template with every "{}" replaced by label (malloc'd). */
static char *fill_template(const char *tpl, const char *label) {
    size_t n = 0, ll = strlen(label);
    for (const char *s = tpl; (s = strstr(s, "{}")); s += 2) n++;
    size_t len = strlen(tpl) - 2 * n + n * ll;
    char *o = malloc(len + 1), *w = o;
    if (!o) return NULL;
    for (const char *s = tpl;;) {
        const char *h = strstr(s, "{}");
        size_t k = h ? (size_t)(h - s) : strlen(s);
        memcpy(w, s, k);
        w += k;
        if (!h) break;
        memcpy(w, label, ll);
        w += ll;
        s = h + 2;
    }
    *w = 0;
    return o;
}

static void normalize_d(const double *in, float *out, int dim) {
    double ss = 0;
    for (int i = 0; i < dim; i++) ss += in[i] * in[i];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    for (int i = 0; i < dim; i++) out[i] = (float)(in[i] * inv);
}

int mg_classify_embed_labels(mg_model *model, const mg_classify_params *p, float *out, mg_error *err) {
    int rc = check_params(p, err);
    if (rc) return rc;
    static const char *const def_tpl[1] = {MG_CLASSIFY_DEFAULT_TEMPLATE};
    const char *const *tpl = p->n_templates > 0 ? p->templates : def_tpl;
    int nt = p->n_templates > 0 ? p->n_templates : 1, dim = mg_model_dim(model);
    if (!mg_model_tokenizer(model))
        return mg_err_set(err, MG_EINVAL, "the model was loaded without its text tower: labels cannot be encoded");
    mg_encoder *enc = NULL;
    float *e = malloc((size_t)dim * sizeof(float));
    double *acc = malloc((size_t)dim * sizeof(double));
    if (!e || !acc) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = mg_encoder_open(model, 1, &enc, err))) goto done;
    for (int l = 0; l < p->n_labels && !rc; l++) {
        /* the label as written, trimmed */
        const char *lab = p->labels[l];
        while (is_space((unsigned char)*lab)) lab++;
        size_t ll = strlen(lab);
        while (ll && is_space((unsigned char)lab[ll - 1])) ll--;
        char *trim = strndup(lab, ll);
        if (!trim) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        memset(acc, 0, (size_t)dim * sizeof(double));
        for (int t = 0; t < nt && !rc; t++) {
            char *text = fill_template(tpl[t], trim);
            if (!text) {
                rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                break;
            }
            const char *texts[1] = {text};
            rc = mg_encode_texts(enc, texts, 1, e, MG_EMBED_NORMALIZE, err);
            if (rc) mg_err_prefix(err, "label '%s' (prompt '%s')", trim, text);
            for (int i = 0; i < dim && !rc; i++) acc[i] += e[i];
            free(text);
        }
        free(trim);
        if (!rc) normalize_d(acc, out + (size_t)l * dim, dim);
    }
done:
    mg_encoder_close(enc);
    free(e);
    free(acc);
    return rc;
}

/* ---------------- classification ---------------- */

void mg_classify_result_free(mg_classify_result *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n_items; i++) free(r->items[i].path);
    free(r->items);
    if (r->labels)
        for (int l = 0; l < r->n_labels; l++) free(r->labels[l]);
    free(r->labels);
    free(r->label_vecs);
    free(r->scores);
    free(r->counts);
    free(r);
}

typedef struct {
    mg_classify_result *r;
    const mg_classify_params *p;
    mg_vecfile *vf;
    int dim;
    int64_t cap;            /* items allocated */
    int chunk, n_chunk;     /* chunk capacity and fill */
    int64_t *rows;          /* vector row of each chunk entry */
    float *vecs;            /* chunk x dim */
} cls_ctx;

static int grow_items(cls_ctx *c, mg_error *err) {
    mg_classify_result *r = c->r;
    if (r->n_items < c->cap) return MG_OK;
    int64_t nc = c->cap ? c->cap * 2 : 256;
    mg_classify_item *it = realloc(r->items, (size_t)nc * sizeof *it);
    if (!it) return mg_err_set(err, MG_ENOMEM, "out of memory");
    r->items = it;
    if (c->p->keep_scores) {
        float *s = realloc(r->scores, (size_t)nc * (size_t)r->n_labels * sizeof(float));
        if (!s) return mg_err_set(err, MG_ENOMEM, "out of memory");
        r->scores = s;
    }
    c->cap = nc;
    return MG_OK;
}

/* Reads the chunk's vectors and scores its files (the last n_chunk items). */
static int score_chunk(cls_ctx *c, mg_error *err) {
    mg_classify_result *r = c->r;
    const mg_classify_params *p = c->p;
    int n = c->n_chunk, dim = c->dim, L = r->n_labels;
    int64_t base = r->n_items - n;
    for (int k = 0; k < n;) {
        int run = 1;
        while (k + run < n && c->rows[k + run] == c->rows[k] + run) run++;
        int rc = mg_vecfile_read(c->vf, c->rows[k], run, c->vecs + (size_t)k * dim, err);
        if (rc) return rc;
        k += run;
    }
    for (int k = 0; k < n; k++) {
        const float *v = c->vecs + (size_t)k * dim;
        mg_classify_item *it = &r->items[base + k];
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)v[i] * v[i];
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        double b1 = -INFINITY, b2 = -INFINITY;
        int i1 = 0, i2 = -1;
        for (int l = 0; l < L; l++) {
            const float *e = r->label_vecs + (size_t)l * dim;
            double d = 0;
            for (int i = 0; i < dim; i++) d += (double)v[i] * e[i];
            d *= inv;
            if (p->keep_scores) r->scores[(size_t)(base + k) * L + l] = (float)d;
            if (d > b1) {
                b2 = b1, i2 = l > 0 ? i1 : -1;
                b1 = d, i1 = l;
            } else if (d > b2 || i2 < 0) {
                b2 = d, i2 = l;
            }
        }
        it->best = i1;
        it->second = L > 1 ? i2 : -1;
        it->score = (float)b1;
        it->margin = L > 1 ? (float)(b1 - b2) : INFINITY;
        int unsure = b1 < (double)p->min_score || (L > 1 && b1 - b2 < (double)p->margin);
        it->label = unsure ? -1 : i1;
        r->counts[unsure ? L : i1]++;
    }
    c->n_chunk = 0;
    return MG_OK;
}

int mg_classify(mg_store *store, mg_model *model, const mg_classify_params *p, mg_classify_result **out,
                mg_error *err) {
    *out = NULL;
    int rc = check_params(p, err);
    if (rc) return rc;
    mg_model_rec rec;
    rc = mg_store_model(store, &rec, err);
    if (rc < 0) return rc;
    if (rc == 1)
        return mg_err_set(err, MG_ENOTFOUND, "store %s has no vectors yet; run `mediagrep index` first",
                          mg_store_dir(store));
    int dim = mg_model_dim(model);
    if (rec.dim != dim)
        return mg_err_set(err, MG_EMISMATCH, "store %s was made with model %s (dim %d); the model given has dim %d",
                          mg_store_dir(store), rec.name, rec.dim, dim);
    if (rec.vec_rows == 0)
        return mg_err_set(err, MG_ENOTFOUND, "store %s has no vectors yet; run `mediagrep index` first",
                          mg_store_dir(store));
    mg_vecfile *vf;
    if ((rc = mg_store_vectors(store, &vf, err))) return rc;

    cls_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.vf = vf;
    c.dim = dim;
    c.chunk = p->chunk_rows > 0 ? p->chunk_rows : 1024;
    mg_classify_result *r = calloc(1, sizeof *r);
    sqlite3_stmt *st = NULL;
    mg_capture_reader *capr = NULL;
    if (!r) return mg_err_set(err, MG_ENOMEM, "out of memory");
    c.r = r;
    r->n_labels = p->n_labels;
    r->dim = dim;
    r->labels = calloc((size_t)p->n_labels, sizeof(char *));
    r->label_vecs = malloc((size_t)p->n_labels * dim * sizeof(float));
    r->counts = calloc((size_t)p->n_labels + 1, sizeof(int64_t));
    c.rows = malloc((size_t)c.chunk * sizeof(int64_t));
    c.vecs = malloc((size_t)c.chunk * dim * sizeof(float));
    if (!r->labels || !r->label_vecs || !r->counts || !c.rows || !c.vecs) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto done;
    }
    for (int l = 0; l < p->n_labels; l++) {
        const char *lab = p->labels[l];
        while (is_space((unsigned char)*lab)) lab++;
        size_t ll = strlen(lab);
        while (ll && is_space((unsigned char)lab[ll - 1])) ll--;
        if (!(r->labels[l] = strndup(lab, ll))) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            goto done;
        }
    }
    if ((rc = mg_classify_embed_labels(model, p, r->label_vecs, err))) goto done;

    sqlite3 *db = mg_catalog_db(mg_store_catalog(store));
    const char *sql = "SELECT m.id, m.path, m.kind, m.size, m.mtime_ns, i.vec_row FROM media m JOIN items i ON"
                      " i.media_id = m.id WHERE m.status = 'ok' AND i.model_id = ?1 AND (i.frame_index = -1 OR"
                      " m.kind = 'image') AND i.vec_row < ?2 AND (?3 IS NULL OR m.kind = ?3)"
                      " ORDER BY m.path, i.frame_index";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = mg_err_set(err, MG_EIO, "%s: %s", mg_catalog_path(mg_store_catalog(store)), sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_int64(st, 1, rec.id);
    /* items committed after the vector file was opened point past its rows */
    sqlite3_bind_int64(st, 2, mg_vecfile_rows(vf));
    if (p->kind) sqlite3_bind_text(st, 3, p->kind, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 3);
    int64_t last_id = 0;
    int s;
    /* capture filters: a store from before capture rows (schema < 4) has no
     * reader, so every file lacks the fields (as in search) */
    const int cap_on = mg_capture_filter_active(&p->capture);
    if (cap_on && mg_catalog_version(mg_store_catalog(store)) >= 4) capr = mg_capture_reader_open(db);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id == last_id) continue; /* one vector per file */
        last_id = id;
        if (cap_on) {
            mg_capture cap;
            int m = mg_capture_reader_get(capr, id, &cap) ? mg_capture_filter_match(&p->capture, &cap) : -1;
            if (m < 0) r->no_capture++;
            if (m <= 0) continue;
        }
        if ((rc = grow_items(&c, err))) goto done;
        mg_classify_item *it = &r->items[r->n_items];
        memset(it, 0, sizeof *it);
        it->media_id = id;
        const char *path = (const char *)sqlite3_column_text(st, 1);
        const char *kind = (const char *)sqlite3_column_text(st, 2);
        if (!(it->path = strdup(path ? path : ""))) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            goto done;
        }
        snprintf(it->kind, sizeof it->kind, "%s", kind ? kind : "");
        it->size = sqlite3_column_int64(st, 3);
        it->mtime_ns = sqlite3_column_int64(st, 4);
        it->label = -1;
        r->n_items++;
        c.rows[c.n_chunk++] = sqlite3_column_int64(st, 5);
        if (c.n_chunk == c.chunk && (rc = score_chunk(&c, err))) goto done;
    }
    if (s != SQLITE_DONE) {
        rc = mg_err_set(err, MG_EIO, "%s: %s", mg_catalog_path(mg_store_catalog(store)), sqlite3_errmsg(db));
        goto done;
    }
    if (c.n_chunk && (rc = score_chunk(&c, err))) goto done;
done:
    mg_capture_reader_close(capr);
    sqlite3_finalize(st);
    free(c.rows);
    free(c.vecs);
    if (rc) {
        mg_classify_result_free(r);
        return rc;
    }
    *out = r;
    return MG_OK;
}

/* ---------------- bins ---------------- */

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int64_t mtime_ns(const struct stat *s) {
    return (int64_t)s->st_mtim.tv_sec * 1000000000 + s->st_mtim.tv_nsec;
}

/* 1 when the two open files have the same bytes (sizes already equal). */
static int same_bytes(const char *a, const char *b) {
    enum { B = 1 << 16 };
    char *ba = malloc(2 * B), *bb = ba + B;
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC), same = ba && fa >= 0 && fb >= 0;
    while (same) {
        ssize_t na = read(fa, ba, B);
        if (na < 0) {
            same = 0;
            break;
        }
        ssize_t got = 0;
        while (got < na) {
            ssize_t nb = read(fb, bb + got, (size_t)(na - got));
            if (nb <= 0) break;
            got += nb;
        }
        if (got != na || memcmp(ba, bb, (size_t)na) != 0) same = 0;
        if (na == 0) {
            char x;
            if (read(fb, &x, 1) != 0) same = 0;
            break;
        }
    }
    if (fa >= 0) close(fa);
    if (fb >= 0) close(fb);
    free(ba);
    return same;
}

static int rename_noreplace(const char *from, const char *to) {
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    /* file systems without RENAME_NOREPLACE: link (fails if to exists), then unlink */
    if (link(from, to) != 0) return -1;
    if (unlink(from) != 0) {
        int e = errno;
        unlink(to);
        errno = e;
        return -1;
    }
    return 0;
}

/* Copies src into the new name dst (never replacing): a temporary file in
 * dst's folder, mode and times of src, then renamed into place. -1 with
 * errno (EEXIST when dst appeared). */
static int copy_noreplace(const char *src, const char *dst, const struct stat *sst) {
    char tmp[PATH_MAX];
    const char *slash = strrchr(dst, '/');
    int dl = slash ? (int)(slash - dst) : 1;
    if (snprintf(tmp, sizeof tmp, "%.*s/.mediagrep-tmp-XXXXXX", dl, slash ? dst : ".") >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    int outfd = mkostemp(tmp, O_CLOEXEC);
    if (outfd < 0) {
        int e = errno;
        close(in);
        errno = e;
        return -1;
    }
    enum { B = 1 << 16 };
    char *buf = malloc(B);
    int ok = buf != NULL;
    if (!ok) errno = ENOMEM;
    while (ok) {
        ssize_t n = read(in, buf, B);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ok = 0;
            break;
        }
        if (n == 0) break;
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(outfd, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                ok = 0;
                break;
            }
            w += k;
        }
        if (!ok) break;
    }
    int e = errno;
    free(buf);
    if (ok) {
        struct timespec ts[2] = {sst->st_atim, sst->st_mtim};
        if (fchmod(outfd, sst->st_mode & 0777) != 0 || futimens(outfd, ts) != 0 || fsync(outfd) != 0) ok = 0;
        e = errno;
    }
    close(in);
    if (close(outfd) != 0 && ok) ok = 0, e = errno;
    if (ok && rename_noreplace(tmp, dst) != 0) ok = 0, e = errno;
    if (!ok) {
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* Is the existing name t (lstat lt) already this file? */
static int is_ours(mg_bins_mode mode, const char *t, const struct stat *lt, const char *src, int have_src,
                   const struct stat *sst, const mg_classify_item *it) {
    struct stat ts;
    if (!have_src) /* moved by an earlier run: the indexed size and mtime */
        return mode == MG_BINS_MOVE && S_ISREG(lt->st_mode) && lt->st_size == it->size &&
               mtime_ns(lt) == it->mtime_ns;
    switch (mode) {
    case MG_BINS_SYMLINK: return S_ISLNK(lt->st_mode) && stat(t, &ts) == 0 && same_file(&ts, sst);
    case MG_BINS_HARDLINK:
    case MG_BINS_MOVE: return S_ISREG(lt->st_mode) && same_file(lt, sst);
    case MG_BINS_COPY:
        return S_ISREG(lt->st_mode) &&
               (same_file(lt, sst) || (lt->st_size == sst->st_size && same_bytes(t, src)));
    }
    return 0;
}

static int create_one(mg_bins_mode mode, const char *src, const char *abs_src, const char *t,
                      const struct stat *sst) {
    switch (mode) {
    case MG_BINS_SYMLINK: return symlink(abs_src, t);
    case MG_BINS_HARDLINK: return linkat(AT_FDCWD, src, AT_FDCWD, t, AT_SYMLINK_FOLLOW);
    case MG_BINS_COPY: return copy_noreplace(src, t, sst);
    case MG_BINS_MOVE:
        if (rename_noreplace(src, t) == 0) return 0;
        if (errno != EXDEV) return -1;
        if (copy_noreplace(src, t, sst) != 0) return -1;
        if (unlink(src) != 0) {
            int e = errno;
            unlink(t); /* ours, just made: keep the original where it was */
            errno = e;
            return -1;
        }
        return 0;
    }
    errno = EINVAL;
    return -1;
}

#define MG_BINS_MAX_SUFFIX 100000

int mg_classify_bins(const mg_classify_result *r, const char *dir, mg_bins_mode mode, mg_bins_stats *stats,
                     mg_error *err) {
    mg_bins_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (mode < MG_BINS_SYMLINK || mode > MG_BINS_MOVE) return mg_err_set(err, MG_EINVAL, "bad bins mode %d", mode);
    int L = r->n_labels;
    char (*folder)[256] = calloc((size_t)L + 1, sizeof *folder);
    char *made = calloc((size_t)L + 1, 1);
    if (!folder || !made) {
        free(folder);
        free(made);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    int rc = MG_OK;
    for (int l = 0; l <= L && !rc; l++) {
        mg_classify_folder_name(l < L ? r->labels[l] : NULL, folder[l], sizeof folder[l]);
        for (int j = 0; j < l && !rc; j++)
            if (ieq(folder[l], folder[j]))
                rc = mg_err_set(err, MG_EINVAL, "labels '%s' and '%s' would share the folder '%s'",
                                j < L ? r->labels[j] : MG_CLASSIFY_UNSURE, l < L ? r->labels[l] : MG_CLASSIFY_UNSURE,
                                folder[l]);
    }
    if (!rc) rc = mg_mkdir_p(dir, err);
    if (rc) {
        free(folder);
        free(made);
        return rc;
    }
    mg_error first = {0};
#define FAIL(...)                                                   \
    do {                                                            \
        stats->failed++;                                            \
        if (!first.code) mg_err_set(&first, MG_EIO, __VA_ARGS__);   \
    } while (0)
    char fdir[PATH_MAX], t[PATH_MAX], abs_src[PATH_MAX];
    for (int64_t i = 0; i < r->n_items; i++) {
        const mg_classify_item *it = &r->items[i];
        int b = it->label >= 0 ? it->label : L;
        if (snprintf(fdir, sizeof fdir, "%s/%s", dir, folder[b]) >= (int)sizeof fdir) {
            FAIL("%s/%s: path too long", dir, folder[b]);
            continue;
        }
        if (!made[b]) {
            if (mkdir(fdir, 0755) != 0 && errno != EEXIST) {
                FAIL("%s: cannot create the folder: %s", fdir, strerror(errno));
                continue;
            }
            struct stat ds;
            if (stat(fdir, &ds) != 0 || !S_ISDIR(ds.st_mode)) {
                FAIL("%s: exists and is not a folder", fdir);
                continue;
            }
            made[b] = 1;
        }
        const char *src = it->path;
        struct stat sst;
        int have_src = stat(src, &sst) == 0;
        if (!have_src && errno != ENOENT && errno != ENOTDIR) {
            FAIL("%s: %s", src, strerror(errno));
            continue;
        }
        if (have_src && !S_ISREG(sst.st_mode)) {
            FAIL("%s: not a regular file any more", src);
            continue;
        }
        if (have_src && mode == MG_BINS_SYMLINK) {
            if (src[0] == '/') snprintf(abs_src, sizeof abs_src, "%s", src);
            else if (!realpath(src, abs_src)) {
                FAIL("%s: %s", src, strerror(errno));
                continue;
            }
        }
        /* file name: stem and extension (a leading dot is part of the stem) */
        const char *base = strrchr(src, '/');
        base = base ? base + 1 : src;
        if (!*base) {
            FAIL("%s: no file name", src);
            continue;
        }
        const char *dot = strrchr(base, '.');
        if (dot == base) dot = NULL;
        int stem_len = dot ? (int)(dot - base) : (int)strlen(base);
        const char *ext = dot ? dot : "";
        int done = 0, retries = 0;
        for (int k = 1; k <= MG_BINS_MAX_SUFFIX && !done;) {
            int n = k == 1 ? snprintf(t, sizeof t, "%s/%s", fdir, base)
                           : snprintf(t, sizeof t, "%s/%.*s~%d%s", fdir, stem_len, base, k, ext);
            if (n >= (int)sizeof t) {
                FAIL("%s: target name too long", src);
                done = -1;
                break;
            }
            struct stat lt;
            if (lstat(t, &lt) == 0) {
                if (is_ours(mode, t, &lt, src, have_src, &sst, it)) {
                    stats->already++;
                    done = 1;
                } else {
                    k++;
                }
                continue;
            }
            if (errno != ENOENT) {
                FAIL("%s: %s", t, strerror(errno));
                done = -1;
                break;
            }
            if (!have_src) { /* the first free name: nothing of ours follows */
                stats->missing++;
                done = 1;
                break;
            }
            if (create_one(mode, src, abs_src, t, &sst) == 0) {
                stats->created++;
                if (k > 1) stats->renamed++;
                done = 1;
            } else if (errno == EEXIST && ++retries < 100) {
                /* appeared meanwhile: look at it again */
            } else {
                if (mode == MG_BINS_HARDLINK && errno == EXDEV)
                    FAIL("%s -> %s: cannot hard-link across file systems (use --link or --copy)", src, t);
                else
                    FAIL("%s -> %s: %s", src, t, strerror(errno));
                done = -1;
            }
        }
        if (!done) FAIL("%s: no free name in %s", src, fdir);
    }
#undef FAIL
    free(folder);
    free(made);
    if (stats->failed) {
        mg_err_set(err, MG_EIO, "%s%s", first.msg,
                   stats->failed > 1 ? " (and more files failed)" : "");
        return MG_EIO;
    }
    return MG_OK;
}
