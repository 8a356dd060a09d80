/*
 * test_dist.c - the distributed index's transport (src/dist).
 *   test_dist env   launcher detection (mg_dist_launched) from the
 *                   environment alone, and the mediagrep binary's freedom
 *                   from libmpi (ldd; skipped when it is not built)
 *   test_dist mpi   `mpirun -n 3 --oversubscribe dist_peer run`: every
 *                   rank's checks (dist_peer.c) must pass and report; then
 *                   `dist_peer abort` must end the whole job non-zero.
 *                   Exit 77 when mpirun or the MPI module is missing.
 * mpirun here runs as root in a container: OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)
 * lets it, OMPI_MCA_plm=isolated launches local ranks without an ssh agent
 * (mpirun's rsh launcher refuses to start when none is installed), and
 * --oversubscribe allows 3 ranks on 2 cores.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dist/dist.h"
#include "testlib.h"

static const char *k_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};

static void clear_env(void) {
    for (size_t i = 0; i < sizeof k_vars / sizeof k_vars[0]; i++) unsetenv(k_vars[i]);
}

static void env_checks(void) {
    char name[32];
    clear_env();
    strcpy(name, "junk");
    CHECK_EQ_INT(mg_dist_launched(name, sizeof name), 0);
    CHECK(name[0] == 0);
    CHECK_EQ_INT(mg_dist_launched(NULL, 0), 0);
    static const char *want[] = {"mpirun", "pmix", "pmi"};
    for (int i = 0; i < 3; i++) {
        clear_env();
        setenv(k_vars[i], "3", 1);
        name[0] = 0;
        CHECK_MSG(mg_dist_launched(name, sizeof name) == 1, "%s set", k_vars[i]);
        CHECK_MSG(!strcmp(name, want[i]), "%s: launcher '%s', want '%s'", k_vars[i], name, want[i]);
        CHECK_EQ_INT(mg_dist_launched(NULL, 0), 1);
        /* A small buffer gets a truncated, terminated name. */
        char tiny[3] = "xx";
        CHECK_EQ_INT(mg_dist_launched(tiny, sizeof tiny), 1);
        CHECK(strlen(tiny) == 2 && !strncmp(tiny, want[i], 2));
    }
    /* An empty value is not a launcher; SLURM_PROCID alone is a plain srun. */
    clear_env();
    setenv("OMPI_COMM_WORLD_SIZE", "", 1);
    CHECK_EQ_INT(mg_dist_launched(name, sizeof name), 0);
    clear_env();
    setenv("SLURM_PROCID", "0", 1);
    CHECK_EQ_INT(mg_dist_launched(name, sizeof name), 0);
    setenv("PMI_RANK", "0", 1); /* srun --mpi=pmi2 sets both */
    CHECK_EQ_INT(mg_dist_launched(name, sizeof name), 1);
    CHECK(!strcmp(name, "pmi"));
    clear_env();
}

/* Runs cmd (stdout and stderr together) into a malloc'd string; *status
 * gets its exit status (-1 when it could not run, 128 + signal). */
static char *run_capture(const char *cmd, int *status) {
    FILE *f = popen(cmd, "r");
    *status = -1;
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    if (!out) {
        pclose(f);
        return NULL;
    }
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 4096) {
            char *o = realloc(out, cap * 2);
            if (!o) break;
            out = o;
            cap *= 2;
        }
    }
    out[n] = 0;
    int st = pclose(f);
    if (st != -1) *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return out;
}

static void ldd_check(void) {
    char bin[4096], cmd[4200];
    snprintf(bin, sizeof bin, "%s/mediagrep", MG_BUILD_DIR);
    if (access(bin, X_OK) != 0) {
        printf("SKIP ldd check: %s is not built\n", bin);
        return;
    }
    snprintf(cmd, sizeof cmd, "ldd '%s' 2>&1", bin);
    int st;
    char *out = run_capture(cmd, &st);
    CHECK_MSG(out && st == 0 && strstr(out, "libc.so"), "ldd %s: status %d", bin, st);
    if (out) CHECK_MSG(!strstr(out, "libmpi") && !strstr(out, "libopen-pal"), "mediagrep links MPI:\n%s", out);
    free(out);
    printf("mediagrep does not link libmpi\n");
}


#ifdef MG_DIST_PEER
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
#endif

/* A build without the MPI module: mg_dist_open reports why, starts nothing,
 * and may be tried again. (With the module, an open would start MPI in this
 * process, so the MPI build checks opening under mpirun instead.) */
static void no_module_checks(void) {
#ifndef MG_DIST_PEER
    mg_dist *d = (mg_dist *)&d;
    mg_error err = {0};
    setenv("MEDIAGREP_MPI_MODULE", "/nonexistent/libmediagrep_mpi.so", 1);
    CHECK_EQ_INT(mg_dist_open(&d, &err), MG_EUNSUPPORTED);
    CHECK(d == NULL);
    CHECK_STR_CONTAINS(err.msg, "MEDIAGREP_MPI_MODULE=/nonexistent/libmediagrep_mpi.so");
    /* A library that is not the module is refused (no entry point). */
    Dl_info info;
    if (dladdr((void *)&strerror, &info) && info.dli_fname && info.dli_fname[0] == '/') {
        setenv("MEDIAGREP_MPI_MODULE", info.dli_fname, 1); /* libc */
        CHECK_EQ_INT(mg_dist_open(&d, &err), MG_EUNSUPPORTED);
        CHECK_STR_CONTAINS(err.msg, "not this build's MPI module");
    }
    unsetenv("MEDIAGREP_MPI_MODULE");
    CHECK_EQ_INT(mg_dist_open(&d, &err), MG_EUNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "the MPI module cannot be loaded");
    printf("without the module: %s\n", err.msg);
#endif
}

static int mpi_checks(void) {
#ifndef MG_DIST_PEER
    printf("SKIP: this build has no MPI module (install openmpi-bin libopenmpi-dev and reconfigure)\n");
    return 77;
#else
    int st;
    char *which = run_capture("command -v mpirun", &st);
    int have = which && st == 0 && which[0];
    free(which);
    if (!have) {
        printf("SKIP: mpirun is not on PATH (apt-get install openmpi-bin)\n");
        return 77;
    }
    clear_env();
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_plm", "isolated", 1);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "timeout -k 5 60 mpirun -n 3 --oversubscribe '%s' run 2>&1", MG_DIST_PEER);
    double t0 = now_s();
    char *out = run_capture(cmd, &st);
    double t1 = now_s();
    REQUIRE(out != NULL);
    printf("--- mpirun -n 3 dist_peer run (%.2f s, status %d)\n%s---\n", t1 - t0, st, out);
    CHECK_EQ_INT(st, 0);
    CHECK_MSG(!strstr(out, "FAIL"), "a rank reported a failure");
    static const char *every[] = {"second open refused", "argument checks ok", "probe0", "probe50", "probe sleeps",
                                  "bcast empty ok", "reopen refused ok", "all ok"};
    char line[128];
    for (int r = 0; r < 3; r++) {
        snprintf(line, sizeof line, "rank %d: rank %d/3 host ", r, r);
        CHECK_STR_CONTAINS(out, line);
        for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) {
            snprintf(line, sizeof line, "rank %d: %s", r, every[i]);
            CHECK_STR_CONTAINS(out, line);
        }
    }
    CHECK_STR_CONTAINS(out, "rank 1: bcast 1048576 ok");
    CHECK_STR_CONTAINS(out, "rank 2: bcast 1048576 ok");
    CHECK_STR_CONTAINS(out, "rank 1: p2p sent ok");
    CHECK_STR_CONTAINS(out, "rank 2: p2p sent ok");
    CHECK_STR_CONTAINS(out, "rank 0: small buffer refused");
    CHECK_STR_CONTAINS(out, "rank 0: p2p 7 messages ok");
    CHECK_STR_CONTAINS(out, "rank 0: isend (");
    CHECK_STR_CONTAINS(out, "rank 1: isend-recv ok");
    free(out);

    /* Abort from rank 2 ends the job, with a non-zero status, promptly. */
    snprintf(cmd, sizeof cmd, "timeout -k 5 60 mpirun -n 3 --oversubscribe '%s' abort 2>&1", MG_DIST_PEER);
    t0 = now_s();
    out = run_capture(cmd, &st);
    t1 = now_s();
    REQUIRE(out != NULL);
    printf("--- mpirun -n 3 dist_peer abort (%.2f s, status %d)\n%s---\n", t1 - t0, st, out);
    CHECK_MSG(st != 0 && st != 124 && st != 137, "mpirun status %d (0: abort ignored; 124/137: hung)", st);
    CHECK_STR_CONTAINS(out, "rank 2: aborting");
    CHECK_MSG(!strstr(out, "FAIL"), "a rank went on after the abort");
    CHECK_MSG(t1 - t0 < 30, "the abort took %.1f s", t1 - t0);
    free(out);
    return mg_test_finish();
#endif
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "env";
    if (!strcmp(mode, "mpi")) return mpi_checks();
    env_checks();
    ldd_check();
    no_module_checks();
    return mg_test_finish();
}
