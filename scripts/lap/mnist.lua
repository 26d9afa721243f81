-- lap.mnist: one instance of the paper's Table 1 protocol, as a function of a config
-- and a seed, for sweeps (experiments/mnist_table1.lua) — the protocol of
-- experiments/mnist.lua: a seeded random training subset normalized with its own
-- statistics, the MNIST OneRepResNet, orthogonal init gain 0.01, SGD lr 0.01
-- momentum 0.9 weight decay 1e-4, batch 128; "ResNet" (CE) or "LAP" (main.py's rule,
-- lambda0 = 5, tau = 1, s = 5); the highest test accuracy over the epochs.
--   local result = require("lap.mnist").train({ method = "LAP", train_size = 500 }, 1)
local models = require "lap.models"
require "lap.fit"   -- lap.fit, also when lap.so is used from plain lua

local M = {}

M.defaults = { method = "ResNet", train_size = 500, epochs = 30, data = "", test_size = 10000, lambda0 = 5,
  tau = 1, steps = 5, lr = 0.01, batch = 128, gain = 0.01, balanced = false }

-- The full sets are loaded once per process (a sweep worker runs many instances).
local loaded = {}
local function sets(dir, test_size)
  local key = dir .. "|" .. test_size
  if not loaded[key] then
    loaded[key] = { train = models.mnist_data(dir, "train"), test = models.mnist_data(dir, "test", test_size) }
  end
  return loaded[key].train, loaded[key].test
end

function M.train(config, seed)
  local c = {}
  for k, v in pairs(M.defaults) do c[k] = v end
  for k, v in pairs(config or {}) do c[k] = v end
  local train_full, test_full = sets(c.data, c.test_size)
  local train = train_full:subset_random { size = c.train_size, seed = seed, balanced = c.balanced }
  local test = test_full:subset((function() local rows = {} for i = 1, #test_full do rows[i] = i end return rows end)())
  local statistics = train:normalize()
  test:normalize(statistics)   -- the test copy is normalized, the cached set stays raw
  lap.manual_seed(seed)
  local net = models.one_rep_resnet { dataset = "mnist" }
  lap.init.orthogonal(net, { gain = c.gain })
  local optimizer = lap.optim.SGD { lr = c.lr, momentum = 0.9, weight_decay = 1e-4 }
  local trainer = c.method == "LAP"
    and lap.train.LAP { net = net, optimizer = optimizer, lambda0 = c.lambda0, tau = c.tau, steps = c.steps,
      rule = "main", seed = seed }
    or lap.train.Plain { net = net, optimizer = optimizer, seed = seed }
  local fitted = lap.fit { trainer = trainer, train = train, test = test, epochs = c.epochs, batch = c.batch,
    shuffle = true }
  local best, metrics = fitted.best, {}
  for epoch, r in ipairs(fitted.history) do
    metrics[epoch] = { train_loss = r.loss, test_accuracy = r.test_accuracy, test_transport = r.test_transport,
      lambda = r.lambda }
  end
  -- also the trained net, the normalized test set and the statistics (for probes and attacks)
  return { best_accuracy = best, epochs = c.epochs, epochs_metrics = metrics }, net, test, statistics
end

return M
