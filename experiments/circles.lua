-- experiments/circles.lua: the paper's 2-D experiment (section 4, supplementary C.4).
--
-- Trains ResNets on concentric circles with the authors' 2-D protocol
-- (skander-karkar/internship cloud4.py): make_circles(1000, factor 0.3, noise 0.05),
-- 80/20 split, 9 blocks Linear(2,h) [BatchNorm(h)] ReLU Linear(h,2), a fixed linear
-- classifier W = [[1,1],[0,0]], b = [20,0], Adam lr 0.01 betas (0.9, 0.99), batch 10
-- in the data's order (cloud4's DataLoader does not shuffle), up to 100 epochs,
-- stopping once train and test accuracy have both been 1 for 3 epochs.
-- Three trainers, each from the same initial weights:
--   ResNet       cross-entropy only
--   Regularized  CE + lambda * sum_k ||v_k||_F            (fixed lambda, --lambda)
--   LAP          lambda * CE + sum_k ||v_k||_F, Uzawa update every 5 steps
--                lambda += 0.1 * CE (cloud4's form, lambda0 = 0.1)
-- with and without BatchNorm, and prints a table.  Writes results.csv,
-- history.csv (per-epoch metrics) and the figures into --out: transport.png (the
-- paper's Figure 1: good init, N(0,5), N(0,5) + transport cost, with BatchNorm),
-- trajectories.png (ResNet) and trajectories_lap.png, curves.png, profile.png.
local args = require("lap.args").parse(arg, {
  name = "circles.lua",
  usage = "laprun experiments/circles.lua [options]",
  description = "Train ResNet, fixed-lambda and LAP networks on the circles dataset (the paper's 2-D protocol).",
  { "blocks", 9, "number of residual blocks" },
  { "points", 1000, "number of points in the dataset" },
  { "hidden", 2, "hidden width of a residual block" },
  { "bn", "both", "BatchNorm in the blocks: on, off or both", choices = { "on", "off", "both" } },
  { "init", "kaiming", "initialization: kaiming, normal or orthogonal", choices = { "kaiming", "normal", "orthogonal" } },
  { "std", 5, "std of the normal initialization (weights and biases), the paper's N(0,5)" },
  { "gain", 1, "gain of the orthogonal initialization" },
  { "epochs", 100, "maximum number of epochs" },
  { "seed", 0, "seed of the data, the split and the initial weights" },
  { "lambda", 0.04, "lambda of the fixed-lambda regularized trainer" },
  { "lambda0", 0.1, "initial lambda of the LAP trainer" },
  { "tau", 0.1, "LAP's step on lambda" },
  { "steps", 5, "LAP updates lambda every this many optimizer steps" },
  { "batch", 10, "batch size" },
  { "lr", 0.01, "Adam's learning rate" },
  { "factor", 0.3, "ratio of the inner circle's radius to the outer one's" },
  { "noise", 0.05, "std of the Gaussian noise on the points" },
  { "shuffle", false, "shuffle the training batches each epoch (cloud4 does not)" },
  { "out", "out/circles", "directory for results.csv, history.csv and the figures" },
  { "plots", true, "draw transport.png (Figure 1), trajectories.png, curves.png, profile.png (--no-plots to skip)" },
  { "quiet", false, "print only the final table" },
})

local report = require "lap.report"

-- Globals on purpose: `laprun -i experiments/circles.lua` leaves them for probing.
data = lap.data.circles { n = args.points, factor = args.factor, noise = args.noise, seed = args.seed }
train, test = data:split { test = 0.2, seed = args.seed }

-- init: "kaiming", "normal" (std = args.std, biases too) or "orthogonal"; the
-- network of the authors' protocol, as lap.circles builds it for the sweeps.
local circles = require "lap.circles"
local function build_net(batchnorm, init)
  return circles.build_net(circles.config { bn = batchnorm, init = init, blocks = args.blocks, hidden = args.hidden,
    std = args.std, gain = args.gain }, args.seed)
end

local methods = {
  ResNet = function(net, optimizer)
    return lap.train.Plain { net = net, optimizer = optimizer, seed = args.seed } end,
  Regularized = function(net, optimizer)
    return lap.train.Regularized { net = net, optimizer = optimizer, lambda = args.lambda, seed = args.seed } end,
  LAP = function(net, optimizer)
    return lap.train.LAP { net = net, optimizer = optimizer, lambda0 = args.lambda0, tau = args.tau,
      steps = args.steps, rule = "cloud4", seed = args.seed } end,
}
local method_names = { "ResNet", "Regularized", "LAP" }

-- Trains one network under cloud4.py's protocol; returns the net and a record
-- {epochs, best, final, evaluation, lambda, history = {loss, test_accuracy, lambda per epoch}}.
local function run(method, batchnorm, init)
  local net = build_net(batchnorm, init)
  local trainer = methods[method](net, lap.optim.Adam { lr = args.lr, betas = { 0.9, 0.99 } })
  local record = { started = os.clock() }
  -- cloud4.py's rule: stop after 3 epochs at train and test accuracy 1.
  local fitted = lap.fit { trainer = trainer, train = train, test = test, epochs = args.epochs, batch = args.batch,
    shuffle = args.shuffle, stop = { accuracy = 1, epochs = 3 } }
  record.epochs, record.best, record.final = fitted.epochs, fitted.best, fitted.final or 0
  local h = { loss = {}, ce = {}, train_accuracy = {}, test_accuracy = {}, lambda = {}, transport = {}, energy = {} }
  for epoch, r in ipairs(fitted.history) do
    h.loss[epoch], h.ce[epoch] = r.loss, r.ce
    h.train_accuracy[epoch], h.test_accuracy[epoch] = r.train_accuracy, r.test_accuracy
    h.lambda[epoch], h.transport[epoch], h.energy[epoch] = r.lambda, r.test_transport, r.evaluation.energy
  end
  record.history = h
  record.evaluation = trainer:evaluate(test)
  record.lambda = trainer.lambda
  record.seconds = os.clock() - record.started
  return net, record
end

local settings = {}
if args.bn ~= "on" then settings[#settings + 1] = false end
if args.bn ~= "off" then settings[#settings + 1] = true end

local rows, csv_rows, history = {}, {}, {}
networks, records = {}, {}   -- globals: networks.resnet, networks.lap_bn, ... for probing
local started = os.clock()

for _, batchnorm in ipairs(settings) do
  for _, method in ipairs(method_names) do
    local net, r = run(method, batchnorm, args.init)
    local bn = batchnorm and "on" or "off"
    local key = method:lower() .. (batchnorm and "_bn" or "")
    networks[key], records[key] = net, r
    for epoch = 1, r.epochs do
      local h = r.history
      history[#history + 1] = { method, bn, epoch, h.loss[epoch], h.ce[epoch], h.train_accuracy[epoch],
        h.test_accuracy[epoch], h.transport[epoch], h.energy[epoch], h.lambda[epoch] }
    end
    local lambda = method == "ResNet" and "-" or string.format("%.4g", r.lambda)
    rows[#rows + 1] = { method, bn, r.epochs, string.format("%.1f", 100 * r.best), string.format("%.1f", 100 * r.final),
      string.format("%.3f", r.evaluation.transport), string.format("%.4f", r.evaluation.energy), lambda,
      string.format("%.2f", r.seconds) }
    csv_rows[#csv_rows + 1] = { method, bn, r.epochs, r.best, r.final, r.evaluation.transport, r.evaluation.energy,
      method == "ResNet" and "" or r.lambda }
    if not args.quiet then
      io.write(string.format("%-12s BN %-3s  %3d epochs  best test accuracy %5.1f%%  transport %.3f  (%.2fs)\n",
        method, bn, r.epochs, 100 * r.best, r.evaluation.transport, r.seconds))
    end
  end
end

print(string.format("\ncircles: %d points (factor %g, noise %g), %d blocks of width %d, %s init%s, seed %d",
  args.points, args.factor, args.noise, args.blocks, args.hidden, args.init,
  args.init == "normal" and string.format(" (std %g)", args.std) or "", args.seed))
report.table({ "method", "BN", "epochs", "best acc %", "final acc %", "transport", "energy", "lambda", "time s" }, rows)
print("transport: sum_k ||v_k||_F over the test set; energy: sum_k mean_x ||v_k(x)||^2 (the paper's C / N)")

report.mkdir(args.out)
report.csv(args.out .. "/results.csv",
  { "method", "batchnorm", "epochs", "best_accuracy", "final_accuracy", "test_transport", "test_energy", "lambda" },
  csv_rows)
report.csv(args.out .. "/history.csv",
  { "method", "batchnorm", "epoch", "train_loss", "train_ce", "train_accuracy", "test_accuracy", "test_transport",
    "test_energy", "lambda" }, history)
local files = { args.out .. "/results.csv", args.out .. "/history.csv" }

if args.plots then
  -- Figure 1 of the paper: good init; N(0, std); N(0, std) with the transport cost
  -- (the fixed-lambda trainer, whose 99.7 % the paper quotes), all with BatchNorm.
  local figure_started = os.clock()
  local good = args.init == "kaiming" and networks.resnet_bn or select(1, run("ResNet", true, "kaiming"))
  local bad = select(1, run("ResNet", true, "normal"))
  local bad_transport = select(1, run("Regularized", true, "normal"))
  figure1 = { good = good, bad = bad, bad_transport = bad_transport }   -- global, for probing
  local std = string.format("N(0,%g)", args.std)
  local middle = math.floor((args.blocks + 1) / 2)
  files[#files + 1] = lap.plot.transport {
    file = args.out .. "/transport.png",
    title = string.format("circles test set after blocks 1, %d, %d", middle, args.blocks),
    nets = { good, bad, bad_transport },
    labels = { "good init", std, std .. " + transport" },
    data = test,
    blocks = { 1, middle, args.blocks },
  }
  -- The flow and the curves of the main runs, with BatchNorm when it was run.
  local suffix = args.bn ~= "off" and "_bn" or ""
  files[#files + 1] = lap.plot.trajectories {
    file = args.out .. "/trajectories.png", net = networks["resnet" .. suffix], data = test,
    title = "ResNet: paths of the test points through the blocks",
  }
  files[#files + 1] = lap.plot.trajectories {
    file = args.out .. "/trajectories_lap.png", net = networks["lap" .. suffix], data = test,
    title = "LAP: paths of the test points through the blocks",
  }
  local function series(field)
    local list = {}
    for index, method in ipairs(method_names) do
      local r = records[method:lower() .. suffix]
      if field ~= "lambda" or method ~= "ResNet" then
        list[#list + 1] = { name = method, y = r.history[field], color = index }
      end
    end
    return list
  end
  files[#files + 1] = lap.plot.curves {
    file = args.out .. "/curves.png",
    title = "training of the three methods" .. (suffix ~= "" and " (BatchNorm)" or ""),
    panels = {
      { title = "train loss (what each method minimizes)", log = true, series = series("loss") },
      { title = "train cross-entropy", log = true, series = series("ce") },
      { title = "test accuracy", series = series("test_accuracy") },
      { title = "transport on the test set", log = true, series = series("transport") },
      { title = "lambda", log = true, series = series("lambda") },
    },
  }
  files[#files + 1] = lap.plot.profile {
    file = args.out .. "/profile.png",
    title = "per-block movement of the test set" .. (suffix ~= "" and " (BatchNorm)" or ""),
    nets = { networks["resnet" .. suffix], networks["regularized" .. suffix], networks["lap" .. suffix] },
    labels = method_names,
    data = test,
  }
  if not args.quiet then
    print(string.format("figures drawn in %.2fs", os.clock() - figure_started))
  end
end

print("wrote " .. table.concat(files, ", ") .. string.format(" (%.1fs in all)", os.clock() - started))
