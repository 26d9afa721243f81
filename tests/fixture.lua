-- tests/fixture.lua: reads the PyTorch fixtures (tests/fixtures/torch_*.txt), one
-- record per line: `name ndim d1 ... dn v1 ... vN`, '#' lines skipped.
--   local fixture = dofile(here .. "fixture.lua")(here .. "fixtures/torch_resnet.txt")
--   fixture.record(name) -> {shape, values}; fixture.tensor(name) -> a lap tensor;
--   fixture.flatten(nested_table) -> a flat list of numbers.
return function(path)
  local records = {}
  for line in io.lines(path) do
    if line:sub(1, 1) ~= "#" then
      local words = {}
      for w in line:gmatch("%S+") do words[#words + 1] = w end
      local name, ndim = words[1], tonumber(words[2])
      local shape, values = {}, {}
      for i = 1, ndim do shape[i] = tonumber(words[2 + i]) end
      for i = 3 + ndim, #words do values[#values + 1] = tonumber(words[i]) end
      records[name] = { shape = shape, values = values }
    end
  end
  local fixture = { records = records }
  function fixture.record(name)
    local r = records[name]
    assert(r, "fixture has no record " .. name)
    return r
  end
  function fixture.tensor(name)
    local r = fixture.record(name)
    local t = lap.zeros(table.unpack(r.shape))
    local flat = t:reshape(#r.values)
    for i, v in ipairs(r.values) do flat[i] = v end
    return t
  end
  function fixture.flatten(t)
    local out = {}
    local function walk(v)
      if type(v) == "table" then for _, x in ipairs(v) do walk(x) end else out[#out + 1] = v end
    end
    walk(t)
    return out
  end
  return fixture
end
