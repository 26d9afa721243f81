-- bench/mnist_eval.lua: evaluation of the 10 000 MNIST-shaped test images through
-- the paper's MNIST ResNet9 in eval mode (lap.train.evaluate: inference, default
-- batch), beside PyTorch under torch.no_grad() (bench/mnist_eval.py, batch 1000).
-- `make bench` runs it.  laprun bench/mnist_eval.lua [images] [repeats]
local models = require "lap.models"
local images, repeats = tonumber(arg[1]) or 10000, tonumber(arg[2]) or 3
local memory_before = lap.peak_memory()
lap.manual_seed(0)
local net = models.one_rep_resnet { dataset = "mnist" }
lap.init.orthogonal(net, { gain = 0.01 })
local x = lap.randn(images, 1, 28, 28)
local labels = {}
for i = 1, images do labels[i] = (i * 7) % 10 end
local data = lap.data.dataset(x, labels)
lap.train.evaluate(net, data)
local times = {}
for i = 1, repeats do
  local start = lap.clock()
  lap.train.evaluate(net, data)
  times[i] = (lap.clock() - start) * 1000
end
table.sort(times)
local lap_ms, lap_mb = times[(#times + 1) // 2], lap.peak_memory()
local torch = require("lap.bench").pytorch("mnist_eval", lap_ms,
  string.format("/usr/bin/python3 bench/mnist_eval.py --images %d --repeats %d", images, repeats))
print(string.format("  %d images; peak resident memory: lap %.0f MB (%.0f MB before building the model)%s", images,
  lap_mb, memory_before, torch.mb and string.format(", pytorch %.0f MB", torch.mb) or ""))
if torch.version then print("  " .. torch.version) end
