-- tests/mpi/sweep.lua: a tiny lap.experiment sweep for tests/test_mpi.lua (run
-- with --jobs and under mpirun): 4 configs x --instances seeds, a fake run
-- function seeded only by (config, seed); --sleep slows it down for the kill and
-- budget tests; the run function prints a line, which must not reach stdout.
local experiment = require "lap.experiment"
local args = require("lap.args").parse(arg, experiment.options({ name = "sweep.lua",
  { "sleep", 0, "seconds per instance" } }, { instances = 3, jobs = 1 }))
experiment.run {
  name = "tiny", options = args,
  run = function(config, seed)
    if args.sleep > 0 then os.execute("sleep " .. args.sleep) end
    print("instance", config.k, seed)
    lap.manual_seed(seed * 100 + config.k)
    local x = lap.rand(4)
    local accuracy = (x:sum() / 4 + config.k) / 3
    return { best_accuracy = accuracy, epochs_metrics = { test_accuracy = { x[1], x[2], accuracy } } }
  end,
  configs = { { k = 1, method = "A", bn = false }, { k = 1, method = "A", bn = true },
              { k = 2, method = "B", bn = false }, { k = 2, method = "B", bn = true } },
  columns = function(c) return c.bn and "BN" or "no BN" end,
}
