-- test_tensor.lua: the Lua tensor API (bindings/lap_tensor.c), run as
-- `./laprun tests/test_tensor.lua` with the global `lap` preloaded.
-- Covers construction, indexing, views, arithmetic with broadcasting, reductions,
-- printing, error messages, and that dropped tensors are garbage collected.

local function check_error(fragment, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error containing '" .. fragment .. "'")
  err = tostring(err)
  assert(err:find(fragment, 1, true), "error '" .. err .. "' does not contain '" .. fragment .. "'")
end

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-5) * (1 + math.abs(b))
end

-- construction
local t = lap.tensor{{1, 2, 3}, {4, 5, 6}}
assert(lap.is_tensor(t) and not lap.is_tensor({}) and not lap.is_tensor(3))
assert(t:dim() == 2 and t:numel() == 6)
local size = t:size()
assert(#size == 2 and size[1] == 2 and size[2] == 3)
assert(t:size(1) == 2 and t:size(2) == 3 and math.type(t:size(2)) == "integer")
assert(#t == 2)
local v = lap.tensor{1, 2, 3}
assert(v:dim() == 1 and #v == 3)
assert(lap.tensor{}:numel() == 0)
local z = lap.zeros(2, 3)
assert(z:sum() == 0 and z:size(2) == 3)
assert(lap.zeros({4, 5}):numel() == 20)
assert(lap.ones(3, 2):sum() == 6)
local f = lap.full({2, 2}, 2.5)
assert(f:sum() == 10 and f[2][1] == 2.5)
assert(lap.full(3, 7):sum() == 21)
local r = lap.rand(100, 10)
assert(r:min() >= 0 and r:max() < 1 and r:numel() == 1000)
local g = lap.randn(1000)
assert(math.abs(g:mean()) < 0.2 and g:std() > 0.8 and g:std() < 1.2)
local copy = lap.tensor(t)
copy[1][1] = 100
assert(t[1][1] == 1 and copy[1][1] == 100)
local cube = lap.tensor{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}
assert(cube:dim() == 3 and cube:size(3) == 2 and cube[2][1][2] == 6)

-- indexing
assert(t[2][3] == 6 and math.type(t[2][3]) == "integer")
assert(v[2] == 2)
local row = t[2]
assert(lap.is_tensor(row) and row:dim() == 1 and row[1] == 4)
v[3] = 30
assert(v[3] == 30)
t[1] = {7, 8, 9}
assert(t[1][1] == 7 and t[1][3] == 9)
t[1] = lap.tensor{1, 2, 3}
assert(t[1][2] == 2)
local filled = lap.zeros(2, 2)
filled[2] = 5
assert(filled:sum() == 10)
assert(t:select(2)[3] == 6)
assert(v:select(1) == 1)

-- views share storage
local parent = lap.zeros(4, 3)
local row_view = parent[2]
row_view[3] = 42
assert(parent[2][3] == 42)
parent:select(3):fill(1)
assert(parent[3]:sum() == 3)
local narrowed = parent:narrow(2, 2)
assert(narrowed:size(1) == 2 and narrowed[1][3] == 42)
narrowed[2][1] = -1
assert(parent[3][1] == -1)
assert(parent:narrow(1, 3, 1):size(1) == 1)
local flat = parent:reshape(12)
flat[1] = 9
assert(parent[1][1] == 9)
local inferred = parent:view(-1, 6)
assert(inferred:size(1) == 2 and inferred:size(2) == 6)
assert(parent:reshape({6, 2}):size(2) == 2)
local cloned = parent:clone()
cloned[1][1] = 0
assert(parent[1][1] == 9)
local dst = lap.zeros(3, 2)
dst:copy(lap.tensor{1, 2, 3, 4, 5, 6})
assert(dst[3][2] == 6)

-- arithmetic and broadcasting
local a = lap.tensor{{1, 2, 3}, {4, 5, 6}}
local b = lap.tensor{10, 20, 30}
assert((a + b) == lap.tensor{{11, 22, 33}, {14, 25, 36}})
assert((b - a) == lap.tensor{{9, 18, 27}, {6, 15, 24}})
assert((a * 2) == lap.tensor{{2, 4, 6}, {8, 10, 12}})
assert((2 * a) == (a * 2))
assert((1 - a) == lap.tensor{{0, -1, -2}, {-3, -4, -5}})
assert((6 / a)[1][3] == 2)
assert((a / 2)[2][2] == 2.5)
assert((a * a):sum() == 91)
assert((a / a):sum() == 6)
assert((-a):sum() == -21)
assert((a + lap.tensor{1}):sum() == 27)
assert(a ~= b and a == a:clone())
assert(lap.tensor{1, 2} ~= lap.tensor{{1, 2}})
local m = lap.matmul(a, a:t())
assert(m == lap.tensor{{14, 32}, {32, 77}})
assert(a:matmul(lap.tensor{{1}, {1}, {1}}) == lap.tensor{{6}, {15}})
assert(a:t():size(1) == 3 and a:t()[3][2] == 6)
assert(lap.tensor{-1, 2}:abs() == lap.tensor{1, 2})
assert(lap.tensor{2, 3}:pow(2) == lap.tensor{4, 9})
assert(lap.tensor{4, 9}:sqrt() == lap.tensor{2, 3})
assert(close(lap.tensor{0, 1}:exp()[2], math.exp(1)))
assert(close(lap.tensor{1, math.exp(2)}:log()[2], 2))

-- reductions
assert(a:sum() == 21 and math.type(a:sum()) == "integer")
assert(lap.tensor{{1, 2}}:sum() == 3 and math.type(lap.tensor{{1, 2}}:sum()) == "integer")
assert(a:mean() == 3.5)
assert(close(a:norm(), math.sqrt(91)))
assert(a:min() == 1 and a:max() == 6)
assert(close(a:std(), 1.8708287))   -- unbiased, like torch
local scores = lap.tensor{{0.1, 0.9, 0.0}, {3, 1, 2}, {5, 5, 1}}
assert(scores:argmax(2) == lap.tensor{2, 1, 1})
assert(scores:argmax(1) == lap.tensor{3, 3, 2})
assert(lap.tensor{3, 7, 1}:argmax() == 2)
local nested = a:totable()
assert(#nested == 2 and nested[2][3] == 6 and math.type(nested[1][1]) == "integer")
assert(lap.tensor{0.5}:totable()[1] == 0.5)

-- printing
local text = tostring(a)
assert(text:find("[lap.Tensor of size 2x3]", 1, true), text)
assert(text:find(" 1  2  3", 1, true) and text:find(" 4  5  6", 1, true), text)
assert(tostring(lap.tensor{1.5, 2}):find("1.5", 1, true))
local long = tostring(lap.zeros(100, 2))
assert(long:find("...", 1, true) and long:find("[lap.Tensor of size 100x2]", 1, true))
assert(select(2, long:gsub("\n", "")) < 25, "a long tensor prints elided")
assert(tostring(cube):find("(2,.,.) =", 1, true))
assert(tostring(lap.zeros(50, 50, 50)) == "[lap.Tensor of size 50x50x50]")

-- errors
check_error("lap.tensor: row 2 has 2 elements, expected 3", lap.tensor, {{1, 2, 3}, {4, 5}})
check_error("lap.tensor: expected a table of numbers, got string", lap.tensor, "abc")
check_error("lap.tensor: expected a number at [2], got string", lap.tensor, {1, "x"})
check_error("lap.tensor: expected a table at [2], got number", lap.tensor, {{1}, 2})
check_error("tensor.matmul: shapes [2, 3] and [2, 3] do not match", lap.matmul, a, a)
check_error("tensor: index 5 out of range for dim 1 of size 2", function() return a[5] end)
check_error("tensor: index 0 out of range", function() return v[0] end)
check_error("tensor: index 4 out of range for dim 1 of size 3", function() v[4] = 1 end)
check_error("is not an integer", function() return v[1.5] end)
check_error("tensor: reshape of [2, 3] (6 elements) to [4, 2] (8 elements)", a.reshape, a, 4, 2)
check_error("tensor: cannot apply '+' to shapes [2, 3] and [2]", function() return a + lap.tensor{1, 2} end)
check_error("cannot apply '+' to lap.Tensor and table", function() return a + {} end)
check_error("tensor.narrow: rows 2..4 out of range for [2, 3]", a.narrow, a, 2, 3)
check_error("tensor.size: dim 3 out of range", a.size, a, 3)
check_error("tensor.copy: cannot copy [2] (2 elements) into tensor [2, 3] (6 elements)", a.copy, a, lap.tensor{1, 2})
check_error("lap.zeros: dimension 2 must be a non-negative integer", lap.zeros, 2, -1)
check_error("tensor.t: expected a 2-D tensor", v.t, v)
check_error("bad argument #1", a.sum, 5)
check_error("tensor.mean: empty tensor", function() return lap.tensor{}:mean() end)

-- dropped tensors are reclaimed by the garbage collector
collectgarbage()
collectgarbage()
local before = collectgarbage("count")
for i = 1, 10000 do
  local x = lap.ones(10, 10) * i
  local y = x[1] + 1
  assert(y[1] == i + 1)
end
collectgarbage()
collectgarbage()
local after = collectgarbage("count")
assert(after - before < 200, string.format("Lua heap grew from %.0f KB to %.0f KB", before, after))

print("test_tensor.lua: ok")
