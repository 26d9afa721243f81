-- test_data.lua: the Lua API of lap.data: circles/moons against scikit-learn's
-- values (tests/fixtures/sklearn_datasets.txt, float32 tolerance), splits
-- selecting the same rows as train_test_split, option and type errors, label
-- checks, batches, and that dropped datasets are collected.
-- Run: laprun tests/test_data.lua, from any directory
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory

local expect_error = dofile(here .. "expect_error.lua")

-- The fixture: cases keyed by their header line, each a list of value lines.
local fixture = {}
do
  local file = assert(io.open(here .. "fixtures/sklearn_datasets.txt", "r"))
  local current
  for line in file:lines() do
    if line:match("^%a") then
      current = {}
      fixture[line] = current
    elseif not line:match("^#") then
      current[#current + 1] = line
    end
  end
  file:close()
end

local function case(header)
  return assert(fixture[header], "fixture has no case '" .. header .. "'")
end

-- Compares a dataset with a fixture points case: labels exact, coordinates
-- within float32 rounding.
local function check_points(d, header)
  local expected = case(header)
  assert(d.n == #expected and #d == #expected, header .. ": size " .. d.n)
  local labels, x = d:labels(), d.x
  assert(x:size(1) == d.n and x:size(2) == 2, header .. ": x must be (n, 2)")
  for i, line in ipairs(expected) do
    local label, px, py = line:match("^(%S+) (%S+) (%S+)$")
    assert(labels[i] == tonumber(label), string.format("%s row %d: label %d, sklearn %s", header, i, labels[i], label))
    local dx, dy = math.abs(x[i][1] - tonumber(px)), math.abs(x[i][2] - tonumber(py))
    assert(dx < 1e-6 and dy < 1e-6, string.format("%s row %d: (%.9g, %.9g), sklearn (%s, %s)",
      header, i, x[i][1], x[i][2], px, py))
  end
end

-- circles / moons against sklearn.
local circles = lap.data.circles { n = 1000, factor = 0.3, noise = 0.05, seed = 0 }
check_points(circles, "circles 1000 0.3 0.05 0")
assert(circles.classes == 2 and circles.n == 1000)
assert(tostring(circles) == "Dataset(1000 x 2, 2 classes)", tostring(circles))
check_points(lap.data.circles { n = 1000, factor = 0.3, noise = 0.05, seed = 7 }, "circles 1000 0.3 0.05 7")
check_points(lap.data.circles { n = 51, factor = 0.5, seed = 3 }, "circles 51 0.5 0.0 3")
check_points(lap.data.circles { n = 50, noise = 0.1, seed = 1 }, "circles 50 0.8 0.1 1")
check_points(lap.data.moons { n = 200, noise = 0.1, seed = 5 }, "moons 200 0.1 5")
check_points(lap.data.moons { n = 7, seed = 2 }, "moons 7 0.0 2")
-- Defaults as sklearn: n = 100, seed 0; labels are 0 and 1, half each.
local default = lap.data.circles()
assert(default.n == 100 and default.classes == 2)
local ones = 0
for _, label in ipairs(default:labels()) do
  assert(label == 0 or label == 1)
  ones = ones + label
end
assert(ones == 50)
assert(math.abs(default.y:sum() - 50) < 1e-9 and default.y:size(1) == 100, "d.y is a 1-D float tensor of labels")
-- Same seed, same data; another seed, other data.
local again = lap.data.moons { n = 30, noise = 0.2, seed = 9 }
assert(again.x == lap.data.moons { n = 30, noise = 0.2, seed = 9 }.x, "same seed must give the same data")
assert(not (again.x == lap.data.moons { n = 30, noise = 0.2, seed = 10 }.x), "seeds 9 and 10 must differ")

-- Splits select sklearn's rows: a dataset whose labels are the row indices.
local function indexed(n)
  local labels = {}
  for i = 1, n do labels[i] = i - 1 end
  return lap.data.dataset(lap.zeros(n, 1), labels)
end
local function check_split(train, test, header)
  local expected = case(header)
  local n_test, n_train = header:match(" (%d+) (%d+)$")
  n_test, n_train = tonumber(n_test), tonumber(n_train)
  assert(test.n == n_test and train.n == n_train,
    string.format("%s: sizes %d/%d, sklearn %d/%d", header, train.n, test.n, n_train, n_test))
  local test_rows, train_rows = test:labels(), train:labels()
  for i = 1, n_test do
    assert(test_rows[i] == tonumber(expected[i]), header .. ": test row " .. i)
  end
  for i = 1, n_train do
    assert(train_rows[i] == tonumber(expected[n_test + i]), header .. ": train row " .. i)
  end
end
local rows1000 = indexed(1000)
local train, test = rows1000:split(0.8)
assert(train.n == 800 and test.n == 200, "1000 -> 800/200")
check_split(train, test, "split 1000 0.2 0 200 800")
-- (A call in the middle of an argument list keeps only its first result: use locals.)
local function check_split_of(header, d, ...)
  local a, b = d:split(...)
  check_split(a, b, header)
end
check_split_of("split 1000 0.2 42 200 800", rows1000, 0.8, 42)
check_split_of("split 1000 0.2 42 200 800", rows1000, { test = 0.2, seed = 42 })
check_split_of("split 50 0.2 0 10 40", indexed(50), { train = 0.8 })
check_split_of("split 50 0.2 42 10 40", indexed(50), 0.8, 42)
check_split_of("split 7 0.2 0 2 5", indexed(7), 0.8)
check_split_of("split 7 0.2 42 2 5", indexed(7), { test = 0.2, seed = 42 })
-- The split of the circles keeps coordinates and labels of the selected rows.
do
  local first_test = tonumber(case("split 1000 0.2 0 200 800")[1]) + 1
  local ctrain, ctest = circles:split { test = 0.2 }
  assert(ctest.x[1][1] == circles.x[first_test][1] and ctest.x[1][2] == circles.x[first_test][2])
  assert(ctest:labels()[1] == circles:labels()[first_test])
  assert(ctrain.classes == 2 and ctest.classes == 2)
end

-- Subsets: 1-based rows, in order, copies.
do
  local sub = circles:subset { 3, 1, 3 }
  assert(sub.n == 3 and sub.x[1][1] == circles.x[3][1] and sub.x[2][2] == circles.x[1][2])
  assert(sub:labels()[3] == circles:labels()[3])
  expect_error("out of range", circles.subset, circles, { 0 })
  expect_error("out of range", circles.subset, circles, { 1001 })
end

-- d.x shares the dataset's storage; d.y is a copy.
do
  local d = lap.data.dataset(lap.tensor { { 1, 2 }, { 3, 4 }, { 5, 6 } }, { 0, 2, 1 })
  assert(d.classes == 3 and d.n == 3 and tostring(d) == "Dataset(3 x 2, 3 classes)", tostring(d))
  d.x:fill(7)
  assert(d.x[2][1] == 7, "d.x must share the dataset's storage")
  local from_tensor = lap.data.dataset(lap.zeros(3, 2), lap.tensor { 1, 0, 1 })
  assert(from_tensor.classes == 2 and from_tensor:labels()[1] == 1)
end

-- Errors: unknown options, wrong types, bad values, label counts.
expect_error("unknown option", lap.data.circles, { n = 10, nois = 0.1 })
expect_error("unknown option 'factor'", lap.data.moons, { factor = 0.5 })
expect_error("unknown option", circles.split, circles, { tset = 0.2 })
expect_error("unknown option", circles.batches, circles, 10, { shufle = true })
expect_error("must be a number", lap.data.circles, { noise = "high" })
expect_error("must be an integer", lap.data.circles, { n = 10.5 })
expect_error("options must be a table", lap.data.moons, 5)
expect_error("circles: n must be >= 2, got 0", lap.data.circles, { n = 0 })
expect_error("circles: factor must be in [0, 1), got 1.5", lap.data.circles, { factor = 1.5 })
expect_error("noise", lap.data.moons, { noise = -1 })
expect_error("seed", lap.data.moons, { seed = -1 })
expect_error("split: test fraction must be in (0, 1), got 1.2", circles.split, circles, { test = 1.2 })
expect_error("train fraction must be in (0, 1)", circles.split, circles, 1.5)
expect_error("either 'test' or 'train'", circles.split, circles, { test = 0.2, train = 0.8 })
expect_error("expected a train fraction", circles.split, circles, "half")
expect_error("data.dataset: x has 5 rows but 4 labels", lap.data.dataset, lap.zeros(5, 2), { 0, 1, 0, 1 })
expect_error("data.dataset: x has 2 rows but 3 labels", lap.data.dataset, lap.zeros(2, 2), lap.tensor { 0, 1, 1 })
expect_error("integer >= 0", lap.data.dataset, lap.zeros(2, 2), { 0, -1 })
expect_error("integer >= 0", lap.data.dataset, lap.zeros(2, 2), { 0, 0.5 })
expect_error("labels must be a table", lap.data.dataset, lap.zeros(2, 2), "01")
expect_error("lap.Tensor expected, got table", lap.data.dataset, { { 1, 2 } }, { 0 })
expect_error("dataset", circles.split, "not a dataset", 0.8)
expect_error("batch size must be >= 1", circles.batches, circles, 0)

-- Batches cover every row once, in order without shuffle, the last batch smaller.
local function collect(d, size, options)
  local seen, sizes, order = {}, {}, {}
  for x, y in d:batches(size, options) do
    assert(x:size(1) == y:size(1) and x:size(2) == 1)
    sizes[#sizes + 1] = x:size(1)
    for i = 1, y:size(1) do
      local row = y[i]
      assert(not seen[row], "row " .. row .. " visited twice")
      seen[row] = true
      order[#order + 1] = row
    end
  end
  return seen, sizes, order
end
do
  local d = indexed(23)
  local seen, sizes, order = collect(d, 5)
  assert(#sizes == 5 and sizes[1] == 5 and sizes[4] == 5 and sizes[5] == 3, "23 rows in batches of 5")
  for row = 0, 22 do assert(seen[row], "row " .. row .. " missing") end
  for i = 1, 23 do assert(order[i] == i - 1, "without shuffle, rows come in order") end
  local _, _, shuffled = collect(d, 7, { shuffle = true, seed = 4 })
  local _, _, shuffled2 = collect(d, 7, { shuffle = true, seed = 4 })
  local differs = false
  for i = 1, 23 do
    assert(shuffled[i] == shuffled2[i], "same seed, same order")
    differs = differs or shuffled[i] ~= i - 1
  end
  assert(#shuffled == 23 and differs, "shuffle must change the order")
  local seen_global = collect(d, 100, { shuffle = true })
  for row = 0, 22 do assert(seen_global[row]) end
  -- A batch outlives the iteration (it is a copy).
  local iterator = d:batches(10)
  local x1, y1 = iterator()
  iterator()
  assert(x1:size(1) == 10 and y1[1] == 0 and y1[10] == 9)
end

-- Dropped datasets are collected.
do
  local weak = setmetatable({}, { __mode = "v" })
  for i = 1, 50 do
    local d = lap.data.circles { n = 200, noise = 0.1, seed = i }
    local a, b = d:split(0.5)
    weak[#weak + 1] = d
    weak[#weak + 1] = a
    weak[#weak + 1] = b
  end
  collectgarbage()
  collectgarbage()
  assert(next(weak) == nil, "datasets were not collected")
  collectgarbage()
  local before = collectgarbage("count")
  for i = 1, 300 do
    local d = lap.data.moons { n = 100, seed = i }
    for _ in d:batches(16, { shuffle = true }) do end
  end
  collectgarbage()
  collectgarbage()
  assert(collectgarbage("count") < before + 200, "datasets or batches were not reclaimed")
end

print("test_data: ok")
