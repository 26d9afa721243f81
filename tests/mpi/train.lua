-- tests/mpi/train.lua: data-parallel training (distributed = true) against
-- single-process training, on every rank of `mpirun -np P` (run by test_mpi.sh).
--
-- Each rank trains, from the same seeded initialization and on the same batches,
-- a reference network in its own process and the same network with
-- distributed = true, then compares the weights, lambda and the epoch statistics:
-- without BatchNorm (three trainers, both transport forms, SGD and Adam) and with
-- BatchNorm and sync_bn = true.  It also checks that every rank holds the same
-- weights as rank 0 (bit for bit) and that the distributed evaluation equals the
-- single-process one.  Prints the largest differences on rank 0.
local mpi = lap.mpi
local rank, size = mpi.rank(), mpi.size()
local TOLERANCE = tonumber(arg[1]) or 1e-5   -- relative, max |a - b| / max(1, max |b|)

local data = lap.data.circles { n = 203, factor = 0.5, noise = 0.1, seed = 3 }
local train, test = data:split(0.8, 0)

-- Small images (N, 2, 6, 6) in 3 classes for the convolutional case.
lap.manual_seed(11)
local images_x, images_y = lap.randn(60, 2, 6, 6), {}
for i = 1, 60 do images_y[i] = (i * 7) % 3 end
local images = lap.data.dataset(images_x, images_y)

local function make_conv_net(form)
  local net = lap.nn.ResNet {
    blocks = 2,
    encoder = lap.nn.Conv2d(2, 4, 3, { padding = 1 }),
    block = function()
      return lap.nn.Sequential { lap.nn.BatchNorm(4), lap.nn.ReLU { inplace = true },
        lap.nn.Conv2d(4, 4, 3, { padding = 1, bias = false }), lap.nn.BatchNorm(4), lap.nn.ReLU { inplace = true },
        lap.nn.Conv2d(4, 4, 3, { padding = 1, bias = false }) }
    end,
    classifier = lap.nn.Sequential { lap.nn.GlobalAvgPool(), lap.nn.Linear(4, 3) },
    transport = form,
  }
  lap.init.kaiming(net, { seed = 7 })
  return net
end

local function make_net(bn, form, conv)
  if conv then return make_conv_net(form) end
  local net = lap.nn.ResNet {
    blocks = 3,
    block = function()
      -- No bias before BatchNorm: its gradient is rounding noise, which Adam would
      -- turn into full steps (no effect on the outputs, but on the weights compared).
      local layers = { lap.nn.Linear(2, 5, { bias = not bn }) }
      if bn then layers[#layers + 1] = lap.nn.BatchNorm(5) end
      layers[#layers + 1] = lap.nn.ReLU()
      layers[#layers + 1] = lap.nn.Linear(5, 2)
      return lap.nn.Sequential(layers)
    end,
    classifier = lap.nn.Linear(2, 2),
    transport = form,
  }
  lap.init.kaiming(net, { seed = 7 })
  return net
end

local function make_trainer(case, net, distributed)
  local optimizer = case.adam and lap.optim.Adam { lr = 0.01, betas = { 0.9, 0.99 } }
    or lap.optim.SGD { lr = 0.01, momentum = 0.9, weight_decay = 1e-4 }
  local options = { net = net, optimizer = optimizer, seed = 5 }
  if distributed then options.distributed, options.sync_bn = true, case.bn or nil end
  if case.trainer == "LAP" then
    options.lambda0, options.tau, options.steps, options.rule = 0.5, 0.2, 2, case.rule
  elseif case.trainer == "Regularized" then
    options.lambda = 0.1
  end
  return lap.train[case.trainer](options)
end

local function max_difference(net_a, net_b)
  local pa, pb = net_a:parameters(), net_b:parameters()
  assert(#pa == #pb)
  local diff, scale = 0, 1
  for i = 1, #pa do
    diff = math.max(diff, (pa[i] - pb[i]):abs():max())
    scale = math.max(scale, pb[i]:abs():max())
  end
  return diff / scale
end

local cases = {
  { name = "LAP main, mean form, SGD", trainer = "LAP", rule = "main", form = "mean" },
  { name = "LAP cloud4, frobenius, Adam", trainer = "LAP", rule = "cloud4", form = "frobenius", adam = true },
  { name = "Regularized, frobenius, SGD", trainer = "Regularized", form = "frobenius" },
  { name = "Plain, mean form, Adam", trainer = "Plain", form = "mean", adam = true },
  { name = "BatchNorm + sync_bn, LAP cloud4, frobenius", trainer = "LAP", rule = "cloud4", form = "frobenius",
    adam = true, bn = true },
  { name = "conv, BatchNorm2d + sync_bn, LAP main, mean", trainer = "LAP", rule = "main", form = "mean",
    bn = true, conv = true },
}

local worst = 0
for _, case in ipairs(cases) do
  local single_net, dist_net = make_net(case.bn, case.form, case.conv), make_net(case.bn, case.form, case.conv)
  local train, test = train, test
  if case.conv then train, test = images, images:subset { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 } end
  if rank > 0 then lap.init.normal(dist_net, { std = 3, seed = 100 + rank }) end   -- the broadcast must fix it
  local single, dist = make_trainer(case, single_net, false), make_trainer(case, dist_net, true)
  assert(dist.distributed == true)
  local stat_diff = 0
  for epoch = 1, 4 do
    local a = single:epoch(train, { batch = 25 })
    local b = dist:epoch(train, { batch = 25 })
    assert(a.steps == b.steps and a.count == b.count, "epoch shape differs")
    for _, key in ipairs { "loss", "ce", "transport", "lambda" } do
      assert(a[key] == a[key] and math.abs(a[key]) < math.huge, case.name .. ": " .. key .. " is " .. a[key])
      stat_diff = math.max(stat_diff, math.abs(a[key] - b[key]) / math.max(1, math.abs(a[key])))
    end
    assert(math.abs(a.accuracy - b.accuracy) <= 1 / a.count + 1e-12, "training accuracy differs")
  end
  -- A step on a global batch given directly.
  local x, y = train.x:narrow(1, 7), {}
  for i = 1, 7 do y[i] = train:labels()[i] end
  local sa, sb = single:step(x, y), dist:step(x, y)
  if rank == 0 and os.getenv("DEBUG") then print(single.lambda, dist.lambda, sa.loss, sb.loss) end
  stat_diff = math.max(stat_diff, math.abs(sa.loss - sb.loss) / math.max(1, math.abs(sa.loss)))
  local weights = max_difference(dist_net, single_net)
  local lambda = math.abs(dist.lambda - single.lambda) / math.max(1, math.abs(single.lambda))
  -- Every rank holds rank 0's weights exactly.
  local own = 0
  for _, p in ipairs(dist_net:parameters()) do
    local root = mpi.broadcast(p:clone(), 0)
    own = math.max(own, (root - p):abs():max())
  end
  assert(own == 0, case.name .. ": rank " .. rank .. "'s weights differ from rank 0's by " .. own)
  -- Evaluation split over the ranks: the whole test set's numbers.
  local ea, eb = lap.train.evaluate(single_net, test), dist:evaluate(test)
  assert(eb.count == #test)
  local eval_diff = math.max(math.abs(ea.accuracy - eb.accuracy), math.abs(ea.ce - eb.ce) / math.max(1, ea.ce),
    math.abs(ea.transport - eb.transport) / math.max(1, ea.transport), math.abs(ea.energy - eb.energy) / math.max(1, ea.energy))
  local here = math.max(weights, lambda, stat_diff, eval_diff)
  worst = math.max(worst, here)
  if rank == 0 then
    print(string.format("%d ranks, %-45s weights %.2e  lambda %.2e  losses %.2e  evaluation %.2e", size, case.name,
      weights, lambda, stat_diff, eval_diff))
  end
  assert(here <= TOLERANCE, string.format("%s on rank %d: distributed differs from single-process by %.3g (weights "
    .. "%.3g, lambda %.3g, losses %.3g, evaluation %.3g)", case.name, rank, here, weights, lambda, stat_diff, eval_diff))
end

-- With one process, distributed = true is ordinary training: bit for bit.
if size == 1 then assert(worst == 0, "distributed = true changed single-process training by " .. worst) end

-- BatchNorm without sync_bn: local statistics, so the ranks' weights still agree
-- with each other (the gradients are reduced) and training runs.
local net = make_net(true, "mean")
local t = make_trainer({ trainer = "Plain", adam = true }, net, true)
t:epoch(train, { batch = 27 })   -- 162 rows: 6 batches, at least 9 rows a rank
for _, p in ipairs(net:parameters()) do
  assert((mpi.broadcast(p:clone(), 0) - p):abs():max() == 0, "local-BatchNorm weights differ between ranks")
end
if rank == 0 then print(string.format("%d ranks: largest relative difference %.3g (tolerance %g)", size, worst, TOLERANCE)) end
