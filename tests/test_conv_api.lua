-- test_conv_api.lua: the Lua API of lap.nn's image layers (Conv2d, ConvTranspose2d,
-- AvgPool2d, MaxPool2d, GlobalAvgPool, Flatten) and lap.nn.mse: constructors and
-- their option checks, output shapes through an MNIST-shaped pipeline, error
-- messages that name the module and both shapes, and a convolutional ResNet
-- (conv blocks, Flatten + Linear classifier) that lap.train.Plain trains.
-- Numerical correctness is tested in C (tests/test_pool.c and the conv tests).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

local function shape(t)
  local s = {}
  for d = 1, t:dim() do s[d] = t:size(d) end
  return table.concat(s, "x")
end

local function expect_shape(t, expected, what)
  assert(shape(t) == expected, what .. ": shape " .. shape(t) .. ", expected " .. expected)
end

lap.manual_seed(0)
local nn = lap.nn

-- Constructors, defaults and descriptions.
assert(tostring(nn.Conv2d(1, 16, 3, { padding = 1 })) == "Conv2d(1 -> 16, 3x3, padding 1)")
assert(nn.Conv2d(3, 8, { 3, 5 }):type() == "Conv2d")
assert(tostring(nn.MaxPool2d(2)) == "MaxPool2d(2, stride 2)", "stride defaults to the kernel")
assert(tostring(nn.AvgPool2d(3, { stride = 2, padding = 1 })) == "AvgPool2d(3, stride 2, padding 1)")
assert(tostring(nn.GlobalAvgPool()) == "GlobalAvgPool")
assert(tostring(nn.Flatten()) == "Flatten")
local conv = nn.Conv2d(4, 6, 3)
assert(shape(conv.weight) == "6x4x3x3" and shape(conv.bias) == "6")
assert(#conv:parameters() == 2)
assert(#nn.Conv2d(4, 6, 3, { bias = false }):parameters() == 1, "bias = false has no bias")
assert(shape(nn.Conv2d(4, 6, 3, { groups = 2 }).weight) == "6x2x3x3", "grouped weight is (out, in/groups, k, k)")
assert(shape(nn.ConvTranspose2d(4, 6, 3).weight) == "4x6x3x3", "transposed weight is (in, out, k, k)")
assert(#nn.GlobalAvgPool():parameters() == 0 and #nn.MaxPool2d(2):parameters() == 0)

-- Option validation at the boundary.
expect_error("unknown option 'strides'", nn.Conv2d, 1, 2, 3, { strides = 2 })
expect_error("unknown option 'dilation'", nn.Conv2d, 1, 2, 3, { dilation = 2 })
expect_error("unknown option 'groups'", nn.ConvTranspose2d, 1, 2, 3, { groups = 2 })
expect_error("unknown option 'ceil_mode'", nn.MaxPool2d, 2, { ceil_mode = true })
expect_error("unknown option 'count_include_pad'", nn.AvgPool2d, 2, { count_include_pad = false })
expect_error("nn.Conv2d: option 'stride' must be an integer", nn.Conv2d, 1, 2, 3, { stride = 1.5 })
expect_error("nn.Conv2d: option 'bias' must be a boolean", nn.Conv2d, 1, 2, 3, { bias = 1 })
expect_error("nn.Conv2d: kernel must be a number or {kh, kw}", nn.Conv2d, 1, 2, "3")
expect_error("nn.Conv2d: kernel must be a number or {kh, kw}", nn.Conv2d, 1, 2, { 3, 3, 3 })
expect_error("nn.ConvTranspose2d: kernel must be square", nn.ConvTranspose2d, 1, 2, { 3, 5 })
expect_error("nn.MaxPool2d: stride must be positive", nn.MaxPool2d, 2, { stride = 0 })
expect_error("out of range", nn.Conv2d, 1, 2, 2 ^ 40)
expect_error("groups must divide", nn.Conv2d, 3, 4, 3, { groups = 2 })
expect_error("output padding 2 must be >= 0 and smaller than the stride 2", nn.ConvTranspose2d, 1, 1, 3,
  { stride = 2, output_padding = 2 })
expect_error("MaxPool2d: padding 2 should be at most half the kernel size 3", nn.MaxPool2d, 3, { padding = 2 })
expect_error("AvgPool2d: kernel must be positive", nn.AvgPool2d, 0)

-- An MNIST-shaped pipeline: (2, 1, 28, 28) -> (2, 32, 14, 14) -> back to (2, 16, 28, 28).
local x = lap.randn(2, 1, 28, 28)
local encoder = nn.Sequential { nn.Conv2d(1, 16, 3, { padding = 1 }), nn.ReLU(),
  nn.Conv2d(16, 32, 5, { stride = 2, padding = 2 }), nn.ReLU() }
local h = encoder:forward(x)
expect_shape(h, "2x32x14x14", "Conv2d encoder")
local decoder = nn.ConvTranspose2d(32, 16, 5, { stride = 2, padding = 2, output_padding = 1 })
expect_shape(decoder:forward(h), "2x16x28x28", "ConvTranspose2d")
expect_shape(nn.ConvTranspose2d(32, 16, 5, { stride = 2, padding = 2 }):forward(h), "2x16x27x27",
  "ConvTranspose2d without output padding")
expect_shape(nn.GlobalAvgPool():forward(h), "2x32", "GlobalAvgPool")
expect_shape(nn.Flatten():forward(h), "2x6272", "Flatten")
expect_shape(nn.MaxPool2d(2):forward(h), "2x32x7x7", "MaxPool2d")
expect_shape(nn.MaxPool2d(3, { stride = 2, padding = 1 }):forward(h), "2x32x7x7", "MaxPool2d padded")
expect_shape(nn.AvgPool2d(2, { stride = 1 }):forward(h), "2x32x13x13", "AvgPool2d stride 1")
expect_shape(nn.Conv2d(32, 8, { 3, 1 }):forward(h), "2x8x12x14", "Conv2d with a 3x1 kernel")
-- backward through the whole pipeline gives the input's shape
local y = encoder:forward(x)
expect_shape(encoder:backward(lap.ones(2, 32, 14, 14)), "2x1x28x28", "Conv2d encoder backward")
local pooled = nn.Sequential { nn.MaxPool2d(2), nn.GlobalAvgPool() }
pooled:forward(y)
expect_shape(pooled:backward(lap.ones(2, 32)), "2x32x14x14", "pooling backward")

-- Values: the pools against hand-computed results.
local img = lap.tensor { { { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 }, { 13, 14, 15, 16 } } } }
local mx = nn.MaxPool2d(2):forward(img)
assert(mx[1][1][1][1] == 6 and mx[1][1][1][2] == 8 and mx[1][1][2][1] == 14 and mx[1][1][2][2] == 16)
local av = nn.AvgPool2d(2):forward(img)
assert(av[1][1][1][1] == 3.5 and av[1][1][2][2] == 13.5)
local gap = nn.GlobalAvgPool():forward(img)
assert(gap[1][1] == 8.5)
local flat = nn.Flatten():forward(img)
assert(shape(flat) == "1x16" and flat[1][7] == 7)

-- Wrong input shapes: the message names the module and both shapes.
local message = expect_error("Conv2d", conv.forward, conv, lap.randn(2, 3, 8, 8))
assert(message:find("[2, 3, 8, 8]", 1, true) and message:find("[6, 4, 3, 3]", 1, true),
  "Conv2d's message should give the input and weight shapes: " .. message)
expect_error("Conv2d: input of shape [2, 4] must be 4-D", conv.forward, conv, lap.randn(2, 4))
expect_error("smaller than the 3x3 kernel", conv.forward, conv, lap.randn(1, 4, 2, 2))
message = expect_error("ConvTranspose2d", decoder.forward, decoder, lap.randn(2, 16, 14, 14))
assert(message:find("[2, 16, 14, 14]", 1, true) and message:find("[32, 16, 5, 5]", 1, true), message)
expect_error("MaxPool2d: input of shape [2, 3] should be (N, C, H, W)", nn.MaxPool2d(2).forward, nn.MaxPool2d(2),
  lap.randn(2, 3))
local big = nn.AvgPool2d(5)
expect_error("AvgPool2d: kernel 5 is larger than the input of shape [1, 1, 4, 4] with padding 0", big.forward,
  big, img)
expect_error("GlobalAvgPool: input of shape [2, 32] should be (N, C, H, W)", nn.GlobalAvgPool().forward,
  nn.GlobalAvgPool(), lap.randn(2, 32))
expect_error("Flatten: input of shape [5]", nn.Flatten().forward, nn.Flatten(), lap.randn(5))
-- inside a container, the path leads to the failing child
local seq = nn.Sequential { nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(10, 2) }
message = expect_error("Sequential", seq.forward, seq, lap.randn(2, 1, 6, 6))
assert(message:find("Linear", 1, true) and message:find("[2, 64]", 1, true), message)

-- lap.nn.mse: mean over every element, gradient 2 (out - target) / n.
local out = lap.tensor { { 1, 2 }, { 3, 4 } }
local target = lap.tensor { { 0, 2 }, { 5, 4 } }
local loss, grad = nn.mse(out, target)
assert(math.abs(loss - 5 / 4) < 1e-12, "mse value " .. loss)
expect_shape(grad, "2x2", "mse gradient")
assert(grad[1][1] == 0.5 and grad[1][2] == 0 and grad[2][1] == -1 and grad[2][2] == 0, "mse gradient values")
message = expect_error("nn.mse", nn.mse, out, lap.zeros(4))
assert(message:find("[2, 2]", 1, true) and message:find("[4]", 1, true), "mse names both shapes: " .. message)
expect_error("lap.Tensor expected", nn.mse, out, { 1, 2 })
-- an autoencoder step through mse: the decoder's gradient comes back to the input's shape
local ae = nn.Sequential { nn.Conv2d(1, 4, 3, { stride = 2, padding = 1 }), nn.ReLU(),
  nn.ConvTranspose2d(4, 1, 3, { stride = 2, padding = 1, output_padding = 1 }) }
local recon = ae:forward(x)
expect_shape(recon, "2x1x28x28", "autoencoder output")
local l, g = nn.mse(recon, x)
assert(l > 0)
expect_shape(ae:backward(g), "2x1x28x28", "autoencoder input gradient")

-- A convolutional ResNet trains: loss decreases on a fixed random batch.
lap.manual_seed(1)
local function conv_block()
  return nn.Sequential { nn.Conv2d(8, 8, 3, { padding = 1 }), nn.ReLU(), nn.Conv2d(8, 8, 3, { padding = 1 }) }
end
local net = nn.ResNet {
  encoder = nn.Sequential { nn.Conv2d(1, 8, 3, { stride = 2, padding = 1 }), nn.ReLU() },
  blocks = 3, block = conv_block,
  classifier = nn.Sequential { nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 3) },
  step = 0.5,
}
lap.init.kaiming(net)
local images = lap.randn(24, 1, 16, 16)
local labels = {}
for i = 1, 24 do labels[i] = (i - 1) % 3 end
-- make the task learnable: shift each class's mean brightness
for i = 1, 24 do
  local img_i = images:select(i)
  img_i:copy(img_i + labels[i] * 0.5)
end
local data = lap.data.dataset(images, labels)
local trainer = lap.train.Plain { net = net, optimizer = lap.optim.Adam { lr = 0.01 } }
local first = trainer:evaluate(data)
local last
for _ = 1, 8 do last = trainer:epoch(data, { batch = 8 }) end
local final = trainer:evaluate(data)
assert(final.loss < first.loss, string.format("loss should decrease: %.4f -> %.4f", first.loss, final.loss))
print(string.format("conv ResNet: loss %.4f -> %.4f, accuracy %.2f, transport %.4f", first.loss, final.loss,
  final.accuracy, final.transport))
local displacements = net:displacements(images)
assert(#displacements == 3)
expect_shape(displacements[1], "24x8x8x8", "displacements keep the feature map's shape")

-- BatchNorm -> in-place ReLU -> Conv2d: in training the ReLU's output is not kept
-- but recomputed for the backward pass; the results are bit for bit those of the
-- same block with an ordinary ReLU (whose output is kept).
do
  local function pre_activation(relu)
    lap.manual_seed(11)
    return nn.Sequential { nn.BatchNorm(8), relu, nn.Conv2d(8, 8, 3, { padding = 1, bias = false }) }
  end
  local recomputing, keeping = pre_activation(nn.ReLU { inplace = true }), pre_activation(nn.ReLU())
  local x = lap.randn(4, 8, 48, 48) -- 73728 values: large enough to be evicted
  local grad = lap.randn(4, 8, 48, 48)
  for step = 1, 2 do -- twice: the second forward refills the evicted buffer
    local y1, y2 = recomputing:forward(x), keeping:forward(x)
    assert((y1 - y2):abs():max() == 0, "outputs differ")
    if step == 1 then
      -- the convolution's input inside the container is gone until the container's backward
      expect_error("was not kept", recomputing[3].backward, recomputing[3], grad)
    end
    local g1, g2 = recomputing:backward(grad), keeping:backward(grad)
    assert((g1 - g2):abs():max() == 0, "input gradients differ")
    local _, grads1 = recomputing:parameters()
    local _, grads2 = keeping:parameters()
    for i = 1, #grads1 do assert((grads1[i] - grads2[i]):abs():max() == 0, "gradient " .. i .. " differs") end
  end
  -- in eval mode nothing is evicted: the convolution's backward alone works
  recomputing:evaluate()
  recomputing:forward(x)
  recomputing[3]:backward(grad)
end

print("test_conv_api: ok")
