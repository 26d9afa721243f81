-- wrong_arguments.lua (run by tests/test_wrong_arguments.sh under a memory limit):
-- calls every function of `lap` and every method of its objects with arguments of
-- every wrong kind (nil, wrong types, NaN, +-inf, 0, negative, 2^31, 2^62, a huge
-- table), also as every option of the functions that take an option table, and
-- checks that each call either works or raises a Lua error with a message.  A crash
-- (under ASan: any memory error) fails the test by killing the process.
local huge = {}
for i = 1, 100000 do huge[i] = i end
local values = { n = 17, nil, false, true, "", {}, { {} }, function() end, 0 / 0, math.huge, -math.huge, 0, -1,
  1 << 31, 1 << 62, -(1 << 62), 0.5, huge }

local calls, errors = 0, 0
local function try(f, ...)
  calls = calls + 1
  local ok, message = pcall(f, ...)
  if not ok then
    errors = errors + 1
    assert(type(message) == "string", "an error without a message: " .. tostring(message))
  end
  return ok, message
end

-- The keys an option table of f accepts, from the error an unknown key raises.
local function option_keys(f, ...)
  local args = table.pack(...)
  args[args.n + 1] = { zzz_unknown = 1 }
  local ok, message = pcall(f, table.unpack(args, 1, args.n + 1))
  local list = not ok and type(message) == "string" and message:match("unknown option 'zzz_unknown' %(expected one of:? ([^)]*)%)")
  local keys = {}
  for key in (list or ""):gmatch("[%w_]+") do keys[#keys + 1] = key end
  return keys
end

-- f(prefix..., v), f(prefix..., v, v), f(prefix..., 1, v), and each option key = v.
local function exercise(f, make_prefix)
  for i = 1, values.n do
    local v = values[i]
    try(f, make_prefix(v))
    local p = table.pack(make_prefix())
    p[p.n + 1], p[p.n + 2] = v, v
    try(f, table.unpack(p, 1, p.n + 2))
    p[p.n + 1], p[p.n + 2] = 1, v
    try(f, table.unpack(p, 1, p.n + 2))
    p[p.n + 1], p[p.n + 2] = 2, 2
    p[p.n + 3] = v
    try(f, table.unpack(p, 1, p.n + 3))
  end
  for position = 0, 3 do
    local p = table.pack(make_prefix())
    for k = 1, position do p[p.n + k] = 2 end
    local keys = option_keys(f, table.unpack(p, 1, p.n + position))
    for _, key in ipairs(keys) do
      for i = 1, values.n do
        p[p.n + position + 1] = { [key] = values[i] }
        try(f, table.unpack(p, 1, p.n + position + 1))
      end
    end
  end
end

-- Functions of lap and its sub-tables.  lap.help* print the documentation.
local skip = { help = true, help_text = true, help_names = true }
local function each_function(t, prefix, seen)
  seen = seen or {}
  if seen[t] then return end
  seen[t] = true
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = t[k]
    if type(v) == "function" and not skip[k] then
      exercise(v, function(x) if x ~= nil then return x end end)
    elseif type(v) == "table" then
      each_function(v, prefix .. k .. ".", seen)
    end
  end
end
each_function(lap, "lap.")
local after_functions = calls

-- Methods, each on a fresh object of every kind.
local function block() return lap.nn.Sequential { lap.nn.Linear(2, 2), lap.nn.BatchNorm(2), lap.nn.ReLU() } end
local makers = {
  tensor = function() return lap.randn(3, 4) end,
  vector = function() return lap.randn(5) end,
  images = function() return lap.randn(2, 1, 6, 6) end,
  linear = function() return lap.nn.Linear(4, 2) end,
  batchnorm = function() return lap.nn.BatchNorm(4) end,
  relu = function() return lap.nn.ReLU { inplace = true } end,
  sequential = function() return block() end,
  resnet = function() return lap.nn.ResNet { blocks = 2, block = block, classifier = lap.nn.Linear(2, 2) } end,
  conv = function() return lap.nn.Conv2d(1, 2, 3, { padding = 1 }) end,
  convt = function() return lap.nn.ConvTranspose2d(1, 1, 2, { stride = 2 }) end,
  pool = function() return lap.nn.MaxPool2d(2) end,
  flatten = function() return lap.nn.Flatten() end,
  dataset = function() return lap.data.circles { n = 20, seed = 1 } end,
  image_dataset = function() return lap.data.dataset(lap.randn(4, 1, 6, 6), { 0, 1, 0, 1 }) end,
  optimizer = function() return lap.optim.Adam { lr = 0.01 } end,
  trainer = function()
    local net = lap.nn.ResNet { blocks = 1, block = block, classifier = lap.nn.Linear(2, 2) }
    return lap.train.LAP { net = net, optimizer = lap.optim.SGD { lr = 0.01 } }
  end,
}
local kinds = {}
for kind in pairs(makers) do kinds[#kinds + 1] = kind end
table.sort(kinds)
for _, kind in ipairs(kinds) do
  local object = makers[kind]()
  local mt = getmetatable(object)
  local methods = mt.__methods
  if not methods and type(mt.__index) == "function" then
    local _, up = debug.getupvalue(mt.__index, 1)
    methods = type(up) == "table" and up or {}
  end
  local names = {}
  for name, f in pairs(methods) do if type(f) == "function" then names[#names + 1] = name end end
  table.sort(names)
  for _, name in ipairs(names) do
    local f = methods[name]
    exercise(f, function(x)
      local fresh = makers[kind]()
      if x ~= nil then return fresh, x end
      return fresh
    end)
  end
  -- Metamethods with a wrong second operand.
  for _, event in ipairs { "__add", "__sub", "__mul", "__div", "__eq", "__index", "__newindex", "__len", "__tostring" } do
    if mt[event] then
      for i = 1, values.n do try(mt[event], makers[kind](), values[i], values[i]) end
    end
  end
end
print(string.format("wrong_arguments: %d calls (%d on functions), %d raised an error, no crash", calls,
  after_functions, errors))
