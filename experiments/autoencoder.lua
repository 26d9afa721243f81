-- experiments/autoencoder.lua: decoded block outputs (the paper's suppl. C.1, Figures 3 and 4).
--
-- 1. Pretrain the MNIST-shape autoencoder (encoder Conv 1->16->32 to 32x14x14,
--    decoder ConvTranspose 32->16->1 with Tanh; utils.py create_autoencoder) with
--    MSE on images scaled to [-1, 1].
-- 2. Freeze the encoder and train a 9-block OneRepResNet on it, without and with
--    the transport cost (LAP, main.py's rule, lambda0 = 5, tau = 1, s = 5).
-- 3. Decode the state after every block with the pretrained decoder and draw the
--    rows of images: with the transport cost, the intermediate images stay close
--    to the input (the paper's point: the information is preserved).
-- With --save-encoder FILE the pretrained encoder is also written (safetensors)
-- for main.py's -lec 0 setting of Table 1 (experiments/mnist_table1.lua --encoder
-- FILE, bench/reference/lap_main_replica.py --encoder FILE); --pretrain-only stops
-- after step 1.  --normalize mnist trains it on images normalized as Table 1's
-- inputs are (MNIST's 0.1307/0.3081, main.py's dataloaders) instead of [-1, 1].
local args = require("lap.args").parse(arg, {
  name = "autoencoder.lua",
  usage = "laprun experiments/autoencoder.lua [options]",
  description = "Pretrain an autoencoder, train ResNet9 on its frozen encoder, decode every block's output.",
  { "data", "", "MNIST's IDX files: a directory, \"\" for data/mnist when present (`make data`) else Fashion-MNIST, or \"fashion\"" },
  { "ae-size", 10000, "training images for the autoencoder" },
  { "ae-epochs", 3, "autoencoder epochs" },
  { "train-size", 2000, "training images for the ResNets" },
  { "epochs", 5, "ResNet epochs" },
  { "images", 6, "number of test images to decode" },
  { "seed", 1, "seed" },
  { "normalize", "tanh", "input scaling: tanh ([-1, 1], the decoder's range) or mnist (0.1307/0.3081, Table 1's inputs)" },
  { "save-encoder", "", "write the pretrained encoder to this safetensors file" },
  { "pretrain-only", false, "stop after pretraining the autoencoder (with --save-encoder)" },
  { "out", "out/autoencoder", "directory for the PNG figures" },
})
local models = require "lap.models"
local report = require "lap.report"

local started = lap.clock()
print("data: " .. models.mnist_source(args.data))
local train_full, test = models.mnist_data(args.data, "train"), models.mnist_data(args.data, "test")
local scalings = {
  tanh = { mean = { 0.5 }, std = { 0.5 } },         -- [0, 1] -> [-1, 1], the decoder's Tanh range
  mnist = { mean = { 0.1307 }, std = { 0.3081 } },  -- main.py's inputs (the Tanh cannot reach above 1)
}
local scaling = scalings[args.normalize]
if not scaling then error("autoencoder.lua: --normalize must be tanh or mnist, got '" .. args.normalize .. "'") end
train_full:normalize(scaling)
test:normalize(scaling)

-- 1. The autoencoder.
lap.manual_seed(args.seed)
encoder, decoder = models.encoder(1, 32), models.decoder(1, 32)
local autoencoder = lap.nn.Sequential { encoder, decoder }
lap.init.kaiming(autoencoder, { mode = "fan_out" })
local optimizer = lap.optim.Adam { lr = 1e-3, params = autoencoder }
local ae_data = train_full:subset_random { size = args["ae-size"], seed = args.seed }
for epoch = 1, args["ae-epochs"] do
  local total, batches = 0, 0
  for x in ae_data:batches(128, { shuffle = true, seed = args.seed + epoch }) do
    local loss, grad = lap.nn.mse(autoencoder:forward(x), x)
    autoencoder:zero_grad()
    autoencoder:backward(grad)
    optimizer:step()
    total, batches = total + loss, batches + 1
  end
  print(string.format("autoencoder epoch %d/%d  reconstruction MSE %.4f  %.0fs", epoch, args["ae-epochs"],
    total / batches, lap.clock() - started))
end
autoencoder:evaluate()
if args["save-encoder"] ~= "" then
  encoder:save(args["save-encoder"])
  print(string.format("wrote the encoder to %s (inputs scaled as --normalize %s)", args["save-encoder"], args.normalize))
end
if args["pretrain-only"] then return end

-- 2. ResNets on the frozen encoder.
encoder:freeze()
local train = train_full:subset_random { size = args["train-size"], seed = args.seed + 1 }
local function resnet()
  lap.manual_seed(args.seed)
  local net = models.one_rep_resnet { dataset = "mnist", encoder = encoder }
  lap.init.orthogonal(net, { gain = 0.01 })   -- frozen encoder untouched
  return net
end
networks = {}
for _, name in ipairs { "ResNet", "LAP-ResNet" } do
  local net = resnet()
  local sgd = lap.optim.SGD { lr = 0.01, momentum = 0.9, weight_decay = 1e-4 }
  local trainer = name == "ResNet" and lap.train.Plain { net = net, optimizer = sgd, seed = args.seed }
    or lap.train.LAP { net = net, optimizer = sgd, lambda0 = 5, tau = 1, steps = 5, rule = "main", seed = args.seed }
  lap.fit { trainer = trainer, train = train, epochs = args.epochs, batch = 128 }
  local evaluation = trainer:evaluate(test)
  print(string.format("%-10s test accuracy %.2f%%  test transport %.4f  %.0fs", name, 100 * evaluation.accuracy,
    evaluation.transport, lap.clock() - started))
  networks[name] = net
end

-- 3. Decode every block's output for a few test images.
local rows = {}
for i = 1, args.images do rows[i] = i end
local sample = test:subset(rows)
report.mkdir(args.out)
local titles = { "input", "encoded" }
for k = 1, 9 do titles[#titles + 1] = "block " .. k end
local files = {}
for _, name in ipairs { "ResNet", "LAP-ResNet" } do
  local states = networks[name]:states(sample.x)       -- x_0 (the encoding) ... x_9
  decoder:evaluate()
  -- One row per image: the input, then the decoded state after each block.
  local grid = {}
  for i = 1, args.images do
    local row = lap.zeros(#states + 1, 1, 28, 28)
    row[1]:copy(sample.x[i])
    for k, state in ipairs(states) do
      row[k + 1]:copy(decoder:forward(state:narrow(i, 1))[1])
    end
    grid[i] = row
  end
  local file = string.format("%s/decoded_%s.png", args.out, name == "ResNet" and "resnet" or "lap")
  lap.plot.images { file = file, rows = grid, titles = titles,
    title = name .. ": test images decoded after each block" }
  files[#files + 1] = file
end
print("wrote " .. table.concat(files, ", ") .. string.format(" (%.0fs in all)", lap.clock() - started))
