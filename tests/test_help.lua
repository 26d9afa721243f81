-- test_help.lua: lap.help and help() (scripts/lap/help.lua).
--
-- Walks the live lap tables and the method tables of live objects, so every
-- function or method that exists now or appears later (lap.plot.*, lap.pca, ...)
-- must have a doc; then checks lookups by name, suggestions for unknown names,
-- and help(obj) for functions, tensors, modules, optimizers, trainers, datasets.
-- Run: ./laprun tests/test_help.lua

-- laprun puts <its dir>/scripts on package.path; a laprun built elsewhere
-- (build-asan/) does not find it there, so fall back to the tree of this file.
if not pcall(require, "lap.help") then
  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  package.path = here .. "/../scripts/?.lua;" .. package.path
  require "lap.help"
end
assert(type(lap.help) == "function", "lap.help is not installed")
assert(type(lap.help_names) == "function", "lap.help_names is not installed")
assert(type(help) == "function", "the global help is not installed")

-- Runs f(...) (lap.help or help, which print and return nothing) with print
-- captured; returns lap.help_text(...) for the same arguments and the printed text.
local function capture(f, ...)
  local printed = {}
  local saved = print
  print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    printed[#printed + 1] = table.concat(parts, "\t")
  end
  local ok, result = pcall(f, ...)
  print = saved
  if not ok then error(result, 0) end
  assert(result == nil, "lap.help and help should return nothing (the REPL would print it twice)")
  return lap.help_text(...), table.concat(printed, "\n")
end

local function contains(text, piece)
  return type(text) == "string" and text:find(piece, 1, true) ~= nil
end

local names = lap.help_names()
local documented = {}
for i, name in ipairs(names) do
  assert(type(name) == "string", "help_names()[" .. i .. "] is not a string")
  assert(i == 1 or names[i - 1] < name, "help_names() is not sorted and unique at " .. name)
  documented[name] = true
end
assert(#names >= 100, "only " .. #names .. " documented names")

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

local function expect_all_documented(missing, what)
  assert(#missing == 0, #missing .. " undocumented " .. what .. ": " .. table.concat(missing, ", "))
end

-- 1. Every function reachable in lap and its areas (lap.nn, lap.init, lap.optim,
-- lap.train, lap.data, lap.plot when present, and any other table in lap).
local functions = {}   -- { name, f } of every lap function, for help(f) below
do
  local missing = {}
  local function check(name, value)
    if type(value) == "function" then
      functions[#functions + 1] = { name = name, f = value }
      if not documented[name] then missing[#missing + 1] = "lap." .. name end
    end
  end
  for _, key in ipairs(sorted_keys(lap)) do
    local value = lap[key]
    check(key, value)
    if type(value) == "table" then
      for _, member in ipairs(sorted_keys(value)) do check(key .. "." .. member, value[member]) end
    end
  end
  for _, area in ipairs { "nn", "init", "optim", "train", "data" } do
    assert(type(lap[area]) == "table", "lap." .. area .. " is missing")
  end
  expect_all_documented(missing, "lap functions")
  assert(documented.version, "lap.version is not documented")
end

-- 2. Every method of the live objects' method tables, and the fields they answer.
local data = lap.data.circles { n = 40, seed = 1 }
local function block() return lap.nn.Sequential { lap.nn.Linear(2, 2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end
local net = lap.nn.ResNet { blocks = 2, block = block, classifier = lap.nn.Linear(2, 2), encoder = lap.nn.Linear(2, 2) }
local optimizer = lap.optim.Adam { lr = 0.01 }
local trainer = lap.train.LAP { net = net, optimizer = optimizer }
local objects = {
  { kind = "Tensor", value = lap.zeros(2, 2) },
  { kind = "Module", value = lap.nn.Linear(2, 2) },
  { kind = "Module", value = lap.nn.BatchNorm(2) },
  { kind = "Module", value = lap.nn.Sequential { lap.nn.ReLU() } },
  { kind = "Module", value = net },
  { kind = "Optimizer", value = optimizer },
  { kind = "Trainer", value = trainer },
  { kind = "Dataset", value = data },
}

-- The method table behind a metatable: __methods, a table __index, or the first
-- upvalue of a C __index function; nil when none can be found.
local function method_table(metatable)
  if type(metatable) ~= "table" then return nil end
  if type(metatable.__methods) == "table" then return metatable.__methods end
  if type(metatable.__index) == "table" then return metatable.__index end
  if type(metatable.__index) == "function" and debug and debug.getupvalue then
    local _, value = debug.getupvalue(metatable.__index, 1)
    if type(value) == "table" then return value end
  end
  return nil
end

-- Names to probe through __index whatever the method table says: the documented
-- members and common names that might be added later.
local probe_names = {
  "size", "dim", "numel", "sum", "mean", "norm", "std", "min", "max", "argmax", "argmin", "reshape", "view",
  "narrow", "select", "clone", "copy", "fill", "totable", "t", "abs", "pow", "sqrt", "exp", "log", "matmul",
  "transpose", "squeeze", "unsqueeze", "item", "zero", "add", "sub", "mul", "div", "dot", "var", "prod",
  "forward", "backward", "parameters", "train", "evaluate", "eval", "freeze", "unfreeze", "zero_grad", "type",
  "block", "displacements", "states", "transport", "predict", "line_shape", "children", "apply", "save", "load",
  "weight", "bias", "running_mean", "running_var", "training", "frozen", "encoder", "classifier", "nblocks",
  "bind", "step", "epoch_end", "lr", "steps", "nparams", "reset", "state",
  "epoch", "get_lambda", "lambda", "iteration", "kind", "net", "fit", "history",
  "split", "subset", "batches", "labels", "x", "y", "n", "classes", "shuffle",
}

do
  local missing, seen = {}, {}
  local function require_doc(kind, member, is_method)
    local method_name, field_name = kind .. ":" .. member, kind .. "." .. member
    local name = is_method and method_name or field_name
    if seen[name] then return end
    seen[name] = true
    local ok = is_method and documented[method_name] or (documented[field_name] or documented[method_name])
    if not ok then missing[#missing + 1] = name end
  end
  local found_tables = {}
  for _, object in ipairs(objects) do
    local methods = method_table(getmetatable(object.value))
    if methods then
      found_tables[object.kind] = true
      for _, member in ipairs(sorted_keys(methods)) do
        if type(methods[member]) == "function" then require_doc(object.kind, member, true) end
      end
    end
    for _, member in ipairs(probe_names) do
      local ok, value = pcall(function() return object.value[member] end)
      if ok and value ~= nil then require_doc(object.kind, member, type(value) == "function") end
    end
  end
  expect_all_documented(missing, "methods or fields")
  for _, kind in ipairs { "Tensor", "Module", "Optimizer", "Trainer", "Dataset" } do
    assert(found_tables[kind], "no method table found for " .. kind)
    assert(documented[kind], "no overview doc for " .. kind)
  end
end

-- 3. Every documented name is found again by lap.help and gives a paragraph.
for _, name in ipairs(names) do
  local text, printed = capture(lap.help, name)
  assert(type(text) == "string" and #text > 20, "lap.help('" .. name .. "') returned no text")
  assert(printed == text, "lap.help('" .. name .. "') should print what it returns")
end

-- 4. Lookups: the ResNet paragraph, prefixes, method spellings, areas.
do
  local text, printed = capture(lap.help, "nn.ResNet")
  assert(contains(text, "blocks") and contains(printed, "blocks"), "nn.ResNet's doc should mention blocks")
  assert(contains(text, "transport") and contains(text, "frobenius"), "nn.ResNet's doc should describe transport")
  assert(capture(lap.help, "lap.nn.ResNet") == text, "the lap. prefix should be accepted")
  local same = {
    { "Tensor:sum", "lap.Tensor:sum", "t:sum", "Tensor.sum" },
    { "Module:forward", "net:forward", "Module.forward" },
    { "Trainer:epoch", "trainer:epoch" },
    { "Dataset:split", "data:split" },
    { "Optimizer:step", "opt:step" },
    { "Module.weight", "m.weight" },
  }
  for _, spellings in ipairs(same) do
    local reference = capture(lap.help, spellings[1])
    assert(reference, spellings[1] .. " not found")
    for i = 2, #spellings do
      assert(capture(lap.help, spellings[i]) == reference, spellings[i] .. " should give " .. spellings[1])
    end
  end
  local area = capture(lap.help, "nn")
  assert(contains(area, "nn.Linear") and contains(area, "nn.cross_entropy"), "lap.help('nn') should list lap.nn")
  local all, printed_all = capture(lap.help)
  assert(all == printed_all and contains(all, "nn.ResNet") and contains(all, "Tensor:sum")
    and contains(all, "Dataset:split"), "lap.help() should list the names")
  assert(capture(help) == all and capture(help, nil) == all, "help() and help(nil) should be lap.help()")
  assert(capture(help, "nn.ResNet") == text, "help(string) should be lap.help(string)")
end

-- 5. Unknown names: nil, "no help for", close matches.
do
  local result, printed = capture(lap.help, "nn.Resnet")
  assert(result == nil, "an unknown name should return nil")
  assert(contains(printed, "no help for 'nn.Resnet'"), "unknown name message missing: " .. printed)
  assert(contains(printed, "nn.ResNet"), "nn.Resnet should suggest nn.ResNet: " .. printed)
  result, printed = capture(lap.help, "Tensor:argmx")
  assert(result == nil and contains(printed, "Tensor:argmax"), "Tensor:argmx should suggest Tensor:argmax")
  result, printed = capture(lap.help, "zzzzzzzzzzzz")
  assert(result == nil and contains(printed, "no help for 'zzzzzzzzzzzz'"), "nonsense should find nothing")
  local suggested = select(2, printed:gsub(",", ","))
  assert(suggested <= 4, "at most 5 suggestions")
end

-- 6. help(obj).
do
  local text, printed = capture(help, lap.nn.Linear)
  assert(text == capture(lap.help, "nn.Linear"), "help(lap.nn.Linear) should print the Linear doc")
  assert(contains(printed, "lap.nn.Linear(in, out"), "help(lap.nn.Linear) printed: " .. printed)
  for _, entry in ipairs(functions) do
    local found = capture(help, entry.f)
    assert(found ~= nil, "help(lap." .. entry.name .. ") found no doc")
  end
  assert(capture(help, lap.zeros(1).sum) == capture(lap.help, "Tensor:sum"), "help(t.sum)")
  assert(capture(help, net.forward) == capture(lap.help, "Module:forward"), "help(net.forward)")

  local tensor_text = capture(help, lap.zeros(2, 3))
  assert(contains(tensor_text, "Tensor:sum") and contains(tensor_text, "Tensor:narrow"),
    "help(tensor) should list the Tensor methods")
  local resnet_text = capture(help, net)
  assert(contains(resnet_text, "blocks") and contains(resnet_text, "Module:displacements")
    and contains(resnet_text, "Module:forward"), "help(net) should give the ResNet doc, probes and methods")
  local linear_text = capture(help, lap.nn.Linear(2, 3))
  assert(contains(linear_text, "lap.nn.Linear(in, out") and contains(linear_text, "Module:backward"),
    "help(linear) should give the Linear doc and the Module methods")
  local bn_text = capture(help, lap.nn.BatchNorm(2))
  assert(contains(bn_text, "running_mean"), "help(batchnorm) should mention running_mean")
  assert(contains(capture(help, optimizer), "Optimizer:step"), "help(optimizer)")
  assert(contains(capture(help, optimizer), "lap.optim.Adam"), "help(adam) should give the Adam doc")
  assert(contains(capture(help, trainer), "Trainer:epoch") and contains(capture(help, trainer), "lap.train.LAP"),
    "help(trainer)")
  assert(contains(capture(help, data), "Dataset:split"), "help(dataset)")

  for _, value in ipairs { 42, true, {}, print, coroutine.create(function() end) } do
    local result, message = capture(help, value)
    assert(result == nil and contains(message, "no documentation"), "help(" .. type(value) .. ") should say so")
  end
end

print(string.format("test_help: ok (%d documented names, %d lap functions)", #names, #functions))
