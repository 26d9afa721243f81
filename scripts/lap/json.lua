-- lap.json: a small JSON encoder/decoder (numbers, strings, booleans, arrays, objects).
--
--   local json = require "lap.json"
--   local text = json.encode { seed = 3, acc = { 0.5, 0.75 }, ok = true }
--   local value = json.decode(text)
--
-- Encoding: a table whose keys are exactly 1..n (n >= 1) is an array, any other
-- table an object with its keys sorted (so equal tables encode to equal text); an
-- empty table is encoded as {} unless json.array(t) marked it.  Floats are written
-- with the fewest digits that read back to the same double (up to %.17g), integers
-- as integers; NaN and infinities become null.  json.null is a sentinel decoded
-- from null inside arrays (object members with null are dropped).
local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end })
local array_marks = setmetatable({}, { __mode = "k" })

-- Marks t to be encoded as an array even when empty; returns t.
function M.array(t)
  array_marks[t] = true
  return t
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  if x == math.floor(x) and math.abs(x) < 2 ^ 53 then return string.format("%.1f", x) end
  for digits = 15, 17 do
    local text = string.format("%." .. digits .. "g", x)
    if tonumber(text) == x then return text end
  end
  return string.format("%.17g", x)
end

local function is_array(t)
  local n = #t
  if n == 0 then return array_marks[t] == true end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local function encode(value, out, seen)
  local kind = type(value)
  if value == nil or value == M.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = value and "true" or "false"
  elseif kind == "number" then
    out[#out + 1] = encode_number(value)
  elseif kind == "string" then
    out[#out + 1] = encode_string(value)
  elseif kind == "table" then
    if seen[value] then error("json.encode: a table contains itself", 0) end
    seen[value] = true
    if is_array(value) then
      out[#out + 1] = "["
      for i = 1, #value do
        if i > 1 then out[#out + 1] = "," end
        encode(value[i], out, seen)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(value) do
        if type(k) ~= "string" and type(k) ~= "number" then
          error("json.encode: object keys must be strings or numbers, got " .. type(k), 0)
        end
        keys[#keys + 1] = k
      end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(tostring(k))
        out[#out + 1] = ":"
        encode(value[k], out, seen)
      end
      out[#out + 1] = "}"
    end
    seen[value] = nil
  else
    error("json.encode: cannot encode a " .. kind, 0)
  end
end

function M.encode(value)
  local out = {}
  encode(value, out, {})
  return table.concat(out)
end

-- Decoding ---------------------------------------------------------------------

local function decode_error(text, position, message)
  error(string.format("json.decode: %s at character %d near '%s'", message, position,
    text:sub(position, position + 15)), 0)
end

local function skip(text, i)
  return text:find("[^ \t\r\n]", i) or #text + 1
end

local decode_value

local function decode_string(text, i)
  -- text:sub(i, i) == '"'
  local parts, j = {}, i + 1
  while true do
    local k = text:find('["\\]', j)
    if not k then decode_error(text, i, "unterminated string") end
    parts[#parts + 1] = text:sub(j, k - 1)
    if text:sub(k, k) == '"' then return table.concat(parts), k + 1 end
    local c = text:sub(k + 1, k + 1)
    local simple = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
    if simple[c] then
      parts[#parts + 1] = simple[c]
      j = k + 2
    elseif c == "u" then
      local hex = text:sub(k + 2, k + 5)
      if not hex:match("^%x%x%x%x$") then decode_error(text, k, "bad \\u escape") end
      local code = tonumber(hex, 16)
      j = k + 6
      if code >= 0xD800 and code <= 0xDBFF and text:sub(j, j + 1) == "\\u" then
        local low = tonumber(text:sub(j + 2, j + 5), 16)
        if low and low >= 0xDC00 and low <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
          j = j + 6
        end
      end
      parts[#parts + 1] = utf8.char(code)
    else
      decode_error(text, k, "bad escape")
    end
  end
end

function decode_value(text, i)
  i = skip(text, i)
  local c = text:sub(i, i)
  if c == "{" then
    local object = {}
    i = skip(text, i + 1)
    if text:sub(i, i) == "}" then return object, i + 1 end
    while true do
      i = skip(text, i)
      if text:sub(i, i) ~= '"' then decode_error(text, i, "expected a string key") end
      local key
      key, i = decode_string(text, i)
      i = skip(text, i)
      if text:sub(i, i) ~= ":" then decode_error(text, i, "expected ':'") end
      local value
      value, i = decode_value(text, i + 1)
      if value ~= M.null then object[key] = value end
      i = skip(text, i)
      local d = text:sub(i, i)
      if d == "}" then return object, i + 1 end
      if d ~= "," then decode_error(text, i, "expected ',' or '}'") end
      i = i + 1
    end
  elseif c == "[" then
    local array = M.array({})
    i = skip(text, i + 1)
    if text:sub(i, i) == "]" then return array, i + 1 end
    while true do
      local value
      value, i = decode_value(text, i)
      array[#array + 1] = value
      i = skip(text, i)
      local d = text:sub(i, i)
      if d == "]" then return array, i + 1 end
      if d ~= "," then decode_error(text, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(text, i)
  elseif text:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif text:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif text:sub(i, i + 3) == "null" then
    return M.null, i + 4
  else
    local number = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    local value = number and tonumber(number)
    if not value then decode_error(text, i, "unexpected character") end
    return value, i + #number
  end
end

function M.decode(text)
  if type(text) ~= "string" then error("json.decode: expected a string, got " .. type(text), 2) end
  local value, i = decode_value(text, 1)
  i = skip(text, i)
  if i <= #text then decode_error(text, i, "trailing characters") end
  return value
end

return M
