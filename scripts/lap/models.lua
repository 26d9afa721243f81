-- lap.models: the paper's image networks, built from lap.nn (skander-karkar/LAP main.py).
--
--   local models = require "lap.models"
--   local net = models.one_rep_resnet { dataset = "mnist" }      -- or "cifar10", "cifar100"
--
-- OneRepResNet = encoder -> K residual blocks -> classifier:
--   encoder     Conv(c, w/2, 3, pad 1) ReLU Conv(w/2, w, 5, stride 2, pad 2) ReLU
--               (MNIST: 1 -> 16 -> 32 channels, 32x14x14; CIFAR: 3 -> 50 -> 100, 100x16x16)
--   block 1     Conv3x3 BN ReLU Conv3x3            (main.py's FirstResBlock)
--   blocks 2..K BN ReLU Conv3x3 BN ReLU Conv3x3    (ResBlock; 3x3 convs without bias)
--   classifier  "3Lin": Flatten Linear(F, 10 C) BatchNorm ReLU Linear(10 C, C)
--               "2Lin": Flatten Linear(F, 10 C) Sigmoid Linear(10 C, C)
--               "1Lin": Flatten Linear(F, C)
-- Transport cost in main.py's form (mean of v^2 per block), step h = 1.
local M = {}

local presets = {
  mnist = { channels = 1, size = 28, width = 32, classes = 10 },
  fashion_mnist = { channels = 1, size = 28, width = 32, classes = 10 },
  cifar10 = { channels = 3, size = 32, width = 100, classes = 10 },
  cifar100 = { channels = 3, size = 32, width = 100, classes = 100 },
}

-- Which MNIST-shape data an experiment's --data option means: a directory of
-- MNIST's IDX files; "" (the default) for the real MNIST in data/mnist when `make
-- data` has put it there, else Fashion-MNIST (Debian's package); "fashion" for
-- Fashion-MNIST.  Returns the directory, or nil for Fashion-MNIST.
M.default_mnist_dir = "data/mnist"
local function readable(path)
  local file = io.open(path, "rb")
  if file then file:close() end
  return file ~= nil
end
function M.mnist_dir(dir)
  if dir == "fashion" then return nil end
  if dir and dir ~= "" then return dir end
  local default = M.default_mnist_dir
  if readable(default .. "/train-images-idx3-ubyte") or readable(default .. "/train-images-idx3-ubyte.gz") then
    return default
  end
  return nil
end

-- What a run's header says about its data ("MNIST (data/mnist)", ...).
function M.mnist_source(dir)
  local resolved = M.mnist_dir(dir)
  if resolved then return "MNIST (" .. resolved .. ")" end
  if dir == "fashion" then return "Fashion-MNIST (--data fashion)" end
  return "Fashion-MNIST (no " .. M.default_mnist_dir .. ": `make data` fetches the real MNIST)"
end

-- The MNIST-shape data of an experiment's --data option (see mnist_dir).  With
-- first, only the first `first` images (the experiments' --test-size).
function M.mnist_data(dir, split, first)
  local set
  local resolved = M.mnist_dir(dir)
  if resolved then
    set = lap.data.mnist { dir = resolved, split = split }
  else
    set = lap.data.fashion_mnist { split = split }
  end
  if first and first < #set then
    local rows = {}
    for i = 1, first do rows[i] = i end
    set = set:subset(rows)
  end
  return set
end

function M.encoder(channels, width)
  return lap.nn.Sequential {
    lap.nn.Conv2d(channels, width // 2, 3, { padding = 1 }), lap.nn.ReLU { inplace = true },
    lap.nn.Conv2d(width // 2, width, 5, { stride = 2, padding = 2 }), lap.nn.ReLU { inplace = true },
  }
end

-- The MNIST autoencoder's decoder (utils.py create_autoencoder, ds without bn).
function M.decoder(channels, width)
  return lap.nn.Sequential {
    lap.nn.ConvTranspose2d(width, width // 2, 5, { stride = 2, padding = 2, output_padding = 1 }), lap.nn.ReLU(),
    lap.nn.ConvTranspose2d(width // 2, channels, 3, { padding = 1 }), lap.nn.Tanh(),
  }
end

function M.block(width, first)
  local function conv() return lap.nn.Conv2d(width, width, 3, { padding = 1, bias = false }) end
  -- ReLUs after BatchNorm work in place (BatchNorm's backward does not need its output).
  local function relu() return lap.nn.ReLU { inplace = true } end
  if first then
    return lap.nn.Sequential { conv(), lap.nn.BatchNorm(width), relu(), conv() }
  end
  return lap.nn.Sequential { lap.nn.BatchNorm(width), relu(), conv(), lap.nn.BatchNorm(width), relu(), conv() }
end

function M.classifier(kind, features, classes)
  if kind == "1Lin" then
    return lap.nn.Sequential { lap.nn.Flatten(), lap.nn.Linear(features, classes) }
  elseif kind == "2Lin" then
    return lap.nn.Sequential { lap.nn.Flatten(), lap.nn.Linear(features, 10 * classes), lap.nn.Sigmoid(),
      lap.nn.Linear(10 * classes, classes) }
  elseif kind == "3Lin" then
    return lap.nn.Sequential { lap.nn.Flatten(), lap.nn.Linear(features, 10 * classes), lap.nn.BatchNorm(10 * classes),
      lap.nn.ReLU(), lap.nn.Linear(10 * classes, classes) }
  end
  error("models.classifier: kind must be 1Lin, 2Lin or 3Lin, got " .. tostring(kind), 2)
end

-- options: dataset (a preset name) or channels/size/width/classes; blocks = 9;
-- classifier = "3Lin"; encoder = a module to use instead of a new one.
function M.one_rep_resnet(options)
  options = options or {}
  local preset = presets[options.dataset or "mnist"]
  if not preset then error("models.one_rep_resnet: unknown dataset '" .. tostring(options.dataset) .. "'", 2) end
  local channels = options.channels or preset.channels
  local size = options.size or preset.size
  local width = options.width or preset.width
  local classes = options.classes or preset.classes
  local blocks = options.blocks or 9
  local features = width * (size // 2) * (size // 2)
  return lap.nn.ResNet {
    encoder = options.encoder or M.encoder(channels, width),
    blocks = blocks,
    block = function(k) return M.block(width, k == 1) end,
    classifier = M.classifier(options.classifier or "3Lin", features, classes),
    transport = "mean",
    p = options.p or 2,
  }
end

return M
