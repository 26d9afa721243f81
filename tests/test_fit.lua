-- test_fit.lua: lap.fit, the experiments' training loop: the same numbers as the
-- hand-written loop it replaced, the history, the best test accuracy and its
-- epoch, the stop conditions, on_epoch, a train function (augmentation), and
-- clear errors for bad arguments.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local expect_error = dofile(here .. "expect_error.lua")

local data = lap.data.circles { n = 200, factor = 0.3, noise = 0.05, seed = 2 }
local train, test = data:split { test = 0.2, seed = 2 }

local function trainer()
  lap.manual_seed(2)
  local net = lap.nn.ResNet { blocks = 2, block = function()
    return lap.nn.Sequential { lap.nn.Linear(2, 4), lap.nn.ReLU(), lap.nn.Linear(4, 2) } end,
    classifier = lap.nn.Linear(2, 2), transport = "frobenius" }
  return lap.train.LAP { net = net, optimizer = lap.optim.Adam { lr = 0.01 }, lambda0 = 0.1, tau = 0.1, steps = 5,
    rule = "cloud4", seed = 2 }
end

-- 1. The same numbers as the loop it replaces, epoch by epoch.
local reference = trainer()
local expected = {}
for epoch = 1, 4 do
  local stats = reference:epoch(train, { batch = 10, shuffle = false })
  local evaluation = reference:evaluate(test)
  expected[epoch] = { loss = stats.loss, accuracy = evaluation.accuracy, transport = evaluation.transport,
    lambda = reference.lambda }
end
local calls = {}
local result = lap.fit { trainer = trainer(), train = train, test = test, epochs = 4, batch = 10, shuffle = false,
  on_epoch = function(record, so_far)
    calls[#calls + 1] = { epoch = record.epoch, best = so_far.best, length = #so_far.history }
  end }
assert(#result.history == 4 and result.epochs == 4 and result.stopped == "epochs", "4 epochs run")
local best, best_epoch = 0, 0
for epoch, r in ipairs(result.history) do
  local e = expected[epoch]
  assert(r.epoch == epoch, "record's epoch")
  assert(r.loss == e.loss and r.test_accuracy == e.accuracy and r.test_transport == e.transport
    and r.lambda == e.lambda, string.format("epoch %d: fit gives loss %.9g, the loop %.9g", epoch, r.loss, e.loss))
  assert(r.evaluation.accuracy == r.test_accuracy and r.stats.loss == r.loss, "record keeps the raw tables")
  if e.accuracy > best then best, best_epoch = e.accuracy, epoch end
  -- on_epoch sees the record after it was added and the best so far.
  assert(calls[epoch].epoch == epoch and calls[epoch].length == epoch, "on_epoch called once per epoch, in order")
end
assert(result.best == best and result.best_epoch == best_epoch,
  string.format("best %.3f at %d, expected %.3f at %d", result.best, result.best_epoch, best, best_epoch))
assert(result.final == expected[4].accuracy and result.evaluation == result.history[4].evaluation, "final = last epoch")

-- 2. Best accuracy and its epoch, stop conditions: a fake trainer with fixed accuracies.
local function fake(train_accuracies, test_accuracies)
  local epoch = 0
  local t = { lambda = 1 }
  function t:epoch(_, options)
    epoch = epoch + 1
    t.options = options
    return { loss = 1 / epoch, ce = 1 / epoch, transport = 0, accuracy = train_accuracies[epoch] }
  end
  function t:evaluate() return { accuracy = test_accuracies[epoch], transport = epoch } end
  return t
end
local accuracies = { 0.5, 0.9, 0.7, 0.9, 0.8 }
result = lap.fit { trainer = fake({ 1, 1, 1, 1, 1 }, accuracies), train = train, test = test, epochs = 5 }
assert(result.best == 0.9 and result.best_epoch == 2, "the first epoch reaching the best: " .. result.best_epoch)
assert(result.final == 0.8 and #result.history == 5, "final accuracy and history length")

-- cloud4.py's rule: perfect from epoch 1 stops at epoch 4 (checked after more than 3 epochs).
local ones = { 1, 1, 1, 1, 1, 1, 1, 1 }
result = lap.fit { trainer = fake(ones, ones), train = train, test = test, epochs = 8,
  stop = { accuracy = 1, epochs = 3 } }
assert(result.epochs == 4 and #result.history == 4 and result.stopped == "stop", "stopped at " .. result.epochs)
-- Perfect test accuracy but an imperfect train epoch in the window: goes on.
result = lap.fit { trainer = fake({ 1, 1, 1, 0.9, 1, 1, 1, 1 }, ones), train = train, test = test, epochs = 8,
  stop = { epochs = 3 } }
assert(result.epochs == 7, "an imperfect epoch 4 restarts the count: stopped at " .. result.epochs)
-- A function: stop when it returns true; it sees the record and the result so far.
result = lap.fit { trainer = fake(ones, accuracies), train = train, test = test, epochs = 5,
  stop = function(record, so_far) return record.test_accuracy < so_far.best end }
assert(result.epochs == 3 and result.stopped == "stop", "a function stop condition")
-- epochs = 0 runs nothing.
result = lap.fit { trainer = fake(ones, ones), train = train, test = test, epochs = 0 }
assert(#result.history == 0 and result.best == 0 and result.final == nil, "no epochs")
-- Without a test set: training only, no test fields.
result = lap.fit { trainer = fake(ones, ones), train = train, epochs = 2 }
assert(#result.history == 2 and result.history[2].test_accuracy == nil and result.evaluation == nil, "no test set")

-- 3. Options reach trainer:epoch; a train function gets the epoch (augmentation).
local t = fake(ones, ones)
local seen = {}
lap.fit { trainer = t, train = function(epoch) seen[#seen + 1] = epoch return train end, epochs = 3, batch = 7,
  shuffle = false }
assert(#seen == 3 and seen[3] == 3, "train(epoch) called each epoch")
assert(t.options.batch == 7 and t.options.shuffle == false, "batch and shuffle passed to trainer:epoch")
lap.fit { trainer = t, train = train, epochs = 1 }
assert(t.options.batch == 128 and t.options.shuffle == nil, "default batch 128, trainer's default shuffle")

-- 4. Errors raised inside an epoch (Ctrl-C's "interrupted") reach the caller unchanged.
local interrupted = fake(ones, ones)
function interrupted.epoch() error("interrupted", 0) end
local ok, message = pcall(lap.fit, { trainer = interrupted, train = train, epochs = 2 })
assert(not ok and message == "interrupted", "the trainer's error passes through: " .. tostring(message))

-- 4b. diverged = "stop": a real trainer that diverges (SGD with a learning rate of
-- 1e30) ends the loop as a result, keeping the epochs before; without it, or for
-- any other error, the error passes through.
local function diverging()
  lap.manual_seed(2)
  local net = lap.nn.ResNet { blocks = 2, block = function()
    return lap.nn.Sequential { lap.nn.Linear(2, 4), lap.nn.ReLU(), lap.nn.Linear(4, 2) } end,
    classifier = lap.nn.Linear(2, 2), transport = "frobenius" }
  return lap.train.Plain { net = net, optimizer = lap.optim.SGD { lr = 1e30 }, seed = 2 }
end
result = lap.fit { trainer = diverging(), train = train, test = test, epochs = 5, batch = 10, diverged = "stop" }
assert(result.stopped == "diverged" and result.diverged and result.diverged.message:find("diverging", 1, true),
  "a diverging run should stop the loop as 'diverged': " .. tostring(result.stopped))
assert(result.diverged.epoch == #result.history + 1 and result.epochs == #result.history,
  "the history keeps the epochs before the one that diverged")
ok, message = pcall(lap.fit, { trainer = diverging(), train = train, test = test, epochs = 5, batch = 10 })
assert(not ok and tostring(message):find("diverging", 1, true), "by default the trainer's error passes through")
ok, message = pcall(lap.fit, { trainer = interrupted, train = train, epochs = 2, diverged = "stop" })
assert(not ok and message == "interrupted", "diverged = 'stop' lets other errors through: " .. tostring(message))
result = lap.fit { trainer = fake(ones, accuracies), train = train, test = test, epochs = 5, diverged = "stop" }
assert(result.stopped == "epochs" and result.diverged == nil and result.best == 0.9, "a sound run is unchanged")

-- 5. Bad arguments give clear errors naming lap.fit and the option.
expect_error("lap.fit: diverged must be \"error\" or \"stop\", got 1", lap.fit,
  { trainer = t, train = train, epochs = 1, diverged = 1 })
expect_error("lap.fit: expected an option table, got number", lap.fit, 3)
expect_error("lap.fit: unknown option 'epoch' (expected one of:", lap.fit, { trainer = t, train = train, epoch = 3 })
expect_error("lap.fit: trainer must be a lap.Trainer", lap.fit, { train = train, epochs = 1 })
expect_error("lap.fit: trainer must be a lap.Trainer", lap.fit, { trainer = 3, train = train, epochs = 1 })
expect_error("lap.fit: train is required", lap.fit, { trainer = t, epochs = 1 })
expect_error("lap.fit: train must be a dataset", lap.fit, { trainer = t, train = {}, epochs = 1 })
expect_error("lap.fit: test must be a dataset", lap.fit, { trainer = t, train = train, test = 1, epochs = 1 })
expect_error("lap.fit: epochs must be an integer >= 0, got nil", lap.fit, { trainer = t, train = train })
expect_error("lap.fit: epochs must be an integer >= 0, got 1.5", lap.fit, { trainer = t, train = train, epochs = 1.5 })
expect_error("lap.fit: batch must be an integer >= 1, got 0", lap.fit,
  { trainer = t, train = train, epochs = 1, batch = 0 })
expect_error("lap.fit: shuffle must be a boolean", lap.fit, { trainer = t, train = train, epochs = 1, shuffle = 1 })
expect_error("lap.fit: stop must be a function", lap.fit, { trainer = t, train = train, epochs = 1, stop = 1 })
expect_error("lap.fit: stop = {accuracy, epochs} needs a test set", lap.fit,
  { trainer = t, train = train, epochs = 1, stop = {} })
expect_error("lap.fit: unknown key 'patience' in stop", lap.fit,
  { trainer = t, train = train, test = test, epochs = 1, stop = { patience = 3 } })
expect_error("lap.fit: stop.epochs must be an integer >= 1", lap.fit,
  { trainer = t, train = train, test = test, epochs = 1, stop = { epochs = 0 } })
expect_error("lap.fit: on_epoch must be a function", lap.fit, { trainer = t, train = train, epochs = 1, on_epoch = 1 })
-- The error points at the caller's line, not inside fit.lua.
message = expect_error("lap.fit:", lap.fit, { trainer = t, train = train })
ok, message = pcall(function() lap.fit { trainer = t, train = train } end)
assert(message:find("test_fit.lua:", 1, true), "the error names the caller: " .. message)
print("test_fit: ok")
