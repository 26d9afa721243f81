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
-- with and without BatchNorm, and prints a table.  Writes results.csv and
-- history.csv (per-epoch metrics) into --out.
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
  { "out", "out/circles", "directory for results.csv and history.csv" },
  { "quiet", false, "print only the final table" },
})

local report = require "lap.report"

-- Globals on purpose: `laprun -i experiments/circles.lua` leaves them for probing.
data = lap.data.circles { n = args.points, factor = args.factor, noise = args.noise, seed = args.seed }
train, test = data:split { test = 0.2, seed = args.seed }

local function build_net(batchnorm)
  lap.manual_seed(args.seed)
  local net = lap.nn.ResNet {
    blocks = args.blocks,
    block = function()
      local layers = { lap.nn.Linear(2, args.hidden) }
      if batchnorm then layers[#layers + 1] = lap.nn.BatchNorm(args.hidden) end
      layers[#layers + 1] = lap.nn.ReLU()
      layers[#layers + 1] = lap.nn.Linear(args.hidden, 2)
      return lap.nn.Sequential(layers)
    end,
    classifier = lap.nn.Linear(2, 2),
    transport = "frobenius",
  }
  local classifier = net.classifier
  classifier.weight:copy(lap.tensor { { 1, 1 }, { 0, 0 } })
  classifier.bias:copy(lap.tensor { 20, 0 })
  classifier:freeze()
  if args.init == "normal" then
    lap.init.normal(net, { std = args.std, bias = true })
  elseif args.init == "orthogonal" then
    lap.init.orthogonal(net, { gain = args.gain })
  else
    lap.init.kaiming(net)
  end
  return net
end

local methods = {
  { name = "ResNet", make = function(net, optimizer)
      return lap.train.Plain { net = net, optimizer = optimizer, seed = args.seed } end },
  { name = "Regularized", make = function(net, optimizer)
      return lap.train.Regularized { net = net, optimizer = optimizer, lambda = args.lambda, seed = args.seed } end },
  { name = "LAP", make = function(net, optimizer)
      return lap.train.LAP { net = net, optimizer = optimizer, lambda0 = args.lambda0, tau = args.tau,
        steps = args.steps, rule = "cloud4", seed = args.seed } end },
}

local settings = {}
if args.bn ~= "on" then settings[#settings + 1] = false end
if args.bn ~= "off" then settings[#settings + 1] = true end

local rows, csv_rows, history = {}, {}, {}
networks = {}          -- global: networks.resnet, networks.lap_bn, ... for probing
local started = os.clock()

for _, batchnorm in ipairs(settings) do
  for _, method in ipairs(methods) do
    local net = build_net(batchnorm)
    local optimizer = lap.optim.Adam { lr = args.lr, betas = { 0.9, 0.99 } }
    local trainer = method.make(net, optimizer)
    local run_started = os.clock()
    local best, final, train_accuracies, test_accuracies = 0, 0, {}, {}
    local epochs = 0
    for epoch = 1, args.epochs do
      local stats = trainer:epoch(train, { batch = args.batch, shuffle = args.shuffle })
      local evaluation = trainer:evaluate(test)
      epochs = epoch
      train_accuracies[epoch], test_accuracies[epoch] = stats.accuracy, evaluation.accuracy
      best = math.max(best, evaluation.accuracy)
      final = evaluation.accuracy
      history[#history + 1] = { method.name, batchnorm and "on" or "off", epoch, stats.loss, stats.ce,
        stats.accuracy, evaluation.accuracy, evaluation.transport, evaluation.energy, trainer.lambda }
      -- cloud4.py's rule: stop after 3 epochs at train and test accuracy 1.
      if epoch > 3 then
        local done = true
        for e = epoch - 2, epoch do
          done = done and train_accuracies[e] == 1 and test_accuracies[e] == 1
        end
        if done then break end
      end
    end
    local evaluation = trainer:evaluate(test)
    local key = method.name:lower() .. (batchnorm and "_bn" or "")
    networks[key] = net
    local lambda = method.name == "ResNet" and "-" or string.format("%.4g", trainer.lambda)
    rows[#rows + 1] = { method.name, batchnorm and "on" or "off", epochs, string.format("%.1f", 100 * best),
      string.format("%.1f", 100 * final), string.format("%.3f", evaluation.transport),
      string.format("%.4f", evaluation.energy), lambda, string.format("%.2f", os.clock() - run_started) }
    csv_rows[#csv_rows + 1] = { method.name, batchnorm and "on" or "off", epochs, best, final,
      evaluation.transport, evaluation.energy, method.name == "ResNet" and "" or trainer.lambda }
    if not args.quiet then
      io.write(string.format("%-12s BN %-3s  %3d epochs  best test accuracy %5.1f%%  transport %.3f  (%.2fs)\n",
        method.name, batchnorm and "on" or "off", epochs, 100 * best, evaluation.transport, os.clock() - run_started))
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
print(string.format("wrote %s/results.csv and %s/history.csv (%.1fs in all)", args.out, args.out, os.clock() - started))
