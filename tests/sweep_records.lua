-- tests/sweep_records.lua: the sweep tests' comparison of two JSONL results files
-- (test_experiment.lua, test_mpi.lua): records keyed by (config, seed), without
-- the wall time, which is the one field that differs between two runs.
--   local sweep_records = dofile(here .. "/sweep_records.lua")
--   local by_key, count = sweep_records.records(path)
--   sweep_records.same(path_a, path_b, "--jobs 1 vs 2")
local experiment = require "lap.experiment"
local json = require "lap.json"

local M = {}

function M.records(path)
  local by_key, count = {}, 0
  for _, r in ipairs(experiment.read_records(path)) do
    r.wall_time = nil
    by_key[experiment.key(r.config, r.seed)] = json.encode(r)
    count = count + 1
  end
  return by_key, count
end

function M.same(a, b, what)
  local ra, na = M.records(a)
  local rb, nb = M.records(b)
  assert(na == nb, string.format("%s: %d records against %d", what, na, nb))
  for k, v in pairs(ra) do assert(rb[k] == v, what .. ": records differ for " .. k) end
end

return M
