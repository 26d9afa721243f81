-- tests/mpi/fail.lua: a Lua error on rank 1 while rank 0 waits for it (run by
-- tests/test_mpi.lua under a timeout: the job must end, non-zero, with rank 1's
-- message and traceback).  arg[1] = "after": rank 1 fails after MPI is up, while
-- rank 0 waits in recv; "before": rank 1 fails before it touches lap.mpi, while
-- rank 0 waits in a barrier.
local when = arg[1]
local rank = tonumber(os.getenv("OMPI_COMM_WORLD_RANK") or os.getenv("PMI_RANK") or "0")
local function fail_here() error("deliberate failure on rank " .. rank) end
if when == "before" and rank == 1 then fail_here() end
lap.mpi.barrier()
if rank == 1 then fail_here() end
if rank == 0 then lap.mpi.recv(1) end   -- never comes
lap.mpi.barrier()
