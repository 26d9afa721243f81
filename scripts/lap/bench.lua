-- lap.bench: a training-step benchmark of a paper network, lap beside PyTorch.
--
-- bench.step{name, dataset = "mnist" | "cifar10", steps, pytorch = "bench/x.py"}
-- times one training step (forward, CE + 0.1 * transport, backward, SGD update)
-- of the OneRepResNet at batch 128 on random data, reports the median wall time,
-- the achieved GFLOP/s (the FLOP count the PyTorch script computes), the peak
-- resident memory, and runs the PyTorch counterpart with Debian's
-- /usr/bin/python3 (skipped with a message when torch is not installed).
local M = {}

local function median(values)
  table.sort(values)
  local n = #values
  return n % 2 == 1 and values[(n + 1) // 2] or (values[n // 2] + values[n // 2 + 1]) / 2
end

-- Runs a PyTorch counterpart (its output has `pytorch_ms X peak_mb Y`, and maybe
-- `flops F` and `torch VERSION ...`), prints "name: lap L ms, pytorch P ms, speedup S"
-- (or why PyTorch was skipped) and returns {ms, mb, flops, version} as it printed them.
function M.pytorch(name, lap_ms, command)
  local pipe = io.popen(command .. " 2>&1")
  local output = pipe and pipe:read("a") or ""
  if pipe then pipe:close() end
  local ms, mb = output:match("pytorch_ms ([%d%.]+) peak_mb ([%d%.]+)")
  local line = string.format("%s: lap %.0f ms", name, lap_ms)
  if ms then
    line = line .. string.format(", pytorch %.0f ms, speedup %.2f", tonumber(ms), tonumber(ms) / lap_ms)
  else
    line = line .. ", pytorch skipped (" .. (output:match("pytorch_unavailable[^\n]*") or "no /usr/bin/python3 with torch") .. ")"
  end
  print(line)
  return { ms = ms and tonumber(ms), mb = mb and tonumber(mb), flops = output:match("flops ([%d%.e%+]+)"),
           version = output:match("(torch [^\n]*)") }
end

function M.step(options)
  local models = require "lap.models"
  local memory_before = lap.peak_memory()
  lap.manual_seed(0)
  local net = models.one_rep_resnet { dataset = options.dataset }
  lap.init.orthogonal(net, { gain = 0.01 })
  local shape = options.dataset == "mnist" and { 128, 1, 28, 28 } or { 128, 3, 32, 32 }
  local x = lap.randn(table.unpack(shape))
  local labels = {}
  for i = 1, 128 do labels[i] = (i * 7) % 10 end
  local trainer = lap.train.Regularized { net = net, lambda = 0.1,
    optimizer = lap.optim.SGD { lr = 0.01, momentum = 0.9, weight_decay = 1e-4 } }
  for _ = 1, 2 do trainer:step(x, labels) end
  local times = {}
  for i = 1, options.steps do
    local start = lap.clock()
    trainer:step(x, labels)
    times[i] = (lap.clock() - start) * 1000
  end
  local lap_ms, lap_mb = median(times), lap.peak_memory()
  local torch = M.pytorch(options.name, lap_ms, "/usr/bin/python3 " .. options.pytorch)
  local torch_mb, flops, version = torch.mb, torch.flops, torch.version
  if flops then
    print(string.format("  lap %.1f GFLOP/s (%.1f GFLOP per step)", tonumber(flops) / lap_ms / 1e6, tonumber(flops) / 1e9))
  end
  print(string.format("  peak resident memory: lap %.0f MB (%.0f MB before building the model)%s", lap_mb, memory_before,
    torch_mb and string.format(", pytorch %.0f MB", tonumber(torch_mb)) or ""))
  if version then print("  " .. version) end
end

return M
