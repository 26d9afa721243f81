-- test_torch_reference.lua: lap against PyTorch on a small fully connected ResNet.
--
-- tests/fixtures/torch_resnet.txt is written by tests/make_torch_fixture.py
-- (Debian's python3-torch): Linear(3,4) encoder, 3 blocks Linear(4,5, no bias)-BN(5)-ReLU-
-- Linear(5,4), Linear(4,3) classifier, loss CE + 0.1 * C for the three transport
-- forms, then 3 SGD and 3 Adam steps.  Tolerances: a value a matches the reference
-- b when |a - b| <= tol * max(|b|, m), m the largest magnitude in the record
-- (so near-zero entries of a record are compared at the record's scale);
-- tol = 1e-5 for forward values, 1e-4 for gradients and optimizer trajectories.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local fixture = dofile(here .. "fixture.lua")(here .. "fixtures/torch_resnet.txt")
local record, as_tensor, flatten = fixture.record, fixture.tensor, fixture.flatten

local failures, checks = 0, 0
local function compare(what, actual, name, tol)
  local expected = record(name).values
  local values = type(actual) == "number" and { actual } or flatten(actual:totable())
  assert(#values == #expected, string.format("%s: %d values, reference %s has %d", what, #values, name, #expected))
  local scale = 0
  for _, b in ipairs(expected) do scale = math.max(scale, math.abs(b)) end
  for i, b in ipairs(expected) do
    checks = checks + 1
    local a = values[i]
    if math.abs(a - b) > tol * math.max(math.abs(b), scale) then
      failures = failures + 1
      print(string.format("FAIL %s[%d]: lap %.9g, pytorch %.9g (tolerance %g)", what, i, a, b, tol))
      break
    end
  end
end

local function build(form, p)
  local net = lap.nn.ResNet {
    encoder = lap.nn.Linear(3, 4),
    blocks = 3,
    block = function()
      return lap.nn.Sequential { lap.nn.Linear(4, 5, { bias = false }), lap.nn.BatchNorm(5), lap.nn.ReLU(), lap.nn.Linear(5, 4) }
    end,
    classifier = lap.nn.Linear(4, 3),
    transport = form, p = p,
  }
  local params = net:parameters()
  assert(#params == 19, "expected 19 parameter tensors, got " .. #params)
  for i, param in ipairs(params) do param:copy(as_tensor("param." .. i)) end
  return net
end

local x, y = as_tensor("x"), record("y").values

-- Forward, loss and every gradient for the three transport forms.
for _, case in ipairs { { "mean", "mean", 2 }, { "frob", "frobenius", 2 }, { "mean15", "mean", 1.5 } } do
  local prefix, form, p = case[1], case[2], case[3]
  local net = build(form, p)
  local logits = net:forward(x)
  compare(prefix .. ".logits", logits, prefix .. ".logits", 1e-5)
  local ce, grad_logits = lap.nn.cross_entropy(logits, y)
  compare(prefix .. ".ce", ce, prefix .. ".ce", 1e-5)
  local transport, blocks = net:transport()
  compare(prefix .. ".transport", transport, prefix .. ".transport", 1e-5)
  compare(prefix .. ".block_cost", lap.tensor(blocks), prefix .. ".block_cost", 1e-5)
  compare(prefix .. ".loss", ce + 0.1 * transport, prefix .. ".loss", 1e-5)
  net:zero_grad()
  local grad_x = net:backward(grad_logits, 0.1)
  compare(prefix .. ".grad_x", grad_x, prefix .. ".grad_x", 1e-4)
  local _, grads = net:parameters()
  for i, g in ipairs(grads) do compare(prefix .. ".grad." .. i, g, prefix .. ".grad." .. i, 1e-4) end
  for k = 1, 3 do
    local bn = net:block(k)[2]
    compare(prefix .. ".running_mean." .. k, bn.running_mean, prefix .. ".running_mean." .. k, 1e-5)
    compare(prefix .. ".running_var." .. k, bn.running_var, prefix .. ".running_var." .. k, 1e-5)
  end
end

-- Three optimizer steps on loss = CE + 0.1 * C (mean, p = 2), then eval-mode logits.
for _, case in ipairs {
  { "sgd", function() return lap.optim.SGD { lr = 0.1, momentum = 0.9, weight_decay = 1e-3 } end },
  { "adam", function() return lap.optim.Adam { lr = 0.01, betas = { 0.9, 0.99 }, eps = 1e-8 } end },
} do
  local prefix, make = case[1], case[2]
  local net = build("mean", 2)
  local trainer = lap.train.Regularized { net = net, optimizer = make(), lambda = 0.1 }
  for s = 1, 3 do
    local stats = trainer:step(x, y)
    compare(prefix .. ".loss." .. s, stats.loss, prefix .. ".loss." .. s, 1e-4)
  end
  for i, param in ipairs(net:parameters()) do
    compare(prefix .. ".step3.param." .. i, param, prefix .. ".step3.param." .. i, 1e-4)
  end
  net:evaluate()
  compare(prefix .. ".eval_logits", net:forward(x), prefix .. ".eval_logits", 1e-4)
end

print(string.format("%d values compared with PyTorch, %d mismatching records", checks, failures))
assert(failures == 0, "lap disagrees with the PyTorch reference")
