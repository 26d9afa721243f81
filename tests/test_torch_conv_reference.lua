-- test_torch_conv_reference.lua: lap against PyTorch on convolutional layers and a
-- small convolutional OneRepResNet (the paper's image model, scaled down).
--
-- tests/fixtures/torch_conv_resnet.txt is written by tests/make_torch_conv_fixture.py
-- (Debian's python3-torch):
--   encoder     Conv2d(1,4,3,1,1) ReLU Conv2d(4,6,3,2,1) ReLU on x (4, 1, 8, 8)
--   block 1     Conv(6,6,3,pad 1,no bias) BN(6) ReLU Conv(6,6,3,pad 1,no bias)   (FirstResBlock)
--   block 2     BN(6) ReLU Conv BN(6) ReLU Conv                                  (ResBlock)
--   classifier  Flatten Linear(96,20) BatchNorm1d(20) ReLU Linear(20,3)        ('3Lin')
-- loss CE + 0.1 * C, C = sum_k mean(v_k^2) ("mean", p = 2), one SGD step (lr 0.1,
-- momentum 0.9, weight decay 1e-3); then a ConvTranspose2d(6,4,5, stride 2, padding 2,
-- output_padding 1) and MaxPool2d / AvgPool2d / global average pooling with their
-- input (and weight) gradients for sum(out * R).
--
-- A value a matches the reference b when |a - b| <= tol * max(|b|, m), m the largest
-- magnitude in the record (as tests/test_torch_reference.lua).  Tolerances, as
-- there: 1e-5 for forward values (logits, CE, transport, loss, running statistics,
-- the pools' and ConvTranspose2d's outputs), 1e-4 for every gradient, the parameters
-- after the SGD step and the eval logits after it.  The 3x3 convolutions run through
-- Winograd F(2x2, 3x3) (runtime/nn/winograd.c), whose transforms add a few roundings:
-- a float32 simulation gives ~3e-7 of the output scale per convolution against
-- ~1e-7 for direct sums (F(4x4, 3x3) would be ~2e-6 and would need 1e-4 here).
-- Measured on this fixture (lap with runtime/nn/winograd.c, 2025-11-27): forward at
-- most 8.1e-7 (logits), gradients at most 4.8e-6 of the record scale; PyTorch's own
-- float32 against float64 differs by < 3e-7 (forward) and < 2e-6 (gradients).
-- grad.16 (the bias of Linear(96,20), which feeds BatchNorm1d) is zero in exact
-- arithmetic: its record is float32 noise, compared at the scale of grad.15.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
assert(lap.nn.Conv2d and lap.nn.ConvTranspose2d and lap.nn.MaxPool2d and lap.nn.AvgPool2d
       and lap.nn.GlobalAvgPool and lap.nn.Flatten,
       "lap.nn lacks the convolution / pooling layers this test needs")

local FIXTURE = here .. "fixtures/torch_conv_resnet.txt"
local NPARAM = 20
local LAYER_FORWARD, NET_FORWARD, GRAD = 1e-5, 1e-5, 1e-4

local fixture = dofile(here .. "fixture.lua")(FIXTURE)
local record, as_tensor, flatten = fixture.record, fixture.tensor, fixture.flatten

local function record_scale(name)
  local m = 0
  for _, v in ipairs(record(name).values) do m = math.max(m, math.abs(v)) end
  return m
end

local function shape_string(s) return "[" .. table.concat(s, ", ") .. "]" end

-- t has the shape of record `name` (a clear message for a layout mismatch).
local function check_shape(what, t, name)
  local got, want = t:size(), record(name).shape
  assert(shape_string(got) == shape_string(want),
         string.format("%s has shape %s, the reference %s has %s", what, shape_string(got), name, shape_string(want)))
end

local failures, checks = 0, 0
-- floor (optional): compare at least at this scale (for records that are pure noise).
local function compare(what, actual, name, tol, floor)
  local expected = record(name).values
  local values = type(actual) == "number" and { actual } or flatten(actual:totable())
  assert(#values == #expected, string.format("%s: %d values, reference %s has %d", what, #values, name, #expected))
  local scale = floor or 0
  for _, b in ipairs(expected) do scale = math.max(scale, math.abs(b)) end
  for i, b in ipairs(expected) do
    checks = checks + 1
    local a = values[i]
    if not (math.abs(a - b) <= tol * math.max(math.abs(b), scale)) then   -- NaN fails too
      failures = failures + 1
      print(string.format("FAIL %s[%d]: lap %.9g, pytorch %.9g (tolerance %g)", what, i, a, b, tol))
      break
    end
  end
end

local nn = lap.nn

local function conv3x3(c)   -- the residual branches' convolution: 3x3, stride 1, padding 1, no bias
  return nn.Conv2d(c, c, 3, { stride = 1, padding = 1, bias = false })
end

local function build()
  local net = nn.ResNet {
    encoder = nn.Sequential {
      nn.Conv2d(1, 4, 3, { stride = 1, padding = 1 }), nn.ReLU(),
      nn.Conv2d(4, 6, 3, { stride = 2, padding = 1 }), nn.ReLU(),
    },
    blocks = {
      nn.Sequential { conv3x3(6), nn.BatchNorm(6), nn.ReLU(), conv3x3(6) },
      nn.Sequential { nn.BatchNorm(6), nn.ReLU(), conv3x3(6), nn.BatchNorm(6), nn.ReLU(), conv3x3(6) },
    },
    classifier = nn.Sequential { nn.Flatten(), nn.Linear(96, 20), nn.BatchNorm(20), nn.ReLU(), nn.Linear(20, 3) },
    transport = "mean",
  }
  local params = net:parameters()
  assert(#params == NPARAM, string.format("expected %d parameter tensors, got %d", NPARAM, #params))
  for i, param in ipairs(params) do
    check_shape("parameter " .. i, param, "param." .. i)
    param:copy(as_tensor("param." .. i))
  end
  return net
end

-- The BatchNorms in module order: block 1's, block 2's two, the classifier's.
local function batchnorms(net)
  return { net:block(1)[2], net:block(2)[1], net:block(2)[4], net.classifier[3] }
end

local function grad_floor(i)   -- grad.16 is noise around zero: compare it at grad.15's scale
  return i == 16 and record_scale("grad.15") or nil
end

local x, y = as_tensor("x"), record("y").values

-- One train-mode forward, the loss and every gradient.
do
  local net = build()
  local logits = net:forward(x)
  compare("logits", logits, "logits", NET_FORWARD)
  local ce, grad_logits = nn.cross_entropy(logits, y)
  compare("ce", ce, "ce", NET_FORWARD)
  local transport, blocks = net:transport()
  compare("transport", transport, "transport", NET_FORWARD)
  compare("block_cost", lap.tensor(blocks), "block_cost", NET_FORWARD)
  compare("loss", ce + 0.1 * transport, "loss", NET_FORWARD)
  net:zero_grad()
  local grad_x = net:backward(grad_logits, 0.1)
  compare("grad_x", grad_x, "grad_x", GRAD)
  local _, grads = net:parameters()
  for i, g in ipairs(grads) do compare("grad." .. i, g, "grad." .. i, GRAD, grad_floor(i)) end
  for k, bn in ipairs(batchnorms(net)) do
    compare("running_mean." .. k, bn.running_mean, "running_mean." .. k, NET_FORWARD)
    compare("running_var." .. k, bn.running_var, "running_var." .. k, NET_FORWARD)
  end
end

-- One SGD step on CE + 0.1 * C through the fixed-lambda trainer, then eval-mode logits.
do
  local net = build()
  local trainer = lap.train.Regularized {
    net = net, optimizer = lap.optim.SGD { lr = 0.1, momentum = 0.9, weight_decay = 1e-3 }, lambda = 0.1 }
  local stats = trainer:step(x, y)
  compare("sgd.loss.1", stats.loss, "sgd.loss.1", NET_FORWARD)
  for i, param in ipairs(net:parameters()) do
    compare("sgd.step1.param." .. i, param, "sgd.step1.param." .. i, GRAD)
  end
  net:evaluate()
  compare("sgd.eval_logits", net:forward(x), "sgd.eval_logits", GRAD)
end

-- ConvTranspose2d(6, 4, 5, stride 2, padding 2, output_padding 1): (2,6,4,4) -> (2,4,8,8).
do
  local m = nn.ConvTranspose2d(6, 4, 5, { stride = 2, padding = 2, output_padding = 1 })
  local params, grads = m:parameters()
  assert(#params == 2, "ConvTranspose2d: expected weight and bias, got " .. #params .. " parameters")
  check_shape("ConvTranspose2d weight", params[1], "convt.weight")
  params[1]:copy(as_tensor("convt.weight"))
  params[2]:copy(as_tensor("convt.bias"))
  local out = m:forward(as_tensor("convt.x"))
  check_shape("ConvTranspose2d output", out, "convt.out")
  compare("convt.out", out, "convt.out", LAYER_FORWARD)
  m:zero_grad()
  local grad_x = m:backward(as_tensor("convt.R"))
  compare("convt.grad_x", grad_x, "convt.grad_x", GRAD)
  compare("convt.grad_weight", grads[1], "convt.grad_weight", GRAD)
  compare("convt.grad_bias", grads[2], "convt.grad_bias", GRAD)
end

-- Pooling on (2, 3, 6, 6).
do
  local pool_x = as_tensor("pool.x")
  for _, case in ipairs {
    { "max", function() return nn.MaxPool2d(2) end },
    { "avg", function() return nn.AvgPool2d(2) end },
    { "gap", function() return nn.GlobalAvgPool() end },
    { "max3", function() return nn.MaxPool2d(3, { stride = 2, padding = 1 }) end },
    { "avg3", function() return nn.AvgPool2d(3, { stride = 2, padding = 1 }) end },
  } do
    local name, make = "pool." .. case[1], case[2]
    local m = make()
    local out = m:forward(pool_x)
    check_shape(name .. " output", out, name .. ".out")
    compare(name .. ".out", out, name .. ".out", LAYER_FORWARD)
    compare(name .. ".grad_x", m:backward(as_tensor(name .. ".R")), name .. ".grad_x", GRAD)
  end
end

print(string.format("%d values compared with PyTorch, %d mismatching records", checks, failures))
assert(failures == 0, "lap disagrees with the PyTorch reference")
