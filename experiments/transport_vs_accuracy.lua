-- experiments/transport_vs_accuracy.lua: the paper's Figure 2 (section 4).
--
-- Trains ResNet9 (the MNIST OneRepResNet, cross-entropy only) on Fashion-MNIST
-- (or MNIST with --data DIR) from orthogonal and normal initializations of
-- several gains, and draws one point per network: test transport cost
-- (sum_k mean(v_k^2) on the test images) against test accuracy, with the
-- least-squares line and Pearson's r (lap.plot.scatter).  The paper trains to
-- convergence on the whole training set; --train-size and --epochs trade
-- fidelity for time (defaults: 2000 images, 5 epochs, 12 networks).
local args = require("lap.args").parse(arg, {
  name = "transport_vs_accuracy.lua",
  usage = "laprun experiments/transport_vs_accuracy.lua [options]",
  description = "Figure 2: test transport cost against test accuracy of ResNets from several initializations.",
  { "data", "", "MNIST's IDX files: a directory, \"\" for data/mnist when present (`make data`) else Fashion-MNIST, or \"fashion\"" },
  { "train-size", 2000, "training images (a seeded random subset)" },
  { "test-size", 2000, "test images used (the first ones)" },
  { "epochs", 5, "epochs per network" },
  { "seeds", 2, "networks per initialization" },
  { "out", "out/transport_vs_accuracy", "directory for figure2.png and points.csv" },
})
local models = require "lap.models"
local report = require "lap.report"

local started = lap.clock()
print("data: " .. models.mnist_source(args.data))
local train_full, test = models.mnist_data(args.data, "train"), models.mnist_data(args.data, "test", args["test-size"])
local train = train_full:subset_random { size = args["train-size"], seed = 1 }
test:normalize(train:normalize())

local inits = {
  { name = "orthogonal", group = 1, gains = { 0.01, 0.1, 1 } },
  { name = "normal", group = 2, gains = { 0.01, 0.03, 0.1 } },
}
local xs, ys, groups, rows = {}, {}, {}, {}
for _, init in ipairs(inits) do
  for _, gain in ipairs(init.gains) do
    for seed = 1, args.seeds do
      lap.manual_seed(seed)
      local net = models.one_rep_resnet { dataset = "mnist" }
      if init.name == "orthogonal" then lap.init.orthogonal(net, { gain = gain })
      else lap.init.normal(net, { std = gain }) end
      local trainer = lap.train.Plain { net = net, seed = seed,
        optimizer = lap.optim.SGD { lr = 0.01, momentum = 0.9, weight_decay = 1e-4 } }
      -- The transport of the last epoch at the best accuracy (ties go to the later epoch).
      local best, transport = 0, 0
      lap.fit { trainer = trainer, train = train, test = test, epochs = args.epochs, batch = 128,
        on_epoch = function(r)
          if r.test_accuracy >= best then best, transport = r.test_accuracy, r.test_transport end
        end }
      xs[#xs + 1], ys[#ys + 1], groups[#groups + 1] = transport, 100 * best, init.group
      rows[#rows + 1] = { init.name, gain, seed, transport, best }
      print(string.format("%-10s gain %-5g seed %d  test accuracy %.2f%%  test transport %.4g  (%.0fs)", init.name,
        gain, seed, 100 * best, transport, lap.clock() - started))
    end
  end
end
report.mkdir(args.out)
report.csv(args.out .. "/points.csv", { "init", "gain", "seed", "test_transport", "test_accuracy" }, rows)
local slope, intercept, r = lap.least_squares(xs, ys)
local file = lap.plot.scatter { file = args.out .. "/figure2.png", x = xs, y = ys, groups = groups,
  group_names = { "orthogonal init", "normal init" }, xlabel = "test transport cost", ylabel = "test accuracy (%)",
  title = "transport cost against accuracy, ResNet9" }
print(string.format("least squares: accuracy = %.4g * transport + %.4g, Pearson r = %.3f", slope, intercept, r))
print(string.format("wrote %s and %s/points.csv (%.0fs in all)", file, args.out, lap.clock() - started))
