/*
 * dist_peer.c - the program test_dist starts under `mpirun -n 3`: each rank
 * runs its side of the transport checks (src/dist/dist.c over the MPI
 * module) and prints one "rank R: <check> ok" line per check passed, or a
 * "rank R: FAIL ..." line and exits 1. Modes:
 *   run    (3 ranks) ranks/size, argument checks, probe timing on an empty
 *          queue, a 1 MiB and an empty broadcast, 0/10 B/8 MiB messages
 *          from ranks 1 and 2 to rank 0 with their tags, a too-small
 *          receive buffer, and an 8 MiB isend 0 -> 1 while rank 1 is
 *          blocked sending 8 MiB to rank 0; then close and a refused reopen
 *   abort  rank 2 calls mg_dist_abort(3) while the others wait forever
 *   time   prints how long mg_dist_open and mg_dist_close took (one rank)
 *   none   exits at once without loading MPI (the baseline of time)
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist.h"

#define BIG (8u << 20)

static int g_rank = -1, g_fail;

#define FAIL(...) do { printf("rank %d: FAIL ", g_rank); printf(__VA_ARGS__); printf("\n"); \
    fflush(stdout); g_fail = 1; } while (0)
#define OK(...) do { printf("rank %d: ", g_rank); printf(__VA_ARGS__); printf(" ok\n"); fflush(stdout); } while (0)

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* CPU time of the calling thread. */
static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static uint8_t pat(unsigned seed, size_t i) {
    return (uint8_t)(i * 31u + seed * 97u + (i >> 9) + (i >> 17));
}

static uint8_t *pattern(unsigned seed, size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = pat(seed, i);
    return p;
}

/* Index of the first byte that differs from the pattern, or -1. */
static long long bad_at(const uint8_t *p, unsigned seed, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(seed, i)) return (long long)i;
    return -1;
}

static const size_t k_lens[3] = {0, 10, BIG};

static void arg_checks(mg_dist *d) {
    mg_error err = {0};
    char one = 1;
    mg_dist *d2 = NULL;
    int rc = mg_dist_open(&d2, &err);
    if (rc == MG_OK || d2) FAIL("a second mg_dist_open succeeded");
    else OK("second open refused (%s)", err.msg);
    int bad = 0;
    bad |= mg_dist_send(d, mg_dist_size(d), 1, &one, 1, &err) != MG_EINVAL;
    bad |= mg_dist_send(d, -1, 1, &one, 1, &err) != MG_EINVAL;
    bad |= mg_dist_send(d, 0, 32768, &one, 1, &err) != MG_EINVAL;
    bad |= mg_dist_send(d, 0, -1, &one, 1, &err) != MG_EINVAL;
    bad |= mg_dist_send(d, 0, 1, NULL, 5, &err) != MG_EINVAL;
    bad |= mg_dist_send(d, 0, 1, &one, (size_t)INT_MAX + 1, &err) != MG_ELIMIT; /* refused before reading buf */
    mg_dist_req *r = (mg_dist_req *)&one;
    bad |= mg_dist_isend(d, 0, 1, &one, (size_t)INT_MAX + 1, &r, &err) != MG_ELIMIT || r != NULL;
    bad |= mg_dist_probe(d, mg_dist_size(d), -1, 0, NULL, NULL, NULL, &err) != MG_EINVAL;
    bad |= mg_dist_probe(d, -1, 40000, 0, NULL, NULL, NULL, &err) != MG_EINVAL;
    bad |= mg_dist_recv(d, -2, 1, &one, 1, NULL, &err) != MG_EINVAL;
    if (bad) FAIL("argument checks");
    else OK("argument checks");
}

/* Before the first broadcast nobody can have sent a point-to-point message. */
static void probe_checks(mg_dist *d) {
    mg_error err = {0};
    double t0 = now_ms();
    int rc = mg_dist_probe(d, -1, -1, 0, NULL, NULL, NULL, &err);
    double t1 = now_ms();
    if (rc != 0 || t1 - t0 > 20) FAIL("probe wait 0: rc %d after %.1f ms (%s)", rc, t1 - t0, err.msg);
    else OK("probe0 (%.3f ms)", t1 - t0);
    double c1 = cpu_ms();
    rc = mg_dist_probe(d, -1, -1, 50, NULL, NULL, NULL, &err);
    double t2 = now_ms(), c2 = cpu_ms();
    if (rc != 0 || t2 - t1 < 30 || t2 - t1 > 1000) FAIL("probe wait 50: rc %d after %.1f ms", rc, t2 - t1);
    else OK("probe50 (%.1f ms)", t2 - t1);
    /* Sleeps between polls: the waiting thread uses a fraction of a core. */
    if (c2 - c1 > 0.5 * (t2 - t1)) FAIL("probe wait 50 spun: %.1f ms of CPU in %.1f ms", c2 - c1, t2 - t1);
    else OK("probe sleeps (%.1f ms CPU)", c2 - c1);
}

static void bcast_checks(mg_dist *d) {
    mg_error err = {0};
    const size_t n = 1u << 20;
    void *buf = NULL;
    size_t got = 0;
    uint8_t *mine = NULL;
    if (g_rank == 0) {
        mine = pattern(5, n);
        buf = mine;
        got = n;
    }
    if (mg_dist_bcast(d, &buf, &got, &err) != MG_OK) {
        FAIL("bcast: %s", err.msg);
        return;
    }
    if (g_rank != 0) {
        long long at = got == n ? bad_at(buf, 5, n) : -2;
        if (at != -1) FAIL("bcast: %zu bytes, first bad byte %lld", got, at);
        else OK("bcast %zu", got);
        free(buf);
    }
    free(mine);
    /* Empty broadcast: a size of 0 and no payload. */
    buf = NULL;
    got = g_rank == 0 ? 0 : 77;
    if (mg_dist_bcast(d, &buf, &got, &err) != MG_OK) FAIL("empty bcast: %s", err.msg);
    else if (got != 0) FAIL("empty bcast: %zu bytes", got);
    else OK("bcast empty");
    if (g_rank != 0) free(buf);
}

/* Ranks 1 and 2 send 0 B, 10 B and 8 MiB (tags 100..102, pattern seed
 * 16 * rank + k), rank 1 also 10 B on tag 103; rank 0 takes them in any
 * order and checks each. */
static void p2p_checks(mg_dist *d) {
    mg_error err = {0};
    if (g_rank != 0) {
        for (int k = 0; k < 3; k++) {
            uint8_t *p = pattern(16u * g_rank + k, k_lens[k]);
            if (mg_dist_send(d, 0, 100 + k, p, k_lens[k], &err) != MG_OK) FAIL("send %zu: %s", k_lens[k], err.msg);
            free(p);
        }
        if (g_rank == 1) {
            uint8_t *p = pattern(99, 10);
            if (mg_dist_send(d, 0, 103, p, 10, &err) != MG_OK) FAIL("send tag 103: %s", err.msg);
            free(p);
        }
        OK("p2p sent");
        return;
    }
    uint8_t *buf = malloc(BIG);
    int seen[3][4] = {{0}};
    int total = 0;
    double t0 = now_ms();
    while (total < 7 && now_ms() - t0 < 20000) {
        int src = -1, tag = -1;
        size_t n = 0;
        int rc = mg_dist_probe(d, -1, -1, 100, &src, &tag, &n, &err);
        if (rc < 0) {
            FAIL("probe: %s", err.msg);
            break;
        }
        if (rc == 0) continue;
        if (src < 1 || src > 2 || tag < 100 || tag > 103 || (tag == 103 && src != 1)) {
            FAIL("unexpected message from %d tag %d", src, tag);
            break;
        }
        size_t want = tag == 103 ? 10 : k_lens[tag - 100];
        unsigned seed = tag == 103 ? 99 : 16u * src + (unsigned)(tag - 100);
        if (n != want) FAIL("message from %d tag %d: probe says %zu bytes, want %zu", src, tag, n, want);
        if (tag == 103) {
            /* Too small a buffer: refused, and the message stays queued. */
            size_t got = 0;
            if (mg_dist_recv(d, src, tag, buf, 5, &got, &err) != MG_ELIMIT) FAIL("recv into 5 bytes was not refused");
            else OK("small buffer refused (%s)", err.msg);
        }
        size_t got = 0;
        /* Any source and tag: recv takes the message probe found (via its own probe). */
        if (mg_dist_recv(d, src, tag, buf, BIG, &got, &err) != MG_OK) {
            FAIL("recv from %d tag %d: %s", src, tag, err.msg);
            break;
        }
        long long at = got == want ? bad_at(buf, seed, got) : -2;
        if (at != -1) FAIL("message from %d tag %d: %zu bytes, first bad byte %lld", src, tag, got, at);
        seen[src][tag - 100]++;
        total++;
    }
    int good = total == 7;
    for (int s = 1; s <= 2; s++)
        for (int t = 0; t < 4; t++) good &= seen[s][t] == ((t == 3 && s == 2) ? 0 : 1);
    if (!good) FAIL("p2p: %d messages, not each (rank, tag) once", total);
    else OK("p2p %d messages", total);
    free(buf);
}

/* Rank 1 blocks in an 8 MiB send to rank 0 while rank 0 isends 8 MiB to
 * rank 1, then keeps probing and receiving while testing its isend. */
static void isend_checks(mg_dist *d) {
    mg_error err = {0};
    if (g_rank == 1) {
        uint8_t *p = pattern(201, BIG), *q = malloc(BIG);
        if (mg_dist_send(d, 0, 200, p, BIG, &err) != MG_OK) FAIL("send 200: %s", err.msg);
        size_t got = 0;
        if (mg_dist_recv(d, 0, 201, q, BIG, &got, &err) != MG_OK) FAIL("recv 201: %s", err.msg);
        else if (got != BIG || bad_at(q, 202, BIG) != -1) FAIL("isend payload: %zu bytes, bad at %lld", got, bad_at(q, 202, got));
        else OK("isend-recv");
        free(p);
        free(q);
        return;
    }
    if (g_rank != 0) return;
    uint8_t *p = pattern(202, BIG), *q = malloc(BIG);
    mg_dist_req *req = NULL;
    if (mg_dist_isend(d, 1, 201, p, BIG, &req, &err) != MG_OK) {
        FAIL("isend: %s", err.msg);
        free(p);
        free(q);
        return;
    }
    int sent = 0, recvd = 0, tests = 0;
    double t0 = now_ms();
    while ((!sent || !recvd) && now_ms() - t0 < 20000) {
        if (!sent) {
            int rc = mg_dist_test(d, req, &err);
            tests++;
            if (rc < 0) {
                FAIL("test: %s", err.msg);
                break;
            }
            sent = rc;
        }
        if (!recvd) {
            size_t n = 0;
            int rc = mg_dist_probe(d, 1, 200, 1, NULL, NULL, &n, &err);
            if (rc < 0) {
                FAIL("probe 200: %s", err.msg);
                break;
            }
            if (rc == 1) {
                size_t got = 0;
                if (mg_dist_recv(d, 1, 200, q, BIG, &got, &err) != MG_OK) FAIL("recv 200: %s", err.msg);
                else if (got != BIG || bad_at(q, 201, BIG) != -1) FAIL("rank 1's payload wrong");
                recvd = 1;
            }
        }
    }
    if (!sent || !recvd) {
        FAIL("isend/recv did not finish in 20 s (sent %d, received %d): deadlock", sent, recvd);
        mg_dist_abort(d, 2);
    }
    OK("isend (%d tests)", tests);
    free(p);
    free(q);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "run";
    if (!strcmp(mode, "none")) return 0; /* the baseline of "time": MPI not loaded */
    mg_error err = {0};
    mg_dist *d = NULL;
    double t0 = now_ms();
    if (mg_dist_open(&d, &err) != MG_OK) {
        printf("rank ?: FAIL open: %s\n", err.msg);
        return 1;
    }
    double t1 = now_ms();
    g_rank = mg_dist_rank(d);
    int size = mg_dist_size(d);
    if (!strcmp(mode, "time")) {
        mg_dist_close(d);
        printf("rank %d/%d: open %.1f ms, close %.1f ms\n", g_rank, size, t1 - t0, now_ms() - t1);
        return 0;
    }
    if (!strcmp(mode, "abort")) {
        if (g_rank == 2) {
            printf("rank 2: aborting\n");
            mg_dist_abort(d, 3);
        }
        mg_dist_probe(d, -1, -1, -1, NULL, NULL, NULL, &err); /* nobody sends: ended by the abort */
        printf("rank %d: FAIL probe forever returned\n", g_rank);
        return 1;
    }
    if (size != 3 || g_rank < 0 || g_rank >= 3) {
        FAIL("rank %d of %d, want a job of 3", g_rank, size);
        mg_dist_abort(d, 1);
    }
    const char *host = mg_dist_host(d);
    if (!host || !*host) FAIL("no host name");
    else OK("rank %d/%d host %s", g_rank, size, host);
    arg_checks(d);
    probe_checks(d);
    bcast_checks(d);
    p2p_checks(d);
    isend_checks(d);
    /* All ranks done before MPI_Finalize (a broadcast as the barrier). */
    void *buf = NULL;
    size_t n = 0;
    if (mg_dist_bcast(d, &buf, &n, &err) != MG_OK) FAIL("final bcast: %s", err.msg);
    if (g_rank != 0) free(buf);
    mg_dist_close(d);
    d = NULL;
    if (mg_dist_open(&d, &err) == MG_OK) FAIL("open after close succeeded");
    else OK("reopen refused");
    if (!g_fail) OK("all");
    return g_fail;
}
