-- test_layernorm.lua: lap.nn.LayerNorm (runtime/nn/layernorm.c) against PyTorch's
-- torch.nn.LayerNorm(6, eps=1e-3) on a fixed (3, 4, 6) input (tests/fixtures/
-- torch_layernorm.txt, written by tests/make_layernorm_fixture.py): output, input
-- gradient and parameter gradients, with and without affine, within 1e-5 of each
-- record's largest magnitude (float32 sums against torch's; measured ~3e-7).  Also:
-- the same output in train and eval mode, lap.init leaves weight 1 and bias 0, a
-- frozen LayerNorm accumulates no gradient, and wrong shapes or arguments are errors
-- naming the layer and the shapes.  Gradients against finite differences are in
-- test_gradcheck.c, the checkpoint round trip in test_module_types.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")
local fixture = dofile(here .. "fixture.lua")(here .. "fixtures/torch_layernorm.txt")
local TOL = 1e-5

local function close(name, got)
  local r = fixture.record(name)
  local flat = got:reshape(got:numel())
  assert(#r.values == got:numel(), name .. ": " .. got:numel() .. " values, expected " .. #r.values)
  local scale = 0
  for _, v in ipairs(r.values) do scale = math.max(scale, math.abs(v)) end
  local worst = 0
  for i, v in ipairs(r.values) do worst = math.max(worst, math.abs(flat[i] - v) / scale) end
  assert(worst <= TOL, string.format("%s differs from PyTorch by %.3g of its scale (tolerance %g)", name, worst, TOL))
  return worst
end

local x, dy = fixture.tensor("x"), fixture.tensor("dy")
local ln = lap.nn.LayerNorm(6, { eps = 1e-3 })
assert(ln.weight:sum() == 6 and ln.bias:sum() == 0, "a new LayerNorm has weight 1 and bias 0")
ln.weight:copy(fixture.tensor("weight"))
ln.bias:copy(fixture.tensor("bias"))
ln:zero_grad()
local y = ln:forward(x)
assert(y:size(1) == 3 and y:size(2) == 4 and y:size(3) == 6, "LayerNorm keeps the input's shape")
close("y", y)
close("dx", ln:backward(dy))
local _, grads = ln:parameters()
local worst = math.max(close("dweight", grads[1]), close("dbias", grads[2]))

-- eval mode computes the same (no running statistics)
ln:evaluate()
local y_eval = ln:forward(x)
for i = 1, y:numel() do assert(y_eval:reshape(y:numel())[i] == y:reshape(y:numel())[i], "eval output differs") end
ln:train()

-- frozen: no parameter gradient accumulates, the input gradient is still right
ln:zero_grad()
ln:freeze()
ln:forward(x)
close("dx", ln:backward(dy))
assert(grads[1]:abs():sum() == 0 and grads[2]:abs():sum() == 0, "a frozen LayerNorm must not accumulate gradients")
ln:unfreeze()

local plain = lap.nn.LayerNorm(6, { eps = 1e-3, affine = false })
assert(#plain:parameters() == 0, "affine = false has no parameters")
close("y_plain", plain:forward(x))
close("dx_plain", plain:backward(dy))

-- lap.init resets weight 1, bias 0 (the type's own initialization)
ln.weight:copy(lap.randn(6))
lap.init.orthogonal(lap.nn.Sequential { lap.nn.Linear(6, 6), ln })
assert(ln.weight:sum() == 6 and ln.bias:abs():sum() == 0, "lap.init should reset LayerNorm to weight 1, bias 0")

expect_error("LayerNorm: input of shape [4, 5] must end with 6 features (weight of shape [6])", ln.forward, ln, lap.zeros(4, 5))
expect_error("LayerNorm: number of features must be positive", lap.nn.LayerNorm, 0)
expect_error("LayerNorm: eps must be a positive number", lap.nn.LayerNorm, 3, { eps = -1 })
expect_error("nn.LayerNorm", lap.nn.LayerNorm, 3, { momentum = 0.1 })
print(string.format("test_layernorm.lua: ok (largest difference from PyTorch %.2g of the scale)", worst))
