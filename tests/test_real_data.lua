-- test_real_data.lua: the real MNIST and CIFAR-10 that `make data` puts in data/,
-- through the loaders' default directories.  Each set is checked only when its
-- files are there; otherwise the test says it skipped it (the rest of the suite
-- never needs them).
--   MNIST: 60000 + 10000 images of 1x28x28 in [0, 1], the known first labels
--   and class counts, the mean pixel 0.1307 (the normalization constant of
--   main.py).
--   CIFAR-10: the first ten training labels 6 9 9 4 1 1 2 7 8 3 (frog, truck,
--   truck, deer, automobile, automobile, bird, horse, ship, cat), the test set
--   of 10000 with 1000 a class, its first labels, and its channel means
--   (0.4942, 0.4851, 0.4504: R > G > B, so the channels are in RGB order).
-- Run: laprun tests/test_real_data.lua, from any directory
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory

local function exists(path)
  local file = io.open(path, "rb")
  if file then file:close() end
  return file ~= nil
end

local function near(a, b, tolerance)
  return math.abs(a - b) <= tolerance
end

local function first_labels(d, count)
  return table.concat(d:labels(), " ", 1, count)
end

local function class_counts(d)
  local counts = {}
  for c = 1, 10 do counts[c] = 0 end
  for _, label in ipairs(d:labels()) do counts[label + 1] = counts[label + 1] + 1 end
  return table.concat(counts, " ")
end

local checked = 0

if exists(here .. "../data/mnist/train-images-idx3-ubyte") or exists(here .. "../data/mnist/train-images-idx3-ubyte.gz") then
  local train, test = lap.data.mnist { dir = here .. "../data/mnist" }, lap.data.mnist { dir = here .. "../data/mnist", split = "test" }
  assert(table.concat(train.shape, "x") == "60000x1x28x28", "mnist train shape " .. table.concat(train.shape, "x"))
  assert(table.concat(test.shape, "x") == "10000x1x28x28", "mnist test shape " .. table.concat(test.shape, "x"))
  assert(first_labels(train, 10) == "5 0 4 1 9 2 1 3 1 4", "mnist train labels " .. first_labels(train, 10))
  assert(first_labels(test, 10) == "7 2 1 0 4 1 4 9 5 9", "mnist test labels " .. first_labels(test, 10))
  assert(class_counts(train) == "5923 6742 5958 6131 5842 5421 5918 6265 5851 5949",
    "mnist train class counts " .. class_counts(train))
  assert(train.x:min() == 0 and train.x:max() == 1, "mnist pixels in [0, 1]")
  assert(near(train.x:mean(), 0.1307, 1e-4), "mnist mean pixel " .. train.x:mean())
  print("test_real_data.lua: MNIST in data/mnist checked")
  checked = checked + 1
else
  print("test_real_data.lua: skipped MNIST: data/mnist is not there (make data fetches it)")
end

if exists(here .. "../data/cifar10/data_batch_1.png") or exists(here .. "../data/cifar10/data_batch_1.bin") then
  local train = lap.data.cifar10 { dir = here .. "../data/cifar10", limit = 10 }
  assert(table.concat(train.shape, "x") == "10x3x32x32", "cifar10 shape " .. table.concat(train.shape, "x"))
  assert(first_labels(train, 10) == "6 9 9 4 1 1 2 7 8 3", "cifar10 train labels " .. first_labels(train, 10))
  local test = lap.data.cifar10 { dir = here .. "../data/cifar10", split = "test" }
  assert(test.n == 10000 and test.classes == 10, "cifar10 test n " .. test.n)
  assert(first_labels(test, 10) == "3 8 8 0 6 6 1 6 3 1", "cifar10 test labels " .. first_labels(test, 10))
  assert(class_counts(test) == "1000 1000 1000 1000 1000 1000 1000 1000 1000 1000",
    "cifar10 test class counts " .. class_counts(test))
  local statistics = test:normalize()   -- returns the per-channel mean and std it used
  local mean = statistics.mean
  for c, expected in ipairs { 0.4942, 0.4851, 0.4504 } do
    assert(near(mean[c], expected, 5e-4), string.format("cifar10 test mean of channel %d: %.4f, expected %.4f", c,
      mean[c], expected))
  end
  print("test_real_data.lua: CIFAR-10 in data/cifar10 checked")
  checked = checked + 1
else
  print("test_real_data.lua: skipped CIFAR-10: data/cifar10 is not there (make data fetches it)")
end
print(string.format("test_real_data.lua: ok (%d of 2 sets checked)", checked))
