-- test_checkpoint.lua: checkpoints from Lua: net:save / lap.nn.load / net:load_weights
-- round trips (a circles ResNet with BatchNorm, models.one_rep_resnet), frozen flags,
-- exact resumption of training with trainer:save / trainer:load, error messages,
-- and the files read back by tests/read_safetensors.py (json + struct only).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local models = require "lap.models"

local expect_error = dofile(here .. "expect_error.lua")

local function max_diff(a, b) return (a - b):abs():max() end

local tmpdir = os.tmpname()
os.remove(tmpdir)
assert(os.execute("mkdir -p '" .. tmpdir .. "'"))
local function tmp(name) return tmpdir .. "/" .. name end

local data = lap.data.circles { n = 400, factor = 0.3, noise = 0.05, seed = 0 }
local train, test = data:split(0.8)

local function circles_net()
  return lap.nn.ResNet {
    blocks = 4,
    block = function() return lap.nn.Sequential {
      lap.nn.Linear(2, 2), lap.nn.BatchNorm(2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end,
    classifier = lap.nn.Linear(2, 2),
    transport = "frobenius",
  }
end

local function circles_trainer(net)
  return lap.train.LAP { net = net, lambda0 = 0.1, tau = 0.1, steps = 5, rule = "cloud4", seed = 3,
    optimizer = lap.optim.Adam { lr = 0.01, betas = { 0.9, 0.99 } } }
end

-- 1. Round trip of a trained circles ResNet: same outputs in eval mode.
lap.manual_seed(1)
local net = circles_net()
lap.init.kaiming(net)
local trainer = circles_trainer(net)
for _ = 1, 2 do trainer:epoch(train, { batch = 10 }) end
net:evaluate()
local want = net:forward(test.x)
local path = tmp("circles.safetensors")
net:save(path)
local loaded = lap.nn.load(path)
loaded:evaluate()
assert(max_diff(loaded:forward(test.x), want) == 0, "nn.load: different outputs")
assert(tostring(loaded) == tostring(net), "nn.load: different architecture:\n" .. tostring(loaded))
local fresh = circles_net()
fresh:load_weights(path)
fresh:evaluate()
assert(max_diff(fresh:forward(test.x), want) == 0, "load_weights: different outputs")

-- 2. models.one_rep_resnet (convolutions, in-place ReLUs, BatchNorm statistics).
lap.manual_seed(2)
local conv = models.one_rep_resnet { dataset = "mnist", blocks = 2 }
lap.init.kaiming(conv)
local x = lap.randn(3, 1, 28, 28)
conv:train()
conv:forward(x)   -- moves the running statistics away from (0, 1)
conv:block(2):freeze()
conv:evaluate()
local conv_want = conv:forward(x)
local conv_path = tmp("one_rep.safetensors")
conv:save(conv_path)
local conv_loaded = lap.nn.load(conv_path)
conv_loaded:evaluate()
assert(max_diff(conv_loaded:forward(x), conv_want) == 0, "one_rep_resnet: different outputs")
assert(tostring(conv_loaded) == tostring(conv), "one_rep_resnet: different architecture")
assert(tostring(conv_loaded):find("frozen", 1, true), "frozen flags should be restored")
local params = conv:parameters(true)
local loaded_params = conv_loaded:parameters(true)
assert(#params == #loaded_params, "trainable parameters differ after load")

-- 3. Exact resumption: N epochs, save, new net + trainer, load, M epochs ==
--    N + M epochs uninterrupted (shuffled batches, BatchNorm, Adam, LAP lambda).
local N, M = 2, 3
local function run(epochs, t)
  local losses = {}
  for e = 1, epochs do losses[e] = t:epoch(train, { batch = 16, shuffle = true }).loss end
  return losses
end
lap.manual_seed(5)
local net_a = circles_net()
lap.init.kaiming(net_a)
local trainer_a = circles_trainer(net_a)
local straight = run(N + M, trainer_a)

lap.manual_seed(5)
local net_b = circles_net()
lap.init.kaiming(net_b)
local trainer_b = circles_trainer(net_b)
run(N, trainer_b)
local trainer_path = tmp("trainer.safetensors")
trainer_b:save(trainer_path)
lap.manual_seed(99)   -- the new network starts elsewhere: everything must come from the file
local net_c = circles_net()
lap.init.kaiming(net_c)
local trainer_c = circles_trainer(net_c)
trainer_c:load(trainer_path)
assert(trainer_c.iteration == trainer_b.iteration and trainer_c.lambda == trainer_b.lambda)
local resumed = run(M, trainer_c)
for e = 1, M do
  assert(resumed[e] == straight[N + e],
    string.format("epoch %d after resuming: loss %.17g, uninterrupted %.17g", N + e, resumed[e], straight[N + e]))
end
net_a:evaluate()
net_c:evaluate()
assert(max_diff(net_a:forward(test.x), net_c:forward(test.x)) == 0, "resumed network differs")
-- The check is sensitive: the weights alone (fresh optimizer, generator, lambda) diverge.
lap.manual_seed(99)
local net_d = circles_net()
net_d:load_weights(trainer_path)
local weights_only = run(1, circles_trainer(net_d))
assert(weights_only[1] ~= straight[N + 1], "resuming from the weights alone should differ")
-- A trainer checkpoint is also a network checkpoint.
local from_trainer = lap.nn.load(trainer_path)
assert(tostring(from_trainer) == tostring(net_b))

-- 4. Errors name the file and the tensor.
local wide = lap.nn.ResNet {
  blocks = 4,
  block = function() return lap.nn.Sequential {
    lap.nn.Linear(2, 3), lap.nn.BatchNorm(3), lap.nn.ReLU(), lap.nn.Linear(3, 2) } end,
  classifier = lap.nn.Linear(2, 2),
}
local message = expect_error("checkpoint '" .. path .. "': tensor 'block.1.1.weight' has shape [2, 2] in the file but [3, 2] in the network",
  wide.load_weights, wide, path)
local deeper = lap.nn.ResNet { blocks = 5, block = function() return lap.nn.Sequential {
  lap.nn.Linear(2, 2), lap.nn.BatchNorm(2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end, classifier = lap.nn.Linear(2, 2) }
expect_error("tensor 'block.5.1.weight' (shape [2, 2]) is not in the file", deeper.load_weights, deeper, path)
local shallower = lap.nn.ResNet { blocks = 3, block = function() return lap.nn.Sequential {
  lap.nn.Linear(2, 2), lap.nn.BatchNorm(2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end, classifier = lap.nn.Linear(2, 2) }
expect_error("tensor 'block.4.1.weight' of the file is not in the network", shallower.load_weights, shallower, path)
expect_error("cannot open", lap.nn.load, tmp("missing.safetensors"))
local f = assert(io.open(tmp("garbage.safetensors"), "wb"))
f:write("not a checkpoint at all")
f:close()
expect_error("header length", lap.nn.load, tmp("garbage.safetensors"))
-- A trainer cannot load a network-only file; a Plain trainer cannot load a LAP one.
expect_error("not a trainer checkpoint", trainer_c.load, trainer_c, path)
local plain = lap.train.Plain { net = circles_net(), optimizer = lap.optim.Adam {} }
expect_error("another kind", plain.load, plain, trainer_path)
local sgd = lap.train.LAP { net = circles_net(), rule = "cloud4", optimizer = lap.optim.SGD { momentum = 0.9 } }
expect_error("the optimizer is Adam in the file but SGD", sgd.load, sgd, trainer_path)
-- A failed load changes nothing.
local before = wide:parameters()[1]:clone()
pcall(wide.load_weights, wide, path)
assert(max_diff(before, wide:parameters()[1]) == 0)
-- Unwritable destination: the error names the path.
expect_error("checkpoint '/nonexistent-dir/x.safetensors'", net.save, net, "/nonexistent-dir/x.safetensors")

-- 5. Other readers: the format specification alone (json + struct) reads the file.
local python = "/usr/bin/python3"
local probe = io.open(python, "r")
if probe then
  probe:close()
  local script = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests"
  local pipe = assert(io.popen(python .. " '" .. script .. "/read_safetensors.py' '" .. conv_path .. "'"))
  local sums = {}
  for line in pipe:lines() do
    local name, shape, sum = line:match("^(%S+) (%S+) (%S+)$")
    sums[name] = { shape = shape, sum = tonumber(sum) }
  end
  assert(pipe:close(), "read_safetensors.py failed")
  local count = 0
  for _ in pairs(sums) do count = count + 1 end
  assert(count > 0, "read_safetensors.py printed nothing")
  local w = conv:block(1)  -- Sequential: Conv BN ReLU Conv
  local entry = assert(sums["encoder.1.weight"], "encoder.1.weight missing")
  assert(entry.shape == "16x1x3x3", entry.shape)
  local mine = conv:parameters()[1]:sum()
  assert(math.abs(entry.sum - mine) <= 1e-4 * (1 + math.abs(mine)), "sum differs: " .. entry.sum .. " vs " .. mine)
  assert(sums["block.1.2.running_mean"] and sums["block.2.1.running_var"], "BatchNorm statistics missing")
  assert(w ~= nil)

  -- PyTorch, when Debian's python3-torch is installed, loads a trained circles
  -- ResNet from lap's file and computes the same eval-mode logits (1e-5).
  local circles = require "lap.circles"
  local small = circles.build_net(circles.config { bn = true, blocks = 3 }, 4)
  local data = lap.data.circles { n = 100, factor = 0.3, noise = 0.05, seed = 4 }
  local trainer = lap.train.Plain { net = small, optimizer = lap.optim.Adam { lr = 0.01 } }
  for _ = 1, 3 do trainer:epoch(data, { batch = 10 }) end
  local torch_path = tmpdir .. "/circles.safetensors"
  small:save(torch_path)
  small:evaluate()
  local logits = small:forward(data.x)
  local io_path = tmpdir .. "/io.txt"
  local f = assert(io.open(io_path, "w"))
  local flat_x, flat_logits = data.x:reshape(data.x:numel()), logits:reshape(logits:numel())
  for i = 1, data.x:numel() do f:write(string.format("%.9g ", flat_x[i])) end
  f:write("\n")
  for i = 1, logits:numel() do f:write(string.format("%.9g ", flat_logits[i])) end
  f:write("\n")
  f:close()
  pipe = assert(io.popen(python .. " '" .. script .. "/torch_load_safetensors.py' '" .. torch_path .. "' '" .. io_path
    .. "' 2>&1"))
  local output = pipe:read("a")
  pipe:close()
  if output:find("torch_unavailable", 1, true) then
    print("note: python3-torch not installed; skipping the PyTorch load check")
  else
    local difference = tonumber(output:match("max_abs_diff (%S+)"))
    assert(difference, "torch_load_safetensors.py failed: " .. output)
    assert(difference <= 1e-5 * 25, "PyTorch's logits differ from lap's by " .. difference)
    print(string.format("PyTorch loaded lap's checkpoint: largest logit difference %.3g", difference))
  end
else
  print("note: /usr/bin/python3 not found; skipping the read_safetensors.py cross-check")
end

os.execute("rm -rf '" .. tmpdir .. "'")
print("test_checkpoint.lua: ok")
