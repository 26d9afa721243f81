-- lap.args: command-line options for experiment scripts.
--
--   local args = require("lap.args").parse(arg, {
--     usage = "laprun experiments/circles.lua [options]",
--     { "blocks", 9, "number of residual blocks" },
--     { "bn", "both", "batch normalization: on, off or both", choices = { "on", "off", "both" } },
--   })
--
-- Each option is { name, default, help [, choices = {...}] }; its type is the
-- default's (number, string or boolean; a boolean flag takes no value, --no-name
-- turns it off).  Accepts "--name value" and "--name=value".  --help prints the
-- usage and exits 0; a bad option prints a message naming it and exits 2.
local M = {}

local function usage(spec)
  local lines = { "usage: " .. (spec.usage or "laprun script.lua [options]"), "" }
  if spec.description then lines[#lines + 1] = spec.description .. "\n" end
  lines[#lines + 1] = "options:"
  for _, option in ipairs(spec) do
    local name, default, help = option[1], option[2], option[3]
    local value = type(default) == "boolean" and "" or (" " .. name:upper())
    local shown = default == nil and "" or (" (default: " .. tostring(default) .. ")")
    lines[#lines + 1] = string.format("  --%-22s %s%s", name .. value, help or "", shown)
  end
  lines[#lines + 1] = string.format("  --%-22s %s", "help", "show this help and exit")
  return table.concat(lines, "\n")
end
M.usage = usage

local function fail(spec, message)
  io.stderr:write((spec.name or "laprun") .. ": " .. message .. "\n(see --help)\n")
  os.exit(2)
end

function M.parse(argv, spec)
  local options, values = {}, {}
  for _, option in ipairs(spec) do
    options[option[1]] = option
    values[option[1]] = option[2]
  end
  local i = 1
  while argv and argv[i] do
    local word = argv[i]
    if word == "--help" or word == "-h" then
      print(usage(spec))
      os.exit(0)
    end
    local name, inline = word:match("^%-%-([%w_%-]+)=(.*)$")
    if not name then name = word:match("^%-%-([%w_%-]+)$") end
    if not name then fail(spec, "unexpected argument '" .. word .. "'") end
    local negated = false
    if not options[name] and name:sub(1, 3) == "no-" and options[name:sub(4)] then
      name, negated = name:sub(4), true
    end
    local option = options[name]
    if not option then
      local known = {}
      for _, o in ipairs(spec) do known[#known + 1] = "--" .. o[1] end
      fail(spec, "unknown option --" .. name .. " (expected one of: " .. table.concat(known, ", ") .. ")")
    end
    local kind = type(option[2])
    if kind == "boolean" then
      values[name] = not negated
    else
      local text = inline
      if text == nil then
        i = i + 1
        text = argv[i]
        if text == nil then fail(spec, "option --" .. name .. " needs a value") end
      end
      if kind == "number" then
        local number = tonumber(text)
        if not number then fail(spec, "option --" .. name .. " needs a number, got '" .. text .. "'") end
        values[name] = number
      else
        values[name] = text
      end
      if option.choices then
        local ok = false
        for _, choice in ipairs(option.choices) do ok = ok or choice == values[name] end
        if not ok then
          fail(spec, "option --" .. name .. " must be one of " .. table.concat(option.choices, ", ")
            .. ", got '" .. tostring(values[name]) .. "'")
        end
      end
    end
    i = i + 1
  end
  return values
end

return M
