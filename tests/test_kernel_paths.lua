-- test_kernel_paths.lua: results do not depend on which kernel path runs.
--
-- lap's hot loops (BatchNorm, activations, the Winograd transforms, the optimizer
-- updates, axpy and fill) are compiled for a baseline (x86-64-v2), AVX2 and
-- AVX-512 path (runtime/core/kernels.h).  For every path this CPU runs (AVX-512 is
-- checked only on machines that have it), the same seeded work is repeated:
-- a conv ResNet on MNIST-shaped data (3x3 convolutions through Winograd,
-- BatchNorm on images, ReLU in place, SGD with momentum and the transport term),
-- a 2-D LAP ResNet with Adam, BatchNorm and Tanh/Sigmoid, and an eval forward.
-- Tolerance: the paths are compiled without contracted multiply-adds and reduce
-- in a fixed order, except the Winograd tile products (fused multiply-adds on
-- AVX2/AVX-512); the check allows 1e-6 relative (losses) and, for the eval
-- output, 1e-5 of its scale with Winograd F(2x2, 3x3) and 5e-5 with F(4x4, 3x3),
-- whose transforms amplify the products' rounding (test_conv measures a single
-- convolution at 2-9e-6 against a direct one, 7-15 times F(2x2)'s error).  The
-- conv network runs with each tile size.
local models = require "lap.models"

local function run_conv()
  lap.manual_seed(3)
  local net = models.one_rep_resnet { dataset = "mnist", width = 12, blocks = 2 }
  lap.init.orthogonal(net, { gain = 0.5 })
  local x = lap.randn(16, 1, 28, 28)
  local labels = {}
  for i = 1, 16 do labels[i] = (i * 3) % 10 end
  local trainer = lap.train.Regularized { net = net, lambda = 0.1,
    optimizer = lap.optim.SGD { lr = 0.05, momentum = 0.9, weight_decay = 1e-4 } }
  local losses = {}
  for step = 1, 4 do losses[step] = trainer:step(x, labels).loss end
  net:evaluate()
  local out = net:forward(x)
  return losses, out
end

local function run_flat()
  lap.manual_seed(5)
  local data = lap.data.circles { n = 200, factor = 0.3, noise = 0.05, seed = 1 }
  local net = lap.nn.ResNet { blocks = 6, transport = "frobenius",
    block = function() return lap.nn.Sequential { lap.nn.Linear(2, 2), lap.nn.BatchNorm(2), lap.nn.Tanh(),
      lap.nn.Linear(2, 2), lap.nn.Sigmoid() } end,
    classifier = lap.nn.Linear(2, 2) }
  lap.init.kaiming(net)
  local trainer = lap.train.LAP { net = net, lambda0 = 0.1, tau = 0.1, steps = 5, rule = "cloud4",
    optimizer = lap.optim.Adam { lr = 0.01, betas = { 0.9, 0.99 } } }
  local losses = {}
  for epoch = 1, 3 do losses[epoch] = trainer:epoch(data, { batch = 10, shuffle = false }).loss end
  return losses, trainer:evaluate(data).transport
end

local function close(a, b, tolerance)
  return math.abs(a - b) <= tolerance * math.max(1, math.abs(a), math.abs(b))
end

local paths = lap.info().kernel_paths
local start_path, start_tile = lap.kernels(), lap.winograd_tile()
local output_tolerance = { [2] = 1e-5, [4] = 5e-5 }
local reference
for _, path in ipairs(paths) do
  assert(lap.kernels(path) == path)
  local conv = {}
  for _, tile in ipairs { 2, 4 } do
    lap.winograd_tile(tile)
    local losses, out = run_conv()
    conv[tile] = { losses = losses, out = out }
  end
  lap.winograd_tile(start_tile)
  local flat_losses, flat_transport = run_flat()
  if not reference then
    reference = { path = path, conv = conv, conv_losses = conv[2].losses, flat_losses = flat_losses,
                  flat_transport = flat_transport }
  else
    local differences = {}
    for _, tile in ipairs { 2, 4 } do
      for i, loss in ipairs(conv[tile].losses) do
        local expected = reference.conv[tile].losses[i]
        assert(close(loss, expected, 1e-6), string.format(
          "conv F(%dx%d) step %d: loss %.9g on %s, %.9g on %s", tile, tile, i, loss, path, expected, reference.path))
      end
      local scale = reference.conv[tile].out:abs():max()
      local difference = (conv[tile].out - reference.conv[tile].out):abs():max()
      assert(difference <= output_tolerance[tile] * math.max(1, scale), string.format(
        "conv F(%dx%d) eval output differs by %g (scale %g) between %s and %s", tile, tile, difference, scale, path,
        reference.path))
      differences[#differences + 1] = string.format("F(%dx%d) %g", tile, tile, difference)
    end
    local difference = table.concat(differences, ", ")
    for i, loss in ipairs(flat_losses) do
      assert(close(loss, reference.flat_losses[i], 1e-6), string.format(
        "2-D epoch %d: loss %.9g on %s, %.9g on %s", i, loss, path, reference.flat_losses[i], reference.path))
    end
    assert(close(flat_transport, reference.flat_transport, 1e-6), "2-D transport differs on " .. path)
    print(string.format("%s agrees with %s (largest conv output difference: %s)", path, reference.path, difference))
  end
end
lap.kernels(start_path)
-- The loss went down: the runs above trained something (they are not vacuous).
assert(reference.conv_losses[4] < reference.conv_losses[1], "conv losses did not decrease")
print(string.format("kernel paths checked: %s", table.concat(paths, ", ")))
