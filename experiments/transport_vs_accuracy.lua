-- experiments/transport_vs_accuracy.lua: the paper's Figure 2 (section 4), as a sweep.
--
-- Trains ResNet9 (the MNIST OneRepResNet, cross-entropy only, SGD with momentum 0.9
-- and weight decay 1e-4 as main.py) on MNIST (data/mnist; Fashion-MNIST with --data
-- fashion) from orthogonal and normal initializations of several gains (main.py's
-- -inn/-ing: the modules whose name has one dot), and draws one point per network:
-- test transport cost (sum_k mean(v_k^2) on the test images, at the epoch of the best
-- test accuracy) against test accuracy, with the least-squares line and Pearson's r.
-- Each network is an instance of lap.experiment (config = initialization and gain,
-- seed = instance), so --jobs runs them in parallel, --budget stops and --resume goes
-- on; the figure is drawn from every record of the results file that matches the
-- command's settings.  The paper trains to convergence on the whole training set:
-- the defaults (2000 images, 5 epochs, 12 networks) are a quick look, and
-- --train-size 60000 --epochs 2 --test-size 10000 is the trained regime (README).
local experiment = require "lap.experiment"

local args = require("lap.args").parse(arg, experiment.options({
  name = "transport_vs_accuracy.lua",
  usage = "laprun experiments/transport_vs_accuracy.lua [options]",
  description = "Figure 2: test transport cost against test accuracy of ResNet9s from several initializations.",
  { "data", "", "MNIST's IDX files: a directory, \"\" for data/mnist when present (`make data`) else Fashion-MNIST, or \"fashion\"" },
  { "train-size", 2000, "training images (a random subset drawn with seed 1; 60000 for all)" },
  { "test-size", 2000, "test images used (the first ones)" },
  { "epochs", 5, "epochs per network" },
  { "lr", 0.01, "SGD learning rate (momentum 0.9, weight decay 1e-4)" },
  { "orthogonal", "0.01,0.1,1", "gains of the orthogonal initializations, comma-separated (\"\" for none)" },
  { "normal", "0.01,0.03,0.1", "standard deviations of the normal initializations, comma-separated (\"\" for none)" },
}, { instances = 2, jobs = 2, out = "out/transport_vs_accuracy" }))

local models = require "lap.models"
local report = require "lap.report"

print("data: " .. models.mnist_source(args.data))
local data = models.mnist_dir(args.data) or "fashion"

local function gains(list, option)
  local values = {}
  for item in list:gmatch("[^,%s]+") do
    local value = tonumber(item)
    if not value or value <= 0 then
      error(string.format("option --%s: '%s' is not a positive number", option, item), 0)
    end
    values[#values + 1] = value
  end
  return values
end

local inits = {
  { name = "orthogonal", gains = gains(args.orthogonal, "orthogonal") },
  { name = "normal", gains = gains(args.normal, "normal") },
}
local configs = {}
for _, init in ipairs(inits) do
  for _, gain in ipairs(init.gains) do
    configs[#configs + 1] = { init = init.name, gain = gain, train_size = args["train-size"],
      test_size = args["test-size"], epochs = args.epochs, lr = args.lr, data = data }
  end
end
if #configs == 0 then error("no initialization to train: --orthogonal and --normal are both empty", 0) end
if #configs > 16 then error(string.format("%d initializations: the figure has colors for 16", #configs), 0) end

-- The data of a worker, read once: every instance trains on the same subset.
local cached
local function datasets()
  if not cached then
    local train_full = models.mnist_data(data, "train")
    local train = args["train-size"] < #train_full
      and train_full:subset_random { size = args["train-size"], seed = 1 } or train_full
    local test = models.mnist_data(data, "test", args["test-size"])
    test:normalize(train:normalize())
    cached = { train = train, test = test }
  end
  return cached.train, cached.test
end

local function train_one(config, seed)
  local train, test = datasets()
  lap.manual_seed(seed)
  local net = models.one_rep_resnet { dataset = "mnist" }
  if config.init == "orthogonal" then lap.init.orthogonal(net, { gain = config.gain })
  else lap.init.normal(net, { std = config.gain }) end
  local trainer = lap.train.Plain { net = net, seed = seed,
    optimizer = lap.optim.SGD { lr = config.lr, momentum = 0.9, weight_decay = 1e-4 } }
  local result = lap.fit { trainer = trainer, train = train, test = test, epochs = config.epochs, batch = 128,
    diverged = "stop" }
  -- The transport of the epoch of the best accuracy (ties go to the later epoch, unlike result.best_epoch).
  local best, transport, epochs_metrics = 0, 0, {}
  for epoch, r in ipairs(result.history) do
    epochs_metrics[epoch] = { test_accuracy = r.test_accuracy, test_transport = r.test_transport,
      train_accuracy = r.train_accuracy, ce = r.ce, seconds = r.seconds }
    if r.test_accuracy >= best then best, transport = r.test_accuracy, r.test_transport end
  end
  return { best_accuracy = best, test_transport = transport, epochs_metrics = epochs_metrics,
    diverged_epoch = result.diverged and result.diverged.epoch or nil }
end

local summary = experiment.run {
  name = "transport_vs_accuracy",
  options = args,
  configs = configs,
  run = train_one,
  rows = "init",
  columns = function(config) return "gain " .. config.gain end,
}

-- The points: this command's configs and seeds, from the results file (earlier runs included).
-- One color per initialization and gain, as in the paper's figure.
local wanted, group_names = {}, {}
for ci, config in ipairs(configs) do
  for i = 0, args.instances - 1 do wanted[experiment.key(config, i)] = ci end
  group_names[ci] = string.format("%s %g", config.init, config.gain)
end
local accuracies, transports, groups, rows, diverged = {}, {}, {}, {}, 0
local by_init = {}
for _, init in ipairs(inits) do by_init[init.name] = { x = {}, y = {} } end
for _, record in ipairs(summary.records) do
  local config = record.config
  local group = config and wanted[experiment.key(config, record.seed)]
  if group and record.diverged_epoch then
    diverged = diverged + 1
  elseif group then
    local accuracy = 100 * record.best_accuracy
    accuracies[#accuracies + 1], transports[#transports + 1] = accuracy, record.test_transport
    groups[#groups + 1] = group
    rows[#rows + 1] = { config.init, config.gain, record.seed, record.test_transport, record.best_accuracy }
    local family = by_init[config.init]
    family.x[#family.x + 1], family.y[#family.y + 1] = accuracy, record.test_transport
  end
end
if diverged > 0 then print(string.format("%d networks diverged and are not drawn", diverged)) end
report.mkdir(args.out)
report.csv(args.out .. "/points.csv", { "init", "gain", "seed", "test_transport", "test_accuracy" }, rows)
if #rows < 3 then
  print(string.format("%d networks trained so far: the figure needs 3 (the same command with --resume goes on)", #rows))
  return
end
local slope, intercept, r = lap.least_squares(accuracies, transports)
local file = lap.plot.scatter { file = args.out .. "/figure2.png", x = accuracies, y = transports, groups = groups,
  group_names = group_names, xlabel = "test accuracy (%)", ylabel = "test transport cost",
  title = string.format("ResNet9, %d training images, %d epochs", args["train-size"], args.epochs) }
-- Two-sided p-value of r = 0 (t = r sqrt(n - 2) / sqrt(1 - r^2), n - 2 degrees of freedom).
local function p_value(r, n)
  if n < 3 or math.abs(r) >= 1 then return 0 end
  local t = math.abs(r) * math.sqrt(n - 2) / math.sqrt(1 - r * r)
  return 2 * (1 - experiment.t_cdf(t, n - 2))
end
print(string.format("%d networks; least squares: transport = %.4g * accuracy + %.4g, Pearson r = %.3f (p = %.2g)",
  #rows, slope, intercept, r, p_value(r, #rows)))
for _, init in ipairs(inits) do
  local name, family = init.name, by_init[init.name]
  if #family.x >= 3 then
    local _, _, family_r = lap.least_squares(family.x, family.y)
    print(string.format("  %s initializations only (%d networks): Pearson r = %.3f (p = %.2g)", name, #family.x,
      family_r, p_value(family_r, #family.x)))
  end
end
print(string.format("wrote %s and %s/points.csv", file, args.out))
