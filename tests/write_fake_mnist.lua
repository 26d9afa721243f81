-- tests/write_fake_mnist.lua: MNIST's four IDX files (big-endian headers, 28x28
-- random images, labels 0..9 in turn) in DIR, for the shell tests that run the
-- experiments without the real data.
--   laprun tests/write_fake_mnist.lua DIR TRAIN_COUNT TEST_COUNT SEED
local dir, train, test, seed = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
assert(dir and train and test and seed, "usage: laprun tests/write_fake_mnist.lua DIR TRAIN_COUNT TEST_COUNT SEED")
local function idx(name, count, images)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  if images then f:write(string.pack(">I4I4I4I4", 0x803, count, 28, 28)) else f:write(string.pack(">I4I4", 0x801, count)) end
  local bytes = {}
  for i = 1, count * (images and 784 or 1) do bytes[i] = images and math.random(0, 255) or (i - 1) % 10 end
  for i = 1, #bytes, 4096 do f:write(string.char(table.unpack(bytes, i, math.min(#bytes, i + 4095)))) end
  f:close()
end
math.randomseed(seed)
idx("train-images-idx3-ubyte", train, true); idx("train-labels-idx1-ubyte", train, false)
idx("t10k-images-idx3-ubyte", test, true); idx("t10k-labels-idx1-ubyte", test, false)
