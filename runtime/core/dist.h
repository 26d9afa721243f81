/* dist.h: the processes of a job launched by mpirun or srun (MPI), for sweeps and
 * data-parallel training.
 *
 * Built with MPI (LAP_HAVE_MPI, the Makefile's pkg-config ompi-c) the functions
 * below work on MPI_COMM_WORLD; built without it, or when the process was not
 * started by a launcher, there is one process: size 1, rank 0, the reductions and
 * broadcasts leave the data as it is, send/receive are errors (no other rank).
 *
 * MPI is initialized lazily, by the first call that needs it, and only when a
 * launcher says there are several processes (OMPI_COMM_WORLD_SIZE, PMI_SIZE, or
 * SLURM_STEP_NUM_TASKS with PMIX_RANK/PMI_RANK set); a plain `laprun script`
 * never initializes MPI.  It is finalized at exit (atexit).  A process that fails
 * must call lap_dist_abort: MPI_Finalize on one rank while others wait in a
 * collective would hang the job, MPI_Abort takes every rank down.
 *
 * Limits: MPI_COMM_WORLD only; initialized as MPI_THREAD_FUNNELED (only the main
 * thread calls MPI; OpenMP threads do not); messages up to 2 GB.
 */
#ifndef LAP_DIST_H
#define LAP_DIST_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this build has MPI compiled in. */
int lap_dist_compiled(void);
/* The number of processes and this one's rank, as the launcher announced them
 * (environment), without initializing MPI: for messages ("rank 1 of 2").
 * 1 and 0 outside a launcher. */
int lap_dist_launcher_size(void);
int lap_dist_launcher_rank(void);

/* Size and rank of the job; the first call under a launcher of 2+ processes
 * initializes MPI (which can fail: then the size is 1 and lap_dist_init's error
 * says why). */
int lap_dist_size(void);
int lap_dist_rank(void);
/* Initializes MPI if needed and not done; LAP_OK, or LAP_ERR with the reason. */
int lap_dist_init(void);
/* 1 when MPI is initialized and not finalized (a failing process must abort). */
int lap_dist_active(void);

int lap_dist_barrier(void);
/* In place: data (count) becomes the elementwise sum over the ranks. */
int lap_dist_allreduce_float(float *data, int64_t count);
int lap_dist_allreduce_double(double *data, int64_t count);
/* In place: data (count) becomes root's. */
int lap_dist_broadcast_float(float *data, int64_t count, int root);

/* Bytes to rank dest (blocking until MPI has taken them). */
int lap_dist_send(const void *data, size_t length, int dest, int tag);
/* The next message from source (-1: any rank) with tag (-1: any tag): a malloc'ed
 * buffer of *length bytes (plus a 0 byte after them), the sender in *from.  Waits
 * by polling with short sleeps, so a rank waiting for work does not take a core. */
char *lap_dist_receive(int source, int tag, size_t *length, int *from);

/* Ends every process of the job with exit code `code` (MPI_Abort) when MPI is
 * active; otherwise returns. */
void lap_dist_abort(int code);

/* BatchNorm's batch statistics averaged over the ranks (sync_bn): set by a
 * distributed trainer around its forward and backward passes, read by BatchNorm. */
void lap_dist_set_sync_batchnorm(int on);
int lap_dist_sync_batchnorm(void);

#endif
