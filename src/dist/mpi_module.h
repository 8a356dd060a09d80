/*
 * mpi_module.h - the table of functions libmediagrep_mpi.so (mpi_module.c,
 * the one file that includes mpi.h) exports to dist.c, which dlopens it.
 * The module is a thin layer over MPI_COMM_WORLD: it checks nothing the
 * caller can check (dist.c validates ranks, tags and sizes) and reports
 * MPI's own error codes; `error_string` turns one into text. Counts are
 * ints, as MPI's are: dist.c refuses larger messages before calling.
 *
 * ABI: dist.c and the module are built from the same tree, and the table
 * starts with MG_MPI_ABI so that a stale module from another build is
 * refused instead of called through a wrong layout.
 * Threading: as MPI_THREAD_SERIALIZED (one caller at a time).
 */
#ifndef MG_MPI_MODULE_H
#define MG_MPI_MODULE_H

#include <stddef.h>

#define MG_MPI_ABI 1
/* The one symbol the module exports: a function returning its table. */
#define MG_MPI_ENTRY "mg_mpi_module"

typedef struct mg_mpi_ops {
    int abi; /* MG_MPI_ABI */
    /* MPI_Init_thread(MPI_THREAD_SERIALIZED): 0 and *provided (the MPI_THREAD_*
     * level rank: 0 single, 1 funneled, 2 serialized, 3 multiple), rank,
     * size, and the host name in host[0..cap); else an MPI error code. */
    int (*init)(int *provided, int *rank, int *size, char *host, size_t cap);
    int (*finalize)(void);
    int (*send)(int dest, int tag, const void *buf, int n);
    /* *req: a malloc'd MPI_Request, freed by test on completion or error. */
    int (*isend)(int dest, int tag, const void *buf, int n, void **req);
    int (*test)(void *req, int *done);
    /* src/tag -1: any. *flag 1 when a message is there, with its source,
     * tag and byte count (-1 when it does not fit an int). */
    int (*iprobe)(int src, int tag, int *flag, int *src_out, int *tag_out, int *count);
    /* Blocking probe (as iprobe, waits). */
    int (*probe)(int src, int tag, int *src_out, int *tag_out, int *count);
    /* Receives from exactly (src, tag) into buf (cap bytes); *n: bytes. */
    int (*recv)(int src, int tag, void *buf, int cap, int *n);
    /* From rank 0: the size, then the bytes, in calls of at most INT_MAX. */
    int (*bcast_size)(unsigned long long *n);
    int (*bcast_bytes)(void *buf, int n);
    void (*abort)(int code);
    void (*error_string)(int code, char *buf, size_t cap);
    /* MPI_Get_library_version's text (for messages). */
    void (*version)(char *buf, size_t cap);
} mg_mpi_ops;

typedef const mg_mpi_ops *(*mg_mpi_entry_fn)(void);

#endif
