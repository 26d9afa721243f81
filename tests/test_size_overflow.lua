-- test_size_overflow.lua: sizes from user input cannot wrap, and Lua integers that
-- do not fit the C type are errors, not truncations (issue 13, fault 4).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")
local function relu_block() return lap.nn.ReLU() end

-- ResNet{blocks = 2^32 + 1} built 1 block (the count was cast to int).
expect_error("nn.ResNet: option 'blocks' must be in [0, 2147483646], got 4294967297", lap.nn.ResNet,
  { blocks = (1 << 32) + 1, block = relu_block })
expect_error("nn.ResNet: option 'blocks' must be in [0,", lap.nn.ResNet, { blocks = -1, block = relu_block })
assert(lap.nn.ResNet { blocks = 2, block = relu_block }.nblocks == 2)

-- t:narrow(math.maxinteger, 1) computed start + length - 1 in its message (overflow).
local t = lap.zeros(3, 2)
expect_error("tensor.narrow: rows 9223372036854775807..9223372036854775807 out of range for [3, 2]", t.narrow, t,
  math.maxinteger, 1)
expect_error("tensor.narrow: 2 rows from row 9223372036854775807 out of range for [3, 2]", t.narrow, t,
  math.maxinteger, 2)
expect_error("tensor.narrow: 9223372036854775807 rows from row 2 out of range", t.narrow, t, 2, math.maxinteger)
expect_error("out of range", t.narrow, t, math.mininteger, 1)
assert(t:narrow(2, 2):size(1) == 2)

-- circles{n = 2^62}: n * 2 * 8 bytes wrapped to 0 and the generator wrote past it.
expect_error("data.circles: size 4611686018427387904 x 16 is too large", lap.data.circles, { n = 1 << 62 })
expect_error("data.moons: size", lap.data.moons, { n = 1 << 61 })
assert(lap.data.circles { n = 10 }.n == 10)

-- Counts and seeds cast to int / uint32 silently.
local net = lap.nn.ResNet { blocks = 1, block = function() return lap.nn.Linear(2, 2) end }
expect_error("train.LAP: option 'steps' must be in [1, 2147483647], got 4294967301", lap.train.LAP,
  { net = net, optimizer = lap.optim.SGD {}, steps = (1 << 32) + 5 })
expect_error("train.LAP: option 'seed' must be in [0, 4294967295]", lap.train.LAP,
  { net = net, optimizer = lap.optim.SGD {}, seed = 1 << 32 })
expect_error("init.normal: option 'seed' must be in [-1, 4294967295]", lap.init.normal, lap.nn.Linear(2, 2),
  { std = 1, seed = 1 << 40 })
expect_error("milestones must be integers in [1, 2147483647]", lap.optim.SGD, { milestones = { 1 << 40 } })

-- Tensor shapes whose element count overflows.
expect_error("has too many elements", lap.zeros, 1 << 40, 1 << 40)
expect_error("too many elements", function() return lap.zeros(0):reshape(1 << 40, 1 << 40, 0) end)
print("test_size_overflow: ok")
