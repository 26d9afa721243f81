-- tests/mpi/collectives.lua: lap.mpi's values on every rank of `mpirun -np P`
-- (run by tests/test_mpi.lua): allreduce (sum, mean, a view), broadcast, strings
-- between ranks (a ring, any-source, tags, binary and large messages), errors.
local mpi = lap.mpi
local rank, size = mpi.rank(), mpi.size()
local expected = tonumber(arg[1])
assert(size == expected, string.format("size() is %d, mpirun started %s", size, tostring(expected)))
assert(rank >= 0 and rank < size and mpi.compiled() == true)

-- allreduce: sum and mean, in place, returning the tensor.
local t = lap.tensor { { rank + 1, 10 * (rank + 1) }, { -rank, 0.5 } }
assert(mpi.allreduce(t) == t, "allreduce returns its tensor")
local total = size * (size + 1) / 2
assert(t[1][1] == total and t[1][2] == 10 * total and t[2][1] == -(total - size) and t[2][2] == 0.5 * size,
  "allreduce sum: " .. tostring(t))
local m = mpi.allreduce(lap.tensor { rank, 2 }, "mean")
assert(math.abs(m[1] - (size - 1) / 2) < 1e-6 and m[2] == 2, "allreduce mean: " .. tostring(m))
-- On a view: only the view's rows change.
local base = lap.tensor { { 1, 1 }, { rank, rank }, { 7, 7 } }
mpi.allreduce(base:narrow(2, 1))
assert(base[1][1] == 1 and base[2][1] == total - size and base[3][2] == 7, "allreduce of a view: " .. tostring(base))

-- broadcast from the last rank.
local b = lap.tensor { rank, rank * 2, 3 }
assert(mpi.broadcast(b, size - 1) == b)
assert(b[1] == size - 1 and b[2] == 2 * (size - 1) and b[3] == 3, "broadcast: " .. tostring(b))

-- Strings around a ring: binary bytes and a large message arrive whole.  A large
-- send waits for its receive (MPI_Send), so even ranks send first, odd ones receive.
local next_rank, previous = (rank + 1) % size, (rank - 1) % size
local big = string.rep(string.char(0, 255, 10) .. tostring(rank), 40000)
local message, source, large, large_source
local function send_both()
  mpi.send("from " .. rank .. "\0tail", next_rank)
  mpi.send(big, next_rank, 7)
end
local function receive_both()
  message, source = mpi.recv(previous)
  large, large_source = mpi.recv(previous, 7)
end
if rank % 2 == 0 then send_both(); receive_both() else receive_both(); send_both() end
assert(message == "from " .. previous .. "\0tail" and source == previous, "ring: " .. message)
assert(large == string.rep(string.char(0, 255, 10) .. tostring(previous), 40000) and large_source == previous,
  "large message of " .. #large .. " bytes")
-- Tags: a later message with another tag can be taken first.
if rank == 1 then
  mpi.send("first", 0, 1)
  mpi.send("second", 0, 2)
  mpi.send("", 0, 3)
elseif rank == 0 then
  assert(mpi.recv(1, 2) == "second")
  assert(mpi.recv(1, 1) == "first")
  local empty, from = mpi.recv(nil, 3)
  assert(empty == "" and from == 1, "an empty message")
end
-- Any source: rank 0 hears from every other rank once.
if rank == 0 then
  local heard = {}
  for _ = 1, size - 1 do
    local text, from = mpi.recv()
    assert(text == "hello " .. from and not heard[from], "any source: " .. text)
    heard[from] = true
  end
else
  mpi.send("hello " .. rank, 0)
end
mpi.barrier()

-- Errors name the problem.
local function fails(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok and tostring(err):find(pattern), "expected an error matching '" .. pattern .. "', got " .. tostring(err))
end
fails("another rank", mpi.send, "x", rank)
fails("another rank", mpi.send, "x", size)
fails("root must be a rank", mpi.broadcast, lap.tensor { 1 }, size)
fails("invalid option 'max'", mpi.allreduce, lap.tensor { 1 }, "max")
fails("tag must be", mpi.send, "x", next_rank, -2)
fails("source must be another rank", mpi.recv, rank)
mpi.barrier()
if rank == 0 then print("collectives ok on " .. size .. " ranks") end
