-- lap.report: plain-text tables and small file helpers for experiment scripts.
local M = {}

-- Prints rows (tables of strings/numbers) under headers, columns aligned.
function M.table(headers, rows, out)
  out = out or io.stdout
  local widths = {}
  for c, h in ipairs(headers) do widths[c] = #h end
  local cells = {}
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c = 1, #headers do
      local v = row[c]
      local text = type(v) == "number" and string.format(math.type(v) == "integer" and "%d" or "%.4g", v) or tostring(v or "")
      cells[r][c] = text
      if #text > widths[c] then widths[c] = #text end
    end
  end
  local function line(values)
    local parts = {}
    for c, v in ipairs(values) do parts[c] = string.format("%-" .. widths[c] .. "s", v) end
    out:write(table.concat(parts, "  "), "\n")
  end
  line(headers)
  local rule = {}
  for c = 1, #headers do rule[c] = string.rep("-", widths[c]) end
  line(rule)
  for _, row in ipairs(cells) do line(row) end
end

-- Creates a directory and its parents; errors with the path when it cannot.
function M.mkdir(path)
  local ok, _, code = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "' 2>/dev/null")
  if not ok then error("cannot create directory '" .. path .. "' (exit " .. tostring(code) .. ")", 2) end
  return path
end

-- Writes a CSV file atomically (temporary file, then rename).
function M.csv(path, headers, rows)
  local temporary = path .. ".tmp"
  local f, err = io.open(temporary, "w")
  if not f then error("cannot write '" .. path .. "': " .. err, 2) end
  f:write(table.concat(headers, ","), "\n")
  for _, row in ipairs(rows) do
    local cells = {}
    for c = 1, #headers do
      local v = row[c]
      cells[c] = type(v) == "number" and string.format("%.10g", v) or tostring(v == nil and "" or v)
    end
    f:write(table.concat(cells, ","), "\n")
  end
  f:close()
  local ok, rename_err = os.rename(temporary, path)
  if not ok then error("cannot write '" .. path .. "': " .. rename_err, 2) end
end

return M
