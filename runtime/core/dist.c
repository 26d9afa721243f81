/* dist.c: the processes of an MPI job (see dist.h): lazy initialization, size and
 * rank, in-place reductions and broadcasts, byte messages, abort.  Without
 * LAP_HAVE_MPI every function is the single-process case. */
#include "core/dist.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

#ifdef LAP_HAVE_MPI
#include <mpi.h>
#endif

static int sync_batchnorm;

void lap_dist_set_sync_batchnorm(int on) { sync_batchnorm = on; }
int lap_dist_sync_batchnorm(void) { return sync_batchnorm; }

/* A positive integer from the environment, or 0. */
static int env_int(const char *name)
{
    const char *value = getenv(name);
    if (!value || !*value)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(value, &end, 10);
    return (*end || errno || n < 0 || n > INT_MAX) ? 0 : (int)n;
}

static int under_pmi(void) { return getenv("PMIX_RANK") || getenv("PMI_RANK"); }

int lap_dist_launcher_size(void)
{
    int n = env_int("OMPI_COMM_WORLD_SIZE");
    if (!n)
        n = env_int("PMI_SIZE");
    if (!n && under_pmi())
        n = env_int("SLURM_STEP_NUM_TASKS");
    return n > 0 ? n : 1;
}

int lap_dist_launcher_rank(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i]))
            return env_int(names[i]);
    return 0;
}

#ifdef LAP_HAVE_MPI

static int initialized, finalized, init_failed, world_size = 1, world_rank = 0;

int lap_dist_compiled(void) { return 1; }

static void finalize_at_exit(void)
{
    int done = 0;
    if (initialized && !finalized && MPI_Finalized(&done) == MPI_SUCCESS && !done) {
        finalized = 1;
        MPI_Finalize();
    }
}

static int mpi_failed(const char *what, int code)
{
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", code);
    return lap_error("mpi: %s failed: %s", what, text);
}

int lap_dist_init(void)
{
    if (initialized)
        return finalized ? lap_error("mpi: MPI was finalized") : LAP_OK;
    if (init_failed)
        return lap_error("mpi: MPI could not be initialized");
    if (lap_dist_launcher_size() < 2)
        return LAP_OK;   /* one process: nothing to initialize */
    int provided, already = 0;
    MPI_Initialized(&already);
    if (!already) {
        int argc = 0;
        char **argv = NULL;
        int code = MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        if (code != MPI_SUCCESS) {
            init_failed = 1;
            return mpi_failed("MPI_Init_thread", code);
        }
        atexit(finalize_at_exit);
    }
    /* Errors come back as codes and become lap errors (then a Lua error, which
     * aborts the job in laprun) instead of killing the process silently. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    initialized = 1;
    return LAP_OK;
}

int lap_dist_active(void) { return initialized && !finalized; }

int lap_dist_size(void)
{
    lap_dist_init();
    return world_size;
}

int lap_dist_rank(void)
{
    lap_dist_init();
    return world_rank;
}

/* LAP_OK when collectives should run over MPI (several ranks); 1 when there is one
 * process (nothing to do); LAP_ERR on a failed initialization. */
static int need_mpi(void)
{
    if (lap_dist_init() != LAP_OK)
        return LAP_ERR;
    return initialized && world_size > 1 ? LAP_OK : 1;
}

static int check_count(int64_t count, const char *what)
{
    if (count < 0 || count > INT_MAX)
        return lap_error("mpi: %s of %lld values (at most %d at once)", what, (long long)count, INT_MAX);
    return LAP_OK;
}

int lap_dist_barrier(void)
{
    int status = need_mpi();
    if (status != LAP_OK)
        return status == 1 ? LAP_OK : LAP_ERR;
    int code = MPI_Barrier(MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? LAP_OK : mpi_failed("MPI_Barrier", code);
}

static int allreduce(void *data, int64_t count, MPI_Datatype type)
{
    int status = need_mpi();
    if (status != LAP_OK)
        return status == 1 ? LAP_OK : LAP_ERR;
    if (check_count(count, "allreduce") != LAP_OK)
        return LAP_ERR;
    int code = MPI_Allreduce(MPI_IN_PLACE, data, (int)count, type, MPI_SUM, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? LAP_OK : mpi_failed("MPI_Allreduce", code);
}

int lap_dist_allreduce_float(float *data, int64_t count) { return allreduce(data, count, MPI_FLOAT); }
int lap_dist_allreduce_double(double *data, int64_t count) { return allreduce(data, count, MPI_DOUBLE); }

int lap_dist_broadcast_float(float *data, int64_t count, int root)
{
    int status = need_mpi();
    if (status == LAP_ERR)
        return LAP_ERR;
    int size = status == 1 ? 1 : world_size;
    if (root < 0 || root >= size)
        return lap_error("mpi: broadcast from rank %d, but ranks are 0 to %d", root, size - 1);
    if (status == 1)
        return LAP_OK;
    if (check_count(count, "broadcast") != LAP_OK)
        return LAP_ERR;
    int code = MPI_Bcast(data, (int)count, MPI_FLOAT, root, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? LAP_OK : mpi_failed("MPI_Bcast", code);
}

int lap_dist_send(const void *data, size_t length, int dest, int tag)
{
    int status = need_mpi();
    if (status == LAP_ERR)
        return LAP_ERR;
    int size = status == 1 ? 1 : world_size;
    if (dest < 0 || dest >= size || dest == world_rank)
        return lap_error("mpi: send to rank %d: the other ranks are %s", dest,
                         size == 1 ? "none (one process)" : "0 to size - 1 except this one");
    if (length > INT_MAX)
        return lap_error("mpi: send of %zu bytes (at most %d)", length, INT_MAX);
    int code = MPI_Send(data, (int)length, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? LAP_OK : mpi_failed("MPI_Send", code);
}

char *lap_dist_receive(int source, int tag, size_t *length, int *from)
{
    int status = need_mpi();
    if (status == LAP_ERR)
        return NULL;
    if (status == 1) {
        lap_error("mpi: receive with one process: there is no other rank");
        return NULL;
    }
    if (source < -1 || source >= world_size || source == world_rank) {
        lap_error("mpi: receive from rank %d: the other ranks are 0 to %d except %d", source, world_size - 1,
                  world_rank);
        return NULL;
    }
    int mpi_source = source < 0 ? MPI_ANY_SOURCE : source, mpi_tag = tag < 0 ? MPI_ANY_TAG : tag;
    /* Poll, sleeping 10 us doubling up to 1 ms between probes: MPI_Probe spins. */
    MPI_Status probe;
    long sleep_ns = 10000;
    for (;;) {
        int ready = 0;
        int code = MPI_Iprobe(mpi_source, mpi_tag, MPI_COMM_WORLD, &ready, &probe);
        if (code != MPI_SUCCESS) {
            mpi_failed("MPI_Iprobe", code);
            return NULL;
        }
        if (ready)
            break;
        if (lap_check_interrupt() != LAP_OK)
            return NULL;
        struct timespec pause = {0, sleep_ns};
        nanosleep(&pause, NULL);
        if (sleep_ns < 1000000)
            sleep_ns *= 2;
    }
    int count = 0;
    MPI_Get_count(&probe, MPI_BYTE, &count);
    char *buffer = lap_malloc((size_t)count + 1);
    if (!buffer)
        return NULL;
    int code = MPI_Recv(buffer, count, MPI_BYTE, probe.MPI_SOURCE, probe.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (code != MPI_SUCCESS) {
        free(buffer);
        mpi_failed("MPI_Recv", code);
        return NULL;
    }
    buffer[count] = '\0';
    *length = (size_t)count;
    if (from)
        *from = probe.MPI_SOURCE;
    return buffer;
}

void lap_dist_abort(int code)
{
    if (lap_dist_active() && world_size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
}

#else /* one process */

int lap_dist_compiled(void) { return 0; }
int lap_dist_init(void) { return LAP_OK; }
int lap_dist_active(void) { return 0; }
int lap_dist_size(void) { return 1; }
int lap_dist_rank(void) { return 0; }
int lap_dist_barrier(void) { return LAP_OK; }
int lap_dist_allreduce_float(float *data, int64_t count) { return LAP_OK; }
int lap_dist_allreduce_double(double *data, int64_t count) { return LAP_OK; }

int lap_dist_broadcast_float(float *data, int64_t count, int root)
{
    return root == 0 ? LAP_OK : lap_error("mpi: broadcast from rank %d, but there is one process (rank 0)", root);
}

int lap_dist_send(const void *data, size_t length, int dest, int tag)
{
    return lap_error("mpi: send to rank %d: this build has no MPI (one process)", dest);
}

char *lap_dist_receive(int source, int tag, size_t *length, int *from)
{
    lap_error("mpi: receive: this build has no MPI (one process)");
    return NULL;
}

void lap_dist_abort(int code) {}

#endif
