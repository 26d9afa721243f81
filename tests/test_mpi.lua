-- test_mpi.lua: lap.mpi, sweeps under mpirun and data-parallel training.
--
-- In this process (one rank, always): lap.mpi's single-process behaviour, and
-- tests/mpi/train.lua (distributed = true on one process is ordinary training,
-- bit for bit).  Then, when MPI is compiled in and mpirun exists, jobs of 2 and 3
-- ranks on this machine (mpirun --oversubscribe, each command under a timeout so
-- that nothing can hang): tests/mpi/collectives.lua (values), tests/mpi/train.lua
-- (distributed training against single-process within 1e-5 relative), the sweep
-- tests/mpi/sweep.lua and experiments/circles_tables.lua against --jobs 1 (same
-- table, same records), stopped by --budget or killed and then --resume'd,
-- experiments/mnist.lua --distributed on tiny files, and a Lua error on rank 1
-- (the job ends non-zero with rank 1's message).
-- Run: ./laprun tests/test_mpi.lua (LAPRUN names the laprun to launch)
-- The laprun running this file (LAPRUN when set): runs from any directory.
local function this_laprun()
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  return os.getenv("LAPRUN") or (arg and arg[i]) or "./laprun"
end
local mpi = lap.mpi
local LAPRUN = this_laprun()
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
if not pcall(require, "lap.experiment") then package.path = here .. "/../scripts/?.lua;" .. package.path end
local experiment = require "lap.experiment"
local json = require "lap.json"

local function fails(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok and tostring(err):find(pattern), "expected an error matching '" .. pattern .. "', got " .. tostring(err))
end

-- One process: size 1, rank 0, collectives leave the data as it is, no one to talk to.
assert(mpi.size() == 1 and mpi.rank() == 0, "outside mpirun there is one rank")
assert(type(mpi.compiled()) == "boolean")
mpi.barrier()
local t = lap.tensor { 1, 2, 3 }
assert(mpi.allreduce(t) == t and t[1] == 1 and t[3] == 3)
assert(mpi.allreduce(t, "mean")[2] == 2)
assert(mpi.broadcast(t, 0)[3] == 3)
fails("root must be a rank", mpi.broadcast, t, 1)
fails("another rank", mpi.send, "x", 1)
fails("another rank", mpi.send, "x", 0)
fails("invalid option", mpi.allreduce, t, "max")
fails("lap.Tensor expected", mpi.allreduce, "not a tensor")

local function sh(command)
  local ok = os.execute(command)
  return ok == true
end
local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- distributed = true in one process: ordinary training, bit for bit.
assert(sh(string.format("%s %s/mpi/train.lua 0 > /dev/null", LAPRUN, here)), "tests/mpi/train.lua on one process")

if not mpi.compiled() then
  print("test_mpi: skipped the mpirun tests: this laprun was built without MPI (make deps installs libopenmpi-dev)")
  return
end
if not sh("command -v mpirun > /dev/null 2>&1") then
  print("test_mpi: skipped the mpirun tests: mpirun not found (Debian: openmpi-bin)")
  return
end

local scratch = os.tmpname()
os.remove(scratch)
assert(sh("mkdir -p " .. scratch))
-- As root Open MPI wants both variables; one thread a rank (2 or 3 ranks share the cores);
-- leak checking off under mpirun (Open MPI's own allocations at exit, in an ASan build).
local ENV = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "
  .. "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "
local function mpirun(ranks, rest, seconds)
  return string.format("%s timeout %d mpirun --oversubscribe -np %d %s %s", ENV, seconds or 60, ranks, LAPRUN, rest)
end
local function run_logged(command, what)
  local log = scratch .. "/log.txt"
  local ok = sh(command .. " > " .. log .. " 2>&1")
  assert(ok, what .. " failed:\n" .. (slurp(log) or ""))
  return slurp(log)
end

-- Collectives and string messages on 2 and 3 ranks.
for _, ranks in ipairs { 2, 3 } do
  local out = run_logged(mpirun(ranks, here .. "/mpi/collectives.lua " .. ranks), "collectives on " .. ranks .. " ranks")
  assert(out:find("collectives ok on " .. ranks .. " ranks", 1, true), out)
end

-- Data-parallel training on 2 and 3 ranks equals single-process training.
for _, ranks in ipairs { 2, 3 } do
  local out = run_logged(mpirun(ranks, here .. "/mpi/train.lua 1e-5"), "distributed training on " .. ranks .. " ranks")
  local worst = out:match(ranks .. " ranks: largest relative difference (%S+)")
  assert(worst and tonumber(worst) <= 1e-5, out)
  print(string.format("test_mpi: %d ranks, distributed vs single-process: largest relative difference %s", ranks, worst))
end

-- Sweeps: the records of a JSONL file keyed by (config, seed), without wall times.
local sweep_records = dofile(here .. "/sweep_records.lua")
local records, same_records = sweep_records.records, sweep_records.same
local SWEEP = here .. "/mpi/sweep.lua"
-- Runs the tiny sweep (ranks = nil: with --jobs) into out; returns its csv, stdout and stderr.
local function sweep(ranks, out, options, expect_failure)
  local rest = string.format("%s --out %s %s > %s/stdout.txt 2> %s/stderr.txt", SWEEP, out, options or "", scratch,
    scratch)
  local ok = sh(ranks and mpirun(ranks, rest) or (LAPRUN .. " " .. rest))
  if not expect_failure then assert(ok, "sweep failed:\n" .. (slurp(scratch .. "/stderr.txt") or "")) end
  return slurp(out .. "/tiny.csv"), slurp(scratch .. "/stdout.txt"), slurp(scratch .. "/stderr.txt")
end

local csv1, table1 = sweep(nil, scratch .. "/j1", "--jobs 1 --instances 4")
local csv3, table3, log3 = sweep(3, scratch .. "/m3", "--instances 4")
assert(log3:find("3 MPI ranks", 1, true), log3)
assert(csv3 == csv1 and table3 == table1, "mpirun -np 3 differs from --jobs 1:\n" .. table3 .. "\n" .. table1)
assert(not table3:find("instance", 1, true), "a worker rank's print reached stdout:\n" .. table3)
assert(log3:find("instance\t2\t3", 1, true), "a worker rank's print should go to stderr:\n" .. log3)
same_records(scratch .. "/j1/tiny.jsonl", scratch .. "/m3/tiny.jsonl", "--jobs 1 vs mpirun -np 3")
local csv2, table2 = sweep(2, scratch .. "/m2", "--instances 4")
assert(csv2 == csv1 and table2 == table1, "mpirun -np 2 differs from --jobs 1")
same_records(scratch .. "/j1/tiny.jsonl", scratch .. "/m2/tiny.jsonl", "--jobs 1 vs mpirun -np 2")

-- Stopped by --budget (0.01 minutes) under mpirun, then --resume'd under mpirun.
local _, _, log_b = sweep(3, scratch .. "/b", "--instances 4 --sleep 0.25 --budget 0.01")
local _, done_b = records(scratch .. "/b/tiny.jsonl")
assert(done_b > 0 and done_b < 16, "the budget should stop the sweep part-way (" .. done_b .. " records)")
assert(log_b:find("the budget of 0.01 minutes is spent: " .. done_b .. " of 16", 1, true), log_b)
local csv_b, table_b, log_b2 = sweep(3, scratch .. "/b", "--instances 4 --resume")
assert(log_b2:find((16 - done_b) .. " to run", 1, true), log_b2)
assert(csv_b == csv1 and table_b == table1, "resumed after its budget, the sweep differs:\n" .. table_b)
same_records(scratch .. "/j1/tiny.jsonl", scratch .. "/b/tiny.jsonl", "budget + resume")

-- Killed part-way (mpirun gets SIGTERM and ends every rank), then --resume'd.
sh(string.format("%s timeout -s TERM 1.2 mpirun --oversubscribe -np 3 %s %s --out %s/k --instances 4 --sleep 0.25 "
  .. "> /dev/null 2>&1", ENV, LAPRUN, SWEEP, scratch))
local _, done_k = records(scratch .. "/k/tiny.jsonl")
assert(done_k < 16, "the killed sweep finished (" .. done_k .. " records)")
local csv_k, table_k = sweep(3, scratch .. "/k", "--instances 4 --resume")
assert(csv_k == csv1 and table_k == table1, "resumed after a kill, the sweep differs:\n" .. table_k)
same_records(scratch .. "/j1/tiny.jsonl", scratch .. "/k/tiny.jsonl", "kill + resume")

-- The issue's example: circles_tables.lua under mpirun -np 3 prints --jobs 1's table, 36 records.
local function circles(command, out)
  local text = run_logged(command .. " --tables 10 --instances 6 --out " .. out, "circles_tables")
  local printed = text:match("\n(Table 10.-)\n%d+ instances in")
  printed = printed and printed:gsub("; instance time [%d.]+s on average", "")   -- the one line that is a time
  return printed, select(2, records(out .. "/circles_tables.jsonl"))
end
local root = here .. "/.."
local table_c1, count_c1 = circles(string.format("%s %s/experiments/circles_tables.lua --jobs 1", LAPRUN, root),
  scratch .. "/c1")
local table_c3, count_c3 = circles(mpirun(3, root .. "/experiments/circles_tables.lua"), scratch .. "/c3")
assert(table_c1 and table_c1 == table_c3, "circles_tables: mpirun -np 3 differs from --jobs 1:\n"
  .. tostring(table_c3) .. "\n" .. tostring(table_c1))
assert(count_c1 == 36 and count_c3 == 36, count_c1 .. " and " .. count_c3 .. " records")

-- experiments/mnist.lua --distributed on 2 ranks, on tiny IDX files written here:
-- it trains and rank 0 alone prints the result.
local idx_dir = scratch .. "/idx"
assert(sh("mkdir -p " .. idx_dir))
local function idx(name, count, images)
  local f = assert(io.open(idx_dir .. "/" .. name, "wb"))
  f:write(images and string.pack(">I4I4I4I4", 0x803, count, 28, 28) or string.pack(">I4I4", 0x801, count))
  for i = 1, count do
    f:write(images and string.rep(string.char((i * 37) % 256), 784) or string.char((i - 1) % 10))
  end
  f:close()
end
idx("train-images-idx3-ubyte", 40, true); idx("train-labels-idx1-ubyte", 40, false)
idx("t10k-images-idx3-ubyte", 20, true); idx("t10k-labels-idx1-ubyte", 20, false)
local mnist_out = run_logged(mpirun(2, string.format("%s/experiments/mnist.lua --distributed --data %s --train-size 32 "
  .. "--batch 16 --epochs 1 --test-size 20 --methods lap --out %s/mnist-out", root, idx_dir, scratch)),
  "mnist.lua --distributed")
local _, rows = mnist_out:gsub("\nLAP%-ResNet ", "")
assert(rows == 1 and mnist_out:find("32 training images (seed 1), 20 test images, 1 epochs", 1, true),
  "mnist.lua --distributed should print its result once:\n" .. mnist_out)
assert(slurp(scratch .. "/mnist-out/history.csv"), "mnist.lua --distributed wrote no history.csv")

-- A Lua error on rank 1, after MPI is up or before rank 1 touches it: the job ends
-- (not a hang: 30 s timeout), non-zero, with rank 1's message and traceback.
for _, when in ipairs { "after", "before" } do
  local log = scratch .. "/fail.txt"
  local started = lap.clock()
  local ok, how, code = os.execute(mpirun(2, here .. "/mpi/fail.lua " .. when, 30) .. " > " .. log .. " 2>&1")
  local text = slurp(log)
  assert(not ok and how == "exit" and code ~= 124, "a failing rank (" .. when .. ") should end the job: "
    .. tostring(how) .. " " .. tostring(code) .. "\n" .. text)
  assert(text:find("laprun (rank 1 of 2): ", 1, true) and text:find("deliberate failure on rank 1", 1, true)
    and text:find("stack traceback", 1, true), "rank 1's message and traceback:\n" .. text)
  assert(lap.clock() - started < 20, "the failed job took " .. (lap.clock() - started) .. " s to end")
end

sh("rm -rf " .. scratch)
print("test_mpi: ok")
