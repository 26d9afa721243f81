-- lap.fit: the training loop of every experiment, written once.
--
--   local result = lap.fit { trainer = t, train = train, test = test, epochs = 30, batch = 128 }
--   print(result.best, result.best_epoch, #result.history)
--
-- Each epoch: trainer:epoch(train, {batch, shuffle}), then trainer:evaluate(test)
-- when there is a test set, then a record of the epoch is appended to the history,
-- the best test accuracy is updated, on_epoch(record, result) is called, and the
-- stop condition is checked.  It calls exactly what the experiments' own loops
-- called, in the same order, so the numbers are the same for the same seeds.
--
-- Limits: errors (a wrong shape, Ctrl-C's "interrupted" inside trainer:epoch) are
-- not caught: they end the loop and reach the caller as they would from a
-- hand-written loop.  The one exception, on request (diverged = "stop"): a
-- trainer's "diverging run" error (a NaN or an infinity in the loss, the transport
-- or the weights) ends the loop as a result, stopped = "diverged", so that a sweep
-- records the instance as main.py would (the best accuracy before it) and goes on.
-- The final evaluation after training, if wanted, is the caller's
-- (result.evaluation is the last epoch's).
local lap = rawget(_G, "lap") or require "lap"

local OPTIONS = { trainer = true, train = true, test = true, epochs = true, batch = true, shuffle = true,
  stop = true, on_epoch = true, diverged = true }
local OPTION_LIST = "trainer, train, test, epochs, batch, shuffle, stop, on_epoch, diverged"

-- level: 1 + the number of frames between fail and fit's caller.
local function fail(message, level)
  error("lap.fit: " .. message, level or 4)
end

-- stop = {accuracy = a, epochs = n}: cloud4.py's rule, stop once train and test
-- accuracy have both been >= a in the last n epochs, checked from epoch n + 1 on
-- (cloud4 starts checking after epoch n, so a run perfect from epoch 1 stops at n + 1).
local function plateau(rule)
  local accuracy, epochs = rule.accuracy or 1, rule.epochs or 3
  for key in pairs(rule) do
    if key ~= "accuracy" and key ~= "epochs" then
      fail("unknown key '" .. tostring(key) .. "' in stop (expected accuracy, epochs, or a function)", 5)
    end
  end
  if type(accuracy) ~= "number" then fail("stop.accuracy must be a number, got " .. type(accuracy), 5) end
  if math.type(epochs) ~= "integer" or epochs < 1 then
    fail("stop.epochs must be an integer >= 1, got " .. tostring(epochs), 5)
  end
  return function(record, result)
    if record.epoch <= epochs then return false end
    local history = result.history
    for e = record.epoch - epochs + 1, record.epoch do
      local r = history[e]
      if not (r.train_accuracy >= accuracy and r.test_accuracy and r.test_accuracy >= accuracy) then return false end
    end
    return true
  end
end

local function check(options)
  if type(options) ~= "table" then fail("expected an option table, got " .. type(options)) end
  for key in pairs(options) do
    if not OPTIONS[key] then
      fail("unknown option '" .. tostring(key) .. "' (expected one of: " .. OPTION_LIST .. ")")
    end
  end
  -- A lap.Trainer, or anything with an epoch method (and evaluate with a test set): the tests' fakes.
  local trainer = options.trainer
  local ok, epoch_method = pcall(function() return trainer.epoch end)
  if not ok or epoch_method == nil then
    fail("trainer must be a lap.Trainer (lap.train.Plain, Regularized or LAP), got " ..
      (trainer == nil and "nil" or tostring(trainer)))
  end
  local train = options.train
  if train == nil then fail("train is required (a dataset, or a function(epoch) returning one)") end
  if type(train) ~= "function" and type(train) ~= "userdata" then
    fail("train must be a dataset or a function(epoch) returning one, got " .. type(train))
  end
  if options.test ~= nil and type(options.test) ~= "userdata" then
    fail("test must be a dataset, got " .. type(options.test))
  end
  local epochs = options.epochs
  if math.type(epochs) ~= "integer" or epochs < 0 then
    fail("epochs must be an integer >= 0, got " .. tostring(epochs))
  end
  local batch = options.batch
  if batch ~= nil and (math.type(batch) ~= "integer" or batch < 1) then
    fail("batch must be an integer >= 1, got " .. tostring(batch))
  end
  if options.shuffle ~= nil and type(options.shuffle) ~= "boolean" then
    fail("shuffle must be a boolean, got " .. type(options.shuffle))
  end
  local stop = options.stop
  if type(stop) == "table" then
    if options.test == nil then fail("stop = {accuracy, epochs} needs a test set") end
    stop = plateau(stop)
  elseif stop ~= nil and type(stop) ~= "function" then
    fail("stop must be a function(record, result) or {accuracy = a, epochs = n}, got " .. type(stop))
  end
  if options.diverged ~= nil and options.diverged ~= "error" and options.diverged ~= "stop" then
    fail("diverged must be \"error\" or \"stop\", got " .. tostring(options.diverged))
  end
  if options.on_epoch ~= nil and type(options.on_epoch) ~= "function" then
    fail("on_epoch must be a function(record, result), got " .. type(options.on_epoch))
  end
  return stop
end

-- Returns result = {history = {record, ...}, epochs, best, best_epoch, final,
-- evaluation, stopped, diverged}; stopped is "epochs", "stop" or "diverged" (then
-- diverged = {epoch = e, message = the trainer's error}); a record is {epoch, loss,
-- ce, transport, train_accuracy, test_accuracy, test_transport, lambda, seconds,
-- stats, evaluation}: lambda is
-- trainer.lambda after the epoch, seconds the time since fit started.
local function fit(options)
  local stop = check(options)
  local trainer, test, on_epoch = options.trainer, options.test, options.on_epoch
  local epoch_options = { batch = options.batch or 128 }
  if options.shuffle ~= nil then epoch_options.shuffle = options.shuffle end
  local result = { history = {}, epochs = 0, best = 0, best_epoch = 0, final = nil, evaluation = nil,
    stopped = "epochs" }
  local started = lap.clock()
  for epoch = 1, options.epochs do
    local data = options.train
    if type(data) == "function" then data = data(epoch) end
    local stats
    if options.diverged == "stop" then
      local ok, outcome = pcall(trainer.epoch, trainer, data, epoch_options)
      if not ok then
        if type(outcome) == "string" and outcome:find("diverging", 1, true) then
          result.stopped, result.diverged = "diverged", { epoch = epoch, message = outcome }
          break
        end
        error(outcome, 0)
      end
      stats = outcome
    else
      stats = trainer:epoch(data, epoch_options)
    end
    local evaluation = test and trainer:evaluate(test) or nil
    local record = { epoch = epoch, loss = stats.loss, ce = stats.ce, transport = stats.transport,
      train_accuracy = stats.accuracy, lambda = trainer.lambda, seconds = lap.clock() - started, stats = stats,
      evaluation = evaluation }
    if evaluation then
      record.test_accuracy, record.test_transport = evaluation.accuracy, evaluation.transport
      if evaluation.accuracy > result.best then result.best, result.best_epoch = evaluation.accuracy, epoch end
      result.final, result.evaluation = evaluation.accuracy, evaluation
    end
    result.history[epoch] = record
    result.epochs = epoch
    if on_epoch then on_epoch(record, result) end
    if stop and stop(record, result) then
      result.stopped = "stop"
      break
    end
  end
  return result
end

lap.fit = fit
return fit
