#!/bin/sh
# test_reference_replica.sh: the PyTorch replica of the authors' main.py for Table 1
# (bench/reference/lap_main_replica.py) against lap, on generated MNIST-format files:
# it reads the rows lap draws (mnist_table1.lua --save-indices), its model has lap's
# parameter count and, name by name, lap's shapes, main.py's one-dot modules are the
# ones initialized, lap's weights loaded into it give lap's logits (eval and train
# mode), and a 2-epoch run on 50 images writes the records, resumes and budgets.
# Runs only when Debian's /usr/bin/python3 has torch.
: "${LAPRUN:=./laprun}"
PY=/usr/bin/python3
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "test_reference_replica: skipped: python3-torch missing"
    exit 0
fi
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/reference_replica_check.py make-data "$tmp/mnist"
"$LAPRUN" experiments/mnist_table1.lua --data "$tmp/mnist" --sizes 50,60 --instances 2 --protocol main \
    --save-indices "$tmp/indices.jsonl" > /dev/null
cat > "$tmp/lap_net.lua" <<LUA
-- lap's MNIST OneRepResNet: parameter count, checkpoint, logits of 8 test images.
local models = require "lap.models"
lap.manual_seed(3)
local net = models.one_rep_resnet { dataset = "mnist" }
lap.init.orthogonal(net, { gain = 0.5 })
local count = 0
for _, p in ipairs(net:parameters()) do count = count + p:numel() end
net:save("$tmp/net.safetensors")
models.encoder(1, 32):save("$tmp/encoder.safetensors")
local test = lap.data.mnist { dir = "$tmp/mnist", split = "test" }
test:normalize { mean = { 0.1306604762738429 }, std = { 0.30810780717887876 } }
local x = test:subset { 1, 2, 3, 4, 5, 6, 7, 8 }.x
local function flat(t)
  local out = {}
  for _, row in ipairs(t:totable()) do for _, v in ipairs(row) do out[#out + 1] = string.format("%.9g", v) end end
  return table.concat(out, " ")
end
net:evaluate()
local eval_logits = flat(net:forward(x))
net:train()
local train_logits = flat(net:forward(x))
local f = assert(io.open("$tmp/lap_net.txt", "w"))
f:write(count, "\n", eval_logits, "\n", train_logits, "\n")
f:close()
LUA
"$LAPRUN" "$tmp/lap_net.lua"
"$PY" tests/reference_replica_check.py check "$tmp"
