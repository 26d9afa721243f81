-- lap.help: documentation at the prompt.
--
--   require "lap.help"          installs lap.help, lap.help_text, lap.help_names and the global help
--   lap.help()                  the documented names, grouped by area
--   lap.help("nn")              one area's names with one-line summaries
--   lap.help("nn.ResNet")       one paragraph ("lap." prefix optional; methods as
--                               "Tensor:sum", "Module:forward", "Trainer:epoch",
--                               "Dataset:split", "Optimizer:step"; fields as "Module.weight")
--   help(obj)                   the documentation of a lap function, tensor, module,
--                               optimizer, trainer or dataset given the object itself
--   lap.help_names()            the sorted list of documented names
--
-- Every call prints its text and returns it (except at the laprun prompt, where
-- the line `help(x)` runs as `return help(x)` and would print it twice); an
-- unknown name prints "no help for 'x'" with up to 5 close names and returns nil.  The entries are
-- README.md's Lua reference, turned into scripts/lap/help_entries.lua by scripts/gen_help.lua.
local lap = rawget(_G, "lap") or require "lap"

local WIDTH = 78

-- ------------------------------------------------------------------ the docs

local entries = {}        -- name -> { name, area, signature, brief, details }
local areas = {}          -- { key, title, names = {...} } in display order
local area_by_key = {}
local current_area

local function area(key, title)
  current_area = { key = key, title = title, names = {} }
  areas[#areas + 1] = current_area
  area_by_key[key] = current_area
end

-- doc(name, signature, brief [, details]): brief is the one-line summary (the
-- paragraph's first sentence); details the rest of the paragraph.
local function doc(name, signature, brief, details)
  assert(not entries[name], "lap.help: duplicate doc for " .. name)
  entries[name] = { name = name, area = current_area.key, signature = signature, brief = brief,
    details = details }
  local names = current_area.names
  names[#names + 1] = name
end

-- The entries come from README.md's Lua reference, through the generated
-- scripts/lap/help_entries.lua (scripts/gen_help.lua, `make docs`).
for _, a in ipairs(require "lap.help_entries") do
  area(a.key, a.title)
  for _, e in ipairs(a.entries) do doc(e[1], e[2], e[3], e[4]) end
end

-- Aliases: other spellings people type.
local aliases = {
  ["Tensor[i]"] = "Tensor.indexing", ["t[i]"] = "Tensor.indexing", ["#t"] = "Tensor.indexing",
  ["Module[i]"] = "Module.indexing", ["net[k]"] = "Module.indexing", ["#net"] = "Module.indexing",
  ["Tensor.+"] = "Tensor.arithmetic", ["Tensor.=="] = "Tensor.arithmetic",
  ["#data"] = "Dataset.n", ["Trainer:lambda"] = "Trainer.lambda",
}

-- The object a method belongs to, by what people call it.
local type_aliases = {
  Tensor = "Tensor", tensor = "Tensor", t = "Tensor", x = "Tensor",
  Module = "Module", module = "Module", m = "Module", net = "Module", seq = "Module", bn = "Module",
  ResNet = "Module", Linear = "Module", BatchNorm = "Module", Sequential = "Module",
  ReLU = "Module", Tanh = "Module", Sigmoid = "Module", ["nn.Module"] = "Module",
  Optimizer = "Optimizer", optimizer = "Optimizer", opt = "Optimizer", optim = "Optimizer",
  Trainer = "Trainer", trainer = "Trainer", train = "Trainer",
  Dataset = "Dataset", dataset = "Dataset", data = "Dataset", d = "Dataset",
}

-- ------------------------------------------------------------- formatting

local function wrap(text, indent)
  local lines, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line > #indent and #line + 1 + #word > WIDTH then
      lines[#lines + 1] = line
      line = indent .. word
    elseif #line > #indent then
      line = line .. " " .. word
    else
      line = line .. word
    end
  end
  if #line > #indent then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

-- A long signature is broken after commas, continuation lines indented by 4.
local function wrap_signature(signature)
  if #signature <= WIDTH then return signature end
  local lines, line = {}, ""
  for piece in signature:gmatch("[^,]+,?") do
    if #line > 0 and #line + #piece > WIDTH then
      lines[#lines + 1] = line:gsub("%s+$", "")
      line = "    " .. piece:gsub("^%s+", "")
    else
      line = line .. piece
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function paragraph(entry)
  local text = entry.brief
  if entry.details and entry.details ~= "" then text = text .. " " .. entry.details end
  return wrap_signature(entry.signature) .. "\n" .. wrap(text, "  ")
end

-- "  name                   brief, wrapped under itself"
local NAME_COLUMN = 24
local function one_liner(name)
  local entry = entries[name]
  local body = wrap(entry.brief, string.rep(" ", NAME_COLUMN + 1))
  local head = string.format("  %-" .. (NAME_COLUMN - 2) .. "s ", name)
  if #name > NAME_COLUMN - 2 then return "  " .. name .. "\n" .. body end
  return head .. body:sub(NAME_COLUMN + 2)
end

local function one_liners(names)
  local lines = {}
  for _, name in ipairs(names) do lines[#lines + 1] = one_liner(name) end
  return table.concat(lines, "\n")
end

-- The names of an area without its overview entry ("Tensor" -> "Tensor:size", ...).
local function area_members(key)
  local names = {}
  for _, name in ipairs(area_by_key[key].names) do
    if name ~= key then names[#names + 1] = name end
  end
  return names
end

-- lap.help_text sets this to get the text without printing it.
local silent = false

local function emit(text)
  if not silent then print(text) end
  return text
end

-- ------------------------------------------------------------------ lookup

local function sorted_names()
  local names = {}
  for name in pairs(entries) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function member_of(name)
  return name:match("[.:]([^.:]+)$") or name
end

-- The canonical name for a query, or nil.
local function resolve(query)
  local q = query:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%(%)$", "")
  q = q:gsub("^lap%.", "")
  if entries[q] then return q end
  if aliases[q] then return aliases[q] end
  local owner, member = q:match("^(.-)[:.]([^:.]+)$")
  if owner and type_aliases[owner] then
    local kind = type_aliases[owner]
    for _, separator in ipairs { ":", "." } do
      local name = kind .. separator .. member
      if entries[name] then return name end
    end
  end
  -- A bare member name that only one entry has ("ResNet", "circles", "argmax").
  if not q:find("[.:]") then
    local found
    for name in pairs(entries) do
      if member_of(name) == q then
        if found then return nil end
        found = name
      end
    end
    return found
  end
  return nil
end

-- Levenshtein distance (small strings).
local function distance(a, b)
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = { [0] = i }
    local ca = a:sub(i, i)
    for j = 1, #b do
      local cost = ca == b:sub(j, j) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end

-- Up to 5 documented names close to the query: the same ignoring case, containing
-- it (or contained in it), or within a small edit distance of the name or its member.
local function suggestions(query)
  local q = query:gsub("^lap%.", ""):lower()
  local scored = {}
  for _, name in ipairs(sorted_names()) do
    local lower = name:lower()
    local score
    if lower == q then
      score = 0
    elseif #q >= 2 and (lower:find(q, 1, true) or (#lower >= 3 and q:find(lower, 1, true))) then
      score = 1
    else
      local d = math.min(distance(q, lower), distance(member_of(q), member_of(lower)) + 1)
      if d <= math.max(2, #q // 3) then score = 1 + d end
    end
    if score then scored[#scored + 1] = { name = name, score = score } end
  end
  table.sort(scored, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.name < b.name
  end)
  local best = {}
  for i = 1, math.min(5, #scored) do best[i] = scored[i].name end
  return best
end

-- ------------------------------------------------------------------ views

local function overview()
  local lines = { "Documented names by area.  lap.help(\"nn.ResNet\") prints a paragraph,",
    "lap.help(\"nn\") an area with summaries, help(obj) the documentation of an object." }
  for _, a in ipairs(areas) do
    lines[#lines + 1] = ""
    lines[#lines + 1] = a.title .. ":"
    lines[#lines + 1] = wrap(table.concat(a.names, "  "), "  ")
  end
  return table.concat(lines, "\n")
end

local function area_text(a)
  return a.title .. ":\n" .. one_liners(a.names)
end

local function unknown(query)
  local text = "no help for '" .. query .. "'"
  local close = suggestions(query)
  if #close > 0 then text = text .. "; did you mean: " .. table.concat(close, ", ") .. "?" end
  print(text)
  return nil
end

local function help_name(query)
  if query == nil then return emit(overview()) end
  if type(query) ~= "string" then
    error("lap.help: expected a name (a string), got " .. type(query) .. "; use help(obj) for objects", 2)
  end
  local key = query:gsub("^lap%.", "")
  if area_by_key[key] and not entries[key] then return emit(area_text(area_by_key[key])) end
  local name = resolve(query)
  if not name then return unknown(query) end
  if area_by_key[name] then   -- "Tensor", "Module", ...: the overview and the members
    return emit(paragraph(entries[name]) .. "\n\n" .. one_liners(area_members(name)))
  end
  return emit(paragraph(entries[name]))
end

-- ---------------------------------------------------------- help(object)

-- Method tables of lap's userdata types: __methods, a table __index, or the first
-- upvalue of a C __index function (tensors and datasets keep them there).
local function method_table(metatable)
  if type(metatable) ~= "table" then return nil end
  if type(metatable.__methods) == "table" then return metatable.__methods end
  local index = metatable.__index
  if type(index) == "table" then return index end
  if type(index) == "function" and debug and debug.getupvalue then
    local _, value = debug.getupvalue(index, 1)
    if type(value) == "table" then return value end
  end
  return nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

local function registry_metatable(name)
  if debug and debug.getregistry then
    local registry = debug.getregistry()
    if type(registry) == "table" then return registry[name] end
  end
  return nil
end

local function_names   -- function -> documented name; built on first use

local function build_function_names()
  local map = {}
  local function add(f, name)
    if type(f) == "function" and map[f] == nil then map[f] = name end
  end
  for _, key in ipairs(sorted_keys(lap)) do add(lap[key], key) end
  for _, key in ipairs(sorted_keys(lap)) do
    if type(lap[key]) == "table" then
      for _, member in ipairs(sorted_keys(lap[key])) do add(lap[key][member], key .. "." .. member) end
    end
  end
  add(rawget(_G, "help"), "help")
  for _, kind in ipairs { "Tensor", "Module", "Optimizer", "Trainer", "Dataset" } do
    local methods = method_table(registry_metatable("lap." .. kind))
    if methods then
      for _, member in ipairs(sorted_keys(methods)) do add(methods[member], kind .. ":" .. member) end
    end
  end
  function_names = map
end

local function name_of_function(f)
  if not function_names then build_function_names() end
  local name = function_names[f]
  if name == nil then   -- lap may have grown since (a module loaded later): look again
    build_function_names()
    name = function_names[f]
  end
  return name
end

local RESNET_PROBES = { "Module:displacements", "Module:states", "Module:transport", "Module:predict",
  "Module:line_shape", "Module:block", "Module.indexing", "Module.encoder", "Module.classifier",
  "Module.nblocks", "Module.step" }
local GENERAL_MODULE = { "Module:forward", "Module:backward", "Module:parameters", "Module:zero_grad",
  "Module:train", "Module:evaluate", "Module:freeze", "Module:unfreeze", "Module:type", "Module.weight",
  "Module.bias", "Module.training", "Module.frozen" }

local function module_text(m)
  local ok, kind = pcall(function() return m:type() end)
  kind = ok and kind or "Module"
  local parts = { "a lap.Module (" .. kind .. ")", "" }
  local own = entries["nn." .. kind]
  parts[#parts + 1] = paragraph(own or entries.Module)
  if kind == "ResNet" then
    parts[#parts + 1] = "\nResNet probes and fields:\n" .. one_liners(RESNET_PROBES)
  elseif kind == "Sequential" then
    parts[#parts + 1] = "\nSequential:\n" .. one_liners { "Module:add", "Module.indexing" }
  elseif kind == "BatchNorm" then
    parts[#parts + 1] = "\nBatchNorm fields:\n" .. one_liners { "Module.running_mean", "Module.running_var" }
  end
  parts[#parts + 1] = "\nModule methods and fields:\n" .. one_liners(GENERAL_MODULE)
  return table.concat(parts, "\n")
end

local function optimizer_text(o)
  local description = tostring(o)
  local own = description:match("^SGD") and entries["optim.SGD"] or description:match("^Adam") and entries["optim.Adam"]
  return "a lap.Optimizer: " .. description .. "\n\n" .. paragraph(own or entries.Optimizer) ..
    "\n\nOptimizer methods and fields:\n" .. one_liners(area_members("Optimizer"))
end

local function trainer_text(t)
  local ok, kind = pcall(function() return t.kind end)
  kind = ok and type(kind) == "string" and kind:match("^(%a+)") or nil
  local own = kind and entries["train." .. kind]
  return "a lap.Trainer: " .. tostring(t) .. "\n\n" .. paragraph(own or entries.Trainer) ..
    "\n\nTrainer methods and fields:\n" .. one_liners(area_members("Trainer"))
end

local function dataset_text(d)
  return "a lap.Dataset: " .. tostring(d) .. "\n\n" .. paragraph(entries.Dataset) ..
    "\n\nDataset methods and fields:\n" .. one_liners(area_members("Dataset"))
end

local function tensor_text(t)
  local ok, shape = pcall(function() return table.concat(t:size(), "x") end)
  return "a lap.Tensor" .. (ok and (" of size " .. shape) or "") .. "\n\n" .. paragraph(entries.Tensor) ..
    "\n\nTensor methods:\n" .. one_liners(area_members("Tensor")) ..
    "\n\nFunctions making tensors:\n" .. one_liners { "tensor", "zeros", "ones", "full", "randn", "rand",
      "matmul", "is_tensor" }
end

local function userdata_name(obj)
  local metatable = getmetatable(obj)
  if type(metatable) == "table" and type(metatable.__name) == "string" then return metatable.__name end
  return nil
end

local function help_object(...)
  if select("#", ...) == 0 then return help_name(nil) end
  local obj = ...
  if obj == nil then return help_name(nil) end
  if type(obj) == "string" then return help_name(obj) end
  if obj == lap then return help_name(nil) end
  if type(obj) == "function" then
    local name = name_of_function(obj)
    if name and entries[name] then return emit(paragraph(entries[name])) end
    if name then
      print("no help for 'lap." .. name .. "' (a lap function without documentation yet)")
      return nil
    end
    print("no documentation for this function (it is not one of lap's)")
    return nil
  end
  if lap.is_tensor and lap.is_tensor(obj) then return emit(tensor_text(obj)) end
  local kind = userdata_name(obj)
  if kind == "lap.Module" then return emit(module_text(obj)) end
  if kind == "lap.Optimizer" then return emit(optimizer_text(obj)) end
  if kind == "lap.Trainer" then return emit(trainer_text(obj)) end
  if kind == "lap.Dataset" then return emit(dataset_text(obj)) end
  if type(obj) == "table" then
    for _, key in ipairs(sorted_keys(lap)) do
      if lap[key] == obj and area_by_key[key] then return emit(area_text(area_by_key[key])) end
    end
  end
  print("no documentation for a " .. (kind or type(obj)) .. " value")
  return nil
end

-- ----------------------------------------------------------------- install

-- lap.help and help print and return nothing (so that help(x) at the REPL prompt,
-- which prints what a line returns, shows the text once); lap.help_text returns
-- the text instead, without printing it, or nil when there is none.
lap.help = function(name)
  help_name(name)
end
lap.help_names = sorted_names
lap.help_text = function(...)
  silent = true
  local ok, text = pcall(help_object, ...)
  silent = false
  if not ok then error(text, 2) end
  return text
end
_G.help = function(...)
  help_object(...)
end

return lap.help
