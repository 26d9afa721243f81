-- test_two_networks.lua: two networks in one process share no state.  Every
-- scratch array of a BatchNorm (the forward's statistics, the backward's sums)
-- belongs to the module, not to the file: two networks' steps interleaved
-- (forward A, forward B, backward A, backward B, as two trainers in the REPL or two
-- threads would run them) give exactly what each gives alone, on vectors (N, C) and
-- on images (N, C, H, W, where the BatchNorm and the in-place ReLU after it are
-- fused and the BatchNorm's output is recomputed for the backward pass).
-- Run: ./laprun tests/test_two_networks.lua

local tmpdir = os.tmpname()
os.remove(tmpdir)
assert(os.execute("mkdir -p '" .. tmpdir .. "'"))
local function tmp(name) return tmpdir .. "/" .. name end

local function same(a, b) return a:numel() == b:numel() and (a - b):abs():max() == 0 end

local function randomize(m)
  for _, p in ipairs(m:parameters()) do p:copy(lap.randn(p:numel())) end
end

local function vector_net()
  return lap.nn.Sequential { lap.nn.Linear(3, 5), lap.nn.BatchNorm(5), lap.nn.ReLU(), lap.nn.Linear(5, 4),
    lap.nn.BatchNorm(4, { momentum = 0.5 }), lap.nn.Tanh() }
end

local function image_net()
  -- 4 x 16 x 16 x 8 = 8192 values per BatchNorm output: large enough for the fused
  -- and recomputed path (PARALLEL_MIN), as in the CIFAR blocks.
  return lap.nn.Sequential { lap.nn.Conv2d(3, 8, 3, { padding = 1 }), lap.nn.BatchNorm(8), lap.nn.ReLU { inplace = true },
    lap.nn.Conv2d(8, 8, 3, { padding = 1 }), lap.nn.BatchNorm(8), lap.nn.ReLU { inplace = true }, lap.nn.GlobalAvgPool() }
end

-- One step of a network: output, input gradient, every parameter gradient, statistics.
local function results(net, y, dx)
  local out = { y, dx }
  local _, grads = net:parameters()
  for _, g in ipairs(grads) do out[#out + 1] = g:clone() end
  for i = 1, #net do
    local m = net[i]
    if m.running_mean then
      out[#out + 1] = m.running_mean:clone()
      out[#out + 1] = m.running_var:clone()
    end
  end
  return out
end

local function check(name, alone, interleaved)
  assert(#alone == #interleaved, name .. ": different result lists")
  for i = 1, #alone do
    assert(same(alone[i], interleaved[i]), name .. ": result " .. i .. " differs when another network runs in between")
  end
end

for _, case in ipairs {
  { name = "vectors", make = vector_net, a = { 32, 3 }, b = { 7, 3 }, out = 4 },
  { name = "images", make = image_net, a = { 4, 3, 16, 16 }, b = { 2, 3, 16, 16 }, out = 8 },
} do
  lap.manual_seed(11)
  -- Two different networks (different weights, batch sizes and data), each saved so
  -- that it can be rebuilt in its initial state.
  local a, b = case.make(), case.make()
  randomize(a)
  randomize(b)
  local path_a, path_b = tmp(case.name .. "-a.safetensors"), tmp(case.name .. "-b.safetensors")
  a:save(path_a)
  b:save(path_b)
  local xa, xb = lap.randn(table.unpack(case.a)), lap.randn(table.unpack(case.b)) * 3 + 1
  local ga, gb = lap.randn(case.a[1], case.out), lap.randn(case.b[1], case.out)

  -- Alone: all of A's step, then all of B's.
  local function alone(path, x, g)
    local net = lap.nn.load(path):train()
    net:zero_grad()
    local y = net:forward(x)
    return results(net, y, net:backward(g:clone()))
  end
  local alone_a, alone_b = alone(path_a, xa, ga), alone(path_b, xb, gb)

  -- Interleaved, twice over so that the second step runs on the first one's statistics.
  local na, nb = lap.nn.load(path_a):train(), lap.nn.load(path_b):train()
  local ra, rb
  for step = 1, 2 do
    na:zero_grad()
    nb:zero_grad()
    local ya = na:forward(xa)
    local yb = nb:forward(xb)
    local dxa = na:backward(ga:clone())
    local dxb = nb:backward(gb:clone())
    if step == 1 then
      ra, rb = results(na, ya, dxa), results(nb, yb, dxb)
    end
  end
  check(case.name .. " A", alone_a, ra)
  check(case.name .. " B", alone_b, rb)
  -- Eval mode interleaved with train mode of the other.
  na:evaluate()
  local eval_a = na:forward(xa)
  nb:forward(xb)
  assert(same(na:forward(xa), eval_a), case.name .. ": A's eval output changed by B's forward")
end

os.execute("rm -rf '" .. tmpdir .. "'")
print("test_two_networks.lua: ok")
