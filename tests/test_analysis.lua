-- test_analysis.lua: the Lua API of the analysis functions (lap.pca,
-- lap.wasserstein1, lap.least_squares, lap.line_shape) against numpy / scipy
-- values from tests/fixtures/analysis.txt (written by
-- tests/make_analysis_fixtures.py), and their errors: wrong types, mismatched
-- shapes, empty inputs.  PCA coordinates come back as float32, so they are
-- compared to 1e-6 of their column's scale; the scalars are doubles (1e-9).
-- Run: laprun tests/test_analysis.lua, from any directory
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory

local expect_error = dofile(here .. "expect_error.lua")

local function close(got, expected, tolerance, scale)
  scale = scale or math.abs(expected)
  return math.abs(got - expected) <= tolerance * scale
end

local function numbers(line)
  local values = {}
  for token in line:gmatch("%S+") do
    values[#values + 1] = token == "nan" and 0 / 0 or assert(tonumber(token), token)
  end
  return values
end

-- The fixture: each case is its header's tokens plus the lines that follow it.
local cases = {}
do
  local file = assert(io.open(here .. "fixtures/analysis.txt", "r"))
  local current
  for line in file:lines() do
    if line:match("^#") then
      -- comment
    elseif line:match("^%a") and not line:match("^nan") and
        not line:match("^variance") and not line:match("^distance") and
        not line:match("^score") and not line:match("^fit") then
      local header = {}
      for token in line:gmatch("%S+") do header[#header + 1] = token end
      current = { kind = header[1], name = header[2], header = header, lines = {} }
      cases[#cases + 1] = current
    else
      current.lines[#current.lines + 1] = line
    end
  end
  file:close()
end

local function find_case(kind, name)
  for _, c in ipairs(cases) do
    if c.kind == kind and c.name == name then return c end
  end
  error("fixture has no case " .. kind .. " " .. name)
end

-- Reads `count` lines of numbers starting at lines[first] into a tensor.
local function cloud(c, first, count)
  local rows = {}
  for i = 1, count do rows[i] = numbers(c.lines[first + i - 1]) end
  return lap.tensor(rows)
end

-- ---- PCA ----
local checked = 0
for _, name in ipairs { "cloud2", "cloud3", "cloud10" } do
  local c = find_case("pca", name)
  local N = tonumber(c.header[3])
  local x = cloud(c, 1, N)
  local variance = numbers(c.lines[N + 1]:gsub("^variance", ""))
  local projected, info = lap.pca(x)
  assert(projected:dim() == 2 and projected:size(1) == N and projected:size(2) == 2,
    name .. ": projection shape")
  for k = 1, 2 do
    assert(close(info.variance[k], variance[k], 1e-9),
      name .. ": variance " .. info.variance[k] .. " expected " .. variance[k])
  end
  local got = projected:totable()
  for axis = 1, 2 do
    local scale = 0
    for i = 1, N do scale = math.max(scale, math.abs(numbers(c.lines[N + 1 + i])[axis])) end
    for i = 1, N do
      local expected = numbers(c.lines[N + 1 + i])[axis]
      assert(close(got[i][axis], expected, 1e-6, scale),
        string.format("%s: point %d axis %d: %.9g expected %.9g", name, i, axis, got[i][axis], expected))
    end
  end
  -- Fitting on the cloud itself explicitly gives the same projection.
  local again = lap.pca(x, x)
  assert(((again - projected):abs()):max() == 0, name .. ": pca(x, x) differs from pca(x)")
  checked = checked + 1
end
do -- Fitting on one cloud and projecting another of the same width.
  local c = find_case("pca", "cloud3")
  local x = cloud(c, 1, 60)
  local projected = lap.pca(x:narrow(1, 1, 10), x)
  local full = lap.pca(x)
  assert(((projected - full:narrow(1, 1, 10)):abs()):max() == 0, "pca with fit_on: rows differ")
end

-- ---- W1 ----
for _, name in ipairs { "n5_d2", "n50_d4", "n300_d2" } do
  local c = find_case("w1", name)
  local N = tonumber(c.header[3])
  local a, b = cloud(c, 1, N), cloud(c, N + 1, N)
  local expected = numbers(c.lines[2 * N + 1]:gsub("^distance", ""))[1]
  local got = lap.wasserstein1(a, b)
  assert(close(got, expected, 1e-9), name .. ": W1 " .. got .. " expected " .. expected)
  assert(lap.wasserstein1(a, a) == 0, name .. ": W1(a, a) ~= 0")
  assert(close(lap.wasserstein1(b, a), got, 1e-12), name .. ": W1 not symmetric")
  checked = checked + 1
end

-- ---- line shape ----
for _, name in ipairs { "walk_d2", "straightish_d3", "one_step" } do
  local c = find_case("lineshape", name)
  local K, N = tonumber(c.header[3]), tonumber(c.header[4])
  local states = {}
  for k = 0, K do states[k + 1] = cloud(c, k * N + 1, N) end
  local expected_score, expected_used = c.lines[(K + 1) * N + 1]:match("^score (%S+) used (%d+)")
  local score, used = lap.line_shape(states)
  assert(close(score, tonumber(expected_score), 1e-9), name .. ": score " .. score .. " expected " .. expected_score)
  assert(used == tonumber(expected_used), name .. ": used " .. used)
  checked = checked + 1
end

-- ---- least squares ----
for _, name in ipairs { "linear", "noisy", "with_nan" } do
  local c = find_case("lstsq", name)
  local n = tonumber(c.header[3])
  local x, y = {}, {}
  for i = 1, n do
    local pair = numbers(c.lines[i])
    x[i], y[i] = pair[1], pair[2]
  end
  local expected = numbers(c.lines[n + 1]:gsub("^fit", ""))
  -- Tables of numbers, then 1-D tensors (the values are float32-exact: same result).
  for _, input in ipairs { { x, y }, { lap.tensor(x), lap.tensor(y) } } do
    local slope, intercept, r, used = lap.least_squares(input[1], input[2])
    assert(close(slope, expected[1], 1e-9), name .. ": slope " .. slope .. " expected " .. expected[1])
    assert(close(intercept, expected[2], 1e-9), name .. ": intercept " .. intercept)
    assert(close(r, expected[3], 1e-9), name .. ": r " .. r .. " expected " .. expected[3])
    assert(used == expected[4], name .. ": used " .. used)
  end
  checked = checked + 1
end
do -- Constant x: r NaN (not an error).
  local slope, intercept, r, used = lap.least_squares({ 1, 1, 1 }, { 1, 2, 3 })
  assert(r ~= r and slope ~= slope and used == 3, "constant x: r should be NaN")
  local slope2, intercept2, r2 = lap.least_squares({ 1, 2, 3 }, { 4, 4, 4 })
  assert(r2 ~= r2 and slope2 == 0 and intercept2 == 4, "constant y")
end
assert(checked == 12, "checked " .. checked .. " fixture cases")

-- ---- errors ----
local a52, a62 = lap.zeros(5, 2), lap.zeros(6, 2)
expect_error("lap.wasserstein1: shapes [5, 2] and [6, 2] differ", lap.wasserstein1, a52, a62)
expect_error("lap.wasserstein1: b must be a tensor (N, D), got table", lap.wasserstein1, a52, { 1, 2 })
expect_error("lap.wasserstein1: a must be a 2-D tensor (N, D), got shape [10]", lap.wasserstein1,
  lap.zeros(10), lap.zeros(10))
expect_error("lap.wasserstein1: a must be a tensor (N, D), got no value", lap.wasserstein1)
expect_error("lap.wasserstein1: 5001 points is too many", lap.wasserstein1, lap.zeros(5001, 1), lap.zeros(5001, 1))

expect_error("lap.pca: x must be a tensor (N, D), got string", lap.pca, "x")
expect_error("lap.pca: x has shape [5, 2] but fit_on has shape [4, 3] (widths differ)", lap.pca, a52,
  lap.zeros(4, 3))
expect_error("lap.pca: needs at least 2 points, got 1", lap.pca, lap.zeros(1, 3))
expect_error("lap.pca: needs at least 2 points, got 1", lap.pca, a52, lap.zeros(1, 2))
expect_error("lap.pca: fit_on must be a 2-D tensor (N, D), got shape [2, 2, 2]", lap.pca, a52,
  lap.zeros(2, 2, 2))

expect_error("lap.least_squares: x has 3 values but y has 2", lap.least_squares, { 1, 2, 3 }, { 1, 2 })
expect_error("lap.least_squares: y[2] must be a number, got string", lap.least_squares, { 1, 2 }, { 1, "a" })
expect_error("lap.least_squares: x must be a table of numbers or a 1-D tensor, got number", lap.least_squares, 3, { 1 })
expect_error("lap.least_squares: x must be a 1-D tensor or a table of numbers, got shape [2, 2]",
  lap.least_squares, lap.zeros(2, 2), { 1, 2 })
expect_error("lap.least_squares: needs at least 2 (x, y) pairs without NaN, got 0", lap.least_squares, {}, {})
expect_error("lap.least_squares: needs at least 2 (x, y) pairs without NaN, got 1", lap.least_squares,
  { 1, 0 / 0, 3 }, { 1, 2, 0 / 0 })

expect_error("lap.line_shape: states must be a table of (N, D) tensors", lap.line_shape, a52)
expect_error("lap.line_shape: needs at least 2 states (x_0 and x_K), got 1", lap.line_shape, { a52 })
expect_error("lap.line_shape: needs at least 2 states (x_0 and x_K), got 0", lap.line_shape, {})
expect_error("lap.line_shape: states[3] has shape [6, 2] but states[1] has [5, 2]", lap.line_shape,
  { a52, a52, a62 })
expect_error("lap.line_shape: states[2] must be a tensor (N, D), got number", lap.line_shape, { a52, 7 })
do -- Closed paths only: NaN score, no point counted.
  local score, used = lap.line_shape { a52, lap.ones(5, 2), a52 }
  assert(score ~= score and used == 0, "closed paths: score " .. score .. " used " .. used)
end

-- Empty clouds, when the tensor constructor allows them.
local ok, empty = pcall(lap.zeros, 0, 2)
if ok then
  expect_error("lap.wasserstein1: a is empty (shape [0, 2])", lap.wasserstein1, empty, empty)
  expect_error("lap.pca: x is empty (shape [0, 2])", lap.pca, empty)
  expect_error("lap.line_shape: states[1] is empty (shape [0, 2])", lap.line_shape, { empty, empty })
end

print("test_analysis.lua: ok")
