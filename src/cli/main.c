/*
 * main.c - `mediagrep` entry point: dispatches to the subcommands declared in
 * cli.h and prints the top-level help.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
        "mediagrep - search photos and videos by meaning (CLIP, in C)\n"
        "\n"
        "usage: mediagrep <command> [options]\n"
        "\n"
        "commands:\n"
        "  index    index folders of photos and videos into a store (resumable)\n"
        "  search   find photos and video moments by text, example image, or both\n"
        "  status   what a store holds: files, failures, offline folders, runs, model, index\n"
        "  meta     what a file says about its capture: date taken, GPS, camera, lens\n"
        "  forget   remove files or whole folders from a store, on purpose\n"
        "  classify sort indexed files into labels (zero-shot), as a table, CSV, JSON or folders\n"
        "  dups     groups of duplicate and near-duplicate photos and videos, with a file to keep\n"
        "  export   vectors + metadata for FAISS, clip-retrieval, numpy (npy, Parquet, JSON lines)\n"
        "  serve    web page and JSON API over HTTP (search, by example, thumbnails, video moments)\n"
        "  embed    encode images and texts to CLIP embeddings\n"
        "  ocr      recognise the text in images (Tesseract + text regions)\n"
        "  transcribe  speech to text in audio and video files (Whisper)\n"
        "  model    download (pull), list and locate models\n"
        "  bench    benchmarks (bench encoder)\n"
        "\n"
        "Run `mediagrep <command> --help` for a command's options.\n");
}

/* OpenBLAS (pulled in by FAISS, which needs BLAS only to train IVF indexes)
 * starts one thread per core in its library constructor, and those threads
 * spin in sched_yield for ~0.1 s before they sleep: on a 2-core machine
 * that halves the CPU a short command such as `mediagrep search` has. Its
 * threads are shut down here; OpenBLAS starts them again on its next
 * threaded call. Looked up dynamically: other BLAS builds lack the symbol. */
static void quiet_blas_threads(void) {
    void (*shutdown)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (shutdown) shutdown();
}

int main(int argc, char **argv) {
    quiet_blas_threads();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("mediagrep 0.1.0\n");
        return 0;
    }
    if (!strcmp(cmd, "embed")) return mg_cli_embed(argc - 1, argv + 1);
    if (!strcmp(cmd, "model")) return mg_cli_model(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return mg_cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "index")) return mg_cli_index(argc - 1, argv + 1);
    if (!strcmp(cmd, "status")) return mg_cli_status(argc - 1, argv + 1);
    if (!strcmp(cmd, "meta")) return mg_cli_meta(argc - 1, argv + 1);
    if (!strcmp(cmd, "forget")) return mg_cli_forget(argc - 1, argv + 1);
    if (!strcmp(cmd, "ocr")) return mg_cli_ocr(argc - 1, argv + 1);
    if (!strcmp(cmd, "transcribe")) return mg_cli_transcribe(argc - 1, argv + 1);
    if (!strcmp(cmd, "classify")) return mg_cli_classify(argc - 1, argv + 1);
    if (!strcmp(cmd, "dups")) return mg_cli_dups(argc - 1, argv + 1);
    if (!strcmp(cmd, "search")) return mg_cli_search(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return mg_cli_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return mg_cli_serve(argc - 1, argv + 1);
    fprintf(stderr, "mediagrep: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
