/*
 * cli_bench_ocr.c - `mediagrep bench ocr`: accuracy and speed of the OCR
 * engine (ocr/ocr.h) on the generated corpus (scripts/gen_ocr_corpus.py),
 * against the `tesseract IMG stdout` command (whole page, default settings)
 * run on the same images in the same run. Word recall and precision per
 * category are scored exactly as bench/ocr_eval.py scores them (lowercased,
 * surrounding punctuation stripped, tokens with a letter or digit, multiset
 * match), so the two agree. Our engine runs on one handle in this thread;
 * time per image is wall and thread CPU of mg_ocr_file (decode + OCR); the
 * command's is wall and child CPU. Then K text-free 12 MP (4000x3000) JPEG
 * photos made from scikit-image's photos: mean time per photo and the tokens
 * read there (the target: none). Both runs set OMP_THREAD_LIMIT=1 for the
 * command, as ocr_eval.py does (see README "OCR", OpenMP).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "ocr/ocr.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep bench ocr [--dir D | --n N] [--no-peer] [--photos12mp K] [--json]\n"
            "\n"
            "OCR recall, precision and time per image category, ours (mg_ocr_file, one thread) against the\n"
            "`tesseract IMG stdout` command (default settings) on the same images; then K text-free 12 MP\n"
            "JPEG photos: our mean time per photo and the tokens read (must be 0).\n"
            "\n"
            "  --dir D          a corpus made by scripts/gen_ocr_corpus.py (default: one with --n N images\n"
            "                   per category is generated into a temporary folder)\n"
            "  --n N            corpus size when generated (default 4)\n"
            "  --no-peer        do not run the tesseract command\n"
            "  --photos12mp K   12 MP text-free photos to time (default 4; 0 = skip)\n"
            "  --json           one JSON object instead of the table\n");
}

/* ---------------- tokens, as bench/ocr_eval.py ---------------- */

typedef struct {
    char *buf; /* token bytes, each NUL-terminated */
    size_t len, cap;
    size_t *off; /* token starts in buf */
    const char **v; /* pointers, filled by tok_finish */
    int n, vcap;
} tokvec;

/* The characters ocr_eval.py's norm() strips from both ends. */
static const char *const STRIP_UTF8[] = {"\xe2\x80\x9c", "\xe2\x80\x9d", "\xe2\x80\x98", "\xe2\x80\x99",
                                         "\xc2\xab", "\xc2\xbb"};

static size_t strip_len(const char *s, size_t n, int at_end) {
    if (!n) return 0;
    char c = at_end ? s[n - 1] : s[0];
    if (strchr(".,;:!?\"'()[]{}|", c) && c) return 1;
    for (size_t i = 0; i < sizeof STRIP_UTF8 / sizeof *STRIP_UTF8; i++) {
        size_t l = strlen(STRIP_UTF8[i]);
        if (n >= l && !memcmp(at_end ? s + n - l : s, STRIP_UTF8[i], l)) return l;
    }
    return 0;
}

static int tok_push(tokvec *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1) cap *= 2;
        char *nb = realloc(t->buf, cap);
        if (!nb) return -1;
        t->buf = nb;
        t->cap = cap;
    }
    if (t->n == t->vcap) {
        int vc = t->vcap ? t->vcap * 2 : 256;
        size_t *no = realloc(t->off, (size_t)vc * sizeof *no);
        if (!no) return -1;
        t->off = no;
        const char **nv = realloc(t->v, (size_t)vc * sizeof *nv);
        if (!nv) return -1;
        t->v = nv;
        t->vcap = vc;
    }
    t->off[t->n++] = t->len;
    memcpy(t->buf + t->len, s, n);
    t->buf[t->len + n] = 0;
    t->len += n + 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Appends the tokens of text: split on whitespace, lowercased, punctuation
 * stripped from both ends, kept when an ASCII letter or digit is left. */
static int tok_add(tokvec *t, const char *text) {
    char w[512];
    const char *s = text;
    while (*s) {
        while (*s && strchr(" \t\n\r\f\v", *s)) s++;
        size_t n = 0;
        while (s[n] && !strchr(" \t\n\r\f\v", s[n])) n++;
        if (!n) break;
        size_t l = n < sizeof w ? n : sizeof w - 1;
        for (size_t i = 0; i < l; i++) w[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
        s += n;
        const char *a = w;
        size_t k;
        while ((k = strip_len(a, l, 0))) a += k, l -= k;
        while ((k = strip_len(a, l, 1))) l -= k;
        int alnum = 0;
        for (size_t i = 0; i < l; i++) alnum |= (a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9');
        if (alnum && tok_push(t, a, l)) return -1;
    }
    return 0;
}

static void tok_finish(tokvec *t) {
    for (int i = 0; i < t->n; i++) t->v[i] = t->buf + t->off[i];
    qsort(t->v, (size_t)t->n, sizeof *t->v, cmp_str);
}

static void tok_clear(tokvec *t) { t->len = 0, t->n = 0; }

static void tok_free(tokvec *t) {
    free(t->buf);
    free(t->off);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* Multiset intersection of two sorted token lists. */
static int64_t tok_hits(const tokvec *a, const tokvec *b) {
    int64_t hit = 0;
    for (int i = 0, j = 0; i < a->n && j < b->n;) {
        int c = strcmp(a->v[i], b->v[j]);
        if (!c) hit++, i++, j++;
        else if (c < 0) i++;
        else j++;
    }
    return hit;
}

/* ---------------- child processes ---------------- */

static double thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs argv (PATH searched) with OMP_THREAD_LIMIT=1, stdin and stderr on
 * /dev/null; stdout into *out (grown, NUL-terminated) or /dev/null when out
 * is NULL. *cpu_ms: the child's user + system time. Returns the exit status,
 * or -1 when it could not run. */
static int run_child(char *const argv[], char **out, size_t *cap, double *cpu_ms) {
    int fd[2] = {-1, -1};
    if (out && pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        if (out) close(fd[0]), close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(out ? fd[1] : nul, 1);
        dup2(nul, 2);
        if (out) close(fd[0]), close(fd[1]);
        setenv("OMP_THREAD_LIMIT", "1", 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    size_t n = 0;
    int rc = 0;
    if (out) {
        close(fd[1]);
        for (;;) {
            if (n + 4097 > *cap) {
                size_t c = *cap ? *cap * 2 : 65536;
                char *nb = realloc(*out, c);
                if (!nb) {
                    rc = -1;
                    break;
                }
                *out = nb;
                *cap = c;
            }
            ssize_t k = read(fd[0], *out + n, 4096);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            n += (size_t)k;
        }
        close(fd[0]);
        if (*out) (*out)[n] = 0;
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR) return -1;
    *cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    if (rc) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* K text-free 4000x3000 photos: scikit-image's photos upscaled 1-1.25x past
 * 12 MP (bicubic), cropped at a seeded place, half of them mirrored, saved
 * as JPEG quality 90. */
static const char PHOTO_PY[] =
    "import os, random, sys\n"
    "from PIL import Image, ImageOps\n"
    "SK = '/usr/lib/python3/dist-packages/skimage/data'\n"
    "P = ['astronaut.png', 'coffee.png', 'chelsea.png', 'rocket.jpg', 'motorcycle_left.png', 'camera.png',\n"
    "     'coins.png', 'hubble_deep_field.jpg']\n"
    "out, k = sys.argv[1], int(sys.argv[2])\n"
    "rng = random.Random(12000000)\n"
    "ph = [f for f in (os.path.join(SK, p) for p in P) if os.path.exists(f)]\n"
    "for i in range(k):\n"
    "    im = Image.open(ph[i % len(ph)]).convert('RGB')\n"
    "    s = max(4000 / im.width, 3000 / im.height) * rng.uniform(1.0, 1.25)\n"
    "    im = im.resize((max(4000, round(im.width * s)), max(3000, round(im.height * s))), Image.BICUBIC)\n"
    "    x, y = rng.randint(0, im.width - 4000), rng.randint(0, im.height - 3000)\n"
    "    im = im.crop((x, y, x + 4000, y + 3000))\n"
    "    if rng.random() < 0.5:\n"
    "        im = ImageOps.mirror(im)\n"
    "    im.save(os.path.join(out, 'photo12mp_%03d.jpg' % i), quality=90)\n";

/* ---------------- the corpus ---------------- */

typedef struct {
    char name[32];
    int n;
    int64_t hit, truth, pred;    /* ours */
    double ms, cpu_ms;
    int64_t phit, ppred;         /* the tesseract command's */
    double pms, pcpu_ms;
} cat_stat;

typedef struct {
    cat_stat cats[8];
    int n_cats;
    int peer;
    char *pbuf; /* the command's output, reused */
    size_t pcap;
    tokvec gt, ours, theirs;
} bench_state;

static cat_stat *cat_of(bench_state *b, const char *name) {
    for (int i = 0; i < b->n_cats; i++)
        if (!strcmp(b->cats[i].name, name)) return &b->cats[i];
    if (b->n_cats == 8) return NULL;
    cat_stat *c = &b->cats[b->n_cats++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

/* One corpus image: our engine and (with peer) the command, scored. */
static int bench_image(bench_state *b, mg_ocr *o, const char *path, json_object *words, cat_stat *c) {
    tok_clear(&b->gt);
    for (size_t j = 0; j < json_object_array_length(words); j++)
        if (tok_add(&b->gt, json_object_get_string(json_object_array_get_idx(words, j)))) return -1;
    tok_finish(&b->gt);
    mg_ocr_result r;
    mg_error err = {0};
    double t0 = mg_now(), c0 = thread_cpu_ms();
    if (mg_ocr_file(o, path, &r, &err) != MG_OK) {
        fprintf(stderr, "bench ocr: %s\n", err.msg);
        return -1;
    }
    c->cpu_ms += thread_cpu_ms() - c0;
    c->ms += (mg_now() - t0) * 1e3;
    tok_clear(&b->ours);
    int rc = tok_add(&b->ours, r.text);
    mg_ocr_result_free(&r);
    if (rc) return -1;
    tok_finish(&b->ours);
    c->n++;
    c->truth += b->gt.n;
    c->pred += b->ours.n;
    c->hit += tok_hits(&b->gt, &b->ours);
    if (!b->peer) return 0;
    char *argv[] = {"tesseract", (char *)path, "stdout", NULL};
    double pcpu = 0;
    t0 = mg_now();
    if (run_child(argv, &b->pbuf, &b->pcap, &pcpu) != 0) {
        fprintf(stderr, "bench ocr: `tesseract %s stdout` failed (Debian: apt-get install tesseract-ocr)\n", path);
        return -1;
    }
    c->pms += (mg_now() - t0) * 1e3;
    c->pcpu_ms += pcpu;
    tok_clear(&b->theirs);
    if (tok_add(&b->theirs, b->pbuf)) return -1;
    tok_finish(&b->theirs);
    c->ppred += b->theirs.n;
    c->phit += tok_hits(&b->gt, &b->theirs);
    return 0;
}

static int bench_corpus(bench_state *b, mg_ocr *o, const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/truth.json", dir);
    json_object *arr = json_object_from_file(path);
    if (!arr || !json_object_is_type(arr, json_type_array)) {
        fprintf(stderr, "bench ocr: %s: not a corpus made by scripts/gen_ocr_corpus.py\n", path);
        json_object_put(arr);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < json_object_array_length(arr) && !rc; i++) {
        json_object *e = json_object_array_get_idx(arr, i), *f, *cat, *w;
        if (!json_object_object_get_ex(e, "file", &f) || !json_object_object_get_ex(e, "category", &cat) ||
            !json_object_object_get_ex(e, "words", &w) || !json_object_is_type(w, json_type_array)) {
            fprintf(stderr, "bench ocr: %s: entry %zu lacks file/category/words\n", path, i);
            rc = -1;
            break;
        }
        cat_stat *c = cat_of(b, json_object_get_string(cat));
        if (!c) {
            fprintf(stderr, "bench ocr: %s: more than 8 categories\n", path);
            rc = -1;
            break;
        }
        char img[PATH_MAX];
        snprintf(img, sizeof img, "%s/%s", dir, json_object_get_string(f));
        rc = bench_image(b, o, img, w, c);
    }
    json_object_put(arr);
    return rc;
}

/* ---------------- 12 MP photos ---------------- */

typedef struct {
    int n;
    double ms, cpu_ms, max_ms;
    int64_t tokens;
} photo_stat;

static int bench_photos(bench_state *b, mg_ocr *o, const char *dir, int k, photo_stat *ps) {
    memset(ps, 0, sizeof *ps);
    char kb[16];
    snprintf(kb, sizeof kb, "%d", k);
    char *argv[] = {"/usr/bin/python3", "-c", (char *)PHOTO_PY, (char *)dir, kb, NULL};
    double cpu;
    if (run_child(argv, NULL, NULL, &cpu) != 0) {
        fprintf(stderr, "bench ocr: could not make the 12 MP photos (Debian: python3-pil, python3-skimage)\n");
        return -1;
    }
    for (int i = 0; i < k; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/photo12mp_%03d.jpg", dir, i);
        mg_ocr_result r;
        mg_error err = {0};
        double t0 = mg_now(), c0 = thread_cpu_ms();
        if (mg_ocr_file(o, path, &r, &err) != MG_OK) {
            fprintf(stderr, "bench ocr: %s\n", err.msg);
            return -1;
        }
        double c1 = thread_cpu_ms(), ms = (mg_now() - t0) * 1e3;
        ps->cpu_ms += c1 - c0;
        ps->ms += ms;
        if (ms > ps->max_ms) ps->max_ms = ms;
        tok_clear(&b->ours);
        int rc = tok_add(&b->ours, r.text);
        mg_ocr_result_free(&r);
        if (rc) return -1;
        ps->tokens += b->ours.n;
        ps->n++;
    }
    return 0;
}

/* ---------------- output ---------------- */

static double ratio(int64_t a, int64_t b) { return b ? (double)a / b : NAN; }

/* v with `digits` decimals (printed so), or null when not a number */
static json_object *jnum_d(double v, int digits) {
    if (!isfinite(v)) return NULL;
    char b[32];
    snprintf(b, sizeof b, "%.*f", digits, v);
    return json_object_new_double_s(strtod(b, NULL), b);
}
static json_object *jnum(double v) { return jnum_d(v, 4); }
static json_object *jms(double v) { return jnum_d(v, 1); }

static void print_json(const bench_state *b, const char *dir, const photo_stat *ps, int k) {
    json_object *j = json_object_new_object(), *cats = json_object_new_array();
    json_object_object_add(j, "corpus", json_object_new_string(dir));
    json_object_object_add(j, "tesseract_command", json_object_new_boolean(b->peer));
    for (int i = 0; i < b->n_cats; i++) {
        const cat_stat *c = &b->cats[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "category", json_object_new_string(c->name));
        json_object_object_add(e, "images", json_object_new_int(c->n));
        json_object_object_add(e, "truth_tokens", json_object_new_int64(c->truth));
        json_object_object_add(e, "recall", jnum(ratio(c->hit, c->truth)));
        json_object_object_add(e, "precision", jnum(ratio(c->hit, c->pred)));
        json_object_object_add(e, "tokens", json_object_new_int64(c->pred));
        json_object_object_add(e, "ms", jms(c->n ? c->ms / c->n : NAN));
        json_object_object_add(e, "cpu_ms", jms(c->n ? c->cpu_ms / c->n : NAN));
        if (b->peer) {
            json_object_object_add(e, "tesseract_recall", jnum(ratio(c->phit, c->truth)));
            json_object_object_add(e, "tesseract_precision", jnum(ratio(c->phit, c->ppred)));
            json_object_object_add(e, "tesseract_tokens", json_object_new_int64(c->ppred));
            json_object_object_add(e, "tesseract_ms", jms(c->n ? c->pms / c->n : NAN));
            json_object_object_add(e, "tesseract_cpu_ms", jms(c->n ? c->pcpu_ms / c->n : NAN));
        }
        json_object_array_add(cats, e);
    }
    json_object_object_add(j, "categories", cats);
    if (k > 0) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "photos", json_object_new_int(ps->n));
        json_object_object_add(p, "width", json_object_new_int(4000));
        json_object_object_add(p, "height", json_object_new_int(3000));
        json_object_object_add(p, "ms", jms(ps->n ? ps->ms / ps->n : NAN));
        json_object_object_add(p, "cpu_ms", jms(ps->n ? ps->cpu_ms / ps->n : NAN));
        json_object_object_add(p, "max_ms", jms(ps->max_ms));
        json_object_object_add(p, "tokens", json_object_new_int64(ps->tokens));
        json_object_object_add(j, "photos12mp", p);
    }
    printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(j);
}

/* "0.911", or "-" when there is nothing to divide by (no words to find) */
static const char *fmt3(char *buf, double v) {
    if (isfinite(v)) snprintf(buf, 16, "%.3f", v);
    else snprintf(buf, 16, "-");
    return buf;
}

static void print_table(const bench_state *b, const char *dir, const photo_stat *ps, int k) {
    printf("corpus %s; ours: mg_ocr_file on one thread (decode + OCR); tesseract: `tesseract IMG stdout`\n", dir);
    printf("%-8s %6s | %6s %9s %6s %7s %7s | %10s %9s %6s %7s %7s\n", "category", "images", "recall",
           "precision", "tokens", "ms/img", "cpu ms", "tess rec", "precision", "tokens", "ms/img", "cpu ms");
    for (int i = 0; i < b->n_cats; i++) {
        const cat_stat *c = &b->cats[i];
        char r[16], p[16], pr[16], pp[16];
        printf("%-8s %6d | %6s %9s %6lld %7.0f %7.0f |", c->name, c->n, fmt3(r, ratio(c->hit, c->truth)),
               fmt3(p, ratio(c->hit, c->pred)), (long long)c->pred, c->ms / c->n, c->cpu_ms / c->n);
        if (b->peer)
            printf(" %10s %9s %6lld %7.0f %7.0f\n", fmt3(pr, ratio(c->phit, c->truth)), fmt3(pp, ratio(c->phit, c->ppred)),
                   (long long)c->ppred, c->pms / c->n, c->pcpu_ms / c->n);
        else
            printf(" %10s\n", "-");
    }
    if (k > 0)
        printf("12 MP text-free photos (4000x3000 JPEG q90): %d, mean %.0f ms wall (max %.0f), %.0f ms CPU per "
               "photo, tokens read %lld%s\n",
               ps->n, ps->ms / ps->n, ps->max_ms, ps->cpu_ms / ps->n, (long long)ps->tokens,
               ps->tokens ? " (FAIL: must be 0)" : "");
}

/* ---------------- the command ---------------- */

static int parse(int argc, char **argv, const char **dir, int *n, int *peer, int *k, int *json) {
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--dir") && v) *dir = argv[++i];
        else if (!strcmp(a, "--n")) {
            if ((*n = mg_cli_int(a, v, 1, 1000)) < 0) return -1;
            i++;
        } else if (!strcmp(a, "--photos12mp")) {
            if ((*k = mg_cli_int(a, v, 0, 1000)) < 0) return -1;
            i++;
        } else if (!strcmp(a, "--no-peer")) *peer = 0;
        else if (!strcmp(a, "--json")) *json = 1;
        else {
            fprintf(stderr, "bench ocr: unknown or incomplete option '%s' (see --help)\n", a);
            return -1;
        }
    }
    return 0;
}

static void rm_rf(const char *dir) {
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    double cpu;
    run_child(argv, NULL, NULL, &cpu);
}

int mg_cli_bench_ocr(int argc, char **argv) {
    const char *dir = NULL;
    int n = 4, peer = 1, k = 4, json = 0;
    int pr = parse(argc, argv, &dir, &n, &peer, &k, &json);
    if (pr) return pr > 0 ? 0 : 2;
    char tmp[] = "/tmp/mediagrep-bench-ocr-XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "bench ocr: cannot create a temporary folder: %s\n", strerror(errno));
        return 1;
    }
    char corpus[PATH_MAX], photos[PATH_MAX];
    snprintf(photos, sizeof photos, "%s/photos12mp", tmp);
    int rc = 1;
    bench_state b;
    memset(&b, 0, sizeof b);
    b.peer = peer;
    mg_ocr *o = NULL;
    mg_error err = {0};
    if (!dir) {
        snprintf(corpus, sizeof corpus, "%s/corpus", tmp);
        char nb[16], script[PATH_MAX];
        snprintf(nb, sizeof nb, "%d", n);
        snprintf(script, sizeof script, "%s/scripts/gen_ocr_corpus.py", MG_SOURCE_DIR);
        char *gargv[] = {"/usr/bin/python3", script, corpus, "--n", nb, NULL};
        double cpu;
        if (!json) fprintf(stderr, "bench ocr: generating a corpus (--n %d) in %s\n", n, corpus);
        if (run_child(gargv, NULL, NULL, &cpu) != 0) {
            fprintf(stderr, "bench ocr: %s failed (Debian: python3-pil, python3-skimage)\n", script);
            goto out;
        }
        dir = corpus;
    }
    if (mkdir(photos, 0755) != 0) {
        fprintf(stderr, "bench ocr: %s: %s\n", photos, strerror(errno));
        goto out;
    }
    if (mg_ocr_open(NULL, &o, &err) != MG_OK) {
        fprintf(stderr, "bench ocr: %s\n", err.msg);
        goto out;
    }
    photo_stat ps;
    memset(&ps, 0, sizeof ps);
    if (bench_corpus(&b, o, dir) || (k > 0 && bench_photos(&b, o, photos, k, &ps))) goto out;
    if (json) print_json(&b, dir, &ps, k);
    else print_table(&b, dir, &ps, k);
    rc = ps.tokens ? 1 : 0;
out:
    mg_ocr_close(o);
    tok_free(&b.gt);
    tok_free(&b.ours);
    tok_free(&b.theirs);
    free(b.pbuf);
    rm_rf(tmp);
    return rc;
}
