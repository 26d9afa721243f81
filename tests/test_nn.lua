-- test_nn.lua: the Lua API of lap.nn / lap.init / lap.optim / lap.train:
-- error messages at the boundary, the LAP lambda rules step by step, RNG
-- reproducibility, and that dropped networks are reclaimed by the GC.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

-- Wrong shapes name the module and both shapes.
local linear = lap.nn.Linear(2, 3)
local message = expect_error("Linear", linear.forward, linear, lap.tensor { { 1, 2, 3 } })
assert(message:find("[1, 3]", 1, true) and message:find("[3, 2]", 1, true) and message:find("expected 2", 1, true),
  "message should give both shapes: " .. message)

local function block() return lap.nn.Sequential { lap.nn.Linear(2, 4), lap.nn.ReLU(), lap.nn.Linear(4, 2) } end
local net = lap.nn.ResNet { blocks = 3, block = block, classifier = lap.nn.Linear(2, 2) }
message = expect_error("ResNet.block[1].Linear[1]", net.forward, net, lap.tensor { { 1, 2, 3 } })
assert(message:find("3 features, expected 2", 1, true), message)
-- A block that changes the width is caught at the block.
local bad = lap.nn.ResNet { blocks = { block(), lap.nn.Linear(2, 3) } }
expect_error("ResNet.block[2]", bad.forward, bad, lap.tensor { { 1, 2 } })
-- Wrong types, unknown options, backward before forward.
expect_error("lap.Tensor expected, got table", linear.forward, linear, { 1, 2 })
expect_error("unknown option 'hidden'", lap.nn.ResNet, { blocks = 2, block = block, hidden = 3 })
expect_error("unknown option 'bias_init'", lap.nn.Linear, 2, 3, { bias_init = 0 })
expect_error("unknown option 'momentun'", lap.optim.SGD, { lr = 0.1, momentun = 0.9 })
expect_error("unknown option 'lambda'", lap.train.LAP, { net = net, optimizer = lap.optim.SGD {}, lambda = 1 })
expect_error("must be a number", lap.optim.SGD, { lr = "fast" })
expect_error("backward called before forward", function()
  local fresh = lap.nn.Linear(2, 2)
  fresh:backward(lap.tensor { { 1, 1 } })
end)
expect_error("does not match the output", function()
  linear:forward(lap.tensor { { 1, 2 } })
  linear:backward(lap.tensor { { 1, 2 } })
end)
expect_error("BatchNorm: training needs more than 1 value", function()
  lap.nn.BatchNorm(2):forward(lap.tensor { { 1, 2 } })
end)
expect_error("label 5 of sample 1 is out of range", lap.nn.cross_entropy, lap.tensor { { 1, 2 } }, { 5 })
expect_error("needs a ResNet", lap.train.LAP, { net = linear, optimizer = lap.optim.SGD {} })

-- Module basics: parameters share storage, freeze, modes, tostring.
local params, grads = linear:parameters()
assert(#params == 2 and #grads == 2)
params[1]:fill(0.5)
assert(linear.weight:sum() == 3, "parameters() must share the module's storage")
assert(tostring(net):find("ResNet(3 blocks", 1, true), tostring(net))
assert(#net:parameters(true) == 14)
net.classifier:freeze()
assert(#net:parameters(true) == 12, "frozen parameters are not trainable")
net:evaluate()
assert(not net:block(1).training)
net:train()
assert(net:block(2)[1].training)

-- Same seed, same weights; the global generator and a private seed agree.
local function weights(seed)
  lap.manual_seed(seed)
  local m = lap.nn.ResNet { blocks = 2, block = block }
  lap.init.normal(m, { std = 5, bias = true })
  local values = {}
  for _, p in ipairs(m:parameters()) do values[#values + 1] = p:clone() end
  return values
end
local a, b, c = weights(7), weights(7), weights(8)
for i = 1, #a do assert(a[i] == b[i], "same seed must give the same weights") end
assert(not (a[1] == c[1]), "different seeds must give different weights")
local m = lap.nn.Linear(3, 5)
lap.init.orthogonal(m, { gain = 2 })
local w = m.weight
local gram = lap.matmul(w:t(), w)   -- (3x5)(5x3): orthogonal columns, times gain^2
for i = 1, 3 do
  for j = 1, 3 do
    local expected = i == j and 4 or 0
    assert(math.abs(gram[i][j] - expected) < 1e-4, "orthogonal init: W^T W should be 4 I")
  end
end
assert(m.bias:sum() == 0)

-- The LAP rules, step by step.  No BatchNorm, so a forward pass is repeatable and
-- the CE that each rule uses can be recomputed here exactly.
local function lap_net()
  lap.manual_seed(3)
  local n = lap.nn.ResNet { blocks = 2, block = block, classifier = lap.nn.Linear(2, 2), transport = "frobenius" }
  lap.init.kaiming(n)
  return n
end
local batches = {}
lap.manual_seed(11)
for i = 1, 7 do batches[i] = { lap.randn(6, 2), { 0, 1, 1, 0, 1, 0 } } end

for _, rule in ipairs { "main", "cloud4" } do
  local n = lap_net()
  local trainer = lap.train.LAP { net = n, optimizer = lap.optim.SGD { lr = 0.05 }, lambda0 = 0.5, tau = 0.25,
    steps = 3, rule = rule }
  local lambda = 0.5
  for i, batch in ipairs(batches) do
    local x, y = batch[1], batch[2]
    local ce_before = lap.nn.cross_entropy(n:forward(x), y)
    local cost_before = n:transport()
    local stats = trainer:step(x, y)
    assert(math.abs(stats.ce - ce_before) < 1e-12, "step's CE is the batch CE before the step")
    if rule == "main" then
      if i % 3 == 0 then lambda = lambda + 0.25 * ce_before end
      assert(math.abs(stats.loss - (ce_before + cost_before / lambda)) < 1e-9, "main: loss = CE + C / lambda")
    else
      assert(math.abs(stats.loss - (lambda * ce_before + cost_before)) < 1e-9, "cloud4: loss = lambda CE + C")
      if i % 3 == 0 then
        local ce_after = lap.nn.cross_entropy(n:forward(x), y)
        lambda = lambda + 0.25 * ce_after
      end
    end
    assert(math.abs(trainer.lambda - lambda) < 1e-12,
      string.format("%s rule, step %d: lambda %.17g, expected %.17g", rule, i, trainer.lambda, lambda))
  end
  assert(trainer.iteration == #batches)
end

-- Fixed lambda: loss = CE + lambda C, lambda constant.
do
  local n = lap_net()
  local trainer = lap.train.Regularized { net = n, optimizer = lap.optim.SGD { lr = 0.01 }, lambda = 0.3 }
  local x, y = batches[1][1], batches[1][2]
  local ce = lap.nn.cross_entropy(n:forward(x), y)
  local cost = n:transport()
  local stats = trainer:step(x, y)
  assert(math.abs(stats.loss - (ce + 0.3 * cost)) < 1e-9 and trainer.lambda == 0.3)
end

-- Multistep learning-rate decay.
local sgd = lap.optim.SGD { lr = 1, milestones = { 2, 4 }, gamma = 0.5, params = lap.nn.Linear(1, 1) }
local rates = {}
for epoch = 1, 5 do sgd:epoch_end(); rates[epoch] = sgd.lr end
assert(rates[1] == 1 and rates[2] == 0.5 and rates[3] == 0.5 and rates[4] == 0.25 and rates[5] == 0.25)

-- Probes on a ResNet: displacements, states, transport agree with each other.
do
  local n = lap_net()
  local x = lap.randn(5, 2)
  local d, s = n:displacements(x), n:states(x)
  assert(#d == 2 and #s == 3)
  for k = 1, 2 do
    local diff = s[k + 1] - s[k] - d[k]
    assert(diff:norm() < 1e-6, "x_{k+1} = x_k + v_k")
  end
  local total, per_block = n:transport(x)
  assert(math.abs(total - (d[1]:norm() + d[2]:norm())) < 1e-5, "frobenius cost = sum of norms")
  assert(#per_block == 2)
  assert(n:predict(x):size(1) == 5)
end

-- line_shape: constant displacements make straight paths (score 1); a right-angle
-- turn of legs 3 and 4 has path 7 over distance 5.
do
  local function constant_block(dx, dy)
    local m = lap.nn.Linear(2, 2)
    m.weight:fill(0)
    m.bias:copy(lap.tensor { dx, dy })
    return m
  end
  local straight = lap.nn.ResNet { blocks = { constant_block(1, 0), constant_block(2, 0) } }
  local score, used = straight:line_shape(lap.randn(6, 2))
  assert(math.abs(score - 1) < 1e-6 and used == 6, "straight paths have line shape 1")
  local bent = lap.nn.ResNet { blocks = { constant_block(3, 0), constant_block(0, 4) } }
  score = bent:line_shape(lap.randn(6, 2))
  assert(math.abs(score - 7 / 5) < 1e-6, "a 3-4-5 corner has line shape 7/5, got " .. score)
end

-- ReLU{inplace = true} computes what ReLU() computes, in place, inside networks:
-- same outputs, same parameter and input gradients.
do
  local function make(inplace)
    lap.manual_seed(5)
    local relu = inplace and lap.nn.ReLU { inplace = true } or lap.nn.ReLU()
    local net = lap.nn.ResNet { encoder = lap.nn.Linear(2, 4), blocks = 2,
      block = function() return lap.nn.Sequential { lap.nn.BatchNorm(4),
        inplace and lap.nn.ReLU { inplace = true } or lap.nn.ReLU(), lap.nn.Linear(4, 4) } end,
      classifier = lap.nn.Sequential { lap.nn.Linear(4, 3), relu, lap.nn.Linear(3, 2) } }
    lap.init.normal(net, { std = 0.7, bias = true })
    return net
  end
  local x = lap.randn(8, 2)
  local plain, inplace = make(false), make(true)
  local out_plain, out_inplace = plain:forward(x), inplace:forward(x)
  assert(out_plain == out_inplace, "in-place ReLU changes the output")
  local g = lap.randn(8, 2)
  assert(plain:backward(g:clone(), 0.3) == inplace:backward(g:clone(), 0.3), "in-place ReLU changes grad_input")
  local _, grads_plain = plain:parameters()
  local _, grads_inplace = inplace:parameters()
  for i = 1, #grads_plain do
    assert(grads_plain[i] == grads_inplace[i], "in-place ReLU changes the gradient of parameter " .. i)
  end
  expect_error("unknown option 'in_place'", lap.nn.ReLU, { in_place = true })
end

-- Dropped networks, trainers and tensors are reclaimed.
collectgarbage()
local before = collectgarbage("count")
for i = 1, 300 do
  local n = lap.nn.ResNet { blocks = 3, block = block, classifier = lap.nn.Linear(2, 2) }
  local t = lap.train.Plain { net = n, optimizer = lap.optim.Adam {} }
  t:step(lap.randn(4, 2), { 0, 1, 0, 1 })
end
collectgarbage()
collectgarbage()
assert(collectgarbage("count") < before + 200, "networks were not reclaimed")
-- The optimizer updates its parameters in one loop over a gathered storage; another
-- optimizer bound to the same network uses the same storage, and the first still
-- updates the network exactly as if alone.
do
  local function twin()
    lap.manual_seed(7)
    return lap.nn.ResNet { blocks = 3, block = block, classifier = lap.nn.Linear(2, 2) }
  end
  local alone, shared = twin(), twin()
  local x = lap.randn(6, 2)
  local labels = { 0, 1, 1, 0, 1, 0 }
  local opt_alone = lap.optim.Adam { lr = 0.05 }:bind(alone)
  local opt_shared = lap.optim.Adam { lr = 0.05 }:bind(shared)
  local function step(net, opt)
    net:zero_grad()
    local _, grad = lap.nn.cross_entropy(net:forward(x), labels)
    net:backward(grad)
    opt:step()
  end
  step(alone, opt_alone)
  step(shared, opt_shared)
  lap.optim.SGD { lr = 0.1 }:bind(shared) -- finds them gathered already
  for _ = 1, 3 do
    step(alone, opt_alone)
    step(shared, opt_shared)
  end
  local pa, ps = alone:parameters(), shared:parameters()
  assert(#pa == #ps and #pa > 0)
  local moved = 0
  for i = 1, #pa do
    assert((pa[i] - ps[i]):abs():max() == 0, "parameter " .. i .. " differs after a second optimizer was bound")
  end
  local pfresh = twin():parameters()
  for i = 1, #pa do moved = moved + (pa[i] - pfresh[i]):abs():max() end
  assert(moved > 0, "the optimizer did not move the parameters")
end

print("test_nn: ok")
