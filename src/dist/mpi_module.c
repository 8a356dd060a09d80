/*
 * mpi_module.c - libmediagrep_mpi.so, the only mediagrep code that includes
 * mpi.h and links libmpi. dist.c dlopens it when a launcher started the
 * process and calls MPI through the table below (mpi_module.h); the
 * mediagrep binary itself never links MPI, so a plain run pays nothing for
 * it and runs on machines without Open MPI.
 *
 * Everything works on MPI_COMM_WORLD with its default error handler
 * (MPI_ERRORS_ARE_FATAL): a failed call normally takes the job down, and
 * the codes returned here are for the calls MPI lets return.
 * Threading: MPI_THREAD_SERIALIZED; the caller (dist.c's user) guarantees one
 * thread at a time. Only mg_mpi_module is exported (-fvisibility=hidden).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "dist/mpi_module.h"

static int level_rank(int level) {
    if (level == MPI_THREAD_MULTIPLE) return 3;
    if (level == MPI_THREAD_SERIALIZED) return 2;
    if (level == MPI_THREAD_FUNNELED) return 1;
    return 0;
}

static int m_init(int *provided, int *rank, int *size, char *host, size_t cap) {
    int prov = MPI_THREAD_SINGLE;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &prov);
    if (rc != MPI_SUCCESS) return rc;
    *provided = level_rank(prov);
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return rc;
    if ((rc = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS) return rc;
    char name[MPI_MAX_PROCESSOR_NAME + 1];
    int len = 0;
    if (MPI_Get_processor_name(name, &len) != MPI_SUCCESS || len < 0) len = 0;
    if (len > MPI_MAX_PROCESSOR_NAME) len = MPI_MAX_PROCESSOR_NAME;
    name[len] = 0;
    if (cap) snprintf(host, cap, "%s", name);
    return MPI_SUCCESS;
}

static int m_finalize(void) {
    return MPI_Finalize();
}

static int m_send(int dest, int tag, const void *buf, int n) {
    return MPI_Send(buf, n, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
}

static int m_isend(int dest, int tag, const void *buf, int n, void **req) {
    MPI_Request *r = malloc(sizeof *r);
    if (!r) return MPI_ERR_NO_MEM;
    int rc = MPI_Isend(buf, n, MPI_BYTE, dest, tag, MPI_COMM_WORLD, r);
    if (rc != MPI_SUCCESS) {
        free(r);
        return rc;
    }
    *req = r;
    return MPI_SUCCESS;
}

static int m_test(void *req, int *done) {
    MPI_Request *r = req;
    int flag = 0;
    int rc = MPI_Test(r, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        if (*r != MPI_REQUEST_NULL) MPI_Request_free(r);
        free(r);
        return rc;
    }
    *done = flag != 0;
    if (flag) free(r);
    return MPI_SUCCESS;
}

static void status_out(const MPI_Status *st, int *src_out, int *tag_out, int *count) {
    int c = 0;
    if (MPI_Get_count(st, MPI_BYTE, &c) != MPI_SUCCESS || c == MPI_UNDEFINED) c = -1;
    *src_out = st->MPI_SOURCE;
    *tag_out = st->MPI_TAG;
    *count = c;
}

static int m_iprobe(int src, int tag, int *flag, int *src_out, int *tag_out, int *count) {
    MPI_Status st;
    int f = 0;
    int rc = MPI_Iprobe(src < 0 ? MPI_ANY_SOURCE : src, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &f, &st);
    if (rc != MPI_SUCCESS) return rc;
    *flag = f != 0;
    if (f) status_out(&st, src_out, tag_out, count);
    return MPI_SUCCESS;
}

static int m_probe(int src, int tag, int *src_out, int *tag_out, int *count) {
    MPI_Status st;
    int rc = MPI_Probe(src < 0 ? MPI_ANY_SOURCE : src, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &st);
    if (rc != MPI_SUCCESS) return rc;
    status_out(&st, src_out, tag_out, count);
    return MPI_SUCCESS;
}

static int m_recv(int src, int tag, void *buf, int cap, int *n) {
    MPI_Status st;
    int rc = MPI_Recv(buf, cap, MPI_BYTE, src, tag, MPI_COMM_WORLD, &st);
    if (rc != MPI_SUCCESS) return rc;
    int c = 0;
    if ((rc = MPI_Get_count(&st, MPI_BYTE, &c)) != MPI_SUCCESS) return rc;
    *n = c;
    return MPI_SUCCESS;
}

static int m_bcast_size(unsigned long long *n) {
    return MPI_Bcast(n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
}

static int m_bcast_bytes(void *buf, int n) {
    return MPI_Bcast(buf, n, MPI_BYTE, 0, MPI_COMM_WORLD);
}

static void m_abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void m_error_string(int code, char *buf, size_t cap) {
    char s[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(code, s, &len) != MPI_SUCCESS || len < 0) len = 0;
    if (len > MPI_MAX_ERROR_STRING) len = MPI_MAX_ERROR_STRING;
    s[len] = 0;
    if (cap) snprintf(buf, cap, "%s", len ? s : "unknown MPI error");
}

static void m_version(char *buf, size_t cap) {
    char s[MPI_MAX_LIBRARY_VERSION_STRING + 1];
    int len = 0;
    if (MPI_Get_library_version(s, &len) != MPI_SUCCESS || len < 0) len = 0;
    if (len > MPI_MAX_LIBRARY_VERSION_STRING) len = MPI_MAX_LIBRARY_VERSION_STRING;
    s[len] = 0;
    /* First line only (Open MPI appends its package and build date). */
    char *nl = strpbrk(s, ",\n");
    if (nl) *nl = 0;
    if (cap) snprintf(buf, cap, "%s", s);
}

static const mg_mpi_ops g_ops = {
    .abi = MG_MPI_ABI,
    .init = m_init,
    .finalize = m_finalize,
    .send = m_send,
    .isend = m_isend,
    .test = m_test,
    .iprobe = m_iprobe,
    .probe = m_probe,
    .recv = m_recv,
    .bcast_size = m_bcast_size,
    .bcast_bytes = m_bcast_bytes,
    .abort = m_abort,
    .error_string = m_error_string,
    .version = m_version,
};

__attribute__((visibility("default"))) const mg_mpi_ops *mg_mpi_module(void) {
    return &g_ops;
}
