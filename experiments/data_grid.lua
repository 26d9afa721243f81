-- experiments/data_grid.lua: the first 32 training images of MNIST and CIFAR-10, labelled.
--
-- The images beside their class names, one PNG per set, to check by eye that
-- `make data` and the loaders give the right images with the right labels.
--
--   laprun experiments/data_grid.lua            reads data/mnist and data/cifar10
--   laprun experiments/data_grid.lua --mnist DIR --cifar10 DIR --out DIR
--
-- Each figure is a column of 32 images, each beside the row label "i class"; the
-- numeric labels are printed, ten a line.
-- lap.plot.images scales each row to its own [min, max], so an image's contrast
-- may be stretched a little; its content and colours are the loader's.
local args = require("lap.args").parse(arg, {
  name = "data_grid.lua",
  usage = "laprun experiments/data_grid.lua [options]",
  description = "The first 32 training images of MNIST and CIFAR-10 with their class names, as PNG.",
  { "mnist", "", "directory of MNIST's IDX files (default: data/mnist, where make data puts them)" },
  { "cifar10", "", "directory of CIFAR-10, binary or PNG sheets (default: data/cifar10)" },
  { "count", 32, "images per figure (at most 32)" },
  { "out", "out/data_grid", "directory for mnist.png and cifar10.png" },
})

local sets = {
  { name = "mnist", title = "MNIST", load = lap.data.mnist, dir = args.mnist,
    classes = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" } },
  { name = "cifar10", title = "CIFAR-10", load = lap.data.cifar10, dir = args.cifar10,
    classes = { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" } },
}

local count = args.count
if count < 1 or count > 32 then
  io.stderr:write("data_grid.lua: --count must be 1..32\n")
  os.exit(2)
end
os.execute("mkdir -p '" .. args.out .. "'")
for _, set in ipairs(sets) do
  local data = set.load { dir = set.dir ~= "" and set.dir or nil, split = "train", limit = count }
  local labels = data:labels()
  local rows, names = {}, {}
  for i = 1, count do
    rows[i] = data.x:narrow(i, 1)   -- one (1, C, H, W) image a row
    names[i] = string.format("%d %s", i, set.classes[labels[i] + 1])
  end
  local file = args.out .. "/" .. set.name .. ".png"
  lap.plot.images { file = file, rows = rows, row_labels = names,
    title = set.title }
  print(string.format("%s (%s): wrote %s", set.title, set.dir ~= "" and set.dir or "default directory", file))
  for first = 1, count, 10 do
    print("  " .. table.concat(labels, " ", first, math.min(count, first + 9)))
  end
end
