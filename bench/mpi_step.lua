-- bench/mpi_step.lua: what data-parallel training costs on this machine.
--
-- `make bench` runs it as one process; it launches itself under mpirun (skipped
-- with a message without MPI or mpirun) and prints, side by side:
--   - the time of lap.mpi.allreduce over the gradients of the paper's MNIST and
--     CIFAR ResNet9 (0.81 M and 4.3 M floats) between 2 ranks (median of 15);
--   - one training step of the MNIST ResNet9 (batch 128, as bench/mnist_step.lua)
--     with distributed = true on 1 rank of one thread, 2 ranks of one thread each,
--     and 1 rank of two threads (median over the steps).
-- Usage: laprun bench/mpi_step.lua [steps]  (internal: --child allreduce|step steps)
local function median(values)
  table.sort(values)
  local n = #values
  return n % 2 == 1 and values[(n + 1) // 2] or (values[n // 2] + values[n // 2 + 1]) / 2
end

if arg[1] == "--child" then
  local mpi, what, steps = lap.mpi, arg[2], tonumber(arg[3])
  if what == "allreduce" then
    for _, case in ipairs { { "mnist", 808478 }, { "cifar10", 4311210 } } do
      local t = lap.ones(case[2])
      mpi.allreduce(t)
      local times = {}
      for i = 1, 15 do
        mpi.barrier()
        local started = lap.clock()
        mpi.allreduce(t)
        times[i] = lap.clock() - started
      end
      if mpi.rank() == 0 then print(string.format("RESULT allreduce_%s %.6f", case[1], median(times))) end
    end
  else
    local models = require "lap.models"
    lap.manual_seed(0)
    local net = models.one_rep_resnet { dataset = "mnist" }
    lap.init.orthogonal(net, { gain = 0.01 })
    local x = lap.randn(128, 1, 28, 28)
    local labels = {}
    for i = 1, 128 do labels[i] = (i * 7) % 10 end
    local trainer = lap.train.Regularized { net = net, lambda = 0.1, distributed = true,
      optimizer = lap.optim.SGD { lr = 0.01, momentum = 0.9, weight_decay = 1e-4 } }
    trainer:step(x, labels)
    local times = {}
    for i = 1, steps do
      local started = lap.clock()
      trainer:step(x, labels)
      times[i] = lap.clock() - started
    end
    if mpi.rank() == 0 then print(string.format("RESULT step %.6f", median(times))) end
  end
  return
end

local steps = tonumber(arg[1]) or 10
if not lap.mpi.compiled() then
  print("mpi_step: skipped (this laprun was built without MPI)")
  return
end
if os.execute("command -v mpirun > /dev/null 2>&1") ~= true then
  print("mpi_step: skipped (mpirun not found; Debian: openmpi-bin)")
  return
end
local laprun = os.getenv("LAPRUN") or "./laprun"
local script = arg[0]
local function run(ranks, threads, what)
  local command = string.format("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=%d "
    .. "mpirun --oversubscribe --bind-to none -np %d %s %s --child %s %d 2>&1", threads, ranks, laprun, script, what, steps)
  local pipe = assert(io.popen(command))
  local text = pipe:read("a")
  pipe:close()
  local results = {}
  for key, value in text:gmatch("RESULT (%S+) (%S+)") do results[key] = tonumber(value) end
  if not next(results) then error("mpi_step: " .. command .. " printed no result:\n" .. text, 0) end
  return results
end

local reduce = run(2, 1, "allreduce")
print(string.format("mpi_step: allreduce between 2 ranks: MNIST ResNet9 gradients (3.2 MB) %.2f ms, "
  .. "CIFAR ResNet9 (17.2 MB) %.2f ms", 1e3 * reduce.allreduce_mnist, 1e3 * reduce.allreduce_cifar10))
local one = run(1, 1, "step").step
local two_ranks = run(2, 1, "step").step
local two_threads = run(1, 2, "step").step
print(string.format("mpi_step: MNIST ResNet9 step (batch 128): 1 rank x 1 thread %.0f ms, 2 ranks x 1 thread %.0f ms "
  .. "(speedup %.2f), 1 rank x 2 threads %.0f ms (speedup %.2f)", 1e3 * one, 1e3 * two_ranks, one / two_ranks,
  1e3 * two_threads, one / two_threads))
