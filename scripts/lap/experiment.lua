-- lap.experiment: sweeps of (config, seed) instances, in parallel worker processes,
-- with an append-only JSONL record, resume, and tables of means with 95 % Student-t
-- intervals.
--
--   local experiment = require "lap.experiment"
--   local args = require("lap.args").parse(arg, experiment.options {
--     usage = "laprun my_sweep.lua [options]", { "epochs", 100, "maximum epochs" } })
--   local summary = experiment.run {
--     name = "my_sweep", options = args,            -- instances, jobs, out, resume, budget, worker
--     run = function(config, seed) ... return { best_accuracy = 0.97, epochs_metrics = {...} } end,
--     configs = { { method = "ResNet", bn = false }, { method = "LAP", bn = true }, ... },
--     rows = "method", columns = function(c) return c.bn and "BN" or "no BN" end,
--     group = "table",                               -- optional: one printed table per value
--   }
--
-- Every (config, seed) pair, seeds first_seed .. first_seed + instances - 1, is an
-- instance; run(config, seed) must depend on nothing else (seed everything from it),
-- so the results do not depend on the number of workers.  With jobs = J the parent
-- re-runs the script as J workers (`laprun <script> <its args> --worker k --jobs J`,
-- OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1); the workers go through the pending
-- instances in a fixed order (seed by seed, each over all configs), each taking the
-- next one not yet claimed (lap.claim on <out>/<name>.claims/<index>); each
-- appends a JSON line per finished instance to <out>/<name>.jsonl (lap.append_line:
-- one write + fsync) and tells the parent, which shows progress, and at the end prints the
-- tables and writes <out>/<name>.csv.  With resume, instances already in the JSONL
-- file are skipped, so a killed sweep loses only the instances in flight.
-- Without resume, an existing results file is renamed <name>.jsonl.previous.
-- budget = M minutes: no instance starts after that; the tables then have the
-- instances done (cells say how many when they differ), and resume continues.
-- inprocess = true runs the instances in the calling process instead (no workers).
--
-- Under mpirun -np N or srun (lap.mpi.size() = N > 1) the ranks are the workers
-- instead of --jobs processes: rank 0 reads --resume's records, hands out the
-- pending instances in the same fixed order, one to each rank that asks
-- (lap.mpi.send/recv), appends each finished record to the JSONL (lap.append_line,
-- so no shared file system is needed), shows progress and prints the tables;
-- ranks 1 .. N-1 run the instances and exit when rank 0 has none left (or the
-- --budget is spent); what their run functions print goes to stderr, as a --jobs
-- worker's does.  Rank 0 only hands out (it sleeps while it waits), so N ranks
-- run N - 1 instances at a time.  A rank that fails ends the job (MPI_Abort);
-- the records written stay and --resume continues.
--
-- A record: the fields run returned (best_accuracy, epochs_metrics, ...) plus
-- config, seed, wall_time (seconds) and lap_version.
-- A cell of a table: mean of metric (default "best_accuracy") x scale (default 100)
-- over the instances, and the 95 % Student-t interval mean -+ t(0.975, n-1) s / sqrt(n).
local json = require "lap.json"

local M = {}

local PREFIX = "@lap-experiment "

-- Statistics --------------------------------------------------------------------

-- log Gamma (Lanczos, g = 7, n = 9), relative error < 1e-14 for x > 0.
local lanczos = { 0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7 }
local function log_gamma(x)
  if x < 0.5 then
    return math.log(math.pi / math.abs(math.sin(math.pi * x))) - log_gamma(1 - x)
  end
  x = x - 1
  local a = lanczos[1]
  local t = x + 7.5
  for i = 1, 8 do a = a + lanczos[i + 1] / (x + i) end
  return 0.5 * math.log(2 * math.pi) + (x + 0.5) * math.log(t) - t + math.log(a)
end
M.log_gamma = log_gamma

-- Continued fraction of the incomplete beta function (modified Lentz).
local function beta_fraction(a, b, x)
  local tiny, eps = 1e-300, 1e-15
  local qab, qap, qam = a + b, a + 1, a - 1
  local c, d = 1, 1 - qab * x / qap
  if math.abs(d) < tiny then d = tiny end
  d = 1 / d
  local h = d
  for m = 1, 1000 do
    local m2 = 2 * m
    local aa = m * (b - m) * x / ((qam + m2) * (a + m2))
    d = 1 + aa * d
    if math.abs(d) < tiny then d = tiny end
    c = 1 + aa / c
    if math.abs(c) < tiny then c = tiny end
    d = 1 / d
    h = h * d * c
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
    d = 1 + aa * d
    if math.abs(d) < tiny then d = tiny end
    c = 1 + aa / c
    if math.abs(c) < tiny then c = tiny end
    d = 1 / d
    local delta = d * c
    h = h * delta
    if math.abs(delta - 1) < eps then break end
  end
  return h
end

-- The regularized incomplete beta function I_x(a, b).
function M.incomplete_beta(x, a, b)
  if x <= 0 then return 0 end
  if x >= 1 then return 1 end
  local front = math.exp(log_gamma(a + b) - log_gamma(a) - log_gamma(b) + a * math.log(x) + b * math.log(1 - x))
  if x < (a + 1) / (a + b + 2) then
    return front * beta_fraction(a, b, x) / a
  end
  return 1 - front * beta_fraction(b, a, 1 - x) / b
end

-- P(T <= t) for Student's t with df degrees of freedom.
function M.t_cdf(t, df)
  local tail = 0.5 * M.incomplete_beta(df / (df + t * t), df / 2, 0.5)
  return t >= 0 and 1 - tail or tail
end

-- Student t density.
local function t_pdf(t, df)
  return math.exp(log_gamma((df + 1) / 2) - log_gamma(df / 2) - 0.5 * math.log(df * math.pi)
    - (df + 1) / 2 * math.log(1 + t * t / df))
end

-- The p quantile of Student's t with df degrees of freedom (0 < p < 1): bisection
-- to bracket, then Newton steps on the CDF.
function M.t_quantile(p, df)
  assert(p > 0 and p < 1, "t_quantile: p must be in (0, 1)")
  assert(df > 0, "t_quantile: df must be positive")
  if p == 0.5 then return 0 end
  if p < 0.5 then return -M.t_quantile(1 - p, df) end
  local low, high = 0, 1
  while M.t_cdf(high, df) < p do low, high = high, high * 2 end
  for _ = 1, 60 do
    local middle = 0.5 * (low + high)
    if M.t_cdf(middle, df) < p then low = middle else high = middle end
    if high - low < 1e-6 * high then break end
  end
  local t = 0.5 * (low + high)
  for _ = 1, 5 do
    local step = (M.t_cdf(t, df) - p) / t_pdf(t, df)
    local next_t = t - step
    if next_t < low or next_t > high then break end
    t = next_t
    if math.abs(step) < 1e-13 * math.max(1, t) then break end
  end
  return t
end

-- Mean and 95 % (or `level`) Student-t interval of a list of numbers:
-- {n, mean, sd, low, high}; with one value the interval is [mean, mean].
function M.interval(values, level)
  level = level or 0.95
  local n = #values
  local sum = 0
  for _, v in ipairs(values) do sum = sum + v end
  local mean = n > 0 and sum / n or 0 / 0
  if n < 2 then return { n = n, mean = mean, sd = 0, low = mean, high = mean } end
  local squares = 0
  for _, v in ipairs(values) do squares = squares + (v - mean) ^ 2 end
  local sd = math.sqrt(squares / (n - 1))
  local half = M.t_quantile(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n)
  return { n = n, mean = mean, sd = sd, low = mean - half, high = mean + half }
end

-- Options -----------------------------------------------------------------------

-- The common command-line options of sweep scripts, as lap.args specs; with a spec
-- table, returns it with these appended (names the spec already has are kept).
function M.options(spec, defaults)
  defaults = defaults or {}
  local common = {
    { "instances", defaults.instances or 100, "instances (seeds) per configuration" },
    { "jobs", defaults.jobs or 2, "worker processes running the instances" },
    { "out", defaults.out or "out", "directory of the results (<name>.jsonl) and the summary (<name>.csv)" },
    { "resume", false, "skip the (config, seed) pairs already in the results file" },
    { "budget", 0, "minutes after which no new instance starts (0: no limit); the table has those done" },
    { "worker", 0, "internal: run as worker k of --jobs (the parent sets it)" },
  }
  if not spec then return common end
  local have = {}
  for _, option in ipairs(spec) do have[option[1]] = true end
  for _, option in ipairs(common) do
    if not have[option[1]] then spec[#spec + 1] = option end
  end
  return spec
end

-- Helpers -----------------------------------------------------------------------

local function labeler(how, default)
  if how == nil then how = default end
  if type(how) == "function" then return how end
  if how == false then return function() return "" end end
  return function(config)
    local v = config[how]
    if v == nil then return "" end
    return tostring(v)
  end
end

-- The identity of a config: its JSON text (keys sorted).
function M.key(config, seed)
  return json.encode(config) .. "#" .. tostring(seed)
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function format_seconds(s)
  if s ~= s or s == math.huge then return "?" end
  if s < 60 then return string.format("%.0fs", s) end
  if s < 3600 then return string.format("%dm%02ds", math.floor(s / 60), math.floor(s % 60)) end
  return string.format("%dh%02dm", math.floor(s / 3600), math.floor(s % 3600 / 60))
end

local function is_terminal(fd)
  local ok = os.execute("test -t " .. fd)
  return ok == true
end

-- Reads the records of a JSONL file (missing file: none).  A last line cut short
-- by a crash is ignored.
function M.read_records(path)
  local records = {}
  local f = io.open(path, "r")
  if not f then return records end
  for line in f:lines() do
    if line:match("%S") then
      local ok, record = pcall(json.decode, line)
      if ok and type(record) == "table" then records[#records + 1] = record end
    end
  end
  f:close()
  return records
end

-- The arguments of this script for a worker: argv without --worker/--jobs/--resume.
local function worker_arguments(argv)
  local kept, i = {}, 1
  while argv and argv[i] do
    local word = argv[i]
    local name = word:match("^%-%-([%w_%-]+)")
    if name == "worker" or name == "jobs" then
      if not word:find("=", 1, true) then i = i + 1 end
    elseif name ~= "resume" and name ~= "no-resume" then
      kept[#kept + 1] = word
    end
    i = i + 1
  end
  return kept
end

-- Sweep -------------------------------------------------------------------------

local function settings(spec)
  local o = spec.options or {}
  local function pick(key, default)
    if spec[key] ~= nil then return spec[key] end
    if o[key] ~= nil then return o[key] end
    return default
  end
  local s = {
    name = assert(spec.name, "experiment.run: name is required"),
    instances = math.tointeger(pick("instances", 10)),
    jobs = math.tointeger(pick("jobs", 1)),
    out = pick("out", "out"),
    resume = pick("resume", false),
    worker = math.tointeger(pick("worker", 0)),
    first_seed = math.tointeger(pick("first_seed", 0)),
    budget = tonumber(pick("budget", 0)),
  }
  assert(type(spec.run) == "function", "experiment.run: run must be a function(config, seed)")
  assert(type(spec.configs) == "table" and #spec.configs > 0, "experiment.run: configs must be a non-empty list")
  assert(s.instances and s.instances >= 1, "experiment.run: instances must be a positive integer")
  assert(s.jobs and s.jobs >= 1, "experiment.run: jobs must be a positive integer")
  s.results = s.out .. "/" .. s.name .. ".jsonl"
  s.csv = s.out .. "/" .. s.name .. ".csv"
  s.pending_file = s.out .. "/" .. s.name .. ".pending.json"
  return s
end

-- Every (config, seed) pair in the fixed order: seed by seed, each over all configs,
-- so that a sweep stopped part-way (killed, or out of --budget) has about as many
-- instances in every cell.
local function all_tasks(spec, s)
  local tasks = {}
  for i = 0, s.instances - 1 do
    local seed = s.first_seed + i
    for ci, config in ipairs(spec.configs) do
      tasks[#tasks + 1] = { index = #tasks + 1, ci = ci, config = config, seed = seed, key = M.key(config, seed) }
    end
  end
  return tasks
end

-- The time (os.time) after which no instance starts: set by the parent from
-- --budget, passed to the workers in the environment.
local function deadline_of(s)
  if s.worker > 0 then return tonumber(os.getenv("LAP_SWEEP_DEADLINE") or "") end
  if s.budget and s.budget > 0 then return os.time() + math.floor(s.budget * 60 + 0.5) end
  return nil
end

local function out_of_time(deadline) return deadline ~= nil and os.time() >= deadline end

local function run_task(spec, task)
  local started = lap and lap.clock and lap.clock() or os.clock()
  local result = spec.run(task.config, task.seed)
  local wall = (lap and lap.clock and lap.clock() or os.clock()) - started
  local record = {}
  if type(result) == "table" then
    for k, v in pairs(result) do record[k] = v end
  else
    record.value = result
  end
  record.config, record.seed = task.config, task.seed
  record.wall_time = wall
  record.lap_version = lap and lap.version or "?"
  return record
end

local function describe(spec, record)
  local row = labeler(spec.rows, "method")(record.config)
  local column = labeler(spec.columns, false)(record.config)
  local group = spec.group and labeler(spec.group)(record.config) or ""
  local metric = spec.metric or "best_accuracy"
  local value = record[metric]
  local parts = {}
  for _, piece in ipairs { group, row, column } do
    if piece ~= "" then parts[#parts + 1] = piece end
  end
  return string.format("%s seed %d: %s %s", table.concat(parts, " / "), record.seed, metric,
    type(value) == "number" and string.format("%.4g", value * (spec.scale or 100)) or tostring(value))
end

local function worker_main(spec, s)
  local tasks = all_tasks(spec, s)
  local pending = tasks
  local f = io.open(s.pending_file, "r")
  if f then
    local list = json.decode(f:read("a"))
    f:close()
    pending = {}
    for _, index in ipairs(list) do pending[#pending + 1] = tasks[index] end
  end
  local deadline = deadline_of(s)
  -- Instances go to whichever worker is free (a claim file per instance): instances
  -- can differ a lot in time (early stopping), a fixed share would leave one waiting.
  local claims = os.getenv("LAP_SWEEP_CLAIMS")
  for i = 1, #pending do
    if out_of_time(deadline) then break end
    local mine
    if claims then mine = lap.claim(claims .. "/" .. pending[i].index) else mine = (i - s.worker) % s.jobs == 0 end
    if mine then
      local record = run_task(spec, pending[i])
    -- The parent gone (killed): stop instead of computing records nobody reads.
      -- The worker appends its record itself (one write + fsync, whole or not at
      -- all) and tells the parent only a short line: the parent reads the workers'
      -- pipes one after the other, and full records would fill a pipe and stall a
      -- worker of short instances while the parent waits on one of long instances.
      lap.append_line(s.results, json.encode(record))
      if not (io.stdout:write(PREFIX, describe(spec, record), "\n") and io.stdout:flush()) then os.exit(1) end
    end
  end
  os.exit(0)
end

-- The number of MPI ranks (1 outside mpirun/srun or without MPI).
local function mpi_size()
  local mpi = rawget(_G, "lap") and lap.mpi
  return mpi and mpi.size() or 1
end

-- Ranks 1 .. N-1 of an MPI sweep: ask rank 0 for an instance (the first request
-- is an empty message, the next ones carry the last record), run it, until rank 0
-- says "stop"; then exit, as a --jobs worker does.
local function mpi_worker_main(spec, s)
  local tasks = all_tasks(spec, s)
  print = function(...)   -- the run function's output goes to stderr, as a --jobs worker's
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    io.stderr:write(table.concat(parts, "\t"), "\n")
  end
  local message = ""
  while true do
    lap.mpi.send(message, 0)
    local reply = lap.mpi.recv(0)
    if reply == "stop" then break end
    local task = assert(tasks[tonumber(reply)], "experiment.run: rank 0 sent an unknown instance " .. reply)
    local record = run_task(spec, task)
    -- The progress line, then the record (JSON has no raw newline).
    message = describe(spec, record) .. "\n" .. json.encode(record)
  end
  io.stderr:flush()
  os.exit(0)
end

-- Rank 0 of an MPI sweep: hands the pending instances, in order, to the ranks as
-- they ask, appends the records they send back, and tells every rank to stop.
local function run_dispatcher(s, pending, progress, deadline, size)
  local next_task, stopped = 1, 0
  while stopped < size - 1 do
    local message, from = lap.mpi.recv()
    if message ~= "" then
      local line, record = message:match("^(.*)\n([^\n]*)$")
      lap.append_line(s.results, record)
      progress.update(line)
    end
    if next_task <= #pending and not out_of_time(deadline) then
      lap.mpi.send(tostring(pending[next_task].index), from)
      next_task = next_task + 1
    else
      lap.mpi.send("stop", from)
      stopped = stopped + 1
    end
  end
end

-- Progress on stderr: one updating line on a terminal, plain lines otherwise.
local function progress_printer(total, already, quiet)
  local terminal = is_terminal(2)
  local started = lap and lap.clock and lap.clock() or os.clock()
  local done_now = 0
  local p = {}
  function p.update(last)
    done_now = done_now + 1
    if quiet then return end
    local elapsed = (lap and lap.clock and lap.clock() or os.clock()) - started
    local remaining = total - already - done_now
    local eta = elapsed / done_now * remaining
    local line = string.format("%d/%d, %s elapsed, ETA %s, last: %s", already + done_now, total,
      format_seconds(elapsed), format_seconds(eta), last)
    if terminal then
      io.stderr:write("\r\27[K", line)
      if remaining == 0 then io.stderr:write("\n") end
    else
      io.stderr:write(line, "\n")
    end
    io.stderr:flush()
  end
  return p
end


-- Runs the pending tasks; appends records to the results file.
local function run_parent(spec, s, pending, progress, deadline)
  if spec.inprocess then
    for _, task in ipairs(pending) do
      if out_of_time(deadline) then break end
      local record = run_task(spec, task)
      lap.append_line(s.results, json.encode(record))
      progress.update(describe(spec, record))
    end
    return
  end
  local list = {}
  for i, task in ipairs(pending) do list[i] = task.index end
  local f = assert(io.open(s.pending_file, "w"))
  f:write(json.encode(json.array(list)), "\n")
  f:close()
  local interpreter = os.getenv("LAPRUN") or (function()
    local i = -1
    while arg and arg[i - 1] do i = i - 1 end
    return arg and arg[i] or "laprun"
  end)()
  local script = spec.script or (arg and arg[0])
  assert(script, "experiment.run: cannot tell the sweep script (set spec.script)")
  local argv = worker_arguments(spec.argv or arg)
  local quoted = {}
  for i, word in ipairs(argv) do quoted[i] = shell_quote(word) end
  local jobs = math.min(s.jobs, math.max(#pending, 1))
  -- The claim files of this run's instances, cleared of all a killed run left (also
  -- those of instances it finished, which would keep the directory from going).
  local claims = s.out .. "/" .. s.name .. ".claims"
  os.execute("rm -rf " .. shell_quote(claims))
  require("lap.report").mkdir(claims)
  local workers = {}
  for k = 1, jobs do
    local command = string.format("OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 LAP_SWEEP_CLAIMS=%s %sexec %s %s %s --worker %d --jobs %d",
      shell_quote(claims), deadline and string.format("LAP_SWEEP_DEADLINE=%d ", deadline) or "",
      shell_quote(interpreter), shell_quote(script), table.concat(quoted, " "), k, jobs)
    workers[k] = { handle = assert(io.popen(command, "r")), k = k }
  end
  local active, failures = #workers, {}
  while active > 0 do
    for _, w in ipairs(workers) do
      if w.handle then
        local line = w.handle:read("l")
        if line == nil then
          local ok, how, code = w.handle:close()
          w.handle = nil
          active = active - 1
          if not ok then failures[#failures + 1] = string.format("worker %d failed (%s %s)", w.k, how, code) end
        elseif line:sub(1, #PREFIX) == PREFIX then
          progress.update(line:sub(#PREFIX + 1))
        else
          io.stderr:write(line, "\n")   -- something the run function printed
        end
      end
    end
  end
  os.remove(s.pending_file)
  for _, task in ipairs(pending) do os.remove(claims .. "/" .. task.index) end
  os.remove(claims)
  if #failures > 0 then error("experiment.run: " .. table.concat(failures, "; "), 0) end
end

-- Groups, rows, columns and cells from records (only those of spec.configs and
-- the sweep's seeds; the first record of a (config, seed) pair counts).
function M.summarize(spec, records, s)
  s = s or settings(spec)
  local row_of, column_of = labeler(spec.rows, "method"), labeler(spec.columns, false)
  local group_of = spec.group and labeler(spec.group) or function() return "" end
  local metric, scale = spec.metric or "best_accuracy", spec.scale or 100
  local by_key = {}
  for _, record in ipairs(records) do
    if record.config and record.seed then
      local key = M.key(record.config, record.seed)
      if by_key[key] == nil then by_key[key] = record end
    end
  end
  local groups, group_index = {}, {}
  for _, task in ipairs(all_tasks(spec, s)) do
    local config = task.config
    local gname, rname, cname = group_of(config), row_of(config), column_of(config)
    local g = group_index[gname]
    if not g then
      g = { name = gname, rows = {}, columns = {}, cells = {}, row_index = {}, column_index = {}, configs = {} }
      group_index[gname] = g
      groups[#groups + 1] = g
    end
    if not g.row_index[rname] then g.rows[#g.rows + 1] = rname; g.row_index[rname] = #g.rows end
    if not g.column_index[cname] then g.columns[#g.columns + 1] = cname; g.column_index[cname] = #g.columns end
    g.cells[rname] = g.cells[rname] or {}
    local cell = g.cells[rname][cname]
    if not cell then
      cell = { values = {}, config = config }
      g.cells[rname][cname] = cell
      g.configs[#g.configs + 1] = config
    end
    local record = by_key[task.key]
    if record and type(record[metric]) == "number" then cell.values[#cell.values + 1] = record[metric] * scale end
  end
  for _, g in ipairs(groups) do
    for _, rname in ipairs(g.rows) do
      for _, cname in ipairs(g.columns) do
        local cell = g.cells[rname][cname]
        if cell then
          local stats = M.interval(cell.values)
          for k, v in pairs(stats) do cell[k] = v end
        end
      end
    end
  end
  return { groups = groups, metric = metric, scale = scale }
end

-- "mean, [low, high]" with `digits` decimals (1 by default); "-" for no values.
function M.format_cell(cell, digits)
  if not cell or cell.n == 0 then return "-" end
  local f = "%." .. (digits or 1) .. "f"
  return string.format(f .. ", [" .. f .. ", " .. f .. "]", cell.mean, cell.low, cell.high)
end

-- Prints the summary's tables (one per group): a row per row label, a column per column label.
function M.print_tables(summary, out)
  local report = require "lap.report"
  out = out or io.stdout
  for _, g in ipairs(summary.groups) do
    if g.name ~= "" then out:write("\n", g.name, "\n") else out:write("\n") end
    local headers = { "" }
    for _, cname in ipairs(g.columns) do headers[#headers + 1] = cname ~= "" and cname or summary.metric end
    -- Cells with different numbers of instances (a sweep stopped part-way) say how many.
    local counts, uneven = nil, false
    for _, rname in ipairs(g.rows) do
      for _, cname in ipairs(g.columns) do
        local cell = g.cells[rname][cname]
        local n = cell and cell.n or 0
        if counts and counts ~= n then uneven = true end
        counts = counts or n
      end
    end
    local rows = {}
    for _, rname in ipairs(g.rows) do
      local row = { rname }
      for _, cname in ipairs(g.columns) do
        local cell = g.cells[rname][cname]
        row[#row + 1] = M.format_cell(cell) .. (uneven and string.format(" (n=%d)", cell and cell.n or 0) or "")
      end
      rows[#rows + 1] = row
    end
    report.table(headers, rows, out)
  end
end

function M.write_csv(summary, path)
  local report = require "lap.report"
  local rows = {}
  for _, g in ipairs(summary.groups) do
    for _, rname in ipairs(g.rows) do
      for _, cname in ipairs(g.columns) do
        local c = g.cells[rname][cname]
        if c then rows[#rows + 1] = { g.name, rname, cname, c.n, c.mean, c.low, c.high, c.sd } end
      end
    end
  end
  report.csv(path, { "group", "row", "column", "n", "mean", "low", "high", "sd" }, rows)
end

-- Runs the sweep (see the top of this file); returns the summary
-- {groups = {{name, rows, columns, cells[row][column] = {n, mean, low, high, sd, values}}},
--  records = the results file's records, done, total, seconds, results, csv,
--  workers = "--jobs J" or "N MPI ranks"}.
-- A worker (worker > 0) runs its share and exits.
function M.run(spec)
  local s = settings(spec)
  if s.worker > 0 then worker_main(spec, s) end
  local ranks = mpi_size()
  if ranks > 1 and lap.mpi.rank() > 0 then mpi_worker_main(spec, s) end
  require("lap.report").mkdir(s.out)
  local tasks = all_tasks(spec, s)
  local done = {}
  if s.resume then
    local f = io.open(s.results, "rb")
    if f then   -- a record cut short by a crash: end its line so the next one starts clean
      local size = f:seek("end")
      if size > 0 then f:seek("set", size - 1) end
      local last = size > 0 and f:read(1) or "\n"
      f:close()
      if last ~= "\n" then lap.append_line(s.results, "") end
    end
    for _, record in ipairs(M.read_records(s.results)) do
      if record.config and record.seed then done[M.key(record.config, record.seed)] = true end
    end
  else
    os.rename(s.results, s.results .. ".previous")   -- a fresh sweep keeps the last file aside
  end
  local pending = {}
  for _, task in ipairs(tasks) do
    if not done[task.key] then pending[#pending + 1] = task end
  end
  local started = lap and lap.clock and lap.clock() or os.clock()
  if not spec.quiet then
    local workers = ranks > 1 and string.format("%d MPI ranks (rank 0 hands out instances)", ranks)
      or string.format("%d jobs", spec.inprocess and 1 or s.jobs)
    io.stderr:write(string.format("%s: %d instances (%d configs x %d seeds), %d to run, %s, results in %s\n",
      s.name, #tasks, #spec.configs, s.instances, #pending, workers, s.results))
  end
  local deadline = deadline_of(s)
  local progress = progress_printer(#tasks, #tasks - #pending, spec.quiet)
  if ranks > 1 then
    run_dispatcher(s, pending, progress, deadline, ranks)   -- also with nothing pending: the ranks wait
  elseif #pending > 0 then
    run_parent(spec, s, pending, progress, deadline)
  end
  local records = M.read_records(s.results)
  local summary = M.summarize(spec, records, s)
  summary.done = 0
  for _, g in ipairs(summary.groups) do
    for _, row in pairs(g.cells) do
      for _, cell in pairs(row) do summary.done = summary.done + cell.n end
    end
  end
  summary.total = #tasks
  summary.records = records
  summary.workers = ranks > 1 and string.format("%d MPI ranks", ranks)
    or string.format("--jobs %d", spec.inprocess and 1 or s.jobs)
  if deadline and summary.done < #tasks and not spec.quiet then
    io.stderr:write(string.format("%s: the budget of %g minutes is spent: %d of %d instances done "
      .. "(the same command with --resume continues)\n", s.name, s.budget, summary.done, #tasks))
  end
  summary.seconds = (lap and lap.clock and lap.clock() or os.clock()) - started
  summary.results, summary.csv = s.results, s.csv
  M.write_csv(summary, s.csv)
  if spec.print ~= false then M.print_tables(summary) end
  return summary
end

return M
