/* testlib.c - implementation of the test helpers in testlib.h. */
#include "testlib.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>

#include <stdarg.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

int mg_test_passed, mg_test_failed;

int mg_test_finish(void) {
    printf("%d passed, %d failed\n", mg_test_passed, mg_test_failed);
    return mg_test_failed ? 1 : 0;
}

int mg_test_skip_unless_exists(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) return 0;
    printf("SKIP: %s not present\n", path);
    return 1;
}

char *mg_test_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n] = 0; if (len) *len = (size_t)n; }
    return b;
}

int mg_test_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

char *mg_test_tmpdir(const char *tag) {
    char tmpl[256];
    const char *base = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/mgtest-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

double mg_test_cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

double mg_test_nerr(const float *a, const float *ref, size_t n) {
    double mx = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > mx || d != d) mx = d != d ? 1e30 : d;
        if (fabs(ref[i]) > den) den = fabs(ref[i]);
    }
    return mx / den;
}

double mg_test_maxabs(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d != d) return 1e30;
        if (d > m) m = d;
    }
    return m;
}

int mg_test_sh(const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

pid_t mg_test_start_index(const char *bin, const char *root, const char *store, const char *model,
                          const char *extra, const char *out_json) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_json ? out_json : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 1);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0 && !getenv("MG_TEST_VERBOSE")) dup2(dn, 2);
        char *argv[40];
        int n = 0;
        argv[n++] = (char *)bin;
        argv[n++] = "index";
        argv[n++] = (char *)root;
        argv[n++] = "--store";
        argv[n++] = (char *)store;
        argv[n++] = "--model";
        argv[n++] = (char *)model;
        argv[n++] = "--quiet";
        argv[n++] = "--json";
        char buf[512];
        snprintf(buf, sizeof buf, "%s", extra ? extra : "");
        for (char *t = strtok(buf, " "); t && n < 38; t = strtok(NULL, " ")) argv[n++] = t;
        argv[n] = NULL;
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

int mg_test_wait_exit(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 256 + WTERMSIG(st);
}
