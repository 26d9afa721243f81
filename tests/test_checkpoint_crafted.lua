-- test_checkpoint_crafted.lua: crafted checkpoints (issue 13, fault 5).  Every value
-- a trainer file holds is checked with the constructors' own rules before anything
-- changes; names are found through a hash (a header of 64 000 tensors loads in well
-- under a second, it took 14 s); an architecture is checked against the size of the
-- file's tensors before anything is allocated.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

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
local function write_safetensors(path, header, data)
  local f = assert(io.open(path, "wb"))
  f:write(string.pack("<I8", #header), header, data or "")
  f:close()
end
-- Rewrites one metadata value of a file written by trainer:save.
local function with_meta(source, key, value, path)
  local s = read(source)
  local length = string.unpack("<I8", s)
  local header, data = s:sub(9, 8 + length), s:sub(9 + length)
  local pattern = '("' .. key:gsub("%.", "%%.") .. '"%s*:%s*)"[^"]*"'
  local new, count = header:gsub(pattern, '%1"' .. value .. '"')
  assert(count == 1, "metadata " .. key .. " not found")
  write_safetensors(path, new, data)
  return path
end

local data = lap.data.circles { n = 40, factor = 0.3, noise = 0.05, seed = 0 }
local function make_trainer()
  local net = lap.nn.ResNet { blocks = 2, block = function() return lap.nn.Sequential {
    lap.nn.Linear(2, 2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end, classifier = lap.nn.Linear(2, 2) }
  lap.init.kaiming(net, { seed = 1 })
  return lap.train.LAP { net = net, lambda0 = 0.5, tau = 0.1, steps = 2, seed = 4,
    optimizer = lap.optim.SGD { lr = 0.05, momentum = 0.9 } }, net
end
local saved = make_trainer()
saved:epoch(data, { batch = 10 })
local good = tmp("good.safetensors")
saved:save(good)

local trainer, net = make_trainer()
local weight = net:parameters()[1]:clone()
local cases = {
  { "lap.rng.index", "nan", "metadata 'lap.rng.index' is nan, expected an integer in [0, 624]" },
  { "lap.rng.index", "625", "metadata 'lap.rng.index' is 625, expected an integer in [0, 624]" },
  { "lap.rng.has_gauss", "0.5", "metadata 'lap.rng.has_gauss' is 0.5" },
  { "lap.rng.gauss", "inf", "invalid generator state (lap.rng.gauss is inf)" },
  { "lap.optimizer.lr", "nan", "learning rate nan is not finite and >= 0" },
  { "lap.optimizer.lr", "-1", "learning rate -1 is not finite and >= 0" },
  { "lap.optimizer.lr", "inf", "learning rate inf" },
  { "lap.trainer.lambda", "nan", "lambda nan is not a valid weight" },
  { "lap.trainer.lambda", "0", "lambda 0 is not a valid weight" },
  { "lap.trainer.lambda", "-inf", "lambda -inf" },
  { "lap.optimizer.steps", "1e300", "metadata 'lap.optimizer.steps' is 1e300, expected an integer" },
  { "lap.optimizer.steps", "-3", "metadata 'lap.optimizer.steps' is -3" },
  { "lap.trainer.iteration", "2.5", "metadata 'lap.trainer.iteration' is 2.5" },
  { "lap.optimizer.epoch", "1e10", "metadata 'lap.optimizer.epoch' is 1e10" },
  { "lap.optimizer.nparams", "nan", "metadata 'lap.optimizer.nparams' is nan" },
  { "lap.trainer.kind", "nan", "metadata 'lap.trainer.kind' is nan" },
}
for i, case in ipairs(cases) do
  local path = with_meta(good, case[1], case[2], tmp("bad" .. i .. ".safetensors"))
  expect_error(case[3], trainer.load, trainer, path)
  -- Nothing changed: lambda, the weights.
  assert(trainer.lambda == 0.5, "a failed load changed lambda")
  assert((net:parameters()[1] - weight):abs():max() == 0, "a failed load changed the weights")
end
trainer:load(good)
assert(trainer.lambda == saved.lambda)

-- 64 000 tensors of shape [0]: each name was searched linearly among the others.
local parts = { "{" }
for i = 1, 64000 do
  parts[#parts + 1] = string.format('"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},', i)
end
parts[#parts + 1] = '"__metadata__":{}}'
local many = tmp("many.safetensors")
write_safetensors(many, table.concat(parts))
local start = lap.clock()
expect_error("no architecture", lap.nn.load, many)
local seconds = lap.clock() - start
assert(seconds < 5, "reading 64 000 tensor names took " .. seconds .. " s")

-- An architecture of BatchNorm(2e8) in a file of no tensors: refused before the
-- 1.5 GB of the module are allocated.
local tiny = tmp("tiny.safetensors")
write_safetensors(tiny, '{"__metadata__":{"lap.architecture":' ..
  '"{\\"type\\":\\"BatchNorm\\",\\"features\\":2e8,\\"momentum\\":0.1,\\"eps\\":1e-5}"}}')
expect_error("architecture: its parameters and statistics need 800000000 floats, but the file holds only 0",
  lap.nn.load, tiny)
-- The same for a Linear too large for the tensors the file has.
local linear = tmp("linear.safetensors")
lap.nn.Linear(3, 2):save(linear)
local s = read(linear)
local length = string.unpack("<I8", s)
local header = s:sub(9, 8 + length):gsub('\\"in\\":%s*3', '\\"in\\":300000000')
write_safetensors(linear, header, s:sub(9 + length))
expect_error("need 600000002 floats, but the file holds only 8", lap.nn.load, linear)

-- Found by make fuzz: an integer field beyond long long (2.2e19) was cast first and
-- checked after (undefined behaviour); one beyond int was truncated (2^32 + 1 -> 1).
local function pool_file(padding)
  local path = tmp("pool.safetensors")
  write_safetensors(path, '{"__metadata__":{"lap.architecture":' ..
    '"{\\"type\\":\\"MaxPool2d\\",\\"kernel\\":2,\\"stride\\":2,\\"padding\\":' .. padding .. '}"}}')
  return path
end
expect_error("architecture: MaxPool2d's 'padding' is not an integer", lap.nn.load, pool_file("22222220222222222220"))
expect_error("architecture: MaxPool2d's 'padding' is 4294967297, out of the range of an int", lap.nn.load,
  pool_file("4294967297"))
assert(lap.nn.load(pool_file("0")):type() == "MaxPool2d")

os.execute("rm -rf '" .. tmpdir .. "'")
print("test_checkpoint_crafted: ok")
