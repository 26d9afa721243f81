-- lap.circles: one training run of the authors' 2-D protocol (skander-karkar/internship
-- cloud4.py), as a function of a config table and a seed, for sweeps.
--
--   local circles = require "lap.circles"
--   local result = circles.train({ method = "LAP", bn = true, blocks = 9 }, 3)
--   print(result.best_accuracy, result.epochs)
--
-- Protocol (as experiments/circles.lua): make_circles(points, factor 0.3, noise 0.05),
-- 80/20 split, `blocks` blocks Linear(2,h) [BatchNorm(h)] ReLU Linear(h,2), a fixed
-- classifier W = [[1,1],[0,0]], b = [20,0], Adam lr 0.01 betas (0.9, 0.99), batch 10 in
-- the data's order, up to 100 epochs, stopping once train and test accuracy have both
-- been 1 for 3 epochs.  The seed s is the authors' dataseed and modelseed at once:
-- make_circles' random_state, the split's, the initial weights' (lap.manual_seed(s))
-- and the trainer's.  Methods: "ResNet" (CE), "Regularized" (CE + lambda C),
-- "LAP" (cloud4 rule: lambda CE + C, Uzawa step every `steps` steps).
local M = {}
require "lap.fit"   -- lap.fit, also when lap.so is used from plain lua

M.defaults = {
  method = "ResNet", bn = false, blocks = 9, points = 1000, hidden = 2, init = "kaiming", std = 5,
  gain = 1, epochs = 100, lambda = 0.04, lambda0 = 0.1, tau = 0.1, steps = 5, batch = 10, lr = 0.01,
  factor = 0.3, noise = 0.05, shuffle = false,
}

local known = {}
for k in pairs(M.defaults) do known[k] = true end

-- The config with defaults filled in; keys the trainer does not use (table labels
-- such as `table`) are kept as they are.
function M.config(config)
  local full = {}
  for k, v in pairs(M.defaults) do full[k] = v end
  for k, v in pairs(config or {}) do full[k] = v end
  return full
end

function M.build_net(c, seed)
  lap.manual_seed(seed)
  local net = lap.nn.ResNet {
    blocks = c.blocks,
    block = function()
      local layers = { lap.nn.Linear(2, c.hidden) }
      if c.bn then layers[#layers + 1] = lap.nn.BatchNorm(c.hidden) end
      layers[#layers + 1] = lap.nn.ReLU()
      layers[#layers + 1] = lap.nn.Linear(c.hidden, 2)
      return lap.nn.Sequential(layers)
    end,
    classifier = lap.nn.Linear(2, 2),
    transport = "frobenius",
  }
  local classifier = net.classifier
  classifier.weight:copy(lap.tensor { { 1, 1 }, { 0, 0 } })
  classifier.bias:copy(lap.tensor { 20, 0 })
  classifier:freeze()
  if c.init == "normal" then
    lap.init.normal(net, { std = c.std, bias = true })
  elseif c.init == "orthogonal" then
    lap.init.orthogonal(net, { gain = c.gain })
  elseif c.init == "kaiming" then
    lap.init.kaiming(net)
  else
    error("circles.train: unknown init '" .. tostring(c.init) .. "' (expected kaiming, normal or orthogonal)", 3)
  end
  return net
end

local function make_trainer(c, net, seed)
  local optimizer = lap.optim.Adam { lr = c.lr, betas = { 0.9, 0.99 } }
  if c.method == "ResNet" then
    return lap.train.Plain { net = net, optimizer = optimizer, seed = seed }
  elseif c.method == "Regularized" then
    return lap.train.Regularized { net = net, optimizer = optimizer, lambda = c.lambda, seed = seed }
  elseif c.method == "LAP" then
    return lap.train.LAP { net = net, optimizer = optimizer, lambda0 = c.lambda0, tau = c.tau, steps = c.steps,
      rule = "cloud4", seed = seed }
  end
  error("circles.train: unknown method '" .. tostring(c.method) .. "' (expected ResNet, Regularized or LAP)", 3)
end

-- Trains one network; returns {best_accuracy, final_accuracy, epochs, lambda,
-- transport, energy, epochs_metrics = {loss, train_accuracy, test_accuracy, lambda}}
-- (and the trained net and the test set as second and third values).
function M.train(config, seed)
  local c = M.config(config)
  seed = seed or 0
  local data = lap.data.circles { n = c.points, factor = c.factor, noise = c.noise, seed = seed }
  local train, test = data:split { test = 0.2, seed = seed }
  local net = M.build_net(c, seed)
  local trainer = make_trainer(c, net, seed)
  local metrics = { loss = {}, train_accuracy = {}, test_accuracy = {}, lambda = {} }
  -- cloud4.py: stop after 3 epochs at train and test accuracy 1.
  local fitted = lap.fit { trainer = trainer, train = train, test = test, epochs = c.epochs, batch = c.batch,
    shuffle = c.shuffle, stop = { accuracy = 1, epochs = 3 } }
  for epoch, r in ipairs(fitted.history) do
    metrics.loss[epoch], metrics.train_accuracy[epoch] = r.loss, r.train_accuracy
    metrics.test_accuracy[epoch], metrics.lambda[epoch] = r.test_accuracy, r.lambda
  end
  local result = { best_accuracy = fitted.best, final_accuracy = fitted.final or 0, epochs = fitted.epochs,
    epochs_metrics = metrics }
  local evaluation = trainer:evaluate(test)
  result.transport, result.energy, result.lambda = evaluation.transport, evaluation.energy, trainer.lambda
  return result, net, test
end

return M
