-- test_attack_torch.lua: lap's input gradient, FGSM, PGD and logistic regression
-- against PyTorch on the fixture network of tests/make_attack_fixture.py (a small
-- convolutional ResNet in eval mode with non-trivial BatchNorm running statistics,
-- MNIST-normalized inputs clipped to their valid range).
-- Tolerances: the loss to 1e-6 relative, the input gradient to 1e-4 of its largest
-- entry (float32 convolutions summed in another order); adversarial examples to
-- 1e-5 absolute where the fixture marks every sign the attack used as reliable
-- (|g| > 1e-4 max|g| at every step: elsewhere a rounding may flip a sign, a tie in
-- the attack's definition), and at least 95 % of the elements must be reliable;
-- the logistic regression's weights (double) to 1e-6.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local fixture = dofile(here .. "fixture.lua")(here .. "fixtures/torch_attack.txt")
local record, as_tensor, flatten = fixture.record, fixture.tensor, fixture.flatten

local net = lap.nn.ResNet {
  encoder = lap.nn.Sequential { lap.nn.Conv2d(1, 3, 3, { padding = 1 }), lap.nn.ReLU() },
  blocks = 2,
  block = function()
    return lap.nn.Sequential { lap.nn.Conv2d(3, 3, 3, { padding = 1, bias = false }), lap.nn.BatchNorm(3),
      lap.nn.ReLU(), lap.nn.Conv2d(3, 3, 3, { padding = 1 }) }
  end,
  classifier = lap.nn.Sequential { lap.nn.Flatten(), lap.nn.Linear(108, 4) },
}
local params = net:parameters()
assert(#params == 14, "the fixture lists 14 parameters, the net has " .. #params)
for i, p in ipairs(params) do p:copy(as_tensor("param." .. i)) end
for k = 1, 2 do
  net[k][2].running_mean:copy(as_tensor("running_mean." .. k))
  net[k][2].running_var:copy(as_tensor("running_var." .. k))
end
net:train()   -- the probes must use eval mode themselves

local x, y = as_tensor("x"), flatten(record("y").values)
local clip = record("clip").values
local function scalar(name) return record(name).values[1] end

local function values(t) return t:reshape(t:numel()):totable() end

-- input gradient and loss
local grad, loss = net:input_gradient(x, y)
assert(math.abs(loss - scalar("loss")) <= 1e-6 * math.abs(scalar("loss")),
  string.format("loss %.9g, pytorch %.9g", loss, scalar("loss")))
do
  local got, expected, scale = values(grad), record("grad_x").values, 0
  for _, v in ipairs(expected) do scale = math.max(scale, math.abs(v)) end
  for i, v in ipairs(expected) do
    assert(math.abs(got[i] - v) <= 1e-4 * scale, string.format("grad_x[%d]: lap %.9g, pytorch %.9g", i, got[i], v))
  end
  assert(net.training, "input_gradient left eval mode on")
end
print("input gradient and loss match PyTorch")

local function compare(name, adversarial)
  local got, expected, reliable = values(adversarial), record(name .. ".adv").values, record(name .. ".reliable").values
  local compared, worst = 0, 0
  for i, v in ipairs(expected) do
    if reliable[i] == 1 then
      compared = compared + 1
      worst = math.max(worst, math.abs(got[i] - v))
    end
  end
  assert(compared >= 0.95 * #expected, string.format("%s: only %d of %d elements reliable", name, compared, #expected))
  assert(worst <= 1e-5, string.format("%s: adversarial examples differ from PyTorch's by %.3g", name, worst))
  print(string.format("%s: %d of %d elements compared (reliable signs), largest difference %.2g", name, compared,
    #expected, worst))
end

compare("fgsm", lap.attack.fgsm { net = net, x = x, labels = y, epsilon = scalar("fgsm.epsilon"), clip = clip })
compare("pgd", lap.attack.pgd { net = net, x = x, labels = y, epsilon = scalar("pgd.epsilon"),
  alpha = scalar("pgd.alpha"), steps = math.tointeger(scalar("pgd.steps")), start = as_tensor("pgd.start"), clip = clip,
  batch = 5 })

-- logistic regression (doubles in and out: the fixture's values are exact to 9 digits)
do
  local lx, ly = as_tensor("logistic.x"), record("logistic.y").values
  local w = lap.logistic_fit(lx, ly, { l2 = scalar("logistic.l2"), standardize = false })
  for j, v in ipairs(record("logistic.w").values) do
    -- x went through float32 in the tensor: the optimum moves by about 1e-7
    assert(math.abs(w[j] - v) <= 1e-5 * math.max(1, math.abs(v)),
      string.format("logistic weight %d: lap %.9g, pytorch %.9g", j, w[j], v))
  end
  print("logistic regression matches PyTorch's Newton solution")
end
