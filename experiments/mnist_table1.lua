-- experiments/mnist_table1.lua: the paper's Table 1 as a sweep (lap.experiment).
--
-- Training sets of 100 to 500 images, ResNet vs LAP-ResNet (lap.mnist's protocol),
-- N instances (seeds) each, cells "mean, [95 % interval]" of the highest test
-- accuracy over the epochs.  MNIST from data/mnist (`make data`) by default,
-- Fashion-MNIST with --data fashion (or when data/mnist is missing).
-- The 30 evaluations of the test set are most of the time: with --test-size 2000 an
-- instance takes 45-70 s in a single-threaded worker, about 4 seeds of the 10 cells
-- in 20 minutes with --jobs 2; --budget MINUTES stops the sweep and --resume goes on.
local experiment = require "lap.experiment"
local mnist = require "lap.mnist"

local args = require("lap.args").parse(arg, experiment.options({
  name = "mnist_table1.lua",
  usage = "laprun experiments/mnist_table1.lua [options]",
  description = "Table 1: ResNet vs LAP-ResNet on small training sets of MNIST (data/mnist by default) or Fashion-MNIST (--data fashion).",
  { "sizes", "100,200,300,400,500", "training-set sizes, comma-separated" },
  { "epochs", 30, "epochs per instance" },
  { "test-size", 10000, "test images used (the first ones)" },
  { "data", "", "MNIST's IDX files: a directory, \"\" for data/mnist when present (`make data`) else Fashion-MNIST, or \"fashion\"" },
}, { instances = 2, jobs = 2, out = "out/mnist_table1" }))

-- Records name the data they were trained on: a directory, or "fashion".
local models = require "lap.models"
print("data: " .. models.mnist_source(args.data))
local data = models.mnist_dir(args.data) or "fashion"
local configs = {}
for size in args.sizes:gmatch("[^,%s]+") do
  for _, method in ipairs { "ResNet", "LAP" } do
    configs[#configs + 1] = { method = method, train_size = tonumber(size), epochs = args.epochs,
      test_size = args["test-size"], data = data }
  end
end

experiment.run {
  name = "mnist_table1",
  options = args,
  configs = configs,
  run = function(config, seed) return mnist.train(config, seed) end,
  rows = "method",
  columns = function(config) return string.format("%d images", config.train_size) end,
}
