-- test_failed_call.lua: the Module contract under failure (issue 13, fault 1).  A
-- forward that fails leaves a layer exactly as it was (its backward still works
-- on the last good forward and gives the same gradient); a container whose child
-- failed, or a module whose input was reshaped by someone else since its forward,
-- refuses backward with an error naming the module and both shapes, never reads
-- out of bounds.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

local function same(a, b)
  assert(lap.is_tensor(a) and lap.is_tensor(b))
  assert(#a:size() == #b:size(), "ranks differ")
  for d = 1, a:dim() do assert(a:size(d) == b:size(d), "shapes differ") end
  assert(((a - b):abs()):max() == 0, "values differ")
end

-- The issue's reproducer: Flatten kept the rejected input and its backward
-- copied 32 floats into a 5-float gradient.
local flatten = lap.nn.Flatten()
flatten:forward(lap.zeros(4, 8))
expect_error("Flatten: input of shape [5]", flatten.forward, flatten, lap.zeros(5))
local g = flatten:backward(lap.zeros(4, 8))
assert(g:dim() == 2 and g:size(1) == 4 and g:size(2) == 8)

-- Every layer: forward, backward, a rejected forward, then the same backward gives
-- the same input gradient and the same parameter gradients as before.
local layers = {
  { lap.nn.Linear(3, 2), lap.randn(4, 3), lap.randn(4, 5), "Linear: input of shape [4, 5]" },
  { lap.nn.BatchNorm(3), lap.randn(4, 3), lap.randn(4, 5), "BatchNorm: input of shape [4, 5]" },
  { lap.nn.ReLU(), lap.randn(4, 3), nil, nil },
  { lap.nn.Conv2d(2, 3, 3, { padding = 1 }), lap.randn(2, 2, 5, 5), lap.randn(2, 4, 5, 5),
    "Conv2d: input of shape [2, 4, 5, 5]" },
  { lap.nn.MaxPool2d(2), lap.randn(2, 2, 4, 4), lap.randn(2, 2), "MaxPool2d: input of shape [2, 2]" },
  { lap.nn.AvgPool2d(2), lap.randn(2, 2, 4, 4), lap.randn(2, 2, 1, 1), "AvgPool2d: kernel 2 is larger" },
  { lap.nn.GlobalAvgPool(), lap.randn(2, 2, 4, 4), lap.randn(2, 2), "GlobalAvgPool: input of shape [2, 2]" },
  { lap.nn.Flatten(), lap.randn(2, 2, 4), lap.randn(7), "Flatten: input of shape [7]" },
}
for _, case in ipairs(layers) do
  local m, x, bad, message = case[1], case[2], case[3], case[4]
  local y = m:forward(x)
  local dy = lap.randn(table.unpack(y:size()))
  m:zero_grad()
  local dx = m:backward(dy)
  local _, grads = m:parameters()
  local before = {}
  for i, t in ipairs(grads) do before[i] = t:clone() end
  if bad then expect_error(message, m.forward, m, bad) end
  m:zero_grad()
  same(m:backward(dy), dx)
  for i, t in ipairs(grads) do same(t, before[i]) end
end

-- A Sequential whose second child fails: its first child already ran on the new
-- batch, so backward refuses until the next forward, then works again.
local seq = lap.nn.Sequential { lap.nn.Linear(2, 3), lap.nn.BatchNorm(3) }
seq:forward(lap.randn(4, 2))
expect_error("Sequential.BatchNorm[2]: training needs more than 1 value", seq.forward, seq, lap.zeros(1, 2))
expect_error("Sequential: backward after a failed forward", seq.backward, seq, lap.zeros(4, 3))
-- The BatchNorm on its own: its input (the Linear's buffer) was reshaped in place.
local message = expect_error("BatchNorm: backward needs the input of the last forward, of shape [4, 3]",
  seq[2].backward, seq[2], lap.zeros(4, 3))
assert(message:find("[1, 3]", 1, true), message)
seq:forward(lap.randn(5, 2))
assert(seq:backward(lap.zeros(5, 3)):size(1) == 5)

-- A ResNet: a failed forward, then backward and the probes without an input refuse;
-- with an input the probes run again.
local function block() return lap.nn.Sequential { lap.nn.Linear(2, 2), lap.nn.ReLU(), lap.nn.Linear(2, 2) } end
local net = lap.nn.ResNet { blocks = 3, block = block, classifier = lap.nn.Linear(2, 2) }
net:forward(lap.randn(6, 2))
expect_error("ResNet.block[1].Linear[1]", net.forward, net, lap.randn(6, 3))
expect_error("ResNet: backward after a failed forward", net.backward, net, lap.zeros(6, 2))
expect_error("ResNet: displacements after a failed forward", net.displacements, net)
expect_error("ResNet: line_shape after a failed forward", net.line_shape, net)
assert(#net:displacements(lap.randn(6, 2)) == 3)
net:train()
net:forward(lap.randn(6, 2))
assert(net:backward(lap.zeros(6, 2)):size(1) == 6)
-- A block run on its own reshapes the displacement the ResNet recorded.
net:block(2):forward(lap.randn(9, 2))
message = expect_error("ResNet: backward needs the states of the last forward, of shape [6, 2]", net.backward, net,
  lap.zeros(6, 2))
assert(message:find("[9, 2]", 1, true), message)
expect_error("ResNet: states needs the states", net.states, net)
net:forward(lap.randn(6, 2))
assert(#net:states() == 4)

-- A Sequential with BatchNorm + in-place ReLU recomputes the BatchNorm's output in
-- backward: the recomputation checks the BatchNorm's input too.
local conv = lap.nn.Sequential { lap.nn.Conv2d(1, 2, 3, { padding = 1 }), lap.nn.BatchNorm(2),
  lap.nn.ReLU { inplace = true }, lap.nn.Conv2d(2, 1, 3, { padding = 1 }) }
conv:forward(lap.randn(4, 1, 96, 96))
conv[1]:forward(lap.randn(8, 1, 96, 96))
expect_error("Sequential.BatchNorm[2]: recomputation needs the input of the last forward", conv.backward, conv,
  lap.zeros(4, 1, 96, 96))
print("test_failed_call: ok")
