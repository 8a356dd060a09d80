/*
 * cli_serve.c - `mediagrep serve [--store PATH] [--model M] [--host H]
 * [--port P] [--token T] [--threads N] [--upload-limit SIZE] [--quiet]`: opens the store read-only with its
 * model (both towers, loaded once), starts the HTTP server (server.h),
 * prints its URL and runs until SIGINT/SIGTERM, then stops cleanly.
 * Exit status: 0 after a signal, 2 usage, 4 the store was made by another
 * model, 1 other errors (e.g. the port is taken).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "server/server.h"
#include "store/store.h"

static volatile sig_atomic_t stop_sig;
static void on_signal(int sig) { stop_sig = sig; }

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep serve [--store PATH] [--model M] [--host 127.0.0.1] [--port 8080]\n"
            "  --device D          cpu (default), cuda, cuda:N, or auto (a GPU when there is one)\n"
            "                       [--token T] [--threads N] [--upload-limit SIZE] [--precision P]\n"
            "                       [--no-coalesce] [--quiet]\n"
            "\n"
            "Serves the store over HTTP: a web page at / and a JSON API under /api/\n"
            "(see README \"Serving\"). Binding to a non-loopback --host needs --token\n"
            "(or $MEDIAGREP_TOKEN); clients then send \"Authorization: Bearer T\".\n"
            "  --port 0          any free port (the URL printed tells which)\n"
            "  --threads N       search engines (default: CPUs, 2..8); concurrent searches are batched\n"
            "  --no-coalesce     compute identical concurrent searches separately (benchmarks)\n"
            "  --precision P     GEMM precision: auto (default: the fastest the CPU runs natively for\n"
            "                    both towers, int8 with VNNI), fp32, bf16 or int8 (README \"CPU precisions\")\n"
            "  --upload-limit S  largest uploaded image (default 20M)\n");
}

static long long parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0) return -1;
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024, end++;
    else if (*end == 'm' || *end == 'M') mul = 1048576, end++;
    else if (*end == 'g' || *end == 'G') mul = 1073741824.0, end++;
    if (*end == 'B' || *end == 'b') end++;
    return *end ? -1 : (long long)(v * mul);
}

int mg_cli_serve(int argc, char **argv) {
    const char *precision = NULL, *device = NULL;
    const char *store_dir = NULL, *model_arg = NULL;
    mg_server_params p = mg_server_default_params();
    p.token = getenv("MEDIAGREP_TOKEN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            p.quiet = 1;
            continue;
        }
        if (!strcmp(a, "--no-coalesce")) {
            p.no_coalesce = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "mediagrep serve: %s\n", a[0] == '-' ? "option needs a value" : "unexpected argument");
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--store")) store_dir = v;
        else if (!strcmp(a, "--model")) model_arg = v;
        else if (!strcmp(a, "--host")) p.host = v;
        else if (!strcmp(a, "--token")) p.token = v;
        else if (!strcmp(a, "--port")) {
            if ((p.port = mg_cli_int(a, v, 0, 65535)) < 0) return 2;
        } else if (!strcmp(a, "--device") && v) {
            device = argv[++i];
        } else if (!strcmp(a, "--precision") && v) {
            precision = argv[++i];
        } else if (!strcmp(a, "--threads")) {
            if ((p.threads = mg_cli_int(a, v, 1, 256)) < 0) return 2;
        } else if (!strcmp(a, "--upload-limit")) {
            long long n = parse_size(v);
            if (n <= 0) {
                fprintf(stderr, "mediagrep serve: --upload-limit: '%s' is not a size\n", v);
                return 2;
            }
            p.upload_limit = n;
        } else {
            fprintf(stderr, "mediagrep serve: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!mg_server_host_is_loopback(p.host) && !(p.token && *p.token)) {
        fprintf(stderr, "mediagrep serve: binding to %s (not loopback) needs --token (or $MEDIAGREP_TOKEN)\n", p.host);
        return 2;
    }
    /* a server loads once and encodes many queries: its text tower runs at
     * the fastest precision the CPU has unless --precision says otherwise */
    mg_cli_model_opts mo = {0, 1, 1, NULL, 0, NULL, 0, precision, 1, device};
    mg_store *store = NULL;
    mg_model *model = NULL;
    int rc = mg_cli_open_store_model(store_dir, model_arg, 0, 0, &mo, &store, &model);
    if (rc) return rc == MG_EMISMATCH ? 4 : 1;
    mg_store_close(store); /* the server opens its own handles, one per thread */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* blocked here (and so in the server's threads, which inherit the mask);
     * only sigsuspend below takes them */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    mg_server *srv = NULL;
    mg_error err = {0};
    rc = mg_server_open(store_dir ? store_dir : MG_STORE_DEFAULT_DIR, model, &p, &srv, &err);
    if (rc) {
        fprintf(stderr, "mediagrep serve: %s\n", err.msg);
        mg_model_close(model);
        return rc == MG_EMISMATCH ? 4 : rc == MG_EINVAL ? 2 : 1;
    }
    int v6 = strchr(p.host, ':') != NULL;
    printf("mediagrep serve: http://%s%s%s:%d/  (Ctrl-C to stop)\n", v6 ? "[" : "", p.host, v6 ? "]" : "",
           mg_server_port(srv));
    fflush(stdout);
    while (!stop_sig) sigsuspend(&old);
    if (!p.quiet) fprintf(stderr, "mediagrep serve: stopping\n");
    mg_server_close(srv);
    mg_model_close(model);
    return 0;
}
