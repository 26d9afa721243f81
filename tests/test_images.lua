-- test_images.lua: the Lua API of lap.data's image datasets: mnist on generated
-- IDX files (plain, and gzip when the gzip command exists), cifar10 and cifar100
-- on generated binary files, d.shape, d:normalize, d:subset_random
-- (reproducible for a seed, balanced counts), d:augment (changes pixels, keeps
-- labels and shape, reproducible), and errors for bad options and bad files.
-- When Debian's dataset-fashion-mnist is installed, checks its test split
-- (10000 images of 1x28x28, 10 classes); otherwise prints a note and checks that
-- the error names the package.  Files go to a temporary directory removed at
-- the end.
-- Run: laprun tests/test_images.lua, from any directory
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory

local expect_error = dofile(here .. "expect_error.lua")

local function near(a, b, tolerance)
  return math.abs(a - b) <= (tolerance or 1e-6)
end

-- A fresh temporary directory.
local root = os.tmpname()
os.remove(root)
assert(os.execute("mkdir -p '" .. root .. "'"), "cannot create " .. root)
local function path(name) return root .. "/" .. name end
local function write(name, bytes)
  local file = assert(io.open(path(name), "wb"))
  file:write(bytes)
  file:close()
end

-- ---------------------------------------------------------------- MNIST files

-- Pixel byte of image i (0-based), position k; label of image i: each class
-- 0..9 appears n / 10 times.
local function pixel(i, k) return (i * 37 + k * 11) % 256 end
local function label(i) return (i * 3) % 10 end

local function idx_images(n, rows, cols)
  local parts = { string.pack(">I4I4I4I4", 0x803, n, rows, cols) }
  for i = 0, n - 1 do
    local bytes = {}
    for k = 0, rows * cols - 1 do bytes[k + 1] = string.char(pixel(i, k)) end
    parts[#parts + 1] = table.concat(bytes)
  end
  return table.concat(parts)
end

local function idx_labels(n)
  local bytes = { string.pack(">I4I4", 0x801, n) }
  for i = 0, n - 1 do bytes[#bytes + 1] = string.char(label(i)) end
  return table.concat(bytes)
end

os.execute("mkdir -p '" .. path("mnist") .. "'")
write("mnist/train-images-idx3-ubyte", idx_images(40, 28, 28))
write("mnist/train-labels-idx1-ubyte", idx_labels(40))
write("mnist/t10k-images-idx3-ubyte", idx_images(10, 28, 28))
write("mnist/t10k-labels-idx1-ubyte", idx_labels(10))

local function check_mnist(d, n, what)
  assert(d.n == n and #d == n, what .. ": n = " .. d.n)
  local shape = d.shape
  assert(#shape == 4 and shape[1] == n and shape[2] == 1 and shape[3] == 28 and shape[4] == 28,
    what .. ": shape " .. table.concat(shape, "x"))
  assert(d.classes == 10, what .. ": classes " .. d.classes)
  local labels, x = d:labels(), d.x
  for i = 0, n - 1 do
    assert(labels[i + 1] == label(i), what .. ": label of image " .. i)
    for _, k in ipairs { 0, 1, 29, 400, 783 } do
      local row, col = k // 28, k % 28
      local value = x[i + 1][1][row + 1][col + 1]
      assert(near(value, pixel(i, k) / 255), string.format("%s: image %d pixel %d is %g, expected %g",
        what, i, k, value, pixel(i, k) / 255))
    end
  end
end

local train = lap.data.mnist { dir = path("mnist"), split = "train" }
check_mnist(train, 40, "mnist train")
check_mnist(lap.data.mnist { dir = path("mnist") }, 40, "mnist default split")
check_mnist(lap.data.mnist { dir = path("mnist"), split = "test" }, 10, "mnist test")
check_mnist(lap.data.mnist { dir = path("mnist"), split = "train", limit = 7 }, 7, "mnist limit")
assert(tostring(train) == "Dataset(40 x 1 x 28 x 28, 10 classes)", tostring(train))
assert(train.x:max() <= 1 and train.x:min() >= 0, "pixels must be in [0, 1]")

-- The same files gzipped (the loader prefers the plain file, so a separate directory).
if os.execute("gzip --version > /dev/null 2>&1") then
  os.execute("mkdir -p '" .. path("mnist-gz") .. "'")
  for _, name in ipairs { "train-images-idx3-ubyte", "train-labels-idx1-ubyte" } do
    assert(os.execute("gzip -c '" .. path("mnist/" .. name) .. "' > '" .. path("mnist-gz/" .. name .. ".gz") .. "'"))
  end
  check_mnist(lap.data.mnist { dir = path("mnist-gz"), split = "train" }, 40, "mnist gzip")
  expect_error("t10k-images-idx3-ubyte", lap.data.mnist, { dir = path("mnist-gz"), split = "test" })
else
  print("test_images.lua: note: no gzip command; gzip loading is covered by test_images.c only")
end

-- Option errors.
-- (Without dir, mnist and cifar10 read data/mnist and data/cifar10: tests/test_make_data.sh.)
expect_error("data.mnist: options must be a table, got number", lap.data.mnist, 3)
expect_error("split must be \"train\" or \"test\", got \"val\"", lap.data.mnist, { dir = path("mnist"), split = "val" })
expect_error("unknown option 'directory'", lap.data.mnist, { directory = path("mnist") })
expect_error("limit must be >= 1, got 0", lap.data.mnist, { dir = path("mnist"), limit = 0 })
expect_error("option 'limit' must be an integer", lap.data.mnist, { dir = path("mnist"), limit = 2.5 })
expect_error("option 'dir' must be a string", lap.data.mnist, { dir = 3 })
expect_error("no train-images-idx3-ubyte", lap.data.mnist, { dir = path("nowhere") })

-- Malformed files: the message names the file and the problem.
os.execute("mkdir -p '" .. path("bad") .. "'")
write("bad/train-images-idx3-ubyte", string.pack(">I4I4I4I4", 0x804, 40, 28, 28) .. string.rep("\0", 40 * 784))
write("bad/train-labels-idx1-ubyte", idx_labels(40))
expect_error(path("bad/train-images-idx3-ubyte") .. ": wrong magic number 0x00000804", lap.data.mnist, { dir = path("bad") })
write("bad/train-images-idx3-ubyte", idx_images(40, 28, 28):sub(1, 16 + 39 * 784))
expect_error("truncated", lap.data.mnist, { dir = path("bad") })
write("bad/train-images-idx3-ubyte", string.pack(">I4I4I4I4", 0x803, 0x80000000, 28, 28) .. string.rep("\0", 84))
expect_error("more than the 2147483648-byte limit", lap.data.mnist, { dir = path("bad") })
write("bad/train-images-idx3-ubyte", idx_images(41, 28, 28))
expect_error("has 41 images but", lap.data.mnist, { dir = path("bad") })

-- ---------------------------------------------------------------- CIFAR files

local function cifar_pixel(id, k) return (id * 53 + k * 7) % 256 end
-- `count` records numbered from `first`; labels as in test_images.c.
local function cifar_records(label_bytes, first, count)
  local parts = {}
  for r = 0, count - 1 do
    local id = first + r
    local head = label_bytes == 1 and string.char(id % 10) or string.char(id % 20, id * 7 % 100)
    local bytes = {}
    for k = 0, 3071 do bytes[k + 1] = string.char(cifar_pixel(id, k)) end
    parts[#parts + 1] = head .. table.concat(bytes)
  end
  return table.concat(parts)
end

os.execute("mkdir -p '" .. path("cifar10") .. "' '" .. path("cifar100") .. "'")
local first = 0
for f, count in ipairs { 2, 1, 3, 1, 3 } do
  write("cifar10/data_batch_" .. f .. ".bin", cifar_records(1, first, count))
  first = first + count
end
write("cifar10/test_batch.bin", cifar_records(1, 100, 4))
write("cifar100/train.bin", cifar_records(2, 0, 6))
write("cifar100/test.bin", cifar_records(2, 30, 2))

local cifar = lap.data.cifar10 { dir = path("cifar10"), split = "train" }
assert(cifar.n == 10 and cifar.classes == 10, "cifar10: n " .. cifar.n)
assert(table.concat(cifar.shape, "x") == "10x3x32x32", "cifar10 shape " .. table.concat(cifar.shape, "x"))
for r = 0, 9 do
  assert(cifar:labels()[r + 1] == r % 10, "cifar10 label " .. r)
  -- x[r][c][y][x] is byte c*1024 + y*32 + x of the record's pixels.
  local c, y, x = r % 3, (r * 5) % 32, (r * 11) % 32
  local k = c * 1024 + y * 32 + x
  assert(near(cifar.x[r + 1][c + 1][y + 1][x + 1], cifar_pixel(r, k) / 255), "cifar10 pixel of record " .. r)
end
local cifar_test = lap.data.cifar10 { dir = path("cifar10"), split = "test" }
assert(cifar_test.n == 4 and near(cifar_test.x[1][1][1][2], cifar_pixel(100, 1) / 255), "cifar10 test")
assert(lap.data.cifar10 { dir = path("cifar10"), limit = 4 }.n == 4, "cifar10 limit")
local fine = lap.data.cifar100 { dir = path("cifar100"), split = "train" }
local coarse = lap.data.cifar100 { dir = path("cifar100"), split = "train", labels = "coarse" }
assert(fine.classes == 100 and coarse.classes == 20, "cifar100 classes")
for r = 0, 5 do
  assert(fine:labels()[r + 1] == r * 7 % 100 and coarse:labels()[r + 1] == r % 20, "cifar100 labels " .. r)
end
assert(lap.data.cifar100 { dir = path("cifar100"), split = "test" }.n == 2, "cifar100 test")
expect_error("labels must be \"fine\" or \"coarse\"", lap.data.cifar100, { dir = path("cifar100"), labels = "medium" })
expect_error("data.cifar10: option 'dir' must be a string, got boolean", lap.data.cifar10, { dir = true })
expect_error("unknown option 'labels'", lap.data.cifar10, { dir = path("cifar10"), labels = "fine" })
expect_error(path("nowhere/test_batch.bin"), lap.data.cifar10, { dir = path("nowhere"), split = "test" })
write("cifar10/test_batch.bin", cifar_records(1, 0, 2) .. "xyz")
expect_error(path("cifar10/test_batch.bin") .. " has 6149 bytes, not a multiple of the 3073-byte record",
  lap.data.cifar10, { dir = path("cifar10"), split = "test" })

-- --------------------------------------------------------------------- normalize

-- Per-channel mean and population std, computed here from the values.
local function channel_stats(d)
  local x, shape = d.x:totable(), d.shape
  local means, stds = {}, {}
  for c = 1, shape[2] do
    local sum, squares, count = 0, 0, 0
    for i = 1, shape[1] do
      for _, row in ipairs(x[i][c]) do
        for _, v in ipairs(row) do sum, squares, count = sum + v, squares + v * v, count + 1 end
      end
    end
    means[c] = sum / count
    stds[c] = math.sqrt(math.max(squares / count - means[c] ^ 2, 0))
  end
  return means, stds
end

do
  local d = lap.data.cifar10 { dir = path("cifar10"), split = "train" }
  local before_mean, before_std = channel_stats(d)
  local before = d.x:clone()
  local statistics = d:normalize()
  assert(#statistics.mean == 3 and #statistics.std == 3, "normalize returns 3 means and stds")
  for c = 1, 3 do
    assert(near(statistics.mean[c], before_mean[c], 1e-6) and near(statistics.std[c], before_std[c], 1e-5),
      string.format("channel %d: %g %g, expected %g %g", c, statistics.mean[c], statistics.std[c], before_mean[c],
        before_std[c]))
  end
  local after_mean, after_std = channel_stats(d)
  for c = 1, 3 do
    assert(near(after_mean[c], 0, 1e-5) and near(after_std[c], 1, 1e-4), "normalized channel " .. c)
  end
  assert(near(d.x[3][2][4][5], (before[3][2][4][5] - statistics.mean[2]) / statistics.std[2], 1e-5), "normalized value")
  -- The test set with the training statistics (the table normalize returned).
  local t = lap.data.cifar10 { dir = path("cifar10"), limit = 3 }
  local raw = t.x:clone()
  local returned = t:normalize(statistics)
  assert(returned.mean[2] == statistics.mean[2], "given statistics are returned")
  assert(near(t.x[2][3][1][1], (raw[2][3][1][1] - statistics.mean[3]) / statistics.std[3], 1e-5), "given statistics")
  -- A number applies to every channel.
  local u = lap.data.cifar10 { dir = path("cifar10"), limit = 2 }
  local u_raw = u.x:clone()
  u:normalize { mean = 0.5, std = 0.5 }
  assert(near(u.x[2][3][7][9], (u_raw[2][3][7][9] - 0.5) / 0.5, 1e-6), "scalar statistics")
  expect_error("give both 'mean' and 'std'", u.normalize, u, { mean = { 0, 0, 0 } })
  expect_error("'mean' has 2 values but x has 3 channels", u.normalize, u, { mean = { 0, 0 }, std = { 1, 1 } })
  expect_error("std[2] must be > 0", u.normalize, u, { mean = { 0, 0, 0 }, std = { 1, 0, 1 } })
  expect_error("unknown option 'stdev'", u.normalize, u, { stdev = 1 })
  expect_error("std[1] must be a number", u.normalize, u, { mean = { 0, 0, 0 }, std = { "a", 1, 1 } })
end

-- ----------------------------------------------------------------- subset_random

do
  local a = train:subset_random { size = 12, seed = 5 }
  local b = train:subset_random { size = 12, seed = 5 }
  local c = train:subset_random { size = 12, seed = 6 }
  assert(a.n == 12 and a.classes == 10 and table.concat(a.shape, "x") == "12x1x28x28", "subset_random shape")
  assert(table.concat(a:labels(), ",") == table.concat(b:labels(), ","), "subset_random must be reproducible")
  assert((a.x - b.x):abs():sum() == 0, "subset_random: same seed, same images")
  assert((a.x - c.x):abs():sum() > 0, "subset_random: another seed, other images")
  local balanced = train:subset_random { size = 20, seed = 5, balanced = true }
  local counts = {}
  for _, l in ipairs(balanced:labels()) do counts[l] = (counts[l] or 0) + 1 end
  for class = 0, 9 do assert(counts[class] == 2, "balanced: class " .. class .. " has " .. tostring(counts[class])) end
  assert(train:subset_random { size = 40, balanced = true }.n == 40, "balanced: everything")
  expect_error("multiple of the 10 classes", train.subset_random, train, { size = 15, balanced = true })
  -- 20 images holding 1 to 3 of each class (class 1 once): 2 per class is impossible.
  local rows = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25 }
  local uneven = train:subset(rows)
  expect_error("class 1 has only 1 rows", uneven.subset_random, uneven, { size = 20, balanced = true })
  expect_error("size must be in [1, 40]", train.subset_random, train, { size = 41 })
  expect_error("size must be in [1, 40]", train.subset_random, train, { size = 0 })
  expect_error("option 'size' is required", train.subset_random, train, { seed = 1 })
  expect_error("seed must be in [0, 2^32)", train.subset_random, train, { size = 2, seed = -1 })
  expect_error("unknown option 'n'", train.subset_random, train, { n = 2 })
end

-- ----------------------------------------------------------------------- augment

do
  local d = lap.data.cifar10 { dir = path("cifar10"), split = "train" }
  local a = d:augment { crop = 4, flip = true, seed = 3 }
  assert(table.concat(a.shape, "x") == table.concat(d.shape, "x"), "augment keeps the shape")
  assert(table.concat(a:labels(), ",") == table.concat(d:labels(), ","), "augment keeps the labels")
  assert(a.classes == d.classes, "augment keeps the classes")
  assert((a.x - d.x):abs():sum() > 0, "augment must change pixels")
  local again = d:augment { crop = 4, flip = true, seed = 3 }
  assert((again.x - a.x):abs():sum() == 0, "augment with a seed must be reproducible")
  assert((d:augment { seed = 4 }.x - a.x):abs():sum() > 0, "another seed, other shifts")
  assert((d:augment { crop = 0, flip = false }.x - d.x):abs():sum() == 0, "crop 0 without flip is a copy")
  -- A flip alone keeps every pixel value of the image (a permutation of columns).
  local flipped = d:augment { crop = 0, flip = true, seed = 1 }
  assert(near(flipped.x:sum(), d.x:sum(), 1e-2), "flip alone keeps the sum")
  -- Without a seed: the global generator, so lap.manual_seed makes it reproducible.
  lap.manual_seed(9)
  local g1 = d:augment {}
  lap.manual_seed(9)
  local g2 = d:augment {}
  assert((g1.x - g2.x):abs():sum() == 0, "augment without seed follows lap.manual_seed")
  expect_error("crop must be in [0, 32]", d.augment, d, { crop = 33 })
  expect_error("crop must be in [0, 32]", d.augment, d, { crop = -1 })
  expect_error("option 'flip' must be a boolean", d.augment, d, { flip = 1 })
  expect_error("unknown option 'pad'", d.augment, d, { pad = 4 })
  local points = lap.data.circles { n = 10 }
  assert(table.concat(points.shape, "x") == "10x2", "shape of a 2-D dataset")
  expect_error("x must be images (N, C, H, W)", points.augment, points, {})
end

-- ------------------------------------------------------------------ Fashion-MNIST

local fashion_dir = "/usr/share/datasets/fashion-mnist"
local probe = io.open(fashion_dir .. "/t10k-images-idx3-ubyte.gz", "rb")
if probe then
  probe:close()
  local f = lap.data.fashion_mnist { split = "test" }
  assert(f.n == 10000 and table.concat(f.shape, "x") == "10000x1x28x28" and f.classes == 10,
    "fashion_mnist test: " .. tostring(f))
  local labels = f:labels()
  assert(labels[1] == 9 and labels[2] == 2, "fashion_mnist: first labels")
  assert(lap.data.fashion_mnist { split = "train", limit = 50 }.n == 50, "fashion_mnist train limit")
else
  print("test_images.lua: note: dataset-fashion-mnist is not installed (no " .. fashion_dir ..
    "); Fashion-MNIST check skipped")
  expect_error("dataset-fashion-mnist", lap.data.fashion_mnist, { split = "test" })
end
expect_error("fashion_mnist: no t10k-images-idx3-ubyte", lap.data.fashion_mnist, { dir = path("nowhere"), split = "test" })

os.execute("rm -rf '" .. root .. "'")
print("test_images.lua: ok")
