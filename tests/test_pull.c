/*
 * test_pull.c - tests for src/hub/pull.c (`mediagrep model pull`) and the
 * `mediagrep model` CLI, against tests/fake_hub.py: a loopback HTTP server
 * with the Hugging Face hub's URL layout and headers, serving a tiny model
 * this test writes (config.json, a 200 KB stand-in model.safetensors,
 * vocab.json and merges.txt from ../shared/clip-tokenizer when present).
 * Covers: a full pull (bytes identical, digests recorded), skipping verified
 * files, resume after a dropped connection and from an existing .part,
 * servers that ignore Range or answer 416, checksum mismatch, 404/401, auth
 * not leaking to the CDN host, connection refused, a stalled server, 5xx
 * retries, weak ETags, name validation, mg_resolve_model and the CLI.
 * Skips (passing) only when /usr/bin/python3 is missing.
 */
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/cli.h"
#include "hub/pull.h"

#define PY "/usr/bin/python3"
#define REPO "testorg/tiny-clip"
#define REPO_DIR "testorg--tiny-clip"

static pid_t g_pid = -1;
static int g_stdin = -1;
static int g_port;
static char g_tmp[512], g_root[1024], g_log[1024];
static char *g_content[MG_PULL_NFILES];
static size_t g_len[MG_PULL_NFILES];
static char g_dir_buf[4096];

/* ---- helpers ------------------------------------------------------------ */

static char *path_join(const char *a, const char *b) {
    static char bufs[8][8300];
    static int k;
    char *o = bufs[k++ & 7];
    snprintf(o, sizeof bufs[0], "%s/%s", a, b);
    return o;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void mkdirs(const char *p) {
    char t[2048];
    snprintf(t, sizeof t, "%s", p);
    for (char *c = t + 1; *c; c++)
        if (*c == '/') { *c = 0; mkdir(t, 0755); *c = '/'; }
    mkdir(t, 0755);
}

static int file_idx(const char *name) {
    for (int i = 0; i < MG_PULL_NFILES; i++)
        if (!strcmp(mg_pull_files[i], name)) return i;
    return -1;
}

/* 1 if dir/file has exactly the served bytes. */
static int same_as_served(const char *dir, const char *file) {
    int i = file_idx(file);
    size_t n = 0;
    char *b = mg_test_read(path_join(dir, file), &n);
    int ok = b && i >= 0 && n == g_len[i] && !memcmp(b, g_content[i], n);
    free(b);
    return ok;
}

static int all_same(const char *dir) {
    int ok = 1;
    for (int i = 0; i < MG_PULL_NFILES; i++) ok &= same_as_served(dir, mg_pull_files[i]);
    return ok;
}

static void hexdigest(const EVP_MD *md, const char *pre, size_t prelen, const void *d, size_t n,
                      char *hex) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, md, NULL);
    if (pre) EVP_DigestUpdate(c, pre, prelen);
    EVP_DigestUpdate(c, d, n);
    EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < len; i++) sprintf(hex + 2 * i, "%02x", out[i]);
}

static void git_sha1(const void *d, size_t n, char *hex) {
    char pre[64];
    int pl = snprintf(pre, sizeof pre, "blob %zu", n);
    hexdigest(EVP_sha1(), pre, (size_t)pl + 1, d, n, hex);
}

static void log_clear(void) {
    FILE *f = fopen(g_log, "w");
    if (f) fclose(f);
}

/* Counts log lines containing a and (if non-NULL) b; copies the first. */
static int log_count(const char *a, const char *b, char *first, size_t n) {
    char *t = mg_test_read(g_log, NULL);
    int count = 0;
    if (first && n) first[0] = 0;
    for (char *line = t ? strtok(t, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (strstr(line, a) && (!b || strstr(line, b))) {
            if (count == 0 && first) snprintf(first, n, "%s", line);
            count++;
        }
    }
    free(t);
    return count;
}

static int count_substr(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Shows an expected error in the test output (to eyeball the wording). */
static void note(int rc, const mg_error *err) {
    fprintf(stderr, "  expected error %d: %s\n", rc, err->msg);
}

static long long log_num(const char *line, const char *key) {
    const char *p = strstr(line, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static const char *endpoint(const char *mode) {
    static char bufs[4][256];
    static int k;
    char *o = bufs[k++ & 3];
    if (mode && *mode) snprintf(o, sizeof bufs[0], "http://127.0.0.1:%d/_fault/%s", g_port, mode);
    else snprintf(o, sizeof bufs[0], "http://127.0.0.1:%d", g_port);
    return o;
}

static mg_pull_params params(const char *mode, const char *models) {
    mg_pull_params p = mg_pull_default_params();
    p.endpoint = endpoint(mode);
    p.models_dir = models;
    p.quiet = 1;
    p.connect_timeout_s = 5;
    p.low_speed_time_s = 10;
    p.max_attempts = 3;
    return p;
}

static char *models(const char *tag) {
    static char bufs[32][1024];
    static int k;
    char *o = bufs[k++ & 31];
    snprintf(o, sizeof bufs[0], "%s/models-%s", g_tmp, tag);
    return o;
}

static char *model_dir(const char *m) {
    static char bufs[8][1100];
    static int k;
    char *o = bufs[k++ & 7];
    snprintf(o, sizeof bufs[0], "%s/%s", m, REPO_DIR);
    return o;
}

/* ---- fixture and server ------------------------------------------------- */

static void make_fixture(void) {
    snprintf(g_root, sizeof g_root, "%s/hub", g_tmp);
    char repo[1200];
    snprintf(repo, sizeof repo, "%s/%s", g_root, REPO);
    mkdirs(repo);
    const char *cfg =
        "{\n  \"model_type\": \"clip\",\n  \"projection_dim\": 16,\n"
        "  \"text_config\": {\"hidden_size\": 32, \"num_hidden_layers\": 1},\n"
        "  \"vision_config\": {\"hidden_size\": 32, \"image_size\": 32, \"patch_size\": 16}\n}\n";
    g_content[0] = strdup(cfg);
    g_len[0] = strlen(cfg);
    size_t n = 0;
    char *v = mg_test_read(MG_SHARED_DIR "/clip-tokenizer/vocab.json", &n);
    if (!v) { v = strdup("{\"a</w>\": 0, \"b</w>\": 1, \"ab</w>\": 2}\n"); n = strlen(v); }
    g_content[1] = v;
    g_len[1] = n;
    char *m = mg_test_read(MG_SHARED_DIR "/clip-tokenizer/merges.txt", &n);
    if (!m) { m = strdup("#version: 0.2\na b</w>\n"); n = strlen(m); }
    g_content[2] = m;
    g_len[2] = n;
    /* 200 KB stand-in for model.safetensors: an 8-byte header length, a
     * JSON header, then pseudo-random bytes. */
    size_t big = 200 * 1024 + 17;
    unsigned char *b = malloc(big);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"}}";
    uint64_t hl = strlen(hdr);
    memcpy(b, &hl, 8);
    memcpy(b + 8, hdr, hl);
    uint32_t x = 2463534242u;
    for (size_t i = 8 + hl; i < big; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    g_content[3] = (char *)b;
    g_len[3] = big;
    for (int i = 0; i < MG_PULL_NFILES; i++)
        mg_test_write(path_join(repo, mg_pull_files[i]), g_content[i], g_len[i]);
    /* a repo without merges.txt */
    snprintf(repo, sizeof repo, "%s/testorg/no-merges", g_root);
    mkdirs(repo);
    for (int i = 0; i < MG_PULL_NFILES; i++)
        if (strcmp(mg_pull_files[i], "merges.txt"))
            mg_test_write(path_join(repo, mg_pull_files[i]), g_content[i], g_len[i]);
}

static int start_server(void) {
    char pf[1100], script[1100];
    snprintf(pf, sizeof pf, "%s/port", g_tmp);
    snprintf(g_log, sizeof g_log, "%s/requests.log", g_tmp);
    snprintf(script, sizeof script, "%s/tests/fake_hub.py", MG_SOURCE_DIR);
    int fds[2];
    if (pipe(fds) != 0) return -1;
    g_pid = fork();
    if (g_pid < 0) return -1;
    if (g_pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execl(PY, PY, script, "--root", g_root, "--port-file", pf, "--log", g_log,
              "--whisper-fixtures", (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    g_stdin = fds[1];
    fcntl(g_stdin, F_SETFD, FD_CLOEXEC);
    for (int i = 0; i < 400; i++) { /* up to 20 s */
        char *t = mg_test_read(pf, NULL);
        if (t) {
            g_port = atoi(t);
            free(t);
            if (g_port > 0) return 0;
        }
        int st;
        if (waitpid(g_pid, &st, WNOHANG) == g_pid) {
            g_pid = -1;
            return -1;
        }
        usleep(50 * 1000);
    }
    return -1;
}

static void stop_server(void) {
    if (g_stdin >= 0) close(g_stdin); /* the server exits on stdin EOF */
    g_stdin = -1;
    if (g_pid > 0) {
        kill(g_pid, SIGTERM);
        waitpid(g_pid, NULL, 0);
    }
    g_pid = -1;
}

static int unused_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

/* Runs the CLI with stdout captured into out. */
static int run_cli(char *out, size_t n, int argc, char **argv) {
    char path[1100];
    snprintf(path, sizeof path, "%s/cli-stdout", g_tmp);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    int rc = mg_cli_model(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    char *t = mg_test_read(path, NULL);
    snprintf(out, n, "%s", t ? t : "");
    free(t);
    return rc;
}

/* ---- tests -------------------------------------------------------------- */

static void test_names_offline(void) {
    mg_error err;
    const char *good[] = {"openai/clip-vit-base-patch32", "laion/CLIP-ViT-B-32.laion2B_s34B_b79K",
                          "single-name_1.0"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK_MSG(mg_model_name_check(good[i], &err) == MG_OK, "%s: %s", good[i], err.msg);
    const char *bad[] = {"", "../evil", "/abs/path", "org/../x", "a b", "org//m", "org/m/extra",
                         "org/", "/", ".hidden/m", "org/.git", "org--m", "-rf", "org/m;rm",
                         "org/m\n", "o\\m", "..", "org/m..x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = mg_model_name_check(bad[i], &err);
        CHECK_MSG(rc == MG_EINVAL, "'%s' accepted", bad[i]);
        CHECK(err.msg[0] != 0);
    }
    char out[256];
    CHECK_EQ_INT(mg_model_local_dir("openai/clip-vit-base-patch32", "/m/", out, sizeof out, &err), MG_OK);
    CHECK(!strcmp(out, "/m/openai--clip-vit-base-patch32"));
    CHECK_EQ_INT(mg_model_local_dir("openai/clip-vit-base-patch32", "/m", out, 10, &err), MG_ELIMIT);
    CHECK_EQ_INT(mg_model_local_dir("../x", "/m", out, sizeof out, &err), MG_EINVAL);

    /* mg_models_dir precedence */
    char *saved[3];
    const char *vars[3] = {"MEDIAGREP_MODELS", "XDG_CACHE_HOME", "HOME"};
    for (int i = 0; i < 3; i++) saved[i] = getenv(vars[i]) ? strdup(getenv(vars[i])) : NULL;
    setenv("MEDIAGREP_MODELS", "/x/models", 1);
    setenv("XDG_CACHE_HOME", "/c", 1);
    setenv("HOME", "/h", 1);
    char buf[256];
    CHECK(!strcmp(mg_models_dir(buf, sizeof buf), "/x/models"));
    unsetenv("MEDIAGREP_MODELS");
    CHECK(!strcmp(mg_models_dir(buf, sizeof buf), "/c/mediagrep/models"));
    unsetenv("XDG_CACHE_HOME");
    CHECK(!strcmp(mg_models_dir(buf, sizeof buf), "/h/.cache/mediagrep/models"));
    for (int i = 0; i < 3; i++) {
        if (saved[i]) setenv(vars[i], saved[i], 1);
        else unsetenv(vars[i]);
        free(saved[i]);
    }

    /* bad names, revisions and endpoints fail before any I/O */
    mg_pull_params p = mg_pull_default_params();
    p.endpoint = "http://127.0.0.1:9";
    p.models_dir = models("names");
    p.quiet = 1;
    CHECK_EQ_INT(mg_pull_model("../evil", &p, NULL, 0, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "..");
    CHECK_EQ_INT(mg_pull_model("/etc/passwd", &p, NULL, 0, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_pull_model("a b", &p, NULL, 0, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_pull_model(NULL, &p, NULL, 0, &err), MG_EINVAL);
    CHECK(!exists(p.models_dir));
    p.revision = "../main";
    CHECK_EQ_INT(mg_pull_model(REPO, &p, NULL, 0, &err), MG_EINVAL);
    p.revision = NULL;
    p.endpoint = "ftp://127.0.0.1";
    CHECK_EQ_INT(mg_pull_model(REPO, &p, NULL, 0, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "ftp://");
    CHECK(!exists(p.models_dir));
}

static void test_full_pull(void) {
    log_clear();
    mg_pull_params p = params(NULL, models("full"));
    p.quiet = 0; /* exercise the progress/summary output (stderr) */
    mg_error err;
    char out[4096];
    int rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%d %s", rc, err.msg);
    CHECK(!strcmp(out, model_dir(p.models_dir)));
    CHECK(all_same(out));
    for (int i = 0; i < MG_PULL_NFILES; i++) {
        char part[4200];
        snprintf(part, sizeof part, "%s/%s.part", out, mg_pull_files[i]);
        CHECK(!exists(part));
    }
    struct stat st;
    CHECK(stat(out, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0700) == 0700);
    /* the manifest records the hub's digests */
    char *mf = mg_test_read(path_join(out, MG_PULL_MANIFEST), NULL);
    CHECK(mf != NULL);
    char hex[65];
    hexdigest(EVP_sha256(), NULL, 0, g_content[3], g_len[3], hex);
    CHECK_STR_CONTAINS(mf, hex);
    git_sha1(g_content[0], g_len[0], hex);
    CHECK_STR_CONTAINS(mf, hex);
    CHECK_STR_CONTAINS(mf, "\"name\": \"" REPO "\"");
    CHECK_STR_CONTAINS(mf, "\"family\": \"clip\"");
    free(mf);
    mg_family fam = MG_FAMILY_UNKNOWN;
    CHECK_EQ_INT(mg_model_family(out, &fam, &err), MG_OK);
    CHECK(fam == MG_FAMILY_CLIP && mg_model_complete(out, MG_FAMILY_CLIP, NULL) == 1);
    CHECK(mg_model_complete(out, MG_FAMILY_UNKNOWN, NULL) == 0);
    /* requests: one HEAD per file; the LFS file went through the redirect */
    CHECK_EQ_INT(log_count("HEAD /" REPO "/resolve/main/", NULL, NULL, 0), 4);
    CHECK_EQ_INT(log_count("GET /" REPO "/resolve/main/model.safetensors", "status=302", NULL, 0), 1);
    CHECK_EQ_INT(log_count("GET /cdn/" REPO "/model.safetensors", "status=200", NULL, 0), 1);

    /* second pull: everything verified already, HEADs only */
    log_clear();
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK_EQ_INT(log_count("GET ", NULL, NULL, 0), 0);
    CHECK_EQ_INT(log_count("HEAD ", NULL, NULL, 0), 4);

    /* a locally modified file is detected (digest) and fetched again */
    mg_test_write(path_join(out, "config.json"), "{\"tampered\": 1}\n", 16);
    log_clear();
    p.quiet = 1;
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(same_as_served(out, "config.json"));
    CHECK_EQ_INT(log_count("GET ", NULL, NULL, 0), 1);
    CHECK_EQ_INT(log_count("GET /" REPO "/resolve/main/config.json", "status=200", NULL, 0), 1);

    /* manifest gone: files are re-hashed, not downloaded */
    unlink(path_join(out, MG_PULL_MANIFEST));
    log_clear();
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK_EQ_INT(log_count("GET ", NULL, NULL, 0), 0);
    CHECK(exists(path_join(out, MG_PULL_MANIFEST)));

    /* hub unreachable but everything verified locally: keep it */
    mg_pull_params off = p;
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", unused_port());
    off.endpoint = dead;
    rc = mg_pull_model(REPO, &off, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);

    /* a second pull of the same model while one runs is refused */
    int fd = open(out, O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    rc = mg_pull_model(REPO, &p, NULL, 0, &err);
    CHECK_EQ_INT(rc, MG_EIO);
    CHECK_STR_CONTAINS(err.msg, "another");
    close(fd);
    rc = mg_pull_model(REPO, &p, NULL, 0, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
}

static void test_resolve(void) {
    mg_error err;
    char out[4096];
    const char *m = models("full");
    char *dir = model_dir(m);
    CHECK_EQ_INT(mg_resolve_model(REPO, m, out, sizeof out, &err), MG_OK);
    CHECK(!strcmp(out, dir));
    CHECK_EQ_INT(mg_resolve_model(REPO_DIR, m, out, sizeof out, &err), MG_OK);
    CHECK(!strcmp(out, dir));
    /* a directory with config.json is used as is, wherever it is */
    CHECK_EQ_INT(mg_resolve_model(dir, "/nonexistent", out, sizeof out, &err), MG_OK);
    CHECK(!strcmp(out, dir));
    CHECK_EQ_INT(mg_resolve_model(REPO, m, out, 8, &err), MG_ELIMIT);
    /* not pulled */
    CHECK_EQ_INT(mg_resolve_model("nobody/none", m, out, sizeof out, &err), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "mediagrep model pull nobody/none");
    /* a directory without config.json */
    CHECK_EQ_INT(mg_resolve_model(g_tmp, m, out, sizeof out, &err), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "config.json");
    /* neither a directory nor a valid name */
    CHECK_EQ_INT(mg_resolve_model("../nope", m, out, sizeof out, &err), MG_ENOTFOUND);
    /* an unfinished pull */
    char partial[1200];
    snprintf(partial, sizeof partial, "%s/testorg--partial", m);
    mkdirs(partial);
    mg_test_write(path_join(partial, "config.json"), "{}", 2);
    CHECK_EQ_INT(mg_resolve_model("testorg/partial", m, out, sizeof out, &err), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "incomplete");
    CHECK_STR_CONTAINS(err.msg, "mediagrep model pull testorg/partial");
}

/* The first GET of each file is cut halfway; the retry must resume. */
static void test_drop_resume(void) {
    log_clear();
    mg_pull_params p = params("drop", models("drop"));
    mg_error err;
    char out[4096];
    int rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%d %s", rc, err.msg);
    CHECK(all_same(out));
    const char *paths[2] = {"GET /_fault/drop/cdn/" REPO "/model.safetensors",
                            "GET /_fault/drop/" REPO "/resolve/main/vocab.json"};
    size_t sizes[2] = {g_len[3], g_len[1]};
    for (int k = 0; k < 2; k++) {
        char first[512], second[512];
        CHECK_EQ_INT(log_count(paths[k], "range=-", first, sizeof first), 1);
        CHECK_EQ_INT(log_count(paths[k], "range=bytes=", second, sizeof second), 1);
        long long half = log_num(first, "sent=");
        long long from = log_num(second, "range=bytes=");
        CHECK_MSG(half > 0 && (size_t)half < sizes[k], "%s", first);
        CHECK_MSG(from == half, "resumed at %lld after %lld bytes: %s", from, half, second);
        CHECK_STR_CONTAINS(second, "status=206");
        CHECK_MSG(log_num(second, "sent=") == (long long)sizes[k] - half, "%s", second);
    }
}

static void write_part(const char *m, const char *file, const void *d, size_t n) {
    char *dir = model_dir(m);
    mkdirs(dir);
    char part[1200];
    snprintf(part, sizeof part, "%s/%s.part", dir, file);
    mg_test_write(part, d, n);
}

static void test_existing_part(void) {
    mg_error err;
    char out[4096], line[512];
    size_t third = g_len[3] / 3;

    /* a .part from an earlier run is resumed with Range */
    const char *m = models("part");
    write_part(m, "model.safetensors", g_content[3], third);
    log_clear();
    mg_pull_params p = params(NULL, m);
    int rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
    CHECK_EQ_INT(log_count("GET /cdn/" REPO "/model.safetensors", NULL, line, sizeof line), 1);
    CHECK_MSG(log_num(line, "range=bytes=") == (long long)third, "%s", line);
    CHECK_STR_CONTAINS(line, "status=206");
    CHECK_MSG(log_num(line, "sent=") == (long long)(g_len[3] - third), "%s", line);

    /* a server that ignores Range (200): the part is restarted */
    m = models("norange");
    write_part(m, "model.safetensors", g_content[3], third);
    log_clear();
    p = params("norange", m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
    CHECK_EQ_INT(log_count("GET /_fault/norange/cdn/" REPO "/model.safetensors", NULL, line, sizeof line), 1);
    CHECK_STR_CONTAINS(line, "status=200");

    /* a complete part and no size from the HEAD: the resume gets a 416 */
    m = models("416");
    write_part(m, "model.safetensors", g_content[3], g_len[3]);
    log_clear();
    p = params("nosize", m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
    CHECK_EQ_INT(log_count("GET /_fault/nosize/cdn/" REPO "/model.safetensors", "status=416", NULL, 0), 1);
    CHECK(!exists(path_join(out, "model.safetensors.part")));

    /* a complete part with the size known: verified without a GET */
    m = models("complete");
    write_part(m, "model.safetensors", g_content[3], g_len[3]);
    log_clear();
    p = params(NULL, m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
    CHECK_EQ_INT(log_count("GET /cdn/" REPO "/model.safetensors", NULL, NULL, 0), 0);

    /* a stale part with wrong bytes: resume fails verification, one fresh try */
    m = models("stale");
    char *junk = malloc(g_len[3] / 2);
    memset(junk, 0x5a, g_len[3] / 2);
    write_part(m, "model.safetensors", junk, g_len[3] / 2);
    free(junk);
    log_clear();
    p = params(NULL, m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
    CHECK_EQ_INT(log_count("GET /cdn/" REPO "/model.safetensors", "status=206", NULL, 0), 1);
    CHECK_EQ_INT(log_count("GET /cdn/" REPO "/model.safetensors", "status=200", NULL, 0), 1);

    /* a part longer than the file is discarded */
    m = models("toolong");
    char *lng = calloc(1, g_len[3] + 100);
    write_part(m, "model.safetensors", lng, g_len[3] + 100);
    free(lng);
    log_clear();
    p = params(NULL, m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
}

static void test_checksum(void) {
    mg_error err;
    char out[4096], hex[65];
    /* non-LFS file: git blob sha1 mismatch */
    const char *m = models("corrupt");
    mg_pull_params p = params("corrupt", m);
    int rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ECHECKSUM);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "checksum mismatch");
    CHECK_STR_CONTAINS(err.msg, "config.json");
    git_sha1(g_content[0], g_len[0], hex);
    CHECK_STR_CONTAINS(err.msg, hex);
    CHECK_STR_CONTAINS(err.msg, "git-sha1");
    CHECK(!exists(path_join(model_dir(m), "config.json")));
    CHECK(!exists(path_join(model_dir(m), "config.json.part")));

    /* LFS file: sha256 from X-Linked-Etag; the small files are pulled first */
    m = models("corrupt-lfs");
    p = params(NULL, m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    unlink(path_join(out, "model.safetensors"));
    p = params("corrupt", m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ECHECKSUM);
    note(rc, &err);
    hexdigest(EVP_sha256(), NULL, 0, g_content[3], g_len[3], hex);
    CHECK_STR_CONTAINS(err.msg, hex);
    CHECK_STR_CONTAINS(err.msg, "sha256");
    CHECK_STR_CONTAINS(err.msg, "model.safetensors");
    CHECK(!exists(path_join(out, "model.safetensors")));
    CHECK(!exists(path_join(out, "model.safetensors.part")));
    CHECK(same_as_served(out, "config.json")); /* the good files stay */

    /* weak ETags: nothing to verify, no error */
    m = models("weak");
    p = params("weak", m);
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
}

static void test_http_errors(void) {
    mg_error err;
    char out[4096], url[256];
    const char *m = models("errors");
    mg_pull_params p = params(NULL, m);

    int rc = mg_pull_model("testorg/nonexistent", &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENOTFOUND);
    note(rc, &err);
    snprintf(url, sizeof url, "%s/testorg/nonexistent/resolve/main/config.json", endpoint(NULL));
    CHECK_STR_CONTAINS(err.msg, url);
    CHECK_STR_CONTAINS(err.msg, "check the model name");

    rc = mg_pull_model("testorg/no-merges", &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENOTFOUND);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "merges.txt");

    p.revision = "missing-branch";
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENOTFOUND);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "revision");

    /* revisions with '/' are percent-encoded */
    log_clear();
    p.revision = "refs/pr/1";
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK_EQ_INT(log_count("HEAD /" REPO "/resolve/refs%2Fpr%2F1/config.json", NULL, NULL, 0), 1);
    p.revision = NULL;

    /* 5xx: retried, then MG_ENETWORK */
    log_clear();
    p = params("e500", models("e500"));
    p.max_attempts = 2;
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENETWORK);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "500");
    CHECK_EQ_INT(log_count("HEAD ", NULL, NULL, 0), 2);

    /* 401 without a token; with one it works and is not sent to the CDN */
    unsetenv("HF_TOKEN");
    p = params("auth", models("auth"));
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENETWORK);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "401");
    CHECK_STR_CONTAINS(err.msg, "HF_TOKEN");
    log_clear();
    p.token = "test-token";
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
    CHECK_EQ_INT(log_count("/_fault/auth/" REPO "/resolve/", "auth=no", NULL, 0), 0);
    CHECK(log_count("/_fault/auth/" REPO "/resolve/", "auth=yes", NULL, 0) >= 5);
    CHECK_EQ_INT(log_count("/_fault/auth/cdn/", "auth=yes", NULL, 0), 0);
    CHECK_EQ_INT(log_count("GET /_fault/auth/cdn/", "status=200", NULL, 0), 1);
    /* a wrong token */
    p = params("auth", models("auth2"));
    p.token = "wrong";
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENETWORK);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "rejected");
    /* $HF_TOKEN and $HF_ENDPOINT are used when params leave them NULL */
    setenv("HF_TOKEN", "test-token", 1);
    setenv("HF_ENDPOINT", endpoint("auth"), 1);
    p = params(NULL, models("env"));
    p.endpoint = NULL;
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(all_same(out));
    unsetenv("HF_TOKEN");
    unsetenv("HF_ENDPOINT");
}

static void test_network_errors(void) {
    mg_error err;
    char out[4096], ep[64];
    /* connection refused */
    int port = unused_port();
    CHECK(port > 0);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    mg_pull_params p = params(NULL, models("refused"));
    p.endpoint = ep;
    double t0 = mg_now();
    int rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENETWORK);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, ep);
    CHECK_STR_CONTAINS(err.msg, "/" REPO "/resolve/main/config.json");
    CHECK_STR_CONTAINS(err.msg, "network");
    CHECK(mg_now() - t0 < 5.0);

    /* a server that stalls: the low-speed limit ends it */
    p = params("slow", models("slow"));
    p.low_speed_time_s = 1;
    p.max_attempts = 1;
    t0 = mg_now();
    rc = mg_pull_model(REPO, &p, out, sizeof out, &err);
    double dt = mg_now() - t0;
    CHECK_EQ_INT(rc, MG_ENETWORK);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "config.json");
    CHECK_STR_CONTAINS(err.msg, "resume");
    CHECK_MSG(dt < 8.0, "took %.1f s", dt);
}

/* ---- Whisper ------------------------------------------------------------ */

#define WREPO "testorg/tiny-whisper"

static const char *const g_whisper_files[] = {"config.json", "generation_config.json",
                                              "preprocessor_config.json", "tokenizer_config.json",
                                              "tokenizer.json", "model.safetensors"};
#define N_WHISPER_FILES 6

/* 1 if dir/file has exactly the bytes the fake hub serves for repo/file. */
static int same_as_repo(const char *repo, const char *dir, const char *file) {
    size_t n1 = 0, n2 = 0;
    char *a = mg_test_read(path_join(dir, file), &n1);
    char src[1200];
    snprintf(src, sizeof src, "%s/%s", g_root, repo);
    char *b = mg_test_read(path_join(src, file), &n2);
    int ok = a && b && n1 == n2 && !memcmp(a, b, n1);
    free(a);
    free(b);
    return ok;
}

static char *wdir(const char *m, const char *repo) {
    static char bufs[8][1200];
    static int k;
    char *o = bufs[k++ & 7];
    const char *slash = strchr(repo, '/');
    snprintf(o, sizeof bufs[0], "%s/%.*s--%s", m, (int)(slash - repo), repo, slash + 1);
    return o;
}

/* Line number (1-based) of the first log line containing a, 0 if none. */
static int log_line_of(const char *a) {
    char *t = mg_test_read(g_log, NULL);
    int k = 0, found = 0;
    for (char *line = t ? strtok(t, "\n") : NULL; line && !found; line = strtok(NULL, "\n")) {
        k++;
        if (strstr(line, a)) found = k;
    }
    free(t);
    return found;
}

static void test_family_of_config(void) {
    struct { const char *json; mg_family fam; const char *mt; } cases[] = {
        {"{\"model_type\": \"whisper\"}", MG_FAMILY_WHISPER, "whisper"},
        {" {\n\"architectures\":[\"CLIPModel\"],\"model_type\":\"clip\"}\n", MG_FAMILY_CLIP, "clip"},
        {"{\"text_config\": {\"model_type\": \"clip_text_model\"}, \"x\": [1, {\"a\": \"}\"}],"
         " \"model_type\": \"bert\"}", MG_FAMILY_UNKNOWN, "bert"},
        {"{\"architectures\": [\"WhisperForConditionalGeneration\"], \"d_model\": 384}",
         MG_FAMILY_WHISPER, ""},
        {"{\"n_mels\": 80, \"n_audio_ctx\": 1500, \"n_vocab\": 51865}", MG_FAMILY_WHISPER, ""},
        {"{\"projection_dim\": 512, \"vision_config\": {\"patch_size\": 32}}", MG_FAMILY_CLIP, ""},
        {"{\"name\": \"a \\\"model_type\\\": \\\"clip\\\"\", \"v\": -1.5e-3, \"t\": true}",
         MG_FAMILY_UNKNOWN, ""},
        {"{}", MG_FAMILY_UNKNOWN, ""},
        {"{\"model_type\": \"clip_vision_model\"}", MG_FAMILY_UNKNOWN, "clip_vision_model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mg_family f = (mg_family)99;
        char mt[64] = "x";
        mg_error err = {0};
        int rc = mg_model_family_of_config(cases[i].json, strlen(cases[i].json), &f, mt, sizeof mt, &err);
        CHECK_MSG(rc == MG_OK, "case %zu: %s", i, err.msg);
        CHECK_MSG(f == cases[i].fam, "case %zu: family %s", i, mg_family_name(f));
        CHECK_MSG(!strcmp(mt, cases[i].mt), "case %zu: model_type '%s'", i, mt);
    }
    const char *bad[] = {"", "[]", "{", "{\"model_type\": \"whisper\"", "{\"a\" 1}",
                         "{\"a\": 1,}", "{\"a\": \"x}", "{\"a\": [1, 2}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mg_family f;
        mg_error err = {0};
        CHECK_MSG(mg_model_family_of_config(bad[i], strlen(bad[i]), &f, NULL, 0, &err) == MG_EFORMAT,
                  "'%s' accepted", bad[i]);
        CHECK(f == MG_FAMILY_UNKNOWN);
    }
    /* every proper prefix of a config is malformed (the scan reads only len
     * bytes: exact-size copies, for the sanitizers) */
    const char *full = "{\"a\": {\"b\": [1, \"]\\\"\"]}, \"model_type\": \"whisper\", \"c\": null}";
    int prefix_ok = 1;
    for (size_t n = 0; n <= strlen(full); n++) {
        char *b = malloc(n ? n : 1);
        memcpy(b, full, n);
        mg_family f;
        mg_error err = {0};
        int rc = mg_model_family_of_config(b, n, &f, NULL, 0, &err);
        prefix_ok &= n < strlen(full) ? rc == MG_EFORMAT : (rc == MG_OK && f == MG_FAMILY_WHISPER);
        free(b);
    }
    CHECK(prefix_ok);
    CHECK(!strcmp(mg_family_name(MG_FAMILY_CLIP), "clip"));
    CHECK(!strcmp(mg_family_name(MG_FAMILY_WHISPER), "whisper"));
    CHECK(!strcmp(mg_family_name(MG_FAMILY_UNKNOWN), "unknown"));
}

static void test_whisper_pull(void) {
    mg_error err;
    char out[4096];
    const char *m = models("whisper");
    mg_pull_params p = params(NULL, m);
    log_clear();
    mg_family fam = MG_FAMILY_UNKNOWN;
    int rc = mg_pull_model_ex(WREPO, &p, out, sizeof out, &fam, &err);
    CHECK_MSG(rc == MG_OK, "%d %s", rc, err.msg);
    CHECK(fam == MG_FAMILY_WHISPER);
    CHECK(!strcmp(out, wdir(m, WREPO)));
    for (int i = 0; i < N_WHISPER_FILES; i++) {
        CHECK_MSG(same_as_repo(WREPO, out, g_whisper_files[i]), "%s", g_whisper_files[i]);
        char part[300];
        snprintf(part, sizeof part, "%s.part", g_whisper_files[i]);
        CHECK(!exists(path_join(out, part)));
    }
    /* optional files the repo lacks: asked for once (404), nothing written;
     * with tokenizer.json there, vocab.json / merges.txt are not asked for */
    const char *absent[] = {"added_tokens.json", "normalizer.json", "special_tokens_map.json"};
    for (int i = 0; i < 3; i++) {
        char a[300];
        snprintf(a, sizeof a, "HEAD /" WREPO "/resolve/main/%s ", absent[i]);
        CHECK_MSG(log_count(a, "status=404", NULL, 0) == 1, "%s", absent[i]);
        CHECK(!exists(path_join(out, absent[i])));
    }
    CHECK_EQ_INT(log_count("/resolve/main/vocab.json", NULL, NULL, 0), 0);
    CHECK_EQ_INT(log_count("/resolve/main/merges.txt", NULL, NULL, 0), 0);
    CHECK_EQ_INT(log_count("HEAD /" WREPO "/resolve/main/", NULL, NULL, 0), 9);
    CHECK_EQ_INT(log_count("GET ", "status=404", NULL, 0), 0);
    /* config.json first, the weights last */
    int first_get = log_line_of("GET ");
    CHECK(first_get > 0 && first_get == log_line_of("GET /" WREPO "/resolve/main/config.json"));
    int tok = log_line_of("GET /" WREPO "/resolve/main/tokenizer.json");
    int w = log_line_of("GET /cdn/" WREPO "/model.safetensors");
    CHECK_MSG(tok > 0 && w > tok, "tokenizer.json at line %d, weights at %d", tok, w);
    /* manifest: the family and the LFS digest */
    char *mf = mg_test_read(path_join(out, MG_PULL_MANIFEST), NULL);
    CHECK(mf && strstr(mf, "\"family\": \"whisper\""));
    size_t n = 0;
    char src[1200], hex[65];
    snprintf(src, sizeof src, "%s/%s", g_root, WREPO);
    char *wb = mg_test_read(path_join(src, "model.safetensors"), &n);
    REQUIRE_V(wb != NULL);
    hexdigest(EVP_sha256(), NULL, 0, wb, n, hex);
    free(wb);
    CHECK(mf && strstr(mf, hex));
    CHECK(mf && strstr(mf, "\"tokenizer.json\": {"));
    CHECK(mf && !strstr(mf, "normalizer.json"));
    free(mf);
    /* the directory counts as a complete Whisper model, not as CLIP */
    mg_family f;
    CHECK_EQ_INT(mg_model_family(out, &f, &err), MG_OK);
    CHECK(f == MG_FAMILY_WHISPER);
    const char *missing = NULL;
    CHECK(mg_model_complete(out, MG_FAMILY_WHISPER, &missing) == 1 && missing == NULL);
    CHECK(mg_model_complete(out, MG_FAMILY_CLIP, &missing) == 0 && !strcmp(missing, "vocab.json"));
    char res[4096];
    CHECK_EQ_INT(mg_resolve_model_family(WREPO, m, MG_FAMILY_WHISPER, res, sizeof res, &err), MG_OK);
    CHECK(!strcmp(res, out));
    CHECK_EQ_INT(mg_resolve_model_family("testorg--tiny-whisper", m, MG_FAMILY_UNKNOWN, res, sizeof res,
                                         &err), MG_OK);
    CHECK_EQ_INT(mg_resolve_model(WREPO, m, res, sizeof res, &err), MG_EUNSUPPORTED);
    note(MG_EUNSUPPORTED, &err);
    CHECK_STR_CONTAINS(err.msg, "Whisper");
    CHECK_STR_CONTAINS(err.msg, "mediagrep transcribe --model " WREPO "`");
    CHECK_EQ_INT(mg_resolve_model_family(REPO, models("full"), MG_FAMILY_WHISPER, res, sizeof res, &err),
                 MG_EUNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "CLIP");
    /* the weights gone: incomplete */
    char moved[4200];
    snprintf(moved, sizeof moved, "%s.bak", path_join(out, "model.safetensors"));
    rename(path_join(out, "model.safetensors"), moved);
    CHECK_EQ_INT(mg_resolve_model_family(WREPO, m, MG_FAMILY_WHISPER, res, sizeof res, &err), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "incomplete (no model.safetensors)");
    rename(moved, path_join(out, "model.safetensors"));

    /* second pull: all verified, HEADs only */
    log_clear();
    rc = mg_pull_model_ex(WREPO, &p, out, sizeof out, &fam, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(fam == MG_FAMILY_WHISPER);
    CHECK_EQ_INT(log_count("GET ", NULL, NULL, 0), 0);
    /* hub unreachable: verified files kept, absent optional ones skipped */
    mg_pull_params off = p;
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", unused_port());
    off.endpoint = dead;
    rc = mg_pull_model_ex(WREPO, &off, out, sizeof out, &fam, &err);
    CHECK_MSG(rc == MG_OK && fam == MG_FAMILY_WHISPER, "%s", err.msg);
    /* ...but a model never pulled still fails offline */
    rc = mg_pull_model("testorg/whisper-vocab", &off, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENETWORK);

    /* no tokenizer.json on the hub: vocab.json + merges.txt (+ added_tokens.json) */
    log_clear();
    rc = mg_pull_model_ex("testorg/whisper-vocab", &p, out, sizeof out, &fam, &err);
    CHECK_MSG(rc == MG_OK && fam == MG_FAMILY_WHISPER, "%d %s", rc, err.msg);
    const char *vfiles[] = {"config.json", "vocab.json", "merges.txt", "added_tokens.json",
                            "normalizer.json", "model.safetensors"};
    for (int i = 0; i < 6; i++)
        CHECK_MSG(same_as_repo("testorg/whisper-vocab", out, vfiles[i]), "%s", vfiles[i]);
    CHECK(!exists(path_join(out, "tokenizer.json")));
    CHECK_EQ_INT(log_count("HEAD /testorg/whisper-vocab/resolve/main/tokenizer.json", "status=404", NULL, 0), 1);
    CHECK(mg_model_complete(out, MG_FAMILY_WHISPER, NULL) == 1);

    /* neither tokenizer: a clear 404 naming what a Whisper model needs */
    rc = mg_pull_model("testorg/whisper-notok", &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ENOTFOUND);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "vocab.json");
    CHECK_STR_CONTAINS(err.msg, "tokenizer.json");
    CHECK_STR_CONTAINS(err.msg, "Whisper");
}

/* An optional file that disappears from the hub is removed locally if an
 * earlier pull put it there; a file of the user's own is left alone. */
static void test_whisper_changing(void) {
    mg_error err;
    char out[4096], src[1200];
    const char *m = models("changing");
    mg_pull_params p = params(NULL, m);
    int rc = mg_pull_model("testorg/whisper-changing", &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(exists(path_join(out, "generation_config.json")));
    mg_test_write(path_join(out, "normalizer.json"), "{\"mine\": 1}", 11);
    snprintf(src, sizeof src, "%s/testorg/whisper-changing", g_root);
    CHECK(unlink(path_join(src, "generation_config.json")) == 0);
    rc = mg_pull_model("testorg/whisper-changing", &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(!exists(path_join(out, "generation_config.json")));
    char *mf = mg_test_read(path_join(out, MG_PULL_MANIFEST), NULL);
    CHECK(mf && !strstr(mf, "generation_config.json") && strstr(mf, "preprocessor_config.json"));
    free(mf);
    CHECK(exists(path_join(out, "normalizer.json")));
    CHECK(mg_model_complete(out, MG_FAMILY_WHISPER, NULL) == 1);
}

static void test_whisper_resume_checksum(void) {
    mg_error err;
    char out[4096], line[512], src[1200];
    snprintf(src, sizeof src, "%s/%s", g_root, WREPO);
    size_t wn = 0, tn = 0;
    char *wb = mg_test_read(path_join(src, "model.safetensors"), &wn);
    char *tb = mg_test_read(path_join(src, "tokenizer.json"), &tn);
    REQUIRE_V(wb && tb);

    /* dropped connections: each file resumed where it broke */
    const char *m = models("wdrop");
    log_clear();
    mg_pull_params p = params("drop", m);
    int rc = mg_pull_model(WREPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%d %s", rc, err.msg);
    for (int i = 0; i < N_WHISPER_FILES; i++)
        CHECK_MSG(same_as_repo(WREPO, out, g_whisper_files[i]), "%s", g_whisper_files[i]);
    const char *paths[2] = {"GET /_fault/drop/cdn/" WREPO "/model.safetensors",
                            "GET /_fault/drop/" WREPO "/resolve/main/tokenizer.json"};
    size_t sizes[2] = {wn, tn};
    for (int k = 0; k < 2; k++) {
        char first[512], second[512];
        CHECK_EQ_INT(log_count(paths[k], "range=-", first, sizeof first), 1);
        CHECK_EQ_INT(log_count(paths[k], "range=bytes=", second, sizeof second), 1);
        long long half = log_num(first, "sent=");
        CHECK_MSG(half > 0 && (size_t)half < sizes[k], "%s", first);
        CHECK_MSG(log_num(second, "range=bytes=") == half, "%s", second);
        CHECK_MSG(log_num(second, "sent=") == (long long)sizes[k] - half, "%s", second);
    }

    /* a .part left by an earlier run is resumed */
    m = models("wpart");
    char *dir = wdir(m, WREPO);
    mkdirs(dir);
    mg_test_write(path_join(dir, "model.safetensors.part"), wb, wn / 3);
    log_clear();
    p = params(NULL, m);
    rc = mg_pull_model(WREPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    CHECK(same_as_repo(WREPO, out, "model.safetensors"));
    CHECK_EQ_INT(log_count("GET /cdn/" WREPO "/model.safetensors", NULL, line, sizeof line), 1);
    CHECK_MSG(log_num(line, "range=bytes=") == (long long)(wn / 3), "%s", line);
    CHECK_STR_CONTAINS(line, "status=206");

    /* corrupted bytes: the weights (sha256) and an optional file (git sha1)
     * are verified like the required ones */
    unlink(path_join(out, "model.safetensors"));
    p = params("corrupt", m);
    rc = mg_pull_model(WREPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ECHECKSUM);
    note(rc, &err);
    char hex[65];
    hexdigest(EVP_sha256(), NULL, 0, wb, wn, hex);
    CHECK_STR_CONTAINS(err.msg, "model.safetensors");
    CHECK_STR_CONTAINS(err.msg, hex);
    CHECK(!exists(path_join(out, "model.safetensors")));
    CHECK(!exists(path_join(out, "model.safetensors.part")));
    CHECK(same_as_repo(WREPO, out, "tokenizer.json")); /* verified files stay */
    unlink(path_join(out, "preprocessor_config.json"));
    rc = mg_pull_model(WREPO, &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_ECHECKSUM);
    CHECK_STR_CONTAINS(err.msg, "preprocessor_config.json");
    CHECK_STR_CONTAINS(err.msg, "git-sha1");
    CHECK(!exists(path_join(out, "preprocessor_config.json")));
    p = params(NULL, m);
    rc = mg_pull_model(WREPO, &p, out, sizeof out, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    for (int i = 0; i < N_WHISPER_FILES; i++) CHECK(same_as_repo(WREPO, out, g_whisper_files[i]));
    free(wb);
    free(tb);
}

/* Repos mediagrep cannot use fail clearly and leave no directory behind. */
static void test_unsupported(void) {
    mg_error err;
    char out[4096];
    const char *m = models("unsupported");
    mg_pull_params p = params(NULL, m);
    log_clear();
    int rc = mg_pull_model("testorg/whisper-bin", &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_EUNSUPPORTED);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "pytorch_model.bin");
    CHECK_STR_CONTAINS(err.msg, "no model.safetensors");
    CHECK_STR_CONTAINS(err.msg, "testorg/whisper-bin");
    CHECK(!exists(wdir(m, "testorg/whisper-bin")));
    /* probed (HEAD: an LFS file, so the hub's 302), never downloaded */
    CHECK_EQ_INT(log_count("HEAD /testorg/whisper-bin/resolve/main/pytorch_model.bin ", "status=302", NULL, 0), 1);
    CHECK_EQ_INT(log_count("GET ", "pytorch_model.bin", NULL, 0), 0);

    rc = mg_pull_model("testorg/whisper-sharded", &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_EUNSUPPORTED);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "sharded");
    CHECK_STR_CONTAINS(err.msg, "not support");
    CHECK(!exists(wdir(m, "testorg/whisper-sharded")));

    rc = mg_pull_model("testorg/bert", &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_EUNSUPPORTED);
    note(rc, &err);
    CHECK_STR_CONTAINS(err.msg, "model_type 'bert'");
    CHECK(!exists(wdir(m, "testorg/bert")));
    /* an existing directory is not deleted */
    char *keep = wdir(m, "testorg/bert");
    mkdirs(keep);
    mg_test_write(path_join(keep, "notes.txt"), "x", 1);
    rc = mg_pull_model("testorg/bert", &p, out, sizeof out, &err);
    CHECK_EQ_INT(rc, MG_EUNSUPPORTED);
    CHECK(exists(path_join(keep, "notes.txt")));
    mg_family f = MG_FAMILY_CLIP;
    CHECK_EQ_INT(mg_model_family(keep, &f, &err), MG_OK);
    CHECK(f == MG_FAMILY_UNKNOWN);
    CHECK(mg_model_complete(keep, MG_FAMILY_UNKNOWN, NULL) == 0);
}

static void test_cli(void) {
    char out[8192];
    const char *m = models("cli");
    char ep[256];
    snprintf(ep, sizeof ep, "%s", endpoint(NULL));
    char *a0[] = {"model"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 1, a0), 2);
    char *a1[] = {"model", "--help"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 2, a1), 0);
    CHECK_STR_CONTAINS(out, "pull");
    char *a2[] = {"model", "pull", "--help"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 3, a2), 0);
    CHECK_STR_CONTAINS(out, "--revision");
    char *a2b[] = {"model", "list", "--help"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 3, a2b), 0);
    char *a2c[] = {"model", "path", "--help"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 3, a2c), 0);
    char *a3[] = {"model", "pull"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 2, a3), 2);
    char *a4[] = {"model", "pull", "../x", "--dir", (char *)m};
    CHECK_EQ_INT(run_cli(out, sizeof out, 5, a4), 2);
    char *a5[] = {"model", "frobnicate"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 2, a5), 2);
    char *a6[] = {"model", "pull", REPO, "--bogus"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 4, a6), 2);
    char *a7[] = {"model", "pull", REPO, "--dir"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 4, a7), 2);

    char *p1[] = {"model", "pull", REPO, "--dir", (char *)m, "--endpoint", ep, "--quiet"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 8, p1), 0);
    CHECK_STR_CONTAINS(out, model_dir(m));
    CHECK(all_same(model_dir(m)));
    char *p2[] = {"model", "pull", "testorg/nonexistent", "--dir", (char *)m, "--endpoint", ep,
                  "-q", "--revision", "main"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 10, p2), 1);

    char *p3[] = {"model", "pull", WREPO, "--dir", (char *)m, "--endpoint", ep, "--quiet"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 8, p3), 0);
    CHECK_STR_CONTAINS(out, wdir(m, WREPO));
    CHECK(same_as_repo(WREPO, wdir(m, WREPO), "model.safetensors"));
    char *p4[] = {"model", "pull", "testorg/whisper-bin", "--dir", (char *)m, "--endpoint", ep, "-q"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 8, p4), 1);

    char *l1[] = {"model", "list", "--dir", (char *)m};
    CHECK_EQ_INT(run_cli(out, sizeof out, 4, l1), 0);
    CHECK_STR_CONTAINS(out, REPO);
    CHECK_STR_CONTAINS(out, "MB");
    {   /* one line per model, with its family */
        const char *c = strstr(out, REPO " "), *w = strstr(out, WREPO " ");
        CHECK(c && w);
        const char *ce = c ? strchr(c, '\n') : NULL, *we = w ? strchr(w, '\n') : NULL;
        const char *cf = c ? strstr(c, " clip ") : NULL, *wf = w ? strstr(w, " whisper ") : NULL;
        CHECK_MSG(cf && ce && cf < ce, "%s", out);
        CHECK_MSG(wf && we && wf < we, "%s", out);
        CHECK(!strstr(out, "whisper-bin"));
    }
    CHECK(!strstr(out, "testorg/nonexistent")); /* a failed pull leaves no empty dir */
    CHECK(!strstr(out, "(incomplete)"));
    char partial[1200];
    snprintf(partial, sizeof partial, "%s/testorg--halfway", m);
    mkdirs(partial);
    mg_test_write(path_join(partial, "config.json"), "{}", 2);
    mg_test_write(path_join(partial, "model.safetensors.part"), "xx", 2);
    CHECK_EQ_INT(run_cli(out, sizeof out, 4, l1), 0);
    CHECK_STR_CONTAINS(out, "testorg/halfway");
    CHECK_STR_CONTAINS(out, "(incomplete)");
    CHECK_STR_CONTAINS(out, "unknown");
    CHECK_EQ_INT(count_substr(out, "(incomplete)"), 1);
    /* a Whisper model without its weights is incomplete too */
    snprintf(partial, sizeof partial, "%s.bak", path_join(wdir(m, WREPO), "model.safetensors"));
    rename(path_join(wdir(m, WREPO), "model.safetensors"), partial);
    CHECK_EQ_INT(run_cli(out, sizeof out, 4, l1), 0);
    CHECK_EQ_INT(count_substr(out, "(incomplete)"), 2);
    rename(partial, path_join(wdir(m, WREPO), "model.safetensors"));
    char *l2[] = {"model", "list", "--dir", "/nonexistent/models"};
    CHECK_EQ_INT(run_cli(out, sizeof out, 4, l2), 0);

    char *q1[] = {"model", "path", REPO, "--dir", (char *)m};
    CHECK_EQ_INT(run_cli(out, sizeof out, 5, q1), 0);
    snprintf(g_dir_buf, sizeof g_dir_buf, "%s\n", model_dir(m));
    CHECK(!strcmp(out, g_dir_buf));
    char *q2[] = {"model", "path", "nobody/none", "--dir", (char *)m};
    CHECK_EQ_INT(run_cli(out, sizeof out, 5, q2), 1);
    char *q3[] = {"model", "path", WREPO, "--dir", (char *)m};
    CHECK_EQ_INT(run_cli(out, sizeof out, 5, q3), 0);
    snprintf(g_dir_buf, sizeof g_dir_buf, "%s\n", wdir(m, WREPO));
    CHECK(!strcmp(out, g_dir_buf));
}

int main(void) {
    /* loopback only: no proxies, no user token or endpoint */
    const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                             "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxies / sizeof *proxies; i++) unsetenv(proxies[i]);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    unsetenv("HF_TOKEN");
    unsetenv("HF_ENDPOINT");
    signal(SIGPIPE, SIG_IGN);

    char *tmp = mg_test_tmpdir("pull");
    REQUIRE(tmp != NULL);
    snprintf(g_tmp, sizeof g_tmp, "%s", tmp);
    free(tmp);

    test_names_offline();
    test_family_of_config();
    if (access(PY, X_OK) != 0) {
        printf("SKIP: %s not found; network tests not run\n", PY);
        return mg_test_finish();
    }
    make_fixture();
    REQUIRE(start_server() == 0);
    test_full_pull();
    test_resolve();
    test_drop_resume();
    test_existing_part();
    test_checksum();
    test_http_errors();
    test_network_errors();
    test_whisper_pull();
    test_whisper_changing();
    test_whisper_resume_checksum();
    test_unsupported();
    test_cli();
    stop_server();

    if (!mg_test_failed) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    } else {
        fprintf(stderr, "kept %s for inspection\n", g_tmp);
    }
    for (int i = 0; i < MG_PULL_NFILES; i++) free(g_content[i]);
    return mg_test_finish();
}
