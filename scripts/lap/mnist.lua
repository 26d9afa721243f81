-- lap.mnist: one instance of the paper's Table 1 protocol, as a function of a config
-- and a seed, for sweeps (experiments/mnist_table1.lua) — the protocol of
-- experiments/mnist.lua: a seeded random training subset normalized with its own
-- statistics, the MNIST OneRepResNet, orthogonal init gain 0.01, SGD lr 0.01
-- momentum 0.9 weight decay 1e-4, batch 128; "ResNet" (CE) or "LAP" (main.py's rule,
-- lambda0 = 5, tau = 1, s = 5); the highest test accuracy over the epochs.
--   local result = require("lap.mnist").train({ method = "LAP", train_size = 500 }, 1)
--
-- Two protocols (config.protocol):
--   "lap"  (the default): the subset normalized with its own statistics, the test
--          accuracy over the first test_size test images.
--   "main" (main.py's dataloaders): MNIST's constants 0.1307/0.3081, the test
--          accuracy over a random half of the test set (5 000 images) drawn from
--          the seed, as main.py's validation half (whose best epoch it reports).
-- config.encoder = FILE: main.py's -lec 0, a pretrained encoder (a safetensors
-- file of experiments/autoencoder.lua --save-encoder) loaded and frozen, so the
-- gain-0.01 initialization leaves it alone; "" (the default) trains the encoder
-- from that initialization (main.py's default -lec 1).
-- M.indices(config, seed) gives the rows (0-based, as in the IDX files) an
-- instance trains and tests on, for the PyTorch replica (bench/reference/).
local models = require "lap.models"
require "lap.fit"   -- lap.fit, also when lap.so is used from plain lua

local M = {}

M.defaults = { method = "ResNet", train_size = 500, epochs = 30, data = "", test_size = 10000, lambda0 = 5,
  tau = 1, steps = 5, lr = 0.01, batch = 128, gain = 0.01, balanced = false, protocol = "lap", encoder = "" }

-- main.py's dataloaders (0.1307 and 0.3081 to 4 digits).
local MNIST_STATISTICS = { mean = { 0.1306604762738429 }, std = { 0.30810780717887876 } }

-- The full sets are loaded once per process (a sweep worker runs many instances).
local loaded = {}
local function sets(dir, test_size)
  local key = dir .. "|" .. test_size
  if not loaded[key] then
    loaded[key] = { train = models.mnist_data(dir, "train"), test = models.mnist_data(dir, "test", test_size) }
  end
  return loaded[key].train, loaded[key].test
end

local function merged(config)
  local c = {}
  for k, v in pairs(M.defaults) do c[k] = v end
  for k, v in pairs(config or {}) do c[k] = v end
  if c.protocol ~= "lap" and c.protocol ~= "main" then
    error("lap.mnist: protocol must be 'lap' or 'main', got '" .. tostring(c.protocol) .. "'", 3)
  end
  return c
end

-- The rows (1-based) that set:subset_random{size, seed, balanced} takes, by running
-- it on a dataset whose x holds the row numbers (so that the rows recorded are the
-- ones trained on by construction: M.train subsets with these same rows).
local function random_rows(set, size, seed, balanced)
  local numbers = {}
  for i = 1, #set do numbers[i] = i end
  local picked = lap.data.dataset(lap.tensor(numbers), set:labels())
    :subset_random { size = size, seed = seed, balanced = balanced }
  local rows = picked.x:totable()
  for i, v in ipairs(rows) do rows[i] = math.tointeger(v) end
  return rows
end

local function first_rows(n)
  local rows = {}
  for i = 1, n do rows[i] = i end
  return rows
end

-- Training and test rows (1-based) of an instance.
local function rows_of(c, seed, train_full, test_full)
  local train_rows = random_rows(train_full, c.train_size, seed, c.balanced)
  local test_rows = c.protocol == "main" and random_rows(test_full, #test_full // 2, seed, false)
    or first_rows(#test_full)
  return train_rows, test_rows
end

-- {train = {...}, test = {...}}: the 0-based rows of the full training and test
-- files an instance of config and seed uses.
function M.indices(config, seed)
  local c = merged(config)
  local train_full, test_full = sets(c.data, c.protocol == "main" and 10000 or c.test_size)
  local train_rows, test_rows = rows_of(c, seed, train_full, test_full)
  for i, r in ipairs(train_rows) do train_rows[i] = r - 1 end
  for i, r in ipairs(test_rows) do test_rows[i] = r - 1 end
  return { train = train_rows, test = test_rows }
end

function M.train(config, seed)
  local c = merged(config)
  local train_full, test_full = sets(c.data, c.protocol == "main" and 10000 or c.test_size)
  local train_rows, test_rows = rows_of(c, seed, train_full, test_full)
  local train, test = train_full:subset(train_rows), test_full:subset(test_rows)   -- copies: the cache stays raw
  local statistics = MNIST_STATISTICS
  if c.protocol == "main" then
    train:normalize(statistics)
  else
    statistics = train:normalize()
  end
  test:normalize(statistics)
  lap.manual_seed(seed)
  local encoder
  if c.encoder ~= "" then
    encoder = lap.nn.load(c.encoder)
    encoder:freeze()
  end
  local net = models.one_rep_resnet { dataset = "mnist", encoder = encoder }
  lap.init.orthogonal(net, { gain = c.gain })   -- skips a frozen encoder
  local optimizer = lap.optim.SGD { lr = c.lr, momentum = 0.9, weight_decay = 1e-4 }
  local trainer = c.method == "LAP"
    and lap.train.LAP { net = net, optimizer = optimizer, lambda0 = c.lambda0, tau = c.tau, steps = c.steps,
      rule = "main", seed = seed }
    or lap.train.Plain { net = net, optimizer = optimizer, seed = seed }
  -- A diverging run (too large a transport weight) keeps its best accuracy before
  -- it, as main.py's max over epochs would, and says at which epoch it diverged.
  local fitted = lap.fit { trainer = trainer, train = train, test = test, epochs = c.epochs, batch = c.batch,
    shuffle = true, diverged = "stop" }
  local best, metrics = fitted.best, {}
  for epoch, r in ipairs(fitted.history) do
    metrics[epoch] = { train_loss = r.loss, test_accuracy = r.test_accuracy, test_transport = r.test_transport,
      lambda = r.lambda }
  end
  -- also the trained net, the normalized test set and the statistics (for probes and attacks)
  return { best_accuracy = best, epochs = c.epochs, epochs_metrics = metrics,
    diverged_epoch = fitted.diverged and fitted.diverged.epoch or nil }, net, test, statistics
end

return M
