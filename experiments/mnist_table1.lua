-- experiments/mnist_table1.lua: the paper's Table 1 as a sweep (lap.experiment).
--
-- Training sets of 100 to 500 images, ResNet vs LAP-ResNet (lap.mnist's protocol),
-- N instances (seeds) each, cells "mean, [95 % interval]" of the highest test
-- accuracy over the epochs.  MNIST from data/mnist (`make data`) by default,
-- Fashion-MNIST with --data fashion (or when data/mnist is missing).
-- The 30 evaluations of the test set are most of the time: with --test-size 2000 an
-- instance takes 45-70 s in a single-threaded worker, about 4 seeds of the 10 cells
-- in 20 minutes with --jobs 2; --budget MINUTES stops the sweep and --resume goes on.
-- --protocol main: main.py's normalization (0.1307/0.3081) and its metric over a
-- random half of the test set; --encoder FILE: main.py's -lec 0 (a pretrained,
-- frozen encoder, from experiments/autoencoder.lua --save-encoder).
-- --save-indices FILE writes, for every size and seed, the rows an instance trains
-- and tests on (JSON lines, 0-based) and exits without training: the PyTorch
-- replica (bench/reference/lap_main_replica.py) reads them.
-- --lambda0/--tau/--steps change LAP's Uzawa rule (other settings than the paper's:
-- give them an --out of their own); --methods lap runs only LAP-ResNet.
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
  { "protocol", "lap", "lap (subset statistics, the first --test-size test images) or main (main.py's: 0.1307/0.3081, a random test half)" },
  { "encoder", "", "a pretrained encoder (safetensors) to load and freeze (main.py -lec 0); default: trained (-lec 1)" },
  { "methods", "both", "resnet, lap or both", choices = { "resnet", "lap", "both" } },
  { "lambda0", 5, "LAP's initial lambda (main.py -lml)" },
  { "tau", 1, "LAP's step on lambda (main.py -tau)" },
  { "steps", 5, "LAP updates lambda every this many steps (main.py -uzs)" },
  { "save-indices", "", "write the training and test rows of every size and seed to this JSONL file and exit" },
}, { instances = 2, jobs = 2, out = "out/mnist_table1" }))

-- Records name the data they were trained on: a directory, or "fashion".
local models = require "lap.models"
print("data: " .. models.mnist_source(args.data))
local data = models.mnist_dir(args.data) or "fashion"
local methods = ({ resnet = { "ResNet" }, lap = { "LAP" }, both = { "ResNet", "LAP" } })[args.methods]
local configs = {}
for size in args.sizes:gmatch("[^,%s]+") do
  for _, method in ipairs(methods) do
    local config = { method = method, train_size = tonumber(size), epochs = args.epochs,
      test_size = args["test-size"], data = data }
    -- Set only when not the default, so that the records of earlier sweeps keep their keys (--resume).
    if args.protocol ~= "lap" then config.protocol = args.protocol end
    if args.encoder ~= "" then config.encoder = args.encoder end
    if method == "LAP" then
      for _, key in ipairs { "lambda0", "tau", "steps" } do
        if args[key] ~= mnist.defaults[key] then config[key] = args[key] end
      end
    end
    configs[#configs + 1] = config
  end
end

if args["save-indices"] ~= "" then
  local json = require "lap.json"
  local lines = {}
  for i = 0, args.instances - 1 do
    local seed = (args.first_seed or 0) + i
    for _, config in ipairs(configs) do
      if config.method == methods[1] then   -- both methods of a size and seed use the same rows
        local rows = mnist.indices(config, seed)
        lines[#lines + 1] = json.encode { train_size = config.train_size, seed = seed,
          protocol = config.protocol or "lap", data = config.data, train_indices = rows.train,
          test_indices = rows.test }
      end
    end
  end
  local f = assert(io.open(args["save-indices"], "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  print(string.format("wrote the rows of %d instances to %s", #lines, args["save-indices"]))
  return
end

experiment.run {
  name = "mnist_table1",
  options = args,
  configs = configs,
  run = function(config, seed) return mnist.train(config, seed) end,
  rows = "method",
  columns = function(config) return string.format("%d images", config.train_size) end,
}
