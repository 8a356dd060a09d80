/*
 * dist.h - the message transport between the processes of one distributed
 * `mediagrep index` run (master/worker, see pipeline/index_dist.c): MPI,
 * loaded at run time. The binary does not link Open MPI: dist.c looks at
 * the launcher's environment (mg_dist_launched) and only then dlopens
 * libmediagrep_mpi.so (mpi_module.c, the one file that includes mpi.h),
 * which initialises MPI. Started alone, nothing here touches MPI.
 *
 * The operations are the few the run needs: point-to-point messages with a
 * tag (blocking send, non-blocking send with completion test, probe with a
 * wait, receive), a broadcast from rank 0, and abort. Messages are byte
 * buffers (MPI_BYTE); a message may be large (a video's vectors).
 *
 * Threading: MPI is initialised with MPI_THREAD_SERIALIZED: at any moment
 * at most one thread of a process calls into an mg_dist (the caller
 * guarantees it: the indexer hands the handle from the main thread to its
 * one communication thread and back, with a join in between).
 * Errors: every call returns MG_OK or an error code with a message in err;
 * MPI's own error handler stays MPI_ERRORS_ARE_FATAL for the communicator
 * (a dead peer takes the job down, as mpirun/srun expect), except where a
 * call says otherwise.
 */
#ifndef MG_DIST_H
#define MG_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

/* Which launcher started this process, from its environment only:
 * OMPI_COMM_WORLD_SIZE (mpirun), PMIX_RANK (srun --mpi=pmix, prterun) or
 * PMI_RANK (MPICH-style PMI). SLURM_PROCID alone means nothing (a plain
 * srun of a non-MPI step). Returns 1 and the launcher's name in
 * name[0..cap) when one is found, else 0. Never initialises anything. */
int mg_dist_launched(char *name, size_t cap);

typedef struct mg_dist mg_dist;

/* Loads the MPI module and initialises MPI (MPI_Init_thread, SERIALIZED).
 * The module is looked for at $MEDIAGREP_MPI_MODULE, beside the executable,
 * at the build directory's path, then on the library path. Errors: the
 * module or libmpi cannot be loaded (MG_EUNSUPPORTED, with dlerror's
 * reason), MPI refuses to start, or the thread level is too low. At most
 * one open per process (MPI cannot be initialised twice). */
int mg_dist_open(mg_dist **out, mg_error *err);

/* MPI_Finalize and unload. NULL is a no-op. Call only when no message is
 * in flight (every isend completed). */
void mg_dist_close(mg_dist *d);

int mg_dist_rank(const mg_dist *d);
int mg_dist_size(const mg_dist *d);
/* This process's host name (MPI_Get_processor_name), owned by d. */
const char *mg_dist_host(const mg_dist *d);

/* Blocking send of n bytes to rank dest with tag (0 <= tag < 32768). */
int mg_dist_send(mg_dist *d, int dest, int tag, const void *buf, size_t n, mg_error *err);

/* Non-blocking send: buf must stay valid and unchanged until
 * mg_dist_test reports completion. *req receives a handle. */
typedef struct mg_dist_req mg_dist_req;
int mg_dist_isend(mg_dist *d, int dest, int tag, const void *buf, size_t n, mg_dist_req **req, mg_error *err);
/* 1 when req has completed (and is freed), 0 when not yet, < 0 on error. */
int mg_dist_test(mg_dist *d, mg_dist_req *req, mg_error *err);

/* Waits up to wait_ms (0: no wait; < 0: forever) for a message from src
 * (-1: any rank) with tag (-1: any tag). Returns 1 and its source, tag and
 * size when one is there, 0 on timeout, < 0 on error. Polls with
 * MPI_Iprobe and short sleeps (no busy spin: about 0.2 ms granularity). */
int mg_dist_probe(mg_dist *d, int src, int tag, int wait_ms, int *src_out, int *tag_out, size_t *n_out,
                  mg_error *err);

/* Receives the message probed from (src, tag) into buf (cap >= its size). */
int mg_dist_recv(mg_dist *d, int src, int tag, void *buf, size_t cap, size_t *n_out, mg_error *err);

/* Broadcast from rank 0 of a variable-size buffer: on rank 0 *buf and *n are
 * sent; on the others *buf is malloc'd (caller frees) and *n set. */
int mg_dist_bcast(mg_dist *d, void **buf, size_t *n, mg_error *err);

/* MPI_Abort(MPI_COMM_WORLD, code): every rank of the job ends. Does not
 * return. */
void mg_dist_abort(mg_dist *d, int code) __attribute__((noreturn));

#endif
