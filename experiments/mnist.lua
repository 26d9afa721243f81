-- experiments/mnist.lua: the paper's Table 1 protocol on MNIST (data/mnist, `make data`) or Fashion-MNIST.
--
-- One training-set size and one seed per call: a random subset of the training
-- set (seeded), the MNIST OneRepResNet (encoder 1->16->32 channels, 9 residual
-- blocks of 3x3 convolutions, 3Lin classifier; skander-karkar/LAP main.py),
-- orthogonal initialization with gain 0.01, SGD lr 0.01 momentum 0.9 weight decay
-- 1e-4, batch 128; ResNet (cross-entropy) and LAP-ResNet (main.py's rule:
-- CE + C/lambda, lambda0 = 5, tau = 1, every s = 5 steps); the reported number is
-- the highest test accuracy over the epochs (30), as in the paper.
local args = require("lap.args").parse(arg, {
  name = "mnist.lua",
  usage = "laprun experiments/mnist.lua [options]",
  description = "Train ResNet and LAP-ResNet on a small subset of MNIST (data/mnist by default) or Fashion-MNIST (--data fashion).",
  { "train-size", 500, "number of training images (a seeded random subset)" },
  { "seed", 1, "seed of the subset, the initial weights and the batch order" },
  { "epochs", 30, "number of epochs; the highest test accuracy over them is reported" },
  { "data", "", "MNIST's IDX files (train-images-idx3-ubyte[.gz], ...): a directory, \"\" for data/mnist when present (`make data`) else Fashion-MNIST, or \"fashion\"" },
  { "test-size", 10000, "number of test images used (the first ones)" },
  { "methods", "both", "resnet, lap or both", choices = { "resnet", "lap", "both" } },
  { "lambda0", 5, "LAP's initial lambda" },
  { "tau", 1, "LAP's step on lambda" },
  { "steps", 5, "LAP updates lambda every this many steps" },
  { "lr", 0.01, "SGD learning rate" },
  { "batch", 128, "batch size" },
  { "gain", 0.01, "gain of the orthogonal initialization" },
  { "balanced", false, "take the same number of training images from each class" },
  { "out", "out/mnist", "directory for history.csv" },
  { "quiet", false, "print only the final table" },
  { "distributed", false, "data-parallel over the ranks of mpirun/srun (--batch is the global batch); rank 0 prints" },
  { "sync-bn", false, "with --distributed: BatchNorm statistics of the global batch instead of each rank's" },
})
-- --distributed: every rank (same data, seeds and network) trains its share of each
-- batch (mpirun -np N laprun ...); rank 0 alone prints and writes files.
local rank = args.distributed and lap.mpi.rank() or 0
if rank > 0 then print, io.write = function() end, function() end end
local parallel = { distributed = args.distributed or nil, sync_bn = args["sync-bn"] or nil }
local models = require "lap.models"
local report = require "lap.report"

local started = lap.clock()
local source = models.mnist_source(args.data)
print("data: " .. source)
local train_full, test = models.mnist_data(args.data, "train"), models.mnist_data(args.data, "test", args["test-size"])
train = train_full:subset_random { size = args["train-size"], seed = args.seed, balanced = args.balanced }
-- Normalize with the training subset's statistics, applied to both sets.
local statistics = train:normalize()
test:normalize(statistics)

local function build()
  lap.manual_seed(args.seed)
  local net = models.one_rep_resnet { dataset = "mnist" }
  lap.init.orthogonal(net, { gain = args.gain })
  return net
end

local function optimizer()
  return lap.optim.SGD { lr = args.lr, momentum = 0.9, weight_decay = 1e-4 }
end

local methods = {}
if args.methods ~= "lap" then
  methods[#methods + 1] = { name = "ResNet", make = function(net)
    return lap.train.Plain { net = net, optimizer = optimizer(), seed = args.seed,
      distributed = parallel.distributed, sync_bn = parallel.sync_bn } end }
end
if args.methods ~= "resnet" then
  methods[#methods + 1] = { name = "LAP-ResNet", make = function(net)
    return lap.train.LAP { net = net, optimizer = optimizer(), lambda0 = args.lambda0, tau = args.tau,
      steps = args.steps, rule = "main", seed = args.seed,
      distributed = parallel.distributed, sync_bn = parallel.sync_bn } end }
end

local interactive = os.getenv("TERM") ~= nil and os.execute("test -t 1") == true
local rows, history = {}, {}
networks = {}   -- global, for `laprun -i`
for _, method in ipairs(methods) do
  local net = build()
  local trainer = method.make(net)
  local run_started = lap.clock()
  local fitted = lap.fit { trainer = trainer, train = train, test = test, epochs = args.epochs, batch = args.batch,
    shuffle = true, on_epoch = function(r, so_far)
      history[#history + 1] = { method.name, r.epoch, r.loss, r.ce, r.train_accuracy, r.test_accuracy,
        r.test_transport, r.lambda }
      if not args.quiet then
        local line = string.format("%-10s epoch %2d/%d  train loss %.4f  test accuracy %.2f%%  best %.2f%%  %.0fs",
          method.name, r.epoch, args.epochs, r.loss, 100 * r.test_accuracy, 100 * so_far.best, lap.clock() - run_started)
        if interactive and r.epoch < args.epochs then io.write("\r", line) else io.write("\r", line, "\n") end
        io.flush()
      end
    end }
  local best, best_epoch, evaluation = fitted.best, fitted.best_epoch, fitted.evaluation
  networks[method.name] = net
  rows[#rows + 1] = { method.name, string.format("%.2f", 100 * best), best_epoch,
    string.format("%.4g", evaluation.transport), method.name == "ResNet" and "-" or string.format("%.4g", trainer.lambda),
    string.format("%.0f", lap.clock() - run_started) }
end

print(string.format("\n%s, %d training images (seed %d), %d test images, %d epochs", source, #train, args.seed,
  #test, args.epochs))
if rank == 0 then
  report.table({ "method", "best test acc %", "at epoch", "test transport", "final lambda", "time s" }, rows)
  report.mkdir(args.out)
  report.csv(args.out .. "/history.csv", { "method", "epoch", "train_loss", "train_ce", "train_accuracy",
    "test_accuracy", "test_transport", "lambda" }, history)
end
print(string.format("wrote %s/history.csv (%.0fs in all)", args.out, lap.clock() - started))
