-- test_stack_arrays.lua: nothing on the C stack is sized by the data (issue 13,
-- fault 3).  BatchNorm kept five arrays of its feature count on the stack, so
-- BatchNorm(450000) overflowed it; the sum of squares kept one partial sum per
-- 32768 elements.  (The build warns about any variable-length array: -Wvla.)
local features = 450000
local bn = lap.nn.BatchNorm(features)
local x = lap.randn(2, features)
local y = bn:forward(x)
-- With two rows, each normalized feature is -1 / +1 (up to eps): the rows sum to 0.
local column_sums = (y[1] + y[2]):abs():max()
assert(column_sums < 1e-3, "normalized rows should cancel, got " .. column_sums)
local dx = bn:backward(lap.ones(2, features))
assert(dx:size(2) == features and dx:abs():mean() < 1e-4, "a constant gradient has no effect through BatchNorm")
bn:evaluate()
assert(bn:forward(x):size(2) == features)

-- A sum of squares over more than 256 blocks of 32768 (in batches of partial sums).
local n = 9 * 1000 * 1000
local ones = lap.ones(n)
assert(math.abs(ones:norm() - 3000) < 1e-9, "norm of 9e6 ones is 3000, got " .. ones:norm())
print("test_stack_arrays: ok")
