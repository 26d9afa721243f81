/* lap_mpi.c: lap.mpi, the processes of a job started by mpirun or srun
 * (runtime/core/dist.c does the work).
 *
 *   lap.mpi.compiled()                 whether this build has MPI
 *   lap.mpi.size(), lap.mpi.rank()     1 and 0 without a launcher or without MPI
 *   lap.mpi.barrier()
 *   lap.mpi.allreduce(t [, "sum" | "mean"])   in place, returns t
 *   lap.mpi.broadcast(t, root)                in place (root's values), returns t
 *   lap.mpi.send(message, dest [, tag])       a Lua string to rank dest
 *   lap.mpi.recv([source [, tag]])            the next string (from source, or any
 *                                             rank); returns message, source
 *
 * With one process the collectives leave the tensor as it is ("mean" divides by 1)
 * and send/recv are errors (there is no other rank).  A build without MPI started
 * by a launcher as several processes warns once on stderr: every process then runs
 * alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "core/dist.h"
#include "core/error.h"

#define MAX_TAG 32767   /* the least MPI_TAG_UB the standard allows */

static int size_or_error(lua_State *L)
{
    static int warned;
    if (!lap_dist_compiled() && !warned && lap_dist_launcher_size() > 1) {
        warned = 1;
        fprintf(stderr, "lap.mpi: started as %d processes, but this build has no MPI: each runs alone "
                        "(size 1); rebuild with libopenmpi-dev installed\n", lap_dist_launcher_size());
    }
    if (lap_dist_init() != LAP_OK)
        lapL_runtime_error(L);
    return lap_dist_size();
}

static int mpi_compiled(lua_State *L)
{
    lua_pushboolean(L, lap_dist_compiled());
    return 1;
}

static int mpi_size(lua_State *L)
{
    lua_pushinteger(L, size_or_error(L));
    return 1;
}

static int mpi_rank(lua_State *L)
{
    size_or_error(L);
    lua_pushinteger(L, lap_dist_rank());
    return 1;
}

static int mpi_barrier(lua_State *L)
{
    size_or_error(L);
    if (lap_dist_barrier() != LAP_OK)
        return lapL_runtime_error(L);
    return 0;
}

static int mpi_allreduce(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    static const char *const ops[] = {"sum", "mean", NULL};
    int op = luaL_checkoption(L, 2, "sum", ops);
    int size = size_or_error(L);
    if (lap_dist_allreduce_float(lap_data(t), lap_numel(t)) != LAP_OK)
        return lapL_runtime_error(L);
    if (op == 1 && size > 1)
        lap_scale(lap_data(t), 1.0f / (float)size, lap_numel(t));
    lua_settop(L, 1);
    return 1;
}

static int mpi_broadcast(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    lua_Integer root = luaL_checkinteger(L, 2);
    int size = size_or_error(L);
    luaL_argcheck(L, root >= 0 && root < size, 2, "root must be a rank, 0 to size - 1");
    if (lap_dist_broadcast_float(lap_data(t), lap_numel(t), (int)root) != LAP_OK)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

static int mpi_send(lua_State *L)
{
    size_t length;
    const char *message = luaL_checklstring(L, 1, &length);
    lua_Integer dest = luaL_checkinteger(L, 2);
    lua_Integer tag = luaL_optinteger(L, 3, 0);
    luaL_argcheck(L, tag >= 0 && tag <= MAX_TAG, 3, "tag must be in [0, 32767]");
    int size = size_or_error(L);
    luaL_argcheck(L, dest >= 0 && dest < size && dest != lap_dist_rank(), 2,
                  "dest must be another rank, 0 to size - 1");
    if (lap_dist_send(message, length, (int)dest, (int)tag) != LAP_OK)
        return lapL_runtime_error(L);
    return 0;
}

static int mpi_recv(lua_State *L)
{
    lua_Integer source = luaL_optinteger(L, 1, -1);
    lua_Integer tag = luaL_optinteger(L, 2, -1);
    luaL_argcheck(L, tag >= -1 && tag <= MAX_TAG, 2, "tag must be in [0, 32767] (or -1 or nil: any)");
    int size = size_or_error(L);
    luaL_argcheck(L, source >= -1 && source < size && source != lap_dist_rank(), 1,
                  "source must be another rank, 0 to size - 1 (or -1 or nil: any)");
    size_t length;
    int from;
    char *message = lap_dist_receive((int)source, (int)tag, &length, &from);
    if (!message)
        return lapL_runtime_error(L);
    lua_pushlstring(L, message, length);
    free(message);
    lua_pushinteger(L, from);
    return 2;
}

void lapL_open_mpi(lua_State *L)
{
    static const luaL_Reg functions[] = {{"compiled", mpi_compiled}, {"size", mpi_size},
                                         {"rank", mpi_rank},         {"barrier", mpi_barrier},
                                         {"allreduce", mpi_allreduce}, {"broadcast", mpi_broadcast},
                                         {"send", mpi_send},         {"recv", mpi_recv},
                                         {NULL, NULL}};
    luaL_newlib(L, functions);
    lua_setfield(L, -2, "mpi");
}
