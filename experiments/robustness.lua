-- experiments/robustness.lua: adversarial robustness and attack detection, ResNet vs LAP-ResNet.
-- Is a LAP-trained network more robust than a plain one, and do its block
-- displacements give an attack away?  (Beyond the paper; the
-- detection follows Karkar, Gallinari, Rakotomamonjy, "Adversarial Sample Detection
-- Through Neural Network Transport Dynamics", ECML PKDD 2023.)
--
-- Two sweeps (lap.experiment: instances = seeds, 95 % Student-t intervals):
--   circles  the paper's 2-D protocol (lap.circles: 9 blocks Linear-ReLU-Linear,
--            fixed classifier, Adam, batch 10, early stop), ResNet vs LAP (cloud4 rule)
--   mnist    Table 1's protocol (lap.mnist: OneRepResNet, a random training subset of
--            --mnist-size images, SGD, main.py's LAP rule), when data/mnist exists
-- For each trained network, on its test points (the first --attack-size):
--   robust accuracy  under FGSM and PGD (--*-steps, alpha = 2.5 eps / steps, random
--            start) in the L-infinity ball of each epsilon, clipped to the data's range
--            (MNIST: eps in pixel units, [0, 1] pixels, through the normalization)
--   detection  the per-block displacement norms log ||v_k(x)|| of clean test points
--            and of their successful PGD examples at --detect-eps; a logistic
--            regression trained on half of the pairs, ROC and AUC on the other half
--   diagnostics  per block: mean cos(v_k, -dL/dx_k), W1(x_k, x_{k+1}) (exact, on the
--            clean points), and the line-shape score of every point (mean and quantiles)
-- Prints the tables and writes into --out: robustness.png (accuracy against eps),
-- detection_roc.png (ROC curves of the first instance, AUCs in the legend),
-- diagnostics.png, the JSONL records and robustness_summary.csv.
local experiment = require "lap.experiment"
local report = require "lap.report"

local args = require("lap.args").parse(arg, experiment.options({
  name = "robustness.lua",
  usage = "laprun experiments/robustness.lua [options]",
  description = "Clean and robust accuracy, attack detection from displacements, per-block diagnostics: "
    .. "ResNet vs LAP-ResNet on circles and MNIST.",
  { "circles-instances", 20, "instances (seeds) per method on circles" },
  { "circles-eps", "0,0.05,0.1,0.15,0.2,0.3", "epsilons on circles (input units)" },
  { "circles-detect-eps", 0.3, "PGD epsilon of the attacks the detector sees on circles" },
  { "mnist-instances", 3, "instances (seeds) per method on MNIST (0: skip MNIST)" },
  { "mnist-size", 500, "MNIST training images" },
  { "mnist-epochs", 12, "MNIST epochs" },
  { "mnist-eps", "0,0.05,0.1,0.2", "epsilons on MNIST (pixel units, [0, 1])" },
  { "mnist-detect-eps", 0.1, "PGD epsilon (pixels) of the attacks the detector sees on MNIST" },
  { "data", "data/mnist", "directory of MNIST's IDX files (skipped when absent)" },
  { "attack-size", 200, "test points attacked and probed per instance" },
  { "circles-steps", 10, "PGD steps on circles" },
  { "mnist-steps", 5, "PGD steps on MNIST" },
  { "sweep", "all", "internal: which sweep a worker runs", choices = { "all", "circles", "mnist" } },
}, { jobs = 2, out = "out/robustness" }))

local function numbers(list)
  local out = {}
  for word in list:gmatch("[^,%s]+") do out[#out + 1] = assert(tonumber(word), "not a number: " .. word) end
  return out
end

local function flat(t) return t:reshape(t:numel()):totable() end

-- The first n rows of a dataset: x and 0-based labels (a table).
local function first_rows(set, n)
  n = math.min(n, #set)
  local rows = {}
  for i = 1, n do rows[i] = i end
  local part = set:subset(rows)
  return part.x, part:labels()
end

local function accuracy(net, x, labels)
  local predicted = flat(net:predict(x))
  local right = 0
  for i, p in ipairs(predicted) do
    if p == labels[i] then right = right + 1 end
  end
  return right / #labels, predicted
end

-- Quantiles 0, 5, ..., 100 % of the finite values.
local function quantiles(values)
  local v = {}
  for _, x in ipairs(values) do if x == x and x < math.huge then v[#v + 1] = x end end
  table.sort(v)
  local q = {}
  if #v == 0 then return q end
  for i = 0, 20 do q[#q + 1] = v[math.max(1, math.ceil(i / 20 * #v))] end
  return q
end

-- Everything measured on one trained network.  scale: input units per epsilon unit
-- (1 / std for normalized MNIST), clip: the valid input range.
local function probe(net, x, labels, o, seed)
  local result = { robust_pgd = {}, robust_fgsm = {} }
  local clean, predicted = accuracy(net, x, labels)
  result.clean = clean
  local detect_adv
  for i, eps in ipairs(o.eps) do
    local epsilon = eps * o.scale
    if eps == 0 then
      result.robust_pgd[i], result.robust_fgsm[i] = clean, clean
    else
      local pgd = lap.attack.pgd { net = net, x = x, labels = labels, epsilon = epsilon, steps = o.steps,
        alpha = 2.5 * epsilon / o.steps, clip = o.clip, seed = seed + 1000 * i }
      local fgsm = lap.attack.fgsm { net = net, x = x, labels = labels, epsilon = epsilon, clip = o.clip }
      result.robust_pgd[i] = accuracy(net, pgd, labels)
      result.robust_fgsm[i] = accuracy(net, fgsm, labels)
      if eps == o.detect_eps then detect_adv = pgd end
    end
  end
  if not detect_adv then
    local epsilon = o.detect_eps * o.scale
    detect_adv = lap.attack.pgd { net = net, x = x, labels = labels, epsilon = epsilon, steps = o.steps,
      alpha = 2.5 * epsilon / o.steps, clip = o.clip, seed = seed + 999 }
  end

  -- Detection: pairs (clean point classified right, its PGD example classified wrong).
  local _, adv_predicted = accuracy(net, detect_adv, labels)
  local clean_norms, adv_norms = net:displacement_norms(x):totable(), net:displacement_norms(detect_adv):totable()
  local K = #clean_norms[1]
  local halves = { { x = {}, y = {} }, { x = {}, y = {} } }
  local pairs_ = 0
  local mean_clean, mean_adv = {}, {}
  for k = 1, K do mean_clean[k], mean_adv[k] = 0, 0 end
  for i = 1, #labels do
    if predicted[i] == labels[i] and adv_predicted[i] ~= labels[i] then
      pairs_ = pairs_ + 1
      local half = halves[pairs_ % 2 + 1]
      local a, b = {}, {}
      for k = 1, K do
        a[k], b[k] = math.log(clean_norms[i][k] + 1e-6), math.log(adv_norms[i][k] + 1e-6)
        mean_clean[k], mean_adv[k] = mean_clean[k] + clean_norms[i][k], mean_adv[k] + adv_norms[i][k]
      end
      half.x[#half.x + 1], half.y[#half.y + 1] = a, 0
      half.x[#half.x + 1], half.y[#half.y + 1] = b, 1
    end
  end
  result.detect_pairs = pairs_
  if pairs_ >= 10 then
    for k = 1, K do mean_clean[k], mean_adv[k] = mean_clean[k] / pairs_, mean_adv[k] / pairs_ end
    result.norms_clean, result.norms_adv = mean_clean, mean_adv
    local w = lap.logistic_fit(lap.tensor(halves[2].x), halves[2].y, { l2 = 1e-2 })
    local scores = lap.logistic_predict(w, lap.tensor(halves[1].x))
    local fpr, tpr, auc = lap.roc(scores, halves[1].y)
    result.auc, result.roc_fpr, result.roc_tpr = auc, fpr, tpr
  end

  -- Diagnostics on the clean points.
  local _, alignment = net:block_alignment(x, labels)
  result.alignment = alignment
  local states = net:states(x)
  local N = states[1]:size(1)
  result.w1 = {}
  for k = 1, #states - 1 do
    result.w1[k] = lap.wasserstein1(states[k]:reshape(N, -1), states[k + 1]:reshape(N, -1))
  end
  local shapes = flat(net:line_shapes(x))
  result.line_shape = net:line_shape(x)
  result.line_shape_quantiles = quantiles(shapes)
  return result
end

local circles = require "lap.circles"
local mnist = require "lap.mnist"

local function run_circles(config, seed)
  local record, net, test = circles.train(config, seed)
  local x, labels = first_rows(test, args["attack-size"])
  local o = { eps = numbers(args["circles-eps"]), scale = 1, detect_eps = args["circles-detect-eps"],
    steps = args["circles-steps"] }
  local result = probe(net, x, labels, o, seed)
  result.best_accuracy, result.epochs = record.best_accuracy, record.epochs
  return result
end

local function run_mnist(config, seed)
  local record, net, test, statistics = mnist.train(config, seed)
  local x, labels = first_rows(test, args["attack-size"])
  local mean, std = statistics.mean[1], statistics.std[1]
  local o = { eps = numbers(args["mnist-eps"]), scale = 1 / std, detect_eps = args["mnist-detect-eps"],
    steps = args["mnist-steps"],
    clip = { (0 - mean) / std, (1 - mean) / std } }
  local result = probe(net, x, labels, o, seed)
  result.best_accuracy = record.best_accuracy
  return result
end

-- The worker command line: this script's arguments with the sweep named.
local function argv_for(sweep)
  local argv = {}
  for i = 1, #arg do argv[i] = arg[i] end
  argv[#argv + 1] = "--sweep"
  argv[#argv + 1] = sweep
  return argv
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
local have_mnist = args["mnist-instances"] > 0 and (exists(args.data .. "/t10k-images-idx3-ubyte")
  or exists(args.data .. "/t10k-images-idx3-ubyte.gz"))

local started = lap.clock()
local sweeps = {}
if args.sweep == "all" or args.sweep == "circles" then
  local summary = experiment.run {
    name = "robustness_circles", options = args, instances = args["circles-instances"], argv = argv_for("circles"),
    configs = { { method = "ResNet" }, { method = "LAP" } },
    run = run_circles, rows = "method", columns = function() return "clean" end, metric = "clean",
  }
  sweeps[#sweeps + 1] = { name = "circles", summary = summary, eps = numbers(args["circles-eps"]),
    detect_eps = args["circles-detect-eps"], unit = "" }
end
if (args.sweep == "all" or args.sweep == "mnist") and have_mnist then
  local summary = experiment.run {
    name = "robustness_mnist", options = args, instances = args["mnist-instances"], argv = argv_for("mnist"),
    configs = { { method = "ResNet", train_size = args["mnist-size"], epochs = args["mnist-epochs"],
      test_size = args["attack-size"], data = args.data },
      { method = "LAP", train_size = args["mnist-size"], epochs = args["mnist-epochs"],
        test_size = args["attack-size"], data = args.data } },
    run = run_mnist, rows = "method", columns = function() return "clean" end, metric = "clean",
  }
  sweeps[#sweeps + 1] = { name = "MNIST", summary = summary, eps = numbers(args["mnist-eps"]),
    detect_eps = args["mnist-detect-eps"], unit = " px" }
elseif args.sweep == "all" and args["mnist-instances"] > 0 then
  print(string.format("\nMNIST skipped: no %s/t10k-images-idx3-ubyte (run `make data` or pass --data)", args.data))
end

-- ------------------------------------------------------------------ the report

local methods = { "ResNet", "LAP" }
local labels_of = { ResNet = "ResNet", LAP = "LAP-ResNet" }

-- The sweep's records of one method (only this run's seeds).
local function records_of(sweep, method)
  local out = {}
  local first = 0
  local count = sweep.name == "circles" and args["circles-instances"] or args["mnist-instances"]
  for _, r in ipairs(sweep.summary.records) do
    if r.config.method == method and r.seed >= first and r.seed < first + count then out[#out + 1] = r end
  end
  table.sort(out, function(a, b) return a.seed < b.seed end)
  return out
end

-- An interval cell over the records of field[index] (or field itself), times scale.
local function cell(records, get, scale, digits)
  local values = {}
  for _, r in ipairs(records) do
    local v = get(r)
    if type(v) == "number" and v == v then values[#values + 1] = v * (scale or 1) end
  end
  if #values == 0 then return "-", nil end
  if #values == 1 then return string.format("%." .. (digits or 1) .. "f (n=1)", values[1]), { mean = values[1], n = 1 } end
  local stats = experiment.interval(values)
  return experiment.format_cell(stats, digits), stats
end

local csv_rows = {}
local curves_panels, roc_panels, diag_panels = {}, {}, {}
for _, sweep in ipairs(sweeps) do
  for _, attack in ipairs { "pgd", "fgsm" } do
    local headers = { sweep.name .. " " .. attack:upper() .. " accuracy %" }
    for _, eps in ipairs(sweep.eps) do headers[#headers + 1] = string.format("eps %g%s", eps, sweep.unit) end
    local rows = {}
    local series = {}
    for m, method in ipairs(methods) do
      local records = records_of(sweep, method)
      local row, means = { labels_of[method] .. string.format(" (n=%d)", #records) }, {}
      for i, eps in ipairs(sweep.eps) do
        local text, stats = cell(records, function(r) return r["robust_" .. attack][i] end, 100)
        row[#row + 1] = text
        means[i] = stats and stats.mean or 0 / 0
        if stats then
          csv_rows[#csv_rows + 1] = { sweep.name, attack, method, eps, stats.n, stats.mean, stats.low or stats.mean,
            stats.high or stats.mean }
        end
      end
      rows[#rows + 1] = row
      series[#series + 1] = { name = labels_of[method] .. " " .. attack:upper(), x = sweep.eps, y = means,
        color = m }
    end
    print()
    report.table(headers, rows)
    for _, s in ipairs(series) do
      if attack == "fgsm" then s.color = s.color + 2 end
    end
    sweep.series = sweep.series or {}
    for _, s in ipairs(series) do sweep.series[#sweep.series + 1] = s end
  end
  curves_panels[#curves_panels + 1] = { title = sweep.name .. ": accuracy under attack", ylabel = "accuracy %",
    series = sweep.series }

  -- Paired by seed: both methods of a seed share the data, the split or subset and
  -- the initial weights, so their difference has less noise than each cell.
  do
    local by_seed = {}
    for _, method in ipairs(methods) do
      for _, r in ipairs(records_of(sweep, method)) do
        by_seed[r.seed] = by_seed[r.seed] or {}
        by_seed[r.seed][method] = r
      end
    end
    local function paired(get)
      local pairs_ = {}
      for _, both in pairs(by_seed) do
        local a, b = both.ResNet and get(both.ResNet), both.LAP and get(both.LAP)
        if type(a) == "number" and type(b) == "number" then pairs_[#pairs_ + 1] = { lap = b, resnet = a } end
      end
      return (cell(pairs_, function(p) return p.lap - p.resnet end, 100))
    end
    local headers = { sweep.name .. " LAP - ResNet, paired by seed, points (PGD)", "clean" }
    local row = { "difference", (paired(function(r) return r.clean end)) }
    for i, eps in ipairs(sweep.eps) do
      if eps > 0 then
        headers[#headers + 1] = string.format("eps %g%s", eps, sweep.unit)
        row[#row + 1] = paired(function(r) return r.robust_pgd[i] end)   -- PGD
      end
    end
    headers[#headers + 1] = "detector AUC x 100"
    row[#row + 1] = paired(function(r) return r.auc end)
    print()
    report.table(headers, { row })
  end

  -- detection and diagnostics
  local headers = { sweep.name .. string.format(" (PGD eps %g%s)", sweep.detect_eps, sweep.unit), "detector AUC",
    "pairs", "line shape", "mean cos(v_k, -grad)", "sum W1" }
  local rows, roc_series, align_series, w1_series, shape_series = {}, {}, {}, {}, {}
  for m, method in ipairs(methods) do
    local records = records_of(sweep, method)
    local auc = cell(records, function(r) return r.auc end, 1, 3)
    local pairs_ = cell(records, function(r) return r.detect_pairs end, 1, 0)
    local shape = cell(records, function(r) return r.line_shape end, 1, 3)
    local align = cell(records, function(r)
      local s, n = 0, 0
      for _, c in ipairs(r.alignment or {}) do if type(c) == "number" then s, n = s + c, n + 1 end end
      return n > 0 and s / n or nil
    end, 1, 3)
    local w1 = cell(records, function(r)
      local s = 0
      for _, d in ipairs(r.w1 or {}) do s = s + d end
      return s
    end, 1, 3)
    rows[#rows + 1] = { labels_of[method], auc, pairs_, shape, align, w1 }
    local first = records[1]
    if first and first.roc_fpr then
      roc_series[#roc_series + 1] = { name = string.format("%s (AUC %.3f)", labels_of[method], first.auc),
        x = first.roc_fpr, y = first.roc_tpr, color = m }
    end
    -- per-block means over instances
    local function per_block(field)
      local sums, counts = {}, {}
      for _, r in ipairs(records) do
        for k, v in ipairs(r[field] or {}) do
          if type(v) == "number" then sums[k], counts[k] = (sums[k] or 0) + v, (counts[k] or 0) + 1 end
        end
      end
      local out = {}
      for k = 1, #sums do out[k] = counts[k] and sums[k] / counts[k] or 0 / 0 end
      return out
    end
    align_series[#align_series + 1] = { name = labels_of[method], y = per_block("alignment"), color = m }
    w1_series[#w1_series + 1] = { name = labels_of[method], y = per_block("w1"), color = m }
    local q = per_block("line_shape_quantiles")
    local x = {}
    for i = 1, #q do x[i] = (i - 1) * 5 end
    shape_series[#shape_series + 1] = { name = labels_of[method], x = x, y = q, color = m }
    local norms_clean, norms_adv = per_block("norms_clean"), per_block("norms_adv")
    if #norms_clean > 0 then
      local parts = {}
      for k = 1, #norms_clean do parts[k] = string.format("%.3g/%.3g", norms_clean[k], norms_adv[k]) end
      sweep.norm_lines = sweep.norm_lines or {}
      sweep.norm_lines[#sweep.norm_lines + 1] = labels_of[method] .. ": " .. table.concat(parts, " ")
    end
  end
  print()
  report.table(headers, rows)
  for _, line in ipairs(sweep.norm_lines or {}) do
    print("  mean ||v_k|| per block, clean/attacked (detection pairs), " .. line)
  end
  if #roc_series > 0 then
    roc_series[#roc_series + 1] = { name = "chance", x = { 0, 1 }, y = { 0, 1 }, color = 8 }
    roc_panels[#roc_panels + 1] = { title = sweep.name .. ": detector ROC (first instance)", ylabel = "true positive rate",
      series = roc_series }
  end
  diag_panels[#diag_panels + 1] = { title = sweep.name .. ": cos(v_k, -grad_k L)", ylabel = "mean cosine",
    series = align_series }
  diag_panels[#diag_panels + 1] = { title = sweep.name .. ": W1(x_k, x_k+1)", ylabel = "W1", series = w1_series }
  diag_panels[#diag_panels + 1] = { title = sweep.name .. ": line shape quantiles", ylabel = "path / distance",
    log = true, series = shape_series }
end

if #sweeps > 0 and args.sweep == "all" then
  local out = args.out
  report.csv(out .. "/robustness_summary.csv", { "dataset", "attack", "method", "epsilon", "n", "mean", "low", "high" },
    csv_rows)
  lap.plot.curves { file = out .. "/robustness.png", panels = curves_panels, xlabel = "epsilon (input units; MNIST: pixels)",
    title = "Robust accuracy: ResNet vs LAP-ResNet (means over instances)" }
  if #roc_panels > 0 then
    lap.plot.curves { file = out .. "/detection_roc.png", panels = roc_panels, xlabel = "false positive rate",
      title = "Attack detection from per-block displacement norms" }
  end
  lap.plot.curves { file = out .. "/diagnostics.png", panels = diag_panels,
    xlabel = "block k (line shape: percentile of points)", title = "Per-block diagnostics on clean test points" }
  local cpu = lap.info().cpu
  print(string.format("\nwrote %s/robustness.png, %s/detection_roc.png, %s/diagnostics.png, %s/robustness_summary.csv"
    .. "\n%.0f s on %s (%d jobs)", out, out, out, out, lap.clock() - started, cpu and cpu.model or "?", args.jobs))
end
