-- test_attack.lua: input gradients, probes, attacks and the detector, on their own
-- (PyTorch comparisons are in test_attack_torch.lua).
--   net:input_gradient against central finite differences of the eval-mode loss
--   (tanh networks, so that the loss is smooth; float32, step 5e-3, tolerance 2e-3
--   of the gradient's largest entry), on a fully connected and a convolutional net;
--   it leaves parameter gradients, modes, frozen flags, running statistics and the
--   transport weight as they were; state gradients end in the input gradient (plain
--   and relu_after ResNets); block alignment, displacement norms and line shapes
--   against their definitions computed here; attacks stay in the ball and the clip
--   range, do not depend on the batch size, are reproducible by seed; logistic
--   regression's penalized gradient vanishes at its answer; ROC AUC against the
--   Mann-Whitney count; errors name the function and the sizes.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

local function flat(t) return t:reshape(t:numel()):totable() end
local function max_abs(t) local m = 0 for _, v in ipairs(flat(t)) do m = math.max(m, math.abs(v)) end return m end

local function mlp_net(relu_after)
  local net = lap.nn.ResNet {
    encoder = lap.nn.Linear(3, 4), blocks = 3, relu_after = relu_after,
    block = function()
      return lap.nn.Sequential { lap.nn.Linear(4, 5), lap.nn.BatchNorm(5), lap.nn.Tanh(), lap.nn.Linear(5, 4) }
    end,
    classifier = lap.nn.Linear(4, 3),
  }
  lap.init.kaiming(net)
  return net
end

local function conv_net()
  local net = lap.nn.ResNet {
    encoder = lap.nn.Sequential { lap.nn.Conv2d(1, 3, 3, { padding = 1 }), lap.nn.Tanh() }, blocks = 2,
    block = function()
      return lap.nn.Sequential { lap.nn.Conv2d(3, 3, 3, { padding = 1, bias = false }), lap.nn.BatchNorm(3),
        lap.nn.Tanh(), lap.nn.Conv2d(3, 3, 3, { padding = 1 }) }
    end,
    classifier = lap.nn.Sequential { lap.nn.Flatten(), lap.nn.Linear(3 * 5 * 5, 3) },
  }
  lap.init.kaiming(net)
  return net
end

-- Trains a few steps so BatchNorm has running statistics and parameters are not at init.
local function warm(net, x, labels)
  net:train()
  for _ = 1, 3 do
    net:zero_grad()
    local logits = net:forward(x)
    local _, grad = lap.nn.cross_entropy(logits, labels)
    net:backward(grad)
    local params, grads = net:parameters(true)
    for i, p in ipairs(params) do p:copy(p - grads[i] * 0.1) end
  end
end

local function eval_loss(net, x, labels)
  local was = net.training
  net:evaluate()
  local loss = lap.nn.cross_entropy(net:forward(x), labels)
  if was then net:train() end
  return loss
end

local function check_finite_differences(name, net, x, labels, entries)
  local grad = net:input_gradient(x, labels)
  local scale, h = max_abs(grad), 5e-3
  local xf, gf = x:reshape(x:numel()), grad:reshape(grad:numel())
  local worst = 0
  for _, i in ipairs(entries) do
    local saved = xf[i]
    xf[i] = saved + h
    local up = eval_loss(net, x, labels)
    xf[i] = saved - h
    local down = eval_loss(net, x, labels)
    xf[i] = saved
    local numeric = (up - down) / (2 * h)
    worst = math.max(worst, math.abs(numeric - gf[i]) / scale)
  end
  assert(worst < 2e-3, string.format("%s: input gradient differs from finite differences by %.3g of its scale", name,
    worst))
  print(string.format("%s: input gradient matches finite differences (worst %.2g of scale %.3g)", name, worst, scale))
end

lap.manual_seed(7)
local labels = { 0, 1, 2, 1, 0, 2, 1, 0 }
do
  local net, x = mlp_net(false), lap.randn(8, 3)
  warm(net, x, labels)
  local entries = {}
  for i = 1, 24 do entries[i] = i end
  check_finite_differences("mlp", net, x, labels, entries)
end
do
  local net, x = conv_net(), lap.randn(8, 1, 5, 5)
  warm(net, x, labels)
  check_finite_differences("conv", net, x, labels, { 1, 7, 13, 25, 26, 60, 101, 150, 199, 200 })
end

-- The call touches no parameter gradient, mode, frozen flag or running statistic.
do
  local net, x = mlp_net(false), lap.randn(8, 3)
  warm(net, x, labels)
  net.classifier:freeze()
  net:train()
  net:backward(select(2, lap.nn.cross_entropy(net:forward(x), labels)), 0.5)   -- non-zero gradients
  local _, grads = net:parameters()
  local before = {}
  for i, g in ipairs(grads) do before[i] = g:clone() end
  local bn = net[2][2]
  local mean, var = bn.running_mean:clone(), bn.running_var:clone()
  local _, loss = net:input_gradient(x, labels)
  assert(loss > 0)
  for i, g in ipairs(grads) do
    assert(max_abs(g - before[i]) == 0, "input_gradient changed parameter gradient " .. i)
  end
  assert(max_abs(bn.running_mean - mean) == 0 and max_abs(bn.running_var - var) == 0, "running statistics changed")
  assert(net.training and bn.training, "train mode not restored")
  assert(net.classifier.frozen and not net.encoder.frozen and not bn.frozen, "frozen flags not restored")
  local g1 = net:input_gradient(x, labels)
  assert(max_abs(g1 - net:input_gradient(x, labels)) == 0, "input_gradient is not repeatable")
  print("input_gradient: parameter gradients, modes, frozen flags, running statistics unchanged")
end

-- State gradients: the recursion's k = 0 end is the input gradient (no encoder).
for _, relu_after in ipairs { false, true } do
  local net = lap.nn.ResNet {
    blocks = 3, relu_after = relu_after,
    block = function() return lap.nn.Sequential { lap.nn.Linear(3, 5), lap.nn.ReLU(), lap.nn.Linear(5, 3) } end,
    classifier = lap.nn.Linear(3, 3),
  }
  lap.init.kaiming(net)
  local x = lap.randn(8, 3) + 0.5
  local grads, loss = net:state_gradients(x, labels)
  assert(#grads == 4)
  local input = net:input_gradient(x, labels)
  local gap = max_abs(grads[1] - input) / max_abs(input)
  assert(gap < 1e-6, "state gradient 0 differs from the input gradient by " .. gap)
  assert(math.abs(loss - eval_loss(net, x, labels)) < 1e-6)
  -- dL/dx_K is the classifier's: W^T (softmax - onehot) / N
  local logits = net:forward(x)
  local _, dlogits = lap.nn.cross_entropy(logits, labels)
  local expected = dlogits:matmul(net.classifier.weight)
  assert(max_abs(grads[4] - expected) < 1e-6, "dL/dx_K is not the classifier's gradient")

  -- block alignment against cos(v_k, -g_k) computed here
  local cosines, means = net:block_alignment(x, labels)
  local d = net:displacements(x)
  for k = 1, 3 do
    local v, g = d[k]:totable(), grads[k]:totable()
    local sum, used = 0, 0
    for i = 1, 8 do
      local vg, vv, gg = 0, 0, 0
      for j = 1, 3 do vg, vv, gg = vg - v[i][j] * g[i][j], vv + v[i][j] ^ 2, gg + g[i][j] ^ 2 end
      if vv > 0 and gg > 0 then
        local c = vg / math.sqrt(vv * gg)
        assert(math.abs(c - cosines:totable()[i][k]) < 1e-5, "cosine of point " .. i .. " block " .. k)
        sum, used = sum + c, used + 1
      end
    end
    assert(math.abs(sum / used - means[k]) < 1e-5)
  end

  -- displacement norms and line shapes against their definitions
  local norms = net:displacement_norms(x):totable()
  for k = 1, 3 do
    local v = d[k]:totable()
    for i = 1, 8 do
      local s = 0
      for j = 1, 3 do s = s + v[i][j] ^ 2 end
      assert(math.abs(math.sqrt(s) - norms[i][k]) < 1e-5 * (1 + norms[i][k]))
    end
  end
  local shapes = flat(net:line_shapes(x))
  local mean, used = net:line_shape(x)
  local sum, count = 0, 0
  for _, s in ipairs(shapes) do if s == s then sum, count = sum + s, count + 1 end end
  assert(count == used and math.abs(sum / count - mean) < 1e-5, "line shapes' mean differs from net:line_shape")
end
print("state gradients, block alignment, displacement norms, line shapes: as defined")

-- Attacks: the ball, the clip range, batch independence, seeds.
do
  local net, x = conv_net(), lap.rand(8, 1, 5, 5)
  warm(net, x, labels)
  local eps = 0.1
  local fgsm = lap.attack.fgsm { net = net, x = x, labels = labels, epsilon = eps, clip = { 0, 1 } }
  local grad = net:input_gradient(x, labels)
  local xf, af, gf = flat(x), flat(fgsm), flat(grad)
  for i = 1, #xf do
    local s = gf[i] > 0 and 1 or gf[i] < 0 and -1 or 0
    local expected = math.min(1, math.max(0, xf[i] + eps * s))
    assert(math.abs(af[i] - expected) < 1e-6, "fgsm element " .. i)
  end
  local function pgd(batch, seed)
    return lap.attack.pgd { net = net, x = x, labels = labels, epsilon = eps, alpha = 0.03, steps = 5, clip = { 0, 1 },
      seed = seed, batch = batch }
  end
  local a, b, c = pgd(1000, 3), pgd(3, 3), pgd(1000, 4)
  assert(max_abs(a - b) == 0, "pgd depends on the batch size")
  assert(max_abs(a - c) > 0, "pgd's random start ignores the seed")
  local pf = flat(a)
  for i = 1, #xf do
    assert(math.abs(pf[i] - xf[i]) <= eps + 1e-6 and pf[i] >= 0 and pf[i] <= 1, "pgd left the ball or the range")
  end
  local none = lap.attack.pgd { net = net, x = x, labels = labels, epsilon = eps, steps = 0, random_start = false }
  assert(max_abs(none - x) == 0)
  -- the attack raises the loss
  assert(eval_loss(net, a, labels) > eval_loss(net, x, labels), "pgd did not raise the loss")
  expect_error("attack.pgd: 3 labels for 8 inputs", lap.attack.pgd, { net = net, x = x, labels = { 0, 1, 2 },
    epsilon = eps })
  expect_error("has lo > hi", lap.attack.fgsm, { net = net, x = x, labels = labels,
    epsilon = eps, clip = { 1, 0 } })
  expect_error("fgsm: epsilon must be finite and >= 0", lap.attack.fgsm, { net = net, x = x, labels = labels,
    epsilon = -1 })
  expect_error("pgd: start of shape [2, 2]", lap.attack.pgd, { net = net, x = x, labels = labels, epsilon = 0.1,
    start = lap.zeros(2, 2) })
  expect_error("unknown option 'steps'", lap.attack.fgsm, { net = net, x = x, labels = labels, epsilon = 0.1,
    steps = 3 })
  expect_error("input_gradient: 2 labels for 8 inputs", net.input_gradient, net, x, { 0, 1 })
  expect_error("block_alignment: needs a ResNet, got a Linear", lap.nn.Linear(2, 2).block_alignment,
    lap.nn.Linear(2, 2), lap.zeros(2, 2), { 0, 1 })
  expect_error("label", net.input_gradient, net, x, { 0, 1, 2, 3, 4, 5, 6, 9 })
  print("attacks: in the ball and the range, batch-independent, seeded; errors name the call")
end

-- Logistic regression: at the answer the penalized gradient vanishes.
do
  local N, D = 60, 3
  local x, y = lap.randn(N, D), {}
  local xt = x:totable()
  for i = 1, N do y[i] = (xt[i][1] + 0.5 * xt[i][2] + 0.7 * math.sin(i) > 0) and 1 or 0 end
  for _, standardize in ipairs { false, true } do
    local l2 = 0.5
    local w = lap.logistic_fit(x, y, { l2 = l2, standardize = standardize })
    assert(#w == D + 1)
    if not standardize then
      local grad = { 0, 0, 0, 0 }
      for i = 1, N do
        local z = w[D + 1]
        for j = 1, D do z = z + w[j] * xt[i][j] end
        local r = 1 / (1 + math.exp(-z)) - y[i]
        for j = 1, D do grad[j] = grad[j] + r * xt[i][j] end
        grad[D + 1] = grad[D + 1] + r
      end
      for j = 1, D do grad[j] = grad[j] + l2 * w[j] end
      for j = 1, D + 1 do assert(math.abs(grad[j]) < 1e-7, "logistic gradient " .. j .. " is " .. grad[j]) end
    end
    local p = flat(lap.logistic_predict(w, x))
    local right = 0
    for i = 1, N do right = right + (((p[i] > 0.5) == (y[i] == 1)) and 1 or 0) end
    assert(right / N > 0.8, "logistic regression fits badly: " .. right / N)
  end
  expect_error("lap.logistic_fit: label 1 is 2", lap.logistic_fit, x, (function() local t = { 2 } for i = 2, N do t[i] = 0 end return t end)())
  expect_error("lap.logistic_fit: 3 labels for 60 points", lap.logistic_fit, x, { 0, 1, 0 })
  print("logistic regression: stationary point of the penalized likelihood")
end

-- ROC AUC = P(positive outscores negative) + P(tie) / 2.
do
  local scores, y = {}, {}
  for i = 1, 40 do scores[i] = math.floor(((i * 37) % 17) / 3); y[i] = (i * 11) % 3 == 0 and 1 or 0 end
  local fpr, tpr, auc = lap.roc(scores, y)
  local wins, pairs_ = 0, 0
  for i = 1, 40 do
    for j = 1, 40 do
      if y[i] == 1 and y[j] == 0 then
        pairs_ = pairs_ + 1
        wins = wins + (scores[i] > scores[j] and 1 or scores[i] == scores[j] and 0.5 or 0)
      end
    end
  end
  assert(math.abs(auc - wins / pairs_) < 1e-12, string.format("AUC %g, Mann-Whitney %g", auc, wins / pairs_))
  assert(fpr[1] == 0 and tpr[1] == 0 and fpr[#fpr] == 1 and tpr[#tpr] == 1)
  local _, _, perfect = lap.roc({ 0.1, 0.2, 0.9, 0.8 }, { 0, 0, 1, 1 })
  assert(perfect == 1)
  expect_error("lap.roc: needs both classes", lap.roc, { 1, 2 }, { 1, 1 })
  print("roc: AUC equals the Mann-Whitney statistic")
end
