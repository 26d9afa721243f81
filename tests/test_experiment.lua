-- test_experiment.lua: lap.experiment (statistics, sweeps in worker processes,
-- resume), lap.json and lap.append_line.
-- Run: ./laprun tests/test_experiment.lua
-- The laprun running this file (LAPRUN when set): runs from any directory.
local function this_laprun()
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  return os.getenv("LAPRUN") or (arg and arg[i]) or "./laprun"
end
if not pcall(require, "lap.experiment") then
  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  package.path = here .. "/../scripts/?.lua;" .. package.path
end
local experiment = require "lap.experiment"
local json = require "lap.json"

local LAPRUN = this_laprun()

local function near(a, b, tolerance, what)
  assert(math.abs(a - b) <= tolerance, string.format("%s: got %.10g, expected %.10g", what, a, b))
end

-- Student t quantiles against tables.
near(experiment.t_quantile(0.975, 1), 12.706, 1e-3, "t(0.975, 1)")
near(experiment.t_quantile(0.975, 2), 4.303, 1e-3, "t(0.975, 2)")
near(experiment.t_quantile(0.975, 9), 2.262, 1e-3, "t(0.975, 9)")
near(experiment.t_quantile(0.975, 99), 1.984, 1e-3, "t(0.975, 99)")
near(experiment.t_quantile(0.95, 5), 2.015, 1e-3, "t(0.95, 5)")
near(experiment.t_quantile(0.025, 9), -2.262, 1e-3, "t(0.025, 9)")
near(experiment.t_quantile(0.975, 1e6), 1.960, 1e-3, "t(0.975, 1e6)")
near(experiment.t_cdf(experiment.t_quantile(0.9, 7), 7), 0.9, 1e-12, "t_cdf(t_quantile)")
near(experiment.incomplete_beta(0.3, 2, 3), 0.3483, 1e-4, "I_0.3(2, 3)")

-- The interval of a known sample: 1..5, mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776445.
local c = experiment.interval { 1, 2, 3, 4, 5 }
near(c.mean, 3, 1e-12, "mean")
near(c.low, 3 - 2.776445105 * math.sqrt(2.5) / math.sqrt(5), 1e-6, "low")
near(c.high, 3 + 2.776445105 * math.sqrt(2.5) / math.sqrt(5), 1e-6, "high")
assert(experiment.format_cell(c) == "3.0, [1.0, 5.0]", experiment.format_cell(c))
local one = experiment.interval { 0.5 }
assert(one.n == 1 and one.low == 0.5 and one.high == 0.5)

-- JSON round trip.
local value = { seed = 3, acc = 0.1 + 0.2, name = "a \"quoted\"\n\ttab \\ é", flag = true, off = false,
  list = { 1, 2.5, -3e-7, 1e300, "x", { nested = { 0.975 } } }, empty = {}, int = 42, float = 42.0 }
local text = json.encode(value)
local back = json.decode(text)
assert(json.encode(back) == text, "JSON round trip changed the text:\n" .. text .. "\n" .. json.encode(back))
assert(back.acc == 0.1 + 0.2 and back.list[3] == -3e-7 and back.list[4] == 1e300, "JSON numbers are not exact")
assert(math.type(back.int) == "integer" and math.type(back.float) == "float")
assert(back.name == value.name and back.flag == true and back.off == false)
assert(back.list[6].nested[1] == 0.975)
assert(json.encode { 3, 1, 2 } == "[3,1,2]" and json.encode { b = 1, a = 2 } == '{"a":2,"b":1}')
assert(json.decode(' [ 1 , {"a" : null} , "\\u00e9" ] ')[3] == "é")
for _, bad in ipairs { "[1,", "{\"a\" 1}", "tru", "[1] x", '"abc' } do
  assert(not pcall(json.decode, bad), "json.decode accepted " .. bad)
end

-- A scratch directory.
local scratch = os.tmpname()
os.remove(scratch)
assert(os.execute("mkdir -p '" .. scratch .. "'"))
local function sh(command)
  local ok = os.execute(command)
  assert(ok, "command failed: " .. command)
end
local function slurp(path)
  local f = assert(io.open(path, "r"), "cannot read " .. path)
  local s = f:read("a")
  f:close()
  return s
end
local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

-- lap.append_line: appends whole lines; errors name the path.
local file = scratch .. "/lines.txt"
lap.append_line(file, "one")
lap.append_line(file, "two\n")
assert(slurp(file) == "one\ntwo\n", slurp(file))
local ok, message = pcall(lap.append_line, scratch .. "/missing/dir/x.jsonl", "x")
assert(not ok and message:find(scratch .. "/missing/dir/x.jsonl", 1, true), tostring(message))

-- lap.claim: only the first caller gets a path.
assert(lap.claim(scratch .. "/claimed") == true and lap.claim(scratch .. "/claimed") == false)
ok, message = pcall(lap.claim, scratch .. "/missing/dir/claim")
assert(not ok and message:find(scratch .. "/missing/dir/claim", 1, true), tostring(message))

-- A tiny sweep script: a fake run function, 2 configs x 3 instances, seeded only by
-- (config, seed); `sleep` slows it down for the kill test.
local script = scratch .. "/sweep.lua"
write(script, [[
local experiment = require "lap.experiment"
local args = require("lap.args").parse(arg, experiment.options({ name = "sweep.lua",
  { "sleep", 0, "seconds per instance" } }, { instances = 3, jobs = 1 }))
experiment.run {
  name = "tiny", options = args,
  run = function(config, seed)
    if args.sleep > 0 then os.execute("sleep " .. args.sleep) end
    lap.manual_seed(seed * 100 + config.k)
    local x = lap.rand(4)
    local accuracy = (x:sum() / 4 + config.k) / 3
    return { best_accuracy = accuracy, epochs_metrics = { test_accuracy = { x[1], x[2], accuracy } } }
  end,
  configs = { { k = 1, method = "A", bn = false }, { k = 1, method = "A", bn = true },
              { k = 2, method = "B", bn = false }, { k = 2, method = "B", bn = true } },
  columns = function(c) return c.bn and "BN" or "no BN" end,
}
]])
local function sweep(out, options)
  sh(string.format("%s %s --out %s %s > %s/stdout.txt 2> %s/stderr.txt", LAPRUN, script, out, options or "",
    scratch, scratch))
  return slurp(out .. "/tiny.csv"), slurp(scratch .. "/stdout.txt"), slurp(scratch .. "/stderr.txt")
end

-- Records of a JSONL file keyed by (config, seed), without the wall time.
local sweep_records = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/sweep_records.lua")
local records, same_records = sweep_records.records, sweep_records.same

local csv1, table1 = sweep(scratch .. "/j1", "--jobs 1")
local csv2, table2 = sweep(scratch .. "/j2", "--jobs 2")
local csv3, table3 = sweep(scratch .. "/j3", "--jobs 3 --instances 3")
assert(csv1 == csv2 and csv1 == csv3, "the summary depends on --jobs:\n" .. csv1 .. "\n" .. csv2 .. "\n" .. csv3)
assert(table1 == table2 and table1 == table3, "the printed table depends on --jobs:\n" .. table1 .. "\n" .. table2)
assert(table1:find("no BN", 1, true) and table1:find("BN", 1, true), table1)
same_records(scratch .. "/j1/tiny.jsonl", scratch .. "/j2/tiny.jsonl", "jobs 1 vs 2")
local _, count = records(scratch .. "/j1/tiny.jsonl")
assert(count == 12, "expected 12 records, got " .. count)
local first = experiment.read_records(scratch .. "/j1/tiny.jsonl")[1]
assert(first.lap_version == lap.version and type(first.wall_time) == "number" and first.seed == 0
  and first.config.k == 1 and #first.epochs_metrics.test_accuracy == 3, json.encode(first))
-- The table in-process matches too.
local summary = experiment.summarize({ configs = { { k = 1, method = "A", bn = false } }, instances = 3, name = "x",
  run = function() end, columns = function(cfg) return cfg.bn and "BN" or "no BN" end },
  experiment.read_records(scratch .. "/j2/tiny.jsonl"))
assert(summary.groups[1].cells.A["no BN"].n == 3)

-- Resume after a simulated crash: the first 5 lines of the results file, then --resume.
sh(string.format("mkdir -p %s/r && head -n 5 %s/j2/tiny.jsonl > %s/r/tiny.jsonl", scratch, scratch, scratch))
-- and a last line cut short by the crash
local f = assert(io.open(scratch .. "/r/tiny.jsonl", "a"))
f:write('{"best_accuracy":0.5,"con')
f:close()
local csv_r, table_r, log_r = sweep(scratch .. "/r", "--jobs 2 --resume")
assert(log_r:find("7 to run", 1, true), "resume should run 7 instances:\n" .. log_r)
assert(csv_r == csv1 and table_r == table1, "resumed sweep differs:\n" .. csv_r .. "\n" .. csv1)

-- Resume after a real kill part-way (slow instances, killed after ~1.2 s).
os.execute(string.format("timeout -s KILL 1.2 %s %s --out %s/k --jobs 2 --sleep 0.3 > /dev/null 2>&1",
  LAPRUN, script, scratch))
os.execute("sleep 0.5")   -- orphaned workers die on their next write (SIGPIPE)
local _, partial = records(scratch .. "/k/tiny.jsonl")
assert(partial < 12, "the killed sweep finished (" .. partial .. " records)")
local csv_k, table_k, log_k = sweep(scratch .. "/k", "--jobs 2 --resume")
assert(log_k:find((12 - partial) .. " to run", 1, true), "after the kill: " .. log_k)
assert(csv_k == csv1 and table_k == table1, "sweep resumed after a kill differs:\n" .. csv_k .. "\n" .. csv1)
-- The claim files of the killed run are gone with their directory (issue 13, fault 10).
assert(not os.execute("test -e '" .. scratch .. "/k/tiny.claims'"), "the killed sweep's .claims directory was left")

-- A budget (0.02 minutes, i.e. 1 s) stops the sweep part-way; --resume finishes it
-- with the same table.
local _, table_b, log_b = sweep(scratch .. "/b", "--jobs 2 --sleep 0.3 --budget 0.02")
local _, done_b = records(scratch .. "/b/tiny.jsonl")
assert(done_b < 12, "the budget did not stop the sweep (" .. done_b .. " records)")
assert(log_b:find("the budget of 0.02 minutes is spent: " .. done_b .. " of 12 instances done", 1, true), log_b)
if done_b % 4 ~= 0 then assert(table_b:find("(n=", 1, true), "uneven cells should show their counts:\n" .. table_b) end
local csv_b2, table_b2 = sweep(scratch .. "/b", "--jobs 2 --resume")
assert(csv_b2 == csv1 and table_b2 == table1, "sweep resumed after its budget differs:\n" .. csv_b2 .. "\n" .. csv1)

-- options() merges the common options into a spec.
local spec = experiment.options { { "epochs", 5, "epochs" }, { "jobs", 4, "mine" } }
local names = {}
for _, o in ipairs(spec) do names[o[1]] = o end
assert(names.instances and names.out and names.resume and names.budget and names.worker and names.jobs[2] == 4)

os.execute("rm -rf '" .. scratch .. "'")
print("test_experiment: ok")
