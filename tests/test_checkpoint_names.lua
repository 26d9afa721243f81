-- test_checkpoint_names.lua: checkpoints save enums as names, not integers.  A
-- trainer file names its trainer kind by its rule ("lap_cost_over_lambda" for
-- rule = "main", "lap_lambda_times_ce" for "cloud4", "plain", "fixed_lambda") and
-- its optimizer; the architecture names the ResNet's transport form.  A file
-- written before kinds were names (lap.trainer.kind "0".."3") still loads; a
-- name of another kind is refused naming both kinds.
-- Run: ./laprun tests/test_checkpoint_names.lua

local tmpdir = os.tmpname()
os.remove(tmpdir)
assert(os.execute("mkdir -p '" .. tmpdir .. "'"))
local function tmp(name) return tmpdir .. "/" .. name end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The JSON header of a safetensors file and its data.
local function split(path)
  local s = read(path)
  local length = string.unpack("<I8", s)
  return s:sub(9, 8 + length), s:sub(9 + length)
end

local function metadata(path, key)
  local header = split(path)
  return header:match('"' .. key:gsub("%.", "%%.") .. '"%s*:%s*"([^"]*)"')
end

local function with_meta(source, key, value, path)
  local header, data = split(source)
  local new, count = header:gsub('("' .. key:gsub("%.", "%%.") .. '"%s*:%s*)"[^"]*"', '%1"' .. value .. '"')
  assert(count == 1, "metadata " .. key .. " not found")
  local f = assert(io.open(path, "wb"))
  f:write(string.pack("<I8", #new), new, data)
  f:close()
  return path
end

local data = lap.data.circles { n = 40, factor = 0.3, noise = 0.05, seed = 0 }
local function make(kind, rule)
  local net = lap.nn.ResNet { blocks = 2, block = function() return lap.nn.Sequential {
    lap.nn.Linear(2, 2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end, classifier = lap.nn.Linear(2, 2),
    transport = "frobenius" }
  lap.init.kaiming(net, { seed = 1 })
  local optimizer = lap.optim.Adam { lr = 0.01 }
  if kind == "Plain" then return lap.train.Plain { net = net, optimizer = optimizer, seed = 4 } end
  if kind == "Regularized" then
    return lap.train.Regularized { net = net, optimizer = optimizer, lambda = 0.5, seed = 4 }
  end
  return lap.train.LAP { net = net, optimizer = optimizer, lambda0 = 0.5, tau = 0.1, steps = 2, seed = 4, rule = rule }
end

local cases = {
  { "Plain", nil, "plain", 0 },
  { "Regularized", nil, "fixed_lambda", 1 },
  { "LAP", "main", "lap_cost_over_lambda", 2 },
  { "LAP", "cloud4", "lap_lambda_times_ce", 3 },
}
for i, case in ipairs(cases) do
  local trainer = make(case[1], case[2])
  trainer:epoch(data, { batch = 10 })
  local path = tmp("trainer" .. i .. ".safetensors")
  trainer:save(path)
  assert(metadata(path, "lap.trainer.kind") == case[3],
    case[3] .. ": saved as '" .. tostring(metadata(path, "lap.trainer.kind")) .. "'")
  assert(metadata(path, "lap.optimizer.kind") == "Adam", "the optimizer kind is not saved by name")
  assert(split(path):find('\\"transport\\":\\"frobenius\\"', 1, true),
    "the transport form is not saved by name")
  -- Loads back, and so does the same file with the integer an older lap wrote.
  local other = make(case[1], case[2])
  other:load(path)
  assert(other.lambda == trainer.lambda and other.iteration == trainer.iteration, case[3] .. ": not restored")
  local old = with_meta(path, "lap.trainer.kind", tostring(case[4]), tmp("old" .. i .. ".safetensors"))
  local from_old = make(case[1], case[2])
  from_old:load(old)
  assert(from_old.lambda == trainer.lambda, case[3] .. ": an older file (kind " .. case[4] .. ") did not load")
  -- Another kind's name is refused, naming both.
  local wrong = cases[i % #cases + 1][3]
  local ok, message = pcall(other.load, other, with_meta(path, "lap.trainer.kind", wrong, tmp("wrong.safetensors")))
  assert(not ok and message:find(wrong, 1, true) and message:find(case[3], 1, true),
    case[3] .. ": a file of kind " .. wrong .. " should be refused naming both, got " .. tostring(message))
end

os.execute("rm -rf '" .. tmpdir .. "'")
print("test_checkpoint_names.lua: ok")
