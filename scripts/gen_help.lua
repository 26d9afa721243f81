-- scripts/gen_help.lua: writes scripts/lap/help_entries.lua (what lap.help and help()
-- show) from README.md's Lua reference, so the two never disagree.  `make docs` runs
--   laprun scripts/gen_help.lua README.md scripts/lap/help_entries.lua
-- and tests/test_docs.lua regenerates into memory and fails on any difference.
--
-- The README's format, inside "## Lua reference" (up to the next "## " heading):
--   <!-- help area KEY: TITLE -->          starts an area of lap.help (lap.help("KEY"))
--   - **NAME** · `SIGNATURE`               starts an entry (lap.help("NAME"))
--     text of the entry, on lines          indented by two spaces; the first sentence
--     indented by two spaces               is the one-line summary, the rest the details
-- Every other line (prose, headings, <details>) ends the entry and is not help's.
-- In the text, a backslash escapes the next character (`\*` is `*`, which Markdown
-- would otherwise read as emphasis).  The README is the source: edit it, then run
-- `make docs`; help_entries.lua is installed with scripts/lap, the README is not.
--
-- Loaded with dofile and no arguments it returns {parse, render, generate} for the test.
local M = {}

local SECTION = "## Lua reference"

-- The first sentence: up to the first ". " that does not close "..", "e.g." or "i.e.".
local function split_sentence(text)
  local start = 1
  while true do
    local at = text:find("%.%s", start)
    if not at then return text, nil end
    local before = text:sub(1, at - 1)
    if not (before:sub(-1) == "." or before:match("e%.g$") or before:match("i%.e$")) then
      local rest = text:sub(at + 2):gsub("^%s+", "")
      return text:sub(1, at), rest ~= "" and rest or nil
    end
    start = at + 1
  end
end

local function unescape(text)
  return (text:gsub("\\(%p)", "%1"))
end

-- README text -> { {key, title, entries = { {name, signature, brief, details}, ... }}, ... }.
-- Errors name the README line.
function M.parse(readme, source)
  source = source or "README.md"
  local areas, seen, current_area, current = {}, {}, nil, nil
  local inside, found = false, false
  local number = 0
  local function finish()
    if current then
      local text = unescape((table.concat(current.lines, " "):gsub("%s+", " ")))
      if text == "" then
        error(string.format("%s:%d: help entry '%s' has no text", source, current.line, current.name), 0)
      end
      current.brief, current.details = split_sentence(text)
      current.lines = nil
      current = nil
    end
  end
  for line in (readme .. "\n"):gmatch("(.-)\r?\n") do
    number = number + 1
    if line == SECTION then
      inside, found = true, true
    elseif inside and line:match("^## ") then
      finish()
      inside = false
    elseif inside then
      local key, title = line:match("^<!%-%- help area ([%w_]+): (.-) %-%->$")
      local name, signature = line:match("^%- %*%*(.-)%*%* · `(.*)`$")
      if key then
        finish()
        if seen["area " .. key] then error(string.format("%s:%d: help area '%s' twice", source, number, key), 0) end
        seen["area " .. key] = true
        current_area = { key = key, title = title, entries = {} }
        areas[#areas + 1] = current_area
      elseif name then
        finish()
        if not current_area then
          error(string.format("%s:%d: help entry '%s' before any '<!-- help area KEY: TITLE -->'", source, number,
            name), 0)
        end
        if seen[name] then error(string.format("%s:%d: help entry '%s' twice", source, number, name), 0) end
        seen[name] = true
        current = { name = name, signature = signature, lines = {}, line = number }
        current_area.entries[#current_area.entries + 1] = current
      elseif current and line:match("^  %S") then
        current.lines[#current.lines + 1] = line:sub(3)
      else
        finish()
      end
    end
  end
  finish()
  if not found then error(source .. ": no '" .. SECTION .. "' section", 0) end
  if #areas == 0 then error(source .. ": no '<!-- help area KEY: TITLE -->' in the Lua reference", 0) end
  return areas
end

-- areas -> the text of scripts/lap/help_entries.lua.
function M.render(areas)
  local out = {
    "-- scripts/lap/help_entries.lua: what lap.help and help() show, GENERATED from README.md's",
    "-- Lua reference by scripts/gen_help.lua (`make docs`).  Do not edit: edit the README,",
    "-- then run `make docs`; tests/test_docs.lua fails when the two disagree.",
    "-- Each area: {key, title, entries = {{name, signature, brief, details}, ...}}.",
    "return {",
  }
  for _, area in ipairs(areas) do
    out[#out + 1] = string.format("  { key = %q, title = %q, entries = {", area.key, area.title)
    for _, e in ipairs(area.entries) do
      out[#out + 1] = string.format("    { %q, %q,", e.name, e.signature)
      out[#out + 1] = string.format("      %q,", e.brief)
      out[#out + 1] = string.format("      %s },", e.details and string.format("%q", e.details) or "nil")
    end
    out[#out + 1] = "  } },"
  end
  out[#out + 1] = "}"
  return table.concat(out, "\n") .. "\n"
end

function M.generate(readme_path)
  local f = assert(io.open(readme_path, "r"))
  local text = f:read("a")
  f:close()
  return M.render(M.parse(text, readme_path))
end

if arg and arg[0] and debug.getinfo(1, "S").source == "@" .. arg[0] and arg[1] then
  local readme, output = arg[1], arg[2] or "scripts/lap/help_entries.lua"
  local text = M.generate(readme)
  local f = assert(io.open(output .. ".tmp", "w"))
  f:write(text)
  assert(f:close())
  assert(os.rename(output .. ".tmp", output))
  print("gen_help: wrote " .. output .. " from " .. readme)
end

return M
