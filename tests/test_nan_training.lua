-- test_nan_training.lua: NaN never trains silently (issue 13, fault 9).  Non-finite
-- hyper-parameters are refused at construction; a step whose cross-entropy,
-- transport cost, lambda or loss is not finite stops with an error naming the epoch,
-- the step and the quantity, and leaves weights, BatchNorm statistics, optimizer
-- state and lambda as they were before it, so the trainer's last good state can be saved.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")
local nan, inf = 0 / 0, math.huge

local function block() return lap.nn.Sequential {
  lap.nn.Linear(2, 2), lap.nn.BatchNorm(2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end
local function make_net() return lap.nn.ResNet { blocks = 3, block = block, classifier = lap.nn.Linear(2, 2) } end

-- Construction.
local net = make_net()
expect_error("finite tau", lap.train.LAP, { net = net, tau = nan, optimizer = lap.optim.SGD {} })
expect_error("finite lambda0", lap.train.LAP, { net = net, lambda0 = inf, optimizer = lap.optim.SGD {} })
expect_error("lambda must be finite", lap.train.Regularized, { net = net, lambda = inf, optimizer = lap.optim.SGD {} })
expect_error("lambda must be finite", lap.train.Regularized, { net = net, lambda = nan, optimizer = lap.optim.SGD {} })
expect_error("momentum and weight_decay must be finite", lap.optim.SGD, { momentum = nan })
expect_error("momentum and weight_decay must be finite", lap.optim.SGD, { weight_decay = inf })
expect_error("lr must be >= 0", lap.optim.SGD, { lr = inf })
expect_error("eps finite", lap.optim.Adam, { eps = inf })
expect_error("gamma finite", lap.optim.SGD, { gamma = nan })
expect_error("eps finite and > 0", lap.nn.BatchNorm, 2, { eps = inf })
expect_error("step must be finite", lap.nn.ResNet, { blocks = 1, block = block, step = nan })
expect_error("p must be finite", lap.nn.ResNet, { blocks = 1, block = block, p = inf })
expect_error("std must be finite", lap.init.normal, net, { std = inf })

-- Training: one full batch a step, so that the step that meets the NaN is known.
local data = lap.data.circles { n = 64, factor = 0.3, noise = 0.05, seed = 2 }
for _, kind in ipairs { "LAP", "Regularized" } do
  lap.manual_seed(5)
  net = make_net()
  lap.init.kaiming(net)
  local options = { net = net, optimizer = lap.optim.SGD { lr = 0.05, momentum = 0.9 } }
  if kind == "Regularized" then options.lambda = 0.1 else options.steps = 1 end
  local trainer = lap.train[kind](options)
  trainer:epoch(data, { batch = 64, shuffle = false })
  local params = net:parameters()
  local before = {}
  for i, p in ipairs(params) do before[i] = p:clone() end
  local bn = net:block(2)[2]
  local mean, var = bn.running_mean:clone(), bn.running_var:clone()
  local lambda = trainer.lambda

  data.x[7][2] = nan   -- one NaN in the data
  local message = expect_error("train." .. kind .. ": epoch 2, step 2: the cross-entropy is nan", trainer.epoch,
    trainer, data, { batch = 64, shuffle = false })
  assert(message:find("the step was not taken", 1, true), message)
  for i, p in ipairs(params) do
    assert((p - before[i]):abs():max() == 0, kind .. ": parameter " .. i .. " changed in the failed step")
  end
  assert((bn.running_mean - mean):abs():max() == 0 and (bn.running_var - var):abs():max() == 0,
    kind .. ": BatchNorm statistics changed in the failed step")
  assert(trainer.lambda == lambda, kind .. ": lambda changed in the failed step")

  -- The last good state can be saved and resumed from, once the data is repaired.
  local path = os.tmpname()
  trainer:save(path)
  data.x[7][2] = 0.5
  local resumed = lap.train[kind](options)
  resumed:load(path)
  os.remove(path)
  local stats = resumed:epoch(data, { batch = 64, shuffle = false })
  assert(stats.loss == stats.loss and stats.loss < math.huge, kind .. ": training goes on after the repair")

  -- An infinity gives the same error.
  data.x[3][1] = inf
  expect_error("epoch 3, step 3: the", resumed.epoch, resumed, data, { batch = 64, shuffle = false })
  data.x[3][1] = 0.5
end
print("test_nan_training: ok")
