-- test_module_types.lua: every module type lap knows (lap.nn.types(), the type
-- table of runtime/nn/registry.c) survives a checkpoint exactly: its configuration
-- comes back (the file written again from the reloaded module is the same, byte for
-- byte, architecture JSON included) and the reloaded module computes the same
-- output, bit for bit, in eval and in train mode.  A type added to the table
-- without an example below fails this test, so every new type is covered.
-- Also: a BatchNorm with eps = 0.123456789, momentum = 0.3333333333 (more digits
-- than %g keeps) computes after a load exactly what it did, with its running
-- statistics.  Run: ./laprun tests/test_module_types.lua

local tmpdir = os.tmpname()
os.remove(tmpdir)
assert(os.execute("mkdir -p '" .. tmpdir .. "'"))
local function tmp(name) return tmpdir .. "/" .. name end

local function same(a, b)
  return a:numel() == b:numel() and (a - b):abs():max() == 0
end

local function file_bytes(path)
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("a")
  f:close()
  return bytes
end

-- Every parameter set to draws from N(0, 1), so that no output is trivially 0.
local function randomize(m)
  for _, p in ipairs(m:parameters()) do p:copy(lap.randn(p:numel())) end
end

local function leaf_block() return lap.nn.Sequential { lap.nn.Linear(3, 3), lap.nn.BatchNorm(3), lap.nn.Tanh() } end

-- One example per type: a module with a configuration away from the defaults,
-- and an input it takes.
local examples = {
  Linear = { make = function() return lap.nn.Linear(5, 3, { bias = false }) end, input = { 4, 5 } },
  BatchNorm = { make = function() return lap.nn.BatchNorm(3, { eps = 0.123456789, momentum = 0.3333333333 }) end,
    input = { 6, 3, 2, 2 } },
  LayerNorm = { make = function() return lap.nn.LayerNorm(5, { eps = 0.0123456789 }) end, input = { 2, 3, 5 } },
  ReLU = { make = function() return lap.nn.ReLU { inplace = true } end, input = { 4, 3 } },
  Tanh = { make = function() return lap.nn.Tanh() end, input = { 4, 3 } },
  Sigmoid = { make = function() return lap.nn.Sigmoid() end, input = { 4, 3 } },
  Sequential = { make = function()
      return lap.nn.Sequential { lap.nn.Linear(2, 4), lap.nn.BatchNorm(4, { eps = 1e-3 }), lap.nn.ReLU { inplace = true },
        lap.nn.Linear(4, 2):freeze() }
    end, input = { 5, 2 } },
  Conv2d = { make = function() return lap.nn.Conv2d(4, 6, 3, { stride = 2, padding = 1, groups = 2 }) end,
    input = { 2, 4, 7, 7 } },
  ConvTranspose2d = { make = function()
      return lap.nn.ConvTranspose2d(3, 2, 3, { stride = 2, padding = 1, output_padding = 1, bias = false })
    end, input = { 2, 3, 4, 4 } },
  AvgPool2d = { make = function() return lap.nn.AvgPool2d(3, { stride = 2, padding = 1 }) end, input = { 2, 2, 6, 6 } },
  MaxPool2d = { make = function() return lap.nn.MaxPool2d(2, { stride = 1 }) end, input = { 2, 2, 5, 5 } },
  GlobalAvgPool = { make = function() return lap.nn.GlobalAvgPool() end, input = { 2, 3, 4, 4 } },
  Flatten = { make = function() return lap.nn.Flatten() end, input = { 2, 3, 2, 2 } },
  ResNet = { make = function()
      return lap.nn.ResNet { blocks = 3, block = leaf_block, encoder = lap.nn.Linear(2, 3),
        classifier = lap.nn.Linear(3, 2), step = 0.7, relu_after = true, transport = "mean", p = 1.5 }
    end, input = { 6, 2 } },
}

local types = lap.nn.types()
assert(type(types) == "table" and #types >= 13, "lap.nn.types() should list every module type")
local seen = {}
for i, name in ipairs(types) do
  assert(type(name) == "string" and not seen[name], "lap.nn.types()[" .. i .. "] is not a new name")
  seen[name] = true
end
for name in pairs(examples) do
  assert(seen[name], "lap.nn.types() does not list " .. name)
end

for _, name in ipairs(types) do
  local example = examples[name]
  assert(example, "module type " .. name .. " has no example in tests/test_module_types.lua: add one")
  lap.manual_seed(7)
  local m = example.make()
  assert(m:type() == name, name .. ": the example makes a " .. m:type())
  randomize(m)
  local x = lap.randn(table.unpack(example.input))
  m:train()
  m:forward(x)   -- moves BatchNorm statistics away from (0, 1)
  local first = tmp(name .. ".safetensors")
  m:save(first)
  local loaded = lap.nn.load(first)
  assert(loaded:type() == name, name .. ": reloaded as a " .. loaded:type())
  assert(tostring(loaded) == tostring(m), name .. ": reloaded as\n" .. tostring(loaded) .. "\nnot\n" .. tostring(m))
  -- The configuration round trip: the reloaded module writes the same file.
  local again = tmp(name .. "-again.safetensors")
  loaded:save(again)
  assert(file_bytes(again) == file_bytes(first), name .. ": the reloaded module saves a different file")
  -- The same computation, in eval mode and in train mode (which updates statistics).
  m:evaluate()
  loaded:evaluate()
  assert(same(loaded:forward(x), m:forward(x)), name .. ": different output in eval mode after a load")
  m:train()
  loaded:train()
  local y = m:forward(x)
  assert(same(loaded:forward(x), y), name .. ": different output in train mode after a load")
  local g = lap.randn(table.unpack(y:size()))
  assert(same(loaded:backward(g), m:backward(g)), name .. ": different input gradient after a load")
  m:save(first)
  loaded:save(again)
  assert(file_bytes(again) == file_bytes(first), name .. ": different statistics after a train-mode forward")
end

-- The BatchNorm of the issue: every digit of eps and momentum survives.
do
  lap.manual_seed(3)
  local bn = lap.nn.BatchNorm(4, { eps = 0.123456789, momentum = 0.3333333333 })
  bn.weight:copy(lap.randn(4))
  bn.bias:copy(lap.randn(4))
  local x = lap.randn(16, 4) * 30 + 900
  bn:train()
  for _ = 1, 3 do bn:forward(x) end
  local path = tmp("bn.safetensors")
  bn:save(path)
  local back = lap.nn.load(path)
  assert(same(back.running_mean, bn.running_mean) and same(back.running_var, bn.running_var),
    "BatchNorm: running statistics changed by a save and load")
  bn:evaluate()
  back:evaluate()
  assert(same(back:forward(x), bn:forward(x)), "BatchNorm(eps = 0.123456789): different output in eval mode")
  bn:train()
  back:train()
  assert(same(back:forward(x), bn:forward(x)), "BatchNorm: different output in train mode")
  assert(same(back.running_mean, bn.running_mean) and same(back.running_var, bn.running_var),
    "BatchNorm(momentum = 0.3333333333): the running statistics move differently after a load")
  -- The issue's case: an untrained BatchNorm (running statistics 0 and 1) in eval
  -- mode on values near 943, where eps = 0.123457 (6 digits) gives another output.
  local fresh = lap.nn.BatchNorm(4, { eps = 0.123456789, momentum = 0.3333333333 }):evaluate()
  local fresh_path = tmp("bn-fresh.safetensors")
  fresh:save(fresh_path)
  local near = lap.randn(8, 4) + 943
  assert(same(lap.nn.load(fresh_path):evaluate():forward(near), fresh:forward(near)),
    "BatchNorm(eps = 0.123456789): an untrained one computes differently after a load")
  local rounded = lap.nn.BatchNorm(4, { eps = 0.123457 }):evaluate()
  assert(not same(rounded:forward(near), fresh:forward(near)),
    "eps 0.123457 and 0.123456789 should give different outputs near 943 (the test would not see the rounding)")
end

os.execute("rm -rf '" .. tmpdir .. "'")
print("test_module_types.lua: ok (" .. #types .. " types)")
