/*
 * walk.c - the file walker of `mediagrep index` (semantics in walk.h).
 *
 * A stack of frames, one per directory on the current path. A directory is
 * read completely when it is reached (opendir/readdir/closedir: no
 * descriptor stays open, so depth is not bounded by the fd limit), its names
 * kept in one buffer and sorted with strcmp; the frame's buffers are reused
 * by the next directory at the same depth. Paths are built in one growing
 * buffer by joining names to the parent's path, and each entry is stat'ed by
 * that path (stat or lstat, by follow_symlinks). Two open-addressing sets of
 * (st_dev, st_ino) hold the directories walked and the files yielded.
 *
 * Errors: problems on disk become MG_WALK_PROBLEM results (path + reason);
 * only ENOMEM is fatal and sticky. Thread safety: one handle per thread.
 */
#include "pipeline/walk.h"
#include "media/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_CONTINUE 3 /* internal: nothing to report, keep walking */

/* ---------------------------------------------------------------------- */
/* (st_dev, st_ino) set                                                   */
/* ---------------------------------------------------------------------- */

typedef struct { uint64_t dev, ino; } walk_key;
typedef struct {
    walk_key *k;   /* (0, 0) marks an empty slot */
    size_t cap, n; /* cap a power of two, n <= cap / 2 */
    int has_zero;  /* the key (0, 0) itself */
} keyset;

static size_t key_hash(uint64_t dev, uint64_t ino) {
    uint64_t x = ino * 0x9E3779B97F4A7C15ull ^ (dev + 0x632BE59BD9B4E019ull);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (size_t)x;
}

static int keyset_has(const keyset *s, uint64_t dev, uint64_t ino) {
    if (!dev && !ino) return s->has_zero;
    if (!s->cap) return 0;
    for (size_t i = key_hash(dev, ino) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->k[i].dev && !s->k[i].ino) return 0;
        if (s->k[i].dev == dev && s->k[i].ino == ino) return 1;
    }
}

static void keyset_put(walk_key *k, size_t cap, uint64_t dev, uint64_t ino) {
    size_t i = key_hash(dev, ino) & (cap - 1);
    while (k[i].dev || k[i].ino) i = (i + 1) & (cap - 1);
    k[i].dev = dev;
    k[i].ino = ino;
}

/* Adds a key known to be absent; -1 when out of memory. */
static int keyset_add(keyset *s, uint64_t dev, uint64_t ino) {
    if (!dev && !ino) { s->has_zero = 1; return 0; }
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        walk_key *k = calloc(cap, sizeof *k);
        if (!k) return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i].dev || s->k[i].ino) keyset_put(k, cap, s->k[i].dev, s->k[i].ino);
        free(s->k);
        s->k = k;
        s->cap = cap;
    }
    keyset_put(s->k, s->cap, dev, ino);
    s->n++;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Globs                                                                  */
/* ---------------------------------------------------------------------- */

/* One pattern component (pl bytes, no '/') against one name (sl bytes). */
static int comp_match(const char *p, size_t pl, const char *s, size_t sl) {
    int wild = 0;
    for (size_t i = 0; i < pl && !wild; i++) wild = strchr("*?[\\", p[i]) != NULL;
    if (!wild) return pl == sl && !memcmp(p, s, pl);
    char pb[PATH_MAX], sb[PATH_MAX];
    if (pl >= sizeof pb || sl >= sizeof sb) return 0;
    memcpy(pb, p, pl);
    pb[pl] = 0;
    memcpy(sb, s, sl);
    sb[sl] = 0;
    return fnmatch(pb, sb, 0) == 0;
}

static const char *skip_slashes(const char *x) {
    while (*x == '/') x++;
    return x;
}

static int is_starstar(const char *p) {
    return p[0] == '*' && p[1] == '*' && (p[2] == '/' || p[2] == 0);
}

/* Component-wise match with `**` = any number of components: the classic
 * wildcard algorithm (backtrack to the last star only), which is exact when
 * the star matches any sequence and every other token exactly one item. */
static int match_anchored(const char *p, const char *s) {
    const char *star_p = NULL, *star_s = NULL;
    p = skip_slashes(p);
    s = skip_slashes(s);
    while (*s) {
        size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
        if (*p && is_starstar(p)) {
            star_p = p = skip_slashes(p + 2);
            star_s = s;
            continue;
        }
        if (*p && comp_match(p, pl, s, sl)) {
            p = skip_slashes(p + pl);
            s = skip_slashes(s + sl);
            continue;
        }
        if (!star_p) return 0;
        star_s = skip_slashes(star_s + strcspn(star_s, "/"));
        s = star_s;
        p = star_p;
    }
    while (*p && is_starstar(p)) p = skip_slashes(p + 2);
    return *p == 0;
}

int mg_glob_match(const char *pattern, const char *rel, int is_dir) {
    if (!pattern || !rel) return 0;
    size_t n = strlen(pattern);
    int dir_only = 0;
    while (n > 0 && pattern[n - 1] == '/') { n--; dir_only = 1; }
    if (n == 0 || (dir_only && !is_dir)) return 0;
    if (!memchr(pattern, '/', n)) {
        const char *base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        return comp_match(pattern, n, base, strlen(base));
    }
    return match_anchored(pattern, rel);
}

static int any_match(const char *const *pats, const char *rel, int is_dir) {
    for (const char *const *q = pats; q && *q; q++)
        if (mg_glob_match(*q, rel, is_dir)) return 1;
    return 0;
}

int mg_walk_selects(const mg_walk_params *p, const char *rel) {
    if (!p || !rel || !*rel) return 0;
    char buf[PATH_MAX];
    if (strlen(rel) >= sizeof buf) return 0;
    snprintf(buf, sizeof buf, "%s", rel);
    /* every folder on the way, as the walk prunes them */
    for (char *s = buf, *slash; (slash = strchr(s, '/')); s = slash + 1) {
        if (slash == s) continue;
        if (s[0] == '.' && !p->hidden) return 0;
        *slash = 0;
        int excluded = any_match(p->exclude, buf, 1);
        *slash = '/';
        if (excluded) return 0;
    }
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    if (base[0] == '.' && !p->hidden) return 0;
    if (any_match(p->exclude, buf, 0)) return 0;
    if (p->include && p->include[0] && !any_match(p->include, buf, 0)) return 0;
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Sniffing                                                               */
/* ---------------------------------------------------------------------- */

static int at(const uint8_t *b, size_t n, size_t off, const char *sig, size_t len) {
    return n >= off + len && !memcmp(b + off, sig, len);
}

mg_walk_kind mg_walk_sniff(const uint8_t *b, size_t n) {
    if (!b || n == 0) return MG_WALK_OTHER;
    if (mg_image_sniff(b, n) != MG_IMG_UNKNOWN) return MG_WALK_IMAGE;
    if (at(b, n, 4, "ftyp", 4)) {
        /* ISO-BMFF the image sniffer did not claim: video, unless the major
         * brand says audio only (iTunes audio / audiobook / protected). */
        static const char *const audio[] = {"M4A ", "M4B ", "M4P ", "F4A ", "F4B "};
        for (size_t i = 0; i < sizeof audio / sizeof audio[0]; i++)
            if (at(b, n, 8, audio[i], 4)) return MG_WALK_AUDIO;
        return n >= 12 ? MG_WALK_VIDEO : MG_WALK_OTHER;
    }
    static const char *const qt_atoms[] = {"moov", "mdat", "wide", "free", "skip", "pnot"};
    for (size_t i = 0; i < sizeof qt_atoms / sizeof qt_atoms[0]; i++)
        if (at(b, n, 4, qt_atoms[i], 4)) return MG_WALK_VIDEO;
    if (at(b, n, 0, "\x1a\x45\xdf\xa3", 4)) return MG_WALK_VIDEO;               /* Matroska/WebM */
    if (at(b, n, 0, "RIFF", 4) && at(b, n, 8, "AVI ", 4)) return MG_WALK_VIDEO; /* AVI */
    if (at(b, n, 0, "\x00\x00\x01\xba", 4) || at(b, n, 0, "\x00\x00\x01\xb3", 4))
        return MG_WALK_VIDEO;                                                  /* MPEG-PS, MPEG-1/2 ES */
    /* MPEG-TS: sync byte every 188 bytes (a third packet checked when read);
     * M2TS: the same after a 4-byte timestamp, every 192 bytes. */
    if (n > 188 && b[0] == 0x47 && b[188] == 0x47 && (n <= 376 || b[376] == 0x47))
        return MG_WALK_VIDEO;
    if (n > 196 && b[4] == 0x47 && b[196] == 0x47 && (n <= 388 || b[388] == 0x47))
        return MG_WALK_VIDEO;
    if (at(b, n, 0, "FLV\x01", 4)) return MG_WALK_VIDEO;
    if (at(b, n, 0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c", 16))
        return MG_WALK_VIDEO;                                                  /* ASF/WMV */
    if (at(b, n, 0, ".RMF", 4)) return MG_WALK_VIDEO;                          /* RealMedia */
    if (at(b, n, 0, "OggS", 4)) {
        /* the first page holds the first stream's header: Opus, Vorbis,
         * FLAC or Speex is audio; anything else (Theora) a video candidate */
        if (at(b, n, 28, "OpusHead", 8) || at(b, n, 28, "\x01vorbis", 7) || at(b, n, 28, "\x7f" "FLAC", 5) ||
            at(b, n, 28, "Speex   ", 8))
            return MG_WALK_AUDIO;
        return MG_WALK_VIDEO;
    }
    /* audio */
    if (at(b, n, 0, "RIFF", 4) && at(b, n, 8, "WAVE", 4)) return MG_WALK_AUDIO;
    if (at(b, n, 0, "RF64", 4) && at(b, n, 8, "WAVE", 4)) return MG_WALK_AUDIO;
    if (at(b, n, 0, "fLaC", 4) || at(b, n, 0, "ID3", 3) || at(b, n, 0, "#!AMR", 5) || at(b, n, 0, ".snd", 4))
        return MG_WALK_AUDIO;
    if (at(b, n, 0, "FORM", 4) && (at(b, n, 8, "AIFF", 4) || at(b, n, 8, "AIFC", 4))) return MG_WALK_AUDIO;
    if (n >= 4 && b[0] == 0xff && (b[1] & 0xe0) == 0xe0) {
        /* an MPEG audio frame header (layer bits not 00, bitrate index not
         * 1111, sample rate index not 11) or ADTS (AAC: layer 00, then a
         * valid sampling-frequency index) */
        int layer = (b[1] >> 1) & 3, br = b[2] >> 4, sr = (b[2] >> 2) & 3;
        if (layer != 0 && br != 15 && sr != 3 && (b[1] & 0x18) != 0x08) return MG_WALK_AUDIO;
        if (layer == 0 && (b[1] & 0xf6) == 0xf0 && ((b[2] >> 2) & 0xf) < 13) return MG_WALK_AUDIO;
    }
    return MG_WALK_OTHER;
}

const char *mg_walk_kind_name(mg_walk_kind k) {
    switch (k) {
    case MG_WALK_IMAGE: return "image";
    case MG_WALK_VIDEO: return "video";
    case MG_WALK_AUDIO: return "audio";
    case MG_WALK_UNSNIFFED: return "unsniffed";
    default: return "other";
    }
}

/* ---------------------------------------------------------------------- */
/* Walker                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct {
    char *names;           /* NUL-separated names of the directory */
    size_t names_len, names_cap;
    char **sorted;         /* pointers into names, strcmp order */
    size_t sorted_cap;
    size_t n, i;           /* names, next to visit */
    size_t path_len;       /* the directory's path is w->path[0..path_len) */
    uint64_t dev, ino;
} frame;

struct mg_walk {
    mg_walk_params p;
    char **roots;
    int n_roots, next_root;
    char **inc, **exc;     /* NULL-terminated copies */
    frame *frames;
    int n_frames, cap_frames;
    char *path;
    size_t path_cap;
    size_t rel_off;        /* where paths below the current root start */
    keyset dirs, files;
    mg_walk_stats st;
    int fatal, done;
    mg_error fatal_err;
};

mg_walk_params mg_walk_default_params(void) {
    mg_walk_params p;
    memset(&p, 0, sizeof p);
    p.hidden = 0;
    p.follow_symlinks = 1;
    p.include = NULL;
    p.exclude = NULL;
    p.sniff = 1;
    p.only_media = 1;
    p.max_depth = MG_WALK_DEFAULT_MAX_DEPTH;
    return p;
}

static void free_strv(char **v) {
    if (!v) return;
    for (char **s = v; *s; s++) free(*s);
    free(v);
}

void mg_walk_close(mg_walk *w) {
    if (!w) return;
    if (w->roots)
        for (int i = 0; i < w->n_roots; i++) free(w->roots[i]);
    free(w->roots);
    free_strv(w->inc);
    free_strv(w->exc);
    for (int i = 0; i < w->cap_frames; i++) {
        free(w->frames[i].names);
        free(w->frames[i].sorted);
    }
    free(w->frames);
    free(w->path);
    free(w->dirs.k);
    free(w->files.k);
    free(w);
}

/* Copies a NULL-terminated pattern list; *out stays NULL for an empty one. */
static int copy_patterns(const char *const *src, const char *what, char ***out, mg_error *err) {
    size_t n = 0;
    while (src && src[n]) {
        const char *s = src[n];
        size_t len = strlen(s);
        while (len > 0 && s[len - 1] == '/') len--;
        if (len == 0)
            return mg_err_set(err, MG_EINVAL, "walk: empty %s pattern '%s'", what, s);
        n++;
    }
    if (!n) return MG_OK;
    if (!(*out = calloc(n + 1, sizeof **out))) return mg_err_set(err, MG_ENOMEM, "walk: out of memory");
    for (size_t i = 0; i < n; i++)
        if (!((*out)[i] = strdup(src[i]))) return mg_err_set(err, MG_ENOMEM, "walk: out of memory");
    return MG_OK;
}

int mg_walk_open(const char *const *roots, int n_roots, const mg_walk_params *p,
                 mg_walk **out, mg_error *err) {
    mg_err_clear(err);
    if (!out) return mg_err_set(err, MG_EINVAL, "walk: no output handle");
    *out = NULL;
    if (!roots || n_roots <= 0) return mg_err_set(err, MG_EINVAL, "walk: no roots to walk");
    mg_walk_params dp = mg_walk_default_params();
    if (!p) p = &dp;
    if (p->max_depth < 0)
        return mg_err_set(err, MG_EINVAL, "walk: max_depth %d is negative", p->max_depth);
    mg_walk *w = calloc(1, sizeof *w);
    if (!w) return mg_err_set(err, MG_ENOMEM, "walk: out of memory");
    w->p = *p;
    w->p.include = w->p.exclude = NULL;
    int rc = MG_OK;
    if (!(w->roots = calloc((size_t)n_roots, sizeof *w->roots))) {
        rc = mg_err_set(err, MG_ENOMEM, "walk: out of memory");
        goto fail;
    }
    w->n_roots = n_roots;
    for (int i = 0; i < n_roots; i++) {
        if (!roots[i] || !roots[i][0]) {
            rc = mg_err_set(err, MG_EINVAL, "walk: root %d is empty", i + 1);
            goto fail;
        }
        size_t len = strlen(roots[i]);
        while (len > 1 && roots[i][len - 1] == '/') len--; /* "dir/" -> "dir", "//" -> "/" */
        if (!(w->roots[i] = strndup(roots[i], len))) {
            rc = mg_err_set(err, MG_ENOMEM, "walk: out of memory");
            goto fail;
        }
    }
    if ((rc = copy_patterns(p->include, "include", &w->inc, err)) != MG_OK ||
        (rc = copy_patterns(p->exclude, "exclude", &w->exc, err)) != MG_OK)
        goto fail;
    *out = w;
    return MG_OK;
fail:
    mg_walk_close(w);
    return rc;
}

void mg_walk_get_stats(const mg_walk *w, mg_walk_stats *out) {
    if (!out) return;
    if (w) *out = w->st;
    else memset(out, 0, sizeof *out);
}

static int fail_nomem(mg_walk *w, mg_error *pr, const char *doing) {
    w->fatal = MG_ENOMEM;
    mg_err_set(&w->fatal_err, MG_ENOMEM, "%s: out of memory %s", w->path ? w->path : "walk", doing);
    if (pr) *pr = w->fatal_err;
    return MG_ENOMEM;
}

static int problem(mg_walk *w, mg_walk_entry *e, const char *rel, mg_error *pr, int code,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int problem(mg_walk *w, mg_walk_entry *e, const char *rel, mg_error *pr, int code,
                   const char *fmt, ...) {
    char reason[MG_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    memset(e, 0, sizeof *e);
    e->path = w->path;
    e->rel = rel;
    mg_err_set(pr, code, "%s: %s", w->path, reason);
    w->st.problems++;
    return MG_WALK_PROBLEM;
}

static int path_reserve(mg_walk *w, size_t need) {
    if (need <= w->path_cap) return 0;
    size_t cap = w->path_cap ? w->path_cap : 256;
    while (cap < need) cap *= 2;
    char *np = realloc(w->path, cap);
    if (!np) return -1;
    w->path = np;
    w->path_cap = cap;
    return 0;
}

static int matches_any(char **pats, const char *rel, int is_dir) {
    for (char **p = pats; p && *p; p++)
        if (mg_glob_match(*p, rel, is_dir)) return 1;
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the directory at w->path into a new frame. */
static int enter_dir(mg_walk *w, const struct stat *st, int depth, int is_root, const char *rel,
                     mg_walk_entry *e, mg_error *pr) {
    if (!is_root && matches_any(w->exc, rel, 1)) {
        w->st.skipped_excluded++;
        return WALK_CONTINUE;
    }
    for (int i = 0; i < w->n_frames; i++)
        if (w->frames[i].dev == (uint64_t)st->st_dev && w->frames[i].ino == (uint64_t)st->st_ino)
            return problem(w, e, rel, pr, MG_ELIMIT,
                           "symbolic link loop: leads back to its ancestor '%.*s'",
                           (int)w->frames[i].path_len, w->path);
    if (keyset_has(&w->dirs, st->st_dev, st->st_ino)) {
        w->st.skipped_duplicate++;
        return WALK_CONTINUE;
    }
    if (w->p.max_depth && depth >= w->p.max_depth)
        return problem(w, e, rel, pr, MG_ELIMIT, "directory deeper than max_depth %d: not walked",
                       w->p.max_depth);
    if (keyset_add(&w->dirs, st->st_dev, st->st_ino)) return fail_nomem(w, pr, "tracking directories");
    DIR *d = opendir(w->path);
    if (!d) {
        int en = errno;
        return problem(w, e, rel, pr, en == ENOENT ? MG_ENOTFOUND : MG_EIO,
                       "cannot open directory: %s", strerror(en));
    }
    if (w->n_frames == w->cap_frames) {
        int cap = w->cap_frames ? w->cap_frames * 2 : 16;
        frame *nf = realloc(w->frames, (size_t)cap * sizeof *nf);
        if (!nf) { closedir(d); return fail_nomem(w, pr, "entering directory"); }
        memset(nf + w->cap_frames, 0, (size_t)(cap - w->cap_frames) * sizeof *nf);
        w->frames = nf;
        w->cap_frames = cap;
    }
    frame *f = &w->frames[w->n_frames];
    f->names_len = f->n = f->i = 0;
    struct dirent *de;
    int read_err = 0;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d))) { read_err = errno; break; }
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
        w->st.entries++;
        if (nm[0] == '.' && !w->p.hidden) { w->st.skipped_hidden++; continue; }
        size_t len = strlen(nm) + 1;
        if (f->names_len + len > f->names_cap) {
            size_t cap = f->names_cap ? f->names_cap : 4096;
            while (cap < f->names_len + len) cap *= 2;
            char *nn = realloc(f->names, cap);
            if (!nn) { closedir(d); return fail_nomem(w, pr, "reading directory"); }
            f->names = nn;
            f->names_cap = cap;
        }
        memcpy(f->names + f->names_len, nm, len);
        f->names_len += len;
        f->n++;
    }
    closedir(d);
    if (f->n > f->sorted_cap) {
        size_t cap = f->sorted_cap ? f->sorted_cap : 256;
        while (cap < f->n) cap *= 2;
        char **ns = realloc(f->sorted, cap * sizeof *ns);
        if (!ns) return fail_nomem(w, pr, "sorting directory");
        f->sorted = ns;
        f->sorted_cap = cap;
    }
    for (size_t i = 0, off = 0; i < f->n; i++) {
        f->sorted[i] = f->names + off;
        off += strlen(f->names + off) + 1;
    }
    qsort(f->sorted, f->n, sizeof *f->sorted, cmp_names);
    f->path_len = strlen(w->path);
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    w->n_frames++;
    w->st.dirs++;
    if (read_err) /* walk what was read, and say the listing is incomplete */
        return problem(w, e, rel, pr, MG_EIO, "reading directory failed (listing incomplete): %s",
                       strerror(read_err));
    return WALK_CONTINUE;
}

/* Reads the first bytes of the regular file at w->path; *kind, or
 * WALK_CONTINUE when it is no longer a regular file, or a problem. */
static int sniff_file(mg_walk *w, struct stat *st, int is_root, const char *rel,
                      mg_walk_kind *kind, mg_walk_entry *e, mg_error *pr) {
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (!w->p.follow_symlinks && !is_root) flags |= O_NOFOLLOW;
    int fd = open(w->path, flags);
    if (fd < 0) {
        int en = errno;
        if (en == ENOENT) return problem(w, e, rel, pr, MG_ENOTFOUND, "vanished during the walk");
        if (en == ELOOP && (flags & O_NOFOLLOW)) { w->st.skipped_symlinks++; return WALK_CONTINUE; }
        return problem(w, e, rel, pr, MG_EIO, "cannot open: %s", strerror(en));
    }
    struct stat fst;
    if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) { /* replaced since the stat */
        close(fd);
        w->st.skipped_special++;
        return WALK_CONTINUE;
    }
    *st = fst;
    uint8_t buf[MG_WALK_SNIFF_BYTES];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int en = errno;
            close(fd);
            return problem(w, e, rel, pr, MG_EIO, "cannot read: %s", strerror(en));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *kind = mg_walk_sniff(buf, n);
    return MG_OK;
}

static int take_file(mg_walk *w, struct stat *st, int depth, int is_root, const char *rel,
                     mg_walk_entry *e, mg_error *pr) {
    w->st.files++;
    if (matches_any(w->exc, rel, 0) || (w->inc && !matches_any(w->inc, rel, 0))) {
        w->st.skipped_excluded++;
        return WALK_CONTINUE;
    }
    if (keyset_has(&w->files, st->st_dev, st->st_ino)) {
        w->st.skipped_duplicate++;
        return WALK_CONTINUE;
    }
    mg_walk_kind kind = MG_WALK_UNSNIFFED;
    if (w->p.sniff) {
        kind = MG_WALK_OTHER;
        if (st->st_size > 0) {
            int rc = sniff_file(w, st, is_root, rel, &kind, e, pr);
            if (rc != MG_OK) return rc;
            if (kind == MG_WALK_AUDIO && !w->p.audio) kind = MG_WALK_OTHER;
            if (keyset_has(&w->files, st->st_dev, st->st_ino)) { /* replaced by a file seen */
                w->st.skipped_duplicate++;
                return WALK_CONTINUE;
            }
        }
        if (kind == MG_WALK_OTHER && w->p.only_media) {
            w->st.skipped_not_media++;
            return WALK_CONTINUE;
        }
    }
    if (keyset_add(&w->files, st->st_dev, st->st_ino)) return fail_nomem(w, pr, "tracking files");
    memset(e, 0, sizeof *e);
    e->path = w->path;
    e->rel = rel;
    e->size = st->st_size;
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->kind = kind;
    e->depth = depth;
    w->st.yielded++;
    mg_err_clear(pr);
    return MG_OK;
}

/* Looks at the path in w->path: a root (depth 0) or an entry of the top frame. */
static int visit(mg_walk *w, int depth, int is_root, const char *rel, mg_walk_entry *e,
                 mg_error *pr) {
    struct stat st;
    int follow = is_root || w->p.follow_symlinks;
    if ((follow ? stat(w->path, &st) : lstat(w->path, &st)) != 0) {
        int en = errno;
        struct stat lst;
        /* Unresolvable (dangling, looping, vanished): judged as a file by
         * name, so an excluded or not-included name stays quiet. */
        if (!is_root && (matches_any(w->exc, rel, 0) || (w->inc && !matches_any(w->inc, rel, 0)))) {
            w->st.skipped_excluded++;
            return WALK_CONTINUE;
        }
        if (en == ELOOP)
            return problem(w, e, rel, pr, MG_ELIMIT,
                           "symbolic link loop (too many levels of symbolic links)");
        if (en == ENOENT && lstat(w->path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(w->path, target, sizeof target - 1);
            target[n > 0 ? n : 0] = 0;
            return problem(w, e, rel, pr, MG_ENOTFOUND, "dangling symbolic link to '%s'", target);
        }
        if (en == ENOENT || en == ENOTDIR)
            return problem(w, e, rel, pr, MG_ENOTFOUND, "%s",
                           is_root ? "no such file or directory" : "vanished during the walk");
        if (en == ENAMETOOLONG)
            return problem(w, e, rel, pr, MG_ELIMIT, "path too long");
        return problem(w, e, rel, pr, MG_EIO, "cannot stat: %s", strerror(en));
    }
    if (S_ISLNK(st.st_mode)) {
        w->st.skipped_symlinks++;
        return WALK_CONTINUE;
    }
    if (S_ISDIR(st.st_mode)) return enter_dir(w, &st, depth, is_root, rel, e, pr);
    if (!S_ISREG(st.st_mode)) {
        w->st.skipped_special++;
        if (is_root) /* named explicitly: say why nothing came of it */
            return problem(w, e, rel, pr, MG_EUNSUPPORTED, "not a regular file or directory");
        return WALK_CONTINUE;
    }
    return take_file(w, &st, depth, is_root, rel, e, pr);
}

int mg_walk_next(mg_walk *w, mg_walk_entry *e, mg_error *problem_out) {
    mg_walk_entry scratch;
    if (!e) e = &scratch;
    if (!w) return mg_err_set(problem_out, MG_EINVAL, "walk: no handle");
    if (w->fatal) {
        if (problem_out) *problem_out = w->fatal_err;
        return w->fatal;
    }
    mg_err_clear(problem_out);
    if (w->done) return MG_WALK_END;
    for (;;) {
        int rc;
        if (w->n_frames == 0) {
            if (w->next_root >= w->n_roots) {
                w->done = 1;
                memset(e, 0, sizeof *e);
                return MG_WALK_END;
            }
            const char *root = w->roots[w->next_root++];
            size_t len = strlen(root);
            if (path_reserve(w, len + 1)) return fail_nomem(w, problem_out, "building a path");
            memcpy(w->path, root, len + 1);
            /* Entries below a directory root start after "root/"; a file
             * root is matched (and reported) by its base name. */
            w->rel_off = len + (root[len - 1] == '/' ? 0 : 1);
            const char *slash = strrchr(w->path, '/');
            const char *base = slash && slash[1] ? slash + 1 : w->path;
            rc = visit(w, 0, 1, base, e, problem_out);
        } else {
            frame *f = &w->frames[w->n_frames - 1];
            if (f->i == f->n) {
                w->n_frames--;
                continue;
            }
            const char *name = f->sorted[f->i++];
            size_t nl = strlen(name), pl = f->path_len;
            int sep = w->path[pl - 1] != '/';
            if (path_reserve(w, pl + sep + nl + 1)) return fail_nomem(w, problem_out, "building a path");
            if (sep) w->path[pl] = '/';
            memcpy(w->path + pl + sep, name, nl + 1);
            rc = visit(w, w->n_frames, 0, w->path + w->rel_off, e, problem_out);
        }
        if (rc != WALK_CONTINUE) return rc;
    }
}
